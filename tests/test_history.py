"""Message history through the sans-IO core: msgids, CHATHISTORY, event playback, REDACT, and
what plain users see, on both stores (the list model and SQLite in memory)."""

import pytest

from helpers import Harness, numerics, with_caps
from tcpchat.commands.history import as_message
from tcpchat.protocol.ircv3 import timestamp
from tcpchat.protocol.message import parse
from tcpchat.store.accounts import Account
from tcpchat.store.base import GAP, Entry
from tcpchat.store.credentials import hash_password
from tcpchat.store.memory import ListStore
from tcpchat.store.sqlite import SqliteStore

HISTORY_CAPS = ("batch", "server-time", "message-tags", "draft/chathistory")


@pytest.fixture(params=["list", "sqlite"])
def store(request):
    store = ListStore() if request.param == "list" else SqliteStore(None)
    yield store
    store.close()


@pytest.fixture
def chat(store):
    return Harness(history=store, flood=None)


def history_of(peer, *request):
    """The messages a CHATHISTORY request brought, without the batch lines, each checked to
    be in the one batch the reply opened."""
    peer.send(*request)
    messages = peer.messages()
    assert messages[0].command == "BATCH" and messages[-1].command == "BATCH"
    batch = messages[0].params[0][1:]
    assert messages[-1].params == (f"-{batch}",)
    inside = messages[1:-1]
    assert all(message.tags["batch"] == batch for message in inside)
    return inside


def texts(messages):
    return [message.params[-1] for message in messages]


def say(peer, *texts_):
    peer.send(*(f"PRIVMSG #lobby :{text}" for text in texts_))


# -- msgid ----------------------------------------------------------------------------------

def test_each_message_has_one_msgid_for_every_recipient_and_message_tags_users_see_it(chat):
    tagged = with_caps(chat, "tagged", "message-tags")
    other = with_caps(chat, "other", "message-tags", "echo-message")
    bare, plain = chat.irc("bare"), chat.plain("plain")
    for peer in (tagged, other, bare):
        peer.lines()
    say(other, "one", "two")
    first, second = tagged.messages()
    assert (first.tags["msgid"], second.tags["msgid"]) == ("id5", "id6")
    assert [message.tags for message in other.messages()] == [first.tags, second.tags]
    assert bare.lines() == [":other!other@127.0.0.1 PRIVMSG #lobby :one",
                            ":other!other@127.0.0.1 PRIVMSG #lobby :two"]
    assert plain.lines() == ["other: one", "other: two"]
    entries = chat.core.chat.history.page("#lobby", limit=10, commands={"PRIVMSG"})
    assert [entry.msgid for entry in entries] == ["id5", "id6"]


def test_the_server_offers_history_in_cap_ls_and_005():
    store = ListStore()
    with_history, without = Harness(history=store), Harness()
    for harness, offered in ((with_history, True), (without, False)):
        peer = harness.connect()
        peer.send("CAP LS 302")
        listed = " ".join(m.params[-1] for m in peer.messages()).split()  # over two lines
        assert ("draft/chathistory" in listed) is offered
        assert ("draft/event-playback" in listed) is offered
        assert ("draft/message-redaction" in listed) is offered
        peer.send("NICK n", "USER n 0 * :n", "CAP END")
        tokens = " ".join(" ".join(m.params) for m in peer.messages() if m.command == "005")
        assert ("CHATHISTORY=100" in tokens) is offered
        assert ("MSGREFTYPES=msgid,timestamp" in tokens) is offered
        peer.send("CHATHISTORY LATEST #lobby * 10", "REDACT #lobby id1")
        codes = [message.command for message in peer.messages()]
        assert (codes == ["421", "421"]) is not offered


# -- CHATHISTORY ----------------------------------------------------------------------------

def test_latest_gives_the_last_messages_in_a_batch_with_their_ids_and_times(chat):
    ann = chat.irc("ann")
    say(ann, "one")
    chat.clock.advance(2)
    say(ann, "two", "three")
    reader = with_caps(chat, "reader", *HISTORY_CAPS)
    found = history_of(reader, "CHATHISTORY LATEST #lobby * 2")
    assert texts(found) == ["two", "three"]
    assert [message.source for message in found] == ["ann!ann@127.0.0.1"] * 2
    assert found[0].tags["time"] == timestamp(1_700_000_002)
    assert [message.tags["msgid"] for message in found] == ["id3", "id4"]
    assert texts(history_of(reader, "CHATHISTORY LATEST #LOBBY * 100")) == ["one", "two",
                                                                           "three"]


