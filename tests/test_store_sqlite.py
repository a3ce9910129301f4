"""The SQLite store on its own: the file, the schema, a restart, what stops a server at start,
a full disk, a writer that falls behind, retention, and a kill -9 during a storm."""

import gc
import json
import logging
import os
import signal
import sqlite3
import threading
from collections import namedtuple

import pytest

from helpers import (TIMEOUT, Harness, LineSocket, StalledDisk, register_irc, run_server,
                     start_server_process, wait_until)
from tcpchat.chat import events
from tcpchat.server import build_parser, open_store
from tcpchat.protocol.names import fold
from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.base import GAP, MESSAGES, Bound
from tcpchat.store.credentials import hash_password
from tcpchat.store.memory import ListStore
from tcpchat.store import sqlite
from tcpchat.store.sqlite import SCHEMA_VERSION, SqliteStore, StoreError

Room = namedtuple("Room", "name folded crowded", defaults=(False,))


def room(name):
    """A stand-in for a Channel: what a store reads of one."""
    return Room(name, fold(name))


LOBBY = room("#lobby")


def talk(number, room=LOBBY, when=1_700_000_000.0, msgid=None):
    return events.Talk(None, "ann!ann@host", "PRIVMSG", room, None, f"m{number}", None,
                       when + number, msgid or f"id{number}")


def texts(entries):
    return [entry.params[-1] for entry in entries]


def counted(connection, column, value):
    """How many entries on the disk have *value* in *column* (of a run's entries)."""
    index = {"msgid": 1, "command": 5}[column]  # in a row of the queue's form
    return sum(row[index] == value
               for run in connection.execute(f"SELECT {sqlite._RUN_COLUMNS} FROM runs")
               for row in sqlite._rows_of(run))


def settled(store):
    """Wait until the writer has taken everything off its queue."""
    assert wait_until(lambda: not store.recent)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "history.db")


def test_the_file_is_made_private_with_its_schema_and_outlives_a_restart(path):
    store = SqliteStore(path)
    for number in range(5):
        store.append(talk(number))
    store.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = SqliteStore(path)
    try:
        assert texts(again.page("#LOBBY", limit=10)) == ["m0", "m1", "m2", "m3", "m4"]
        again.append(talk(5))
        assert [entry.seq for entry in again.page("#lobby", limit=10)] == [1, 2, 3, 4, 5, 6]
        assert again.find("#lobby", "id3").params == ("#lobby", "m3")
    finally:
        again.close()


def test_what_is_appended_is_answered_before_the_writer_writes_it(path):
    store = SqliteStore(path)
    try:
        for number in range(300):
            store.append(talk(number))
            # Asked at once, every time, whatever the writer has done meanwhile.
            assert texts(store.page("#lobby", limit=2, newest=True))[-1] == f"m{number}"
        assert len(store.page("#lobby", limit=1000)) == 300
    finally:
        store.close()


@pytest.mark.parametrize("make, problem", [
    (lambda path: open(path, "w").write("not a database, just words " * 100),
     "file is not a database"),
    (lambda path: sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}"),
     "made by a newer tcpchat"),
    (lambda path: os.mkdir(path), "cannot open it"),
    (lambda path: SqliteStore(path), "another tcpchat server is using it"),
])
def test_a_database_that_cannot_be_used_is_refused_in_one_line(path, make, problem):
    holder = make(path)
    try:
        with pytest.raises(StoreError, match=problem):
            SqliteStore(path)
    finally:
        if isinstance(holder, SqliteStore):
            holder.close()


