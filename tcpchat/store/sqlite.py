"""History on SQLite, through the standard library's :mod:`sqlite3`: a file with ``--db``, an
in-memory database without it.

Theory of operation.  The event loop never waits on the disk.  :meth:`SqliteStore.append`
numbers each entry and puts it on :attr:`~SqliteStore.recent`, a queue of bounded length
(``queue`` entries), as the row the table will hold; that is all it does.  One writer thread
looks every ``commit_interval``, copies the queue, writes the copy in one transaction and
commits (group commit: what arrives meanwhile goes in the next one), says how far it got
(:attr:`~SqliteStore.written`), and only then takes what it wrote off the queue; once
``wake_rows`` rows wait, the loop wakes it sooner.  The queue is thus what is not on the disk
yet; while the writer keeps up, it holds what arrived since its last look.  It is one flat
list, each row's :data:`ROW_WIDTH` fields one after another, so that the writer takes a
column of many rows with one slice (see :func:`_runs`).
A look that finds nothing puts the writer to rest, and the next row queued wakes it: an idle
server does not wake for it.  In memory it looks less often than for a file (see
:data:`MEMORY_COMMIT_INTERVAL`): there is nothing to make durable, and a look costs about the
same whatever it writes.

Runs.  The table holds entries in runs, not a row each: a run is entries in a row (by seq)
of one channel, at most :data:`RUN_ENTRIES`, as two packed arrays (seqs, times) and one text
of the rest (their strings joined, or JSON: see :func:`_entries_text`), with what queries look
for beside it (its first and last seq, its earliest and latest time, the time of its last
message, its msgids' range).  A commit of a busy room's lines is a few rows, not hundreds:
a row costs the writer about 4 us of CPU (the table's B-tree and three indexes, the bound
parameters), which at tens of thousands of messages a second was a quarter of a core taken
from the loop; a run costs about as much, whatever it holds (see docs/history.rst for the
figures).  A quiet room's line is a run of one.  Runs never overlap, so a query reads runs in
order and stops once it has its limit; a msgid is found from its counter (see
:func:`_runs`).

Reading is done on the loop, on a connection of its own (WAL lets it read while the writer
writes), bounded by an index and the limit (a query decodes at most a run past it); what is
still on the queue is merged in, so an answer holds everything appended before it (see
:meth:`SqliteStore._unwritten` for why no entry can slip between the two).  The writer may
move or rewrite runs between two of a query's statements: each such change is one statement,
and a query reads the names a rename moves runs along in the renames' order (see
:func:`_names_to_read` and :func:`_renamed`), so it finds every run once, under its name.

Durability.  The database runs in WAL mode with ``synchronous=FULL``: a commit returns once
its pages are on the disk.  A power cut may lose what was appended but not yet committed: at
most the commit under way and what queued behind it (see docs/history.rst for the figures).
A crash of the process (``kill -9``) loses the same, and never leaves the file damaged.

Faults.  When the writer falls a whole queue behind (the disk stalls), the oldest entries it
has not written drop off the queue, a tenth of it at a time; when a write fails (the disk is
full), that transaction's entries are lost.  Either way the chat goes on, the writer logs
once that it is losing history and once when it writes again, and it records a
:data:`~tcpchat.store.base.GAP` entry saying how many entries were lost, which the history
commands show where it falls.  Redactions and renames are never lost: they wait on
:attr:`~SqliteStore.edits` until a commit makes them.

Records (accounts, registered rooms: :mod:`tcpchat.store.accounts`) are few and change
rarely: :meth:`SqliteStore.keep` puts each change on :attr:`~SqliteStore.changes` and wakes the
writer, which writes them in order in a transaction of their own; a change it cannot write
(the disk is full) stays on the queue and is tried again, so none is lost while the process
lives.  The loop reads records from memory, never from here, but once at start
(:meth:`SqliteStore.records`).

Retention: at most ``lines`` entries per channel, none older than ``days``, and at most
``total`` in all (rooms come and go: a bound per room alone does not bound the whole),
enforced by the writer every ``sweep_interval`` seconds, after every ``sweep_rows`` rows it
writes (so that a busy minute cannot hold more than that past the bounds: 4000 messages a
second had held 250 000 rows, 75 MB in memory, until the minute was up), and when it stops.
"""

import collections
import contextlib
import itertools
import json
import logging
import os
import sqlite3
import struct
import threading
import time
import uuid
from itertools import chain, repeat
from operator import lt

from ..protocol.names import fold
from ..chat.events import Redaction, Rename, Talk
from .base import EVERYWHERE, GAP, MESSAGES, Entry, Store, cut, entries_of, oldest_first

try:
    import fcntl
except ImportError:  # not on Windows: no lock against a second server there
    fcntl = None

log = logging.getLogger("tcpchat")

