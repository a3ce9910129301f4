"""The IRC commands and numerics, driven through the sans-IO core (no sockets)."""

import pytest

from helpers import Harness, numerics
from tcpchat.commands.sasl import mechanisms
from tcpchat.protocol.ircv3 import CAPABILITIES
from tcpchat.protocol.message import MAX_MESSAGE, parse


@pytest.fixture
def chat():
    return Harness()


# -- Registration ---------------------------------------------------------------------------

def test_registration_burst(chat):
    peer = chat.connect()
    peer.send("NICK alice", "USER al 0 * :Alice Liddell")
    messages = peer.messages()
    commands = [m.command for m in messages]
    assert commands[:5] == ["001", "002", "003", "004", "005"]
    assert messages[0].params == ("alice", "Welcome to the tcpchat Network, alice!al@127.0.0.1")
    assert messages[3].params[1:4] == ("tcpchat", "tcpchat-0.1.0", "Biorw")
    isupport = " ".join(p for m in messages if m.command == "005" for p in m.params[1:-1])
    for token in ("CASEMAPPING=rfc8265", "CHANTYPES=#", "NICKLEN=30", "CHANNELLEN=50",
                  "PREFIX=(ov)@+", "CHANMODES=beI,k,l,imnst", "MODES=4",
                  "MAXLIST=b:64,e:64,I:64", "EXCEPTS=e", "INVEX=I", "EXTBAN=,am",
                  "NETWORK=tcpchat", "TARGMAX=", "UTF8ONLY"):
        assert token in isupport
    assert all(len(m.params) <= 15 for m in messages if m.command == "005")
    assert "422" in commands  # no MOTD file given
    # autojoined to the default room, with NAMES
    assert ("JOIN", ("#lobby",)) in [(m.command, m.params) for m in messages]
    assert messages[-2].command == "353" and messages[-2].params[-1] == "@alice"
    assert messages[-1].command == "366"


def test_motd_lines():
    chat = Harness(motd=["Be nice.", "Have fun."])
    peer = chat.connect()
    peer.send("NICK a", "USER a 0 * :A")
    found = [(m.command, m.params[-1]) for m in peer.messages() if m.command in
             ("375", "372", "376")]
    assert found == [("375", "- tcpchat Message of the day - "), ("372", "- Be nice."),
                     ("372", "- Have fun."), ("376", "End of /MOTD command.")]


def test_no_autojoin():
    chat = Harness(autojoin=False)
    peer = chat.connect()
    peer.send("NICK a", "USER a 0 * :A")
    assert "JOIN" not in peer.commands()


def test_user_then_nick_also_registers(chat):
    peer = chat.connect()
    peer.send("USER a 0 * :A")
    assert peer.lines() == []
    peer.send("NICK a")
    assert peer.commands()[0] == "001"


def test_commands_before_registration_get_451(chat):
    peer = chat.connect()
    peer.send("NICK early", "JOIN #x", "PRIVMSG #lobby :hi")
    assert numerics(peer) == [("451", ("early", "You have not registered"))] * 2


def test_ping_works_before_registration(chat):
    peer = chat.connect()
    peer.send("NICK early", "PING :abc")
    assert numerics(peer) == [("PONG", ("tcpchat", "abc"))]


def test_cap_negotiation_holds_registration_until_end(chat):
    peer = chat.connect()
    peer.send("CAP LS 302", "NICK a", "USER a 0 * :A")
    values = {"sasl": ",".join(mechanisms(chat.core.chat)),
              "draft/account-registration": "before-connect",
              "draft/multiline": "max-bytes=4096,max-lines=100",
              "draft/metadata-2": "max-subs=50,max-keys=20,max-key-bytes=64,max-value-bytes=300"}
    offered = [f"{name}={values[name]}" if name in values else name
               for name in CAPABILITIES + ("draft/account-registration",)]
    *more, last = numerics(peer)  # as many lines as the list needs, each but the last "*"
    assert all(params[:3] == ("*", "LS", "*") for _command, params in more)
    assert last[1][:2] == ("*", "LS")
    assert " ".join(params[-1] for _command, params in more + [last]) == " ".join(offered)
    assert all(len(f":tcpchat CAP * LS * :{params[-1]}\r\n") <= 512
               for _command, params in more + [last])
    peer.send("CAP REQ :multi-prefix")
    assert numerics(peer) == [("CAP", ("a", "ACK", "multi-prefix"))]
    peer.send("CAP LIST")  # cap-notify comes with CAP LS 302, as the specification says
    assert numerics(peer) == [("CAP", ("a", "LIST", "cap-notify multi-prefix"))]
    peer.send("CAP END")
    assert peer.commands()[0] == "001"


