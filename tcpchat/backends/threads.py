"""The threads backend: the assignment's thread-per-connection design, done right.

Each connection has two threads with blocking sockets: a reader that feeds the core what
``recv()`` returns, and a writer that sends what the core queued.  One lock guards the core:
every core call, and every look at a connection, is made holding it; no socket call ever is.
So a reader that never reads blocks only its own writer, never a sender, never the lock.

- The reader waits (on its connection's condition, which shares the core's lock) while the
  core has paused it, and stops once the connection is closing.
- The writer sleeps until the core says its connection has output (``ChatCore.output_ready``
  notifies the same condition), takes it out of the queue (``take_data``) and sends it with the
  lock released.  The send queue bound counts what waits in the queue, as in the select
  backend.  Once the connection is closing and everything is sent, the writer shuts the socket
  down, waits for its reader, and closes it.
- A timer thread runs the core's timers, and ends the linger of a closing connection whose
  peer does not read: it shuts that socket down, which wakes the writer blocked in ``send``.
- The thread that calls :meth:`~tcpchat.backends.driver.Driver.serve` accepts connections.

What the two backends share (the accept set-up, the linger bound, the pause when descriptors
run out, the shutdown order, the guard around core calls) is in
:mod:`tcpchat.backends.driver`.
"""

import logging
import select
import socket
import threading

from ..connection import Transport
from .driver import (ACCEPT_PAUSE, LINGER, RECV_SIZE, Driver, Linger, failure_reason,
                     prepare_accepted)

log = logging.getLogger("tcpchat")

#: Stack size for the threads this backend starts: the core's calls go a few frames deep, and
#: the default (8 MiB of address space a thread) would make 20 000 threads cost 160 GiB of it.
THREAD_STACK = 512 << 10


