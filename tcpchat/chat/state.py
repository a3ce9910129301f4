"""What the chat knows of a user (:class:`Client`) and of a channel (:class:`Channel`), and the
rules a channel's state decides by itself (who is banned, who may talk).

The operations that change them are :class:`~tcpchat.chat.chat.Chat`'s; moderation
(:mod:`tcpchat.commands.moderation`) sets a channel's modes and bans.
"""

from collections import namedtuple

from ..protocol.names import fold
from ..text.catalog import ENGLISH, _
from .encoding import Dialect, encoding_for

#: What a client that negotiated nothing has enabled.
NO_CAPS = frozenset()
#: Modes a new channel starts with.
NEW_CHANNEL_MODES = frozenset("nt")

#: Who a nick was, for WHOWAS: kept when its user quits or changes nick.
Departed = namedtuple("Departed", "nick user host realname when")


class Client:
    """One user: who it says it is, where it is, and what it negotiated."""

    __slots__ = (
        "conn", "out", "host", "dialect", "encoding", "nick", "user", "realname", "mask",
        "registered", "cap_negotiating", "caps", "password", "channels", "away", "invisible",
        "signon", "last_spoke", "gone", "invites", "oper", "wallops", "monitoring",
        "language", "account", "sasl", "bot",
    )

    def __init__(self, conn, dialect, wall_now):
        #: The :class:`~tcpchat.chat.connection.Connection` this user speaks over.
        self.conn = conn
        #: Where messages for this user are queued: its connection's output buffer (the same
        #: object, never rebound), or None once the connection is closing.  One attribute
        #: answers both "may anything more be queued?" and "where?" on the fan-out path.
        self.out = conn.outbuf
        self.host = _displayed_host(conn.peer)
        #: A :class:`~tcpchat.chat.encoding.Dialect`; None until the first line says which.
        self.dialect = dialect
        #: How messages are written for this user (see :func:`~tcpchat.chat.encoding.encoding_for`).
        self.encoding = encoding_for(dialect, ())
        #: The language it reads the server's sentences in (see tcpchat.text.catalog).
        self.language = ENGLISH
        self.nick = None
        self.user = None
        self.realname = ""
        #: nick!user@host, kept ready because every relayed message carries it.
        self.mask = None
        self.registered = False
        self.cap_negotiating = False
        #: The IRCv3 capabilities it enabled: one shared empty set until it asks for any
        #: (a set of its own would cost each idle connection 216 bytes).
        self.caps = NO_CAPS
        self.password = None
        #: fold(channel name) -> Channel, for the channels this client is in.
        self.channels = {}
        self.away = None
        self.invisible = False
        #: Wall-clock seconds, as a remote user's are: WHOIS shows the one, subtracts the
        #: other from now.
        self.signon = self.last_spoke = wall_now
        #: Removed from the chat: its nick is free and nobody can reach it.
        self.gone = False
        #: Channel -> None for the channels it was invited to and has not joined since
        #: (:func:`tcpchat.commands.moderation.invite`); None until the first invitation.
        self.invites = None
        #: A server operator (after OPER): may moderate any channel, KILL and WALLOPS.
        self.oper = False
        #: User mode +w: receives WALLOPS.
        self.wallops = False
        #: fold(nick) for each nick it watches with MONITOR; None until it watches any.
        self.monitoring = None
        #: The name of the account it is logged in to (user mode +r), or None.
        self.account = None
        #: Its SASL exchange under way (tcpchat.commands.sasl), or None.
        self.sasl = None
        #: User mode +B (IRCv3 bot-mode): its messages carry the ``bot`` tag, WHOIS says
        #: so (335), and WHO shows a ``B``.
        self.bot = False

    def __repr__(self):
        return f"<Client {self.nick or '*'} from {self.host}>"

    @property
    def target(self):
        """The name numerics are addressed to."""
        return self.nick or "*"

    @property
    def plain(self):
        return self.dialect is Dialect.PLAIN

    @property
    def secure(self):
        """Whether it is connected over TLS."""
        return self.conn.secure

    def set_dialect(self, dialect):
        self.dialect = dialect
        self._set_encoding(encoding_for(dialect, self.caps, self.language))

    def set_caps(self, caps):
        self.caps = caps
        self._set_encoding(encoding_for(self.dialect, caps, self.language))

    def set_language(self, language):
        self.language = language
        self._set_encoding(encoding_for(self.dialect, self.caps, language))

    def _set_encoding(self, encoding):
        self.encoding = encoding
        self._changed_audiences()

    def end_output(self):
        """Nothing more is queued for this user: its connection is closing."""
        self.out = None
        self._changed_audiences()

    def _changed_audiences(self):
        # The channels' audiences (tcpchat.chat.delivery.Audience) held this user as it was.
        for channel in self.channels.values():
            channel.direct_audience = None


