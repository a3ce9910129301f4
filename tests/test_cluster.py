"""Several nodes as one chat, driven by hand: cores linked through the in-memory model of the
shared state (tcpchat.cluster.memory), so each test decides when the others hear of a thing."""

import itertools

import pytest

from tcpchat.cluster.link import ClusterLink
from tcpchat.cluster.memory import MemoryBus, SharedState

from helpers import Harness, numerics


class Node:
    """One server of the cluster: a core, its link and its bus."""

    def __init__(self, shared, name, connect=True, **config):
        self.name = name
        self.harness = Harness(**{"server_name": name, **config})
        core = self.harness.core
        core.chat.new_msgid = map(f"{name}-{{}}".format, itertools.count(1)).__next__
        self.bus = MemoryBus(shared, name, name, self._post)
        self.link = ClusterLink(core.chat, name, name, self.bus)
        self.bus.link = self.link
        if connect:
            self.bus.connect()

    def _post(self, done, result):
        self.harness.core.completed(done, result)
        self.harness.end_turn()

    def irc(self, nick, **options):
        return self.harness.irc(nick, **options)

    def plain(self, name):
        return self.harness.plain(name)


class Cluster:
    def __init__(self, *names, **config):
        self.shared = SharedState()
        self.nodes = [Node(self.shared, name, **config) for name in names]
        self.settle()

    def settle(self):
        """Every node hears everything published so far."""
        self.shared.deliver()


@pytest.fixture
def cluster():
    return Cluster("alpha", "beta")