def test_cap_req_for_unknown_capability_is_naked_whole(chat):
    peer = chat.connect()
    peer.send("CAP REQ :multi-prefix frobnicate")
    assert numerics(peer) == [("CAP", ("*", "NAK", "multi-prefix frobnicate"))]
    peer.send("CAP LIST")
    assert numerics(peer) == [("CAP", ("*", "LIST", ""))]


def test_cap_unknown_subcommand_gets_410_and_missing_one_461(chat):
    peer = chat.connect()
    peer.send("CAP FROB", "CAP")
    assert numerics(peer) == [("410", ("*", "FROB", "Invalid CAP command")),
                              ("461", ("*", "CAP", "Not enough parameters"))]


def test_cap_after_registration_does_not_block_anything(chat):
    peer = chat.irc("a")
    peer.send("CAP LS", "PRIVMSG #lobby :still fine")
    assert peer.commands() == ["CAP"]
    assert peer.client.registered


def test_user_needs_four_parameters(chat):
    peer = chat.connect()
    peer.send("USER a 0 *")
    assert numerics(peer) == [("461", ("*", "USER", "Not enough parameters"))]


def test_reregistration_gets_462(chat):
    peer = chat.irc("a")
    peer.send("USER a 0 * :A", "PASS secret")
    assert [c for c, _ in numerics(peer)] == ["462", "462"]


def test_password_right_and_wrong():
    chat = Harness(password="sesame")
    good = chat.connect()
    good.send("PASS sesame", "NICK good", "USER g 0 * :G")
    assert good.commands()[0] == "001"
    bad = chat.connect()
    bad.send("PASS wrong", "NICK bad", "USER b 0 * :B")
    assert numerics(bad) == [("464", ("bad", "Password incorrect")),
                             ("ERROR", ("Closing link: Bad password",))]
    assert bad.conn.closing
    missing = chat.connect()
    missing.send("NICK none", "USER n 0 * :N")
    assert missing.commands() == ["464", "ERROR"]
    assert good.lines() == []  # nobody else saw anything


# -- Nicknames ------------------------------------------------------------------------------

def test_nick_errors(chat):
    chat.irc("alice")
    peer = chat.connect()
    peer.send("NICK a,b", "NICK", "NICK ALICE", "NICK Alice")
    assert [(c, p[1:]) for c, p in numerics(peer)] == [
        ("432", ("a,b", "Erroneous nickname: it holds ','")),
        ("431", ("No nickname given",)),
        ("433", ("ALICE", "Nickname is already in use")),
        ("433", ("Alice", "Nickname is already in use")),
    ]


@pytest.mark.parametrize("nick", ["a b", "bad\x01", "#chan", "a!b", "a@b", "a.b", "9lives",
                                  "x" * 31, "a*", ":colon"])
def test_invalid_nicks_get_432(chat, nick):
    peer = chat.connect()
    peer.send(f"NICK :{nick}")
    assert peer.commands() == ["432"]


def test_cyrillic_nick_is_unique_in_any_case(chat):
    chat.irc("Алиса")
    peer = chat.connect()
    peer.send("NICK АЛИСА")
    assert peer.commands() == ["433"]


def test_nick_claimed_while_registering_is_taken(chat):
    first = chat.connect()
    first.send("NICK early")
    second = chat.connect()
    second.send("NICK EARLY")
    assert second.commands() == ["433"]


