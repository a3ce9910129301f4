"""Fan-out throughput: how many message deliveries per second, in the core and over loopback.

A delivery is one message reaching one recipient.  Two measurements, in one run so that their
ratio means something on a shared, noisy machine:

core      The sans-IO core alone: one sender posts to a channel of N members, the recipients'
          buffers are emptied after each message, when the core says they have output.  No sockets: the cost of parsing, one encode
          and N buffer appends.
loopback  The select backend in this process's thread, N reader threads on loopback sockets
          and one sender; counts bytes until every reader has every line.

Run: python benchmarks/fanout.py [--members 100] [--messages 2000]
"""

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tcpchat.backends.driver import listen  # noqa: E402
from tcpchat.backends.selectloop import SelectLoop  # noqa: E402
from tcpchat.chat import Config  # noqa: E402
from tcpchat.connection import Transport  # noqa: E402
from tcpchat.core import ChatCore  # noqa: E402


def discard_output(connections):
    """Stands in for a driver's send, as cheaply as can be, so the figure is the core's."""
    for conn in connections:
        conn.outbuf.clear()


def core_rate(members, messages):
    core = ChatCore(Config(sendq=1 << 30))
    core.output_ready = discard_output
    connections = []
    for i in range(members):
        conn = core.connect("127.0.0.1", Transport())
        conn.receive_data(f"NICK u{i}\r\nUSER u 0 * :u\r\n".encode())
        connections.append(conn)
    sender = connections[0]
    line = b"PRIVMSG #lobby :" + b"x" * 60 + b"\r\n"
    start = time.perf_counter()
    for _ in range(messages):
        sender.receive_data(line)
    elapsed = time.perf_counter() - start
    return messages * (members - 1) / elapsed, elapsed


def loopback_rate(members, messages, loop=None):
    """Deliveries per second, and seconds, through *loop*: a select loop not serving yet
    (by default this tree's, on a free loopback port)."""
    if loop is None:
        loop = SelectLoop(ChatCore(Config(sendq=1 << 30)), listen("127.0.0.1", 0))
    server = threading.Thread(target=loop.serve, daemon=True)
    server.start()
    address = loop.address
    readers = []
    for i in range(members - 1):
        sock = socket.create_connection(address)
        sock.sendall(f"NICK r{i}\r\nUSER r 0 * :r\r\n".encode())
        readers.append(sock)
    sender = socket.create_connection(address)
    sender.sendall(b"NICK sender\r\nUSER s 0 * :s\r\n")
    # Drain registration output until each reader has seen the sender join.
    for sock in readers:
        seen = b""
        while b":sender!" not in seen:
            seen += sock.recv(65536)
    line = b"PRIVMSG #lobby :" + b"x" * 60 + b"\r\n"
    relayed = len(b":sender!s@127.0.0.1 ") + len(line)
    done = threading.Barrier(len(readers) + 1)

    def read_all(sock):
        remaining = relayed * messages
        while remaining > 0:
            remaining -= len(sock.recv(1 << 20))
        done.wait()

    threads = [threading.Thread(target=read_all, args=(s,), daemon=True) for s in readers]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    sender.sendall(line * messages)
    done.wait()
    elapsed = time.perf_counter() - start
    loop.request_stop()
    server.join()
    for sock in readers + [sender]:
        sock.close()
    return messages * (members - 1) / elapsed, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    print(f"{args.members} channel members, {args.messages} messages of 60 bytes of text, "
          f"{(args.members - 1) * args.messages} deliveries each way")
    rate, elapsed = core_rate(args.members, args.messages)
    print(f"core      {rate / 1e6:6.2f} M deliveries/s  ({elapsed:.3f} s)")
    loop_rate, elapsed = loopback_rate(args.members, args.messages)
    print(f"loopback  {loop_rate / 1e6:6.2f} M deliveries/s  ({elapsed:.3f} s)")
    print(f"loopback / core = {loop_rate / rate:.2f}")


if __name__ == "__main__":
    main()
