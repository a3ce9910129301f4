"""How output reaches this node's users: the one output API, the batch, the send-queue bound.

Everything a local user is sent is queued here: a message to many (:meth:`Delivery.deliver`),
a channel message in the batch (:meth:`Delivery.relay`), a reply to one (:meth:`~Delivery.reply`,
:meth:`~Delivery.send`, :meth:`~Delivery.notice`, :meth:`~Delivery.standard_reply`), a line of
plain text (:meth:`~Delivery.send_text`), and the few lines that close a connection
(:meth:`~Delivery.farewell`).  Nothing else writes into a connection's output buffer.

Encoded once per Encoding.  A message to many is encoded once per
:class:`~tcpchat.chat.encoding.Encoding` in use among its recipients, and each recipient that
shares one gets the same bytes object appended to its connection's queue (an
:class:`~tcpchat.chat.output.Output`: a reference, not a copy).  Connections whose
output went from none to some are collected in :attr:`Delivery.dirty`; the core hands them to
their drivers when the operation ends.

The batch (the fan-out's fast path).  A read of one socket may bring many lines to the same
channel; rather than append each to every member's buffer, consecutive messages to one channel
from one sender are kept, encoded and joined once per Encoding when the batch is flushed, and
appended once per member.  Each recipient still gets every message once, in order, its own left
out (kept in, for a sender with IRCv3 echo-message), because the batch is flushed before
anything else is queued for anyone (any other message, a numeric, a line of text), before a
channel's members change (:meth:`Delivery.flush_batch`, which the chat calls), before a
client's capabilities change (its Encoding may), and when the sender's lines of this core call
are handled.  ``Config.batch`` turns it off, to measure or test the plain path against it.  A
read's lines to one room, said as one run (``Chat.message_run``), are a batch made whole at
once (:meth:`Delivery.relay_run`): the Encoding of users without tags writes it with one join,
and no Message is made unless another Encoding needs them.

Broadcasts.  At an everyday rate a turn of the loop brings one message to a room whose members
have nothing else waiting; at saturation, a batch from each of the room's talkers.  Appending
each to every member's queue, and then finding every member's socket through its connection to
send them, is Python per member around the kernel's ``send()``, and that is most of what a
message costs.  So while a driver that can do better says nothing waits for any connection it
sends to itself (:attr:`Delivery.quiet`), a channel's batch is a broadcast: encoded once for
each :class:`Group` of the channel's :class:`Audience` (its local members on such transports,
one group per Encoding) and recorded in :attr:`Delivery.broadcasts` instead of queued, and so
are the batches after it to the same audience; the audience's other members (a web page, TLS,
UDP) have it queued as usual.  The driver sends the broadcasts at its flush, before anything
else (``SelectLoop._flush``): to each group, joined once for the members none of them skips, in
one pass, and to each sender among them, all but its own.  Each member still gets the same
bytes in the same order, because broadcasts are recorded only while those queues are empty,
and the first thing queued after them, for anyone (or a batch to another audience), puts them
into their recipients' queues first (:meth:`Delivery.queue_broadcasts`): from then on the
queues hold the order, as on the general path.  Together they are at most
:attr:`Delivery.hard_sendq` bytes a member, so queueing them could never cut anyone.
``tests/test_fanout_properties.py`` plays random traffic both ways and compares every byte.

The send queue bound (``Config.sendq``).  A recipient that does not read lets its buffer grow.
The bound counts what the client failed to read: what still waits after its driver has sent
what the socket would take (``Connection.flushed``), not what one busy turn queued, so a member
that keeps reading is never cut because others all spoke at once.  Within a turn, the buffer
may grow to twice the bound (:attr:`Delivery.hard_sendq`), which bounds memory.  Past either,
the client's pending output is thrown away (all but the rest of a line the kernel already took
part of), an ``ERROR :SendQ exceeded`` line is queued in its place and the client's connection
is marked closing.  The chat then has everyone who shares a channel with it see it quit, after
the current operation (:attr:`Delivery.overflowed`), because the overflow happens in the middle
of a fan-out loop over a channel's members, and that loop must not see the channel change
under it.
"""

import logging
from collections import Counter

from ..protocol.ircv3 import timestamp
from ..protocol.message import Message, utf8_prefix
from ..text.catalog import ENGLISH, _, render
from .config import ECHO_BYTES
from .encoding import IRC

