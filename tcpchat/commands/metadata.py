"""IRCv3 ``draft/metadata-2``: ``METADATA <target> GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC``.

A user sets keys on itself (``avatar``, ``display-name``, ``pronouns``, ``homepage``...) and a
channel's operators on their channel; anyone may read a user's, a channel's members the
channel's.  A client is told of a change to a key it subscribed to (``METADATA`` from the
server) for itself, the channels it is in, the users it shares one with, and those it watches
with MONITOR and extended-monitor (:meth:`LocalDelivery.metadata
<tcpchat.chat.local.LocalDelivery.metadata>`); when it subscribes, when it joins a channel,
and when it asks (``SYNC``), it is given the values it then lacks, in a ``metadata`` batch.

Values live as long as their user's connection, or their channel: nothing is stored.  Every
request is bounded: by the limits in :mod:`tcpchat.protocol.metadata` (keys, subscriptions,
bytes), by flood control, and, for what grows with a channel, by the client's send queue
(:data:`SYNC_AT_ONCE`, then ``ERR_METADATASYNCLATER``).
"""

import contextlib

from ..chat.state import Channel
from ..protocol import ircv3, metadata
from ..protocol import numerics as rpl
from ..protocol.metadata import CAPABILITY, VISIBLE, key_of
from ..protocol.message import Message
from ..protocol.names import fold, is_channel
from ..text.catalog import _

#: A channel of more members than this is not synced on joining: the client is told to ask
#: (``ERR_METADATASYNCLATER``), so that a join costs the same whatever the room.
SYNC_AT_ONCE = 100


def command(chat, client, message):
    """METADATA <target> <subcommand> [<params>...]."""
    if CAPABILITY not in client.caps:
        chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, "METADATA", _(
            "Unknown command: enable the draft/metadata-2 capability first"))
        return
    subcommand = message.params[1].upper()
    handler = _SUBCOMMANDS.get(subcommand)
    if handler is None:
        _fail(chat, client, "INVALID_SUBCOMMAND", (message.params[1],),
              _("Unknown METADATA subcommand"))
        return
    handler(chat, client, message.params[0], message.params[2:])


def _target(chat, client, name):
    """The user or channel *name* stands for, that *client* may read (``*``: itself), or
    None, the client told: a channel it is not in is answered as one that does not exist."""
    if name == "*":
        return client
    if is_channel(name):
        channel = chat.registry.channels.get(fold(name))
        if channel is not None and client in channel.members:
            return channel
    else:
        user = chat.registry.find_user(name)
        if user is not None:
            return user
    _fail(chat, client, "INVALID_TARGET", (name,), _("No such user, or no channel you are in"))
    return None


def _name(target):
    return target.name if isinstance(target, Channel) else target.nick


def _may_change(chat, client, target, key):
    """Whether *client* may set keys on *target*: its own, or a channel it is an operator
    of; if not, it is told."""
    if target is client or (isinstance(target, Channel)
                            and target.members.get(client, "")[:1] == "@"):
        return True
    _fail(chat, client, "KEY_NO_PERMISSION", (_name(target), key),
          _("You may set keys on yourself, and on channels you are an operator of"))
    return False


def _keys(chat, client, given):
    """The keys among *given* (lower case), each bad one told with ``FAIL KEY_INVALID``."""
    keys = []
    for text in given:
        key = key_of(text)
        if key is None:
            _fail(chat, client, "KEY_INVALID", (text,), _(
                "A key is 1 to {length} of a-z, 0-9 and _ . : / -, not starting with :",
                length=metadata.MAX_KEY_BYTES))
        else:
            keys.append(key)
    return keys


# -- Subcommands ----------------------------------------------------------------------------

def _get(chat, client, name, params):
    target = _target(chat, client, name)
    if target is None:
        return
    values = chat.registry.metadata.get(target, {})
    with _batch(chat, client):
        for text in params:
            key = key_of(text)
            if key is None:
                _keys(chat, client, (text,))
            elif key in values:
                chat.delivery.reply(client, rpl.RPL_KEYVALUE, _name(target), key, VISIBLE,
                                    values[key])
            else:
                chat.delivery.reply(client, rpl.ERR_NOMATCHINGKEY, _name(target), key,
                                    _("No matching key"))


def _list(chat, client, name, params):
    target = _target(chat, client, name)
    if target is None:
        return
    with _batch(chat, client):
        for key, value in chat.registry.metadata.get(target, {}).items():
            chat.delivery.reply(client, rpl.RPL_KEYVALUE, _name(target), key, VISIBLE, value)


def _set(chat, client, name, params):
    target = _target(chat, client, name)
    if target is None:
        return
    if not params:
        _fail(chat, client, "KEY_INVALID", ("*",), _("METADATA SET needs a key"))
        return
    keys = _keys(chat, client, params[:1])
    if not keys or not _may_change(chat, client, target, keys[0]):
        return
    key, value = keys[0], params[1] if len(params) > 1 and params[1] else None
    values = chat.registry.metadata.get(target, {})
    if value is None:
        if key not in values:
            chat.delivery.reply(client, rpl.ERR_KEYNOTSET, _name(target), key, _("Key not set"))
            return
    elif len(value.encode()) > metadata.MAX_VALUE_BYTES:
        _fail(chat, client, "VALUE_INVALID", (_name(target), key), _(
            "A value is at most {length} bytes", length=metadata.MAX_VALUE_BYTES))
        return
    elif key not in values and len(values) >= metadata.MAX_KEYS:
        _fail(chat, client, "LIMIT_REACHED", (_name(target),), _(
            "At most {count} keys may be set on one target", count=metadata.MAX_KEYS))
        return
    chat.set_metadata(client, target, key, value)
    _key_value(chat, client, target, key, value)


