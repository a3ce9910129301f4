"""IRCv3 draft/metadata-2, against its specification (https://ircv3.net/specs/extensions/metadata):
keys on oneself and on a channel one operates, read with GET and LIST, told to subscribers when
they change, given on SUB, JOIN and SYNC; every bad request gets the specification's FAIL or
numeric, within bounds, and nobody else is told anything."""

import pytest

from helpers import Harness, numerics, with_caps
from tcpchat.commands.metadata import SYNC_AT_ONCE
from tcpchat.protocol import metadata
from tcpchat.protocol.message import parse

CAPS = ("batch", "draft/metadata-2")


def people():
    """ann (first in #lobby: its operator) and bob, both with the capability, and cy with
    none, every output read."""
    chat = Harness(flood=None)
    ann = with_caps(chat, "ann", *CAPS)
    bob = with_caps(chat, "bob", *CAPS)
    cy = chat.irc("cy")
    for peer in (ann, bob, cy):
        peer.lines()
    return chat, ann, bob, cy


def in_batch(peer):
    """What *peer* was sent in one metadata batch: (command, params) of each line inside."""
    lines = peer.messages()
    assert lines[0].command == "BATCH" and lines[0].params[1] == "metadata", lines
    assert lines[-1].params == ("-" + lines[0].params[0][1:],)
    return [(line.command, line.params) for line in lines[1:-1]]


class Lines:
    """Lines read already, as a peer that gives them (for in_batch)."""

    def __init__(self, lines):
        self._lines = lines

    def messages(self):
        return [parse(line) for line in self._lines]


def test_set_get_and_list_ones_own_keys():
    chat, ann, bob, cy = people()
    ann.send("METADATA * SET Avatar :https://example.org/ann.png")
    assert numerics(ann) == [("761", ("ann", "ann", "avatar", "*",
                                      "https://example.org/ann.png"))]
    ann.send("METADATA * SET display-name :Ann Example")
    ann.lines()
    bob.send("METADATA ann GET avatar pronouns display-name")
    assert in_batch(bob) == [
        ("761", ("bob", "ann", "avatar", "*", "https://example.org/ann.png")),
        ("766", ("bob", "ann", "pronouns", "No matching key")),
        ("761", ("bob", "ann", "display-name", "*", "Ann Example"))]
    bob.send("METADATA ann LIST")
    assert [params[2] for _command, params in in_batch(bob)] == ["avatar", "display-name"]
    ann.send("METADATA * SET avatar")  # no value: taken away
    assert numerics(ann) == [("761", ("ann", "ann", "avatar", "*"))]
    ann.send("METADATA * SET avatar")
    assert numerics(ann) == [("768", ("ann", "ann", "avatar", "Key not set"))]


def test_subscribers_are_told_of_changes_and_no_one_else():
    chat, ann, bob, cy = people()
    dan = with_caps(chat, "dan", *CAPS)  # subscribed to nothing
    bob.lines(), ann.lines()
    bob.send("METADATA * SUB avatar display-name")
    assert numerics(bob) == [("770", ("bob", "avatar display-name"))]
    ann.lines()
    ann.send("METADATA * SET avatar :https://example.org/a.png", "METADATA * SET pronouns :she")
    assert numerics(bob) == [("METADATA", ("ann", "avatar", "*", "https://example.org/a.png"))]
    assert all("METADATA" not in line for line in dan.lines() + cy.lines())
    ann.send("METADATA * SET avatar")
    assert bob.lines() == [":tcpchat METADATA ann avatar *"]
    bob.send("METADATA * UNSUB avatar", "METADATA * SUBS")
    assert numerics(bob) == [("771", ("bob", "avatar")), ("772", ("bob", "display-name"))]
    ann.send("METADATA * SET avatar :x")
    assert bob.lines() == []


def test_subscribing_joining_and_sync_give_the_values_there_are():
    chat, ann, bob, cy = people()
    ann.send("METADATA * SET avatar :a.png", "METADATA #lobby SET url :https://lobby.example")
    ann.lines()
    bob.send("METADATA * SUB avatar url")
    subscribed, *synced = bob.lines()
    assert subscribed == ":tcpchat 770 bob :avatar url"
    assert sorted(in_batch(Lines(synced))) == [("METADATA", ("#lobby", "url", "*", "https://lobby.example")),
                                     ("METADATA", ("ann", "avatar", "*", "a.png"))]
    bob.send("PART #lobby", "JOIN #lobby")
    lines = bob.messages()
    end_of_names = [line.command for line in lines].index("366")
    assert sorted((line.command, line.params) for line in lines[end_of_names + 2:-1]) == [
        ("METADATA", ("#lobby", "url", "*", "https://lobby.example")),
        ("METADATA", ("ann", "avatar", "*", "a.png"))]
    bob.send("METADATA ann SYNC")
    assert in_batch(bob) == [("METADATA", ("ann", "avatar", "*", "a.png"))]
    # A newcomer is told to the members who subscribed.
    eve = with_caps(chat, "eve", *CAPS)
    eve.send("METADATA * SET avatar :e.png", "PART #lobby")
    bob.lines()
    eve.send("JOIN #lobby")
    assert ("METADATA", ("eve", "avatar", "*", "e.png")) in numerics(bob)


def test_a_crowded_channel_says_sync_later_and_sync_gives_it():
    chat, ann, bob, cy = people()
    for number in range(SYNC_AT_ONCE):
        chat.irc(f"u{number}")
    ann.send("METADATA * SET avatar :a.png")
    eve = with_caps(chat, "eve", *CAPS)
    eve.send("METADATA * SUB avatar", "PART #lobby")
    eve.lines()
    eve.send("JOIN #lobby")
    assert numerics(eve)[-1][0] == "774"
    eve.send("METADATA #lobby SYNC")
    assert in_batch(eve) == [("METADATA", ("ann", "avatar", "*", "a.png"))]


