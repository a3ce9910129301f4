"""Numbered datagrams: how a UDP receiver tells lost, late and duplicated messages apart.

UDP may lose a datagram, deliver it out of order or deliver it twice, and says nothing when it
does.  A client that enables the capability :data:`SEQ_CAP` gets every datagram the server
sends it tagged with the next number of its own count (``@tcpchat.invalid/seq=17 :alice!...``),
starting at 1.  :class:`SequenceCheck` reads those numbers in arrival order and says what each
one means:

- the number expected next: all is well;
- a higher one: the numbers skipped are *lost*, as far as anyone can tell yet;
- a lower one that was counted lost: it came *late* (out of order), and is not lost after all;
- a lower one already seen: a *duplicate*.

The name is under ``.invalid`` (RFC 2606) because vendor capabilities are named after a domain
their vendor controls, and tcpchat has none.  The server side is
:mod:`tcpchat.transports.datagram`; the reference client shows what the check finds.
"""

#: The capability that asks for numbered datagrams, and the key of the tag that carries them.
SEQ_CAP = "tcpchat.invalid/seq"
#: How far back a late arrival is still told from a duplicate: the numbers counted lost that
#: are remembered.  Older ones arriving late are counted as duplicates.
WINDOW = 1024

LOST, LATE, DUPLICATE = "lost", "late", "duplicate"


class SequenceCheck:
    """Sequence numbers in, in arrival order; what each says about the stream out."""

    __slots__ = ("expected", "lost", "late", "duplicated", "_missing")

    def __init__(self):
        #: The number that should come next.
        self.expected = 1
        #: Counts so far: numbers still missing, arrivals out of order, arrivals seen before.
        self.lost = self.late = self.duplicated = 0
        self._missing = set()

    def see(self, number):
        """Take the next number to arrive; return ``(kind, count)`` when it reveals something
        (``(LOST, 3)``: three numbers were skipped), or None when it is the one expected."""
        expected = self.expected
        if number == expected:
            self.expected = number + 1
            return None
        if number > expected:
            skipped = number - expected
            self._missing.update(range(max(expected, number - WINDOW), number))
            if len(self._missing) > 2 * WINDOW:
                self._missing = {n for n in self._missing if n >= number - WINDOW}
            self.expected = number + 1
            self.lost += skipped
            return LOST, skipped
        if number in self._missing:
            self._missing.discard(number)
            self.lost -= 1
            self.late += 1
            return LATE, 1
        self.duplicated += 1
        return DUPLICATE, 1


def sequence_number(tags):
    """The number in a message's tags, or None if it has none (or not a number)."""
    value = tags.get(SEQ_CAP)
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value)
