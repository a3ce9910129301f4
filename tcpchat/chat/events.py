"""What happened in the chat, as data.

Each operation of :class:`~tcpchat.chat.chat.Chat` that others may see (a message, a join, a
kick, a new topic...) changes the chat's state and then hands one event to every consumer in
``Chat.consumers``, in order.  Showing it to this node's users is one consumer
(:class:`~tcpchat.chat.local.LocalDelivery`); a history store, a cluster bus and metrics are
others, and none of them needs to know the rest exist.  Replies to the one who asked (a
numeric, an error) are not events: they go straight out through
:class:`~tcpchat.chat.delivery.Delivery`.

An event holds what a consumer needs and nothing encoded: who acted (``user``, the
:class:`~tcpchat.chat.state.Client` or remote user, and ``source``, its ``nick!user@host`` at
that moment, since a NICK changes it), where (``channel``, a
:class:`~tcpchat.chat.state.Channel`), what, and when (``time``, wall-clock seconds).  ``id``
is its IRCv3 msgid, unique and opaque, the same for every recipient and in history: the chat
gives every event one (:func:`message_ids`).

Messages come one a :class:`Talk`, but for the fan-out's usual case at saturation: the lines
of one read, all to one room, are one :class:`TalkRun` (``Chat.message_run``), which a
consumer takes whole if it says how (``Chat.add_consumer``'s *runs*: local delivery and the
history store do), and as its Talks, one after another, if not.  It is not among
:data:`KINDS`: nothing subscribes to runs alone.

An event is handed over while the chat is in the state it describes: a ``Part`` or a ``Kick``
before the member is taken out (so that it is shown to the one leaving too), a ``Join`` after
the member is in, a ``Quit`` after the user is gone from every table (``channels`` keeps the
channels it was in).
"""

import itertools
import secrets
from dataclasses import dataclass


@dataclass(slots=True)
class Talk:
    """PRIVMSG or NOTICE *text* (or a TAGMSG: *text* None) from *user*, to *channel* or to
    *recipient* (the other is None), with its client-only *tags* (or None).  *status*: to
    the channel's members of that prefix and up alone (``@``, ``+``: IRC's STATUSMSG), or
    None: to all of them.  *lines*: a multiline message's composition (IRCv3
    draft/multiline, :mod:`tcpchat.protocol.multiline`), whose *text* holds it all; None for
    a message of one line, as nearly all are."""
    user: object
    source: str
    command: str
    channel: object
    recipient: object
    text: str
    tags: dict
    time: float
    id: str = None
    status: str = None
    lines: tuple = None


@dataclass(slots=True)
class TalkRun:
    """PRIVMSGs *texts* (a list) from *user*, a member of *channel*, the lines of one read,
    with no tags: what would be a :class:`Talk` each, all at one *time*, with their msgids,
    *ids*, in order (see the module doc)."""
    user: object
    source: str
    channel: object
    texts: list
    time: float
    ids: list

    def talks(self):
        """The run as its Talks, one a message, in order."""
        user, source, channel, time = self.user, self.source, self.channel, self.time
        return [Talk(user, source, "PRIVMSG", channel, None, text, None, time, msgid)
                for text, msgid in zip(self.texts, self.ids)]


@dataclass(slots=True)
class Join:
    user: object
    source: str
    channel: object
    time: float
    id: str = None


@dataclass(slots=True)
class Part:
    user: object
    source: str
    channel: object
    reason: str
    time: float
    id: str = None


@dataclass(slots=True)
class Kick:
    """*user* (the operator) put *victim* out of *channel*."""
    user: object
    source: str
    channel: object
    victim: object
    reason: str
    time: float
    id: str = None


@dataclass(slots=True)
class Quit:
    """*user* left the chat; *channels* are those it was in."""
    user: object
    source: str
    reason: str
    channels: tuple
    time: float
    id: str = None


@dataclass(slots=True)
class NickChange:
    """*user*, known as *source* until now, is now *user.nick*."""
    user: object
    source: str
    old_nick: str
    time: float
    id: str = None


