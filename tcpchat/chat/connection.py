"""The seam between the chat and the drivers that carry it: one :class:`Connection` per peer.

A driver (the select loop with its TCP, TLS, UDP and WebSocket connections, the threads
backend) owns a socket, or an address on a shared one, and moves bytes.  The core owns
everything said over it.  Between them stands a Connection, sans-IO like the rest of the core,
with named operations for each thing a driver does:

=========================  ========================================================================
In (driver to core)
``receive_data(data)``     A chunk of a byte stream, as ``recv()`` returned it: the connection
                           cuts it into lines.  ``b""`` means the peer will send no more.
``receive_line(line)``     One whole line, from a transport that carries messages (a WebSocket
                           message); a line end is optional.
``receive_datagram(data)`` A datagram: one or more lines, the last one's line end optional.
``connection_lost(why)``   The transport broke (reset, broken pipe): nothing more can be sent.
``close(why)``             The driver ends the connection with a goodbye (an ERROR line first).
Out (core to driver)
``data_to_send()``         Stream transports: the next pending bytes (all, but for a backlog);
                           then ``sent(count)`` says how many the transport took, and the rest
                           waits for the next try.
``take_data(limit)``       Stream transports that send outside the core's lock (a writer
                           thread): up to *limit* bytes, out of the queue before they are sent.
``take_lines()``           Message transports: every pending line, without its line end.
``closing``                The core is done: read no more; close once ``finished`` (nothing left
                           to send), or after the driver's linger bound if the peer never reads.
``reading_paused``         Stop reading until the transport's ``resume_reading()`` is called.
=========================  ========================================================================

The core tells the driver what changed in two ways.  Which connections have output to send is
told in bulk, because one message makes a hundred of them ready at once: at the end of each core
call, :attr:`ChatCore.output_ready <tcpchat.core.ChatCore.output_ready>` (a callable the driver
sets) gets the set of connections whose output went from none to some, or that began closing;
a driver told once keeps sending until nothing is pending.  What concerns one connection goes
to its :class:`Transport`, an object the driver hands to
:meth:`ChatCore.connect <tcpchat.core.ChatCore.connect>`: first ``connection_made``, then
``pause_reading`` and ``resume_reading`` as the core decides.

Output is an :class:`~tcpchat.chat.output.Output`: bytes objects of whole CRLF-ended lines
(every :class:`~tcpchat.chat.encoding.Encoding` writes whole lines), the same object in the queue
of every recipient of a message, so a stream driver sends them as they are and a message driver
splits them at CRLF, and the send queue bound (``Config.sendq``) counts the same bytes for both.
The chat appends to :attr:`Connection.outbuf` directly on the fan-out path, and the select loop
sends from it directly in the usual case; other drivers touch it only through the operations
above.
"""

import logging

from ..protocol.framing import TOO_LONG, LineFramer, split_datagram
from ..protocol.message import MAX_MESSAGE, MAX_TAGS
from ..text.catalog import _
from .output import Output

log = logging.getLogger("tcpchat")

#: The most bytes one input line may take, its line end included: 4096 bytes of IRCv3 tags and
#: a 512-byte message.  Longer lines are answered with 417, never buffered whole.
MAX_LINE = MAX_TAGS + MAX_MESSAGE
#: The most bytes of input held while reading is paused.  A stream driver stops reading, so
#: one chunk is all it can hold; a datagram peer cannot be stopped, and past this bound it is
#: disconnected ("Excess Flood", as IRC servers say) rather than held without end.
MAX_HELD = 1 << 16


class Transport:
    """What the core asks of a driver for one connection, and what it needs to know of the
    transport.  The defaults are a TCP socket's: the methods do nothing.

    Each method is called from inside a core call (in a threaded driver, under the core's
    lock) and must not call back into the core.
    """

    __slots__ = ("conn",)

    #: The peer is connected before it says anything (TCP), so a connection whose dialect is
    #: not known yet is greeted with a line telling a netcat user what to type.  Over datagrams
    #: the first datagram has already said it, and an unasked-for greeting to a source address
    #: that may be forged would only help someone aim traffic at a stranger.
    greets = True
    #: The transport finds out by itself when its peer is gone (TCP: a reset, keepalive).
    #: Where it cannot (UDP), a plain user who falls silent is asked whether it is still there
    #: and dropped with "Idle timeout" if it does not answer; IRC users are pinged either way.
    notices_vanished_peer = True
    #: IRC capabilities this transport implements on top of the chat's own, offered in CAP LS
    #: on its connections only (UDP numbers its datagrams for clients that ask).
    capabilities = ()
    #: The transport encrypts what it carries (TLS): WHOIS tells others so (671), and so does
    #: a plain user's ``/who``.
    secure = False
    #: The SHA-256 fingerprint of the TLS client certificate the peer showed, or None.
    certfp = None
    #: What the peer came over, for the metrics: "tcp", "tls", "udp" or "web".
    kind = "tcp"
    #: The driver sends a broadcast to this transport's peer itself, straight from the
    #: :class:`~tcpchat.chat.delivery.Audience` (see "Broadcasts" in tcpchat.chat.delivery):
    #: the select loop's plain TCP sockets.
    direct = False

    def connection_made(self, conn):
        """The core made *conn* for this transport: the first call, before any other."""
        self.conn = conn

    def pause_reading(self):
        """Stop reading from the peer until :meth:`resume_reading`."""

    def resume_reading(self):
        """Read from the peer again."""


