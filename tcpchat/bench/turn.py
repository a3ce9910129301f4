"""What one message to a room costs the select loop, against the send() calls it cannot avoid.

At a moderate rate every message is a loop turn of its own: read one line, fan it out, send it
to each member's socket.  The last member to get it waits for the whole turn, so the turn's
length is the server's share of the latency.  This measures, in one process on loopback:

turn           one ``SelectLoop`` turn: a member's line read, handled and sent to the N-1
               others, each its own ``send()``.
bare sends     N-1 ``send()`` calls of the same bytes on the same server sockets, and nothing
               else: the kernel's part, which no server design on one thread avoids.
ring sends     the same N-1 sends in one ``io_uring_enter()``, as the loop makes them where
               Linux has io_uring (tcpchat.transports.uring); ``--no-io-uring`` times the
               turn with a ``send()`` each, as the loop does elsewhere.

Each is run ROUNDS times, the members' sockets read empty between runs (outside the timing);
it prints the median and the 10th percentile of each, and their difference: the Python work
per recipient.  Run from the repository:

    python -m tcpchat.bench.turn [--members 100] [--rounds 300] [--gap MS] [--no-io-uring]

Back to back, each run finds the caches as the last one left them.  A server at everyday load
sleeps in ``epoll_wait`` between messages instead, and wakes to caches and branch predictors
that other work has had meanwhile: ``--gap MS`` sleeps that long before each run (outside
the timing), as at 1000 messages a second (``--gap 1``), and shows what that costs the same
turn.
"""

import argparse
import socket
import statistics
import time

from ..core import ChatCore
from ..transports.driver import listen
from ..transports.selectloop import SelectLoop
from ..transports.uring import open_ring
from .core import LINE, bench_config
from .probe import read_empty


def members_of(loop, count):
    """*count* client sockets registered in #lobby through *loop* (non-blocking)."""
    clients = []
    for number in range(count):
        clients.append(socket.create_connection(loop.address))
        clients[-1].sendall(f"NICK u{number}\r\nUSER u 0 * :u\r\n".encode())
    deadline = time.monotonic() + 30
    channels = loop.core.chat.registry.channels
    while "#lobby" not in channels or len(channels["#lobby"].members) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the members did not all register")
        loop._turn()
    for sock in clients:
        sock.setblocking(False)
    read_empty(clients)
    return clients


def summary(seconds):
    seconds = sorted(seconds)
    return statistics.median(seconds) * 1e6, seconds[len(seconds) // 10] * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.0, metavar="MS",
                        help="sleep this long before each run (default: none, back to back)")
    parser.add_argument("--no-io-uring", action="store_true",
                        help="the turn sends a send() a member (default: through io_uring, "
                             "where Linux has it)")
    args = parser.parse_args()
    gap = args.gap / 1000
    loop = SelectLoop(ChatCore(bench_config()), listen("127.0.0.1", 0),
                      io_uring=not args.no_io_uring)
    loop._timeout = lambda: 0.05  # a turn with nothing to do must not wait for a timer
    clients = members_of(loop, args.members)
    sender, others = clients[0], clients[1:]

    turns = []
    for _ in range(args.rounds):
        if gap:
            time.sleep(gap)  # asleep between messages, as the loop is at everyday load
        sender.send(LINE)
        start = time.perf_counter()
        loop._turn()
        turns.append(time.perf_counter() - start)
        read_empty(others)

    relayed = b":u0!u@127.0.0.1 " + LINE
    server_side = [transport.sock for transport in loop._transports
                   if transport.conn.client.nick != "u0"]
    sends = []
    for _ in range(args.rounds):
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        for sock in server_side:
            sock.send(relayed)
        sends.append(time.perf_counter() - start)
        read_empty(others)

    ring, _reason = open_ring()
    ring_sends = []
    if ring is not None:
        requests = ring.requests([sock.fileno() for sock in server_side])
        for _ in range(args.rounds):
            if gap:
                time.sleep(gap)
            start = time.perf_counter()
            ring.send(requests, 0, len(server_side), relayed)
            ring_sends.append(time.perf_counter() - start)
            read_empty(others)
        ring.close()

    recipients = args.members - 1
    (turn, turn_low), (bare, bare_low) = summary(turns), summary(sends)
    spacing = f", each after {args.gap:g} ms asleep" if gap else ", back to back"
    print(f"one message to {recipients} members, {args.rounds} rounds{spacing} "
          "(µs: median, 10th pct)")
    how = "through io_uring" if loop.ring is not None else "a send() each"
    print(f"  turn        {turn:7.0f}  {turn_low:7.0f}   (the loop sending {how})")
    print(f"  bare sends  {bare:7.0f}  {bare_low:7.0f}")
    if ring_sends:
        ring_median, ring_low = summary(ring_sends)
        print(f"  ring sends  {ring_median:7.0f}  {ring_low:7.0f}")
    sent = ring_median if loop.ring is not None else bare  # the way the turn sent
    print(f"  the loop's own work: {(turn - sent) / recipients:.2f} µs per recipient "
          f"(median, over the sends as it made them), the kernel's: {bare / recipients:.2f} "
          "µs per send()" + (f", {ring_median / recipients:.2f} per send through io_uring"
                             if ring_sends else ""))
    loop.request_stop()
    for sock in clients:
        sock.close()


if __name__ == "__main__":
    main()
