"""Test helpers: drive the core with no sockets, or a real server over loopback."""

import contextlib
import functools
import itertools
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

from tcpchat.chat.config import Config
from tcpchat.core import ChatCore
from tcpchat.protocol.message import parse
from tcpchat.transports.driver import listen
from tcpchat.server import open_sockets
from tcpchat.store.sqlite import SqliteStore
from tcpchat.transports.selectloop import SELECTORS, SelectLoop, make_selector
from tcpchat.transports.threads import ThreadsServer
from tcpchat.chat.connection import Transport
from tcpchat.chat.offload import Offload
from tcpchat.transports.tls import Certificates, client_context

#: Seconds any one socket wait in a test may take before the test fails.
TIMEOUT = 10.0
#: A scrypt cost that takes microseconds: tests of what a password opens, not of its cost.
CHEAP = (2 ** 4, 1, 1)


class FakeClock:
    """A monotonic clock moved by hand, and a wall clock that moves with it."""

    WALL_START = 1_700_000_000.0

    def __init__(self, now=1000.0):
        self.now = self.start = now

    def __call__(self):
        return self.now

    def wall(self):
        return self.WALL_START + self.now - self.start

    def advance(self, seconds):
        self.now += seconds


class RecordingTransport(Transport):
    """A transport with no I/O that counts what the core asked of it."""

    __slots__ = ("paused", "resumed", "certfp")

    def __init__(self):
        self.paused = self.resumed = 0
        #: The fingerprint of a TLS client certificate, for a test to set (SASL EXTERNAL).
        self.certfp = None

    def pause_reading(self):
        self.paused += 1

    def resume_reading(self):
        self.resumed += 1


class DirectTransport(RecordingTransport):
    """A transport the driver sends broadcasts to itself (see tcpchat.chat.delivery)."""

    __slots__ = ()
    direct = True


class Harness:
    """A :class:`ChatCore` with a hand-moved clock; peers are fed bytes directly.

    It plays a driver whose sockets take nothing until a test reads a peer's output: after
    each call, every connection with output waiting is told it was flushed
    (``Connection.flushed``), which is where the send queue bound is checked.  A driver told
    once keeps a connection until its output is gone, and so does this one.

    With *direct*, it plays one that sends broadcasts itself, as the select loop does (see
    tcpchat.chat.delivery): its transports say so, it tells the core it is quiet before a call
    when every queue was read, and after each call it puts the broadcasts' bytes where its
    peers read first (:attr:`sent`), ahead of their queues."""

    def __init__(self, history=None, offload=None, accounts=None, direct=False, **config):
        self.clock = FakeClock()
        self.core = ChatCore(Config(**config), clock=self.clock, wall_clock=self.clock.wall,
                             history=history, offload=offload, accounts=accounts)
        # msgids a test can name, the same run after run: "id1", "id2"...
        self.core.chat.new_msgid = map("id{}".format, itertools.count(1)).__next__
        self._waiting = set()
        self.core.output_ready = self._waiting.update
        self.direct = direct
        #: Connection -> bytes a broadcast "sent" it that its peer has not read yet.
        self.sent = {}
        self._conns = []
        self._order = {}  # connection -> how many came before it
        #: How many broadcasts the core recorded: a test sees the path was taken.
        self.broadcasts = 0

    def connect(self, host="127.0.0.1", dialect=None, direct=None):
        """A peer; with *direct* False, on a transport the driver does not send broadcasts to
        (as a web page's), though the harness plays a driver that does."""
        direct = self.direct if direct is None else direct
        conn = self.core.connect(host, DirectTransport() if direct else RecordingTransport(),
                                 dialect)
        self._order[conn] = len(self._order)
        if direct:
            self._conns.append(conn)
        peer = Peer(conn, self)
        peer.lines()  # the welcome notice
        return peer

    def begin_turn(self):
        """Before a core call: quiet, if every queue was read (a driver's flush sent it)."""
        if self.direct:
            self._conns = [conn for conn in self._conns if not conn.closing or conn.pending]
            self.core.chat.delivery.quiet = not any(conn.pending for conn in self._conns)

    def end_turn(self):
        broadcasts = self.core.chat.delivery.take_broadcasts()
        self.broadcasts += len(broadcasts)
        for _audience, group, skip, data in broadcasts:
            for position, conn in enumerate(group.conns):
                if position != skip:
                    self.sent[conn] = self.sent.get(conn, b"") + data
        # In the order they came (a set's is by address): runs of one script, compared,
        # see the queues cut in the same order.
        for conn in sorted(self._waiting, key=lambda conn: self._order.get(conn, -1)):
            if conn.pending and not conn.closing:
                conn.flushed()
            else:
                self._waiting.discard(conn)
        self.core.turn_ended()

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

    def plain(self, name, direct=None):
        peer = self.connect(direct=direct)
        peer.send(name)
        peer.lines()
        return peer

    def run_timers(self):
        self.begin_turn()
        self.core.run_timers()
        self.end_turn()


