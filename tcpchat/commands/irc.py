"""The IRC client protocol: registration and the commands real clients send.

Each command is a row of :data:`COMMANDS`: its handler, how many parameters it needs and whether it
may run before registration, so 451 (not registered) and 461 (not enough parameters) are decided in
one place, :func:`handle_line`.  Handlers get the :class:`~tcpchat.chat.chat.Chat`, the client and
the parsed :class:`~tcpchat.protocol.message.Message`; they reply with numerics and leave what
everyone else sees to the chat's operations.  Reply formats follow https://modern.ircdocs.horse.
"""

import re
import time
from collections import namedtuple

from ..chat.chat import STATUS_PREFIXES
from ..chat.config import AWAYLEN, CHANLIMIT, MONITOR_LIMIT, TOPICLEN
from ..protocol import ircv3, multiline
from ..protocol import metadata as metadata_keys
from ..protocol import numerics as rpl
from ..protocol.message import (MAX_MESSAGE, MalformedMessage, Message, channel_message,
                                is_middle, parse, utf8_prefix)
from ..protocol.names import (CHANNELLEN, CHANTYPES, NICKLEN, Wildcards, channel_problem, fold,
                              is_channel)
from ..text.catalog import _, languages
from . import (accounts, batches, history, markers, metadata, moderation, rename, rooms,
               sasl, serverinfo, services)
from .serverinfo import VERSION

CAPABILITIES = ircv3.CAPABILITIES
#: The capability that lets AWAY come before registration.
PRE_AWAY = "draft/pre-away"
#: ELIST: the conditions LIST takes (creation time, masks, negated masks, topic time, users).
ELIST = "CMNTU"
#: The user mode that marks a bot (IRCv3 bot-mode), and its flag in WHO replies.
BOT_MODE = "B"
#: PRIVMSG and NOTICE take at most this many comma-separated targets (TARGMAX).
MAX_TARGETS = 4

ISUPPORT = (
    f"AWAYLEN={AWAYLEN}",
    f"BOT={BOT_MODE}",
    "CASEMAPPING=rfc8265",
    f"CHANLIMIT={CHANTYPES}:{CHANLIMIT}",
    f"CHANMODES={moderation.CHANMODES}",
    f"CHANNELLEN={CHANNELLEN}",
    f"CHANTYPES={CHANTYPES}",
    f"ELIST={ELIST}",
    "EXCEPTS=e",
    f"EXTBAN=,{moderation.EXTBANS}",
    "INVEX=I",
    f"KEYLEN={moderation.KEYLEN}",
    f"KICKLEN={moderation.KICKLEN}",
    f"MAXLIST={','.join(f'{char}:{moderation.MAXBANS}' for char in moderation.LISTS)}",
    f"MODES={moderation.MAX_PARAM_MODES}",
    f"MONITOR={MONITOR_LIMIT}",
    f"NAMELEN={ircv3.NAMELEN}",
    f"NICKLEN={NICKLEN}",
    "PREFIX=(" + "".join(moderation.PREFIXES) + ")" + "".join(moderation.PREFIXES.values()),
    f"STATUSMSG={STATUS_PREFIXES}",
    f"TARGMAX=JOIN:,NAMES:,PART:,PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},WHOIS:1,"
    f"KICK:{moderation.MAX_KICKS}",
    f"TOPICLEN={TOPICLEN}",
    "UTF8ONLY",
    "WHOX",
)


def handle_line(chat, client, text):
    """One line from an IRC client (decoded, without its line end)."""
    said = channel_message(text)
    if said is not None and client.registered and not (chat.batches and client in chat.batches):
        # The line nearly every line is, handled as below, where it comes to _privmsg and
        # then to chat.message, without the Message and the steps that cannot apply to it
        # (no tags, one target, a channel's): a ninth of the instructions a message costs
        # the core (python -m tcpchat.bench.instructions; docs/benchmarks.rst).
        counts = chat.stats.commands
        counts["PRIVMSG"] = counts.get("PRIVMSG", 0) + 1
        chat.message(client, "PRIVMSG", *said)
        return
    try:
        message = parse(text)
    except MalformedMessage:
        return  # a line of spaces, or a bare tag or source: nothing to answer
    if chat.batches and client in chat.batches and batches.take(chat, client, message):
        return  # a line of the client's open multiline batch
    # IRCv3 labeled-response: what the command queues for the client is labeled after it.
    start = None
    if message.tags and "label" in message.tags and "labeled-response" in client.caps:
        start = chat.delivery.mark(client)
    counts = chat.stats.commands  # STATS m: a plain dict (a Counter costs each line more)
    counts[message.command] = counts.get(message.command, 0) + 1
    command = COMMANDS.get(message.command)
    if command is not None:
        handler, min_params, needs_registration = command  # faster than three attributes
    if command is None:
        chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, message.command, _("Unknown command"))
    elif needs_registration and not client.registered:
        chat.delivery.reply(client, rpl.ERR_NOTREGISTERED, _("You have not registered"))
    elif len(message.params) < min_params:
        chat.delivery.reply(client, rpl.ERR_NEEDMOREPARAMS, message.command,
                            _("Not enough parameters"))
    elif message.tags and "batch" in message.tags and message.command != "BATCH":
        batches.stray(chat, client)
    elif handler(chat, client, message) is batches.LATER:
        return  # it answers a labeled line later itself (a multiline batch, at its end)
    if start is not None:
        label, batching = message.tags["label"], "batch" in client.caps
        server = chat.config.server_name
        chat.delivery.rewrite_since(
            client, start, lambda lines: ircv3.labeled(lines, label, server, batching))


