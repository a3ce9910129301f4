"""The load generator: many chat clients in one process and one thread, with non-blocking
sockets and batched reads, checking every delivery without parsing every line.

Why it is built this way (measured: see docs/benchmarks.rst).  A server under test relays a few
million lines a second; a Python loop that parses each line costs about as much per line as the
server spends, so a generator that parses would measure itself.  So the senders' nicks all
have one width and every message one length: a receiver's stream, once set up, is a run of
fixed-width records.  Each chunk read is checked as a whole with C-level operations: a stride
slice picks the sender column of every record, ``bytes.count`` counts each sender's records,
``find``/``rfind`` locate its first and last, and their sequence numbers must continue exactly
where that sender's last chunk ended.  That catches a lost, duplicated or reordered message
across chunks; two receivers also check every record one by one (``full_check``), which catches
reordering inside a chunk.  Anything that is not a record (a PING, a notice) falls back to
reading lines, and the records resume after it.
"""

import os
import resource
import selectors
import socket
import time
from operator import itemgetter

from ..transports.selectloop import set_watch

IRC, PLAIN = "irc", "plain"
#: What a plain user's /who answer holds, and the relay's too ("*** 3 people in #bench: ...";
#: the bench's rooms hold more than one).
WHO_ANSWER = " people in #"
#: One character names a sender in its nick ("s0" ... "sz"): a one-byte column to count.
SENDER_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"
SEQ_WIDTH = 9
#: Message text: the sequence number, a space, padding; 64 bytes, as in the issue's measurement.
TEXT_WIDTH = 64
READ_SIZE = 1 << 18
#: In the open loop, receivers that are not probes are read this often, in bulk (seconds).
BULK_INTERVAL = 0.01


class CheckFailed(AssertionError):
    """The server lost, duplicated or reordered a message, or sent what no one said."""


class Layout:
    """Where the sender and the sequence number stand in a relayed record, learnt from the
    first one seen (the prefix the server writes is its own business)."""

    __slots__ = ("length", "sender_at", "seq_at")

    def __init__(self, line, proto):
        self.length = len(line) + 2
        if proto == IRC:  # ":s3!b@host PRIVMSG #bench :000000042 ..."
            self.sender_at = 2
            self.seq_at = line.rindex(b" :") + 2
        else:  # "s3: 000000042 ..."
            self.sender_at = 1
            self.seq_at = line.index(b": ") + 2


class Client:
    """One generator connection."""

    __slots__ = ("index", "nick", "sock", "out", "pending", "progress", "full_check", "lines",
                 "reading", "closed", "events", "sender", "probe", "small_window")

    def __init__(self, index, nick, senders):
        self.index = index
        self.nick = nick
        self.sock = None
        self.out = bytearray()
        self.pending = b""
        #: Per sender: how many of its messages this client has received, in order.
        self.progress = [0] * senders
        self.full_check = False
        #: Lines read in line mode and not yet looked at by whoever waits for them.
        self.lines = []
        self.reading = True
        self.closed = False
        self.events = 0
        #: Its sender number, or None for a client that only receives.
        self.sender = None
        #: Latency is measured at probes only (see open_loop).
        self.probe = False
        #: A receive window of a few KiB from the start, for a reader that will not read.
        self.small_window = False