@dataclass(slots=True)
class TopicChange:
    user: object
    source: str
    channel: object
    topic: str
    time: float
    id: str = None


@dataclass(slots=True)
class ModeChange:
    """*user* changed *channel*'s modes: *changes* as a MODE line's parameters
    (``("+ov", "ann", "bob")``)."""
    user: object
    source: str
    channel: object
    changes: tuple
    time: float
    id: str = None


@dataclass(slots=True)
class Invite:
    """*user* invited *invitee* into *channel*."""
    user: object
    source: str
    invitee: object
    channel: object
    time: float
    id: str = None


@dataclass(slots=True)
class Away:
    """*user* went away with *text*, or came back (*text* None)."""
    user: object
    source: str
    text: str
    time: float
    id: str = None


@dataclass(slots=True)
class RealnameChange:
    user: object
    source: str
    realname: str
    time: float
    id: str = None


@dataclass(slots=True)
class Wallops:
    """A server operator's *text* to every user with user mode +w."""
    user: object
    source: str
    text: str
    time: float
    id: str = None


@dataclass(slots=True)
class Rename:
    """*user* renamed *channel*, known as *old_name* until now, with *reason* (or ""):
    IRCv3 draft/channel-rename.  Everything else about the channel stays."""
    user: object
    source: str
    channel: object
    old_name: str
    reason: str
    time: float
    id: str = None


@dataclass(slots=True)
class Redaction:
    """*user* deleted the message *target_id* in *channel* (IRCv3 draft/message-redaction),
    with *reason* (or "")."""
    user: object
    source: str
    channel: object
    target_id: str
    reason: str
    time: float
    id: str = None


@dataclass(slots=True)
class AccountChange:
    """*user* logged in to *account*, or out (*account* None)."""
    user: object
    source: str
    account: str
    time: float
    id: str = None


@dataclass(slots=True)
class Registration:
    """*user* finished registering: from now on it is in the chat.  (Not a message: it has
    no msgid, and nobody is shown it; a cluster bus tells the other nodes.)"""
    user: object
    source: str
    time: float
    id: str = None


@dataclass(slots=True)
class UserModeChange:
    """*user*'s own modes changed (+i, +o, +B...): read them from *user*.  (Not a message,
    as :class:`Registration`; the user was answered already.)"""
    user: object
    source: str
    time: float
    id: str = None


@dataclass(slots=True)
class MetadataChange:
    """*user* set *key* of *target* (itself, or a channel it is an operator of) to *value*,
    or took it away (*value* None): IRCv3 draft/metadata-2.  (Not a message: it has no
    msgid; those who subscribed to the key are told.)"""
    user: object
    source: str
    target: object
    key: str
    value: str
    time: float
    id: str = None


#: The kinds of event that are messages: each has a msgid, and someone is shown it.
MESSAGES = (Talk, Join, Part, Kick, Quit, NickChange, TopicChange, ModeChange, Invite, Away,
            RealnameChange, Wallops, Redaction, AccountChange, Rename)
#: Every kind of event, for a consumer that takes them all.
KINDS = MESSAGES + (Registration, UserModeChange, MetadataChange)


#: Hex digits of a msgid's counter, written with leading zeros: the msgids of one process
#: then sort as their counters do, and history checks that a run's counters rise by comparing
#: the msgids as text (see tcpchat.store.sqlite).  2**48 messages, a century at 90 000 a second;
#: past that the counter takes more digits, and history reads each one on its own.
COUNTER_DIGITS = 12


def message_ids():
    """A function that gives a new msgid each call: this process's random prefix (so that ids
    from before a restart, kept in history, are never given again) and a counter."""
    prefix = secrets.token_hex(6)
    # One C-level call per message: the template's % over a counter (``str.format`` costs
    # 260 ns a call where % costs 180).
    return map(f"{prefix}-%0{COUNTER_DIGITS}x".__mod__, itertools.count(1)).__next__
