"""The server with no I/O: connections come and go, bytes come in, bytes wait to go out.

:class:`ChatCore` is what every driver (the select loop today; the threads backend and UDP mode
later) talks to.  A driver calls :meth:`~ChatCore.connect` for a new peer, feeds it whatever
``recv()`` returned with :meth:`~ChatCore.receive` (``b""`` meaning the peer will send no more),
calls :meth:`~ChatCore.run_timers` when :meth:`~ChatCore.next_deadline` comes, and after each
call flushes the clients in :meth:`~ChatCore.take_dirty`: each one's ``outbuf`` holds what to
send, and ``closing`` says to close the connection once that is sent.

Per line, in order: the framer cuts it out (or reports it too long); it must fit the IRC size
limits, decode as UTF-8 and hold no NUL or stray CR, or it is dropped with an error to its sender
alone; the first line decides whether the connection speaks IRC or plain text; then the line goes
to :mod:`tcpchat.irc` or :mod:`tcpchat.plain`.

Timers live on one heap, one entry per connection, keyed by when that connection next needs a
look: its registration deadline, when it is due a PING, or when its PONG is overdue.  Activity
does not touch the heap; when an entry comes up, the check reads the connection's clock fields
and pushes the next entry.  The clock is injected so tests can move time by hand.
"""

import heapq
import itertools
import logging
import time

from . import irc, plain
from . import numerics as rpl
from .chat import Chat, Client
from .framing import TOO_LONG
from .message import MAX_MESSAGE, MAX_TAGS, Message

log = logging.getLogger("tcpchat")

#: The first line of a connection is IRC when it starts with one of these and a parameter.
REGISTRATION_COMMANDS = frozenset(("CAP", "PASS", "NICK", "USER"))

WELCOME = ("*** Welcome to tcpchat. IRC clients: register as usual. "
           "From netcat or telnet: type the name you want and press Enter.")


class ChatCore:
    def __init__(self, config, clock=time.monotonic, wall_clock=time.time):
        self.config = config
        self.clock = clock
        self.chat = Chat(config, clock, wall_clock)
        self._timers = []
        self._timer_order = itertools.count()

    # -- What drivers call ----------------------------------------------------------------

    def connect(self, host):
        """A new connection from *host* (an address string); returns its :class:`Client`."""
        now = self.clock()
        client = Client(host, now, self.chat.wall_clock())
        self.chat.add_client(client)
        # No source: plain users see a readable line; IRC clients take it as from the server.
        self.chat.send(client, Message("NOTICE", ("*", WELCOME)))
        self._schedule(client, now + self.config.registration_timeout)
        log.info("connection from %s", host)
        return client

    def receive(self, client, data):
        """Bytes from *client*'s peer; ``b""`` means it closed its sending side."""
        if client.closing:
            return
        if data:
            client.last_active = self.clock()
            client.ping_sent = None
            for line in client.framer.feed(data):
                if client.closing:
                    break
                self._line(client, line)
        else:
            dropped = client.framer.discard()
            if dropped:
                log.info("%r: dropped %d bytes of a line cut off by the disconnect",
                         client, dropped)
            self.chat.close(client, "Connection closed")
        self.chat.reap()

    def connection_lost(self, client, reason):
        """The driver could not read or write (reset, broken pipe): the client is gone."""
        self.chat.connection_lost(client, reason)
        self.chat.reap()

    def next_deadline(self):
        """When :meth:`run_timers` next has work, on the injected clock; None if never."""
        return self._timers[0][0] if self._timers else None

    def run_timers(self):
        now = self.clock()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, client = heapq.heappop(timers)
            self._check(client, now)
        self.chat.reap()

    def take_dirty(self):
        """The clients with output to send or a connection to close since the last call."""
        dirty = self.chat.dirty
        self.chat.dirty = set()
        return dirty

    def shutdown(self, reason="Server shutting down"):
        log.info("shutting down: %s", reason)
        self.chat.shutdown(reason)

    # -- Lines ----------------------------------------------------------------------------

    def _line(self, client, raw):
        chat = self.chat
        if raw is TOO_LONG or _too_long(raw):
            chat.reply(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")
            return
        if not raw:
            return  # empty lines are ignored, as modern IRC asks
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            chat.notice(client, "Line dropped: it is not valid UTF-8")
            return
        if "\0" in text or "\r" in text:
            chat.notice(client, "Line dropped: it holds a NUL or CR character")
            return
        if client.plain is None:
            client.plain = not _looks_like_irc(text)
            log.debug("%r speaks %s", client, "plain text" if client.plain else "IRC")
        if client.plain:
            plain.handle_line(chat, client, text)
        else:
            irc.handle_line(chat, client, text)

    # -- Timers ---------------------------------------------------------------------------

    def _schedule(self, client, when):
        heapq.heappush(self._timers, (when, next(self._timer_order), client))

    def _check(self, client, now):
        config = self.config
        if client.closing:
            return
        if not client.registered:
            deadline = client.connected_at + config.registration_timeout
            if now >= deadline:
                self.chat.close(client, "Registration timed out")
            else:
                self._schedule(client, deadline)
        elif client.plain:
            return  # netcat cannot answer PING; TCP keepalive finds dead plain peers
        elif client.ping_sent is not None:
            deadline = client.ping_sent + config.pong_timeout
            if now >= deadline:
                silent = int(now - client.last_active)
                self.chat.close(client, f"Ping timeout: {silent} seconds")
            else:
                self._schedule(client, deadline)
        elif now >= client.last_active + config.ping_interval:
            client.ping_sent = now
            server = config.server_name
            self.chat.send(client, Message("PING", (server,), server))
            self._schedule(client, now + config.pong_timeout)
        else:
            self._schedule(client, client.last_active + config.ping_interval)


def _too_long(raw):
    """Over the IRC limits: 4096 bytes of tags, 512 for the rest (CRLF included)."""
    body = raw
    if raw[:1] == b"@":
        tags, _, body = raw.partition(b" ")
        if len(tags) + 1 > MAX_TAGS:
            return True
    return len(body) + 2 > MAX_MESSAGE


def _looks_like_irc(text):
    words = text.split(None, 1)
    return len(words) == 2 and words[0].upper() in REGISTRATION_COMMANDS
