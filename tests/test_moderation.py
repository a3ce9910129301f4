"""Channel moderation through the sans-IO core: modes, bans, KICK, INVITE, and the errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Harness, numerics
from tcpchat.commands import moderation
from tcpchat.protocol.message import parse


@pytest.fixture
def chat():
    return Harness()


def room(chat, *nicks, caps=False):
    """IRC peers in #lobby, the first its operator, everyone's output read."""
    peers = [chat.irc(nick, caps=caps) for nick in nicks]
    for peer in peers:  # the others' joins
        peer.lines()
    return peers


def test_a_new_channel_is_plus_nt_and_its_first_member_its_operator(chat):
    alice, bob = room(chat, "alice", "bob")
    bob.send("MODE #lobby")
    assert numerics(bob)[0] == ("324", ("bob", "#lobby", "+nt"))
    bob.send("TOPIC #lobby :from bob")
    assert numerics(bob) == [("482", ("bob", "#lobby", "You're not channel operator"))]
    alice.send("TOPIC #lobby :from alice")
    assert numerics(bob) == [("TOPIC", ("#lobby", "from alice"))]
    alice.send("MODE #lobby -t")
    alice.lines(), bob.lines()
    bob.send("TOPIC #lobby :now anyone may")
    assert numerics(alice) == [("TOPIC", ("#lobby", "now anyone may"))]


