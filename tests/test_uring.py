"""The io_uring send ring (tcpchat.transports.uring) on real sockets: every socket gets the
bytes, in order, broadcast after broadcast; a full one, a half-full one and a gone one say so
and hold up nobody; a broadcast larger than the ring goes in batches; a kernel answer that
cannot be closes the ring and sends nothing it did not report.  And the loop without a ring,
or with one that breaks: every member still gets every line.  Skipped where this system has
no io_uring the loop can use (not Linux, turned off, refused by a seccomp filter)."""

import os
import socket

import pytest

from helpers import register_irc, running_server
from tcpchat.transports import uring
from tcpchat.transports.uring import SendRing, open_ring

RING, NO_RING = open_ring()
if RING is not None:
    RING.close()
needs_io_uring = pytest.mark.skipif(RING is None, reason=f"no io_uring here: {NO_RING}")


@pytest.fixture
def ring():
    ring, reason = open_ring()
    assert ring is not None, reason
    yield ring
    ring.close()


@pytest.fixture
def pairs():
    """Ten connected socket pairs: the server's ends, non-blocking, and the peers'."""
    made = [socket.socketpair() for _ in range(10)]
    for ours, theirs in made:
        ours.setblocking(False)
        theirs.settimeout(10)
    yield made
    for ours, theirs in made:
        ours.close(), theirs.close()


def read_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "closed early"
        data += chunk
    return data


