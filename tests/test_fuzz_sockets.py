"""Fuzzing over sockets: hypothesis drives a few clients with random bytes and random command
lines, in both dialects, against a real server, while two well-behaved users keep talking."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import LineSocket, register_irc, running_server, wait_until
from tcpchat.chat.flood import FloodPolicy

SENDQ = 64 << 10

WORDS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
IRC_COMMANDS = ["NICK", "USER", "JOIN", "PART", "PRIVMSG", "NOTICE", "CAP", "WHO", "WHOIS",
                "LIST", "NAMES", "TOPIC", "MODE", "AWAY", "PING", "PONG", "QUIT", "PASS",
                "KICK", "INVITE", "TAGMSG", "SETNAME", "MONITOR", "WHOWAS", "OPER", "KILL",
                "WALLOPS", "@label=1 PING", "HELP", "LINKS", "MARKREAD",
                "CAP REQ :batch draft/multiline", "BATCH", "BATCH +b draft/multiline",
                "@batch=b PRIVMSG", "@batch=b;draft/multiline-concat PRIVMSG", "BATCH -b",
                "CAP REQ :batch draft/metadata-2", "METADATA", "METADATA * SET avatar",
                "METADATA * SUB", "METADATA #lobby SYNC", "METADATA * GET", "METADATA * CLEAR",
                "CAP REQ :draft/channel-rename", "RENAME", "RENAME #lobby", "RENAME #x"]
PLAIN_COMMANDS = ["/nick", "/msg", "/me", "/who", "/help", "/quit", "", "hello", "/kick",
                  "/op", "/deop", "/voice", "/mode", "/topic", "/invite", "/join"]
COMMAND_LINES = st.builds(
    lambda command, words: " ".join([command, *words]).encode("utf-8", "surrogatepass"),
    st.sampled_from(IRC_COMMANDS + PLAIN_COMMANDS), st.lists(WORDS, max_size=4))
CHUNKS = st.one_of(
    st.binary(max_size=700),
    st.lists(COMMAND_LINES, min_size=1, max_size=6).map(lambda lines: b"\r\n".join(lines)
                                                       + b"\r\n"),
    st.sampled_from([b"\r\n" * 50, b"\0\r\n", b"\xff\xfe\r\n", b"x" * 5000 + b"\r\n",
                     b"@" + b"a" * 5000 + b" PRIVMSG #lobby :hi\r\n"]))
ACTIONS = st.lists(st.tuples(st.integers(0, 2), CHUNKS), max_size=10)


def test_random_clients_never_disturb_the_well_behaved():
    # alice and bob speak once an example: a burst of 100 lets them through unlagged.
    with running_server(sendq=SENDQ, flood=FloodPolicy(burst_lines=100)) as server:
        alice, bob = register_irc(server.address, "alice"), register_irc(server.address, "bob")
        alice.expect("bob!")
        checks = itertools.count()

        @settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(ACTIONS)
        def fuzz(actions):
            peers = [LineSocket(server.address) for _ in range(3)]
            try:
                for index, chunk in actions:
                    try:
                        peers[index].send_bytes(chunk)
                    except OSError:
                        pass  # the server let that one go (QUIT, Excess Flood): fine
                number = next(checks)
                alice.send(f"PRIVMSG #lobby :check {number}")
                # bob sees it, after whatever the fuzzers said in the room, and in order.
                line = bob.expect(lambda line: line.startswith(":alice!")
                                  and " PRIVMSG #lobby :check " in line)
                assert line.endswith(f":check {number}")
                assert all(transport.stream.pending <= 2 * SENDQ
                           for transport in list(server._transports) if transport.stream)
            finally:
                for peer in peers:
                    peer.close()

        fuzz()
        # Every fuzzer has closed: each one is gone, or is still lagged behind what it sent
        # (flood control), holding no more than its backlog.  The two users are served.
        def others():
            return [client for client in list(server.core.chat.registry.clients)
                    if client.nick not in ("alice", "bob")]

        assert wait_until(lambda: all(client.conn.reading_paused for client in others()))
        assert all(client.conn._held_bytes <= server.core.config.flood.backlog
                   for client in others())
        bob.send("PING :end")  # (a fuzzer may have been called PONG: match the whole reply)
        bob.expect(lambda line: line.endswith(" PONG tcpchat :end"))