# -- Registration ---------------------------------------------------------------------------

def _cap(chat, client, message):
    subcommand = message.params[0].upper()
    target = client.target
    if subcommand == "LS":
        # Registration waits for CAP END from here on, so the client can finish negotiating.
        client.cap_negotiating = not client.registered
        version = message.params[1] if len(message.params) > 1 else ""
        ls302 = version.isdigit() and int(version) >= 302
        if ls302 and "cap-notify" not in client.caps:
            # implied by 302, as specified
            chat.delivery.set_caps(client, client.caps | {"cap-notify"})
        listed = list(_offered(chat, client))
        if ls302:  # values (sasl=PLAIN,...) only for clients that can read them
            values = _cap_values(chat)
            listed = [f"{name}={values[name]}" if name in values else name for name in listed]
        policy = _sts_policy(chat, client, ls302)
        if policy:
            listed.append(policy)
        _cap_ls(chat, client, listed, ls302)
    elif subcommand == "LIST":
        chat.delivery.send(client,
                           _server(chat, "CAP", target, "LIST", " ".join(sorted(client.caps))))
    elif subcommand == "REQ":
        client.cap_negotiating = not client.registered
        request = message.params[1] if len(message.params) > 1 else ""
        names = request.split()
        offered = _offered(chat, client)
        if names and all(name.lstrip("-") in offered for name in names):
            caps = set(client.caps)
            for name in names:
                if name.startswith("-"):
                    caps.discard(name[1:])
                else:
                    caps.add(name)
            chat.delivery.set_caps(client, caps)
            chat.delivery.send(client, _server(chat, "CAP", target, "ACK", request))
        else:
            # All or nothing, as the spec says: one unknown name refuses the whole request.
            chat.delivery.send(client, _server(chat, "CAP", target, "NAK", request))
    elif subcommand == "END":
        if not client.registered:
            client.cap_negotiating = False
            _try_to_register(chat, client)
    else:
        chat.delivery.reply(client, rpl.ERR_INVALIDCAPCMD, message.params[0],
                            _("Invalid CAP command"))


def _cap_ls(chat, client, listed, ls302):
    """CAP LS: one line, or for a 302 client as many as the list needs, each but the last
    marked ``*`` (more to come), as capability negotiation 3.2 says."""
    target = client.target
    room = MAX_MESSAGE - len(f":{chat.config.server_name} CAP {target} LS * :\r\n".encode())
    lines = [[]]
    for name in listed:
        if ls302 and lines[-1] and len(" ".join(lines[-1] + [name]).encode()) > room:
            lines.append([])
        lines[-1].append(name)
    for line in lines[:-1]:
        chat.delivery.send(client, _server(chat, "CAP", target, "LS", "*", " ".join(line)))
    chat.delivery.send(client, _server(chat, "CAP", target, "LS", " ".join(lines[-1])))


def _sts_policy(chat, client, ls302):
    """The ``sts`` capability with its value, for a CAP LS that can carry values (*ls302*), if
    the server advertises one.  It is listed, never offered: a client cannot request it."""
    config = chat.config
    if config.sts_duration is None or not ls302:
        return None
    if client.conn.secure:
        return f"sts=duration={config.sts_duration}"
    return f"sts=port={config.sts_port}"


def _offered(chat, client):
    """The capabilities this client may enable: the chat's (history's while it keeps any,
    account registration's while it is open), and its transport's own."""
    offered = CAPABILITIES + client.conn.transport.capabilities
    if chat.config.registration == "open":
        offered += (accounts.CAPABILITY,)
    return offered + history.CAPABILITIES if chat.history is not None else offered


def _cap_values(chat):
    """The values CAP LS 302 gives capabilities."""
    return {"sasl": sasl.capability_value(chat),
            accounts.CAPABILITY: accounts.CAPABILITY_VALUE,
            multiline.CAPABILITY: multiline.CAPABILITY_VALUE,
            metadata_keys.CAPABILITY: metadata_keys.CAPABILITY_VALUE}


