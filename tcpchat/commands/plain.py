"""Plain mode: chat from netcat or telnet, one human line at a time.

A connection is plain when its first line is not an IRC registration command.  That line is the
name the user wants; after it, every line is a message to the default room, and lines starting
with ``/`` are the few commands in :data:`HELP`.  What plain users see is rendered from the same
IRC messages IRC users get (``alice: hello``, ``* bob joined #lobby``), so the two kinds of user
share the room both ways.

What plain users see comes from :mod:`tcpchat.text.display`, cleaned of control characters, so one
user cannot send terminal escape sequences to another.
"""

import itertools

from ..protocol import multiline
from ..protocol import numerics as rpl
from ..protocol.message import split_utf8, text_room
from ..protocol.names import NICK_RULE, fold
from ..text.catalog import _, language_name, languages, ngettext
from ..text.display import clean, is_quit_word
from . import accounts, history, moderation, rooms, serverinfo, services
from .helptext import HELP


# -- Input ----------------------------------------------------------------------------------

def handle_line(chat, client, text):
    """One line from a plain-mode client (decoded, without its line end)."""
    if not client.registered:
        _register_step(chat, client, text)
        return
    if not text.startswith("/") or text.startswith("//"):
        _gather(chat, client, text[1:] if text.startswith("//") else text)
        return
    if chat.pastes:
        end_of_read(chat, client)  # what came before the command is said before it runs
    name, _sep, argument = text[1:].partition(" ")
    command = _COMMANDS.get(name.lower())
    if command is None:
        chat.delivery.send_text(client, _("! Unknown command /{name}: /help lists the commands",
                                          name=clean(name)))
    else:
        command(chat, client, argument.strip())


def end_of_read(chat, client):
    """The lines of one read are handled: what *client* said in them is said, as one
    message if it is more than one line (a paste)."""
    lines = chat.pastes.pop(client, None)
    if lines is not None:
        _say_lines(chat, client, lines)


def _gather(chat, client, text):
    """A line to say: kept until the read it came in is handled (:func:`end_of_read`), so
    that lines pasted at once go out as one multiline message, within its bounds (past them,
    the lines so far go out, and the rest start another)."""
    if is_quit_word(text):
        end_of_read(chat, client)
        chat.quit(client)
        return
    lines = chat.pastes.get(client)
    if lines is None:
        chat.pastes[client] = [text]
        return
    if (len(lines) == multiline.MAX_LINES
            or len("\n".join(lines).encode()) + 1 + len(text.encode()) > multiline.MAX_BYTES):
        _say_lines(chat, client, lines)
        chat.pastes[client] = [text]
        return
    lines.append(text)
    if client.conn.flood is not None:
        client.conn.flood.refund_line()  # the lines of one message: counted by their bytes


def blank_line(chat, client):
    """An empty line in the middle of *client*'s paste: kept, as the paste's paragraphs."""
    _gather(chat, client, "")


def _say_lines(chat, client, lines):
    """Say *lines* to the room: blank lines at either end dropped; one line left goes out in
    as many messages as it needs to fit (as IRC clients cut a long line), more as one
    multiline message."""
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return
    name = _room(chat)
    room = chat.registry.channels.get(fold(name))
    if room is not None and client not in room.members and "n" in room.modes:
        _tell_outside(chat, client)
    elif len(lines) == 1:
        for piece in _pieces(client, name, lines[0]):
            chat.message(client, "PRIVMSG", name, piece)
    else:
        composed = multiline.compose("\n".join(lines), text_room(client.mask, "PRIVMSG", name))
        chat.message(client, "PRIVMSG", name, multiline.combine(composed), None, composed)


def _register_step(chat, client, text):
    if client.nick is None:
        name = text.strip()
        if not name:
            return
        refusal = chat.nick_refusal(client, name)
        if refusal is None:
            chat.registry.claim_nick(client, name)
            if chat.config.password is None:
                _complete_registration(chat, client)
            else:
                chat.delivery.send_text(client, _("*** This server needs a password. Type it:"))
            return
        numeric, _text, detail = refusal
        if numeric == rpl.ERR_ERRONEUSNICKNAME:
            chat.delivery.send_text(client, _(
                "! {name!r} cannot be a name: {problem}. {rule} Type another name:",
                name=clean(name), problem=detail, rule=NICK_RULE))
        elif detail is not None:
            chat.delivery.send_text(client, _(
                "! The name {name} looks too much like {nick}, who is here. Type another name:",
                name=name, nick=detail))
        else:
            chat.delivery.send_text(client, _("! The name {name} is taken. Type another name:",
                                              name=name))
    elif chat.check_password(client, text):
        _complete_registration(chat, client)


def _complete_registration(chat, client):
    chat.claim(client, client.nick, lambda refusal: _claimed(chat, client, refusal))


