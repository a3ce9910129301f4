"""Plain mode (netcat, telnet) through the sans-IO core, with IRC users in the same room."""

import pytest

from helpers import Harness, RecordingTransport
from tcpchat.protocol.message import parse


@pytest.fixture
def chat():
    return Harness()


def test_the_first_thing_a_connection_gets_is_a_readable_valid_irc_notice(chat):
    peer = chat.core.connect("127.0.0.1", RecordingTransport())
    line = bytes(peer.data_to_send()).decode()
    assert line.endswith("\r\n") and line.count("\r\n") == 1
    message = parse(line[:-2])
    assert message.command == "NOTICE" and message.source is None
    assert "type the name you want and press Enter" in message.params[1]


def test_name_taken_or_invalid_gets_another_try(chat):
    chat.irc("alice")
    peer = chat.connect()
    peer.send("ALICE")
    assert peer.lines() == ["! The name ALICE is taken. Type another name:"]
    peer.send("bad name!")
    (line,) = peer.lines()
    assert line.startswith("! 'bad name!' cannot be a name: it holds a space.")
    assert line.endswith("Type another name:")
    peer.send("")
    assert peer.lines() == []
    peer.send("Алиса")
    assert peer.lines() == [
        "*** Welcome, Алиса! You are in #lobby with @alice.",
        "*** Type a line and press Enter to talk; /help lists the commands."]
    assert peer.client.registered and peer.client.plain


def test_plain_and_irc_users_talk_both_ways(chat):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    assert [(m.command, m.source, m.params) for m in alice.messages()] == [
        ("JOIN", "bob!bob@127.0.0.1", ("#lobby",))]
    bob.send("hello from netcat")
    assert [(m.command, m.params) for m in alice.messages()] == [
        ("PRIVMSG", ("#lobby", "hello from netcat"))]
    alice.send("PRIVMSG #lobby :hello from irc", "PRIVMSG #lobby :\x01ACTION waves\x01",
               "NOTICE #lobby :a notice")
    assert bob.lines() == ["alice: hello from irc", "* alice waves", "-alice- a notice"]
    assert bob.lines() == []  # and bob did not get his own line back


def test_plain_users_see_human_event_lines(chat):
    watcher = chat.plain("watcher")
    carol = chat.irc("carol")
    carol.send("NICK caro", "JOIN #other", "PART #lobby :later")
    dave = chat.irc("dave")
    dave.send("QUIT :bye")
    assert watcher.lines() == [
        "* carol joined #lobby",
        "* carol is now known as caro",
        "* caro left #lobby (later)",
        "* dave joined #lobby",
        "* dave left (Quit: bye)",
    ]


def test_private_messages_are_marked_both_ways(chat):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    alice.lines()
    bob.send("/msg alice just for you")
    assert bob.lines() == ["[private] -> alice: just for you"]
    assert [(m.command, m.params) for m in alice.messages()] == [
        ("PRIVMSG", ("alice", "just for you"))]
    alice.send("PRIVMSG bob :and back", "PRIVMSG bob :\x01ACTION nods\x01")
    assert bob.lines() == ["[private] alice: and back", "[private] * alice nods"]
    bob.send("/msg nobody hi", "/msg alice")
    assert bob.lines() == ["! nobody: No such nick/channel", "! Usage: /msg NAME text"]


def test_me_nick_who_help(chat):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    alice.lines()
    bob.send("/me waves")
    assert alice.messages()[0].params == ("#lobby", "\x01ACTION waves\x01")
    bob.send("/who")
    assert bob.lines() == ["*** 2 people in #lobby: @alice, bob"]
    bob.send("/nick ALICE", "/nick robert")
    assert bob.lines() == ["! ALICE: Nickname is already in use",
                           "* bob is now known as robert"]
    assert alice.messages()[0].params == ("robert",)
    bob.send("/help")
    assert any("/msg NAME text" in line for line in bob.lines())


def test_double_slash_sends_a_literal_slash_and_unknown_commands_get_a_hint(chat):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    alice.lines()
    bob.send("//etc/hosts is a file", "/frob it")
    assert alice.messages()[0].params == ("#lobby", "/etc/hosts is a file")
    assert bob.lines() == ["! Unknown command /frob: /help lists the commands"]
    assert alice.lines() == []


@pytest.mark.parametrize("line, reason", [("/quit off to bed", "Quit: off to bed"),
                                          ("/quit", "Quit"), ("exit", "Quit"),
                                          ("выход", "Quit"), ("Exit", "Quit"),
                                          ("EXIT", "Quit"), ("Выход", "Quit"),
                                          (" ВЫХОД ", "Quit")])
def test_ways_to_leave(chat, line, reason):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    alice.lines()
    bob.send(line)
    assert bob.lines() == [f"*** Closing link: {reason}"]
    assert bob.conn.closing
    assert [(m.command, m.params) for m in alice.messages()] == [("QUIT", (reason,))]


def test_control_characters_cannot_reach_a_plain_terminal(chat):
    alice = chat.irc("alice")
    bob = chat.plain("bob")
    alice.send("PRIVMSG #lobby :\x1b[2Jcleared? \x02bold\x02 \x0304red\x03 \u202eevil")
    (line,) = bob.lines()
    assert "\x1b" not in line and "\x02" not in line and "\x03" not in line
    assert "\u202e" not in line
    assert line == "alice: \ufffd[2Jcleared? bold red \ufffdevil"


def test_password_is_asked_for():
    chat = Harness(password="sesame")
    good = chat.connect()
    good.send("alice")
    assert good.lines() == ["*** This server needs a password. Type it:"]
    good.send("sesame")
    assert good.lines()[0].startswith("*** Welcome, alice!")
    bad = chat.connect()
    bad.send("mallory", "guess")
    assert bad.lines()[-2:] == ["! Password incorrect", "*** Closing link: Bad password"]
    assert bad.conn.closing
    assert good.lines() == []  # mallory never joined, so nobody saw him leave


def test_plain_users_join_the_room_even_without_autojoin():
    chat = Harness(autojoin=False)
    bob = chat.plain("bob")
    assert "#lobby" in bob.client.channels
