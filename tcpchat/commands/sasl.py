"""SASL: an IRC client logs in to its account while it connects (IRCv3 ``sasl`` 3.1 and 3.2).

The exchange: the client asks for the ``sasl`` capability (whose value in ``CAP LS 302`` lists
the mechanisms), sends ``AUTHENTICATE <mechanism>``, is answered ``AUTHENTICATE +``, and sends
its data in base64, cut into lines of 400 bytes (a line of exactly 400 says more follows; ``+``
alone is empty data).  ``AUTHENTICATE *`` aborts (906).  The end is 900 and 903, or 904.

Mechanisms:

- ``PLAIN``: the password itself, checked off the loop as every password is
  (:func:`tcpchat.commands.accounts.check_login`);
- ``EXTERNAL``: the TLS client certificate the connection showed, whose fingerprint an
  account holds (``python -m tcpchat.admin account cert add``); offered while some account
  holds one.  The data is empty (``+``) or the account's name;
- ``SCRAM-SHA-256`` (RFC 7677), on ``scramp`` (the ``accounts`` extra), offered only where it is
  installed: the password never crosses the wire, and the server's side costs a few HMACs, so it
  runs on the loop.  An unknown account is answered with a salt made from its name and a
  per-process secret, the same every time, so the exchange goes on as for a real one and fails
  only at the proof, as a wrong password does.

Rules: a client logged in already gets 907; a mechanism not offered gets 908 (the list) and
904; more than :data:`MAX_DATA` bytes of base64 in one step, or a line over 400, gets 905;
bad base64 or data the mechanism cannot read gets 904.  Each failure counts against the
account and the address (``Chat.login_delays``), and while they must wait, a new exchange is
refused at once with 904.  A client that completes its registration in the middle of an
exchange has it aborted (906), as the specification says.
"""

import base64
import binascii
import os

from ..protocol import numerics as rpl
from ..protocol.message import Message
from ..protocol.names import fold
from ..store.credentials import SCRAM, decoy_auth_info, scram_auth_info, scram_mechanism
from ..text.catalog import _
from .accounts import (BUSY, address_key, check_login, logged_in, login_keys, login_wait,
                       suspended_refusal, too_soon)

#: Bytes of base64 per AUTHENTICATE line.
CHUNK = 400
#: Bytes of base64 one step may take in all (a SCRAM message is about 150).
MAX_DATA = 4096
PLAIN = "PLAIN"
EXTERNAL = "EXTERNAL"
#: What makes the salts of unknown accounts: new with each process.
_SECRET = os.urandom(32)

FAILED = _("SASL authentication failed")


class Exchange:
    """One client's SASL exchange under way."""

    __slots__ = ("mechanism", "data", "scram", "name", "account", "verified")

    def __init__(self, mechanism):
        self.mechanism = mechanism
        #: base64 received of the step under way.
        self.data = ""
        #: SCRAM: scramp's server side, the name the client gave and its account (None:
        #: unknown), and whether the proof was right (the client's last "+" is awaited).
        self.scram = self.name = self.account = None
        self.verified = False


def mechanisms(chat):
    """The mechanisms this server offers, in its order of preference."""
    offered = (SCRAM, PLAIN) if scram_mechanism() is not None else (PLAIN,)
    return (EXTERNAL, *offered) if chat.accounts.anchors() else offered


def capability_value(chat):
    return ",".join(mechanisms(chat))


def authenticate(chat, client, message):
    argument = message.params[0]
    if "sasl" not in client.caps:
        _fail(chat, client, _("Ask for the sasl capability first"))
        return
    exchange = client.sasl
    if argument == "*":
        _abort(chat, client)
        return
    if client.account is not None:
        chat.delivery.reply(client, rpl.ERR_SASLALREADY,
                            _("You have already authenticated using SASL"))
        return
    if exchange is None:
        _start(chat, client, argument.upper())
        return
    if len(argument) > CHUNK:
        _too_long(chat, client)
        return
    if argument != "+":
        exchange.data += argument
        if len(exchange.data) > MAX_DATA:
            _too_long(chat, client)
            return
        if len(argument) == CHUNK:
            return  # more of this step to come
    try:
        data = base64.b64decode(exchange.data, validate=True)
    except (binascii.Error, ValueError):
        _fail(chat, client, _("The data was not base64"))
        return
    exchange.data = ""
    if exchange.mechanism == PLAIN:
        _plain(chat, client, data)
    elif exchange.mechanism == EXTERNAL:
        _external(chat, client, data)
    else:
        _scram(chat, client, exchange, data)


def abort_on_registration(chat, client):
    """The client completes its registration: an exchange still under way ends (906)."""
    if client.sasl is not None:
        _abort(chat, client)


def _abort(chat, client):
    client.sasl = None
    chat.delivery.reply(client, rpl.ERR_SASLABORTED, _("SASL authentication aborted"))


