"""How a message becomes bytes for a recipient: once per message for every recipient alike.

A user speaks a :class:`Dialect`, decided by the first line of a connection that could carry
either (TCP, UDP) or fixed by the transport (IRC over WebSocket).  What it receives is written by
an :class:`Encoding`, which follows from the dialect and, for IRC, from the capabilities the user
negotiated that change how a line is written (IRCv3 ``server-time``, ``message-tags`` and
``account-tag``).
Users that want the same form share one Encoding object, so
:meth:`Delivery.deliver <tcpchat.chat.delivery.Delivery.deliver>` encodes each message once per
Encoding in use and appends the same bytes to everyone who shares it.

Every encoding gives whole lines, each ending in CRLF (or ``b""`` when the message means nothing
to that kind of user): :class:`~tcpchat.chat.connection.Connection` relies on it to hand output to
message transports line by line.
"""

import enum
import functools
import itertools

from ..protocol import ircv3, multiline
from ..protocol.message import Message, encode_line
from ..text.catalog import ENGLISH, Text, translations
from ..text.display import render_plain


class Dialect(enum.Enum):
    IRC = "IRC"
    PLAIN = "plain text"


class Encoding:
    """One way of writing a message as bytes: ``encode(message) -> bytes``."""

    __slots__ = ("name", "encode", "language", "catalog")

    def __init__(self, name, encode, language=ENGLISH):
        self.name = name
        self.encode = encode
        #: The language its sentences are rendered in, and that language's catalog.
        self.language = language
        self.catalog = translations(language)

    def __repr__(self):
        return f"<Encoding {self.name}>"


#: The capabilities that change how a line is written: the tags a recipient is given.
TAG_CAPABILITIES = frozenset(("server-time", "message-tags", "account-tag"))


SERVER_TIME = frozenset(("server-time",))

#: The server's own tags that clients with message-tags get (and no capability of their own
#: brings): a message's id, and that its sender is a bot.
MESSAGE_TAGS = frozenset(("msgid", "bot"))


def _irc_encoder(caps):
    """How IRC users who enabled *caps* (a subset of TAG_CAPABILITIES) get a message: with
    ``time`` for server-time, with the client-only tags (``+name``) and ``msgid`` for
    message-tags.  Users who enabled neither get
    :func:`~tcpchat.protocol.message.encode_line` itself, which writes no tags: the fan-out's
    usual case costs nothing for tags."""
    if not caps:
        return encode_line
    keep_time = "server-time" in caps
    keep_client_tags = "message-tags" in caps
    keep_account = "account-tag" in caps

    def encode(message):
        tags = message.tags
        if tags:
            tags = {name: value for name, value in tags.items()
                    if ((name[0] == "+" or name in MESSAGE_TAGS) and keep_client_tags)
                    or (name == "time" and keep_time)
                    or (name == "account" and keep_account)}
        return encode_line(message, tags)
    return encode


def _make_irc_encodings():
    combinations = [frozenset(chosen) for size in range(len(TAG_CAPABILITIES) + 1)
                    for chosen in itertools.combinations(sorted(TAG_CAPABILITIES), size)]
    return {caps: Encoding("IRC" + "".join(f"+{cap}" for cap in sorted(caps)),
                           _irc_encoder(caps))
            for caps in combinations}


_IRC_ENCODINGS = _make_irc_encodings()
IRC = _IRC_ENCODINGS[frozenset()]
PLAIN = Encoding("plain text", render_plain)


def encoding_for(dialect, caps, language=ENGLISH):
    """The Encoding for a user of *dialect* (None: not known yet) who negotiated *caps* and
    reads *language*.

    The one place that decides it.  Plain users share :data:`PLAIN`.  IRC users share one of
    six Encodings, by which of :data:`TAG_CAPABILITIES` they enabled (message-tags brings
    server-time's tag with it), so a message is still encoded at most once per Encoding
    whatever the number of recipients: users who asked for none (most of them) get the same
    bytes as before tags existed.  Users of
    another language share the same few Encodings of theirs (:func:`_translated`).
    """
    caps = TAG_CAPABILITIES.intersection(caps)
    if "message-tags" in caps:
        # A client that takes tags is given the server's own, time with msgid, whether it
        # asked for server-time or not: one Encoding for both.
        caps = caps | SERVER_TIME
    if language != ENGLISH:
        return _translated(dialect is Dialect.PLAIN, caps, language)
    if dialect is Dialect.PLAIN:
        return PLAIN
    return _IRC_ENCODINGS[caps]


@functools.lru_cache(maxsize=None)
def _translated(plain, caps, language):
    """The Encoding that renders the sentences of a message (its :class:`Text` parameters,
    and for plain users the sentence made of it) in *language*, then writes it as the English
    one of the same dialect and capabilities does.  The messages' Texts are English already,
    so English Encodings render nothing."""
    catalog = translations(language)
    if plain:
        return Encoding(f"plain text, {language}", lambda message: render_plain(
            message, catalog), language)
    write = _IRC_ENCODINGS[caps].encode

    def encode(message):
        params = message.params
        if any(isinstance(param, Text) for param in params):
            message = Message(message.command, tuple(
                param.render(catalog) if isinstance(param, Text) else param
                for param in params), message.source, message.tags)
        return write(message)
    return Encoding(f"{_IRC_ENCODINGS[caps].name}, {language}", encode, language)


# -- Multiline messages (IRCv3 draft/multiline) ------------------------------------------

def multiline_batch(whole, lines):
    """How a recipient with draft/multiline is written *whole*, composed of *lines*, as
    ``encode(encoding, message)`` for ``Delivery.deliver``: the opening BATCH line with the
    message's tags (those the recipient's Encoding keeps), then its lines and the closing
    line, the same bytes for every Encoding (the tags a batch needs are written whatever the
    recipient's other capabilities)."""
    ref = ircv3.batch_ref()
    command, target, source = whole.command, whole.params[0], whole.source
    in_batch, continued = {"batch": ref}, {"batch": ref, multiline.CONCAT: ""}
    body = b"".join(encode_line(Message(command, (target, text), source),
                                continued if concat else in_batch) for text, concat in lines)
    body += encode_line(Message("BATCH", (f"-{ref}",), source))

    def encode(encoding, message):
        return encoding.encode(Message("BATCH", (f"+{ref}", multiline.CAPABILITY, target),
                                       source, message.tags)) + body
    return encode


def multiline_lines(lines):
    """How an IRC recipient without draft/multiline is written a multiline message: a line
    each, but the blank ones, the first with all the message's tags, the others without its
    msgid (which names the whole message once)."""
    shown = multiline.shown_lines(lines)

    def encode(encoding, message):
        command, target, source = message.command, message.params[0], message.source
        others = {name: value for name, value in message.tags.items() if name != "msgid"}
        return b"".join(encoding.encode(Message(command, (target, text), source,
                                                others if index else message.tags))
                        for index, text in enumerate(shown))
    return encode
