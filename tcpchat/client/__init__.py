"""The reference client: its sans-IO session (:mod:`.session`) and the terminal program with
its two threads (:mod:`.terminal`; ``python -m tcpchat.client``)."""
