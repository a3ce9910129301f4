"""UDP: the chat over datagrams, served in the select loop beside TCP, over the same core.

One UDP socket serves every UDP peer, and a peer is nothing but a source address.  The
:class:`DatagramEndpoint` keeps a :class:`~tcpchat.chat.connection.Connection` per address: the
first datagram from an address makes one (``ChatCore.connect``, no greeting: the first datagram has
already said what the peer speaks), and from then on that address's datagrams feed it.  The chat
cannot tell a UDP user from a TCP one; the differences are all here:

- **In.**  A datagram arrives whole, so there is no framer: it holds one line, or several each
  ended by a LF, and the last one's line end is optional (``nc -u`` sends ``hello\\n``; a
  program may send ``hello``).  A line over the IRC limits gets 417, garbage gets the same
  errors as over TCP: it all goes through the core's checks.
- **Out.**  In the turn's flush, a peer's pending lines go out with ``sendto``, packed whole
  into datagrams of at most :data:`~tcpchat.protocol.framing.DATAGRAM_SIZE` bytes (1200): one
  datagram per peer per turn at a chat's usual pace, as TCP gets one ``send()``, rather than a
  system call per line.  Nothing
  waits: a send the kernel refuses (its buffer full) drops that datagram and counts it.  UDP
  has no backpressure to honour, so the send queue bound never comes into play.
- **Numbered, on request.**  A client that enables the capability
  :data:`~tcpchat.protocol.sequence.SEQ_CAP` gets every datagram tagged ``@tcpchat.invalid/seq=N``,
  N counting from 1 for that peer, so it can tell lost, reordered and duplicated datagrams apart
  (:mod:`tcpchat.protocol.sequence`; the reference client shows the gaps).
- **Alive.**  There is no connection to break.  IRC peers are pinged like TCP ones; plain peers
  are asked to press Enter after ``Config.idle_interval`` of silence and dropped with
  "Idle timeout" if they do not (the core's timers; see ``Transport.notices_vanished_peer``).
  QUIT ends a peer at once.  A closing peer is forgotten when its last datagram is sent.
- **Bounded.**  Addresses that have not registered are held at most ``max_unregistered`` at a
  time.  A source address is trivial to forge, so a flood of made-up addresses must not lock
  real users out: at the bound, the oldest unregistered address is dropped to make room (a
  real user registers in its first datagram or two and leaves this table at once).
"""

import logging
import selectors

from ..chat.connection import Transport
from ..protocol.framing import pack_lines
from ..protocol.sequence import SEQ_CAP
from ..text.catalog import _
from .driver import Driver

log = logging.getLogger("tcpchat")

SEQ_TAG = SEQ_CAP.encode()
#: Read buffer: the largest UDP payload there is, so no datagram is ever cut short.
MAX_DATAGRAM = 65535
#: Datagrams read per turn at most, so UDP peers cannot starve the TCP ones.
READS_PER_TURN = 256
#: Unregistered source addresses held at once (see the module's doc).
MAX_UNREGISTERED = 1024
#: Seconds between two log lines about dropped datagrams.
DROP_LOG_INTERVAL = 10.0


class DatagramTransport(Transport):
    """One peer address on the UDP socket."""

    __slots__ = ("endpoint", "address", "numbered")

    greets = False
    notices_vanished_peer = False
    capabilities = (SEQ_CAP,)
    kind = "udp"

    def __init__(self, endpoint, address):
        self.endpoint = endpoint
        self.address = address
        #: The last number a line sent to this peer carried (0: none yet).
        self.numbered = 0

    def flush(self):
        self.endpoint.send(self)


