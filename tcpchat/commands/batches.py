"""Batches a client opens (IRCv3 client-initiated ``BATCH``): ``draft/multiline`` messages.

A client with the capability opens ``BATCH +ref draft/multiline <target>``, sends its lines as
``@batch=ref PRIVMSG <target> :line``, and closes it with ``BATCH -ref``; the message is then
one message (one msgid, one entry of history), relayed by the chat in the form each recipient
reads (:meth:`LocalDelivery._multiline <tcpchat.chat.local.LocalDelivery._multiline>`).

The open batch (a :class:`~tcpchat.protocol.multiline.Collector`, in ``chat.batches``) is
bounded three ways: by ``max-bytes`` and ``max-lines``, by :data:`TIMEOUT`, and by the rule
that nothing else comes while it is open.  Whatever breaks a rule spoils the batch: the client
is told once (``FAIL BATCH`` with the specification's code), and the rest of the batch is
swallowed unanswered, so that one mistake never costs a reply per line.  A command other than
the batch's own (PING and PONG aside) ends a batch, spoilt or not: the client has moved on.

Its lines cost flood control their bytes, not a line each (the specification asks servers to
allow a whole batch sent at once): a batch of the most lines is never paused for its count.
"""

from ..protocol import multiline
from ..protocol import numerics as rpl
from ..protocol.ircv3 import client_tags, labeled
from ..text.catalog import _
from . import services

#: How long a batch may stay open, in seconds, before it is dropped (``FAIL BATCH TIMEOUT``).
#: A client sends its batch at once; flood control may spread it over a few seconds.
TIMEOUT = 30.0
#: What a command handler returns when it answers a labeled line itself, later.
LATER = "later"
#: What a line of a batch may be besides its PRIVMSGs, without ending it: a client answers
#: the server's PING wherever it is.
_PASSING = frozenset(("PING", "PONG"))


def batch(chat, client, message):
    """BATCH +ref draft/multiline <target>, and BATCH -ref.  :data:`LATER` when the answer to
    a labeled line waits for the batch's end (see :func:`tcpchat.commands.irc.handle_line`)."""
    if multiline.CAPABILITY not in client.caps:
        chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, "BATCH", _(
            "Unknown command: enable the draft/multiline capability first"))
        return
    reference = message.params[0]
    if reference[:1] == "+" and len(reference) > 1:
        return _open(chat, client, reference[1:], message)
    if reference[:1] == "-" and len(reference) > 1:
        _close(chat, client, reference[1:], message)
        return
    _fail(chat, client, "MULTILINE_INVALID", (), _("A batch is opened with +reference and "
                                                   "closed with -reference"))


def _open(chat, client, reference, message):
    opened = chat.batches.get(client)
    if opened is not None:
        _spoil(chat, client, opened, "MULTILINE_INVALID", (), _(
            "A batch is open already: batches do not nest, and this one is dropped"))
        return
    params = message.params
    if len(params) < 3 or params[1] != multiline.CAPABILITY:
        _fail(chat, client, "MULTILINE_INVALID", (), _(
            "The only batch taken is BATCH +reference draft/multiline <target>"))
        return
    target = params[2]
    if "," in target or services.is_service(target):
        _fail(chat, client, "MULTILINE_INVALID_TARGET", (target, target), _(
            "A multiline message goes to one channel or one user"))
        return
    label = message.tags.get("label") if "labeled-response" in client.caps else None
    collector = chat.batches[client] = multiline.Collector(
        reference, target, client_tags(message.tags), label)
    chat.later(client, chat.clock() + TIMEOUT, lambda client: _timeout(chat, client, collector))
    return LATER if label is not None else None


