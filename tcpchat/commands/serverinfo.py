"""The IRC commands about the server and its users as a whole, and its operators.

``LUSERS``, ``TIME``, ``VERSION``, ``INFO``, ``ADMIN`` and ``STATS`` describe the server;
``WHOWAS`` looks up who has left; ``MONITOR`` keeps a client told when nicks come and go;
``OPER`` makes a user a server operator (passwords checked as :mod:`tcpchat.commands.opers`
says), who may then ``KILL``, send ``WALLOPS`` to users with mode ``+w``, read ``STATS m``
and ``STATS l``, and moderate any channel as its operators may
(:func:`tcpchat.commands.moderation.may_moderate`).  Replies follow
https://modern.ircdocs.horse.

Handlers take ``(chat, client, message)``, like those of :mod:`tcpchat.commands.irc`, whose COMMANDS
table lists them.
"""

import functools
import time

from .. import __version__
from ..chat.config import MONITOR_LIMIT, OPER_WINDOW
from ..protocol import numerics as rpl
from ..protocol.message import Message, middle_or, utf8_prefix
from ..protocol.names import Wildcards, fold
from ..text.catalog import _, ngettext
from . import helptext
from .opers import check_password, check_unknown

VERSION = f"tcpchat-{__version__}"
KILLLEN = 200
#: Said when too many password checks wait already (see tcpchat.chat.offload).
BUSY = _("The server is busy checking passwords; try again soon")
#: The most lines STATS m and STATS l answer with: the commands most used, the connections
#: oldest first (the send queue bounds the rest).
STATS_COMMANDS = 50
STATS_LINKS = 1000
#: The most entries one WHOWAS answers with, whatever count it asks for.
WHOWAS_REPLIES = 20
INFO = (
    _("{version}: a small chat server in Python, standard library only.", version=VERSION),
    _("It speaks the IRC client protocol (https://modern.ircdocs.horse) and plain text,"),
    _("for netcat users, over TCP, TLS, UDP and WebSocket."),
)


# -- About the server -----------------------------------------------------------------------

def lusers(chat, client, message=None):
    """251 to 255, 265 and 266: how many users, invisible, operators, unregistered
    connections and channels; sent in the welcome burst too, as other servers do."""
    registry, reply = chat.registry, chat.delivery.reply
    users, invisible = registry.user_count, registry.invisible_count
    operators, unknown = registry.oper_count, len(registry.registering)
    channels = len(registry.channels)
    # In a cluster, 251 and 266 count every node's users (others' as visible), the rest
    # this node's.
    everyone, servers = users + registry.remote_count, 1
    if chat.cluster is not None:
        servers = chat.cluster.server_count()
    reply(client, rpl.RPL_LUSERCLIENT,
          ngettext("There are {visible} users and {invisible} invisible on {servers} server",
                   "There are {visible} users and {invisible} invisible on {servers} servers",
                   servers, visible=everyone - invisible, invisible=invisible,
                   servers=servers))
    reply(client, rpl.RPL_LUSEROP, str(operators),
          ngettext("operator online", "operators online", operators))
    reply(client, rpl.RPL_LUSERUNKNOWN, str(unknown),
          ngettext("unknown connection", "unknown connections", unknown))
    reply(client, rpl.RPL_LUSERCHANNELS, str(channels),
          ngettext("channel formed", "channels formed", channels))
    reply(client, rpl.RPL_LUSERME, _("I have {users} clients and {servers} servers",
                                     users=users, servers=servers - 1))
    maximum = registry.max_users
    reply(client, rpl.RPL_LOCALUSERS, str(users), str(maximum),
          _("Current local users {users}, max {maximum}", users=users, maximum=maximum))
    most = max(registry.max_all, maximum)
    reply(client, rpl.RPL_GLOBALUSERS, str(everyone), str(most),
          _("Current global users {users}, max {maximum}", users=everyone, maximum=most))


def _time(chat, client, message):
    now = chat.wall_clock()
    chat.delivery.reply(client, rpl.RPL_TIME, chat.config.server_name, str(int(now)),
                        time.strftime("%A %B %d %Y -- %H:%M:%S UTC", time.gmtime(now)))


def _info(chat, client, message):
    for line in INFO:
        chat.delivery.reply(client, rpl.RPL_INFO, line)
    chat.delivery.reply(client, rpl.RPL_ENDOFINFO, _("End of INFO list"))


def _admin(chat, client, message):
    config = chat.config
    chat.delivery.reply(client, rpl.RPL_ADMINME, config.server_name, _("Administrative info"))
    chat.delivery.reply(client, rpl.RPL_ADMINLOC1,
                        _("{server_name}, a tcpchat server", server_name=config.server_name))
    chat.delivery.reply(client, rpl.RPL_ADMINLOC2, _("Ask the person who runs it"))
    chat.delivery.reply(client, rpl.RPL_ADMINEMAIL,
                        config.admin_email or _("No contact address given"))


