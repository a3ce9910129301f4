"""IRCv3 pieces the chat and the IRC commands share: the capabilities offered, the
``server-time`` stamp, client-only tags, and labeled responses.

Tags that every recipient of a message may get (``time``, client-only ``+name`` tags) travel
on the :class:`~tcpchat.protocol.message.Message` and are kept or dropped per Encoding
(:mod:`tcpchat.chat.encoding`), so fan-out still encodes once per Encoding.  Tags meant for one
client only (``label``, ``batch``) are put on that client's own output by
:func:`finish_labeled`, after its command has run: the bytes of whole lines the command queued
for it are rewritten in place, in its buffer, before anything is sent.
"""

import itertools
import time

from .message import escape_tag_value

#: Offered in CAP LS, in this order.  cap-notify is enabled for any client that asks; the
#: capabilities never change while the server runs, so it never has anything to say.
CAPABILITIES = ("multi-prefix", "message-tags", "server-time", "echo-message", "away-notify",
                "invite-notify", "userhost-in-names", "extended-join", "setname", "cap-notify",
                "batch", "labeled-response")
#: The longest label a client may give (labeled-response says 64 bytes).
LABEL_BYTES = 64
#: The longest real name SETNAME takes (also announced as NAMELEN).
NAMELEN = 200

_batch_ids = itertools.count(1)


def timestamp(seconds):
    """*seconds* since the epoch as server-time writes it: ``2023-11-14T22:13:20.000Z``."""
    whole = int(seconds)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            + f".{int((seconds - whole) * 1000):03d}Z")


def client_tags(tags):
    """The client-only tags (``+name``) among those a client sent: all it may pass on."""
    return {name: value for name, value in tags.items() if name[:1] == "+"} if tags else {}


def start_labeled(chat, client, message):
    """Where *client*'s output stands before a labeled command runs, or None if the command
    is not labeled (or the client did not ask for labeled-response)."""
    if "labeled-response" not in client.caps or not message.tags or "label" not in message.tags:
        return None
    chat.flush_batch()  # what the batch holds is not this command's
    return len(client.out) if client.out is not None else None


def finish_labeled(chat, client, start, label):
    """Label what the command queued for *client* since *start*: nothing, an ``ACK``; one line,
    that line; more, a ``labeled-response`` batch (or, for a client without the batch
    capability, the first line)."""
    chat.flush_batch()
    out = client.out
    if out is None or len(out) < start:
        return  # the client is closing: nothing more goes to it
    label = escape_tag_value(label.encode()[:LABEL_BYTES].decode(errors="ignore"))
    lines = bytes(out[start:]).split(b"\r\n")[:-1]
    server = chat.config.server_name
    if not lines:
        labeled = [f"@label={label} :{server} ACK".encode()]
    elif len(lines) == 1 or "batch" not in client.caps:
        labeled = [_tagged(lines[0], f"label={label}")] + lines[1:]
    else:
        batch = f"L{next(_batch_ids)}"
        labeled = ([f"@label={label} :{server} BATCH +{batch} labeled-response".encode()]
                   + [_tagged(line, f"batch={batch}") for line in lines]
                   + [f":{server} BATCH -{batch}".encode()])
    del out[start:]
    if not out:
        chat.dirty.add(client.conn)
    out += b"\r\n".join(labeled) + b"\r\n"


def _tagged(line, tag):
    """*line* (bytes, no line end) with *tag* added to its tags."""
    if line.startswith(b"@"):
        return b"@" + tag.encode() + b";" + line[1:]
    return b"@" + tag.encode() + b" " + line