class Peer:
    """One connection to a :class:`Harness`, read and written as a stream transport would."""

    def __init__(self, conn, harness=None):
        self.conn = conn
        self.client = conn.client
        self.harness = harness

    def send(self, *lines):
        """Feed each line with CRLF, as one chunk."""
        self.send_bytes(b"".join(line.encode() + b"\r\n" for line in lines))

    def send_bytes(self, data):
        if self.harness is not None:
            self.harness.begin_turn()
        self.conn.receive_data(data)
        if self.harness is not None:
            self.harness.end_turn()

    def output(self):
        data = bytes(self.conn.data_to_send())
        self.conn.sent(len(data))
        if self.harness is not None and self.conn in self.harness.sent:
            data = self.harness.sent.pop(self.conn) + data
        return data

    def lines(self):
        return [line for line in self.output().decode().split("\r\n") if line]

    def messages(self):
        return [parse(line) for line in self.lines()]

    def commands(self):
        return [message.command for message in self.messages()]


class HeldOffload(Offload):
    """Off-loop work that waits until the test runs it (:meth:`run`), as a worker thread that
    has not come round to it yet would; at most *bound* at once."""

    def __init__(self, bound=8):
        self.waiting = []
        self.bound = bound

    def submit(self, work, done):
        if len(self.waiting) >= self.bound:
            return False
        self.waiting.append((work, done))
        return True

    def run(self, harness):
        """Finish every waiting job, oldest first, as the driver would on the loop."""
        while self.waiting:
            work, done = self.waiting.pop(0)
            harness.core.completed(done, work())
            harness.end_turn()


def with_caps(chat, nick, *caps):
    """A registered IRC peer that enabled *caps*, in #lobby, its output read."""
    peer = chat.connect()
    peer.send(f"CAP REQ :{' '.join(caps)}", f"NICK {nick}", f"USER {nick} 0 * :{nick} Real",
              "CAP END")
    peer.lines()
    return peer


def numerics(peer):
    """What *peer* received since last read, as ``(command, params)`` pairs."""
    return [(message.command, message.params) for message in peer.messages()]


class LineReader:
    """What a test peer does with the lines it reads (``read_line``, one at a time)."""

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
        """Every line until the server ends the connection (its FIN, or its close frame)."""
        lines = []
        while True:
            try:
                lines.append(self.read_line())
            except EOFError:
                return lines


class DatagramPeer(LineReader):
    """A loopback UDP peer: each ``send`` line goes in a datagram of its own; each datagram
    received holds whole lines; every wait is bounded by :data:`TIMEOUT`."""

    def __init__(self, address, timeout=TIMEOUT):
        self.address = address[:2]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self._lines = []
        #: The size of each datagram received.
        self.sizes = []

    def send(self, *lines):
        for line in lines:
            self.send_bytes(line.encode() + b"\r\n")

    def send_bytes(self, data):
        self.sock.sendto(data, self.address)

    def read_line(self):
        while not self._lines:
            data, _ = self.sock.recvfrom(65536)
            assert data.endswith(b"\r\n"), data  # whole lines only
            self.sizes.append(len(data))
            self._lines = data.decode().split("\r\n")[:-1]
        return self._lines.pop(0)

    def close(self):
        self.sock.close()


