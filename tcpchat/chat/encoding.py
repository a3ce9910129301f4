"""How a message becomes bytes for a recipient: once per message for every recipient alike.

A user speaks a :class:`Dialect`, decided by the first line of a connection that could carry
either (TCP, UDP) or fixed by the transport (IRC over WebSocket).  What it receives is written by
an :class:`Encoding`, which follows from the dialect and, for IRC, from the capabilities the user
negotiated that change how a line is written (IRCv3 ``server-time`` and ``message-tags``).
Users that want the same form share one Encoding object, so
:meth:`Chat.deliver <tcpchat.chat.chat.Chat.deliver>` encodes each message once per Encoding in use
and appends the same bytes to everyone who shares it.

Every encoding gives whole lines, each ending in CRLF (or ``b""`` when the message means nothing
to that kind of user): :class:`~tcpchat.chat.connection.Connection` relies on it to hand output to
message transports line by line.
"""

import enum

from ..protocol.message import encode_line
from ..text.display import render_plain


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


#: The capabilities that change how a line is written: the tags a recipient is given.
TAG_CAPABILITIES = frozenset(("server-time", "message-tags"))


def _irc_encoder(caps):
    """How IRC users who enabled *caps* (a subset of TAG_CAPABILITIES) get a message: with
    ``time`` for server-time, with the client-only tags (``+name``) for message-tags.  Users
    who enabled neither get :func:`~tcpchat.protocol.message.encode_line` itself, which writes no tags:
    the fan-out's usual case costs nothing for tags."""
    if not caps:
        return encode_line
    keep_time = "server-time" in caps
    keep_client_tags = "message-tags" in caps

    def encode(message):
        tags = message.tags
        if tags:
            tags = {name: value for name, value in tags.items()
                    if (name[0] == "+" and keep_client_tags) or (name == "time" and keep_time)}
        return encode_line(message, tags)
    return encode


def _make_irc_encodings():
    combinations = [frozenset(), frozenset(["server-time"]), frozenset(["message-tags"]),
                    TAG_CAPABILITIES]
    return {caps: Encoding("IRC" + "".join(f"+{cap}" for cap in sorted(caps)),
                           _irc_encoder(caps))
            for caps in combinations}


_IRC_ENCODINGS = _make_irc_encodings()
IRC = _IRC_ENCODINGS[frozenset()]
PLAIN = Encoding("plain text", render_plain)


def encoding_for(dialect, caps):
    """The Encoding for a user of *dialect* (None: not known yet) who negotiated *caps*.

    The one place that decides it.  Plain users share :data:`PLAIN`.  IRC users share one of
    four Encodings, by which of ``server-time`` and ``message-tags`` they enabled, so a message
    is still encoded at most once per Encoding whatever the number of recipients: users who
    asked for neither (most of them) get the same bytes as before tags existed.
    """
    if dialect is Dialect.PLAIN:
        return PLAIN
    return _IRC_ENCODINGS[TAG_CAPABILITIES.intersection(caps)]
