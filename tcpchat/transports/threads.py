"""The threads backend: the assignment's thread-per-connection design, done right.

Each connection has two threads with blocking sockets: a reader that feeds the core what
``recv()`` returns, and a writer that sends what the core queued.  One lock guards the core:
every core call, and every look at a connection, is made holding it; no socket call ever is.
So a reader that never reads blocks only its own writer, never a sender, never the lock.

- The reader waits (on its connection's condition, which shares the core's lock) while the
  core has paused it.  Once the connection is closing it reads on, dropping what it reads,
  until the peer closes (or the linger bound is reached): closing a socket with unread input
  would send a reset, and the peer's kernel would throw away the goodbye it had not read.
- The writer sleeps until the core says its connection has output (``ChatCore.output_ready``
  notifies the same condition), takes it out of the queue (``take_data``) and sends it with the
  lock released.  The send queue bound counts what waits in the queue once the writer has taken
  its next chunk (``Connection.flushed``), as the select backend counts it after a flush.  Once
  the connection is closing and everything is sent, the writer shuts down the sending side,
  waits for its reader to see the peer's end, and closes the socket.
- A timer thread runs the core's timers, and ends the linger of a closing connection whose
  peer does not read: it shuts that socket down, which wakes the writer blocked in ``send``.
- The thread that calls :meth:`~tcpchat.transports.driver.Driver.serve` accepts connections.
- A TLS connection's reader thread first runs the handshake, alone with its socket and bounded
  by :data:`~tcpchat.transports.tls.HANDSHAKE_TIMEOUT`; only then does the connection join the core
  and get its writer.  Its :class:`~tcpchat.transports.tls.TlsStream` is touched under the lock,
  like the connection: the reader decrypts what it received, the writer encrypts what it takes, and
  neither holds the lock while its socket call blocks.

What the two backends share (the accept set-up, the linger bound, the pause when descriptors
run out, the shutdown order, the guard around core calls) is in
:mod:`tcpchat.transports.driver`.
"""

import logging
import select
import socket
import ssl
import threading
import time

from ..chat.connection import Transport
from ..text.catalog import _
from .driver import (ACCEPT_PAUSE, LINGER, RECV_SIZE, UNLIMITED, Deadlines, Driver, failure_reason,
                     prepare_accepted, refuse)
from .tls import HANDSHAKE_TIMEOUT, TlsStream

log = logging.getLogger("tcpchat")

#: The most connections this backend serves (``python -m tcpchat.server`` caps --max-clients
#: at it): two threads each, and every message to a room wakes each member's writer, so a
#: crowd in one room costs it the square of its size (docs/operations.rst has the figures);
#: past this, newcomers are told the server is full rather than everyone slowed to a crawl.
THREADS_CEILING = 1024  # the default --max-clients: the default is the ceiling
#: Stack size for the threads this backend starts: the core's calls go a few frames deep, and
#: the default (8 MiB of address space a thread) would make 20 000 threads cost 160 GiB of it.
THREAD_STACK = 512 << 10