def _links(chat, client, message):
    """``LINKS [[server] mask]``: the servers of this network whose name matches *mask*,
    which is this one or none (a node of a cluster would list the others too), each as
    ``<server> <server> :<hops> <description>``, as ngircd answers it; then the end."""
    asked = message.params[-1] if message.params and message.params[-1] else "*"
    mask = middle_or(asked)
    server = chat.config.server_name
    if Wildcards(asked).matches(fold(server)):
        chat.delivery.reply(client, rpl.RPL_LINKS, server, server, f"0 {VERSION}")
    chat.delivery.reply(client, rpl.RPL_ENDOFLINKS, mask, _("End of /LINKS list"))


# -- Who was, who is ------------------------------------------------------------------------

def _whowas(chat, client, message):
    """``WHOWAS nick [count]``: who had that nick, newest first (the history is bounded)."""
    nick = message.params[0].split(",")[0]
    count = message.params[1] if len(message.params) > 1 else ""
    limit = int(count) if count.isdigit() and 0 < int(count) < WHOWAS_REPLIES \
        else WHOWAS_REPLIES
    key = fold(nick)
    found = [gone for gone in reversed(chat.registry.whowas) if fold(gone.nick) == key][:limit]
    if not found:
        chat.delivery.reply(client, rpl.ERR_WASNOSUCHNICK, nick, _("There was no such nickname"))
    for gone in found:
        chat.delivery.reply(client, rpl.RPL_WHOWASUSER, gone.nick, gone.user, gone.host, "*",
                            gone.realname)
        chat.delivery.reply(client, rpl.RPL_WHOISSERVER, gone.nick, chat.config.server_name,
                            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(gone.when)))
    chat.delivery.reply(client, rpl.RPL_ENDOFWHOWAS, nick, _("End of WHOWAS"))


def _monitor(chat, client, message):
    """``MONITOR + nicks``, ``- nicks``, ``C`` (clear), ``L`` (list), ``S`` (status)."""
    action = message.params[0]
    nicks = [nick for nick in (message.params[1] if len(message.params) > 1 else "").split(",")
             if nick]
    if action == "+":
        online, offline = [], []
        for index, nick in enumerate(nicks):
            if not chat.monitor(client, nick):
                chat.delivery.reply(client, rpl.ERR_MONLISTFULL, str(MONITOR_LIMIT),
                                    ",".join(nicks[index:]), _("Monitor list is full."))
                break
            user = chat.registry.find_user(nick)
            (online if user else offline).append(user.mask if user else nick)
        _status(chat, client, online, offline)
    elif action == "-":
        for nick in nicks:
            chat.registry.unmonitor(client, nick)
    elif action.upper() == "C":
        for nick in list(client.monitoring or ()):
            chat.registry.unmonitor(client, nick)
    elif action.upper() == "L":
        _list_in_lines(chat, client, rpl.RPL_MONLIST, _watched(chat, client))
        chat.delivery.reply(client, rpl.RPL_ENDOFMONLIST, _("End of MONITOR list"))
    elif action.upper() == "S":
        users = [(nick, chat.registry.find_user(nick)) for nick in _watched(chat, client)]
        _status(chat, client, [user.mask for _nick, user in users if user],
                [nick for nick, user in users if not user])
    else:
        chat.delivery.reply(client, rpl.ERR_UNKNOWNCOMMAND, "MONITOR",
                            _("Unknown MONITOR action {action!r}", action=utf8_prefix(action, 20)))


def _watched(chat, client):
    return sorted(client.monitoring or ())


def _status(chat, client, online, offline):
    if online:
        _list_in_lines(chat, client, rpl.RPL_MONONLINE, online)
    if offline:
        _list_in_lines(chat, client, rpl.RPL_MONOFFLINE, offline)


def _list_in_lines(chat, client, numeric, items):
    """*items* comma-separated, in as many *numeric* lines as fit."""
    line = []
    for item in items:
        if line and len(",".join(line + [item]).encode()) > 400:
            chat.delivery.reply(client, numeric, ",".join(line))
            line = []
        line.append(item)
    if line:
        chat.delivery.reply(client, numeric, ",".join(line))


# -- Operators ------------------------------------------------------------------------------

def _oper(chat, client, message):
    oper(chat, client, message.params[0], message.params[1])


def oper(chat, client, name, password):
    """OPER (and plain mode's /oper): *client* becomes a server operator if *password* is
    *name*'s; checks are bounded server-wide, each costing tens of milliseconds."""
    opers = chat.config.opers
    if not opers:
        chat.delivery.reply(client, rpl.ERR_NOOPERHOST, _("No operators on this server"))
        return
    now = chat.clock()
    checks = chat.oper_checks
    if len(checks) == checks.maxlen and now - checks[0] < OPER_WINDOW:
        chat.delivery.standard_reply(client, "FAIL", "OPER", "TRY_AGAIN",
                                     _("Too many OPER attempts on this server just now; try "
                                       "again soon"))
        return
    checks.append(now)
    encoded = opers.get(name)
    if encoded is None:  # the same cost and answer as a wrong password
        work = functools.partial(check_unknown, password)
    else:
        work = functools.partial(check_password, password, encoded)
    if not chat.off_loop(client, work, functools.partial(_opered, chat, client)):
        chat.delivery.standard_reply(client, "FAIL", "OPER", "TRY_AGAIN", BUSY)