def test_nick_change_is_seen_by_channel_mates_once(chat):
    alice = chat.irc("alice")
    bob = chat.irc("bob")
    alice.send("JOIN #second")
    bob.send("JOIN #second")
    alice.lines(), bob.lines()
    alice.send("NICK al")
    assert numerics(alice) == [("NICK", ("al",))]
    bob_sees = bob.messages()
    assert [(m.command, m.source, m.params) for m in bob_sees] == [
        ("NICK", "alice!alice@127.0.0.1", ("al",))]
    bob.send("PRIVMSG al :hi")
    assert alice.messages()[0].params == ("al", "hi")


def test_case_only_nick_change_is_allowed(chat):
    peer = chat.irc("alice")
    peer.send("NICK Alice")
    assert numerics(peer) == [("NICK", ("Alice",))]


# -- Channels -------------------------------------------------------------------------------

def test_join_comma_list_first_member_is_operator(chat):
    alice = chat.irc("alice")
    alice.send("JOIN #a,#b")
    got = alice.messages()
    assert [(m.command, m.params[-1]) for m in got] == [
        ("JOIN", "#a"), ("353", "@alice"), ("366", "End of /NAMES list"),
        ("JOIN", "#b"), ("353", "@alice"), ("366", "End of /NAMES list")]
    bob = chat.irc("bob")
    bob.send("JOIN #a")
    assert [m.params[-1] for m in bob.messages() if m.command == "353"] == ["@alice bob"]
    assert alice.messages()[0].command == "JOIN"


def test_join_sends_topic_when_set(chat):
    alice = chat.irc("alice")
    alice.send("JOIN #t", "TOPIC #t :the topic")
    alice.lines()
    bob = chat.irc("bob")
    bob.send("JOIN #t")
    got = numerics(bob)
    assert got[1] == ("332", ("bob", "#t", "the topic"))
    assert got[2] == ("333", ("bob", "#t", "alice", "1700000000"))


def test_join_bad_names_get_403(chat):
    peer = chat.irc("a")
    peer.send("JOIN nohash", "JOIN #", "JOIN #" + "x" * 60, "JOIN :#a b")
    assert [c for c, _ in numerics(peer)] == ["403", "403", "403", "403"]


def test_join_twice_is_quiet_and_channel_limit_holds(chat):
    peer = chat.irc("a")
    peer.send("JOIN #lobby")
    assert peer.lines() == []
    peer.send("JOIN " + ",".join(f"#c{i}" for i in range(25)))
    assert peer.commands().count("405") == 6  # lobby + 19 more = 20


def test_part(chat):
    alice = chat.irc("alice")
    bob = chat.irc("bob")
    alice.lines()
    bob.send("PART #lobby :see you")
    assert numerics(alice) == [("PART", ("#lobby", "see you"))]
    assert numerics(bob) == [("PART", ("#lobby", "see you"))]
    bob.send("PART #lobby", "PART #nowhere")
    assert [c for c, _ in numerics(bob)] == ["442", "403"]


def test_channel_disappears_with_its_last_member(chat):
    peer = chat.irc("a")
    peer.send("JOIN #tmp", "PART #tmp")
    assert "#tmp" not in chat.core.chat.registry.channels


def test_join_zero_parts_everything(chat):
    peer = chat.irc("a")
    peer.send("JOIN #x", "JOIN 0")
    assert [m.command for m in peer.messages()].count("PART") == 2
    assert peer.client.channels == {}


def test_names_who_list_topic(chat):
    alice = chat.irc("alice")
    chat.irc("bob")
    alice.lines()
    alice.send("TOPIC #lobby")
    assert numerics(alice) == [("331", ("alice", "#lobby", "No topic is set"))]
    alice.send("TOPIC #lobby :hello all")
    assert numerics(alice) == [("TOPIC", ("#lobby", "hello all"))]
    alice.send("NAMES #lobby,#none")
    assert numerics(alice) == [("353", ("alice", "=", "#lobby", "@alice bob")),
                               ("366", ("alice", "#lobby", "End of /NAMES list")),
                               ("366", ("alice", "#none", "End of /NAMES list"))]
    alice.send("WHO #lobby")
    assert numerics(alice) == [
        ("352", ("alice", "#lobby", "alice", "127.0.0.1", "tcpchat", "alice", "H@",
                 "0 alice Real")),
        ("352", ("alice", "#lobby", "bob", "127.0.0.1", "tcpchat", "bob", "H",
                 "0 bob Real")),
        ("315", ("alice", "#lobby", "End of WHO list"))]
    alice.send("LIST")
    assert numerics(alice) == [("321", ("alice", "Channel", "Users  Name")),
                               ("322", ("alice", "#lobby", "2", "hello all")),
                               ("323", ("alice", "End of /LIST"))]


