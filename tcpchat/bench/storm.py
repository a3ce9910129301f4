"""A reconnect storm: everyone comes back at once; then a crowd that connects and says nothing.

After a restart or a network blip, every client reconnects within a second and sends its
registration in its first packet.  :func:`storm` plays that against a server: IRC, plain and
web clients all at once (each sends its registration as soon as it is connected), spread over
loopback addresses (127.0.2.N) as a school's or a company's users are over their machines, so
that the per-address limit holds as it does there.  It reports how many registered and how
long the storm took to settle (from the first connect to the last welcome).  Then, once they
have left, a crowd of silent connections, and one more user after it, to see that the crowd
does not keep it out.

    python -m tcpchat.bench.storm [--clients 1000] [--silent 1000]

runs it against ``python -m tcpchat.server`` with its default settings, once per backend (the
threads backend has no web port: its web share is IRC).
"""

import argparse
import re
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Clients per source address: under the server's default --max-per-ip (64).
PER_ADDRESS = 50
#: Clients opened between two looks at those already connected.
SERVE_EVERY = 20
TIMEOUT = 60.0


class _Client:
    def __init__(self, kind, number, port, source):
        self.kind, self.number = kind, number
        self.sock = socket.socket()
        self.sock.bind((source, 0))
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.received = b""
        self.done = False
        self.ws = None

    def opening(self):
        """What it sends once connected."""
        name = f"{self.kind[0]}{self.number}"
        if self.kind == "plain":
            return f"{name}\r\n".encode()
        if self.kind == "irc":
            return f"NICK {name}\r\nUSER {name} 0 * :{name}\r\n".encode()
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request
        self.ws = WSConnection(ConnectionType.CLIENT)
        return self.ws.send(Request(host="127.0.0.1", target="/irc",
                                    subprotocols=["text.ircv3.net"]))

    def receive(self, data):
        """What it sends back, if anything; sets :attr:`done` once it is welcomed."""
        if self.ws is None:
            self.received += data
            marker = b"Welcome, " if self.kind == "plain" else b" 001 "
            self.done = marker in self.received
            return b""
        from wsproto.events import AcceptConnection, Message, TextMessage
        self.ws.receive_data(data)
        reply = b""
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                name = f"w{self.number}"
                reply += self.ws.send(TextMessage(f"NICK {name}")) + self.ws.send(
                    TextMessage(f"USER {name} 0 * :{name}"))
            elif isinstance(event, Message) and " 001 " in str(event.data):
                self.done = True
        return reply


def storm(port, web_port=None, clients=1000, silent=1000, timeout=TIMEOUT, let_go=None,
          kinds=None):
    """Play the storm against a server on 127.0.0.1 *port* (and its web port, if any), then,
    once they have left, the silent crowd and a user after it; a dict of what came of it.
    *let_go*: how many of the crowd the caller expects the server to close, to wait for
    (within *timeout*); without it, those it has closed once it has been quiet a second.
    *kinds*: the clients' kinds, in turn (by default IRC, plain, and web if there is a port)."""
    kinds = kinds or (["irc", "plain", "web"] if web_port else ["irc", "plain"])
    selector = selectors.DefaultSelector()
    start = time.perf_counter()
    people = []
    waiting = 0
    for number in range(clients):
        kind = kinds[number % len(kinds)]
        client = _Client(kind, number, web_port if kind == "web" else port,
                         f"127.0.2.{1 + number // PER_ADDRESS}")
        selector.register(client.sock, selectors.EVENT_WRITE, client)
        people.append(client)
        waiting += 1
        if number % SERVE_EVERY == SERVE_EVERY - 1:
            # Those connected already say their lines now, as each of a storm's clients
            # does: opening them all first, on a loaded machine, kept the last ones silent
            # past the half second a server gives a connection over its registering bound.
            waiting -= _serve_ready(selector, 0)
    _serve(selector, waiting, start + timeout)
    settled = time.perf_counter() - start
    for client in people:
        client.sock.close()
    selector.close()
    crowd = []
    for number in range(silent):  # addresses 127.0.1.N: the crowd's own
        sock = socket.socket()
        sock.bind((f"127.0.1.{1 + number // PER_ADDRESS}", 0))
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        crowd.append(sock)
    late_in = _late_user(port, timeout)
    crowd_left = _closed(crowd, let_go, time.perf_counter() + timeout) if crowd else 0
    for sock in crowd:
        sock.close()
    return {"registered": sum(client.done for client in people), "clients": clients,
            "by kind": {kind: sum(c.done for c in people if c.kind == kind) for kind in kinds},
            "seconds": settled, "late user in": late_in, "silent let go": crowd_left,
            "silent": silent}