def test_only_a_channels_operators_set_its_keys_and_only_its_members_read_them():
    chat, ann, bob, cy = people()
    bob.send("METADATA #lobby SET url :mine")
    assert numerics(bob) == [("FAIL", ("METADATA", "KEY_NO_PERMISSION", "#lobby", "url",
                                       "You may set keys on yourself, and on channels you are "
                                       "an operator of"))]
    bob.send("METADATA ann SET avatar :x")
    assert numerics(bob)[0][1][:2] == ("METADATA", "KEY_NO_PERMISSION")
    ann.send("METADATA #lobby SET url :ours")
    ann.lines()
    outsider = with_caps(chat, "olga", *CAPS)
    outsider.send("PART #lobby", "METADATA #lobby GET url", "METADATA #nowhere GET url")
    fails = [params[:3] for command, params in numerics(outsider) if command == "FAIL"]
    assert fails == [("METADATA", "INVALID_TARGET", "#lobby"),
                     ("METADATA", "INVALID_TARGET", "#nowhere")]


@pytest.mark.parametrize("line, code", [
    ("METADATA * SET $url$ :x", "KEY_INVALID"),
    ("METADATA * SET :bad :x", "KEY_INVALID"),
    ("METADATA * SET " + "k" * 65 + " :x", "KEY_INVALID"),
    ("METADATA * SET avatar :" + "x" * (metadata.MAX_VALUE_BYTES + 1), "VALUE_INVALID"),
    ("METADATA * FROB", "INVALID_SUBCOMMAND"),
    ("METADATA nobody GET avatar", "INVALID_TARGET"),
    ("METADATA * SET", "KEY_INVALID"),
    ("METADATA * GET b@d", "KEY_INVALID"),
])
def test_bad_requests_get_their_fail_and_change_nothing(line, code):
    chat, ann, bob, cy = people()
    bob.send("METADATA * SUB avatar url")
    bob.lines()
    ann.send(line)
    assert [params[1] for command, params in numerics(ann) if command == "FAIL"] == [code]
    assert bob.lines() == [] and chat.core.chat.registry.metadata == {}


def test_the_limits_on_keys_and_subscriptions_hold():
    chat, ann, bob, cy = people()
    for number in range(metadata.MAX_KEYS):
        ann.send(f"METADATA * SET key{number} :v")
    ann.lines()
    ann.send("METADATA * SET one-more :v")
    assert numerics(ann) == [("FAIL", ("METADATA", "LIMIT_REACHED", "ann",
                                       f"At most {metadata.MAX_KEYS} keys may be set on one "
                                       "target"))]
    ann.send("METADATA * SET key0 :changed")  # a key that is set may still change
    assert numerics(ann)[0][0] == "761"
    keys = [f"s{number}" for number in range(metadata.MAX_SUBS - 2)]
    bob.send("METADATA * SUB " + " ".join(keys[:10]))
    for start in range(10, len(keys), 10):
        bob.send("METADATA * SUB " + " ".join(keys[start:start + 10]))
    bob.lines()
    bob.send("METADATA * SUB s0 x1 x2 x3 x4")  # s0 is held already: x1 and x2 fit, x3 not
    replies = numerics(bob)
    assert ("FAIL", ("METADATA", "TOO_MANY_SUBS", "x3",
                     f"At most {metadata.MAX_SUBS} keys may be subscribed to")) in replies
    assert ("770", ("bob", "s0 x1 x2")) in replies
    assert len(chat.core.chat.registry.subscriptions[bob.client]) == metadata.MAX_SUBS


def test_clear_takes_every_key_away_and_whois_shows_the_readable_ones():
    chat, ann, bob, cy = people()
    ann.send("METADATA * SET display-name :Ann", "METADATA * SET avatar :a.png")
    ann.lines()
    cy.send("WHOIS ann")
    assert ("760", ("cy", "ann", "display-name", "*", "Ann")) in numerics(cy)
    ann.send("METADATA * CLEAR")
    assert sorted(in_batch(ann)) == [("761", ("ann", "ann", "avatar", "*")),
                                     ("761", ("ann", "ann", "display-name", "*"))]
    assert chat.core.chat.registry.metadata == {}


def test_without_the_capability_metadata_is_unknown_and_leaving_forgets_everything():
    chat, ann, bob, cy = people()
    cy.send("METADATA * SET avatar :x")
    assert numerics(cy)[0][0] == "421"
    ann.send("METADATA * SET avatar :x", "METADATA * SUB avatar", "METADATA #lobby SET url :u")
    ann.send("QUIT")
    registry = chat.core.chat.registry
    assert ann.client not in registry.metadata and ann.client not in registry.subscriptions
    bob.send("QUIT")
    cy.send("QUIT")
    assert registry.metadata == {}


def test_a_flood_of_subscriptions_is_bounded_and_nobody_else_waits():
    chat = Harness()  # flood control as it is by default
    ann = with_caps(chat, "ann", *CAPS)
    bob = chat.irc("bob")
    ann.send(*(f"METADATA * SUB key{number} other{number}" for number in range(200)))
    assert len(chat.core.chat.registry.subscriptions[ann.client]) <= metadata.MAX_SUBS
    assert ann.conn.reading_paused  # flood control holds the rest back
    bob.lines()
    chat.irc("cy").send("PRIVMSG #lobby :still served")
    assert bob.lines()[-1] == ":cy!cy@127.0.0.1 PRIVMSG #lobby :still served"
