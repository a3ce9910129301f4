"""The usual read, whole lines of ``PRIVMSG #room :text`` from a registered IRC client, goes
from the bytes straight to ``Chat.message`` (``ChatCore.usual_lines``), past the framer and the
per-line checks and dispatch: here it is held to the general way.

Random byte streams, made of usual lines and of every near miss the short way must leave to the
general one (a NUL, a stray CR, bytes that are not UTF-8, a line over 510 bytes or over the
framer's limit, a bare LF, no text, several targets, tags, a lower-case command, a room the
sender is not in or may not speak in, a multiline batch, a user not registered or in plain
mode), are cut into reads at random places and played twice, with the short way and without
it, under a flood bucket small enough to pause the senders and a send queue small enough to
cut them: every connection must get the same bytes, in the same state, and the counters must
agree.  A read whose whole lines are all the usual line to one room goes as one run
(``ChatCore._usual_run``): a talker's lines said again and again are played the same way, and
there what history keeps must agree too.
"""

import itertools
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers import Harness, with_caps
from tcpchat.chat.chat import Chat
from tcpchat.chat.connection import MAX_LINE
from tcpchat.chat.flood import FloodPolicy
from tcpchat.core import ChatCore
from tcpchat.protocol import ircv3
from tcpchat.store.sqlite import SqliteStore

PIECES = [
    b"PRIVMSG #lobby :hello there\r\n", b"PRIVMSG #lobby :hello\n", b"PRIVMSG #lobby ::)\r\n",
    b"PRIVMSG #LOBBY :hi\r\n", b"PRIVMSG #lobby :" + "\u00e9".encode() * 240 + b"\r\n",
    b"PRIVMSG #lobby :" + b"x" * 494 + b"\r\n", b"PRIVMSG #lobby :" + b"x" * 495 + b"\r\n",
    b"PRIVMSG #lobby :" + b"x" * MAX_LINE + b"\r\n", b"PRIVMSG #lobby :a\0b\r\n",
    b"PRIVMSG #lobby :a\rb\r\n", b"PRIVMSG #lobby :\xff\xfe\r\n", b"PRIVMSG #lobby :\r\r\n",
    b"PRIVMSG #lobby :\r\n", b"PRIVMSG #lobby x\r\n", b"PRIVMSG #lobby,#a :two\r\n",
    b"PRIVMSG #nowhere :x\r\n", b"PRIVMSG #a :x\r\n", b"privmsg #lobby :lower\r\n",
    b"PRIVMSG @#lobby :ops\r\n", b"@+x=1 PRIVMSG #lobby :tagged\r\n", b"\r\n", b"\n",
    b"PRIVMSG ann :private\r\n", b"JOIN #a\r\n", b"PART #a\r\n", b"MODE #lobby +m\r\n",
    b"MODE #lobby -m\r\n", b"BATCH +b1 draft/multiline #lobby\r\n",
    b"@batch=b1 PRIVMSG #lobby :in the batch\r\n", b"BATCH -b1\r\n", b"PING :here\r\n",
    b"NOTICE #lobby :a notice\r\n",
]
#: Slots: 0 and 1 registered (1 with echo-message), 2 with multiline batches, 3 never
#: registered (it sent NICK alone), 4 a plain user (to whom a PRIVMSG line is text).
SLOTS = 5


#: A piece said again and again, as a busy talker's reads are: the lines a read takes as one
#: run (``ChatCore._usual_run``), or leaves to the ways above when one of them is not usual.
repeated = st.builds(bytes.__mul__, st.sampled_from(PIECES[:16] + [
    PIECES[-1], b"NOTICE  #lobby :two spaces\r\n", b"PRIVMSG #m :x\r\n",
    b"PRIVMSG #lobby :" + b"x" * 200 + b"\r\n"]), st.integers(2, 6))


@st.composite
def reads(draw):
    """A stream of pieces, cut into reads at random places (a read may end mid-line)."""
    stream = b"".join(draw(st.lists(st.one_of(st.sampled_from(PIECES), repeated), min_size=1,
                                    max_size=8)))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=3)))
    bounds = [0, *cuts, len(stream)]
    return [stream[start:end] for start, end in zip(bounds, bounds[1:]) if end > start]


