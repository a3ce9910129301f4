"""Cut a byte stream into lines, never holding more than one line's worth of bytes.

TCP delivers a stream, not messages: one ``recv()`` may hold half a line or a thousand lines.
:class:`LineFramer` takes the chunks as they come and gives back complete lines.  A line ends at
LF; a CR just before the LF is part of the terminator, so both ``\\r\\n`` (IRC clients) and bare
``\\n`` (netcat) work.

A line longer than the limit is never buffered whole.  The framer reports it once, as
:data:`TOO_LONG`, as soon as it knows, then skips bytes up to the line's end and carries on with
the next line.  So the buffer never grows past ``max_line`` bytes, whatever the peer sends.

Lines come out as bytes: decoding is the caller's job, per whole line, so a UTF-8 character
split across two ``recv()`` calls is reassembled before anyone decodes it.

A datagram needs no framer: it arrives whole, and :func:`split_datagram` cuts it at the same
line ends; :func:`pack_lines` fills datagrams with whole lines on the way out.
"""


class _TooLong:
    __slots__ = ()

    def __repr__(self):
        return "TOO_LONG"


#: Stands in the output for a line that was over the limit and was dropped.
TOO_LONG = _TooLong()


#: What :class:`LineFramer` holds when no line is unfinished.
NOTHING = b""


class LineFramer:
    """Bytes in, complete lines out (without their terminator), with a bound per line."""

    __slots__ = ("max_line", "_partial", "_skipping")

    def __init__(self, max_line):
        #: The most bytes one line may take, terminator (CRLF) included.
        self.max_line = max_line
        # The start of an unfinished line: a bytearray while there is one, else the empty
        # bytes (shared), so that the thousands of connections whose lines come whole hold
        # no buffer, and one that held a long line gives it back once the line ends.
        self._partial = NOTHING
        # True while we drop the rest of a line we already reported as too long.
        self._skipping = False

    @property
    def buffered(self):
        """How many bytes of an unfinished line are held."""
        return len(self._partial)

    @property
    def at_line_start(self):
        """Nothing is held and nothing is being skipped: the next byte fed begins a line, so
        the whole lines a chunk begins with are what :meth:`feed` would cut from it."""
        return self._partial is NOTHING and not self._skipping

    def feed(self, data):
        """Take the next chunk of the stream; return the lines it completes.

        *data* is any bytes-like object with ``find`` (bytes, bytearray).  Each item returned is
        either a ``bytes`` line or :data:`TOO_LONG`.
        """
        lines = []
        partial = self._partial
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif len(partial) + (end - start) + 1 > self.max_line:
                partial = self._partial = NOTHING
                lines.append(TOO_LONG)
            else:
                if partial:
                    partial += data[start:end]
                    line = bytes(partial)
                    partial = self._partial = NOTHING
                else:
                    line = bytes(data[start:end])
                if line.endswith(b"\r"):
                    line = line[:-1]
                lines.append(line)
            start = end + 1
        if start < len(data) and not self._skipping:
            # The rest is an unfinished line.  It still needs at least the LF, so it is already
            # too long if it would not leave room for one.
            if len(partial) + (len(data) - start) + 1 > self.max_line:
                self._partial = NOTHING
                self._skipping = True
                lines.append(TOO_LONG)
            elif partial:
                partial += data[start:]
            else:
                self._partial = bytearray(data[start:])
        return lines

    def finish(self):
        """The stream ended: its last line if it had no line end (``nc -N``, Ctrl-D in
        netcat, a script's last ``print`` without one), else None.  A line already reported
        as too long stays dropped."""
        line = bytes(self._partial)
        self.discard()
        if line.endswith(b"\r"):
            line = line[:-1]
        return line or None

    def discard(self):
        """Forget an unfinished line (the peer went away before ending it); return its size."""
        size = len(self._partial)
        self._partial = NOTHING
        self._skipping = False
        return size


def split_datagram(data):
    """The lines of one whole datagram, cut as :class:`LineFramer` cuts a stream; its last line
    needs no line end.  Lines are not checked against a limit here: the datagram is already
    read, and the core answers a line over the IRC limits with 417."""
    lines = bytes(data).split(b"\n")
    if not lines[-1]:
        lines.pop()  # the datagram ended with its line end, or was empty
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


#: The most bytes of whole lines sent in one datagram, by the server and the reference client
#: alike: under the smallest MTU a path is likely to have (IPv6 guarantees 1280 bytes with
#: headers), so that no datagram is cut into IP fragments, of which losing any one loses it all.
DATAGRAM_SIZE = 1200


def pack_lines(data, size=DATAGRAM_SIZE):
    """Whole CRLF-ended lines of *data* packed into datagrams of at most *size* bytes, in
    order (a line longer than *size* goes alone)."""
    datagrams, start, end = [], 0, len(data)
    while start < end:
        if end - start <= size:
            cut = end
        else:
            cut = data.rfind(b"\n", start, start + size) + 1
            if cut <= start:  # one line longer than size: alone, whole
                cut = data.find(b"\n", start) + 1 or end
        datagrams.append(bytes(data[start:cut]))
        start = cut
    return datagrams
