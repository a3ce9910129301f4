"""``python -m tcpchat.admin``: accounts and registered rooms, on the server's database.

For the people who run the server: make accounts (the only way with ``--registration
closed``), list them, reset a password, suspend, delete; list and drop registered rooms.
Passwords are read without echo on a terminal (twice), or as one line of standard input.

It works on the file itself, also while the server runs (SQLite's WAL lets both at it); the
running server reads the change when it gets SIGHUP (``kill -HUP PID``), and logs out whoever
is logged in to an account that was deleted or suspended.

    python -m tcpchat.admin --db chat.db account create alice
    python -m tcpchat.admin --db chat.db account list
    python -m tcpchat.admin --db chat.db account suspend alice spamming
    python -m tcpchat.admin --db chat.db account cert-add alice alice.pem
"""

import hashlib
import os
import ssl
import sys
import time

from .protocol.names import fold, nick_problem
from .store.accounts import ACCOUNT, ROOM, Account, Accounts
from .store.credentials import hash_password, scram_keys
from .store.sqlite import RecordFile, StoreError
from .text.arguments import ArgumentParser, interface_language, read_new_password
from .text.catalog import _, render, translations

#: What the tool says after a change, for a server that is running.
RELOAD = _("A running server reads this once it gets SIGHUP (kill -HUP PID).")


def build_parser(language):
    parser = ArgumentParser(prog="python -m tcpchat.admin", language=language,
                            description=_("Accounts and registered rooms on a tcpchat "
                                          "server's database (docs/accounts.rst)."))
    parser.add_argument("--db", required=True, metavar="FILE",
                        help=_("the server's --db file (made if missing)"))
    parser.add_argument("--lang", help=_("the language this command line speaks"))
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="account|room")
    account = kinds.add_parser("account", help=_("accounts"))
    actions = account.add_subparsers(
        dest="action", required=True,
        metavar="create|list|password|suspend|unsuspend|delete|cert-add|cert-remove")
    for name, helped in (("create", _("make an account (its password is asked for)")),
                         ("password", _("set an account's password (asked for)")),
                         ("unsuspend", _("let a suspended account log in again")),
                         ("delete", _("delete an account and the rooms it founded"))):
        actions.add_parser(name, help=helped).add_argument("name")
    actions.add_parser("list", help=_("every account, with when it was made and its state"))
    cert_add = actions.add_parser("cert-add", help=_(
        "let a TLS client certificate (a PEM file) log in to an account (SASL EXTERNAL)"))
    cert_add.add_argument("name")
    cert_add.add_argument("file")
    cert_remove = actions.add_parser("cert-remove", help=_(
        "stop a certificate (by its SHA-256 fingerprint) from logging in"))
    cert_remove.add_argument("name")
    cert_remove.add_argument("fingerprint")
    suspend = actions.add_parser("suspend", help=_("stop an account from logging in"))
    suspend.add_argument("name")
    suspend.add_argument("reason", nargs="+")
    room = kinds.add_parser("room", help=_("registered rooms"))
    room_actions = room.add_subparsers(dest="action", required=True, metavar="list|drop")
    room_actions.add_parser("list", help=_("every registered room and its founder"))
    room_actions.add_parser("drop", help=_("forget a registered room")).add_argument("name")
    return parser


def main(argv=None, stdin=None):
    argv = sys.argv[1:] if argv is None else argv
    language = interface_language(argv, os.environ)
    catalog = translations(language)

    def say(text, stream=sys.stdout):
        print(render(text, catalog), file=stream)

    args = build_parser(language).parse_args(argv)
    try:
        database = RecordFile(args.db)
    except StoreError as exc:
        say(_("cannot open the database: {error}", error=str(exc)), sys.stderr)
        return 1
    try:
        accounts = Accounts(database.keep, [(kind, key, data) for kind in (ACCOUNT, ROOM)
                                            for key, data in database.records(kind).items()])
        handler = _ACCOUNT_ACTIONS[args.action] if args.kind == "account" else _ROOM_ACTIONS[
            args.action]
        return handler(accounts, args, say, stdin or sys.stdin)
    except StoreError as exc:
        say(_("cannot write to the database: {error}", error=str(exc)), sys.stderr)
        return 1
    finally:
        database.close()


