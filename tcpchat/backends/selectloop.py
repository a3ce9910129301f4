"""The select backend: one thread drives every connection with the ``selectors`` module.

One turn of the loop:

1. Wait in ``select()`` until a socket is ready or the next timer is due.
2. Accept every pending connection; read once from each readable socket into one reusable
   buffer and hand the bytes to its :class:`~tcpchat.connection.Connection`.  One read per
   socket per turn keeps a flooding client from starving the others.
3. Run the core's due timers.
4. Flush: every connection the core said has new output (``ChatCore.output_ready``), or whose
   socket became writable, gets one ``send()`` of all its pending bytes (many lines in one
   call).  What the kernel did not take stays in the connection, and only then is the socket
   watched for EVENT_WRITE; once it drains the watch is dropped, so the loop never spins on an
   always-writable socket.

A socket is watched for EVENT_READ unless its connection is closing or paused.  A closing
connection is closed as soon as its output is flushed, or after the linger bound if the peer
does not read it (:mod:`tcpchat.backends.driver` holds that policy and the shutdown sequence).

A TLS connection (``--tls-cert``) is a :class:`TlsTransport`: the loop moves its socket's bytes
through a :class:`~tcpchat.tls.TlsStream`, decrypting everything each read brings (so no
plaintext is left waiting inside TLS where no selector event would announce it) and encrypting
at most :data:`~tcpchat.tls.ENCRYPT_CHUNK` bytes ahead of the socket (so a slow reader's output
waits as plaintext, under the send queue bound).  The handshake runs in the loop like any other
exchange, with its own deadline; only when it is done does the core learn of the connection.
Closing sends a ``close_notify`` after the last line.

With a UDP socket (``--udp``), the same loop reads it when it is readable and flushes its peers
in the same step 4, their lines packed into datagrams (:mod:`tcpchat.backends.datagram`).  With
no listener (``--udp-only``) the loop serves UDP alone.
"""

import logging
import selectors
import ssl

from ..connection import Transport
from ..tls import ENCRYPT_CHUNK, HANDSHAKE_TIMEOUT, TlsStream
from .datagram import DatagramEndpoint
from .driver import (ACCEPT_PAUSE, LINGER, RECV_SIZE, Deadlines, Driver, failure_reason,
                     prepare_accepted)

log = logging.getLogger("tcpchat")

