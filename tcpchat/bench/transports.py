"""TCP against UDP, TLS and the web gateway: the same message stream to the same receivers
over each, and what arrives.

One sender and *k* receivers join a room of their own on one server (``--udp``, ``--tls-cert``
and ``--web`` serve all four transports), all over TCP, UDP, TLS or WebSocket.  The sender
offers messages on a fixed schedule (open loop, so a server that falls behind cannot slow the
offer down), each carrying its sequence number and the time it was due to be sent.  Each
receiver records every arrival:
which numbers came (delivered %), which came after a higher one (reordered), which came twice
(duplicated), and how long after they were due (latency).  The server's CPU time over the run,
divided by what was delivered, gives its cost per thousand deliveries.

Slow receivers, in the runs that have them, read at most :data:`SLOW_BYTES` every
:data:`SLOW_TICK` seconds through a small socket buffer: a phone on a bad link, say.  Over TCP
the server keeps what they cannot take yet (up to its send queue bound); over UDP, what does
not fit in their socket buffer is dropped by the kernel.

Over the web gateway (``--web``, with wsproto installed) each client is a WebSocket speaking
IRC (:class:`WebSocketLines`), one line per message.

Over TLS the generator's clients are ``ssl.SSLSocket`` objects (non-blocking once their
handshake is done), so the generator pays for decryption too: its CPU share says when that,
and not the server, was the limit.

Unlike the fan-out generator (:mod:`tcpchat.bench.load`), every line is parsed: the rates here
are tens of thousands of deliveries a second, and the generator's own CPU is reported so that a
reader can see when it, and not the server, was the limit.
"""

import os
import selectors
import socket
import ssl
import tempfile
import time

from ..protocol.framing import split_datagram

#: Message text: "<seq> <due, ns>" padded to 64 bytes, as in the other scenarios.
TEXT_WIDTH = 64
#: Slow receivers: bytes read per tick, the tick in seconds, and their socket buffer.
SLOW_BYTES = 2048
SLOW_TICK = 0.01
SLOW_BUFFER = 16384
#: After the last message is due: stop once nothing arrived for QUIET seconds, or at DRAIN.
QUIET = 0.5
DRAIN = 10.0
REGISTER_TIMEOUT = 30.0


class Receiver:
    __slots__ = ("name", "sock", "udp", "slow", "pending", "seen", "top", "reordered",
                 "duplicated", "latencies", "cut", "lines")

    def __init__(self, name, sock, udp, slow):
        self.name = name
        self.sock = sock
        self.udp = udp
        self.slow = slow
        self.pending = b""
        self.seen = set()
        self.top = 0
        self.reordered = self.duplicated = 0
        self.latencies = []
        #: The server closed it (SendQ exceeded, over TCP).
        self.cut = False
        #: Lines that were not messages, kept while registering.
        self.lines = []


