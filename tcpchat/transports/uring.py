"""A broadcast's sends to many sockets in one system call: Linux's io_uring, through ctypes.

At an everyday rate nearly all of the select loop's work on a channel message is its sends, one
``send()`` a member.  Each is a system call, and around it CPython makes and parses an argument
tuple and lets the interpreter lock go and takes it back.  io_uring takes requests from a ring
in memory shared with the kernel and carries out a whole batch in one ``io_uring_enter()``:
here, one ``IORING_OP_SEND`` a member, each the kernel's full send of the same bytes, without a
system call (and the Python around one) each.  Measured in docs/benchmarks.rst ("One system
call for a broadcast's sends").

The three shared areas, as the kernel lays them out (``io_uring_setup(2)``):

submission ring   a head the kernel moves, a tail this side moves, and an array of indices
                  into the requests: the kernel takes requests from head to tail
requests          64 bytes each (``struct io_uring_sqe``): what to do, on which descriptor,
                  from which address, how many bytes, and a number given back with the result
completion ring   a head this side moves, a tail the kernel moves, and the results (``struct
                  io_uring_cqe``: that number, and the bytes sent or a negative errno)

Every send is non-blocking (``MSG_DONTWAIT``): a socket that cannot take all of it takes what
it can and the request ends at once with that count, or with ``-EAGAIN``.  So nothing is in
flight when :meth:`SendRing.send` returns: its buffer may be reused, and no result comes
later.  :func:`open_ring` checks that this kernel does so before anyone relies on it.

Linux 5.6 and later has ``IORING_OP_SEND``.  Elsewhere, where an administrator turned io_uring
off (``kernel.io_uring_disabled``), or where a container's seccomp profile refuses it,
:func:`open_ring` says why, and the loop sends each copy with ``send()`` as before.
"""

import ctypes
import errno
import mmap
import os
import platform
import socket
import struct
import sys
from array import array

# The system calls' numbers: the same on every architecture Linux has, but Alpha.
SYS_IO_URING_SETUP = 425
SYS_IO_URING_ENTER = 426
IORING_ENTER_GETEVENTS = 1
IORING_OP_SEND = 26
# Where each area is mapped from the ring's descriptor.
IORING_OFF_SQ_RING = 0
IORING_OFF_CQ_RING = 0x8000000
IORING_OFF_SQES = 0x10000000
MSG_DONTWAIT = 0x40
MSG_NOSIGNAL = 0x4000  # a peer gone gives -EPIPE, never SIGPIPE
SQE_SIZE = 64
#: A send request: opcode, flags, ioprio, descriptor, offset, address, length, send flags, and
#: the number given back with the result (the member's place in the block).
SQE = struct.Struct("=BBHiQQIIQ24x")
#: struct io_uring_params, as 32-bit words: the kernel fills in the rest.
PARAMS_WORDS = 30
#: Requests a ring holds: a broadcast to more members goes in batches of this many.
DEPTH = 1024
#: The most bytes one broadcast may hold to go through the ring (more: a send() each).
BUFFER_SIZE = 1 << 18


def _libc_syscall():
    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.syscall
    call.restype = ctypes.c_long
    return call


class RingUnavailable(OSError):
    """io_uring cannot be used here; the message says why."""


