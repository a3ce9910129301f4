"""The core's bounds: flood control, registration, replies, timers, driven by hand-moved clock."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Harness, RecordingTransport
from tcpchat.chat.flood import FloodBucket, FloodPolicy

POLICY = FloodPolicy()


def said(peer):
    """The texts of the PRIVMSGs *peer* received."""
    return [message.params[1] for message in peer.messages() if message.command == "PRIVMSG"]


@pytest.fixture
def chat():
    return Harness()


def test_a_twenty_line_paste_goes_through_at_once(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send(*(f"PRIVMSG #lobby :line {n} " + "p" * 400 for n in range(20)))
    assert said(bob) == [f"line {n} " + "p" * 400 for n in range(20)]
    assert not alice.conn.reading_paused


def test_a_plain_user_pastes_twenty_lines_at_once(chat):
    alice, bob = chat.plain("alice"), chat.irc("bob")
    bob.lines()
    alice.send(*(f"paste {n}" for n in range(20)))
    assert said(bob) == [f"paste {n}" for n in range(20)]


def test_past_the_burst_the_flooder_waits_and_nothing_is_lost(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send(*(f"PRIVMSG #lobby :{n}" for n in range(60)))
    first = said(bob)
    # Registration and the join spent a few lines of the burst; the rest went through.
    assert 15 < len(first) < POLICY.burst_lines
    assert first == [str(n) for n in range(len(first))]
    assert alice.conn.reading_paused
    assert alice.conn.transport.paused == 1
    # Meanwhile bob is served at once.
    bob.send("PRIVMSG #lobby :not held up")
    assert said(alice) == ["not held up"]
    received = first
    for _ in range(60):
        chat.clock.advance(chat.core.next_deadline() - chat.clock())
        chat.run_timers()
        received += said(bob)
        if not alice.conn.reading_paused:
            break
    assert received == [str(n) for n in range(60)]
    # About four lines a second once the burst is spent: the 60 lines took their time.
    assert chat.clock() - 1000.0 >= (60 - POLICY.burst_lines) / POLICY.lines_per_second
    assert alice.conn.transport.resumed >= 1


def test_long_lines_spend_the_byte_bucket():
    chat = Harness(flood=FloodPolicy(burst_bytes=2000, bytes_per_second=500))
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    chat.clock.advance(10)  # refill what registering spent
    alice.send(*(f"PRIVMSG #lobby :{n} " + "b" * 390 for n in range(8)))
    assert len(said(bob)) == 4  # 2000 bytes hold four lines of 408 bytes
    assert alice.conn.reading_paused
    chat.clock.advance(chat.core.next_deadline() - chat.clock())
    chat.run_timers()
    assert len(said(bob)) == 1  # one more line's worth came in


def test_piling_up_past_the_backlog_is_excess_flood(chat):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    line = "PRIVMSG #lobby :" + "f" * 100
    alice.send(*[line] * (POLICY.backlog // len(line) + POLICY.burst_lines + 10))
    assert alice.lines()[-1] == "ERROR :Closing link: Excess Flood"
    assert alice.conn.closing
    assert bob.lines()[-1] == ":alice!alice@127.0.0.1 QUIT :Excess Flood"


def test_without_flood_control_nothing_is_held():
    chat = Harness(flood=None)
    alice, bob = chat.irc("alice"), chat.irc("bob")
    alice.lines()
    alice.send(*(f"PRIVMSG #lobby :{n}" for n in range(3000)))
    assert len(said(bob)) == 3000
    assert not alice.conn.reading_paused


def test_the_bucket_refills_at_its_rate_up_to_its_burst():
    bucket = FloodBucket(FloodPolicy(lines_per_second=2, burst_lines=3), now=0.0)
    assert [bucket.take(10) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(10) == pytest.approx(0.5)
    bucket.refill(0.5)
    assert bucket.take(10) and not bucket.take(10)
    bucket.refill(100.0)
    assert bucket.lines == 3


def test_bytes_without_a_line_end_do_not_keep_a_client_alive(chat):
    alice = chat.irc("alice")
    for _ in range(200):  # a byte a second, never a whole line
        chat.clock.advance(1)
        alice.send_bytes(b"x")
        chat.run_timers()
    assert alice.conn.closing
    assert alice.lines()[-1] == "ERROR :Closing link: Ping timeout: 180 seconds"


def test_a_closed_connection_is_not_held_by_the_timers(chat):
    alice = chat.irc("alice")
    alice.send(*(f"PRIVMSG #lobby :{n}" for n in range(60)))  # paused: a resume timer too
    assert alice.conn.reading_paused
    alice.send_bytes(b"")
    assert alice.conn.closing
    assert all(entry[2] is not alice.conn for entry in chat.core._timers)


def test_past_the_bound_on_registering_connections_the_oldest_goes():
    chat = Harness(max_unregistered=3)
    user = chat.irc("user")
    waiting = [chat.connect() for _ in range(3)]
    newest = chat.connect()
    chat.end_turn()  # the turn they all came in: read, not judged yet
    chat.end_turn()  # a whole turn later, still silent: but it has not had its half second
    assert not waiting[0].conn.closing
    chat.clock.advance(0.5)
    chat.run_timers()  # judged when it has
    assert waiting[0].lines() == ["ERROR :Closing link: Too many connections registering; "
                                  "try again"]
    assert [peer.conn.closing for peer in waiting + [newest]] == [True, False, False, False]
    newest.send("NICK late", "USER late 0 * :Late")
    assert "001" in newest.commands()
    assert not user.conn.closing


def test_a_storm_that_registers_in_its_first_packets_all_gets_in_past_the_bound():
    """Reconnecting clients send their registration at once: however many come in one turn,
    a connection is judged only after a turn to be read, so every one of them registers."""
    chat = Harness(max_unregistered=3)
    storm = [chat.core.connect("127.0.0.1", RecordingTransport()) for _ in range(20)]
    for number, conn in enumerate(storm):  # the next turn reads them all
        conn.receive_data(f"NICK u{number}\r\nUSER u 0 * :u\r\n".encode())
    chat.end_turn()
    chat.end_turn()
    assert all(conn.client.registered and not conn.closing for conn in storm)


def test_a_quit_that_fails_midway_leaves_no_ghost(chat, monkeypatch):
    alice, bob = chat.irc("alice"), chat.irc("bob")
    real_deliver = chat.core.chat.delivery.deliver

    def deliver(message, recipients, skip=None, when=None):
        if message.command == "QUIT":
            raise RuntimeError("injected")
        real_deliver(message, recipients, skip, when)

    monkeypatch.setattr(chat.core.chat.delivery, "deliver", deliver)
    with pytest.raises(RuntimeError):
        alice.conn.close("bye")
    lobby = chat.core.chat.registry.channels["#lobby"]
    assert alice.client not in lobby.members
    assert not chat.core.chat.registry.nick_in_use("alice")
    assert bob.client in lobby.members


def test_a_list_of_many_channels_stops_before_the_send_queue():
    chat = Harness(sendq=8192, flood=None, autojoin=False)
    asker = chat.irc("asker")
    for n in range(300):  # more channels than one user may join: 300 users, a room each
        chat.irc(f"u{n}").send(f"JOIN #many{n:03}")
    asker.lines()
    asker.send("LIST")
    lines = asker.lines()
    assert not asker.conn.closing
    assert len("\r\n".join(lines)) <= 8192
    assert "cut short" in lines[-2] and " 323 " in lines[-1]
    assert sum(" 322 " in line for line in lines) < 300


@pytest.mark.parametrize("mask", ["#lobby", "*", "member*"])
def test_who_on_a_crowded_server_stops_before_the_send_queue(mask):
    chat = Harness(sendq=8192, flood=None)
    members = [chat.irc("asker")]
    for n in range(200):
        members.append(chat.irc(f"member{n}"))
        for member in members:
            member.output()  # everyone reads the joins
    asker = members[0]
    asker.send(f"WHO {mask}")
    lines = asker.lines()
    assert not asker.conn.closing
    assert "cut short" in lines[-2] and " 315 " in lines[-1]
    assert 10 < sum(" 352 " in line for line in lines) < 200


def test_replies_are_not_built_for_a_client_already_closing(chat):
    asker = chat.irc("asker")
    for n in range(50):
        chat.irc(f"member{n}")
    asker.client.conn.close("going")
    before = asker.conn.outbuf.size
    from tcpchat.commands import irc
    irc.handle_line(chat.core.chat, asker.client, "WHO #lobby")
    irc.handle_line(chat.core.chat, asker.client, "LIST")
    assert asker.conn.outbuf.size == before


def test_a_plain_who_names_a_hundred_and_counts_the_rest():
    chat = Harness(flood=None)
    carol = chat.plain("carol")
    for n in range(150):
        chat.plain(f"p{n}")
    carol.lines()
    carol.send("/who")
    [line] = carol.lines()
    assert line.endswith("and 51 more")
    assert line.count(",") == 99


def test_a_plain_welcome_to_a_crowded_room_names_a_hundred_and_counts_the_rest():
    """The welcome line says who else is there: in a room of thousands it must not grow
    with the room (it did: registering n users cost n² bytes of welcomes)."""
    chat = Harness(flood=None)
    for n in range(150):
        chat.plain(f"p{n}")
    newcomer = chat.connect()
    newcomer.send("zed")
    welcome = next(line for line in newcomer.lines() if line.startswith("*** Welcome"))
    assert welcome.startswith("*** Welcome, zed! You are in #lobby with @p0, p1, ")
    assert welcome.endswith(" and 50 more.")
    names = welcome.split(" with ", 1)[1]
    assert names.count(",") == 99 and "zed" not in names


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.binary(max_size=3000),
                          st.floats(0, 0.5)), max_size=12))
def test_flood_control_never_loses_a_paused_connection(chunks):
    """Random chunks at random intervals from three peers: a paused connection always has a
    timer to resume it, and every held line is handled or dropped with its connection."""
    chat = Harness(sendq=64 << 10)
    peers = [chat.connect() for _ in range(3)]
    for index, chunk, pause in chunks:
        conn = peers[index].conn
        if not (conn.closing or conn.reading_paused):  # a driver reads no paused peer
            peers[index].send_bytes(chunk)
        chat.clock.advance(pause)
        chat.run_timers()
        for peer in peers:
            assert not peer.conn.reading_paused or peer.conn.closing or peer.conn.resume_timer
    for _ in range(10000):
        for peer in peers:
            if not (peer.conn.closing or peer.conn.reading_paused):
                peer.send_bytes(b"")  # every peer ends its stream once it is read again
        if all(peer.conn.closing for peer in peers):
            break
        chat.clock.now = chat.core.next_deadline()
        chat.run_timers()
    assert all(peer.conn.closing for peer in peers)