def test_before_after_around_and_between_by_msgid_and_by_timestamp(chat):
    ann = chat.irc("ann")
    for number in range(10):
        say(ann, f"m{number}")  # id2 .. id11
        chat.clock.advance(1)
    reader = with_caps(chat, "reader", *HISTORY_CAPS)
    assert texts(history_of(reader, "CHATHISTORY BEFORE #lobby msgid=id7 3")) == [
        "m2", "m3", "m4"]
    assert texts(history_of(reader, "CHATHISTORY AFTER #lobby msgid=id7 3")) == [
        "m6", "m7", "m8"]
    assert texts(history_of(reader, "CHATHISTORY AROUND #lobby msgid=id7 3")) == [
        "m4", "m5", "m6"]
    assert texts(history_of(reader, "CHATHISTORY LATEST #lobby msgid=id9 5")) == [
        "m8", "m9"]
    # m3 was said at +3 s: before it, m0 to m2; after it (excluded), from m4.
    at_m3 = f"timestamp={timestamp(1_700_000_003)}"
    assert texts(history_of(reader, f"CHATHISTORY BEFORE #lobby {at_m3} 10")) == [
        "m0", "m1", "m2"]
    assert texts(history_of(reader, f"CHATHISTORY AFTER #lobby {at_m3} 2")) == ["m4", "m5"]
    assert texts(history_of(reader, "CHATHISTORY BETWEEN #lobby msgid=id3 msgid=id8 10")) == [
        "m2", "m3", "m4", "m5"]
    # Backwards: the ones nearest the first reference.
    assert texts(history_of(reader, "CHATHISTORY BETWEEN #lobby msgid=id8 msgid=id3 2")) == [
        "m4", "m5"]
    assert texts(history_of(reader, f"CHATHISTORY BETWEEN #lobby {at_m3} msgid=id8 10")) == [
        "m4", "m5"]


def test_targets_lists_the_clients_channels_with_their_latest_message(chat):
    ann = chat.irc("ann")
    ann.send("JOIN #quiet", "JOIN #busy")
    ann.send("PRIVMSG #busy :first")
    chat.clock.advance(5)
    ann.send("PRIVMSG #lobby :later")
    reader = with_caps(chat, "reader", *HISTORY_CAPS)
    reader.send("JOIN #busy", "JOIN #quiet")
    reader.lines()
    since, until = timestamp(1_699_999_000), timestamp(1_700_000_100)
    reader.send(f"CHATHISTORY TARGETS timestamp={until} timestamp={since} 10")
    lines = reader.messages()
    assert lines[0].params[1] == "draft/chathistory-targets"
    assert [message.params for message in lines[1:-1]] == [
        ("TARGETS", "#busy", timestamp(1_700_000_000)),
        ("TARGETS", "#lobby", timestamp(1_700_000_005))]


def test_without_the_batch_capability_the_lines_come_alone(chat):
    ann = chat.irc("ann")
    say(ann, "hello")
    reader = with_caps(chat, "reader", "draft/chathistory")
    reader.send("CHATHISTORY LATEST #lobby * 5")
    assert reader.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :hello"]


def test_a_labeled_request_nests_the_history_batch_in_the_labeled_one(chat):
    ann = chat.irc("ann")
    say(ann, "hello")
    reader = with_caps(chat, "reader", "batch", "labeled-response", "draft/chathistory")
    reader.send("@label=x1 CHATHISTORY LATEST #lobby * 5")
    outer, inner, message, inner_end, outer_end = reader.messages()
    assert (outer.tags, outer.params[1]) == ({"label": "x1"}, "labeled-response")
    labeled = outer.params[0][1:]
    assert inner.tags == {"batch": labeled} and inner.params[1:] == ("chathistory", "#lobby")
    assert message.tags == {"batch": inner.params[0][1:]} and message.params[1] == "hello"
    assert inner_end.tags == {"batch": labeled}
    assert outer_end.params == (f"-{labeled}",)


# -- Event playback -------------------------------------------------------------------------

