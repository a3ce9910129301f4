"""The storage seam: what a store of history takes in, what it answers, and in what order.

A store is one consumer of the chat's events (:mod:`tcpchat.chat.events`), added with
``Chat.add_consumer(store.append, STORED_KINDS)``, and the one place the history commands read
from.  Two implementations stand behind it: :class:`~tcpchat.store.sqlite.SqliteStore` (a file,
or an in-memory database without ``--db``) and :class:`~tcpchat.store.memory.ListStore` (a list:
the model the tests hold the other to).  A store shared by several server processes (Redis, for
a cluster) is a third class with the same methods; the chat does not change.

What is kept.  Each event that happened in a channel becomes one :class:`Entry` per channel: a
message (PRIVMSG, NOTICE, TAGMSG), a JOIN, PART, KICK, TOPIC or MODE, and a user's QUIT or NICK
in each channel it was in.  A private message is kept only between two users logged in to
accounts (a nick is no stable identity), under the :func:`conversation` of the two accounts,
which only they can name when they ask.  Entries are in one order, that of ``seq``, the order in which the server took
them in; the times (``time``, wall-clock seconds) follow it but a clock set back may not.

The contract every store keeps:

- :meth:`Store.append` is called on the event loop for every event and never waits: a store
  that writes to a disk or a network hands the work on and returns.
- What was appended is answered at once by the queries below, written yet or not (a user who
  joins sees the line said just before).
- Queries are bounded: each returns at most *limit* entries, and a caller never asks for more
  than ``Config.history_limit``.
- :meth:`Store.redact` takes a message out of every answer from then on, and out of the storage.
- :meth:`Store.rename` moves a channel's entries to its new name, in every answer from then on.
"""

from collections import namedtuple

from ..chat import events
from ..protocol.names import fold

#: One kept event in one channel.  *target* is the channel's name as it was; *params* the
#: parameters of the IRC line that shows it (``("#lobby", "hello")``); *tags* its client-only
#: tags, or None.  A QUIT or NICK seen in three channels is three entries with one *msgid*.
Entry = namedtuple("Entry", "seq msgid target time command source params tags")

#: The event kinds a store keeps (see the module doc), and the one that takes a message out.
STORED_KINDS = (events.Talk, events.Join, events.Part, events.Kick, events.Quit,
                events.NickChange, events.TopicChange, events.ModeChange, events.Redaction,
                events.Rename)

#: The commands that are messages, as opposed to events (what a client that did not ask for
#: draft/event-playback is given).
MESSAGES = frozenset(("PRIVMSG", "NOTICE"))

#: An entry that stands for messages the store lost (the disk was full, or the writer fell
#: behind its queue): its one parameter is how many.  Its target is :data:`EVERYWHERE`.
GAP = "GAP"
EVERYWHERE = "*"


class Bound(namedtuple("Bound", "seq time")):
    """One end of a page, excluded: an entry's position (*seq*, from a msgid) or a time."""

    @classmethod
    def at_seq(cls, seq):
        return cls(seq, None)

    @classmethod
    def at_time(cls, seconds):
        return cls(None, seconds)

    def below(self, entry):
        """Whether *entry* comes before this bound."""
        return entry.seq < self.seq if self.seq is not None else entry.time < self.time

    def above(self, entry):
        return entry.seq > self.seq if self.seq is not None else entry.time > self.time


