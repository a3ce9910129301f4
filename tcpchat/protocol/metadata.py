"""IRCv3 ``draft/metadata-2``: keys and values a user sets on itself (``avatar``,
``display-name``, ``pronouns``...) and a channel's operators on their channel, told to those
who subscribed to the key.  Here are the rules a key and a value follow and the limits the
server advertises; the state is :class:`tcpchat.chat.registry.Registry`'s, the command
:mod:`tcpchat.commands.metadata`'s.

https://ircv3.net/specs/extensions/metadata
"""

import re

CAPABILITY = "draft/metadata-2"
#: Keys a client may subscribe to, keys one target may hold, and a value's bytes: a key and
#: its value fit one line (RPL_KEYVALUE with the longest nick and channel name), and a user
#: with every key set costs the server a few KiB at most.  Ergo's limits, near enough.
MAX_SUBS = 50
MAX_KEYS = 20
MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 300
CAPABILITY_VALUE = (f"max-subs={MAX_SUBS},max-keys={MAX_KEYS},"
                    f"max-key-bytes={MAX_KEY_BYTES},max-value-bytes={MAX_VALUE_BYTES}")
#: What WHOIS shows of a user's metadata (RPL_WHOISKEYVALUE): the keys people read.
WHOIS_KEYS = ("display-name", "pronouns", "homepage")
#: The visibility every key has here: everyone may read it.
VISIBLE = "*"

# The specification's characters (case-insensitive, kept lower case here), and "/" for a
# vendor's keys (``example.com/key``), as Ergo takes them; not starting with ":".
_KEY = re.compile(r"[a-z0-9_.:/-]+")


def key_of(text):
    """*text* as a key (lower case), or None if it cannot be one."""
    key = text.lower()
    if (_KEY.fullmatch(key) is None or key.startswith(":")
            or len(key.encode()) > MAX_KEY_BYTES):
        return None
    return key
