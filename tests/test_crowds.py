"""Crowded rooms: their plain members are told who came and went once a window, in a line,
while IRC members still get every JOIN, PART and QUIT; small rooms are as they were."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Harness

WINDOW = 10.0


def crowded(crowd=3):
    """A chat whose rooms are crowded past *crowd* members, with a plain watcher and an IRC
    watcher in #lobby.  Nobody is pinged: a test may let hours pass, and its IRC users
    answer no PING."""
    chat = Harness(crowd=crowd, crowd_window=WINDOW, flood=None, ping_interval=1e9)
    plain, irc = chat.plain("watcher"), chat.irc("ircwatcher")
    plain.lines()
    return chat, plain, irc


def test_a_crowded_room_tells_its_plain_members_once_a_window():
    chat, plain, irc = crowded()
    for name in ("ann", "bob", "cy", "dan"):
        chat.irc(name)
    # ann makes three members: not crowded yet, so one line as ever; then the crowd.
    assert plain.lines() == ["* ann joined #lobby"]
    assert [line.split()[1] for line in irc.lines()] == ["JOIN"] * 4  # every JOIN
    chat.clock.advance(WINDOW)
    chat.run_timers()
    assert plain.lines() == ["* 3 people joined #lobby in the last 10 s: bob, cy, dan"]
    assert irc.lines() == []
    chat.run_timers()
    assert plain.lines() == []  # told once


def test_leaving_a_crowded_room_is_told_the_same_way_and_names_are_cut_past_five():
    chat, plain, irc = crowded(crowd=2)
    peers = [chat.irc(f"u{number}") for number in range(8)]
    chat.clock.advance(WINDOW)
    chat.run_timers()
    assert plain.lines() == [
        "* 8 people joined #lobby in the last 10 s: u0, u1, u2, u3, u4 and 3 more"]
    peers[0].send("QUIT :bye")
    peers[1].send("PART #lobby")
    assert [line.split()[1] for line in irc.lines()[-2:]] == ["QUIT", "PART"]
    chat.clock.advance(WINDOW)
    chat.run_timers()
    assert plain.lines() == ["* 2 people left #lobby in the last 10 s: u0, u1"]


def test_who_still_names_everyone():
    chat, plain, _irc = crowded()
    for name in ("ann", "bob", "cy"):
        chat.plain(name)
    plain.send("/who")
    assert plain.lines()[-1].endswith("watcher, ircwatcher, ann, bob, cy")


NOTICE = re.compile(r"^\* (\d+) (?:person|people) (joined|left) #lobby in the last 10 s: "
                    r"(.*?)(?: and (\d+) more)?$")


@settings(max_examples=40)
@given(st.lists(st.tuples(st.sampled_from(["join", "leave", "wait"]),
                          st.integers(min_value=0, max_value=11)), max_size=40))
def test_every_coming_and_going_is_told_once(steps):
    """Whatever the joins and leaves, a plain member is told of each exactly once: named in
    a line of its own, or in a window's line (or counted among its "more")."""
    chat, plain, _irc = crowded()
    inside, peers, happened = set(), {}, []
    for action, number in steps:
        name = f"p{number}"
        if action == "join" and name not in inside:
            peers[name] = chat.irc(name) if name not in peers else peers[name]
            if peers[name].conn.closing:
                peers[name] = chat.irc(name)
            else:
                peers[name].send("JOIN #lobby")
            inside.add(name)
            happened.append(("joined", name))
        elif action == "leave" and name in inside:
            peers[name].send("PART #lobby")
            inside.discard(name)
            happened.append(("left", name))
        elif action == "wait":
            chat.clock.advance(WINDOW)
            chat.run_timers()
    chat.clock.advance(WINDOW)
    chat.run_timers()
    told = {"joined": 0, "left": 0}
    named = []
    for line in plain.lines():
        single = re.match(r"^\* (\S+) (joined|left) #lobby$", line)
        if single:
            told[single.group(2)] += 1
            named.append((single.group(2), single.group(1)))
            continue
        window = NOTICE.match(line)
        assert window, line
        count, what, names, more = window.groups()
        listed = names.split(", ")
        assert int(count) == len(listed) + int(more or 0)
        told[what] += int(count)
        named.extend((what, name) for name in listed)
    assert told == {"joined": sum(1 for what, _ in happened if what == "joined"),
                    "left": sum(1 for what, _ in happened if what == "left")}
    assert all(entry in happened for entry in named)