def test_names_reply_is_split_to_fit_the_line_limit(chat):
    peers = [chat.irc(f"user{i:02d}_{'x' * 20}") for i in range(40)]
    peers[0].lines()
    peers[0].send("NAMES #lobby")
    lines = peers[0].output().split(b"\r\n")[:-1]
    assert all(len(line) + 2 <= MAX_MESSAGE for line in lines)
    names = " ".join(line.decode().split(" :", 1)[1] for line in lines if b" 353 " in line)
    assert len(names.split()) == 40


def test_topic_errors(chat):
    peer = chat.irc("a")
    peer.send("TOPIC", "TOPIC #none", "PART #lobby")
    peer.lines()
    chat.irc("b")
    peer.send("TOPIC #lobby :x")
    assert [c for c, _ in numerics(peer)] == ["442"]


def test_mode_queries(chat):
    alice = chat.irc("alice")
    alice.send("MODE #lobby", "MODE #lobby b", "MODE alice", "MODE alice +i", "MODE alice")
    assert numerics(alice) == [
        ("324", ("alice", "#lobby", "+nt")),
        ("329", ("alice", "#lobby", "1700000000")),
        ("368", ("alice", "#lobby", "End of channel ban list")),
        ("221", ("alice", "+")),
        ("MODE", ("alice", "+i")),
        ("221", ("alice", "+i"))]


def test_operator_can_give_op_and_others_cannot(chat):
    alice = chat.irc("alice")
    bob = chat.irc("bob")
    carol = chat.irc("carol")
    alice.lines(), bob.lines()
    bob.send("MODE #lobby +o carol")
    assert [c for c, _ in numerics(bob)] == ["482"]
    alice.send("MODE #lobby +o bob")
    assert numerics(carol) == [("MODE", ("#lobby", "+o", "bob"))]
    alice.send("MODE #lobby +x", "MODE #nowhere", "MODE nobody", "MODE bob")
    assert [c for c, _ in numerics(alice)][-4:] == ["472", "403", "401", "502"]


# -- Talking --------------------------------------------------------------------------------

def test_channel_message_reaches_everyone_but_the_sender(chat):
    alice, bob, carol = chat.irc("alice"), chat.irc("bob"), chat.irc("carol")
    for peer in (alice, bob, carol):
        peer.lines()
    alice.send("PRIVMSG #lobby :hello, world")
    expected = [("PRIVMSG", "alice!alice@127.0.0.1", ("#lobby", "hello, world"))]
    assert [(m.command, m.source, m.params) for m in bob.messages()] == expected
    assert [(m.command, m.source, m.params) for m in carol.messages()] == expected
    assert alice.lines() == []


