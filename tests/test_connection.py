"""The seam between the core and its drivers (tcpchat/chat/connection.py), driven with no sockets:
what a driver feeds in, what it takes out, what it is told, and the send queue bound."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import Harness, install_pause_commands
from tcpchat.chat.connection import MAX_HELD
from tcpchat.chat.encoding import IRC, PLAIN, Dialect, Encoding
from tcpchat.protocol.framing import TOO_LONG
from tcpchat.protocol.message import Message


@pytest.fixture
def chat():
    return Harness()


@pytest.fixture
def hush(monkeypatch):
    install_pause_commands(monkeypatch)


def texts(peer):
    return [m.params[-1] for m in peer.messages() if m.command == "PRIVMSG"]


# -- In: a stream or one line at a time -----------------------------------------------------

lines_strategy = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")),
                                  min_size=1, max_size=40), min_size=1, max_size=12)


@given(lines_strategy, st.data())
def test_a_stream_in_any_chunks_and_the_same_lines_one_at_a_time_read_alike(texts_sent, data):
    lines = [f"PRIVMSG #lobby :{text}".encode() for text in texts_sent]
    stream = b"".join(line + b"\r\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    outputs = []
    for by_line in (False, True):
        chat = Harness()
        sender, watcher = chat.irc("sender"), chat.irc("watcher")
        watcher.lines()
        if by_line:
            for line in lines:
                sender.conn.receive_line(line)
        else:
            for start, end in zip([0, *cuts], [*cuts, len(stream)]):
                if start < end:  # an empty chunk would mean the end of the stream
                    sender.send_bytes(stream[start:end])
        outputs.append(watcher.output())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\r\n") >= len(lines)


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
def test_a_line_from_a_message_transport_may_end_or_not(chat, ending):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.conn.receive_line(b"PRIVMSG #lobby :hi" + ending)
    assert texts(alice) == ["hi"]


def test_an_overlong_line_from_a_message_transport_gets_417(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.conn.receive_line(b"PRIVMSG #lobby :" + b"x" * 600)
    assert bob.commands() == ["417"] and alice.lines() == []


# -- Out: bytes for a stream, lines for messages; one send queue bound ---------------------

def test_take_lines_gives_the_same_lines_as_the_byte_stream(chat):
    alice, bob = chat.irc("alice"), chat.plain("bob")
    carol = chat.irc("carol")
    for peer in (alice, bob):
        peer.output()
    carol.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two", "NICK caroline")
    assert alice.conn.take_lines() == [b":carol!carol@127.0.0.1 PRIVMSG #lobby :one",
                                       b":carol!carol@127.0.0.1 PRIVMSG #lobby :two",
                                       b":carol!carol@127.0.0.1 NICK caroline"]
    assert bob.conn.take_lines() == [b"carol: one", b"carol: two",
                                     b"* carol is now known as caroline"]
    assert alice.conn.pending == bob.conn.pending == 0
    assert alice.conn.take_lines() == []


def test_the_send_queue_bound_counts_the_same_for_streams_and_messages():
    chat = Harness(sendq=8192, flood=None)
    talker, stream, messages = chat.irc("talker"), chat.irc("stream"), chat.irc("messages")
    cut_at = {}
    for number in range(200):
        talker.send(f"PRIVMSG #lobby :line {number} " + "x" * 100)
        talker.output()
        for peer in (stream, messages):
            if peer.conn.closing and peer not in cut_at:
                cut_at[peer] = number
    assert cut_at[stream] == cut_at[messages]
    assert messages.conn.take_lines() == [b"ERROR :Closing link: SendQ exceeded"]
    assert stream.output() == b"ERROR :Closing link: SendQ exceeded\r\n"


def test_the_send_queue_goodbye_finishes_a_line_already_half_sent():
    chat = Harness(sendq=4096)
    talker, sleeper = chat.irc("talker"), chat.irc("sleeper")
    talker.send("PRIVMSG #lobby :first line")
    first = b":talker!talker@127.0.0.1 PRIVMSG #lobby :first line\r\n"
    assert bytes(sleeper.conn.data_to_send()) == first
    sleeper.conn.sent(10)  # the kernel took part of it
    while not sleeper.conn.closing:
        talker.send("PRIVMSG #lobby :" + "x" * 300)
        talker.output()
    assert sleeper.output() == first[10:] + b"ERROR :Closing link: SendQ exceeded\r\n"


# -- What the driver is told ---------------------------------------------------------------

def test_the_driver_is_told_once_per_call_which_connections_have_new_output(chat):
    told = []
    chat.core.output_ready = told.append
    alice, bob, carol = chat.irc("alice"), chat.irc("bob"), chat.irc("carol")
    for peer in (alice, bob, carol):
        peer.output()
    told.clear()
    alice.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two")
    assert told == [{bob.conn, carol.conn}]
    alice.send("PRIVMSG #lobby :three")
    assert told == [{bob.conn, carol.conn}]  # their output waits: they were told already
    bob.output()
    alice.send("PRIVMSG #lobby :four")
    assert told[1:] == [{bob.conn}]
    carol.output()
    carol.conn.connection_lost("Connection reset by peer")
    # carol is closing, with nothing to send: the socket may go.  Her QUIT is the first
    # output alice has had since she was last told; bob still has "four" waiting.
    assert told[2:] == [{carol.conn, alice.conn}]
    assert carol.conn.finished


def test_the_driver_closes_with_a_goodbye_or_without(chat):
    alice, bob, carol = chat.irc("alice"), chat.irc("bob"), chat.irc("carol")
    alice.lines()
    bob.conn.close("Server full")
    assert bob.lines()[-1] == "ERROR :Closing link: Server full"
    assert bob.conn.finished
    carol.conn.connection_lost("Broken pipe")
    assert carol.output() == b""
    assert [m.params for m in alice.messages() if m.command == "QUIT"] == [
        ("Server full",), ("Broken pipe",)]


# -- Pausing -------------------------------------------------------------------------------

def test_lines_after_a_pause_wait_in_order_until_resume(chat, hush):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.send("PRIVMSG #lobby :before", "HUSH", "PRIVMSG #lobby :held 1")
    bob.conn.receive_line(b"PRIVMSG #lobby :held 2")  # a datagram cannot be stopped
    assert texts(alice) == ["before"]
    assert bob.conn.transport.paused == 1 and bob.conn.reading_paused
    alice.send("PRIVMSG #lobby :meanwhile", "UNHUSH bob", "PRIVMSG #lobby :after")
    assert bob.conn.transport.resumed == 1 and not bob.conn.reading_paused
    assert texts(bob) == ["meanwhile", "after"]
    assert texts(alice) == ["held 1", "held 2"]


def test_held_input_is_bounded(chat, hush):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.send("HUSH")
    line = b"PRIVMSG #lobby :" + b"f" * 400
    for _ in range(MAX_HELD // len(line) + 1):
        bob.conn.receive_line(line)
    assert bob.conn.closing
    assert bob.lines()[-1] == "ERROR :Closing link: Excess Flood"
    assert [m.params for m in alice.messages()] == [("Excess Flood",)]


# -- Dialects and encodings ----------------------------------------------------------------

def test_a_message_that_holds_two_lines_is_taken_as_two_never_as_one(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    # Were the LF kept inside one line, it would reach alice as a line of bob's choosing.
    bob.conn.receive_line(b"PRIVMSG #lobby :one\r\nPRIVMSG #lobby :two")
    assert texts(alice) == ["one", "two"]


def test_a_message_the_transport_dropped_as_too_long_gets_417(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.conn.receive_line(TOO_LONG)
    assert bob.commands() == ["417"] and alice.lines() == []


def test_take_lines_takes_whole_lines_up_to_a_limit_and_at_least_one(chat):
    peer = chat.irc("alice")
    peer.lines()
    peer.conn.outbuf += b"a" * 10 + b"\r\n" + b"b" * 10 + b"\r\n" + b"c" * 30 + b"\r\n"
    assert peer.conn.take_lines(25) == [b"a" * 10, b"b" * 10]
    assert peer.conn.take_lines(25) == [b"c" * 30]  # longer than the limit: alone, whole
    assert peer.conn.take_lines(25) == [] and peer.conn.pending == 0


def test_a_transport_that_fixes_the_dialect_is_not_sniffed(chat):
    peer = chat.core.connect("127.0.0.1", type(chat.connect().conn.transport)(),
                             Dialect.IRC)
    assert peer.pending == 0  # no greeting meant for netcat users
    peer.receive_line(b"GET / HTTP/1.1")
    assert bytes(peer.data_to_send()).startswith(b":tcpchat 421 * GET :Unknown command")
    assert peer.client.dialect is Dialect.IRC


def test_users_who_want_the_same_form_share_an_encoding(chat):
    plain_users = [chat.plain("p1"), chat.plain("p2")]
    irc_users = [chat.irc("i1"), chat.irc("i2", caps=True)]
    irc_users[1].send("CAP REQ multi-prefix")
    assert {peer.client.encoding for peer in plain_users} == {PLAIN}
    assert {peer.client.encoding for peer in irc_users} == {IRC}


def test_a_message_is_encoded_once_per_encoding_in_use(chat):
    calls = []

    def spy(name):
        def encode(message):
            calls.append(name)
            return f"{name} {message.params[-1]}\r\n".encode()
        return Encoding(name, encode)

    first, second = spy("first"), spy("second")
    talker = chat.irc("talker")
    members = [chat.irc(f"m{number}") for number in range(6)]
    for number, member in enumerate(members):
        member.client.encoding = (first, second)[number % 3 == 0]
        member.output()
    chat.core.chat.delivery.deliver(Message("PRIVMSG", ("#lobby", "hi"), "talker!t@h"),
                           chat.core.chat.registry.channels["#lobby"].members, skip=talker.client)
    assert sorted(calls) == ["first", "second"]
    assert [member.output() for member in members] == [
        b"second hi\r\n", b"first hi\r\n", b"first hi\r\n",
        b"second hi\r\n", b"first hi\r\n", b"first hi\r\n"]
