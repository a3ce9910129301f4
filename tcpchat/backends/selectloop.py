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

With a UDP socket (``--udp``), the same loop reads it when it is readable and flushes its peers
in the same step 4, their lines packed into datagrams (:mod:`tcpchat.backends.datagram`).  With
no listener (``--udp-only``) the loop serves UDP alone.
"""

import logging
import selectors

from ..connection import Transport
from .datagram import DatagramEndpoint
from .driver import ACCEPT_PAUSE, RECV_SIZE, Driver, Linger, failure_reason, prepare_accepted

log = logging.getLogger("tcpchat")

SELECTORS = {
    "auto": selectors.DefaultSelector,
    "epoll": getattr(selectors, "EpollSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}

_LISTENER = "listener"
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

    def flush(self):
        if self in self.loop._transports:  # not closed already
            self.loop._send(self)


class SelectLoop(Driver):
    """Serve the clients of *core* on *listener* (TCP) and *datagram_socket* (UDP), either of
    them None, until :meth:`request_stop` is called."""

    def __init__(self, core, listener, selector=None, datagram_socket=None, **datagram_options):
        super().__init__(core, listener)
        self.clock = core.clock
        self.selector = selector if selector is not None else selectors.DefaultSelector()
        self._buffer = bytearray(RECV_SIZE)
        self._transports = set()
        self._linger = Linger(self.clock)
        #: Connections to flush at the end of this turn: new output, writable, or a new state.
        self._ready = set()
        core.output_ready = self._output_ready
        self._accept_paused_until = None
        if listener is not None:
            self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
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
        if self.listener is None:
            return
        if self._accept_paused_until is None:
            self.selector.unregister(self.listener)
        self._accept_paused_until = None  # so _expire never watches the closed listener
        self.listener.close()

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
                self._accept()
            elif tag is _WAKER:
                self.drain_wakeups()
            elif tag is _DATAGRAMS:
                self.datagrams.read()
            else:
                if mask & selectors.EVENT_WRITE:
                    self._ready.add(tag.conn)
                if mask & selectors.EVENT_READ:
                    self._read(tag)
        now = self.clock()
        deadline = self.core.next_deadline()
        if deadline is not None and deadline <= now:
            self.guarded(None, self.core.run_timers)
        self._expire(now)
        self._flush()

    def _timeout(self):
        deadlines = [deadline for deadline in (self.core.next_deadline(),
                                               self._accept_paused_until,
                                               self._linger.next_deadline())
                     if deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self.clock())

    def _expire(self, now):
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self.selector.register(self.listener, selectors.EVENT_READ, _LISTENER)
        for transport in self._linger.expired(now):
            log.info("%r: closing with %d bytes unsent", transport.conn, transport.conn.pending)
            self._close(transport)

    # -- Accepting ------------------------------------------------------------------------

    def _accept(self):
        while (accepted := self.accept()) is not None:
            self._add(*accepted)

    def pause_accepting(self):
        self.selector.unregister(self.listener)
        self._accept_paused_until = self.clock() + ACCEPT_PAUSE

    def _add(self, sock, host):
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
            try:
                sock.send(REFUSAL)
            except OSError:
                pass  # it is being closed anyway
            sock.close()
            return
        self._transports.add(transport)
        self.core.connect(host, transport)

    # -- Reading --------------------------------------------------------------------------

    def _read(self, transport):
        conn = transport.conn
        if conn.closing or conn.reading_paused:
            return  # an event from before this turn's flush changed the watch
        try:
            count = transport.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(transport, exc)
            return
        # A copy of just the bytes read: the core may keep part of them as an unfinished line.
        self.guarded(conn, conn.receive_data, self._buffer[:count])

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
        if conn.closing:
            if conn.finished:
                self._close(transport)
                return
            self._linger.start(transport)
            wanted = selectors.EVENT_WRITE
        else:
            wanted = 0 if conn.reading_paused else selectors.EVENT_READ
            if conn.pending:
                wanted |= selectors.EVENT_WRITE
        self._watch(transport, wanted)

    def _watch(self, transport, events):
        transport.events = set_watch(self.selector, transport.sock, transport.events, events,
                                     transport)

    # -- Closing --------------------------------------------------------------------------

    def _lost(self, transport, exc):
        reason = failure_reason(exc)
        log.info("%r: %s", transport.conn, reason)
        transport.conn.connection_lost(reason)
        self._close(transport)

    def _close(self, transport):
        if transport not in self._transports:
            return
        self._transports.discard(transport)
        self._linger.end(transport)
        if transport.events:
            self.selector.unregister(transport.sock)  # before close(): it needs the fileno
        transport.sock.close()
        log.debug("closed %r", transport.conn)

