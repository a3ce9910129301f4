"""Which nicknames and channel names are valid, and when two of them are the same.

Nicknames may use letters of any script (``Алиса`` is fine), digits and the characters IRC has
always allowed in nicks (``-_[]\\`^{}|``).  They cannot hold spaces, control characters or the
characters that mean something else in IRC (``! @`` split a user mask, ``, *  ?`` separate or
match targets, ``# & : $ +`` start channels, trailing parameters or masks, ``.`` server names).

Two names are the same when their :func:`fold` is: Unicode NFC normalisation, then
``str.casefold``.  That is the comparison RFC 8265 asks for (``CASEMAPPING=rfc8265``), so
``Alice``, ``ALICE`` and ``alice`` are one nick, and so are ``Алиса`` and ``АЛИСА``.
"""

import re
import unicodedata

NICKLEN = 30
CHANNELLEN = 50
CHANTYPES = "#"
#: Characters allowed in a nickname besides letters, marks and digits (RFC 2812 "special", and -).
NICK_PUNCTUATION = frozenset("-_[]\\`^{}|")


def fold(name):
    """The key under which *name* is unique: NFC, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def normalize(name):
    """The form in which a name is stored and shown: NFC, so composed and decomposed ``é``
    match."""
    return unicodedata.normalize("NFC", name)


def _nick_char_ok(char):
    return char in NICK_PUNCTUATION or unicodedata.category(char)[0] in "LMN"


def nick_problem(nick):
    """Why *nick* cannot be a nickname, in a few words; None when it can."""
    if not nick:
        return "it is empty"
    if len(nick) > NICKLEN:
        return f"it is longer than {NICKLEN} characters"
    first = nick[0]
    if first == "-" or unicodedata.category(first)[0] in "MN":
        return "it starts with a digit, a mark or '-'"
    for char in nick:
        if not _nick_char_ok(char):
            return f"it holds {_describe(char)}"
    return None


def channel_problem(name):
    """Why *name* cannot be a channel name; None when it can."""
    if not name or name[0] not in CHANTYPES:
        return f"channel names start with {CHANTYPES}"
    if len(name) == 1:
        return "the name after # is empty"
    if len(name) > CHANNELLEN:
        return f"it is longer than {CHANNELLEN} characters"
    for char in name:
        if char in " ,:" or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
            return f"it holds {_describe(char)}"
    return None


def wildcards(*masks):
    """A compiled pattern that matches a folded name (or ``nick!user@host``) against any of
    *masks*, where ``*`` matches any run of characters and ``?`` any one, in any case."""
    alternatives = ("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                            for c in fold(mask)) for mask in masks)
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.DOTALL)


def is_channel(target):
    return bool(target) and target[0] in CHANTYPES  # "" is in every string


def _describe(char):
    if char == " ":
        return "a space"
    if unicodedata.category(char)[0] in "CZ":
        return f"the control or space character U+{ord(char):04X}"
    return f"{char!r}"
