"""How an IRC message reads as one line for a person, and the words people type to leave.

Shared by the server's plain mode (what a netcat user sees) and the reference client, so both
say ``alice: hello``, ``* bob joined #lobby`` and ``* bob left (Quit: bye)`` the same way.

:func:`describe` gives the line and its kind; :func:`clean` makes text safe for a terminal: IRC
formatting codes are removed and other control characters replaced, so that no user can send
escape sequences to another's screen.
"""

import re

from ..protocol.names import is_channel

#: The assignment's words for leaving: typed alone on a line, they work like /quit, in plain
#: mode and in the reference client alike.
QUIT_WORDS = ("exit", "выход")

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


def describe(message):
    """``(kind, text)`` for *message*, or None for messages that are not for people (PING, CAP,
    CTCP requests).  The text is not cleaned yet."""
    command, params = message.command, message.params
    nick = nick_of(message.source)
    if command in ("PRIVMSG", "NOTICE"):
        target, text = params[0], params[-1]
        if "!" not in (message.source or ""):
            # From the server itself (its name, or no source at all).  Servers start their
            # notices with "***" to set them apart; so does the screen.
            return SERVER, text.removeprefix("*** ")
        if text.startswith("\x01"):
            kind, _sep, body = text.strip("\x01").partition(" ")
            if kind != "ACTION":
                return None  # CTCP requests are for programs, not people
            line = f"* {nick} {body}"
        elif command == "NOTICE":
            line = f"-{nick}- {text}"
        else:
            line = f"{nick}: {text}"
        return (MESSAGE, line) if is_channel(target) else (PRIVATE, "[private] " + line)
    if command == "JOIN":
        return EVENT, f"* {nick} joined {params[0]}"
    if command == "PART":
        return EVENT, f"* {nick} left {params[0]}" + (f" ({params[1]})" if len(params) > 1 else "")
    if command == "QUIT":
        return EVENT, f"* {nick} left ({params[0] if params else 'Quit'})"
    if command == "NICK":
        return EVENT, f"* {nick} is now known as {params[0]}"
    if command == "TOPIC":
        if params[1:] and params[1]:
            return EVENT, f"* {nick} set the topic of {params[0]}: {params[1]}"
        return EVENT, f"* {nick} cleared the topic of {params[0]}"
    if command == "MODE":
        if is_channel(params[0]) and len(params) > 1:
            return EVENT, f"* {nick} " + "; ".join(mode_phrases(params[0], params[1], params[2:]))
        return EVENT, f"* {nick} sets mode {' '.join(params[1:])} on {params[0]}"
    if command == "KICK" and len(params) > 1:
        because = f" ({params[2]})" if len(params) > 2 and params[2] else ""
        return EVENT, f"* {nick} removed {params[1]} from {params[0]}{because}"
    if command == "INVITE" and len(params) > 1:
        return EVENT, f"* {nick} invites you to {params[1]}"
    if command in ("FAIL", "WARN", "NOTE") and params:
        # IRCv3 standard replies: the command, a code, maybe context, then the text.
        return (SERVER if command == "NOTE" else ERROR), params[-1]
    if command == "ERROR":
        return SERVER, params[0] if params else "Disconnected"
    if command.isdigit() and params:
        # The first parameter is the recipient's own nick, the last the text for people; what
        # stands between (a nick, a channel) says what the text is about.
        about = " ".join(params[1:-1])
        text = f"{about}: {params[-1]}" if about else params[-1]
        return (ERROR if command[0] in "45" else SERVER), text
    return None


#: What each channel mode change does, as a phrase: (on, off).  "{}" is its argument, "{c}" the
#: channel.
_MODE_PHRASES = {
    "o": ("made {} an operator of {c}", "took operator status in {c} from {}"),
    "v": ("gave {} a voice in {c}", "took the voice in {c} from {}"),
    "b": ("banned {} from {c}", "lifted the ban on {} in {c}"),
    "k": ("set a key on {c}: joining takes the key {}", "removed the key of {c}"),
    "l": ("limited {c} to {} members", "removed the member limit of {c}"),
    "i": ("made {c} invite only", "opened {c} to all (no invitation needed)"),
    "m": ("made {c} moderated: only operators and voiced members may talk",
          "let everyone in {c} talk"),
    "n": ("closed {c} to messages from outside", "opened {c} to messages from outside"),
    "s": ("made {c} secret", "made {c} public"),
    "t": ("let only operators set the topic of {c}", "let anyone in {c} set the topic"),
}
#: Modes that take an argument: b, k, o, v always, l when set (as on every server).
_MODES_WITH_ARGUMENT = "bkov"


def mode_phrases(channel, letters, arguments):
    """What a channel MODE line did, a phrase per change (``made bob an operator of #c``)."""
    arguments = list(arguments)
    phrases, adding = [], True
    for char in letters:
        if char in "+-":
            adding = char == "+"
            continue
        argument = ""
        if (char in _MODES_WITH_ARGUMENT or (char == "l" and adding)) and arguments:
            argument = arguments.pop(0)
        on, off = _MODE_PHRASES.get(char, ("set mode +" + char + " {} on {c}",
                                           "set mode -" + char + " {} on {c}"))
        phrases.append((on if adding else off).format(argument, c=channel).replace("  ", " "))
    return phrases


def prefixed(kind, text):
    """The line as plain mode shows it: server words after ``***``, errors after ``!``."""
    if kind == SERVER:
        return "*** " + text
    if kind == ERROR:
        return "! " + text
    return text


def render_plain(message):
    """The bytes a plain-mode user sees for *message*: one line, or b"" if nothing."""
    described = describe(message)
    if described is None:
        return b""
    return clean(prefixed(*described)).encode() + b"\r\n"
