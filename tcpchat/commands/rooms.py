"""Registered rooms: a room whose topic, modes, bans and operators outlive its members and the
server's restarts, and whose founder is opped on joining.

A logged-in channel operator registers a room (``/msg ChanServ REGISTER #room``, or plain
mode's ``/room register``); the room's record (:class:`tcpchat.store.accounts.Room`) is then
kept up to date from the chat's events: every topic and mode change in it is written to the store
(:func:`keep`), and a member opped or deopped there who is logged in joins or leaves the room's
operator list.  When the room is empty (after a restart, say), the first joiner finds it as it
was (:func:`prepare`): its bans, key and limit apply to that joiner too, and only its founder and
operators are opped on joining (:func:`joined`).  The founder may hand the room over
(``TRANSFER``) or drop it (``DROP``); a server operator may drop any.
"""

from ..chat import events
from ..protocol.names import fold
from ..store.accounts import Room
from ..text.catalog import _
from .moderation import Ban, set_lists


def prepare(chat, name):
    """The channel *name* as a joiner finds it: the one there is; None (a new channel); or
    for a registered room nobody is in, one made now with its kept state.  A caller whose
    joiner is refused hands it to :func:`forsake`."""
    channel = chat.registry.channels.get(fold(name))
    if channel is not None:
        return channel
    room = chat.accounts.room(name)
    if room is None:
        return None  # new: see lookalike
    channel = chat.registry.make_channel(room.name, chat.wall_clock())
    channel.topic, channel.topic_by, channel.topic_at = room.topic, room.topic_by, room.topic_at
    channel.modes = set(room.modes)
    channel.key, channel.limit = room.key, room.limit
    set_lists(channel, bans=[Ban(*ban) for ban in room.bans],
              excepts=[Ban(*entry) for entry in room.excepts],
              invex=[Ban(*entry) for entry in room.invex])
    return channel


def lookalike(chat, name):
    """The name of a room there is, or a registered one, that a new room *name* would only
    look like (``#lobby`` for ``#Ɩobby``), or None: such a room is not made."""
    there = chat.registry.channel_lookalike(name) or chat.accounts.room_lookalike(name)
    return there.name if there is not None else None


def forsake(chat, channel):
    """The joiner *prepare* made *channel* for was refused: an empty one goes."""
    if channel is not None:
        chat.registry.drop_channel(channel)


def joined(chat, client, channel):
    """*client* joined *channel*: in a registered room, its founder and operators are opped
    by the server (anyone else who comes first is not: :func:`prepare` made the channel)."""
    room = chat.accounts.room(channel.name)
    if room is None:
        return
    rank = channel.members[client]
    trusted = client.account is not None and fold(client.account) in {
        fold(room.founder), *map(fold, room.operators)}
    if trusted and "@" not in rank:
        channel.members[client] = "@" + rank
        chat.server_modes(client, channel, ("+o", client.nick))


def keep(chat, event):
    """A topic or mode change: a registered room's record follows it (a chat consumer)."""
    channel = event.channel
    room = chat.accounts.room(channel.name)
    if room is None:
        return
    _take_state(room, channel)
    if event.__class__ is events.ModeChange:
        _follow_operators(chat, room, event.changes)
    chat.accounts.save_room(room)


def _take_state(room, channel):
    """Copy what a registered room keeps of *channel* into its record *room*."""
    room.topic, room.topic_by, room.topic_at = channel.topic, channel.topic_by, channel.topic_at
    room.modes = "".join(sorted(channel.modes))
    room.key, room.limit = channel.key, channel.limit
    room.bans, room.excepts, room.invex = (
        [[entry.mask, entry.by, entry.at] for entry in entries]
        for entries in (channel.bans, channel.excepts, channel.invex))


def _follow_operators(chat, room, changes):
    """+o and -o of logged-in members change the room's operator list."""
    letters, arguments = changes[0], list(changes[1:])
    adding = True
    for char in letters:
        if char in "+-":
            adding = char == "+"
            continue
        if char not in "beIovkl" or (char == "l" and not adding):  # letters with arguments
            continue
        argument = arguments.pop(0) if arguments else None
        if char != "o" or argument is None:
            continue
        user = chat.registry.find_user(argument)
        account = user.account if user is not None else None
        if account is None or fold(account) == fold(room.founder):
            continue
        operators = [name for name in room.operators if fold(name) != fold(account)]
        room.operators = operators + [account] if adding else operators


# -- What ChanServ and /room do -------------------------------------------------------------

def register(chat, client, name):
    """Register room *name* to *client*'s account; what to tell it."""
    channel = chat.registry.channels.get(fold(name))
    if client.account is None:
        return _("Log in to an account first (/register, /login or SASL)")
    if channel is None or client not in channel.members:
        return _("Join {room} first", room=name)
    if "@" not in channel.members[client]:
        return _("Only an operator of {room} may register it", room=channel.name)
    if chat.accounts.room(name) is not None:
        return _("{room} is registered already", room=channel.name)
    room = Room(channel.name, client.account, registered=chat.wall_clock())
    _take_state(room, channel)
    chat.accounts.save_room(room)
    return _("{room} is registered to {account}: its topic, modes, bans and operators are "
             "kept, and you are opped whenever you join", room=channel.name,
             account=client.account)


def drop(chat, client, name):
    room, refusal = _founded(chat, client, name, opers_too=True)
    if refusal is not None:
        return refusal
    chat.accounts.drop_room(room)
    return _("{room} is no longer registered", room=room.name)


def transfer(chat, client, name, account_name):
    room, refusal = _founded(chat, client, name)
    if refusal is not None:
        return refusal
    account = chat.accounts.get(account_name)
    if account is None:
        return _("There is no account {account}", account=account_name)
    room.founder = account.name
    room.operators = [name for name in room.operators if fold(name) != fold(account.name)]
    chat.accounts.save_room(room)
    return _("{room} now belongs to {account}", room=room.name, account=account.name)


def info(chat, name):
    room = chat.accounts.room(name)
    if room is None:
        return _("{room} is not registered", room=name)
    operators = ", ".join(room.operators) or "-"
    return _("{room}: founder {account}; operators: {operators}", room=room.name,
             account=room.founder, operators=operators)


def _founded(chat, client, name, opers_too=False):
    """The registered room *name* if *client* founded it (or, with *opers_too*, is a
    server operator); else ``(None, why not)``."""
    room = chat.accounts.room(name)
    if room is None:
        return None, _("{room} is not registered", room=name)
    if client.oper and opers_too:
        return room, None
    if client.account is None or fold(client.account) != fold(room.founder):
        return None, _("Only the founder of {room} may do that", room=room.name)
    return room, None