class TransportRun:
    """One run: *receivers* (*slow* of them slow) and a sender over *transport* ("tcp", "udp",
    "tls" or "web") in *channel* on the server at *address*."""

    def __init__(self, address, transport, receivers, slow, channel):
        self.address = address[:2]
        self.udp = transport == "udp"
        self.tls = transport == "tls"
        self.web = transport == "web"
        self.channel = channel
        self.selector = selectors.DefaultSelector()
        self.receivers = [self._open(f"r{i}", slow=i < slow) for i in range(receivers)]
        self.sender = self._open("s", slow=False)
        self.arrivals = 0
        self.last_arrival = None

    def _open(self, name, slow):
        if self.udp:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect(self.address)
        if not self.udp:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock.settimeout(REGISTER_TIMEOUT)
            sock = _UNCHECKED.wrap_socket(sock)  # the handshake, blocking
            sock.settimeout(None)
        if self.web:
            sock = WebSocketLines(sock, self.address)
        nick = f"{name}{self.channel[1:]}"
        sock.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN {self.channel}\r\n"
                  .encode())
        sock.setblocking(False)
        receiver = Receiver(nick, sock, self.udp, slow)
        self.selector.register(sock, selectors.EVENT_READ, receiver)
        return receiver

    def close(self):
        for receiver in [*self.receivers, self.sender]:
            try:
                receiver.sock.send(b"QUIT\r\n")
            except OSError:
                pass
            receiver.sock.close()
        self.selector.close()

    # -- Reading --------------------------------------------------------------------------

    def wait_joined(self):
        waiting = set(self.receivers) | {self.sender}
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} clients did not join {self.channel}")
            self._poll(0.05, registering=True)
            waiting = {r for r in waiting if not any(b" 366 " in line for line in r.lines)}
        for receiver in [*self.receivers, self.sender]:
            receiver.lines.clear()
            if receiver.slow:
                # Small from now on: with it, over UDP, the registration replies themselves
                # would not all fit.
                receiver.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_BUFFER)
                self.selector.unregister(receiver.sock)  # read on the slow tick only

    def _poll(self, timeout, registering=False):
        for key, _ in self.selector.select(timeout):
            self._read(key.data, budget=None, registering=registering)

    def _read(self, receiver, budget, registering=False):
        """Read what is waiting (at most *budget* bytes, if given)."""
        taken = 0
        while budget is None or taken < budget:
            # A datagram is read whole whatever the budget: a shorter read would cut it.
            size = 65536 if budget is None or receiver.udp else budget - taken
            try:
                data = receiver.sock.recv(size)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return
            except OSError:
                receiver.cut = True
                return
            if not data and not receiver.udp:
                receiver.cut = True
                if receiver.sock in self.selector.get_map():
                    self.selector.unregister(receiver.sock)
                return
            taken += len(data)
            now = time.perf_counter_ns()
            if receiver.udp:
                lines = split_datagram(data)
            else:
                lines = (receiver.pending + data).split(b"\r\n")
                receiver.pending = lines.pop()
            for line in lines:
                if b" PRIVMSG " in line and not registering:
                    self._arrival(receiver, line, now)
                elif line.startswith(b"PING") or b" PING " in line[:60]:
                    receiver.sock.send(b"PONG :" + line.rsplit(b" ", 1)[-1] + b"\r\n")
                elif line.startswith(b"ERROR"):
                    receiver.cut = True
                else:
                    receiver.lines.append(line)

    def _arrival(self, receiver, line, now):
        text = line[line.rindex(b" :") + 2:]
        seq = int(text[:9])
        if seq in receiver.seen:
            receiver.duplicated += 1
            return
        receiver.seen.add(seq)
        if seq < receiver.top:
            receiver.reordered += 1
        else:
            receiver.top = seq
        receiver.latencies.append(now - int(text[10:29]))
        self.arrivals += 1
        self.last_arrival = time.monotonic()

    def _slow_tick(self):
        for receiver in self.receivers:
            if receiver.slow and not receiver.cut:
                self._read(receiver, SLOW_BYTES)

    # -- Sending --------------------------------------------------------------------------

    def stream(self, rate, seconds):
        """Offer ``rate * seconds`` messages on schedule; read all the while.  Returns how many
        the sender handed to its socket (over UDP a full buffer refuses some)."""
        total = max(1, int(rate * seconds))
        prefix = f"PRIVMSG {self.channel} :".encode()
        sender = self.sender
        out = bytearray()
        start_ns = time.perf_counter_ns()
        interval_ns = 1e9 / rate
        next_seq = 1
        sent = 0
        next_tick = time.monotonic()
        while next_seq <= total or out:
            now_ns = time.perf_counter_ns()
            due = min(total, int((now_ns - start_ns) / interval_ns) + 1)
            while next_seq <= due:
                due_ns = start_ns + int((next_seq - 1) * interval_ns)
                text = f"{next_seq:09d} {due_ns:019d} ".encode().ljust(TEXT_WIDTH, b"x")
                line = prefix + text + b"\r\n"
                if self.udp:
                    try:
                        sender.sock.send(line)
                        sent += 1
                    except (BlockingIOError, InterruptedError):
                        pass  # the sender's own buffer is full: that message is lost
                else:
                    out += line
                    sent += 1
                next_seq += 1
            if out:
                try:
                    del out[:sender.sock.send(out)]
                except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError,
                        ssl.SSLWantReadError):
                    pass
            if time.monotonic() >= next_tick:
                self._slow_tick()
                next_tick = time.monotonic() + SLOW_TICK
            wait_ns = start_ns + int(next_seq - 1) * interval_ns - time.perf_counter_ns()
            self._poll(0 if out else max(0.0, min(wait_ns / 1e9, SLOW_TICK)))
        return sent

    def drain(self):
        """Read until nothing arrived for QUIET seconds (slow receivers included), or DRAIN."""
        start = time.monotonic()
        self.last_arrival = self.last_arrival or start
        while time.monotonic() < start + DRAIN:
            if time.monotonic() > max(self.last_arrival, start) + QUIET:
                return
            self._poll(SLOW_TICK)
            self._slow_tick()