def _claimed(chat, client, refusal):
    """Its name is its own across the cluster (*refusal* None), or it must type another."""
    if client.registered or client.gone:
        return
    if refusal is not None:
        name = chat.give_up_nick(client)
        if refusal[0] == rpl.ERR_NICKNAMEINUSE:
            chat.delivery.send_text(client, _("! The name {name} is taken. Type another name:",
                                              name=name))
        else:
            chat.delivery.send_text(client, _("! {reason} Type your name again in a moment:",
                                              reason=refusal[1]))
        return
    chat.register(client, client.nick, client.nick)
    room = rooms.prepare(chat, _room(chat))
    barred = room and moderation.join_refusal(room, client, None)
    if barred:
        rooms.forsake(chat, room)
        chat.delivery.send_text(client, _("*** Welcome, {nick}!", nick=client.nick))
        chat.delivery.reply(client, barred[0], room.name, barred[1])
        chat.delivery.send_text(client, _("*** /join [key] tries again; /help lists the commands."))
    else:
        _welcome(chat, client, chat.join(client, _room(chat)), first=True)
    chat.protect_nick(client)


def _welcome(chat, client, room, first=False):
    alone = len(room.members) == 1
    names = None if alone else _names(room, client)
    if first and alone:
        text = _("*** Welcome, {nick}! You are in {channel} on your own for now.",
                 nick=client.nick, channel=room.name)
    elif first:
        text = _("*** Welcome, {nick}! You are in {channel} with {names}.",
                 nick=client.nick, channel=room.name, names=names)
    elif alone:
        text = _("*** You are in {channel} on your own for now.", channel=room.name)
    else:
        text = _("*** You are in {channel} with {names}.", channel=room.name, names=names)
    chat.delivery.send_text(client, text)
    history.recent_lines(chat, client, room, chat.config.history_on_join)
    if first:
        chat.delivery.send_text(
            client, _("*** Type a line and press Enter to talk; /help lists the commands."))


def _room(chat):
    return chat.config.default_channel


def _pieces(client, target, text, wrapping=""):
    """*text* in pieces that each go out as one line to *target*: the server is a plain
    user's IRC client, so it splits long lines on the sending side, as IRC clients do."""
    return split_utf8(text, text_room(client.mask, "PRIVMSG", target) - len(wrapping.encode()))


def _tell_outside(chat, client):
    chat.delivery.send_text(client,
                            _("! You are not in {room}: /join comes back", room=_room(chat)))


def _msg(chat, client, argument):
    name, _sep, text = argument.partition(" ")
    recipient = chat.registry.find_user(name) if name else None
    if not name or not text.strip():
        chat.delivery.send_text(client, _("! Usage: /msg NAME text"))
    elif services.is_service(name):
        services.handle(chat, client, name, text)
    elif recipient is None:
        chat.message(client, "PRIVMSG", name, text)  # which says there is no such name
    else:
        for piece in _pieces(client, recipient.nick, text):
            chat.message(client, "PRIVMSG", recipient.nick, piece)
        chat.delivery.send_text(client, _("[private] -> {name}: {text}", name=name,
                                          text=clean(text)))


def _me(chat, client, argument):
    if argument:
        for piece in _pieces(client, _room(chat), argument, "\x01ACTION \x01"):
            chat.message(client, "PRIVMSG", _room(chat), f"\x01ACTION {piece}\x01")
    else:
        chat.delivery.send_text(client, _("! Usage: /me action"))


def _nick(chat, client, argument):
    if argument:
        chat.set_nick(client, argument)
    else:
        chat.delivery.send_text(client, _("! Usage: /nick NAME"))


#: The most names /who lists for a room: a line a person can read, not the whole crowd.
WHO_NAMES = 100


def _who(chat, client, argument):
    if not client.channels:
        _tell_outside(chat, client)
    for channel in client.channels.values():
        chat.delivery.send_text(client, ngettext(
            "*** {count} person in {channel}: {names}", "*** {count} people in {channel}: {names}",
            len(channel.members), channel=channel.name, names=_names(channel, tls=True)))


def _names(channel, leave_out=None, tls=False):
    """Who is in *channel* (but *leave_out*), for a person to read: the first
    :data:`WHO_NAMES`, then how many more, so that a line never grows with the room."""
    members = [member for member in itertools.islice(channel.members, WHO_NAMES + 1)
               if member is not leave_out][:WHO_NAMES]
    names = ", ".join(channel.prefixed(member) + (" (TLS)" if tls and member.secure else "")
                      for member in members)
    others = len(channel.members) - (1 if leave_out in channel.members else 0)
    more = others - len(members)
    if more > 0:
        return ngettext("{names} and {count} more", "{names} and {count} more", more,
                        names=names)
    return names


def _topic(chat, client, argument):
    channel = chat.registry.channels.get(fold(_room(chat)))
    if channel is None or client not in channel.members:
        _tell_outside(chat, client)
    elif argument:
        moderation.set_topic(chat, client, channel, argument)
    elif channel.topic:
        chat.delivery.send_text(client, _("*** The topic of {channel}: {topic} (set by {nick})",
                                          channel=channel.name, topic=clean(channel.topic),
                                          nick=channel.topic_by))
    else:
        chat.delivery.send_text(client, _("*** {channel} has no topic", channel=channel.name))


