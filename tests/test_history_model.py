"""SQLite against the list model: any interleaving of messages, joins, parts, redactions,
renames and CHATHISTORY requests (TARGETS too) gets the same answers from both stores, line
for line."""

import itertools
import os
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Harness, StalledDisk
from tcpchat.chat.events import COUNTER_DIGITS
from tcpchat.commands import rename
from tcpchat.protocol.ircv3 import timestamp
from tcpchat.store.memory import ListStore

USERS = ("ann", "bob", "cy")
CHANNELS = ("#a", "#b")
#: Where lines go: the channels everyone joins first, and the names they may be renamed to
#: (or a channel of that name made by a JOIN, which a rename to it then finds taken).
TARGETS = CHANNELS + ("#c", "#d")
BATCH_ID = re.compile(r"(?<=[-+=])B\d+")
CAPS = ("batch server-time message-tags draft/chathistory draft/message-redaction "
        "draft/channel-rename")


def msgid(number):
    """The *number*th msgid, in the server's form (a prefix and a counter in hex, always as
    many digits), which the SQLite store reads to find a message in its runs."""
    return f"id-{number:0{COUNTER_DIGITS}x}"


def moment():
    """A timestamp near the run's."""
    return st.integers(-5, 40).map(
        lambda seconds: f"timestamp={timestamp(1_700_000_000 + seconds)}")


def reference():
    """A msgid (of a message that may or may not exist) or a timestamp near the run's."""
    return st.one_of(st.integers(1, 40).map(lambda number: f"msgid={msgid(number)}"), moment())


message = st.tuples(st.sampled_from(TARGETS), st.text("xyz", min_size=1, max_size=3)).map(
    lambda pair: f"PRIVMSG {pair[0]} :{pair[1]}")
join = st.sampled_from(TARGETS).map(lambda channel: f"JOIN {channel}")
latest = st.tuples(st.sampled_from(TARGETS), st.integers(1, 10)).map(
    lambda pair: f"CHATHISTORY LATEST {pair[0]} * {pair[1]}")
# Back and forth between the names, and now and then to a name taken or the same one.
renaming = st.one_of(st.sampled_from(("RENAME #a #c", "RENAME #c #a", "RENAME #b #d",
                                      "RENAME #d #b")),
                     st.tuples(st.sampled_from(TARGETS), st.sampled_from(TARGETS)).map(
                         lambda pair: f"RENAME {pair[0]} {pair[1]}"))
# Weighted by repeating: most lines are messages, so that pages fill, and a member who left
# comes back more often than not.
line = st.one_of(
    message, message, message, message, message, join, join, latest, latest,
    st.sampled_from(TARGETS).map(lambda channel: f"PART {channel}"),
    renaming, renaming,
    st.tuples(st.sampled_from(TARGETS), st.integers(1, 40)).map(
        lambda pair: f"REDACT {pair[0]} {msgid(pair[1])}"),
    st.tuples(st.sampled_from(("LATEST", "BEFORE", "AFTER", "AROUND")),
              st.sampled_from(TARGETS), reference(), st.integers(1, 10)).map(
        lambda request: "CHATHISTORY {} {} {} {}".format(*request)),
    st.tuples(st.sampled_from(TARGETS), reference(), reference(), st.integers(1, 10)).map(
        lambda request: "CHATHISTORY BETWEEN {} {} {} {}".format(*request)),
    st.tuples(moment(), moment(), st.integers(1, 10)).map(
        lambda request: "CHATHISTORY TARGETS {} {} {}".format(*request)),
)
step = st.tuples(st.sampled_from(USERS), line, st.booleans())


def play(store, steps):
    harness = Harness(history=store, flood=None, autojoin=False, created=1_700_000_000)
    harness.core.chat.new_msgid = map(msgid, itertools.count(1)).__next__
    peers = {}
    for nick in USERS:
        peer = harness.connect()
        peer.send(f"CAP REQ :{CAPS}", f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END",
                  f"JOIN {','.join(CHANNELS)}")
        peers[nick] = peer
    # Everyone may rename, as often as it likes: renames among the other lines, not refusals.
    peers["ann"].send(*(f"MODE {channel} +oo bob cy" for channel in CHANNELS))
    transcript = []
    cooldown, rename.COOLDOWN = rename.COOLDOWN, 0
    try:
        for nick, text, tick in steps:
            transcript.extend(step_of(harness, peers, nick, text, tick))
    finally:
        rename.COOLDOWN = cooldown
    return transcript


def step_of(harness, peers, nick, text, tick):
    """What every peer is sent for one line."""
    peers[nick].send(text)
    if tick:
        harness.clock.advance(1)
    # Batch ids count up across the process: the two runs differ there alone.
    return [(name, [BATCH_ID.sub("B", line) for line in peer.lines()])
            for name, peer in peers.items()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=10, max_size=60), st.sampled_from(("memory", "file")),
       st.booleans())
def test_sqlite_answers_as_the_list_model_does(steps, where, stalled):
    """In memory (where a query sees what the writer has not committed yet) and in a file
    (where each statement reads a committed snapshot), with a writer that keeps up (answers
    mostly from the database) and one stalled for the whole run (answers from its queue
    alone)."""
    with tempfile.TemporaryDirectory(prefix="tcpchat-model-") as folder:
        sqlite = StalledDisk(None if where == "memory" else os.path.join(folder, "chat.db"))
        if not stalled:
            sqlite.gate.set()
        try:
            assert play(sqlite, steps) == play(ListStore(), steps)
        finally:
            sqlite.gate.set()
            sqlite.close()