def test_a_message_reaches_a_room_on_every_node_once_with_one_msgid(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    bob = beta.irc("bob", caps=True)
    bob.send("CAP REQ :message-tags")
    cluster.settle()
    assert any(line.endswith("JOIN #lobby") and "ann!" in line for line in bob.lines())
    assert ":bob!bob@127.0.0.1 JOIN #lobby" in ann.lines()

    ann.send("PRIVMSG #lobby :hello from alpha")
    assert ann.lines() == []  # not echoed back, not sent twice
    cluster.settle()
    [line] = bob.lines()
    assert line.endswith(":ann!ann@127.0.0.1 PRIVMSG #lobby :hello from alpha")
    assert "msgid=alpha-" in line  # the id it was given where it was said
    cluster.settle()
    assert bob.lines() == [] and ann.lines() == []


def test_a_reads_lines_said_as_one_run_cross_as_messages_each_with_its_msgid(cluster):
    """A read of lines to one room is one TalkRun on its node (ChatCore._usual_run); the link
    takes Talks, and sends each of them."""
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    bob = beta.irc("bob", caps=True)
    bob.send("CAP REQ :message-tags")
    cluster.settle()
    bob.lines(), ann.lines()
    ann.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two", "PRIVMSG #lobby :three")
    cluster.settle()
    said = bob.lines()
    assert [line.split(" :")[-1] for line in said] == ["one", "two", "three"]
    msgids = [line.split("msgid=")[1].split(";")[0].split(" ")[0] for line in said]
    assert len(set(msgids)) == 3 and all(msgid.startswith("alpha-") for msgid in msgids)


def test_names_whois_and_lusers_see_the_whole_cluster(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    cluster.settle()
    beta.irc("bob")  # #lobby is there already, beta knows: bob is no operator
    cluster.settle()
    ann.lines()
    ann.send("NAMES #lobby", "WHOIS bob", "LUSERS")
    replies = dict(numerics(ann))
    assert replies["353"][-1].split() == ["@ann", "bob"]
    assert replies["311"][1:4] == ("bob", "bob", "127.0.0.1")
    assert "2 users" in replies["251"][-1] and "2 servers" in replies["251"][-1]
    assert replies["265"][1:3] == ("1", "1")  # this node's
    assert replies["266"][1] == "2"  # the cluster's
    ann.send("WHO #lobby", "LIST")
    replies = numerics(ann)
    assert sorted(params[5] for number, params in replies if number == "352") == ["ann", "bob"]
    assert [params[1:3] for number, params in replies if number == "322"] == [("#lobby", "2")]


def test_a_nick_held_on_another_node_is_taken(cluster):
    alpha, beta = cluster.nodes
    beta.irc("bob")
    cluster.settle()
    newcomer = alpha.harness.connect()
    newcomer.send("NICK Bob", "USER x 0 * :x")
    assert numerics(newcomer)[0][0] == "433"


def test_two_nodes_registering_one_nick_at_once_give_it_to_exactly_one(cluster):
    alpha, beta = cluster.nodes
    first, second = alpha.harness.connect(), beta.harness.connect()
    first.send("NICK sam")
    second.send("NICK sam")  # neither node has heard of the other's: both free here
    first.send("USER sam 0 * :Sam")
    second.send("USER sam 0 * :Sam")
    replies = [[number for number, *_ in numerics(peer)] for peer in (first, second)]
    assert replies[0][0] == "001" and replies[1] == ["433"]
    second.send("NICK sam2")
    assert numerics(second)[0][0] == "001"


def test_a_nick_change_is_claimed_and_seen_everywhere_and_the_old_nick_freed(cluster):
    alpha, beta = cluster.nodes
    ann, bob = alpha.irc("ann"), beta.irc("bob")
    cluster.settle()
    ann.lines(), bob.lines()
    ann.send("NICK bob")
    assert numerics(ann)[0][0] == "433"
    ann.send("NICK anna")
    assert ann.lines() == [":ann!ann@127.0.0.1 NICK anna"]
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 NICK anna"]
    carl = beta.irc("ann")  # the old nick is free across the cluster
    assert carl.client.registered


def test_a_quit_is_seen_on_the_other_node_and_frees_the_nick(cluster):
    alpha, beta = cluster.nodes
    ann, bob = alpha.irc("ann"), beta.irc("bob")
    cluster.settle()
    bob.lines()
    ann.send("QUIT :bye now")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 QUIT :Quit: bye now"]
    assert beta.irc("ann").client.registered


def test_private_messages_cross_to_the_recipients_node_alone():
    cluster = Cluster("alpha", "beta", "gamma")
    alpha, beta, gamma = cluster.nodes
    ann, bob, cat = alpha.irc("ann"), beta.irc("bob"), gamma.irc("cat")
    cluster.settle()
    for peer in (ann, bob, cat):
        peer.lines()
    ann.send("PRIVMSG bob :just you")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 PRIVMSG bob :just you"]
    assert cat.lines() == []


def test_kick_topic_modes_and_bans_cross_nodes(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")  # first in #lobby: its operator
    cluster.settle()
    bob = beta.irc("bob")
    cluster.settle()
    ann.lines(), bob.lines()

    ann.send("TOPIC #lobby :the plan", "MODE #lobby +o bob")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 TOPIC #lobby :the plan",
                           ":ann!ann@127.0.0.1 MODE #lobby +o bob"]
    lobby = beta.harness.core.chat.registry.channels["#lobby"]
    assert lobby.topic == "the plan" and lobby.members[bob.client] == "@"

    bob.send("MODE #lobby -o ann")  # bob, an operator now, acts from beta
    cluster.settle()
    assert ann.lines()[-1] == ":bob!bob@127.0.0.1 MODE #lobby -o ann"
    ann.send("TOPIC #lobby :mine")
    assert numerics(ann)[0][0] == "482"  # alpha knows ann is no operator now

    bob.send("MODE #lobby +b ann!*@*", "KICK #lobby ann :out")
    cluster.settle()
    assert ann.lines()[-1] == ":bob!bob@127.0.0.1 KICK #lobby ann :out"
    assert "#lobby" not in ann.client.channels
    ann.send("JOIN #lobby")  # alpha has the ban bob set on beta
    assert numerics(ann)[0][0] == "474"
    bob.send("MODE #lobby +e ann", "MODE #lobby +I *!*@10.*")
    cluster.settle()
    ann.send("JOIN #lobby")  # and the exception
    assert "#lobby" in ann.client.channels
    lobby = alpha.harness.core.chat.registry.channels["#lobby"]
    assert [entry.mask for entry in lobby.invex] == ["*!*@10.*"]


def test_kill_of_a_user_on_another_node(cluster):
    alpha, beta = cluster.nodes
    alpha.harness.core.chat.registry.set_oper(ann := alpha.irc("ann").client, True)
    bob = beta.irc("bob")
    cluster.settle()
    bob.lines()
    ann.conn.receive_data(b"KILL bob :enough\r\n")
    cluster.settle()
    lines = bob.lines()
    assert lines[0] == ":ann!ann@127.0.0.1 KILL bob :enough"
    assert lines[-1].startswith("ERROR :")
    assert bob.client.gone


def test_a_dead_node_s_users_quit_as_a_netsplit_and_their_nicks_come_free(cluster):
    alpha, beta = cluster.nodes
    alpha.irc("ann")
    bob = beta.irc("bob")
    cluster.settle()
    bob.lines()
    cluster.shared.buses.remove(alpha.bus)  # alpha stops refreshing its key: it is reaped
    cluster.shared.reap("alpha")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 QUIT :beta alpha"]
    assert beta.irc("ann").client.registered


def test_a_split_node_keeps_its_chat_refuses_what_needs_the_others_and_tells_once(cluster):
    alpha, beta = cluster.nodes
    ann, amy = alpha.irc("ann"), alpha.irc("amy")
    bob = beta.irc("bob")
    cluster.settle()
    ann.lines(), amy.lines(), bob.lines()

    alpha.bus.disconnect()
    [told] = ann.lines()
    assert "The chat is split" in told
    ann.send("PRIVMSG #lobby :still here?")
    assert amy.lines()[-1] == ":ann!ann@127.0.0.1 PRIVMSG #lobby :still here?"
    ann.send("NICK annie", "JOIN #elsewhere")
    assert [number for number, *_ in numerics(ann)] == ["437", "437"]
    newcomer = alpha.harness.connect()
    newcomer.send("NICK carl", "USER carl 0 * :Carl")
    assert numerics(newcomer)[0][0] == "437"
    assert ann.lines() == []  # told once

    alpha.bus.connect()
    cluster.settle()
    assert "whole again" in ann.lines()[-1]
    ann.send("PRIVMSG #lobby :back")
    cluster.settle()
    assert bob.lines()[-1] == ":ann!ann@127.0.0.1 PRIVMSG #lobby :back"


def test_a_node_lost_for_long_sees_a_netsplit_and_rejoins_with_a_nick_taken_meanwhile(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    bob = beta.irc("bob")
    cluster.settle()
    ann.lines(), bob.lines()

    alpha.bus.disconnect(lost=True)
    cluster.settle()
    assert ":bob!bob@127.0.0.1 QUIT :alpha beta" in ann.lines()
    assert bob.lines() == [":ann!ann@127.0.0.1 QUIT :beta alpha"]
    impostor = beta.irc("ann")  # free once alpha was let go

    alpha.bus.connect()
    cluster.settle()
    lines = ann.lines()
    assert any("someone on another server took the nick ann" in line for line in lines)
    assert ann.client.nick.startswith("Guest")
    assert any(line.endswith(f"NICK {ann.client.nick}") for line in lines)
    cluster.settle()
    # Each side sees the other again, once, as it is now.
    names = {user.nick for user in beta.harness.core.chat.registry.channels["#lobby"].members}
    assert names == {"bob", "ann", ann.client.nick}
    assert impostor.client.nick == "ann"
    names = {user.nick for user in alpha.harness.core.chat.registry.channels["#lobby"].members}
    assert names == {"bob", "ann", ann.client.nick}


def test_a_plain_user_on_one_node_talks_with_an_irc_user_on_another(cluster):
    alpha, beta = cluster.nodes
    nc = alpha.plain("nadia")
    cluster.settle()
    bob = beta.irc("bob")
    cluster.settle()
    nc.lines(), bob.lines()
    nc.send("hi bob")
    cluster.settle()
    assert bob.lines() == [":nadia!nadia@127.0.0.1 PRIVMSG #lobby :hi bob"]
    bob.send("PRIVMSG #lobby :hi nadia")
    cluster.settle()
    assert nc.lines() == ["bob: hi nadia"]


def test_a_node_not_yet_in_the_cluster_holds_registrations_until_it_is():
    shared = SharedState()
    alpha = Node(shared, "alpha")
    ann = alpha.irc("ann")
    beta = Node(shared, "beta", connect=False)
    early = beta.harness.connect()
    early.send("NICK ann", "USER ann 0 * :Ann")
    assert early.lines() == [] and early.conn.transport.paused == 1  # waiting, not refused
    beta.bus.connect()
    shared.deliver()
    assert numerics(early)[0][0] == "433"  # beta knows alpha's ann now
    late = Node(shared, "gamma", connect=False)
    waiting = late.harness.connect()
    waiting.send("NICK zed", "USER zed 0 * :Zed")
    late.link.split()  # its first try failed: no more waiting
    assert numerics(waiting)[0][0] == "437"
    assert ann.client.registered


def test_a_record_that_does_not_fit_is_logged_and_the_rest_applied(cluster, caplog):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    cluster.settle()
    bob = beta.irc("bob")
    cluster.settle()
    bob.lines()
    uid = alpha.link.uids[ann.client]
    beta._post(beta.link.received, [
        {"t": "nonsense"}, {"t": "talk", "u": uid},
        {"t": "talk", "u": uid, "c": "PRIVMSG", "room": "#lobby", "x": "ok", "g": None,
         "w": 1.0, "i": "x-1"}])
    assert bob.lines()[-1].endswith("PRIVMSG #lobby :ok")
    assert "unknown record" in caplog.text and "does not fit" in caplog.text


def test_monitor_away_invite_wallops_and_whowas_cross_nodes(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann", caps=True)
    ann.send("CAP REQ :away-notify")
    ann.send("MONITOR + bob")
    ann.lines()
    bob = beta.irc("bob")
    cluster.settle()
    assert numerics(ann)[0][:2] == ("730", ("ann", "bob!bob@127.0.0.1"))

    bob.send("AWAY :lunch")
    cluster.settle()
    assert ann.lines()[-1].endswith(":bob!bob@127.0.0.1 AWAY :lunch")
    ann.send("PRIVMSG bob :there?")
    assert numerics(ann)[0][:2] == ("301", ("ann", "bob", "lunch"))  # from what alpha knows

    ann.send("JOIN #side", "INVITE bob #side")
    ann.lines()
    cluster.settle()
    assert bob.lines()[-1] == ":ann!ann@127.0.0.1 INVITE bob #side"

    alpha.harness.core.chat.registry.set_oper(ann.client, True)
    bob.send("MODE bob +w")
    cluster.settle()
    ann.send("WALLOPS :maintenance at noon")
    cluster.settle()
    assert bob.lines()[-1] == ":ann!ann@127.0.0.1 WALLOPS :maintenance at noon"

    bob.send("QUIT")
    cluster.settle()
    assert numerics(ann)[-1][:2] == ("731", ("ann", "bob"))
    ann.send("WHOWAS bob")
    assert numerics(ann)[0][:2] == ("314", ("ann", "bob", "bob", "127.0.0.1", "*", "bob Real"))


def test_history_on_each_node_keeps_what_was_said_on_the_others_with_its_msgid():
    from tcpchat.store.memory import ListStore
    shared = SharedState()
    alpha, beta = Node(shared, "alpha"), Node(shared, "beta", history=ListStore())
    shared.deliver()
    ann = alpha.irc("ann")
    shared.deliver()
    bob = beta.irc("bob", caps=True)
    shared.deliver()
    ann.send("PRIVMSG #lobby :kept over there")
    shared.deliver()
    bob.send("CAP REQ :draft/chathistory batch message-tags server-time")
    bob.lines()
    bob.send("CHATHISTORY LATEST #lobby * 10")
    said = [line for line in bob.lines() if "PRIVMSG" in line]
    assert len(said) == 1 and "msgid=alpha-" in said[0] and said[0].endswith(":kept over there")


# -- Every node ends with the same chat --------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

NICKS = ["ann", "bob", "cat"]
ROOMS = ["#a", "#b"]
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("join"), st.sampled_from(NICKS), st.sampled_from(ROOMS)),
    st.tuples(st.just("part"), st.sampled_from(NICKS), st.sampled_from(ROOMS)),
    st.tuples(st.just("nick"), st.sampled_from(NICKS), st.sampled_from(NICKS)),
    st.tuples(st.just("say"), st.sampled_from(NICKS), st.sampled_from(ROOMS)),
    st.tuples(st.just("quit"), st.sampled_from(NICKS)),
    st.tuples(st.just("settle")),
), min_size=10, max_size=40)
#: The node each nick comes to, in order, before the operations (with no settling between:
#: two may ask for one nick at once).
ARRIVALS = st.tuples(st.lists(st.integers(0, 2), min_size=len(NICKS), max_size=len(NICKS)),
                    st.lists(st.tuples(st.integers(0, 2), st.sampled_from(NICKS)),
                             max_size=2)).map(
    lambda drawn: list(zip(drawn[0], NICKS)) + drawn[1])  # everyone once, and a taken nick


def view(node):
    """What a node's registry holds: each user's nick and node, each room's members."""
    registry = node.harness.core.chat.registry
    users = {(user.nick, getattr(user, "node", node.name)) for user in registry.nicks.values()
             if user.registered}
    rooms = {name: sorted(member.nick for member in channel.members)
             for name, channel in registry.channels.items()}
    return users, rooms


def _act(peer, operation):
    """What *peer* sends for one of :data:`OPERATIONS`."""
    kind = operation[0]
    if kind == "join":
        peer.send(f"JOIN {operation[2]}")
    elif kind == "part":
        peer.send(f"PART {operation[2]}")
    elif kind == "nick":
        peer.send(f"NICK {operation[2]}x")
    elif kind == "say":
        peer.send(f"PRIVMSG {operation[2]} :hi")
    elif kind == "quit":
        peer.send("QUIT")


@settings(max_examples=100, deadline=None)
@given(ARRIVALS, OPERATIONS)
def test_whatever_the_interleaving_every_node_ends_with_the_same_chat(arrivals, operations):
    cluster = Cluster("n0", "n1", "n2", autojoin=False)
    peers = {}  # by the nick each registered with
    for node, nick in arrivals:
        peer = cluster.nodes[node].harness.connect()
        peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if peer.client.registered:
            peers[nick] = peer
    for operation in operations:
        kind = operation[0]
        if kind == "settle":
            cluster.settle()
            continue
        peer = peers.get(operation[1])
        if peer is not None and not peer.client.gone:
            _act(peer, operation)
    cluster.settle()
    views = [view(node) for node in cluster.nodes]
    assert views[0] == views[1] == views[2]
    nicks = [nick.lower() for nick, _node in views[0][0]]
    assert len(nicks) == len(set(nicks))  # no nick held twice, whatever raced


def test_an_account_registered_on_one_node_logs_in_on_another_and_on_a_later_one():
    import base64
    shared = SharedState()
    alpha, beta = Node(shared, "alpha"), Node(shared, "beta")
    shared.deliver()
    bob = alpha.irc("bob")
    bob.send("REGISTER * * :a long password")
    assert "SUCCESS" in bob.lines()[0]
    shared.deliver()
    gamma = Node(shared, "gamma")  # came later: the account is in what it reads at start
    shared.deliver()
    payload = base64.b64encode(b"\0bob\0a long password").decode()
    for node in (beta, gamma):
        assert node.harness.core.chat.accounts.get("bob") is not None
        peer = node.harness.connect()
        peer.send("CAP REQ :sasl", "AUTHENTICATE PLAIN", f"AUTHENTICATE {payload}")
        assert "903" in [number for number, *_ in numerics(peer)]
    alpha.harness.core.chat.accounts.remove(alpha.harness.core.chat.accounts.get("bob"))
    shared.deliver()
    assert beta.harness.core.chat.accounts.get("bob") is None


def test_a_node_started_later_has_the_history_said_before_it_and_not_what_was_redacted():
    from tcpchat.store.memory import ListStore
    shared = SharedState()
    alpha = Node(shared, "alpha", history=ListStore())
    ann = alpha.irc("ann", caps=True)
    ann.send("CAP REQ :draft/message-redaction message-tags echo-message")
    ann.send("PRIVMSG #lobby :said early", "PRIVMSG #lobby :regretted", "TOPIC #lobby :plans")
    regretted = [line for line in ann.lines() if "regretted" in line][0]
    msgid = regretted.split("msgid=")[1].split(";")[0].split(" ")[0]
    ann.send(f"REDACT #lobby {msgid}")
    shared.deliver()
    beta = Node(shared, "beta", history=ListStore())  # saw none of it
    shared.deliver()
    bob = beta.irc("bob", caps=True)
    shared.deliver()
    bob.send("CAP REQ :draft/chathistory batch message-tags draft/event-playback")
    bob.lines()
    bob.send("CHATHISTORY LATEST #lobby * 10")
    kept = [line[line.index(":ann!"):] for line in bob.lines()
            if " PRIVMSG " in line or " TOPIC " in line]
    assert kept == [":ann!ann@127.0.0.1 PRIVMSG #lobby :said early",
                    ":ann!ann@127.0.0.1 TOPIC #lobby :plans"]
    assert "said early" in str(shared.history["#lobby"])
    assert "regretted" not in str(shared.history["#lobby"])


def test_a_node_started_after_a_rename_has_the_rooms_history_under_its_new_name():
    from tcpchat.store.memory import ListStore
    shared = SharedState()
    alpha = Node(shared, "alpha", history=ListStore())
    ann = alpha.irc("ann")
    ann.send("JOIN #boaring", "PRIVMSG #boaring :said before", "RENAME #boaring #boring")
    shared.deliver()
    beta = Node(shared, "beta", history=ListStore())  # saw none of it
    shared.deliver()
    bob = beta.irc("bob", caps=True)
    bob.send("CAP REQ :draft/chathistory batch", "JOIN #boring")
    shared.deliver()
    bob.lines()
    bob.send("CHATHISTORY LATEST #boring * 10")
    said = [line for line in bob.messages() if line.command == "PRIVMSG"]
    assert [line.params for line in said] == [("#boring", "said before")]
    assert "#boaring" not in {entry.target for entry in beta.harness.core.chat.history.entries}


@settings(max_examples=150, deadline=None)
@given(ARRIVALS, OPERATIONS)
def test_every_user_gets_what_one_server_would_have_given_it(arrivals, operations):
    """The same users doing the same things, one at a time, on one server and spread over
    three nodes (each heard by the others before the next): each reads the same lines."""
    one = Harness(autojoin=False, server_name="tcpchat")
    cluster = Cluster("n0", "n1", "n2", autojoin=False, server_name="tcpchat")
    pairs = {}  # nick -> (its peer on the one server, its peer in the cluster)
    read = {}  # nick -> (lines on the one server, lines in the cluster)
    for node, nick in arrivals:
        alone, spread = one.connect(), cluster.nodes[node].harness.connect()
        for peer in (alone, spread):
            peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        cluster.settle()
        assert alone.client.registered == spread.client.registered, nick
        if alone.client.registered:
            alone.lines(), spread.lines()  # the welcome counts servers: not compared
            pairs[nick], read[nick] = (alone, spread), ([], [])
    for operation in operations:
        if operation[0] == "settle" or operation[1] not in pairs:
            continue
        for peer in pairs[operation[1]]:
            if not peer.client.gone:
                _act(peer, operation)
        cluster.settle()
        for nick, (alone, spread) in pairs.items():
            read[nick][0].extend(alone.lines())
            read[nick][1].extend(spread.lines())
    for nick, (alone, spread) in read.items():
        assert alone == spread, nick


def test_a_message_to_a_room_s_operators_crosses_to_them_alone(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    cluster.settle()
    bob, cat = beta.irc("bob"), beta.irc("cat")
    cluster.settle()
    ann.send("MODE #lobby +o bob")
    cluster.settle()
    for peer in (ann, bob, cat):
        peer.lines()
    ann.send("PRIVMSG @#lobby :ops only")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 PRIVMSG @#lobby :ops only"]
    assert cat.lines() == []


def test_a_multiline_message_crosses_as_one_and_keeps_its_lines(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    ann.send("CAP REQ :batch draft/multiline")
    cluster.settle()
    bob, cat = beta.irc("bob"), beta.irc("cat")
    bob.send("CAP REQ :batch draft/multiline")
    cluster.settle()
    for peer in (ann, bob, cat):
        peer.lines()
    ann.send("BATCH +m draft/multiline #lobby", "@batch=m PRIVMSG #lobby :one ",
             "@batch=m;draft/multiline-concat PRIVMSG #lobby :line", "BATCH -m")
    cluster.settle()
    opening, first, second, closing = bob.messages()
    assert opening.params[1:] == ("draft/multiline", "#lobby")
    assert [(line.params[1], "draft/multiline-concat" in line.tags)
            for line in (first, second)] == [("one ", False), ("line", True)]
    assert cat.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :one ",
                           ":ann!ann@127.0.0.1 PRIVMSG #lobby :line"]


def test_metadata_set_on_one_node_is_told_and_read_on_another(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    ann.send("CAP REQ :batch draft/metadata-2", "METADATA * SET avatar :a.png",
             "METADATA #lobby SET url :https://lobby.example")
    cluster.settle()
    bob = beta.irc("bob")
    bob.send("CAP REQ :batch draft/metadata-2")
    cluster.settle()
    bob.lines()
    bob.send("METADATA ann GET avatar", "METADATA #lobby GET url")  # from the shared state
    values = [(m.command, m.params[1:]) for m in bob.messages() if m.command == "761"]
    assert values == [("761", ("ann", "avatar", "*", "a.png")),
                      ("761", ("#lobby", "url", "*", "https://lobby.example"))]
    bob.send("METADATA * SUB avatar")
    cluster.settle()
    bob.lines()
    ann.send("METADATA * SET avatar :b.png")
    cluster.settle()
    assert [(m.command, m.params) for m in bob.messages()] == [
        ("METADATA", ("ann", "avatar", "*", "b.png"))]


def test_a_rename_on_one_node_renames_the_room_on_every_node(cluster):
    alpha, beta = cluster.nodes
    ann = alpha.irc("ann")
    ann.send("CAP REQ :draft/channel-rename", "JOIN #boaring")
    cluster.settle()
    bob, cat = beta.irc("bob"), beta.irc("cat")
    bob.send("CAP REQ :draft/channel-rename", "JOIN #boaring")
    cat.send("JOIN #boaring")
    cluster.settle()
    for peer in (ann, bob, cat):
        peer.lines()
    ann.send("RENAME #boaring #boring :typo")
    cluster.settle()
    assert bob.lines() == [":ann!ann@127.0.0.1 RENAME #boaring #boring typo"]
    assert [line.command for line in cat.messages()][:2] == ["PART", "JOIN"]
    assert ann.lines() == [":ann!ann@127.0.0.1 RENAME #boaring #boring typo"]
    assert "#boring" in beta.harness.core.chat.registry.channels
    assert "#boaring" not in beta.harness.core.chat.registry.channels
    cat.send("PRIVMSG #boring :across")
    cluster.settle()
    assert ann.lines() == [":cat!cat@127.0.0.1 PRIVMSG #boring :across"]
    late = Node(cluster.shared, "gamma")  # comes later: reads the room under its new name
    cluster.settle()
    assert "#boring" in late.harness.core.chat.registry.channels
    assert "#boaring" not in late.harness.core.chat.registry.channels


def test_a_read_marker_set_on_one_node_reaches_the_account_s_connection_on_another(cluster):
    from tcpchat.store.accounts import Account
    alpha, beta = cluster.nodes
    alpha.harness.core.chat.accounts.add(Account("ann", "x", created=1.0))
    cluster.settle()
    phone = alpha.irc("ann", caps=True)
    laptop = beta.irc("ann2", caps=True)
    for peer in (phone, laptop):
        peer.client.account = "ann"  # logged in (tests/test_accounts.py shows how)
        peer.send("CAP REQ :draft/read-marker")
    cluster.settle()
    phone.lines(), laptop.lines()
    phone.send("MARKREAD #lobby timestamp=2023-11-14T22:10:00.000Z")
    cluster.settle()
    assert laptop.lines() == [":beta MARKREAD #lobby timestamp=2023-11-14T22:10:00.000Z"]


def test_a_node_back_from_a_split_takes_in_only_what_it_lacks_of_the_kept_history():
    from tcpchat.store.memory import ListStore
    shared = SharedState()
    alpha, beta = Node(shared, "alpha", history=ListStore()), Node(shared, "beta")
    shared.deliver()
    ann = alpha.irc("ann")
    shared.deliver()
    ann.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two")
    shared.deliver()
    alpha.bus.disconnect()
    ann.send("PRIVMSG #lobby :said while split")  # kept here, never in the cluster's list
    alpha.bus.connect()
    shared.deliver()
    kept = [entry.msgid for entry in alpha.harness.core.chat.history.entries]
    assert len(kept) == len(set(kept))  # nothing it had taken in twice