class ThreadTransport(Transport):
    """One TCP socket with its reader and writer threads."""

    __slots__ = ("sock", "wake", "reader", "writer")

    def __init__(self, server, sock):
        self.sock = sock
        #: Notified (under the core's lock) when the connection has output, began closing, or
        #: resumed reading: its reader and its writer wait on it.
        self.wake = threading.Condition(server.lock)
        self.reader = self.writer = None

    def resume_reading(self):
        self.wake.notify_all()

    # pause_reading needs nothing: the reader looks at reading_paused before each recv().

    def abort(self):
        """Wake whatever thread is blocked on the socket; each then sees the connection closing."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down, or the peer is gone


class ThreadsServer(Driver):
    """Serve the clients of *core* on *listener*, a thread pair per connection."""

    def __init__(self, core, listener):
        super().__init__(core, listener)
        self.clock = core.clock
        #: Guards the core and every connection's state; never held across a socket call.
        self.lock = threading.Lock()
        self._transports = set()
        self._linger = Linger(self.clock)
        #: Notified when a timer may be due sooner than the timer thread thinks, or at stop.
        self._timers_changed = threading.Condition(self.lock)
        #: Notified when a connection is gone, for drain().
        self._closed = threading.Condition(self.lock)
        self._timer_thread = None
        self._stopping_timers = False
        core.output_ready = self._output_ready

    # -- The Driver's steps ---------------------------------------------------------------

    def serve_until_stopped(self):
        self._timer_thread = self._start(self._run_timers, "tcpchat-timers")
        while not self.stop_requested:
            ready, _, _ = select.select([self.listener, self.wake_reader], [], [])
            if self.wake_reader in ready:
                self.drain_wakeups()
            elif self.listener in ready:
                self._accept()

    def stop_accepting(self):
        self.listener.close()

    def say_goodbye(self):
        with self.lock:
            super().say_goodbye()

    def drain(self):
        with self.lock:
            # Each writer closes its connection within the linger bound; the timer thread
            # enforces it.  The extra second covers threads that are slow to be scheduled.
            self._closed.wait_for(lambda: not self._transports, LINGER + 1.0)

    def close_everything(self):
        with self.lock:
            transports = list(self._transports)
            self._stopping_timers = True
            self._timers_changed.notify()
        for transport in transports:
            transport.abort()
        for thread in [self._timer_thread] + [t for transport in transports
                                              for t in (transport.reader, transport.writer)]:
            if thread is not None:
                thread.join(LINGER)
        self.close_own_sockets()

    # -- Accepting ------------------------------------------------------------------------

    def pause_accepting(self):
        # Wait on the wake-up pair, so that a stop request is not held up.
        select.select([self.wake_reader], [], [], ACCEPT_PAUSE)

    def _accept(self):
        accepted = self.accept()
        if accepted is None:
            return
        sock, host = accepted
        transport = ThreadTransport(self, sock)
        try:
            prepare_accepted(sock, blocking=True)
        except OSError as exc:
            log.error("cannot serve a connection from %s (%s); closing it", host, exc)
            sock.close()
            return
        with self.lock:
            self._transports.add(transport)
            self.core.connect(host, transport)
            self._timers_changed.notify()  # its registration deadline may be the soonest
        try:
            transport.reader = self._start(self._read, "tcpchat-reader", transport)
            transport.writer = self._start(self._write, "tcpchat-writer", transport)
        except RuntimeError as exc:  # the system will not give us another thread
            log.error("cannot start threads for %r (%s); closing it", transport.conn, exc)
            with self.lock:
                transport.conn.connection_lost("Server out of threads")
            transport.abort()
            if transport.writer is None:  # else the writer closes it, as always
                if transport.reader is not None:
                    transport.reader.join()
                self._forget(transport)

    @staticmethod
    def _start(target, name, *args):
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        # The stack size is process-wide: set it for our own threads only.
        previous = threading.stack_size(THREAD_STACK)
        try:
            thread.start()
        finally:
            threading.stack_size(previous)
        return thread

    # -- Each connection's threads --------------------------------------------------------

    def _read(self, transport):
        conn, sock = transport.conn, transport.sock
        while True:
            with self.lock:
                transport.wake.wait_for(lambda: not conn.reading_paused or conn.closing)
                if conn.closing:
                    return
            try:
                data = sock.recv(RECV_SIZE)
            except OSError as exc:
                with self.lock:
                    if not conn.closing:
                        reason = failure_reason(exc)
                        log.info("%r: %s", conn, reason)
                        conn.connection_lost(reason)
                return
            with self.lock:
                self.guarded(conn, conn.receive_data, data)
            if not data:
                return

    def _write(self, transport):
        conn, sock = transport.conn, transport.sock
        while True:
            with self.lock:
                transport.wake.wait_for(lambda: conn.pending or conn.closing)
                if conn.finished:
                    break
                data = conn.take_data(RECV_SIZE)
            try:
                sock.sendall(data)
            except OSError as exc:
                with self.lock:
                    if not conn.finished:
                        log.info("%r: %s", conn, failure_reason(exc))
                    conn.connection_lost(failure_reason(exc))
                break
        transport.abort()
        if transport.reader is not None and transport.reader is not threading.current_thread():
            transport.reader.join()
        self._forget(transport)

    def _forget(self, transport):
        transport.sock.close()
        with self.lock:
            self._transports.discard(transport)
            self._linger.end(transport)
            self._closed.notify_all()
        log.debug("closed %r", transport.conn)

    # -- Told by the core (under the lock) ------------------------------------------------

    def _output_ready(self, connections):
        for conn in connections:
            transport = conn.transport
            transport.wake.notify_all()
            if conn.closing and transport in self._transports:
                self._linger.start(transport)
                self._timers_changed.notify()

    # -- Timers ---------------------------------------------------------------------------

    def _run_timers(self):
        with self.lock:
            while not self._stopping_timers:
                deadlines = [deadline for deadline in (self.core.next_deadline(),
                                                       self._linger.next_deadline())
                             if deadline is not None]
                timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
                self._timers_changed.wait(timeout)
                now = self.clock()
                deadline = self.core.next_deadline()
                if deadline is not None and deadline <= now:
                    self.guarded(None, self.core.run_timers)
                for transport in self._linger.expired(now):
                    log.info("%r: closing with %d bytes unsent", transport.conn,
                             transport.conn.pending)
                    self._linger.end(transport)
                    transport.abort()
