"""Showing events to this node's users: the consumer of :mod:`tcpchat.chat.events` that turns
each into the IRC message its local audience is sent, through
:class:`~tcpchat.chat.delivery.Delivery`.

Who sees what is decided here, from the chat's state at the moment the event is handed over
(see :mod:`tcpchat.chat.events`): a channel's members for what happens in it (and the actor,
when a server operator acts from outside), everyone who shares a channel with a user for what
that user does (a NICK, a QUIT), and within those, the capabilities that ask for more or less
(extended-join, away-notify, setname, invite-notify, message-tags, echo-message).  Remote
members are in those lists too; delivery passes them by.  Plain users get the same messages,
which their Encoding renders as sentences.
"""

from ..protocol import ircv3, metadata, multiline
from ..protocol.message import Message
from ..text.display import comings
from . import events
from .encoding import multiline_batch, multiline_lines
from .state import Channel


class LocalDelivery:
    """Called with each event: queues what this node's users are shown of it."""

    def __init__(self, registry, delivery):
        self.registry = registry
        self.delivery = delivery
        self._relay = delivery.relay  # once per channel message: looked up once
        #: Set by the core: ``at(when, action)`` calls ``action()`` at the monotonic *when*.
        self.at = None
        self.clock = None

    def handlers(self):
        """Event class -> the method that shows such an event."""
        return {
            events.Talk: self.talk, events.Join: self.join, events.Part: self.part,
            events.Kick: self.kick, events.Quit: self.quit, events.NickChange: self.nick,
            events.TopicChange: self.topic, events.ModeChange: self.mode,
            events.Invite: self.invite, events.Away: self.away,
            events.RealnameChange: self.realname, events.Wallops: self.wallops,
            events.Redaction: self.redaction, events.AccountChange: self.account,
            events.MetadataChange: self.metadata, events.Rename: self.rename,
        }

    def talk(self, event):
        """PRIVMSG, NOTICE and TAGMSG: to a channel's members through the batch (the fan-out's
        usual case), or to one user; a TAGMSG only to those with message-tags; the sender
        too if it enabled echo-message."""
        user, channel, text = event.user, event.channel, event.text
        tags = _own_tags(user, event.id, event.tags)
        if event.lines is not None:
            self._multiline(event, tags)
            return
        if event.status is not None:
            self._to_ranks(event, channel, user, tags)
            return
        if channel is not None and text is not None:  # the fan-out's usual case, first
            relayed = Message(event.command, (channel.name, text), event.source, tags)
            echo = "echo-message" in user.caps
            self._relay(relayed, channel, user, echo, event.time)
            if echo and user not in channel.members:  # from outside the channel (-n)
                self.delivery.deliver(relayed, (user,), when=event.time)
            return
        recipient = event.recipient
        target = recipient.nick if channel is None else channel.name
        relayed = Message(event.command, (target,) if text is None else (target, text),
                          event.source, tags)
        echo = "echo-message" in user.caps
        delivery = self.delivery
        if recipient is not None:
            delivery.deliver(relayed, _readers(relayed, (recipient, user) if echo
                                               else (recipient,)), when=event.time)
        else:
            others = [member for member in channel.members if member is not user]
            delivery.deliver(relayed, _readers(relayed, others + [user] if echo else others),
                             when=event.time)

    def talk_run(self, run):
        """A TalkRun: what :meth:`talk` does with each of its messages, as one batch."""
        self.delivery.relay_run(RunMessages(run), run.channel, run.user, run.time)

    def _to_ranks(self, event, channel, user, tags):
        """STATUSMSG: to the channel's operators (``@``), or its voiced and operators
        (``+``), the sender too with echo-message."""
        target = event.status + channel.name
        params = (target,) if event.text is None else (target, event.text)
        relayed = Message(event.command, params, event.source, tags)
        readers = _ranked(channel, event.status, user)
        if "echo-message" in user.caps:
            readers.append(user)
        self.delivery.deliver(relayed, _readers(relayed, readers), when=event.time)

    def _multiline(self, event, tags):
        """A multiline message (IRCv3 draft/multiline), to whoever the one-line message would
        reach, each in the form it can read: a ``draft/multiline`` batch to those with the
        capability, its lines one by one to other IRC users (the msgid on the first), and the
        whole text to plain users, who see it as a block.  Still encoded once per Encoding
        within each form."""
        user, channel = event.user, event.channel
        if channel is None:
            target, readers = event.recipient.nick, [event.recipient]
        elif event.status is not None:
            target, readers = event.status + channel.name, _ranked(channel, event.status, user)
        else:
            target, readers = channel.name, [member for member in channel.members
                                             if member is not user]
        if "echo-message" in user.caps:
            readers.append(user)
        batch, fallback, plain = [], [], []
        for reader in dict.fromkeys(readers):
            if reader.plain:
                plain.append(reader)
            elif multiline.CAPABILITY in reader.caps:
                batch.append(reader)
            else:
                fallback.append(reader)
        deliver, lines = self.delivery.deliver, event.lines
        whole = Message(event.command, (target, event.text), event.source, tags)
        if batch:
            deliver(whole, batch, when=event.time, encode=multiline_batch(whole, lines))
        if fallback:
            deliver(whole, fallback, when=event.time, encode=multiline_lines(lines))
        if plain:
            deliver(whole, plain, when=event.time)

    def join(self, event):
        """Every member sees the JOIN, the joiner too (IRC clients rely on it), but a plain
        joiner, who is told where it is in words; with extended-join, the account ("*": none)
        and real name too; with away-notify, that the joiner is away."""
        user, channel, delivery = event.user, event.channel, self.delivery
        skip = user if user.plain else None
        joined = Message("JOIN", (channel.name,), event.source)
        members = channel.members
        if len(members) > delivery.config.crowd:
            members = self._coalesce(channel, user.nick, True)
        if delivery.cap_users["extended-join"]:
            extended = Message("JOIN", (channel.name, user.account or "*", user.realname),
                               event.source)
            members = list(members)
            delivery.deliver(extended, delivery.with_cap("extended-join", members), skip,
                             event.time)
            delivery.deliver(joined, [m for m in members if "extended-join" not in m.caps],
                             skip, event.time)
        else:
            delivery.deliver(joined, members, skip, event.time)
        if user.away is not None and delivery.cap_users["away-notify"]:
            delivery.deliver(Message("AWAY", (user.away,), event.source),
                             delivery.with_cap("away-notify", channel.members), user,
                             event.time)
        if user in self.registry.metadata and delivery.cap_users[metadata.CAPABILITY]:
            self._introduce(user, channel.members)

    def _introduce(self, user, members):
        """*user*'s metadata, for the *members* who subscribed to its keys (IRCv3
        draft/metadata-2): what they would have been told, had they been there."""
        values, subscriptions = self.registry.metadata[user], self.registry.subscriptions
        server = self.delivery.config.server_name
        for member in members:
            keys = subscriptions.get(member)
            if keys and member is not user:
                for key in keys.intersection(values):
                    self.delivery.send(member, Message(
                        "METADATA", (user.nick, key, metadata.VISIBLE, values[key]), server))

    def part(self, event):
        channel = event.channel
        params = (channel.name, event.reason) if event.reason else (channel.name,)
        members = channel.members
        if len(members) > self.delivery.config.crowd:
            members = self._coalesce(channel, event.user.nick, False)
            if event.user.plain:
                members.append(event.user)  # told of its own leaving at once, as ever
        self.delivery.deliver(Message("PART", params, event.source), members,
                              when=event.time)

    def kick(self, event):
        channel = event.channel
        self.delivery.deliver(
            Message("KICK", (channel.name, event.victim.nick, event.reason), event.source),
            channel.audience(event.user), when=event.time)

    def quit(self, event):
        """Everyone who shared a channel with the user, who is out of them already."""
        neighbours = {}
        crowd = self.delivery.config.crowd
        for channel in event.channels:
            members = channel.members
            if len(members) >= crowd:  # the user is out of it already: one less
                members = self._coalesce(channel, event.user.nick, False)
            neighbours.update(dict.fromkeys(members))
        self.delivery.deliver(Message("QUIT", (event.reason,), event.source), neighbours,
                              when=event.time)

    # -- Crowded rooms ----------------------------------------------------------------------

    def _coalesce(self, channel, nick, joined):
        """*nick* joined (or left) crowded *channel*: its plain members are told later, with
        the others who come and go meanwhile (:meth:`_tell_comings`); the members to tell
        now, which are the others."""
        pending = channel.comings
        if pending is None:
            pending = channel.comings = ([], [])
            self.at(self.clock() + self.delivery.config.crowd_window,
                    lambda: self._tell_comings(channel))
        pending[0 if joined else 1].append(nick)
        return [member for member in channel.members if not member.plain]

    def _tell_comings(self, channel):
        """The window is over: one line each for who joined and who left."""
        (joined, left), channel.comings = channel.comings, None
        lines = comings(channel.name, int(self.delivery.config.crowd_window), joined, left)
        send_text = self.delivery.send_text
        for member in channel.members:  # a line or two a window: no Encoding to share here
            if member.plain and member.out is not None:
                for line in lines:
                    send_text(member, line)

    def nick(self, event):
        user = event.user
        self.delivery.deliver(Message("NICK", (user.nick,), event.source),
                              self.registry.neighbours(user, include_self=True),
                              when=event.time)

    def topic(self, event):
        channel = event.channel
        self.delivery.deliver(Message("TOPIC", (channel.name, event.topic), event.source),
                              channel.audience(event.user), when=event.time)

    def mode(self, event):
        channel = event.channel
        self.delivery.deliver(Message("MODE", (channel.name, *event.changes), event.source),
                              channel.audience(event.user), when=event.time)

    def invite(self, event):
        """The invitee, and the channel's members who asked for invite-notify."""
        channel, user = event.channel, event.user
        invitation = Message("INVITE", (event.invitee.nick, channel.name), event.source)
        self.delivery.deliver(invitation, (event.invitee,), when=event.time)
        notified = [member for member in channel.members
                    if "invite-notify" in member.caps and member is not user]
        if notified:
            self.delivery.deliver(invitation, notified, when=event.time)

    def away(self, event):
        """Those sharing a channel with the user (or watching it, see :meth:`_watching`) who
        asked for away-notify."""
        delivery = self.delivery
        if delivery.cap_users["away-notify"] and event.user.registered:
            delivery.deliver(Message("AWAY", (event.text,) if event.text else (), event.source),
                             delivery.with_cap("away-notify", self._watching(event.user)),
                             when=event.time)

    def realname(self, event):
        """Those sharing a channel with the setname capability (or watching the user), and
        the user itself if it has it (its confirmation)."""
        delivery = self.delivery
        delivery.deliver(Message("SETNAME", (event.realname,), event.source),
                         delivery.with_cap("setname", self._watching(
                             event.user, include_self=True)), when=event.time)

    def _watching(self, user, include_self=False):
        """Who hears of *user*'s changes: those sharing a channel with it, and those who
        watch its nick with MONITOR and asked for extended-monitor; each once."""
        audience = self.registry.neighbours(user, include_self)
        if self.delivery.cap_users["extended-monitor"]:
            audience.update(dict.fromkeys(
                watcher for watcher in self.registry.watchers(user.nick)
                if "extended-monitor" in watcher.caps and watcher is not user))
        return audience

    def wallops(self, event):
        user = event.user
        self.delivery.deliver(Message("WALLOPS", (event.text,), event.source),
                              [client for client in self.registry.clients
                               if client.wallops or client is user], when=event.time)

    def account(self, event):
        """Those sharing a channel with the user, and the user itself, who asked for
        account-notify (``*``: logged out)."""
        delivery = self.delivery
        if delivery.cap_users["account-notify"]:
            delivery.deliver(Message("ACCOUNT", (event.account or "*",), event.source),
                             delivery.with_cap("account-notify", self._watching(
                                 event.user, include_self=True)), when=event.time)

    def rename(self, event):
        """The members with draft/channel-rename see RENAME, and plain members a sentence;
        the others, IRC clients that know nothing of renames, are shown a PART and a JOIN
        by the IRC commands, which know what else a JOIN brings (a topic, NAMES)."""
        channel = event.channel
        readers = [member for member in channel.members
                   if member.plain or ircv3.CHANNEL_RENAME in member.caps]
        if readers:
            self.delivery.deliver(Message("RENAME", (event.old_name, channel.name, event.reason),
                                          event.source), readers, when=event.time)

    def metadata(self, event):
        """Those who subscribed to the key (IRCv3 draft/metadata-2), but the one who set it:
        a channel's members for a channel's key; for a user's, those sharing a channel with
        it or watching it (see :meth:`_watching`)."""
        delivery, target = self.delivery, event.target
        if not delivery.cap_users[metadata.CAPABILITY]:
            return
        subscriptions = self.registry.subscriptions
        if isinstance(target, Channel):
            audience, name = target.members, target.name
        else:
            audience, name = self._watching(target, include_self=True), target.nick
        readers = [reader for reader in audience if reader is not event.user
                   and event.key in subscriptions.get(reader, ())]
        if readers:
            params = (name, event.key, metadata.VISIBLE)
            delivery.deliver(Message("METADATA", params if event.value is None
                                     else params + (event.value,), delivery.config.server_name),
                             readers, when=event.time)

    def redaction(self, event):
        """Members who asked for draft/message-redaction, the one who redacted among them;
        the others are not told (the specification's choice: their clients could not take
        the message out)."""
        delivery = self.delivery
        params = (event.channel.name, event.target_id)
        redacted = Message("REDACT", params + (event.reason,) if event.reason else params,
                           event.source, {"msgid": event.id})
        delivery.deliver(redacted, delivery.with_cap("draft/message-redaction",
                                                     event.channel.members), when=event.time)