def test_several_modes_in_one_line_go_to_members_as_one_line(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +ovk-t bob carol sesame")
    relayed = [":alice!alice@127.0.0.1 MODE #lobby +ovk-t bob carol sesame"]
    assert bob.lines() == relayed and carol.lines() == relayed and alice.lines() == relayed
    alice.send("MODE #lobby")
    assert numerics(alice)[0] == ("324", ("alice", "#lobby", "+nk", "sesame"))
    outsider = chat.irc("dave")
    outsider.send("PART #lobby")
    outsider.lines()
    outsider.send("MODE #lobby")
    assert numerics(outsider)[0] == ("324", ("dave", "#lobby", "+nk", "*"))


def test_a_change_already_in_place_is_not_relayed(chat):
    alice, bob = room(chat, "alice", "bob")
    alice.send("MODE #lobby +nt", "MODE #lobby +o alice", "MODE #lobby -v bob")
    assert alice.lines() == [] and bob.lines() == []


def test_mode_errors_name_what_was_wrong_and_apply_the_rest(chat):
    alice, bob = room(chat, "alice", "bob")
    alice.send("MODE #lobby +xo nobody", "MODE #lobby +l lots", "MODE #lobby +k a,b",
               "MODE #lobby +o", "MODE #lobby +b a,b")
    assert [(c, p[1:-1]) for c, p in numerics(alice)] == [
        ("472", ("x",)), ("401", ("nobody",)),
        ("696", ("#lobby", "l", "lots")),
        ("696", ("#lobby", "k", "a,b")),
        ("461", ("MODE",)),
        ("696", ("#lobby", "b", "a,b"))]
    alice.send("MODE #lobby +k one", "MODE #lobby +k two", "MODE #lobby +o+l carol 5")
    assert [(c, p[1:-1]) for c, p in numerics(alice)] == [
        ("MODE", ("+k",)),  # the MODE line: #lobby +k :one
        ("467", ("#lobby",)),
        ("401", ("carol",)),
        ("MODE", ("+l",))]
    assert bob.lines()[-1] == ":alice!alice@127.0.0.1 MODE #lobby +l 5"


def test_a_non_operator_is_refused_once_per_line_and_changes_nothing(chat):
    alice, bob = room(chat, "alice", "bob")
    bob.send("MODE #lobby +imv-t bob")
    assert numerics(bob) == [("482", ("bob", "#lobby", "You're not channel operator"))]
    assert alice.lines() == []
    assert chat.core.chat.registry.channels["#lobby"].modes == {"n", "t"}


def test_user_not_in_the_channel_gets_441(chat):
    alice, = room(chat, "alice")
    other = chat.irc("bob")
    other.send("PART #lobby")
    alice.lines()
    alice.send("MODE #lobby +v bob")
    assert numerics(alice) == [("441", ("alice", "bob", "#lobby",
                                        "They aren't on that channel"))]


def test_more_than_modes_parameters_in_a_line_are_ignored(chat):
    peers = room(chat, "alice", "b1", "b2", "b3", "b4", "b5")
    peers[0].send("MODE #lobby +vvvvv b1 b2 b3 b4 b5")
    assert peers[1].lines() == [":alice!alice@127.0.0.1 MODE #lobby +vvvv b1 b2 b3 b4"]


# -- Bans -----------------------------------------------------------------------------------

def test_a_ban_keeps_a_user_out_and_quiet_until_lifted(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +b BOB")  # a bare nick is nick!*@*, in any case
    assert carol.lines() == [":alice!alice@127.0.0.1 MODE #lobby +b BOB!*@*"]
    alice.lines()
    bob.lines()
    bob.send("PRIVMSG #lobby :can I talk?")
    assert numerics(bob) == [("404", ("bob", "#lobby",
                                      "Cannot send to channel: you are banned (+b)"))]
    assert carol.lines() == []
    bob.send("PART #lobby", "JOIN #lobby")
    assert numerics(bob)[-1] == ("474", ("bob", "#lobby",
                                         "Cannot join channel (+b): you are banned"))
    alice.lines()
    alice.send("MODE #lobby +b", "MODE #lobby -b bob!*@*")
    assert numerics(alice) == [
        ("367", ("alice", "#lobby", "BOB!*@*", "alice", "1700000000")),
        ("368", ("alice", "#lobby", "End of channel ban list")),
        ("MODE", ("#lobby", "-b", "bob!*@*"))]
    bob.send("JOIN #lobby")
    assert bob.commands()[0] == "JOIN"


@pytest.mark.parametrize("mask, banned", [
    ("*!*@127.0.0.1", True), ("*!*@127.0.0.?", True), ("b?b", True), ("*@127.*", True),
    ("bob!bob@*", True), ("bo", False), ("*!*@127.0.0.2", False), ("b[b", False),
    ("bob!*", True), ("*!x*@*", False)])
def test_ban_masks_match_nick_user_and_host_with_wildcards(chat, mask, banned):
    alice, bob = room(chat, "alice", "bob")
    alice.send(f"MODE #lobby +b {mask}")
    bob.lines()
    bob.send("PRIVMSG #lobby :hello")
    assert (bob.commands() == ["404"]) is banned


def test_the_ban_list_is_bounded(chat):
    chat = Harness(flood=None)
    alice, = room(chat, "alice")
    alice.send(*(f"MODE #lobby +b spam{i}" for i in range(moderation.MAXBANS + 2)))
    replies = numerics(alice)
    assert [c for c, _ in replies].count("MODE") == moderation.MAXBANS
    assert replies[-1] == ("478", ("alice", "#lobby", "b", "Channel ban list is full (64)"))
    assert len(chat.core.chat.registry.channels["#lobby"].bans) == moderation.MAXBANS


def test_an_over_long_mask_is_refused(chat):
    alice, = room(chat, "alice")
    alice.send("MODE #lobby +b " + "x" * 101)
    assert alice.commands() == ["696"]


# -- Who may join ---------------------------------------------------------------------------

def test_invite_only_takes_an_invitation_which_is_used_once(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    bob.send("PART #lobby")
    alice.send("MODE #lobby +i")
    alice.lines(), bob.lines(), carol.lines()
    bob.send("JOIN #lobby")
    assert numerics(bob) == [("473", ("bob", "#lobby",
                                      "Cannot join channel (+i): it is invite only"))]
    carol.send("INVITE bob #lobby")
    assert carol.commands() == ["482"]  # only operators invite to an invite-only channel
    alice.send("INVITE bob #lobby")
    assert numerics(alice) == [("341", ("alice", "bob", "#lobby"))]
    assert bob.lines() == [":alice!alice@127.0.0.1 INVITE bob #lobby"]
    bob.send("JOIN #lobby", "PART #lobby", "JOIN #lobby")
    assert bob.commands() == ["JOIN", "353", "366", "PART", "473"]


def test_invite_errors(chat):
    alice, bob = room(chat, "alice", "bob")
    outsider = chat.irc("dave")
    outsider.send("PART #lobby")
    alice.lines()
    alice.send("INVITE nobody #lobby", "INVITE bob #none", "INVITE bob #lobby", "INVITE a")
    assert alice.commands() == ["401", "403", "443", "461"]
    outsider.lines()
    outsider.send("INVITE bob #lobby")
    assert outsider.commands() == ["442"]


def test_invitations_held_by_one_user_are_bounded(chat):
    chat = Harness(flood=None)
    guest, *inviters = room(chat, "guest", "alice", "bob")
    for i in range(moderation.MAX_INVITES + 5):  # CHANLIMIT channels each, at most
        inviters[i % 2].send(f"JOIN #r{i}", f"INVITE guest #r{i}")
    assert len(guest.client.invites) == moderation.MAX_INVITES
    assert all(channel.name != "#r0" for channel in guest.client.invites)


def test_a_key_and_a_limit(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("JOIN #a,#b", "MODE #a +k sesame", "MODE #b +l 2")
    bob.lines()
    bob.send("JOIN #a,#b", "JOIN #a,#b wrong", "JOIN #a,#b sesame")
    assert [(c, p[1] if c.isdigit() else p[0]) for c, p in numerics(bob)
            if c not in ("353", "366")] == [
        ("475", "#a"), ("JOIN", "#b"), ("475", "#a"), ("JOIN", "#a")]
    carol.send("JOIN #b")
    assert numerics(carol) == [("471", ("carol", "#b",
                                        "Cannot join channel (+l): it is full"))]


@pytest.mark.parametrize("line, shown", [
    ("MODE #a +k :open sesame", "*"),  # a space: unusable in a JOIN, so refused, not cut
    ("MODE #a +k ::sesame", "*"),
    ("MODE #a +k a,b", "a,b"),
    ("MODE #a +k " + "k" * 33, "k" * 33),
])
def test_a_key_that_cannot_be_one_is_refused_whole_and_the_room_stays_open(chat, line, shown):
    """The modern spec: a server that forbids a key says so (696) rather than set another
    one; what cannot be a parameter of the reply is said as ``*``."""
    alice, bob = room(chat, "alice", "bob")
    alice.send("JOIN #a")
    alice.lines()
    alice.send(line)
    assert numerics(alice) == [("696", (
        "alice", "#a", "k", shown, "Invalid mode parameter: a key is 1 to 32 characters, "
                                   "with no comma or space"))]
    bob.lines()
    bob.send("JOIN #a")
    assert numerics(bob)[0] == ("JOIN", ("#a",))


def test_a_join_key_is_compared_whole_on_every_path(chat):
    """A key is never cut: not when set (refused, above), and not when given.  A JOIN whose
    key is the room's with more after it (a client that pasted too much, or a key another
    server cut when it was set) is a wrong key, by IRC's JOIN and by plain mode's /join
    alike; the whole key lets both in."""
    key = "k" * moderation.KEYLEN
    alice, bob = room(chat, "alice", "bob")
    nadia = chat.plain("nadia")
    alice.send(f"MODE #lobby +k {key}", "KICK #lobby bob", "KICK #lobby nadia")
    bob.lines(), nadia.lines()
    bob.send(f"JOIN #lobby {key}x", f"JOIN #lobby {key[:-1]}")
    assert [number for number, _params in numerics(bob)] == ["475", "475"]
    nadia.send(f"/join {key}x")
    assert nadia.lines() == ["! #lobby: Cannot join channel (+k): wrong key"]
    bob.send(f"JOIN #lobby {key}")
    assert numerics(bob)[0] == ("JOIN", ("#lobby",))
    nadia.send(f"/join {key}")
    members = chat.core.chat.registry.channels["#lobby"].members
    assert "nadia" in [member.nick for member in members]


# -- Who may talk ---------------------------------------------------------------------------

def test_moderated_lets_operators_and_voiced_members_talk(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +m")
    bob.lines(), carol.lines()
    bob.send("PRIVMSG #lobby :may I?")
    assert numerics(bob) == [("404", ("bob", "#lobby", "Cannot send to channel: it is "
                                                        "moderated (+m) and you have no voice"))]
    bob.send("NOTICE #lobby :a notice is refused quietly")
    assert bob.lines() == [] and carol.lines() == []
    alice.send("MODE #lobby +v bob")
    bob.lines()
    bob.send("PRIVMSG #lobby :thank you")
    alice.send("PRIVMSG #lobby :you are welcome")
    assert [m.params[1] for m in carol.messages()] == ["+v", "thank you", "you are welcome"]


def test_outside_messages_need_minus_n(chat):
    alice, = room(chat, "alice")
    outsider = chat.irc("dave")
    outsider.send("PART #lobby")
    alice.lines(), outsider.lines()
    outsider.send("PRIVMSG #lobby :from outside")
    assert numerics(outsider) == [("404", ("dave", "#lobby",
                                           "Cannot send to channel: you are not in it (+n)"))]
    alice.send("MODE #lobby -n")
    alice.lines()
    outsider.send("PRIVMSG #lobby :from outside")
    assert numerics(alice) == [("PRIVMSG", ("#lobby", "from outside"))]
    assert outsider.lines() == []


def test_a_secret_channel_is_hidden_from_those_outside_it(chat):
    alice, = room(chat, "alice")
    outsider = chat.irc("dave")
    outsider.send("PART #lobby")
    alice.send("MODE #lobby +s")
    alice.lines(), outsider.lines()
    outsider.send("LIST", "NAMES #lobby", "WHO #lobby", "WHOIS alice", "TOPIC #lobby")
    replies = numerics(outsider)
    # Only the ends of lists and 403 name it, echoing what was asked.
    assert not any("#lobby" in " ".join(params) for command, params in replies
                   if command not in ("366", "315", "403"))
    assert [c for c, _ in replies][-1] == "403"
    alice.send("NAMES #lobby", "LIST")
    assert ("353", ("alice", "@", "#lobby", "@alice")) in numerics(alice)


def test_multi_prefix_shows_every_prefix(chat):
    alice, = room(chat, "alice", caps=False)
    plain_asker = chat.irc("bob")
    asker = chat.connect()
    asker.send("CAP REQ multi-prefix", "NICK carol", "USER c 0 * :C", "CAP END")
    alice.send("MODE #lobby +v alice")
    plain_asker.lines(), asker.lines()
    plain_asker.send("NAMES #lobby", "WHO #lobby")
    asker.send("NAMES #lobby", "WHO #lobby")
    without, with_cap = numerics(plain_asker), numerics(asker)
    assert without[0][1][-1].split() == ["@alice", "bob", "carol"]
    assert with_cap[0][1][-1].split() == ["@+alice", "bob", "carol"]
    assert without[2][1][6] == "H@" and with_cap[2][1][6] == "H@+"


# -- KICK -----------------------------------------------------------------------------------

def test_an_operator_kicks_one_or_more_and_everyone_sees_it(chat):
    alice, bob, carol, dave = room(chat, "alice", "bob", "carol", "dave")
    alice.send("KICK #lobby bob,carol :too loud")
    expected = [":alice!alice@127.0.0.1 KICK #lobby bob :too loud",
                ":alice!alice@127.0.0.1 KICK #lobby carol :too loud"]
    assert dave.lines() == expected and alice.lines() == expected
    assert bob.lines() == expected[:1] and carol.lines() == expected
    assert set(chat.core.chat.registry.channels["#lobby"].members) == {alice.client, dave.client}
    bob.send("PRIVMSG #lobby :hey")
    assert bob.commands() == ["404"]
    alice.send("KICK #lobby dave")  # the reason defaults to the kicker's nick
    assert dave.lines() == [":alice!alice@127.0.0.1 KICK #lobby dave :alice"]


def test_kick_errors(chat):
    alice, bob = room(chat, "alice", "bob")
    outsider = chat.irc("dave")
    outsider.send("PART #lobby")
    alice.lines(), bob.lines(), outsider.lines()
    bob.send("KICK #lobby alice")
    alice.send("KICK #none bob", "KICK #lobby nobody", "KICK #lobby dave")
    outsider.send("KICK #lobby bob")
    assert bob.commands() == ["482"]
    assert alice.commands() == ["403", "401", "441"]
    assert outsider.commands() == ["442"]
    assert bob.client in chat.core.chat.registry.channels["#lobby"].members


def test_kicking_the_last_member_ends_the_channel(chat):
    alice, = room(chat, "alice")
    alice.send("JOIN #solo", "KICK #solo alice,alice")
    assert "#solo" not in chat.core.chat.registry.channels
    assert alice.commands()[-2:] == ["KICK", "441"]


# -- The applied result, against a model ----------------------------------------------------

_ARGUMENTS = {"b": ["bob", "*!*@127.*", "a,b", "BOB!*@*"], "k": ["key", "other", "a,b"],
              "l": ["7", "0", "x"], "o": ["bob", "carol", "zed"], "v": ["bob", "carol"]}
_change = st.sampled_from("+-").flatmap(lambda sign: st.sampled_from("bklovimnstx").flatmap(
    lambda char: st.tuples(st.just(sign), st.just(char),
                           st.sampled_from(_ARGUMENTS.get(char, [""]) + [""]))))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_change, min_size=1, max_size=6), min_size=1, max_size=8))
def test_the_relayed_mode_lines_rebuild_the_channel_as_it_is(lines):
    """A member who applies each relayed MODE line to what it knows of the channel ends with
    the channel as the server holds it: nothing applied goes untold, nothing told is not so."""
    chat = Harness()
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    for changes in lines:
        letters = "".join(sign + char for sign, char, _ in changes)
        arguments = [argument for sign, char, argument in changes
                     if argument and (char != "l" or sign == "+")]
        alice.send(" ".join(["MODE #lobby", letters, *arguments]).rstrip())
    channel = chat.core.chat.registry.channels["#lobby"]
    modes, key, limit, bans = {"n", "t"}, None, None, []
    ranks = {"alice": "@", "bob": "", "carol": ""}
    for line in carol.lines():
        message = parse(line)
        assert message.command == "MODE" and message.params[0] == "#lobby"
        arguments, adding = list(message.params[2:]), True
        for char in message.params[1]:
            if char in "+-":
                adding = char == "+"
            elif char in "ov":
                nick, prefix = arguments.pop(0), moderation.PREFIXES[char]
                if adding:
                    ranks[nick] = "".join(p for p in "@+" if p in ranks[nick] or p == prefix)
                else:
                    ranks[nick] = ranks[nick].replace(prefix, "")
            elif char == "b":
                mask = arguments.pop(0)
                bans = bans + [mask] if adding else [b for b in bans if b.lower() != mask.lower()]
            elif char == "k":
                key = arguments.pop(0) if adding else (arguments.pop(0) and None)
            elif char == "l":
                limit = int(arguments.pop(0)) if adding else None
            else:
                modes = modes | {char} if adding else modes - {char}
        assert not arguments
    assert (modes, key, limit) == (channel.modes, channel.key, channel.limit)
    assert bans == [ban.mask for ban in channel.bans]
    assert ranks == {member.nick: rank for member, rank in channel.members.items()}
    assert len(bans) <= moderation.MAXBANS


# -- Plain users ----------------------------------------------------------------------------

def test_plain_users_moderate_with_slash_commands_and_read_it_as_sentences(chat):
    ann = chat.plain("ann")  # first in the room: its operator
    bob = chat.plain("bob")
    carol = chat.irc("carol")
    ann.lines(), bob.lines()
    ann.send("/op bob", "/voice carol", "/mode +m-t", "/topic chess at five",
             "/kick carol enough", "/devoice bob", "/deop bob")
    assert bob.lines() == [
        "* ann made bob an operator of #lobby",
        "* ann gave carol a voice in #lobby",
        "* ann made #lobby moderated: only operators and voiced members may talk; "
        "let anyone in #lobby set the topic",
        "* ann set the topic of #lobby: chess at five",
        "* ann removed carol from #lobby (enough)",
        "* ann took operator status in #lobby from bob",
    ]
    assert [m.command for m in carol.messages()] == ["MODE", "MODE", "MODE", "TOPIC", "KICK"]
    bob.send("/topic", "/mode", "/mode +b x")
    assert bob.lines() == ["*** The topic of #lobby: chess at five (set by ann)",
                           "*** #lobby has the modes +mn",
                           "*** #lobby was made 2023-11-14 22:13 UTC",  # not raw (issue 30)
                           "! #lobby: You're not channel operator"]


def test_a_kicked_plain_user_is_told_how_to_come_back(chat):
    ann, bob = chat.plain("ann"), chat.plain("bob")
    ann.lines()
    ann.send("/kick bob", "/kick")
    # The default reason, the kicker's name, is not said twice (issue 30).
    assert ann.lines() == ["* ann removed bob from #lobby", "! Usage: /kick NAME [reason]"]
    bob.lines()
    bob.send("anyone?", "/topic", "/who")
    assert bob.lines() == ["! You are not in #lobby: /join comes back"] * 3
    ann.send("/mode +k secret")
    bob.send("/join")
    assert bob.lines()[-1] == "! #lobby: Cannot join channel (+k): wrong key"
    bob.send("/join secret")
    assert bob.lines()[-1] == "*** You are in #lobby with @ann."
    bob.send("/join")
    assert bob.lines() == ["! You are in #lobby already"]


def test_a_plain_user_kept_out_of_the_room_is_welcomed_and_told_why(chat):
    ann = chat.plain("ann")
    ann.send("/mode +i")
    newcomer = chat.connect()
    newcomer.send("dan")
    assert newcomer.lines() == ["*** Welcome, dan!",
                                "! #lobby: Cannot join channel (+i): it is invite only",
                                "*** /join [key] tries again; /help lists the commands."]
    ann.send("/invite dan")
    assert newcomer.lines() == ["* ann invites you to #lobby"]
    newcomer.send("/join")
    assert newcomer.lines()[-1] == "*** You are in #lobby with @ann."


def test_plain_help_lists_the_moderation_commands(chat):
    ann = chat.plain("ann")
    ann.send("/help")
    shown = "\n".join(ann.lines())
    for command in ("/kick NAME", "/op NAME", "/deop NAME", "/voice NAME", "/devoice NAME",
                    "/topic", "/mode", "/invite NAME", "/join"):
        assert command in shown


def test_a_long_mode_line_brings_a_bounded_answer(chat):
    """500 letters of MODE: each unknown letter named once, the ban list sent once."""
    alice, = room(chat, "alice")
    alice.send("MODE #lobby +b spam")
    alice.lines()
    alice.send("MODE #lobby " + "bxyo" * 120)
    assert [c for c, _ in numerics(alice)] == ["367", "368", "472", "472", "461"]


def test_a_member_who_takes_a_banned_nick_is_banned_and_one_unbanned_may_talk(chat):
    """What the bans say of a member is kept between its messages: until its nick or the
    bans change."""
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +b evil*")
    bob.send("PRIVMSG #lobby :fine", "NICK evilbob", "PRIVMSG #lobby :now?")
    assert [m.command for m in bob.messages()][-1] == "404"
    alice.send("MODE #lobby -b evil*")
    bob.send("PRIVMSG #lobby :and now")
    assert [m.params[-1] for m in carol.messages() if m.command == "PRIVMSG"] == [
        "fine", "and now"]


# -- Exception lists and extended bans (+e, +I, +b m: and a:) ---------------------------------

def test_a_ban_exception_lets_its_mask_past_a_ban(chat):
    alice, bob, carol = room(Harness(flood=None), "alice", "bob", "carol")
    alice.send("MODE #lobby +b *!*@127.0.0.1", "MODE #lobby +e bob", "PART #lobby")
    for peer in (bob, carol):
        peer.send("PART #lobby", "JOIN #lobby")
        peer.lines()
    bob.send("JOIN #lobby")  # bob is in again: excepted
    assert "#lobby" in bob.client.channels
    carol.send("JOIN #lobby")
    assert numerics(carol)[0][0] == "474"


def test_an_invite_exception_lets_its_mask_into_an_invite_only_room(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +i", "MODE #lobby +I bob!*@*")
    for peer in (bob, carol):
        peer.send("PART #lobby")
        peer.lines()
        peer.send("JOIN #lobby")
    assert "#lobby" in bob.client.channels
    assert numerics(carol)[0][0] == "473"


def test_a_mute_lets_its_mask_stay_and_join_but_not_talk_unless_voiced_or_excepted(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    alice.send("MODE #lobby +b m:bob", "MODE #lobby +b m:carol", "MODE #lobby +e carol")
    alice.lines(), bob.lines(), carol.lines()
    bob.send("PRIVMSG #lobby :can I speak?")
    assert numerics(bob)[0][0] == "404" and alice.lines() == []
    carol.send("PRIVMSG #lobby :excepted")
    assert alice.lines() == [":carol!carol@127.0.0.1 PRIVMSG #lobby :excepted"]
    bob.send("PART #lobby", "JOIN #lobby")  # a mute is no ban
    assert "#lobby" in bob.client.channels
    alice.send("MODE #lobby +v bob")
    alice.lines(), bob.lines()
    bob.send("PRIVMSG #lobby :voiced now")
    assert alice.lines() == [":bob!bob@127.0.0.1 PRIVMSG #lobby :voiced now"]


def test_an_account_ban_bans_the_users_of_that_account_whatever_their_nick(chat):
    alice, bob, carol = room(chat, "alice", "bob", "carol")
    bob.client.account = "robert"  # logged in (tests/test_accounts.py shows how)
    alice.send("MODE #lobby +b a:rob*")
    for peer in (bob, carol):
        peer.send("PART #lobby")
        peer.lines()
        peer.send("JOIN #lobby")
    assert numerics(bob)[0][0] == "474"
    assert "#lobby" in carol.client.channels


def test_each_list_is_shown_and_bounded_and_bad_entries_are_refused(chat):
    chat = Harness(flood=None)
    alice, = room(chat, "alice")
    alice.send("MODE #lobby +e bob", "MODE #lobby +I *!*@10.*", "MODE #lobby e", "MODE #lobby I")
    replies = numerics(alice)
    assert ("348", ("alice", "#lobby", "bob!*@*", "alice", "1700000000")) in replies
    assert ("349", ("alice", "#lobby", "End of channel exception list")) in replies
    assert ("346", ("alice", "#lobby", "*!*@10.*", "alice", "1700000000")) in replies
    assert ("347", ("alice", "#lobby", "End of channel invite exception list")) in replies
    alice.send(*(f"MODE #lobby +e x{number}" for number in range(moderation.MAXBANS + 1)))
    assert numerics(alice)[-1] == ("478", ("alice", "#lobby", "e", "Channel list is full (64)"))
    for bad in ("+e m:bob", "+I a:bob", "+b a:", "+b m:", "+b m:m:bob"):
        alice.send(f"MODE #lobby {bad} ")
        assert numerics(alice)[0][0] == "696", bad


def test_an_account_ban_applies_to_a_member_who_logs_in_to_that_account_after_talking(chat):
    alice, bob = room(chat, "alice", "bob")
    alice.send("MODE #lobby +b a:robert")
    alice.lines(), bob.lines()
    bob.send("PRIVMSG #lobby :not banned yet")  # the verdict is kept for its mask...
    assert alice.lines() == [":bob!bob@127.0.0.1 PRIVMSG #lobby :not banned yet"]
    bob.client.account = "robert"  # ...and made again once the account changes
    bob.send("PRIVMSG #lobby :banned now")
    assert numerics(bob)[0][0] == "404" and alice.lines() == []
