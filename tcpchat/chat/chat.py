"""The chat itself: who is here, under which nick, in which channels, and who gets what.

Theory of operation.  A :class:`Client` is one user: who it says it is, its channels, what it
negotiated.  It speaks over a :class:`~tcpchat.chat.connection.Connection`, whose ``outbuf`` holds
the bytes waiting to be sent.  :class:`Chat` holds every client, the nick table and the
channels, and carries out what users do (join, part, change nick, talk, quit).  Each operation
builds one :class:`Message`, and :meth:`Chat.deliver` appends its encoding to each recipient's
connection: encoded once per :class:`~tcpchat.chat.encoding.Encoding` in use, whatever the number of
recipients.  Connections whose output grew are collected in ``Chat.dirty``; the core hands them
to their drivers when the operation ends.

Channel messages in a row go out together (the fan-out's fast path).  A read of one socket may
bring many lines to the same channel; rather than append each to every member's buffer, the chat
keeps a *batch*: consecutive messages to one channel from one sender, encoded and joined once
per Encoding when the batch is flushed, and appended once per member.  Each recipient still gets
every message once, in order, its own left out (kept in, for a sender with IRCv3 echo-message),
because the batch is flushed before anything else is queued for anyone (any other message, a
numeric, a line of text), before the channel's members change, before a client's capabilities
change (its Encoding may), and when the sender's lines of this core call are handled
(:meth:`Chat.flush_batch`, which the core calls).  ``Config.batch`` turns it off, to measure or
test the plain path against it.

Who may say what where is :mod:`tcpchat.commands.moderation`'s; ``Chat.message`` asks it only when a
rule could apply (``Channel.gated``, or a sender outside the channel).

Nothing here touches a socket, a selector or a thread: bytes and messages only.

The send queue bound (``Config.sendq``).  A recipient that does not read lets its buffer grow.
The bound counts what the client failed to read: what still waits after its driver has sent
what the socket would take (``Connection.flushed``), not what one busy turn queued, so a member
that keeps reading is never cut because others all spoke at once.  Within a turn, the buffer
may grow to twice the bound (``Chat.hard_sendq``), which bounds memory.  Past either, the
client's pending output is thrown away (all but the rest of a line the kernel already took part
of), an ``ERROR :SendQ exceeded`` line is queued in its place and the client's connection is
marked closing; everyone who shares a channel with it sees it quit with that reason.  The quit
is announced after the current operation ends (:meth:`Chat.reap`), because the overflow happens
in the middle of a fan-out loop over a channel's members, and that loop must not see the channel
change under it.
"""

import logging
import time
from collections import Counter, deque

from ..protocol import numerics as rpl
from ..protocol.ircv3 import client_tags, timestamp
from ..protocol.message import MAX_MESSAGE, Message, text_room, utf8_prefix
from ..protocol.names import fold, is_channel, nick_problem, normalize, skeleton
from .config import ECHO_BYTES, MONITOR_LIMIT, OPER_CHECKS, TOPICLEN
from .state import Channel, Client, Departed, speech_refusal

log = logging.getLogger("tcpchat")

#: Text, sender's mask and target this many characters long at most fit one line at any
#: size of character (4 bytes, beside 16 of spaces, colons, command and CRLF).
_SURELY_FITS = (MAX_MESSAGE - 16) // 4


