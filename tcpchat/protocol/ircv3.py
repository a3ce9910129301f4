"""IRCv3 pieces the chat and the IRC commands share: the capabilities offered, the
``server-time`` stamp, client-only tags, and labeled responses.

Tags that every recipient of a message may get (``time``, client-only ``+name`` tags) travel
on the :class:`~tcpchat.protocol.message.Message` and are kept or dropped per Encoding
(:mod:`tcpchat.chat.encoding`), so fan-out still encodes once per Encoding.  Tags meant for one
client only (``label``, ``batch``) are put on that client's own output by :func:`labeled`,
after its command has run: the whole lines the command queued for it are rewritten in place
(:meth:`Delivery.rewrite_since <tcpchat.chat.delivery.Delivery.rewrite_since>`), before
anything is sent.
"""

import calendar
import itertools
import re
import time

from .message import escape_tag_value

#: IRCv3 draft/channel-rename (tcpchat.commands.rename): members with it see RENAME.
CHANNEL_RENAME = "draft/channel-rename"
#: Offered in CAP LS, in this order.  cap-notify is enabled for any client that asks; the
#: capabilities never change while the server runs, so it never has anything to say.
CAPABILITIES = ("multi-prefix", "message-tags", "server-time", "echo-message", "away-notify",
                "invite-notify", "userhost-in-names", "extended-join", "setname", "cap-notify",
                "batch", "labeled-response", "sasl", "account-notify", "account-tag",
                "extended-monitor", "draft/no-implicit-names", "draft/read-marker",
                "draft/pre-away", "draft/multiline", "draft/metadata-2", CHANNEL_RENAME)
#: The longest label a client may give (labeled-response says 64 bytes).
LABEL_BYTES = 64
#: The longest real name SETNAME takes (also announced as NAMELEN).
NAMELEN = 200

_batch_ids = itertools.count(1)
#: A BATCH line (bytes, no line end): its sign, its reference and its type.
_BATCH_LINE = re.compile(rb"(?:@\S+ )?(?::\S+ )?BATCH ([+-])(\S+)(?: (\S+))?")
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z")


def timestamp(seconds):
    """*seconds* since the epoch as server-time writes it: ``2023-11-14T22:13:20.000Z``."""
    whole = int(seconds)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            + f".{int((seconds - whole) * 1000):03d}Z")


def parse_timestamp(text):
    """Seconds since the epoch for a server-time timestamp, or None."""
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction = found.groups()
    try:
        whole = calendar.timegm(time.struct_time((int(year), int(month), int(day), int(hour),
                                                  int(minute), int(second), 0, 0, 0)))
        time.strptime(f"{year}-{month}-{day}", "%Y-%m-%d")  # no 31st of February
    except (ValueError, OverflowError):
        return None
    if not (0 <= int(hour) < 24 and 0 <= int(minute) < 60 and 0 <= int(second) < 61):
        return None
    return whole + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def client_tags(tags):
    """The client-only tags (``+name``) among those a client sent: all it may pass on."""
    return {name: value for name, value in tags.items() if name[:1] == "+"} if tags else {}


def labeled(lines, label, server, batches):
    """The lines a labeled command queued (bytes, no line ends), labeled: nothing, an ``ACK``;
    one line, that line; more, a ``labeled-response`` batch (for a client without the batch
    capability, *batches* false: the first line labeled)."""
    label = escape_tag_value(label.encode()[:LABEL_BYTES].decode(errors="ignore"))
    if not lines:
        return [f"@label={label} :{server} ACK".encode()]
    if len(lines) == 1 or not batches or _one_batch(lines):
        return [_tagged(lines[0], f"label={label}")] + lines[1:]
    return batched(lines, "labeled-response", (), server, f"label={label}")


def _one_batch(lines):
    """Whether *lines* are one multiline message (its echo), from its opening line to its
    closing one: its opening line takes the label, as draft/multiline asks.  (Other batches
    are put in a labeled-response one: either is the labeled-response specification's.)"""
    opening, closing = _BATCH_LINE.match(lines[0]), _BATCH_LINE.match(lines[-1])
    return (opening is not None and closing is not None and opening[1] == b"+"
            and opening[3] == b"draft/multiline" and closing[1] == b"-"
            and opening[2] == closing[2])


def batched(lines, kind, params, server, opening_tag=None):
    """*lines* (bytes, no line ends) in a new batch of *kind* with *params*, the opening line
    tagged with *opening_tag* too, if given.  Lines of a batch among them (tagged ``batch=``
    already) stay in theirs, which nests in the new one through its BATCH lines."""
    batch = batch_ref()
    opening = f":{server} BATCH +{batch} {kind}" + "".join(f" {param}" for param in params)
    return ([_tagged(opening.encode(), opening_tag) if opening_tag else opening.encode()]
            + [line if _in_batch(line) else _tagged(line, f"batch={batch}") for line in lines]
            + [f":{server} BATCH -{batch}".encode()])


def batch_ref():
    """A new batch reference, unique for the server's life (so for every connection)."""
    return f"B{next(_batch_ids)}"


def _in_batch(line):
    if not line.startswith(b"@"):
        return False
    tags = line[1:line.find(b" ")]
    return tags.startswith(b"batch=") or b";batch=" in tags


def _tagged(line, tag):
    """*line* (bytes, no line end) with *tag* added to its tags."""
    if line.startswith(b"@"):
        return b"@" + tag.encode() + b";" + line[1:]
    return b"@" + tag.encode() + b" " + line