log = logging.getLogger("tcpchat")


class Audience:
    """A channel's members as its broadcasts reach them (see the module doc): its local members
    on transports the driver sends to itself (``Transport.direct``), one :class:`Group` per
    Encoding (:attr:`groups`), and its other local members (:attr:`others`), whose queues get
    each broadcast's messages as the fan-out would.  A channel drops its audience when its
    members, their Encodings or their connections change."""

    __slots__ = ("groups", "others")

    def __init__(self, groups, others):
        self.groups = groups
        self.others = others


class Group:
    """The members of an :class:`Audience` written by one :attr:`encoding`: their connections
    in the channel's order; :attr:`position` finds a member among them (the sender a broadcast
    skips).  :attr:`handles` is the driver's own, what it sends through, made when it first
    sends to them (None until then)."""

    __slots__ = ("encoding", "conns", "position", "handles")

    def __init__(self, encoding):
        self.encoding = encoding
        self.conns = []
        self.position = {}
        self.handles = None


class Delivery:
    """The output of every local user (see the module doc)."""

    def __init__(self, config, wall_clock, repeats, stats):
        self.config = config
        self.wall_clock = wall_clock
        self.repeats = repeats
        self.stats = stats
        #: Connections whose output went from none to some, or that began closing, during the
        #: current operation: the core tells the driver when it ends.  A driver told once
        #: keeps sending until nothing is pending, so later appends need not tell it again.
        self.dirty = set()
        #: Clients cut at the send queue bound during this operation, whose quits the chat
        #: has still to announce.
        self.overflowed = []
        #: How far one client's output may grow within one operation (see the module doc).
        self.hard_sendq = 2 * config.sendq
        # The batch (see the module doc): its messages, their channel and their sender.
        self._batching = config.batch
        self._batch = []
        self._batch_channel = self._batch_sender = self._batch_skip = None
        #: How many clients enabled each capability: while nobody has server-time, no
        #: message is stamped; while nobody has extended-join, a JOIN is made one way only.
        self.cap_users = Counter()
        #: Whether anyone has server-time (read on every message, so kept ready).
        self.stamping = False
        #: Nothing is queued for any connection the driver sends to itself: a driver that
        #: sends broadcasts says whether, after each flush (and clears it when it queues the
        #: rest of one); anything queued here clears it.  Broadcasts are recorded only while
        #: it holds.
        self.quiet = False
        #: Broadcasts for the driver to send, oldest first, all to one audience: ``(audience,
        #: group, position of the member it skips or -1, data)``; and the most bytes they
        #: hold for one member.
        self.broadcasts = []
        self.broadcast_size = 0

    # -- To many --------------------------------------------------------------------------

    def deliver(self, message, recipients, skip=None, when=None, encode=None):
        """Queue *message* for each of *recipients* except *skip*, after the batch; stamped
        with *when* (wall-clock seconds; by default now) for those with server-time.  Written
        by each recipient's Encoding, or by ``encode(encoding, message)`` if given, for a
        message that is more than one line (a multiline batch), still once per Encoding."""
        if self._batch:
            self.flush_batch()
        if self.stamping:
            self._stamp(message, when)
        self._fan_out(recipients, skip, encode or _encode_one, message)

    def _stamp(self, message, when):
        """Give *message* its server-time ``time`` tag (the Encodings of those who did not ask
        for server-time leave it out)."""
        if "time" not in message.tags:
            message.tags["time"] = timestamp(self.wall_clock() if when is None else when)

    def relay(self, message, channel, sender, echo=False, when=None):
        """Queue *message* from *sender* for the other members of *channel* (and *sender*, if
        *echo*: IRCv3 echo-message): in the batch, if the batch holds that sender's messages
        to that channel, else in a new one."""
        skip = None if echo else sender
        if not self._batching:
            self.deliver(message, channel.members, skip, when)
            return
        if self.stamping:
            self._stamp(message, when)
        if self._batch and (channel is not self._batch_channel
                            or sender is not self._batch_sender):
            self.flush_batch()
        self._batch_channel, self._batch_sender, self._batch_skip = channel, sender, skip
        self._batch.append(message)

    def relay_run(self, messages, channel, sender, when):
        """Queue *messages*, a run of *sender*'s said at *when* (``RunMessages``: see
        ``Chat.message_run``), for the other members of *channel*: what :meth:`relay` and
        :meth:`flush_batch` do with each, for all of them at once."""
        self.flush_batch()  # what came before goes first; a run never joins the batch
        if self.stamping:
            stamp = timestamp(when)
            for message in messages.messages():
                message.tags["time"] = stamp
        if self.quiet and self._broadcast(channel, sender, messages, _encode_run):
            return
        # (_fan_out counts one delivery a recipient, as flush_batch says.)
        self.stats.deliveries += (len(messages) - 1) * (len(channel.members) - 1)
        self._fan_out(channel.members, sender, _encode_run, messages)

    def flush_batch(self):
        """Queue the batch for the members of its channel: each Encoding in use writes the
        batch's messages once, joined, and each member gets them in one append.  Or, while
        the driver is quiet, record it as a broadcast (see the module doc)."""
        messages = self._batch
        if messages:
            self._batch = []
            channel, skip = self._batch_channel, self._batch_skip
            self._batch_channel = self._batch_sender = self._batch_skip = None
            if self.quiet and self._broadcast(channel, skip, messages):
                return
            if len(messages) == 1:
                self._fan_out(channel.members, skip, _encode_one, messages[0])
            else:
                # _fan_out counts one delivery a recipient: these are several each.
                self.stats.deliveries += (len(messages) - 1) * (
                    len(channel.members) - (skip is not None))
                self._fan_out(channel.members, skip, _encode_all, messages)

    def _broadcast(self, channel, skip, messages, encode_all=None):
        """Record *messages* as a broadcast to the members of *channel* but *skip* (queued
        for its audience's others), if the channel has an audience, the broadcasts not sent
        yet are to the same one, and all of them together fit the send queue bound; whether
        it was.  Each Encoding writes them with ``encode_all(encoding, messages)`` if given
        (a run's: see relay_run), else a message at a time."""
        audience = channel.direct_audience
        if audience is None:
            audience = channel.direct_audience = _gather(channel)
        if not audience:
            return False
        broadcasts = self.broadcasts
        if broadcasts and broadcasts[-1][0] is not audience:
            # One audience at a time: a member of two rooms then reads the two in order.
            return False
        single = encode_all is None and len(messages) == 1
        encode_all = encode_all or _encode_all
        recorded = []
        longest = 0
        for group in audience.groups:
            data = (group.encoding.encode(messages[0]) if single
                    else encode_all(group.encoding, messages))
            if data:  # (b"": a message these members are not shown)
                longest = max(longest, len(data))
                recorded.append((audience, group, group.position.get(skip, -1), data))
        size = self.broadcast_size + longest
        if size > self.hard_sendq:
            return False
        # (As flush_batch and _fan_out count them.)
        self.stats.deliveries += len(messages) * (len(channel.members) - (skip is not None))
        broadcasts += recorded
        self.broadcast_size = size
        if audience.others and single:
            self._queue_each(audience.others, skip, _encode_one, messages[0])
        elif audience.others:
            self._queue_each(audience.others, skip, encode_all, messages)
        return True

    def take_broadcasts(self):
        """The broadcasts recorded since the last take, oldest first, for the driver to send
        (or for :meth:`queue_broadcasts`); none are left."""
        broadcasts, self.broadcasts, self.broadcast_size = self.broadcasts, [], 0
        return broadcasts

    def queue_broadcasts(self):
        """Put the broadcasts the driver has not sent into their recipients' queues: before
        anything else is queued for anyone (see the module doc).  Behind nothing, since each
        was recorded while every queue was empty."""
        dirty = self.dirty
        for _audience, group, skip, data in self.take_broadcasts():
            size = len(data)
            for position, conn in enumerate(group.conns):
                if position != skip:
                    out = conn.outbuf
                    if not out.size:
                        dirty.add(conn)
                    out.append(data)
                    out.size += size

    def _queueing(self):
        """Something is about to be queued: the broadcasts not sent yet go into the queues
        first, and the driver is quiet no more."""
        if self.broadcasts:
            self.queue_broadcasts()
        self.quiet = False

    def _settle(self):
        """Before a queue is added to or read: what the batch holds and the broadcasts not
        sent yet are in it, since what follows comes after them."""
        self.flush_batch()
        self._queueing()

    def _fan_out(self, recipients, skip, encode, what):
        """The hot path: queue *encode(encoding, what)* for each of *recipients* but *skip*.

        Encoded at most once per Encoding; each recipient that shares one gets the same bytes
        object appended to its connection's queue.
        """
        self._queueing()
        # Counted once a message, not once a recipient: the sender (skip) is not one.
        self.stats.deliveries += len(recipients) - (skip is not None)
        self._queue_each(recipients, skip, encode, what)

    def _queue_each(self, recipients, skip, encode, what):
        """The fan-out's loop: *encode(encoding, what)* appended to the queue of each of
        *recipients* but *skip*."""
        sendq = self.hard_sendq
        dirty = self.dirty
        encoded = {}
        # Recipients in a row mostly share an Encoding: compare with the last one before
        # looking it up, which costs a quarter of this loop's time when done per recipient.
        encoding = data = None
        size = 0
        for recipient in recipients:
            if recipient is skip:
                continue
            out = recipient.out
            if out is None:
                continue  # closing, or served by another node
            if recipient.encoding is not encoding:
                encoding = recipient.encoding
                data = encoded.get(encoding)
                if data is None:
                    data = encoded[encoding] = encode(encoding, what)
                size = len(data)
            # What _append does, inlined: this loop runs once per recipient of every message
            # or batch.
            # (data may be b"", a message plain users are not shown: appending it costs less
            # than testing for it, and the driver finds nothing to send.)
            queued = out.size
            if not queued:
                dirty.add(recipient.conn)
            out.append(data)
            queued = out.size = queued + size
            if queued > sendq:
                self._overflow(recipient)

    # -- To one ---------------------------------------------------------------------------

    def _append(self, client, data):
        """Queue *data* for one client, within its send queue bound, after the batch."""
        self._settle()
        out = client.out
        if out is None:
            return
        if not out.size:
            self.dirty.add(client.conn)
        out.add(data)
        if out.size > self.hard_sendq:
            self._overflow(client)

    def send(self, client, message):
        self.deliver(message, (client,))

    def reply(self, client, numeric, *params):
        """Send numeric *numeric* to *client*; its nick (or ``*``) goes first, as always.

        Numerics echo what the client sent (a bad nick, an unknown command); an echo that could
        not stand as a middle parameter (empty, holding a space, starting with ":") becomes "*",
        and a long one is cut to :data:`ECHO_BYTES`, so that the text after it still fits.
        """
        *middle, last = params
        middle = [_echo(p) for p in middle]
        self.deliver(Message(numeric, (client.target, *middle, last), self.config.server_name),
                     (client,))

    def notice(self, client, text):
        """A notice from the server: how the server tells a client about a dropped line."""
        self.send(client, Message("NOTICE", (client.target, text), self.config.server_name))

    def standard_reply(self, client, kind, command, code, text, context=()):
        """An IRCv3 standard reply (``FAIL``, ``WARN`` or ``NOTE``) about *command*, with the
        parameters of *context* that say what it is about: for errors no numeric names.
        Plain users read it as an error line.  What the context echoes of a client's line is
        said back as :meth:`reply` says it (``*`` where it could not be a parameter)."""
        self.send(client, Message(kind, (command, code, *map(_echo, context), text),
                                  self.config.server_name))

    def send_text(self, client, text):
        """Plain text, for a plain-mode client (prompts, help, lists), in its language: a line,
        or a line for each of the lines of *text*."""
        if client.language != ENGLISH:
            text = render(text, client.encoding.catalog)
        self._append(client, text.replace("\n", "\r\n").encode() + b"\r\n")

    def has_room(self, client):
        """Whether a reply that grows with the server (LIST, WHO, NAMES) may go on: *client*
        is not closing, and its queue is under half the send queue bound.  A reply that stops
        here ends as usual, with a notice that it was cut, so that asking for it never costs
        a client that reads its connection."""
        self._settle()  # what it counts: the broadcasts this turn holds for it, too
        return client.out is not None and client.out.size <= self.config.sendq // 2

    def mark(self, client):
        """Where *client*'s output stands now, for :meth:`rewrite_since`; None if it is
        closing.  What the batch holds is queued first, and the broadcasts: they are not
        what comes after, and what does must be in the queue to be rewritten."""
        self._settle()
        return client.out.size if client.out is not None else None

    def rewrite_since(self, client, start, rewrite):
        """Replace the whole lines queued for *client* since *start* (a :meth:`mark`) with
        *rewrite(lines)*: lines as bytes without line ends, in and out (IRCv3
        labeled-response labels a command's answer so).  Nothing if the client is closing."""
        self._settle()
        out = client.out
        if out is None or out.size < start:
            return
        lines = out.cut(start).split(b"\r\n")[:-1]
        if not out.size:
            self.dirty.add(client.conn)
        out.add(b"\r\n".join(rewrite(lines)) + b"\r\n")

    # -- Capabilities -----------------------------------------------------------------------

    def set_caps(self, client, caps):
        """*client* enabled *caps* (a set): its Encoding may change, so the batch, encoded at
        its flush, is flushed first."""
        self.flush_batch()
        self.count_caps(client.caps, caps)
        client.set_caps(frozenset(caps))

    def set_language(self, client, language):
        """*client* reads *language* from now on: its Encoding changes, so the batch goes
        first (as for capabilities)."""
        self.flush_batch()
        client.set_language(language)

    def count_caps(self, dropped, enabled):
        self.cap_users.subtract(dropped)
        self.cap_users.update(enabled)
        # (message-tags brings the server's tags, time among them: see tcpchat.chat.encoding)
        self.stamping = self.cap_users["server-time"] + self.cap_users["message-tags"] > 0

    @staticmethod
    def with_cap(cap, clients):
        """Those of *clients* that enabled *cap*."""
        return [client for client in clients if cap in client.caps]

    # -- Closing --------------------------------------------------------------------------

    def farewell(self, clients, reason):
        """An ``ERROR :Closing link: reason`` line to each of *clients*, then no more: their
        connections close once it is sent."""
        self.deliver(Message("ERROR", (_("Closing link: {reason}", reason=reason),)), clients)
        for client in clients:
            self.stop_output(client)

    def check_sendq(self, client):
        """After a flush: cut *client* if more than the send queue bound still waits."""
        self.flush_batch()
        if client.out is not None and client.out.size > self.config.sendq:
            self._overflow(client)

    def _overflow(self, client):
        self.stats.sendq_kills += 1
        self.repeats.note(logging.WARNING, ("sendq",),
                          "%r: send queue over %d bytes, disconnecting",
                          "%d more clients cut at the send queue bound in the last %.0f s "
                          "(the first: %r, over %d bytes)", client, self.config.sendq)
        farewell = Message("ERROR", (_("Closing link: {reason}", reason=_("SendQ exceeded")),))
        conn = client.conn
        conn.drop_output()
        conn.outbuf.add(client.encoding.encode(farewell))
        self.stop_output(client)
        self.overflowed.append(client)

    def stop_output(self, client):
        """Mark *client*'s connection closing: nothing more is queued for it, and its driver
        is told to send what is there and close."""
        client.conn.stop()
        client.end_output()
        self.dirty.add(client.conn)

    def lost(self, client):
        """*client*'s transport is gone: what waited for it is thrown away, the broadcasts
        not sent yet with the rest."""
        self.queue_broadcasts()
        client.conn.outbuf.discard()
        self.stop_output(client)


