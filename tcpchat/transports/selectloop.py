"""The select backend: one thread drives every connection with the ``selectors`` module.

One turn of the loop:

1. Wait in ``select()`` until a socket is ready or the next timer is due.
2. Accept up to :data:`ACCEPTS_PER_TURN` pending connections a listener; read once from each
   readable socket into one reusable buffer and hand the bytes to its
   :class:`~tcpchat.chat.connection.Connection`.  One read per socket per turn keeps a flooding
   client from starving the others.
3. Run the core's due timers, and tell it the turn is read (``ChatCore.turn_ended``: only now
   may it judge which connections are silent).
4. Flush: first the broadcasts the core recorded (a channel's message while nothing else
   waited for anyone: see "Broadcasts" in :mod:`tcpchat.chat.delivery`), each sent to its
   audience's plain TCP sockets an Encoding at a time, with no Python a member: all of the
   sends in one system call, through io_uring, where Linux has it
   (:mod:`tcpchat.transports.uring`), or else in one pass of C calls (``map``); a socket that
   takes less than all of it gets the rest through its connection's queue, ahead of what
   waits there.  Then every connection the core said has new output
   (``ChatCore.output_ready``), or whose socket became writable, gets one ``send()`` of all
   its pending bytes (many lines in one call; a ``sendmsg()`` of its queue's buffers, where it
   holds several).  What the kernel did not take stays in the connection, and only then is
   the socket watched for EVENT_WRITE; once it drains the watch is dropped, so the loop never
   spins on an always-writable socket.  If nothing is left unsent on a plain TCP socket, the
   loop tells the core it is quiet (``Delivery.quiet``): the next channel message may be a
   broadcast.

After its flush, a connection with more output waiting than the send queue bound is cut
(``Connection.flushed``): the bound counts what the peer failed to read, never what one turn
queued.

A socket is watched for EVENT_READ unless its connection is closing or paused.  Once a closing
connection's output is all sent, the loop shuts down its sending side and reads (and throws
away) what the peer still sends, and closes once nothing is left unread: closing a socket that
has unread input would send a reset, and the peer's kernel would throw away the goodbye it had
not read yet.  The linger bound ends either wait if the peer does not read or keeps sending
(:mod:`tcpchat.transports.driver` holds that policy and the shutdown sequence).

A TLS connection (``--tls-cert``) is a :class:`TlsTransport`: the loop moves its socket's bytes
through a :class:`~tcpchat.transports.tls.TlsStream`, decrypting everything each read brings (so no
plaintext is left waiting inside TLS where no selector event would announce it) and encrypting at
most :data:`~tcpchat.transports.tls.ENCRYPT_CHUNK` bytes ahead of the socket (so a slow reader's
output waits as plaintext, under the send queue bound).  The handshake runs in the loop like any
other exchange, with its own deadline; only when it is done does the core learn of the connection.
Closing sends a ``close_notify`` after the last line.

With a UDP socket (``--udp``), the same loop reads it when it is readable and flushes its peers
in the same step 4, their lines packed into datagrams (:mod:`tcpchat.transports.datagram`).  With
no listener (``--udp-only``) the loop serves UDP alone.
"""

import logging
import selectors
import socket
import ssl
import time
from itertools import repeat

from ..chat.connection import Transport
from ..chat.encoding import Dialect
from ..chat.output import IOV_MAX
from ..text.catalog import _
from .datagram import DatagramEndpoint
from .driver import (ACCEPT_PAUSE, LINGER, RECV_SIZE, SERVER_FULL, UNLIMITED, Deadlines, Driver,
                     Port, failure_reason, prepare_accepted, refuse)
from .tls import HANDSHAKE_TIMEOUT, TlsStream
from .uring import open_ring

log = logging.getLogger("tcpchat")

