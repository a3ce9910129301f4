"""Which nicknames and channel names are valid, and when two of them are the same.

Nicknames may use letters of any script (``Алиса`` is fine), digits and the characters IRC has
always allowed in nicks (``-_[]\\`^{}|``).  They cannot hold spaces, control characters or the
characters that mean something else in IRC (``! @`` split a user mask, ``, *  ?`` separate or
match targets, ``# & : $ +`` start channels, trailing parameters or masks, ``.`` server names).

Two names are the same when their :func:`fold` is: the mapping RFC 8265 gives its
UsernameCaseMapped profile (``CASEMAPPING=rfc8265``): fullwidth and halfwidth forms to their
usual width, then Unicode's toLowerCase (``str.lower``: ``ß`` stays ``ß``), then NFC.  So
``Alice``, ``ALICE``, ``ａｌｉｃｅ`` and ``alice`` are one nick, and so are ``Алиса`` and ``АЛИСА``.
(RFC 8265 also narrows which characters a name may hold; tcpchat's own rule, below, is what
decides that.)

Characters that do not show (Unicode's default-ignorable code points: joiners, variation
selectors, Hangul fillers...) are refused, so two names cannot differ by an invisible
character.  And a name that merely looks like one in use (Cyrillic ``а`` for Latin ``a``,
``I`` or ``1`` for ``l``, ``0`` for ``O``, and the thousands of others of every script that
Unicode's confusables list) is told apart by its :func:`skeleton`, as Unicode's TR39 makes
one: the chat refuses a nick whose skeleton is another present user's, an account whose
skeleton is another account's, and a new room whose skeleton is a room's there is or a
registered one's; a nick that looks like an account's is protected as the account's own.
"""

import functools
import re
import unicodedata

from ..text.catalog import _
from .lookalikes import prototypes

NICKLEN = 30
CHANNELLEN = 50
CHANTYPES = "#"
#: Characters allowed in a nickname besides letters, marks and digits (RFC 2812 "special", and -).
#: The nicks the server answers for itself (tcpchat.commands.services): nobody may take them.
SERVICES = ("NickServ", "ChanServ")
NICK_PUNCTUATION = frozenset("-_[]\\`^{}|")
#: The rule above, for a person told that a name cannot be a nickname.
NICK_RULE = _("Names use letters, digits and - _ [ ] \\ ` ^ {{ }} |.")


def _width_map():
    """Fullwidth and halfwidth forms -> their usual width (RFC 8265's width mapping rule)."""
    table = {}
    for code in [0x3000, *range(0xFF00, 0xFFEF)]:
        kind, _, target = unicodedata.decomposition(chr(code)).partition(" ")
        if kind in ("<wide>", "<narrow>"):
            table[code] = "".join(chr(int(part, 16)) for part in target.split())
    return table


_WIDTH = _width_map()


def fold(name):
    """The key under which *name* is unique (see the module doc)."""
    if name.isascii():
        return name.lower()  # what the rest comes to for ASCII, at a fraction of the cost
    return _fold_unicode(name)


@functools.lru_cache(maxsize=4096)
def _fold_unicode(name):
    return unicodedata.normalize("NFC", name.translate(_WIDTH).lower())


def normalize(name):
    """The form in which a name is stored and shown: NFC, so composed and decomposed ``é``
    match."""
    return unicodedata.normalize("NFC", name)


def _nick_char_ok(char):
    return (char in NICK_PUNCTUATION or unicodedata.category(char)[0] in "LMN") \
        and not is_invisible(char)


#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters that
#: show as nothing, letters among them (the Hangul fillers).
_INVISIBLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
              (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
              (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
              (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
              (0xE0000, 0xE0FFF))


def is_invisible(char):
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE)


def nick_problem(nick):
    """Why *nick* cannot be a nickname, in a few words; None when it can."""
    if not nick:
        return _("it is empty")
    if len(nick) > NICKLEN:
        return _("it is longer than {length} characters", length=NICKLEN)
    first = nick[0]
    if first == "-" or unicodedata.category(first)[0] in "MN":
        return _("it starts with a digit, a mark or '-'")
    for char in nick:
        if not _nick_char_ok(char):
            return _holds(char)
    return None


def channel_problem(name):
    """Why *name* cannot be a channel name; None when it can."""
    if not name or name[0] not in CHANTYPES:
        return _("channel names start with {prefix}", prefix=CHANTYPES)
    if len(name) == 1:
        return _("the name after # is empty")
    if len(name) > CHANNELLEN:
        return _("it is longer than {length} characters", length=CHANNELLEN)
    for char in name:
        if char in " ,:" or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs") \
                or is_invisible(char):
            return _holds(char)
    return None


class Wildcards:
    """Masks where ``*`` matches any run of characters and ``?`` any one, in any case:
    ``matches(name)`` for a folded name (or ``nick!user@host``) against any of them.

    Not a regular expression of ``.*``: a mask like ``*a*a*a...*b`` would make the regex
    engine backtrack for minutes, and any user may send one in a WHO.  Each mask is cut at
    its stars into pieces without any, which are found in turn, each as early as it can be
    (the earliest end leaves the most room for the rest), the last at the very end: time
    linear in the name for each piece.
    """

    __slots__ = ("_masks",)

    def __init__(self, *masks):
        self._masks = [_pieces(fold(mask).split("*")) for mask in masks]

    def matches(self, name):
        return any(_matches(pieces, name) for pieces in self._masks)


def _pieces(parts):
    compiled = [re.compile("".join("." if c == "?" else re.escape(c) for c in part), re.DOTALL)
                for part in parts]
    return compiled, len(parts[-1])


def _matches(pieces, name):
    parts, tail_length = pieces
    if len(parts) == 1:  # no star: the whole name
        return parts[0].fullmatch(name) is not None
    found = parts[0].match(name)
    if found is None:
        return False
    position = found.end()
    for part in parts[1:-1]:
        found = part.search(name, position)
        if found is None:
            return False
        position = found.end()
    start = len(name) - tail_length
    return start >= position and parts[-1].fullmatch(name, start) is not None


def is_channel(target):
    return bool(target) and target[0] in CHANTYPES  # "" is in every string


def _holds(char):
    """That a name holds *char*, which it may not, said so that a person sees which."""
    if char == " ":
        return _("it holds a space")
    code = f"U+{ord(char):04X}"
    if is_invisible(char):
        return _("it holds {code}, a character that does not show", code=code)
    if unicodedata.category(char)[0] in "CZ":
        return _("it holds the control or space character {code}", code=code)
    return _("it holds {character!r}", character=char)


# -- Look-alikes ----------------------------------------------------------------------------

def skeleton(name):
    """What *name* looks like, as a key: two names that look alike have the same skeleton
    (``alice``, ``аlice`` with a Cyrillic ``а``, ``aIice``, ``ALICE``).  As UTS #39 makes
    one: each character (compatibility forms decomposed first) replaced by the prototype it
    looks like (:mod:`tcpchat.protocol.lookalikes`, Unicode's confusables), then folded."""
    mapped = unicodedata.normalize("NFKD", name).translate(prototypes())
    return fold(unicodedata.normalize("NFD", mapped))
