"""Accounts and registered rooms: what the server keeps of people and rooms between restarts.

The loop reads them here, from memory, and never waits: :class:`Accounts` holds every record
(a server has thousands of accounts, not millions), loaded once at start, and hands each change
to *keep* (``SqliteStore.keep``), which writes it behind the loop as it writes history.  Without a
database the records last as long as the process.

Records are small JSON-able dicts under a kind and a key (``fold`` of the name), which is all a
store needs to keep them: a row in SQLite, a hash in Redis.

- an account (:class:`Account`): its name as registered, its password as
  :mod:`tcpchat.store.credentials` keeps it, when it was made, whether it is suspended, and the
  TLS certificate fingerprints that log in to it;
- a registered room (:class:`Room`): its founder's account, and the state that outlives its
  members (topic, modes, key, limit, bans, operators' accounts).
"""

from dataclasses import asdict, dataclass, field

from ..protocol.names import fold, skeleton

ACCOUNT = "account"
ROOM = "room"
#: A read marker (IRCv3 draft/read-marker): key ``ACCOUNT TARGET`` (both folded), data
#: ``{"time": TIMESTAMP}``.
MARKER = "marker"
#: The most targets one account keeps a read marker for; past it, the oldest goes.
MAX_MARKERS = 500


@dataclass
class Account:
    name: str
    #: The scrypt hash (``scrypt$...``).
    password: str
    #: SCRAM-SHA-256 keys, or None until made (see tcpchat.store.credentials).
    scram: str = None
    created: float = 0.0
    #: Why it may not log in, or None.
    suspended: str = None
    #: The TLS client certificates that log in to it (SASL EXTERNAL): SHA-256 fingerprint
    #: (hex, lower case) -> the certificate (PEM), which the server must trust to be shown it.
    certificates: dict = field(default_factory=dict)


@dataclass
class Room:
    name: str
    #: The founder's account name: opped on joining, may hand the room over or drop it.
    founder: str
    registered: float = 0.0
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    modes: str = "nt"
    key: str = None
    limit: int = None
    #: ``[mask, set_by, set_at]`` each: bans, ban exceptions (+e), invite exceptions (+I).
    bans: list = field(default_factory=list)
    excepts: list = field(default_factory=list)
    invex: list = field(default_factory=list)
    #: Accounts opped on joining, besides the founder.
    operators: list = field(default_factory=list)


