"""The IRCv3 capabilities, through the sans-IO core with the injected clock."""

import pytest

from helpers import Harness, numerics, with_caps
from tcpchat.chat import encoding
from tcpchat.protocol.message import parse

STAMP = "2023-11-14T22:13:20.000Z"  # the harness's wall clock, 1_700_000_000


@pytest.fixture
def chat():
    return Harness()


def read_all(*peers):
    for peer in peers:
        peer.lines()


# -- server-time and message-tags: tags per recipient, encoded once per Encoding ------------

def test_server_time_stamps_what_its_users_get_and_nobody_else(chat):
    timed = with_caps(chat, "timed", "server-time")
    bare, plain = chat.irc("bare"), chat.plain("plain")
    read_all(timed, bare)
    bare.send("PRIVMSG #lobby :hello", "FROB")
    assert timed.lines() == [f"@time={STAMP} :bare!bare@127.0.0.1 PRIVMSG #lobby :hello"]
    assert plain.lines() == ["bare: hello"]
    assert bare.lines() == [":tcpchat 421 bare FROB :Unknown command"]
    timed.send("FROB")
    assert timed.lines() == [f"@time={STAMP} :tcpchat 421 timed FROB :Unknown command"]


def test_client_only_tags_reach_message_tags_users_and_tagmsg_only_them(chat):
    tagged = with_caps(chat, "tagged", "message-tags")
    both = with_caps(chat, "both", "message-tags", "server-time")
    bare, plain = chat.irc("bare"), chat.plain("plain")
    read_all(tagged, both)
    bare.send("@+draft/react=\\s:);server-only=x;+typing=active PRIVMSG #lobby :hi",
              "@+typing=active TAGMSG #lobby")
    # message-tags alone brings the server's tags, time among them, as server-time does.
    assert tagged.lines() == [
        f"@+draft/react=\\s:);+typing=active;msgid=id5;time={STAMP} :bare!bare@127.0.0.1 "
        "PRIVMSG #lobby :hi",
        f"@+typing=active;msgid=id6;time={STAMP} :bare!bare@127.0.0.1 TAGMSG #lobby"]
    assert [parse(line).tags for line in both.lines()] == [
        {"+draft/react": " :)", "+typing": "active", "msgid": "id5", "time": STAMP},
        {"+typing": "active", "msgid": "id6", "time": STAMP}]
    assert plain.lines() == ["bare: hi"]
    read_all(tagged, bare)
    tagged.send("@+typing=paused TAGMSG bare,both")
    assert bare.lines() == [] and plain.lines() == []
    assert [parse(line).tags["+typing"] for line in both.lines()] == ["paused"]