def _pass(chat, client, message):
    if client.registered:
        chat.delivery.reply(client, rpl.ERR_ALREADYREGISTERED, _("You may not reregister"))
    else:
        client.password = message.params[0]


def _nick(chat, client, message):
    nick = message.params[0] if message.params else ""
    if chat.set_nick(client, nick) and not client.registered:
        _try_to_register(chat, client)


def _user(chat, client, message):
    if client.registered or client.user is not None:
        chat.delivery.reply(client, rpl.ERR_ALREADYREGISTERED, _("You may not reregister"))
        return
    if not message.params[3]:
        chat.delivery.reply(client, rpl.ERR_NEEDMOREPARAMS, "USER",
                            _("Not enough parameters: the real name is empty"))
        return
    # The username shows in nick!user@host; keep it short and free of what would break a mask.
    username = "".join(c for c in message.params[0] if c.isalnum() or c in "-_.")[:10]
    client.user = username or "user"
    client.realname = message.params[3]
    _try_to_register(chat, client)


def _try_to_register(chat, client):
    if client.nick is None or client.user is None or client.cap_negotiating:
        return
    if not chat.check_password(client, client.password):
        return
    chat.claim(client, client.nick, lambda refusal: _claimed(chat, client, refusal))


def _claimed(chat, client, refusal):
    """Its nick is its own across the cluster (*refusal* None), or it must choose another."""
    if client.registered or client.gone:
        return  # registered by a line that came meanwhile, or gone
    if refusal is not None:
        chat.delivery.reply(client, refusal[0], chat.give_up_nick(client), refusal[1])
        return
    sasl.abort_on_registration(chat, client)
    chat.register(client, client.user, client.realname)
    _welcome(chat, client)
    chat.protect_nick(client)
    if chat.config.autojoin:
        _join_channel(chat, client, chat.config.default_channel)


def _welcome(chat, client):
    config = chat.config
    server = config.server_name
    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(config.created))
    chat.delivery.reply(client, rpl.RPL_WELCOME, _("Welcome to the {server} Network, {mask}",
                                                   server=server, mask=client.mask))
    chat.delivery.reply(client, rpl.RPL_YOURHOST, _(
        "Your host is {server}, running version {version}", server=server, version=VERSION))
    chat.delivery.reply(client, rpl.RPL_CREATED,
                        _("This server was created {created}", created=created))
    chat.delivery.reply(client, rpl.RPL_MYINFO, server, VERSION, "Biorw", "Ibeiklmnostv",
                        "Ibeklov")
    _isupport(chat, client)
    serverinfo.lusers(chat, client)
    _motd(chat, client, None)


def _isupport(chat, client):
    tokens = ISUPPORT + (f"NETWORK={chat.config.server_name}",
                         f"LANGUAGE={len(languages())},{','.join(languages())}")
    if chat.history is not None:
        tokens = tuple(sorted(tokens + history.isupport(chat.config)))
    for start in range(0, len(tokens), 13):  # at most 13 tokens a line
        chat.delivery.reply(client, rpl.RPL_ISUPPORT, *tokens[start:start + 13],
                            _("are supported by this server"))


def _version(chat, client, message):
    chat.delivery.reply(client, rpl.RPL_VERSION, VERSION, chat.config.server_name,
                        _("a small chat server"))
    _isupport(chat, client)


def _motd(chat, client, message):
    motd = chat.config.motd
    if motd is None:
        chat.delivery.reply(client, rpl.ERR_NOMOTD, _("MOTD File is missing"))
        return
    chat.delivery.reply(client, rpl.RPL_MOTDSTART, _("- {server_name} Message of the day - ",
                                                     server_name=chat.config.server_name))
    for line in motd:
        chat.delivery.reply(client, rpl.RPL_MOTD, "- " + line)
    chat.delivery.reply(client, rpl.RPL_ENDOFMOTD, _("End of /MOTD command."))


# -- Connection -----------------------------------------------------------------------------

def _ping(chat, client, message):
    server = chat.config.server_name
    chat.delivery.send(client, Message("PONG", (server, message.params[0]), server))


def _pong(chat, client, message):
    pass  # any line counts as a sign of life; the core already noted it


def _quit(chat, client, message):
    chat.quit(client, message.params[0] if message.params else "")


# -- Channels -------------------------------------------------------------------------------

def _join(chat, client, message):
    if message.params[0] == "0":  # JOIN 0 leaves every channel
        for channel in list(client.channels.values()):
            chat.part(client, channel)
        return
    keys = message.params[1].split(",") if len(message.params) > 1 else []
    for index, name in enumerate(message.params[0].split(",")):
        if name:
            _join_channel(chat, client, name, keys[index] if index < len(keys) else None)