def test_event_playback_brings_joins_parts_topics_modes_kicks_and_quits(chat):
    ann, bob = chat.irc("ann"), chat.irc("bob")
    ann.send("TOPIC #lobby :news", "MODE #lobby +v bob")
    say(bob, "hi")
    ann.send("KICK #lobby bob :bye")
    carol = chat.irc("carol")
    carol.send("QUIT :gone")
    plain = with_caps(chat, "reader", *HISTORY_CAPS)
    player = with_caps(chat, "player", *HISTORY_CAPS, "draft/event-playback")
    plain.lines()
    assert [m.command for m in history_of(plain, "CHATHISTORY LATEST #lobby * 50")] == [
        "PRIVMSG"]
    played = history_of(player, "CHATHISTORY LATEST #lobby * 50")
    assert [(m.command, m.params) for m in played] == [
        ("JOIN", ("#lobby",)), ("JOIN", ("#lobby",)), ("TOPIC", ("#lobby", "news")),
        ("MODE", ("#lobby", "+v", "bob")), ("PRIVMSG", ("#lobby", "hi")),
        ("KICK", ("#lobby", "bob", "bye")), ("JOIN", ("#lobby",)), ("QUIT", ("Quit: gone",)),
        ("JOIN", ("#lobby",)), ("JOIN", ("#lobby",))]
    assert played[-3].source == "carol!carol@127.0.0.1"
    assert [m.source.partition("!")[0] for m in played[-2:]] == ["reader", "player"]


# -- Bad requests ---------------------------------------------------------------------------

@pytest.mark.parametrize("request_, reply", [
    ("CHATHISTORY FETCH #lobby * 5", "FAIL CHATHISTORY UNKNOWN_COMMAND FETCH"),
    ("CHATHISTORY LATEST #lobby", "FAIL CHATHISTORY NEED_MORE_PARAMS LATEST"),
    ("CHATHISTORY BETWEEN #lobby * 5", "FAIL CHATHISTORY NEED_MORE_PARAMS BETWEEN"),
    ("CHATHISTORY LATEST #lobby * 0", "FAIL CHATHISTORY INVALID_PARAMS LATEST 0"),
    ("CHATHISTORY LATEST #lobby * 1000000000",
     "FAIL CHATHISTORY INVALID_PARAMS LATEST 1000000000"),
    ("CHATHISTORY LATEST #lobby * -3", "FAIL CHATHISTORY INVALID_PARAMS LATEST -3"),
    ("CHATHISTORY LATEST #lobby * many", "FAIL CHATHISTORY INVALID_PARAMS LATEST many"),
    ("CHATHISTORY BEFORE #lobby timestamp=0001-01-01T00:00:00.000Z 5",
     "FAIL CHATHISTORY INVALID_PARAMS BEFORE timestamp=0001-01-01T00:00:00.000Z"),
    ("CHATHISTORY BEFORE #lobby timestamp=9999-12-31T23:59:59.999Z 5",
     "FAIL CHATHISTORY INVALID_PARAMS BEFORE timestamp=9999-12-31T23:59:59.999Z"),
    ("CHATHISTORY BEFORE #lobby timestamp=2023-02-31T00:00:00.000Z 5",
     "FAIL CHATHISTORY INVALID_PARAMS BEFORE timestamp=2023-02-31T00:00:00.000Z"),
    ("CHATHISTORY BEFORE #lobby timestamp=yesterday 5",
     "FAIL CHATHISTORY INVALID_PARAMS BEFORE timestamp=yesterday"),
    ("CHATHISTORY AFTER #lobby msgid=forged 5",
     "FAIL CHATHISTORY INVALID_PARAMS AFTER msgid=forged"),
    ("CHATHISTORY AFTER #lobby * 5", "FAIL CHATHISTORY INVALID_PARAMS AFTER *"),
    ("CHATHISTORY AFTER #lobby id1 5", "FAIL CHATHISTORY INVALID_PARAMS AFTER id1"),
    ("CHATHISTORY TARGETS msgid=id1 msgid=id1 5", "FAIL CHATHISTORY INVALID_PARAMS TARGETS"),
    ("CHATHISTORY LATEST #nowhere * 5", "FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere"),
    ("CHATHISTORY LATEST #secret * 5", "FAIL CHATHISTORY INVALID_TARGET LATEST #secret"),
])
def test_each_bad_request_gets_its_fail_and_the_room_goes_on(chat, request_, reply):
    owner, asker, other = chat.irc("owner"), chat.irc("asker"), chat.irc("other")
    owner.send("JOIN #secret", "MODE #secret +s", "PRIVMSG #secret :hidden")
    for peer in (owner, asker, other):
        peer.lines()
    asker.send(request_)
    answer = asker.lines()
    assert len(answer) == 1 and answer[0].startswith(f":tcpchat {reply}")
    assert "hidden" not in answer[0]
    say(owner, "still here")
    assert other.lines() == [":owner!owner@127.0.0.1 PRIVMSG #lobby :still here"]


