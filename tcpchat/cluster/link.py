"""One node's side of a cluster: its events out as records, the other nodes' records in as
events, with no I/O.

Theory of operation.  Every node holds the whole chat: its own users (local
:class:`~tcpchat.chat.state.Client` objects) and everyone else's as
:class:`~tcpchat.chat.state.RemoteUser` objects in the same registry, members of the same
channels.  So NAMES, WHO, WHOIS, WHOWAS, LIST, MONITOR and the rest answer from memory, with
no round trip, and a message to a room is one record however many nodes and members it has.

- Out.  :class:`ClusterLink` is a consumer of the chat's events (:mod:`tcpchat.chat.events`).
  An event whose actor is a local user becomes one record (a dict, JSON once the bus has it)
  that the bus publishes to every node, with the writes that keep the cluster's shared state
  current (this node's users, the rooms' modes and topics), made atomically with it.  An
  event whose actor is remote happened elsewhere, and is not sent back.
- In.  :meth:`ClusterLink.received` applies other nodes' records to the registry and tells
  the chat's consumers (:meth:`tcpchat.chat.chat.Chat.tell`): local delivery shows them to this
  node's users, the history keeps them, with the msgid and time they were given where they
  happened.  Applying is idempotent (a join of a member, the quit of someone unknown, do
  nothing): a record may cross the snapshot a node reads when it (re)joins.
- Nicks.  A nick is taken for good only once the cluster agrees (:meth:`ClusterLink.claim`):
  the bus claims it atomically in the shared state, while the user's connection waits.
- Split and whole.  When the bus loses its connection, the node is *split*: its users keep
  talking among themselves, new nicks and joins are refused with 437, and they are told once.
  When the bus is back, the node hands it its whole local state (:meth:`connected`), the bus
  claims its nicks again and reads everyone else's, and :meth:`whole` reconciles: who came
  and went meanwhile is shown as joins and quits, and a local user whose nick another node's
  user took meanwhile is renamed.

The bus (:mod:`tcpchat.transports.redisbus`, or :class:`tcpchat.cluster.memory.MemoryBus`)
offers ``publish(record, writes)``, ``claim(nick, uid, done)``, ``release(nick, uid, keep)``
and ``resync(users, rooms)``; none of them waits.
"""

import itertools
import logging

from ..chat import events
from ..chat.state import Channel, Client, RemoteUser
from ..commands.moderation import Ban, set_lists
from ..commands import markers
from ..commands.serverinfo import killed
from ..protocol import numerics as rpl
from ..protocol.names import fold
from ..store.accounts import MARKER
from ..store.base import STORED_KINDS, Bound, Entry, entries_of
from ..text.catalog import _

log = logging.getLogger("tcpchat")

#: The most entries of one target a node looks at in its own store when it fills what it
#: missed (see ClusterLink._fill_history): the cluster keeps about 1000.
FILL_LIMIT = 10_000