def _join_channel(chat, client, name, key=None):
    if chat.renames:
        renamed_to = rename.redirect(chat, client, name)
        if renamed_to is not None:
            if rename.CAPABILITY in client.caps:
                return  # told: it joins the new name itself
            name = renamed_to
    problem = channel_problem(name)
    if problem:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name,
                            _("No such channel: {problem}", problem=problem))
        return
    if fold(name) in client.channels:
        return
    if len(client.channels) >= CHANLIMIT:
        chat.delivery.reply(client, rpl.ERR_TOOMANYCHANNELS, name,
                            _("You have joined too many channels"))
        return
    channel = rooms.prepare(chat, name)
    if channel is None and rooms.lookalike(chat, name):
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _(
            "No such channel: it looks too much like {channel}, which is there",
            channel=rooms.lookalike(chat, name)))
        return
    if not moderation.admitted(chat, client, name, channel, key):
        rooms.forsake(chat, channel)
        return
    channel = chat.join(client, name)
    rooms.joined(chat, client, channel)
    show_channel(chat, client, channel)


def show_channel(chat, client, channel):
    """What joining *channel* brings *client*, after the JOIN: its topic, the read marker,
    NAMES, metadata."""
    if channel.topic:
        _send_topic(chat, client, channel)
    markers.joined(chat, client, channel)  # before the end of NAMES, as the spec has it
    if "draft/no-implicit-names" not in client.caps:  # a client that asks when it wants them
        _send_names(chat, client, channel)
    metadata.joined(chat, client, channel)


def _part(chat, client, message):
    reason = message.params[1] if len(message.params) > 1 else ""
    for name in message.params[0].split(","):
        channel = _member_channel(chat, client, name)
        if channel is not None:
            chat.part(client, channel, reason)


def _member_channel(chat, client, name):
    """The channel *name* if *client* is in it; otherwise None, and the client told why."""
    channel = chat.registry.channels.get(fold(name))
    if channel is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _("No such channel"))
    elif client not in channel.members:
        chat.delivery.reply(client, rpl.ERR_NOTONCHANNEL, channel.name,
                            _("You're not on that channel"))
    else:
        return channel
    return None


def _topic(chat, client, message):
    name = message.params[0]
    if len(message.params) == 1:
        channel = _visible_channel(chat, client, name)
        if channel is None:
            chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _("No such channel"))
        elif channel.topic:
            _send_topic(chat, client, channel)
        else:
            chat.delivery.reply(client, rpl.RPL_NOTOPIC, channel.name, _("No topic is set"))
        return
    # A server operator may set the topic of a channel it is not in.
    channel = (moderation.operated_channel(chat, client, name) if client.oper
               else _member_channel(chat, client, name))
    if channel is not None:
        moderation.set_topic(chat, client, channel, message.params[1])


def _send_topic(chat, client, channel):
    chat.delivery.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
    chat.delivery.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by,
                        str(channel.topic_at))


def _names_command(chat, client, message):
    if not message.params:
        chat.delivery.reply(client, rpl.RPL_ENDOFNAMES, "*", _("End of /NAMES list"))
        return
    for name in message.params[0].split(","):
        channel = _visible_channel(chat, client, name)
        if channel is None:
            chat.delivery.reply(client, rpl.RPL_ENDOFNAMES, name, _("End of /NAMES list"))
        else:
            _send_names(chat, client, channel)


def _visible_channel(chat, client, name):
    """The channel *name*, unless there is none or it is secret (+s) and *client* is not in
    it: to those outside, a secret channel does not exist."""
    channel = chat.registry.channels.get(fold(name))
    return channel if channel is not None and channel.visible_to(client) else None


def _send_names(chat, client, channel):
    every_prefix = "multi-prefix" in client.caps
    if "userhost-in-names" in client.caps:
        names = [channel.prefixed(member, every_prefix) + member.mask[len(member.nick):]
                 for member in channel.members]
    else:
        names = [channel.prefixed(member, every_prefix) for member in channel.members]
    symbol = "@" if channel.secret else "="
    _reply_list(chat, client, rpl.RPL_NAMREPLY, (symbol, channel.name), names)
    chat.delivery.reply(client, rpl.RPL_ENDOFNAMES, channel.name, _("End of /NAMES list"))


def _reply_list(chat, client, numeric, head, items):
    """Send *items* space-separated in as few *numeric* lines as fit the line limit."""
    server = chat.config.server_name
    fixed = len(f":{server} {numeric} {client.target} {' '.join(head)} :\r\n".encode())
    line, size = [], fixed
    for item in items:
        cost = (len(item) if item.isascii() else len(item.encode())) + 1  # no bytes made
        if line and size + cost > MAX_MESSAGE:
            chat.delivery.reply(client, numeric, *head, " ".join(line))
            line, size = [], fixed
            if not _room_left(chat, client):
                return
        line.append(item)
        size += cost
    if line:
        chat.delivery.reply(client, numeric, *head, " ".join(line))