class RemoteUser:
    """A user of the chat served by another node: a member of channels and a holder of a nick
    like any :class:`Client`, but with no connection here.  Its ``out`` is None, so local
    delivery passes it by, while the events about it are still made for every consumer (a
    cluster bus carries them to its node).

    It has the attributes that commands read of any user (WHOIS, NAMES, WHO, moderation);
    what only a local connection has (``conn``, an Encoding) is None.
    """

    __slots__ = ("node", "uid", "nick", "user", "host", "realname", "mask", "away",
                 "invisible", "oper", "secure", "channels", "signon", "last_spoke", "invites",
                 "gone", "account", "bot")

    out = conn = encoding = dialect = monitoring = None
    caps = NO_CAPS
    registered = True
    plain = wallops = False

    def __init__(self, node, nick, user, host, realname, signon, uid=None):
        #: The node that serves it, and its id in the cluster.
        self.node = node
        self.uid = uid
        self.account = None
        self.bot = False
        self.nick, self.user, self.host, self.realname = nick, user, host, realname
        self.mask = f"{nick}!{user}@{host}"
        self.away = None
        self.invisible = self.oper = self.secure = self.gone = False
        self.channels = {}
        self.signon = self.last_spoke = signon
        self.invites = None

    def __repr__(self):
        return f"<RemoteUser {self.nick} on {self.node}>"

    @property
    def target(self):
        return self.nick


def _displayed_host(address):
    """The host part of a user's mask, for a peer address string."""
    if address.startswith("::ffff:") and "." in address:
        return address[7:]  # an IPv4 peer on a dual-stack socket
    # A host like "::1" would start with ":" and read as a trailing parameter in numerics.
    return "0" + address if address.startswith(":") else address


