"""Read markers (IRCv3 ``draft/read-marker``): the last message a user has read in each
channel or conversation, so that its other connections (a phone, a laptop) stop notifying of
what it read on one.

``MARKREAD target timestamp=...`` sets a marker, ``MARKREAD target`` asks for it; the server
answers ``MARKREAD target timestamp=...`` (or ``*``: none), tells every connection of the same
user that has the capability when a marker moves, and tells a client that joins a channel
before the end of its NAMES.  A marker only moves forward, and never past now.

A user logged in to an account has its markers kept with the account (in the store, so they
outlive a restart with ``--db``, and shared by a cluster's nodes); one that is not has them
for as long as its connection lasts.  A marker is for a channel one is in, or a nick.  At most
:data:`~tcpchat.store.accounts.MAX_MARKERS` targets a user: past that, the oldest goes.
"""

from ..protocol.ircv3 import parse_timestamp, timestamp
from ..protocol.message import Message, middle_or
from ..protocol.names import fold, is_channel, nick_problem
from ..store.accounts import MAX_MARKERS
from ..text.catalog import _

CAPABILITY = "draft/read-marker"


def markread(chat, client, message):
    params = message.params
    if not params or not params[0]:
        _fail(chat, client, "NEED_MORE_PARAMS", (), _("Missing parameters"))
        return
    target = params[0]
    if is_channel(target):
        if fold(target) not in client.channels:
            _fail(chat, client, "INVALID_PARAMS", (middle_or(target),),
                  _("You are not in that channel"))
            return
    elif nick_problem(target):
        _fail(chat, client, "INVALID_PARAMS", (middle_or(target),), _("Invalid parameters"))
        return
    if len(params) < 2:
        _tell(chat, client, target, marker(chat, client, target))
        return
    given = params[1]
    seconds = parse_timestamp(given[10:]) if given.startswith("timestamp=") else None
    if seconds is None:
        _fail(chat, client, "INVALID_PARAMS", (middle_or(given),),
              _("A read marker is timestamp=YYYY-MM-DDThh:mm:ss.sssZ"))
        return
    kept = marker(chat, client, target)
    if kept is not None and parse_timestamp(kept[10:]) >= seconds:
        _tell(chat, client, target, kept)  # it only moves forward: the one kept stands
        return
    moved = "timestamp=" + timestamp(min(seconds, chat.wall_clock()))
    if client.account is not None:
        chat.accounts.save_marker(client.account, target, moved)
        moved_for(chat, client.account, target, moved)
    else:
        markers = chat.markers.setdefault(client, {})
        markers.pop(fold(target), None)
        if len(markers) >= MAX_MARKERS:
            del markers[next(iter(markers))]
        markers[fold(target)] = moved
        _tell(chat, client, target, moved)


def marker(chat, client, target):
    """*client*'s read marker for *target* (``timestamp=...``), or None."""
    if client.account is not None:
        return chat.accounts.marker(client.account, target)
    return chat.markers.get(client, {}).get(fold(target))


def moved_for(chat, account, target, moved):
    """*account*'s marker for *target* moved to *moved* (here, or on another node): each of
    its connections with the capability is told."""
    key = fold(account)
    for other in list(chat.registry.clients):
        if (other.account is not None and fold(other.account) == key
                and CAPABILITY in other.caps and other.out is not None):
            _tell(chat, other, target, moved)


def joined(chat, client, channel):
    """*client* joined *channel*: with the capability, it is told its marker there."""
    if CAPABILITY in client.caps:
        _tell(chat, client, channel.name, marker(chat, client, channel.name))


def _tell(chat, client, target, moved):
    chat.delivery.send(client, Message("MARKREAD", (target, moved or "*"),
                                       chat.config.server_name))


def _fail(chat, client, code, context, text):
    chat.delivery.standard_reply(client, "FAIL", "MARKREAD", code, text, context)