def _list(chat, client, message):
    """``LIST``, ``LIST #a,#b``, or with ELIST's conditions, comma-separated and all to hold:
    ``>N``/``<N`` members, ``C>N``/``C<N`` made more/less than N minutes ago, ``T>N``/``T<N``
    its topic set more/less than N minutes ago (a room with no topic matches neither),
    ``*mask*`` a name that matches one of the masks, ``!*mask*`` one that matches none."""
    if message.params and message.params[0]:
        wanted = _list_conditions(message.params[0], chat.wall_clock())
        if isinstance(wanted, str):
            # The item goes back as a parameter of its own where it can be one (no space).
            context = (wanted,) if is_middle(wanted) else ()
            chat.delivery.standard_reply(client, "FAIL", "LIST", "INVALID_PARAMS", _(
                "{item} is no channel, mask or condition of LIST", item=wanted), context)
            return
        names, tests = wanted
        if names is not None:  # just these channels, as they were asked for
            channels = filter(None, (_visible_channel(chat, client, name) for name in names))
        else:
            channels = (channel for channel in list(chat.registry.channels.values())
                        if channel.visible_to(client))
        channels = (channel for channel in channels if all(test(channel) for test in tests))
    else:
        channels = [channel for channel in chat.registry.channels.values()
                    if channel.visible_to(client)]
    chat.delivery.reply(client, rpl.RPL_LISTSTART, "Channel", _("Users  Name"))
    for channel in channels:
        if not _room_left(chat, client):
            break
        chat.delivery.reply(client, rpl.RPL_LIST, channel.name, str(len(channel.members)),
                            channel.topic)
    chat.delivery.reply(client, rpl.RPL_LISTEND, _("End of /LIST"))


#: A condition on a number: ``<`` or ``>``, then digits.
_COMPARISON = re.compile(r"[<>](\d{1,9})\Z")


def _list_conditions(argument, now):
    """What ``LIST`` *argument* asks for: ``(names, tests)``, with *names* the channels named
    outright (None if none), *tests* what each listed channel must pass; or the first item
    that is none of these, as a string."""
    names, masks, excluded, tests = [], [], [], []
    for item in filter(None, argument.split(",")):  # "#a,,#b" and a trailing comma: no item
        kind, rest = (item[0], item[1:]) if item[:1] in "CT" and item[1:2] in "<>" else ("", item)
        if rest[:1] in "<>":
            comparison = _COMPARISON.match(rest)
            if comparison is None:
                return item  # a condition with no number: said, not taken for a name
            tests.append(_list_test(kind, rest[0] == ">", int(comparison.group(1)), now))
        elif item.startswith("!") and len(item) > 1:
            excluded.append(item[1:])
        elif "*" in item or "?" in item:
            masks.append(item)
        elif is_channel(item):
            names.append(item)
        else:
            return item
    if masks:
        tests.append(lambda channel, wanted=Wildcards(*masks): wanted.matches(channel.folded))
    if excluded:
        tests.append(lambda channel, unwanted=Wildcards(*excluded):
                     not unwanted.matches(channel.folded))
    return (names or None), tests


def _list_test(kind, more, number, now):
    """The test for one ELIST condition: members (no *kind*), or minutes since the channel
    was made (``C``) or its topic set (``T``)."""
    if not kind:
        return (lambda channel: len(channel.members) > number) if more else (
            lambda channel: len(channel.members) < number)
    since = number * 60

    def test(channel):
        when = channel.created if kind == "C" else channel.topic_at
        if not when:
            return False  # never: no topic to be old or new
        return now - when > since if more else now - when < since
    return test


def _room_left(chat, client):
    """Whether a reply that grows with the server (LIST, WHO, NAMES) may go on (see
    ``Delivery.has_room``); if not, the client is told it was cut short (a closing client is told
    nothing, as ever) and the reply ends as usual."""
    if chat.delivery.has_room(client):
        return True
    chat.delivery.notice(client, _("The reply was cut short: it would not fit your send queue; "
                        "ask for less (a channel, a mask)"))
    return False


# -- Talking --------------------------------------------------------------------------------