def _close(chat, client, reference, message):
    collector = chat.batches.get(client)
    if collector is None or collector.ref != reference:
        if collector is None:  # (else the open one is spoilt, and a stray end is its doing)
            _fail(chat, client, "MULTILINE_INVALID", (), _("No batch is open by that "
                                                           "reference"))
        return
    del chat.batches[client]
    told = collector.error is not None
    lines = collector.finish()
    if lines is None:
        if not told:
            _fail(chat, client, "MULTILINE_INVALID", (), _(
                "A multiline message needs at least one line that is not blank"))
        return
    label = collector.label if "label" not in message.tags else None
    start = chat.delivery.mark(client) if label is not None else None
    chat.message(client, "PRIVMSG", collector.target, multiline.combine(lines),
                 collector.tags, lines)
    if start is not None:
        server, batches = chat.config.server_name, "batch" in client.caps
        chat.delivery.rewrite_since(client, start,
                                    lambda lines: labeled(lines, label, server, batches))


def take(chat, client, message):
    """A line from *client*, which has a batch open: True if the batch took it (a line of it,
    or of another batch, which spoils it), False if it is for the usual handler (a BATCH
    line, a PING; any other command, which ends the batch)."""
    collector = chat.batches[client]
    command, tags = message.command, message.tags
    if command == "BATCH" or command in _PASSING:
        return False
    if not tags or "batch" not in tags:  # the client moved on: the batch is dropped
        del chat.batches[client]
        if collector.error is None:
            _fail(chat, client, "MULTILINE_INVALID", (), _(
                "A batch was open, and this line is not of it: the batch is dropped"))
        return False
    if tags["batch"] != collector.ref:
        _spoil(chat, client, collector, "MULTILINE_INVALID", (), _(
            "A line of another batch came while this one was open: batches do not "
            "interleave, and this one is dropped"))
        return True
    if command != "PRIVMSG" or len(message.params) < 2:
        _spoil(chat, client, collector, "MULTILINE_INVALID", (), _(
            "A multiline batch holds PRIVMSG lines alone, each with a target and text"))
        return True
    told = collector.error is not None
    error = collector.add(message.params[0], message.params[1], multiline.CONCAT in tags)
    if error is not None and not told:
        _tell(chat, client, *error)
    elif error is None and client.conn.flood is not None:
        client.conn.flood.refund_line()
    return True


def line_dropped(chat, client):
    """A line of *client*'s was dropped before it was read (too long, not UTF-8): the batch
    it may have been part of is dropped too, rather than delivered without it."""
    _spoil(chat, client, chat.batches[client], "MULTILINE_INVALID", (), _(
        "A line was dropped while a batch was open: the batch is dropped too"))


def stray(chat, client):
    """A line tagged ``batch=`` with no batch open: refused, as nothing would deliver it."""
    _fail(chat, client, "MULTILINE_INVALID", (), _("No batch is open by that reference"))


def _timeout(chat, client, collector):
    if chat.batches.get(client) is collector and collector.error is None:
        collector.spoil("TIMEOUT", (collector.ref,))
        _fail(chat, client, "TIMEOUT", (collector.ref,), _(
            "The batch was open for {seconds} seconds: it is dropped, and its lines will be "
            "ignored", seconds=int(TIMEOUT)))


def _spoil(chat, client, collector, code, context, text):
    if collector.error is None:
        collector.spoil(code, context)
        _fail(chat, client, code, context, text)


def _tell(chat, client, code, context):
    """The FAIL for an error a Collector found."""
    if code == "MULTILINE_INVALID_TARGET":
        text = _("Every line of a multiline batch goes to the batch's target")
    elif code == "MULTILINE_MAX_LINES":
        text = _("A multiline message has at most {count} lines", count=multiline.MAX_LINES)
    elif code == "MULTILINE_MAX_BYTES":
        text = _("A multiline message has at most {count} bytes", count=multiline.MAX_BYTES)
    else:
        text = _("A line with draft/multiline-concat continues a line, so it cannot be blank")
    _fail(chat, client, code, context, text)


def _fail(chat, client, code, context, text):
    chat.delivery.standard_reply(client, "FAIL", "BATCH", code, text, context)