def _serve(selector, waiting, deadline):
    """Drive the storm's clients until each is welcomed, refused or gone, or *deadline*."""
    while waiting and time.perf_counter() < deadline:
        waiting -= _serve_ready(selector, 0.5)


def _serve_ready(selector, timeout):
    """Serve the clients ready within *timeout* once: how many of them are done with
    (welcomed, refused or gone)."""
    finished = 0
    for key, mask in selector.select(timeout):
        client = key.data
        if mask & selectors.EVENT_WRITE:
            if client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                selector.unregister(client.sock)
                finished += 1  # refused: it stays not done
                continue
            client.sock.sendall(client.opening())
            selector.modify(client.sock, selectors.EVENT_READ, client)
            continue
        try:
            data = client.sock.recv(65536)
        except OSError:
            data = b""
        reply = client.receive(data) if data else b""
        if reply:
            client.sock.sendall(reply)
        if client.done or not data:
            selector.unregister(client.sock)
            finished += 1
    return finished


def _late_user(port, timeout):
    """Whether a user who comes after the crowd registers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=("127.0.3.1", 0)) as late:
        late.sendall(b"NICK latecomer\r\nUSER late 0 * :late\r\n")
        seen = b""
        while b" 001 " not in seen and b"ERROR" not in seen:
            chunk = late.recv(65536)
            if not chunk:
                break
            seen += chunk
    return b" 001 " in seen


def _closed(crowd, wanted, deadline):
    """How many of *crowd* the server closed: waiting until *wanted* are (or, without it,
    until a second passes with none closing), or *deadline*."""
    selector = selectors.DefaultSelector()
    for sock in crowd:
        selector.register(sock, selectors.EVENT_READ)
    closed = 0
    while time.perf_counter() < deadline and (wanted is None or closed < wanted):
        ready = selector.select(1.0 if wanted is None else deadline - time.perf_counter())
        if not ready and wanted is None:
            break
        for key, _mask in ready:
            if _closed_by_server(key.fileobj):
                selector.unregister(key.fileobj)
                closed += 1
    selector.close()
    return closed


def _closed_by_server(sock):
    """Whether the server has closed *sock* (its goodbye read, and its end), without waiting
    for more."""
    try:
        data = sock.recv(65536)
        while data:
            data = sock.recv(65536)
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def start_server(backend, *options):
    """``python -m tcpchat.server`` with its defaults (but *options*) on free ports:
    (process, port, web port or None)."""
    command = [sys.executable, "-m", "tcpchat.server", "--port", "0", "--backend", backend,
               *options]
    if backend == "select":
        command += ["--web", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "listening on" in line:
            ports = [int(port) for port in re.findall(r"port (\d+)", line)]
            # Its log goes on being read, so that a full pipe never stops it.
            subprocess.Popen(["cat"], stdin=process.stderr, stdout=subprocess.DEVNULL)
            return process, ports[0], ports[1] if backend == "select" else None
    process.kill()
    raise TimeoutError("the server did not start")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tcpchat.bench.storm",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--silent", type=int, default=1000)
    args = parser.parse_args(argv)
    for backend in ("select", "threads"):
        process, port, web_port = start_server(backend)
        try:
            result = storm(port, web_port, args.clients, args.silent)
        finally:
            process.terminate()
            process.wait(TIMEOUT)
        kinds = ", ".join(f"{count} {kind}" for kind, count in result["by kind"].items())
        print(f"{backend}: {result['registered']} of {result['clients']} registered ({kinds}) "
              f"in {result['seconds']:.2f} s; then {result['silent']} silent connections, "
              f"{result['silent let go']} of them let go, and a user after them "
              f"{'got in' if result['late user in'] else 'was kept out'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
