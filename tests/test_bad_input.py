"""Malformed and hostile input through the core: a clear error to the sender, nobody else
affected, and never an exception."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Harness
from tcpchat.protocol.ircv3 import CAPABILITIES
from tcpchat.protocol.message import MAX_MESSAGE


@pytest.fixture
def chat():
    return Harness()


@pytest.fixture
def room(chat):
    """alice (the one misbehaving) and bob (who must not notice), both IRC, in #lobby."""
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    return alice, bob


#: What a line over the IRC limit is answered: the limit, for a person to go by.
TOO_LONG_TEXT = "Input line was too long: a line is at most 510 bytes"


def test_overlong_line_gets_417_once_and_the_next_line_works(room):
    alice, bob = room
    alice.send_bytes(b"PRIVMSG #lobby :" + b"x" * 10_000 + b"\r\nPRIVMSG #lobby :after\r\n")
    assert [(m.command, m.params) for m in alice.messages()] == [
        ("417", ("alice", TOO_LONG_TEXT))]
    assert [m.params for m in bob.messages()] == [("#lobby", "after")]
    assert alice.conn.unfinished_input == 0


def test_line_just_over_512_bytes_gets_417(room):
    alice, bob = room
    body = "PRIVMSG #lobby :" + "y" * (MAX_MESSAGE - 2 - 16)
    alice.send(body + "y")
    assert [m.params[-1] for m in alice.messages()] == [TOO_LONG_TEXT]
    assert bob.lines() == []
    # 512 bytes in, but not once relayed with alice's prefix: refused by another 417, which
    # says how much fits (see test_irc), and nothing goes to anyone.
    alice.send(body)
    assert [m.params[-1][:26] for m in alice.messages()] == ["Input line was too long: w"]
    assert bob.lines() == []


def test_client_tags_may_take_4096_bytes_more(room):
    alice, bob = room
    alice.send("@+example=" + "t" * 4000 + " PRIVMSG #lobby :tagged")
    assert [m.params for m in bob.messages()] == [("#lobby", "tagged")]
    alice.send("@+example=" + "t" * 4100 + " PRIVMSG #lobby :too many tags")
    assert alice.commands() == ["417"]
    assert bob.lines() == []


def test_a_long_plain_line_goes_out_in_pieces_and_a_too_long_one_gets_a_plain_error(chat):
    """A paste in netcat is text, relayed as lines that each fit (issue 30: it was refused at
    510 bytes), up to 4606 bytes; past that, the error says the limit."""
    alice = chat.irc("alice")
    carol = chat.plain("carol")
    alice.lines()
    paste = "слово " * 200  # 2200 bytes of Cyrillic and spaces
    carol.send(paste)
    pieces = [message.params[1] for message in alice.messages()]
    assert "".join(pieces) == paste and len(pieces) == 5
    carol.lines()
    carol.send("z" * 4607)
    assert carol.lines() == ["! Input line was too long: a line is at most 4606 bytes"]
    assert alice.lines() == []


def test_invalid_utf8_is_dropped_with_a_standard_reply_and_never_relayed(room):
    alice, bob = room
    alice.send_bytes(b"PRIVMSG #lobby :caf\xe9\r\nPRIVMSG #lobby :caf\xc3\xa9\r\n"
                     b"\xff\xfe\r\n@t=\xe9 :src\xe9 topic\xe9 #lobby\r\n")
    assert alice.lines() == [":tcpchat FAIL PRIVMSG INVALID_UTF8 :Line dropped: it is not "
                             "valid UTF-8",
                             ":tcpchat FAIL * INVALID_UTF8 :Line dropped: it is not valid UTF-8",
                             ":tcpchat FAIL * INVALID_UTF8 :Line dropped: it is not valid UTF-8"]
    assert [m.params for m in bob.messages()] == [("#lobby", "café")]


def test_a_registering_client_with_a_latin1_real_name_gets_in_warned(chat):
    """Its USER line is taken with the bad bytes replaced, and a WARN says so: it is never left
    waiting for an answer to a line it thinks it sent."""
    peer = chat.connect()
    peer.send_bytes(b"NICK old\r\nUSER old 0 * :Ren\xe9 Dupont\r\n")
    lines = peer.lines()
    assert lines[0] == (":tcpchat WARN USER INVALID_UTF8 :The line was not valid UTF-8: its bad "
                        "bytes were replaced with U+FFFD")
    assert lines[1].startswith(":tcpchat 001 old ")
    assert peer.client.realname == "Ren\ufffd Dupont"