def _ranked(channel, status, sender):
    """STATUSMSG's readers: *channel*'s operators (*status* ``@``), or its voiced and
    operators (``+``), but *sender*."""
    ranks = "@" if status == "@" else "@+"
    return [member for member, rank in channel.members.items()
            if rank and rank[0] in ranks and member is not sender]


def _readers(message, recipients):
    """Those of *recipients* who read *message*, each once: a TAGMSG only those with
    message-tags."""
    if message.command == "TAGMSG":
        return [user for user in dict.fromkeys(recipients) if "message-tags" in user.caps]
    return dict.fromkeys(recipients)


def _own_tags(user, msgid, tags=None):
    """The tags of a message from *user* (a new dict: server-time stamps it; the event's
    *tags* stay as they are): its client-only *tags*, its *msgid*, and its sender's account
    and bot mode."""
    own = {**tags, "msgid": msgid} if tags else {"msgid": msgid}
    if user.account is not None:
        own["account"] = user.account
    if user.bot:
        own["bot"] = ""  # a tag without a value (IRCv3 bot-mode)
    return own


class RunMessages:
    """A TalkRun's messages as a batch of :class:`~tcpchat.chat.delivery.Delivery` holds
    them, made as they are needed: the lines that users of the plain IRC Encoding get (no
    tags: the fan-out's usual case) written at once, with no Message made; a Message each,
    tagged as :meth:`LocalDelivery.talk` tags one, for everyone else."""

    __slots__ = ("run", "_messages")

    def __init__(self, run):
        self.run = run
        self._messages = None

    def __len__(self):
        return len(self.run.texts)

    def bare(self):
        """The run's lines as users with no tags get them, each what
        :func:`~tcpchat.protocol.message.encode_line` writes of its Message: one join."""
        run = self.run
        head = f":{run.source} PRIVMSG {run.channel.name} :"
        return (head + ("\r\n" + head).join(run.texts) + "\r\n").encode()

    def messages(self):
        """The run's Messages, made at the first call."""
        if self._messages is None:
            run = self.run
            user, name, source = run.user, run.channel.name, run.source
            self._messages = [Message("PRIVMSG", (name, text), source, _own_tags(user, msgid))
                              for text, msgid in zip(run.texts, run.ids)]
        return self._messages
