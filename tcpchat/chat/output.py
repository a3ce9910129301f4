"""What waits to be sent to one peer: a :class:`Connection <tcpchat.chat.connection.Connection>`'s
output queue.

The queue is a list of bytes objects, oldest first, each whole CRLF-ended lines, and their
length in bytes (:attr:`Output.size`: what the send queue bound counts).  A message to many is
encoded once per Encoding and the same bytes object is appended to each recipient's queue;
nothing is copied until the kernel copies it into the socket.  A driver sends the queue with
one ``send()`` of its one buffer, or ``sendmsg()`` of several (scatter-gather, up to
:data:`IOV_MAX`), and says how many bytes the kernel took (``Connection.sent``).

Why not one ``bytearray`` a connection, as before: at saturation a read brings a room tens of
lines at once, and copying them into a hundred buffers, each grown by ``realloc`` as a turn
appended to it and shrunk back when it was sent, was a third of the loop's time (py-spy, 100
clients, 10 senders with 128 messages in flight; see docs/benchmarks.rst).  Appending a
reference costs the same whatever the message's size.

The hot paths (the fan-out's loop in :mod:`tcpchat.chat.delivery` and the select loop's flush)
use the list and :attr:`~Output.size` directly, as documented there; everything else goes
through the methods here.
"""

import os

try:
    #: The most buffers one ``sendmsg()`` takes (the system's ``IOV_MAX``; 1024 on Linux).
    IOV_MAX = max(16, os.sysconf("SC_IOV_MAX"))
except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
    IOV_MAX = 16


#: The most bytes :meth:`Output.front` joins into one buffer: a slow reader's backlog is sent
#: from buffers of about this size, each joined once, never the whole backlog at every send.
SEND_CHUNK = 1 << 18


class Output(list):
    """Bytes objects waiting to be sent, oldest first (see the module doc); ``size`` is their
    length in all.  An item may be empty (a message some users are not shown is appended as
    ``b""`` to all: cheaper than testing for it), so whether anything waits is ``size``, not
    the list's length; after a partial send the first item may be a memoryview of the rest of
    a line."""

    __slots__ = ("size",)

    def __init__(self):
        super().__init__()
        self.size = 0

    def add(self, data):
        self.append(data)
        self.size += len(data)

    def __iadd__(self, data):
        # As a bytearray would: a list's own += would queue the bytes' numbers one by one.
        self.add(data)
        return self

    def discard(self):
        """Forget everything waiting."""
        self.clear()
        self.size = 0

    def front(self, limit=SEND_CHUNK):
        """The first pending bytes as one buffer, for one ``send()``: the first item, if it is
        the only one or holds a quarter of *limit* bytes, else the items that make up *limit*
        bytes joined into one, which takes their place; ``b""`` if nothing waits.  A slow
        reader's backlog is thus sent from buffers joined about once each, however many sends
        it takes to read them (a send that takes a little leaves the rest of the buffer, which
        is joined again only once it is small)."""
        if not self.size:
            self.clear()  # (empty items, if any)
            return b""
        first = self[0]
        if len(self) == 1 or len(first) >= (limit >> 2 or 1):
            return first
        count = length = 0
        for chunk in self:
            if length >= limit:
                break
            length += len(chunk)
            count += 1
        data = b"".join(self[:count])
        self[:count] = [data]
        return data

    def sent(self, count):
        """The transport took the first *count* bytes, fewer than all: drop them.  Returns
        whether they ended on a line end (False: the next byte continues a line the peer has
        begun to read)."""
        self.size -= count
        whole = 0
        for chunk in self:
            length = len(chunk)
            if length > count:
                break
            count -= length
            whole += 1
        del self[:whole]
        if not count:
            return True  # every item is whole lines, so its end is a line end
        first = self[0]
        self[0] = memoryview(first)[count:]
        return first[count - 1] == 0x0A

    def head(self, limit):
        """Up to *limit* bytes from the front, as bytes, without taking them (and without
        copying more)."""
        taken, length = [], 0
        for chunk in self:
            if length + len(chunk) > limit:
                taken.append(chunk[:limit - length])
                break
            taken.append(chunk)
            length += len(chunk)
        return b"".join(taken)

    def cut(self, start):
        """Take everything after the first *start* bytes, the end of a line, out of the queue,
        and return it as bytes (the queue before them is left as it is)."""
        kept = length = 0
        for chunk in self:
            if length + len(chunk) > start:
                break
            length += len(chunk)
            kept += 1
        rest = b"".join(self[kept:])
        del self[kept:]
        self.size = length
        if start > length:
            self.add(rest[:start - length])
        return rest[start - length:]
