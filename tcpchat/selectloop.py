"""The select backend: one thread drives every connection with the ``selectors`` module.

One turn of the loop:

1. Wait in ``select()`` until a socket is ready or the next timer is due.
2. Accept every pending connection; read once from each readable socket into one reusable
   buffer and hand the bytes to the core.  One read per socket per turn keeps a flooding client
   from starving the others.
3. Run the core's due timers.
4. Flush: every client whose output grew, or whose socket became writable, gets one ``send()``
   of all its pending bytes (many lines in one call).  What the kernel did not take stays in the
   client's buffer, and only then is the socket watched for EVENT_WRITE; once the buffer drains
   the watch is dropped, so the loop never spins on an always-writable socket.

A connection the core marks closing is no longer read.  It is closed as soon as its output is
flushed, or after :data:`LINGER` seconds if the peer does not read it.  Shutdown uses the same
path: the core queues an ERROR line for everyone and the loop turns until all are closed, which
the linger bounds.
"""

import errno
import logging
import selectors
import socket

log = logging.getLogger("tcpchat")

#: Bytes read per recv_into: many lines at a time, one buffer for all connections.
RECV_SIZE = 1 << 16
#: Seconds a closing connection may take to flush its last output (an ERROR line, say).
LINGER = 2.0
#: Seconds to stop accepting after running out of file descriptors, instead of spinning.
ACCEPT_PAUSE = 1.0