# -- TLS ----------------------------------------------------------------------------------

class TlsFiles:
    """A CA made for this test run, a certificate it issued for ``localhost`` and
    ``127.0.0.1``, and the files that hold them (in a folder removed at exit)."""

    def __init__(self, folder, names=("localhost", "127.0.0.1")):
        import trustme
        self.ca = trustme.CA()
        issued = self.ca.issue_cert(*names)
        self.cert_file = os.path.join(folder, "cert.pem")
        self.key_file = os.path.join(folder, "key.pem")
        self.ca_file = os.path.join(folder, "ca.pem")
        for number, pem in enumerate(issued.cert_chain_pems):  # the server's, intermediates
            pem.write_to_path(self.cert_file, append=number > 0)
        issued.private_key_pem.write_to_path(self.key_file)
        self.ca.cert_pem.write_to_path(self.ca_file)

    def certificates(self):
        """What a driver serves TLS with."""
        return Certificates(self.cert_file, self.key_file)

    def client_context(self):
        """A client's context that trusts this CA alone."""
        return client_context(self.ca_file)


@functools.cache
def tls_files():
    """The run's :class:`TlsFiles` (made once: making keys takes a moment)."""
    folder = tempfile.TemporaryDirectory(prefix="tcpchat-tls-")
    tls_files.folder = folder  # kept alive, and so the folder, until the run ends
    return TlsFiles(folder.name)


class TlsAddress(tuple):
    """A TLS server's (host, port): a :class:`LineSocket` connects to it over TLS, trusting
    the test CA."""


def tls_connect(address, timeout=TIMEOUT, context=None):
    """A TLS client socket (an ``ssl.SSLSocket``) connected to *address*, its handshake done."""
    sock = socket.create_connection(address[:2], timeout=timeout)
    context = context or tls_files().client_context()
    try:
        return context.wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


class LineSocket(LineReader):
    """A loopback client that reads whole lines, every wait bounded by :data:`TIMEOUT`; over
    TLS if *address* is a :class:`TlsAddress`.  *receive_buffer* sets SO_RCVBUF before it
    connects (a small one keeps the kernel from reading much on behalf of a test peer that
    does not read).  *context*: the client's TLS context (one that shows a certificate, say).
    """

    def __init__(self, address, timeout=TIMEOUT, receive_buffer=None, context=None):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if receive_buffer:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.sock.settimeout(timeout)
            self.sock.connect(address[:2])
            if isinstance(address, TlsAddress):
                self.sock = (context or tls_files().client_context()).wrap_socket(
                    self.sock, server_hostname="localhost")  # the handshake, done here
        except BaseException:
            self.sock.close()
            raise
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

    def shut_write(self):
        """Send no more (a FIN), and read on.  Over TLS too: the raw socket is shut, without a
        close_notify, as by a client that half-closes its TCP connection."""
        socket.socket.shutdown(self.sock, socket.SHUT_WR)

    def close(self):
        self.sock.close()


class WebPeer(LineReader):
    """A loopback WebSocket client of the web gateway (wsproto's client side), one IRC line
    per message; over TLS if *address* is a :class:`TlsAddress`.  Every wait is bounded by
    :data:`TIMEOUT`.  :attr:`accepted` is wsproto's AcceptConnection, or its RejectConnection
    for a refused upgrade; :attr:`closed`, the server's CloseConnection once one came."""

    def __init__(self, address, subprotocols=("text.ircv3.net",), origin=None,
                 receive_buffer=None):
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request
        self.lines = LineSocket(address, receive_buffer=receive_buffer)  # the socket, TLS or not
        self.sock = self.lines.sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.closed = None
        self._messages = []
        self._message = ""
        headers = [("Origin", origin)] if origin else []
        self.sock.sendall(self.ws.send(Request(
            host=f"{address[0]}:{address[1]}", target="/irc", subprotocols=list(subprotocols),
            extra_headers=headers)))
        self.accepted = None
        while self.accepted is None:
            self._pump()

    def _pump(self):
        from wsproto.events import (AcceptConnection, CloseConnection, Message, Ping,
                                    RejectConnection)
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, (AcceptConnection, RejectConnection)):
                self.accepted = event
            elif isinstance(event, Message):
                self._message += (event.data if isinstance(event.data, str)
                                  else event.data.decode())
                if event.message_finished:
                    self._messages.append(self._message)
                    self._message = ""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = event
        if not data and self.accepted is None:
            raise EOFError("connection closed before the upgrade was answered")

    def send(self, *lines):
        from wsproto.events import TextMessage
        self.sock.sendall(b"".join(self.ws.send(TextMessage(line)) for line in lines))

    def read_line(self):
        while not self._messages:
            if self.closed is not None:
                raise EOFError(f"closed by the server: {self.closed}")
            self._pump()
        return self._messages.pop(0)

    def close(self):
        self.sock.close()


