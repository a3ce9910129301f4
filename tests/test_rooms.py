"""Registered rooms and the NickServ/ChanServ addresses, through the sans-IO core; a
registered room's state surviving a restart, on SQLite."""

import pytest

from tcpchat.chat.config import Config
from tcpchat.core import ChatCore
from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.credentials import hash_password, scram_keys
from tcpchat.store.sqlite import SqliteStore

from helpers import FakeClock, Harness, Peer, RecordingTransport, numerics, wait_until


def account(name, password="open-sesame"):
    return Account(name, hash_password(password), scram_keys(password), created=1.0)


def logged_in_irc(chat, nick):
    peer = chat.irc(nick)
    peer.send(f"PRIVMSG NickServ :IDENTIFY {nick} open-sesame")
    peer.lines()
    assert peer.client.account == nick
    return peer


@pytest.fixture
def chat():
    harness = Harness()
    for name in ("ann", "bob"):
        harness.core.chat.accounts.add(account(name))
    return harness


def chanserv(peer, text):
    peer.send(f"PRIVMSG ChanServ :{text}")
    return [message.params[1] for message in peer.messages()
            if message.source.startswith("ChanServ!")]


def test_nickserv_identify_register_and_logout(chat):
    ann = chat.irc("ann")
    ann.send("PRIVMSG NickServ :IDENTIFY wrong")
    assert numerics(ann)[-1] == ("NOTICE", ("ann", "Wrong account or password"))
    chat.clock.advance(2)
    ann.send("PRIVMSG NickServ :IDENTIFY a long password")  # a password is one word here
    assert numerics(ann)[-1] == ("NOTICE", ("ann", "Usage: IDENTIFY [account] password"))
    ann.send("PRIVMSG NickServ :IDENTIFY ann a long password")
    assert numerics(ann)[-1] == ("NOTICE", ("ann", "Usage: IDENTIFY [account] password"))
    cy = chat.irc("cy")
    cy.send("PRIVMSG NickServ :REGISTER sesame-street")
    replies = numerics(cy)
    assert ("NOTICE", ("cy", "Account cy registered")) in replies and cy.client.account == "cy"
    cy.send("PRIVMSG nickserv :LOGOUT", "PRIVMSG NickServ :FROB")
    replies = numerics(cy)
    assert replies[0] == ("901", ("cy", "cy!cy@127.0.0.1", "You are now logged out"))
    assert replies[-1] == ("NOTICE", ("cy", "Unknown command FROB. Commands: IDENTIFY, "
                                            "REGISTER, LOGOUT"))


def test_nobody_may_take_a_service_nick(chat):
    peer = chat.connect()
    peer.send("NICK chanserv")
    assert numerics(peer) == [("433", ("*", "chanserv", "Nickname is already in use"))]


def test_register_a_room_and_find_it_as_it_was(chat):
    ann = logged_in_irc(chat, "ann")  # alone in #lobby: its operator
    assert chanserv(ann, "REGISTER #lobby") == [
        "#lobby is registered to ann: its topic, modes, bans and operators are kept, and you "
        "are opped whenever you join"]
    bob = logged_in_irc(chat, "bob")
    ann.send("TOPIC #lobby :kept", "MODE #lobby +mb-t+o spam!*@* bob", "PART #lobby")
    bob.send("PART #lobby")  # the room is empty now: the channel is gone
    assert "#lobby" not in chat.core.chat.registry.channels
    room = chat.core.chat.accounts.room("#lobby")
    assert (room.topic, room.modes, [ban[0] for ban in room.bans], room.operators) == (
        "kept", "mn", ["spam!*@*"], ["bob"])
    spam = chat.irc("spam")  # banned: refused, and the room is not made for it
    spam.send("JOIN #lobby")
    assert numerics(spam)[-1][0] == "474" and "#lobby" not in chat.core.chat.registry.channels
    cy = chat.connect()  # first in, but no operator of a registered room
    cy.send("NICK cy", "USER cy 0 * :Cy")
    assert ("332", ("cy", "#lobby", "kept")) in numerics(cy)
    assert chat.core.chat.registry.channels["#lobby"].members[cy.client] == ""
    ann.send("JOIN #lobby")
    assert cy.lines()[-1] == ":tcpchat MODE #lobby +o ann"
    bob.send("JOIN #lobby")
    assert cy.lines()[-1] == ":tcpchat MODE #lobby +o bob"