@needs_io_uring
def test_every_socket_of_a_span_gets_each_broadcast_in_order(ring, pairs):
    """Broadcasts of changing sizes to changing spans, more of them than the ring holds:
    its two rings' heads and tails go round many times."""
    requests = ring.requests([ours.fileno() for ours, _ in pairs])
    for number in range(3 * ring.depth // 7 + 50):
        first, stop = number % 3, len(pairs) - number % 4
        data = b"line %d %s\r\n" % (number, b"x" * (number % 200))
        count = stop - first
        assert ring.send(requests, first, stop, data) == (count, [len(data)] * count)
        for _ours, theirs in pairs[first:stop]:
            assert read_exactly(theirs, len(data)) == data
    for _ours, theirs in pairs:
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(1)  # and nothing more


@needs_io_uring
def test_a_full_socket_takes_none_a_nearly_full_one_part_and_the_others_all(ring, pairs):
    full, nearly, *_rest = (ours for ours, _ in pairs)
    for sock in (full, nearly):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            while True:
                sock.send(b"f" * 1024)
        except BlockingIOError:
            pass
    before = pairs[1][1].recv(256 * 1024)  # room in the nearly full one's path again
    data = b"y" * (4 * len(before) + 65536)
    whole, took = ring.send(ring.requests([ours.fileno() for ours, _ in pairs]), 0, len(pairs),
                            data)
    assert whole == len(pairs) - 2
    assert took[0] == 0
    assert 0 < took[1] < len(data)
    assert took[2:] == [len(data)] * (len(pairs) - 2)
    assert ring.broken is None


@needs_io_uring
def test_a_socket_gone_or_closed_takes_none_and_the_rest_still_get_it(ring, pairs):
    pairs[3][1].close()  # the peer gone: -EPIPE
    gone = pairs[3][0]
    fds = [ours.fileno() for ours, _ in pairs]
    fds[6] = os.open(os.devnull, os.O_RDONLY)
    os.close(fds[6])  # a descriptor that names nothing now (-EBADF)
    whole, took = ring.send(ring.requests(fds), 0, len(pairs), b"hello\r\n")
    assert whole == 8
    assert took[3] == 0 and took[6] == 0
    assert [took[n] for n in range(10) if n not in (3, 6)] == [7] * 8
    for number, (_ours, theirs) in enumerate(pairs):
        if number not in (3, 6):
            assert read_exactly(theirs, 7) == b"hello\r\n"
    pairs[6][1].setblocking(False)
    with pytest.raises(BlockingIOError):
        pairs[6][1].recv(16)  # its socket was never named
    with pytest.raises(OSError):
        gone.send(b"x")  # what the loop's general path then finds


@needs_io_uring
def test_a_broadcast_larger_than_the_ring_buffer_is_left_to_send(ring, pairs):
    requests = ring.requests([ours.fileno() for ours, _ in pairs])
    assert ring.send(requests, 0, 10, b"x" * (uring.BUFFER_SIZE + 1)) is None
    whole, took = ring.send(requests, 0, 10, b"y" * uring.BUFFER_SIZE)
    assert took[0] > 0 and whole == took.count(uring.BUFFER_SIZE)
    assert ring.broken is None


@needs_io_uring
def test_a_span_larger_than_the_ring_goes_in_batches(pairs):
    small = SendRing(depth=4)
    try:
        assert small.depth == 4
        requests = small.requests([ours.fileno() for ours, _ in pairs])
        for number in range(5):
            assert small.send(requests, 1, 10, b"batch %d\n" % number) == (9, [8] * 9)
        for _ours, theirs in pairs[1:]:
            assert read_exactly(theirs, 40) == b"".join(b"batch %d\n" % n for n in range(5))
    finally:
        small.close()


@needs_io_uring
def test_a_ring_whose_kernel_takes_fewer_sends_than_given_closes_and_sends_no_more(
        ring, pairs, monkeypatch):
    """The kernel takes two of three sends (as if it stopped): the third is reported as not
    taken, the ring closes so that it is never sent later, and says why."""
    real = ring._syscall

    def takes_one_fewer(number, fd, count, *rest):
        if number == uring.SYS_IO_URING_ENTER and count > 1:
            count -= 1
        return real(number, fd, count, *rest)
    monkeypatch.setattr(ring, "_syscall", takes_one_fewer)
    sent = ring.send(ring.requests([ours.fileno() for ours, _ in pairs[:3]]), 0, 3, b"hi\n")
    assert sent == (2, [3, 3, 0])
    assert "took 2 of 3" in ring.broken
    assert ring.fd == -1
    for _ours, theirs in pairs[:2]:
        assert read_exactly(theirs, 3) == b"hi\n"
    pairs[2][1].setblocking(False)
    with pytest.raises(BlockingIOError):
        pairs[2][1].recv(16)


@needs_io_uring
def test_a_send_that_would_wait_breaks_an_unchecked_ring_and_is_never_made(pairs):
    """What open_ring's check guards against: a send that does not end in the call (here,
    asked to wait, to a blocking socket that is full) stays in flight.  A ring not checked
    yet does not wait for it: it says so and closes, which takes the send back."""
    ours, theirs = pairs[0]
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    filled = 0
    try:
        while True:
            filled += ours.send(b"f" * 1024)
    except BlockingIOError:
        pass
    ours.setblocking(True)
    ring = SendRing()
    waiting = bytearray(uring.SQE_SIZE)
    uring.SQE.pack_into(waiting, 0, uring.IORING_OP_SEND, 0, 0, ours.fileno(), 0,
                        ring._address, 0, 0, 0)
    try:
        assert ring.send(bytes(waiting), 0, 1, b"never") == (0, [0])
        assert "1 of 1 sends did not end in the call" in ring.broken
        assert ring.fd == -1
    finally:
        ring.close()
    assert read_exactly(theirs, filled) == b"f" * filled
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(16)


def test_where_a_ring_can_be_set_up_its_check_passes():
    """The check open_ring makes (a full socket's send ends at once, taking nothing; another
    takes it all) holds wherever io_uring_setup works: it would otherwise turn io_uring off
    everywhere, silently but for the server's first log line."""
    try:
        bare = SendRing()
    except OSError as exc:
        pytest.skip(f"no io_uring here: {exc}")
    bare.close()
    ring, reason = open_ring()
    assert reason is None
    ring.close()


def test_without_io_uring_the_ring_says_why(monkeypatch):
    monkeypatch.setattr(uring, "SYS_IO_URING_SETUP", -1)  # no such system call
    ring, reason = open_ring()
    assert ring is None
    assert "io_uring" in reason


def a_room_hears(server, lines):
    members = [register_irc(server.address, f"m{number}") for number in range(3)]
    sender = register_irc(server.address, "sender")
    for member in members:
        member.expect(":sender!")
    for line in lines:
        sender.send(f"PRIVMSG #lobby :{line}")
        for member in members:
            assert member.expect("PRIVMSG").endswith(f":{line}")
    for peer in members + [sender]:
        peer.close()


def test_a_loop_without_io_uring_sends_each_copy_itself(monkeypatch):
    monkeypatch.setattr(uring, "SYS_IO_URING_SETUP", -1)
    with running_server(flood=None) as server:
        assert server.ring is None and server.no_ring.startswith("io_uring_setup: ")
        a_room_hears(server, ["one", "two"])


@needs_io_uring
def test_a_loop_whose_ring_breaks_says_so_and_every_member_still_gets_every_line(caplog):
    """From the first broadcast to two or more (the first line), the kernel takes one send
    fewer than given: the member it leaves out gets the line through its queue, the loop says
    why and sends a send() a member from then on."""
    with running_server(flood=None) as server:
        real = server.ring._syscall  # (nobody is connected yet: the loop is not sending)
        server.ring._syscall = lambda number, fd, count, *rest: real(
            number, fd, count - (number == uring.SYS_IO_URING_ENTER and count > 1), *rest)
        a_room_hears(server, ["one", "two", "three"])
        assert server.ring is None
    assert "a send() a member from now on: io_uring_enter took 2 of 3" in caplog.text


@needs_io_uring
def test_a_broadcast_too_large_for_the_ring_goes_a_send_a_member_and_in_order(monkeypatch):
    monkeypatch.setattr(uring, "BUFFER_SIZE", 80)  # a line of more than 80 bytes
    with running_server(flood=None) as server:
        assert server.ring is not None
        a_room_hears(server, ["short", "long " + "x" * 100, "short again"])
        assert server.ring is not None