SELECTORS = {
    "auto": selectors.DefaultSelector,
    "epoll": getattr(selectors, "EpollSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}

_LISTENER = "listener"
_WAKER = "waker"


def make_selector(name):
    factory = SELECTORS.get(name)
    if factory is None:
        raise ValueError(f"the {name!r} selector is not available on this system")
    return factory()


def listen(host, port, backlog=socket.SOMAXCONN):
    """A non-blocking listening TCP socket on *host*:*port* (IPv4 or IPv6 by the address).

    On ``::`` it accepts IPv4 as well where the system allows dual-stack sockets.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A restarted server can bind again at once, despite connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and address[0] == "::":
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:
                pass
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Connection:
    __slots__ = ("sock", "client", "events")

    def __init__(self, sock):
        self.sock = sock
        self.client = None
        self.events = selectors.EVENT_READ


class SelectLoop:
    """Serve the clients of *core* on *listener* until :meth:`request_stop` is called."""

    def __init__(self, core, listener, selector=None):
        self.core = core
        self.clock = core.clock
        self.listener = listener
        self.selector = selector if selector is not None else selectors.DefaultSelector()
        self._buffer = bytearray(RECV_SIZE)
        self._connections = set()
        #: Closing connections with output still pending -> when to give up on them.
        self._lingering = {}
        #: Clients whose socket became writable this turn: flushed with the dirty ones.
        self._writable = set()
        self._accept_paused_until = None
        self._stop_requested = False
        # Another thread or a signal handler wakes a select() in progress through this pair.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
        self.selector.register(self._wake_reader, selectors.EVENT_READ, _WAKER)

    @property
    def address(self):
        return self.listener.getsockname()

    def request_stop(self):
        """Ask :meth:`serve` to say goodbye to everyone and return; safe from any thread and
        from a signal handler."""
        self._stop_requested = True
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # already woken, or already closed

    def serve(self):
        try:
            while not self._stop_requested:
                self._turn()
            if self._accept_paused_until is None:
                self.selector.unregister(self.listener)
            self._accept_paused_until = None  # so _expire never watches the closed listener
            self.listener.close()
            self.core.shutdown()
            self._flush()
            while self._connections:
                self._turn()
        finally:
            self._close_everything()

    # -- One turn -------------------------------------------------------------------------

    def _turn(self):
        for key, mask in self.selector.select(self._timeout()):
            tag = key.data
            if tag is _LISTENER:
                self._accept()
            elif tag is _WAKER:
                self._drain_wakeups()
            else:
                if mask & selectors.EVENT_WRITE:
                    self._writable.add(tag.client)
                if mask & selectors.EVENT_READ:
                    self._read(tag)
        now = self.clock()
        deadline = self.core.next_deadline()
        if deadline is not None and deadline <= now:
            self._guarded(None, self.core.run_timers)
        self._expire(now)
        self._flush()

    def _timeout(self):
        deadlines = [deadline for deadline in (self.core.next_deadline(),
                                               self._accept_paused_until)
                     if deadline is not None]
        if self._lingering:
            deadlines.append(min(self._lingering.values()))
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self.clock())

    def _expire(self, now):
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self.selector.register(self.listener, selectors.EVENT_READ, _LISTENER)
        for conn, deadline in list(self._lingering.items()):
            if now >= deadline:
                log.info("%r: closing with %d bytes unsent", conn.client,
                         len(conn.client.outbuf))
                self._close(conn)

    # -- Accepting ------------------------------------------------------------------------

    def _accept(self):
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: the connection stays in the backlog, so the listener
                    # would be readable forever.  Stop watching it for a while instead.
                    log.error("cannot accept connections (%s); pausing %.0f s",
                              exc.strerror, ACCEPT_PAUSE)
                    self.selector.unregister(self.listener)
                    self._accept_paused_until = self.clock() + ACCEPT_PAUSE
                    return
                continue  # that peer gave up before we accepted it (ECONNABORTED)
            self._add(sock, address[0])

    def _add(self, sock, host):
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # netcat users cannot answer PING: keepalive is how a dead one is found.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        conn = _Connection(sock)
        try:
            self.selector.register(sock, selectors.EVENT_READ, conn)
        except (ValueError, OSError) as exc:
            # select() cannot watch a descriptor past FD_SETSIZE (1024); poll and epoll can.
            log.error("cannot watch a connection from %s (%s); closing it", host, exc)
            sock.close()
            return
        conn.client = self.core.connect(host)
        conn.client.link = conn
        self._connections.add(conn)

    # -- Reading --------------------------------------------------------------------------

    def _read(self, conn):
        if conn.client.closing:
            return
        try:
            count = conn.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(conn, exc)
            return
        # A copy of just the bytes read: the core may keep part of them as an unfinished line.
        self._guarded(conn.client, self.core.receive, conn.client, self._buffer[:count])

    def _guarded(self, client, call, *args):
        """Run a core call made on *client*'s behalf; a bug there costs that one connection
        (or, with no client, one timer run), never the server."""
        try:
            call(*args)
        except Exception:
            log.exception("internal error while serving %r", client)
            if client is not None:
                self.core.connection_lost(client, "Internal server error")

    # -- Writing --------------------------------------------------------------------------

    def _flush(self):
        """Send each client's pending output: one send() per socket, then fix its watch."""
        while True:
            clients = self.core.take_dirty()
            if self._writable:
                clients |= self._writable
                self._writable = set()
            if not clients:
                return
            # A lost connection below makes others dirty (its QUIT); the loop flushes them too.
            for client in clients:
                if client.link is not None:
                    self._send(client.link)

    def _send(self, conn):
        client = conn.client
        out = client.outbuf
        if out:
            try:
                sent = conn.sock.send(out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(conn, exc)
                return
            del out[:sent]
        if client.closing:
            if not out:
                self._close(conn)
                return
            self._lingering.setdefault(conn, self.clock() + LINGER)
            wanted = selectors.EVENT_WRITE
        elif out:
            wanted = selectors.EVENT_READ | selectors.EVENT_WRITE
        else:
            wanted = selectors.EVENT_READ
        if wanted != conn.events:
            self.selector.modify(conn.sock, wanted, conn)
            conn.events = wanted

    # -- Closing --------------------------------------------------------------------------

    def _lost(self, conn, exc):
        reason = exc.strerror or type(exc).__name__
        log.info("%r: %s", conn.client, reason)
        self.core.connection_lost(conn.client, reason)
        self._close(conn)

    def _close(self, conn):
        if conn not in self._connections:
            return
        self._connections.discard(conn)
        self._lingering.pop(conn, None)
        self.selector.unregister(conn.sock)  # before close(): a closed socket has no fileno
        conn.sock.close()
        conn.client.link = None
        log.debug("closed %r", conn.client)

    def _drain_wakeups(self):
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _close_everything(self):
        for conn in list(self._connections):
            self._close(conn)
        for sock in (self._wake_reader, self._wake_writer, self.listener):
            sock.close()
        self.selector.close()
