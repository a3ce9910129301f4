"""How a message becomes bytes for a recipient: once per message for every recipient alike.

A user speaks a :class:`Dialect`, decided by the first line of a connection that could carry
either (TCP, UDP) or fixed by the transport (IRC over WebSocket).  What it receives is written by
an :class:`Encoding`, which follows from the dialect and, for IRC, from the capabilities the user
negotiated that change how a line is written (IRCv3 ``server-time`` and ``message-tags`` will).
Users that want the same form share one Encoding object, so
:meth:`Chat.deliver <tcpchat.chat.Chat.deliver>` encodes each message once per Encoding in use
and appends the same bytes to everyone who shares it.

Every encoding gives whole lines, each ending in CRLF (or ``b""`` when the message means nothing
to that kind of user): :class:`~tcpchat.connection.Connection` relies on it to hand output to
message transports line by line.
"""

import enum

from .message import encode_line
from .plain import render as render_plain


class Dialect(enum.Enum):
    IRC = "IRC"
    PLAIN = "plain text"


class Encoding:
    """One way of writing a message as bytes: ``encode(message) -> bytes``."""

    __slots__ = ("name", "encode")

    def __init__(self, name, encode):
        self.name = name
        self.encode = encode

    def __repr__(self):
        return f"<Encoding {self.name}>"


IRC = Encoding("IRC", encode_line)
PLAIN = Encoding("plain text", render_plain)


def encoding_for(dialect, caps):
    """The Encoding for a user of *dialect* (None: not known yet) who negotiated *caps*.

    The one place that decides it.  No capability offered today changes how a line is written
    (``multi-prefix`` changes what a NAMES reply holds, which is built per user), so every IRC
    user shares :data:`IRC`; a capability that does will map each set of such capabilities to
    an Encoding of its own here, made once and shared.
    """
    return PLAIN if dialect is Dialect.PLAIN else IRC