steps = st.lists(st.one_of(st.tuples(st.integers(0, SLOTS - 1), reads()),
                           st.tuples(st.just("wait"), st.sampled_from((0.5, 3.0)))),
                 min_size=1, max_size=10)


def _lower_sendq(chat, size):
    """Cut a connection past *size* bytes queued after a flush, and past twice that at once,
    from now on (the registrations before needed more)."""
    chat.core.config.sendq = size
    chat.core.chat.delivery.hard_sendq = 2 * size


def _play(steps, short_way, direct, kept=False):
    """Every peer's bytes and state after each step, and the counters, with the usual lines'
    way on or off; and with *kept*, what a server keeping history in memory kept."""
    # The same batch references in both plays.
    with mock.patch.object(ircv3, "_batch_ids", itertools.count(1)):
        if not kept:
            return _played_with(steps, short_way, direct, None)
        history = SqliteStore(None)
        try:
            return _played_with(steps, short_way, direct, history)
        finally:
            history.close()


def _played_with(steps, short_way, direct, history):
    chat = Harness(direct=direct, history=history,
                   flood=FloodPolicy(lines_per_second=2, burst_lines=12, bytes_per_second=512,
                                     burst_bytes=2048, backlog=4096))
    if not short_way:
        chat.core.usual_lines = lambda conn, data: 0
    peers = [chat.irc("ann"), with_caps(chat, "bob", "echo-message", "account-tag"),
             with_caps(chat, "cy", "batch", "message-tags", "draft/multiline"), chat.connect(),
             chat.plain("dee")]
    for peer in peers[:3]:
        peer.send("JOIN #lobby")
    peers[4].send("/join #lobby")
    peers[3].send("NICK zed")
    # #a, which ann and cy are not in; #m, moderated, where cy has no voice.
    peers[1].send("JOIN #a")
    peers[0].send("JOIN #m", "MODE #m +m")
    peers[2].send("JOIN #m")
    # What a login and bot mode give a message (its account and bot tags), set as they set it.
    peers[0].conn.client.bot = True
    peers[2].conn.client.account = "cy"
    _lower_sendq(chat, 1024)  # so that a sender's own echo can cut it mid-read

    def seen():
        return [(peer.output(), peer.conn.closing, peer.conn.reading_paused,
                 peer.conn.flood and (peer.conn.flood.lines, peer.conn.flood.bytes))
                for peer in peers]

    seen_after = [seen()]
    for slot, what in steps:
        if slot == "wait":
            chat.clock.advance(what)
            chat.run_timers()
        else:
            for data in what:
                peers[slot].send_bytes(data)
        seen_after.append(seen())
    stats = chat.core.chat.stats
    kept = history and [history.page(room, limit=1000) for room in ("#lobby", "#a")]
    return seen_after, dict(stats.commands), stats.lines_in, stats.bytes_in, kept


@pytest.mark.parametrize("direct", [False, True], ids=["queued", "broadcast"])
@settings(max_examples=120, deadline=None)
@given(steps=steps)
@example(steps=[(0, [b"PRIVMSG #lobby :one\r\nPRIVMSG #lobby :two\r\nJOIN #a\r\n"
                     b"PRIVMSG #lobby :three\r\n"])])
@example(steps=[(0, [b"PRIVMSG #lobby :hello there\r\n" * 9]), ("wait", 3.0)])
@example(steps=[(1, [b"PRIVMSG #lobby :a\r\nPRIVMSG #lo", b"bby :b\r\nPRIVMSG #lobby :c\n"])])
@example(steps=[(1, [b"PRIVMSG #lobby :" + b"x" * 494 + b"\r\n"] * 6)])
@example(steps=[(2, [b"BATCH +b1 draft/multiline #lobby\r\nPRIVMSG #lobby :in\r\n"]),
                (2, [b"PRIVMSG #lobby :still in\r\nBATCH -b1\r\n"])])