def test_a_channel_one_is_not_in_answers_as_one_that_does_not_exist(chat):
    owner, asker = chat.irc("owner"), chat.irc("asker")
    owner.send("JOIN #secret", "MODE #secret +s", "PRIVMSG #secret :hidden")
    asker.lines()
    asker.send("CHATHISTORY LATEST #secret * 5", "CHATHISTORY LATEST #nowhere * 5")
    secret, nowhere = (parse(line).params[-1] for line in asker.lines())
    assert secret == nowhere


def test_private_messages_between_two_accounts_are_kept_for_those_two_only(chat):
    for name in ("ann", "bob", "eve"):
        chat.core.chat.accounts.add(Account(name, hash_password("pw")))
    ann = with_caps(chat, "ann", *HISTORY_CAPS)
    bob, eve, guest = chat.irc("bob"), chat.irc("eve"), chat.irc("guest")
    for peer, name in ((ann, "ann"), (bob, "bob"), (eve, "eve")):
        peer.send(f"PRIVMSG NickServ :IDENTIFY {name} pw")
        assert peer.client.account == name
    bob.send("PRIVMSG ann :for ann only", "PRIVMSG guest :not kept: guest has no account")
    ann.send("PRIVMSG bob :and back")
    guest.send("PRIVMSG ann :nor this")
    ann.lines()
    assert [(m.source.split("!")[0], m.params) for m in history_of(
        ann, "CHATHISTORY LATEST bob * 5")] == [("bob", ("ann", "for ann only")),
                                                ("ann", ("bob", "and back"))]
    # Bob, from a second connection, and by the account's name while his nick is another.
    bob_again = with_caps(chat, "bob2", *HISTORY_CAPS)
    bob_again.send("PRIVMSG NickServ :IDENTIFY bob pw")
    bob_again.lines()
    assert texts(history_of(bob_again, "CHATHISTORY LATEST ann * 5")) == [
        "for ann only", "and back"]
    eve_reads = with_caps(chat, "eve2", *HISTORY_CAPS)
    eve_reads.send("PRIVMSG NickServ :IDENTIFY eve pw")
    eve_reads.lines()
    assert history_of(eve_reads, "CHATHISTORY LATEST ann * 5") == []
    ann.lines()
    assert history_of(ann, "CHATHISTORY LATEST guest * 5") == []


def test_a_nick_or_star_target_gets_an_empty_batch_as_private_messages_are_not_kept(chat):
    ann = with_caps(chat, "ann", *HISTORY_CAPS)
    bob = chat.irc("bob")
    bob.send("PRIVMSG ann :a secret")
    ann.lines()
    assert history_of(ann, "CHATHISTORY LATEST bob * 5") == []
    assert history_of(ann, "CHATHISTORY LATEST * * 5") == []


def test_history_requests_count_against_flood_control(store):
    chat = Harness(history=store)  # the default flood control
    ann = chat.irc("ann")
    say(ann, "hello")
    reader = with_caps(chat, "reader", *HISTORY_CAPS)
    reader.send(*["CHATHISTORY LATEST #lobby * 1"] * 30)
    answered = [m for m in reader.messages() if m.command == "PRIVMSG"]
    assert 0 < len(answered) < 15  # the rest wait
    assert reader.conn.transport.paused == 1
    for _ in range(30):
        chat.clock.advance(1)
        chat.run_timers()
        answered += [m for m in reader.messages() if m.command == "PRIVMSG"]
    assert len(answered) == 30


# -- REDACT ---------------------------------------------------------------------------------

def test_the_sender_deletes_its_message_from_history_and_members_with_the_cap_are_told(chat):
    ann = with_caps(chat, "ann", "message-tags", "echo-message", "draft/message-redaction")
    told = with_caps(chat, "told", "draft/message-redaction")
    untold = chat.irc("untold")
    for peer in (ann, told):
        peer.lines()
    say(ann, "oops", "fine")
    msgid = ann.messages()[0].tags["msgid"]
    told.lines(), untold.lines()
    ann.send(f"REDACT #lobby {msgid} :typo")
    assert told.lines() == [f":ann!ann@127.0.0.1 REDACT #lobby {msgid} :typo"]
    assert [m.params for m in ann.messages()] == [("#lobby", msgid, "typo")]
    assert untold.lines() == []
    reader = with_caps(chat, "reader", *HISTORY_CAPS)
    assert texts(history_of(reader, "CHATHISTORY LATEST #lobby * 10")) == ["fine"]
    ann.lines()
    ann.send(f"REDACT #lobby {msgid}")  # gone already
    assert numerics(ann)[0][1][:3] == ("REDACT", "UNKNOWN_MSGID", "#lobby")