#: The schema, one script per version: a database at version N gets the scripts after N.
MIGRATIONS = (
    """
    CREATE TABLE history (
        seq     INTEGER PRIMARY KEY,  -- the order the server took entries in
        msgid   TEXT NOT NULL,
        target  TEXT NOT NULL,        -- fold(channel name), or '*' for a gap
        name    TEXT NOT NULL,        -- the channel's name as it was written
        time    REAL NOT NULL,        -- wall-clock seconds
        command TEXT NOT NULL,
        source  TEXT,
        text    TEXT,                 -- a PRIVMSG's or NOTICE's text; NULL for the rest
        params  TEXT,                 -- the rest's parameters, a JSON array
        tags    TEXT                  -- JSON object of client-only tags, or NULL
    );
    CREATE INDEX history_by_target ON history (target, seq);
    CREATE INDEX history_by_msgid ON history (msgid);
    CREATE INDEX history_by_time ON history (time);
    """,
    # 2: accounts and registered rooms (tcpchat.store.accounts), a JSON object each.
    """
    CREATE TABLE records (
        kind    TEXT NOT NULL,        -- 'account', 'room'
        key     TEXT NOT NULL,        -- fold(name)
        data    TEXT NOT NULL,        -- a JSON object
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    """,
    # 3: entries kept in runs (see "Runs" in the module doc), the rows of schema 1 a run each.
    """
    CREATE TABLE runs (
        first   INTEGER PRIMARY KEY,  -- the seq of its first entry
        last    INTEGER NOT NULL,     -- and of its last
        count   INTEGER NOT NULL,     -- how many entries it holds
        target  TEXT NOT NULL,        -- fold(channel name), '*' for a gap, or a conversation
        name    TEXT NOT NULL,        -- the channel's name as it was written
        oldest  REAL NOT NULL,        -- the earliest and latest of its entries' times
        newest  REAL NOT NULL,
        said    REAL,                 -- the latest time of a PRIVMSG or NOTICE in it, or NULL
        prefix  TEXT NOT NULL,        -- its entries' msgids are prefix-N, N in [low, high]
        low     INTEGER NOT NULL,     -- rising along the run (0 and 0: a msgid of another
        high    INTEGER NOT NULL,     -- form, the prefix is the whole of it)
        seqs    BLOB NOT NULL,        -- its entries' seqs, 64-bit integers, little-endian
        times   BLOB NOT NULL,        -- and times, 64-bit floats (exact, and cheap to make)
        entries TEXT NOT NULL         -- and the rest, JSON: [msgids, commands, sources, texts,
                                      -- params, tags], a list each; params and tags are JSON
                                      -- (schema 4: or packed, see _entries_text)
    );
    CREATE INDEX runs_by_target ON runs (target, first);
    CREATE INDEX runs_by_msgid ON runs (target, prefix, high);
    CREATE INDEX runs_by_time ON runs (oldest);
    CREATE INDEX runs_by_message_time ON runs (target, said);
    """,
    # 4: a run's entries may also be packed (see _entries_text); the JSON of schema 3 is read
    # as before, so nothing moves, but a tcpchat of schema 3 could not read the new ones.
    "",
    # 5: which renames a run has followed, so that a query reading it while the writer
    # commits a rename never moves it twice (see _renamed).
    """
    ALTER TABLE runs ADD COLUMN
        moved   INTEGER NOT NULL DEFAULT 0;  -- the seq of the last rename that moved it
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Entries the loop may have handed the writer and the writer not written yet.
QUEUE = 20_000
#: The fields of a row of the queue: seq, msgid, the channel's key and name, time, command,
#: source, text, params (JSON) and tags (JSON), each None where it has none.
ROW_WIDTH = 10
#: Seconds between the writer's looks at the queue of a file: what arrives meanwhile goes in
#: one transaction, nothing on the message path wakes it, and the loop shares the interpreter
#: with it that much less often (each time the writer wants it, the loop may wait; see
#: docs/history.rst).  What a power cut may lose (docs/history.rst, "Durability").
COMMIT_INTERVAL = 0.02
#: The same in memory, where a power cut loses everything anyway: what the look interval
#: bounds there is only the queue a query merges in (see :meth:`SqliteStore._unwritten`).  A
#: look costs the writer about 300 us of CPU, nearly all of it the same for 20 rows as for
#: 250 (waking, the interpreter lock, caches gone cold): every 20 ms, that was 2 % of the
#: server's CPU at 1000 messages a second (docs/history.rst, "Why every 250 ms in memory").
MEMORY_COMMIT_INTERVAL = 0.25
#: Rows that, once queued, wake the writer before its interval is up: a busy server's look
#: stays a few runs' worth (at tens of thousands of messages a second, about every 20 ms, as
#: the interval alone would have it), and the queue stays far from its bound.
WAKE_ROWS = 4 * 256
#: A queue length no queue reaches: the writer was woken, and no row need wake it again.
_NEVER = 1 << 62
#: Rows the writer writes between two sweeps at most (see the module doc).
SWEEP_ROWS = 10_000
#: Entries a run holds at most: what a query decodes to use one of them.
RUN_ENTRIES = 256
#: Runs a msgid is looked for in (see :func:`_runs_holding`).
RUNS_PER_MSGID = 8
#: The largest counter a msgid is read as (SQLite's integers are 64-bit, signed).
COUNTER_BOUND = 1 << 62

#: What begins a packed run's entries and separates its columns (see :func:`_entries_text`):
#: a CR, which no line of a client holds (the core drops such a line), nor does a line end.
#: A JSON text begins with ``[``.
_PACKED = "\r"
_RUN_COLUMNS = "first, target, name, prefix, seqs, times, entries, moved"
_INSERT_RUN = f"INSERT INTO runs VALUES ({', '.join('?' * 15)})"
_UPDATE_RUN = ("UPDATE runs SET (first, last, count, target, name, oldest, newest, said, prefix, "
               "low, high, seqs, times, entries, moved) = "
               f"({', '.join('?' * 15)}) WHERE first = ?")


class StoreError(Exception):
    """The database cannot be used: said in one line, for the operator."""


class SqliteStore(Store):
    def __init__(self, path=None, lines=None, days=None, total=None, queue=QUEUE,
                 sweep_interval=60.0, commit_interval=None, wall_clock=time.time,
                 sweep_rows=SWEEP_ROWS, wake_rows=WAKE_ROWS):
        """History in the SQLite file *path* (created with mode 0600), or in memory (None),
        keeping at most *lines* entries a channel, none older than *days*, and at most *total*
        in all (None: no such bound).  The writer looks every *commit_interval* seconds
        (None: :data:`COMMIT_INTERVAL` for a file, :data:`MEMORY_COMMIT_INTERVAL` in memory),
        or as soon as *wake_rows* rows wait.  Raises :class:`StoreError` when it cannot be
        opened, is not a database, is another running server's, or was made by a newer
        tcpchat."""
        self.path = path
        self.lines, self.days, self.total = lines, days, total
        self.sweep_interval, self.sweep_rows = sweep_interval, sweep_rows
        if commit_interval is None:
            commit_interval = MEMORY_COMMIT_INTERVAL if path is None else COMMIT_INTERVAL
        self.commit_interval = commit_interval
        self._wake_fields = wake_rows * ROW_WIDTH
        self.wall_clock = wall_clock
        self._lock_file = None
        if path is None:
            # Both connections must see one database: a named in-memory one, shared.
            self._uri = f"file:tcpchat-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            self._lock_file = _claim(path)
            self._uri = f"file:{_quote(os.path.abspath(path))}"
        try:
            self._reader = self._connect()
            _migrate(self._reader, path)
            if path is None:
                # Shared cache locks tables; reading what is not committed yet is what the
                # merge with `recent` does anyway.
                self._reader.execute("PRAGMA read_uncommitted = 1")
            else:
                self._reader.execute("PRAGMA query_only = 1")
            last = self._reader.execute("SELECT max(last) FROM runs").fetchone()[0] or 0
        except sqlite3.Error as exc:
            self._release()
            raise StoreError(f"{path}: {_reason(exc)}") from exc
        self._seq = itertools.count(last + 1)
        #: The rows of what was appended and is not on the disk yet, oldest first, each made
        #: on the loop as the table holds it (so the writer has next to nothing to do while it
        #: holds the interpreter): the writer's queue, and the loop's view of what the
        #: database does not have yet.  A flat list: each row is its ROW_WIDTH fields, put on
        #: in one ``extend`` (one step for the writer's thread), so the writer takes a column
        #: of its batch with one C-level slice.  A tuple a row, on a deque, cost the writer a
        #: step through each row and a free of each tuple, by then no longer in the caches: a
        #: fifth of what it did (docs/history.rst).  Only the loop puts rows on, and takes the
        #: oldest off when full (:data:`QUEUE`).
        self.recent = []
        self._queue_fields = queue * ROW_WIDTH
        self._dropped_fields = max(1, queue // 10) * ROW_WIDTH
        #: The highest seq the writer has committed (or given up on).
        self.written = last
        #: The redactions and renames the writer has not committed, oldest first, each also
        #: on :attr:`recent`, where its seq falls among the messages'.  Kept here too, so
        #: that neither a commit that fails (a full disk) nor a queue that overflows (a
        #: stalled one) loses one, as they lose messages: a deleted message would come back,
        #: and a renamed room's history would stay under the old name, for a room made later
        #: under it to show.  The writer makes them at its next look.
        self.edits = collections.deque()
        #: The highest seq among the edits the writer has committed.
        self.edited = last
        #: msgid -> the seq of its redaction, until the writer has deleted it.
        self._redacted = {}
        #: What a query and the writer's rewrite of a run (a redaction's, a trim's) take
        #: turns at, in memory.  There the loop reads what the writer has not committed (no
        #: snapshot), and a rewrite moves its run within the indexes a query scans, so that
        #: the scan could find the run twice, or pass it by; a rewrite is one statement, a
        #: query a few, on data in memory.  In a file each statement reads a snapshot (WAL),
        #: and the two never wait for each other.
        self._turns = threading.Lock() if path is None else contextlib.nullcontext()
        #: Set for what should not wait for the writer's next look: a redaction, stopping.
        self._wake = threading.Event()
        #: The queue's length, in fields, at which the loop wakes the writer: 0 while it
        #: rests (it found nothing to write: any row wakes it), ``wake_rows`` rows while it
        #: waits between looks (and before its first), and :data:`_NEVER` once woken, until
        #: its next look.  So a burst sets the event once, not once a message (each a lock
        #: and a notify).
        self._wake_at = self._wake_fields
        self._stopping = False
        #: Changes of records not written yet, oldest first: ``(kind, key, JSON or None)``.
        self.changes = collections.deque()
        #: Whether the last try to write them failed (the disk is full, say).
        self.records_failing = False
        self.lost = 0
        self.append = self._message_path()
        self.append_run = self._run_path()
        self._writer = threading.Thread(target=self._write_loop, name="tcpchat-history",
                                        daemon=True)
        self._writer.start()

    def _connect(self):
        connection = sqlite3.connect(self._uri, uri=True, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 5000")
        return connection

    # -- On the loop ----------------------------------------------------------------------

    def append(self, event):
        # Replaced in __init__ by what _message_path makes; this is what it does for the rest.
        if event.__class__ is Redaction:
            self.redact(event.channel.name, event.target_id)
            return
        if event.__class__ is Rename:
            self.rename(event.old_name, event.channel.name)
            return
        self.take(entries_of(event))

    def take(self, entries):
        for entry in entries:
            self._queue((next(self._seq), entry.msgid, fold(entry.target), entry.target,
                         entry.time, entry.command, entry.source, None,
                         json.dumps(entry.params, ensure_ascii=False),
                         json.dumps(entry.tags, ensure_ascii=False) if entry.tags else None))
        if len(self.recent) >= self._wake_at:  # see _message_path
            self._wake_at = _NEVER
            self._wake.set()

    def _queue(self, row):
        """Put *row* on the queue, the oldest tenth of it off first if it is full (the
        writer a whole queue behind: see the module doc)."""
        recent = self.recent
        if len(recent) >= self._queue_fields:
            del recent[:self._dropped_fields]
        recent.extend(row)

    def queued(self):
        """How many entries are not on the disk yet (any thread may ask)."""
        return len(self.recent) // ROW_WIDTH

    def _message_path(self):
        """:meth:`append` for a message first, with what it uses bound once: it runs for every
        message, on the loop, and is most of what history costs the fan-out."""
        recent = self.recent
        queue, numbers, dumps, rest = recent.extend, self._seq, json.dumps, self.append
        full, dropped = self._queue_fields, self._dropped_fields
        store, wake, NEVER = self, self._wake.set, _NEVER

        def append(event):
            if event.__class__ is not Talk:
                rest(event)
                return
            channel = event.channel
            if channel is None or event.status is not None:
                rest(event)  # private, or to a room's operators: see tcpchat.store.base
                return
            tags = event.tags
            if len(recent) >= full:  # as _queue does
                del recent[:dropped]
            queue((next(numbers), event.id, channel.folded, channel.name, event.time,
                   event.command, event.source, event.text, None,
                   dumps(tags, ensure_ascii=False) if tags else None))
            if len(recent) >= store._wake_at:  # else it looks every commit_interval
                # Woken once: the rest of a burst does not set the event again, a message
                # each, until the writer's thread gets the interpreter and looks.
                store._wake_at = NEVER
                wake()
        return append

    def _run_path(self):
        """:meth:`append_run`, with what it uses bound once: the rows of a TalkRun (the
        messages of a read, said as one), each put on as :meth:`_message_path` puts a
        message's, but with what they share looked up once."""
        recent = self.recent
        queue, numbers = recent.extend, self._seq
        full = self._queue_fields
        store, wake = self, self._wake.set

        def append_run(run):
            texts = run.texts
            if len(recent) + (len(texts) - 1) * ROW_WIDTH >= full:
                # The queue fills before its last row: each row takes it as a message would.
                for talk in run.talks():
                    store.append(talk)
                return
            channel = run.channel
            folded, name, when, source = channel.folded, channel.name, run.time, run.source
            # (numbers last: zip stops at the ids' end without drawing one more.)
            for msgid, text, seq in zip(run.ids, texts, numbers):
                queue((seq, msgid, folded, name, when, "PRIVMSG", source, text, None, None))
            if len(recent) >= store._wake_at:  # as _message_path
                store._wake_at = _NEVER
                wake()
        return append_run

    def keep(self, kind, key, data):
        """Write the record *kind*/*key* as *data* (a JSON-able dict; None deletes it),
        behind the loop."""
        self.changes.append((kind, key, _record_json(data)))
        self._wake.set()

    def keeping(self):
        """Whether record changes reach the disk now (False while the last write failed)."""
        return not self.records_failing

    def records(self):
        """Every record, as ``(kind, key, data)``, with the changes not written yet applied:
        for the start, and for a reload after the admin command line changed the file."""
        found = {(kind, key): data for kind, key, data in
                 self._reader.execute("SELECT kind, key, data FROM records")}
        for kind, key, data in list(self.changes):
            found[kind, key] = data
        return [(kind, key, json.loads(data)) for (kind, key), data in sorted(found.items())
                if data is not None]

    def redact(self, target, msgid):
        number = next(self._seq)
        self._redacted[msgid] = number
        self._edit((number, msgid, fold(target), target, self.wall_clock(), "REDACT", None,
                    None, None, None))

    def rename(self, old, new):
        """The channel *old* is *new* now: its entries follow it, behind the loop, in order
        with what comes before and after (see :func:`_renamed`)."""
        self._edit((next(self._seq), None, fold(old), new, self.wall_clock(), "RENAME", None,
                    None, None, None))

    def _edit(self, row):
        self.edits.append(row)
        self._queue(row)
        self._wake.set()

    def page(self, target, after=None, before=None, limit=50, newest=False, commands=None):
        key = fold(target)
        edited, pending, renames = self._unwritten()
        sql = [f"SELECT {_RUN_COLUMNS} FROM runs WHERE target = ?"]
        bounds = []
        # A run that holds anything between the bounds: its first and last entries' seqs, or
        # its earliest and latest times (a clock set back makes those no ends).
        for bound, by_seq, by_time, sign in ((after, "last", "newest", ">"),
                                             (before, "first", "oldest", "<")):
            if bound is not None:
                sql.append(f"AND {by_seq if bound.seq is not None else by_time} {sign} ?")
                bounds.append(bound.seq if bound.seq is not None else bound.time)
        # One query a name, each in the order of its index (a query of several names would
        # sort all their runs first).
        sql = " ".join(sql) + f" ORDER BY first {'DESC' if newest else 'ASC'}"
        filtering = after is not None or before is not None or commands is not None
        rows = []
        with self._turns:  # (in memory: see _turns)
            for name in (EVERYWHERE, *_names_to_read(key, renames)):
                found = []
                # Runs do not overlap (see _runs): once *limit* rows are found, the rest of this
                # name's lie beyond them.
                for run in self._reader.execute(sql, (name, *bounds)):
                    held = _rows_of(run)
                    if renames:  # written under a name the channel had until a rename still queued
                        held = [row for row in _renamed(held, renames, run[7])
                                if row[2] == key or row[2] == EVERYWHERE]
                    if filtering:
                        held = [row for row in held if _on_page(row, after, before, commands)]
                    found.extend(held)
                    if len(found) >= limit:
                        break
                rows.extend(found)
        if renames:  # a run read under its old name and again under its new one
            rows = list({row[0]: row for row in rows}.values())
        rows.sort()
        rows = rows[-limit:] if newest else rows[:limit]
        pending = [row for row in pending if row[2] == key or row[2] == EVERYWHERE]
        if filtering:
            pending = [row for row in pending if _on_page(row, after, before, commands)]
        # Cut before the entries are made: in memory the queue may hold a few hundred rows.
        return [_entry(row) for row in cut(self._merge(rows, pending, edited), limit, newest)]

    def find(self, target, msgid):
        key = fold(target)
        edited, pending, renames = self._unwritten()
        if msgid in self._waiting_redactions(edited):
            return None
        for row in pending:
            if row[1] == msgid and row[2] == key:
                return _entry(row)
        # On the disk under this name, or under one the channel had until a rename still
        # queued (and what is under this name may belong to a channel renamed since).
        with self._turns:
            for name in _names_to_read(key, renames):
                for run, rows in _runs_holding(self._reader, name, msgid):
                    for row in _renamed(rows, renames, run[7]) if renames else rows:
                        if row[1] == msgid:  # msgids are unique: its channel's or none
                            return _entry(row) if row[2] == key else None
        return None

    def targets(self, names, after, before, limit):
        names = list(names)
        edited, pending, renames = self._unwritten()
        redacted = self._waiting_redactions(edited)
        wanted = set(names)
        # The names a channel had until a rename still queued, one at a time and in order
        # before the rest (see _names_to_read), then *names*, 500 at a time (SQLite's bound
        # on parameters, with room).
        chunks = [[old] for _seq, old, _new, _name in renames]
        chunks += [names[start:start + 500] for start in range(0, len(names), 500)]
        latest = {}
        with self._turns:
            for chunk in chunks:
                # A run's latest message is its answer when it came before *before*; a run that
                # reaches past *before*, or that may hold a message redacted since, is looked
                # into.
                for run in self._reader.execute(
                        f"SELECT said, {_RUN_COLUMNS} FROM runs WHERE target IN "
                        f"({', '.join('?' * len(chunk))}) AND said > ? AND oldest < ?",
                        (*chunk, after, before)):
                    said, first, target, name = run[:4]
                    if renames:
                        target, name = _name_after(first, target, name, renames, run[8])
                        if target not in wanted:
                            continue
                    if said >= before or redacted:
                        said = max((row[4] for row in _rows_of(run[1:])
                                    if row[5] in MESSAGES and after < row[4] < before
                                    and row[1] not in redacted), default=None)
                    if said is not None and (target not in latest or latest[target][1] < said):
                        latest[target] = (name, said)
        for row in pending:
            _seq, msgid, key, name, when, command = row[:6]
            if (key in wanted and command in MESSAGES and after < when < before
                    and msgid not in redacted):
                latest[key] = (name, when)
        return oldest_first(latest.values(), limit)

    def _unwritten(self):
        """How far the writer has committed the edits, the rows on :attr:`recent`
        (redactions and renames left out), and the renames not committed, taken before a
        query reads the database: ``(seq, old key, new key, new name)`` each, in order.

        In that order, each read once: a row or an edit the writer takes off its queue
        after this is committed already, so the query that follows finds it on the disk; one
        it has not taken off is here.  The two may overlap, which :meth:`_merge` undoes.  A
        row queued before a rename that is still queued is given under the channel's new
        name."""
        edited = self.edited
        edits = list(self.edits)
        queued = _rows_of_fields(self.recent[:])
        rows = [row for row in queued if row[5] != "REDACT" and row[5] != "RENAME"]
        renames = [(row[0], row[2], fold(row[3]), row[3]) for row in edits
                   if row[5] == "RENAME"]
        return edited, _renamed(rows, renames) if renames else rows, renames

    def _waiting_redactions(self, edited):
        """The msgids of the redactions not made on the disk when the writer had committed
        the edits up to seq *edited*: those to filter out of what the disk answers."""
        for msgid, number in list(self._redacted.items()):
            if number <= edited:
                del self._redacted[msgid]  # deleted on the disk: no longer to filter out
        return self._redacted

    def _merge(self, rows, pending, edited):
        """The rows of the database and of the queue, each once, in order, without what was
        redacted."""
        redacted = self._waiting_redactions(edited)
        if pending:
            seen = {row[0] for row in rows}
            rows = rows + [row for row in pending if row[0] not in seen]
            rows.sort(key=lambda row: row[0])
        if redacted:
            rows = [row for row in rows if row[1] not in redacted]
        return rows

    def close(self):
        """Write what is left, sweep, and close (called once the loop has stopped)."""
        self._stopping = True
        self._wake.set()
        self._writer.join(timeout=30)
        self._reader.close()
        self._release()

    def _release(self):
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- The writer thread ----------------------------------------------------------------

    def _write_loop(self):
        connection = self._connect()
        if self.path is not None:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
        failing = False
        swept = time.monotonic()
        self._complained = None  # when the writer last logged that it cannot write
        self._unresolved = False  # and has not logged since that it writes again
        touched = set()
        since_sweep = 0  # rows written since the last sweep
        recent = self.recent
        wait = self.commit_interval
        resting = False  # this wait is a rest: see _rest
        while True:
            # While there is something to write, a look every commit_interval, whether woken
            # or not: messages do not wake a writer at work (a call less for each) until
            # wake_rows of them wait; the rest does (redactions, stopping).  A writer that
            # found nothing rests (see _rest).
            woken = self._wake.wait(timeout=wait)
            self._wake.clear()
            if resting:
                resting = False
                self._wake_at = self._wake_fields
                if woken and not (self._stopping or self.edits or self.changes):
                    # A message woke it, in the middle of the loop's turn: it looks once the
                    # rest of commit_interval's messages have come, as at any look.
                    self._wake.wait(timeout=self.commit_interval)
                    self._wake.clear()
            stopping = self._stopping
            # The edits first: any edit older than a row of the batch is among them, or in
            # the batch.  Each copy is one step for the loop's thread: whole rows.
            edits = list(self.edits)
            batch = recent[:]
            found = bool(batch or edits)
            if found:
                lost = 0
                if batch:
                    # What fell off the queue unwritten, if anything, is between the two (but
                    # for the edits among it, which wait on self.edits).
                    lost = batch[0] - self.written - 1 - sum(
                        self.written < edit[0] < batch[0] for edit in edits)
                failing = self._write(connection, batch, edits, lost, failing, touched)
                _drop_written(recent, self.written)
                since_sweep += len(batch) // ROW_WIDTH
            if self.changes:
                self._write_changes(connection)
            if (stopping or since_sweep >= self.sweep_rows
                    or time.monotonic() - swept >= self.sweep_interval):
                self._sweep(connection, touched)
                touched.clear()
                swept, since_sweep = time.monotonic(), 0
            if stopping:
                connection.close()
                return
            if found:
                # Set first, then looked at (as in _rest): wake_rows that came during the look
                # had no one to wake, so it looks again at once.
                self._wake_at = self._wake_fields
                wait = 0 if len(recent) >= self._wake_fields else self.commit_interval
            else:
                wait, resting = self._rest(swept)

    @property
    def resting(self):
        """Whether the writer rests: its last look found nothing, and the next row wakes it."""
        return self._wake_at == 0

    def _rest(self, swept):
        """The writer's look found nothing: rest until something comes (the loop wakes it) or
        the next sweep is due, unless something came meanwhile.  Returns how long to wait,
        and whether that is a rest.  Whatever wakes it takes it out of the rest (the loop, at
        a message, or the writer itself, at a sweep).

        So an idle server sleeps: the writer that looked every commit_interval woke its
        process 50 times a second for nothing.  It rests only after a whole commit_interval
        with no message, so at a steady rate it never does, and no message wakes it then."""
        self._wake_at = 0
        # Set first, then looked at: a row queued before this is seen here, one queued after
        # it wakes the writer (see _message_path).
        if self.recent or self.edits or self.changes or self._stopping:
            self._wake_at = self._wake_fields
            return self.commit_interval, False
        return max(0.0, swept + self.sweep_interval - time.monotonic()), True

    def _write(self, connection, batch, edits, lost, failing, touched):
        """Write *batch* (rows as the queue holds them, after a gap of *lost* entries) and
        make *edits* (those not committed when the batch was taken) in one transaction;
        returns whether writing is failing now."""
        runs, in_batch = _runs(batch)  # and the batch's redactions and renames
        # Each once, in order: those of the batch after the edits taken are newer than all.
        changes = edits + [row for row in in_batch if not edits or row[0] > edits[-1][0]]
        if self.lines is not None:
            touched.update(run[3] for run in runs)
            touched.update(fold(row[3]) for row in changes if row[5] == "RENAME")
        rows = len(batch) // ROW_WIDTH - len(in_batch)
        lost += self.lost
        try:
            connection.execute("BEGIN")
            if lost and batch:
                # The gap takes the place of the last entry lost: a seq nothing else has.
                runs.insert(0, _run_values([(
                    batch[0] - 1, f"gap-{uuid.uuid4().hex[:16]}", EVERYWHERE, EVERYWHERE,
                    batch[4], GAP, None, None, json.dumps([lost]), None)]))
            connection.executemany(_INSERT_RUN, runs)
            # In order: a message redacted after its channel's rename is found under the new
            # name.
            for seq, msgid, key, name, _when, command, *_rest in changes:
                if command == "REDACT":
                    for run, found in _runs_holding(connection, key, msgid):
                        _rewrite(connection, self._turns, run,
                                 [row for row in found if row[1] != msgid])
                else:  # a rename: the channel's entries from before it, whenever written
                    connection.execute("UPDATE runs SET target = ?, name = ?, moved = ? "
                                       "WHERE target = ? AND first < ?",
                                       (fold(name), name, seq, key, seq))
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(connection)
            self.lost = lost + rows
            if batch:  # its messages given up on: the loop stops merging them in (but not
                self.written = batch[-ROW_WIDTH]  # the edits, which stay for the next look)
            # Once a minute at most, however often a nearly full disk lets one through.
            now = time.monotonic()
            if not failing and (self._complained is None or now - self._complained >= 60):
                self._complained, self._unresolved = now, True
                log.error("history: cannot write to %s (%s); messages are not kept until it "
                          "can", self.path or "memory", _reason(exc))
            return True
        self.lost = 0 if batch else lost
        if batch:
            self.written = batch[-ROW_WIDTH]
        if changes:
            self.edited = changes[-1][0]
            while self.edits and self.edits[0][0] <= self.edited:
                self.edits.popleft()
        if self._unresolved and batch:  # (the gap is on the disk now)
            self._unresolved = False
            log.warning("history: writing again; %d entries were lost and are marked as a "
                        "gap", lost)
        return False

    def _write_changes(self, connection):
        """Write the queued record changes in one transaction, and only then take them off
        the queue; if that fails, they stay for the next look."""
        changes = list(self.changes)
        try:
            connection.execute("BEGIN")
            for change in changes:
                _write_record(connection, *change)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(connection)
            self.records_failing = True
            now = time.monotonic()
            if self._complained is None or now - self._complained >= 60:
                self._complained, self._unresolved = now, True
                log.error("accounts: cannot write to %s (%s); changes wait until it can",
                          self.path or "memory", _reason(exc))
            return
        self.records_failing = False
        for _change in changes:
            self.changes.popleft()

    def _sweep(self, connection, touched):
        """Retention: entries older than ``days``, past ``lines`` in a channel, and past
        ``total`` in all, in a transaction."""
        try:
            connection.execute("BEGIN")
            if self.days is not None:
                cutoff = self.wall_clock() - self.days * 86400
                connection.execute("DELETE FROM runs WHERE oldest < ? AND newest < ?",
                                   (cutoff, cutoff))
                for run in connection.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE "
                                              "oldest < ?", (cutoff,)).fetchall():
                    _rewrite(connection, self._turns, run,
                             [row for row in _rows_of(run) if row[4] >= cutoff])
            if self.lines is not None:
                for key in touched:
                    _keep_newest(connection, self._turns, self.lines, "WHERE target = ?",
                                 (key,))
            if self.total is not None:
                _keep_newest(connection, self._turns, self.total, "", ())
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(connection)
            log.warning("history: retention could not run: %s", _reason(exc))


