"""The chat's events (tcpchat.chat.events): what each operation hands its consumers, beside
local delivery, and a channel member that lives on another node."""

import dataclasses

import pytest

from helpers import Harness, numerics
from tcpchat.chat import events
from tcpchat.chat.state import RemoteUser

NOW = 1_700_000_000.0  # the Harness's wall clock


@pytest.fixture
def chat():
    return Harness(flood=None)


def recorded(harness):
    """The events the chat hands its consumers, each checked for a msgid of its own and then
    kept without it (the tests below compare the rest)."""
    seen, ids = [], set()

    def consume(event):
        assert event.id and event.id not in ids
        ids.add(event.id)
        seen.append(dataclasses.replace(event, id=None))
    harness.core.chat.add_consumer(consume, events.MESSAGES)
    return seen


def test_a_registration_and_a_user_mode_change_are_events_with_no_msgid(chat):
    seen = []
    chat.core.chat.add_consumer(seen.append, (events.Registration, events.UserModeChange))
    ann = chat.irc("ann")
    ann.send("MODE ann +i", "MODE ann +i")  # the second changes nothing: no event
    assert seen == [events.Registration(ann.client, "ann!ann@127.0.0.1", NOW),
                    events.UserModeChange(ann.client, "ann!ann@127.0.0.1", NOW)]


def test_each_operation_hands_one_event_with_who_where_what_and_when(chat):
    seen = recorded(chat)
    ann = chat.irc("ann")  # first in #lobby: its operator
    bob = chat.irc("bob")
    lobby = chat.core.chat.registry.channels["#lobby"]
    ann_mask = "ann!ann@127.0.0.1"
    assert seen == [events.Join(ann.client, ann_mask, lobby, NOW),
                    events.Join(bob.client, "bob!bob@127.0.0.1", lobby, NOW)]
    seen.clear()

    ann.send("@+draft/react=x PRIVMSG #lobby :hello", "PRIVMSG bob :psst",
             "TOPIC #lobby :plans", "MODE #lobby +v bob", "AWAY :lunch", "AWAY",
             "CAP REQ setname", "SETNAME :Ann Real", "NICK anna")
    anna_mask = "anna!ann@127.0.0.1"
    assert seen == [
        events.Talk(ann.client, ann_mask, "PRIVMSG", lobby, None, "hello",
                    {"+draft/react": "x"}, NOW),
        events.Talk(ann.client, ann_mask, "PRIVMSG", None, bob.client, "psst", None, NOW),
        events.TopicChange(ann.client, ann_mask, lobby, "plans", NOW),
        events.ModeChange(ann.client, ann_mask, lobby, ("+v", "bob"), NOW),
        events.Away(ann.client, ann_mask, "lunch", NOW),
        events.Away(ann.client, ann_mask, None, NOW),
        events.RealnameChange(ann.client, ann_mask, "Ann Real", NOW),
        events.NickChange(ann.client, ann_mask, "ann", NOW),
    ]
    seen.clear()

    ann.send("JOIN #games", "MODE #games +i", "INVITE bob #games", "PART #games :later",
             "KICK #lobby bob :out")
    games = seen[0].channel
    assert seen == [events.Join(ann.client, anna_mask, games, NOW),
                    events.ModeChange(ann.client, anna_mask, games, ("+i",), NOW),
                    events.Invite(ann.client, anna_mask, bob.client, games, NOW),
                    events.Part(ann.client, anna_mask, games, "later", NOW),
                    events.Kick(ann.client, anna_mask, lobby, bob.client, "out", NOW)]
    seen.clear()

    ann.send("QUIT :bye")
    assert seen == [events.Quit(ann.client, anna_mask, "Quit: bye", (lobby,), NOW)]


def test_what_is_refused_or_only_answered_makes_no_event(chat):
    seen = recorded(chat)
    ann = chat.irc("ann")
    seen.clear()
    ann.send("PRIVMSG #nowhere :hi", "PRIVMSG nobody :hi", "TOPIC #lobby", "NAMES #lobby",
             "WHOIS ann", "NICK 9bad", "MODE #lobby b")
    assert seen == []


def test_local_delivery_is_one_consumer_among_others_and_goes_first(chat):
    order = []
    ann, bob = chat.irc("ann"), chat.irc("bob")
    bob.output()
    chat.core.chat.add_consumer(lambda event: order.append(("after", bob.conn.pending)))
    ann.send("PRIVMSG #lobby :hi")
    assert order == [("after", 0)]  # the batch is queued at the end of the read...
    assert bob.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :hi"]  # ...and delivered


def remote(chat, nick="rita", node="node-2"):
    """A stand-in for a user another node serves, put in #lobby as a cluster would."""
    registry = chat.core.chat.registry
    user = RemoteUser(node, nick, "rita", "10.0.0.9", "Rita Remote", NOW)
    registry.add_remote(user)
    registry.add_member(user, "#lobby", NOW)
    return user


def test_a_remote_member_is_skipped_by_local_delivery_and_still_in_the_events(chat):
    seen = recorded(chat)
    ann, bob = chat.irc("ann"), chat.irc("bob")
    rita = remote(chat)
    lobby = chat.core.chat.registry.channels["#lobby"]
    assert rita in lobby.members
    ann.output(), bob.output()
    seen.clear()

    ann.send("PRIVMSG #lobby :hello everyone")
    assert bob.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :hello everyone"]
    assert seen == [events.Talk(ann.client, "ann!ann@127.0.0.1", "PRIVMSG", lobby, None,
                                "hello everyone", None, NOW)]
    assert rita in seen[0].channel.members  # what a bus would carry to rita's node

    ann.send("PRIVMSG rita :just you")  # a private message to a remote user: an event only
    assert seen[-1].recipient is rita and ann.lines() == [] and bob.lines() == []

    ann.send("NAMES #lobby", "WHOIS rita")
    replies = dict(numerics(ann))
    assert replies["353"][-1] == "@ann bob rita"
    assert replies["311"][1:4] == ("rita", "rita", "10.0.0.9")

    bob.send("NICK Rita")  # the remote user's nick is held here too
    assert numerics(bob)[0][0] == "433"

    ann.send("KICK #lobby rita :bye")
    assert rita not in lobby.members and isinstance(seen[-1], events.Kick)
    assert bob.lines() == [":ann!ann@127.0.0.1 KICK #lobby rita :bye"]