def _clear(chat, client, name, params):
    target = _target(chat, client, name)
    if target is None or not _may_change(chat, client, target, "*"):
        return
    with _batch(chat, client):
        for key in list(chat.registry.metadata.get(target, {})):
            chat.set_metadata(client, target, key, None)
            _key_value(chat, client, target, key, None)


def _sub(chat, client, name, params):
    subscribed = chat.registry.subscriptions.setdefault(client, set())
    added = []
    for key in _keys(chat, client, params):
        if key in subscribed:
            added.append(key)
        elif len(subscribed) >= metadata.MAX_SUBS:
            _fail(chat, client, "TOO_MANY_SUBS", (key,), _(
                "At most {count} keys may be subscribed to", count=metadata.MAX_SUBS))
            break
        else:
            subscribed.add(key)
            added.append(key)
    if not subscribed:
        del chat.registry.subscriptions[client]
    if added:
        _keys_reply(chat, client, rpl.RPL_METADATASUBOK, added)
        _sync(chat, client, [client, *_known(chat, client)], set(added))


def _unsub(chat, client, name, params):
    keys = _keys(chat, client, params)
    subscribed = chat.registry.subscriptions.get(client, set())
    subscribed.difference_update(keys)
    if not subscribed:
        chat.registry.subscriptions.pop(client, None)
    if keys:
        _keys_reply(chat, client, rpl.RPL_METADATAUNSUBOK, keys)


def _subs(chat, client, name, params):
    keys = sorted(chat.registry.subscriptions.get(client, ()))
    if keys:
        _keys_reply(chat, client, rpl.RPL_METADATASUBS, keys)


def _sync_command(chat, client, name, params):
    target = _target(chat, client, name)
    if target is not None:
        _sync(chat, client, _with_members(target), None, always=True)


_SUBCOMMANDS = {"GET": _get, "LIST": _list, "SET": _set, "CLEAR": _clear, "SUB": _sub,
                "UNSUB": _unsub, "SUBS": _subs, "SYNC": _sync_command}


# -- Synchronization ------------------------------------------------------------------------

def joined(chat, client, channel):
    """*client* joined *channel*: the channel's values and its members' for the keys it
    subscribed to, or, in a room of more than :data:`SYNC_AT_ONCE`, word to ask for them."""
    if not chat.registry.subscriptions.get(client):
        return
    if len(channel.members) > SYNC_AT_ONCE:
        chat.delivery.reply(client, rpl.ERR_METADATASYNCLATER, channel.name,
                            _("Ask with METADATA SYNC for this channel's metadata"))
        return
    _sync(chat, client, _with_members(channel), None)


def _with_members(target):
    return [target, *target.members] if isinstance(target, Channel) else [target]


def _known(chat, client):
    """The channels *client* is in and their members: whose changes it is told of."""
    known = {}
    for channel in client.channels.values():
        known[channel] = None
        known.update(dict.fromkeys(channel.members))
    known.pop(client, None)
    return list(known)


def _sync(chat, client, targets, keys, always=False):
    """A ``metadata`` batch of the values of *targets* for *keys* (None: those subscribed
    to), if there are any (or *always*); cut short, with ``ERR_METADATASYNCLATER``, where the
    client's send queue fills."""
    keys = keys if keys is not None else chat.registry.subscriptions.get(client, set())
    found = [(target, key, value) for target in targets
             for key, value in chat.registry.metadata.get(target, {}).items() if key in keys]
    if not found and not always:
        return
    server = chat.config.server_name
    with _batch(chat, client):
        for target, key, value in found:
            if not chat.delivery.has_room(client):
                chat.delivery.reply(client, rpl.ERR_METADATASYNCLATER, _name(targets[0]),
                                    _("Ask again with METADATA SYNC later"))
                return
            chat.delivery.send(client, Message("METADATA", (_name(target), key, VISIBLE, value),
                                               server))


def whois(chat, client, user):
    """The keys WHOIS shows of *user* (RPL_WHOISKEYVALUE)."""
    values = chat.registry.metadata.get(user)
    for key in metadata.WHOIS_KEYS if values else ():
        if key in values:
            chat.delivery.reply(client, rpl.RPL_WHOISKEYVALUE, user.nick, key, VISIBLE,
                                values[key])


# -- Replies --------------------------------------------------------------------------------

def _key_value(chat, client, target, key, value):
    params = (_name(target), key, VISIBLE)
    chat.delivery.reply(client, rpl.RPL_KEYVALUE, *(params if value is None
                                                    else params + (value,)))


def _keys_reply(chat, client, numeric, keys):
    """*keys* in as few *numeric* lines as fit (a key is at most 64 bytes: 7 a line)."""
    for start in range(0, len(keys), 7):
        chat.delivery.reply(client, numeric, " ".join(keys[start:start + 7]))


def _fail(chat, client, code, context, text):
    chat.delivery.standard_reply(client, "FAIL", "METADATA", code, text, context)


@contextlib.contextmanager
def _batch(chat, client):
    """What is queued for *client* within it, in a ``metadata`` batch (for a client with the
    batch capability)."""
    start = chat.delivery.mark(client)
    yield
    if start is not None and "batch" in client.caps:
        server = chat.config.server_name
        chat.delivery.rewrite_since(client, start, lambda lines: ircv3.batched(
            lines, "metadata", (), server))
