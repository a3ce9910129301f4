"""The reference client's protocol state, with no I/O: bytes and typed lines in, events out.

:class:`ClientSession` registers (CAP LS 302 / CAP END, NICK, USER), joins the chosen channel,
answers PING, turns what the user types into IRC lines and what the server sends into events
for the screen.  Bytes to send collect in :meth:`ClientSession.take_outgoing`; the driver
(:mod:`tcpchat.client`) writes them.  Events are small tuples:

``Show(kind, text, when=None)``
    A line for the screen; *kind* is one of :mod:`tcpchat.text.display`'s kinds; *when*, for
    a line of history, the time it was said (seconds since the epoch), else None (now).
``NeedNick(reason)``
    The server refused the name while registering (432, 433): ask the user for another and
    call :meth:`~ClientSession.choose_nick`.
``Ready()``
    Registered and in the channel (or told why not): the user may type.
``Closed(reason)``
    The server sent ERROR: it is closing the connection.

Over UDP (``numbered=True``) the session asks for numbered datagrams
(:data:`~tcpchat.protocol.sequence.SEQ_CAP`), takes each datagram with :meth:`receive_datagram`, and
reports what the numbers reveal as error lines: ``[3 messages lost]``, ``[1 out of order]``
(the message itself is shown), ``[1 duplicate ignored]`` (it is not shown twice).
"""

import base64
import time
from collections import namedtuple

from ..protocol.framing import TOO_LONG, LineFramer, split_datagram
from ..protocol.ircv3 import parse_timestamp
from ..protocol.message import (MAX_MESSAGE, MalformedMessage, Message, encode_line, parse,
                                split_utf8, text_room)
from ..protocol.names import fold, is_channel
from ..protocol.sequence import DUPLICATE, LATE, LOST, SEQ_CAP, SequenceCheck, sequence_number
from ..text.catalog import ENGLISH, _, ngettext, translations
from ..text.display import (CROWD, CROWD_WINDOW, ERROR, EVENT, PRIVATE, SERVER, clean, comings,
                            describe, is_quit_word, nick_of)

Show = namedtuple("Show", "kind text when", defaults=(None,))
NeedNick = namedtuple("NeedNick", "reason")
Ready = namedtuple("Ready", "")
Closed = namedtuple("Closed", "reason")

#: Servers may send up to 8191 bytes of tags before the 512-byte message.
MAX_SERVER_LINE = 8191 + MAX_MESSAGE

NOT_IN_A_ROOM = _("You are not in a room: /join #room")

HELP = (
    _("Type a line and press Enter to talk in the current room. Commands:"),
    _("  /msg NAME text   a private message"),
    _("  /me action       * you do something"),
    _("  /nick NAME       change your name"),
    _("  /who             who is in the room"),
    _("  /join #room      join a room and talk there"),
    _("  /part [reason]   leave the current room"),
    _("  /quit [reason]   leave the chat (so do exit, выход and Ctrl-D)"),
    _("  /topic [text]    show the room's topic, or set it"),
    _("  /whois NAME      who NAME is"),
    _("  /away [text]     say you are away, or back"),
    _("  //text           send text that starts with /"),
    _("For the room's operators:"),
    _("  /kick NAME [reason]   put NAME out of the room"),
    _("  /op NAME, /deop NAME, /voice NAME, /devoice NAME   give or take a rank"),
    _("  /invite NAME     let NAME into an invite-only room"),
    _("  /mode ...        the room's modes, as IRC's MODE (+m, +i, +k KEY, +b MASK)"),
    _("Any other /command goes to the server as IRC (/list, /away text, /motd)."),
)

# Replies that only matter to programs; people do not need to see them.
_QUIET_NUMERICS = frozenset((
    "002", "003", "004", "005", "250", "251", "252", "253", "254", "255", "265", "266",
    "333", "329", "324", "368", "375", "376", "315", "318", "321", "323",
    "422",  # no MOTD: an error by number, but nothing is wrong
    "687",  # the language asked for (see _offered_languages): the lines that follow show it
))
#: Asked for when the server offers them all: a room's last lines, each with its time, in a
#: batch (IRCv3 draft/chathistory).
HISTORY_CAPS = ("batch", "server-time", "draft/chathistory")
#: Lines of a room's history shown on joining it.
HISTORY_ON_JOIN = 20
#: What others do that a crowded room shows once a window, and what keeps its members counted.
_COMINGS = frozenset(("JOIN", "PART", "KICK", "QUIT", "NICK"))
#: The rank prefixes a NAMES reply may put before a nick.
_PREFIXES = "~&@%+"
# What a failed JOIN of the chosen channel can bring instead of our JOIN.
#: What ends a SASL exchange (900 comes before 903 when it succeeds).
_SASL_ENDS = frozenset(("900", "903", "904", "905", "906", "907"))
_JOIN_ERRORS = frozenset(("403", "405", "471", "473", "474", "475", "476", "477"))