class Chat:
    """Every user and channel, and the operations users perform on them."""

    def __init__(self, config, clock=time.monotonic, wall_clock=time.time):
        self.config = config
        self.clock = clock
        self.wall_clock = wall_clock
        self.clients = set()
        #: Clients that have not registered yet, oldest first (a dict kept as an ordered set).
        self.registering = {}
        #: fold(nick) -> Client, for registered clients and for those that claimed a nick
        #: while registering, so two registering clients cannot end up with one nick.
        self.nicks = {}
        #: skeleton(nick) -> Client, for the same clients: so that no newcomer takes a nick
        #: that only looks like one in use (see tcpchat.protocol.names).
        self.skeletons = {}
        #: fold(channel name) -> Channel; a channel exists while it has members.
        self.channels = {}
        #: Connections whose output went from none to some, or that began closing, during the
        #: current operation: the core tells the driver when it ends.  A driver told once
        #: keeps sending until nothing is pending, so later appends need not tell it again.
        self.dirty = set()
        self._overflowed = []
        #: How far one client's output may grow within one operation (see the module doc).
        self.hard_sendq = 2 * config.sendq
        # The batch (see the module doc): its messages, their channel and their sender.
        self._batch = []
        self._batch_channel = self._batch_sender = self._batch_skip = None
        #: How many clients enabled each capability: while nobody has server-time, no
        #: message is stamped; while nobody has extended-join, a JOIN is made one way only.
        self.cap_users = Counter()
        #: Whether anyone has server-time (read on every message, so kept ready).
        self.stamping = False
        #: Who left or changed nick, newest last, for WHOWAS (bounded).
        self.whowas = deque(maxlen=config.whowas_length)
        #: fold(nick) -> the clients watching it with MONITOR.
        self.monitors = {}
        #: For LUSERS, kept as users come and go rather than counted on each asking (every
        #: registration asks): registered users, of them invisible, and server operators,
        #: and the most registered users there have been at once.
        self.user_count = self.invisible_count = self.oper_count = self.max_users = 0
        #: When the last OPER_CHECKS password checks were made.
        self.oper_checks = deque(maxlen=OPER_CHECKS)

    # -- Delivery -------------------------------------------------------------------------

    def deliver(self, message, recipients, skip=None):
        """Queue *message* for each of *recipients* except *skip*, after the batch."""
        if self._batch:
            self.flush_batch()
        if self.stamping:
            self._stamp(message)
        self._fan_out(recipients, skip, _encode_one, message)

    def _stamp(self, message):
        """Give *message* its server-time ``time`` tag (the Encodings of those who did not ask
        for server-time leave it out)."""
        if "time" not in message.tags:
            message.tags["time"] = timestamp(self.wall_clock())

    def relay(self, message, channel, sender, echo=False):
        """Queue *message* from *sender* for the other members of *channel* (and *sender*, if
        *echo*: IRCv3 echo-message): in the batch, if the batch holds that sender's messages
        to that channel, else in a new one."""
        skip = None if echo else sender
        if not self.config.batch:
            self.deliver(message, channel.members, skip)
            return
        if self.stamping:
            self._stamp(message)
        if self._batch and (channel is not self._batch_channel
                            or sender is not self._batch_sender):
            self.flush_batch()
        self._batch_channel, self._batch_sender, self._batch_skip = channel, sender, skip
        self._batch.append(message)

    def flush_batch(self):
        """Queue the batch for the members of its channel: each Encoding in use writes the
        batch's messages once, joined, and each member gets them in one append."""
        messages = self._batch
        if messages:
            self._batch = []
            channel, skip = self._batch_channel, self._batch_skip
            self._batch_channel = self._batch_sender = self._batch_skip = None
            if len(messages) == 1:
                self._fan_out(channel.members, skip, _encode_one, messages[0])
            else:
                self._fan_out(channel.members, skip, _encode_all, messages)

    def _fan_out(self, recipients, skip, encode, what):
        """The hot path: queue *encode(encoding, what)* for each of *recipients* but *skip*.

        Encoded at most once per Encoding; each recipient that shares one gets the same bytes
        object appended to its connection's buffer.
        """
        sendq = self.hard_sendq
        dirty = self.dirty
        encoded = {}
        # Recipients in a row mostly share an Encoding: compare with the last one before
        # looking it up, which costs a quarter of this loop's time when done per recipient.
        encoding = data = None
        for recipient in recipients:
            if recipient is skip:
                continue
            out = recipient.out
            if out is None:
                continue  # closing
            if recipient.encoding is not encoding:
                encoding = recipient.encoding
                data = encoded.get(encoding)
                if data is None:
                    data = encoded[encoding] = encode(encoding, what)
            # What _append does, inlined: this loop runs once per recipient of every message
            # or batch.
            # (data may be b"", a message plain users are not shown: appending it costs less
            # than testing for it, and the driver finds nothing to send.)
            if not out:
                dirty.add(recipient.conn)
            out += data
            if len(out) > sendq:
                self._overflow(recipient)

    def _append(self, client, data):
        """Queue *data* for one client, within its send queue bound, after the batch."""
        if self._batch:
            self.flush_batch()
        out = client.out
        if out is None:
            return
        if not out:
            self.dirty.add(client.conn)
        out += data
        if len(out) > self.hard_sendq:
            self._overflow(client)

    def has_room(self, client):
        """Whether a reply that grows with the server (LIST, WHO, NAMES) may go on: *client*
        is not closing, and its queue is under half the send queue bound.  A reply that stops
        here ends as usual, with a notice that it was cut, so that asking for it never costs
        a client that reads its connection."""
        if self._batch:
            self.flush_batch()
        return client.out is not None and len(client.out) <= self.config.sendq // 2

    def send(self, client, message):
        self.deliver(message, (client,))

    def reply(self, client, numeric, *params):
        """Send numeric *numeric* to *client*; its nick (or ``*``) goes first, as always.

        Numerics echo what the client sent (a bad nick, an unknown command); an echo that could
        not stand as a middle parameter (empty, holding a space, starting with ":") becomes "*",
        and a long one is cut to :data:`ECHO_BYTES`, so that the text after it still fits.
        """
        *middle, last = params
        middle = [utf8_prefix(p, ECHO_BYTES) if p and " " not in p and p[0] != ":" else "*"
                  for p in middle]
        self.deliver(Message(numeric, (client.target, *middle, last), self.config.server_name),
                     (client,))

    def notice(self, client, text):
        """A notice from the server: how the server tells a client about a dropped line."""
        self.send(client, Message("NOTICE", (client.target, text), self.config.server_name))

    def standard_reply(self, client, kind, command, code, text):
        """An IRCv3 standard reply (``FAIL``, ``WARN`` or ``NOTE``) about *command*: for errors
        no numeric names.  Plain users read it as an error line."""
        self.send(client, Message(kind, (command, code, text), self.config.server_name))

    def set_caps(self, client, caps):
        """*client* enabled *caps* (a set): its Encoding may change, so the batch, encoded at
        its flush, is flushed first."""
        self.flush_batch()
        self._count_caps(client.caps, caps)
        client.set_caps(frozenset(caps))

    def _count_caps(self, dropped, enabled):
        self.cap_users.subtract(dropped)
        self.cap_users.update(enabled)
        self.stamping = self.cap_users["server-time"] > 0

    def _with_cap(self, cap, clients):
        """Those of *clients* that enabled *cap*."""
        return [client for client in clients if cap in client.caps]

    def set_away(self, client, text):
        """AWAY: set (*text*) or unset (None); those sharing a channel with away-notify are
        told."""
        client.away = text
        if self.cap_users["away-notify"] and client.registered:
            self.deliver(Message("AWAY", (text,) if text else (), client.mask),
                         self._with_cap("away-notify", self.neighbours(client)))

    def set_realname(self, client, realname):
        """SETNAME: those sharing a channel with the setname capability are told, and so is
        *client* itself if it has it (its confirmation)."""
        client.realname = realname
        self.deliver(Message("SETNAME", (realname,), client.mask),
                     self._with_cap("setname", self.neighbours(client, include_self=True)))

    def send_text(self, client, text):
        """A line of plain text, for a plain-mode client (prompts, help, lists)."""
        self._append(client, text.encode() + b"\r\n")

    def check_sendq(self, client):
        """After a flush: cut *client* if more than the send queue bound still waits."""
        self.flush_batch()
        if client.out is not None and len(client.out) > self.config.sendq:
            self._overflow(client)

    def _overflow(self, client):
        log.warning("%r: send queue over %d bytes, disconnecting", client, self.config.sendq)
        farewell = Message("ERROR", ("Closing link: SendQ exceeded",))
        conn = client.conn
        conn.drop_output()
        conn.outbuf += client.encoding.encode(farewell)
        self._stop_output(client)
        self._overflowed.append(client)

    def _stop_output(self, client):
        """Mark *client*'s connection closing: nothing more is queued for it, and its driver
        is told to send what is there and close."""
        client.conn.stop()
        client.out = None
        self.dirty.add(client.conn)

    def reap(self):
        """Announce the quits of clients whose send queue overflowed during the last operation."""
        while self._overflowed:
            self._leave(self._overflowed.pop(), "SendQ exceeded")

    # -- Who is here ----------------------------------------------------------------------

    def add_client(self, conn, dialect):
        """A new user speaking over *conn*, in *dialect* (None: its first line will say)."""
        client = Client(conn, dialect, self.clock(), self.wall_clock())
        conn.client = client
        self.clients.add(client)
        self.registering[client] = None
        return client

    def find_user(self, nick):
        """The registered client with nick *nick* (any case), or None."""
        client = self.nicks.get(fold(nick))
        return client if client is not None and client.registered else None

    def nick_in_use(self, nick, by=None):
        holder = self.nicks.get(fold(nick))
        return holder is not None and holder is not by

    def lookalike(self, nick, by=None):
        """The other user whose nick *nick* looks like, if any."""
        holder = self.skeletons.get(skeleton(nick))
        return holder if holder is not by else None

    def claim_nick(self, client, nick):
        """Give *nick* to a client that is not registered yet; the caller checked it is free."""
        self._drop_nick(client)
        client.nick = normalize(nick)
        self._hold_nick(client)

    def _hold_nick(self, client):
        self.nicks[fold(client.nick)] = client
        self.skeletons[skeleton(client.nick)] = client

    def _drop_nick(self, client):
        if client.nick is not None and self.nicks.get(fold(client.nick)) is client:
            del self.nicks[fold(client.nick)]
        if client.nick is not None and self.skeletons.get(skeleton(client.nick)) is client:
            del self.skeletons[skeleton(client.nick)]

    def register(self, client, user, realname):
        client.user = user
        client.realname = realname
        client.mask = f"{client.nick}!{user}@{client.host}"
        client.registered = True
        del self.registering[client]
        client.signon = self.wall_clock()
        self.user_count += 1
        self.max_users = max(self.max_users, self.user_count)
        self._tell_monitors(client.nick, client.mask)
        log.info("%s registered from %s (%s)", client.nick, client.host,
                 "plain" if client.plain else "IRC")

    def set_nick(self, client, nick):
        """NICK, for IRC and plain clients alike: check *nick*, then claim it (while
        registering) or change to it.  Problems go back as 431, 432 or 433."""
        if not nick:
            self.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
            return False
        problem = nick_problem(nick)
        if problem:
            self.reply(client, rpl.ERR_ERRONEUSNICKNAME, nick, f"Erroneous nickname: {problem}")
            return False
        if self.nick_in_use(nick, by=client):
            self.reply(client, rpl.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
            return False
        lookalike = self.lookalike(nick, by=client)
        if lookalike is not None:
            self.reply(client, rpl.ERR_NICKNAMEINUSE, nick,
                       f"Nickname looks too much like {lookalike.nick}, who is here")
            return False
        if not client.registered:
            self.claim_nick(client, nick)
        elif normalize(nick) != client.nick:
            self.change_nick(client, nick)
        return True

    def change_nick(self, client, new_nick):
        """Rename a registered client; everyone who shares a channel with it sees the change."""
        new_nick = normalize(new_nick)
        message = Message("NICK", (new_nick,), client.mask)
        log.debug("%s is now known as %s", client.nick, new_nick)
        self._remember(client)
        old_nick = client.nick
        self._drop_nick(client)
        client.nick = new_nick
        self._hold_nick(client)
        client.mask = f"{new_nick}!{client.user}@{client.host}"
        self.deliver(message, self.neighbours(client, include_self=True))
        if fold(old_nick) != fold(new_nick):
            self._tell_monitors(old_nick, None)
            self._tell_monitors(new_nick, client.mask)

    def _remember(self, client):
        """Keep who *client* is now, for WHOWAS."""
        self.whowas.append(Departed(client.nick, client.user, client.host, client.realname,
                                    int(self.wall_clock())))

    def set_invisible(self, client, invisible):
        if client.invisible != invisible:
            client.invisible = invisible
            if client.registered:
                self.invisible_count += 1 if invisible else -1

    def set_oper(self, client, oper):
        if client.oper != oper:
            client.oper = oper
            self.oper_count += 1 if oper else -1

    # -- MONITOR --------------------------------------------------------------------------

    def monitor(self, client, nick):
        """*client* watches *nick*; False if its list is full."""
        key = fold(nick)
        if client.monitoring is None:
            client.monitoring = set()
        if key not in client.monitoring:
            if len(client.monitoring) >= MONITOR_LIMIT:
                return False
            client.monitoring.add(key)
            self.monitors.setdefault(key, set()).add(client)
        return True

    def unmonitor(self, client, nick):
        key = fold(nick)
        if client.monitoring and key in client.monitoring:
            client.monitoring.discard(key)
            watchers = self.monitors[key]
            watchers.discard(client)
            if not watchers:
                del self.monitors[key]

    def _tell_monitors(self, nick, mask):
        """Those watching *nick* learn it came online (*mask*) or went offline (None)."""
        watchers = self.monitors.get(fold(nick))
        if watchers:
            if mask is None:
                numeric, what = rpl.RPL_MONOFFLINE, nick
            else:
                numeric, what = rpl.RPL_MONONLINE, mask
            for watcher in list(watchers):
                self.reply(watcher, numeric, what)

    def neighbours(self, client, include_self=False):
        """Everyone who shares a channel with *client*, each once, in a stable order."""
        seen = {client: None} if include_self else {}
        for channel in client.channels.values():
            seen.update(dict.fromkeys(channel.members))
        if not include_self:
            seen.pop(client, None)
        return seen

    # -- Channels -------------------------------------------------------------------------

    def join(self, client, name):
        """Put *client* in channel *name* (creating it, with *client* as its operator); return
        the channel.  Every member sees the JOIN, the joiner too (IRC clients rely on it)."""
        if self._batch:
            self.flush_batch()  # before the members change: the joiner did not see what came before
        key = fold(name)
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(normalize(name), self.wall_clock())
            channel.members[client] = "@"
        else:
            channel.members[client] = ""
        client.channels[key] = channel
        log.debug("%s joined %s", client.nick, channel.name)
        # A plain client is told where it is in words (see plain.greet), not by its own JOIN.
        skip = client if client.plain else None
        joined = Message("JOIN", (channel.name,), client.mask)
        if self.cap_users["extended-join"]:  # the account ("*": none) and real name too
            extended = Message("JOIN", (channel.name, "*", client.realname), client.mask)
            members = list(channel.members)
            self.deliver(extended, self._with_cap("extended-join", members), skip)
            self.deliver(joined, [m for m in members if "extended-join" not in m.caps], skip)
        else:
            self.deliver(joined, channel.members, skip)
        if client.away is not None and self.cap_users["away-notify"]:
            self.deliver(Message("AWAY", (client.away,), client.mask),
                         self._with_cap("away-notify", channel.members), skip=client)
        return channel

    def part(self, client, channel, reason=""):
        params = (channel.name, reason) if reason else (channel.name,)
        self.deliver(Message("PART", params, client.mask), channel.members)
        log.debug("%s left %s", client.nick, channel.name)
        self._remove_member(client, channel)

    def kick(self, client, channel, user, reason):
        """*client* puts *user* out of *channel*; every member sees the KICK, *user* too, and
        *client* if it is not a member (a server operator)."""
        self.deliver(Message("KICK", (channel.name, user.nick, reason), client.mask),
                     channel.audience(client))
        log.debug("%s kicked %s from %s", client.nick, user.nick, channel.name)
        self._remove_member(user, channel)

    def _remove_member(self, client, channel):
        if self._batch:
            self.flush_batch()
        del channel.members[client]
        del client.channels[fold(channel.name)]
        channel.ban_verdicts.pop(client, None)
        if not channel.members:
            del self.channels[fold(channel.name)]

    def set_topic(self, client, channel, topic):
        channel.topic = utf8_prefix(topic, TOPICLEN)
        channel.topic_by = client.nick
        channel.topic_at = int(self.wall_clock())
        self.deliver(Message("TOPIC", (channel.name, channel.topic), client.mask),
                     channel.audience(client))

    # -- Talking --------------------------------------------------------------------------

    def message(self, client, command, target, text, tags=None):
        """Relay PRIVMSG or NOTICE *text* (or a TAGMSG, *text* None) from *client* to a channel
        or a nick, with the client-only tags among *tags*; the sender gets it back too if it
        enabled echo-message.  A TAGMSG goes only to those with message-tags.

        Returns True when it went somewhere.  Errors go back as numerics, except for NOTICE,
        which never gets an error reply (so that bots cannot loop on each other's errors).
        """
        quiet = command == "NOTICE"
        channel = recipient = None
        if is_channel(target):
            channel = self.channels.get(fold(target))
            if channel is None:
                quiet or self.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
                return False
            rank = channel.members.get(client)
            if not rank and (rank is None or channel.gated):  # else nothing can stop it
                refusal = speech_refusal(channel, client)
                if refusal:
                    quiet or self.reply(client, rpl.ERR_CANNOTSENDTOCHAN, channel.name,
                                        f"Cannot send to channel: {refusal}")
                    return False
            target = channel.name
        else:
            recipient = self.find_user(target)
            if recipient is None:
                quiet or self.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
                return False
            target = recipient.nick
        if text is None:
            relayed = Message(command, (target,), client.mask)
        else:
            # Most lines fit however many bytes each character takes: _fits only when unsure.
            if (not quiet and len(text) + len(client.mask) + len(target) > _SURELY_FITS
                    and not self._fits(client, command, target, text)):
                return False
            relayed = Message(command, (target, text), client.mask)
        if tags:
            relayed.tags = client_tags(tags)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s: %s", client.nick, target, text)
        echo = "echo-message" in client.caps
        if recipient is not None:
            self.deliver(relayed, self._readers(relayed, (recipient, client) if echo
                                                else (recipient,)))
            if recipient.away is not None and command == "PRIVMSG":
                self.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)
        elif text is not None:  # the fan-out's usual case
            self.relay(relayed, channel, client, echo)
            if echo and rank is None:  # from outside the channel (-n): not among its members
                self.deliver(relayed, (client,))
        else:
            others = [member for member in channel.members if member is not client]
            self.deliver(relayed, self._readers(relayed, others + [client] if echo else others))
        client.last_spoke = self.clock()
        return True

    @staticmethod
    def _readers(message, recipients):
        """Those of *recipients* who read *message*, each once: a TAGMSG only those with
        message-tags."""
        if message.command == "TAGMSG":
            return [user for user in dict.fromkeys(recipients) if "message-tags" in user.caps]
        return dict.fromkeys(recipients)

    def _fits(self, client, command, target, text):
        """Whether PRIVMSG *text* reaches each recipient as one line once the sender's
        ``nick!user@host`` is put before it; if not, 417 tells the sender how much fits.

        What one recipient gets for one message is one line: a message too long is refused,
        never split (a recipient would see two) nor cut (the sender would not know).  Clients
        split long text on the sending side, as irssi, WeeChat and tcpchat's own client do, and
        so does plain mode for its users.  (NOTICE is cut instead: it never gets an error.)
        """
        room = text_room(client.mask, command, target)
        if len(text.encode()) <= room:
            return True
        self.reply(client, rpl.ERR_INPUTTOOLONG, f"Input line was too long: with your "
                   f"nick!user@host before it, a message to {target} fits {room} bytes of text")
        return False

    # -- Leaving --------------------------------------------------------------------------

    def close(self, client, reason):
        """End *client*'s session: an ERROR line to it, a QUIT with *reason* to everyone who
        shares a channel with it.  The driver closes the socket once the ERROR is flushed."""
        if client.out is None:
            return
        self.send(client, Message("ERROR", (f"Closing link: {reason}",)))
        self._stop_output(client)
        self._leave(client, reason)

    def connection_lost(self, client, reason):
        """The transport is gone (reset, or closed by the driver): nothing more can be sent."""
        client.conn.outbuf.clear()
        self._stop_output(client)  # so the driver sees it closing and lets the socket go
        self._leave(client, reason)

    def _leave(self, client, reason):
        """Take *client* out of the chat, then tell those who shared a channel with it: so
        that whatever goes wrong while telling them, no ghost member or held nick is left."""
        if client.gone:
            return
        neighbours = self.neighbours(client) if client.registered else ()
        self.forget(client)
        if client.registered:
            log.info("%s quit (%s)", client.nick, reason)
            self.deliver(Message("QUIT", (reason,), client.mask), neighbours)
            self._tell_monitors(client.nick, None)

    def forget(self, client):
        """Take *client* out of the chat without a word to anyone: its nick, its channels,
        its place in every table.  (What a failure that left it half gone falls back on.)"""
        counted = client.registered and not client.gone  # once, however often it is called
        if not client.gone:
            self._count_caps(client.caps, ())
        client.gone = True
        self.clients.discard(client)
        self.registering.pop(client, None)
        if counted:
            self._remember(client)
            self.user_count -= 1
            self.invisible_count -= client.invisible
            self.oper_count -= client.oper
        for nick in list(client.monitoring or ()):
            self.unmonitor(client, nick)
        self._drop_nick(client)
        for channel in list(client.channels.values()):
            self._remove_member(client, channel)

    def shutdown(self, reason):
        """Say goodbye to everyone at once: an ERROR line each, no QUIT storm."""
        clients = list(self.clients)
        self.deliver(Message("ERROR", (f"Closing link: {reason}",)), clients)
        for client in clients:
            self._stop_output(client)
            client.gone = True
        self.clients.clear()
        self.registering.clear()
        self.nicks.clear()
        self.skeletons.clear()
        self.channels.clear()


def _encode_one(encoding, message):
    return encoding.encode(message)


def _encode_all(encoding, messages):
    return b"".join(map(encoding.encode, messages))
