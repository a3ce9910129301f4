"""What the server counts for the people who run it: ``STATS`` for operators, and the metrics
(:mod:`tcpchat.transports.metrics`) that Prometheus scrapes.

Plain integers, bumped where the thing happens and read when someone asks: no lock, no object
per event.  None of them is touched once per recipient of a message: a fan-out adds its count
of recipients in one addition (:meth:`tcpchat.chat.delivery.Delivery._fan_out`).
"""

import bisect
from collections import Counter

#: Upper bounds (seconds) of the loop-turn histogram's buckets; the last is +Inf.
TURN_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0)


class Stats:
    def __init__(self, started):
        #: When the server started (wall-clock seconds), for uptime.
        self.started = started
        self.registrations = 0
        #: Lines received from clients, and their bytes; bytes sent to those who have left
        #: (each Connection counts its own while it lasts: see sent_bytes).
        self.lines_in = 0
        self.bytes_in = 0
        self.bytes_out = 0
        #: Messages queued for clients: each message once per recipient.
        self.deliveries = 0
        #: Clients cut for not reading (the send queue bound), and for flooding.
        self.sendq_kills = 0
        self.flood_kills = 0
        #: Connections refused, by reason (a sentence: "Server full").
        self.refusals = Counter()
        #: SASL, /login and NickServ logins, by outcome: "ok" or "failed".
        self.logins = Counter()
        #: IRC commands received, by name (STATS m).
        self.commands = {}
        #: Loop turns by duration: counts per bucket of TURN_BUCKETS (and one past the last),
        #: and the total seconds.
        self.turn_counts = [0] * (len(TURN_BUCKETS) + 1)
        self.turn_seconds = 0.0

    def sent_bytes(self, clients):
        """Bytes sent to clients so far: those who left, and *clients* (the registry's)."""
        return self.bytes_out + sum(client.conn.bytes_sent for client in clients)

    def turn(self, seconds):
        """One turn of the driver's loop took *seconds*."""
        self.turn_counts[bisect.bisect_left(TURN_BUCKETS, seconds)] += 1
        self.turn_seconds += seconds