#: A user@host as long as servers make them (a 10-character username, a 63-character host).
_LONGEST_USERHOST = "u" * 10 + "@" + "h" * 63


class ClientSession:
    def __init__(self, nick, channel, realname=None, numbered=False, password=None,
                 language=ENGLISH, sasl=None, crowd=CROWD, clock=time.monotonic):
        self.nick = nick
        #: A room of more members than this is crowded: who came and went is shown once a
        #: window (:data:`CROWD_WINDOW` seconds), as the server tells netcat users.
        self.crowd = crowd
        self.clock = clock
        #: fold(channel) -> the folded nicks of its members, from NAMES and what came since.
        self._members = {}
        #: fold(channel) -> ``[channel, joined, left, due]``: a crowded room's comings and
        #: goings not shown yet, and when they are (see :meth:`tick`).
        self._comings = {}
        #: ``(account, password)`` to log in with SASL PLAIN while registering, or None.
        self.sasl = sasl
        #: The language the user reads: what the server says is described in it, and a
        #: server that offers it (LANGUAGE= in 005) is asked to speak it.
        self.language = language
        self.catalog = translations(language)
        #: The server's password (PASS), if it wants one.
        self.password = password
        #: The "user@host" the server shows after our nick, once our own JOIN shows it.
        self.userhost = None
        self.wanted_channel = channel
        self.realname = realname or nick
        #: Channels we are in, in the order we joined them; the last one is the current one.
        self.channels = []
        self.registered = False
        self.ready = False
        self.quitting = False
        self._framer = LineFramer(MAX_SERVER_LINE)
        self._outgoing = bytearray()
        self._names = {}  # channel -> names gathered from 353 until 366
        #: fold(channel) for each /join not answered yet (its room is current already), and
        #: for each /part (its room is left already: a JOIN answered late does not bring it
        #: back).
        self._joining, self._parting = set(), set()
        #: What the datagrams' numbers revealed so far, when they are numbered (UDP).
        self.sequence = SequenceCheck() if numbered else None
        #: Whether anything at all came from the server yet.
        self.heard = False
        #: The capabilities CAP LS listed so far, and whether the server keeps history that
        #: this session asked for (see :data:`HISTORY_CAPS`).
        self._offered, self.history = set(), False
        #: Open chathistory batches: id -> the room.
        self._history_batches = {}

    @property
    def current(self):
        return self.channels[-1] if self.channels else None

    # -- Output ---------------------------------------------------------------------------

    def _send(self, command, *params):
        self._outgoing += encode_line(Message(command, params))

    def take_outgoing(self):
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def start(self):
        """Queue the registration: capabilities first, so servers that have them wait for END.

        Numbered (over UDP), the whole registration goes in one go, asking for the numbering
        directly and ending negotiation at once: sent as one datagram, it either all arrives
        or none of it does, and can simply be sent again (see :meth:`restart`).
        """
        if self.sequence is not None:
            self._send("CAP", "REQ", SEQ_CAP)
        else:
            self._send("CAP", "LS", "302")
        if self.password is not None:
            self._send("PASS", self.password)
        self._send("NICK", self.nick)
        self._send("USER", self.nick, "0", "*", self.realname)
        if self.sequence is not None:
            self._send("CAP", "END")

    def restart(self):
        """Queue the registration again: nothing came back, so nothing of it arrived."""
        self._outgoing.clear()
        self.start()

    def keepalive(self):
        """Queue a PING: over UDP, silence lets a NAT forget the way back to us."""
        self._send("PING", "keepalive")

    def choose_nick(self, nick):
        self.nick = nick
        self._send("NICK", nick)

    def quit(self, reason=""):
        self.quitting = True
        if reason:
            self._send("QUIT", reason)
        else:
            self._send("QUIT")

    # -- What the user types --------------------------------------------------------------

    def handle_input(self, line):
        """One line the user typed; returns events to show at once (hints, private echoes)."""
        if is_quit_word(line):
            self.quit()
            return []
        if line.startswith("//"):
            return self._say(line[1:])
        if line.startswith("/"):
            name, _sep, argument = line[1:].partition(" ")
            command = _COMMANDS.get(name.lower())
            if command is None:
                return self._cmd_raw(name, argument.strip())
            return command(self, argument.strip())
        if not line.strip():
            return []
        return self._say(line)

    def _say(self, text, target=None):
        target = target or self.current
        if target is None:
            return [Show(ERROR, NOT_IN_A_ROOM)]
        # Each piece must fit the 512 bytes of ":nick!user@host PRIVMSG <target> :<piece>\r\n"
        # as the server relays it (a longer one would be refused with 417).  Until our own JOIN
        # shows our user@host, assume the longest usual one.
        source = f"{self.nick}!{self.userhost or _LONGEST_USERHOST}"
        for piece in split_utf8(text, text_room(source, "PRIVMSG", target)):
            self._send("PRIVMSG", target, piece)
        return []

    def _cmd_msg(self, argument):
        name, _sep, text = argument.partition(" ")
        if not name or not text.strip():
            return [Show(ERROR, _("Usage: /msg NAME text"))]
        self._say(text, name)
        return [Show(PRIVATE, _("[private] -> {name}: {text}", name=name, text=text))]

    def _cmd_me(self, argument):
        if not argument:
            return [Show(ERROR, _("Usage: /me action"))]
        return self._say(f"\x01ACTION {argument}\x01")

    def _cmd_nick(self, argument):
        if not argument or " " in argument:
            return [Show(ERROR, _("Usage: /nick NAME"))]
        self._send("NICK", argument)
        return []

    def _cmd_who(self, argument):
        if self.current is None:
            return [Show(ERROR, NOT_IN_A_ROOM)]
        self._send("NAMES", self.current)
        return []

    def _cmd_join(self, argument):
        if not is_channel(argument) or " " in argument:
            return [Show(ERROR, _("Usage: /join #room"))]
        self._send("JOIN", argument)
        # Current at once: the server handles the JOIN before any line typed after it, and
        # the prompt drawn next names the room those lines go to.  A refusal takes it back.
        self._forget_room(argument)
        self.channels.append(argument)
        self._joining.add(fold(argument))
        return []

    def _forget_room(self, channel):
        self.channels = [c for c in self.channels if fold(c) != fold(channel)]

    def _cmd_part(self, argument):
        if self.current is None:
            return [Show(ERROR, NOT_IN_A_ROOM)]
        if argument:
            self._send("PART", self.current, argument)
        else:
            self._send("PART", self.current)
        self._parting.add(fold(self.current))
        self._forget_room(self.current)  # at once, as for /join
        return []

    def _cmd_raw(self, name, argument):
        """Any other /command goes to the server as an IRC command, as IRC clients do
        (``/whois bob``, ``/list``, ``/away lunch``); the server answers it."""
        if not name.isalnum() or not name.isascii():
            return [Show(ERROR, _("Unknown command /{name}: /help lists the commands",
                                  name=clean(name)))]
        self._outgoing += (f"{name.upper()} {argument}".rstrip() + "\r\n").encode()
        return []

    def _in_room(self, command, *params):
        """Send *command* about the current room: its name first, then *params*."""
        if self.current is None:
            return [Show(ERROR, NOT_IN_A_ROOM)]
        self._send(command, self.current, *params)
        return []

    def _cmd_topic(self, argument):
        return self._in_room("TOPIC", argument) if argument else self._in_room("TOPIC")

    def _cmd_kick(self, argument):
        name, _sep, reason = argument.partition(" ")
        if not name:
            return [Show(ERROR, _("Usage: /kick NAME [reason]"))]
        return self._in_room("KICK", name, reason.strip()) if reason.strip() else \
            self._in_room("KICK", name)

    def _cmd_mode(self, argument):
        return self._in_room("MODE", *argument.split())

    def _cmd_invite(self, argument):
        if not argument or " " in argument:
            return [Show(ERROR, _("Usage: /invite NAME"))]
        if self.current is None:
            return [Show(ERROR, NOT_IN_A_ROOM)]
        self._send("INVITE", argument, self.current)
        return []

    def _cmd_away(self, argument):
        if argument:
            self._send("AWAY", argument)
        else:
            self._send("AWAY")
        return []

    def _cmd_whois(self, argument):
        if not argument or " " in argument:
            return [Show(ERROR, _("Usage: /whois NAME"))]
        self._send("WHOIS", argument)
        return []

    def _cmd_quit(self, argument):
        self.quit(argument)
        return []

    def _cmd_help(self, argument):
        return [Show(SERVER, line) for line in HELP]

    # -- What the server sends ------------------------------------------------------------

    def receive(self, data):
        """Bytes of the server's stream; returns the events they bring."""
        return self._lines(self._framer.feed(data))

    def receive_datagram(self, data):
        """One datagram from the server; returns the events it brings."""
        return self._lines(split_datagram(data))

    def _lines(self, lines):
        self.heard = True
        events = []
        for raw in lines:
            if raw is TOO_LONG:
                events.append(Show(ERROR, _("The server sent a line too long to read; skipped")))
                continue
            try:
                message = parse(raw.decode("utf-8", errors="replace"))
            except MalformedMessage:
                continue
            if self.sequence is not None and not self._in_sequence(message, events):
                continue
            try:
                events.extend(self._handle(message))
            except IndexError:
                # Fewer parameters than the command has (a short 353 from some server): shown
                # as it came, and the client reads on.
                line = raw.decode("utf-8", errors="replace")
                events.append(Show(SERVER,
                                   _("(a line this client cannot read: {line})", line=line)))
        return events

    def _in_sequence(self, message, events):
        """Check *message*'s number, adding what it reveals to *events*; False for a
        duplicate, which is not to be shown again."""
        number = sequence_number(message.tags)
        if number is None:
            return True
        verdict = self.sequence.see(number)
        if verdict is None:
            return True
        kind, count = verdict
        if kind == LOST:
            events.append(Show(ERROR, ngettext("[{count} message lost]",
                                                "[{count} messages lost]", count)))
        elif kind == LATE:
            events.append(Show(ERROR, _("[1 out of order]")))
        elif kind == DUPLICATE:
            events.append(Show(ERROR, _("[1 duplicate ignored]")))
            return False
        return True

    def _is_me(self, message):
        return fold(nick_of(message.source)) == fold(self.nick)

    def _handle(self, message):
        command, params = message.command, message.params
        if command == "PING":
            self._send("PONG", *params[:1])
            return []
        if command == "CAP":
            return self._cap(params)
        if command == "AUTHENTICATE":
            return self._authenticate(params)
        if command in _SASL_ENDS and not self.registered:
            return self._logged_in(command, params)
        batch = message.tags.get("batch") if message.tags else None
        if batch is not None and batch in self._history_batches:
            return self._history_line(message)
        if command == "BATCH":
            return self._batch(params)
        if command == "ERROR":
            return [Closed(params[0] if params else _("Closing link"))]
        if command == "NOTICE" and message.source is None and not self.registered:
            # tcpchat's greeting to a connection that has not said yet whether it speaks IRC:
            # it tells netcat users what to type, which is nothing for a user of this client.
            return []
        if command == "001":
            self.registered = True
            self.nick = params[0]
            self._send("JOIN", self.wanted_channel)
        elif command in ("432", "433") and not self.registered:
            return [NeedNick(f"{params[1]}: {params[-1]}")]
        elif command == "464" and not self.registered:
            hint = (_("The password was refused.") if self.password is not None else
                    _("This server wants a password: start the client with --password."))
            return [Show(ERROR, hint)]
        elif command in _JOIN_ERRORS and not self.ready:
            self.ready = True
            return [Show(ERROR, describe(message, self.catalog)[1]), Ready()]
        elif command in _JOIN_ERRORS and len(params) > 1 and fold(params[1]) in self._joining:
            self._joining.discard(fold(params[1]))  # /join refused: not in that room after all
            self._forget_room(params[1])
            return self._parted(params[1], describe(message, self.catalog)[1], ERROR)
        elif command == "353":
            self._names.setdefault(fold(params[2]), []).extend(params[3].split())
            return []
        elif command == "366":
            names = self._names.pop(fold(params[1]), [])
            self._members[fold(params[1])] = {fold(name.lstrip(_PREFIXES)) for name in names}
            return [Show(SERVER, _("In {channel}: {names}", channel=params[1],
                                         names=" ".join(names)))] if names else []
        elif command == "332":
            return [Show(SERVER, _("Topic of {channel}: {topic}", channel=params[1],
                                         topic=params[2]))]
        elif command == "005":
            self._offered_languages(params)
            return []
        elif command in _QUIET_NUMERICS:
            return []
        elif command == "JOIN" and self._is_me(message):
            self.userhost = (message.source or "").partition("!")[2] or None
            return self._joined(params[0])
        elif command == "PART" and self._is_me(message):
            return self._parted(params[0], _("* You left {channel}", channel=params[0]))
        elif command == "KICK" and params[1:] and self.nick and fold(params[1]) == fold(self.nick):
            if params[2:] and params[2]:
                saying = _("* {nick} removed you from {channel} ({reason})",
                           nick=nick_of(message.source), channel=params[0], reason=params[2])
            else:
                saying = _("* {nick} removed you from {channel}", nick=nick_of(message.source),
                           channel=params[0])
            return self._parted(params[0], saying)
        elif command == "NICK" and self._is_me(message):
            self.nick = params[0]
            return [Show(EVENT, _("* You are now known as {nick}", nick=params[0]))]
        elif command in _COMINGS and self._came_or_went(message):
            return []  # told at the end of the window, with the others (tick)
        described = describe(message, self.catalog)
        return [Show(*described)] if described else []

    def _cap(self, params):
        """Ask for :data:`HISTORY_CAPS` once the last LS line shows the server has them all,
        and for ``sasl`` to log in with; end negotiation then, or when the answer (or the
        login's) comes."""
        if self.registered or len(params) < 3:
            return []
        subcommand = params[1]
        shown = []
        if subcommand == "LS":
            self._offered.update(name.partition("=")[0] for name in params[-1].split())
            if params[2] == "*":
                return []  # more LS lines to come
            wanted = list(HISTORY_CAPS) if self._offered.issuperset(HISTORY_CAPS) else []
            if self.sasl is not None:
                if "sasl" in self._offered:
                    wanted.append("sasl")
                else:
                    shown.append(Show(ERROR, _("This server offers no login (SASL): you are "
                                               "not logged in.")))
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
                return shown
        elif subcommand == "ACK":
            acked = set(params[-1].split())
            self.history = acked.issuperset(HISTORY_CAPS)
            if "sasl" in acked:
                self._send("AUTHENTICATE", "PLAIN")
                return []  # CAP END once the login is answered
        self._send("CAP", "END")
        return shown

    def _authenticate(self, params):
        """The server is ready for our SASL PLAIN data: the account and password, in base64,
        in pieces of 400 (and an empty one after a last piece of exactly 400)."""
        if params != ("+",) or self.sasl is None:
            return []
        account, password = self.sasl
        data = base64.b64encode(f"\0{account}\0{password}".encode()).decode()
        for start in range(0, len(data), 400):
            self._send("AUTHENTICATE", data[start:start + 400])
        if len(data) % 400 == 0:
            self._send("AUTHENTICATE", "+")
        return []

    def _logged_in(self, command, params):
        """The end of the login: 900 (in) and 903, or 904 to 907 (not); registration goes
        on either way."""
        if command == "900":
            return [Show(SERVER, _("You are logged in as {account}.", account=params[2]))]
        if command != "903":
            self._send("CAP", "END")
            return [Show(ERROR, _("Login failed: {reason}", reason=params[-1]))]
        self._send("CAP", "END")
        return []

    def _offered_languages(self, params):
        """``LANGUAGE=2,en,ru`` in 005: ask for ours if the server has it."""
        for token in params[1:-1]:
            name, _sep, value = token.partition("=")
            if (name == "LANGUAGE" and self.language != ENGLISH
                    and self.language in value.split(",")[1:]):
                self._send("LANGUAGE", self.language)

    def _batch(self, params):
        """A chathistory batch opens (its lines come next, set apart) or closes."""
        reference = params[0]
        if reference.startswith("+") and params[1:2] == ("chathistory",):
            self._history_batches[reference[1:]] = room = params[2]
            return [Show(SERVER, _("Earlier in {channel}:", channel=room))]
        if reference.startswith("-") and reference[1:] in self._history_batches:
            room = self._history_batches.pop(reference[1:])
            return [Show(SERVER, _("(end of earlier conversation in {channel})",
                                   channel=room))]
        return []

    def _history_line(self, message):
        described = describe(message, self.catalog)
        if described is None:
            return []
        stamp = message.tags.get("time")
        return [Show(*described, when=parse_timestamp(stamp) if stamp else None)]

    # -- Crowded rooms ------------------------------------------------------------------

    def _came_or_went(self, message):
        """Someone else joined, left, was removed, quit or changed nick: keep the members
        counted; True when every room it concerns is crowded, so that nothing is shown now
        (it is told with the others at the window's end, by :meth:`tick`)."""
        command, params, nick = message.command, message.params, nick_of(message.source)
        if command in ("JOIN", "PART"):
            members = self._members.get(fold(params[0]))
            if members is None:
                return False
            joined = command == "JOIN"
            (members.add if joined else members.discard)(fold(nick))
            return self._held(params[0], nick, members, joined)
        if command == "KICK":
            if len(params) > 1:
                self._members.get(fold(params[0]), set()).discard(fold(params[1]))
            return False  # a removal is shown as it happens, crowded or not
        if command == "NICK":
            for members in self._members.values():
                if fold(nick) in members:
                    members.discard(fold(nick))
                    members.add(fold(params[0]))
            return False
        rooms = [channel for channel in self.channels  # QUIT: it left every room it was in
                 if fold(nick) in self._members.get(fold(channel), ())]
        held = []
        for channel in rooms:
            members = self._members[fold(channel)]
            members.discard(fold(nick))
            held.append(self._held(channel, nick, members, False))
        return bool(rooms) and all(held)

    def _held(self, channel, nick, members, joined):
        """*nick* came to (or left) *channel*, whose members are now *members*: if the room
        is crowded (counting *nick*), kept for the window's line; whether it was."""
        if len(members) + (0 if joined else 1) <= self.crowd:
            return False
        pending = self._comings.get(fold(channel))
        if pending is None:
            pending = [channel, [], [], self.clock() + CROWD_WINDOW]
            self._comings[fold(channel)] = pending
        pending[1 if joined else 2].append(nick)
        return True

    def next_deadline(self):
        """When :meth:`tick` next has lines to show (on the session's clock), or None."""
        return min((pending[3] for pending in self._comings.values()), default=None)

    def tick(self, now):
        """The lines of the crowded rooms whose window ended by *now*."""
        shown = []
        for key, (channel, joined, left, due) in list(self._comings.items()):
            if due <= now:
                del self._comings[key]
                shown += [Show(EVENT, line)
                          for line in comings(channel, int(CROWD_WINDOW), joined, left)]
        return shown

    def _joined(self, channel):
        self._joining.discard(fold(channel))
        if fold(channel) in self._parting:
            return [Show(EVENT, _("* You joined {channel}", channel=channel))]  # and left
        known = [index for index, c in enumerate(self.channels) if fold(c) == fold(channel)]
        if known:  # joined at /join already: in its place, as the server spells it
            self.channels[known[0]] = channel
        else:
            self.channels.append(channel)
        events = [Show(EVENT, _("* You joined {channel}", channel=channel))]
        if self.history:
            self._send("CHATHISTORY", "LATEST", channel, "*", str(HISTORY_ON_JOIN))
        if fold(channel) == fold(self.wanted_channel) and not self.ready:
            self.ready = True
            events.append(Ready())
        return events

    def _parted(self, channel, saying, kind=EVENT):
        self._parting.discard(fold(channel))
        self._members.pop(fold(channel), None)
        self._comings.pop(fold(channel), None)
        self._forget_room(channel)
        if self.current:
            saying = _("{saying}; now in {channel}", saying=saying, channel=self.current)
        return [Show(kind, saying)]


def _rank_command(change):
    """/op NAME and the like: MODE +o NAME in the current room."""
    def command(session, argument):
        if not argument or " " in argument:
            return [Show(ERROR, _("Usage: /{command} NAME", command=_RANK_COMMANDS[change]))]
        return session._in_room("MODE", change, argument)
    return command


_RANK_COMMANDS = {"+o": "op", "-o": "deop", "+v": "voice", "-v": "devoice"}

_COMMANDS = {
    "msg": ClientSession._cmd_msg, "me": ClientSession._cmd_me,
    "nick": ClientSession._cmd_nick, "who": ClientSession._cmd_who,
    "join": ClientSession._cmd_join, "part": ClientSession._cmd_part,
    "quit": ClientSession._cmd_quit, "help": ClientSession._cmd_help,
    "topic": ClientSession._cmd_topic, "kick": ClientSession._cmd_kick,
    "mode": ClientSession._cmd_mode, "invite": ClientSession._cmd_invite,
    "whois": ClientSession._cmd_whois, "away": ClientSession._cmd_away,
    **{name: _rank_command(change) for change, name in _RANK_COMMANDS.items()},
}
