"""What every driver shares: how it listens and accepts, when it gives up on a closing
connection, what it does when descriptors run out, and the order of a shutdown.

A driver subclasses :class:`Driver` and implements its steps (see the class); the sequence
that calls them, and the policy below, are the same for every driver, so a TCP user cannot tell
which one serves it.
"""

import errno
import logging
import socket
import ssl

from ..tls import error_reason, not_tls_reply

log = logging.getLogger("tcpchat")

#: Bytes read per receive: many lines at a time, one buffer for all connections.
RECV_SIZE = 1 << 16
#: Seconds a closing connection may take to flush its last output (an ERROR line, say).
LINGER = 2.0
#: Seconds to stop accepting after running out of file descriptors, instead of spinning.
ACCEPT_PAUSE = 1.0

#: What a browser that sent plain HTTP to the web port, served over TLS, is told.
_NOT_HTTPS = b"This port speaks HTTPS: use an https:// address.\n"
NOT_HTTPS_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                   % (len(_NOT_HTTPS), _NOT_HTTPS))

#: Bytes asked for each UDP socket buffer, each way.
DATAGRAM_BUFFER = 1 << 20

#: accept() errors that mean "no descriptor or memory for one more", not "that peer gave up".
OUT_OF_DESCRIPTORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


def listen(host, port, backlog=socket.SOMAXCONN):
    """A non-blocking listening TCP socket on *host*:*port* (IPv4 or IPv6 by the address).

    On ``::`` it accepts IPv4 as well where the system allows dual-stack sockets.
    """
    return _bound(host, port, socket.SOCK_STREAM, backlog)


def bind_datagram(host, port):
    """A non-blocking UDP socket bound to *host*:*port*, as :func:`listen` binds TCP."""
    sock = _bound(host, port, socket.SOCK_DGRAM)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            # Room for bursts: what does not fit is dropped, by the kernel on the way in and by
            # the driver on the way out.  The kernel caps this at its own limit (rmem_max).
            sock.setsockopt(socket.SOL_SOCKET, option, DATAGRAM_BUFFER)
        except OSError:
            pass
    return sock


def _bound(host, port, kind, backlog=None):
    """A non-blocking socket of *kind* bound to *host*:*port*, listening if it is TCP."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=kind, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # A restarted server can bind again at once, despite connections in TIME_WAIT.
            # (Not for UDP, where it would let a second server share the port.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and address[0] == "::":
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:
                pass
        sock.bind(address)
        if backlog is not None:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def prepare_accepted(sock, blocking):
    """Set up a socket ``accept()`` returned.  Raises OSError if its peer is already gone."""
    sock.setblocking(blocking)
    # Lines are sent whole as they are ready: no waiting to fill a segment (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # netcat users cannot answer PING: keepalive is how a dead one is found.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def failure_reason(exc):
    """What a user's QUIT says for a transport error: the kernel's words, or OpenSSL's."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {error_reason(exc)}"
    return exc.strerror or type(exc).__name__


class Deadlines:
    """Connections that must be done with something by a deadline: each one's linger (its
    last output sent), or its TLS handshake."""

    def __init__(self, clock, seconds):
        self.clock = clock
        self.seconds = seconds
        self._deadlines = {}

    def __iter__(self):
        return iter(list(self._deadlines))

    def start(self, conn):
        """*conn*'s time starts now, if it has not already."""
        self._deadlines.setdefault(conn, self.clock() + self.seconds)

    def end(self, conn):
        self._deadlines.pop(conn, None)

    def next_deadline(self):
        return min(self._deadlines.values(), default=None)

    def expired(self, now):
        """The connections whose time is up."""
        return [conn for conn, deadline in self._deadlines.items() if now >= deadline]


