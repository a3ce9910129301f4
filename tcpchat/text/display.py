"""How an IRC message reads as one line for a person, and the words people type to leave.

Shared by the server's plain mode (what a netcat user sees) and the reference client, so both
say ``alice: hello``, ``* bob joined #lobby`` and ``* bob left (Quit: bye)`` the same way.

:func:`describe` gives the line and its kind; :func:`clean` makes text safe for a terminal: IRC
formatting codes are removed and other control characters replaced, so that no user can send
escape sequences to another's screen.
"""

import re
import time

from ..protocol.names import is_channel
from .catalog import N_, N_plural, Text, _, ngettext, render, translations

ENGLISH_CATALOG = translations()

#: The assignment's words for leaving: typed alone on a line, they work like /quit, in plain
#: mode and in the reference client alike.
QUIT_WORDS = ("exit", "выход")


def is_quit_word(line):
    """Whether *line* is one of :data:`QUIT_WORDS` alone, in any case (``Exit``, ``ВЫХОД``)."""
    return line.strip().casefold() in QUIT_WORDS

#: A room of more members than this is crowded: people are told who came and went once every
#: :data:`CROWD_WINDOW` seconds, a line for each (:func:`comings`), not a line a join.  The
#: server's default (``Config.crowd``), and the reference client's and the page's own.
CROWD = 50
CROWD_WINDOW = 10.0
#: How many names a line of comings and goings lists before "and N more".
NAMED = 5


#: The lines of a crowded room's window, and the end of a long list of names: here for the
#: server and the reference client, and sent to the page (tcpchat.transports.pagetext).
JOINED = N_plural("* {count} person joined {channel} in the last {seconds} s: {names}",
                  "* {count} people joined {channel} in the last {seconds} s: {names}")
LEFT = N_plural("* {count} person left {channel} in the last {seconds} s: {names}",
                "* {count} people left {channel} in the last {seconds} s: {names}")
AND_MORE = N_plural("{names} and {count} more", "{names} and {count} more")


def comings(channel, seconds, joined, left):
    """What people read of crowded *channel* at the end of a window of *seconds*: a line for
    the nicks in *joined*, a line for those in *left* (none for an empty list)."""
    return [ngettext(*sentence, len(nicks), channel=channel, seconds=seconds,
                     names=some_names(nicks))
            for sentence, nicks in ((JOINED, joined), (LEFT, left)) if nicks]


def some_names(nicks):
    """``ann, bob, cy``, or past :data:`NAMED` the first of them ``and 34 more``."""
    if len(nicks) <= NAMED:
        return ", ".join(nicks)
    return ngettext(*AND_MORE, len(nicks) - NAMED, names=", ".join(nicks[:NAMED]))


#: Kinds of line: talk in a room, talk to or from one person, something that happened, a word
#: from the server, and an error.
MESSAGE, PRIVATE, EVENT, SERVER, ERROR = "message", "private", "event", "server", "error"

# Bold, colour (with its digits), reset, monospace, reverse, italic, strike, underline.
_FORMATTING = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")
# C0 and C1 controls (ESC among them), DEL, and the bidirectional overrides that can disguise text.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text):
    """*text* made safe and readable on a terminal."""
    return _CONTROL.sub("\ufffd", _FORMATTING.sub("", text).replace("\t", " "))


def nick_of(source):
    return (source or "").partition("!")[0]


