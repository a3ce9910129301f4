"""The select loop's fast path (``SelectLoop._flush`` sending the usual case itself) against its
general path: the same bytes to every member, in order, over real loopback sockets, whether
each socket takes all its output at once or only part of it."""

import socket

import pytest

from helpers import TIMEOUT, LineSocket, register_irc, running_server, wait_until
from tcpchat.transports.selectloop import SelectLoop

MESSAGES = 300
#: Lines of 400 bytes a slow reader is sent before it reads: more than loopback's buffers
#: hold (their sizes grow to a few MiB), less than the send queue bound the test sets.
LATE = 15000


def room_traffic():
    """What four members read of 300 messages from a fifth, sent many lines to a read and
    one, every line as it came."""
    with running_server(flood=None) as server:
        members = [register_irc(server.address, f"m{number}") for number in range(4)]
        sender = register_irc(server.address, "sender")
        for member in members:
            member.send("PING :ready")
            member.expect(":ready")
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
