"""IRC messages: parse a line into a :class:`Message`, and serialize one back.

The grammar is modern IRC's (https://modern.ircdocs.horse/#messages)::

    [@tags SPACE] [:source SPACE] command *(SPACE param) [SPACE :trailing]

Parameters are separated by one or more spaces; the last one may start with ``:`` and then holds
spaces.  ``parse(serialize(m)) == m`` for every valid message, which the tests check with
hypothesis.  This module knows nothing about connections: strings in, strings out.
"""

from dataclasses import dataclass, field

#: The most bytes a message may take without its tags, CRLF included (RFC 1459, kept by modern IRC).
MAX_MESSAGE = 512
#: The most bytes the tags of a client's message may take, the leading ``@`` and trailing space
#: included (modern IRC, "Tags").  A server reads ``MAX_TAGS + MAX_MESSAGE`` bytes per line.
MAX_TAGS = 4096

#: Where a command's text parameter stands (text for people, or CAP's list of capabilities):
#: when a message has that many parameters, the last one always goes out with a ":" before it,
#: and so does the last parameter of every numeric.  Parsers must not care, but simple clients
#: find the text by looking for " :".  (Modern IRC, "Parameters"; ergo and ngircd do the same.)
TEXT_POSITION = {"PRIVMSG": 2, "NOTICE": 2, "PART": 2, "TOPIC": 2, "QUIT": 1, "ERROR": 1,
                 "AWAY": 1, "PONG": 2, "CAP": 3, "USER": 4, "KICK": 3,
                 "FAIL": 3, "WARN": 3, "NOTE": 3, "KILL": 2, "WALLOPS": 1, "SETNAME": 1, "REDACT": 3}

_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


class MalformedMessage(ValueError):
    """The line is not an IRC message (empty, or no command)."""


@dataclass(slots=True)
class Message:
    command: str
    params: tuple = ()
    source: str = None
    tags: dict = field(default_factory=dict)

    def __str__(self):
        return serialize(self)


_TAG_ESCAPE_TABLE = str.maketrans(_TAG_ESCAPES)


def escape_tag_value(value):
    # Most values (a time, a msgid) need nothing: five scans in C say so at less cost.
    if ";" in value or " " in value or "\\" in value or "\r" in value or "\n" in value:
        return value.translate(_TAG_ESCAPE_TABLE)
    return value