def install_pause_commands(monkeypatch):
    """HUSH pauses its sender's reading, as flood control will, and says so to the sender (a
    test waits for that before going on); UNHUSH NICK resumes NICK's, from inside a core call,
    as flood control's timer will.  For the test's duration only."""
    from tcpchat.commands import irc

    def pause(chat, client, message):
        client.conn.pause_reading()
        chat.delivery.notice(client, "reading paused")

    def resume(chat, client, message):
        chat.registry.find_user(message.params[0]).conn.resume_reading()

    monkeypatch.setitem(irc.COMMANDS, "HUSH", irc.Command(pause, 0, True))
    monkeypatch.setitem(irc.COMMANDS, "UNHUSH", irc.Command(resume, 1, True))


def flood_until_quit(talker, watcher, rounds=150):
    """*talker* floods the room with long lines, a hundred at a time, while *watcher* reads
    them all, until *watcher* sees someone quit: that QUIT line (None after *rounds*)."""
    line = b"PRIVMSG #lobby :" + b"w" * 400 + b"\r\n"
    quit_line = None
    for _ in range(rounds):
        talker.send_bytes(line * 100)
        for _ in range(100):
            received = watcher.expect(lambda line: "PRIVMSG" in line or "QUIT" in line)
            if "QUIT" in received:
                quit_line = received
                watcher.expect("PRIVMSG")
        if quit_line:
            return quit_line
    return None


def register_irc(address, nick, channel_joined=True):
    peer = LineSocket(address)
    peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    peer.expect(" 001 ")
    if channel_joined:
        peer.expect(" 366 ")
    return peer


def read_cap_ls(peer):
    """What a CAP LS listed, over however many lines it took (a 302 client's list may need
    more than one, each but the last marked ``*``), space-separated as one line would be."""
    parts = []
    while True:
        line = peer.expect(" LS ")
        parts.append(line.split(" :", 1)[1])
        if " LS * :" not in line:
            return " ".join(parts)


def register_irc_udp(address, nick, caps=()):
    """A registered UDP IRC peer, in #lobby; its registration in one datagram."""
    peer = DatagramPeer(address)
    lines = [f"CAP REQ :{' '.join(caps)}"] if caps else []
    lines += [f"NICK {nick}", f"USER {nick} 0 * :{nick}"] + (["CAP END"] if caps else [])
    peer.send_bytes(b"".join(line.encode() + b"\r\n" for line in lines))
    peer.expect(" 001 ")
    peer.expect(" 366 ")
    return peer


def register_plain(address, name, udp=False):
    if udp:
        peer = DatagramPeer(address)  # no greeting over UDP: the first datagram is the name
    else:
        peer = LineSocket(address)
        peer.expect("NOTICE")
    peer.send(name)
    peer.expect("Welcome, ")
    peer.expect("/help")
    return peer


def read_text(path):
    """What the file at *path* holds so far ("" until it exists): a log another program
    writes."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return ""


def wait_until(condition, timeout=TIMEOUT, interval=0.005):
    """Poll *condition* until it is true or *timeout* passes; return whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _served_certificates(core):
    """The run's certificate, trusting the client certificates *core*'s accounts hold (SASL
    EXTERNAL), as the server sets it up."""
    certificates = tls_files().certificates()
    certificates.trust_clients(core.chat.accounts.anchors)
    return certificates