def test_bare_tags_never_reach_anyone_and_tagmsg_to_nobody_is_an_error(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    read_all(alice)
    bob.send("@+x=1 PRIVMSG #lobby :plain", "TAGMSG #nowhere")
    assert alice.lines() == [":bob!bob@127.0.0.1 PRIVMSG #lobby :plain"]
    assert [m.command for m in bob.messages()] == ["401"]


def test_a_message_is_encoded_once_per_encoding_whatever_the_recipients(chat, monkeypatch):
    """Forty recipients over four mixes of capabilities, which are three Encodings (with
    message-tags, server-time is implied): three encodings of the message, not forty."""
    kinds = [(), ("server-time",), ("message-tags",), ("server-time", "message-tags")]
    peers = [with_caps(chat, f"u{i}k{k}", *caps) for i in range(10)
             for k, caps in enumerate(kinds)]
    sender = chat.irc("sender")
    read_all(*peers)
    calls = []
    for form in encoding._IRC_ENCODINGS.values():
        monkeypatch.setattr(form, "encode", lambda m, encode=form.encode: calls.append(m)
                            or encode(m))
    sender.send("@+x=1 PRIVMSG #lobby :once per encoding")
    assert len(calls) == 3
    assert len({peer.output() for peer in peers}) == 3  # and each got the message


# -- echo-message and labeled-response ------------------------------------------------------

def test_echo_message_sends_the_sender_its_own_messages_in_order(chat):
    echo = with_caps(chat, "echo", "echo-message", "message-tags")
    bob = chat.irc("bob")
    read_all(echo)
    echo.send("PRIVMSG #lobby :one", "@+x=y PRIVMSG #lobby :two", "NOTICE bob :three",
              "PRIVMSG bob :four", "@+t=1 TAGMSG #lobby")
    assert echo.lines() == [
        f"@msgid=id3;time={STAMP} :echo!echo@127.0.0.1 PRIVMSG #lobby :one",
        f"@+x=y;msgid=id4;time={STAMP} :echo!echo@127.0.0.1 PRIVMSG #lobby :two",
        f"@msgid=id5;time={STAMP} :echo!echo@127.0.0.1 NOTICE bob :three",
        f"@msgid=id6;time={STAMP} :echo!echo@127.0.0.1 PRIVMSG bob :four",
        f"@+t=1;msgid=id7;time={STAMP} :echo!echo@127.0.0.1 TAGMSG #lobby"]
    assert [parse(line).params[-1] for line in bob.lines()] == ["one", "two", "three", "four"]
    bob.send("PRIVMSG #lobby :not echoed to bob")
    assert bob.lines() == []


def test_labeled_responses_ack_label_or_batch(chat):
    peer = with_caps(chat, "lab", "labeled-response", "batch", "echo-message")
    chat.irc("bob")
    read_all(peer)
    peer.send("@label=a1 PING :x", "@label=a2 PRIVMSG #lobby :hi", "@label=a3 AWAY",
              "@label=a4 WHO #lobby", "@label=a5 MODE #lobby +v bob")
    lines = peer.lines()
    assert lines[0] == "@label=a1 :tcpchat PONG tcpchat :x"
    assert lines[1] == "@label=a2 :lab!lab@127.0.0.1 PRIVMSG #lobby :hi"
    assert lines[2] == "@label=a3 :tcpchat 305 lab :You are no longer marked as being away"
    start = parse(lines[3])
    assert (start.tags, start.params[1]) == ({"label": "a4"}, "labeled-response")
    batch = start.params[0][1:]
    assert [parse(line).tags for line in lines[4:7]] == [{"batch": batch}] * 3
    assert lines[7] == f":tcpchat BATCH -{batch}"
    assert lines[8].startswith("@label=a5 :lab!lab@127.0.0.1 MODE #lobby +v bob")
    peer.send("@label=a6 PRIVMSG bob :nothing comes back", "@label=a7 PING :y")
    assert peer.lines()[-1] == "@label=a7 :tcpchat PONG tcpchat :y"


def test_a_label_with_nothing_to_answer_gets_an_ack_and_one_without_batch_labels_one_line(chat):
    peer = with_caps(chat, "lab", "labeled-response")
    read_all(peer)
    peer.send("@label=q PRIVMSG #lobby :nobody hears", "@label=w WHO #lobby",
              "@label=x;y PONG :z")
    lines = peer.lines()
    assert lines[0] == "@label=q :tcpchat ACK"
    assert lines[1].startswith("@label=w :tcpchat 352 lab #lobby ")
    assert lines[2].startswith(":tcpchat 315 lab #lobby ")
    assert lines[3] == "@label=x :tcpchat ACK"


# -- away-notify, invite-notify, userhost-in-names, extended-join, setname, cap-notify ------

def test_away_notify_tells_those_sharing_a_channel_and_on_join(chat):
    watcher = with_caps(chat, "watcher", "away-notify")
    bare, bob = chat.irc("bare"), chat.irc("bob")
    read_all(watcher, bare)
    bob.send("AWAY :lunch", "AWAY")
    assert watcher.lines() == [":bob!bob@127.0.0.1 AWAY :lunch", ":bob!bob@127.0.0.1 AWAY"]
    assert bare.lines() == []
    bob.send("AWAY :gone", "PART #lobby", "JOIN #lobby")
    assert watcher.lines()[-2:] == [":bob!bob@127.0.0.1 JOIN #lobby",
                                    ":bob!bob@127.0.0.1 AWAY :gone"]
    assert bare.lines()[-1] == ":bob!bob@127.0.0.1 JOIN #lobby"


def test_invite_notify_tells_the_channels_members_who_asked(chat):
    op = chat.irc("op")
    watcher = with_caps(chat, "watcher", "invite-notify")
    guest = chat.irc("guest")
    guest.send("PART #lobby")
    read_all(op, watcher, guest)
    op.send("INVITE guest #lobby")
    assert watcher.lines() == [":op!op@127.0.0.1 INVITE guest #lobby"]
    assert guest.lines() == [":op!op@127.0.0.1 INVITE guest #lobby"]


def test_userhost_in_names_and_extended_join(chat):
    asker = with_caps(chat, "asker", "userhost-in-names", "multi-prefix", "extended-join")
    bare = chat.irc("bare")
    read_all(asker)
    asker.send("NAMES #lobby")
    assert parse(asker.lines()[0]).params[-1] == "@asker!asker@127.0.0.1 bare!bare@127.0.0.1"
    chat.irc("carol")
    assert asker.lines() == [":carol!carol@127.0.0.1 JOIN #lobby * :carol Real"]
    assert bare.lines()[0] == ":carol!carol@127.0.0.1 JOIN #lobby"


def test_setname_changes_the_real_name_for_those_who_asked(chat):
    named = with_caps(chat, "named", "setname")
    watcher = with_caps(chat, "watcher", "setname")
    bare = chat.irc("bare")
    read_all(named, watcher)
    named.send("SETNAME :Named Anew", "SETNAME :" + "x" * 201)
    assert named.lines() == [
        ":named!named@127.0.0.1 SETNAME :Named Anew",
        ":tcpchat FAIL SETNAME INVALID_REALNAME :A real name is 1 to 200 bytes"]
    assert watcher.lines() == [":named!named@127.0.0.1 SETNAME :Named Anew"]
    bare.send("SETNAME :no cap", "WHOIS named")
    replies = bare.messages()
    assert replies[0].command == "421"
    assert replies[1].params[-1] == "Named Anew"


def test_cap_notify_comes_with_cap_ls_302_and_may_be_asked_for(chat):
    peer = chat.connect()
    peer.send("CAP LS", "CAP REQ cap-notify", "CAP LIST")
    assert peer.messages()[-1].params[-1] == "cap-notify"


# -- Bot mode (IRCv3 bot-mode) ---------------------------------------------------------------

def test_a_bot_marks_itself_and_is_shown_as_one_everywhere():
    chat = Harness()
    robo = chat.irc("robo")
    tagged = with_caps(chat, "tagged", "message-tags")
    bare = chat.irc("bare")
    robo.lines()
    robo.send("MODE robo +B")
    assert robo.lines() == [":robo!robo@127.0.0.1 MODE robo +B"]
    robo.send("MODE robo")
    assert robo.messages()[0].params[-1] == "+B"
    robo.send("PRIVMSG #lobby :beep")
    tags = tagged.messages()[-1].tags
    assert tags["bot"] == "" and set(tags) == {"msgid", "time", "bot"}  # a tag, no value
    assert bare.lines()[-1] == ":robo!robo@127.0.0.1 PRIVMSG #lobby :beep"
    bare.send("WHOIS robo")
    assert ("335", ("bare", "robo", "is a bot")) in numerics(bare)
    bare.send("WHO #lobby")
    flags = {params[5]: params[6] for command, params in numerics(bare) if command == "352"}
    assert flags == {"robo": "H@B", "tagged": "H", "bare": "H"}
    robo.send("MODE robo -B", "PRIVMSG #lobby :human again")
    assert robo.lines()[0] == ":robo!robo@127.0.0.1 MODE robo -B"
    assert "bot" not in tagged.messages()[-1].tags
    bare.send("WHOIS robo")
    assert "335" not in [command for command, _ in numerics(bare)]


def test_the_server_says_which_mode_marks_a_bot():
    chat = Harness()
    alice = chat.connect()
    alice.send("NICK alice", "USER alice 0 * :Alice")
    isupport = " ".join(" ".join(params) for command, params in numerics(alice)
                        if command == "005")
    assert "BOT=B" in isupport.split()


def test_a_bot_cannot_mark_another_user():
    chat = Harness()
    robo, alice = chat.irc("robo"), chat.irc("alice")
    robo.lines()
    robo.send("MODE alice +B")
    assert numerics(robo) == [("502", ("robo", "Cant change mode for other users"))]
    alice.send("WHOIS alice")
    assert "335" not in [command for command, _ in numerics(alice)]


def test_no_implicit_names_leaves_names_out_of_a_join_until_asked():
    """draft/no-implicit-names: a client that keeps its member lists some other way (or a
    room of thousands it does not want listed on every join) asks for NAMES itself."""
    chat = Harness()
    chat.irc("ann")
    quiet, usual = with_caps(chat, "quiet", "draft/no-implicit-names"), chat.irc("usual")
    for peer in (quiet, usual):
        peer.lines()
    quiet.send("JOIN #lobby2")
    assert [command for command, _ in numerics(quiet)] == ["JOIN"]
    usual.send("JOIN #lobby2")
    assert [command for command, _ in numerics(usual)][-2:] == ["353", "366"]
    quiet.lines()  # usual's JOIN
    quiet.send("NAMES #lobby2")
    assert [command for command, _ in numerics(quiet)] == ["353", "366"]


@pytest.mark.parametrize("echo", [True, False])
@pytest.mark.parametrize("target", ["ann", "bob", "#lobby"])
@pytest.mark.parametrize("command", ["PRIVMSG {target} :x", "TAGMSG {target}"])
def test_a_label_comes_back_exactly_once_whatever_the_target(echo, target, command):
    """labeled-response on a message to oneself, to a user and to a channel, PRIVMSG and
    TAGMSG, with echo-message and without: the label on the echo (or the copy to oneself),
    else on an ACK; never twice, never lost."""
    chat = Harness(flood=None)
    ann, bob = chat.irc("ann", caps=True), chat.irc("bob", caps=True)
    caps = "labeled-response message-tags batch" + (" echo-message" if echo else "")
    ann.send(f"CAP REQ :{caps}")
    ann.lines(), bob.lines()
    ann.send("@label=L;+typing=active " + command.format(target=target))
    replies = ann.lines()
    assert sum(line.count("label=L") for line in replies) == 1, replies
    to_self = echo or target == "ann"
    assert replies[0].startswith("@label=L") and (" ACK" in replies[0]) != to_self


def test_pre_away_lets_a_client_be_away_before_it_registers_and_others_learn_it():
    chat = Harness(flood=None)
    watcher = chat.irc("watcher", caps=True)
    watcher.send("CAP REQ :away-notify")
    watcher.lines()
    early = chat.connect()
    early.send("CAP LS 302")
    assert "draft/pre-away" in " ".join(early.lines())
    early.send("AWAY :gone before I came")  # without the capability: not yet
    assert numerics(early)[0][0] == "451"
    early.send("CAP REQ :draft/pre-away", "AWAY *", "NICK bnc", "USER bnc 0 * :bnc",
               "CAP END")
    assert early.client.registered and early.client.away == "*"
    assert ":bnc!bnc@127.0.0.1 AWAY :*" in watcher.lines()  # with its JOIN
    watcher.send("WHOIS bnc")
    assert ("301", ("watcher", "bnc", "*")) in numerics(watcher)
    early.send("AWAY")  # back
    assert numerics(early)[-1][0] == "305"
