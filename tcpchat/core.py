"""The server with no I/O: connections come and go, lines come in, bytes wait to go out.

:class:`ChatCore` is what every driver talks to.  A driver calls :meth:`~ChatCore.connect` for each
new peer, with a :class:`~tcpchat.chat.connection.Transport` of its own, and gets back the
:class:`~tcpchat.chat.connection.Connection` it then feeds (``receive_data``, ``receive_datagram``
or ``receive_line``) and takes output from; see :mod:`tcpchat.chat.connection` for the whole seam.
Besides, it calls :meth:`~ChatCore.run_timers` when :meth:`~ChatCore.next_deadline` comes, and
:meth:`~ChatCore.shutdown` to say goodbye to everyone.  Every core call ends by handing the
driver, through :attr:`~ChatCore.output_ready`, the connections it must now flush.

Per line, in order: it must fit the IRC size limits, decode as UTF-8 and hold no NUL or stray CR,
or it is dropped with an error to its sender alone; on a connection whose transport did not fix the
dialect, the first line decides whether it speaks IRC or plain text; then the line goes to
:mod:`tcpchat.commands.irc` or :mod:`tcpchat.commands.plain`.  A paused connection's lines wait, in
order, until it resumes.

Flood control (:mod:`tcpchat.chat.flood`) sits before the line handlers: a line that does not fit
its connection's bucket pauses that connection, and the lines already read wait until a timer
resumes it.

Timers live on one heap.  Each connection has one entry keyed by when it next needs a look (its
registration deadline, when it is due a PING, or when its PONG is overdue), and while flood
control pauses it, a second one for when it may resume.  Activity does not touch the heap; when
an entry comes up, the check reads the connection's clock fields and pushes the next entry.  A
connection that closes cancels its entries (they stay in the heap, holding nothing), so a closed
connection and its buffers are freed at once.  The clock is injected so tests can move time by
hand.

Connections that have not registered yet are bounded in time (``Config.registration_timeout``)
and in number (``Config.max_unregistered``): past the number, the oldest of them is let go to
make room, so a crowd that opens connections and never registers cannot shut real users out.
But the server reads before it judges: only a connection that has had a whole turn of the
driver's loop and half a second to be read since it came, and is still silent, counts as one
that never registers (:meth:`ChatCore.turn_ended`), so a storm of clients reconnecting at once,
each sending its registration in its first packet, all get in.
"""

import functools
import heapq
import itertools
import logging
import time

from .chat.chat import Chat
from .chat.connection import MAX_HELD, MAX_LINE, Connection
from .chat.encoding import IRC, Dialect
from .chat.flood import FloodBucket
from .chat import events
from .commands import batches, irc, plain, rename, rooms
from .protocol import numerics as rpl
from .protocol.framing import TOO_LONG
from .protocol.lookalikes import prototypes
from .protocol.message import (MAX_MESSAGE, MAX_TAGS, MalformedMessage, Message,
                               channel_message, parse)
from .store.accounts import Accounts
from .store.base import STORED_KINDS
from .text.catalog import N_, _, languages, translations

log = logging.getLogger("tcpchat")

#: The most bytes of one line from a plain user (what a stream connection frames, less its
#: line end): a paste goes out in pieces that each fit one IRC line, a few at most.
PLAIN_LINE = MAX_LINE - 2
#: The first line of a connection is IRC when it starts with one of these and a parameter.
REGISTRATION_COMMANDS = frozenset(("CAP", "PASS", "NICK", "USER", "LANGUAGE"))
#: Bytes no line may hold, as the integers ``in`` looks for (ChatCore.usual_lines).
NUL, CR = 0, 13


#: Cancelled timer entries past which, once they are half the heap, it is rebuilt.
COMPACT_TIMERS = 100

#: Seconds a new connection has to send something before it may be judged silent, past the
#: bound on connections registering (ChatCore.turn_ended).
READ_CHANCE = 0.5

