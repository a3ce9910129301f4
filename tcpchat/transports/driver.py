"""What every driver shares: how it listens and accepts, whom it lets in, when it gives up on
a closing connection, what it does when descriptors run out, and the order of a shutdown.

A driver subclasses :class:`Driver` and implements its steps (see the class); the sequence
that calls them, and the policy below, are the same for every driver, so a TCP user cannot tell
which one serves it.
"""

import argparse
import collections
import errno
import ipaddress
import logging
import os
import socket
import ssl
from collections import namedtuple
from dataclasses import dataclass

from ..core import goodbye
from ..text.catalog import _
from .memory import Trimmer
from .tls import error_reason

log = logging.getLogger("tcpchat")

#: Bytes read per receive: many lines at a time, one buffer for all connections.
RECV_SIZE = 1 << 16
#: Seconds a closing connection may take to flush its last output (an ERROR line, say).
LINGER = 2.0
#: Seconds to stop accepting after running out of file descriptors, instead of spinning.
ACCEPT_PAUSE = 1.0

#: What a browser that sent plain HTTP to the web port, served over TLS, is told.
_NOT_HTTPS = b"This port speaks HTTPS: use an https:// address.\n"
#: Why a connection is turned away when there is no room for it.
SERVER_FULL = _("Server full")
NOT_HTTPS_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                   % (len(_NOT_HTTPS), _NOT_HTTPS))

#: Bytes asked for each UDP socket buffer, each way.
DATAGRAM_BUFFER = 1 << 20

#: accept() errors that mean "no descriptor or memory for one more", not "that peer gave up".
OUT_OF_DESCRIPTORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


@dataclass(frozen=True)
class AdmissionPolicy:
    """Whom a driver lets in, and how it watches their sockets.  0 means no limit."""

    #: Connections held at once, users or not yet (TLS handshakes, web requests).
    max_clients: int = 1024
    #: Connections from one IPv4 address, or one IPv6 /64 (what one host usually has).
    max_per_ip: int = 64
    #: TCP keepalive: probe a silent peer after *idle* seconds, every *interval* seconds,
    #: *count* times before the kernel gives up on it: a vanished peer is found in
    #: idle + interval * count seconds (two minutes), not the system's two hours.
    keepalive: tuple = (60, 10, 6)


#: What the drivers' constructors assume when given no policy: no limits (tests, embedding);
#: ``python -m tcpchat.server`` passes the defaults above, or what its options say.
UNLIMITED = AdmissionPolicy(max_clients=0, max_per_ip=0)


def address_key(host):
    """What --max-per-ip counts *host* (an address string) as: an IPv4 address (also when
    mapped into IPv6), or an IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Admission:
    """Counts the connections a driver holds, by address, against an
    :class:`AdmissionPolicy`.  A connection over a limit is refused before anything is kept
    for it; every admitted connection is released exactly once, when its socket is closed."""

    def __init__(self, policy):
        self.policy = policy
        self.count = 0
        self._per_key = {}

    def admit(self, host):
        """Count a connection from *host*; or, over a limit, the reason it is refused."""
        policy = self.policy
        if policy.max_clients and self.count >= policy.max_clients:
            return SERVER_FULL
        key = address_key(host)
        held = self._per_key.get(key, 0)
        if policy.max_per_ip and held >= policy.max_per_ip:
            return _("Too many connections from your address")
        self._per_key[key] = held + 1
        self.count += 1
        return None

    def release(self, host):
        key = address_key(host)
        held = self._per_key.pop(key) - 1
        if held:
            self._per_key[key] = held
        self.count -= 1


def raise_descriptor_limit():
    """Raise this process's limit on open descriptors to its hard limit, as far as the system
    lets it; returns the limit now in force (None where there is no such limit)."""
    try:
        import resource
    except ImportError:  # not on this system (Windows)
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted


def listen(host, port, backlog=socket.SOMAXCONN, shared=False):
    """A non-blocking listening TCP socket on *host*:*port* (IPv4 or IPv6 by the address).

    On ``::`` it accepts IPv4 as well where the system allows dual-stack sockets.  *shared*:
    other processes of this user may listen on the same port (``SO_REUSEPORT``), and the
    kernel spreads new connections among them.
    """
    return _bound(host, port, socket.SOCK_STREAM, backlog, shared)


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


def _bound(host, port, kind, backlog=None, shared=False):
    """A non-blocking socket of *kind* bound to *host*:*port*, listening if it is TCP."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=kind, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # A restarted server can bind again at once, despite connections in TIME_WAIT.
            # (Not for UDP, where it would let a second server share the port.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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