class ThreadTransport(Transport):
    """One TCP socket with its reader and writer threads, and its TlsStream if it has one."""

    __slots__ = ("sock", "host", "tls", "wake", "timers_changed", "reader", "writer")

    def __init__(self, server, sock, host, tls=None):
        self.sock = sock
        self.host = host
        self.tls = tls
        #: Notified (under the core's lock) when the connection has output, began closing, or
        #: resumed reading: its reader and its writer wait on it.
        self.wake = threading.Condition(server.lock)
        self.timers_changed = server._timers_changed
        self.reader = self.writer = None

    @property
    def secure(self):
        return self.tls is not None

    @property
    def certfp(self):
        return self.tls.certfp if self.tls is not None else None

    @property
    def kind(self):
        return "tls" if self.tls is not None else "tcp"

    def resume_reading(self):
        self.wake.notify_all()

    def pause_reading(self):
        # The reader looks at reading_paused before each recv(); but the core paused it until
        # a timer resumes it, which may be sooner than the timer thread is waiting for.
        self.timers_changed.notify()

    def abort(self):
        """Wake whatever thread is blocked on the socket; each then sees the connection closing."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down, or the peer is gone


class ThreadsServer(Driver):
    """Serve the clients of *core* on *listener*, a thread pair per connection."""

    def __init__(self, core, listener, tls_listener=None, certificates=None, policy=UNLIMITED):
        super().__init__(core, listener, tls_listener, certificates, policy=policy)
        self.clock = core.clock
        #: Guards the core and every connection's state; never held across a socket call.
        self.lock = threading.Lock()
        self._transports = set()
        #: TLS connections still in their handshake (not in the core yet).
        self._handshaking = set()
        self._linger = Deadlines(self.clock, LINGER)
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
            ready, _, _ = select.select(self.listeners + [self.wake_reader], [], [])
            if self.wake_reader in ready:
                self.woken()
                continue
            for port in self.ports:
                if port.sock in ready:
                    self._accept(port)

    def stop_accepting(self):
        for listener in self.listeners:
            listener.close()
        with self.lock:
            handshaking = list(self._handshaking)
        for transport in handshaking:  # not users yet: nobody to say goodbye to
            transport.abort()

    def say_goodbye(self):
        with self.lock:
            return super().say_goodbye()

    def drain(self):
        with self.lock:
            # Each writer closes its connection within the linger bound; the timer thread
            # enforces it.  The extra second covers threads that are slow to be scheduled.
            self._closed.wait_for(lambda: not self._transports, LINGER + 1.0)

    def close_everything(self):
        with self.lock:
            transports = list(self._transports) + list(self._handshaking)
            self._stopping_timers = True
            self._timers_changed.notify()
        for transport in transports:
            transport.abort()
        for thread in [self._timer_thread] + [t for transport in transports
                                              for t in (transport.reader, transport.writer)]:
            if thread is not None:
                thread.join(LINGER)
        self.close_own_sockets()

    def woken(self):
        with self.lock:  # a reload calls the core
            super().woken()

    def post_completed(self, done, result):
        # From a worker thread: the core is this thread's to call once it holds the lock.
        with self.lock:
            self.guarded(None, self.core.completed, done, result)
            self._timers_changed.notify()  # the answer may have set a timer

    # -- Logged at a bounded rate: the core's Repeats, under the core's lock ------------------

    def turn_away(self, sock, host, refusal, port, why=None):
        with self.lock:
            self.note_refusal(host, refusal if why is None else why)
            self._timers_changed.notify()  # a count may now be due before the next timer
        refuse(sock, refusal, port)  # a socket call: not under the lock

    def arrival_failed(self, host, how):
        with self.lock:
            super().arrival_failed(host, how)
            self._timers_changed.notify()

    # -- Accepting ------------------------------------------------------------------------

    def pause_accepting(self):
        # Wait on the wake-up pair, so that a stop request is not held up.
        select.select([self.wake_reader], [], [], ACCEPT_PAUSE)

    def _accept(self, port):
        accepted = self.accept(port)
        if accepted is None:
            return
        sock, host = accepted
        with self.lock:
            refusal = self.admission.admit(host)
        if refusal is not None:
            self.turn_away(sock, host, refusal, port)
            return
        tls = port.tls
        transport = ThreadTransport(self, sock, host,
                                    TlsStream(self.certificates.context) if tls else None)
        try:
            prepare_accepted(sock, blocking=True, keepalive=self.policy.keepalive)
        except OSError as exc:
            log.error("cannot serve a connection from %s (%s); closing it", host, exc)
            self._close_unjoined(transport)
            return
        if not tls:
            self._join(transport)
            return
        with self.lock:
            self._handshaking.add(transport)
        try:
            transport.reader = self._start(self._handshake_then_read, "tcpchat-tls", transport)
        except RuntimeError as exc:
            log.error("cannot start a thread for a connection from %s (%s); closing it", host,
                      exc)
            self._close_unjoined(transport)

    def _join(self, transport, plaintext=b""):
        """Make *transport* a connection of the chat, with *plaintext* already received, and
        start its threads (the reader's own, if it is not the reader calling)."""
        with self.lock:
            # Not if the server is stopping: no new users, no goodbye owed.
            joined = not self.stop_requested
            if joined:
                self._handshaking.discard(transport)
                self._transports.add(transport)
                # If the core failed it but knows it, it is closing: its writer says goodbye.
                joined = (self.connect(self.core, transport.host, transport)
                          or transport.conn is not None)
                if not joined:
                    self._transports.discard(transport)
            if joined:
                self._timers_changed.notify()  # its registration deadline may be the soonest
                if plaintext:
                    self.guarded(transport.conn, transport.conn.receive_data, plaintext)
                # An arrival: room for it among those registering (ChatCore.turn_ended).
                self.guarded(None, self.core.turn_ended)
        if not joined:
            self._close_unjoined(transport)
            return
        try:
            if transport.reader is None:
                transport.reader = self._start(self._read, "tcpchat-reader", transport)
            transport.writer = self._start(self._write, "tcpchat-writer", transport)
        except RuntimeError as exc:  # the system will not give us another thread
            log.error("cannot start threads for %r (%s); closing it", transport.conn, exc)
            with self.lock:
                self.guarded(transport.conn, transport.conn.connection_lost,
                             _("Server out of threads"))
            transport.abort()
            if transport.writer is None:  # else the writer closes it, as always
                if transport.reader not in (None, threading.current_thread()):
                    transport.reader.join()
                self._forget(transport)
            return
        if transport.reader is threading.current_thread():
            self._read(transport)

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

    def _handshake_then_read(self, transport):
        sock, tls = transport.sock, transport.tls
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        plaintext = b""
        try:
            # Alone with its socket until the connection joins: no lock needed.
            while not tls.handshaken:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                plaintext = tls.receive(sock.recv(RECV_SIZE))
                if tls.wants_to_send:
                    sock.sendall(tls.take_outgoing())
            sock.settimeout(None)
        except ssl.SSLError as exc:
            self.arrival_failed(transport.host, "TLS handshake with %s failed: "
                                + failure_reason(exc).replace("%", "%%"))
            self.send_tls_goodbye(sock, tls)
        except TimeoutError:
            self.arrival_failed(transport.host, "TLS handshake with %s timed out")
        except OSError as exc:
            self.arrival_failed(transport.host, "TLS handshake with %s: "
                                + failure_reason(exc).replace("%", "%%"))
        else:
            self._join(transport, plaintext)
            return
        self._close_unjoined(transport)

    def _close_unjoined(self, transport):
        """Close an admitted socket that never became a connection of the chat."""
        with self.lock:
            self._handshaking.discard(transport)
            self.released(transport.host)
        transport.sock.close()

    def _read(self, transport):
        conn, sock = transport.conn, transport.sock
        while True:
            with self.lock:
                transport.wake.wait_for(lambda: not conn.reading_paused or conn.closing)
                closing = conn.closing
            if closing:
                self._discard(sock)
                return
            try:
                data = sock.recv(RECV_SIZE)
            except OSError as exc:
                with self.lock:
                    if not conn.closing:
                        reason = failure_reason(exc)
                        log.info("%r: %s", conn, reason)
                        self.guarded(conn, conn.connection_lost, reason)
                return
            with self.lock:
                if transport.tls is None:
                    self.guarded(conn, conn.receive_data, data)
                else:
                    self._receive_tls(transport, data)
            if not data:
                return

    @staticmethod
    def _discard(sock):
        """Read and drop what the peer sends after the goodbye, until it closes; the timer
        thread shuts the socket down at the linger bound if it never does."""
        try:
            while sock.recv(RECV_SIZE):
                pass
        except OSError:
            pass

    def _receive_tls(self, transport, data):
        conn, tls = transport.conn, transport.tls
        try:
            tls.decrypt_into(data, lambda plaintext: self.guarded(conn, conn.receive_data,
                                                                  plaintext))
        except ssl.SSLError as exc:
            self.tls_broken(conn, exc)
            return
        if tls.wants_to_send:  # the writer sends it
            transport.wake.notify_all()

    def _write(self, transport):
        conn, sock, tls = transport.conn, transport.sock, transport.tls
        finished = False
        while not finished:
            with self.lock:
                transport.wake.wait_for(lambda: conn.pending or conn.closing
                                        or (tls is not None and tls.wants_to_send))
                if tls is None:
                    finished = conn.finished
                    data = b"" if finished else conn.take_data(RECV_SIZE)
                else:
                    data = self._encrypt(transport)  # after the last line, a close_notify
                    finished = not data and conn.finished
                if not finished and conn.pending > conn.sendq:
                    self.guarded(conn, conn.flushed)
            try:
                sock.sendall(data)
            except OSError as exc:
                with self.lock:
                    if not conn.finished:
                        log.info("%r: %s", conn, failure_reason(exc))
                    self.guarded(conn, conn.connection_lost, failure_reason(exc))
                transport.abort()
                break
        if finished:
            try:
                sock.shutdown(socket.SHUT_WR)
                # The goodbye is sent.  With input unread, the reader reads it to the peer's
                # end (or the linger bound); with none, closing now sends no reset.
                sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except OSError:  # none waiting (BlockingIOError), or the peer is gone
                transport.abort()
        if transport.reader is not None and transport.reader is not threading.current_thread():
            transport.reader.join()
        self._forget(transport)

    def _encrypt(self, transport):
        """The records to send next (under the lock): the next chunk of output, or after the
        last line a close_notify."""
        conn, tls = transport.conn, transport.tls
        try:
            return tls.encrypt_from(conn)
        except ssl.SSLError as exc:
            self.tls_broken(conn, exc)
        return tls.take_outgoing()

    def _forget(self, transport):
        transport.sock.close()
        with self.lock:
            self.released(transport.host)
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
                                                       self._linger.next_deadline(),
                                                       self.trimmer.next_at)
                             if deadline is not None]
                timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
                self._timers_changed.wait(timeout)
                now = self.clock()
                deadline = self.core.next_deadline()
                if deadline is not None and deadline <= now:
                    self.guarded(None, self.core.run_timers)
                self.trimmer.tick(now)
                for transport in self._linger.expired(now):
                    log.info("%r: closing with %d bytes unsent", transport.conn,
                             transport.conn.pending)
                    self._linger.end(transport)
                    transport.abort()
