"""Reading history: IRCv3 ``draft/chathistory`` (CHATHISTORY), ``draft/message-redaction``
(REDACT), and what plain users see of a room's past (``/history``, and the last lines when
they join).

Only what the chat's store holds is answered (see :mod:`tcpchat.store.base`): channels, to
their members, and private messages between two accounts, to those two, from any of their
connections (the target is the other's nick, or its account's name when it is away).  A request
for a channel one is not in or one that does not exist gets the same answer, so that asking
never tells whether a secret channel exists; one for a nick, from or about someone who is not
logged in, gets an empty answer, as nothing of it is kept.  Every request is bounded twice: by
``Config.history_limit`` entries, and by flood control, which charges a request
:data:`REQUEST_COST` lines more than the line it came in: requests in a row are then served
at a bounded rate, the connection paused between them as after any burst, none refused.
"""

import time

from ..chat.encoding import multiline_batch, multiline_lines
from ..protocol import ircv3, multiline
from ..protocol.ircv3 import parse_timestamp, timestamp
from ..protocol.message import Message, text_room
from ..protocol.names import fold, is_channel
from ..store.base import GAP, MESSAGES, Bound, conversation
from ..text.catalog import _, ngettext
from ..text.display import as_block, describe, prefixed

#: The kept commands whose first parameter is the channel they happened in.
_ABOUT_THE_CHANNEL = frozenset(("PRIVMSG", "NOTICE", "TAGMSG", "JOIN", "PART", "KICK", "TOPIC",
                                "MODE"))
#: Offered in CAP LS while the server keeps history.
CAPABILITIES = ("draft/chathistory", "draft/event-playback", "draft/message-redaction")
#: Flood control's charge for one history request, in lines beside its own: a request costs
#: the server a query and up to a page of lines.
REQUEST_COST = 2
#: How far ahead of the server's clock a timestamp may be (clients ask BEFORE "now" by
#: their own clocks), and the earliest taken: anything else is a mistake or a probe.
_FUTURE = 366 * 86400
_EARLIEST = 0
_SUBCOMMANDS = {"LATEST": 4, "BEFORE": 4, "AFTER": 4, "AROUND": 4, "BETWEEN": 5, "TARGETS": 4}


def isupport(config):
    """The 005 tokens: the most entries one request returns, and the references taken."""
    return (f"CHATHISTORY={config.history_limit}", "MSGREFTYPES=msgid,timestamp")


class _Refused(Exception):
    """A request answered with ``FAIL CHATHISTORY`` *code*, *context* and *text*."""

    def __init__(self, code, context, text):
        super().__init__(code)
        self.code, self.context, self.text = code, context, text


def chathistory(chat, client, message):
    params = message.params
    subcommand = params[0].upper()
    try:
        if subcommand not in _SUBCOMMANDS:
            raise _Refused("UNKNOWN_COMMAND", (params[0],), _("Unknown command"))
        if len(params) < _SUBCOMMANDS[subcommand]:
            raise _Refused("NEED_MORE_PARAMS", (subcommand,), _("Missing parameters"))
        charge(client)
        limit = _limit(chat, subcommand, params[-1])
        if subcommand == "TARGETS":
            _targets(chat, client, params, limit)
            return
        name = _readable(chat, client, subcommand, params[1])
        entries = [] if name is None else _select(chat, name, subcommand, params, limit,
                                                   _commands(client))
    except _Refused as refusal:
        chat.delivery.standard_reply(client, "FAIL", "CHATHISTORY", refusal.code, refusal.text,
                                     context=refusal.context)
        return
    _send_entries(chat, client, params[1], entries)


def charge(client):
    """Spend :data:`REQUEST_COST` more lines of *client*'s flood allowance, below nothing if
    need be: its next lines then wait for the bucket to refill."""
    if client.conn.flood is not None:
        client.conn.flood.lines -= REQUEST_COST


def _limit(chat, subcommand, text):
    most = chat.config.history_limit
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise _Refused("INVALID_PARAMS", (subcommand, text), _(
            "The limit must be a whole number from 1 to {most}", most=most))
    return int(text)


