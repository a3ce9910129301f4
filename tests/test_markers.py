"""Read markers (IRCv3 draft/read-marker, MARKREAD): set, asked for, only ever forward, told
on joining and to the same account's other connections, and every bad request's FAIL."""

import pytest

from helpers import Harness, numerics
from tcpchat.store.accounts import Account, Accounts, MAX_MARKERS

#: Before the Harness's now (2023-11-14T22:13:20.000Z).
EARLY, LATER = "2023-11-14T22:10:00.000Z", "2023-11-14T22:12:00.500Z"


def marker_user(chat, nick, account=None):
    peer = chat.connect()
    peer.send("CAP REQ :draft/read-marker", f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END")
    if account is not None:
        peer.client.account = account  # logged in (tests/test_accounts.py shows how)
    peer.lines()
    return peer


def test_a_marker_is_set_asked_for_and_only_moves_forward():
    chat = Harness()
    ann = marker_user(chat, "ann")
    ann.send("MARKREAD #lobby")
    assert ann.lines() == [":tcpchat MARKREAD #lobby *"]
    ann.send(f"MARKREAD #lobby timestamp={LATER}")
    assert ann.lines() == [f":tcpchat MARKREAD #lobby timestamp={LATER}"]
    ann.send(f"MARKREAD #lobby timestamp={EARLY}")  # older: the one kept stands
    assert ann.lines() == [f":tcpchat MARKREAD #lobby timestamp={LATER}"]
    ann.send("MARKREAD #lobby timestamp=2999-01-01T00:00:00.000Z")  # never past now
    assert ann.lines() == [":tcpchat MARKREAD #lobby timestamp=2023-11-14T22:13:20.000Z"]


def test_joining_tells_the_marker_before_the_end_of_names():
    chat = Harness()
    ann = marker_user(chat, "ann")
    ann.send(f"MARKREAD #lobby timestamp={EARLY}", "PART #lobby")
    ann.lines()
    ann.send("JOIN #lobby")
    commands = [line.split()[1] for line in ann.lines()]
    assert commands.index("MARKREAD") < commands.index("366")


def test_an_account_s_other_connections_hear_of_it_and_it_outlasts_them():
    chat = Harness()
    chat.core.chat.accounts.add(Account("ann", "x", created=1.0))
    phone, laptop = marker_user(chat, "ann", "ann"), marker_user(chat, "ann2", "ann")
    stranger = marker_user(chat, "bob")
    for peer in (phone, laptop, stranger):
        peer.lines()  # the others' joins
    phone.send(f"MARKREAD bob timestamp={EARLY}")
    assert laptop.lines() == [f":tcpchat MARKREAD bob timestamp={EARLY}"]
    assert phone.lines() == [f":tcpchat MARKREAD bob timestamp={EARLY}"]
    assert stranger.lines() == []  # never another user's
    phone.send("QUIT"), laptop.send("QUIT")
    back = marker_user(chat, "ann3", "ann")
    back.send("MARKREAD bob")
    assert back.lines() == [f":tcpchat MARKREAD bob timestamp={EARLY}"]


@pytest.mark.parametrize("line, code", [
    ("MARKREAD", "NEED_MORE_PARAMS"),
    ("MARKREAD :", "NEED_MORE_PARAMS"),
    ("MARKREAD #elsewhere", "INVALID_PARAMS"),  # a channel one is not in
    ("MARKREAD bad,nick", "INVALID_PARAMS"),
    ("MARKREAD #lobby 2023-11-14", "INVALID_PARAMS"),
    ("MARKREAD #lobby timestamp=yesterday", "INVALID_PARAMS"),
    ("MARKREAD #lobby timestamp=0001-01-01T00:00:00.000Z", None),  # valid, and older: kept
    ("MARKREAD #lobby :timestamp=2023-13-45T99:00:00.000Z", "INVALID_PARAMS"),
])
def test_every_bad_request_gets_its_fail_and_nobody_else_hears_a_thing(line, code):
    chat = Harness()
    ann, bob = marker_user(chat, "ann"), marker_user(chat, "bob")
    ann.lines()  # bob's join
    ann.send(line)
    replies = numerics(ann)
    if code is None:
        assert replies[0][0] == "MARKREAD"
    else:
        assert replies[0][0] == "FAIL" and replies[0][1][:2] == ("MARKREAD", code)
    assert bob.lines() == []


def test_markers_are_bounded_per_user():
    accounts = Accounts()
    for number in range(MAX_MARKERS + 10):
        accounts.save_marker("ann", f"nick{number}", f"timestamp={EARLY}")
    assert len(accounts.markers) == MAX_MARKERS
    assert accounts.marker("ann", "nick0") is None and accounts.marker("ann", "nick509")
