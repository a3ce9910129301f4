"""NickServ and ChanServ: the names IRC users have long written to for accounts and rooms.

They are not users, only addresses the server answers for, so that what irssi, HexChat or a
habit sends works: ``/msg NickServ IDENTIFY password`` (which many clients send by themselves
on connecting), ``REGISTER password``, ``LOGOUT``; ``/msg ChanServ REGISTER #room``, ``DROP``,
``TRANSFER #room account``, ``INFO #room``.  Answers come back as NOTICEs from the service.
SASL and REGISTER (:mod:`tcpchat.commands.sasl`, :mod:`tcpchat.commands.accounts`) do the
same without them; nobody may take these nicks.
"""

from ..protocol.message import Message
from ..protocol.names import SERVICES, fold
from ..text.catalog import _
from . import accounts, rooms

NICKSERV, CHANSERV = SERVICES
#: fold(name) -> the service's name.
NAMES = {fold(name): name for name in SERVICES}


def is_service(target):
    return fold(target) in NAMES


def handle(chat, client, target, text):
    """*text* sent to the service *target*."""
    service = NAMES[fold(target)]
    command, _sep, rest = text.strip().partition(" ")
    words = rest.split()
    handlers = _NICKSERV if service == NICKSERV else _CHANSERV
    handler = handlers.get(command.upper())

    def answer(reply):
        chat.delivery.send(client, Message("NOTICE", (client.target, reply),
                                           f"{service}!services@{chat.config.server_name}"))

    if handler is None:
        answer(_("Unknown command {command}. Commands: {commands}", command=command[:20],
                 commands=", ".join(handlers)))
    else:
        handler(chat, client, words, answer)


# -- NickServ -------------------------------------------------------------------------------

def _identify(chat, client, words, answer):
    """IDENTIFY [account] password."""
    if len(words) not in (1, 2):
        answer(_("Usage: IDENTIFY [account] password"))
        return
    name, password = words if len(words) == 2 else (client.nick, words[0])
    accounts.password_login(chat, client, name, password, answer)


def _register(chat, client, words, answer):
    """REGISTER password [email]: an account named as the nick (the e-mail is not kept)."""
    if len(words) not in (1, 2):
        answer(_("Usage: REGISTER password (one word; or use /register from netcat)"))
        return

    def registered(account):
        answer(_("Account {account} registered", account=account.name))

    accounts.register(chat, client, client.nick, words[0],
                      lambda _code, text: answer(text), registered)


def _logout(chat, client, _words, answer):
    if client.account is None:
        answer(_("You are not logged in"))
    else:
        accounts.logged_out(chat, client)


# -- ChanServ -------------------------------------------------------------------------------

def _one_room(handler, usage):
    def handle(chat, client, words, answer):
        if len(words) != 1:
            answer(usage)
        else:
            answer(handler(chat, client, words[0]))
    return handle


def _transfer(chat, client, words, answer):
    if len(words) != 2:
        answer(_("Usage: TRANSFER #room account"))
    else:
        answer(rooms.transfer(chat, client, *words))


_NICKSERV = {"IDENTIFY": _identify, "REGISTER": _register, "LOGOUT": _logout}
_CHANSERV = {
    "REGISTER": _one_room(rooms.register, _("Usage: REGISTER #room")),
    "DROP": _one_room(rooms.drop, _("Usage: DROP #room")),
    "TRANSFER": _transfer,
    "INFO": _one_room(lambda chat, _client, name: rooms.info(chat, name),
                      _("Usage: INFO #room")),
}