#: The socket options that set keepalive's idle time, interval and count, where the system
#: has them (macOS calls the first TCP_KEEPALIVE).
_KEEPALIVE_OPTIONS = tuple(getattr(socket, name, None) for name in (
    "TCP_KEEPIDLE" if hasattr(socket, "TCP_KEEPIDLE") else "TCP_KEEPALIVE",
    "TCP_KEEPINTVL", "TCP_KEEPCNT"))


def prepare_accepted(sock, blocking, keepalive=AdmissionPolicy.keepalive):
    """Set up a socket ``accept()`` returned.  Raises OSError if its peer is already gone."""
    sock.setblocking(blocking)
    # Lines are sent whole as they are ready: no waiting to fill a segment (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # netcat users cannot answer PING: keepalive is how a dead one is found.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in zip(_KEEPALIVE_OPTIONS, keepalive):
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class Port(namedtuple("Port", "sock tls web")):
    """A listening socket, and what the connections accepted on it speak: TLS first (*tls*),
    then HTTP and IRC over WebSocket (*web*), or else IRC and plain text.  What travels with
    an accepted connection from the accept to its transport."""

    __slots__ = ()


def port_number(text, lowest=0):
    """A port number from the command line (argparse's *type*): *lowest* (0, any free port,
    where a server listens) to 65535, else a usage error that says so, rather than the
    number the kernel would make of it (99999 listens on 34463)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text!r} is not a port number", text=text)) \
            from None
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(_("{port} is not a port: ports are {lowest} to 65535",
                                           port=port, lowest=lowest))
    return port


def refuse(sock, reason, port):
    """Tell a connection just accepted on *port* why it cannot be served, if it can read it,
    and close it: the chat's goodbye (:func:`~tcpchat.core.goodbye`), or on the web port an
    HTTP 503.  A TLS peer is closed unanswered: it could read nothing before a handshake the
    server will not spend on it."""
    try:
        sock.setblocking(False)
        if not port.tls:
            if port.web:
                body = _("{reason}: try again later.", reason=reason).encode() + b"\n"
                sock.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
                          b"charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n"
                          b"\r\n%s" % (len(body), body))
            else:
                sock.send(goodbye(reason))
            # Closing with unread input would send a reset, and the peer's kernel would throw
            # the line away unread: end our side, and read what it already sent.
            sock.shutdown(socket.SHUT_WR)
            sock.recv(RECV_SIZE)
    except OSError:
        pass  # it is being closed anyway
    sock.close()


def failure_reason(exc):
    """What a user's QUIT says for a transport error: the kernel's words, or OpenSSL's."""
    if isinstance(exc, ssl.SSLError):
        return _("TLS error: {reason}", reason=error_reason(exc))
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
        if not self._deadlines:  # nearly always: asked every turn of a loop
            return ()
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
    (a :class:`tcpchat.transports.tls.Certificates`) holds when they arrive; they join the chat once
    their handshake is done, within :data:`tcpchat.transports.tls.HANDSHAKE_TIMEOUT` seconds.

    Every accepted connection passes :attr:`admission` (the limits of *policy*, an
    :class:`AdmissionPolicy`) before anything is kept for it, and a driver calls
    :meth:`released` when it closes an admitted socket.  One descriptor is kept spare, so that
    even when the process has none left the driver can accept a connection, tell it the server
    is full, and close it, rather than leave it waiting in the backlog.
    """

    def __init__(self, core, listener, tls_listener=None, certificates=None, web_listener=None,
                 policy=UNLIMITED, web_tls=False):
        self.core = core
        self.policy = policy
        self.admission = Admission(policy)
        self._spare = _spare_descriptor()
        #: The listening TCP socket, or None (TLS alone, or datagrams alone).
        self.listener = listener
        #: The listening TLS socket, or None.
        self.tls_listener = tls_listener
        self.certificates = certificates
        #: The listening socket of the web gateway (HTTP or HTTPS), or None.
        self.web_listener = web_listener
        #: Each listening socket with what its connections speak.
        self.ports = [Port(sock, tls, web) for sock, tls, web in (
            (listener, False, False), (tls_listener, True, False),
            (web_listener, web_tls, True)) if sock is not None]
        self.stop_requested = False
        self.reload_requested = False
        # Another thread or a signal handler wakes a wait in progress through this pair.
        self.wake_reader, self._wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        #: Off-loop work that finished: (done, result) pairs for the core, in order.
        self._completed = collections.deque()
        core.chat.offload.post = self.post_completed
        #: Gives the C allocator's free memory back to the system after a burst; a driver
        #: ticks it on its loop (see tcpchat.transports.memory).
        self.trimmer = Trimmer(core.clock())

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
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def admit(self, sock, host, port):
        """Whether the connection just accepted on *sock* may be served; if not, it has been
        told why and closed."""
        refusal = self.admission.admit(host)
        if refusal is None:
            return True
        self.turn_away(sock, host, refusal, port)
        return False

    def turn_away(self, sock, host, refusal, port, why=None):
        """Refuse the connection just accepted on *sock*: log it, with *why* if the log says
        more than the peer is told (at a bounded rate: a flood of them is no flood of log
        lines), tell it, close it."""
        self.note_refusal(host, refusal if why is None else why)
        refuse(sock, refusal, port)

    def note_refusal(self, host, why):
        self.core.chat.stats.refusals[str(why)] += 1
        self.core.repeats.note(logging.WARNING, ("refused", host, str(why)),
                               "refused a connection from %s: %s",
                               "refused %d more connections in the last %.0f s from %s: %s",
                               host, why)

    def arrival_failed(self, host, how):
        """A connection from *host* that never joined the chat (*how*: "TLS handshake with
        %s timed out", say): logged at a bounded rate, per address."""
        self.core.repeats.note(logging.INFO, ("arrival", host), how, "%d more connections in "
                               "the last %.0f s from %s did not join (the first: see above)",
                               host)

    def released(self, host):
        """An admitted connection's socket from *host* was closed."""
        self.admission.release(host)

    def request_stop(self):
        """Ask :meth:`serve` to say goodbye to everyone and return; safe from any thread and
        from a signal handler."""
        self.stop_requested = True
        self.wake()

    def request_reload(self):
        """Ask the driver to read its certificate files again, and the core its accounts
        (SIGHUP); safe from any thread and from a signal handler."""
        self.reload_requested = True
        self.wake()

    def post_completed(self, done, result):
        """Off-loop work finished (see :mod:`tcpchat.chat.offload`); called from a worker
        thread: the core hears of it on the loop, once this wakes it."""
        self._completed.append((done, result))
        self.wake()

    def woken(self):
        """The driver's wait was interrupted through :attr:`wake_reader`: do what was asked."""
        self.drain_wakeups()
        completed = self._completed
        while completed:
            self.guarded(None, self.core.completed, *completed.popleft())
        if self.reload_requested:
            self.reload_requested = False
            if self.core.reloaders:  # first: the accounts hold the client certificates
                self.guarded(None, self.core.reload)
            if self.certificates is not None:
                self.certificates.reload()
            elif not self.core.reloaders:
                log.info("reload asked for, but there is nothing to reload: no TLS, no --db")

    def serve(self):
        try:
            self.serve_until_stopped()
            self.stop_accepting()
            if self.say_goodbye():
                self.drain()
            # Else nobody is closing, and draining would never end: close everything now.
        finally:
            self.close_everything()

    def say_goodbye(self):
        """Queue the shutdown ERROR line for everyone (a threaded driver takes its lock);
        False if the core failed to."""
        return self.guarded(None, self.core.shutdown)

    @classmethod
    def tls_broken(cls, conn, exc):
        """*conn*'s peer broke TLS after the handshake: it leaves, and its QUIT says why."""
        reason = failure_reason(exc)
        log.info("%r: %s", conn, reason)
        cls.guarded(conn, conn.connection_lost, reason)

    def send_tls_goodbye(self, sock, tls, web=False):
        """Before a peer whose TLS failed is closed, send it what it can read, if its socket
        takes it: OpenSSL's alert, so its client can say what went wrong; or to a peer that
        spoke plaintext (nc, an IRC client without TLS), a line; on the web port, an HTTP
        answer."""
        if tls.spoke_tls:
            farewell = tls.take_outgoing()
        elif web:
            farewell = NOT_HTTPS_REPLY
        elif self.listener is not None:
            farewell = goodbye(_("this port speaks TLS; plaintext is on port {port}",
                                 port=self.address[1]))
        else:
            farewell = goodbye(_("this port speaks TLS"))
        try:
            sock.send(farewell)
        except OSError:
            pass  # it is being closed anyway

    @staticmethod
    def guarded(conn, call, *args):
        """Run a core call made on *conn*'s behalf; a bug there costs that one connection
        (or, with no connection, one timer run), never the server.  False if it failed."""
        try:
            call(*args)
        except Exception:
            log.exception("internal error while serving %r", conn)
            if conn is not None:
                Driver.drop(conn)
            return False
        return True

    @staticmethod
    def drop(conn):
        """Let *conn* go after an internal error: it leaves the chat ("Internal server
        error"), or if even that fails, it is cut off from the driver's side; either way its
        driver is told to close it."""
        try:
            conn.connection_lost(_("Internal server error"))
        except Exception:
            log.exception("internal error while dropping %r", conn)
            conn.abandon()
        conn.core.output_ready({conn})

    @classmethod
    def connect(cls, core, peer, transport, dialect=None):
        """``core.connect`` for *transport*, guarded (for every driver, the UDP endpoint
        too): True if the core now knows it; if not, whatever was made of it is being
        dropped."""
        try:
            core.connect(peer, transport, dialect)
        except Exception:
            log.exception("internal error while connecting %s", peer)
            if transport.conn is not None:
                cls.drop(transport.conn)
            return False
        return True

    def accept(self, port):
        """The next connection pending on *port* as (socket, host), or None when there is
        none now.

        A peer that gave up before it was accepted is skipped.  Out of descriptors, the
        connection stays in the backlog and the listener ready: the driver pauses accepting
        rather than spin on it.
        """
        while True:
            try:
                sock, address = port.sock.accept()
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                if exc.errno not in OUT_OF_DESCRIPTORS:
                    continue  # ECONNABORTED, say
                if self._turn_away(port):
                    continue
                log.error("cannot accept connections (%s); pausing %.0f s", exc.strerror,
                          ACCEPT_PAUSE)
                self.pause_accepting()
                return None
            return sock, address[0]

    def _turn_away(self, port):
        """Out of descriptors: spend the spare one on accepting the waiting connection, tell
        it the server is full, close it, and take the spare back.  False if that failed."""
        if self._spare is None:
            return False
        os.close(self._spare)
        try:
            sock, address = port.sock.accept()
        except OSError:
            sock = None
        else:
            self.turn_away(sock, address[0], SERVER_FULL, port, "out of descriptors")
        self._spare = _spare_descriptor()
        return sock is not None and self._spare is not None


def _spare_descriptor():
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None