def raise_descriptor_limit(wanted):
    """Raise this process's descriptor limit towards *wanted*; return what it is now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Load:
    """*count* clients of *proto* on the server at *address*, the first *senders* of them
    senders, all in *channel* (for plain mode, the server's default room)."""

    def __init__(self, address, proto, count, senders, channel="#bench", join=True):
        if senders > len(SENDER_SYMBOLS):
            raise ValueError(f"at most {len(SENDER_SYMBOLS)} senders")
        self.address = address
        self.proto = proto
        self.channel = channel
        self.join = join
        self.selector = selectors.DefaultSelector()
        self.clients = []
        self.senders = []
        self.layout = None
        self.sent = [0] * senders
        #: Records received by everyone since the counter was last reset.
        self.delivered = 0
        self.latencies = None
        self.schedule = None
        self._buffer = bytearray(READ_SIZE)
        self._symbols = [SENDER_SYMBOLS[number].encode() for number in range(senders)]
        self._padding = b"x" * (TEXT_WIDTH - SEQ_WIDTH - 1)
        self._command = (b"PRIVMSG " + channel.encode() + b" :") if proto == IRC else b""
        for index in range(count):
            nick = f"s{SENDER_SYMBOLS[index]}" if index < senders else f"r{index:05d}"
            client = Client(index, nick, senders)
            if index < senders:
                client.sender = index
                self.senders.append(client)
            self.clients.append(client)
        for client in self.clients[senders:senders + 2] or self.clients[:2]:
            client.full_check = True

    # -- Setting up -------------------------------------------------------------------------

    def connect(self, clients=None, batch=200, timeout=60.0):
        """Connect and register *clients* (all by default), *batch* at a time, each waiting
        for the server's welcome (and its channel, when joining); then a sync point (PING, or
        /who in plain mode) so that what the setup made the server send has all been read."""
        clients = self.clients if clients is None else clients
        for start in range(0, len(clients), batch):
            group = clients[start:start + batch]
            for client in group:
                self._open(client)
            self._wait_lines(group, self._registered_mark(), timeout)
        for client in clients:
            client.lines.clear()
        self.sync(clients, timeout)

    def _open(self, client):
        sock = socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if client.small_window:
            # Set before connecting: the window is agreed in the handshake, and a buffer made
            # small later does not stop the kernel holding megabytes on the reader's behalf.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(self.address)
        sock.setblocking(False)
        client.sock = sock
        client.events = selectors.EVENT_READ
        self.selector.register(sock, selectors.EVENT_READ, client)
        if self.proto == IRC:
            hello = f"NICK {client.nick}\r\nUSER b 0 * :bench\r\n"
            if self.join:
                hello += f"JOIN {self.channel}\r\n"
        else:
            hello = f"{client.nick}\r\n"
        self._queue(client, hello.encode())

    def _registered_mark(self):
        if self.proto == PLAIN:
            return "*** Type a line"
        return " 366 " if self.join else " 001 "

    def sync(self, clients, timeout=60.0):
        for client in clients:
            self._queue(client, b"PING :sync\r\n" if self.proto == IRC else b"/who\r\n")
        self._wait_lines(clients, ":sync" if self.proto == IRC else WHO_ANSWER, timeout)
        for client in clients:
            client.lines.clear()

    def _wait_lines(self, clients, mark, timeout):
        """Turn until every one of *clients* has read a line containing *mark*."""
        waiting = set(clients)
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} of {len(clients)} clients never saw "
                                   f"{mark!r} (a server limit on connections per address?)")
            self.turn(0.5)
            for client in list(waiting):
                if any(mark in line for line in client.lines):
                    waiting.discard(client)
                elif client.closed:
                    raise ConnectionError(f"{client.nick} was disconnected while setting up: "
                                          f"{client.lines[-3:]}")

    # -- Running ----------------------------------------------------------------------------

    def turn(self, timeout):
        """Wait for readiness up to *timeout*; read once from each readable client and write
        to each writable one."""
        for key, mask in self.selector.select(timeout):
            client = key.data
            if mask & selectors.EVENT_READ:
                self._read(client)
            if mask & selectors.EVENT_WRITE and client.out:
                self._flush(client)

    def _read(self, client):
        try:
            count = client.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            client.lines.append(f"(the connection ended: {exc.strerror})")
            count = 0
        if not count:
            self._lose(client)
            return
        buf = self._buffer[:count]  # one copy: the buffer is reused
        if client.pending:
            buf[:0] = client.pending
        layout = self.layout
        if layout is not None and not client.full_check:
            size = layout.length
            count = len(buf) // size
            if count:
                records = buf[:count * size]
                if (records.count(b"\n") == count
                        and records[size - 1::size].count(b"\n") == count):
                    self._count_records(client, records, count)
                    client.pending = buf[count * size:]
                    return
        end = buf.rfind(b"\n") + 1
        client.pending = buf[end:]
        for line in bytes(buf[:end]).split(b"\n")[:-1]:
            self._line(client, line.rstrip(b"\r"))

    def _lose(self, client):
        client.closed = True
        self.selector.unregister(client.sock)
        client.sock.close()

    def _count_records(self, client, records, count):
        layout = self.layout
        size, seq_at = layout.length, layout.seq_at
        senders = records[layout.sender_at::size]
        progress = client.progress
        seen = 0
        for sender, symbol in enumerate(self._symbols):
            number = senders.count(symbol)
            if not number:
                continue
            seen += number
            expected = progress[sender]
            first = senders.find(symbol) * size + seq_at
            last = senders.rfind(symbol) * size + seq_at
            if (int(records[first:first + SEQ_WIDTH]) != expected
                    or int(records[last:last + SEQ_WIDTH]) != expected + number - 1):
                raise CheckFailed(f"{client.nick}: messages from s{SENDER_SYMBOLS[sender]} "
                                  f"lost, duplicated or out of order after {expected}")
            progress[sender] = expected + number
            if client.probe:
                self._note_latency(sender, expected, number)
        if seen != count:
            raise CheckFailed(f"{client.nick}: {count - seen} records from no sender")
        self.delivered += count

    def _line(self, client, line):
        if self.proto == IRC:
            if line.startswith(b"PING "):
                self._queue(client, b"PONG " + line[5:] + b"\r\n")
                return
            at = line.find(b" PRIVMSG " + self.channel.encode() + b" :")
            if line.startswith(b":s") and at > 0:
                self._record(client, line)
                return
        elif line[:1] == b"s" and line[2:4] == b": ":
            self._record(client, line)
            return
        client.lines.append(line.decode("utf-8", "replace"))

    def _record(self, client, line):
        if self.layout is None:
            self.layout = Layout(line, self.proto)
        layout = self.layout
        sender = SENDER_SYMBOLS.index(chr(line[layout.sender_at]))
        seq = int(line[layout.seq_at:layout.seq_at + SEQ_WIDTH])
        if seq != client.progress[sender]:
            raise CheckFailed(f"{client.nick}: from s{SENDER_SYMBOLS[sender]} got {seq}, "
                              f"expected {client.progress[sender]}")
        client.progress[sender] = seq + 1
        self.delivered += 1
        if client.probe:
            self._note_latency(sender, seq, 1)

    def _note_latency(self, sender, first, number):
        now = time.perf_counter()
        start, interval = self.schedule[sender]
        self.latencies.extend(now - (start + seq * interval)
                              for seq in range(first, first + number))

    def _queue(self, client, data):
        client.out += data
        self._flush(client)

    def _flush(self, client):
        if client.closed:
            client.out.clear()
            return
        try:
            sent = client.sock.send(client.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._lose(client)
            return
        del client.out[:sent]
        wanted = (selectors.EVENT_READ if client.reading else 0) | (
            selectors.EVENT_WRITE if client.out else 0)
        client.events = set_watch(self.selector, client.sock, client.events, wanted, client)

    def stop_reading(self, client):
        """Read nothing more from *client* until :meth:`resume_reading`."""
        client.reading = False
        self._flush(client)  # which sets its watch

    def resume_reading(self, client):
        client.reading = True
        self._flush(client)

    def message(self, sender):
        seq = self.sent[sender]
        self.sent[sender] = seq + 1
        return self._command + b"%09d " % seq + self._padding + b"\r\n"

    # -- Scenarios' engines -----------------------------------------------------------------

    def fan_out(self, seconds, window, receivers=None):
        """Closed loop: each sender keeps at most *window* messages in flight, a message
        being complete once every other client in *receivers* (default: all) has it.
        Returns deliveries counted over *seconds*."""
        receivers = self.clients if receivers is None else receivers
        # Each sender's receivers' progress lists, and a getter for its column: the minimum
        # over them is taken in C, since this runs every turn.
        others = [([client.progress for client in receivers if client.sender != sender],
                   itemgetter(sender)) for sender in range(len(self.senders))]
        self.delivered = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            for sender, client in enumerate(self.senders):
                progress, column = others[sender]
                done = min(map(column, progress))
                room = done + window - self.sent[sender]
                if room > 0:
                    self._queue(client, b"".join(self.message(sender) for _ in range(room)))
            self.turn(min(0.05, deadline - now))
        return self.delivered, time.perf_counter() - start

    def open_loop(self, seconds, rate, probes):
        """Open loop: *rate* messages a second in all, spread over the senders on a fixed
        schedule whatever the server does; latency is measured from each message's scheduled
        time (so a stalled server cannot hide its stall), at the *probes* only.  Returns the
        latencies.

        Every other receiver is read in bulk every :data:`BULK_INTERVAL`: read the moment data
        arrives, 99 receivers of 1000 messages a second cost the generator some 99 000 reads a
        second, more than its core has, and it would measure its own backlog.  The bulk reads
        are spread out, one receiver at a time, round the interval: all 90 at once held the
        loop for milliseconds, and the probes' figures and the sends with it.
        """
        interval = len(self.senders) / rate
        origin = time.perf_counter() + 0.01
        self.schedule = [(origin + number * interval / len(self.senders), interval)
                         for number in range(len(self.senders))]
        self.latencies = []
        for client in self.clients:
            client.probe = client in probes
        bulk = [client for client in self.clients if not client.probe]
        for client in bulk:
            self.stop_reading(client)
        bulk_step = BULK_INTERVAL / max(len(bulk), 1)
        next_bulk, turn_of = origin, 0
        end = origin + seconds
        while time.perf_counter() < end:
            now = time.perf_counter()
            if bulk and now >= next_bulk:
                client = bulk[turn_of % len(bulk)]
                turn_of += 1
                if not client.closed:
                    self._read(client)
                next_bulk = max(next_bulk + bulk_step, now - BULK_INTERVAL)
            soonest = min(end, next_bulk)
            for sender, client in enumerate(self.senders):
                first, _ = self.schedule[sender]
                due = int((now - first) / interval) + 1 if now >= first else 0
                if due > self.sent[sender]:
                    self._queue(client, b"".join(self.message(sender)
                                                 for _ in range(due - self.sent[sender])))
                soonest = min(soonest, first + self.sent[sender] * interval)
            # epoll's timeout is counted in whole milliseconds: sleep to within one of the
            # next send, then poll, so that sends leave on time (this spins the generator's
            # own core for that last millisecond).
            wait = soonest - time.perf_counter()
            self.turn(wait - 0.001 if wait > 0.002 else 0)
        for client in self.clients:
            client.probe = False
        for client in bulk:
            self.resume_reading(client)
        latencies, self.latencies = self.latencies, None
        return latencies

    def drain(self, receivers=None, timeout=10.0):
        """Read until every message sent has reached every other client in *receivers*, then
        check that it did: the exact part of the check."""
        receivers = self.clients if receivers is None else receivers
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(client.progress[sender] == self.sent[sender]
                   for client in receivers for sender in range(len(self.senders))
                   if client.sender != sender):
                return
            self.turn(0.05)
        missing = sum(self.sent[sender] - client.progress[sender]
                      for client in receivers for sender in range(len(self.senders))
                      if client.sender != sender)
        raise CheckFailed(f"{missing} deliveries never arrived")

    def close(self):
        for client in self.clients:
            if client.sock is not None and not client.closed:
                self.selector.unregister(client.sock)
                client.sock.close()
                client.closed = True
        self.selector.close()


def process_seconds():
    """CPU seconds this process has used."""
    usage = os.times()
    return usage.user + usage.system