def _start(chat, client, mechanism):
    if mechanism not in mechanisms(chat):
        chat.delivery.reply(client, rpl.RPL_SASLMECHS, capability_value(chat),
                            _("are available SASL mechanisms"))
        _fail(chat, client, _("The mechanism {mechanism} is not offered",
                              mechanism=mechanism[:20]))
        return
    wait = chat.login_delays.wait((address_key(client),))
    if wait:
        _fail(chat, client, too_soon(wait))
        return
    client.sasl = Exchange(mechanism)
    chat.delivery.send(client, Message("AUTHENTICATE", ("+",)))


def _plain(chat, client, data):
    """``authzid NUL authcid NUL password``; authzid empty, or the account itself."""
    try:
        authorize, name, password = data.decode().split("\0")
    except ValueError:  # not UTF-8 (UnicodeDecodeError is one), or not three fields
        _fail(chat, client, _("PLAIN takes an account and a password"))
        return
    if authorize and authorize != name or not name:
        _fail(chat, client, _("PLAIN takes an account and a password"))
        return
    wait = login_wait(chat, client, name)
    if wait:
        _fail(chat, client, too_soon(wait))
        return

    def answer(account):
        if client.sasl is None:
            return  # aborted meanwhile
        if account is None:
            _fail(chat, client, FAILED)
        else:
            _succeed(chat, client, account)

    if not check_login(chat, client, name, password, answer):
        _fail(chat, client, BUSY)


def _external(chat, client, data):
    """The certificate the connection showed names the account; the data, if any, must too."""
    fingerprint = client.conn.certfp
    account = chat.accounts.by_certfp(fingerprint) if fingerprint else None
    try:
        asked = data.decode()
    except UnicodeDecodeError:
        asked = None
    if account is None or asked is None or asked and fold(asked) != fold(account.name):
        chat.stats.logins["failed"] += 1
        _fail(chat, client, _("No account holds the certificate this connection showed")
              if account is None else FAILED)
        return
    chat.stats.logins["ok"] += 1
    _succeed(chat, client, account)


def _scram(chat, client, exchange, data):
    from scramp import ScramException  # offered only where scramp is installed

    try:
        text = data.decode()
        if exchange.scram is None:
            exchange.scram = scram_mechanism().make_server(
                lambda name: _auth_info(chat, client, exchange, name))
            exchange.scram.set_client_first(text)
            reply = exchange.scram.get_server_first()
        elif not exchange.verified:
            exchange.scram.set_client_final(text)
            exchange.verified = True
            reply = exchange.scram.get_server_final()
        else:
            _scram_done(chat, client, exchange)
            return
    except _MustWait as wait:
        _fail(chat, client, too_soon(wait.seconds))
        return
    except (ScramException, UnicodeDecodeError):
        chat.stats.logins["failed"] += 1
        if exchange.name is not None:
            chat.login_delays.failed(login_keys(client, exchange.name))
        _fail(chat, client, FAILED)
        return
    _send_data(chat, client, reply.encode())


class _MustWait(Exception):
    def __init__(self, seconds):
        super().__init__(seconds)
        self.seconds = seconds


def _auth_info(chat, client, exchange, name):
    """scramp asks for *name*'s keys: the account's, or made-up ones that no proof opens."""
    wait = login_wait(chat, client, name)
    if wait:
        raise _MustWait(wait)
    exchange.name = name
    account = exchange.account = chat.accounts.get(name)
    if account is not None and account.scram is not None:
        return scram_auth_info(account.scram)
    return decoy_auth_info(name, _SECRET)


def _scram_done(chat, client, exchange):
    account = exchange.account
    if account is None or account.scram is None or chat.accounts.get(account.name) is not account:
        _fail(chat, client, FAILED)  # cannot happen: a made-up key fails the proof
        return
    chat.login_delays.succeeded(login_keys(client, account.name))
    chat.stats.logins["ok"] += 1
    _succeed(chat, client, account)


def _send_data(chat, client, data):
    encoded = base64.b64encode(data).decode()
    for start in range(0, len(encoded), CHUNK):
        chat.delivery.send(client, Message("AUTHENTICATE", (encoded[start:start + CHUNK],)))
    if len(encoded) % CHUNK == 0:
        chat.delivery.send(client, Message("AUTHENTICATE", ("+",)))


def _succeed(chat, client, account):
    client.sasl = None
    refusal = suspended_refusal(account)
    if refusal is not None:
        chat.delivery.reply(client, rpl.ERR_SASLFAIL, refusal)
        return
    logged_in(chat, client, account)
    chat.delivery.reply(client, rpl.RPL_SASLSUCCESS, _("SASL authentication successful"))


def _fail(chat, client, text):
    client.sasl = None
    chat.delivery.reply(client, rpl.ERR_SASLFAIL, text)


def _too_long(chat, client):
    client.sasl = None
    chat.delivery.reply(client, rpl.ERR_SASLTOOLONG, _("SASL message too long"))