SELECTORS = {
    "auto": selectors.DefaultSelector,
    "epoll": getattr(selectors, "EpollSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}

# What a selector key's data says besides a transport (or a Port, for a listener).
_WAKER = "waker"
_DATAGRAMS = "datagrams"
#: Connections accepted from one listener in one turn of the loop: a storm of reconnecting
#: clients comes in a turn at a time, each read before the next batch is judged.
ACCEPTS_PER_TURN = 64
#: Whether sockets have ``sendmsg()`` (not on Windows): a queue of several buffers is then
#: sent without joining them first.
GATHER = hasattr(socket.socket, "sendmsg")
#: select() takes descriptors below FD_SETSIZE only (1024 wherever Python is built as usual);
#: SelectSelector.register accepts any, and the next select() would raise for everyone.
SELECT_LIMIT = 1024
#: A socket's send(), unbound: ``map(SEND, sockets, repeat(data))`` sends to each in C.
SEND = socket.socket.send


def set_watch(selector, sock, current, wanted, data):
    """Make *selector* watch *sock* for *wanted* events (0: not at all) instead of *current*,
    with as few calls as it takes; returns *wanted*."""
    if wanted != current:
        if not wanted:
            selector.unregister(sock)
        elif not current:
            selector.register(sock, wanted, data)
        else:
            selector.modify(sock, wanted, data)
    return wanted


def make_selector(name):
    factory = SELECTORS.get(name)
    if factory is None:
        raise ValueError(_("the {name!r} selector is not available on this system", name=name))
    return factory()


class Handles:
    """What the loop sends a group's broadcasts through (its ``Group.handles``): the members'
    sockets, their io_uring requests (or None), and how many sockets the loop had closed when
    they were made."""

    __slots__ = ("sockets", "requests", "closes")

    def __init__(self, sockets, requests, closes):
        self.sockets = sockets
        self.requests = requests
        self.closes = closes


class SocketTransport(Transport):
    """One TCP socket in the loop.  Whatever the core says of its connection (new output or
    closing, through ``output_ready``; paused or resumed, here), the answer is the same: flush
    it at the end of the turn, which sends what is pending and sets the selector watch from the
    connection's state.

    The loop reads into and sends from the transport's :attr:`stream`: the connection itself, or on
    the web port a :class:`~tcpchat.transports.web.WebStream` in front of it, which has the same
    stream operations.  Until the core knows the connection (a TLS handshake, an HTTP request),
    :attr:`conn` is None.
    """

    __slots__ = ("loop", "sock", "host", "web", "events", "stream", "draining", "direct")

    def __init__(self, loop, sock, host, web=False):
        self.loop = loop
        self.sock = sock
        self.host = host
        #: Accepted on the web port: the stream is a WebStream.
        self.web = web
        #: A broadcast goes straight to the socket (see the module doc's step 4): the
        #: connection's own bytes, on a plain TCP socket.
        self.direct = not web
        #: What the selector watches this socket for now.
        self.events = selectors.EVENT_READ
        #: What the socket's bytes go to and come from; None until the transport is open.
        self.stream = None
        self.conn = None
        #: Everything is sent and our side shut down: what the peer sends is read and dropped.
        self.draining = False

    def connection_made(self, conn):
        super().connection_made(conn)
        if self.stream is None:
            self.stream = conn
        self.loop._arrivals.end(self)  # a user of the chat now

    @property
    def kind(self):
        return "web" if self.web else "tcp"

    def pause_reading(self):
        self.loop._ready.add(self.conn)  # the flush drops EVENT_READ

    resume_reading = pause_reading  # and the flush adds it back

    def readable(self):
        self.loop._read(self)

    def writable(self):
        if self.conn is None:
            self.flush()  # not a user yet: a TLS handshake's output, or an HTTP answer
        else:
            self.loop._ready.add(self.conn)

    def flush(self):
        if self in self.loop._transports:  # not closed already
            self.loop._send(self)


class TlsTransport(SocketTransport):
    """One TLS socket in the loop: its :class:`~tcpchat.transports.tls.TlsStream`, and the encrypted
    records not yet sent.  Until the handshake is done, :attr:`stream` is None."""

    __slots__ = ("tls", "records")
    secure = True

    def __init__(self, loop, sock, host, tls, web=False):
        super().__init__(loop, sock, host, web)
        self.direct = False  # what is sent is encrypted first
        self.tls = tls
        self.records = bytearray()

    @property
    def certfp(self):
        return self.tls.certfp

    @property
    def kind(self):
        return "web" if self.web else "tls"

    def readable(self):
        self.loop._read_tls(self)

    def flush(self):
        if self in self.loop._transports:
            self.loop._send_tls(self)


class SelectLoop(Driver):
    """Serve the clients of *core* on *listener* (TCP), *tls_listener* (TLS, with
    *certificates*), *datagram_socket* (UDP) and *web_listener* (the page and IRC over WebSocket,
    through the :class:`~tcpchat.transports.web.WebGateway` *web*), any of them None, until
    :meth:`request_stop` is called.  The web port speaks TLS when *web_tls* is true."""

    #: Whether :meth:`_flush` sends the usual case itself, and the core's broadcasts (False:
    #: every socket the general way; for the tests that hold the two alike).
    fast_path = True
    #: Whether a broadcast's sends go to the kernel in one system call, through io_uring,
    #: where this system has it (see :mod:`tcpchat.transports.uring`); False: a ``send()``
    #: each (the server's ``--no-io-uring``, and the tests that hold the two alike).
    io_uring = True

    def __init__(self, core, listener, selector=None, datagram_socket=None, tls_listener=None,
                 certificates=None, web_listener=None, web=None, web_tls=False,
                 policy=UNLIMITED, io_uring=None, **datagram_options):
        super().__init__(core, listener, tls_listener, certificates, web_listener, policy,
                         web_tls)
        self.web = web
        self.web_tls = web_tls
        self.clock = core.clock
        self.selector = selector if selector is not None else selectors.DefaultSelector()
        self._buffer = bytearray(RECV_SIZE)
        self._view = memoryview(self._buffer)
        self._transports = set()
        self._linger = Deadlines(self.clock, LINGER)
        #: Connections the core does not know yet: a TLS handshake or an HTTP request is due.
        self._arrivals = Deadlines(self.clock, HANDSHAKE_TIMEOUT)
        #: Connections to flush at the end of this turn: new output, writable, or a new state.
        self._ready = set()
        core.output_ready = self._output_ready
        self._delivery = core.chat.delivery
        #: Transports sent broadcasts (``direct``) with output their sockets did not take
        #: yet: while there are any, the core is not quiet (see the module doc's step 4).
        self._unsent = set()
        self._accept_paused_until = None
        #: The io_uring the broadcasts are sent through, or None: then a ``send()`` each.
        self.ring = None
        #: Why there is no ring, when one was wanted (the server logs it).
        self.no_ring = None
        if self.io_uring if io_uring is None else io_uring:
            self.ring, self.no_ring = open_ring()
        #: Sockets this loop has closed: a group's io_uring requests name descriptors, which
        #: the system hands out again once closed, so requests made before the last close
        #: are made again (see _handles).
        self._closes = 0
        self._watch_listeners(True)
        self.selector.register(self.wake_reader, selectors.EVENT_READ, _WAKER)
        #: The UDP side, or None.
        self.datagrams = None
        if datagram_socket is not None:
            self.datagrams = DatagramEndpoint(core, datagram_socket, self.clock,
                                              **datagram_options)
            self.datagrams.register(self.selector, _DATAGRAMS)

    @property
    def udp_address(self):
        return self.datagrams.address if self.datagrams is not None else None

    # -- The Driver's steps ---------------------------------------------------------------

    def serve_until_stopped(self):
        while not self.stop_requested:
            self._turn()

    def stop_accepting(self):
        if self.datagrams is not None:
            self.datagrams.accepting = False  # its socket stays open for the goodbyes
        if self._accept_paused_until is None:
            self._watch_listeners(False)
        self._accept_paused_until = None  # so _expire never watches the closed listeners
        for sock in self.listeners:
            sock.close()
        for transport in self._arrivals:  # not users yet: nobody to say goodbye to
            self._close(transport)

    def say_goodbye(self):
        said = super().say_goodbye()
        self._flush()
        return said

    def drain(self):
        while self._transports or (self.datagrams is not None and self.datagrams.peers):
            self._turn()

    def close_everything(self):
        for transport in list(self._transports):
            self._close(transport)
        if self.datagrams is not None:
            self.datagrams.close()
        self.close_own_sockets()
        self.selector.close()
        if self.ring is not None:
            self.ring.close()

    # -- One turn -------------------------------------------------------------------------

    def _turn(self):
        ready = self.selector.select(self._timeout())
        began = time.perf_counter()
        for key, mask in ready:
            tag = key.data
            if tag.__class__ is Port:
                self._accept(tag)
            elif tag is _WAKER:
                self.woken()
            elif tag is _DATAGRAMS:
                self.datagrams.read()
            else:
                if mask & selectors.EVENT_WRITE:
                    tag.writable()
                if mask & selectors.EVENT_READ:
                    tag.readable()
        now = self.clock()
        deadline = self.core.next_deadline()
        if deadline is not None and deadline <= now:
            self.guarded(None, self.core.run_timers)
        self.guarded(None, self.core.turn_ended)  # after the reads: see ChatCore.turn_ended
        self._expire(now)
        self.trimmer.tick(now)
        self._flush()
        self.core.chat.stats.turn(time.perf_counter() - began)

    def _timeout(self):
        deadlines = [deadline for deadline in (self.core.next_deadline(),
                                               self._accept_paused_until,
                                               self._linger.next_deadline(),
                                               self._arrivals.next_deadline(),
                                               self.trimmer.next_at)
                     if deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self.clock())

    def _expire(self, now):
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._watch_listeners(True)
        for transport in self._linger.expired(now):
            if not transport.draining:
                log.info("%r: closing with %d bytes unsent", transport.conn or transport.stream,
                         transport.stream.pending)
            self._close(transport)
        for transport in self._arrivals.expired(now):
            self.arrival_failed(transport.host, "TLS handshake with %s timed out"
                                if transport.stream is None
                                else "HTTP exchange with %s timed out")
            self._close(transport)

    # -- Accepting ------------------------------------------------------------------------

    def _accept(self, port):
        # A bounded number a turn: those accepted are read next turn, before more come.
        for _accepted in range(ACCEPTS_PER_TURN):
            accepted = self.accept(port)
            if accepted is None:
                return
            self._add(*accepted, port)

    def pause_accepting(self):
        self._watch_listeners(False)
        self._accept_paused_until = self.clock() + ACCEPT_PAUSE

    def _watch_listeners(self, watch):
        for port in self.ports:
            if watch:
                self.selector.register(port.sock, selectors.EVENT_READ, port)
            else:
                self.selector.unregister(port.sock)

    def _add(self, sock, host, port):
        if not self.admit(sock, host, port):
            return
        tls, web = port.tls, port.web
        if tls:
            transport = TlsTransport(self, sock, host, TlsStream(self.certificates.context), web)
        else:
            transport = SocketTransport(self, sock, host, web)
        try:
            prepare_accepted(sock, blocking=False, keepalive=self.policy.keepalive)
            if (isinstance(self.selector, selectors.SelectSelector)
                    and sock.fileno() >= SELECT_LIMIT):
                raise ValueError(f"select() cannot watch descriptor {sock.fileno()}; "
                                 "--selector poll or epoll can")
            self.selector.register(sock, selectors.EVENT_READ, transport)
        except (ValueError, OSError) as exc:
            log.error("cannot serve a connection from %s (%s); closing it", host, exc)
            self.released(host)
            refuse(sock, SERVER_FULL, port)
            return
        self._transports.add(transport)
        if tls or web:
            self._arrivals.start(transport)  # ended when the core hears of it
        if not tls:
            self._open(transport)

    def _open(self, transport):
        """Give *transport* its stream: a connection of the core, or on the web port the
        gateway's HTTP, which connects once a WebSocket is opened."""
        if transport.web:
            transport.stream = self.web.stream(lambda: transport.conn if self.connect(
                self.core, transport.host, transport, Dialect.IRC) else None, transport.host)
            return
        if not self.connect(self.core, transport.host, transport) and transport.conn is None:
            self._close(transport)

    # -- Reading --------------------------------------------------------------------------

    def _recv(self, transport):
        """Read once from *transport*'s socket into the shared buffer: how many bytes (0 at
        the end of its stream), or None for nothing (a spurious wake-up, or a broken
        connection, lost by then)."""
        try:
            return transport.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self._lost(transport, exc)
            return None

    def _read(self, transport):
        if transport.draining:
            self._discard(transport)
            return
        stream = transport.stream
        if stream.closing or stream.reading_paused:
            return  # an event from before this turn's flush changed the watch
        count = self._recv(transport)
        if count is not None:
            # A copy of just the bytes read: the core may keep part of them as an unfinished
            # line.
            self._received(transport, self._buffer[:count])

    def _received(self, transport, data):
        """Hand *data* (``b""``: the end of input) to *transport*'s stream."""
        stream = transport.stream
        self.guarded(transport.conn, stream.receive_data, data)
        if stream is not transport.conn and stream.pending:
            # A web stream answers some input itself (HTTP, the upgrade, a pong, a close):
            # no core call tells the loop so.
            transport.flush()

    def _discard(self, transport):
        """Read what a peer sends after the goodbye, and drop it; close once nothing is left
        unread (then closing sends no reset)."""
        try:
            if transport.sock.recv_into(self._buffer):
                return
        except OSError:
            pass  # nothing waiting (BlockingIOError), or the peer is gone
        self._close(transport)

    def _read_tls(self, transport):
        if transport.draining:
            self._discard(transport)  # after our close_notify, nothing it says matters
            return
        stream, tls = transport.stream, transport.tls
        if stream is not None and (stream.closing or stream.reading_paused):
            return
        count = self._recv(transport)
        if count is None:
            return

        def feed(data):
            if transport.stream is None:  # the handshake ended in these bytes
                self._open_tls(transport)
            if transport.stream is not None:
                self._received(transport, data)
        try:
            # Everything these bytes complete, so nothing waits decrypted inside TLS.
            tls.decrypt_into(self._view[:count], feed)
        except ssl.SSLError as exc:
            self._tls_failed(transport, exc)
            return
        if transport.stream is None:
            if not tls.handshaken:
                self._send_tls(transport)  # the handshake's next message
                return
            self._open_tls(transport)
        if tls.wants_to_send:  # a session ticket after the handshake, say
            transport.flush()

    def _open_tls(self, transport):
        log.debug("%s: %r", transport.host, transport.tls)
        self._open(transport)

    def _tls_failed(self, transport, exc):
        """The peer broke TLS, or never spoke it: tell it what can be told, and close."""
        if transport.conn is not None:
            self.tls_broken(transport.conn, exc)
        else:
            self.arrival_failed(transport.host, ("TLS handshake with %s failed: "
                                                 if transport.stream is None
                                                 else "TLS with %s failed: ")
                                + failure_reason(exc).replace("%", "%%"))
        if not transport.records:  # else it would land inside a record half sent
            self.send_tls_goodbye(transport.sock, transport.tls, transport.web)
        self._close(transport)

    # -- Writing --------------------------------------------------------------------------

    def _output_ready(self, connections):
        # The core gives the set away: keep it rather than copy it, unless some are waiting.
        if self._ready:
            self._ready |= connections
        else:
            self._ready = connections

    def _flush(self):
        """Send the core's broadcasts, then each ready connection's output: one system call
        per socket, then fix its watch; then, if nothing is left unsent, tell the core it is
        quiet (see the module doc's step 4).

        The fan-out's usual case, each member of a room once a turn, is a plain TCP socket,
        open and read as usual, that takes all its output at once: sent here without the
        general path's calls (``flush``, :meth:`_send`, :meth:`_settle`), which would leave it
        as this leaves it.  Anything else (TLS, the web port, a socket that takes part, a
        connection closing or paused) goes the general way.  ``tests/test_selectloop.py``
        holds the two alike, and the broadcasts with them.  With :attr:`fast_path` off, the
        core is never told it is quiet, so it records no broadcasts either."""
        plain, read = SocketTransport, selectors.EVENT_READ
        fast = self.fast_path
        delivery = self._delivery
        while True:
            if delivery.broadcasts:
                self._send_broadcasts(delivery)
            if not self._ready:
                break
            ready, self._ready = self._ready, set()
            # A lost connection below makes others ready (its QUIT); the loop flushes them too.
            for conn in ready:
                transport = conn.transport
                out = conn.outbuf
                # (A closed transport is watched for nothing; one watched for reading alone has
                # nothing left over from a turn before, so it begins a line.)
                if (fast and transport.__class__ is plain and out.size and transport.events == read
                        and not conn.closing and not conn.reading_paused
                        and transport.stream is conn):
                    # Its queue's one buffer, or several at once (see tcpchat.chat.output).
                    try:
                        if len(out) == 1:
                            sent = transport.sock.send(out[0])
                        elif GATHER:
                            sent = transport.sock.sendmsg(out[:IOV_MAX])
                        else:
                            sent = transport.sock.send(out.front())
                    except OSError:
                        sent = 0  # the general path tells a full socket from a lost one
                    if sent == out.size:
                        # What Connection.sent does with all of it, inlined (it begins a line
                        # before and after).
                        out.clear()
                        out.size = 0
                        conn.bytes_sent += sent
                        continue
                    conn.sent(sent)
                transport.flush()
        delivery.quiet = fast and not self._unsent

    def _send_broadcasts(self, delivery):
        """Send the core's broadcasts (see tcpchat.chat.delivery), all to one audience, each
        group's together: joined once for the members none of them skips, in one pass of C
        calls a span between the senders, and to each sender among the members, the others'
        alone.  The bytes that went out are counted once for them all.

        One broadcast, one group (at an everyday rate, every turn's): the members before its
        sender and those after it, without the grouping and joining below, whose dict and
        three comprehensions cost a message 5 µs of the 40 to 60 from the poll to its first
        send (docs/benchmarks.rst, "Everyday load, timed at every receiver")."""
        recorded = delivery.take_broadcasts()
        if len(recorded) == 1:
            _audience, group, skip, data = recorded[0]
            taken = self._send_each(group, 0, skip, data) if skip > 0 else 0
            taken += self._send_each(group, skip + 1, len(group.conns), data)
            delivery.stats.bytes_out += taken
            return
        by_group = {}
        for _audience, group, skip, data in recorded:
            by_group.setdefault(group, []).append((skip, data))
        taken = 0
        for group, broadcasts in by_group.items():
            joined = b"".join([data for _skip, data in broadcasts])
            first = 0
            for sender in sorted({skip for skip, _data in broadcasts if skip >= 0}):
                taken += self._send_each(group, first, sender, joined)
                others = b"".join([data for skip, data in broadcasts if skip != sender])
                if others:
                    taken += self._send_each(group, sender, sender + 1, others)
                first = sender + 1
            taken += self._send_each(group, first, len(group.conns), joined)
        delivery.stats.bytes_out += taken

    def _send_each(self, group, first, stop, data):
        """Send *data* to the group's sockets from *first* up to *stop*; return how many
        bytes went out whole.  A socket that takes part, or none, or is gone, gets the rest
        through its connection's queue, where the general path sends it or finds it lost."""
        size = len(data)
        handles = group.handles
        if handles is None or handles.closes != self._closes:
            handles = group.handles = self._handles(group)
        if handles.requests is not None and self.ring is not None:
            taken = self._send_through_ring(group, handles.requests, first, stop, data)
            if taken is not None:
                return taken
        sockets = handles.sockets
        taken = 0
        while first < stop:
            took = []
            try:
                took.extend(map(SEND, sockets[first:stop], repeat(data)))  # keeps what it took
            except OSError:
                pass  # full, or lost: the general path tells which
            count = took.count(size)
            taken += count * size
            if count == stop - first:
                break
            for offset, sent in enumerate(took):
                if sent != size:
                    self._unsent_rest(group.conns[first + offset], data, sent)
            first += len(took)
            if first < stop:  # the socket that raised
                self._unsent_rest(group.conns[first], data, 0)
                first += 1
        return taken

    def _send_through_ring(self, group, requests, first, stop, data):
        """:meth:`_send_each`, all of the span's sends in one system call; or None, having
        sent nothing, if *data* is more than the ring sends at once."""
        answer = self.ring.send(requests, first, stop, data)
        if answer is None:
            return None
        count, took = answer
        if count != stop - first:
            size = len(data)
            for offset, sent in enumerate(took):
                if sent != size:
                    self._unsent_rest(group.conns[first + offset], data, sent)
        if self.ring.broken is not None:
            log.warning("broadcasts are sent a send() a member from now on: %s",
                        self.ring.broken)
            self.ring = None
        return count * len(data)

    def _handles(self, group):
        """What the group's broadcasts are sent through: its sockets, and where there is a
        ring, its io_uring requests, made while none of its sockets is closed (a closed one's
        descriptor may be another's by now: the sockets say so, and are sent through)."""
        sockets = [conn.transport.sock for conn in group.conns]
        requests = None
        if self.ring is not None:
            fds = [sock.fileno() for sock in sockets]
            if -1 not in fds:
                requests = self.ring.requests(fds)
        return Handles(sockets, requests, self._closes)

    def _unsent_rest(self, conn, data, sent):
        """*conn*'s socket took *sent* bytes of broadcast *data*: the rest goes first in its
        queue, and the connection is flushed the general way."""
        if conn.transport not in self._transports:
            return  # closed in this turn: nothing more goes to it
        self._delivery.quiet = False  # a queue holds something now
        out = conn.outbuf
        out.insert(0, data)
        out.size += len(data)
        conn.sent(sent)
        self._ready.add(conn)

    def _send(self, transport):
        stream = transport.stream
        data = stream.data_to_send()  # (one buffer: the general path is not the hot one)
        if data:
            try:
                sent = transport.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(transport, exc)
                return
            stream.sent(sent)
        self._settle(transport, stream.pending)

    def _send_tls(self, transport):
        """Encrypt and send what the socket takes, a chunk at a time; then a close_notify
        once the connection is closing and everything else is sent."""
        stream, tls, records = transport.stream, transport.tls, transport.records
        while True:
            if stream is not None and not records:
                try:
                    records += tls.encrypt_from(stream)
                except ssl.SSLError as exc:
                    self._tls_failed(transport, exc)
                    return
            if tls.wants_to_send:  # the handshake's messages, a session ticket
                records += tls.take_outgoing()
            if not records:
                break
            try:
                sent = transport.sock.send(records)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(transport, exc)
                return
            del records[:sent]
            if records:
                break  # the kernel's buffer is full: the rest when the socket is writable
        if stream is None:  # handshaking
            self._watch(transport, selectors.EVENT_READ | (selectors.EVENT_WRITE if records
                                                           else 0))
            return
        self._settle(transport, len(records) + stream.pending)

    def _settle(self, transport, unsent):
        """After a send: cut a connection that fails to read its output, end one that is done,
        or watch its socket for what it waits for now."""
        stream = transport.stream
        if transport.direct:  # (what waits for others never holds a broadcast back)
            if unsent:
                self._unsent.add(transport)
            else:
                self._unsent.discard(transport)
        if (not unsent and not stream.closing
                and transport.events == (0 if stream.reading_paused else selectors.EVENT_READ)):
            return  # the usual case, once per member per turn: all sent, the watch stays
        conn = transport.conn
        if conn is not None and unsent > conn.sendq and not stream.closing:
            self.guarded(conn, conn.flushed)
        if stream.closing:
            self._linger.start(transport)
            if not unsent:
                self._shut_down(transport)
                return
            wanted = selectors.EVENT_WRITE
        else:
            wanted = 0 if stream.reading_paused else selectors.EVENT_READ
            if unsent:
                wanted |= selectors.EVENT_WRITE
        self._watch(transport, wanted)

    def _shut_down(self, transport):
        """All is sent: end our side, so that the peer reads to the end, and wait for it to
        end its own (see the module doc), within the linger bound."""
        if transport.draining:
            return
        transport.draining = True
        try:
            transport.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(transport)  # the peer is gone: nothing to wait for
            return
        self._watch(transport, selectors.EVENT_READ)
        self._discard(transport)  # closes at once if nothing is unread

    def _watch(self, transport, events):
        transport.events = set_watch(self.selector, transport.sock, transport.events, events,
                                     transport)

    # -- Closing --------------------------------------------------------------------------

    def _lost(self, transport, exc):
        reason = failure_reason(exc)
        if transport.conn is None:
            log.info("%s, before joining: %s", transport.host, reason)
        else:
            log.info("%r: %s", transport.conn, reason)
            self.guarded(transport.conn, transport.conn.connection_lost, reason)
        self._close(transport)

    def _close(self, transport):
        if transport not in self._transports:
            return
        self._transports.discard(transport)
        self._unsent.discard(transport)
        self._linger.end(transport)
        self._arrivals.end(transport)
        if transport.events:
            self.selector.unregister(transport.sock)  # before close(): it needs the fileno
            transport.events = 0  # (so the flush's fast path never takes it for an open one)
        transport.sock.close()
        self._closes += 1
        self.released(transport.host)
        log.debug("closed %r", transport.conn)

