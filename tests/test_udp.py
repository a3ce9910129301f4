"""UDP mode (``--udp``): the chat over datagrams in the select loop, beside TCP and over the
same chat, with every selector; over real loopback sockets, every wait bounded in time."""

import functools
import logging
import re
import socket

import pytest

from helpers import (TIMEOUT, DatagramPeer, FakeClock, Harness, LineSocket, read_cap_ls,
                     register_irc, register_irc_udp, register_plain, running_server, udp_backend,
                     wait_until)
from tcpchat.transports.datagram import DatagramEndpoint
from tcpchat.protocol.framing import DATAGRAM_SIZE
from tcpchat.transports.selectloop import SELECTORS
from tcpchat.protocol.sequence import SEQ_CAP


@pytest.fixture(params=sorted(name for name, factory in SELECTORS.items()
                              if factory is not None and name != "auto"))
def serve(request):
    """``serve(**config)``: this test's selector serving TCP and UDP on one port number."""
    return functools.partial(running_server, start=udp_backend(request.param))


def test_udp_and_tcp_users_chat_both_ways(serve):
    with serve() as server:
        assert server.udp_address[1] == server.address[1]  # one port number for both
        alice = register_irc(server.address, "alice")
        bob = register_plain(server.address, "bob", udp=True)  # the assignment's `nc -u`
        carol = register_irc_udp(server.address, "carol")
        alice.expect("carol!")
        bob.send("hi from plain udp")
        assert alice.expect("PRIVMSG") == ":bob!bob@127.0.0.1 PRIVMSG #lobby :hi from plain udp"
        assert carol.expect("PRIVMSG") == ":bob!bob@127.0.0.1 PRIVMSG #lobby :hi from plain udp"
        alice.send("PRIVMSG #lobby :hi from tcp")
        assert bob.expect("alice:") == "alice: hi from tcp"
        assert carol.expect("PRIVMSG").endswith("PRIVMSG #lobby :hi from tcp")
        carol.send("PRIVMSG #lobby :hi from irc udp")
        assert alice.expect("PRIVMSG").endswith(":hi from irc udp")
        assert bob.expect("carol:") == "carol: hi from irc udp"