SELECTORS = {
    "auto": selectors.DefaultSelector,
    "epoll": getattr(selectors, "EpollSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}

_LISTENER = "listener"
_TLS_LISTENER = "TLS listener"
_WAKER = "waker"
_DATAGRAMS = "datagrams"
#: select() takes descriptors below FD_SETSIZE only (1024 wherever Python is built as usual);
#: SelectSelector.register accepts any, and the next select() would raise for everyone.
SELECT_LIMIT = 1024
#: What a connection the loop cannot serve is told before it is closed.
REFUSAL = b"ERROR :Closing link: Server full\r\n"


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
        raise ValueError(f"the {name!r} selector is not available on this system")
    return factory()


class SocketTransport(Transport):
    """One TCP socket in the loop.  Whatever the core says of its connection (new output or
    closing, through ``output_ready``; paused or resumed, here), the answer is the same: flush
    it at the end of the turn, which sends what is pending and sets the selector watch from the
    connection's state."""

    __slots__ = ("loop", "sock", "events")

    def __init__(self, loop, sock):
        self.loop = loop
        self.sock = sock
        #: What the selector watches this socket for now.
        self.events = selectors.EVENT_READ

    def pause_reading(self):
        self.loop._ready.add(self.conn)  # the flush drops EVENT_READ

    resume_reading = pause_reading  # and the flush adds it back

    def readable(self):
        self.loop._read(self)

    def writable(self):
        self.loop._ready.add(self.conn)

    def flush(self):
        if self in self.loop._transports:  # not closed already
            self.loop._send(self)


class TlsTransport(SocketTransport):
    """One TLS socket in the loop: its :class:`~tcpchat.tls.TlsStream`, and the encrypted
    records not yet sent.  Until the handshake is done, :attr:`conn` is None: the core does not
    know the connection yet."""

    __slots__ = ("tls", "host", "records")
    secure = True

    def __init__(self, loop, sock, tls, host):
        super().__init__(loop, sock)
        self.tls = tls
        self.host = host
        self.records = bytearray()
        self.conn = None

    def readable(self):
        self.loop._read_tls(self)

    def writable(self):
        if self.conn is None:
            self.loop._send_tls(self)  # the handshake's own output
        else:
            self.loop._ready.add(self.conn)

    def flush(self):
        if self in self.loop._transports:
            self.loop._send_tls(self)


class SelectLoop(Driver):
    """Serve the clients of *core* on *listener* (TCP), *tls_listener* (TLS, with
    *certificates*) and *datagram_socket* (UDP), any of them None, until :meth:`request_stop`
    is called."""

    def __init__(self, core, listener, selector=None, datagram_socket=None, tls_listener=None,
                 certificates=None, **datagram_options):
        super().__init__(core, listener, tls_listener, certificates)
        self.clock = core.clock
        self.selector = selector if selector is not None else selectors.DefaultSelector()
        self._buffer = bytearray(RECV_SIZE)
        self._view = memoryview(self._buffer)
        self._transports = set()
        self._linger = Deadlines(self.clock, LINGER)
        #: TLS connections whose handshake is not done yet.
        self._handshakes = Deadlines(self.clock, HANDSHAKE_TIMEOUT)
        #: Connections to flush at the end of this turn: new output, writable, or a new state.
        self._ready = set()
        core.output_ready = self._output_ready
        self._accept_paused_until = None
        self._listening = [(sock, tag) for sock, tag in ((listener, _LISTENER),
                                                         (tls_listener, _TLS_LISTENER))
                           if sock is not None]
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
        for transport in self._handshakes:  # not users yet: nobody to say goodbye to
            self._close(transport)

    def say_goodbye(self):
        super().say_goodbye()
        self._flush()

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

    # -- One turn -------------------------------------------------------------------------

    def _turn(self):
        for key, mask in self.selector.select(self._timeout()):
            tag = key.data
            if tag is _LISTENER:
                self._accept(self.listener)
            elif tag is _TLS_LISTENER:
                self._accept(self.tls_listener, tls=True)
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
        self._expire(now)
        self._flush()

    def _timeout(self):
        deadlines = [deadline for deadline in (self.core.next_deadline(),
                                               self._accept_paused_until,
                                               self._linger.next_deadline(),
                                               self._handshakes.next_deadline())
                     if deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self.clock())

    def _expire(self, now):
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._watch_listeners(True)
        for transport in self._linger.expired(now):
            log.info("%r: closing with %d bytes unsent", transport.conn, transport.conn.pending)
            self._close(transport)
        for transport in self._handshakes.expired(now):
            log.info("TLS handshake with %s timed out", transport.host)
            self._close(transport)

    # -- Accepting ------------------------------------------------------------------------

    def _accept(self, listener, tls=False):
        while (accepted := self.accept(listener)) is not None:
            self._add(*accepted, tls)

    def pause_accepting(self):
        self._watch_listeners(False)
        self._accept_paused_until = self.clock() + ACCEPT_PAUSE

    def _watch_listeners(self, watch):
        for sock, tag in self._listening:
            if watch:
                self.selector.register(sock, selectors.EVENT_READ, tag)
            else:
                self.selector.unregister(sock)

    def _add(self, sock, host, tls=False):
        if tls:
            transport = TlsTransport(self, sock, TlsStream(self.certificates.context), host)
        else:
            transport = SocketTransport(self, sock)
        try:
            prepare_accepted(sock, blocking=False)
            if (isinstance(self.selector, selectors.SelectSelector)
                    and sock.fileno() >= SELECT_LIMIT):
                raise ValueError(f"select() cannot watch descriptor {sock.fileno()}; "
                                 "--selector poll or epoll can")
            self.selector.register(sock, selectors.EVENT_READ, transport)
        except (ValueError, OSError) as exc:
            log.error("cannot serve a connection from %s (%s); closing it", host, exc)
            if not tls:  # a TLS client could not read it
                try:
                    sock.send(REFUSAL)
                except OSError:
                    pass  # it is being closed anyway
            sock.close()
            return
        self._transports.add(transport)
        if tls:
            self._handshakes.start(transport)  # the core hears of it once it is done
        else:
            self.core.connect(host, transport)

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
        conn = transport.conn
        if conn.closing or conn.reading_paused:
            return  # an event from before this turn's flush changed the watch
        count = self._recv(transport)
        if count is not None:
            # A copy of just the bytes read: the core may keep part of them as an unfinished
            # line.
            self.guarded(conn, conn.receive_data, self._buffer[:count])

    def _read_tls(self, transport):
        conn, tls = transport.conn, transport.tls
        if conn is not None and (conn.closing or conn.reading_paused):
            return
        count = self._recv(transport)
        if count is None:
            return
        try:
            # Everything these bytes complete, so nothing waits decrypted inside TLS.
            plaintext = tls.receive(self._view[:count])
        except ssl.SSLError as exc:
            self._tls_failed(transport, exc)
            return
        if conn is None:
            if not tls.handshaken:
                self._send_tls(transport)  # the handshake's next message
                return
            self._handshakes.end(transport)
            log.debug("%s: %r", transport.host, tls)
            self.core.connect(transport.host, transport)
            conn = transport.conn
        if plaintext:
            self.guarded(conn, conn.receive_data, plaintext)
        if tls.ended:
            self.guarded(conn, conn.receive_data, b"")
        if tls.wants_to_send:  # a session ticket after the handshake, say
            self._ready.add(conn)

    def _tls_failed(self, transport, exc):
        """The peer broke TLS, or never spoke it: tell it what can be told, and close."""
        if transport.conn is not None:
            self.tls_broken(transport.conn, exc)
        else:
            log.info("TLS handshake with %s failed: %s", transport.host, failure_reason(exc))
        if not transport.records:  # else it would land inside a record half sent
            self.send_tls_goodbye(transport.sock, transport.tls)
        self._close(transport)

    # -- Writing --------------------------------------------------------------------------

    def _output_ready(self, connections):
        # The core gives the set away: keep it rather than copy it, unless some are waiting.
        if self._ready:
            self._ready |= connections
        else:
            self._ready = connections

    def _flush(self):
        """Send each ready connection's output: one send() per socket, then fix its watch."""
        while self._ready:
            ready, self._ready = self._ready, set()
            # A lost connection below makes others ready (its QUIT); the loop flushes them too.
            for conn in ready:
                conn.transport.flush()

    def _send(self, transport):
        conn = transport.conn
        if conn.pending:
            try:
                sent = transport.sock.send(conn.data_to_send())
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(transport, exc)
                return
            conn.sent(sent)
        self._settle(transport, conn.pending)

    def _send_tls(self, transport):
        """Encrypt and send what the socket takes, a chunk at a time; then a close_notify
        once the connection is closing and everything else is sent."""
        conn, tls, records = transport.conn, transport.tls, transport.records
        while True:
            if conn is not None and not records:
                if conn.pending:
                    data = conn.data_to_send()
                    count = min(len(data), ENCRYPT_CHUNK)
                    try:
                        tls.send(data if count == len(data) else data[:count])
                    except ssl.SSLError as exc:
                        self._tls_failed(transport, exc)
                        return
                    conn.sent(count)
                elif conn.closing:
                    tls.close()
            if tls.wants_to_send:
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
        if conn is None:  # handshaking
            self._watch(transport, selectors.EVENT_READ | (selectors.EVENT_WRITE if records
                                                           else 0))
            return
        self._settle(transport, len(records) + conn.pending)

    def _settle(self, transport, unsent):
        """After a send: close a connection that is done, or watch its socket for what it
        waits for now."""
        conn = transport.conn
        if conn.closing:
            if not unsent:
                self._close(transport)
                return
            self._linger.start(transport)
            wanted = selectors.EVENT_WRITE
        else:
            wanted = 0 if conn.reading_paused else selectors.EVENT_READ
            if unsent:
                wanted |= selectors.EVENT_WRITE
        self._watch(transport, wanted)

    def _watch(self, transport, events):
        transport.events = set_watch(self.selector, transport.sock, transport.events, events,
                                     transport)

    # -- Closing --------------------------------------------------------------------------

    def _lost(self, transport, exc):
        reason = failure_reason(exc)
        if transport.conn is None:
            log.info("TLS handshake with %s: %s", transport.host, reason)
        else:
            log.info("%r: %s", transport.conn, reason)
            transport.conn.connection_lost(reason)
        self._close(transport)

    def _close(self, transport):
        if transport not in self._transports:
            return
        self._transports.discard(transport)
        self._linger.end(transport)
        self._handshakes.end(transport)
        if transport.events:
            self.selector.unregister(transport.sock)  # before close(): it needs the fileno
        transport.sock.close()
        log.debug("closed %r", transport.conn)