def unescape_tag_value(value):
    if "\\" not in value:
        return value
    out = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            # A lone backslash at the very end is dropped, as the spec says.
            following = next(chars, "")
            out.append(_TAG_UNESCAPES.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def _parse_tags(text):
    tags = {}
    for item in text.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        tags[key] = unescape_tag_value(value)
    return tags


def parse(line):
    """Parse one line (no CRLF) into a :class:`Message`; the command comes back upper-cased.

    Raises :class:`MalformedMessage` when there is no command.
    """
    command, _, rest = line.partition(" ")
    if not command or command[0] in "@:":
        return _parse_any(line)
    # The line every client sends most: no tags, no source.  Cut where the text begins,
    # then split the rest at spaces: what the general parser does, in fewer steps (a
    # property test holds the two to the same answers).
    if not rest:
        params = ()
    elif rest[0] == ":":
        params = (rest[1:],)
    else:
        middle, colon, trailing = rest.partition(" :")
        params = middle.split(" ")
        if "" in params:
            params = [param for param in params if param]  # runs of spaces
        if colon:
            params.append(trailing)
        params = tuple(params)
    return Message(command.upper(), params)


def channel_message(line):
    """``(channel, text)`` if *line* is ``PRIVMSG #channel :text``, to one channel, with no tags
    and no source, as nearly every line a client sends is; else None.  Where it answers,
    :func:`parse` gives ``Message("PRIVMSG", (channel, text))``: the command layer handles the
    line from this without making the Message (a property test holds the two together)."""
    if not line.startswith("PRIVMSG #"):
        return None
    channel, colon, text = line[8:].partition(" :")
    if not colon or not text or " " in channel or "," in channel:
        return None  # no text, several targets, or spaces parse() reads its own way
    return channel, text


def _parse_any(line):
    tags = {}
    source = None
    rest = line.lstrip(" ")
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        tags = _parse_tags(tag_text)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not command:
        raise MalformedMessage("no command")
    params = []
    while rest:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Message(command.upper(), tuple(params), source or None, tags)


def serialize(message):
    """The line for *message*, without CRLF.

    Raises ValueError for a message no parser could read back the same: a middle parameter that
    is empty, holds a space or starts with ``:``, or any part holding CR, LF or NUL.
    """
    body = _serialize_body(message.command, message.params, message.source)
    return _tag_section(message.tags) + " " + body if message.tags else body


def _tag_section(tags):
    section = "@" + ";".join(key + "=" + escape_tag_value(value) if value else key
                             for key, value in tags.items())
    if "\r" in section or "\n" in section or "\0" in section:
        raise ValueError("CR, LF and NUL cannot be sent")
    return section


def is_middle(param):
    """Whether *param* can be a parameter before the last: not empty, no space, no leading
    colon."""
    return bool(param) and " " not in param and not param.startswith(":")


def middle_or(param, instead="*"):
    """*param*, said back as a parameter of a reply's own (a subject, a mask), or *instead*
    where it cannot be one (a client's trailing ``:two words``)."""
    return param if is_middle(param) else instead


def _serialize_body(command, params, source):
    if (source and len(params) == 2 and TEXT_POSITION.get(command) == 2
            and params[0] and " " not in params[0] and params[0][0] != ":"):  # is_middle
        # A PRIVMSG or NOTICE to a target, nearly every line the server writes: what
        # _joined_body writes, with no list to build (270 ns against 500).
        line = f":{source} {command} {params[0]} :{params[1]}"
    else:
        line = _joined_body(command, params, source)
    if "\r" in line or "\n" in line or "\0" in line:
        raise ValueError("CR, LF and NUL cannot be sent")
    return line


def _joined_body(command, params, source):
    """The line for *command* with *params* from *source*, any of them; raises ValueError for
    a middle parameter no parser could read back (empty, a space, a leading colon)."""
    parts = [":" + source, command] if source else [command]
    if params:
        for param in params[:-1]:
            if not param or " " in param or param.startswith(":"):  # is_middle, inlined
                raise ValueError(f"bad middle parameter {param!r}")
            parts.append(param)
        last = params[-1]
        if (not last or " " in last or last.startswith(":") or command.isdigit()
                or TEXT_POSITION.get(command) == len(params)):
            last = ":" + last
        parts.append(last)
    return " ".join(parts)


def utf8_prefix(text, max_bytes):
    """The longest prefix of *text* whose UTF-8 encoding fits *max_bytes*, never ending in
    half a character."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    if max_bytes <= 0:
        return ""
    # Back off over UTF-8 continuation bytes (0b10xxxxxx) to the start of a character.
    end = max_bytes
    while end > 0 and encoded[end] & 0xC0 == 0x80:
        end -= 1
    return encoded[:end].decode()


def split_utf8(text, max_bytes):
    """Cut *text* into pieces of at most *max_bytes* UTF-8 bytes each, between characters.

    Prefers to cut after a space when one falls in the second half of a piece, so words stay
    whole; the space stays at the end of the first piece, and joining the pieces gives *text*.
    """
    pieces = []
    while len(text.encode()) > max_bytes:
        piece = utf8_prefix(text, max_bytes)
        space = piece.rfind(" ")
        if space >= len(piece) // 2:
            piece = piece[:space + 1]
        if not piece:  # max_bytes is smaller than one character
            piece = text[0]
        pieces.append(piece)
        text = text[len(piece):]
    pieces.append(text)
    return pieces


def encode_line(message, tags=None):
    """*message* as bytes ready to send (CRLF included), with *tags* (its own tags are not
    written: which of them a recipient gets is its Encoding's choice), within
    :data:`MAX_MESSAGE` bytes (tags aside), cut at character boundaries: its trailing
    parameter first, then, should the others alone be too long (numerics echo what a client
    sent), the longest of them, each kept at least a character long so that the line still
    parses the same way."""
    command, source = message.command, message.source
    body = _serialize_body(command, message.params, source).encode() + b"\r\n"
    if len(body) > MAX_MESSAGE:
        body = _shortened(command, list(message.params), source, body)
    if tags:
        return _tag_section(tags).encode() + b" " + body
    return body


def _shortened(command, params, source, body):
    """*body* (the encoded line of *command* with *params*) cut to fit :data:`MAX_MESSAGE`."""
    while True:
        excess = len(body) - MAX_MESSAGE
        if excess <= 0 or not params:
            return body
        last = params[-1]
        if last:
            params[-1] = utf8_prefix(last, max(0, len(last.encode()) - excess))
        elif len(params) > 1:
            longest = max(range(len(params) - 1), key=lambda index: len(params[index].encode()))
            middle = params[longest]
            params[longest] = (utf8_prefix(middle, max(0, len(middle.encode()) - excess))
                               or middle[:1])
            if params[longest] == middle:
                return body  # one character each already: nothing left to cut
        else:
            return body
        body = _serialize_body(command, params, source).encode() + b"\r\n"


def text_room(source, command, target):
    """How many bytes of text fit in ``:source command target :text`` within
    :data:`MAX_MESSAGE`: what a relayed PRIVMSG's sender may say in one line."""
    return MAX_MESSAGE - len(f":{source} {command} {target} :\r\n".encode())