def _privmsg(chat, client, message):
    command, params = message.command, message.params
    quiet = command == "NOTICE"
    if not params:
        quiet or chat.delivery.reply(client, rpl.ERR_NORECIPIENT,
                                     _("No recipient given ({command})", command=command))
        return
    if len(params) < 2 or not params[1]:
        quiet or chat.delivery.reply(client, rpl.ERR_NOTEXTTOSEND, _("No text to send"))
        return
    targets, text = params[0], params[1]
    if "," not in targets:  # one target, as nearly always: no list to make
        if targets[:1] != "#" and services.is_service(targets):
            quiet or services.handle(chat, client, targets, text)
        elif targets:
            chat.message(client, command, targets, text, message.tags)
        return
    targets = [target for target in targets.split(",") if target]
    if len(targets) > MAX_TARGETS:
        quiet or chat.delivery.reply(client, rpl.ERR_TOOMANYTARGETS, params[0], _(
            "Too many recipients: at most {count}", count=MAX_TARGETS))
        return
    for target in targets:
        if services.is_service(target):
            quiet or services.handle(chat, client, target, text)
        else:
            chat.message(client, command, target, text, message.tags)


def _tagmsg(chat, client, message):
    """TAGMSG: client-only tags and nothing else, for those with message-tags."""
    for target in [target for target in message.params[0].split(",") if target][:MAX_TARGETS]:
        chat.message(client, "TAGMSG", target, None, message.tags)


def _setname(chat, client, message):
    realname = message.params[0]
    if "setname" not in client.caps:
        chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, "SETNAME",
                            _("Unknown command: enable the setname capability first"))
    elif not realname or len(realname.encode()) > ircv3.NAMELEN:
        chat.delivery.standard_reply(client, "FAIL", "SETNAME", "INVALID_REALNAME",
                                     _("A real name is 1 to {length} bytes",
                                       length=ircv3.NAMELEN))
    else:
        chat.set_realname(client, realname)


# -- Who is who -----------------------------------------------------------------------------

def _who(chat, client, message):
    """``WHO mask [o][%fields[,token]]``: a channel's members, or the users whose nick (or
    host, or ``nick!user@host`` when the mask has ``!`` or ``@``) matches, ``*`` and ``?`` as
    wildcards; ``o`` keeps only server operators.  With ``%fields`` (WHOX), one 354 per user
    with just those fields, in WHOX's order."""
    mask = message.params[0] if message.params else "*"
    flags, _sep, fields = (message.params[1] if len(message.params) > 1 else "").partition("%")
    fields, _sep, token = fields.partition(",")
    every_prefix = "multi-prefix" in client.caps
    if is_channel(mask):
        channel = _visible_channel(chat, client, mask)
        members = channel.members.items() if channel else ()
        rows = ((channel.name, member, rank if every_prefix else rank[:1])
                for member, rank in members)
    else:
        rows = (("*", user, "") for user in _users_matching(chat, client, mask))
    server = chat.config.server_name
    for channel_name, user, prefixes in rows:
        if "o" in flags and not user.oper:
            continue
        if not _room_left(chat, client):
            break
        status = ("G" if user.away is not None else "H") + ("*" if user.oper else "") + prefixes
        if user.bot:
            status += BOT_MODE
        if fields:
            values = {"t": token[:3] or "0", "c": channel_name, "u": user.user, "i": user.host,
                      "h": user.host, "s": server, "n": user.nick, "f": status, "d": "0",
                      "l": str(_idle(chat, user)), "a": user.account or "0", "o": "n/a",
                      "r": user.realname}
            chat.delivery.reply(client, rpl.RPL_WHOSPCRPL,
                                *(values[field] for field in WHOX_FIELDS if field in fields))
        else:
            chat.delivery.reply(client, rpl.RPL_WHOREPLY, channel_name, user.user, user.host,
                                server, user.nick, status, f"0 {user.realname}")
    chat.delivery.reply(client, rpl.RPL_ENDOFWHO, mask, _("End of WHO list"))


#: The fields WHOX may ask for, in the order a 354 reply gives them.
WHOX_FIELDS = "tcuihsnfdlaor"


def _users_matching(chat, client, mask):
    """The registered users *mask* names, as WHO shows them: a nick names its user; a mask
    with wildcards names every match the asker may see (a ``+i`` user only to those who share
    a channel with it).  A generator: a reply cut short (see ``_room_left``) stops the work
    too, so ``WHO *`` among 10 000 users costs what the asker can take."""
    if not any(char in mask for char in "*?!@") and mask != "0":
        user = chat.registry.find_user(mask)
        if user is not None:
            yield user
        return
    pattern = Wildcards("*" if mask == "0" else mask)
    full = "!" in mask or "@" in mask
    shared = None
    for user in list(chat.registry.nicks.values()):
        if not user.registered or not (
                pattern.matches(fold(user.mask)) if full
                else pattern.matches(fold(user.nick)) or pattern.matches(fold(user.host))):
            continue
        if user.invisible and user is not client and not client.oper:
            if shared is None:
                shared = set(chat.registry.neighbours(client))
            if user not in shared:
                continue
        yield user