def test_the_usual_lines_give_everyone_what_the_general_way_gives(steps, direct):
    assert _play(steps, True, direct) == _play(steps, False, direct)


#: Whole reads of a talker's lines, one or a few of them said again and again: by ann, by bob
#: (who has his own echoed), or by cy (who takes message-tags, and is written every msgid).
talkers_reads = st.lists(st.tuples(st.sampled_from((0, 1, 2)), st.lists(
    repeated, min_size=1, max_size=3).map(lambda parts: [b"".join(parts)])), min_size=1,
    max_size=6)


@pytest.mark.parametrize("direct", [False, True], ids=["queued", "broadcast"])
@settings(max_examples=60, deadline=None)
@given(steps=talkers_reads)
@example(steps=[(0, [b"PRIVMSG #lobby :one\r\n" * 3]), (2, [b"PRIVMSG #lobby :two\r\n" * 2])])
def test_a_talkers_reads_taken_as_runs_give_everyone_what_the_general_way_gives(steps, direct):
    assert _play(steps, True, direct, kept=True) == _play(steps, False, direct, kept=True)


def _ann_and_bob(*bobs_caps):
    """A harness with ann and bob (with *bobs_caps*) in #lobby, all their output read."""
    chat = Harness()
    ann, bob = chat.irc("ann"), with_caps(chat, "bob", *bobs_caps)
    for peer in (ann, bob):
        peer.send("JOIN #lobby")
    ann.output(), bob.output()
    return chat, ann, bob


def test_the_usual_line_takes_the_short_way(monkeypatch):
    _chat, ann, bob = _ann_and_bob()

    def general_way(*_args):
        raise AssertionError("the usual line went the general way")

    monkeypatch.setattr(ChatCore, "_line", general_way)
    ann.send("PRIVMSG #lobby :hello", "PRIVMSG #lobby :again")
    assert bob.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :hello",
                           ":ann!ann@127.0.0.1 PRIVMSG #lobby :again"]


def test_the_first_other_line_sends_the_rest_of_the_read_the_general_way(monkeypatch):
    _chat, ann, bob = _ann_and_bob()
    general = []
    real_line = ChatCore._line
    monkeypatch.setattr(ChatCore, "_line", lambda core, client, raw: (
        general.append(raw), real_line(core, client, raw)))
    ann.send_bytes(b"PRIVMSG #lobby :one\r\nPRIVMSG #lobby :a\0b\r\nPRIVMSG #lobby :two\r\n"
                   b"PRIVMSG #lob")
    ann.send_bytes(b"by :three\r\nPRIVMSG #lobby :four\r\n")
    # The NUL's line and the line after it, in that read; the line the read cut, and the
    # line after it in the same read.
    assert general == [b"PRIVMSG #lobby :a\0b", b"PRIVMSG #lobby :two",
                       b"PRIVMSG #lobby :three", b"PRIVMSG #lobby :four"]
    assert [line.split(" :", 1)[1] for line in bob.lines()] == ["one", "two", "three", "four"]
    assert "NUL" in ann.output().decode()


def test_a_sender_cut_by_its_own_echo_says_nothing_more_of_that_read(monkeypatch):
    chat, ann, bob = _ann_and_bob("echo-message")
    _lower_sendq(chat, 1024)
    ann.send(*["PRIVMSG #lobby :" + "x" * 300] * 3)
    assert not bob.conn.closing  # 1011 bytes wait for bob, who has not read
    said = []
    real_message = Chat.message
    monkeypatch.setattr(Chat, "message", lambda chat, client, command, target, text, *rest: (
        said.append(text.split()[0]), real_message(chat, client, command, target, text, *rest)))
    # The echo of its third line takes bob's queue past 2048 bytes (511 bytes each).
    bob.send(*(f"PRIVMSG #lobby :{word} " + "b" * 470 for word in ("one", "two", "three", "four")))
    assert bob.conn.closing
    assert said == ["one", "two", "three"]