def _readable(chat, client, subcommand, target):
    """What the store keeps *target*'s history under, if *client* may read it: a channel's
    name (to a member); the :func:`~tcpchat.store.base.conversation` of two accounts, for a
    nick or an account name; None where nothing is kept (an empty answer).  Refused for a
    channel *client* is not in."""
    if not is_channel(target):
        other = chat.registry.find_user(target)
        account = other.account if other is not None else getattr(
            chat.accounts.get(target), "name", None)
        if client.account is None or account is None:
            return None
        return conversation(client.account, account)
    channel = chat.registry.channels.get(fold(target))
    if channel is None or client not in channel.members:
        raise _Refused("INVALID_TARGET", (subcommand, target),
                       _("Messages could not be retrieved: you are not in that channel"))
    return channel.name


def _commands(client):
    return None if "draft/event-playback" in client.caps else MESSAGES


def _select(chat, name, subcommand, params, limit, commands):
    store = chat.history
    if subcommand == "LATEST":
        after = None if params[2] == "*" else _bound(chat, name, subcommand, params[2])
        return store.page(name, after=after, limit=limit, newest=True, commands=commands)
    reference = _bound(chat, name, subcommand, params[2])
    if subcommand == "BEFORE":
        return store.page(name, before=reference, limit=limit, newest=True, commands=commands)
    if subcommand == "AFTER":
        return store.page(name, after=reference, limit=limit, commands=commands)
    if subcommand == "AROUND":
        # Half before, the message itself among them when it is one, and the rest after.
        upto = Bound.at_seq(reference.seq + 1) if reference.seq is not None else reference
        earlier = store.page(name, before=upto, limit=(limit + 1) // 2, newest=True,
                             commands=commands)
        later_bound = Bound.at_seq(earlier[-1].seq) if earlier else reference
        return earlier + store.page(name, after=later_bound, limit=limit - len(earlier),
                                    commands=commands)
    other = _bound(chat, name, subcommand, params[3])  # BETWEEN
    if _position(store, name, reference) <= _position(store, name, other):
        return store.page(name, after=reference, before=other, limit=limit, commands=commands)
    # Backwards in time: the *limit* nearest the first reference.
    return store.page(name, after=other, before=reference, limit=limit, newest=True,
                      commands=commands)


def _position(store, name, bound):
    """Where *bound* stands, as a time, so that two references of either kind compare."""
    if bound.time is not None:
        return bound.time
    found = store.page(name, after=Bound.at_seq(bound.seq - 1), limit=1)
    return found[0].time if found else 0.0


def _bound(chat, name, subcommand, reference):
    """``msgid=...`` or ``timestamp=...`` as a :class:`Bound`; refused if it names no message
    of this channel or no sensible time."""
    kind, _sep, value = reference.partition("=")
    if kind == "msgid" and value:
        entry = chat.history.find(name, value)
        if entry is None:
            raise _Refused("INVALID_PARAMS", (subcommand, reference),
                           _("No message of that channel has that msgid"))
        return Bound.at_seq(entry.seq)
    if kind == "timestamp":
        seconds = parse_timestamp(value)
        if seconds is None or not _EARLIEST <= seconds <= chat.wall_clock() + _FUTURE:
            raise _Refused("INVALID_PARAMS", (subcommand, reference), _(
                "A timestamp is written YYYY-MM-DDThh:mm:ss.sssZ, and this one is not, or "
                "is too far from now"))
        return Bound.at_time(seconds)
    raise _Refused("INVALID_PARAMS", (subcommand, reference),
                   _("A message is named by msgid=ID or timestamp=YYYY-MM-DDThh:mm:ss.sssZ"))


def _send_entries(chat, client, target, entries):
    """The entries as the lines they were, with their msgid and time, in a ``chathistory``
    batch for a client with the batch capability."""
    delivery = chat.delivery
    start = delivery.mark(client)
    if start is None:
        return
    for entry in entries:
        send_message(chat, client, as_message(chat, entry, target))
    if "batch" in client.caps:
        server = chat.config.server_name
        delivery.rewrite_since(client, start, lambda lines: ircv3.batched(
            lines, "chathistory", (target,), server))


def send_message(chat, client, message):
    """Send *client* a message read back from history: a multiline one (its text holds line
    feeds) as a ``draft/multiline`` batch, or its lines one by one for a client without the
    capability, composed anew from its text, as history keeps no more."""
    text = message.params[-1] if message.command in MESSAGES else None
    if text is None or "\n" not in text:
        chat.delivery.send(client, message)
        return
    lines = multiline.compose(text, text_room(message.source, message.command,
                                              message.params[0]))
    chat.delivery.deliver(message, (client,), encode=(
        multiline_batch(message, lines) if multiline.CAPABILITY in client.caps
        else multiline_lines(lines)))


