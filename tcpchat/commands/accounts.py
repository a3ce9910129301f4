"""Accounts: registering one, and logging in to it, for IRC clients and plain users alike.

- IRC: ``REGISTER`` (IRCv3 ``draft/account-registration``, before or after connecting) and SASL
  (:mod:`tcpchat.commands.sasl`).  Replies follow the specifications: ``REGISTER SUCCESS`` or
  ``FAIL REGISTER <code>``; 900 when logged in.
- Plain mode: ``/register PASSWORD`` makes an account of the user's name, ``/login PASSWORD``
  logs in to it, ``/logout`` out.  The password is the rest of the line, spaces and all; an
  account is named as its user, so to log in to another, take its name first (``/nick``).

Every password check and every new hash runs off the loop (:meth:`Chat.off_loop
<tcpchat.chat.chat.Chat.off_loop>`); the user's next lines wait for the answer.  Failed logins
make the next try of that account and that address wait longer (``Chat.login_delays``); an
unknown account costs the same work and gets the same answer as a wrong password.
"""

import functools
import logging

from ..protocol import numerics as rpl
from ..protocol.message import Message
from ..protocol.names import fold, nick_problem
from ..store.accounts import Account
from ..store.credentials import check_password, check_unknown, hash_password, scram_keys
from ..text.catalog import _, ngettext
from . import rooms

log = logging.getLogger("tcpchat")

#: Passwords shorter than this are refused as too easy to guess (WEAK_PASSWORD).
MIN_PASSWORD = 8
#: Bytes: longer is refused (UNACCEPTABLE_PASSWORD): hashing costs grow with it.
MAX_PASSWORD = 300
#: What the draft/account-registration capability says: REGISTER works before connecting.
CAPABILITY = "draft/account-registration"
CAPABILITY_VALUE = "before-connect"

WRONG = _("Wrong account or password")
BUSY = _("The server is busy checking passwords; try again soon")


# -- Registering ----------------------------------------------------------------------------

def registration_refusal(chat, client, name, password):
    """Why *client* may not register account *name* with *password*, as ``(code, text)``
    (the FAIL REGISTER code), or None.  Counts the registration against the rate limits if
    it may."""
    accounts = chat.accounts
    if chat.config.registration != "open":
        return "TEMPORARILY_UNAVAILABLE", _("Registration is closed on this server: its "
                                            "operators make accounts")
    if client.account is not None:
        return "ALREADY_AUTHENTICATED", _("You are logged in to an account already")
    if client.nick is None:
        return "NEED_NICK", _("Choose a nick first: the account takes its name")
    if fold(name) != fold(client.nick):
        return "ACCOUNT_NAME_MUST_BE_NICK", _("An account takes your nick as its name")
    if nick_problem(name):
        return "BAD_ACCOUNT_NAME", _("This cannot be an account name: {problem}",
                                     problem=nick_problem(name))
    if accounts.get(name) is not None:
        return "ACCOUNT_EXISTS", _("This account exists already")
    lookalike = accounts.lookalike(name)
    if lookalike is not None:
        return "BAD_ACCOUNT_NAME", _("This name looks too much like the account {account}",
                                     account=lookalike.name)
    if not password or len(password.encode()) > MAX_PASSWORD:
        return "UNACCEPTABLE_PASSWORD", _("A password is 1 to {limit} bytes long",
                                          limit=MAX_PASSWORD)
    if len(password) < MIN_PASSWORD:
        return "WEAK_PASSWORD", ngettext("A password needs at least {count} character",
                                         "A password needs at least {count} characters",
                                         MIN_PASSWORD, count=MIN_PASSWORD)
    if not accounts.keeping():
        return "TEMPORARILY_UNAVAILABLE", _("The server cannot save accounts just now; try "
                                            "again later")
    if not (chat.registrations.allow(client.host) and chat.all_registrations.allow(None)):
        return "TEMPORARILY_UNAVAILABLE", _("Too many accounts were registered just now; try "
                                            "again later")
    return None


def register(chat, client, name, password, refused, registered):
    """Make account *name* for *client* and log it in: ``registered(account)`` once done, or
    ``refused(code, text)``."""
    refusal = registration_refusal(chat, client, name, password)
    if refusal is not None:
        refused(*refusal)
        return

    def done(credentials):
        if credentials is None:  # the hash failed: a bug, logged
            refused("TEMPORARILY_UNAVAILABLE", _("The account could not be made; try again"))
        elif chat.accounts.get(name) is not None or chat.accounts.lookalike(name):
            refused("ACCOUNT_EXISTS", _("This account exists already"))  # taken meanwhile
        else:
            account = Account(name, *credentials, created=chat.wall_clock())
            chat.accounts.add(account)
            registered(account)
            logged_in(chat, client, account)

    if not chat.off_loop(client, functools.partial(credentials_of, password), done):
        refused("TEMPORARILY_UNAVAILABLE", BUSY)


def credentials_of(password):
    """(scrypt hash, SCRAM keys or None): off the loop."""
    return hash_password(password), scram_keys(password)


def irc_register(chat, client, message):
    """``REGISTER <account> <email | *> <password>``; account ``*``: the nick."""
    name, _email, password = message.params[:3]
    if name == "*" and client.nick is not None:
        name = client.nick

    def refused(code, text):
        chat.delivery.standard_reply(client, "FAIL", "REGISTER", code, text, (name,))

    def registered(account):
        chat.delivery.send(client, Message("REGISTER", (
            "SUCCESS", account.name, _("Account {account} registered", account=account.name)),
            chat.config.server_name))

    register(chat, client, name, password, refused, registered)


