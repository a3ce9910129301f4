"""One message at a time through a running IRC server: how long until a member has it.

``tcpchat.bench``'s latency scenario offers 1000 messages a second from ten senders and reads
ten receivers among a hundred; this is the least a latency can be on a machine.  One sender
sends a line, waits until the last member to join has it, reads the others empty, waits 5 ms
and sends the next: no queue ever builds.  With 2 members it is the machine's own round trip
through the server; with 100 it adds one message's fan-out.  Point it at any IRC server (on
loopback, with flood control off, such as ``python -m tcpchat.server --no-flood-control`` or
ngircd configured as in docs/benchmarks.rst):

    python -m tcpchat.bench.probe HOST PORT [--members 100] [--messages 300]
"""

import argparse
import select
import socket
import time

TIMEOUT = 10.0


def member(address, nick):
    sock = socket.create_connection(address, timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #probe\r\n".encode())
    seen = b""
    while b" 366 " not in seen:  # the end of NAMES: it is in the channel
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"{nick} was disconnected: {seen[-200:]!r}")
        seen += data
    sock.setblocking(False)
    return sock


def read_empty(sockets):
    for sock in sockets:
        try:
            while sock.recv(1 << 20):
                pass
        except BlockingIOError:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    members = [member((args.host, args.port), f"probe{number}")
               for number in range(args.members)]
    sender, last = members[0], members[-1]
    read_empty(members)
    seconds = []
    for number in range(args.messages):
        text = b"PRIVMSG #probe :m%d\r\n" % number
        start = time.perf_counter()
        sender.send(text)
        seen, deadline = b"", start + TIMEOUT
        while b" :m%d\r\n" % number not in seen:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"message {number} did not arrive")
            select.select([last], [], [], TIMEOUT)
            try:
                seen += last.recv(65536)
            except BlockingIOError:
                pass
        seconds.append(time.perf_counter() - start)
        read_empty(members[1:-1])
        time.sleep(0.005)  # pacing, not synchronisation: the next message must find no queue
    seconds.sort()
    p50, p90, p99 = (seconds[min(len(seconds) - 1, int(share * len(seconds)))] * 1e6
                     for share in (0.5, 0.9, 0.99))
    print(f"{args.members} members, {args.messages} messages one at a time, to the last "
          f"member (µs): p50 {p50:.0f}  p90 {p90:.0f}  p99 {p99:.0f}")
    for sock in members:
        sock.close()


if __name__ == "__main__":
    main()
