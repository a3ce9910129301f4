"""The chat itself: the operations users perform (register, change nick, join, part, kick,
talk, set a topic, leave), each checked, carried out on the registry, and told as an event.

Theory of operation.  :class:`Chat` is three parts, each in its own module:

- who is here (:class:`~tcpchat.chat.registry.Registry`, ``chat.registry``): the users, the
  nick table, the channels and their members, WHOWAS, MONITOR's watchers, the LUSERS counts;
- how output reaches local users (:class:`~tcpchat.chat.delivery.Delivery`,
  ``chat.delivery``): the one output API, the batch, the send-queue bound;
- and, here, the operations.  Each changes the registry, then hands one event
  (:mod:`tcpchat.chat.events`) to every consumer in :attr:`Chat.consumers`.  The first is
  :class:`~tcpchat.chat.local.LocalDelivery`, which shows the event to this node's users; a
  store, a cluster bus or metrics are added beside it (:meth:`Chat.add_consumer`) without
  touching the operations.

What is said back to the one who asked (a numeric, an error) is not an event: it goes out
through ``chat.delivery`` at once.

Who may say what where is :mod:`tcpchat.chat.state`'s (``speech_refusal``); ``Chat.message``
asks it only when a rule could apply (``Channel.gated``, or a sender outside the channel).

Nothing here touches a socket, a selector or a thread: bytes and messages only.
"""

import logging
import time
from collections import deque
from itertools import islice

from ..protocol import numerics as rpl
from ..protocol.ircv3 import client_tags
from ..protocol.message import MAX_MESSAGE, split_utf8, text_room, utf8_prefix
from ..protocol.names import SERVICES, fold, is_channel, nick_problem, normalize
from ..text.catalog import _
from . import events
from .config import (MONITOR_LIMIT, OPER_CHECKS, REGISTRATIONS, REGISTRATIONS_PER_ADDRESS,
                     TOPICLEN)
from .delivery import Delivery
from .events import Talk
from .local import LocalDelivery
from .offload import Inline
from .registry import Registry
from .repeats import Repeats
from .state import speech_refusal
from .stats import Stats
from .throttle import FailureDelays, WindowLimit

log = logging.getLogger("tcpchat")

#: The prefixes a channel's name may carry in a message's target, to reach only the members
#: of that rank and up (STATUSMSG, in 005): operators, and the voiced with them.
STATUS_PREFIXES = "@+"
#: Text, sender's mask and target this many characters long at most fit one line at any
#: size of character (4 bytes, beside 16 of spaces, colons, command and CRLF).
_SURELY_FITS = (MAX_MESSAGE - 16) // 4
_SERVICES = frozenset(map(fold, SERVICES))