#: How to switch to a language, said in that language (translators: "По-русски: ...").
SWITCH = N_("In English: /lang {language}")


@functools.lru_cache(maxsize=1)
def welcome():
    """The first line of a connection: what to do, in the server's language, and how to
    switch to each language there is, each said in itself, so that whoever cannot read the
    rest can still find how to change it."""
    switch = " · ".join(translations(language).gettext(SWITCH).format(language=language)
                        for language in languages())
    return _("*** Welcome to tcpchat. IRC clients: register as usual. From netcat or telnet: "
             "type the name you want and press Enter. ({languages})", languages=switch)


class ChatCore:
    def __init__(self, config, clock=time.monotonic, wall_clock=time.time, history=None,
                 offload=None, accounts=None):
        """A core for *config*; with *history* (a :class:`tcpchat.store.base.Store`), the
        chat keeps its events there and answers history requests from it.  *offload* (a
        :class:`tcpchat.chat.offload.Offload`) runs password checks; without it they run at
        once, in the core's call.  *accounts* (a :class:`tcpchat.store.accounts.Accounts`):
        the accounts and registered rooms, kept in memory alone without it."""
        self.config = config
        self.clock = clock
        self.chat = Chat(config, clock, wall_clock)
        if offload is not None:
            self.chat.offload = offload
        self.chat.accounts = Accounts() if accounts is None else accounts
        self.chat.later, self.chat.just_registered = self._later, self._registered
        self.chat.local.at, self.chat.local.clock = self._at, clock
        # A registered room's record follows its topic and modes.
        self.chat.add_consumer(functools.partial(rooms.keep, self.chat),
                               (events.TopicChange, events.ModeChange))
        # A renamed channel's registration and redirection, and the IRC clients that need
        # to be shown the rename as a PART and a JOIN.
        self.chat.add_consumer(functools.partial(rename.renamed, self.chat, irc.show_channel),
                               (events.Rename,))
        #: What a reload (SIGHUP) runs, besides the driver's own (certificates): each is
        #: called with no arguments, on the loop.
        self.reloaders = []
        if history is not None:
            self.chat.history = history
            self.chat.add_consumer(history.append, STORED_KINDS, history.append_run)
        self._timers = []
        # Entries of the heap whose connection is gone, not popped yet.
        self._cancelled = 0
        #: Turns of the driver's loop so far, and whether a look at the connections
        #: registering is due on a timer (see turn_ended).
        self.turns = 0
        self._judging = False
        #: Bytes of lines a paused connection may have waiting before it is cut.
        self._backlog = config.flood.backlog if config.flood is not None else MAX_HELD
        self._timer_order = itertools.count()
        # Every connection's liveness entry holds this one bound method, not one of its own.
        self._check_entry = self._check
        #: Connections that resumed reading with lines held, to handle before a call returns.
        self._resumed = []
        #: Set by the driver: called at the end of each core call with a set (the driver's to
        #: keep) of the connections whose output went from none to some, or that began
        #: closing.  One call for them all: a message to a channel of a hundred makes a hundred
        #: ready, and this is the fan-out's path.
        self.output_ready = _ignore
        # Loaded now rather than while the first user waits, and so not counted against the
        # first connections' memory: the catalogs the greeting names, and Unicode's
        # confusables for their nicks (5 ms and 0.8 MB).
        welcome()
        prototypes()

    # -- What drivers call ----------------------------------------------------------------

    def connect(self, peer, transport, dialect=None):
        """A new connection from *peer* (an address string), served through *transport*;
        returns its :class:`~tcpchat.chat.connection.Connection`, which *transport* is given first
        (``connection_made``), before anything is said on it.

        *dialect* is None where the first line decides (TCP, UDP): over a transport that
        ``greets``, such a connection is first sent a notice that tells a netcat user what to
        type.
        """
        now = self.clock()
        config = self.config
        conn = Connection(self, transport, peer, now)
        if config.flood is not None:
            conn.flood = FloodBucket(config.flood, now)
        transport.connection_made(conn)
        chat = self.chat
        client = chat.add_client(conn, dialect)
        if dialect is None and transport.greets:
            # No source: plain users see a readable line; IRC clients take it as from the server.
            chat.delivery.send(client, Message("NOTICE", ("*", welcome())))
        conn.timer = self._schedule(conn, now + config.registration_timeout, self._check_entry)
        conn.turn = self.turns
        log.debug("connection from %s", peer)
        self._finish()
        return conn

    def turn_ended(self):
        """The driver has read what was ready this turn (or, without turns, taken in a new
        connection).  Past ``Config.max_unregistered`` connections registering, let go the
        oldest of those that are silent still though they have had their chance to be read:
        a turn since they came, and :data:`READ_CHANCE` seconds (a client sends its
        registration right after connecting, but a network or a busy client may take a moment,
        and turns can be much shorter).  Those not old enough yet are judged when they are,
        on a timer."""
        self.turns += 1
        registering = self.chat.registry.registering
        excess = len(registering) - self.config.max_unregistered
        if excess <= 0:
            return
        came_before, now = self.turns - 1, self.clock()
        for client in list(itertools.islice(registering, excess)):
            conn = client.conn
            if conn.turn >= came_before or conn.connected_at > now - READ_CHANCE:
                # It and every younger one after it: judged once it has had its chance.
                if not self._judging:
                    self._judging = True
                    self._at(max(now, conn.connected_at + READ_CHANCE), self._judge)
                break
            log.debug("%d connections registering: letting the oldest (%s) go",
                      len(registering), client.host)
            self.chat.close(client, _("Too many connections registering; try again"))
        self._finish()

    def _judge(self):
        self._judging = False
        self.turn_ended()

    def next_deadline(self):
        """When :meth:`run_timers` next has work, on the injected clock; None if never."""
        timers = self._timers
        while timers and timers[0][2] is None:
            heapq.heappop(timers)  # cancelled: its connection closed
            self._cancelled -= 1
        counted = self.chat.repeats.next_deadline()  # a count of repeated events to log
        if not timers:
            return counted
        return timers[0][0] if counted is None else min(timers[0][0], counted)

    @property
    def repeats(self):
        """Where the drivers log events that may come by the thousand (refusals, failed
        handshakes): see :mod:`tcpchat.chat.repeats`."""
        return self.chat.repeats

    def run_timers(self):
        self.chat.repeats.flush()
        now = self.clock()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _when, _order, conn, check = heapq.heappop(timers)
            if conn is not None:
                check(conn, now)
            else:
                self._cancelled -= 1
        self._finish()

    def shutdown(self, reason=_("Server shutting down")):
        log.info("shutting down: %s", reason)
        self.chat.repeats.flush(everything=True)
        self.chat.shutdown(reason)
        self._finish()

    # -- What a Connection calls on its driver's behalf ---------------------------------

    def lines_received(self, conn, lines, alive=True):
        """Lines (bytes without line ends, or TOO_LONG) from *conn*'s peer, in order.  A
        datagram says the peer is there even when empty (*alive*); a byte stream's bytes do
        only once they end a line, so a client cannot dribble bytes to dodge the ping."""
        if lines or alive:
            conn.last_active = self.clock()
            conn.ping_sent = None
        if lines:
            self.chat.stats.lines_in += len(lines)
            if conn.flood is not None:
                conn.flood.refill(conn.last_active)
            self._handle(conn, lines)
        self._finish()

    def usual_lines(self, conn, data):
        """Handle the usual lines at the start of *data*, a chunk of *conn*'s byte stream that
        begins a line; return how many bytes they took (0: none).

        The usual line is ``PRIVMSG #room :text`` from a registered IRC client, whole, valid
        UTF-8, within the limits and its sender's flood bucket: nearly every line a server
        reads.  It goes to ``Chat.message`` as :meth:`lines_received` would take it there,
        without the framer, :meth:`_line` and ``irc.handle_line`` between: 3.5 % of the
        core's instructions a message at saturation, about 3 µs of the 60 from a read to
        the first send at an everyday rate (docs/benchmarks.rst, "The usual line").  From
        the first line that is anything else, the caller frames the rest and hands it to
        :meth:`lines_received`, the general way.  A read whose whole lines are all the
        usual line to one room is said as one run first (:meth:`_usual_run`).
        ``tests/test_usual_lines.py`` holds the ways to the same output for any input."""
        client = conn.client
        chat = self.chat
        if (client.dialect is not Dialect.IRC or not client.registered or conn.reading_paused
                or (chat.batches and client in chat.batches)):
            return 0
        end = data.find(b"\n")
        if 0 <= end < len(data) - 1:  # more than a line (one is the everyday read)
            taken = self._usual_run(conn, client, data)
            if taken:
                return taken
        flood, counts, message = conn.flood, chat.stats.commands, chat.message
        start = taken = 0
        while end >= 0 and data.startswith(b"PRIVMSG #", start):
            line = data[start:end - 1] if data[end - 1] == CR else data[start:end]
            # Integers, not one-byte strings: CPython 3.11's ``b"\0" in line`` first tries its
            # operand as an integer and throws the TypeError away, 1 900 instructions a look.
            if len(line) > MAX_MESSAGE - 2 or NUL in line or CR in line:
                break
            try:
                said = channel_message(line.decode())
            except UnicodeDecodeError:
                break
            if said is None or conn.closing:  # (its own echo may cut it: a full queue)
                break
            if taken == 0:  # what lines_received does for a read of lines, once
                conn.last_active = self.clock()
                conn.ping_sent = None
                if flood is not None:
                    flood.refill(conn.last_active)
            if flood is not None and not flood.take(len(line)):
                break
            chat.stats.lines_in += 1
            counts["PRIVMSG"] = counts.get("PRIVMSG", 0) + 1
            message(client, "PRIVMSG", *said)
            start = taken = end + 1
            end = data.find(b"\n", start)
        if taken == len(data):
            self._finish()
        return taken

    def _usual_run(self, conn, client, data):
        """Handle the whole lines *data* begins with as one run, if every one of them is the
        usual line to one room and they may all go there at once (``Chat.run_channel``):
        looked at with a few C-level calls over all of them, not a Python step a line, and
        said as one ``TalkRun``.  Returns how many bytes they took (0: none, nothing done).

        This is what a busy talker's reads are at saturation: 56 % fewer instructions a
        message through the core (docs/benchmarks.rst, "A read's lines as one run").  Each
        check is the usual line's, made over the whole: every line begins with the first
        one's ``PRIVMSG #room :``, ends with CRLF and holds no other CR, no NUL, and a text;
        all of it is UTF-8; the flood bucket takes every line (``FloodBucket.take_all``).
        Else the lines go one at a time, as before."""
        end = data.rfind(b"\n") + 1  # the whole lines
        block = data if end == len(data) else data[:end]
        count = block.count(b"\n")
        if count < 2:
            return 0
        space = block.find(b" :", 9)
        if not block.startswith(b"PRIVMSG #") or not 0 < space < block.find(b"\n"):
            return 0
        # What every line must begin with: the first one's ``PRIVMSG #room :``.  (A target
        # with a space or a comma, which channel_message leaves alone, names no room, and
        # run_channel says no to it.)
        head = block[:space + 2]
        if (block.count(b"\n" + head) != count - 1 or block.count(b"\r\n") != count
                or block.count(b"\r") != count
                or block.find(NUL) >= 0):  # (find, not ``in``: see usual_lines)
            return 0
        try:
            text = block.decode()
        except UnicodeDecodeError:
            return 0
        said = head.decode()
        texts = text[len(said):-2].split("\r\n" + said)
        if "" in texts:
            return 0
        chat = self.chat
        channel = chat.run_channel(client, said[8:-2], max(map(len, texts)))
        if channel is None:
            return 0
        flood = conn.flood
        now = self.clock()
        if flood is not None:
            flood.refill(now)
            if not flood.take_all(count, len(block) - 2 * count):  # (the lines' bytes)
                return 0
        conn.last_active = now
        conn.ping_sent = None
        stats = chat.stats
        stats.lines_in += count
        stats.commands["PRIVMSG"] = stats.commands.get("PRIVMSG", 0) + count
        chat.message_run(client, channel, texts)
        if end == len(data):
            self._finish()
        return end

    def end_of_input(self, conn):
        """*conn*'s peer will send no more."""
        self.chat.close(conn.client, _("Connection closed"))
        self._finish()

    def connection_lost(self, conn, reason):
        """The driver could not read or write (reset, broken pipe): the client is gone."""
        self.chat.connection_lost(conn.client, reason)
        self._finish()

    def close(self, conn, reason):
        """End *conn* with a goodbye, for the driver (a connection limit, say)."""
        self.chat.close(conn.client, reason)
        self._finish()

    def flushed(self, conn):
        """*conn*'s driver sent what its transport took: is its send queue over the bound?"""
        self.chat.delivery.check_sendq(conn.client)
        self._finish()

    def reload(self):
        """Run :attr:`reloaders` (the operator asked, with SIGHUP)."""
        for reload in self.reloaders:
            reload()
        self._finish()

    def completed(self, done, result):
        """Off-loop work (see :mod:`tcpchat.chat.offload`) finished with *result*: the driver
        calls this on the loop, through ``Offload.post``."""
        done(result)
        self._finish()

    def forget(self, client):
        """Take *client* out of the chat without a word to anyone (a connection cut off after
        the chat failed to let it go)."""
        self.chat.forget(client)

    def resume_held(self, conn):
        """*conn* resumed with lines held: handle them before this core call returns."""
        self._resumed.append(conn)

    def _handle(self, conn, lines):
        self._handle_lines(conn, lines)
        if self.chat.pastes:  # a plain user's lines of this read: said now, as one
            plain.end_of_read(self.chat, conn.client)

    def _handle_lines(self, conn, lines):
        flood = conn.flood
        for index, line in enumerate(lines):
            if conn.closing:
                return
            if conn.reading_paused:
                conn.hold(lines[index:], self._backlog)
                return
            if flood is not None:
                size = MAX_LINE if line is TOO_LONG else len(line)
                if not flood.take(size):
                    self._flood_pause(conn, lines[index:], flood.wait(size))
                    return
            self._line(conn.client, line)

    def _flood_pause(self, conn, lines, seconds):
        """*conn* sent faster than its bucket allows: stop reading it for *seconds*, keeping
        *lines* (read already) for then, or cut it if it has piled up too much."""
        conn.pause_reading()
        conn.hold(lines, self._backlog)
        if not conn.closing and conn.resume_timer is None:
            conn.resume_timer = self._schedule(conn, self.clock() + seconds, self._resume)

    def _resume(self, conn, now):
        conn.resume_timer = None
        conn.flood.refill(now)
        if not conn.working:  # else it resumes when its work is done
            conn.resume_reading()

    def _finish(self):
        """End a core call: handle what resumed, announce send-queue casualties, then tell
        the driver which connections to flush."""
        chat, delivery = self.chat, self.chat.delivery
        delivery.flush_batch()
        while self._resumed:
            conn = self._resumed.pop(0)
            self._handle(conn, conn.take_held())
            # A batch holds one sender's messages (see tcpchat.chat.delivery).
            delivery.flush_batch()
        chat.reap()
        dirty = delivery.dirty
        if dirty:
            delivery.dirty = set()
            self.output_ready(dirty)

    # -- Lines ----------------------------------------------------------------------------

    def _line(self, client, raw):
        chat = self.chat
        # A line of 510 bytes or less fits, with or without tags: _over_limit only past that.
        if raw is TOO_LONG or (len(raw) > MAX_MESSAGE - 2 and _over_limit(client, raw)):
            limit = PLAIN_LINE if client.dialect is Dialect.PLAIN else MAX_MESSAGE - 2
            chat.delivery.reply(client, rpl.ERR_INPUTTOOLONG, _(
                "Input line was too long: a line is at most {count} bytes", count=limit))
            self._dropped(client)
            return
        if not raw:
            if chat.pastes and client in chat.pastes:
                plain.blank_line(chat, client)  # a paste's blank line: part of its text
            return  # empty lines are ignored, as modern IRC asks
        try:
            text, valid = raw.decode("utf-8"), True
        except UnicodeDecodeError:
            text, valid = raw.decode("utf-8", errors="replace"), False
            if client.registered:
                chat.delivery.standard_reply(client, "FAIL", _command_of(text), "INVALID_UTF8",
                                             _("Line dropped: it is not valid UTF-8"))
                self._dropped(client)
                return
        if "\0" in text or "\r" in text:
            chat.delivery.notice(client, _("Line dropped: it holds a NUL or CR character"))
            self._dropped(client)
            return
        if client.dialect is None:
            client.set_dialect(Dialect.IRC if _looks_like_irc(text) else Dialect.PLAIN)
            log.debug("%r speaks %s", client, client.dialect.value)
        if not valid:
            # Registering (an old client's Latin-1 real name, a name typed in netcat from a
            # terminal that is not UTF-8): go on with the bad bytes replaced, and say so,
            # rather than leave the client waiting for an answer to a line it never got.
            chat.delivery.standard_reply(client, "WARN", _command_of(text), "INVALID_UTF8",
                                         _("The line was not valid UTF-8: its bad bytes were "
                                           "replaced with U+FFFD"))
        # The handler by the dialect, asked by identity: an Enum member hashes in Python, a
        # cost on every line were it a table's key.
        if client.dialect is Dialect.IRC:
            irc.handle_line(chat, client, text)
        else:
            plain.handle_line(chat, client, text)

    def _dropped(self, client):
        """A line of *client*'s was dropped, its sender told why: a multiline batch it was
        part of is dropped too, rather than delivered without it."""
        if self.chat.batches and client in self.chat.batches:
            batches.line_dropped(self.chat, client)

    # -- Timers ---------------------------------------------------------------------------

    def _schedule(self, conn, when, check):
        """Call *check(conn, now)* once *when* comes; returns the heap entry, for cancelling."""
        entry = [when, next(self._timer_order), conn, check]
        heapq.heappush(self._timers, entry)
        if self._cancelled > COMPACT_TIMERS and self._cancelled * 2 > len(self._timers):
            # Most of the heap is entries of connections gone, each waiting for its time (a
            # ping a couple of minutes off): rebuilt without them, as asyncio does, so that
            # connections coming and going hold no more than the connections there are.
            self._timers = [kept for kept in self._timers if kept[2] is not None]
            heapq.heapify(self._timers)
            self._cancelled = 0
        return entry

    def timer_cancelled(self):
        """A connection that stopped let go of a timer entry (see _schedule)."""
        self._cancelled += 1

    def _at(self, when, action):
        """``action()`` at *when*: for what belongs to no connection (a crowded room's
        comings and goings, see tcpchat.chat.local)."""
        self._schedule(_NOBODY, when, lambda _nobody, _now: action())

    def _later(self, client, when, action):
        """``Chat.later``: *action(client)* at *when*, unless *client* has left."""
        def check(conn, _now):
            if not conn.closing:
                action(client)
        self._schedule(client.conn, when, check)

    def _registered(self, client):
        """*client* registered.  A plain user over TCP needs no look from the core from now
        on, so its entry is let go rather than held for the rest of the registration timeout
        (140 bytes, for a minute); any other keeps its entry, which becomes its ping."""
        conn = client.conn
        if conn.timer is not None and not self._watched(client):
            conn.timer[2] = None
            self.timer_cancelled()
            conn.timer = None

    @staticmethod
    def _watched(client):
        """Whether the core looks at a registered *client* on a timer: all but a plain user
        over a transport that finds a vanished peer by itself (netcat cannot answer PING;
        TCP keepalive finds dead plain peers)."""
        return not (client.plain and client.conn.transport.notices_vanished_peer)

    def _check(self, conn, now):
        """*conn*'s liveness entry came up: act on its registration or ping deadline, and
        schedule the next look."""
        conn.timer = None
        when = self._liveness(conn, now)
        if when is not None and not conn.closing:
            conn.timer = self._schedule(conn, when, self._check_entry)

    def _liveness(self, conn, now):
        """Enforce *conn*'s registration or ping deadline; when to look next, or None."""
        config = self.config
        client = conn.client
        if conn.closing:
            return None
        if not client.registered:
            deadline = conn.connected_at + config.registration_timeout
            if now >= deadline:
                self.chat.close(client, _("Registration timed out"))
                return None
            return deadline
        if not self._watched(client):
            return None
        if conn.ping_sent is not None:
            deadline = conn.ping_sent + config.pong_timeout
            if now >= deadline:
                silent = int(now - conn.last_active)
                if client.plain:
                    reason = _("Idle timeout: {seconds} seconds", seconds=silent)
                else:
                    reason = _("Ping timeout: {seconds} seconds", seconds=silent)
                self.chat.close(client, reason)
                return None
            return deadline
        # A plain user over a transport that cannot tell when it is gone (UDP) is asked in
        # words, at its own (longer) interval, to answer with any line at all.
        interval = config.idle_interval if client.plain else config.ping_interval
        if now >= conn.last_active + interval:
            conn.ping_sent = now
            self._ping(client)
            return now + config.pong_timeout
        return conn.last_active + interval

    def _ping(self, client):
        config = self.config
        if client.plain:
            self.chat.delivery.send_text(client, _(
                "*** Still there? Press Enter within {seconds:.0f} seconds to stay.",
                seconds=config.pong_timeout))
        else:
            server = config.server_name
            self.chat.delivery.send(client, Message("PING", (server,), server))


