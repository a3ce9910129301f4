"""The select loop's fast path (``SelectLoop._flush`` sending the usual case itself, and the
core's broadcasts) against its general path: the same bytes to every member, in order, over
real loopback sockets, whether each socket takes all its output at once, only part of it, or
breaks as a broadcast reaches it.  Every test runs twice: with the broadcasts' sends given to
the kernel in one system call (io_uring, where this system has it) and a send() each."""

import os
import socket
import threading

import pytest

from helpers import TIMEOUT, LineSocket, register_irc, running_server, wait_until
from tcpchat.transports.selectloop import SelectLoop
from tcpchat.transports.uring import open_ring


def io_uring_here():
    """Why this system has no io_uring the loop can use, or None."""
    ring, reason = open_ring()
    if ring is not None:
        ring.close()
    return reason


@pytest.fixture(autouse=True, params=["io_uring", "send"])
def sends(request, monkeypatch):
    """How the loop sends its broadcasts in this run of the test."""
    if request.param == "io_uring":
        reason = io_uring_here()
        if reason is not None:
            pytest.skip(f"no io_uring here: {reason}")
    monkeypatch.setattr(SelectLoop, "io_uring", request.param == "io_uring")
    return request.param

MESSAGES = 300
#: Lines of 400 bytes a slow reader is sent before it reads: more than loopback's buffers
#: hold (their sizes grow to a few MiB), less than the send queue bound the test sets.
LATE = 15000


def a_room(server, count=4, talker="sender"):
    """*count* IRC members of #lobby, then *talker*, whose JOIN each member has read."""
    members = [register_irc(server.address, f"m{number}") for number in range(count)]
    sender = register_irc(server.address, talker)
    for member in members:
        member.expect(f":{talker}!")  # its JOIN
    return members, sender