def describe(message, catalog=ENGLISH_CATALOG):
    """``(kind, text)`` for *message*, in *catalog*'s language, or None for messages that are
    not for people (PING, CAP, CTCP requests).  The text is not cleaned yet."""
    command, params = message.command, message.params
    nick = nick_of(message.source)
    if command in ("PRIVMSG", "NOTICE"):
        target, text = params[0], params[-1]
        if "!" not in (message.source or ""):
            # From the server itself (its name, or no source at all).  Servers start their
            # notices with "***" to set them apart; so does the screen.
            return SERVER, render(text, catalog).removeprefix("*** ")
        if text.startswith("\x01"):
            kind, _sep, body = text.strip("\x01").partition(" ")
            if kind != "ACTION":
                return None  # CTCP requests are for programs, not people
            line = f"* {nick} {body}"
        elif command == "NOTICE":
            line = f"-{nick}- {text}"
        else:
            line = f"{nick}: {text}"
        if is_channel(target):
            return MESSAGE, line
        if target[:1] in "@+" and is_channel(target[1:]):  # to a room's operators (voiced)
            return MESSAGE, _("[{target} only] {line}", target=target, line=line).render(catalog)
        return PRIVATE, _("[private] {line}", line=line).render(catalog)
    sentence = _event(command, nick, params)
    if sentence is not None:
        return EVENT, sentence.render(catalog)
    if command in ("FAIL", "WARN", "NOTE") and params:
        # IRCv3 standard replies: the command, a code, maybe context, then the text.
        return (SERVER if command == "NOTE" else ERROR), render(params[-1], catalog)
    if command == "ERROR":
        return SERVER, render(params[0], catalog) if params else _("Disconnected").render(catalog)
    if command in _NUMERIC_SENTENCES and len(params) >= _NUMERIC_SENTENCES[command][0]:
        return SERVER, _NUMERIC_SENTENCES[command][1](params).render(catalog)
    if command.isdigit() and params:
        # The first parameter is the recipient's own nick, the last the text for people; what
        # stands between (a nick, a channel) says what the text is about.
        about = " ".join(params[1:-1])
        text = render(params[-1], catalog)
        text = f"{about}: {text}" if about else text
        return (ERROR if command[0] in "45" else SERVER), text
    return None


def _when(seconds):
    """A Unix time a numeric gives, as people read a time (UTC); as it came if it is none."""
    if not seconds.isdigit():
        return seconds
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(seconds)))


#: Numerics whose parameters are the news and whose last one is no sentence: the fewest
#: parameters each needs, and the sentence made of them.
_NUMERIC_SENTENCES = {
    "301": (3, lambda params: _("{nick} is away: {message}", nick=params[1],
                                message=params[2])),
    "324": (3, lambda params: _("{channel} has the modes {modes}", channel=params[1],
                                modes=" ".join(params[2:]))),
    "329": (3, lambda params: _("{channel} was made {time}", channel=params[1],
                                time=_when(params[2]))),
    "341": (3, lambda params: _("You invited {nick} to {channel}", nick=params[1],
                                channel=params[2])),
    "367": (5, lambda params: _("{channel} bans {mask} (set by {nick}, {time})",
                                channel=params[1], mask=params[2], nick=params[3],
                                time=_when(params[4]))),
}


def _event(command, nick, params):
    """What happened, as a sentence for people (a :class:`~tcpchat.text.catalog.Text`), or
    None if *command* is no event."""
    if command == "JOIN":
        return _("* {nick} joined {channel}", nick=nick, channel=params[0])
    if command == "PART":
        if len(params) > 1:
            return _("* {nick} left {channel} ({reason})", nick=nick, channel=params[0],
                     reason=params[1])
        return _("* {nick} left {channel}", nick=nick, channel=params[0])
    if command == "QUIT":
        return _("* {nick} left ({reason})", nick=nick,
                 reason=params[0] if params else _("Quit"))
    if command == "NICK":
        return _("* {nick} is now known as {new_nick}", nick=nick, new_nick=params[0])
    if command == "RENAME" and len(params) > 1:
        if params[2:] and params[2]:
            return _("* {nick} renamed {channel} to {new_name} ({reason})", nick=nick,
                     channel=params[0], new_name=params[1], reason=params[2])
        return _("* {nick} renamed {channel} to {new_name}", nick=nick, channel=params[0],
                 new_name=params[1])
    if command == "TOPIC":
        if params[1:] and params[1]:
            return _("* {nick} set the topic of {channel}: {topic}", nick=nick,
                     channel=params[0], topic=params[1])
        return _("* {nick} cleared the topic of {channel}", nick=nick, channel=params[0])
    if command == "MODE":
        if is_channel(params[0]) and len(params) > 1:
            return _("* {nick} {changes}", nick=nick, changes=_Joined(
                "; ", mode_phrases(params[0], params[1], params[2:])))
        return _("* {nick} sets mode {modes} on {target}", nick=nick,
                 modes=" ".join(params[1:]), target=params[0])
    if command == "KICK" and len(params) > 1:
        if len(params) > 2 and params[2] and params[2] != nick:  # not the kicker's name again
            return _("* {nick} removed {user} from {channel} ({reason})", nick=nick,
                     user=params[1], channel=params[0], reason=params[2])
        return _("* {nick} removed {user} from {channel}", nick=nick, user=params[1],
                 channel=params[0])
    if command == "INVITE" and len(params) > 1:
        return _("* {nick} invites you to {channel}", nick=nick, channel=params[1])
    return None


