"""Plain mode: chat from netcat or telnet, one human line at a time.

A connection is plain when its first line is not an IRC registration command.  That line is the
name the user wants; after it, every line is a message to the default room, and lines starting
with ``/`` are the few commands in :data:`HELP`.  What plain users see is rendered from the same
IRC messages IRC users get (``alice: hello``, ``* bob joined #lobby``), so the two kinds of user
share the room both ways.

What plain users see comes from :mod:`tcpchat.display`, cleaned of control characters, so one
user cannot send terminal escape sequences to another.
"""

import itertools

from . import numerics as rpl
from .display import QUIT_WORDS, clean, describe, prefixed
from .names import nick_problem

HELP = (
    "*** Type a line and press Enter to talk to the room. Commands:",
    "***   /msg NAME text   a private message to NAME",
    "***   /me action       tell the room what you do (* alice waves)",
    "***   /nick NAME       change your name",
    "***   /who             who is in the room ((TLS): connected over TLS)",
    "***   /quit [reason]   leave (so do 'exit' and 'выход')",
    "***   //text           send text that starts with /",
)


def render(message):
    """The bytes a plain-mode user sees for *message*: one line, or b"" if nothing."""
    described = describe(message)
    if described is None:
        return b""
    return clean(prefixed(*described)).encode() + b"\r\n"


# -- Input ----------------------------------------------------------------------------------

def handle_line(chat, client, text):
    """One line from a plain-mode client (decoded, without its line end)."""
    if not client.registered:
        _register_step(chat, client, text)
        return
    if text.strip() in QUIT_WORDS:
        chat.close(client, "Quit")
    elif text.startswith("//"):
        _say(chat, client, text[1:])
    elif text.startswith("/"):
        name, _, argument = text[1:].partition(" ")
        command = _COMMANDS.get(name.lower())
        if command is None:
            chat.send_text(client, f"! Unknown command /{clean(name)}: /help lists the commands")
        else:
            command(chat, client, argument.strip())
    else:
        _say(chat, client, text)


def _register_step(chat, client, text):
    if client.nick is None:
        name = text.strip()
        if not name:
            return
        problem = nick_problem(name)
        if problem:
            chat.send_text(client, f"! {clean(name)!r} cannot be a name: {problem}. "
                                   "Names use letters, digits and - _ [ ] \\ ` ^ { } |. "
                                   "Type another name:")
        elif chat.nick_in_use(name):
            chat.send_text(client, f"! The name {name} is taken. Type another name:")
        else:
            chat.claim_nick(client, name)
            if chat.config.password is None:
                _complete_registration(chat, client)
            else:
                chat.send_text(client, "*** This server needs a password. Type it:")
    elif text == chat.config.password:
        _complete_registration(chat, client)
    else:
        chat.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        chat.close(client, "Bad password")


def _complete_registration(chat, client):
    chat.register(client, client.nick, client.nick)
    room = chat.join(client, chat.config.default_channel)
    company = "with " + _names(room, client) if len(room.members) > 1 else "on your own for now"
    chat.send_text(client, f"*** Welcome, {client.nick}! You are in {room.name} {company}.")
    chat.send_text(client, "*** Type a line and press Enter to talk; /help lists the commands.")


def _room(chat):
    return chat.config.default_channel


def _say(chat, client, text):
    if text.strip():
        chat.message(client, "PRIVMSG", _room(chat), text)


def _msg(chat, client, argument):
    name, _, text = argument.partition(" ")
    if not name or not text.strip():
        chat.send_text(client, "! Usage: /msg NAME text")
    elif chat.message(client, "PRIVMSG", name, text):
        chat.send_text(client, f"[private] -> {name}: {clean(text)}")


def _me(chat, client, argument):
    if argument:
        chat.message(client, "PRIVMSG", _room(chat), f"\x01ACTION {argument}\x01")
    else:
        chat.send_text(client, "! Usage: /me action")


def _nick(chat, client, argument):
    if argument:
        chat.set_nick(client, argument)
    else:
        chat.send_text(client, "! Usage: /nick NAME")


#: The most names /who lists for a room: a line a person can read, not the whole crowd.
WHO_NAMES = 100


def _who(chat, client, argument):
    for channel in client.channels.values():
        chat.send_text(client, f"*** In {channel.name}: {_names(channel, tls=True)}")


def _names(channel, leave_out=None, tls=False):
    """Who is in *channel* (but *leave_out*), for a person to read: the first
    :data:`WHO_NAMES`, then how many more, so that a line never grows with the room."""
    members = [member for member in itertools.islice(channel.members, WHO_NAMES + 1)
               if member is not leave_out][:WHO_NAMES]
    names = ", ".join(channel.prefixed(member) + (" (TLS)" if tls and member.conn.secure else "")
                      for member in members)
    others = len(channel.members) - (1 if leave_out in channel.members else 0)
    more = others - len(members)
    return f"{names} and {more} more" if more > 0 else names


def _quit(chat, client, argument):
    chat.close(client, f"Quit: {argument}" if argument else "Quit")


def _help(chat, client, argument):
    for line in HELP:
        chat.send_text(client, line)


_COMMANDS = {"msg": _msg, "me": _me, "nick": _nick, "who": _who, "quit": _quit, "help": _help}