class Accounts:
    """Every account and registered room, in memory; each change handed to *keep*."""

    def __init__(self, keep=None, records=(), keeping=None):
        """*records*: ``(kind, key, data)`` as a store loaded them; *keep(kind, key, data)*
        writes one (data None: deleted), without waiting; *keeping()* says whether writes
        reach the store now."""
        self._keep = keep
        self._keeping = keeping
        #: Called with each change this node makes, ``(kind, key, data)``, after *keep*: a
        #: cluster shares them (tcpchat.cluster.link); None alone.
        self.shared = None
        self.accounts = {}
        self.rooms = {}
        #: ``ACCOUNT TARGET`` (folded) -> the timestamp of the last message read there.
        self.markers = {}
        self._skeletons = {}
        self._anchors = None  # anchors(), made again after a change
        for kind, key, data in records:
            if kind == ACCOUNT:
                self._index(Account(**data))
            elif kind == ROOM:
                self.rooms[key] = Room(**data)
            elif kind == MARKER:
                self.markers[key] = data["time"]

    def reload(self, records):
        """Take *records* in place of every record held (the admin command line changed
        the database)."""
        shared = self.shared
        self.__init__(self._keep, records, self._keeping)
        self.shared = shared

    def keeping(self):
        """Whether a change made now will be kept (False while the store cannot write: a new
        account would last only as long as the process)."""
        return self._keeping is None or self._keeping()

    # -- Accounts -------------------------------------------------------------------------

    def get(self, name):
        """The account called *name* (in any case or width), or None."""
        return self.accounts.get(fold(name))

    def lookalike(self, name):
        """Another account whose name looks like *name* (the same skeleton), or None."""
        found = self._skeletons.get(skeleton(name))
        return found if found is not None and fold(found.name) != fold(name) else None

    def by_certfp(self, fingerprint):
        """The account a TLS client certificate with *fingerprint* logs in to, or None."""
        for account in self.accounts.values():
            if fingerprint in account.certificates:
                return account
        return None

    def anchors(self):
        """Every account's certificates, as one PEM text (see tcpchat.transports.tls)."""
        if self._anchors is None:
            self._anchors = "".join(pem for account in self.accounts.values()
                                    for pem in account.certificates.values())
        return self._anchors

    def add(self, account):
        self._index(account)
        self.save(account)

    def save(self, account):
        """Write *account* as it is now (after a change to it)."""
        self._anchors = None
        self._changed(ACCOUNT, fold(account.name), asdict(account))

    def remove(self, account):
        key = fold(account.name)
        self._forget(account)
        self._changed(ACCOUNT, key, None)
        for room in [room for room in self.rooms.values() if fold(room.founder) == key]:
            self.drop_room(room)

    def _forget(self, account):
        del self.accounts[fold(account.name)]
        self._anchors = None
        self._skeletons.pop(skeleton(account.name), None)

    def _changed(self, kind, key, data):
        if self._keep is not None:
            self._keep(kind, key, data)
        if self.shared is not None:
            self.shared(kind, key, data)

    def records(self):
        """Every record held, as ``(kind, key, data)``."""
        return ([(ACCOUNT, key, asdict(account)) for key, account in self.accounts.items()]
                + [(ROOM, key, asdict(room)) for key, room in self.rooms.items()]
                + [(MARKER, key, {"time": time}) for key, time in self.markers.items()])

    def take(self, kind, key, data):
        """A change another node of the cluster made (*data* None: deleted): held here, and
        kept in this node's store as well, but not shared again."""
        if kind == ACCOUNT:
            old = self.accounts.get(key)
            if old is not None and asdict(old) == data:
                return  # (a reconnection hands every record over again)
            if old is not None:
                self._forget(old)
            if data is not None:
                self._index(Account(**data))
                self._anchors = None
        elif kind == ROOM:
            if data is None:
                self.rooms.pop(key, None)
            else:
                self.rooms[key] = Room(**data)
        elif kind == MARKER:
            if data is None:
                self.markers.pop(key, None)
            elif self.markers.get(key) == data["time"]:
                return
            else:
                self.markers[key] = data["time"]
        else:
            return
        if self._keep is not None:
            self._keep(kind, key, data)

    def _index(self, account):
        self.accounts[fold(account.name)] = account
        self._skeletons[skeleton(account.name)] = account

    # -- Registered rooms -----------------------------------------------------------------

    def room(self, name):
        return self.rooms.get(fold(name))

    def room_lookalike(self, name):
        """A registered room whose name *name* only looks like, or None."""
        wanted, key = skeleton(name), fold(name)
        return next((room for room in self.rooms.values()
                     if skeleton(room.name) == wanted and fold(room.name) != key), None)

    def save_room(self, room):
        self.rooms[fold(room.name)] = room
        self._changed(ROOM, fold(room.name), asdict(room))

    # -- Read markers ---------------------------------------------------------------------

    def marker(self, account, target):
        """The timestamp of the last message *account*'s user read in *target*, or None."""
        return self.markers.get(f"{fold(account)} {fold(target)}")

    def save_marker(self, account, target, time):
        key = f"{fold(account)} {fold(target)}"
        if key not in self.markers:
            prefix = fold(account) + " "
            kept = [other for other in self.markers if other.startswith(prefix)]
            for old in kept[:max(0, len(kept) - MAX_MARKERS + 1)]:  # the oldest, past it
                del self.markers[old]
                self._changed(MARKER, old, None)
        self.markers.pop(key, None)  # the newest last: what the bound keeps
        self.markers[key] = time
        self._changed(MARKER, key, {"time": time})

    def drop_room(self, room):
        del self.rooms[fold(room.name)]
        self._changed(ROOM, fold(room.name), None)