class Channel:
    """A channel and its rules (see :mod:`tcpchat.commands.moderation`, which changes them)."""

    __slots__ = ("name", "folded", "members", "topic", "topic_by", "topic_at", "created",
                 "modes", "key", "limit", "bans", "ban_pattern", "ban_verdicts", "gated",
                 "comings", "excepts", "invex", "except_pattern", "invex_pattern",
                 "mute_pattern", "account_bans", "direct_audience")

    def __init__(self, name, wall_now):
        self.name = name
        #: fold(name): the key the registry and the history store know it by, made once.
        self.folded = fold(name)
        #: Client -> its prefixes, highest first: "@" operator, "+" voiced, "@+", or "".
        #: Kept in joining order.
        self.members = {}
        self.topic = ""
        self.topic_by = ""
        self.topic_at = 0
        self.created = int(wall_now)
        #: The flag modes set (letters of ``moderation.FLAG_MODES``).
        self.modes = set(NEW_CHANNEL_MODES)
        self.key = None
        self.limit = None
        #: :class:`~tcpchat.commands.moderation.Ban` entries, oldest first, and one compiled pattern
        #: matching the plain masks among them all (None when there are none); the extended
        #: bans' own: ``m:MASK`` (muted: may join, may not talk) and ``a:ACCOUNT``.
        self.bans = []
        self.ban_pattern = self.mute_pattern = self.account_bans = None
        #: Ban exceptions (+e) and invite exceptions (+I), and their patterns, as the bans.
        self.excepts, self.invex = [], []
        self.except_pattern = self.invex_pattern = None
        #: Member -> (its mask, whether the bans match it): asked on each message of a member
        #: with no prefix, so kept until the bans or its mask change.
        self.ban_verdicts = {}
        #: Whether a rule (``+m``, a ban) could stop a member without a prefix from talking:
        #: while false, such a member's message is relayed with no further check.
        self.gated = False
        #: While crowded: ``(joined, left)``, the nicks its plain members have not been told
        #: of yet (see tcpchat.chat.local); None otherwise.
        self.comings = None
        #: Its members as one :class:`~tcpchat.chat.delivery.Audience`, made on its first
        #: message while the driver is quiet; False if none is on a transport the driver
        #: sends to itself; None until made, and again whenever its members, their Encodings
        #: or their connections change.
        self.direct_audience = None

    @property
    def crowded(self):
        """Its comings and goings are told a window at a time (it has more members than
        ``Config.crowd``: see tcpchat.chat.local), and the history keeps none of them."""
        return self.comings is not None

    def prefixed(self, client, every_prefix=False):
        """*client*'s nick after its highest prefix, or all of them (IRCv3 multi-prefix)."""
        rank = self.members[client]
        return (rank if every_prefix else rank[:1]) + client.nick

    @property
    def secret(self):
        return "s" in self.modes

    def visible_to(self, client):
        """Whether *client* may know this channel exists: a secret (+s) one only to its
        members and server operators."""
        return "s" not in self.modes or client in self.members or client.oper

    def audience(self, actor):
        """Who sees what *actor* does to the channel: its members, and *actor* too if it acts
        from outside (a server operator)."""
        members = self.members
        return members if actor in members else [*members, actor]


def is_banned(channel, client):
    """Whether a ban of *channel* (``nick!user@host``, or ``a:`` its account) matches
    *client*, and no ban exception (+e) does."""
    if channel.ban_pattern is None and channel.account_bans is None:
        return False
    verdict = channel.ban_verdicts.get(client)
    # (Kept until the mask or the account it was made for changes: an a: ban reads the one.)
    if verdict is not None and verdict[0] is client.mask and verdict[1] is client.account:
        return verdict[2]
    mask = fold(client.mask)
    banned = ((channel.ban_pattern is not None and channel.ban_pattern.matches(mask))
              or (channel.account_bans is not None and client.account is not None
                  and channel.account_bans.matches(fold(client.account))))
    if banned and _excepted(channel, mask):
        banned = False
    if client in channel.members:  # a member asks again with each message
        channel.ban_verdicts[client] = (client.mask, client.account, banned)
    return banned


def _excepted(channel, mask):
    """Whether a ban exception (+e) of *channel* matches the folded *mask*."""
    return channel.except_pattern is not None and channel.except_pattern.matches(mask)


def speech_refusal(channel, client):
    """Why *client* may not talk in *channel*, in a few words; None if it may.

    The chat asks only for non-members and for members with no prefix in a channel with a
    rule that could stop them (``Channel.gated``): the rest of the time it costs nothing.
    """
    rank = channel.members.get(client)
    if rank or client.oper:
        return None
    if rank is None and "n" in channel.modes:
        return _("you are not in it (+n)")
    if "m" in channel.modes:
        return _("it is moderated (+m) and you have no voice")
    if is_banned(channel, client):
        return _("you are banned (+b)")
    if channel.mute_pattern is not None:
        mask = fold(client.mask)
        if channel.mute_pattern.matches(mask) and not _excepted(channel, mask):
            return _("you are muted (+b m:)")
    return None
