"""Registration timeout, PING after idle and ping timeout, on a hand-moved clock."""

from helpers import Harness, Peer, RecordingTransport


def test_registration_times_out():
    chat = Harness()
    peer = chat.connect()
    peer.send("NICK slow")
    assert chat.core.next_deadline() == 1000.0 + 60
    chat.clock.advance(59)
    chat.run_timers()
    assert not peer.conn.closing
    chat.clock.advance(1)
    chat.run_timers()
    assert peer.lines() == ["ERROR :Closing link: Registration timed out"]
    assert peer.conn.closing
    assert chat.core.chat.registry.find_user("slow") is None
    assert not chat.core.chat.registry.nick_in_use("slow")


def test_idle_client_is_pinged_and_dropped_without_pong():
    chat = Harness()
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    chat.clock.advance(120)
    chat.run_timers()
    assert alice.lines() == [":tcpchat PING tcpchat"]
    alice.send("PONG :tcpchat")
    assert bob.lines() == [":tcpchat PING tcpchat"]
    chat.clock.advance(60)
    chat.run_timers()
    assert bob.lines() == ["ERROR :Closing link: Ping timeout: 180 seconds"]
    assert alice.lines() == [":bob!bob@127.0.0.1 QUIT :Ping timeout: 180 seconds"]
    assert not alice.conn.closing


def test_activity_puts_the_ping_off():
    chat = Harness()
    alice = chat.irc("alice")
    for _ in range(5):
        chat.clock.advance(100)
        alice.send("PRIVMSG #lobby :still here")
        chat.run_timers()
    assert alice.lines() == []


def test_plain_clients_are_not_pinged():
    chat = Harness()
    carol = chat.plain("carol")
    chat.clock.advance(10_000)
    chat.run_timers()
    assert carol.lines() == [] and not carol.conn.closing


class DatagramLikeTransport(RecordingTransport):
    """A transport that cannot tell when its peer is gone, as UDP cannot."""

    __slots__ = ()
    greets = False
    notices_vanished_peer = False


def test_plain_clients_of_a_transport_that_cannot_see_them_go_are_asked_then_dropped():
    chat = Harness()
    config = chat.core.config
    alice = chat.plain("alice")
    carol = Peer(chat.core.connect("192.0.2.7", DatagramLikeTransport()))
    assert carol.lines() == []  # no greeting: her first datagram already said what she speaks
    carol.send("carol")
    carol.lines()
    chat.clock.advance(config.idle_interval - 1)
    chat.run_timers()
    assert carol.lines() == []
    chat.clock.advance(1)
    chat.run_timers()
    assert carol.lines() == ["*** Still there? Press Enter within 60 seconds to stay."]
    carol.send("")
    chat.clock.advance(config.pong_timeout)
    chat.run_timers()
    assert carol.lines() == [] and not carol.conn.closing
    chat.clock.advance(config.idle_interval - config.pong_timeout)  # idle since her answer
    chat.run_timers()
    assert carol.lines() == ["*** Still there? Press Enter within 60 seconds to stay."]
    chat.clock.advance(config.pong_timeout)
    chat.run_timers()
    assert carol.lines()[-1] == "*** Closing link: Idle timeout: 360 seconds"
    assert alice.lines()[-1] == "* carol left (Idle timeout: 360 seconds)"
    assert not alice.conn.closing  # the plain TCP user was never asked


def test_no_timers_left_for_closed_clients():
    chat = Harness()
    peer = chat.irc("alice")
    peer.send("QUIT")
    chat.clock.advance(1000)
    chat.run_timers()
    assert chat.core.next_deadline() is None


def test_timer_entries_of_connections_gone_do_not_pile_up_until_their_time():
    """A closed connection's entries are skipped when they come up, minutes later; meanwhile
    the heap is rebuilt once most of it is theirs, so churn holds no more than there are
    connections (the soak run showed memory climbing with every crowd that came and went)."""
    chat = Harness()
    staying = [chat.irc(f"s{number}") for number in range(10)]
    for number in range(1000):
        chat.irc(f"c{number}").send("QUIT")
    # The core's own heap, looked at for its size alone: without the rebuild, 1000 and more.
    assert len(chat.core._timers) <= 2 * len(staying) + 200
    chat.clock.advance(120)
    chat.run_timers()  # those still here are pinged as ever
    assert all(peer.lines()[-1] == ":tcpchat PING tcpchat" for peer in staying)


def test_a_plain_user_over_tcp_lets_its_timer_go_once_registered_and_an_irc_user_keeps_it():
    """A plain user over TCP needs no timer once registered (TCP keepalive finds it gone), so
    it holds none; an IRC user keeps its entry, which becomes its ping."""
    chat = Harness()
    ann = chat.plain("ann")
    assert ann.conn.timer is None
    chat.clock.advance(30)
    bob = chat.irc("bob")
    assert bob.conn.timer is not None
    chat.clock.advance(120)
    chat.run_timers()
    assert bob.lines() == [":tcpchat PING tcpchat"]
    assert not ann.conn.closing and ann.lines() == ["* bob joined #lobby"]  # no question