def test_several_lines_in_one_datagram_and_line_ends_optional(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        bob = register_plain(server.address, "bob", udp=True)
        bob.send_bytes(b"one\r\ntwo\nthree")  # CRLF, LF, and none at the end
        for text in ("one", "two", "three"):
            assert alice.expect("PRIVMSG").endswith(f"PRIVMSG #lobby :{text}")


def test_irc_registration_in_separate_datagrams_and_unregistered_gets_only_replies(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        stranger = DatagramPeer(server.address)
        stranger.send("NICK dave")  # the first datagram makes it an IRC peer, as over TCP
        stranger.send("PRIVMSG #lobby :spam before registering")
        assert " 451 " in stranger.expect(" 451 ")  # not registered: nothing relayed
        stranger.send("USER dave 0 * :Dave")
        stranger.expect(" 001 dave ")
        assert alice.expect("JOIN") == ":dave!dave@127.0.0.1 JOIN #lobby"
        stranger.send("PRIVMSG #lobby :now registered")
        assert alice.expect("PRIVMSG").endswith(":now registered")  # not the spam


def test_oversize_garbage_and_empty_datagrams_get_errors_and_disturb_nobody(serve):
    with serve(flood=None) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc_udp(server.address, "bob")
        bob.send_bytes(b"PRIVMSG #lobby :" + b"x" * 5000)  # over the line limit
        assert " 417 bob " in bob.expect(" 417 ")
        bob.send_bytes(b"x" * 65000)  # near the largest datagram there is
        assert " 417 bob " in bob.expect(" 417 ")
        bob.send_bytes(b"PRIVMSG #lobby :\xff\xfe\x00")
        assert bob.expect("INVALID_UTF8") == (":tcpchat FAIL PRIVMSG INVALID_UTF8 :Line dropped: "
                                              "it is not valid UTF-8")
        bob.send_bytes(b"")  # an empty datagram: nothing to answer, nothing breaks
        bob.send_bytes(bytes(range(256)))
        bob.send("PRIVMSG #lobby :still here")
        assert alice.expect("PRIVMSG").endswith(":still here")  # none of the rest reached her
        alice.send("PRIVMSG #lobby :and alice too")
        assert bob.expect("PRIVMSG").endswith(":and alice too")


def test_quit_ends_a_udp_peer_at_once_and_its_address_starts_afresh(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        bob = register_plain(server.address, "bob", udp=True)
        bob.send("выход")
        assert bob.expect("Closing link") == "*** Closing link: Quit"
        assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Quit"
        assert wait_until(lambda: not server.datagrams.peers)
        bob.send("bob")  # the same address, a new user: the name is free again
        assert bob.expect("Welcome").startswith("*** Welcome, bob!")


def test_plain_udp_user_is_asked_then_expires_and_irc_udp_user_is_pinged_out():
    clock = FakeClock()
    with running_server(start=udp_backend(), clock=clock) as server:
        config = server.core.config
        ping, idle, pong = config.ping_interval, config.idle_interval, config.pong_timeout
        alice = register_plain(server.address, "alice")  # over TCP: never asked, never pinged
        bob = register_plain(server.address, "bob", udp=True)
        carol = register_irc_udp(server.address, "carol")
        alice.expect("carol joined")
        clock.advance(ping)
        server.wake()
        assert carol.expect("PING") == f":{config.server_name} PING {config.server_name}"
        clock.advance(idle - ping)
        server.wake()
        # carol never answered her PING; bob is asked whether he is still there.
        assert alice.expect("carol left") == f"* carol left (Ping timeout: {idle:.0f} seconds)"
        assert bob.expect("Still there?") == (f"*** Still there? Press Enter within "
                                              f"{pong:.0f} seconds to stay.")
        bob.send("")  # an empty line is answer enough
        bob.send("/who")  # and its reply says the server has read both
        bob.expect("in #lobby:")
        clock.advance(idle)
        server.wake()
        bob.expect("Still there?")
        clock.advance(pong)
        server.wake()
        reason = f"Idle timeout: {idle + pong:.0f} seconds"
        assert bob.expect("Closing link") == f"*** Closing link: {reason}"
        assert alice.expect("bob left") == f"* bob left ({reason})"
        assert wait_until(lambda: not server.datagrams.peers)


def test_unregistered_addresses_are_bounded_the_oldest_dropped_first():
    start = udp_backend(max_unregistered=3)
    with running_server(start=start) as server:
        first = DatagramPeer(server.address)
        first.send("NICK squatter")  # holds the nick while it registers
        others = [DatagramPeer(server.address) for _ in range(3)]
        for i, peer in enumerate(others):
            peer.send(f"NICK other{i}")
        assert wait_until(lambda: server.datagrams.evicted == 1)
        # The oldest was dropped, and with it its claim on the nick.
        alice = LineSocket(server.address)
        alice.send("NICK squatter", "USER s 0 * :S")
        alice.expect(" 001 squatter ")
        # Registered peers do not count against the bound: three more can come and register.
        registered = [register_irc_udp(server.address, f"user{i}") for i in range(3)]
        assert server.datagrams.evicted == 2  # other0 made room for the first of them
        for peer in [first, *others, *registered]:
            peer.close()


def test_numbered_datagrams_for_a_client_that_asks_and_plain_lines_for_the_rest(serve):
    with serve() as server:
        numbered = register_irc_udp(server.address, "numbered", caps=[SEQ_CAP])
        bare = register_irc_udp(server.address, "bare")
        numbered.expect("bare!")
        for i in range(20):
            bare.send(f"PRIVMSG #lobby :{i}")
        numbers = []
        for i in range(20):
            line = numbered.expect("PRIVMSG")
            found = re.match(rf"@{re.escape(SEQ_CAP)}=(\d+) :bare!\S+ PRIVMSG #lobby :{i}$",
                             line)
            assert found, line
            numbers.append(int(found.group(1)))
        assert numbers == list(range(numbers[0], numbers[0] + 20))
        numbered.send("PRIVMSG #lobby :hello")
        assert bare.expect("PRIVMSG") == ":numbered!numbered@127.0.0.1 PRIVMSG #lobby :hello"


def test_a_burst_goes_out_packed_in_datagrams_of_whole_lines_under_the_mtu(serve):
    with serve(flood=None) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc_udp(server.address, "bob", caps=[SEQ_CAP])
        alice.expect("bob!")
        alice.send(*(f"PRIVMSG #lobby :{i:04d} {'x' * 60}" for i in range(300)))
        before = len(bob.sizes)
        for i in range(300):
            assert f"PRIVMSG #lobby :{i:04d} " in bob.expect("PRIVMSG")
        sizes = bob.sizes[before:]
        assert max(sizes) <= DATAGRAM_SIZE
        assert len(sizes) < 300 / 5  # many lines a datagram, not one each


def test_the_capability_is_offered_over_udp_only():
    with running_server(start=udp_backend()) as server:
        over_tcp = LineSocket(server.address)
        over_tcp.send("CAP LS 302")
        assert SEQ_CAP not in read_cap_ls(over_tcp)
        over_tcp.send(f"CAP REQ :{SEQ_CAP}")
        over_tcp.expect(" NAK ")
        over_udp = DatagramPeer(server.address)
        over_udp.send("CAP LS 302")
        assert SEQ_CAP in read_cap_ls(over_udp)


def test_a_bug_while_serving_a_udp_peer_costs_only_that_peer(monkeypatch, caplog):
    from tcpchat.commands import irc

    def broken(chat, client, message):
        raise RuntimeError("a bug")

    monkeypatch.setitem(irc.COMMANDS, "BREAK", irc.Command(broken, 0, True))
    with running_server(start=udp_backend()) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc_udp(server.address, "bob")
        alice.expect("bob!")
        with caplog.at_level(logging.ERROR, logger="tcpchat"):
            bob.send("BREAK")
            assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Internal server error"
        assert "internal error" in caplog.text
        carol = register_irc_udp(server.address, "carol")
        alice.send("PRIVMSG #lobby :fine")
        assert carol.expect("PRIVMSG").endswith(":fine")


def test_udp_only_serves_no_tcp_and_shutdown_says_goodbye():
    with running_server(start=udp_backend(tcp=False)) as server:
        assert server.address is None
        bob = register_plain(server.udp_address, "bob", udp=True)
        carol = register_irc_udp(server.udp_address, "carol")
        bob.expect("carol joined")
        with socket.socket() as probe:
            probe.settimeout(TIMEOUT)
            assert probe.connect_ex(server.udp_address) != 0  # nothing listens on TCP
        server.request_stop()
        assert bob.expect("Closing link") == "*** Closing link: Server shutting down"
        assert carol.expect("ERROR") == "ERROR :Closing link: Server shutting down"


class _FullSocket:
    """A UDP socket whose send buffer is always full."""

    def sendto(self, data, address):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    def close(self):
        pass


def test_a_full_send_buffer_drops_the_datagram_counts_it_and_logs_at_a_rate(caplog):
    harness = Harness()  # the core with no sockets, and a hand-moved clock
    clock = harness.clock
    endpoint = DatagramEndpoint(harness.core, _FullSocket(), clock)
    harness.core.output_ready = lambda ready: [conn.transport.flush() for conn in ready]
    transport = endpoint._admit(("192.0.2.1", 4000))
    with caplog.at_level(logging.WARNING, logger="tcpchat"):
        transport.conn.receive_datagram(b"bob\n")  # the greeting: a datagram, dropped
        transport.conn.receive_datagram(b"/who\n")  # another, within the same ten seconds
    assert endpoint.dropped == 2 and endpoint.sent == 0
    assert caplog.text.count("datagrams dropped") == 1
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="tcpchat"):
        transport.conn.receive_datagram(b"/who\n")
    assert endpoint.dropped == 3
    assert caplog.text.count("datagrams dropped") == 2
    assert transport.conn.client.registered  # dropped output does not end the user