def test_only_an_operator_who_is_logged_in_registers_and_only_the_founder_hands_over(chat):
    cy = chat.irc("cy")
    assert chanserv(cy, "REGISTER #lobby") == [
        "Log in to an account first (/register, /login or SASL)"]
    ann = logged_in_irc(chat, "ann")
    assert chanserv(ann, "REGISTER #lobby") == ["Only an operator of #lobby may register it"]
    assert chanserv(ann, "REGISTER #elsewhere") == ["Join #elsewhere first"]
    ann.send("JOIN #own")
    ann.lines()
    assert chanserv(ann, "REGISTER #own")[0].startswith("#own is registered to ann")
    assert chanserv(ann, "REGISTER #own") == ["#own is registered already"]
    bob = logged_in_irc(chat, "bob")
    assert chanserv(bob, "DROP #own") == ["Only the founder of #own may do that"]
    assert chanserv(ann, "TRANSFER #own nobody") == ["There is no account nobody"]
    assert chanserv(ann, "TRANSFER #own bob") == ["#own now belongs to bob"]
    assert chanserv(ann, "INFO #own") == ["#own: founder bob; operators: -"]
    assert chanserv(bob, "DROP #own") == ["#own is no longer registered"]
    assert chanserv(bob, "INFO #own") == ["#own is not registered"]


def test_plain_users_register_their_room(chat):
    ann = chat.plain("ann")
    ann.send("/login open-sesame", "/room register", "/room")
    lines = ann.lines()
    assert lines[-2].startswith("*** #lobby is registered to ann")
    assert lines[-1] == "*** #lobby: founder ann; operators: -"
    ann.send("/room frob")
    assert ann.lines() == ["*** Usage: /room [register | drop | transfer ACCOUNT]"]


def test_logging_in_inside_a_registered_room_ops_the_founder(chat):
    ann = logged_in_irc(chat, "ann")
    chanserv(ann, "REGISTER #lobby")
    ann.send("PART #lobby")
    bob = chat.irc("bob")  # not logged in yet: #lobby is registered, so no op for bob
    ann.send("JOIN #lobby")
    bob.lines()
    ann.send("PRIVMSG NickServ :LOGOUT", "PART #lobby", "JOIN #lobby")
    assert chat.core.chat.registry.channels["#lobby"].members[ann.client] == ""
    ann.send("PRIVMSG NickServ :IDENTIFY open-sesame")
    assert bob.lines()[-1] == ":tcpchat MODE #lobby +o ann"


def test_a_registered_room_survives_a_restart(tmp_path):
    path = str(tmp_path / "chat.db")

    def start():
        store = SqliteStore(path)
        clock = FakeClock()
        core = ChatCore(Config(), clock=clock, wall_clock=clock.wall,
                        accounts=Accounts(store.keep, store.records()))
        return store, core

    def connect(core):
        peer = Peer(core.connect("127.0.0.1", RecordingTransport()))
        peer.lines()
        return peer

    store, core = start()
    core.chat.accounts.add(account("ann"))
    ann = connect(core)
    ann.send("NICK ann", "USER ann 0 * :Ann", "PRIVMSG NickServ :IDENTIFY open-sesame",
             "PRIVMSG ChanServ :REGISTER #lobby", "TOPIC #lobby :still here",
             "MODE #lobby +k door")
    ann.lines()
    assert wait_until(lambda: not store.changes)
    store.close()
    store, core = start()
    try:
        cy = connect(core)
        cy.send("NICK cy", "USER cy 0 * :Cy")
        assert numerics(cy)[-1] == ("475", ("cy", "#lobby", "Cannot join channel (+k): wrong "
                                                         "key"))
        cy.send("JOIN #lobby door")
        assert ("332", ("cy", "#lobby", "still here")) in numerics(cy)
    finally:
        store.close()


def test_a_new_room_may_not_look_like_one_there_is_or_a_registered_one(chat):
    ann = logged_in_irc(chat, "ann")
    ann.send("JOIN #\u0406obby", "JOIN #LOBBY")  # Cyrillic І for l; the same room, folded
    assert numerics(ann) == [("403", ("ann", "#\u0406obby", "No such channel: it looks too "
                                             "much like #lobby, which is there"))]
    ann.send("JOIN #kept")
    chanserv(ann, "REGISTER #kept")
    ann.send("PART #kept")
    assert "#kept" not in chat.core.chat.registry.channels
    ann.send("JOIN #k\u0435pt")  # Cyrillic е: looks like the registered room, empty now
    assert numerics(ann)[-1][1][2].endswith("looks too much like #kept, which is there")
    ann.send("JOIN #kept")
    assert ann.commands()[0] == "JOIN"