def room_traffic():
    """What four members read of 300 messages from a fifth, sent many lines to a read and
    one, every line as it came."""
    with running_server(flood=None) as server:
        members, sender = a_room(server)
        for start in range(0, MESSAGES, 50):  # reads of many lines and of one alike
            sender.send(*(f"PRIVMSG #lobby :line {number}" for number in
                          range(start, start + 50)))
            sender.send(f"PRIVMSG #lobby :single {start}")
        sender.send("NOTICE #lobby :done")
        heard = [[member.read_line() for _ in range(MESSAGES + MESSAGES // 50 + 1)]
                 for member in members]
        for peer in members + [sender]:
            peer.close()
    return heard


def test_the_fast_path_and_the_general_path_send_the_same_lines(monkeypatch):
    fast = room_traffic()
    monkeypatch.setattr(SelectLoop, "fast_path", False)
    general = room_traffic()
    assert fast == general
    assert fast[0][0] == ":sender!sender@127.0.0.1 PRIVMSG #lobby :line 0"
    assert fast[0][-1] == ":sender!sender@127.0.0.1 NOTICE #lobby :done"


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_socket_that_takes_part_of_its_output_gets_the_rest_in_order(monkeypatch,
                                                                         fast_path):
    """A member with a small receive buffer that reads late: the socket takes part of a
    turn's output, and the rest goes when it is writable, by either path."""
    monkeypatch.setattr(SelectLoop, "fast_path", fast_path)
    unsent = []
    settle = SelectLoop._settle
    monkeypatch.setattr(SelectLoop, "_settle", lambda loop, transport, left: (
        unsent.append(left), settle(loop, transport, left))[1])
    with running_server(flood=None, sendq=64 << 20) as server:
        slow = LineSocket(server.address, receive_buffer=4096)
        slow.send("NICK slow", "USER slow 0 * :slow")
        slow.expect(" 366 ")
        sender = register_irc(server.address, "sender")
        slow.expect("JOIN")
        text = "x" * 400
        sender.send(*(f"PRIVMSG #lobby :{number} {text}" for number in range(LATE)))
        sender.send("PING :sent")
        sender.expect(":sent")  # the server has handled them all, the slow one unread
        assert max(unsent, default=0) > 0  # the socket took part of it, the rest waited
        numbers = [int(slow.expect("PRIVMSG").split(" :", 1)[1].split()[0])
                   for _ in range(LATE)]
        assert numbers == list(range(LATE))
        slow.close(), sender.close()


def spy(monkeypatch, name, record):
    """Wrap ``SelectLoop.<name>`` so that ``record(loop, *args)`` runs before it."""
    method = getattr(SelectLoop, name)

    def wrapped(loop, *args):
        record(loop, *args)
        return method(loop, *args)
    monkeypatch.setattr(SelectLoop, name, wrapped)


def test_a_message_at_a_time_goes_as_a_broadcast_to_every_member_but_its_sender(monkeypatch):
    broadcasts = []
    spy(monkeypatch, "_send_broadcasts", lambda loop, delivery: broadcasts.append(
        len(delivery.broadcasts)))
    with running_server(flood=None) as server:
        members, sender = a_room(server)
        for number in range(20):
            sender.send(f"PRIVMSG #lobby :line {number}")
            for member in members:
                assert member.expect("PRIVMSG").endswith(f":line {number}")
        sender.send("PING :done")
        assert sender.expect("PONG").endswith(":done")  # and nothing of its own before it
        for peer in members + [sender]:
            peer.close()
    assert sum(broadcasts) >= 1


@pytest.mark.parametrize("place", ["first", "middle", "last", "echo"])
def test_one_broadcast_a_turn_reaches_each_member_once_wherever_its_sender_joined(monkeypatch,
                                                                                  place):
    """A message at a time, the everyday case, goes as a turn's one broadcast (sent without
    the grouping that a turn of several needs): every other member gets each line once, in
    order, and the sender none of its own, whether it joined the room first, in the middle
    or last; with echo-message, it gets its own as well."""
    alone = []
    spy(monkeypatch, "_send_broadcasts", lambda loop, delivery: alone.append(
        len(delivery.broadcasts) == 1))
    with running_server(flood=None) as server:
        before = {"first": 0, "middle": 2, "last": 4, "echo": 2}[place]
        members = [register_irc(server.address, f"m{number}") for number in range(before)]
        sender = LineSocket(server.address)
        if place == "echo":
            sender.send("CAP REQ :echo-message")
        sender.send("NICK sender", "USER sender 0 * :sender", "CAP END")
        sender.expect(" 366 ")
        for number in range(before, 4):
            members.append(register_irc(server.address, f"m{number}"))
            sender.expect(f":m{number}!")  # its JOIN, read before any message
        for member in members[:before]:
            member.expect(":sender!")
        for number in range(20):
            sender.send(f"PRIVMSG #lobby :line {number}")
            for member in members:
                assert member.expect("PRIVMSG").endswith(f":line {number}")
            if place == "echo":
                assert sender.expect("PRIVMSG").endswith(f":line {number}")
        sender.send("PING :done")
        before_pong = []
        while " PONG " not in (line := sender.read_line()):
            before_pong.append(line)
        assert not [line for line in before_pong if " PRIVMSG " in line], before_pong
        for peer in members + [sender]:
            peer.close()
    assert any(alone)


def test_a_socket_that_takes_part_of_a_broadcast_gets_the_rest_in_order(monkeypatch):
    """A member that does not read: its socket fills, and the broadcast that finds it full
    leaves the rest in its queue, which the general path sends once it reads."""
    short = []
    spy(monkeypatch, "_unsent_rest", lambda loop, conn, data, sent: short.append(
        (sent, len(data))))
    text = "x" * 400
    with running_server(flood=None, sendq=64 << 20) as server:
        slow = LineSocket(server.address, receive_buffer=4096)
        slow.send("NICK slow", "USER slow 0 * :slow")
        slow.expect(" 366 ")
        reader = register_irc(server.address, "reader")
        sender = register_irc(server.address, "sender")
        reader.expect("JOIN")
        sent = 0
        while not short and sent < LATE:  # a burst at a time, each read before the next
            sender.send(*(f"PRIVMSG #lobby :{number} {text}"
                          for number in range(sent, sent + 50)))
            sent += 50
            reader.expect(f":{sent - 1} ")
        assert short and all(took < size for took, size in short)
        numbers = [int(slow.expect("PRIVMSG").split(" :", 1)[1].split()[0])
                   for _ in range(sent)]
        assert numbers == list(range(sent))
        slow.close(), reader.close(), sender.close()


def test_a_member_lost_as_a_broadcast_goes_out_does_not_stop_it_reaching_the_rest(monkeypatch):
    """The second member's socket can no longer send when the broadcast reaches it: the send
    raises, the members after it still get the line, and the lost one quits."""
    def break_second(loop, delivery):
        for transport in loop._transports:
            if transport.conn is not None and transport.conn.client.nick == "m1":
                transport.sock.shutdown(socket.SHUT_WR)  # its next send raises EPIPE
    spy(monkeypatch, "_send_broadcasts", break_second)
    with running_server(flood=None) as server:
        members, sender = a_room(server)
        sender.send("PRIVMSG #lobby :hello")
        for number in (0, 2, 3):
            assert members[number].expect("PRIVMSG").endswith(":hello")
            assert members[number].expect("QUIT").startswith(":m1!")
        for peer in members + [sender]:
            peer.close()


def test_the_broadcasts_of_one_turn_go_joined_and_no_sender_reads_its_own(monkeypatch):
    """Two talkers' lines wait for the same turn (the loop is held before its select while
    they arrive): their batches are two broadcasts to one audience, sent together."""
    flushes = []
    spy(monkeypatch, "_send_broadcasts", lambda loop, delivery: flushes.append(
        [data for *_rest, data in delivery.broadcasts]))
    with running_server(flood=None) as server:
        members, ann = a_room(server, 3, "ann")
        talkers = [ann, register_irc(server.address, "bob")]
        for member in members:
            member.expect(":bob!")  # its JOIN
        gate, held = threading.Event(), threading.Event()
        select = server.selector.select

        def held_select(timeout=None):
            if not gate.is_set():
                held.set()
                assert gate.wait(TIMEOUT)
            return select(timeout)
        server.selector.select = held_select
        server.wake()  # out of the select it is in, into this one
        wait_until(held.is_set)
        talkers[0].send("PRIVMSG #lobby :a1", "PRIVMSG #lobby :a2")
        talkers[1].send("PRIVMSG #lobby :b1")
        gate.set()
        expected = {"ann": ["b1"], "bob": ["a1", "a2"]}
        for peer, name in zip(talkers, ("ann", "bob")):
            assert [peer.expect("PRIVMSG").rsplit(":", 1)[1] for _ in expected[name]] == (
                expected[name])
        for member in members:
            heard = [member.expect("PRIVMSG") for _ in range(3)]
            assert sorted(line.rsplit(":", 1)[1] for line in heard) == ["a1", "a2", "b1"]
            assert [line.rsplit(":", 1)[1] for line in heard if line.startswith(":ann!")] == [
                "a1", "a2"]
        for peer in members + talkers:
            peer.close()
    assert [len(datas) for datas in flushes if len(datas) > 1] == [2]


@pytest.mark.skipif(os.name != "posix", reason="descriptors are handed out lowest first there")
def test_a_broadcast_never_reaches_what_is_opened_where_a_member_was_closed(monkeypatch, sends):
    """Between a broadcast's recording and its sending, in one turn, a member's socket is
    closed, and something else in the process opens a descriptor (another thread's socket or
    file: the metrics endpoint's connection, the history's database).  The system gives the
    lowest free descriptor, and with the holes below filled the closed member's is it.  The
    io_uring requests the room's line would go through name descriptors, made for the turn
    before; but the loop makes them again after a close, from the sockets, and a closed
    socket is sent to (and found closed) as a socket, so the line goes nowhere else.
    (Usually the core has queued something for a member closed in a turn, its QUIT to the
    room, and the broadcasts went into the queues before it; not when nobody here is told,
    as when the room's others are on other nodes: closing the socket alone is that.)"""
    spied = []
    armed = threading.Event()

    def close_one_and_open_one(loop, delivery):
        if spied or not armed.is_set() or not delivery.broadcasts:
            return
        closed = next(transport for transport in loop._transports
                      if transport.conn is not None and transport.conn.client.nick == "m1")
        holes = []  # every descriptor below the closed member's taken
        while not holes or holes[-1] < closed.sock.fileno():
            holes.append(os.open(os.devnull, os.O_RDONLY))
        reused = closed.sock.fileno()
        loop._close(closed)
        spied.extend(socket.socketpair())  # its first end on the lowest free descriptor
        spied.append(spied[0].fileno() == reused)
        for hole in holes:
            os.close(hole)
    spy(monkeypatch, "_send_broadcasts", close_one_and_open_one)
    with running_server(flood=None) as server:
        members, sender = a_room(server, 3)
        sender.send("PRIVMSG #lobby :first")  # the room's requests, kept for the next
        for member in members:
            member.expect(":first")
        armed.set()
        sender.send("PRIVMSG #lobby :for the room")
        for number in (0, 2):
            assert members[number].expect("PRIVMSG").endswith(":for the room")
        sender.send("PING :after")
        sender.expect("PONG")  # the turn is over
        opened, other_end, took_its_number = spied
        assert took_its_number  # the case this test is for
        other_end.setblocking(False)
        with pytest.raises(BlockingIOError):
            other_end.recv(4096)
        for peer in members + [sender, opened, other_end]:
            peer.close()
