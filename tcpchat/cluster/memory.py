"""A cluster in one process: the shared state and the publish/subscribe that Redis gives the
nodes, as a model, for tests that drive several cores by hand (no I/O, no threads).

:class:`SharedState` is what Redis holds; each node's :class:`MemoryBus` is the bus
:class:`tcpchat.cluster.link.ClusterLink` talks to.  Published records wait in
:attr:`SharedState.published` until :meth:`SharedState.deliver`, so a test decides when the
other nodes hear of something, as a network would.  The rules are the Redis bus's
(:mod:`tcpchat.transports.redisbus`): a nick is claimed under its folded form and its skeleton,
for one user id, all or nothing; the writes that come with a record are made with it.
"""

import functools
from collections import deque

from ..protocol.names import fold, skeleton


#: Entries of a target's history the cluster keeps (the newest), for the nodes that missed them.
HISTORY_LINES = 1000


def nick_keys(nick):
    """The keys a claim of *nick* holds: its folded form, and its skeleton (look-alikes)."""
    return (f"nick:{fold(nick)}", f"look:{skeleton(nick)}")


def claimable(owners, keys, uid):
    """Whether *uid* may hold every one of *keys*, given *owners* (key -> uid)."""
    return all(owners.get(key, uid) == uid for key in keys)


def releasable(nick, keep):
    """The keys of *nick* to let go when its holder now holds *keep* (None: nothing)."""
    kept = set(nick_keys(keep)) if keep is not None else set()
    return [key for key in nick_keys(nick) if key not in kept]


class SharedState:
    def __init__(self):
        self.owners = {}  # nick key -> uid
        self.users = {}  # node -> {uid: user record}
        self.rooms = {}  # folded room name -> room record
        self.names = {}  # node -> server name
        self.records = {}  # (kind, key) -> an account's or a registered room's record
        self.history = {}  # folded target -> its entries (lists), oldest first
        self.buses = []  # the connected nodes' buses
        #: (bus, record) published and not delivered yet, oldest first.
        self.published = deque()

    def deliver(self):
        """Every record published so far reaches every other connected node, in order."""
        while self.published:
            sender, record = self.published.popleft()
            for bus in list(self.buses):
                if bus is not sender:
                    bus.post(bus.link.received, [record])

    def snapshot(self):
        return {"nodes": dict(self.names),
                "users": [record for users in self.users.values() for record in users.values()],
                "rooms": {folded: dict(room) for folded, room in self.rooms.items()},
                "records": [(kind, key, data) for (kind, key), data in self.records.items()],
                "history": {key: list(entries) for key, entries in self.history.items()}}

    def reap(self, node):
        """*node* is dead (its liveness key ran out): its claims and users go, and the others
        are told."""
        self.users.pop(node, None)
        self.names.pop(node, None)
        prefix = node + "."
        for key in [key for key, uid in self.owners.items() if uid.startswith(prefix)]:
            del self.owners[key]
        self.published.append((None, {"t": "gone", "node": node}))


class MemoryBus:
    """One node's bus to a :class:`SharedState`.  ``post(done, result)`` calls the core on
    the loop (``ChatCore.completed``), as a driver's would."""

    def __init__(self, shared, node, name, post):
        self.shared, self.node, self.name, self.post = shared, node, name, post
        self.link = None
        self.connected = False

    def connect(self):
        """The bus is up: the node hands over its state and gets the cluster's."""
        self.connected = True
        self.shared.buses.append(self)
        self.post(lambda _nothing: self.link.connected(), None)

    def disconnect(self, lost=False):
        """Redis is out of reach (and, with *lost*, was for long enough that the other
        nodes let this one go)."""
        self.connected = False
        self.shared.buses.remove(self)
        self.post(lambda _nothing: self.link.split(), None)
        if lost:
            self.shared.reap(self.node)
            self.post(lambda _nothing: self.link.lost(), None)

    # -- What the link calls --------------------------------------------------------------

    def publish(self, record, writes):
        if not self.connected:
            return
        shared = self.shared
        users = shared.users.setdefault(self.node, {})
        for write in writes:
            kind, key = write[0], write[1]
            if kind == "user":
                users[key] = write[2]
            elif kind == "unuser":
                users.pop(key, None)
            elif kind == "room":
                shared.rooms[key] = write[2]
            elif kind == "unroom":
                shared.rooms.pop(key, None)
            elif kind == "history":
                entries = shared.history.setdefault(key, [])
                entries.append(write[2])
                del entries[:-HISTORY_LINES]
            elif kind == "rehistory":  # a renamed room's entries, under its new name
                if key in shared.history:
                    shared.history[write[2]] = shared.history.pop(key)
            elif kind == "unhistory":
                shared.history[key] = [entry for entry in shared.history.get(key, ())
                                       if entry[0] != write[2]]
            elif kind == "record":
                _kind, kind, key, data = write
                if data is None:
                    shared.records.pop((kind, key), None)
                else:
                    shared.records[kind, key] = data
        if record is not None:
            shared.published.append((self, record))

    def claim(self, nick, uid, done):
        done(self._claim(nick, uid) if self.connected else None)
        return True

    def _claim(self, nick, uid):
        """The claim script: every key of *nick* for *uid*, or none."""
        keys, owners = nick_keys(nick), self.shared.owners
        if not claimable(owners, keys, uid):
            return False
        owners.update(dict.fromkeys(keys, uid))
        return True

    def release(self, nick, uid, keep=None):
        owners = self.shared.owners
        for key in releasable(nick, keep):
            if owners.get(key) == uid:
                del owners[key]

    def resync(self, users, rooms, records=()):
        shared, collisions = self.shared, []
        prefix = self.node + "."
        for key in [key for key, uid in shared.owners.items() if uid.startswith(prefix)]:
            del shared.owners[key]  # claims of users this node had, some gone meanwhile
        shared.names[self.node] = self.name
        shared.users[self.node] = {}
        for record in users:
            if self._claim(record["nick"], record["uid"]):
                shared.users[self.node][record["uid"]] = record
            else:
                collisions.append(record["uid"])
        for folded, room in rooms.items():
            shared.rooms.setdefault(folded, room)
        for kind, key, data in records:  # what the cluster holds wins
            shared.records.setdefault((kind, key), data)
        shared.published.append((self, {"t": "node", "node": self.node, "name": self.name}))
        for record in shared.users[self.node].values():
            shared.published.append((self, {"t": "user", "u": record}))
        snapshot = shared.snapshot()
        self.post(functools.partial(self.link.whole_again, collisions=collisions), snapshot)