def test_private_message_and_notice(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.send("PRIVMSG ALICE :psst", "NOTICE alice :note")
    assert numerics(alice) == [("PRIVMSG", ("alice", "psst")), ("NOTICE", ("alice", "note"))]


def test_message_errors_and_notice_silence(chat):
    alice = chat.irc("alice")
    alice.send("PART #lobby")
    alice.lines()
    chat.irc("bob")
    alice.send("PRIVMSG", "PRIVMSG bob", "PRIVMSG bob :", "PRIVMSG nobody :hi",
               "PRIVMSG #nowhere :hi", "PRIVMSG #lobby :hi", "PRIVMSG a,b,c,d,e :hi")
    assert [c for c, _ in numerics(alice)] == ["411", "412", "412", "401", "401", "404", "407"]
    alice.send("NOTICE", "NOTICE bob", "NOTICE nobody :hi", "NOTICE #nowhere :hi",
               "NOTICE #lobby :hi")
    assert alice.lines() == []


def test_message_to_several_targets(chat):
    alice, bob, carol = chat.irc("alice"), chat.irc("bob"), chat.irc("carol")
    alice.send("PART #lobby")
    for peer in (alice, bob, carol):
        peer.lines()
    alice.send("PRIVMSG bob,carol :both")
    assert bob.messages()[0].params == ("bob", "both")
    assert carol.messages()[0].params == ("carol", "both")


def test_away(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send("AWAY :lunch")
    assert numerics(alice) == [("306", ("alice", "You have been marked as being away"))]
    bob.send("PRIVMSG alice :there?", "NOTICE alice :fyi")
    assert numerics(bob) == [("301", ("bob", "alice", "lunch"))]
    bob.send("USERHOST alice bob nobody")
    assert numerics(bob) == [("302", ("bob", "alice=-alice@127.0.0.1 bob=+bob@127.0.0.1"))]
    alice.lines()
    alice.send("AWAY")
    assert numerics(alice) == [("305", ("alice", "You are no longer marked as being away"))]


def test_whois(chat):
    alice = chat.irc("alice")
    chat.irc("bob")
    alice.lines()
    chat.clock.advance(42)
    alice.send("WHOIS BOB")
    assert numerics(alice) == [
        ("311", ("alice", "bob", "bob", "127.0.0.1", "*", "bob Real")),
        ("319", ("alice", "bob", "#lobby")),
        ("312", ("alice", "bob", "tcpchat", "tcpchat-0.1.0, a small chat server")),
        ("317", ("alice", "bob", "42", "1700000000", "seconds idle, signon time")),
        ("318", ("alice", "bob", "End of /WHOIS list"))]
    alice.send("WHOIS nobody", "WHOIS")
    assert [c for c, _ in numerics(alice)] == ["401", "318", "431"]


def test_whois_idle_counts_from_the_last_message_and_never_below_zero(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    chat.clock.advance(42)
    bob.send("PRIVMSG #lobby :back")
    chat.clock.advance(5)
    alice.lines()

    def idle():
        alice.send("WHOIS bob")
        return [params[2] for command, params in numerics(alice) if command == "317"]

    assert idle() == ["5"]
    chat.clock.advance(-60)  # the wall clock set back, past the message
    assert idle() == ["0"]


def test_ison(chat):
    alice = chat.irc("alice")
    chat.irc("Bob")
    alice.lines()
    alice.send("ISON bob carol ALICE")
    assert numerics(alice) == [("303", ("alice", "Bob alice"))]


def test_ping_pong(chat):
    peer = chat.irc("a")
    peer.send("PING tcpchat", "PONG tcpchat")
    assert numerics(peer) == [("PONG", ("tcpchat", "tcpchat"))]


def test_unknown_command_and_missing_parameters(chat):
    peer = chat.irc("a")
    peer.send("FROBNICATE x", "JOIN", "KICK #lobby", "KNOCK #lobby")
    assert numerics(peer) == [("421", ("a", "FROBNICATE", "Unknown command")),
                              ("461", ("a", "JOIN", "Not enough parameters")),
                              ("461", ("a", "KICK", "Not enough parameters")),
                              ("421", ("a", "KNOCK", "Unknown command"))]


def test_quit_sends_error_and_others_see_the_quit(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.send("QUIT :bye now")
    assert numerics(bob) == [("ERROR", ("Closing link: Quit: bye now",))]
    assert bob.conn.closing
    assert numerics(alice) == [("QUIT", ("Quit: bye now",))]
    assert chat.core.chat.registry.find_user("bob") is None
    bob.send("PRIVMSG #lobby :ghost")  # input after QUIT is ignored
    assert alice.lines() == []


def test_a_message_too_long_once_relayed_is_refused_with_417_never_split(chat):
    """What one recipient gets for one message is one line: a PRIVMSG that would not fit once
    the sender's nick!user@host is put before it is refused, and its sender told how much
    fits; one that fits exactly goes out as one line of 512 bytes."""
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    room = MAX_MESSAGE - len(":bob!bob@127.0.0.1 PRIVMSG #lobby :\r\n")
    for target in ("#lobby", "alice"):
        bob.send(f"PRIVMSG {target} :" + "Ж" * (room // 2 + 2))
        assert alice.lines() == []
        (refusal,) = bob.messages()
        assert refusal.command == "417"
        assert refusal.params[-1].startswith(f"Input line was too long: with your "
                                             f"nick!user@host before it, a message to {target}")
    bob.send("PRIVMSG #lobby :" + "x" * room)
    (line,) = alice.output().split(b"\r\n")[:-1]
    assert len(line) + 2 == MAX_MESSAGE and bob.lines() == []


def test_a_notice_too_long_is_cut_to_one_line_and_never_answered(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    bob.send("NOTICE #lobby :" + "Ж" * 240)
    (line,) = alice.output().split(b"\r\n")[:-1]
    assert len(line) + 2 <= MAX_MESSAGE and line.decode().endswith("Ж")
    assert bob.lines() == []


def test_a_plain_users_long_line_goes_out_whole_in_lines_that_fit(chat):
    """The server is a plain user's client: it splits a long line before relaying it, so
    every word goes out, and each recipient gets lines of at most 512 bytes."""
    alice, bob = chat.irc("alice"), chat.plain("bob")
    watcher = chat.plain("watcher")
    alice.lines(), bob.lines()
    # Each line typed is under the 512 bytes a line may take, but not once relayed.
    for typed, wrap in ((f"{'слово ' * 44}end", ("", "")),
                        (f"/me {'пишет ' * 44}end", ("\x01ACTION ", "\x01")),
                        (f"/msg alice {'тихо ' * 54}end", ("", ""))):
        bob.send(typed)
        text = typed.removeprefix("/msg alice ").removeprefix("/me ")
        lines = alice.output().split(b"\r\n")[:-1]
        assert len(lines) >= 2 and all(len(line) + 2 <= MAX_MESSAGE for line in lines)
        pieces = [parse(line.decode()).params[1] for line in lines]
        assert all(p.startswith(wrap[0]) and p.endswith(wrap[1]) for p in pieces)
        assert "".join(p.removeprefix(wrap[0]).removesuffix(wrap[1]) for p in pieces) == text
        assert "417" not in " ".join(bob.lines())
    assert len(watcher.lines()) == 4  # the room's pieces: two lines, two actions


@pytest.mark.parametrize("address, host", [("127.0.0.1", "127.0.0.1"), ("::1", "0::1"),
                                           ("::ffff:192.0.2.7", "192.0.2.7"),
                                           ("2001:db8::5", "2001:db8::5")])
def test_user_host_is_the_peer_address_made_safe_for_masks(chat, address, host):
    peer = chat.connect(address)
    peer.send("NICK x", "USER x 0 * :X")
    assert peer.client.mask == f"x!x@{host}"


def test_user_with_an_empty_real_name_is_refused_with_461_and_may_be_sent_again():
    chat = Harness()
    peer = chat.connect()
    peer.send("NICK ann", "USER ann 0 * :")
    assert peer.lines() == [":tcpchat 461 ann USER :Not enough parameters: the real name is empty"]
    assert not peer.client.registered
    peer.send("USER ann 0 * :Ann")
    assert peer.client.registered and peer.client.realname == "Ann"


def test_who_with_long_four_byte_nicks_and_channel_answers_within_512_bytes():
    """It once raised UnicodeDecodeError and cost the asker its connection: the middle
    parameters of a 352 alone passed 512 bytes."""
    chat = Harness()
    letter = "\U0001d504"  # four bytes in UTF-8
    channel = "#" + letter * 49
    asker, other = chat.irc(letter * 30), chat.irc(letter * 29 + "b")
    for peer in (asker, other):
        peer.send(f"JOIN {channel}")
    asker.output()
    asker.send(f"WHO {channel}", f"NAMES {channel},{channel}", "X" * 508)
    data = asker.output()
    assert not asker.conn.closing
    lines = data.split(b"\r\n")[:-1]
    assert [line.split(b" ")[1] for line in lines].count(b"352") == 2
    assert all(len(line) + 2 <= 512 for line in lines)
    assert all(line.decode("utf-8") for line in lines)
    assert b" 421 " in data
    assert b" 366 " in data


def test_a_numeric_echoing_a_long_command_cuts_the_echo_and_keeps_its_text():
    chat = Harness()
    peer = chat.irc("ann")
    peer.send("X" * 508)
    [line] = peer.lines()
    assert line == f":tcpchat 421 ann {'X' * 200} :Unknown command"


# -- WHO masks and WHOX ---------------------------------------------------------------------

def who_rows(peer):
    return [(m.command, m.params[1:]) for m in peer.messages()]


def test_who_takes_a_nick_a_mask_a_channel_or_everyone(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    chat.irc("alina")
    bob.send("AWAY :lunch")
    alice.lines()
    alice.send("WHO ali*", "WHO BOB", "WHO *", "WHO nobody*", "WHO b?b!*@127.*")
    rows = who_rows(alice)
    nicks = [params[4] for command, params in rows if command == "352"]
    assert nicks == ["alice", "alina", "bob", "alice", "bob", "alina", "bob"]
    assert [params[0] for command, params in rows if command == "315"] == [
        "ali*", "BOB", "*", "nobody*", "b?b!*@127.*"]
    assert rows[0][1][5] == "H"
    assert rows[3] == ("352", ("*", "bob", "127.0.0.1", "tcpchat", "bob", "G", "0 bob Real"))


def test_who_hides_invisible_users_from_those_who_share_no_channel(chat):
    alice, shy = chat.irc("alice"), chat.irc("shy")
    shy.send("MODE shy +i", "PART #lobby")
    alice.lines()
    alice.send("WHO s*", "WHO shy")  # a mask skips it; its exact nick still finds it
    assert [c for c, _ in who_rows(alice)] == ["315", "352", "315"]


def test_whox_gives_the_fields_asked_for_in_its_order_with_the_token(chat):
    alice, _ = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send("WHO #lobby %tnfcuhrsa,42", "WHO bob %n", "WHO #lobby %tn,toolong")
    assert who_rows(alice) == [
        ("354", ("42", "#lobby", "alice", "127.0.0.1", "tcpchat", "alice", "H@", "0",
                 "alice Real")),
        ("354", ("42", "#lobby", "bob", "127.0.0.1", "tcpchat", "bob", "H", "0", "bob Real")),
        ("315", ("#lobby", "End of WHO list")),
        ("354", ("bob",)),
        ("315", ("bob", "End of WHO list")),
        ("354", ("too", "alice")), ("354", ("too", "bob")),
        ("315", ("#lobby", "End of WHO list"))]


def test_whox_is_announced(chat):
    peer = chat.connect()
    peer.send("NICK a", "USER a 0 * :A")
    assert "WHOX" in [p for m in peer.messages() if m.command == "005" for p in m.params]


# -- HELP ---------------------------------------------------------------------------------------

def test_help_gives_irc_users_what_plain_users_read_in_the_modern_numerics():
    chat = Harness()
    alice, bob = chat.irc("alice"), chat.plain("bob")
    alice.lines()
    alice.send("HELP")
    replies = numerics(alice)
    assert replies[0] == ("704", ("alice", "*", "The commands of this chat"))
    assert replies[1] == ("705", ("alice", "*", ""))  # a title, then a blank line
    assert replies[-1] == ("706", ("alice", "*", "End of /HELP"))
    bob.send("/help")
    assert [params[2] for _, params in replies[2:-1]] == [
        line.removeprefix("*** ").removeprefix("***") for line in bob.lines()]


@pytest.mark.parametrize("asked, shown, first", [
    ("msg", "msg", "  /msg NAME text   a private message to NAME"),
    ("/OP", "/OP", "  /op NAME, /deop NAME    make NAME an operator, or no longer"),
])
def test_help_on_one_command_gives_its_lines_and_helpop_is_the_same(asked, shown, first):
    chat = Harness()
    alice = chat.irc("alice")
    alice.lines()
    for command in ("HELP", "HELPOP"):
        alice.send(f"{command} {asked}")
        replies = numerics(alice)
        assert [code for code, _ in replies] == ["704", "705", "705", "706"]
        assert replies[2] == ("705", ("alice", shown, first))


@pytest.mark.parametrize("line, subject", [
    ("HELP nosuch", "nosuch"), ("HELP :two words", "*"), ("HELP " + "x" * 300, "*"),
    ("HELP ((", "(("), ("HELP .*", ".*")])
def test_help_on_what_there_is_none_is_524_and_the_chat_goes_on(line, subject):
    chat = Harness()
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send(line)
    assert numerics(alice) == [("524", ("alice", subject, "No help available on this topic"))]
    alice.send("PRIVMSG #lobby :still here")
    assert bob.lines()[-1].endswith("PRIVMSG #lobby :still here")


def test_help_reads_in_the_users_language():
    chat = Harness()
    dasha = chat.irc("dasha")
    dasha.send("LANGUAGE ru")
    dasha.lines()
    dasha.send("HELP msg")
    replies = numerics(dasha)
    assert replies[0][1][2] == "/msg" and replies[-1][1][2] == "Конец /HELP"
    assert "личное сообщение" in replies[2][1][2]


# -- LIST with ELIST's conditions ----------------------------------------------------------------

def listed(peer, line):
    peer.send(line)
    return sorted(params[1] for command, params in numerics(peer) if command == "322")


@pytest.fixture
def rooms():
    """#big (3 members, made first), #chat (2, with a topic set 10 minutes after), #one (1,
    made last, 20 minutes after #big), and #hidden (secret); all of them in #lobby too."""
    chat = Harness()
    ann, bob, cy = chat.irc("ann"), chat.irc("bob"), chat.irc("cy")
    for peer in (ann, bob, cy):
        peer.send("JOIN #big")
    chat.clock.advance(600)
    ann.send("JOIN #chat", "TOPIC #chat :news")
    bob.send("JOIN #chat")
    chat.clock.advance(600)
    cy.send("JOIN #one", "JOIN #hidden", "MODE #hidden +s")
    chat.clock.advance(60)
    ann.lines()
    return chat, ann


@pytest.mark.parametrize("line, expected", [
    ("LIST", ["#big", "#chat", "#lobby", "#one"]),
    ("LIST >2", ["#big", "#lobby"]),
    ("LIST <2", ["#one"]),
    ("LIST >1,<3", ["#chat"]),
    ("LIST *h*", ["#chat"]),
    ("LIST !*h*", ["#big", "#lobby", "#one"]),
    ("LIST *b*,*o*,!#lobby", ["#big", "#one"]),
    ("LIST C<5", ["#one"]),
    ("LIST C>15", ["#big", "#lobby"]),
    ("LIST T<15", ["#chat"]),
    ("LIST T>15", []),
    ("LIST #big,#one", ["#big", "#one"]),
    ("LIST #hidden", []),
    ("LIST *hid*", []),  # a secret room stays hidden from those outside it, however asked
])
def test_list_takes_elists_conditions(rooms, line, expected):
    chat, ann = rooms
    assert listed(ann, line) == expected


@pytest.mark.parametrize("item", [">", "<x", "C>", "T<-5", "lobby", ">99999999999",
                                  "two words", ":colon"])
def test_a_list_condition_that_is_none_is_said_and_the_chat_goes_on(rooms, item):
    """The item is said back as a parameter of its own where it can be one."""
    chat, ann = rooms
    ann.send(f"LIST :>1,{item}")
    context = () if " " in item or item.startswith(":") else (item,)
    assert numerics(ann) == [("FAIL", ("LIST", "INVALID_PARAMS", *context,
                                       f"{item} is no channel, mask or condition of LIST"))]
    assert listed(ann, "LIST <2") == ["#one"]


def test_empty_items_of_a_list_are_no_items(rooms):
    chat, ann = rooms
    assert listed(ann, "LIST #big,,#one,") == ["#big", "#one"]


def test_the_server_says_which_list_conditions_it_takes():
    chat = Harness()
    alice = chat.connect()
    alice.send("NICK alice", "USER alice 0 * :Alice")
    assert "ELIST=CMNTU" in " ".join(" ".join(params) for command, params in numerics(alice)
                                     if command == "005").split()