def _echo(param):
    """*param*, from a client's line, as a reply's parameter before the last: cut to
    :data:`ECHO_BYTES`, or ``*`` where it could not stand as one."""
    return utf8_prefix(param, ECHO_BYTES) if param and " " not in param and param[0] != ":" \
        else "*"


def _gather(channel):
    """*channel*'s members as an :class:`Audience`, or False if none of its local members is
    on a transport the driver sends to itself."""
    groups = {}
    others = []
    for member in channel.members:
        if member.out is None:
            continue  # closing, or served by another node: the fan-out passes it by too
        if member.conn.transport.direct:
            group = groups.get(member.encoding)
            if group is None:
                group = groups[member.encoding] = Group(member.encoding)
            group.position[member] = len(group.conns)
            group.conns.append(member.conn)
        else:
            others.append(member)
    if not groups:
        return False
    return Audience(tuple(groups.values()), tuple(others))


def _encode_one(encoding, message):
    return encoding.encode(message)


def _encode_all(encoding, messages):
    return b"".join(map(encoding.encode, messages))


def _encode_run(encoding, messages):
    """A run's messages (``tcpchat.chat.local.RunMessages``) as *encoding* writes them: the
    plain IRC Encoding's lines at once, the others' a message at a time."""
    if encoding is IRC:
        return messages.bare()
    return b"".join(map(encoding.encode, messages.messages()))