class Driver:
    """The life of a driver: serve until asked to stop, then say goodbye to everyone.

    A driver implements:

    ``serve_until_stopped()``  serve until :attr:`stop_requested` is set (and the driver woken);
    ``stop_accepting()``       close its listeners;
    ``drain()``                keep sending until every connection has closed, each one given
                               at most :data:`LINGER` seconds after its last output was queued;
    ``close_everything()``     release whatever is left, even after an error (and call
                               :meth:`close_own_sockets`);
    ``pause_accepting()``      stop accepting for :data:`ACCEPT_PAUSE` seconds: descriptors ran
                               out, and the waiting connection keeps the listener ready.

    A driver waits on its listeners and on :attr:`wake_reader`, the read end of a socket pair
    that :meth:`wake` writes to, so that a stop or reload request interrupts the wait.

    With *tls_listener*, connections accepted there speak TLS with the context *certificates*
    (a :class:`tcpchat.tls.Certificates`) holds when they arrive; they join the chat once
    their handshake is done, within :data:`tcpchat.tls.HANDSHAKE_TIMEOUT` seconds.
    """

    def __init__(self, core, listener, tls_listener=None, certificates=None, web_listener=None):
        self.core = core
        #: The listening TCP socket, or None (TLS alone, or datagrams alone).
        self.listener = listener
        #: The listening TLS socket, or None.
        self.tls_listener = tls_listener
        self.certificates = certificates
        #: The listening socket of the web gateway (HTTP or HTTPS), or None.
        self.web_listener = web_listener
        self.stop_requested = False
        self.reload_requested = False
        # Another thread or a signal handler wakes a wait in progress through this pair.
        self.wake_reader, self._wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    @property
    def address(self):
        """The plaintext TCP address served, or None."""
        return self.listener.getsockname() if self.listener is not None else None

    @property
    def tls_address(self):
        """The TLS address served, or None."""
        return self.tls_listener.getsockname() if self.tls_listener is not None else None

    @property
    def web_address(self):
        """The web gateway's address, or None."""
        return self.web_listener.getsockname() if self.web_listener is not None else None

    @property
    def listeners(self):
        return [sock for sock in (self.listener, self.tls_listener, self.web_listener)
                if sock is not None]

    def wake(self):
        """Interrupt the driver's wait; safe from any thread and from a signal handler."""
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # already woken, or already closed

    def drain_wakeups(self):
        try:
            while self.wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close_own_sockets(self):
        for sock in [self.wake_reader, self._wake_writer] + self.listeners:
            sock.close()

    def request_stop(self):
        """Ask :meth:`serve` to say goodbye to everyone and return; safe from any thread and
        from a signal handler."""
        self.stop_requested = True
        self.wake()

    def request_reload(self):
        """Ask the driver to read its certificate files again (SIGHUP); safe from any thread
        and from a signal handler."""
        self.reload_requested = True
        self.wake()

    def woken(self):
        """The driver's wait was interrupted through :attr:`wake_reader`: do what was asked."""
        self.drain_wakeups()
        if self.reload_requested:
            self.reload_requested = False
            if self.certificates is not None:
                self.certificates.reload()
            else:
                log.info("reload asked for, but there is nothing to reload: no TLS")

    def serve(self):
        try:
            self.serve_until_stopped()
            self.stop_accepting()
            self.say_goodbye()
            self.drain()
        finally:
            self.close_everything()

    def say_goodbye(self):
        """Queue the shutdown ERROR line for everyone (a threaded driver takes its lock)."""
        self.core.shutdown()

    @staticmethod
    def tls_broken(conn, exc):
        """*conn*'s peer broke TLS after the handshake: it leaves, and its QUIT says why."""
        reason = failure_reason(exc)
        log.info("%r: %s", conn, reason)
        conn.connection_lost(reason)

    def send_tls_goodbye(self, sock, tls, web=False):
        """Before a peer whose TLS failed is closed, send it what it can read, if its socket
        takes it: OpenSSL's alert, so its client can say what went wrong; or to a peer that
        spoke plaintext (nc, an IRC client without TLS), a line; on the web port, an HTTP
        answer."""
        if tls.spoke_tls:
            goodbye = tls.take_outgoing()
        elif web:
            goodbye = NOT_HTTPS_REPLY
        else:
            goodbye = not_tls_reply(self.address[1] if self.listener is not None else None)
        try:
            sock.send(goodbye)
        except OSError:
            pass  # it is being closed anyway

    @staticmethod
    def guarded(conn, call, *args):
        """Run a core call made on *conn*'s behalf; a bug there costs that one connection
        (or, with no connection, one timer run), never the server."""
        try:
            call(*args)
        except Exception:
            log.exception("internal error while serving %r", conn)
            if conn is not None:
                conn.connection_lost("Internal server error")

    def accept(self, listener):
        """The next connection pending on *listener* as (socket, host), or None when there is
        none now.

        A peer that gave up before it was accepted is skipped.  Out of descriptors, the
        connection stays in the backlog and the listener ready: the driver pauses accepting
        rather than spin on it.
        """
        while True:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                if exc.errno in OUT_OF_DESCRIPTORS:
                    log.error("cannot accept connections (%s); pausing %.0f s", exc.strerror,
                              ACCEPT_PAUSE)
                    self.pause_accepting()
                    return None
                continue  # ECONNABORTED, say
            return sock, address[0]
