"""Test helpers: drive the core with no sockets, or a real server over loopback."""

import contextlib
import socket
import threading
import time

from tcpchat.chat import Config
from tcpchat.core import ChatCore
from tcpchat.message import parse
from tcpchat.selectloop import SelectLoop, listen, make_selector

#: Seconds any one socket wait in a test may take before the test fails.
TIMEOUT = 10.0


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Harness:
    """A :class:`ChatCore` with a hand-moved clock; peers are fed bytes directly."""

    def __init__(self, **config):
        self.clock = FakeClock()
        self.core = ChatCore(Config(**config), clock=self.clock,
                             wall_clock=lambda: 1_700_000_000.0)

    def connect(self, host="127.0.0.1"):
        peer = Peer(self.core, self.core.connect(host))
        peer.lines()  # the welcome notice
        return peer

    def irc(self, nick, *, caps=False):
        """A registered IRC peer, its registration output already read."""
        peer = self.connect()
        if caps:
            peer.send("CAP LS 302")
        peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} Real")
        if caps:
            peer.send("CAP END")
        peer.lines()
        return peer

    def plain(self, name):
        peer = self.connect()
        peer.send(name)
        peer.lines()
        return peer

    def run_timers(self):
        self.core.run_timers()


class Peer:
    def __init__(self, core, client):
        self.core = core
        self.client = client

    def send(self, *lines):
        """Feed each line with CRLF, as one chunk."""
        self.send_bytes(b"".join(line.encode() + b"\r\n" for line in lines))

    def send_bytes(self, data):
        self.core.receive(self.client, data)

    def output(self):
        data = bytes(self.client.outbuf)
        self.client.outbuf.clear()
        return data

    def lines(self):
        return [line for line in self.output().decode().split("\r\n") if line]

    def messages(self):
        return [parse(line) for line in self.lines()]

    def commands(self):
        return [message.command for message in self.messages()]


class LineSocket:
    """A loopback client that reads whole lines, every wait bounded by :data:`TIMEOUT`."""

    def __init__(self, address, timeout=TIMEOUT):
        self.sock = socket.create_connection(address[:2], timeout=timeout)
        self._pending = b""

    def send(self, *lines):
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    def send_bytes(self, data):
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self._pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unfinished: {self._pending!r}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def expect(self, wanted):
        """Read lines until one contains *wanted* (or satisfies it, if callable); return it."""
        seen = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = self.read_line()
            if (wanted(line) if callable(wanted) else wanted in line):
                return line
            seen.append(line)
        raise AssertionError(f"no line with {wanted!r}; saw {seen}")

    def read_all(self):
        """Every line until the server closes the connection."""
        lines = []
        while True:
            try:
                lines.append(self.read_line())
            except EOFError:
                return lines

    def close(self):
        self.sock.close()


def register_irc(address, nick, channel_joined=True):
    peer = LineSocket(address)
    peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    peer.expect(" 001 ")
    if channel_joined:
        peer.expect(" 366 ")
    return peer


def register_plain(address, name):
    peer = LineSocket(address)
    peer.expect("NOTICE")
    peer.send(name)
    peer.expect("Welcome, ")
    peer.expect("/help")
    return peer


def wait_until(condition, timeout=TIMEOUT, interval=0.005):
    """Poll *condition* until it is true or *timeout* passes; return whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@contextlib.contextmanager
def running_server(selector="auto", **config):
    """A select-backend server on a free loopback port, served from a thread."""
    core = ChatCore(Config(**config))
    loop = SelectLoop(core, listen("127.0.0.1", 0), make_selector(selector))
    thread = threading.Thread(target=loop.serve, name="tcpchat-test-server", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.request_stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the server did not stop"