class Chat:
    """Every user and channel (:attr:`registry`), their output (:attr:`delivery`), and the
    operations users perform on them."""

    def __init__(self, config, clock=time.monotonic, wall_clock=time.time):
        self.config = config
        self.clock = clock
        self.wall_clock = wall_clock
        self.registry = Registry(config)
        #: Log lines for events that may come by the thousand (see tcpchat.chat.repeats).
        self.repeats = Repeats(log, clock)
        #: What the server counts (STATS, metrics).
        self.stats = Stats(wall_clock())
        self.delivery = Delivery(config, wall_clock, self.repeats, self.stats)
        #: Event class -> what is called with each event of that class, in order: local
        #: delivery first, then the consumers added.
        self.consumers = {kind: [] for kind in events.KINDS}
        #: Shows events to this node's users (the first consumer of each).
        self.local = LocalDelivery(self.registry, self.delivery)
        for kind, show in self.local.handlers().items():
            self.consumers[kind].append(show)
        # The fan-out's path: the one list looked up once (add_consumer appends to it).
        self._on_talk = self.consumers[events.Talk]
        #: What is called with each TalkRun: for each consumer of Talks, in the same order,
        #: what it takes runs with (see add_consumer).
        self._on_talk_run = [self.local.talk_run]
        #: A new msgid each call (see tcpchat.chat.events).
        self.new_msgid = events.message_ids()
        #: The history store (a :class:`tcpchat.store.base.Store`), or None: set by the core,
        #: which also makes it a consumer of events.
        self.history = None
        # The registry's table of channels, never rebound: one attribute less per message.
        self._channels = self.registry.channels
        #: When the last OPER_CHECKS password checks were made (OPER, server-wide).
        self.oper_checks = deque(maxlen=OPER_CHECKS)
        #: Where password checks run (see tcpchat.chat.offload); the core may set another.
        self.offload = Inline()
        #: Accounts and registered rooms (a tcpchat.store.accounts.Accounts): set by the
        #: core, which knows the store.
        self.accounts = None
        #: A growing wait after failed logins, per account and per address.
        self.login_delays = FailureDelays(clock)
        #: Registrations of accounts: per address, and for the whole server.
        self.registrations = WindowLimit(clock, *REGISTRATIONS_PER_ADDRESS)
        self.all_registrations = WindowLimit(clock, *REGISTRATIONS)
        #: Set by the core: ``later(client, when, action)`` calls ``action(client)`` at the
        #: monotonic time *when*, unless *client* has left by then.
        self.later = None
        #: Read markers of users logged in to no account (tcpchat.commands.markers): client
        #: -> fold(target) -> ``timestamp=...``, for as long as its connection lasts.
        self.markers = {}
        #: Clients' open multiline batches (tcpchat.commands.batches): client -> its
        #: Collector, while the batch is open.
        self.batches = {}
        #: What plain users said in the read being handled (tcpchat.commands.plain): client
        #: -> its lines, said as one message when the read is done.
        self.pastes = {}
        #: Channels renamed lately (tcpchat.commands.rename): fold(old name) -> (new name,
        #: when), oldest first, bounded.
        self.renames = {}
        #: The other nodes of the chat (a tcpchat.cluster.link.ClusterLink), or None: set by
        #: the link, which asks them before a nick is taken (claim) and joins are let through.
        self.cluster = None
        #: Set by the core: ``just_registered(client)`` once *client* has registered, so that
        #: the core lets go of a timer its connection needs no more.
        self.just_registered = _nothing
        if log.isEnabledFor(logging.DEBUG):  # asked once, not on every message
            self.add_consumer(_log_talk, (Talk,))

    def add_consumer(self, consume, kinds=events.KINDS, runs=None):
        """*consume(event)* is called with every event of *kinds* (classes from
        :mod:`tcpchat.chat.events`; all by default) from now on, after local delivery; and
        if *kinds* holds Talk, *runs(run)* with every :class:`~tcpchat.chat.events.TalkRun`
        (several Talks said as one: see :meth:`message_run`), or without *runs*, *consume*
        with each of the run's Talks in turn."""
        for kind in kinds:
            self.consumers[kind].append(consume)
        if events.Talk in kinds:
            self._on_talk_run.append(runs or _talk_by_talk(consume))

    def _emit(self, event):
        event.id = self.new_msgid()
        self.tell(event)

    def tell(self, event):
        """Hand *event* to every consumer: one that happened elsewhere (a cluster's other
        node: it keeps the id it was given there) or that is no message (no id at all)."""
        for consume in self.consumers[event.__class__]:
            consume(event)

    def off_loop(self, client, work, done):
        """Run ``work()`` away from the loop, then ``done(result)`` (None if the work failed)
        on it, unless *client* has left by then.  *client* reads nothing meanwhile, so its
        next lines are handled after the answer.  False if the work could not be queued (too
        much waits already): nothing is run, and the caller tells *client* to try again."""
        return self.paused_while(client, lambda finished: self.offload.submit(work, finished),
                                 done)

    def paused_while(self, client, start, done):
        """What :meth:`off_loop` does, for any work: ``start(finished)`` begins it (False if
        it could not), and ``finished(result)`` is called on the loop when it is over."""
        conn = client.conn

        def finished(result):
            conn.working = False
            if client.out is None:
                return  # gone while its work ran
            done(result)
            if conn.resume_timer is None:  # else flood control resumes it
                conn.resume_reading()

        conn.working = True
        conn.pause_reading()
        if start(finished):
            return True
        conn.working = False
        conn.resume_reading()
        return False

    # -- Coming and going -----------------------------------------------------------------

    def add_client(self, conn, dialect):
        """A new user speaking over *conn*, in *dialect* (None: its first line will say)."""
        client = self.registry.add_client(conn, dialect, self.wall_clock())
        if self.config.language != client.language:
            client.set_language(self.config.language)
        return client

    def register(self, client, user, realname):
        client.user = user
        client.realname = realname
        client.mask = f"{client.nick}!{user}@{client.host}"
        client.registered = True
        client.signon = self.wall_clock()
        self.stats.registrations += 1
        self.registry.registered(client)
        self.just_registered(client)
        self.tell(events.Registration(client, client.mask, client.signon))
        self.tell_monitors(client.nick, client.mask)
        log.info("%s registered from %s (%s)", client.nick, client.host,
                 "plain" if client.plain else "IRC")

    def close(self, client, reason):
        """End *client*'s session: an ERROR line to it, a QUIT with *reason* to everyone who
        shares a channel with it.  The driver closes the socket once the ERROR is flushed."""
        if client.out is None:
            return
        self.delivery.farewell((client,), reason)
        self._leave(client, reason)

    def quit(self, client, reason=""):
        """QUIT (or ``/quit``, ``exit``): the user leaves, with *reason* if it gave one."""
        self.close(client, _("Quit: {reason}", reason=reason) if reason else _("Quit"))

    def connection_lost(self, client, reason):
        """The transport is gone (reset, or closed by the driver): nothing more can be sent."""
        self.delivery.lost(client)  # so the driver sees it closing and lets the socket go
        self._leave(client, reason)

    def reap(self):
        """Announce the quits of clients whose send queue overflowed during the last
        operation."""
        overflowed = self.delivery.overflowed
        while overflowed:
            self._leave(overflowed.pop(), _("SendQ exceeded"))

    def _leave(self, client, reason):
        """Take *client* out of the chat, then tell those who shared a channel with it: so
        that whatever goes wrong while telling them, no ghost member or held nick is left."""
        if client.gone:
            return
        channels = tuple(client.channels.values())
        self.forget(client)
        if client.registered:
            log.info("%s quit (%s)", client.nick, reason)
            self._emit(events.Quit(client, client.mask, reason, channels, self.wall_clock()))
            self.tell_monitors(client.nick, None)

    def forget(self, client):
        """Take *client* out of the chat without a word to anyone: its nick, its channels,
        its place in every table.  (What a failure that left it half gone falls back on.)"""
        if not client.gone:
            self.delivery.count_caps(client.caps, ())
            self.stats.bytes_out += client.conn.bytes_sent  # Connection counts them till now
        self.delivery.flush_batch()  # before the members change
        self.registry.forget(client, self.wall_clock())
        if self.markers:
            self.markers.pop(client, None)
        if self.batches:
            self.batches.pop(client, None)
        if self.pastes:
            self.pastes.pop(client, None)
        if self.cluster is not None:
            self.cluster.forgotten(client)

    def shutdown(self, reason):
        """Say goodbye to everyone at once: an ERROR line each, no QUIT storm."""
        self.delivery.farewell(list(self.registry.clients), reason)
        self.registry.clear()

    # -- Nicks ----------------------------------------------------------------------------

    def nick_refusal(self, client, nick):
        """Why *client* may not take *nick*, as ``(numeric, text, detail)``, *detail* being
        what is wrong with it (432) or who it looks like (433), else None; None if it may.
        The one check of a nick, for IRC's NICK and a plain user's name alike."""
        if not nick:
            return rpl.ERR_NONICKNAMEGIVEN, _("No nickname given"), None
        problem = nick_problem(nick)
        if problem:
            return (rpl.ERR_ERRONEUSNICKNAME, _("Erroneous nickname: {problem}", problem=problem),
                    problem)
        if self.registry.nick_in_use(nick, by=client) or fold(nick) in _SERVICES:
            return rpl.ERR_NICKNAMEINUSE, _("Nickname is already in use"), None
        lookalike = self.registry.lookalike(nick, by=client)
        if lookalike is not None:
            return rpl.ERR_NICKNAMEINUSE, _("Nickname looks too much like {nick}, who is here",
                                            nick=lookalike.nick), lookalike.nick
        return None

    def check_password(self, client, given):
        """Whether *given* is the server's password (or none is needed); if not, *client* is
        told (464) and let go."""
        if self.config.password is None or given == self.config.password:
            return True
        self.delivery.reply(client, rpl.ERR_PASSWDMISMATCH, _("Password incorrect"))
        self.close(client, _("Bad password"))
        return False

    def set_nick(self, client, nick):
        """NICK, for IRC and plain clients alike: check *nick*, then claim it (while
        registering) or change to it.  Problems go back as 431, 432 or 433."""
        refusal = self.nick_refusal(client, nick)
        if refusal:
            numeric, text, _detail = refusal
            if numeric == rpl.ERR_NONICKNAMEGIVEN:
                self.delivery.reply(client, numeric, text)
            else:
                self.delivery.reply(client, numeric, nick, text)
            return False
        if not client.registered:
            self.registry.claim_nick(client, nick)
        elif normalize(nick) != client.nick:
            self.claim(client, nick, lambda refusal: self._renamed(client, nick, refusal))
        return True

    def claim(self, client, nick, then):
        """*client* is about to take *nick* for good (it registers, or changes nick to it),
        and it is free here: where other nodes share the chat, they are asked first, with
        *client* reading nothing meanwhile.  ``then(refusal)`` follows: None, or why not as
        ``(numeric, text)`` (433: another node's user has it; 437: the cluster cannot be
        asked just now)."""
        if self.cluster is None:
            then(None)
        else:
            self.cluster.claim(client, nick, then)

    def give_up_nick(self, client):
        """*client*, registering, lets go of the nick it held here (the cluster refused it);
        returned."""
        nick = client.nick
        self.registry.drop_nick(client)
        client.nick = None
        return nick

    def _renamed(self, client, nick, refusal):
        if refusal is not None:
            self.delivery.reply(client, refusal[0], nick, refusal[1])
        elif not client.gone:
            self.change_nick(client, nick)

    def change_nick(self, client, new_nick):
        """Rename a registered client; everyone who shares a channel with it sees the change."""
        new_nick = normalize(new_nick)
        log.debug("%s is now known as %s", client.nick, new_nick)
        now = self.wall_clock()
        self.registry.remember(client, now)
        old_nick, old_mask = client.nick, client.mask
        self.registry.claim_nick(client, new_nick)
        client.mask = f"{new_nick}!{client.user}@{client.host}"
        self._emit(events.NickChange(client, old_mask, old_nick, now))
        if fold(old_nick) != fold(new_nick):
            self.tell_monitors(old_nick, None)
            self.tell_monitors(new_nick, client.mask)
            self.protect_nick(client)

    # -- Accounts -------------------------------------------------------------------------

    def log_in(self, client, account):
        """*client* proved it holds *account* (a :class:`tcpchat.store.accounts.Account`)."""
        client.account = account.name
        log.info("%s logged in to account %s", client.nick or client.host, account.name)
        if client.registered:
            self._emit(events.AccountChange(client, client.mask, account.name,
                                            self.wall_clock()))

    def log_out(self, client):
        client.account = None
        if client.registered:
            self._emit(events.AccountChange(client, client.mask, None, self.wall_clock()))
            self.protect_nick(client)

    def nick_owner(self, nick):
        """The account that owns *nick*: its name, or one it looks like; or None."""
        accounts = self.accounts
        return accounts.get(nick) or accounts.lookalike(nick)

    def protect_nick(self, client):
        """If *client* (registered) holds an account's nick without being logged in to it,
        tell it so, and under ``enforce`` rename it to a guest nick once the grace period
        has passed without a login."""
        policy = self.config.nick_protection
        owner = self.nick_owner(client.nick) if policy != "off" else None
        if owner is None or _same(owner.name, client.account):
            return
        grace = int(self.config.nick_grace)
        if policy == "warn":
            self.delivery.notice(client, _(
                "The nick {nick} belongs to the account {account}: if it is yours, log in "
                "(SASL, or /login PASSWORD)", nick=client.nick, account=owner.name))
            return
        self.delivery.notice(client, _(
            "The nick {nick} belongs to the account {account}: log in to it (SASL, or /login "
            "PASSWORD) within {seconds} seconds, or you will be renamed",
            nick=client.nick, account=owner.name, seconds=grace))
        nick = client.nick
        self.later(client, self.clock() + self.config.nick_grace,
                   lambda client: self._enforce_nick(client, nick))

    def _enforce_nick(self, client, nick):
        if client.nick != nick or client.gone:
            return  # renamed meanwhile
        owner = self.nick_owner(nick)
        if owner is None or _same(owner.name, client.account):
            return
        guest = self.guest_nick()
        self.claim(client, guest, lambda refusal: self._guest(client, owner, guest, refusal))

    def _guest(self, client, owner, guest, refusal):
        if refusal is not None or client.gone:
            return  # (another node's user took the guest nick first: the next check renames)
        self.delivery.notice(client, _(
            "You did not log in to {account}: you are {guest} now", account=owner.name,
            guest=guest))
        self.change_nick(client, guest)

    def guest_nick(self):
        """A free nick for a user renamed by nick protection."""
        number = self.registry.user_count
        while True:
            number += 1
            nick = f"Guest{number}"
            if (not self.registry.nick_in_use(nick) and self.registry.lookalike(nick) is None
                    and self.nick_owner(nick) is None):
                return nick

    # -- What a user says of itself -------------------------------------------------------

    def set_away(self, client, text):
        """AWAY: set (*text*) or unset (None)."""
        client.away = text
        self._emit(events.Away(client, client.mask, text, self.wall_clock()))

    def set_realname(self, client, realname):
        """SETNAME."""
        client.realname = realname
        self._emit(events.RealnameChange(client, client.mask, realname, self.wall_clock()))

    def user_modes_changed(self, client):
        """*client*'s own modes changed (MODE nick, OPER): for the other nodes."""
        self.tell(events.UserModeChange(client, client.mask, self.wall_clock()))

    def set_metadata(self, client, target, key, value):
        """Set *key* of *target* (*client* itself, or a channel) to *value*, or take it away
        (None); the caller checked that *client* may.  Subscribers are told."""
        self.registry.set_metadata(target, key, value)
        self.tell(events.MetadataChange(client, client.mask, target, key, value,
                                        self.wall_clock()))

    def wallops(self, client, text):
        """WALLOPS from a server operator."""
        self._emit(events.Wallops(client, client.mask, text, self.wall_clock()))

    # -- MONITOR --------------------------------------------------------------------------

    def monitor(self, client, nick):
        """*client* watches *nick*; False if its list is full."""
        return self.registry.monitor(client, nick, MONITOR_LIMIT)

    def tell_monitors(self, nick, mask):
        """Those watching *nick* learn it came online (*mask*) or went offline (None)."""
        watchers = self.registry.watchers(nick)
        if watchers:
            if mask is None:
                numeric, what = rpl.RPL_MONOFFLINE, nick
            else:
                numeric, what = rpl.RPL_MONONLINE, mask
            for watcher in list(watchers):
                self.delivery.reply(watcher, numeric, what)

    # -- Channels -------------------------------------------------------------------------

    def join(self, client, name):
        """Put *client* in channel *name* (creating it, with *client* as its operator); return
        the channel."""
        self.delivery.flush_batch()  # before the members change: the joiner did not see it
        now = self.wall_clock()
        channel = self.registry.add_member(client, name, now)
        log.debug("%s joined %s", client.nick, channel.name)
        self._emit(events.Join(client, client.mask, channel, now))
        return channel

    def part(self, client, channel, reason=""):
        self._emit(events.Part(client, client.mask, channel, reason, self.wall_clock()))
        log.debug("%s left %s", client.nick, channel.name)
        self._remove_member(client, channel)

    def kick(self, client, channel, user, reason):
        """*client* puts *user* out of *channel*; every member sees the KICK, *user* too, and
        *client* if it is not a member (a server operator)."""
        self._emit(events.Kick(client, client.mask, channel, user, reason, self.wall_clock()))
        log.debug("%s kicked %s from %s", client.nick, user.nick, channel.name)
        self._remove_member(user, channel)

    def _remove_member(self, client, channel):
        self.delivery.flush_batch()
        self.registry.remove_member(client, channel)

    def set_topic(self, client, channel, topic):
        channel.topic = utf8_prefix(topic, TOPICLEN)
        channel.topic_by = client.nick
        now = self.wall_clock()
        channel.topic_at = int(now)
        self._emit(events.TopicChange(client, client.mask, channel, channel.topic, now))

    def change_modes(self, client, channel, changes):
        """*client* changed *channel*'s modes (already applied): *changes* as a MODE line's
        parameters."""
        self._emit(events.ModeChange(client, client.mask, channel, tuple(changes),
                                     self.wall_clock()))

    def server_modes(self, user, channel, changes):
        """The server changed *channel*'s modes (already applied) because of *user* (a
        registered room's founder joined): as :meth:`change_modes`, from the server."""
        self._emit(events.ModeChange(user, self.config.server_name, channel, tuple(changes),
                                     self.wall_clock()))

    def rename(self, client, channel, name, reason):
        """*client* renames *channel* to *name* (the caller checked that it may, and that the
        name is free); its members, modes, topic, lists and history go with it."""
        self.delivery.flush_batch()  # what was said before goes out under the old name
        old_name = channel.name
        self.registry.rename_channel(channel, name)
        log.info("%s renamed %s to %s", client.nick, old_name, channel.name)
        self._emit(events.Rename(client, client.mask, channel, old_name, reason,
                                 self.wall_clock()))

    def redact(self, client, channel, msgid, reason):
        """*client* deleted message *msgid* of *channel* (allowed already)."""
        self._emit(events.Redaction(client, client.mask, channel, msgid, reason,
                                    self.wall_clock()))

    def invite(self, client, user, channel):
        """*client* invited *user* into *channel* (the invitation already noted)."""
        self._emit(events.Invite(client, client.mask, user, channel, self.wall_clock()))

    # -- Talking --------------------------------------------------------------------------

    def message(self, client, command, target, text, tags=None, lines=None):
        """Relay PRIVMSG or NOTICE *text* (or a TAGMSG, *text* None) from *client* to a channel
        or a nick, with the client-only tags among *tags*; the sender gets it back too if it
        enabled echo-message.  A TAGMSG goes only to those with message-tags.  A multiline
        message comes as its composition, *lines*, and *text* is the whole of it.

        Returns True when it went somewhere.  Errors go back as numerics, except for NOTICE,
        which never gets an error reply (so that bots cannot loop on each other's errors).
        """
        quiet = command == "NOTICE"
        channel = recipient = status = None
        if target[:1] in STATUS_PREFIXES and is_channel(target[1:]):
            status = target[0]  # STATUSMSG: @#room, +#room
        if status is not None or is_channel(target):
            channel = self._channels.get(fold(target if status is None else target[1:]))
            if channel is None:
                quiet or self.delivery.reply(client, rpl.ERR_NOSUCHNICK, target,
                                             _("No such nick/channel"))
                return False
            rank = channel.members.get(client)
            if not rank and (rank is None or channel.gated):  # else nothing can stop it
                refusal = speech_refusal(channel, client)
                if refusal:
                    quiet or self.delivery.reply(
                        client, rpl.ERR_CANNOTSENDTOCHAN, channel.name,
                        _("Cannot send to channel: {refusal}", refusal=refusal))
                    return False
            target = channel.name if status is None else status + channel.name
        else:
            recipient = self.registry.find_user(target)
            if recipient is None:
                quiet or self.delivery.reply(client, rpl.ERR_NOSUCHNICK, target,
                                             _("No such nick/channel"))
                return False
            target = recipient.nick
        if lines is not None:
            lines = _fitted(lines, text_room(client.mask, command, target))
        # Most lines fit however many bytes each character takes: _fits only when unsure.
        elif (text is not None and not quiet
                and len(text) + len(client.mask) + len(target) > _SURELY_FITS
                and not self._fits(client, command, target, text)):
            return False
        event = Talk(client, client.mask, command, channel, recipient, text,
                     client_tags(tags) if tags else None, self.wall_clock(), self.new_msgid(),
                     status, lines)
        for consume in self._on_talk:  # _emit, inlined on the fan-out's path
            consume(event)
        if recipient is not None and recipient.away is not None and command == "PRIVMSG":
            self.delivery.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)
        client.last_spoke = event.time  # not a clock call of its own: this is the hot path
        return True

    def run_channel(self, client, target, longest):
        """The channel *target* names, if PRIVMSGs from *client*, their texts at most
        *longest* characters long, may go there as one run (:meth:`message_run`); else None,
        and they go one at a time (:meth:`message`), which finds what stops any of them.
        Changes nothing.

        They may when :meth:`message` would relay each without a word back: the channel
        exists, *client* is a member who may speak there, and every text surely fits.  Not
        to a sender with echo-message, whose own echo may cut it at the send queue bound
        after any line of the read (the lines after it are then not said), nor with the
        batch turned off (``Config.batch``), which a run's delivery is."""
        if "echo-message" in client.caps or not self.config.batch:
            return None
        channel = self._channels.get(fold(target))
        if channel is None:
            return None
        rank = channel.members.get(client)
        if not rank and (rank is None or channel.gated):
            return None
        if longest + len(client.mask) + len(target) > _SURELY_FITS:
            return None
        return channel

    def message_run(self, client, channel, texts):
        """Relay PRIVMSGs *texts* from *client* to *channel*, what :meth:`run_channel` gave
        for them, as :meth:`message` would relay each, as one event
        (:class:`~tcpchat.chat.events.TalkRun`): the lines of a read, said at once.  Each
        consumer gets the run or its Talks (:meth:`add_consumer`); local delivery sends the
        run as one batch, the Encoding of users without tags writing it with one join.
        ``tests/test_usual_lines.py`` holds what everyone gets, and history, to what the
        lines one at a time give."""
        when = self.wall_clock()
        run = events.TalkRun(client, client.mask, channel, texts, when,
                             list(islice(iter(self.new_msgid, None), len(texts))))
        for consume in self._on_talk_run:
            consume(run)
        client.last_spoke = when

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
        self.delivery.reply(client, rpl.ERR_INPUTTOOLONG, _(
            "Input line was too long: with your nick!user@host before it, a message to "
            "{target} fits {room} bytes of text", target=target, room=room))
        return False


def _fitted(lines, room):
    """A multiline composition whose every line reaches each recipient as one line once the
    sender's mask is before it: a line that would not is cut further, its pieces joined by
    concat, so the message stays whole and as its sender cut it wherever it can."""
    if all(len(text.encode()) <= room for text, _concat in lines):
        return lines
    fitted = []
    for text, concat in lines:
        pieces = split_utf8(text, room)
        fitted.extend((piece, concat or index > 0) for index, piece in enumerate(pieces))
    return tuple(fitted)


def _same(account_name, other):
    return other is not None and fold(account_name) == fold(other)


def _talk_by_talk(consume):
    """What gives a consumer of Talks a TalkRun: each of its Talks in turn."""
    def consume_run(run):
        for talk in run.talks():
            consume(talk)
    return consume_run


def _log_talk(event):
    """A consumer for debugging: each message, as it went."""
    target = event.channel.name if event.channel is not None else event.recipient.nick
    log.debug("%s -> %s: %s", event.user.nick, target, event.text)


def _nothing(client):
    """What :attr:`Chat.just_registered` does until a core sets it."""