def test_a_name_that_is_not_utf8_gets_a_clear_error_in_either_dialect(chat):
    irc, plain = chat.connect(), chat.connect()
    irc.send_bytes(b"NICK caf\xe9\r\n")
    assert [m.command for m in irc.messages()] == ["WARN", "432"]
    plain.send_bytes(b"Ren\xe9\r\n")
    lines = plain.lines()
    assert lines[0] == "! The line was not valid UTF-8: its bad bytes were replaced with U+FFFD"
    assert lines[1].startswith("! 'Ren\ufffd' cannot be a name")
    plain.send("rene")
    assert plain.lines()[0] == "*** Welcome, rene! You are in #lobby on your own for now."
    plain.send_bytes(b"caf\xe9\r\n")
    assert plain.lines() == ["! Line dropped: it is not valid UTF-8"]


def test_nul_and_stray_cr_are_dropped(room):
    alice, bob = room
    alice.send_bytes(b"PRIVMSG #lobby :a\x00b\r\nPRIVMSG #lobby :a\rb\r\n")
    assert [m.params[1] for m in alice.messages()] == [
        "Line dropped: it holds a NUL or CR character"] * 2
    assert bob.lines() == []


def test_other_control_characters_are_text_for_irc_clients(room):
    alice, bob = room
    alice.send("PRIVMSG #lobby :\x02bold\x02 and \x01ACTION acts\x01")
    assert bob.messages()[0].params[1] == "\x02bold\x02 and \x01ACTION acts\x01"


def test_empty_and_blank_lines_are_ignored(room):
    alice, bob = room
    alice.send_bytes(b"\r\n\n   \r\n")
    assert alice.lines() == [] and bob.lines() == []


def test_thousands_of_lines_in_one_segment_all_arrive_in_order():
    chat = Harness(flood=None)  # what the framing does, not what flood control allows
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send_bytes(b"".join(b"PRIVMSG #lobby :%d\r\n" % i for i in range(5000)))
    assert [m.params[1] for m in bob.messages()] == [str(i) for i in range(5000)]


def test_one_byte_at_a_time_is_the_same_as_all_at_once(room):
    alice, bob = room
    data = "PRIVMSG #lobby :по байту\r\nPRIVMSG bob :second\n".encode()
    for i in range(len(data)):
        alice.send_bytes(data[i:i + 1])
    assert [m.params for m in bob.messages()] == [("#lobby", "по байту"), ("bob", "second")]


def test_a_last_line_without_a_line_end_before_the_end_of_input_is_relayed(room):
    """As netcat's Ctrl-D or ``nc -N`` sends it (issue 30: it was dropped)."""
    alice, bob = room
    alice.send_bytes(b"PRIVMSG #lobby :complete\r\nPRIVMSG #lobby :the last wo")
    alice.send_bytes(b"rds")
    alice.send_bytes(b"")
    assert [(m.command, m.params) for m in bob.messages()] == [
        ("PRIVMSG", ("#lobby", "complete")), ("PRIVMSG", ("#lobby", "the last words")),
        ("QUIT", ("Connection closed",))]
    assert alice.conn.closing


def test_a_line_cut_by_a_broken_connection_is_not_relayed(room):
    alice, bob = room
    alice.send_bytes(b"PRIVMSG #lobby :complete\r\nPRIVMSG #lobby :half a li")
    alice.conn.connection_lost("Connection reset by peer")
    assert [(m.command, m.params) for m in bob.messages()] == [
        ("PRIVMSG", ("#lobby", "complete")), ("QUIT", ("Connection reset by peer",))]


def test_a_last_line_that_quits_is_not_answered_twice(room):
    alice, bob = room
    alice.send_bytes(b"QUIT :bye")
    alice.send_bytes(b"")
    assert [(m.command, m.params) for m in bob.messages()] == [("QUIT", ("Quit: bye",))]