class _Joined(Text):
    """Sentences (Texts) joined by *separator*, each rendered in the language asked."""

    def __new__(cls, separator, parts):
        text = str.__new__(cls, separator.join(parts))
        text.msgid, text.plural, text.count, text.args = separator, None, None, {}
        text.parts = parts
        return text

    def render(self, catalog):
        return self.msgid.join(part.render(catalog) for part in self.parts)


def _mode_phrase(char, adding, argument, channel):
    """What one channel mode change did, as a clause after the one who did it."""
    if char == "o":
        return (_("made {user} an operator of {channel}", user=argument, channel=channel)
                if adding else
                _("took operator status in {channel} from {user}", user=argument,
                  channel=channel))
    if char == "v":
        return (_("gave {user} a voice in {channel}", user=argument, channel=channel)
                if adding else
                _("took the voice in {channel} from {user}", user=argument, channel=channel))
    if char == "b":
        return (_("banned {mask} from {channel}", mask=argument, channel=channel) if adding
                else _("lifted the ban on {mask} in {channel}", mask=argument, channel=channel))
    if char == "k":
        return (_("set a key on {channel}: joining takes the key {key}", key=argument,
                  channel=channel) if adding
                else _("removed the key of {channel}", channel=channel))
    if char == "l":
        return (_("limited {channel} to {limit} members", limit=argument, channel=channel)
                if adding else _("removed the member limit of {channel}", channel=channel))
    sentences = _FLAG_PHRASES.get(char)
    if sentences is not None:
        return _(sentences[0 if adding else 1], channel=channel)
    if argument:
        return _("set mode {change} {argument} on {channel}",
                 change=("+" if adding else "-") + char, argument=argument, channel=channel)
    return _("set mode {change} on {channel}", change=("+" if adding else "-") + char,
             channel=channel)


#: The flag modes' clauses: (set, unset).  Marked for extraction here, rendered by
#: _mode_phrase.
_FLAG_PHRASES = {
    "i": (N_("made {channel} invite only"), N_("opened {channel} to all (no invitation needed)")),
    "m": (N_("made {channel} moderated: only operators and voiced members may talk"),
          N_("let everyone in {channel} talk")),
    "n": (N_("closed {channel} to messages from outside"),
          N_("opened {channel} to messages from outside")),
    "s": (N_("made {channel} secret"), N_("made {channel} public")),
    "t": (N_("let only operators set the topic of {channel}"),
          N_("let anyone in {channel} set the topic")),
}
#: Modes that take an argument: b, k, o, v always, l when set (as on every server).
_MODES_WITH_ARGUMENT = "beIkov"


def mode_phrases(channel, letters, arguments):
    """What a channel MODE line did, a clause (a Text) per change (``made bob an operator of
    #c``)."""
    arguments = list(arguments)
    phrases, adding = [], True
    for char in letters:
        if char in "+-":
            adding = char == "+"
            continue
        argument = ""
        if (char in _MODES_WITH_ARGUMENT or (char == "l" and adding)) and arguments:
            argument = arguments.pop(0)
        phrases.append(_mode_phrase(char, adding, argument, channel))
    return phrases


def prefixed(kind, text):
    """The line as plain mode shows it: server words after ``***``, errors after ``!``."""
    if kind == SERVER:
        return "*** " + text
    if kind == ERROR:
        return "! " + text
    return text


def render_plain(message, catalog=ENGLISH_CATALOG):
    """The bytes a plain-mode user sees for *message*, in *catalog*'s language: one line (a
    block of them for a multiline message), or b"" if nothing."""
    described = describe(message, catalog)
    if described is None:
        return b""
    return "\r\n".join(as_block(prefixed(*described), message)).encode() + b"\r\n"


def as_block(line, message):
    """*line*, said of *message*, cleaned, as the lines a screen shows: itself, or for a
    multiline message (its text holds line feeds, which nothing else's does) a block, each
    line after the first under the first one's text."""
    if "\n" not in line:
        return [clean(line)]
    first, *rest = line.split("\n")
    said = message.params[-1].partition("\n")[0]
    indent = " " * max(0, len(first) - len(said))
    return [clean(first)] + [clean(indent + text) if text else "" for text in rest]
