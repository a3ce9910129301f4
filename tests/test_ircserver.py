"""The commands about the server and its operators, through the sans-IO core."""

import subprocess
import sys

import pytest

from helpers import CHEAP, HeldOffload, Harness, numerics, with_caps
from tcpchat.chat import config as chat_config
from tcpchat.commands.opers import check_password, hash_password, parse_oper_file

#: A cheap cost, so that tests check passwords fast; the hash carries its cost.


@pytest.fixture
def chat():
    return Harness(opers={"root": hash_password("hunter2", cost=CHEAP)})


# -- About the server -----------------------------------------------------------------------

def test_lusers_counts_users_invisible_operators_unknown_and_channels(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    bob.send("MODE bob +i", "JOIN #other")
    chat.connect()  # one not registered yet
    alice.lines()
    alice.send("LUSERS")
    assert numerics(alice) == [
        ("251", ("alice", "There are 1 users and 1 invisible on 1 server")),
        ("252", ("alice", "0", "operators online")),
        ("253", ("alice", "1", "unknown connection")),
        ("254", ("alice", "2", "channels formed")),
        ("255", ("alice", "I have 2 clients and 0 servers")),
        ("265", ("alice", "2", "2", "Current local users 2, max 2")),
        ("266", ("alice", "2", "2", "Current global users 2, max 2"))]
    bob.send("QUIT")
    alice.lines()
    alice.send("LUSERS")
    assert numerics(alice)[0][1][1] == "There are 1 users and 0 invisible on 1 server"


def test_lusers_is_in_the_welcome_burst(chat):
    peer = chat.connect()
    peer.send("NICK a", "USER a 0 * :A")
    commands = peer.commands()
    assert commands.index("005") < commands.index("251") < commands.index("266") < \
        commands.index("422")


def test_time_version_info_and_admin(chat):
    alice = chat.irc("alice")
    alice.send("TIME", "VERSION", "INFO", "ADMIN")
    replies = numerics(alice)
    assert replies[0] == ("391", ("alice", "tcpchat", "1700000000",
                                  "Tuesday November 14 2023 -- 22:13:20 UTC"))
    assert replies[1] == ("351", ("alice", "tcpchat-0.1.0", "tcpchat", "a small chat server"))
    assert replies[2][0] == "005"
    commands = [c for c, _ in replies]
    assert commands.count("371") >= 1 and "374" in commands
    assert commands[-4:] == ["256", "257", "258", "259"]
    assert replies[-1][1][-1] == "No contact address given"
    with_address = Harness(admin_email="ops@example.org").irc("bob")
    with_address.send("ADMIN")
    assert numerics(with_address)[-1] == ("259", ("bob", "ops@example.org"))


# -- WHOWAS ---------------------------------------------------------------------------------

def test_whowas_remembers_who_left_or_changed_nick_newest_first(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    bob.send("NICK robert", "QUIT :bye")
    alice.lines()
    alice.send("WHOWAS bob", "WHOWAS ROBERT", "WHOWAS carol", "WHOWAS")
    assert numerics(alice) == [
        ("314", ("alice", "bob", "bob", "127.0.0.1", "*", "bob Real")),
        ("312", ("alice", "bob", "tcpchat", "2023-11-14 22:13:20 UTC")),
        ("369", ("alice", "bob", "End of WHOWAS")),
        ("314", ("alice", "robert", "bob", "127.0.0.1", "*", "bob Real")),
        ("312", ("alice", "robert", "tcpchat", "2023-11-14 22:13:20 UTC")),
        ("369", ("alice", "ROBERT", "End of WHOWAS")),
        ("406", ("alice", "carol", "There was no such nickname")),
        ("369", ("alice", "carol", "End of WHOWAS")),
        ("461", ("alice", "WHOWAS", "Not enough parameters"))]


def test_whowas_history_is_bounded_and_count_limits_replies():
    chat = Harness(whowas_length=3, flood=None)
    alice, bob = chat.irc("alice"), chat.irc("bob")
    bob.send("NICK b1", "NICK bob", "NICK b2", "NICK bob", "NICK b3")
    assert len(chat.core.chat.registry.whowas) == 3
    alice.lines()
    alice.send("WHOWAS bob 1", "WHOWAS b1")
    assert [c for c, _ in numerics(alice)] == ["314", "312", "369", "406", "369"]


# -- MONITOR --------------------------------------------------------------------------------

def test_monitor_tells_when_watched_nicks_come_and_go(chat):
    watcher, bob = chat.irc("watcher"), chat.irc("bob")
    watcher.lines()
    watcher.send("MONITOR + bob,carol")
    assert numerics(watcher) == [("730", ("watcher", "bob!bob@127.0.0.1")),
                                 ("731", ("watcher", "carol"))]
    carol = chat.irc("carol")
    assert ("730", ("watcher", "carol!carol@127.0.0.1")) in numerics(watcher)
    carol.send("NICK caro")
    bob.send("QUIT")
    assert [(c, p[1]) for c, p in numerics(watcher) if c in ("730", "731")] == [
        ("731", "carol"), ("731", "bob")]
    watcher.send("MONITOR L", "MONITOR - bob", "MONITOR S", "MONITOR C", "MONITOR L",
                 "MONITOR X")
    assert numerics(watcher) == [
        ("732", ("watcher", "bob,carol")), ("733", ("watcher", "End of MONITOR list")),
        ("731", ("watcher", "carol")),
        ("733", ("watcher", "End of MONITOR list")),
        ("421", ("watcher", "MONITOR", "Unknown MONITOR action 'X'"))]
    assert chat.core.chat.registry.monitors == {}


def test_a_monitor_list_is_bounded_and_a_leaving_watcher_is_forgotten(chat):
    watcher = chat.irc("watcher")
    nicks = [f"n{i}" for i in range(chat_config.MONITOR_LIMIT + 3)]
    watcher.send("MONITOR + " + ",".join(nicks[:60]), "MONITOR + " + ",".join(nicks[60:]))
    replies = numerics(watcher)
    assert replies[-1][0] == "731" and ("734", ("watcher", "100", "n100,n101,n102",
                                                "Monitor list is full.")) in replies
    assert len(watcher.client.monitoring) == chat_config.MONITOR_LIMIT
    watcher.send("QUIT")
    assert chat.core.chat.registry.monitors == {}


# -- Operators ------------------------------------------------------------------------------

def test_oper_with_the_right_password_makes_an_operator(chat):
    alice = chat.irc("alice")
    alice.send("OPER root wrong", "OPER nobody hunter2", "OPER root hunter2", "MODE alice")
    assert numerics(alice) == [("464", ("alice", "Password incorrect")),
                               ("464", ("alice", "Password incorrect")),
                               ("MODE", ("alice", "+o")),
                               ("381", ("alice", "You are now an IRC operator")),
                               ("221", ("alice", "+o"))]
    alice.send("MODE alice -o+o", "LUSERS")
    replies = numerics(alice)
    assert replies[0] == ("MODE", ("alice", "-o")) and replies[2][1][1] == "0"


def test_oper_on_a_server_without_operators_gets_491():
    alice = Harness().irc("alice")
    alice.send("OPER root hunter2")
    assert numerics(alice) == [("491", ("alice", "No operators on this server"))]


def test_oper_checks_are_bounded_for_the_whole_server(chat):
    peers = [chat.irc(f"u{i}") for i in range(3)]
    for peer in peers[:2]:
        peer.send("OPER root a", "OPER root b")
    peers[2].send("OPER root hunter2")
    assert numerics(peers[2]) == [("FAIL", ("OPER", "TRY_AGAIN", "Too many OPER attempts on "
                                            "this server just now; try again soon"))]
    chat.clock.advance(chat_config.OPER_WINDOW)
    peers[2].send("OPER root hunter2")
    assert peers[2].commands()[-1] == "381"


def test_oper_is_checked_off_the_loop_and_the_next_lines_wait_for_the_answer():
    offload = HeldOffload()
    chat = Harness(offload=offload, opers={"root": hash_password("hunter2", cost=CHEAP)})
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send("OPER root hunter2", "MODE alice")
    assert numerics(alice) == [] and len(offload.waiting) == 1
    bob.send("PRIVMSG #lobby :meanwhile")  # the chat goes on while the check runs
    assert numerics(alice) == [("PRIVMSG", ("#lobby", "meanwhile"))]
    offload.run(chat)
    assert numerics(alice) == [("MODE", ("alice", "+o")),
                               ("381", ("alice", "You are now an IRC operator")),
                               ("221", ("alice", "+o"))]


def test_a_user_who_leaves_while_its_oper_check_runs_is_not_answered():
    offload = HeldOffload()
    chat = Harness(offload=offload, opers={"root": hash_password("hunter2", cost=CHEAP)})
    alice = chat.irc("alice")
    alice.send("OPER root hunter2")
    alice.conn.connection_lost("gone")
    offload.run(chat)
    assert not alice.client.oper and chat.core.chat.registry.find_user("alice") is None


def test_oper_when_too_many_checks_wait_is_told_to_try_again():
    offload = HeldOffload(bound=1)
    chat = Harness(offload=offload, opers={"root": hash_password("hunter2", cost=CHEAP)})
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.send("OPER root hunter2")
    bob.lines()
    bob.send("OPER root hunter2", "PING :after")
    assert numerics(bob) == [
        ("FAIL", ("OPER", "TRY_AGAIN", "The server is busy checking passwords; try again soon")),
        ("PONG", ("tcpchat", "after"))]


def test_kill_and_wallops_need_an_operator(chat):
    alice, bob, carol = chat.irc("alice"), chat.irc("bob"), chat.irc("carol")
    bob.lines()
    bob.send("KILL alice :no", "WALLOPS :hi")
    assert bob.commands() == ["481", "481"]
    carol.send("MODE carol +w")
    alice.send("OPER root hunter2")
    alice.lines(), carol.lines()
    alice.send("WALLOPS :maintenance at noon", "KILL nobody", "KILL bob :spamming")
    assert carol.lines() == [":alice!alice@127.0.0.1 WALLOPS :maintenance at noon",
                             ":bob!bob@127.0.0.1 QUIT :Killed (alice (spamming))"]
    assert bob.lines() == [":alice!alice@127.0.0.1 KILL bob :spamming",
                           "ERROR :Closing link: Killed (alice (spamming))"]
    assert [c for c in alice.commands()] == ["WALLOPS", "401", "QUIT"]


def test_an_operator_moderates_any_channel(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.send("JOIN #private", "MODE #private +is")
    bob.send("OPER root hunter2")
    bob.lines()
    bob.send("LIST", "MODE #private +m", "JOIN #private", "KICK #private alice :override")
    replies = numerics(bob)
    assert ("322", ("bob", "#private", "1", "")) in replies
    assert [c for c, _ in replies if c in ("MODE", "JOIN", "KICK")] == ["MODE", "JOIN", "KICK"]
    who = chat.core.chat.registry.channels["#private"]
    assert set(who.members) == {bob.client} and "m" in who.modes


# -- Passwords ------------------------------------------------------------------------------

def test_password_hashes_check_and_carry_their_cost():
    encoded = hash_password("correct horse", cost=CHEAP)
    assert encoded.startswith("scrypt$16$1$1$")
    assert check_password("correct horse", encoded)
    assert not check_password("correct horse ", encoded)
    assert hash_password("correct horse", cost=CHEAP) != encoded  # a new salt each time
    for broken in ("", "scrypt$x$1$1$AA==$AA==", "md5$16$1$1$AA==$AA==",
                   encoded.replace("$16$", "$15$"), encoded[:-8]):
        assert not check_password("correct horse", broken)


def test_the_oper_file_names_the_line_that_is_wrong():
    good = hash_password("pw", cost=CHEAP)
    assert parse_oper_file(f"# operators\n\nroot {good}\n") == {"root": good}
    with pytest.raises(ValueError, match="line 2: expected 'name scrypt"):
        parse_oper_file(f"root {good}\nadmin hunter2\n")
    with pytest.raises(ValueError, match="line 3: root is given a password already"):
        parse_oper_file(f"root {good}\n\nroot {good}\n")


def test_hash_password_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", "--hash-password"],
                            input="s3cret\n", capture_output=True, text=True, timeout=30)
    encoded = result.stdout.strip()
    assert result.returncode == 0 and check_password("s3cret", encoded)
    bad = tmp_path / "opers"
    bad.write_text("root plaintext\n")
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", "--oper-file", str(bad)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--oper-file" in result.stderr and "line 1" in result.stderr


def test_hash_password_refuses_a_password_irc_clients_cannot_send():
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", "--hash-password"],
                            input="pass word\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert "A password with a space cannot be given to OPER" in result.stderr


def test_plain_users_become_operators_with_slash_oper(chat):
    dora = chat.plain("dora")
    dora.send("/oper root wrong")
    assert dora.lines() == ["! Password incorrect"]
    dora.send("/oper root")
    assert dora.lines() == ["! Usage: /oper NAME PASSWORD"]
    dora.send("/oper root hunter2")
    assert dora.lines()[-1] == "*** You are now an IRC operator"
    assert dora.client.oper


def test_whowas_answers_at_most_twenty_entries():
    chat = Harness(flood=None)
    asker, bob = chat.irc("asker"), chat.irc("bob")
    bob.send(*(f"NICK {nick}" for _ in range(25) for nick in ("b2", "bob")))
    asker.lines()
    asker.send("WHOWAS bob", "WHOWAS bob 3")
    assert [c for c, _ in numerics(asker)].count("314") == 20 + 3


def test_an_operator_outside_a_channel_sees_what_it_did_there(chat):
    alice, carol, bob = chat.irc("alice"), chat.irc("carol"), chat.irc("bob")
    bob.send("OPER root hunter2", "PART #lobby")
    bob.lines()
    bob.send("MODE #lobby +m", "KICK #lobby carol :override", "TOPIC #lobby :by an oper")
    done = [":bob!bob@127.0.0.1 MODE #lobby +m", ":bob!bob@127.0.0.1 KICK #lobby carol :override",
            ":bob!bob@127.0.0.1 TOPIC #lobby :by an oper"]
    assert bob.lines() == done
    assert alice.lines()[-3:] == done
    assert carol.client not in chat.core.chat.registry.channels["#lobby"].members


# -- STATS ----------------------------------------------------------------------------------

def test_stats_uptime_for_anyone_commands_and_connections_for_operators(chat):
    alice = chat.irc("alice")
    chat.irc("bob")
    alice.lines()
    chat.clock.advance(90061)  # a day, an hour, a minute and a second
    alice.send("STATS u", "STATS m", "STATS")
    assert numerics(alice) == [
        ("242", ("alice", "Server Up 1 days 1:01:01")),
        ("219", ("alice", "u", "End of STATS report")),
        ("481", ("alice", "Permission Denied- You're not an IRC operator")),
        ("219", ("alice", "m", "End of STATS report")),
        ("219", ("alice", "*", "End of STATS report"))]
    alice.send("OPER root hunter2")
    alice.lines()
    alice.send("STATS m", "STATS l")
    replies = numerics(alice)
    commands = {params[1]: int(params[2]) for command, params in replies if command == "212"}
    assert commands["STATS"] == 4 and commands["NICK"] == 2  # this one counted, not the l and commands["USER"] == 2
    links = [params[1:] for command, params in replies if command == "211"]
    assert sorted(link[0] for link in links) == ["alice[127.0.0.1]", "bob[127.0.0.1]"]
    assert {link[-1] for link in links} == {"90061"}


def test_the_counters_count_what_happened(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    stats = chat.core.chat.stats
    before = (stats.lines_in, stats.deliveries, stats.registrations)
    bob.lines()
    alice.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two")
    assert (stats.lines_in, stats.deliveries, stats.registrations) == (
        before[0] + 2, before[1] + 2, 2)  # two lines, each to one recipient (bob)
    received = stats.bytes_in
    alice.send("PING :x")
    assert stats.bytes_in == received + len(b"PING :x\r\n")
    clients = chat.core.chat.registry.clients
    sent = stats.sent_bytes(clients)
    assert len(bob.output()) > 0 and stats.sent_bytes(clients) > sent


def test_extended_monitor_tells_watchers_of_away_realname_and_account_changes(chat):
    """IRCv3 extended-monitor: a watcher that asked for it hears of a watched user what it
    would hear sharing a channel with it, each with its own capability; once, if it does."""
    caps = ("away-notify", "setname", "account-notify")
    ann = with_caps(chat, "ann", "extended-monitor", *caps)
    pat = with_caps(chat, "pat", *caps)  # watching too, without extended-monitor
    cy = with_caps(chat, "cy", "extended-monitor", *caps)  # watching, and in #lobby with bob
    bob = with_caps(chat, "bob", "setname")  # SETNAME needs it
    for watcher in (ann, pat, cy):
        watcher.send("MONITOR + bob")
    for watcher in (ann, pat):
        watcher.send("PART #lobby")
    for watcher in (ann, pat, cy):
        watcher.lines()
    bob.send("AWAY :lunch", "SETNAME :Bob B", "REGISTER * * :a long password")
    told = [":bob!bob@127.0.0.1 AWAY :lunch", ":bob!bob@127.0.0.1 SETNAME :Bob B",
            ":bob!bob@127.0.0.1 ACCOUNT bob"]
    assert ann.lines() == told
    assert cy.lines() == told  # a neighbour and a watcher: told once
    assert pat.lines() == []


@pytest.mark.parametrize("line, listed, mask", [
    ("LINKS", True, "*"), ("LINKS tcp*", True, "tcp*"), ("LINKS *.example", False, "*.example"),
    ("LINKS tcpchat *", True, "*"), ("LINKS :a b", False, "*")])
def test_links_lists_this_server_where_the_mask_matches_it(chat, line, listed, mask):
    alice = chat.irc("alice")
    alice.lines()
    alice.send(line)
    assert numerics(alice) == ([("364", ("alice", "tcpchat", "tcpchat", "0 tcpchat-0.1.0"))]
                               if listed else []) + [
        ("365", ("alice", mask, "End of /LINKS list"))]