def _join(chat, client, argument):
    name = _room(chat)
    if fold(name) in client.channels:
        chat.delivery.send_text(client, _("! You are in {channel} already", channel=name))
        return
    room = rooms.prepare(chat, name)
    if moderation.admitted(chat, client, name, room, argument or None):
        _welcome(chat, client, chat.join(client, name))
    else:
        rooms.forsake(chat, room)


def _kick(chat, client, argument):
    name, _sep, reason = argument.partition(" ")
    if name:
        moderation.kick(chat, client, _room(chat), name, reason.strip())
    else:
        chat.delivery.send_text(client, _("! Usage: /kick NAME [reason]"))


def _mode(chat, client, argument):
    """/mode passes its words to IRC's MODE for the room."""
    channel = chat.registry.channels.get(fold(_room(chat)))
    words = argument.split()
    if channel is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, _room(chat), _("No such channel"))
    elif not words:
        moderation.show_modes(chat, client, channel)
    else:
        moderation.change_modes(chat, client, channel, words[0], words[1:])


def _rank_command(change):
    def command(chat, client, argument):
        if argument and " " not in argument:
            _mode(chat, client, f"{change} {argument}")
        else:
            chat.delivery.send_text(client, _("! Usage: /{command} NAME",
                                              command=_RANK_COMMANDS[change]))
    return command


_RANK_COMMANDS = {"+o": "op", "-o": "deop", "+v": "voice", "-v": "devoice"}


def _invite(chat, client, argument):
    if argument and " " not in argument:
        moderation.invite(chat, client, argument, _room(chat))
    else:
        chat.delivery.send_text(client, _("! Usage: /invite NAME"))


def _oper(chat, client, argument):
    words = argument.split()
    if len(words) != 2:
        chat.delivery.send_text(client, _("! Usage: /oper NAME PASSWORD"))
    else:
        serverinfo.oper(chat, client, *words)


def _room_command(chat, client, argument):
    """``/room``: who founded the room; ``/room register``, ``/room drop``, ``/room transfer
    ACCOUNT`` (see tcpchat.commands.rooms)."""
    words = argument.split()
    action = words[0].lower() if words else ""
    name = _room(chat)
    if not words:
        said = rooms.info(chat, name)
    elif action == "register" and len(words) == 1:
        said = rooms.register(chat, client, name)
    elif action == "drop" and len(words) == 1:
        said = rooms.drop(chat, client, name)
    elif action == "transfer" and len(words) == 2:
        said = rooms.transfer(chat, client, name, words[1])
    else:
        said = _("Usage: /room [register | drop | transfer ACCOUNT]")
    chat.delivery.send_text(client, _("*** {said}", said=said))


def _quit(chat, client, argument):
    chat.quit(client, argument)


def _history(chat, client, argument):
    most = chat.config.history_limit
    if chat.history is None:
        chat.delivery.send_text(client, _("! This server keeps no history"))
        return
    if argument and not (argument.strip().isdigit() and 1 <= int(argument) <= most):
        chat.delivery.send_text(client, _("! Usage: /history [N], N from 1 to {most}",
                                          most=most))
        return
    room = chat.registry.channels.get(fold(_room(chat)))
    if room is None or client not in room.members:
        _tell_outside(chat, client)
        return
    history.charge(client)
    if not history.recent_lines(chat, client, room, int(argument or 20)):
        chat.delivery.send_text(client, _("*** Nothing was said in {channel} yet",
                                          channel=room.name))


def _lang(chat, client, argument):
    code = argument.strip().lower()
    if not code:
        chat.delivery.send_text(client, _(
            "*** Languages: {languages}. Yours: {language}. /lang CODE changes it.",
            languages=", ".join(f"{each} ({language_name(each)})" for each in languages()),
            language=client.language))
    elif code not in languages():
        chat.delivery.send_text(client, _(
            "! There is no language {code} here: /lang lists those there are", code=clean(code)))
    else:
        chat.delivery.set_language(client, code)
        chat.delivery.send_text(client, _("*** Your language is now {name}.",
                                          name=language_name(code)))


def _help(chat, client, argument):
    for line in HELP:
        chat.delivery.send_text(client, line)


_COMMANDS = {"msg": _msg, "me": _me, "nick": _nick, "who": _who, "quit": _quit, "help": _help,
             "topic": _topic, "join": _join, "kick": _kick, "mode": _mode, "invite": _invite,
             "oper": _oper, "history": _history, "lang": _lang,
             "register": accounts.plain_register, "login": accounts.plain_login,
             "logout": accounts.plain_logout, "room": _room_command,
             **{name: _rank_command(change) for change, name in _RANK_COMMANDS.items()}}