def _whois(chat, client, message):
    if not message.params:
        chat.delivery.reply(client, rpl.ERR_NONICKNAMEGIVEN, _("No nickname given"))
        return
    nick = message.params[-1].split(",")[0]  # WHOIS [server] nick
    user = chat.registry.find_user(nick)
    if user is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, nick, _("No such nick/channel"))
        chat.delivery.reply(client, rpl.RPL_ENDOFWHOIS, nick, _("End of /WHOIS list"))
        return
    chat.delivery.reply(client, rpl.RPL_WHOISUSER, user.nick, user.user, user.host, "*",
                        user.realname)
    channels = [channel.members[user][:1] + channel.name for channel in user.channels.values()
                if channel.visible_to(client)]
    if channels:
        _reply_list(chat, client, rpl.RPL_WHOISCHANNELS, (user.nick,), channels)
    server = chat.config.server_name if chat.cluster is None else chat.cluster.server_of(user)
    chat.delivery.reply(client, rpl.RPL_WHOISSERVER, user.nick, server,
                        _("{version}, a small chat server", version=VERSION))
    if user.bot:
        chat.delivery.reply(client, rpl.RPL_WHOISBOT, user.nick, _("is a bot"))
    if user.account is not None:
        chat.delivery.reply(client, rpl.RPL_WHOISACCOUNT, user.nick, user.account,
                            _("is logged in as"))
    if user.secure:
        chat.delivery.reply(client, rpl.RPL_WHOISSECURE, user.nick,
                            _("is using a secure connection"))
    if user.away is not None:
        chat.delivery.reply(client, rpl.RPL_AWAY, user.nick, user.away)
    metadata.whois(chat, client, user)
    idle = _idle(chat, user)
    chat.delivery.reply(client, rpl.RPL_WHOISIDLE, user.nick, str(idle), str(int(user.signon)),
                        _("seconds idle, signon time"))
    chat.delivery.reply(client, rpl.RPL_ENDOFWHOIS, user.nick, _("End of /WHOIS list"))


def _ison(chat, client, message):
    online = [user.nick for user in map(chat.registry.find_user, " ".join(message.params).split())
              if user is not None]
    chat.delivery.reply(client, rpl.RPL_ISON, " ".join(dict.fromkeys(online)))


def _idle(chat, user):
    """Seconds since *user* last spoke, by the wall clock (the time a message carries); never
    less than 0, should the clock be set back."""
    return max(0, int(chat.wall_clock() - user.last_spoke))


def _userhost(chat, client, message):
    replies = []
    for nick in " ".join(message.params).split()[:5]:
        user = chat.registry.find_user(nick)
        if user is not None:
            replies.append(f"{user.nick}={'-' if user.away is not None else '+'}"
                           f"{user.user}@{user.host}")
    chat.delivery.reply(client, rpl.RPL_USERHOST, " ".join(replies))


def _away(chat, client, message):
    text = message.params[0] if message.params else ""
    if not client.registered:
        # IRCv3 draft/pre-away: a client that asked for it may say so before it registers
        # (``AWAY *``: not there, for no reason given), and others learn it as it comes in.
        if PRE_AWAY not in client.caps:
            chat.delivery.reply(client, rpl.ERR_NOTREGISTERED, _("You have not registered"))
            return
        client.away = utf8_prefix(text, AWAYLEN) or None
    elif text:
        chat.set_away(client, utf8_prefix(text, AWAYLEN))
        chat.delivery.reply(client, rpl.RPL_NOWAWAY, _("You have been marked as being away"))
    else:
        chat.set_away(client, None)
        chat.delivery.reply(client, rpl.RPL_UNAWAY, _("You are no longer marked as being away"))


# -- Modes ----------------------------------------------------------------------------------

def _mode(chat, client, message):
    target = message.params[0]
    if is_channel(target):
        _channel_mode(chat, client, target, message.params[1:])
    else:
        _user_mode(chat, client, target, message.params[1:])


def _user_mode(chat, client, nick, changes):
    if chat.registry.find_user(nick) is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, nick, _("No such nick/channel"))
        return
    if fold(nick) != fold(client.nick):
        chat.delivery.reply(client, rpl.ERR_USERSDONTMATCH, _("Cant change mode for other users"))
        return
    if not changes:
        chat.delivery.reply(client, rpl.RPL_UMODEIS, "+" + _user_modes(client))
        return
    adding, applied = True, []
    for char in changes[0]:
        if char in "+-":
            adding = char == "+"
            continue
        if char == "i" and client.invisible != adding:
            chat.registry.set_invisible(client, adding)
        elif char == "w" and client.wallops != adding:
            client.wallops = adding
        elif char == BOT_MODE and client.bot != adding:
            client.bot = adding
        elif char == "o" and client.oper and not adding:  # +o only through OPER
            chat.registry.set_oper(client, False)
        elif char not in "iwor" + BOT_MODE:  # +r comes with logging in, not by MODE
            chat.delivery.reply(client, rpl.ERR_UMODEUNKNOWNFLAG, _("Unknown MODE flag"))
            continue
        else:
            continue  # already so, or +o asked for
        applied.append(("+" if adding else "-") + char)
    if applied:
        chat.delivery.send(client, Message("MODE", (client.nick, "".join(applied)), client.mask))
        chat.user_modes_changed(client)