class RecordFile:
    """The records of a database file, read and written at once: for the admin command line
    (:mod:`tcpchat.admin`), which may run beside the server (WAL lets both at the file; the
    server reads what changed when it gets SIGHUP)."""

    def __init__(self, path):
        """The file at *path*, made (mode 0600) if missing, as the server would."""
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"{path}: cannot open it: {exc.strerror}") from exc
        try:
            self._connection = sqlite3.connect(f"file:{_quote(os.path.abspath(path))}",
                                               uri=True, isolation_level=None)
            self._connection.execute("PRAGMA busy_timeout = 5000")
            _migrate(self._connection, path)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {_reason(exc)}") from exc
        self.path = path

    def records(self, kind):
        """``{key: data}`` of every record of *kind*."""
        return {key: json.loads(data) for key, data in self._connection.execute(
            "SELECT key, data FROM records WHERE kind = ? ORDER BY key", (kind,))}

    def keep(self, kind, key, data):
        """Write one record now (*data* None deletes it)."""
        try:
            _write_record(self._connection, kind, key, _record_json(data))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {_reason(exc)}") from exc

    def close(self):
        self._connection.close()


def _record_json(data):
    """A record's data as the table keeps it; None (a deletion) stays None."""
    return None if data is None else json.dumps(data, ensure_ascii=False, sort_keys=True)