def as_message(chat, entry, channel="*"):
    """The IRC message an entry stands for, with its msgid and time; a gap (which is in every
    channel's history) as a notice from the server to *channel*."""
    tags = dict(entry.tags) if entry.tags else {}
    tags["msgid"], tags["time"] = entry.msgid, timestamp(entry.time)
    if entry.command == GAP:
        count = int(entry.params[0])
        return Message("NOTICE", (channel, ngettext(
            "*** {count} message is missing from history here: the server could not keep it",
            "*** {count} messages are missing from history here: the server could not keep "
            "them", count)), chat.config.server_name, tags)
    params = entry.params
    if entry.command in _ABOUT_THE_CHANNEL and params[0] != channel and is_channel(channel):
        params = (channel, *params[1:])  # said in it under a name it had before a rename
    return Message(entry.command, params, entry.source, tags)


def _targets(chat, client, params, limit):
    """TARGETS: the channels the client is in that had messages between two times, each with
    the time of its latest, in a ``draft/chathistory-targets`` batch."""
    first, second = (_bound(chat, "", "TARGETS", param) for param in params[1:3])
    if first.time is None or second.time is None:
        raise _Refused("INVALID_PARAMS", ("TARGETS", params[1]),
                       _("TARGETS takes two timestamps"))
    low, high = sorted((first.time, second.time))
    found = chat.history.targets(set(client.channels), low, high, limit)
    delivery, server = chat.delivery, chat.config.server_name
    start = delivery.mark(client)
    if start is None:
        return
    for name, latest in found:
        delivery.send(client, Message("CHATHISTORY", ("TARGETS", name, timestamp(latest)),
                                      server))
    if "batch" in client.caps:
        delivery.rewrite_since(client, start, lambda lines: ircv3.batched(
            lines, "draft/chathistory-targets", (), server))


# -- REDACT ---------------------------------------------------------------------------------

def redact(chat, client, message):
    """REDACT <channel> <msgid> [:reason]: the sender of a message, an operator of its
    channel, or a server operator takes it out of history; members with the capability are
    told."""
    target, msgid = message.params[0], message.params[1]
    reason = message.params[2] if len(message.params) > 2 else ""
    channel = chat.registry.channels.get(fold(target)) if is_channel(target) else None
    # One answer for a message that is not there and one the client may not see, so that
    # REDACT cannot probe a channel it is not in.
    entry = None
    if channel is not None and client in channel.members:
        entry = chat.history.find(channel.name, msgid)
    if entry is None or entry.command not in ("PRIVMSG", "NOTICE", "TAGMSG"):
        chat.delivery.standard_reply(client, "FAIL", "REDACT", "UNKNOWN_MSGID", _(
            "This message does not exist or is too old"), context=(target, msgid))
        return
    own = entry.source == client.mask
    if not (own or "@" in channel.members[client] or client.oper):
        chat.delivery.standard_reply(client, "FAIL", "REDACT", "REDACT_FORBIDDEN", _(
            "You are not authorised to delete this message"), context=(target, msgid))
        return
    chat.redact(client, channel, msgid, reason)


# -- Plain users ----------------------------------------------------------------------------

def recent_lines(chat, client, channel, count):
    """Show a plain user the last *count* messages of *channel*, with their times, set apart
    as earlier conversation; nothing if there are none."""
    if chat.history is None or count <= 0:
        return 0
    entries = chat.history.page(channel.name, limit=count, newest=True, commands=MESSAGES)
    if not entries:
        return 0
    delivery = chat.delivery
    delivery.send_text(client, _("*** Earlier in {channel} (times in UTC):",
                                 channel=channel.name))
    catalog, now = client.encoding.catalog, chat.wall_clock()
    for entry in entries:
        message = as_message(chat, entry, channel.name)
        described = describe(message, catalog)
        if described is not None:
            first, *rest = as_block(prefixed(*described), message)
            when = _clock(entry.time, now)
            delivery.send_text(client, _("[{time}] {line}", time=when, line=first))
            for line in rest:  # under the first line's text
                delivery.send_text(client, " " * (len(when) + 3) + line if line else "")
    delivery.send_text(client, _("*** (end of earlier conversation)"))
    return len(entries)


def _clock(seconds, now):
    """A time as a line of history shows it: the hour, and the day when it was not today."""
    then, now = time.gmtime(seconds), time.gmtime(now)
    if then[:3] == now[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%Y-%m-%d %H:%M", then)
