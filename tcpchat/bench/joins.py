"""A crowd joining one room, on each backend: what a JOIN broadcast costs each design.

Every user who joins is announced to everyone already in the room, so N users joining one
room is N*(N-1)/2 deliveries in a burst.  This starts ``python -m tcpchat.server`` with each
backend on a free loopback port, connects N users that all register into the default room
(each sends NICK and USER and is autojoined), and times, from the first connection:

register   until every user has read the end of its NAMES reply (366);
ping-all   every user sends a PING at once, until every one has read its PONG;
close      every socket closed, until the server holds no more threads than at the start
           (the threads backend has two per connection).

The users send everything before reading anything, so the server's output waits in its own
buffers; nothing here measures a client.  Run from the repository (each backend in turn, one
after the other on the same machine):

    python -m tcpchat.bench.joins [--users 1000] [--backends select,threads]
"""

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from .targets import accepts, start_on_free_ports

ROOT = Path(__file__).resolve().parents[2]

TIMEOUT = 300.0


def server(backend):
    """``(process, port)``: a *backend* server started on a free port."""
    started = start_on_free_ports(1, lambda ports: [subprocess.Popen(
        [sys.executable, "-m", "tcpchat.server", "--port", str(ports[0]), "--backend", backend,
         "--max-clients", "0", "--max-per-ip", "0", "--max-unregistered", "100000",
         "--no-flood-control", "--log-level", "WARNING"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)],
        lambda ports: accepts(("127.0.0.1", ports[0])))
    if started is None:
        raise RuntimeError(f"the {backend} server exited at start")
    (port,), (process,) = started
    return process, port


def threads_of(process):
    return len(os.listdir(f"/proc/{process.pid}/task"))


def read_until(sock, marker):
    data = b""
    while marker not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}")
        data += chunk


def measure(backend, users):
    process, port = server(backend)
    try:
        idle_threads = threads_of(process)
        start = time.perf_counter()
        socks = []
        for number in range(users):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.sendall(f"NICK u{number}\r\nUSER u 0 * :u\r\n".encode())
            socks.append(sock)
        for sock in socks:
            read_until(sock, b" 366 ")
        register = time.perf_counter() - start
        start = time.perf_counter()
        for sock in socks:
            sock.sendall(b"PING :all\r\n")
        for sock in socks:
            read_until(sock, b"PONG")
        ping = time.perf_counter() - start
        start = time.perf_counter()
        for sock in socks:
            sock.close()
        deadline = start + TIMEOUT
        while threads_of(process) > idle_threads and time.perf_counter() < deadline:
            time.sleep(0.05)  # the server letting its threads go: polled, bounded
        return register, ping, time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--backends", default="select,threads")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.users + 100 > hard:
        parser.error(f"this process may open {hard} descriptors")
    print(f"{args.users} users joining one room (each join announced to all already in it), "
          "seconds from the first connection:")
    print(f"{'backend':>8} {'register':>9} {'ping-all':>9} {'close':>7}")
    for backend in args.backends.split(","):
        register, ping, close = measure(backend, args.users)
        print(f"{backend:>8} {register:>9.2f} {ping:>9.2f} {close:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
