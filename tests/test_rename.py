"""IRCv3 draft/channel-rename, against its specification
(https://ircv3.net/specs/extensions/channel-rename): a channel's operator renames it; it keeps
its members, modes, topic, lists, registration and history; members with the capability see
RENAME, the others a PART and a JOIN with what a JOIN brings; the old name leads to the new
one for a while; every refusal is the specification's, and changes nothing."""

import pytest

from helpers import Harness, StalledDisk, numerics, wait_until, with_caps
from tcpchat.commands.rename import COOLDOWN, REMEMBERED
from tcpchat.store.accounts import Account
from tcpchat.store.credentials import hash_password, scram_keys
from tcpchat.store.memory import ListStore
from tcpchat.store.sqlite import SqliteStore
from tcpchat.text.display import describe
from tcpchat.protocol.message import parse

CAPS = ("draft/channel-rename",)


def room(history=None):
    """#boaring with ann (operator, with the capability), bob (without) and a topic, a ban
    and a voice, every output read."""
    chat = Harness(history=history, flood=None)
    ann = with_caps(chat, "ann", *CAPS, *(("draft/chathistory", "batch") if history else ()))
    assert "draft/channel-rename" in ann.client.caps
    bob = chat.irc("bob")
    ann.send("JOIN #boaring")
    bob.send("JOIN #boaring")
    ann.send("TOPIC #boaring :typos welcome", "MODE #boaring +bv spam!*@* bob",
             "PRIVMSG #boaring :said before")
    for peer in (ann, bob):
        peer.lines()
    return chat, ann, bob


def test_a_rename_keeps_everything_but_the_name():
    chat, ann, bob = room()
    ann.send("RENAME #boaring #boring :Typo fix")
    assert ann.lines() == [":ann!ann@127.0.0.1 RENAME #boaring #boring :Typo fix"]
    registry = chat.core.chat.registry
    assert "#boaring" not in registry.channels
    channel = registry.channels["#boring"]
    assert channel.name == "#boring" and channel.topic == "typos welcome"
    assert [entry.mask for entry in channel.bans] == ["spam!*@*"]
    assert {member.nick: rank for member, rank in channel.members.items()} == {
        "ann": "@", "bob": "+"}
    assert set(ann.client.channels) == {"#lobby", "#boring"}
    bob.lines()
    bob.send("PRIVMSG #boring :works", "PRIVMSG #boaring :gone")
    assert ann.lines() == [":bob!bob@127.0.0.1 PRIVMSG #boring :works"]
    assert numerics(bob)[0][0] == "401"


def test_a_member_without_the_capability_sees_a_part_and_a_join():
    chat, ann, bob = room()
    ann.send("RENAME #boaring #boring :Typo fix")
    assert numerics(bob) == [
        ("PART", ("#boaring", "Typo fix")),
        ("JOIN", ("#boring",)),
        ("332", ("bob", "#boring", "typos welcome")),
        ("333", ("bob", "#boring", "ann", numerics_time(chat, "#boring"))),
        ("353", ("bob", "=", "#boring", "@ann +bob")),
        ("366", ("bob", "#boring", "End of /NAMES list"))]
    ann.send("RENAME #boring #boaring")  # (too soon: nothing for bob)
    chat.clock.advance(COOLDOWN + 1)
    ann.lines()
    ann.send("RENAME #boring #boaring")
    part, join = bob.messages()[:2]
    assert part.source == join.source == "bob!bob@127.0.0.1"  # its own PART and JOIN


def numerics_time(chat, name):
    return str(chat.core.chat.registry.channels[name].topic_at)


def test_a_change_of_case_alone_is_a_rename_without_the_burst():
    chat, ann, bob = room()
    ann.send("RENAME #boaring #BOARING")
    assert ann.lines() == [":ann!ann@127.0.0.1 RENAME #boaring #BOARING :"]
    assert bob.lines() == []
    assert chat.core.chat.registry.channels["#boaring"].name == "#BOARING"


def said_in(ann, name):
    ann.lines()
    ann.send(f"CHATHISTORY LATEST {name} * 10")
    return [line.params for line in ann.messages() if line.command == "PRIVMSG"]


@pytest.mark.parametrize("store", ["list", "sqlite", "stalled", "written-then-stalled"])
def test_history_follows_the_room(store):
    """On SQLite, whether the rename is still queued with the rows before it (a stalled
    disk), after them (rows written, the rename not yet), or written with them."""
    history = {"list": ListStore}.get(store, StalledDisk)()
    if store in ("sqlite", "written-then-stalled"):
        history.gate.set()
    chat, ann, bob = room(history)
    if store == "written-then-stalled":
        assert wait_until(lambda: not history.recent)
        history.gate.clear()
    ann.send("RENAME #boaring #boring", "PRIVMSG #boring :said after")
    wanted = [("#boring", "said before"), ("#boring", "said after")]
    assert said_in(ann, "#boring") == wanted
    assert said_in(ann, "#boaring") == []  # the old name: no channel, no history
    if store != "list":
        history.gate.set()  # the writer catches up: the same answers from the disk
        assert wait_until(lambda: not history.recent)
        assert said_in(ann, "#boring") == wanted
    history.close()


