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
        elif step == "cut":
            start = int(len(model) * value)
            assert output.cut(start) == bytes(model[start:])
            del model[start:]
        else:
            assert bytes(output.joined()) == bytes(model)
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