def _write_record(connection, kind, key, text):
    """Write one record's JSON *text*, or delete the record for None."""
    if text is None:
        connection.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
    else:
        connection.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (kind, key, text))


def _drop_written(recent, written):
    """Take the rows up to seq *written* off the front of *recent*, the queue.

    Its seqs rise by one (each row takes the next), so they are its first ``written - first +
    1``, taken off in one C-level step.  Should the loop take the oldest off a full queue
    between the count and the step, as many unwritten rows go too: the next batch counts them
    in its gap, as it counts those the loop dropped."""
    if recent:
        count = min(written - recent[0] + 1, len(recent) // ROW_WIDTH)
        if count > 0:
            del recent[:count * ROW_WIDTH]


def _rows_of_fields(fields):
    """The rows (tuples) of *fields*, rows of the queue one after another."""
    return list(zip(*(fields[index::ROW_WIDTH] for index in range(ROW_WIDTH))))


def _renamed(rows, renames, moved=0):
    """*rows* (in order of seq), each under the name its channel has after *renames* (in
    order: ``(seq, old key, new key, new name)``): a rename moves the rows of its old name
    from before it.  Rows of a run the writer moved already, up to the rename of seq *moved*,
    follow only the renames after that one: the writer may commit a rename while a query
    reads, and a rename applied twice could move a run on to another channel (``#a`` renamed
    ``#b`` just after ``#b`` was renamed ``#c``)."""
    renamed = []
    for row in rows:
        key, name = _name_after(row[0], row[2], row[3], renames, moved)
        renamed.append(row if key == row[2] else row[:2] + (key, name) + row[4:])
    return renamed


def _names_to_read(key, renames):
    """The names under which the disk may hold entries of channel *key*, given *renames*
    still queued (as :func:`_renamed` takes them), in the order to read them: each rename's
    old name, in order, then *key*.

    The writer may move runs while a query reads them, one name at a time (in WAL each of
    the writer's commits, in memory each of its statements, which the shared cache runs
    whole between two steps of a read, is one step to the reader).  A run moves along its
    channel's renames in their order, from the old name to the new, and in that order it is
    looked for: a read that misses it was too late, so the run is further on, where a later
    read looks, the last of them under *key*.  However far the writer gets meanwhile, one of
    the reads finds it.  (A run found twice is one run: see :meth:`SqliteStore.page`.)"""
    return [*(old for _seq, old, _new, _name in renames), key]


def _name_after(seq, key, name, renames, moved):
    """``(key, name)`` of the channel whose entry of *seq* was under *key* and *name*, after
    the *renames* later than the rename of seq *moved* (see :func:`_renamed`)."""
    for number, old, new, new_name in renames:
        if key == old and seq < number and number > moved:
            key, name = new, new_name
    return key, name


def _runs(batch):
    """The runs to insert for the rows of *batch* (rows of the queue one after another, in
    order of seq), as :func:`_run_of` makes them, and the redactions and renames among the
    rows (no entries: they end runs).

    A run is entries in a row, of one channel as one name, whose msgids share a prefix with a
    counter that rises along it (each process numbers its msgids so: see
    :func:`tcpchat.chat.events.message_ids`), at most :data:`RUN_ENTRIES`.  Runs thus never
    overlap, and a msgid is found from its counter.  A busy room's batch is one or a few runs:
    what makes a row cost the writer (the table's and its indexes' B-trees, the call per row)
    is paid once a run, not once a message.

    The batch is taken a run's worth of rows at a time, each column of them with one slice
    (every ROW_WIDTH-th field, from the column's first): no Python step a row, where rows
    are not one run."""
    runs, edits = [], []
    step = RUN_ENTRIES * ROW_WIDTH
    for start in range(0, len(batch), step):
        end = start + step
        columns = [batch[first:end:ROW_WIDTH] for first in range(start, start + ROW_WIDTH)]
        commands = columns[5]
        edited = "REDACT" in commands or "RENAME" in commands
        if not edited and _one_run(columns):
            runs.append(_run_of(columns))
            continue
        rows = list(zip(*columns))
        if edited:
            edits += [row for row in rows if row[5] == "REDACT" or row[5] == "RENAME"]
        runs += _runs_of_rows(rows)
    return runs, edits


def _one_run(columns):
    """Whether rows without redactions or renames, given as *columns*, are one run, checked
    without a Python step per row: the usual case.

    One room (its rows share the channel's string objects), one process, whose msgids are
    all as long (their counters written with as many digits) and so rise as text where their
    counters rise.  The first and last are read as numbers; those between, rising between
    them, are taken to be of the same form, as every msgid of tcpchat.chat.events is.
    (Strings of one length rising from first to last share every prefix the first and last
    share: a string whose prefix differed would sort before the first or after the last.  So
    the prefix the first and last have is every one's, without a look at each.)"""
    msgids, targets, names = columns[1:4]
    prefix, low = _msgid_parts(msgids[0])
    count = len(msgids)
    return bool(low and targets.count(targets[0]) == count and names.count(names[0]) == count
                and _msgid_parts(msgids[-1])[0] == prefix
                and len(set(map(len, msgids))) == 1 and all(map(lt, msgids, msgids[1:])))


def _runs_of_rows(rows):
    """The runs of *rows*, any rows, a Python step each: redactions and renames end a run,
    and so does a row of another channel or process, or one whose msgid's counter does not
    rise."""
    runs, run, previous = [], [], None
    for row in rows:
        if row[5] == "REDACT" or row[5] == "RENAME":
            key = None
        else:
            prefix, counter = _msgid_parts(row[1])
            key = (row[2], row[3], prefix)
        if run and (key != previous[0] or counter <= previous[1] or len(run) == RUN_ENTRIES):
            runs.append(_run_values(run))
            run = []
        if key is not None:
            run.append(row)
            previous = key, counter
    if run:
        runs.append(_run_values(run))
    return runs


def _run_values(rows, moved=0):
    """The row of table ``runs`` that holds *rows* (rows of the queue, one run), moved to its
    name by the rename of seq *moved* (0: by none)."""
    return _run_of(list(zip(*rows)), moved)


def _run_of(columns, moved=0):
    """The row of table ``runs`` that holds a run given as the columns of its rows."""
    seqs, msgids, targets, names, times, commands, *rest = columns
    newest = max(times)
    if MESSAGES.issuperset(commands):
        said = newest
    else:
        said = max((when for when, command in zip(times, commands) if command in MESSAGES),
                   default=None)
    prefix, low = _msgid_parts(msgids[0])
    high = _msgid_parts(msgids[-1])[1] if prefix != msgids[0] else 0
    return (seqs[0], seqs[-1], len(seqs), targets[0], names[0], min(times), newest, said,
            prefix, low, high, _packed("q", seqs), _packed("d", times),
            _entries_text(msgids, commands, *rest), moved)


def _rows_of(run):
    """The rows of the queue's form that a run (``first, target, name, prefix, seqs, times,
    entries, moved``) holds, in order."""
    _first, target, name, _prefix, seqs, times, entries, _moved = run
    seqs = _unpacked("q", seqs)
    msgids, commands, sources, texts, params, tags = _entries_columns(entries, len(seqs))
    return list(zip(seqs, msgids, repeat(target), repeat(name),
                    _unpacked("d", times), commands, sources, texts, params, tags))


def _entries_text(msgids, commands, sources, texts, params, tags):
    """A run's column ``entries``: its entries' msgids, commands, sources, texts, params and
    tags (the last two JSON texts or None), packed where they can be, else as JSON.

    Packed (schema 4): the six columns, each after a CR (:data:`_PACKED`); the first four are
    their strings joined by an LF, and params and tags are nothing when all are None (a run of
    messages), else the JSON of the column (which writes CR and LF escaped).  No line of a
    client holds a CR or an LF; that none of the strings does is told by a look for each in
    all of them joined with nothing between (``in``, which ``memchr`` does: the count of the
    LFs in the columns joined by LFs, which it replaced, read every character one at a time,
    a tenth of the writer's instructions).  It is made with C-level joins, where the JSON of
    the same strings cost the writer 0.3 us a message (``json.dumps`` reads every character of
    every one).  A run holding anything else (a None among the strings: a gap's source, a
    JOIN's text) is JSON, as in schema 3, which :func:`_entries_columns` reads too."""
    try:
        whole = "".join(chain(msgids, commands, sources, texts))
    except TypeError:
        whole = None
    if whole is not None and _PACKED not in whole and "\n" not in whole:
        return _PACKED.join(("", "\n".join(msgids), "\n".join(commands), "\n".join(sources),
                             "\n".join(texts), _json_unless_none(params),
                             _json_unless_none(tags)))
    return json.dumps([msgids, commands, sources, texts, params, tags], ensure_ascii=False)


def _json_unless_none(column):
    """*column* (JSON texts or None) as one string of a packed run: "" when all are None, else
    its JSON."""
    return "" if column.count(None) == len(column) else json.dumps(column, ensure_ascii=False)


def _entries_columns(text, count):
    """The six columns of ``entries`` *text*, a run of *count* entries: see
    :func:`_entries_text`."""
    if not text.startswith(_PACKED):
        return json.loads(text)
    _, msgids, commands, sources, texts, params, tags = text.split(_PACKED)
    return (msgids.split("\n"), commands.split("\n"), sources.split("\n"), texts.split("\n"),
            json.loads(params) if params else [None] * count,
            json.loads(tags) if tags else [None] * count)


def _packed(code, numbers):
    """*numbers* as a run keeps them: 64-bit little-endian, of struct's *code* (the JSON of a
    float costs ten times as much to make; an ``array`` of them, whose every item is
    converted through argument parsing, twice as much)."""
    return struct.pack(f"<{len(numbers)}{code}", *numbers)


def _unpacked(code, data):
    return struct.unpack(f"<{len(data) >> 3}{code}", data)


def _msgid_parts(msgid):
    """``(prefix, counter)`` of a msgid of this server's form (``prefix-hex``), else
    ``(msgid, 0)``: what runs are looked up by."""
    prefix, _, digits = msgid.rpartition("-")
    if prefix and digits:
        try:
            counter = int(digits, 16)
        except ValueError:
            counter = 0
        # Another way to write the same number ("05") is the same counter: a lookup finds the
        # run, then the msgid itself.
        if 0 < counter < COUNTER_BOUND:
            return prefix, counter
    return msgid, 0


def _runs_holding(connection, key, msgid):
    """``(run, its rows)`` for each run of channel *key* that may hold *msgid*: runs whose
    counters reach it (of the same prefix and counter, no other run does, but for runs of a
    process that numbered out of order, hence a few), and those with *msgid* as their
    prefix (another form, or a row from before runs)."""
    prefix, counter = _msgid_parts(msgid)
    found = []
    for low, *run in connection.execute(
            f"SELECT low, {_RUN_COLUMNS} FROM runs WHERE target = ? AND prefix = ? AND "
            f"high >= ? ORDER BY high LIMIT {RUNS_PER_MSGID}", (key, prefix, counter)):
        if low <= counter:
            found.append((run, _rows_of(run)))
    if prefix != msgid:
        for run in connection.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE target = ? AND "
                                      "prefix = ?", (key, msgid)):
            found.append((run, _rows_of(run)))
    return found