class ClusterLink:
    """This node's part in the cluster: consumes *chat*'s events, applies other nodes'."""

    def __init__(self, chat, node, name, bus):
        self.chat = chat
        #: This node's id (unique in the cluster for this run) and its server name.
        self.node, self.name = node, name
        self.bus = bus
        #: Local registered (or registering, once they claimed a nick) clients -> their id.
        self.uids = {}
        self._local = {}  # uid -> local Client
        #: uid -> RemoteUser, for every other node's user.
        self.users = {}
        # fold(nick) -> the remote users this node knows by that nick: more than one only
        # for a moment, while the record that one let it go is on its way (see _hold).
        self._nicks = {}
        #: node -> server name, for the nodes there are (this one too).
        self.nodes = {node: name}
        self._serial = itertools.count(1)
        #: The bus took this node's state since it last (re)connected: events go out.
        self.joined = False
        #: The node has the cluster's state: nicks can be claimed, rooms joined.
        self.whole = False
        #: Until the node is whole for the first time (it starts), claims wait rather than
        #: being refused: what resumes each (its client paused meanwhile); None after.
        self._starting = []
        # Whether this node's users were told it is split (and so must hear it is whole).
        self._told_split = False
        chat.cluster = self
        outgoing = {
            events.Registration: self._registration,
            events.NickChange: self._nick, events.Join: self._join, events.Part: self._part,
            events.Kick: self._kick, events.Talk: self._talk, events.TopicChange: self._topic,
            events.ModeChange: self._mode, events.Invite: self._invite,
            events.Away: self._away, events.RealnameChange: self._setname,
            events.Wallops: self._wallops, events.Redaction: self._redact,
            events.AccountChange: self._account, events.UserModeChange: self._umode,
            events.MetadataChange: self._metadata, events.Rename: self._room_rename,
        }
        for kind, send in outgoing.items():
            chat.add_consumer(self._local_only(send), (kind,))
        chat.add_consumer(self._quit, (events.Quit,))
        # What the history keeps of this node's events is kept in Redis too, for the nodes
        # that did not see it (started later, split away): see whole_again.
        chat.add_consumer(self._local_only(self._keep_history),
                          tuple(kind for kind in STORED_KINDS if kind is not events.Talk))
        # Accounts and registered rooms are the cluster's: a change made here is shared.
        chat.accounts.shared = self._share_record
        self._incoming = {
            "user": self._apply_user, "quit": self._apply_quit, "nick": self._apply_nick,
            "join": self._apply_join, "part": self._apply_part, "kick": self._apply_kick,
            "talk": self._apply_talk, "topic": self._apply_topic, "mode": self._apply_mode,
            "invite": self._apply_invite, "away": self._apply_away,
            "setname": self._apply_setname, "wallops": self._apply_wallops,
            "redact": self._apply_redact, "account": self._apply_account,
            "umode": self._apply_umode, "node": self._apply_node, "gone": self._apply_gone,
            "kill": self._apply_kill, "record": self._apply_record, "meta": self._apply_meta,
            "rename": self._apply_room_rename,
        }

    def _local_only(self, send):
        """*send*, for events whose actor is one of this node's users (and while the bus has
        this node's state: what happens before is in the state it is given)."""
        def consume(event):
            if self.joined and event.user.__class__ is Client:
                send(event)
        return consume

    # -- What the chat asks ---------------------------------------------------------------

    def claim(self, client, nick, then):
        """See :meth:`tcpchat.chat.chat.Chat.claim`."""
        if self._starting is not None:
            self._wait_for_start(client, nick, then)
            return
        if not self.whole:
            then((rpl.ERR_UNAVAILRESOURCE, self.split_refusal()))
            return
        uid = self._uid(client)
        bus = self.bus

        def start(finished):
            def answered(result):
                if result and client.gone:  # it left while the cluster was asked
                    bus.release(nick, uid)
                finished(result)
            return bus.claim(nick, uid, answered)

        def done(result):
            if result:
                then(None)
            elif result is False:
                then((rpl.ERR_NICKNAMEINUSE, _("Nickname is already in use")))
            else:
                then((rpl.ERR_UNAVAILRESOURCE, self.split_refusal()))

        if not self.chat.paused_while(client, start, done):
            then((rpl.ERR_UNAVAILRESOURCE, self.split_refusal()))

    def _wait_for_start(self, client, nick, then):
        """The node has not reached the cluster yet: *client* waits, paused, until it has."""
        def start(finished):
            self._starting.append(finished)
            return True
        self.chat.paused_while(client, start, lambda _nothing: self.claim(client, nick, then))

    def _end_start(self):
        """The node reached the cluster, or failed to: the claims that waited go on."""
        starting, self._starting = self._starting, None
        for finished in starting or ():
            finished(None)  # each claims its nick now (or is refused, split)

    def split_refusal(self):
        """Why a nick or a join cannot be let through now (the cluster's state is out of
        reach), or None: they can."""
        if self.whole:
            return None
        return _("The chat is split just now: this cannot be checked with the other servers; "
                 "try again in a moment")

    def forgotten(self, client):
        """*client* is out of the chat: one that never registered is forgotten here too (a
        registered one, once its Quit is told)."""
        if not client.registered:
            self._forget_uid(client)

    def _forget_uid(self, client):
        uid = self.uids.pop(client, None)
        self._local.pop(uid, None)
        return uid

    def _uid(self, client):
        uid = self.uids.get(client)
        if uid is None:
            uid = self.uids[client] = f"{self.node}.{next(self._serial)}"
            self._local[uid] = client
        return uid

    def server_count(self):
        """The nodes there are, this one too (LUSERS)."""
        return len(self.nodes)

    def server_of(self, user):
        """The name of the node that serves *user* (WHOIS)."""
        if user.__class__ is RemoteUser:
            return self.nodes.get(user.node, user.node)
        return self.name

    def kill(self, client, user, reason):
        """*client*, a server operator here, KILLs remote *user*: its node lets it go."""
        self._send({"t": "kill", "u": self.uids[client], "victim": user.uid,
                    "reason": reason})

    # -- Out: this node's events as records -----------------------------------------------

    def _send(self, record, writes=()):
        self.bus.publish(record, writes)

    def _user_writes(self, client, without=None):
        uid = self.uids[client]
        return (("user", uid, self._user_record(client, without)),)

    def _user_record(self, client, without=None):
        return {
            "uid": self.uids[client], "node": self.node, "nick": client.nick,
            "user": client.user, "host": client.host, "realname": client.realname,
            "signon": client.signon, "away": client.away, "invisible": client.invisible,
            "oper": client.oper, "secure": client.secure, "account": client.account,
            "bot": client.bot, "metadata": dict(self.chat.registry.metadata.get(client, {})),
            "channels": [channel.name for channel in client.channels.values()
                         if channel is not without],
        }

    def _room_record(self, channel):
        return {
            "name": channel.name, "created": channel.created, "topic": channel.topic,
            "topic_by": channel.topic_by, "topic_at": channel.topic_at,
            "modes": "".join(sorted(channel.modes)), "key": channel.key,
            "limit": channel.limit,
            **{name: [[entry.mask, entry.by, entry.at] for entry in getattr(channel, name)]
               for name in ("bans", "excepts", "invex")},
            "ranks": {self._uid_of(member): rank for member, rank in channel.members.items()
                      if rank},
            "metadata": dict(self.chat.registry.metadata.get(channel, {})),
        }

    def _uid_of(self, user):
        return user.uid if user.__class__ is RemoteUser else self.uids[user]

    def _registration(self, event):
        client = event.user
        self._uid(client)  # claimed already, unless the cluster came after it registered
        record = self._user_record(client)
        self._send({"t": "user", "u": record}, (("user", record["uid"], record),))

    def _quit(self, event):
        """(Even while split: the user is forgotten here, and its claim goes at the next
        resync, which drops the claims of users this node no longer has.)"""
        client = event.user
        if client.__class__ is not Client:
            return
        uid = self._forget_uid(client)
        if uid is None or not self.joined:
            return
        writes = [("unuser", uid)]
        writes += [("unroom", channel.folded) for channel in event.channels
                   if not channel.members]
        self._send({"t": "quit", "u": uid, "reason": event.reason, "w": event.time,
                    "i": event.id}, writes)
        self.bus.release(client.nick, uid)

    def _nick(self, event):
        client = event.user
        self._send({"t": "nick", "u": self.uids[client], "nick": client.nick, "w": event.time,
                    "i": event.id}, self._user_writes(client))
        self.bus.release(event.old_nick, self.uids[client], keep=client.nick)

    def _join(self, event):
        client, channel = event.user, event.channel
        record = {"t": "join", "u": self.uids[client], "room": channel.name,
                  "rank": channel.members[client], "w": event.time, "i": event.id}
        writes = self._user_writes(client)
        if len(channel.members) == 1 or channel.members[client]:  # new, or it has a rank
            record["state"] = room = self._room_record(channel)
            writes += (("room", channel.folded, room),)
        self._send(record, writes)

    def _part(self, event):
        client, channel = event.user, event.channel  # still a member: it is taken out next
        self._send({"t": "part", "u": self.uids[client], "room": channel.folded,
                    "reason": event.reason, "w": event.time, "i": event.id},
                   self._user_writes(client, without=channel) + self._emptied(channel))

    def _kick(self, event):
        channel, victim = event.channel, event.victim
        writes = self._emptied(channel)
        if victim.__class__ is Client:
            writes += self._user_writes(victim, without=channel)
        self._send({"t": "kick", "u": self.uids[event.user], "room": channel.folded,
                    "victim": self._uid_of(victim), "reason": event.reason, "w": event.time,
                    "i": event.id}, writes)

    def _emptied(self, channel):
        """The write that forgets *channel*, whose one member is leaving, or none."""
        return (("unroom", channel.folded),) if len(channel.members) == 1 else ()

    def _talk(self, event):
        channel, recipient = event.channel, event.recipient
        record = {"t": "talk", "u": self.uids[event.user], "c": event.command,
                  "x": event.text, "g": event.tags, "w": event.time, "i": event.id}
        if event.lines is not None:
            record["l"] = event.lines
        if channel is not None:
            record["room"] = channel.folded
            if event.status is not None:
                record["s"] = event.status
        elif recipient.__class__ is RemoteUser:
            record["to"] = recipient.uid
        else:
            return  # between two users of this node
        self.bus.publish(record, self._history_writes(event) if self.chat.history else ())

    def _keep_history(self, event):
        if self.chat.history is None:
            return
        if event.__class__ is events.Redaction:
            self.bus.publish(None, (("unhistory", fold(event.channel.name), event.target_id),))
        else:
            writes = self._history_writes(event)
            if writes:
                self.bus.publish(None, writes)

    @staticmethod
    def _history_writes(event):
        """The writes that keep *event*'s history entries in Redis: one a target."""
        return tuple(("history", fold(entry.target), list(entry[1:]))
                     for entry in entries_of(event))

    def _topic(self, event):
        channel = event.channel
        room = self._room_record(channel)
        self._send({"t": "topic", "u": self.uids[event.user], "source": event.source,
                    "room": channel.folded, "topic": channel.topic, "by": channel.topic_by,
                    "at": channel.topic_at, "w": event.time, "i": event.id},
                   (("room", channel.folded, room),))

    def _mode(self, event):
        channel = event.channel
        room = self._room_record(channel)
        self._send({"t": "mode", "u": self.uids[event.user], "source": event.source,
                    "room": channel.folded, "changes": list(event.changes), "state": room,
                    "w": event.time, "i": event.id}, (("room", channel.folded, room),))

    def _invite(self, event):
        if event.invitee.__class__ is RemoteUser:
            self._send({"t": "invite", "u": self.uids[event.user], "to": event.invitee.uid,
                        "room": event.channel.folded, "w": event.time, "i": event.id})

    def _away(self, event):
        self._send({"t": "away", "u": self.uids[event.user], "text": event.text,
                    "w": event.time, "i": event.id}, self._user_writes(event.user))

    def _setname(self, event):
        self._send({"t": "setname", "u": self.uids[event.user], "realname": event.realname,
                    "w": event.time, "i": event.id}, self._user_writes(event.user))

    def _wallops(self, event):
        self._send({"t": "wallops", "u": self.uids[event.user], "text": event.text,
                    "w": event.time, "i": event.id})

    def _metadata(self, event):
        target = event.target
        record = {"t": "meta", "u": self.uids[event.user], "k": event.key, "v": event.value,
                  "w": event.time}
        if target.__class__ is Channel:
            record["room"] = target.folded
            self._send(record, (("room", target.folded, self._room_record(target)),))
        else:  # the user's own
            self._send(record, self._user_writes(target))

    def _room_rename(self, event):
        channel, old = event.channel, fold(event.old_name)
        writes = [("room", channel.folded, self._room_record(channel))]
        if old != channel.folded:
            writes[:0] = [("unroom", old), ("rehistory", old, channel.folded)]
        self._send({"t": "rename", "u": self.uids[event.user], "room": old,
                    "name": channel.name, "reason": event.reason, "w": event.time,
                    "i": event.id}, writes + self._members_writes(channel))

    def _members_writes(self, channel):
        """The writes of this node's members of *channel*, whose records name it."""
        return [write for member in channel.members if member.__class__ is Client
                for write in self._user_writes(member)]

    def _redact(self, event):
        self._send({"t": "redact", "u": self.uids[event.user], "room": event.channel.folded,
                    "target": event.target_id, "reason": event.reason, "w": event.time,
                    "i": event.id})

    def _account(self, event):
        self._send({"t": "account", "u": self.uids[event.user], "account": event.account,
                    "w": event.time, "i": event.id}, self._user_writes(event.user))

    def _umode(self, event):
        client = event.user
        self._send({"t": "umode", "u": self.uids[client], "invisible": client.invisible,
                    "oper": client.oper, "bot": client.bot}, self._user_writes(client))

    def _share_record(self, kind, key, data):
        """An account or a registered room changed here (tcpchat.store.accounts)."""
        if self.joined:
            self._send({"t": "record", "kind": kind, "key": key, "data": data},
                       (("record", kind, key, data),))

    # -- In: the bus's news, on the loop ---------------------------------------------------

    def connected(self):
        """The bus (re)connected: it gets this node's whole state, to claim its users' nicks
        again and publish them, before it reads everyone else's."""
        users = [self._user_record(client) for client in self.uids
                 if client.registered and not client.gone]
        rooms = {}
        for client in self.uids:
            for channel in client.channels.values():
                rooms.setdefault(channel.folded, self._room_record(channel))
        self.bus.resync(users, rooms, self.chat.accounts.records())
        self.joined = True

    def whole_again(self, snapshot, collisions=()):
        """The bus read the cluster's state (*snapshot*: ``nodes``, ``users``, ``rooms``,
        ``records``) after handing it this node's: bring the registry and the accounts to it.
        *collisions*: the uids of this node's users whose nick another node's user took while
        they were apart."""
        self.nodes = {self.node: self.name, **snapshot["nodes"]}
        accounts = self.chat.accounts
        for kind, key, data in snapshot.get("records", ()):
            accounts.take(kind, key, data)
        self._fill_history(snapshot.get("history", {}))
        present = {record["uid"]: record for record in snapshot["users"]
                   if record["node"] != self.node}
        for uid in [uid for uid in self.users if uid not in present]:
            self._remote_quit(self.users[uid], self._split_reason(self.users[uid].node))
        rooms = snapshot["rooms"]
        for record in present.values():
            self._sync_user(record, rooms)
        for folded, room in rooms.items():
            channel = self.chat.registry.channels.get(folded)
            if channel is not None:
                self._take_modes(channel, room)
                self._take_topic(channel, room)
        self.whole = True
        self._end_start()
        for uid in collisions:
            client = self._local.get(uid)
            if client is not None and client.registered:
                self._rename_collided(client)
        if self._told_split:
            self._told_split = False
            self._tell_everyone(_("*** The chat is whole again: everyone on every server can "
                                  "be reached."))
        log.info("cluster: whole, %d nodes, %d users elsewhere", len(self.nodes),
                 len(self.users))

    def _fill_history(self, kept):
        """What the cluster kept of each target's history (*kept*: key -> entries, oldest
        first) that this node's store lacks: a node that started later, or was split away,
        then answers CHATHISTORY as the others do (what it missed comes after what it has)."""
        store = self.chat.history
        if store is None:
            return
        for key, entries in kept.items():
            # A room renamed since keeps its list under its new key, but each entry names the
            # room as it was: this node keeps them under the key, the name it has now.
            entries = [Entry(None, msgid, target if fold(target) == key else key, when, command,
                             source, tuple(params), tags)
                       for msgid, target, when, command, source, params, tags in entries]
            if not entries:
                continue
            # What it holds from the oldest of them on (a clock set back aside): its own lines
            # of a split, which the cluster never had, count too.
            since = Bound.at_time(min(entry.time for entry in entries) - 1.0)
            held = {entry.msgid for entry in store.page(entries[0].target, after=since,
                                                        limit=FILL_LIMIT)}
            missing = [entry for entry in entries if entry.msgid not in held]
            if missing:
                store.take(missing)

    def split(self):
        """The bus lost its connection (or its queue overflowed): until it is whole again,
        what needs the other nodes is refused."""
        self._end_start()
        if not self.joined and not self.whole:
            return
        self.joined = self.whole = False
        if not self._told_split:
            self._told_split = True
            self._tell_everyone(self.split_refusal().join(("*** ", ".")))
        log.warning("cluster: split from the other nodes")

    def lost(self):
        """Apart for longer than the other nodes wait: they have let this node's users go,
        and this one lets theirs go (a netsplit, as both sides see it)."""
        for user in list(self.users.values()):
            self._remote_quit(user, self._split_reason(user.node))
        self.nodes = {self.node: self.name}

    def received(self, records):
        """Records other nodes published, in order."""
        handlers = self._incoming
        for record in records:
            handler = handlers.get(record.get("t"))
            if handler is None:
                log.warning("cluster: unknown record %.80r", record)
                continue
            try:
                handler(record)
            except (KeyError, TypeError, ValueError, AttributeError):
                log.exception("cluster: a record that does not fit: %.200r", record)

    # -- In: each kind of record ----------------------------------------------------------

    def _tell_everyone(self, text):
        for client in list(self.chat.registry.clients):
            if client.registered and client.out is not None:
                self.chat.delivery.notice(client, text)

    def _split_reason(self, node):
        return f"{self.name} {self.nodes.get(node, node)}"  # as IRC shows a netsplit

    def _id(self, msgid):
        """The msgid an event was given where it happened, or one of this node's for what
        this node saw for itself (a netsplit, a reconciliation)."""
        return msgid if msgid is not None else self.chat.new_msgid()

    def _sender(self, record):
        """The remote user a record is from, or None (one this node does not know)."""
        return self.users.get(record["u"])

    def _channel(self, record):
        return self.chat.registry.channels.get(record["room"])

    def _apply_node(self, record):
        self.nodes[record["node"]] = record["name"]

    def _apply_gone(self, record):
        node = record["node"]
        if node == self.node:
            return  # the bus reconnects and heals
        reason = self._split_reason(node)
        for user in [user for user in self.users.values() if user.node == node]:
            self._remote_quit(user, reason)
        self.nodes.pop(node, None)

    def _apply_user(self, record):
        self._sync_user(record["u"], {})

    def _sync_user(self, record, rooms):
        """Make the registry hold the remote user *record* describes as it is: added (with
        its joins), or brought up to date (nick, channels, what it says of itself)."""
        uid = record["uid"]
        user = self.users.get(uid)
        now = self.chat.wall_clock()
        if user is None:
            user = RemoteUser(record["node"], record["nick"], record["user"], record["host"],
                              record["realname"], record["signon"], uid)
            self._fill(user, record)
            self.users[uid] = user
            self.chat.registry.add_remote(user, hold=False)
            self.chat.registry.take_metadata(user, record.get("metadata"))
            self._hold(user)
            self.chat.tell_monitors(user.nick, user.mask)
        else:
            if user.nick != record["nick"]:
                self._rename(user, record["nick"], now, None)
            self._fill(user, record)
            self.chat.registry.take_metadata(user, record.get("metadata"))
        wanted = {fold(name): name for name in record["channels"]}
        for folded in [folded for folded in user.channels if folded not in wanted]:
            self._remote_part(user, user.channels[folded], "", now, None)
        for folded, name in wanted.items():
            if folded not in user.channels:
                self._remote_join(user, name, rooms.get(folded), now, None)

    def _hold(self, user):
        """The nick table points at remote *user* for its nick, unless a registered user
        holds it already.  Records of different nodes may cross: a record that one gave a
        nick up (a QUIT, a NICK) can come after one that another took it, and that other,
        which the cluster let claim it, keeps it."""
        key = fold(user.nick)
        self._nicks.setdefault(key, set()).add(user)
        holder = self.chat.registry.nicks.get(key)
        if holder is None or holder is user or not holder.registered:
            self.chat.registry.hold_nick(user)

    def _unhold(self, user, nick):
        """Remote *user* no longer goes by *nick*: the table lets it go, and points at another
        remote user known by it, if one is waiting."""
        key = fold(nick)
        known = self._nicks.get(key)
        if known is not None:
            known.discard(user)
            if not known:
                del self._nicks[key]
        registry = self.chat.registry
        if registry.nicks.get(key) is user:
            registry.drop_nick(user)
        if known and key not in registry.nicks:
            self.chat.registry.hold_nick(next(iter(known)))

    @staticmethod
    def _fill(user, record):
        user.realname, user.away = record["realname"], record["away"]
        user.invisible, user.oper = record["invisible"], record["oper"]
        user.secure, user.account, user.bot = record["secure"], record["account"], record["bot"]

    def _apply_quit(self, record):
        user = self._sender(record)
        if user is not None:
            self._remote_quit(user, record["reason"], record["w"], record["i"])

    def _remote_quit(self, user, reason, when=None, msgid=None):
        chat = self.chat
        del self.users[user.uid]
        channels = tuple(user.channels.values())
        chat.delivery.flush_batch()  # before the members change
        chat.registry.forget(user, chat.wall_clock())
        self._unhold(user, user.nick)
        chat.tell(events.Quit(user, user.mask, reason, channels,
                              chat.wall_clock() if when is None else when, self._id(msgid)))
        chat.tell_monitors(user.nick, None)

    def _apply_nick(self, record):
        user = self._sender(record)
        if user is not None and user.nick != record["nick"]:
            self._rename(user, record["nick"], record["w"], record["i"])

    def _rename(self, user, nick, when, msgid):
        chat = self.chat
        old_nick, old_mask = user.nick, user.mask
        chat.registry.remember(user, when)
        self._unhold(user, old_nick)
        user.nick = nick
        self._hold(user)
        user.mask = f"{user.nick}!{user.user}@{user.host}"
        chat.tell(events.NickChange(user, old_mask, old_nick, when, self._id(msgid)))
        if fold(old_nick) != fold(nick):
            chat.tell_monitors(old_nick, None)
            chat.tell_monitors(user.nick, user.mask)

    def _apply_join(self, record):
        user = self._sender(record)
        if user is not None:
            self._remote_join(user, record["room"], record.get("state"), record["w"],
                              record["i"], record["rank"])

    def _remote_join(self, user, name, room, when, msgid, rank=None):
        chat = self.chat
        folded = fold(name)
        if folded in user.channels:
            return
        chat.delivery.flush_batch()  # before the members change
        channel = chat.registry.channels.get(folded)
        if channel is None:
            channel = chat.registry.make_channel(name, when or chat.wall_clock())
            if room is not None:
                channel.created = room["created"]
                self._take_modes(channel, room)
                self._take_topic(channel, room)
        if rank is None:
            rank = room["ranks"].get(user.uid, "") if room is not None else ""
        channel.members[user] = rank
        user.channels[channel.folded] = channel
        chat.tell(events.Join(user, user.mask, channel, chat.wall_clock() if when is None
                              else when, self._id(msgid)))

    def _apply_part(self, record):
        user, channel = self._sender(record), self._channel(record)
        if user is not None and channel is not None and user in channel.members:
            self._remote_part(user, channel, record["reason"], record["w"], record["i"])

    def _remote_part(self, user, channel, reason, when, msgid):
        chat = self.chat
        chat.tell(events.Part(user, user.mask, channel, reason, when, self._id(msgid)))
        chat.delivery.flush_batch()
        chat.registry.remove_member(user, channel)

    def _apply_kick(self, record):
        user, channel = self._sender(record), self._channel(record)
        victim = self.users.get(record["victim"]) or self._local.get(record["victim"])
        if user is None or channel is None or victim not in channel.members:
            return
        chat = self.chat
        chat.tell(events.Kick(user, user.mask, channel, victim, record["reason"], record["w"],
                              record["i"]))
        chat.delivery.flush_batch()
        chat.registry.remove_member(victim, channel)
        if victim.__class__ is Client:  # this node keeps its users' state
            self.bus.publish(None, self._user_writes(victim))

    def _apply_talk(self, record):
        user = self._sender(record)
        if user is None:
            return
        channel = recipient = None
        if "room" in record:
            channel = self._channel(record)
            if channel is None:
                return
        else:
            recipient = self._local.get(record["to"])
            if recipient is None or not recipient.registered:
                return  # for another node's user
        lines = record.get("l")
        event = events.Talk(user, user.mask, record["c"], channel, recipient, record["x"],
                            record["g"], record["w"], record["i"], record.get("s"),
                            None if lines is None else tuple(map(tuple, lines)))
        user.last_spoke = event.time
        self.chat.tell(event)  # (301 for an away recipient: the sender's node answered it)

    def _apply_topic(self, record):
        user, channel = self._sender(record), self._channel(record)
        if user is None or channel is None:
            return
        channel.topic, channel.topic_by, channel.topic_at = (record["topic"], record["by"],
                                                              record["at"])
        self.chat.tell(events.TopicChange(user, record["source"], channel, channel.topic,
                                          record["w"], record["i"]))

    def _apply_mode(self, record):
        user, channel = self._sender(record), self._channel(record)
        if user is None or channel is None:
            return
        self._take_modes(channel, record["state"])
        self.chat.tell(events.ModeChange(user, record["source"], channel,
                                         tuple(record["changes"]), record["w"], record["i"]))

    def _take_modes(self, channel, room):
        channel.modes = set(room["modes"])
        channel.key, channel.limit = room["key"], room["limit"]
        set_lists(channel, **{name: [Ban(*entry) for entry in room.get(name, ())]
                              for name in ("bans", "excepts", "invex")})
        ranks = room["ranks"]
        for member in channel.members:
            channel.members[member] = ranks.get(self._uid_of(member), "")
        self.chat.registry.take_metadata(channel, room.get("metadata"))

    @staticmethod
    def _take_topic(channel, room):
        channel.topic, channel.topic_by, channel.topic_at = (room["topic"], room["topic_by"],
                                                              room["topic_at"])

    def _apply_invite(self, record):
        user, channel = self._sender(record), self._channel(record)
        invitee = self._local.get(record["to"])
        if user is None or channel is None or invitee is None or not invitee.registered:
            return
        if invitee.invites is None:
            invitee.invites = {}
        invitee.invites[channel] = None
        self.chat.tell(events.Invite(user, user.mask, invitee, channel, record["w"],
                                     record["i"]))

    def _apply_away(self, record):
        user = self._sender(record)
        if user is not None:
            user.away = record["text"]
            self.chat.tell(events.Away(user, user.mask, user.away, record["w"], record["i"]))

    def _apply_setname(self, record):
        user = self._sender(record)
        if user is not None:
            user.realname = record["realname"]
            self.chat.tell(events.RealnameChange(user, user.mask, user.realname, record["w"],
                                                 record["i"]))

    def _apply_wallops(self, record):
        user = self._sender(record)
        if user is not None:
            self.chat.tell(events.Wallops(user, user.mask, record["text"], record["w"],
                                          record["i"]))

    def _apply_meta(self, record):
        user = target = self._sender(record)
        if user is not None and "room" in record:
            target = self._channel(record)
        if target is not None:
            self.chat.registry.set_metadata(target, record["k"], record["v"])
            self.chat.tell(events.MetadataChange(user, user.mask, target, record["k"],
                                                 record["v"], record["w"]))

    def _apply_room_rename(self, record):
        user, channel = self._sender(record), self._channel(record)
        if user is None or channel is None:
            return
        old_name = channel.name
        self.chat.delivery.flush_batch()  # what was said before goes out under the old name
        self.chat.registry.rename_channel(channel, record["name"])
        writes = self._members_writes(channel)
        if writes:
            self.bus.publish(None, writes)
        self.chat.tell(events.Rename(user, user.mask, channel, old_name, record["reason"],
                                     record["w"], record["i"]))

    def _apply_redact(self, record):
        user, channel = self._sender(record), self._channel(record)
        if user is not None and channel is not None:
            self.chat.tell(events.Redaction(user, user.mask, channel, record["target"],
                                            record["reason"], record["w"], record["i"]))

    def _apply_account(self, record):
        user = self._sender(record)
        if user is not None:
            user.account = record["account"]
            self.chat.tell(events.AccountChange(user, user.mask, user.account, record["w"],
                                                record["i"]))

    def _apply_umode(self, record):
        user = self._sender(record)
        if user is not None:
            user.invisible, user.oper, user.bot = (record["invisible"], record["oper"],
                                                   record["bot"])

    def _apply_record(self, record):
        kind, key, data = record["kind"], record["key"], record["data"]
        self.chat.accounts.take(kind, key, data)
        if kind == MARKER and data is not None:  # the account's users here hear of it
            account, _space, target = key.partition(" ")
            markers.moved_for(self.chat, account, target, data["time"])

    def _apply_kill(self, record):
        user, victim = self._sender(record), self._local.get(record["victim"])
        if user is not None and victim is not None and victim.registered:
            killed(self.chat, victim, user.mask, user.nick, record["reason"])

    # -- Collisions -----------------------------------------------------------------------

    def _rename_collided(self, client):
        """While apart, another node's user took *client*'s nick: *client* gives it up."""
        chat = self.chat
        guest = chat.guest_nick()
        chat.delivery.notice(client, _(
            "While the chat was split, someone on another server took the nick {nick}: you "
            "are {guest} now", nick=client.nick, guest=guest))

        def renamed(refusal):
            if refusal is None and not client.gone:
                chat.change_nick(client, guest)
                # The others never heard of it under the nick it lost.
                self._registration(events.Registration(client, client.mask, client.signon))
        self.claim(client, guest, renamed)