def _select_backend(selector, tcp=True, udp=False, tls=False, **options):
    def start(core):
        listener, datagram_socket, tls_listener, _ = open_sockets(
            "127.0.0.1", 0, tcp=tcp, udp=udp, tls_port=0 if tls else None)
        certificates = _served_certificates(core) if tls else None
        return SelectLoop(core, listener, make_selector(selector), datagram_socket,
                          tls_listener, certificates, **options)
    return start


def web_backend(tls=False, origins=None, port=0):
    """A select backend with the web gateway on a port of its own (*port*; over TLS if
    *tls*), beside a plaintext TCP port, for :func:`running_server`'s *start*."""
    def start(core):
        from tcpchat.transports.web import WebGateway
        certificates = tls_files().certificates() if tls else None
        gateway = WebGateway(origins, asks_password=core.chat.config.password is not None)
        return SelectLoop(core, listen("127.0.0.1", 0), web_listener=listen("127.0.0.1", port),
                          web=gateway, web_tls=tls, certificates=certificates)
    return start


def web_address(server):
    """Where a browser of *server* connects."""
    address = server.web_address
    return TlsAddress(address) if server.web_tls else address


def tls_backend(backend="select", tcp=True):
    """A server with a TLS listener (and a plaintext one, unless *tcp* is False), for
    :func:`running_server`'s *start*: *backend* is ``select`` or ``threads``."""
    if backend == "select":
        return _select_backend("auto", tcp=tcp, tls=True)

    def start(core):
        return ThreadsServer(core, listen("127.0.0.1", 0) if tcp else None,
                             listen("127.0.0.1", 0), _served_certificates(core))
    return start


def udp_backend(selector="auto", tcp=True, **options):
    """A select backend serving UDP (and TCP on the same port number, unless *tcp* is
    False), for :func:`running_server`'s *start*."""
    return _select_backend(selector, tcp=tcp, udp=True, **options)


#: Every driver the scenario suite (test_scenarios.py) runs against: a name, and how to start
#: it for a core on a free loopback port.  A new driver joins here.
DRIVERS = {f"select-{name}": _select_backend(name)
           for name, factory in SELECTORS.items() if factory is not None and name != "auto"}
#: The select backends above send a broadcast through io_uring where the system has it; this
#: one sends it a send() a member, as where io_uring is missing.
DRIVERS["select-send"] = _select_backend("auto", io_uring=False)
DRIVERS["threads"] = lambda core: ThreadsServer(core, listen("127.0.0.1", 0))
#: TLS alone: the scenario suite talks to them through :func:`served_address`.
DRIVERS["tls-select"] = tls_backend("select", tcp=False)
DRIVERS["tls-threads"] = tls_backend("threads", tcp=False)


def served_address(server):
    """Where a client of *server* connects: its plaintext address, or its TLS one if it
    serves TLS alone."""
    return server.address if server.address is not None else TlsAddress(server.tls_address)