def goodbye(reason):
    """The line a connection the server will not serve is sent before it is closed, with
    *reason*, when nothing is known of it yet: an IRC ``ERROR``, which IRC clients act on and
    a person can read, as the greeting is an IRC ``NOTICE`` (the drivers send it as they turn
    a connection away at accept, before it has a Connection)."""
    return IRC.encode(Message("ERROR", (_("Closing link: {reason}", reason=reason),)))


#: What a timer that belongs to no connection holds in its connection's place.
_NOBODY = object()


def _ignore(connections):
    pass


def _over_limit(client, raw):
    """Whether *raw* is longer than *client* may send: a plain user's line is text it typed
    or pasted, relayed in pieces that each fit (up to :data:`PLAIN_LINE`); anyone else's is
    one IRC message."""
    if client.dialect is Dialect.PLAIN:
        return len(raw) > PLAIN_LINE
    return _too_long(raw)


def _too_long(raw):
    """Over the IRC limits: 4096 bytes of tags, 512 for the rest (CRLF included)."""
    body = raw
    if raw[:1] == b"@":
        tags, _sep, body = raw.partition(b" ")
        if len(tags) + 1 > MAX_TAGS:
            return True
    return len(body) + 2 > MAX_MESSAGE


def _command_of(text):
    """The command a line starts with, for a standard reply about it; ``*`` if none."""
    try:
        command = parse(text).command
    except MalformedMessage:
        return "*"
    return command if command.isascii() and command.isalnum() and len(command) <= 20 else "*"


def _looks_like_irc(text):
    words = text.split(None, 1)
    return len(words) == 2 and words[0].upper() in REGISTRATION_COMMANDS