class Connection:
    """One peer's link to the chat: the object a driver holds for each connection."""

    __slots__ = ("core", "transport", "peer", "client", "outbuf", "closing", "reading_paused",
                 "connected_at", "last_active", "ping_sent", "flood", "timer", "resume_timer",
                 "working", "turn", "bytes_sent", "_framer", "_held", "_held_bytes", "_line_start")

    def __init__(self, core, transport, peer, now):
        self.core = core
        self.transport = transport
        #: The peer's address as a string, for logs and the user's host.
        self.peer = peer
        #: The user speaking over this connection (a :class:`tcpchat.chat.state.Client`).
        self.client = None
        #: Whole CRLF-ended lines waiting to be sent; the chat appends, drivers take.  Never
        #: rebound: the user's ``out`` is this same object.
        self.outbuf = Output()
        #: The core is done with this connection; no more input is read.
        self.closing = False
        self.reading_paused = False
        # The liveness clock the core's timers read (monotonic seconds).
        self.connected_at = now
        self.last_active = now
        self.ping_sent = None
        #: Its :class:`~tcpchat.chat.flood.FloodBucket`, or None without flood control.
        self.flood = None
        # The core's timer entries for this connection (its liveness check, and the end of a
        # flood pause), so that they can be cancelled when it closes.
        self.timer = self.resume_timer = None
        #: Off-loop work for it is in flight (a password check): it reads nothing until done.
        self.working = False
        #: The driver's turn it came in (ChatCore.turn_ended).
        self.turn = 0
        #: Bytes the transport took so far: counted here, not in the chat's Stats, since
        #: this runs once a recipient (Stats adds them up when the connection ends).
        self.bytes_sent = 0
        # Made on the first chunk of a stream: message transports never need one.
        self._framer = None
        # Lines that arrived while reading was paused, to be handled on resume.
        self._held = None
        self._held_bytes = 0
        # Whether outbuf begins a line (False after a send that stopped mid-line).
        self._line_start = True

    def __repr__(self):
        return repr(self.client) if self.client is not None else f"<Connection {self.peer}>"

    @property
    def registered(self):
        """The peer has registered (IRC) or chosen its name (plain): it is a user of the chat."""
        return self.client.registered

    @property
    def certfp(self):
        """The fingerprint of the TLS client certificate the peer showed, or None."""
        return self.transport.certfp

    @property
    def secure(self):
        """The peer's link to the server is encrypted."""
        return self.transport.secure

    @property
    def caps(self):
        """The IRC capabilities the peer enabled, for a transport that implements some."""
        return self.client.caps

    # -- In -------------------------------------------------------------------------------

    def receive_data(self, data):
        """A chunk of the peer's byte stream; ``b""`` when it closed its sending side."""
        if self.closing:
            return
        if not data:
            # What the peer sent last, with no line end before its end of input, is a line
            # all the same: a person who ends netcat with Ctrl-D has typed it.  (A connection
            # that breaks instead, with a reset, loses it: connection_lost.)
            last = self._framer.finish() if self._framer is not None else None
            if last is not None:
                self.core.lines_received(self, [last], alive=False)
                if self.closing:
                    return  # the line closed it (QUIT, exit)
            self.core.end_of_input(self)
            return
        framer = self._framer
        if framer is None:
            framer = self._framer = LineFramer(MAX_LINE)
        core = self.core
        core.chat.stats.bytes_in += len(data)
        if framer.at_line_start:
            taken = core.usual_lines(self, data)
            if taken:
                if taken == len(data):
                    return
                data = data[taken:]
        core.lines_received(self, framer.feed(data), alive=False)

    def receive_line(self, line):
        """One message of a message transport (a WebSocket): one line, a trailing LF or CRLF
        optional, or TOO_LONG for one the transport dropped as too long.  A message that holds
        more lines than one is taken as those lines, as a TCP stream would be cut: no
        transport lets a line end into a line."""
        if self.closing:
            return
        if line is not TOO_LONG:
            self.core.chat.stats.bytes_in += len(line)
        self.core.lines_received(self, [line] if line is TOO_LONG else split_datagram(line))

    def receive_datagram(self, data):
        """A datagram: its lines, each ended by a LF (and an optional CR), the last one's line
        end optional.  Even an empty datagram says the peer is still there."""
        if self.closing:
            return
        self.core.chat.stats.bytes_in += len(data)
        self.core.lines_received(self, split_datagram(data))

    def connection_lost(self, reason):
        """The transport is gone: nothing more can be sent, and the user leaves with *reason*."""
        self.core.connection_lost(self, reason)

    def close(self, reason):
        """End the connection with a goodbye: an ERROR line to the peer, the user's QUIT with
        *reason* to everyone else; the driver closes once that is sent."""
        self.core.close(self, reason)

    # -- Out ------------------------------------------------------------------------------

    @property
    def unfinished_input(self):
        """How many bytes of an unfinished input line are held."""
        return self._framer.buffered if self._framer is not None else 0

    @property
    def sendq(self):
        """The send queue bound (``Config.sendq``): output past it after a flush is cut.  (Read
        from the config, not kept: a slot is 8 bytes of every connection, idle or not.)"""
        return self.core.config.sendq

    @property
    def pending(self):
        """How many bytes wait to be sent: what the send queue bound counts."""
        return self.outbuf.size

    @property
    def finished(self):
        """Closing, with everything sent: the driver may close the transport now."""
        return self.closing and not self.outbuf.size

    def data_to_send(self):
        """The next pending bytes, for a stream transport, as one bytes-like object (all of
        them, or about :data:`~tcpchat.chat.output.SEND_CHUNK` of a backlog); valid until the
        next core call, so a driver that sends outside the core's lock must copy it."""
        return self.outbuf.front()

    def sent(self, count):
        """The transport took the first *count* pending bytes (of :meth:`data_to_send`, or of
        the outbuf's own buffers)."""
        outbuf = self.outbuf
        if count == outbuf.size:  # all of it: the usual case, so discard() inlined
            outbuf.clear()
            outbuf.size = 0
            self._line_start = True
        elif count:
            self._line_start = outbuf.sent(count)
        self.bytes_sent += count

    def flushed(self):
        """The driver has sent what the transport would take for now (the end of a loop
        turn, a writer thread's send): output still waiting past :attr:`sendq` is what the
        peer failed to read, and it is cut with ``SendQ exceeded``.  A core call, guarded like
        the others; a driver skips it when it has no more than :attr:`sendq` bytes unsent,
        which is every time for a peer that reads."""
        if self.outbuf.size > self.sendq and not self.closing:
            self.core.flushed(self)

    def take_data(self, limit):
        """Up to *limit* pending bytes, taken out of the queue, for a driver that sends them
        after the core call returns.  What it holds is no longer counted against the send
        queue, as bytes in the kernel's buffer are not."""
        data = self.outbuf.head(limit)
        self.sent(len(data))
        return data

    def take_lines(self, limit=None):
        """Pending lines without their CRLF, oldest first, for a transport that sends
        messages: all of them, or whole lines of at most *limit* bytes in all (at least one)."""
        outbuf = self.outbuf
        if not outbuf.size:
            outbuf.discard()  # (empty items, if any)
            return []
        if limit is None or outbuf.size <= limit:
            data = outbuf.head(outbuf.size)
            cut = len(data)
        else:
            data = outbuf.head(limit)
            cut = data.rfind(b"\n") + 1
            if not cut:  # a line longer than the limit: that line alone
                data = outbuf.head(outbuf.size)
                cut = data.find(b"\n") + 1
        lines = data[:cut].split(b"\r\n")
        self.sent(cut)
        lines.pop()  # the empty remainder after the last CRLF
        return lines

    def drop_output(self):
        """Forget what waits to be sent, except the rest of a line the transport already began
        sending: what follows must start on a line of its own."""
        if self._line_start:
            self.outbuf.discard()
        else:
            # (the rest of that line is the front of the first item)
            self.outbuf.cut(bytes(self.outbuf[0]).find(b"\n") + 1)

    # -- Flow -----------------------------------------------------------------------------

    def pause_reading(self):
        """Read nothing more from this peer for now (flood control)."""
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self):
        """Read again.  Called from inside a core call (a timer, a command): the lines held
        while paused are handled, in order, before that call returns."""
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
            if self._held:
                self.core.resume_held(self)

    def hold(self, lines, limit):
        """Keep *lines*, which arrived while paused, for :meth:`resume_reading`; close the
        connection instead once more than *limit* bytes wait."""
        if self._held is None:
            self._held = []
        self._held.extend(lines)
        self._held_bytes += sum(MAX_LINE if line is TOO_LONG else len(line) for line in lines)
        if self._held_bytes > limit:
            self.take_held()
            self.core.chat.stats.flood_kills += 1
            self.close(_("Excess Flood"))

    def abandon(self):
        """Cut this connection off when the chat failed to let it go: nothing more is queued
        or sent, its user is taken out of every table without a word to anyone, and the
        driver closes it."""
        self.stop()
        self.core.chat.delivery.queue_broadcasts()  # so that what they hold for it goes too
        self.outbuf.discard()
        client = self.client
        if client is not None:
            client.end_output()
            try:
                self.core.forget(client)
            except Exception:
                log.exception("internal error while forgetting %r", client)

    def stop(self):
        """The core is done with this connection: read no more, and let go of what it held
        (its held lines, its timers) now rather than when a timer would have come up."""
        self.closing = True
        self._held, self._held_bytes = None, 0
        for entry in (self.timer, self.resume_timer):
            if entry is not None:
                entry[2] = None  # the core skips an entry whose connection is gone
                self.core.timer_cancelled()
        self.timer = self.resume_timer = None

    def take_held(self):
        """The held lines, oldest first; none are held after this."""
        held, self._held, self._held_bytes = self._held or [], None, 0
        return held