def _rewrite(connection, turns, run, rows):
    """Put *rows*, what is left of *run*, in its place (nothing, if none are), in one
    statement: a query reading meanwhile finds the run as it was or as it is, never gone.
    *turns*: what the statement holds while it runs (see :attr:`SqliteStore._turns`)."""
    if rows:
        values = (*_run_values(rows, run[7]), run[0])
        with turns:
            connection.execute(_UPDATE_RUN, values)
    else:
        with turns:
            connection.execute("DELETE FROM runs WHERE first = ?", (run[0],))


def _keep_newest(connection, turns, bound, where, args):
    """Delete all but the newest *bound* entries of the runs *where* selects (*turns*: see
    :func:`_rewrite`)."""
    kept = 0
    newest_first = connection.execute(f"SELECT first, count FROM runs {where} "
                                      "ORDER BY first DESC", args)
    for first, count in newest_first:
        if kept + count > bound:
            break
        kept += count
    else:
        return
    newest_first.close()
    run = connection.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE first = ?",
                             (first,)).fetchone()
    connection.execute(f"DELETE FROM runs {where} {'AND' if where else 'WHERE'} first < ?",
                       (*args, first))
    _rewrite(connection, turns, run,
             _rows_of(run)[count - (bound - kept):] if bound > kept else [])


