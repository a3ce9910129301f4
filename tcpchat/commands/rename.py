"""IRCv3 ``draft/channel-rename``: ``RENAME #old #new [:reason]``, by a channel's operator.

The channel keeps everything but its name: members, modes, topic, lists, metadata, its
registration (a registered room's record moves), and its history (the store moves its
entries: :meth:`Store.rename <tcpchat.store.base.Store.rename>`).  Members with the
capability see ``RENAME``; the others, IRC clients that know nothing of renames, are shown
what leaving the old name and joining the new one would show them (:func:`renamed`); plain
members read a sentence.  For :data:`REMEMBERED` seconds, a JOIN of the old name is pointed
at the new one (:func:`redirect`).

What it may cost is bounded: a channel is renamed at most once a :data:`COOLDOWN`, and the
burst its members without the capability get is one JOIN's worth each.  The default room,
where every plain user is and every newcomer starts, keeps its name.
"""

from ..protocol import ircv3
from ..protocol import numerics as rpl
from ..protocol.message import Message, utf8_prefix
from ..protocol.names import channel_problem, fold
from ..text.catalog import _
from . import rooms
from .moderation import KICKLEN

CAPABILITY = ircv3.CHANNEL_RENAME
#: Seconds between two renames of one channel: each sends every member a burst.
COOLDOWN = 60.0
#: How long (seconds) a JOIN of a channel's old name is pointed at its new one, and for how
#: many renames at most (the oldest forgotten first).
REMEMBERED = 3600.0
REMEMBER_AT_MOST = 100


def rename(chat, client, message):
    """RENAME <channel> <new name> [:reason]."""
    old, new = message.params[0], message.params[1]
    reason = utf8_prefix(message.params[2], KICKLEN) if len(message.params) > 2 else ""
    channel = chat.registry.channels.get(fold(old))
    if channel is None or not channel.visible_to(client):
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, old, _("No such channel"))
        return
    rank = channel.members.get(client)
    if rank is None:
        chat.delivery.reply(client, rpl.ERR_NOTONCHANNEL, channel.name,
                            _("You're not on that channel"))
        return
    if rank[:1] != "@":
        chat.delivery.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name,
                            _("You're not channel operator"))
        return
    refusal = _refusal(chat, channel, new)
    if refusal is not None:
        code, text = refusal
        chat.delivery.standard_reply(client, "FAIL", "RENAME", code, text, (channel.name, new))
        return
    chat.rename(client, channel, new, reason)


def _refusal(chat, channel, new):
    """Why *channel* cannot be renamed *new*: ``(code, text)``, or None if it can."""
    problem = channel_problem(new)
    if problem:
        return "CANNOT_RENAME", _("That cannot be a channel's name: {problem}", problem=problem)
    if channel.folded == fold(chat.config.default_channel):
        return "CANNOT_RENAME", _("{channel} is where everyone starts: it keeps its name",
                                  channel=channel.name)
    if new == channel.name:
        return "CANNOT_RENAME", _("That is its name already")
    if fold(new) != channel.folded:  # else only its case changes: the name is its own
        there = chat.registry.channels.get(fold(new))
        if there is not None or chat.accounts.room(new) is not None:
            return "CHANNEL_NAME_IN_USE", _("The channel name is already taken")
        lookalike = rooms.lookalike(chat, new)
        if lookalike is not None and fold(lookalike) != channel.folded:
            return "CHANNEL_NAME_IN_USE", _("That name looks too much like {channel}",
                                            channel=lookalike)
    now = chat.wall_clock()
    if any(fold(name) == channel.folded and now - when < COOLDOWN
           for name, when in chat.renames.values()):
        return "CANNOT_RENAME", _("This channel was renamed less than {seconds} seconds ago",
                                  seconds=int(COOLDOWN))
    return None


def renamed(chat, show_channel, event):
    """A channel was renamed (a chat consumer): its registration moves (on the node where
    it was renamed: the cluster shares the record), the old name points at the new one, and
    this node's IRC members without the capability see themselves leave the old name and
    join the new (*show_channel* sends what a JOIN brings), unless only its case changed."""
    channel, old = event.channel, event.old_name
    if event.user.conn is not None:
        room = chat.accounts.room(old)
        if room is not None:
            chat.accounts.drop_room(room)
            room.name = channel.name
            chat.accounts.save_room(room)
    if fold(old) != channel.folded:
        chat.renames[fold(old)] = (channel.name, event.time)
        while len(chat.renames) > REMEMBER_AT_MOST:
            del chat.renames[next(iter(chat.renames))]
    else:
        return  # the specification: no PART and JOIN for a change of case
    delivery = chat.delivery
    for member in list(channel.members):
        if (member.conn is None or member.plain or CAPABILITY in member.caps
                or member.out is None):
            continue
        delivery.send(member, Message("PART", (old, event.reason) if event.reason else (old,),
                                      member.mask))
        joined = ((channel.name, member.account or "*", member.realname)
                  if "extended-join" in member.caps else (channel.name,))
        delivery.send(member, Message("JOIN", joined, member.mask))
        show_channel(chat, member, channel)


def redirect(chat, client, name):
    """A JOIN of *name*: the channel's new name, if *name* was renamed lately and no channel
    has taken it since, the client told (and, without the capability, joined there by the
    caller); else None."""
    renamed_to = chat.renames.get(fold(name))
    if renamed_to is None:
        return None
    new, when = renamed_to
    if (chat.wall_clock() - when > REMEMBERED or fold(name) in chat.registry.channels
            or chat.accounts.room(name) is not None):
        return None
    if CAPABILITY in client.caps:
        chat.delivery.standard_reply(client, "FAIL", "JOIN", "CHANNEL_RENAMED", _(
            "The channel has been renamed"), (name, new))
    else:
        chat.delivery.reply(client, rpl.ERR_LINKCHANNEL, name, new, _(
            "{channel} has been renamed {new_name}: you are taken there", channel=name,
            new_name=new))
    return new