def _opered(chat, client, accepted):
    if not accepted:
        chat.delivery.reply(client, rpl.ERR_PASSWDMISMATCH, _("Password incorrect"))
        return
    if not client.oper:
        chat.registry.set_oper(client, True)
        chat.delivery.send(client, Message("MODE", (client.nick, "+o"), client.mask))
        chat.user_modes_changed(client)
    chat.delivery.reply(client, rpl.RPL_YOUREOPER, _("You are now an IRC operator"))


def _need_oper(chat, client):
    if client.oper:
        return True
    chat.delivery.reply(client, rpl.ERR_NOPRIVILEGES,
                        _("Permission Denied- You're not an IRC operator"))
    return False


def _kill(chat, client, message):
    if not _need_oper(chat, client):
        return
    user = chat.registry.find_user(message.params[0])
    if user is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, message.params[0],
                            _("No such nick/channel"))
        return
    reason = utf8_prefix(message.params[1] if len(message.params) > 1 else "", KILLLEN)
    reason = reason or _("no reason given")
    if user.conn is None:  # another node's user: that node lets it go
        chat.cluster.kill(client, user, reason)
    else:
        killed(chat, user, client.mask, client.nick, reason)


def killed(chat, user, source, nick, reason):
    """*user* is let go by a server operator, *nick* (``nick!user@host`` *source*)."""
    chat.delivery.send(user, Message("KILL", (user.nick, reason), source))
    chat.close(user, _("Killed ({nick} ({reason}))", nick=nick, reason=reason))


def _wallops(chat, client, message):
    if not _need_oper(chat, client):
        return
    chat.wallops(client, message.params[0])


def _stats(chat, client, message):
    """``STATS u``: how long the server has been up (anyone).  For server operators, ``STATS
    m``: the commands received, by how often; ``STATS l``: each connection, with the bytes
    waiting for it and how long it has been open."""
    letter = message.params[0][:1] if message.params else ""
    stats = chat.stats
    if letter == "u":
        up = int(chat.wall_clock() - stats.started)
        days, rest = divmod(up, 86400)
        chat.delivery.reply(client, rpl.RPL_STATSUPTIME, _(
            "Server Up {days} days {hours}:{minutes:02d}:{seconds:02d}", days=days,
            hours=rest // 3600, minutes=rest // 60 % 60, seconds=rest % 60))
    elif letter in ("m", "l") and not client.oper:
        chat.delivery.reply(client, rpl.ERR_NOPRIVILEGES,
                            _("Permission Denied- You're not an IRC operator"))
    elif letter == "m":
        used = sorted(stats.commands.items(), key=lambda item: -item[1])
        for command, count in used[:STATS_COMMANDS]:
            chat.delivery.reply(client, rpl.RPL_STATSCOMMANDS, command, str(count))
    elif letter == "l":
        now = chat.clock()
        oldest_first = sorted(chat.registry.clients, key=lambda user: user.conn.connected_at)
        for user in oldest_first[:STATS_LINKS]:
            conn = user.conn
            chat.delivery.reply(client, rpl.RPL_STATSLINKINFO, f"{user.target}[{user.host}]",
                                str(conn.pending), "0", "0", "0", "0",
                                str(int(now - conn.connected_at)))
    chat.delivery.reply(client, rpl.RPL_ENDOFSTATS, letter or "*", _("End of STATS report"))


def _help(chat, client, message):
    """``HELP [subject]`` (and ``HELPOP``): the help plain users read with ``/help``
    (tcpchat.commands.helptext), all of it, or the lines about one command."""
    asked = message.params[0] if message.params and message.params[0] else "*"
    # The subject goes back as a parameter of its own: "*" for one that cannot be one, and
    # for one too long to be a command, which would only make the reply long.
    subject = middle_or(asked) if len(asked) <= 32 else "*"
    lines = helptext.lines_about(asked)
    reply = chat.delivery.reply
    if not lines:
        reply(client, rpl.ERR_HELPNOTFOUND, subject, _("No help available on this topic"))
        return
    reply(client, rpl.RPL_HELPSTART, subject, _("The commands of this chat")
          if asked == "*" else "/" + asked.lstrip("/").lower())
    reply(client, rpl.RPL_HELPTXT, subject, "")  # as the spec asks: a title, then a blank
    for line in helptext.irc_lines(lines, client.encoding.catalog):
        reply(client, rpl.RPL_HELPTXT, subject, line)
    reply(client, rpl.RPL_ENDOFHELP, subject, _("End of /HELP"))


COMMANDS = {
    # name: (handler, min_params); all need registration
    "HELP": (_help, 0),
    "HELPOP": (_help, 0),
    "STATS": (_stats, 0),
    "LUSERS": (lusers, 0),
    "TIME": (_time, 0),
    "INFO": (_info, 0),
    "ADMIN": (_admin, 0),
    "LINKS": (_links, 0),
    "WHOWAS": (_whowas, 1),
    "MONITOR": (_monitor, 1),
    "OPER": (_oper, 2),
    "KILL": (_kill, 1),
    "WALLOPS": (_wallops, 1),
}