def test_the_server_stops_at_start_with_one_line_when_its_database_cannot_be_used(path):
    with open(path, "w") as junk:
        junk.write("junk " * 500)
    result = run_server("--db", path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "file is not a database" in errors[0]
    result = run_server("--db", path, "--no-history", "--history-days", "3")
    assert result.returncode == 2 and "--history-days with --no-history" in result.stderr


class SmallDisk(SqliteStore):
    """A store whose writer's database may grow to *pages* pages: a disk that fills."""

    pages = 12

    def _connect(self):
        connection = super()._connect()
        if threading.current_thread().name == "tcpchat-history":
            connection.execute(f"PRAGMA max_page_count = {self.pages}")
            self.writer_connection = connection
        return connection


def test_a_full_disk_loses_messages_logs_once_and_leaves_a_gap(path, caplog):
    store = SmallDisk(path)
    try:
        with caplog.at_level(logging.WARNING, logger="tcpchat"):
            number = 0
            while not store.lost and number < 5000:
                store.append(talk(number, when=1_700_000_000.0 + number))
                number += 1
                if number % 50 == 0:
                    settled(store)
            settled(store)
            assert store.lost
            for more in range(number, number + 200):
                store.append(talk(more))
                settled(store)
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(errors) == 1 and "cannot write" in errors[0].getMessage()
            store.writer_connection.execute("PRAGMA max_page_count = 1000000")
            store.append(talk(10_000))
            settled(store)
        entries = store.page("#lobby", limit=100, newest=True, commands=MESSAGES)
        assert entries[-1].params[-1] == "m10000" and entries[-2].command == GAP
        # Every message is there, or counted in a gap (a nearly full disk lets some in).
        everything = store.page("#lobby", limit=10_000, commands=MESSAGES)
        kept = sum(1 for entry in everything if entry.command == "PRIVMSG")
        assert kept + sum(e.params[0] for e in everything if e.command == GAP) == number + 201
        assert [r.getMessage() for r in caplog.records if "writing again" in r.getMessage()]
    finally:
        store.close()


def test_a_writer_a_whole_queue_behind_loses_the_oldest_and_says_how_many(path):
    store = StalledDisk(path, queue=10)
    try:
        for number in range(50):
            store.append(talk(number))
        assert texts(store.page("#lobby", limit=100)) == [f"m{n}" for n in range(40, 50)]
        store.gate.set()
        settled(store)
        entries = store.page("#lobby", limit=100)
        assert entries[0].command == GAP and entries[0].params == (40,)
        assert texts(entries[1:]) == [f"m{n}" for n in range(40, 50)]
    finally:
        store.gate.set()
        store.close()


def test_a_run_takes_the_queue_as_its_talks_one_at_a_time_do_a_full_one_too():
    """A TalkRun (a read's lines to a room, said as one) is queued as its Talks would be one
    at a time: the same rows, and past a full queue the same losses and the same gap."""
    stores = [StalledDisk(None, queue=10), StalledDisk(None, queue=10)]
    try:
        first = 0
        for size in (3, 1, 4, 2, 9, 6, 12):  # a queue of 10 fills at the fourth run
            texts_of_run = [f"m{number}" for number in range(first, first + size)]
            run = events.TalkRun(None, "ann!ann@host", LOBBY, texts_of_run,
                                 1_700_000_000.0 + first,
                                 [f"id{number}" for number in range(first, first + size)])
            stores[0].append_run(run)
            for each in run.talks():
                stores[1].append(each)
            first += size
            assert stores[0].recent == stores[1].recent
        for store in stores:
            store.gate.set()
            settled(store)
        # (A gap's msgid is its own, drawn at random.)
        kept = [[entry._replace(msgid="gap") if entry.command == GAP else entry
                 for entry in store.page("#lobby", limit=100)] for store in stores]
        assert kept[0] == kept[1]
        assert kept[0][0].command == GAP and kept[0][0].params == (first - 10,)
    finally:
        for store in stores:
            store.gate.set()
            store.close()


@pytest.mark.parametrize("written, left", [(3, range(5, 11)), (7, range(8, 11)),
                                            (10, ()), (20, ())])
def test_the_writer_takes_off_the_queue_what_it_wrote_and_nothing_after(written, left):
    def row(seq):
        return (seq, f"m{seq}") + (None,) * (sqlite.ROW_WIDTH - 2)
    recent = [field for seq in range(5, 11) for field in row(seq)]
    sqlite._drop_written(recent, written)
    assert recent[::sqlite.ROW_WIDTH] == list(left)
    assert recent[1::sqlite.ROW_WIDTH] == [f"m{seq}" for seq in left]
    # The loop takes the oldest off a full queue meanwhile: what is left still rises by one.
    recent.extend(field for seq in range(11, 20) for field in row(seq))
    del recent[:2 * sqlite.ROW_WIDTH]
    sqlite._drop_written(recent, 15)
    assert recent[::sqlite.ROW_WIDTH] == list(range(16, 20))


@pytest.fixture
def collector():
    """CPython's collection thresholds, put back as they were after the test."""
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_rows_a_server_keeping_history_queues_set_off_no_collection(path, collector):
    """The queue holds no container: CPython's collector, at its own thresholds, is not set
    off by rows waiting for the writer (a tuple a row, on a deque, set it off every few
    hundred messages: docs/history.rst)."""
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    messages = [talk(number) for number in range(5000)]  # four looks' at 66 000 a second
    store = StalledDisk(path)  # the rows stay queued: the writer's look is late
    started = []
    gc.collect()  # (counts from nothing)
    gc.callbacks.append(lambda phase, info: started.append(phase == "start"))
    try:
        for message in messages:
            store.append(message)
    finally:
        gc.callbacks.pop()
        store.gate.set()
        store.close()
    assert not any(started)


def test_retention_keeps_the_last_lines_of_each_room_and_forgets_the_old(path):
    now = [1_700_000_000.0 + 30 * 86400]
    store = SqliteStore(path, lines=3, days=7, wall_clock=lambda: now[0])
    other = room("#other")
    for number in range(6):
        store.append(talk(number, when=now[0] - 86400))
        store.append(talk(number, room=other, when=now[0] - 10 * 86400))
    store.close()
    again = SqliteStore(path)
    try:
        assert texts(again.page("#lobby", limit=10)) == ["m3", "m4", "m5"]
        assert again.page("#other", limit=10) == []  # ten days old
    finally:
        again.close()


def test_a_bound_on_the_whole_keeps_the_newest_across_rooms(path):
    store = SqliteStore(path, total=4)
    for number in range(3):
        store.append(talk(number))
        store.append(talk(10 + number, room=room("#other")))
    store.close()
    again = SqliteStore(path)
    try:
        kept = again.page("#lobby", limit=10) + again.page("#other", limit=10)
        assert sorted(texts(kept)) == ["m1", "m11", "m12", "m2"]
    finally:
        again.close()


@pytest.mark.parametrize("written_first", [True, False])
def test_a_redaction_is_answered_at_once_and_deleted_on_the_disk(path, written_first):
    store = StalledDisk(path)
    for number in range(3):
        store.append(talk(number))
    if written_first:
        store.gate.set()
        settled(store)
    store.redact("#lobby", "id1")  # on the disk, or still on the queue with the message
    assert texts(store.page("#lobby", limit=10)) == ["m0", "m2"]
    assert store.find("#lobby", "id1") is None
    store.gate.set()
    store.close()
    with sqlite3.connect(path) as connection:
        assert counted(connection, "msgid", "id1") == 0


class CommitsThenWaits(StalledDisk):
    """A stalled disk whose writer waits at :attr:`gate` after it has committed a batch, not
    before: until the gate opens, the batch is both on the disk and on the queue, where a
    query finds a rename twice."""

    def _write(self, *args):
        failing = SqliteStore._write(self, *args)
        assert self.gate.wait(timeout=TIMEOUT)
        return failing


@pytest.mark.parametrize("moment", ["queued", "committed, still queued", "written"])
def test_every_query_finds_entries_under_their_channels_names_whatever_the_writer_has_done(
        path, moment):
    """#b renamed #c, then #a renamed #b, what they move already on the disk: before the
    writer writes the renames, while it has committed them but not yet taken them off its
    queue, and after, every query answers the same (a rename applied twice would move #a's
    entries on to #c)."""
    store = (CommitsThenWaits if moment == "committed, still queued" else StalledDisk)(path)
    store.append(talk(1, room("#a")))
    store.append(talk(2, room("#b")))
    store.gate.set()
    settled(store)
    if moment != "written":
        store.gate.clear()
    store.rename("#b", "#c")
    store.rename("#a", "#b")
    if moment == "written":
        settled(store)
    elif moment == "committed, still queued":
        assert wait_until(lambda: store.written == 4)
    try:
        assert store.queued() == (0 if moment == "written" else 2)
        assert texts(store.page("#b", limit=10)) == ["m1"]
        assert texts(store.page("#c", limit=10)) == ["m2"]
        assert store.page("#a", limit=10) == []
        assert texts([store.find("#b", "id1"), store.find("#c", "id2")]) == ["m1", "m2"]
        assert store.find("#b", "id2") is None and store.find("#a", "id1") is None
        assert store.targets(["#b", "#c"], 0, 2e9, 10) == [("#b", 1_700_000_001.0),
                                                           ("#c", 1_700_000_002.0)]
        assert store.targets(["#a"], 0, 2e9, 10) == []
    finally:
        store.gate.set()
        store.close()


class WatchedLock:
    """A lock that says when somebody waits for it (no sleep needed to see a thread blocked)."""

    def __init__(self):
        self.lock, self.waited = threading.Lock(), threading.Event()

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            self.waited.set()
            self.lock.acquire()

    def __exit__(self, *exc):
        self.lock.release()


def test_in_memory_a_rewrite_of_a_run_and_a_query_take_turns():
    """In memory a query reads what is not committed, with no snapshot: the writer's rewrite
    of a run (here a redaction's) waits while a query holds the turn, and is made once it is
    done; a query waits while a rewrite holds it."""
    store = StalledDisk(None)
    store._turns = turns = WatchedLock()
    try:
        store.append(talk(1, msgid="p-01"))
        store.append(talk(2, msgid="p-02"))
        store.gate.set()  # both in one commit: one run, which the redaction rewrites
        settled(store)
        assert store._reader.execute("SELECT count FROM runs").fetchall() == [(2,)]
        with turns:  # a query under way
            store.redact("#lobby", "p-01")
            assert turns.waited.wait(TIMEOUT)  # the writer, at the rewrite
            assert store.edits  # not made yet
        assert wait_until(lambda: not store.edits)
        assert texts(store.page("#lobby", limit=10)) == ["m2"]
        assert counted(store._reader, "msgid", "p-01") == 0
        turns.waited.clear()
        with turns:  # a rewrite under way: a query waits its turn too
            asking = threading.Thread(target=store.page, args=("#lobby",))
            asking.start()
            assert turns.waited.wait(TIMEOUT)
        asking.join(TIMEOUT)
        assert not asking.is_alive()
    finally:
        store.gate.set()
        store.close()


def test_a_message_redacted_just_after_its_channels_rename_is_deleted_on_the_disk(path):
    """The rename and the redaction reach the writer in one batch: it moves the entries
    first, then finds the message under the new name."""
    store = StalledDisk(path)
    store.append(talk(1, room("#a")))
    store.rename("#a", "#b")
    store.redact("#b", "id1")
    store.gate.set()
    settled(store)
    try:
        assert store.find("#b", "id1") is None and store.page("#b", limit=10) == []
    finally:
        store.close()
    with sqlite3.connect(path) as connection:
        assert counted(connection, "msgid", "id1") == 0


class FailingCommits:
    """A writer's connection whose commits fail while *broken* is set (a full disk)."""

    def __init__(self, connection, broken):
        self.connection, self.broken = connection, broken

    def execute(self, sql, *args):
        if sql == "COMMIT" and self.broken.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        return self.connection.execute(sql, *args)

    def executemany(self, sql, rows):
        return self.connection.executemany(sql, rows)


class BrokenDisk(SqliteStore):
    """A store whose writer's commits fail while :attr:`broken` is set."""

    def __init__(self, *args, **kwargs):
        self.broken = threading.Event()
        super().__init__(*args, **kwargs)

    def _write(self, connection, *args):
        return super()._write(FailingCommits(connection, self.broken), *args)


def test_a_redaction_and_a_rename_whose_commit_failed_are_made_at_the_next(path):
    """A full disk loses the messages of a commit (a gap says how many), never its edits: a
    deleted message would come back, and a renamed room's history stay under the old name."""
    store = BrokenDisk(path)
    try:
        store.append(talk(1, room("#a")))
        store.append(talk(2, room("#a")))
        settled(store)
        store.broken.set()
        store.redact("#a", "id1")
        store.rename("#a", "#b")
        store.append(talk(3, room("#b")))
        assert wait_until(lambda: store.lost == 1)  # m3's commit failed
        assert list(store.edits) and not store.recent
        for answer in range(2):  # while the disk is full, and once it has room again
            assert texts(store.page("#b", limit=10)) == ["m2"]
            assert store.find("#b", "id1") is None and store.find("#b", "id2") is not None
            assert store.page("#a", limit=10) == []
            store.broken.clear()
            assert wait_until(lambda: not store.edits)
        store.append(talk(4, room("#b")))
        settled(store)
        assert [(entry.command, entry.params[-1]) for entry in store.page("#b", limit=10)] == [
            ("PRIVMSG", "m2"), (GAP, 1), ("PRIVMSG", "m4")]
    finally:
        store.close()
    with sqlite3.connect(path) as connection:
        assert counted(connection, "msgid", "id1") == 0
        assert connection.execute("SELECT DISTINCT target FROM runs WHERE target != '*'"
                                  ).fetchall() == [("#b",)]


def test_a_redaction_and_a_rename_that_fall_off_a_full_queue_are_made_all_the_same(path):
    """A stalled writer a whole queue behind loses the oldest messages, never an edit."""
    store = StalledDisk(path, queue=10)
    try:
        for number in range(3):
            store.append(talk(number, room("#a")))
        store.gate.set()
        settled(store)
        store.gate.clear()
        store.rename("#a", "#b")
        store.redact("#b", "id1")
        for number in range(3, 23):
            store.append(talk(number, room("#b")))
        assert not {"REDACT", "RENAME"} & set(store.recent[5::sqlite.ROW_WIDTH])  # fallen off
        expected = ["m0", "m2"] + [f"m{number}" for number in range(13, 23)]
        assert texts(store.page("#b", limit=100, commands={"PRIVMSG"})) == expected
        store.gate.set()
        settled(store)
        # With a gap where the ten messages that fell off were (not the two edits).
        assert texts(store.page("#b", limit=100, commands={"PRIVMSG"})) == (
            expected[:2] + [10] + expected[2:])
        assert store.find("#b", "id1") is None and not store.edits
    finally:
        store.gate.set()
        store.close()


def test_targets_leave_out_a_message_redacted_before_the_writer_deletes_it(path):
    """A room's latest message, on the disk, redacted: until the writer deletes it, TARGETS
    gives the time of the one before, as it does after."""
    store = StalledDisk(path)
    try:
        store.append(talk(1, room("#a")))
        store.append(talk(2, room("#a")))
        store.gate.set()
        settled(store)
        store.gate.clear()
        store.redact("#a", "id2")
        assert store.targets(["#a"], 0, 2e9, 5) == [("#a", 1_700_000_001.0)]
        store.gate.set()
        assert wait_until(lambda: not store.edits)
        assert store.targets(["#a"], 0, 2e9, 5) == [("#a", 1_700_000_001.0)]
    finally:
        store.gate.set()
        store.close()


@pytest.mark.parametrize("store", ["list", "memory", "file"])
def test_targets_with_their_latest_at_the_same_time_come_by_name(path, store):
    """Whichever was said first or found first (on the queue, on the disk, under an old
    name), as the list model answers: the answer never depends on the writer's timing."""
    store = {"list": ListStore, "memory": SqliteStore}.get(store, lambda: SqliteStore(path))()
    try:
        store.append(talk(1, room("#b")))
        store.append(talk(1, room("#c"), msgid="id1c"))
        assert store.targets(["#b", "#c"], 0, 2e9, 1) == [("#b", 1_700_000_001.0)]
        store.rename("#b", "#d")
        assert store.targets(["#c", "#d"], 0, 2e9, 1) == [("#c", 1_700_000_001.0)]
    finally:
        if not isinstance(store, ListStore):
            store.close()


def test_kill_9_during_a_storm_leaves_a_sound_file_with_what_was_committed(path):
    process, address = start_server_process("--db", path, "--no-flood-control")
    try:
        talker = register_irc(address, "talker")
        talker.send(*[f"PRIVMSG #lobby :early {number}" for number in range(200)])

        def committed():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
                return counted(connection, "command", "PRIVMSG")
        assert wait_until(lambda: committed() == 200)
        talker.send(*[f"PRIVMSG #lobby :storm {number}" for number in range(2000)])
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    store = SqliteStore(path)
    try:
        assert store._reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = texts(store.page("#lobby", limit=3000, commands=MESSAGES))
        assert kept[:200] == [f"early {number}" for number in range(200)]
        assert kept[200:] == [f"storm {number}" for number in range(len(kept) - 200)]
    finally:
        store.close()


def test_a_restarted_server_shows_a_newcomer_what_was_said_before(path):
    process, address = start_server_process("--db", path)
    try:
        ann = LineSocket(address)
        ann.send("ann", "said before the restart")
        ann.expect("Type a line")
        ann.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()
    process, address = start_server_process("--db", path)
    try:
        bob = LineSocket(address)
        bob.send("bob")
        assert bob.expect("ann: said before the restart").endswith(
            "] ann: said before the restart")
        bob.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


def test_history_in_memory_is_bounded_by_default_and_a_file_as_the_operator_says(path):
    parser = build_parser()
    store = open_store(parser.parse_args([]))
    try:
        assert (store.path, store.lines, store.total) == (None, 1000, 100_000)
    finally:
        store.close()
    store = open_store(parser.parse_args(["--db", path, "--history-days", "30"]))
    try:
        assert (store.path, store.lines, store.days, store.total) == (path, None, 30, None)
    finally:
        store.close()
    assert open_store(parser.parse_args(["--no-history"])) is None
    store = open_store(parser.parse_args(["--no-history", "--db", path]))  # for accounts
    assert store.path == path
    store.close()


def test_a_full_disk_refuses_new_accounts_while_logins_and_chat_go_on(path, caplog):
    """Records wait on their queue while the disk is full (and are written once it has room);
    meanwhile a registration is refused in one line, since it could not be kept, while
    logging in (from memory) and talking go on."""
    store = SmallDisk(path)
    try:
        accounts = Accounts(store.keep, store.records(), store.keeping)
        chat = Harness(history=store, accounts=accounts, flood=None)
        accounts.add(Account("ann", hash_password("a long password")))
        assert wait_until(lambda: not store.changes)
        store.writer_connection.execute("PRAGMA max_page_count = 1")  # full from now on
        with caplog.at_level(logging.ERROR, logger="tcpchat"):
            accounts.add(Account("cy", hash_password("x"), created=1.0, suspended="x" * 9000))
            assert wait_until(lambda: store.records_failing)
        assert [r for r in caplog.records if "accounts: cannot write" in r.getMessage()]
        bob = chat.plain("bob")
        bob.send("/register a long password")
        assert bob.lines() == ["! The server cannot save accounts just now; try again later"]
        ann = chat.plain("ann")
        ann.send("/login a long password", "still talking")
        assert ann.lines()[0] == "*** You are logged in as ann."
        assert bob.lines()[-1] == "ann: still talking"
        store.writer_connection.execute("PRAGMA max_page_count = 1000000")
        assert wait_until(lambda: not store.changes and not store.records_failing)
    finally:
        store.close()


def test_a_database_of_schema_1_is_migrated_and_keeps_its_history(path):
    """A file made before accounts existed (schema 1) gets the records table on start, and
    its rows become runs (schema 3), each in one transaction with its new version, and its
    history stays, found by msgid as before."""
    from tcpchat.store.sqlite import MIGRATIONS
    old = sqlite3.connect(path)
    old.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    old.execute("INSERT INTO history VALUES (1, 'id1', '#lobby', '#lobby', 1700000000.0, "
                "'PRIVMSG', 'ann!a@h', 'kept', NULL, NULL)")
    old.execute("INSERT INTO history VALUES (2, 'p-2', '#lobby', '#Lobby', 1700000001.0, "
                "'TOPIC', 'ann!a@h', NULL, '[\"#Lobby\", \"a topic\"]', NULL)")
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert [entry.params for entry in store.page("#lobby", limit=5)] == [
            ("#lobby", "kept"), ("#Lobby", "a topic")]
        assert store.find("#lobby", "p-2").command == "TOPIC"
        assert store.targets(["#lobby"], 0, 2e9, 5) == [("#lobby", 1700000000.0)]
        store.keep("account", "ann", {"name": "ann", "password": "scrypt$x"})
        assert wait_until(lambda: not store.changes)
        assert store.records() == [("account", "ann", {"name": "ann", "password": "scrypt$x"})]
    finally:
        store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    check.close()


def test_runs_of_schema_3_are_read_and_new_runs_are_packed_where_they_can_be(path):
    """Schema 3 kept a run's entries as JSON; schema 4 packs them (joined strings, no JSON to
    make) where every one is a string and keeps JSON for the rest: a file of schema 3 is read
    as it was, and each run, old or new, packed or not, is found, paged and redacted alike."""
    from tcpchat.store.sqlite import MIGRATIONS, _run_values
    old = sqlite3.connect(path)
    old.executescript(f"BEGIN; {''.join(MIGRATIONS[:3])} PRAGMA user_version = 3; COMMIT;")
    rows = [(1, "p-1", "#lobby", "#lobby", 1700000000.0, "PRIVMSG", "ann!a@h", "m0", None, None),
            (2, "p-2", "#lobby", "#lobby", 1700000001.0, "PRIVMSG", "ann!a@h", "m1", None,
             '{"+draft/reply": "p-1"}')]
    run, columns = list(_run_values(rows))[:14], list(zip(*rows))  # schema 3's columns
    run[-1] = json.dumps([columns[1], *columns[5:]])
    old.execute(f"INSERT INTO runs VALUES ({', '.join('?' * 14)})", run)  # as schema 3 wrote it
    old.commit()
    old.close()
    store = StalledDisk(path)
    store.append(said(2, form="p-{:x}"))  # a run of messages: packed
    store.append(events.Join(None, "bob!b@h", LOBBY, 1700000003.0, "p-4"))  # no text: JSON
    store.gate.set()
    settled(store)
    try:
        assert [entry.command for entry in store.page("#lobby", limit=5)] == [
            "PRIVMSG", "PRIVMSG", "PRIVMSG", "JOIN"]
        assert store.find("#lobby", "p-2").tags == {"+draft/reply": "p-1"}
        assert texts([store.find("#lobby", "p-3")]) == ["m2"]
        store.redact("#lobby", "p-1")
        store.redact("#lobby", "p-3")
        settled(store)
        assert [entry.msgid for entry in store.page("#lobby", limit=5)] == ["p-2", "p-4"]
    finally:
        store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        kinds = [entries[0] for (entries,) in connection.execute(
            "SELECT entries FROM runs ORDER BY first")]
    assert kinds == ["\r", "["]  # a message redacted out of each of the first two


@pytest.mark.parametrize("strange", ["a\rb", "a\nb", "a\r\nb", "\n", "\r"])
@pytest.mark.parametrize("column", [1, 6, 7])  # msgid, source, text
def test_a_run_with_a_cr_or_an_lf_in_a_string_is_kept_as_json_and_read_back_whole(strange,
                                                                                  column):
    """Packed, a CR or an LF inside a string would shift every column after it: such a run is
    kept as JSON, and reads back as it was."""
    from tcpchat.store.sqlite import _entries_columns, _rows_of, _run_values
    rows = [(1, "p-1", "#lobby", "#lobby", 1.0, "PRIVMSG", "ann!a@h", "m0", None, None),
            (2, "p-2", "#lobby", "#lobby", 2.0, "PRIVMSG", "ann!a@h", "m1", None, None)]
    rows[1] = rows[1][:column] + (strange,) + rows[1][column + 1:]
    run = _run_values(rows)
    assert run[13].startswith("[")  # JSON
    assert _entries_columns(run[13], 2)[3] == ["m0", strange if column == 7 else "m1"]
    first, target, name, prefix, seqs, times, entries = run[0], *run[3:5], run[8], *run[11:14]
    assert _rows_of((first, target, name, prefix, seqs, times, entries, 0)) == rows


def test_a_run_of_plain_strings_is_packed():
    from tcpchat.store.sqlite import _PACKED, _entries_columns, _run_values
    rows = [(1, "p-1", "#lobby", "#lobby", 1.0, "PRIVMSG", "ann!a@h", "m0 \x02bold", None,
             None)]
    run = _run_values(rows)
    assert run[13].startswith(_PACKED) and _entries_columns(run[13], 1)[3] == ["m0 \x02bold"]


def test_a_busy_minute_is_swept_every_so_many_rows_not_held_past_the_bounds():
    """Retention runs every sweep_rows rows written as well as every sweep_interval: a room
    that gets thousands of lines a second holds its bound, not a minute's worth."""
    store = SqliteStore(None, lines=3, sweep_interval=3600, sweep_rows=5, commit_interval=0.001)
    try:
        for number in range(40):
            store.append(talk(number))
            assert wait_until(lambda: store.written == number + 1)
        kept = store.page("#lobby", limit=100)
        assert texts(kept)[-3:] == ["m37", "m38", "m39"]
        assert len(kept) < 3 + 5  # its lines, and what came since the last sweep
    finally:
        store.close()


class CountedRests(SqliteStore):
    """A store that counts its writer's rests."""

    rests = 0

    def _rest(self, swept):
        self.rests += 1
        return super()._rest(swept)


def test_an_idle_writer_rests_until_a_message_wakes_it():
    """A look that finds nothing puts the writer to rest: it does not wake every
    commit_interval (an idle server's process would, 50 times a second); the next message
    wakes it, and it writes it as it writes any."""
    store = CountedRests(None, commit_interval=0.002, sweep_interval=3600)
    try:
        assert wait_until(lambda: store.rests == 1 and store.resting)
        # Where the writer did not rest, it would look 50 times in this tenth of a second.
        assert not threading.Event().wait(0.1)
        assert store.rests == 1
        store.append(talk(1))
        assert wait_until(lambda: store.written == 1)  # on the disk
        assert wait_until(lambda: store.rests == 2 and store.resting)  # and at rest again
        store.append(events.Join(None, "bob!b@host", LOBBY, 2.0, "j1"))
        assert wait_until(lambda: store.written == 2)  # an entry of another kind wakes it too
        assert [entry.command for entry in store.page("#lobby", limit=10)] == ["PRIVMSG",
                                                                                "JOIN"]
    finally:
        store.close()


def test_a_burst_of_messages_wakes_a_resting_writer_once(monkeypatch):
    """The first message of a burst takes the writer out of its rest: the rest of the burst
    does not set the event again, each message a call (a lock, a notify) until the writer's
    thread gets the interpreter to notice it was woken."""
    sets = []

    class CountedEvent(threading.Event):
        def set(self):
            sets.append(1)
            super().set()

    monkeypatch.setattr(threading, "Event", CountedEvent)
    # A long commit_interval: a woken writer waits that long before it looks, so it cannot
    # write the burst and rest again while the burst is still coming.
    store = CountedRests(None, commit_interval=1.0, sweep_interval=3600)
    try:
        assert wait_until(lambda: store.rests == 1 and store.resting)
        sets.clear()  # (the writer's thread set one as it started)
        for number in range(50):
            store.append(talk(number))
        assert len(sets) == 1
        assert wait_until(lambda: store.written == 50)
    finally:
        store.close()


def test_in_memory_the_writer_looks_less_often_than_for_a_file(monkeypatch, path):
    """A file's writer looks every COMMIT_INTERVAL (what a power cut may lose); in memory,
    where a power cut loses all, every MEMORY_COMMIT_INTERVAL, a look costing about the same
    whatever it writes.  A store may still be given its own."""
    monkeypatch.setattr(sqlite, "COMMIT_INTERVAL", 0.02)
    monkeypatch.setattr(sqlite, "MEMORY_COMMIT_INTERVAL", 0.25)
    stores = [SqliteStore(None), SqliteStore(path),
              SqliteStore(None, commit_interval=0.005)]
    try:
        assert [store.commit_interval for store in stores] == [0.25, 0.02, 0.005]
    finally:
        for store in stores:
            store.close()


class WatchedDisk(StalledDisk):
    """A stalled disk that says when its writer has taken a batch (and waits at the gate)."""

    def __init__(self, *args, **kwargs):
        self.writing = threading.Event()
        super().__init__(*args, **kwargs)

    def _write(self, *args):
        self.writing.set()
        return super()._write(*args)


def test_wake_rows_queued_wake_the_writer_before_its_interval_is_up(monkeypatch):
    """Rows wait for the writer's next look, and a query merges them in meanwhile; once
    wake_rows of them wait, the loop wakes it (one event set, not one a row), and rows that
    came while it wrote are written at once after, not an interval later."""
    sets = []

    class CountedEvent(threading.Event):
        def set(self):
            sets.append(self)
            super().set()

    monkeypatch.setattr(threading, "Event", CountedEvent)
    store = WatchedDisk(None, commit_interval=600, wake_rows=5, queue=1000,
                        sweep_interval=3600)

    def wakes():
        return sets.count(store._wake)  # (not the disk's own events)
    try:
        for number in range(4):
            store.append(talk(number))
        assert texts(store.page("#lobby", limit=10)) == ["m0", "m1", "m2", "m3"]  # queued
        # Looking every 600 s, the writer has not looked in this tenth of a second.
        assert not threading.Event().wait(0.1)
        assert not store.writing.is_set() and wakes() == 0
        store.append(talk(4))
        assert wakes() == 1
        assert store.writing.wait(timeout=TIMEOUT)  # long before 600 s, and stalled there
        for number in range(5, 45):  # more than wake_rows, while it writes: no one to wake
            store.append(talk(number))
        assert wakes() == 1
        store.gate.set()
        assert wait_until(lambda: store.written == 45 and not store.recent)
        assert len(texts(store.page("#lobby", limit=100))) == 45 and store.lost == 0
    finally:
        store.gate.set()
        store.close()


def test_a_page_across_what_is_written_and_what_is_queued_is_cut_at_the_right_end():
    """In memory the queue holds a few hundred rows between looks; a page takes its limit
    from the right end of the written and the queued together, between its bounds."""
    store = StalledDisk(None, queue=1000)
    try:
        for number in range(40):
            store.append(talk(number))
        store.gate.set()
        settled(store)
        store.gate.clear()
        for number in range(40, 120):  # queued behind a stalled disk
            store.append(talk(number))
        lines = [f"m{number}" for number in range(120)]
        assert texts(store.page("#lobby", limit=50)) == lines[:50]
        assert texts(store.page("#lobby", limit=50, newest=True)) == lines[70:]
        after = store.page("#lobby", limit=1, newest=True)[0].seq - 30  # m89's seq
        assert texts(store.page("#lobby", after=Bound.at_seq(after), limit=10)) == lines[90:100]
        assert texts(store.page("#lobby", before=Bound.at_seq(after), limit=10,
                                newest=True)) == lines[79:89]
    finally:
        store.gate.set()
        store.close()


def test_a_resting_writer_still_sweeps_when_it_is_due():
    """Retention by age goes on in a room where nobody speaks any more."""
    now = [1_700_000_000.0]
    store = CountedRests(None, days=7, sweep_interval=0.05, commit_interval=0.002,
                         wall_clock=lambda: now[0])
    try:
        store.append(talk(1, when=now[0]))
        assert wait_until(lambda: store.written == 1 and store.resting)
        now[0] += 10 * 86400  # ten days on, with no message since
        assert wait_until(lambda: store.page("#lobby", limit=10) == [])
    finally:
        store.close()


def said(number, room=LOBBY, msgid=None, form="p-{:x}"):
    """Message *number*, with a msgid of the server's form (a prefix and a rising counter,
    written as *form* writes it)."""
    return talk(number, room, msgid=msgid or form.format(number + 1))


@pytest.mark.parametrize("form", [f"p-{{:0{events.COUNTER_DIGITS}x}}", "p-{:x}"],
                         ids=["this-server", "digits-as-needed"])
def test_a_busy_rooms_lines_go_to_the_disk_as_a_few_runs_and_each_is_found(path, form):
    """600 lines in a row are three runs on the disk (what makes history cheap for the
    writer), and paging, finding, redacting and retention reach into the middle of one.  The
    same whether the msgids' counters are as long as this server writes them (checked as
    text) or as long as each needs (as an older tcpchat wrote them: read one by one)."""
    msgid = form.format
    store = StalledDisk(path, lines=500)  # (one commit, whenever the writer looks)
    for number in range(600):
        store.append(said(number, form=form))
    store.gate.set()
    settled(store)
    try:
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
        assert texts(store.page("#lobby", limit=3)) == ["m0", "m1", "m2"]
        middle = store.find("#lobby", msgid(301))  # message 300, inside the second run
        assert texts([middle]) == ["m300"]
        assert texts(store.page("#lobby", before=Bound.at_seq(middle.seq), limit=2,
                                newest=True)) == ["m298", "m299"]
        assert texts(store.page("#lobby", after=Bound.at_seq(middle.seq), limit=2)) == [
            "m301", "m302"]
        assert store.find("#other", msgid(301)) is None  # the msgid, but of another room
        store.redact("#lobby", msgid(301))
        settled(store)
        assert store.find("#lobby", msgid(301)) is None
        assert texts(store.page("#lobby", after=Bound.at_seq(middle.seq - 2), limit=2)) == [
            "m299", "m301"]
    finally:
        store.close()
    with sqlite3.connect(path) as connection:
        assert counted(connection, "msgid", msgid(301)) == 0
        assert counted(connection, "command", "PRIVMSG") == 500  # m99 on, but m300
    again = SqliteStore(path)
    try:
        assert texts(again.page("#lobby", limit=1)) == ["m99"]  # the rest of a run
        assert texts([again.find("#lobby", msgid(100))]) == ["m99"]
        assert again.find("#lobby", msgid(99)) is None
    finally:
        again.close()


def test_targets_and_pages_by_time_look_inside_a_run_that_reaches_past_their_bound(path):
    """A run's times are its ends only: a bound that falls inside one is found inside it."""
    store = StalledDisk(path)  # (one commit, so one run)
    for number in range(10):
        store.append(said(number))  # at 1_700_000_000 + number
    store.gate.set()
    settled(store)
    try:
        start = 1_700_000_000
        assert store.targets(["#lobby"], start + 2.5, start + 5.5, 10) == [
            ("#lobby", start + 5.0)]
        assert store.targets(["#lobby"], start + 9.5, start + 20, 10) == []
        assert texts(store.page("#lobby", after=Bound.at_time(start + 2.5),
                                before=Bound.at_time(start + 5.5))) == ["m3", "m4", "m5"]
        assert texts(store.page("#lobby", before=Bound.at_time(start + 5.5), limit=2,
                                newest=True)) == ["m4", "m5"]
    finally:
        store.close()


@pytest.mark.parametrize("ids", [
    ["p-5", "p-3", "p-4", "q-4", "other", "p-05", "p-6", "p-ffffffffffffffffff", "p-7"],
    # One batch that looks like the usual case (one room, one prefix) and is not quite:
    ["-1", "-2", "-3"], ["p-1", "p-2", "p-x"], ["p-0", "p-1"], ["p- 1", "p-02", "p-3"]])
def test_msgids_out_of_order_or_of_other_forms_are_found_all_the_same(path, ids):
    """A run holds rising counters of one prefix: a msgid that breaks that starts a new run
    (or a run of its own), and every one is still found, and in order."""
    store = SqliteStore(path)
    for number, msgid in enumerate(ids):
        store.append(said(number, msgid=msgid))
    store.close()
    again = SqliteStore(path)
    try:
        for number, msgid in enumerate(ids):
            assert texts([again.find("#lobby", msgid)]) == [f"m{number}"]
        assert texts(again.page("#lobby", limit=20)) == [f"m{n}" for n in range(len(ids))]
        assert again.find("#lobby", "p-8") is None and again.find("#lobby", "p-") is None
    finally:
        again.close()