class SendRing:
    """An io_uring that sends one buffer to many sockets at a time.

    :meth:`requests` makes the requests for a list of descriptors once (the loop keeps them
    with the group they are for); :meth:`send` sends *data* to a span of them and gives back,
    for each, the bytes its socket took.  After an answer from the kernel that cannot be
    (fewer requests taken than given; before :attr:`checked`, a send that did not end in the
    call), :attr:`broken` says what happened, the ring is closed, and what was not sent is
    reported as 0 bytes taken.

    What a broadcast costs before its first send is what its first member waits, so that
    part is kept to a few slice copies: every request already holds the address of the one
    buffer the data is copied into (its length is set for each broadcast), and requests go in
    at the places in the ring where the kernel takes them (the submission array maps each
    place to itself, once), a batch never running past the ring's end.
    """

    def __init__(self, depth=DEPTH):
        if not sys.platform.startswith("linux") or platform.machine().startswith("alpha"):
            raise RingUnavailable(errno.ENOSYS, "io_uring is Linux's")
        self._syscall = _libc_syscall()
        params = (ctypes.c_uint32 * PARAMS_WORDS)()
        fd = self._syscall(SYS_IO_URING_SETUP, depth, params)
        if fd < 0:
            code = ctypes.get_errno()
            raise RingUnavailable(code, f"io_uring_setup: {os.strerror(code)}")
        self.fd = fd
        self.broken = None
        #: Whether this kernel was seen to end every send in the call (see open_ring): until
        #: then a send still in flight breaks the ring instead of being waited for.
        self.checked = False
        try:
            self._map(params)
        except BaseException:
            os.close(fd)
            raise
        self._buffer = ctypes.create_string_buffer(BUFFER_SIZE)
        self._address = ctypes.addressof(self._buffer)
        self._data = memoryview(self._buffer).cast("B")
        self._views.append(self._data)

    def _map(self, params):
        self.depth = depth = params[0]
        cq_entries = params[1]
        # struct io_sqring_offsets and io_cqring_offsets, in bytes from each area's start.
        _sq_head, sq_tail, sq_mask, _entries, _flags, _dropped, sq_array = params[10:17]
        cq_head, cq_tail, cq_mask, _entries, _overflow, cqes = params[20:26]
        shared, both = mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        self._maps = [
            mmap.mmap(self.fd, sq_array + depth * 4, shared, both, offset=IORING_OFF_SQ_RING),
            mmap.mmap(self.fd, cqes + cq_entries * 16, shared, both, offset=IORING_OFF_CQ_RING),
            mmap.mmap(self.fd, depth * SQE_SIZE, shared, both, offset=IORING_OFF_SQES)]
        sq, cq, sqes = (memoryview(area) for area in self._maps)
        self._sq = sq.cast("I")
        self._sq_tail = sq_tail // 4
        self._sq_mask = self._sq[sq_mask // 4]
        self._sq[sq_array // 4:sq_array // 4 + depth] = array("I", range(depth))
        self._sqes = sqes
        self._sqe_words = sqes.cast("I")  # a request's length is word 6 of its 16
        self._cq = cq.cast("I")
        self._cq_results = cq.cast("i")   # a result is word 2 of a completion's 4
        self._cq_numbers = cq.cast("Q")   # its number, quad 0 of 2
        self._cq_head, self._cq_tail = cq_head // 4, cq_tail // 4
        self._cq_mask = self._cq[cq_mask // 4]
        self._cqes = cqes // 4
        self._views = [sq, cq, sqes, self._sq, self._sqe_words, self._cq, self._cq_results,
                       self._cq_numbers]

    def close(self):
        if self.fd < 0:
            return
        for view in reversed(self._views):
            view.release()
        for area in self._maps:
            area.close()
        os.close(self.fd)
        self.fd = -1

    def requests(self, fds):
        """The send requests to *fds*, as one block: only the length is missing, which
        :meth:`send` sets for each broadcast.  (Made with a few C-level copies, however many:
        a room of thousands has its block made again after every join.)"""
        template = bytearray(SQE_SIZE)
        SQE.pack_into(template, 0, IORING_OP_SEND, 0, 0, -1, 0, self._address, 0,
                      MSG_DONTWAIT | MSG_NOSIGNAL, 0)
        block = template * len(fds)
        view = memoryview(block)
        with view.cast("i") as words, view.cast("Q") as quads:
            words[1::SQE_SIZE // 4] = array("i", fds)             # the descriptor, word 1
            quads[4::SQE_SIZE // 8] = array("Q", range(len(fds)))  # the number, quad 4
        view.release()
        return bytes(block)

    def send(self, requests, first, stop, data):
        """Send *data* to the sockets of *requests* (a block from :meth:`requests`) from place
        *first* to *stop*.  Return how many took all of it, and for each of them the bytes its
        socket took (0 where it took none or is gone: ``send()`` there tells which); or None,
        sending nothing, if *data* is larger than the ring's buffer (:data:`BUFFER_SIZE`)."""
        size = len(data)
        if size > BUFFER_SIZE:
            return None
        self._data[:size] = data
        sq, cq = self._sq, self._cq
        whole, results = 0, []
        while first < stop and self.broken is None:
            tail = sq[self._sq_tail]
            place = tail & self._sq_mask
            count = min(stop - first, self.depth - place)
            end = place + count
            self._sqes[place * SQE_SIZE:end * SQE_SIZE] = \
                requests[first * SQE_SIZE:(first + count) * SQE_SIZE]
            self._sqe_words[place * 16 + 6:end * 16:16] = array("I", [size]) * count
            sq[self._sq_tail] = (tail + count) & 0xFFFFFFFF
            taken = self._syscall(SYS_IO_URING_ENTER, self.fd, count, 0, 0, None, 0)
            head = cq[self._cq_head]
            if taken == count and self._posted_since(head) == count:
                # The usual case: all taken, all ended, and (read in one slice: a batch stays
                # within the ring's end, so within the completion ring's, twice as long) all
                # with the whole of it, so that their order does not matter.
                low = self._cqes + 4 * (head & self._cq_mask)
                took = self._cq_results[low + 2:low + 4 * count:4].tolist()
                if took.count(size) == count:
                    cq[self._cq_head] = (head + count) & 0xFFFFFFFF
                    whole += count
                    results += took
                    first += count
                    continue
            took = self._completed(taken, count, first)
            whole += took.count(size)
            results += took
            first += count
        if first < stop:  # the ring broke: the rest was not sent
            results += [0] * (stop - first)
        return whole, results

    def _posted_since(self, head):
        """Completions the kernel has posted past *head*."""
        return (self._cq[self._cq_tail] - head) & 0xFFFFFFFF

    def _completed(self, taken, count, first):
        """The results of *count* sends given from place *first*, of which the kernel took
        *taken*, the general way: by their numbers, waiting for any not posted yet (once
        :attr:`checked`), and closing the ring if the kernel did not take them all."""
        if taken != count:
            code = ctypes.get_errno() if taken < 0 else 0
            taken = max(taken, 0)
            self.broken = (f"io_uring_enter took {taken} of {count} sends"
                           + (f": {os.strerror(code)}" if code else ""))
        cq = self._cq
        head = cq[self._cq_head]
        while self.checked and self._posted_since(head) < taken:
            # Every send ends within the call that took it (MSG_DONTWAIT); a kernel that
            # posts a result a moment later is waited for here, never left in flight.
            waiting = taken - self._posted_since(head)
            if self._syscall(SYS_IO_URING_ENTER, self.fd, 0, waiting,
                             IORING_ENTER_GETEVENTS, None, 0) < 0 \
                    and ctypes.get_errno() != errno.EINTR:
                self.broken = (f"io_uring_enter, waiting for {waiting} sends: "
                               f"{os.strerror(ctypes.get_errno())}")
                break
        posted = min(taken, self._posted_since(head))
        results = [0] * count
        for completion in range(head, head + posted):
            low = self._cqes + 4 * (completion & self._cq_mask)
            number = self._cq_numbers[low // 2]
            results[number - first] = max(self._cq_results[low + 2], 0)
        cq[self._cq_head] = (head + posted) & 0xFFFFFFFF
        if posted < taken and self.broken is None:
            self.broken = f"{taken - posted} of {count} sends did not end in the call"
        if self.broken is not None:
            self.close()  # what it did not take must never be sent later
        return results


def open_ring(depth=DEPTH):
    """A :class:`SendRing`, or the reason there is none: ``(ring, None)`` or ``(None,
    reason)``.  The ring is tried first on a socket pair whose one end is full: a send to it
    must end in the call, with ``-EAGAIN``, as the loop needs."""
    try:
        ring = SendRing(depth)
    except RingUnavailable as exc:
        return None, exc.strerror
    except (OSError, AttributeError, ValueError) as exc:  # mmap, or a libc without syscall()
        return None, f"io_uring: {exc}"
    try:
        reason = _check(ring)
    except OSError as exc:
        reason = f"io_uring: {exc}"
    if reason is not None:
        ring.close()
        return None, reason
    return ring, None


def _check(ring):
    """Why *ring* will not do for the loop, or None."""
    full, reader = socket.socketpair()
    with full, reader:
        full.setblocking(False)
        try:
            while True:
                full.send(b"x" * 65536)
        except BlockingIOError:
            pass
        requests = ring.requests([full.fileno(), reader.fileno()])
        _whole, taken = ring.send(requests, 0, 2, b"probe")
        if ring.broken is not None:
            return ring.broken
        if taken != [0, 5] or full.recv(5) != b"probe":
            return (f"a send through io_uring did not do what send() does (took {taken}, "
                    "not [0, 5])")
    ring.checked = True
    return None
