"""IRCv3 ``draft/multiline``: one message of several lines, sent as a batch of PRIVMSGs.

A client opens ``BATCH +ref draft/multiline <target>``, sends its lines as PRIVMSGs tagged
``batch=ref`` (a line tagged ``draft/multiline-concat`` continues the one before it, with no
line feed between: a long line cut to fit), and closes it with ``BATCH -ref``; only then is
the message delivered, as one.  Here are the limits the server advertises, the
:class:`Collector` that gathers one client's open batch and refuses what breaks the
specification, and the two ways of cutting a message into lines: as the sender cut it (its
*composition*, a tuple of ``(text, concat)`` pairs, kept while the message is live) and anew
from its text (:func:`compose`, for a message read back from history, which keeps the text).

https://ircv3.net/specs/extensions/multiline
"""

from .message import split_utf8

CAPABILITY = "draft/multiline"
CONCAT = "draft/multiline-concat"
#: The most bytes a message's text may have (its lines, and a line feed between two lines
#: not joined by concat), and the most lines.  A message of the most lines reaches each
#: recipient without the capability as that many lines of about 100 bytes each: well within
#: every send queue.  Ergo's defaults.
MAX_BYTES = 4096
MAX_LINES = 100
CAPABILITY_VALUE = f"max-bytes={MAX_BYTES},max-lines={MAX_LINES}"


def combine(lines):
    """The text of a message composed of *lines*: joined by line feeds, but where concat."""
    parts = []
    for index, (text, concat) in enumerate(lines):
        if index and not concat:
            parts.append("\n")
        parts.append(text)
    return "".join(parts)


def compose(text, room):
    """A composition for *text*: a line per line of it, each cut into pieces of at most *room*
    bytes (the pieces after the first marked concat).  Blank lines stay: a recipient with the
    capability is given them, the others are not (:func:`shown_lines`)."""
    lines = []
    for line in text.split("\n"):
        pieces = split_utf8(line, room) if line else [""]
        lines.extend((piece, index > 0) for index, piece in enumerate(pieces))
    return tuple(lines)


def shown_lines(lines):
    """The lines a recipient without the capability is sent, one PRIVMSG each: every line
    but the blank ones, which the specification keeps from them."""
    return [text for text, _concat in lines if text]


class Collector:
    """One client's open multiline batch: the lines come in, and at its end the message goes
    out (or the client is told why not).  Once a line breaks a rule the batch is spoilt: it
    swallows the rest of its lines, so that one mistake is told once, and delivers nothing."""

    __slots__ = ("ref", "target", "tags", "label", "lines", "bytes", "error")

    def __init__(self, ref, target, tags, label):
        self.ref = ref
        self.target = target
        #: The opening BATCH line's tags: the client-only ones travel with the message.
        self.tags = tags
        #: The opening line's labeled-response label, for the answer at the end (or None).
        self.label = label
        self.lines = []
        self.bytes = 0
        #: Why the batch is spoilt: ``(code, context)`` of its ``FAIL BATCH``, or None.
        self.error = None

    def add(self, target, text, concat):
        """Take one PRIVMSG line of the batch; the ``(code, context)`` of the error it makes,
        if it is the batch's first (the caller tells the client), else None."""
        if self.error is not None:
            return None
        if target != self.target:
            return self.spoil("MULTILINE_INVALID_TARGET", (self.target, target))
        if concat and not text:
            return self.spoil("MULTILINE_INVALID", ())  # the specification forbids it
        if len(self.lines) == MAX_LINES:
            return self.spoil("MULTILINE_MAX_LINES", (str(MAX_LINES),))
        self.bytes += len(text.encode()) + (1 if self.lines and not concat else 0)
        if self.bytes > MAX_BYTES:
            return self.spoil("MULTILINE_MAX_BYTES", (str(MAX_BYTES),))
        self.lines.append((text, bool(concat) and bool(self.lines)))
        return None

    def spoil(self, code, context):
        self.error = (code, context)
        self.lines = []  # nothing of it is kept, however long it goes on
        return self.error

    def finish(self):
        """The composition to deliver, or None with :attr:`error` set: a batch of no lines,
        or of blank lines alone (spaces count as blank), is invalid."""
        if self.error is None and not any(text.strip() for text, _concat in self.lines):
            self.spoil("MULTILINE_INVALID", ())
        return None if self.error is not None else tuple(self.lines)