def test_a_restarted_server_finds_the_history_under_the_new_name(tmp_path):
    path = tmp_path / "chat.db"
    chat, ann, bob = room(SqliteStore(path))
    ann.send("RENAME #boaring #boring")
    chat.core.chat.history.close()
    reopened = SqliteStore(path)
    assert [entry.params for entry in reopened.page("#boring", limit=10,
                                                    commands={"PRIVMSG"})] == [
        ("#boring", "said before")]
    assert reopened.page("#boaring", limit=10) == []
    reopened.close()


@pytest.mark.parametrize("line, reply", [
    ("RENAME #boaring #b,ad", ("FAIL", "CANNOT_RENAME")),
    ("RENAME #boaring nohash", ("FAIL", "CANNOT_RENAME")),
    ("RENAME #boaring #lobby", ("FAIL", "CHANNEL_NAME_IN_USE")),
    ("RENAME #boaring #Ɩobby", ("FAIL", "CHANNEL_NAME_IN_USE")),
    ("RENAME #lobby #hall", ("FAIL", "CANNOT_RENAME")),
    ("RENAME #boaring #boaring", ("FAIL", "CANNOT_RENAME")),
    ("RENAME #nowhere #x", ("403", None)),
    ("RENAME #boaring", ("461", None)),
])
def test_a_rename_that_cannot_be_is_refused_and_changes_nothing(line, reply):
    chat, ann, bob = room()
    ann.send(line)
    answer = numerics(ann)
    assert (answer[0][0], answer[0][1][1] if answer[0][0] == "FAIL" else None) == reply
    assert bob.lines() == []
    assert "#boaring" in chat.core.chat.registry.channels


def test_only_an_operator_on_the_channel_renames_it_and_not_too_often():
    chat, ann, bob = room()
    bob.send("RENAME #boaring #mine")
    assert numerics(bob)[0][0] == "482"
    cy = chat.irc("cy")
    cy.send("RENAME #boaring #mine")
    assert numerics(cy)[0][0] == "442"
    ann.send("RENAME #boaring #boring", "RENAME #boring #boaring")
    assert numerics(ann)[-1][1][:2] == ("RENAME", "CANNOT_RENAME")
    chat.clock.advance(COOLDOWN + 1)
    ann.send("RENAME #boring #boaring")
    assert numerics(ann)[-1][0] == "RENAME"


def test_the_old_name_leads_to_the_new_one_for_a_while():
    chat, ann, bob = room()
    ann.send("RENAME #boaring #boring")
    cy = chat.irc("cy")
    cy.send("JOIN #boaring")  # without the capability: told, and taken there
    replies = numerics(cy)
    assert replies[0] == ("470", ("cy", "#boaring", "#boring",
                                  "#boaring has been renamed #boring: you are taken there"))
    assert ("JOIN", ("#boring",)) in replies
    dan = with_caps(chat, "dan", *CAPS)
    dan.send("JOIN #boaring")
    assert numerics(dan) == [("FAIL", ("JOIN", "CHANNEL_RENAMED", "#boaring", "#boring",
                                       "The channel has been renamed"))]
    chat.clock.advance(REMEMBERED + 1)
    dan.send("JOIN #boaring")  # long after: a new channel of that name
    assert numerics(dan)[0] == ("JOIN", ("#boaring",))


def test_a_registered_rooms_record_moves_with_it():
    chat, ann, bob = room()
    chat.core.chat.accounts.add(Account("ann", hash_password("pw"), scram_keys("pw"), 1.0))
    ann.send("PRIVMSG NickServ :IDENTIFY ann pw", "PRIVMSG ChanServ :REGISTER #boaring")
    ann.lines()
    ann.send("RENAME #boaring #boring")
    accounts = chat.core.chat.accounts
    assert accounts.room("#boaring") is None
    assert accounts.room("#boring").founder == "ann"


def test_plain_users_and_the_reference_client_read_a_sentence():
    kind, text = describe(parse(":ann!a@h RENAME #boaring #boring :Typo fix"))
    assert text == "* ann renamed #boaring to #boring (Typo fix)"
    assert describe(parse(":ann!a@h RENAME #a #b :"))[1] == "* ann renamed #a to #b"
