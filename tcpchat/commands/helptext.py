"""The help every user reads: plain users with ``/help``, IRC users with ``HELP`` (or
``HELPOP``), in the modern numerics (704, 705, 706; 524 for a subject there is no help on).

The text is the plain mode's commands.  IRC clients give their users the same slash commands
(``/msg``, ``/me``, ``/join``, ``/topic``, ``/kick``, ``/op``...), so one text serves both, and
one translation.  ``HELP msg`` gives the lines that name ``/msg``.
"""

import re

from ..text.catalog import _, render

HELP = (
    _("*** Type a line and press Enter to talk to the room. Commands:"),
    _("***   /msg NAME text   a private message to NAME"),
    _("***   /me action       tell the room what you do (* alice waves)"),
    _("***   /nick NAME       change your name"),
    _("***   /who             who is in the room ((TLS): connected over TLS)"),
    _("***   /topic [text]    show the room's topic, or set it"),
    _("***   /join [key]      come back to the room after leaving it or being removed"),
    _("***   /history [N]     the room's last N lines (20 without N)"),
    _("***   /lang [code]     the language you read: /lang ru, /lang en; /lang lists them"),
    _("***   /register PASSWORD       keep your name: an account of it, with this password"),
    _("***   /login PASSWORD      log in to the account of your name; /logout to log out"),
    _("***   /quit [reason]   leave (so do 'exit' and 'выход')"),
    _("***   //text           send text that starts with /"),
    _("*** For the room's operators (@ in /who):"),
    _("***   /kick NAME [reason]     put NAME out of the room"),
    _("***   /op NAME, /deop NAME    make NAME an operator, or no longer"),
    _("***   /voice NAME, /devoice NAME   let NAME talk when the room is moderated, or not"),
    _("***   /invite NAME     let NAME into an invite-only room"),
    _("***   /mode +m|-m, +i, +t, +n, +s, +k KEY, +l NUMBER, +b MASK, ...   change the room's\n"
      "***                    rules, as IRC's MODE does; /mode alone shows them"),
    _("***   /room register   keep the room's topic, rules and operators, and be its "
      "founder\n***   /room drop, /room transfer ACCOUNT   let it go, or hand it over"),
    _("*** For the server's operators: /oper NAME PASSWORD"),
)


#: What starts each line, for a person reading a plain stream: IRC replies go without it.
_MARK = re.compile(r"^\*\*\* ?")


def lines_about(subject):
    """The lines of :data:`HELP` about *subject*: all of them for ``*``, else those that name
    the command ``/subject`` (none: there is no help on it)."""
    if subject == "*":
        return HELP
    named = re.compile(r"(?<![\w/])/" + re.escape(subject.lstrip("/")) + r"\b", re.IGNORECASE)
    return tuple(line for line in HELP if named.search(line.msgid))


def irc_lines(lines, catalog):
    """*lines* as IRC replies carry them, in *catalog*'s language: one a line (the text's
    own line breaks too), without the plain stream's ``***``."""
    return [_MARK.sub("", piece) for line in lines
            for piece in render(line, catalog).split("\n")]