class Store:
    """The interface (see the module doc); :class:`~tcpchat.store.memory.ListStore` is the
    plainest implementation of it."""

    def append(self, event):
        """Keep *event* (one of :data:`STORED_KINDS`), without waiting; a
        :class:`~tcpchat.chat.events.Redaction` takes its message out (:meth:`redact`), a
        :class:`~tcpchat.chat.events.Rename` moves its channel's entries (:meth:`rename`)."""
        raise NotImplementedError

    def append_run(self, run):
        """Keep a :class:`~tcpchat.chat.events.TalkRun` (several messages said as one) as
        :meth:`append` keeps each of its Talks: here by doing that; a store may do it at
        once (:class:`~tcpchat.store.sqlite.SqliteStore` does)."""
        for talk in run.talks():
            self.append(talk)

    def page(self, target, after=None, before=None, limit=50, newest=False, commands=None):
        """Entries of channel *target* (or gaps) strictly between the :class:`Bound` *after*
        and *before* (None: no bound), of *commands* only (None: all), oldest first: the first
        *limit* of them, or with *newest* the last *limit*."""
        raise NotImplementedError

    def find(self, target, msgid):
        """The entry of channel *target* with *msgid*, or None."""
        raise NotImplementedError

    def targets(self, names, after, before, limit):
        """``(name, time of its latest message)`` for the channels of *names* (folded) that
        had a message strictly between the times *after* and *before*, oldest first (of two at
        the same time, by name), at most *limit*: see :func:`oldest_first`."""
        raise NotImplementedError

    def redact(self, target, msgid):
        """Take the entries of channel *target* with *msgid* out of history, from the next
        query on."""
        raise NotImplementedError

    def rename(self, old, new):
        """The channel *old* is called *new* from now on: what is kept of it goes with it."""
        raise NotImplementedError

    def take(self, entries):
        """Keep *entries* (their ``seq`` is given here), as they were kept elsewhere: what
        another node of a cluster saw while this one did not."""
        raise NotImplementedError

    def close(self):
        """Keep what was appended (a store that writes later writes it now) and let go."""


def conversation(account, other):
    """The target private messages between two accounts are kept under: the same for both,
    and nothing a channel's name could be (``=`` is in no nick)."""
    return "=" + "=".join(sorted((fold(account), fold(other))))


def entries_of(event):
    """The entries for *event*, without their ``seq`` (None): ``[]`` for what is not kept."""
    kind = type(event)
    source, when, msgid = event.source, event.time, event.id
    if kind is events.Talk:
        if event.status is not None:
            return []  # for a room's operators (or voiced) alone: not for its history
        channel = event.channel
        if channel is None:
            sender, recipient = event.user, event.recipient
            if sender.account is None or recipient.account is None:
                return []
            params = ((recipient.nick,) if event.text is None
                      else (recipient.nick, event.text))
            return [Entry(None, msgid, conversation(sender.account, recipient.account), when,
                          event.command, source, params, event.tags or None)]
        params = (channel.name,) if event.text is None else (channel.name, event.text)
        return [Entry(None, msgid, channel.name, when, event.command, source, params,
                      event.tags or None)]
    # Comings and goings in a crowded room are not kept one by one: a reconnect storm would
    # push the room's last messages out of its lines, and fill memory with thousands of JOINs
    # that nobody reads back (people are told them as a count: tcpchat.chat.local).
    if kind is events.Quit:
        return [Entry(None, msgid, channel.name, when, "QUIT", source,
                      (event.reason,), None) for channel in event.channels
                if not channel.crowded]
    if kind is events.NickChange:
        return [Entry(None, msgid, channel.name, when, "NICK", source, (event.user.nick,),
                      None) for channel in event.user.channels.values()]
    channel = event.channel
    if (kind is events.Join or kind is events.Part) and channel.crowded:
        return []
    if kind is events.Join:
        params = (channel.name,)
        command = "JOIN"
    elif kind is events.Part:
        command = "PART"
        params = (channel.name, event.reason) if event.reason else (channel.name,)
    elif kind is events.Kick:
        command, params = "KICK", (channel.name, event.victim.nick, event.reason)
    elif kind is events.TopicChange:
        command, params = "TOPIC", (channel.name, event.topic)
    elif kind is events.ModeChange:
        command, params = "MODE", (channel.name, *event.changes)
    else:
        return []
    return [Entry(None, msgid, channel.name, when, command, source, params, None)]


def matches(entry, key, after, before, commands):
    """Whether *entry* belongs on a page of the channel folded as *key* (see
    :meth:`Store.page`): the test both stores apply to what they hold in memory."""
    if entry.target != EVERYWHERE and fold(entry.target) != key:
        return False
    if after is not None and not after.above(entry):
        return False
    if before is not None and not before.below(entry):
        return False
    return commands is None or entry.command in commands or entry.command == GAP


def oldest_first(latest, limit):
    """The answer of :meth:`Store.targets` from *latest*, ``(name, time)`` pairs: by time, and
    two at the same time by name, so that it never depends on the order they were found in."""
    return sorted(latest, key=lambda found: (found[1], found[0]))[:limit]


def cut(entries, limit, newest):
    """The first (or with *newest*, the last) *limit* of *entries*, which are in order."""
    if len(entries) <= limit:
        return entries
    return entries[-limit:] if newest else entries[:limit]