def test_connection_lost_frees_the_nick(chat, room):
    alice, bob = room
    alice.conn.connection_lost("Connection reset by peer")
    assert [(m.command, m.params) for m in bob.messages()] == [
        ("QUIT", ("Connection reset by peer",))]
    assert chat.irc("alice").client.registered


def test_slow_reader_is_cut_at_the_send_queue_bound_and_nobody_else_is():
    chat = Harness(sendq=8192, flood=None)
    talker, reader, sleeper = chat.irc("talker"), chat.irc("reader"), chat.irc("sleeper")
    for line in range(100):
        talker.send(f"PRIVMSG #lobby :line {line} " + "x" * 100)
        reader.output()  # reader keeps up; sleeper never reads
    assert sleeper.conn.closing
    assert sleeper.output() == b"ERROR :Closing link: SendQ exceeded\r\n"
    assert not reader.conn.closing and not talker.conn.closing
    assert ":sleeper!sleeper@127.0.0.1 QUIT :SendQ exceeded" in talker.lines()
    assert chat.core.chat.registry.find_user("sleeper") is None


def test_a_plain_user_who_asks_and_never_reads_is_bounded_too():
    chat = Harness(sendq=4096)
    carol = chat.plain("carol")
    for _ in range(100):
        carol.send("/help")
    assert carol.conn.closing
    assert carol.output() == b"*** Closing link: SendQ exceeded\r\n"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=600), max_size=8))
def test_arbitrary_bytes_give_lines_or_errors_never_an_exception(chunks):
    chat = Harness()
    bystander = chat.irc("bystander")
    registered = chat.irc("fuzzer")
    fresh = chat.connect()
    for chunk in chunks:
        registered.send_bytes(chunk)
        fresh.send_bytes(chunk)
    for peer in (bystander, registered, fresh):
        if peer.client.plain:
            continue
        for line in peer.output().split(b"\r\n")[:-1]:
            assert len(line) + 2 <= MAX_MESSAGE
            line.decode()
    assert chat.core.chat.registry.find_user("bystander") is bystander.client


@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(["", "@label=7 ", "@+typing=active;label=x ",
                                           "@batch=b ", "@batch=b;draft/multiline-concat "]),
                          st.sampled_from([
    "NICK", "USER", "JOIN", "PART", "PRIVMSG", "NOTICE", "TOPIC", "MODE", "WHO", "WHOIS",
    "NAMES", "LIST", "CAP", "PASS", "PING", "PONG", "AWAY", "ISON", "USERHOST", "MOTD", "KICK",
    "INVITE", "TAGMSG", "SETNAME", "MONITOR", "WHOWAS", "OPER", "KILL", "WALLOPS", "LUSERS",
    "TIME", "VERSION", "INFO", "ADMIN", "HELP", "HELPOP", "LINKS", "MARKREAD", "BATCH",
    "BATCH +b draft/multiline", "BATCH -b", "METADATA", "METADATA * SET", "METADATA * SUB",
    "METADATA #lobby SYNC", "METADATA bob GET", "RENAME", "RENAME #x", "RENAME #lobby"])),
    min_size=1, max_size=12),
    st.lists(st.sampled_from(["#lobby", "#x", "bob", "alice", "*", ":", ",", "0", "+o",
                              ":text here", "LS", "REQ", "END", "-i", "", "Алиса", "+b",
                              "-k", "+l", "+ovk", "bob,alice", "%tnf,1", "C", "+", "-",
                              "*!*@*", "+imnst", "-o"]),
             max_size=4),
    st.booleans())
def test_any_command_with_any_parameters_is_answered_without_exception(commands, params,
                                                                       every_cap):
    chat = Harness(flood=None)
    bob = chat.irc("bob")
    alice = chat.irc("alice")
    if every_cap:
        alice.send(f"CAP REQ :{' '.join(CAPABILITIES)}")
    for prefix, command in commands:
        alice.send(prefix + " ".join([command, *params]))
    for peer in (alice, bob):
        for line in peer.output().split(b"\r\n")[:-1]:
            body = line.split(b" ", 1)[1] if line.startswith(b"@") else line  # tags aside
            assert len(body) + 2 <= MAX_MESSAGE
            line.decode()
