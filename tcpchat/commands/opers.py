"""Server operators' passwords: stored and checked as scrypt hashes, never in clear.

The oper file (``--oper-file FILE``) has one operator a line: a name, a space, and a hash that
``python -m tcpchat.server --hash-password`` prints; blank lines and lines starting with ``#``
are skipped.  A hash reads ``scrypt$N$r$p$salt$key`` (salt and key in base64), so its cost
travels with it and can be raised later without breaking older lines.

Checking a password costs about as much as making its hash (tens of milliseconds, on purpose:
that is what makes a stolen file expensive to guess from), and the select backend has one
thread, so the chat bounds how many checks it makes a second (``Chat.oper_checks``).  An unknown
name costs the same as a wrong password, and gets the same answer, so OPER tells nobody which
names exist.
"""

import base64
import hashlib
import hmac
import os

from ..text.catalog import _

#: scrypt's cost: N (CPU and memory), r (block size), p (parallelism).  16 MiB and about
#: 50 ms a check on a laptop, as Python's docs and OWASP suggest for interactive logins.
COST = (2 ** 14, 8, 1)
SALT_BYTES = 16
KEY_BYTES = 32


def hash_password(password, salt=None, cost=COST):
    """The hash of *password* to put in an oper file."""
    n, r, p = cost
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
    """Spend what a check costs, for a name that is not in the file."""
    check_password(password, _decoy())


def parse_oper_file(text):
    """``{name: hash}`` from an oper file's text; ValueError naming the line that is wrong."""
    opers = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].startswith("scrypt$") or fields[1].count("$") != 5:
            raise ValueError(_("line {number}: expected 'name scrypt$...' (a hash from "
                               "--hash-password)", number=number))
        if fields[0] in opers:
            raise ValueError(_("line {number}: {name} is given a password already: one line "
                               "an operator", number=number, name=fields[0]))
        opers[fields[0]] = fields[1]
    return opers


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