def _user_modes(client):
    return "".join(letter for letter, on in (
        (BOT_MODE, client.bot), ("i", client.invisible), ("o", client.oper),
        ("r", client.account is not None), ("w", client.wallops)) if on)


def _channel_mode(chat, client, name, changes):
    channel = chat.registry.channels.get(fold(name))
    if channel is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _("No such channel"))
    elif not changes:
        moderation.show_modes(chat, client, channel)
    else:
        moderation.change_modes(chat, client, channel, changes[0], changes[1:])


def _kick(chat, client, message):
    reason = message.params[2] if len(message.params) > 2 else ""
    moderation.kick(chat, client, message.params[0], message.params[1], reason)


def _invite(chat, client, message):
    moderation.invite(chat, client, message.params[0], message.params[1])


def _server(chat, command, *params):
    return Message(command, params, chat.config.server_name)


Command = namedtuple("Command", "handler min_params needs_registration")

def _language(chat, client, message):
    """LANGUAGE code [code...]: the first of them the server has is the client's language
    from now on (the old IRC language-negotiation draft, as servers that offer it do)."""
    asked = " ".join(message.params).replace(",", " ").split()
    if len(asked) > len(languages()):
        chat.delivery.reply(client, rpl.ERR_TOOMANYLANGUAGES, str(len(languages())),
                            _("You specified too many languages"))
        return
    known = [code.lower() for code in asked if code.lower() in languages()]
    if not known:
        chat.delivery.reply(client, rpl.ERR_NOLANGUAGE, ",".join(asked),
                            _("Languages are not supported by this server"))
        return
    chat.delivery.set_language(client, known[0])
    chat.delivery.reply(client, rpl.RPL_YOURLANGUAGESARE, known[0],
                        _("Language preferences have been set"))


def _with_history(handler):
    """*handler*, for a server that keeps history; an unknown command on one that does not."""
    def handle(chat, client, message):
        if chat.history is None:
            chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, message.command,
                                _("Unknown command"))
        else:
            handler(chat, client, message)
    return handle


COMMANDS = {
    "CAP": Command(_cap, 1, False),
    "PASS": Command(_pass, 1, False),
    "NICK": Command(_nick, 0, False),
    "USER": Command(_user, 4, False),
    "PING": Command(_ping, 1, False),
    "PONG": Command(_pong, 0, False),
    "QUIT": Command(_quit, 0, False),
    "JOIN": Command(_join, 1, True),
    "PART": Command(_part, 1, True),
    "TOPIC": Command(_topic, 1, True),
    "NAMES": Command(_names_command, 0, True),
    "LIST": Command(_list, 0, True),
    "PRIVMSG": Command(_privmsg, 0, True),
    "NOTICE": Command(_privmsg, 0, True),
    "TAGMSG": Command(_tagmsg, 1, True),
    "SETNAME": Command(_setname, 1, True),
    "WHO": Command(_who, 0, True),
    "WHOIS": Command(_whois, 0, True),
    "ISON": Command(_ison, 1, True),
    "USERHOST": Command(_userhost, 1, True),
    "AWAY": Command(_away, 0, False),  # before registration too, with draft/pre-away
    "MODE": Command(_mode, 1, True),
    "KICK": Command(_kick, 2, True),
    "INVITE": Command(_invite, 2, True),
    "MOTD": Command(_motd, 0, True),
    "VERSION": Command(_version, 0, True),
    "CHATHISTORY": Command(_with_history(history.chathistory), 1, True),
    "LANGUAGE": Command(_language, 1, False),
    "AUTHENTICATE": Command(sasl.authenticate, 1, False),
    "REGISTER": Command(accounts.irc_register, 3, False),
    "REDACT": Command(_with_history(history.redact), 2, True),
    "MARKREAD": Command(markers.markread, 0, True),
    "BATCH": Command(batches.batch, 1, True),
    "METADATA": Command(metadata.command, 2, True),
    "RENAME": Command(rename.rename, 2, True),
    **{name: Command(handler, min_params, True)
       for name, (handler, min_params) in serverinfo.COMMANDS.items()},
}
