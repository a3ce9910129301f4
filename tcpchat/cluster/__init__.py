"""Several tcpchat nodes as one chat: what one node tells the others, and what it makes of
what they tell it (:mod:`tcpchat.cluster.link`, sans-IO), over a bus that carries it (Redis:
:mod:`tcpchat.transports.redisbus`; in one process, for tests: :mod:`tcpchat.cluster.memory`).
See docs/cluster.rst.
"""
