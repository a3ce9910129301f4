"""What the server keeps beyond a connection: the message history, behind one seam
(:class:`tcpchat.store.base.Store`), on SQLite (:mod:`tcpchat.store.sqlite`) or in a list
(:mod:`tcpchat.store.memory`, the model the tests hold SQLite to)."""
