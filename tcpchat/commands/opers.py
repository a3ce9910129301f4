"""Server operators' passwords: stored and checked as scrypt hashes, never in clear.

The oper file (``--oper-file FILE``) has one operator a line: a name, a space, and a hash that
``python -m tcpchat.server --hash-password`` prints; blank lines and lines starting with ``#``
are skipped.  A hash reads ``scrypt$N$r$p$salt$key`` (salt and key in base64), so its cost
travels with it and can be raised later without breaking older lines.

The hashes are :mod:`tcpchat.store.credentials`' (as accounts' are).  A check costs tens of
milliseconds, on purpose, so OPER runs it off the loop, and the chat bounds how many checks it
makes a second server-wide (``Chat.oper_checks``).  An unknown name costs the same as a wrong
password, and gets the same answer, so OPER tells nobody which names exist.
"""

from ..store.credentials import check_password, check_unknown, hash_password
from ..text.catalog import _

__all__ = ("check_password", "check_unknown", "hash_password", "parse_oper_file")


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
