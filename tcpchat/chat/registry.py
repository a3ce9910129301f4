"""Who is here: the tables of users, nicks and channels, and what is counted or remembered of
them (LUSERS counters, WHOWAS, MONITOR's watchers).

It holds and looks up; it sends nothing.  The operations that change it and tell people
are :class:`~tcpchat.chat.chat.Chat`'s.  A user in these tables is a local
:class:`~tcpchat.chat.state.Client` or a :class:`~tcpchat.chat.state.RemoteUser` served by
another node: a channel's members and the nick table take either.
"""

from collections import deque

from ..protocol.names import fold, normalize, skeleton
from .state import Channel, Client, Departed


class Registry:
    def __init__(self, config):
        #: The local clients, registered or not.
        self.clients = set()
        #: Clients that have not registered yet, oldest first (a dict kept as an ordered set).
        self.registering = {}
        #: fold(nick) -> user, for registered users and for clients that claimed a nick
        #: while registering, so two registering clients cannot end up with one nick.
        self.nicks = {}
        #: skeleton(nick) -> user, for the same users: so that no newcomer takes a nick
        #: that only looks like one in use (see tcpchat.protocol.names).
        self.skeletons = {}
        #: fold(channel name) -> Channel; a channel exists while it has members.
        self.channels = {}
        #: skeleton(channel name) -> Channel, for the same channels: so that no new channel
        #: only looks like one there is.
        self.channel_skeletons = {}
        #: Who left or changed nick, newest last, for WHOWAS (bounded).
        self.whowas = deque(maxlen=config.whowas_length)
        #: fold(nick) -> the clients watching it with MONITOR.
        self.monitors = {}
        #: IRCv3 draft/metadata-2: a user's or a channel's keys and values (user or channel
        #: -> {key: value}, only for those that have any), and the keys each local client
        #: subscribed to (client -> set of keys).
        self.metadata = {}
        self.subscriptions = {}
        #: For LUSERS, kept as users come and go rather than counted on each asking (every
        #: registration asks): registered users, of them invisible, and server operators,
        #: and the most registered users there have been at once.
        self.user_count = self.invisible_count = self.oper_count = self.max_users = 0
        #: Users other nodes serve (a cluster), and the most of all there have been at once.
        self.remote_count = self.max_all = 0

    # -- Users ----------------------------------------------------------------------------

    def add_client(self, conn, dialect, wall_now):
        """A new local user speaking over *conn*, in *dialect* (None: its first line will
        say)."""
        client = Client(conn, dialect, wall_now)
        conn.client = client
        self.clients.add(client)
        self.registering[client] = None
        return client

    def registered(self, client):
        """*client* finished registering."""
        del self.registering[client]
        self.user_count += 1
        self.max_users = max(self.max_users, self.user_count)
        self.max_all = max(self.max_all, self.user_count + self.remote_count)

    def add_remote(self, user, hold=True):
        """A :class:`~tcpchat.chat.state.RemoteUser` another node serves: its nick is held
        here too (unless *hold* is false: the caller holds it, see tcpchat.cluster.link)."""
        if hold:
            self.hold_nick(user)
        self.remote_count += 1
        self.max_all = max(self.max_all, self.user_count + self.remote_count)

    def find_user(self, nick):
        """The registered user with nick *nick* (any case), or None."""
        user = self.nicks.get(fold(nick))
        return user if user is not None and user.registered else None

    def nick_in_use(self, nick, by=None):
        holder = self.nicks.get(fold(nick))
        return holder is not None and holder is not by

    def lookalike(self, nick, by=None):
        """The other user whose nick *nick* looks like, if any."""
        holder = self.skeletons.get(skeleton(nick))
        return holder if holder is not by else None

    def claim_nick(self, user, nick):
        """Give *nick* to *user*, in place of the one it had; the caller checked it is free."""
        self.drop_nick(user)
        user.nick = normalize(nick)
        self.hold_nick(user)

    def hold_nick(self, user):
        # Most nicks are their own folded form and skeleton ("ann"): the keys are then the
        # nick's own string, not two more copies of it kept for each user.
        nick = user.nick
        folded = _same(fold(nick), nick)
        self.nicks[folded] = user
        self.skeletons[_same(skeleton(nick), folded)] = user

    def drop_nick(self, user):
        if user.nick is not None and self.nicks.get(fold(user.nick)) is user:
            del self.nicks[fold(user.nick)]
        if user.nick is not None and self.skeletons.get(skeleton(user.nick)) is user:
            del self.skeletons[skeleton(user.nick)]

    def remember(self, user, when):
        """Keep who *user* is now, for WHOWAS."""
        self.whowas.append(Departed(user.nick, user.user, user.host, user.realname, int(when)))

    def set_invisible(self, client, invisible):
        if client.invisible != invisible:
            client.invisible = invisible
            if client.registered:
                self.invisible_count += 1 if invisible else -1

    def set_oper(self, client, oper):
        if client.oper != oper:
            client.oper = oper
            self.oper_count += 1 if oper else -1

    def neighbours(self, user, include_self=False):
        """Everyone who shares a channel with *user*, each once, in a stable order."""
        seen = {user: None} if include_self else {}
        for channel in user.channels.values():
            seen.update(dict.fromkeys(channel.members))
        if not include_self:
            seen.pop(user, None)
        return seen

    def forget(self, user, when):
        """Take *user* out of every table: its nick, its channels, its watches, the counts.
        Safe to call twice (what a failure that left it half gone falls back on)."""
        counted = user.registered and not user.gone
        user.gone = True
        self.clients.discard(user)
        self.registering.pop(user, None)
        if counted:
            self.remember(user, when)
            if isinstance(user, Client):
                self.user_count -= 1
                self.invisible_count -= user.invisible
                self.oper_count -= user.oper
            else:
                self.remote_count -= 1
        for nick in list(user.monitoring or ()):
            self.unmonitor(user, nick)
        if self.metadata:
            self.metadata.pop(user, None)
        if self.subscriptions:
            self.subscriptions.pop(user, None)
        self.drop_nick(user)
        for channel in list(user.channels.values()):
            self.remove_member(user, channel)

    def set_metadata(self, target, key, value):
        """Set *key* of *target* (a user or a channel) to *value*, or take it away (None)."""
        if value is not None:
            self.metadata.setdefault(target, {})[key] = value
            return
        values = self.metadata.get(target)
        if values is not None:
            values.pop(key, None)
            if not values:
                del self.metadata[target]

    def take_metadata(self, target, values):
        """*target*'s keys are *values* (a dict, or None for none), all at once."""
        if values:
            self.metadata[target] = dict(values)
        else:
            self.metadata.pop(target, None)

    def clear(self):
        """Everyone is gone at once (the server stops)."""
        for client in self.clients:
            client.gone = True
        self.clients.clear()
        self.registering.clear()
        self.nicks.clear()
        self.skeletons.clear()
        self.channels.clear()
        self.channel_skeletons.clear()
        self.metadata.clear()
        self.subscriptions.clear()

    # -- Channels -------------------------------------------------------------------------

    def add_member(self, user, name, wall_now):
        """Put *user* in channel *name*, making the channel (with *user* as its operator) if
        it does not exist; return the channel."""
        channel = self.channels.get(fold(name))
        if channel is None:
            channel = self.make_channel(name, wall_now)
            channel.members[user] = "@"
        else:
            channel.members[user] = ""
        channel.direct_audience = None
        user.channels[channel.folded] = channel  # the channel's key, not a copy per member
        return channel

    def make_channel(self, name, wall_now):
        """An empty channel *name* (a registered room, made to be joined): the caller drops
        it (:meth:`drop_channel`) if nobody joins."""
        channel = Channel(normalize(name), wall_now)
        self.channels[channel.folded] = channel
        self.channel_skeletons[skeleton(name)] = channel
        return channel

    def rename_channel(self, channel, name):
        """*channel* is called *name* from now on, in every table that knows it by name."""
        if self.channel_skeletons.get(skeleton(channel.name)) is channel:
            del self.channel_skeletons[skeleton(channel.name)]
        del self.channels[channel.folded]
        old = channel.folded
        channel.name, channel.folded = normalize(name), fold(name)
        self.channels[channel.folded] = channel
        self.channel_skeletons[skeleton(channel.name)] = channel
        for member in channel.members:
            del member.channels[old]
            member.channels[channel.folded] = channel

    def channel_lookalike(self, name):
        """The channel *name* only looks like (another name, the same skeleton), or None."""
        found = self.channel_skeletons.get(skeleton(name))
        return found if found is not None and found.folded != fold(name) else None

    def _forget_channel(self, channel):
        del self.channels[channel.folded]
        if self.metadata:
            self.metadata.pop(channel, None)
        if self.channel_skeletons.get(skeleton(channel.name)) is channel:
            del self.channel_skeletons[skeleton(channel.name)]

    def drop_channel(self, channel):
        """Forget *channel*, made by :meth:`make_channel`, if it is still empty."""
        if not channel.members and self.channels.get(channel.folded) is channel:
            self._forget_channel(channel)

    def remove_member(self, user, channel):
        """Take *user* out of *channel*; a channel left empty is gone."""
        del channel.members[user]
        channel.direct_audience = None
        del user.channels[fold(channel.name)]
        channel.ban_verdicts.pop(user, None)
        if not channel.members:
            self._forget_channel(channel)

    # -- MONITOR --------------------------------------------------------------------------

    def monitor(self, client, nick, limit):
        """*client* watches *nick*; False if its list already holds *limit* nicks."""
        key = fold(nick)
        if client.monitoring is None:
            client.monitoring = set()
        if key not in client.monitoring:
            if len(client.monitoring) >= limit:
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

    def watchers(self, nick):
        """The clients watching *nick* with MONITOR (empty if none)."""
        return self.monitors.get(fold(nick), ())


def _same(key, name):
    """*key*, or *name* itself where they are equal: one string kept instead of two."""
    return name if key == name else key