# -- Logging in -----------------------------------------------------------------------------

def login_keys(client, name):
    """What failed logins are counted against: the account name, and the address."""
    return (("account", fold(name)), address_key(client))


def address_key(client):
    """What failed logins from *client*'s address are counted against."""
    return ("address", client.host)


def login_wait(chat, client, name):
    """Seconds *client* must wait before trying *name*'s password (0: none)."""
    return chat.login_delays.wait(login_keys(client, name))


def check_login(chat, client, name, password, answer):
    """Check *password* for account *name* off the loop, then ``answer(account)`` (None: a
    wrong account or password, or a failed check); False if the check could not be queued.
    Failures are counted; a right password to an account without SCRAM keys gets them."""
    account = chat.accounts.get(name)
    if account is None:
        work = functools.partial(check_unknown, password)
    else:
        work = functools.partial(_check_and_upgrade, password, account.password,
                                 account.scram is None)

    def done(result):
        keys = login_keys(client, name)
        if not result or chat.accounts.get(name) is not account:  # deleted meanwhile
            chat.login_delays.failed(keys)
            chat.stats.logins["failed"] += 1
            answer(None)
            return
        chat.login_delays.succeeded(keys)
        chat.stats.logins["ok"] += 1
        if isinstance(result, str):
            account.scram = result
            chat.accounts.save(account)
        answer(account)

    return chat.off_loop(client, work, done)


def password_login(chat, client, name, password, refused):
    """Log *client* in to account *name* with *password* (checked off the loop), or say why
    not with ``refused(reason)``: for /login and NickServ IDENTIFY alike."""
    if client.account is not None:
        refused(_("You are logged in as {account} already", account=client.account))
        return
    wait = login_wait(chat, client, name)
    if wait:
        refused(too_soon(wait))
        return

    def answer(account):
        if account is None:
            refused(WRONG)
        elif suspended_refusal(account):
            refused(suspended_refusal(account))
        else:
            logged_in(chat, client, account)

    if not check_login(chat, client, name, password, answer):
        refused(BUSY)


def too_soon(wait):
    """What someone who must wait *wait* seconds before trying again is told."""
    return _("Too many failed logins: try again in {seconds} s", seconds=int(wait + 0.999))


def _check_and_upgrade(password, encoded, needs_scram):
    """True, or the new SCRAM keys, if *password* is right; False if not."""
    if not check_password(password, encoded):
        return False
    return (needs_scram and scram_keys(password)) or True


def suspended_refusal(account):
    if account.suspended is not None:
        return _("The account {account} is suspended: {reason}", account=account.name,
                 reason=account.suspended)
    return None


def logged_in(chat, client, account):
    """Log *client* in to *account* and tell it so (900 and user mode +r for IRC clients);
    in the registered rooms it is in already, the founder and operators are opped."""
    chat.log_in(client, account)
    if client.plain:
        chat.delivery.send_text(client, _("*** You are logged in as {account}.",
                                          account=account.name))
    else:
        mask = client.mask or f"{client.target}!{client.user or '*'}@{client.host}"
        chat.delivery.reply(client, rpl.RPL_LOGGEDIN, mask, account.name,
                            _("You are now logged in as {account}", account=account.name))
        if client.registered:
            chat.delivery.send(client, Message("MODE", (client.nick, "+r"), client.mask))
    for channel in list(client.channels.values()):
        rooms.joined(chat, client, channel)


def logged_out(chat, client):
    if client.plain:
        chat.delivery.send_text(client, _("*** You are logged out."))
    elif client.registered:
        chat.delivery.reply(client, rpl.RPL_LOGGEDOUT, client.mask, _("You are now logged out"))
        chat.delivery.send(client, Message("MODE", (client.nick, "-r"), client.mask))
    chat.log_out(client)  # after the answer: what nick protection says comes next


def reload(chat, records):
    """Take *records* (the store's, after the admin command line changed them) in place of
    the accounts held: users whose account is gone or suspended are logged out."""
    chat.accounts.reload(records)
    log.info("read %d accounts and %d registered rooms from the database",
             len(chat.accounts.accounts), len(chat.accounts.rooms))
    for client in list(chat.registry.clients):
        account = client.account and chat.accounts.get(client.account)
        if client.account is not None and (account is None or account.suspended):
            logged_out(chat, client)


# -- Plain mode -----------------------------------------------------------------------------

def plain_register(chat, client, argument):
    """``/register PASSWORD``: an account named as the user."""
    if not argument:
        chat.delivery.send_text(client, _("! Usage: /register PASSWORD (the account takes "
                                          "your name)"))
        return

    def refused(_code, text):
        chat.delivery.send_text(client, _("! {reason}", reason=text))

    def registered(account):
        chat.delivery.send_text(client, _(
            "*** Account {account} registered: from now on, /login PASSWORD when you come "
            "back (or let your IRC client log in with SASL).", account=account.name))

    register(chat, client, client.nick, argument, refused, registered)


def plain_login(chat, client, password):
    """``/login PASSWORD``: to the account named as the user."""
    if not password:
        chat.delivery.send_text(client, _("! Usage: /login PASSWORD (for the account of your "
                                          "name)"))
        return
    password_login(chat, client, client.nick, password, lambda reason: chat.delivery.send_text(
        client, _("! {reason}", reason=reason)))


def plain_logout(chat, client, _argument):
    if client.account is None:
        chat.delivery.send_text(client, _("! You are not logged in."))
    else:
        logged_out(chat, client)