class WebSocketLines:
    """A WebSocket client of the web gateway that the generator uses as it uses a socket:
    ``send`` takes CRLF-ended IRC lines and sends each as a message (blocking until the kernel
    took them, as a browser's send() queues them), ``recv`` gives the lines that whole
    messages carried, CRLF-ended, or raises BlockingIOError when a read completed none."""

    def __init__(self, sock, address):
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, Request
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self._message = ""
        sock.settimeout(REGISTER_TIMEOUT)
        sock.sendall(self.ws.send(Request(host=f"{address[0]}:{address[1]}", target="/irc",
                                          subprotocols=["text.ircv3.net"])))
        while not any(isinstance(event, AcceptConnection) for event in self.ws.events()):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the web gateway refused the upgrade")
            self.ws.receive_data(data)
        sock.settimeout(None)

    def __getattr__(self, name):  # fileno, setsockopt, setblocking, close: the socket's
        return getattr(self.sock, name)

    def send(self, data):
        from wsproto.connection import ConnectionState
        from wsproto.events import TextMessage
        if self.ws.state is not ConnectionState.OPEN:
            raise ConnectionResetError("the server closed the WebSocket")
        frames = b"".join(self.ws.send(TextMessage(line.decode()))
                          for line in bytes(data).split(b"\r\n") if line)
        blocking = self.sock.getblocking()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(frames)
        finally:
            self.sock.setblocking(blocking)
        return len(data)

    def recv(self, size):
        from wsproto.events import Ping, TextMessage
        data = self.sock.recv(size)
        if not data:
            return b""
        self.ws.receive_data(data)
        lines = []
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._message += event.data
                if event.message_finished:
                    lines.append(self._message.encode() + b"\r\n")
                    self._message = ""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
        if not lines:
            raise BlockingIOError("no whole message yet")
        return b"".join(lines)


#: The generator's TLS: on loopback, to a server whose certificate was made for the run.
_UNCHECKED = ssl.create_default_context()
_UNCHECKED.check_hostname = False
_UNCHECKED.verify_mode = ssl.CERT_NONE


def certificate_files():
    """A certificate and its key for the run's TLS server, made with trustme in a temporary
    folder: (cert file, key file, the folder to clean up).  Raises ImportError without
    trustme."""
    import trustme
    issued = trustme.CA().issue_cert("localhost", "127.0.0.1")
    folder = tempfile.TemporaryDirectory(prefix="tcpchat-bench-")
    cert_file = os.path.join(folder.name, "cert.pem")
    key_file = os.path.join(folder.name, "key.pem")
    for number, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(cert_file, append=number > 0)
    issued.private_key_pem.write_to_path(key_file)
    return cert_file, key_file, folder


def measured_handshakes(target, address, count):
    """*count* TLS handshakes one after another (connect, handshake, close): the server's CPU
    per handshake, and the wall time of each as the client saw it."""
    cpu, start = target.cpu_seconds(), time.perf_counter()
    for _ in range(count):
        with socket.create_connection(address, timeout=REGISTER_TIMEOUT) as raw:
            with _UNCHECKED.wrap_socket(raw):
                pass
    wall = time.perf_counter() - start
    result = dict(count=count, wall_ms=wall / count * 1000)
    if cpu is not None:
        result["server_cpu_ms"] = (target.cpu_seconds() - cpu) / count * 1000
    return result


def _percentile(ordered, share):
    return ordered[int(share * (len(ordered) - 1))] if ordered else None


def _group(receivers, sent):
    latencies = sorted(lat for r in receivers for lat in r.latencies)
    delivered = sum(len(r.seen) for r in receivers)
    return dict(receivers=len(receivers), delivered=delivered,
                delivered_share=delivered / (sent * len(receivers)) if sent else 0.0,
                reordered=sum(r.reordered for r in receivers),
                duplicated=sum(r.duplicated for r in receivers),
                cut=sum(r.cut for r in receivers),
                p50_ms=_percentile(latencies, 0.5) / 1e6 if latencies else None,
                p99_ms=_percentile(latencies, 0.99) / 1e6 if latencies else None)


def measured_run(target, transport, receivers, slow, rate, seconds, run_number,
                 process_seconds, address=None):
    """One run's figures (see the module's doc), at *address* (the target's, by default)."""
    run = TransportRun(address or target.address, transport, receivers, slow,
                       f"#t{run_number}")
    try:
        run.wait_joined()
        cpu, own, start = target.cpu_seconds(), process_seconds(), time.perf_counter()
        offered = max(1, int(rate * seconds))
        sent = run.stream(rate, seconds)
        run.drain()
        wall = time.perf_counter() - start
        server_cpu = target.cpu_seconds() - cpu if cpu is not None else None
        delivered = run.arrivals
        # A message some receiver got went through the server: the rest were lost on the way
        # in (over UDP, when the server's socket buffer overflowed).
        relayed = len(set().union(*(r.seen for r in run.receivers)))
        result = dict(transport=transport, rate=rate, seconds=seconds, offered=offered,
                      sent=sent, slow=slow, wall=wall, relayed_share=relayed / offered,
                      generator_cpu=(process_seconds() - own) / wall,
                      normal=_group([r for r in run.receivers if not r.slow], offered))
        if slow:
            result["slow_group"] = _group([r for r in run.receivers if r.slow], offered)
        if server_cpu is not None and delivered:
            result["server_cpu_per_1000"] = server_cpu / delivered * 1000
        return result
    finally:
        run.close()
