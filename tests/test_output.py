"""A connection's output queue (tcpchat.chat.output) against a bytearray, the buffer it
replaced: whatever is queued and however much of it each send takes, the same bytes go out in
the same order, the size is right, and a cut mid-line is known."""

import socket
import time

from hypothesis import given
from hypothesis import strategies as st

from tcpchat.chat.output import IOV_MAX, Output

# Whole CRLF-ended lines, as every Encoding writes them, or nothing (a message not shown).
lines = st.lists(st.binary(max_size=12).filter(lambda line: b"\n" not in line).map(
    lambda line: line + b"\r\n"), max_size=3).map(b"".join)
steps = st.lists(st.one_of(
    st.tuples(st.just("add"), lines),
    st.tuples(st.just("send"), st.floats(0, 1)),  # the share of what waits the socket takes
    st.tuples(st.just("head"), st.integers(0, 40)),
    st.tuples(st.just("front"), st.integers(1, 40)),
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("join"), st.none())), max_size=40)


@given(steps)
def test_the_queue_sends_what_a_bytearray_would(steps):
    output, model = Output(), bytearray()
    for step, value in steps:
        if step == "add":
            output += value
            model += value
        elif step == "send":
            # What one send() of the queue would take: never more than its first IOV_MAX items.
            # (All of it is Connection.sent's to handle, inlined: the queue is emptied.)
            count = int(sum(map(len, output[:IOV_MAX])) * value)
            if 0 < count < output.size:
                assert output.sent(count) == (model[count - 1] == 0x0A)
                del model[:count]
        elif step == "head":
            assert output.head(value) == bytes(model[:value])
        elif step == "front":
            front = bytes(output.front(value))
            assert front == model[:len(front)]
            assert len(front) >= min(max(1, value // 4), len(model))  # never b"" if any wait
        elif step == "cut":  # at a line's end, as the chat cuts (a mark, a begun line)
            ends = [0] + [at + 1 for at in range(len(model)) if model[at] == 0x0A]
            start = ends[int((len(ends) - 1) * value)]
            assert output.cut(start) == bytes(model[start:])
            del model[start:]
        else:
            assert output.head(output.size) == bytes(model)
        assert output.size == len(model)
        assert b"".join(output) == bytes(model)


def test_a_queue_of_several_buffers_goes_out_in_one_sendmsg_whole_and_in_order():
    """The select loop's flush hands a queue of several buffers to one sendmsg(), at most
    IOV_MAX of them: through a small socket buffer, each send takes part of the queue (ending
    mid-buffer, mid-line), and the peer reads every line, whole and in order."""
    left, right = socket.socketpair()
    with left, right:
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        left.setblocking(False)
        right.setblocking(False)
        output, expected = Output(), b""
        for number in range(3 * IOV_MAX):
            line = b"line %d\r\n" % number
            output += line
            expected += line
        received, cuts = bytearray(), 0
        deadline = time.monotonic() + 10
        while len(received) < len(expected):
            assert time.monotonic() < deadline
            if output.size:
                try:
                    sent = left.sendmsg(output[:IOV_MAX])
                except BlockingIOError:
                    sent = 0
                if sent == output.size:
                    output.discard()
                elif sent:
                    cuts += not output.sent(sent)
            try:
                received += right.recv(1 << 16)
            except BlockingIOError:
                pass
        assert received == expected
        assert cuts  # some sends ended mid-line, and the rest went after them


def test_a_backlog_sent_a_little_at_a_time_is_joined_about_once():
    """A slow reader's socket takes a few KiB a send from a backlog of small lines: each send
    is given one buffer, and the bytes joined to make those buffers add up to about the
    backlog, not to the backlog once a send."""
    output = Output()
    lines = [b"%08d\r\n" % number for number in range(100_000)]  # 1 MB in 10-byte lines
    for line in lines:
        output += line
    own = set(map(id, lines))
    joined, seen, read = 0, set(), bytearray()
    while output.size:
        buffer = output.front()
        base = buffer.obj if isinstance(buffer, memoryview) else buffer
        if id(base) not in own and id(base) not in seen:
            seen.add(id(base))
            joined += len(base)
        count = min(4096, len(buffer))
        read += buffer[:count]
        if count == output.size:
            output.discard()
        else:
            output.sent(count)
    assert read == b"".join(lines)
    assert joined < 1.5 * len(read)