def _on_page(row, after, before, commands):
    """Whether a row of its channel belongs on a page between *after* and *before*, of
    *commands* (see :meth:`~tcpchat.store.base.Store.page`): what
    :func:`~tcpchat.store.base.matches` asks of an entry."""
    if after is not None and not (row[0] > after.seq if after.seq is not None
                                  else row[4] > after.time):
        return False
    if before is not None and not (row[0] < before.seq if before.seq is not None
                                   else row[4] < before.time):
        return False
    return commands is None or row[5] in commands or row[5] == GAP


def _entry(row):
    """The :class:`~tcpchat.store.base.Entry` of a row of the table (or of the queue)."""
    seq, msgid, _key, name, when, command, source, text, params, tags = row
    if params is not None:
        params = tuple(json.loads(params))
    else:  # a message: its parameters are its channel and its text, if any (TAGMSG)
        params = (name,) if text is None else (name, text)
    return Entry(seq, msgid, name, when, command, source, params,
                 json.loads(tags) if tags else None)


def _migrate(connection, path):
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: made by a newer tcpchat (schema {version}; this one "
                         f"knows up to {SCHEMA_VERSION}); upgrade tcpchat or use another --db")
    for number in range(version, SCHEMA_VERSION):
        # executescript commits first; the version moves in the same transaction as the
        # tables (and the rows a move carries over), so a crash leaves either the old schema
        # or the new one.
        try:
            connection.executescript(f"BEGIN; {MIGRATIONS[number]}")
            if number + 1 in _MOVES:
                _MOVES[number + 1](connection)
            connection.execute(f"PRAGMA user_version = {number + 1}")
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise
    if version < SCHEMA_VERSION and connection.execute("PRAGMA freelist_count").fetchone()[0]:
        # A table a migration moved and dropped: give the file its space back, once.
        connection.execute("VACUUM")


def _rows_to_runs(connection):
    """Schema 3: the rows of table ``history`` become runs, as the writer would have made
    them."""
    rows = connection.execute("SELECT seq, msgid, target, name, time, command, source, text, "
                              "params, tags FROM history ORDER BY seq")
    while True:
        chunk = rows.fetchmany(10_000)
        if not chunk:
            break
        # (Schema 3's table: without the column moved, which came later.)
        connection.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 14)})",
                               [run[:14] for run in _runs(list(chain(*chunk)))[0]])
    connection.execute("DROP TABLE history")


#: What a migration does beyond its SQL, by the version it makes.
_MOVES = {3: _rows_to_runs}


def _claim(path):
    """Create *path* (mode 0600) if it is not there, and lock it against a second server."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open it: {exc.strerror}") from exc
    lock_file = os.fdopen(descriptor, "rb")
    if fcntl is not None:
        try:
            # flock, not the fcntl locks SQLite takes: the two do not interfere on Linux.
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock_file.close()
            raise StoreError(f"{path}: another tcpchat server is using it") from exc
    return lock_file


def _rollback(connection):
    try:
        connection.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to roll back


def _quote(path):
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _reason(exc):
    return str(exc) or type(exc).__name__