def test_only_the_sender_an_operator_of_the_room_or_a_server_operator_may_redact(chat):
    op, bob, carol = chat.irc("op"), chat.irc("bob"), chat.irc("carol")
    say(bob, "bob's")
    msgid = chat.core.chat.history.page("#lobby", limit=1, newest=True).pop().msgid
    carol.lines()
    carol.send(f"REDACT #lobby {msgid}")
    assert carol.lines() == [f":tcpchat FAIL REDACT REDACT_FORBIDDEN #lobby {msgid} "
                             ":You are not authorised to delete this message"]
    outsider = chat.irc("outsider")
    outsider.send("PART #lobby", f"REDACT #lobby {msgid}", "REDACT bob id1")
    assert [parse(line).params[1] for line in outsider.lines()[1:]] == [
        "UNKNOWN_MSGID", "UNKNOWN_MSGID"]
    op.send(f"REDACT #lobby {msgid} :spam")
    assert chat.core.chat.history.find("#lobby", msgid) is None


# -- Plain users ----------------------------------------------------------------------------

def test_a_plain_user_joining_sees_the_last_lines_with_their_times_set_apart(store):
    chat = Harness(history=store, flood=None, history_on_join=2)
    ann = chat.irc("ann")
    say(ann, "one", "two")
    ann.send("PRIVMSG #lobby :\x01ACTION waves\x01")
    peer = chat.connect()
    peer.send("newcomer")
    assert peer.lines()[1:5] == [
        "*** Earlier in #lobby (times in UTC):",
        "[22:13] ann: two",
        "[22:13] * ann waves",
        "*** (end of earlier conversation)"]
    peer.send("/history 1")
    assert peer.lines() == ["*** Earlier in #lobby (times in UTC):", "[22:13] * ann waves",
                            "*** (end of earlier conversation)"]
    chat.clock.advance(86400)
    peer.send("/history 1", "/history 0", "/history lots")
    assert peer.lines() == [
        "*** Earlier in #lobby (times in UTC):", "[2023-11-14 22:13] * ann waves",
        "*** (end of earlier conversation)",
        "! Usage: /history [N], N from 1 to 100", "! Usage: /history [N], N from 1 to 100"]


def test_plain_history_in_an_empty_room_and_on_a_server_without_history(store):
    with_store = Harness(history=store, flood=None)
    first = with_store.plain("first")
    first.send("/history")
    assert first.lines() == ["*** Nothing was said in #lobby yet"]
    without = Harness().plain("first")
    without.send("/history")
    assert without.lines() == ["! This server keeps no history"]


def test_a_gap_reads_as_a_notice_from_the_server(chat):
    gap = Entry(7, "gap1", "*", 1_700_000_000.0, GAP, None, (3,), None)
    message = as_message(chat.core.chat, gap, "#lobby")
    assert (message.command, message.source, message.params) == (
        "NOTICE", "tcpchat", ("#lobby", "*** 3 messages are missing from history here: the server "
                                   "could not keep them"))
    assert message.tags == {"msgid": "gap1", "time": timestamp(1_700_000_000)}


def test_a_crowded_rooms_comings_and_goings_are_not_kept_so_a_storm_keeps_its_messages(store):
    """Past Config.crowd members, joins, parts and quits are told as counts, and the history
    keeps none of them: a storm of them does not push the room's messages out of its lines."""
    store.lines = 5
    chat = Harness(history=store, flood=None, crowd=3)
    ann, bob = chat.irc("ann"), chat.irc("bob")
    say(ann, "one", "two")
    crowd = [chat.irc(f"c{number}") for number in range(8)]  # 3 members, then crowded
    for member in crowd[:4]:
        member.send("PART #lobby")
    for member in crowd[4:]:
        member.send("QUIT :storm")
    player = with_caps(chat, "player", *HISTORY_CAPS, "draft/event-playback")
    played = history_of(player, "CHATHISTORY LATEST #lobby * 50")
    assert [(m.command, m.params[-1]) for m in played] == [
        ("JOIN", "#lobby"), ("JOIN", "#lobby"), ("PRIVMSG", "one"), ("PRIVMSG", "two"),
        ("JOIN", "#lobby")]
    assert played[-1].source.startswith("c0!")  # the third member: the last told one by one