class DatagramEndpoint:
    """The UDP socket of a select loop, and the peers it serves.

    The loop calls :meth:`read` when the socket is readable, and a peer's transport's
    ``flush`` when the core says it has output.  Datagram peers need no EVENT_WRITE: a datagram
    is sent whole at once or dropped.
    """

    def __init__(self, core, sock, clock, max_unregistered=MAX_UNREGISTERED):
        self.core = core
        self.sock = sock
        self.clock = clock
        self.max_unregistered = max_unregistered
        #: Whether datagrams from new addresses make new peers (not once shutting down).
        self.accepting = True
        #: Source address -> DatagramTransport, for every peer being served.
        self.peers = {}
        # The peers that have not registered yet, oldest first (a dict keeps insertion order).
        self._unregistered = {}
        self._buffer = bytearray(MAX_DATAGRAM)
        self.received = self.sent = self.dropped = self.evicted = 0
        self._drops_logged = 0
        self._drop_log_due = 0.0

    @property
    def address(self):
        return self.sock.getsockname()

    def register(self, selector, data):
        selector.register(self.sock, selectors.EVENT_READ, data)

    # -- In -------------------------------------------------------------------------------

    def read(self):
        """Read what is waiting, up to :data:`READS_PER_TURN` datagrams."""
        for _read in range(READS_PER_TURN):
            try:
                count, address = self.sock.recvfrom_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # An ICMP error for an earlier send, on systems that report them here.
                log.debug("UDP: %s", exc)
                continue
            self.received += 1
            transport = self.peers.get(address)
            if transport is None:
                if not self.accepting:
                    continue
                transport = self._admit(address)
                if transport is None:
                    continue
            conn = transport.conn
            Driver.guarded(conn, conn.receive_datagram, self._buffer[:count])
            if address in self._unregistered and (conn.closing or conn.registered):
                del self._unregistered[address]

    def _admit(self, address):
        if len(self._unregistered) >= self.max_unregistered:
            self._evict_oldest()
        transport = DatagramTransport(self, address)
        if not Driver.connect(self.core, address[0], transport):
            return None
        self.peers[address] = transport
        self._unregistered[address] = transport
        return transport

    def _evict_oldest(self):
        address, transport = next(iter(self._unregistered.items()))
        del self._unregistered[address]
        self.evicted += 1
        if self.evicted == 1 or self.evicted % 1000 == 0:
            log.warning("UDP: %d unregistered addresses dropped to make room for new ones "
                        "(more than %d at once)", self.evicted, self.max_unregistered)
        Driver.guarded(transport.conn, transport.conn.connection_lost,
                       _("Too many unregistered UDP peers"))
        self._forget(transport)

    # -- Out ------------------------------------------------------------------------------

    def send(self, transport):
        """Send the peer's pending lines, packed into datagrams; forget it once closing."""
        if self.peers.get(transport.address) is not transport:
            return  # forgotten already
        conn = transport.conn
        if conn.pending:
            if SEQ_CAP in conn.caps:
                data = b"".join(self._numbered(transport, line) for line in conn.take_lines())
            else:
                data = conn.take_data(conn.pending)
            for datagram in pack_lines(data):
                try:
                    self.sock.sendto(datagram, transport.address)
                except OSError as exc:
                    # Full socket buffer (BlockingIOError) above all: UDP cannot wait.
                    self._drop(exc)
                else:
                    self.sent += 1
        if conn.closing:
            self._forget(transport)

    @staticmethod
    def _numbered(transport, line):
        """*line* tagged with the peer's next number (merged into its own tags, if any)."""
        transport.numbered += 1
        tag = b"@%s=%d" % (SEQ_TAG, transport.numbered)
        return (tag + b";" + line[1:] if line[:1] == b"@" else tag + b" " + line) + b"\r\n"

    def _drop(self, exc):
        self.dropped += 1
        now = self.clock()
        if now >= self._drop_log_due:
            log.warning("UDP: %d datagrams dropped (%s), %d in all",
                        self.dropped - self._drops_logged, exc.strerror or exc, self.dropped)
            self._drops_logged = self.dropped
            self._drop_log_due = now + DROP_LOG_INTERVAL

    def _forget(self, transport):
        if self.peers.get(transport.address) is transport:
            del self.peers[transport.address]
        self._unregistered.pop(transport.address, None)

    # -- Closing --------------------------------------------------------------------------

    def close(self):
        if self.received or self.dropped:
            log.info("UDP: %d datagrams received, %d sent, %d dropped on sending (socket "
                     "buffer full), %d unregistered addresses dropped", self.received,
                     self.sent, self.dropped, self.evicted)
        self.sock.close()