def _create(accounts, args, say, stdin):
    problem = nick_problem(args.name)
    if problem:
        say(_("{name!r} cannot be an account name: {problem}", name=args.name,
              problem=problem), sys.stderr)
        return 2
    existing = accounts.get(args.name) or accounts.lookalike(args.name)
    if existing is not None:
        say(_("the account {account} exists already, or one that looks like it",
              account=existing.name), sys.stderr)
        return 1
    password = _password(say, stdin)
    if password is None:
        return 1
    accounts.add(Account(args.name, hash_password(password), scram_keys(password),
                         created=time.time()))
    say(_("account {account} made.", account=args.name))
    say(RELOAD)
    return 0


def _list(accounts, _args, say, _stdin):
    for account in sorted(accounts.accounts.values(), key=lambda account: fold(account.name)):
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(account.created))
        if account.suspended is not None:
            say(_("{account}  made {made}  suspended: {reason}", account=account.name,
                  made=made, reason=account.suspended))
        else:
            say(_("{account}  made {made}", account=account.name, made=made))
        for fingerprint in account.certificates:
            say(_("    certificate {fingerprint}", fingerprint=fingerprint))
    return 0


def _changed(change):
    """An action on one existing account: *change(accounts, account, args)*."""
    def act(accounts, args, say, stdin):
        account = accounts.get(args.name)
        if account is None:
            say(_("no account {name}", name=args.name), sys.stderr)
            return 1
        if change(accounts, account, args, say, stdin) is False:
            return 1
        say(_("account {account}: done.", account=account.name))
        say(RELOAD)
        return 0
    return act


def _set_password(accounts, account, _args, say, stdin):
    password = _password(say, stdin)
    if password is None:
        return False
    account.password, account.scram = hash_password(password), scram_keys(password)
    accounts.save(account)
    return True


def _suspend(accounts, account, args, _say, _stdin):
    account.suspended = " ".join(args.reason)
    accounts.save(account)


def _unsuspend(accounts, account, _args, _say, _stdin):
    account.suspended = None
    accounts.save(account)


def _delete(accounts, account, _args, _say, _stdin):
    accounts.remove(account)


def _cert_add(accounts, account, args, say, _stdin):
    try:
        with open(args.file, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        say(_("{path}: {error}", path=args.file, error=exc.strerror), sys.stderr)
        return False
    # The first certificate in the file (which may hold its key too).
    start = text.find(ssl.PEM_HEADER)
    end = text.find(ssl.PEM_FOOTER, start)
    try:
        if start < 0 or end < 0:
            raise ValueError
        der = ssl.PEM_cert_to_DER_cert(text[start:end + len(ssl.PEM_FOOTER)])
    except ValueError:
        say(_("{path}: there is no PEM certificate in it", path=args.file), sys.stderr)
        return False
    fingerprint = hashlib.sha256(der).hexdigest()
    holder = accounts.by_certfp(fingerprint)
    if holder is not None and holder is not account:
        say(_("the account {account} has this certificate already", account=holder.name),
            sys.stderr)
        return False
    account.certificates[fingerprint] = ssl.DER_cert_to_PEM_cert(der)
    accounts.save(account)
    say(_("certificate {fingerprint} added", fingerprint=fingerprint))
    return True


def _cert_remove(accounts, account, args, say, _stdin):
    fingerprint = args.fingerprint.lower().replace(":", "")
    if account.certificates.pop(fingerprint, None) is None:
        say(_("{account} has no certificate {fingerprint}", account=account.name,
              fingerprint=fingerprint), sys.stderr)
        return False
    accounts.save(account)
    return True


def _password(say, stdin):
    password, problem = read_new_password(stdin)
    if problem is not None:
        say(problem, sys.stderr)
        return None
    return password


def _rooms(accounts, _args, say, _stdin):
    for room in sorted(accounts.rooms.values(), key=lambda room: fold(room.name)):
        say(_("{room}  founder {account}", room=room.name, account=room.founder))
    return 0


def _drop(accounts, args, say, _stdin):
    room = accounts.room(args.name)
    if room is None:
        say(_("no registered room {name}", name=args.name), sys.stderr)
        return 1
    accounts.drop_room(room)
    say(_("room {room} dropped.", room=room.name))
    say(RELOAD)
    return 0


_ACCOUNT_ACTIONS = {"create": _create, "list": _list, "password": _changed(_set_password),
                    "suspend": _changed(_suspend), "unsuspend": _changed(_unsuspend),
                    "delete": _changed(_delete), "cert-add": _changed(_cert_add),
                    "cert-remove": _changed(_cert_remove)}
_ROOM_ACTIONS = {"list": _rooms, "drop": _drop}

if __name__ == "__main__":
    sys.exit(main())
