"""Passwords as the server keeps them: never in clear, always slow to guess from.

Two forms of one password are kept, one for each way of logging in:

- a scrypt hash (``scrypt$N$r$p$salt$key``, salt and key in base64), which SASL PLAIN, plain
  mode's ``/login`` and OPER check a password against.  Its cost travels with it, so it can be
  raised later without breaking older hashes.  A check costs about as much as making the hash
  (tens of milliseconds, on purpose), so the chat runs checks off the loop
  (:mod:`tcpchat.chat.offload`);
- SCRAM-SHA-256 keys (``SCRAM-SHA-256$iterations$salt$stored_key$server_key``, RFC 5802 and
  7677), for SASL SCRAM-SHA-256, where the password never crosses the wire.  They are made with
  ``scramp``, the library the SCRAM exchange runs on, from the ``accounts`` extra; without it
  none are made, and an account gets its keys the next time its password is checked on a server
  that has the library.

An unknown name costs the same work as a wrong password and gets the same answer
(:func:`check_unknown`), so no check tells anyone which names exist.
"""

import base64
import hashlib
import hmac
import os

#: scrypt's cost: N (CPU and memory), r (block size), p (parallelism).  16 MiB and about
#: 50 ms a check on a laptop, as Python's docs and OWASP suggest for interactive logins.
COST = (2 ** 14, 8, 1)
SALT_BYTES = 16
KEY_BYTES = 32
#: PBKDF2 rounds for SCRAM keys: what a client spends on each login, and a thief per guess
#: (RFC 7677 asks for at least 4096).
SCRAM_ITERATIONS = 4096
SCRAM = "SCRAM-SHA-256"


def hash_password(password, salt=None, cost=None):
    """The scrypt hash of *password* (slow: see the module doc), at :data:`COST` unless
    *cost* says otherwise."""
    n, r, p = COST if cost is None else cost
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _scrypt(password, salt, n, r, p)
    return "$".join(("scrypt", str(n), str(r), str(p), _b64(salt), _b64(key)))


def check_password(password, encoded):
    """Whether *password* is the one *encoded* (a :func:`hash_password` result) was made from;
    False for a malformed hash."""
    try:
        kind, n, r, p, salt, key = encoded.split("$")
        n, r, p = int(n), int(r), int(p)
        salt, key = base64.b64decode(salt, validate=True), base64.b64decode(key, validate=True)
        if kind != "scrypt" or len(key) != KEY_BYTES:  # a cut key would be easier to match
            return False
        return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)
    except ValueError:  # a field that is not a number or base64, a cost scrypt refuses
        return False


def check_unknown(password):
    """Spend what a check costs, for a name that has no password here; False."""
    check_password(password, _decoy())
    return False


def scram_keys(password):
    """The SCRAM-SHA-256 keys of *password*, or None without ``scramp`` or for a password
    that SASLprep (RFC 4013) refuses (unassigned code points, say): PLAIN still opens it."""
    mechanism = scram_mechanism()
    if mechanism is None:
        return None
    from scramp import ScramException
    try:
        salt, stored, server, iterations = mechanism.make_auth_info(password, SCRAM_ITERATIONS)
    except ScramException:
        return None
    return "$".join((SCRAM, str(iterations), _b64(salt), _b64(stored), _b64(server)))


def scram_auth_info(keys):
    """``(salt, stored_key, server_key, iterations)`` from :func:`scram_keys`' text, as
    ``scramp`` asks for them; ValueError if malformed."""
    kind, iterations, salt, stored, server = keys.split("$")
    if kind != SCRAM:
        raise ValueError(kind)
    return (base64.b64decode(salt, validate=True), base64.b64decode(stored, validate=True),
            base64.b64decode(server, validate=True), int(iterations))


def decoy_auth_info(name, secret):
    """SCRAM keys for a name that has none, the same each time for one name and *secret* (so
    that asking twice tells nothing), which no password opens."""
    digest = hmac.new(secret, name.encode(), hashlib.sha256).digest()
    return digest[:SALT_BYTES], hashlib.sha256(digest).digest(), digest, SCRAM_ITERATIONS


def scram_mechanism():
    """scramp's SCRAM-SHA-256, or None where the library is not installed."""
    try:
        import scramp
    except ImportError:
        return None
    return scramp.ScramMechanism(SCRAM)


_DECOY = []


def _decoy():
    if not _DECOY:
        _DECOY.append(hash_password("", b"\0" * SALT_BYTES))
    return _DECOY[0]


def _scrypt(password, salt, n, r, p, length=KEY_BYTES):
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=256 * r * n + (1 << 20))


def _b64(data):
    return base64.b64encode(data).decode()