@contextlib.contextmanager
def running_server(driver=None, start=None, clock=None, history=None, offload=None,
                   accounts=None, **config):
    """A server on a free loopback port, served from a thread: *driver* is a name from
    :data:`DRIVERS` (or *start* a function that makes a driver for a core); by default, the
    select backend with the system's best selector.  *clock*: the core's, if not the real one.
    *history*: a store, for a server that keeps history.  *offload*: where password checks
    run (at once, in the loop, without it).  *accounts*: the accounts it knows (none
    without).
    """
    core = ChatCore(Config(**config), history=history, offload=offload, accounts=accounts,
                    **({"clock": clock} if clock else {}))
    if start is None:
        start = DRIVERS[driver] if driver else _select_backend("auto")
    server = start(core)
    thread = threading.Thread(target=server.serve, name="tcpchat-test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.request_stop()
        thread.join(TIMEOUT)
        if offload is not None:
            offload.close()
        assert not thread.is_alive(), "the server did not stop"


# -- The reference client as a subprocess ---------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LineProcess:
    """A program driven through pipes, a line at a time; every read bounded by TIMEOUT."""

    def __init__(self, command, env=None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=ROOT, env=env)
        self._pending = b""
        self.seen = []

    def send(self, line):
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def close_input(self):
        self.process.stdin.close()

    def expect(self, wanted):
        """Read output lines until one matches the regular expression *wanted*; return it."""
        deadline = time.monotonic() + TIMEOUT
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self._pending:
                line, _, self._pending = self._pending.partition(b"\n")
                text = line.decode().removesuffix("\r")
                self.seen.append(text)
                if re.search(wanted, text):
                    return text
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                raise AssertionError(f"no line matching {wanted!r}; saw {self.seen}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"output ended before {wanted!r}; saw {self.seen}")
            self._pending += chunk

    def wait(self):
        """The exit status, and what went to standard error."""
        status = self.process.wait(TIMEOUT)
        return status, self.process.stderr.read().decode()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except (OSError, ValueError):
                pass


def start_server_process(*arguments):
    """``python -m tcpchat.server --port 0`` with *arguments*, once it listens: (the process,
    the address it serves).  Its log is on its stderr pipe."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tcpchat.server", "--port", "0", *arguments],
        stderr=subprocess.PIPE, text=True, cwd=ROOT)
    port = None
    deadline = time.monotonic() + TIMEOUT
    log = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        log.append(line)
        found = re.search(r"listening on \S+ port (\d+)", line)
        if found:
            port = int(found.group(1))
            process.listening = line  # the log line that names every port
            break
    if port is None:
        process.kill()
        raise AssertionError(f"the server did not start: {log}")
    return process, ("127.0.0.1", port)


def run_server(*arguments):
    """``python -m tcpchat.server --port 0`` with *arguments*, to its end (a bad option, say)."""
    return subprocess.run([sys.executable, "-m", "tcpchat.server", "--port", "0", *arguments],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=ROOT)


def english_environment():
    """This process's environment with an English (C) locale, so that the client speaks the
    language the tests read whatever the machine's locale is."""
    kept = {name: value for name, value in os.environ.items()
            if name not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    return {**kept, "LANG": "C.UTF-8"}


class ClientProcess(LineProcess):
    """``python -m tcpchat.client`` with *arguments*, on the server at *address*."""

    def __init__(self, address, *arguments):
        host, port = address[:2]
        super().__init__([sys.executable, "-m", "tcpchat.client", host, "--port", str(port),
                          *arguments], env=english_environment())


def conversation(address, channel="#lobby", alice_options=(), bob_options=()):
    """Two reference clients chat both ways on the server at *address*; both quit cleanly.
    Each one's options go on its command line (``--udp``, say)."""
    stamp = r"^\d\d:\d\d "
    alice = ClientProcess(address, "--name", "alice", "--channel", channel, *alice_options)
    bob = None
    try:
        alice.expect(f"You joined {channel}")
        bob = ClientProcess(address, "--name", "bob", "--channel", channel, *bob_options)
        bob.expect(f"You joined {channel}")
        alice.expect("bob joined")
        bob.send("hello alice")
        alice.expect(stamp + "bob: hello alice$")
        alice.send("hi bob, привет")
        bob.expect(stamp + "alice: hi bob, привет$")
        alice.send("/msg bob just between us")
        alice.expect(stamp + r"\[private\] -> bob: just between us$")
        bob.expect(stamp + r"\[private\] alice: just between us$")
        bob.send("/me waves")
        alice.expect(stamp + r"\* bob waves$")
        alice.send("/nick al")
        alice.expect(r"^\* You are now known as al$")
        bob.expect(r"^\* alice is now known as al$")
        bob.send("выход")
        alice.expect(r"^\* bob left \(")
        assert bob.wait()[0] == 0
        alice.close_input()  # Ctrl-D
        assert alice.wait()[0] == 0
    finally:
        alice.kill()
        if bob is not None:
            bob.kill()


class StalledDisk(SqliteStore):
    """A SQLite store whose writer waits at :attr:`gate` (an Event) before each write: a disk
    that stalls, for as long as a test likes."""

    def __init__(self, *args, **kwargs):
        self.gate = threading.Event()
        super().__init__(*args, **kwargs)

    def _write(self, *args):
        assert self.gate.wait(timeout=TIMEOUT)
        return super()._write(*args)
