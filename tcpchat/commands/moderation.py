"""Keeping order in a channel: its modes, its ban list, who may join and talk, KICK and INVITE.

A channel's operators (``@``, mode ``o``) moderate it; voiced members (``+``, mode ``v``) may talk
when it is moderated.  The first member of a new channel is its operator, and a new channel is
``+nt``: no messages from outside, topic set by operators only, as on most networks.  A server
operator (after OPER) may do whatever a channel operator may, anywhere.

The modes, as 005 announces them (``CHANMODES=beI,k,l,imnst``, ``PREFIX=(ov)@+``, with
``EXCEPTS=e``, ``INVEX=I`` and ``EXTBAN=,am``):

====  ===========================================================================
b     ban a ``nick!user@host`` mask (``*`` and ``?`` match); a list, 367/368.
      Extended bans: ``m:MASK`` mutes (may join, may not talk), ``a:ACCOUNT``
      bans an account's users (``*`` and ``?`` match here too)
e     ban exception: a mask no ban (nor mute) applies to; a list, 348/349
I     invite exception: a mask that joins past ``+i`` uninvited; a list, 346/347
k     key: JOIN must give it (475)
l     member limit (471)
i     invite only: JOIN needs an INVITE (473)
m     moderated: only operators and voiced members talk (404)
n     no messages from outside the channel (404)
s     secret: not in LIST, NAMES, WHO or WHOIS for those outside it
t     topic settable by operators only (482)
o, v  give or take operator status, a voice (441 if the nick is not in the channel)
====  ===========================================================================

An INVITE lets its invitee past ``+i``, ``+k`` and ``+l`` once, but not past a ban: an operator
who wants a banned user in lifts the ban.  A banned member stays, but cannot talk unless voiced.

Everything here is shared by IRC and plain users: replies go out as numerics through
:meth:`Delivery.reply <tcpchat.chat.delivery.Delivery.reply>` (plain users read them as
sentences), and what members see (MODE, KICK, INVITE) as the chat's events.  Sans-IO, like the
rest of the core.
"""

from ..chat.state import is_banned
from ..protocol import numerics as rpl
from ..protocol.message import middle_or, utf8_prefix
from ..protocol.names import Wildcards, fold
from ..text.catalog import _

#: Mode letter -> the prefix it gives a member, highest first (ISUPPORT PREFIX).
PREFIXES = {"o": "@", "v": "+"}
PREFIX_ORDER = "@+"
#: Modes with no parameter, each on or off.
FLAG_MODES = "imnst"
#: The list modes: each a list of masks, shown with these numerics (an entry, the end).
LISTS = {"b": ("bans", rpl.RPL_BANLIST, rpl.RPL_ENDOFBANLIST),
         "e": ("excepts", rpl.RPL_EXCEPTLIST, rpl.RPL_ENDOFEXCEPTLIST),
         "I": ("invex", rpl.RPL_INVITELIST, rpl.RPL_ENDOFINVITELIST)}
CHANMODES = f"{''.join(LISTS)},k,l,{FLAG_MODES}"
#: Extended bans (EXTBAN): a prefix, then what it matches.
EXTBANS = "am"
#: How many modes with a parameter one MODE line may change (ISUPPORT MODES); more are ignored.
MAX_PARAM_MODES = 4
#: The most entries one channel's list (each of b, e, I) holds (ISUPPORT MAXLIST).
MAXBANS = 64
MASKLEN = 100
KEYLEN = 32
KICKLEN = 255
MAX_LIMIT = 100_000
#: The most channels one user holds an unused invitation to; the oldest goes first.
MAX_INVITES = 32
#: KICK takes at most this many comma-separated nicks (TARGMAX).
MAX_KICKS = 4

_KNOWN = frozenset("klov" + "".join(LISTS) + FLAG_MODES)


def may_moderate(client, channel):
    """Whether *client* may act as an operator of *channel*."""
    return client.oper or "@" in channel.members.get(client, "")


def _ranked(rank, prefix, adding):
    chars = set(rank) | {prefix} if adding else set(rank) - {prefix}
    return "".join(char for char in PREFIX_ORDER if char in chars)


# -- Bans -----------------------------------------------------------------------------------

def ban_mask(text):
    """*text* as a full ``nick!user@host`` mask (``bob`` bans ``bob!*@*``, ``*@host``
    ``*!*@host``), or None if it cannot be one."""
    if not text or len(text) > MASKLEN or text[0] == ":" or "," in text:
        return None
    if text[1:2] == ":" and text[0] in EXTBANS:  # an extended ban: a:ACCOUNT, m:MASK
        if text[0] == "a":
            return text if len(text) > 2 and " " not in text else None
        inner = ban_mask(text[2:])
        return None if inner is None or inner[1:2] == ":" else "m:" + inner
    if "!" not in text and "@" not in text:
        return f"{text}!*@*"
    if "!" not in text:
        return f"*!{text}"
    if "@" not in text:
        return f"{text}@*"
    return text


# -- Who may join, who may talk -------------------------------------------------------------

def join_refusal(channel, client, key):
    """Why *client* may not join *channel* with *key*, as ``(numeric, text)``; None if it may."""
    if client.oper:
        return None
    if is_banned(channel, client):
        return rpl.ERR_BANNEDFROMCHAN, _("Cannot join channel (+b): you are banned")
    if client.invites and channel in client.invites:
        return None
    if "i" in channel.modes and not (channel.invex_pattern is not None
                                     and channel.invex_pattern.matches(fold(client.mask))):
        return rpl.ERR_INVITEONLYCHAN, _("Cannot join channel (+i): it is invite only")
    if channel.key is not None and key != channel.key:
        return rpl.ERR_BADCHANNELKEY, _("Cannot join channel (+k): wrong key")
    if channel.limit is not None and len(channel.members) >= channel.limit:
        return rpl.ERR_CHANNELISFULL, _("Cannot join channel (+l): it is full")
    return None


def admitted(chat, client, name, channel, key):
    """Whether *client* may join channel *name* (*channel*, or None: a new channel) with
    *key*.  If not, it is told why; if so, an invitation to the channel is used up."""
    split = chat.cluster is not None and chat.cluster.split_refusal()
    if split:  # the channel's state elsewhere cannot be checked just now
        chat.delivery.reply(client, rpl.ERR_UNAVAILRESOURCE, name, split)
        return False
    if channel is None:
        return True
    refusal = join_refusal(channel, client, key)
    if refusal:
        chat.delivery.reply(client, refusal[0], channel.name, refusal[1])
        return False
    if client.invites:
        client.invites.pop(channel, None)
    return True


# -- MODE -----------------------------------------------------------------------------------

def show_modes(chat, client, channel):
    """324 and 329: the channel's modes (its key only to members) and when it was made."""
    letters = "".join(sorted(channel.modes))
    params = []
    if channel.key is not None:
        letters += "k"
        params.append(channel.key if client in channel.members else "*")
    if channel.limit is not None:
        letters += "l"
        params.append(str(channel.limit))
    chat.delivery.reply(client, rpl.RPL_CHANNELMODEIS, channel.name, "+" + letters, *params)
    chat.delivery.reply(client, rpl.RPL_CREATIONTIME, channel.name, str(channel.created))


def change_modes(chat, client, channel, modes, arguments):
    """``MODE #channel modes arguments...``: apply each change *client* may make, and tell the
    members what changed in one MODE line.  ``+b`` with no mask lists the bans, for anyone."""
    arguments = list(arguments)
    applied = []
    adding = True
    param_modes = 0
    refused = False
    # A line of 500 letters must not bring 500 replies: each unknown letter is named once,
    # and the ban list is sent once.
    answered = set()
    for char in modes:
        if char in "+-":
            adding = char == "+"
            continue
        if char not in _KNOWN:
            if char not in answered:
                answered.add(char)
                chat.delivery.reply(client, rpl.ERR_UNKNOWNMODE, char,
                                    _("is unknown mode char to me"))
            continue
        argument = None
        if char in "bovkeI" or (char == "l" and adding):
            if not arguments:
                if char in LISTS:
                    if char not in answered:
                        answered.add(char)
                        _show_list(chat, client, channel, char)
                    continue
                if char != "k" or adding:  # -k needs no key: there is only one
                    if ("461", char) not in answered:
                        answered.add(("461", char))
                        chat.delivery.reply(client, rpl.ERR_NEEDMOREPARAMS, "MODE",
                                            _("Not enough parameters: {mode} needs one",
                                     mode=("+" if adding else "-") + char))
                    continue
            else:
                param_modes += 1
                if param_modes > MAX_PARAM_MODES:
                    break
                argument = arguments.pop(0)
        if not may_moderate(client, channel):
            if not refused:
                chat.delivery.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name,
                                    _("You're not channel operator"))
                refused = True
            continue
        change = _apply(chat, client, channel, char, adding, argument)
        if change is not _UNCHANGED:
            applied.append((adding, char, change))
    if applied:
        _regate(channel)
        chat.change_modes(client, channel, _mode_line(applied))


_UNCHANGED = object()


def _apply(chat, client, channel, char, adding, argument):
    """Make one change; its argument as the MODE line shows it (None: it has none), or
    _UNCHANGED when nothing changed (already so, or refused with a numeric)."""
    if char in PREFIXES:
        return _set_rank(chat, client, channel, PREFIXES[char], adding, argument)
    if char in LISTS:
        return _set_listed(chat, client, channel, char, adding, argument)
    if char == "k":
        return _set_key(chat, client, channel, adding, argument)
    if char == "l":
        return _set_limit(chat, client, channel, adding, argument)
    if (char in channel.modes) == adding:
        return _UNCHANGED
    if adding:
        channel.modes.add(char)
    else:
        channel.modes.discard(char)
    return None


def _set_rank(chat, client, channel, prefix, adding, nick):
    user = chat.registry.find_user(nick)
    if user is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, nick, _("No such nick/channel"))
        return _UNCHANGED
    rank = channel.members.get(user)
    if rank is None:
        chat.delivery.reply(client, rpl.ERR_USERNOTINCHANNEL, user.nick, channel.name,
                            _("They aren't on that channel"))
        return _UNCHANGED
    new_rank = _ranked(rank, prefix, adding)
    if new_rank == rank:
        return _UNCHANGED
    channel.members[user] = new_rank
    return user.nick


def _set_listed(chat, client, channel, char, adding, text):
    """+b, +e or +I (or -): a mask on (or off) the channel's list."""
    mask = ban_mask(text)
    if mask is None or (char != "b" and mask[1:2] == ":"):  # extended: bans alone
        _invalid(chat, client, channel, char, text, _("not a nick!user@host mask"))
        return _UNCHANGED
    entries = getattr(channel, LISTS[char][0])
    folded = [fold(entry.mask) for entry in entries]
    if adding:
        if fold(mask) in folded:
            return _UNCHANGED
        if len(entries) >= MAXBANS:
            full = (_("Channel ban list is full ({maxbans})", maxbans=MAXBANS) if char == "b"
                    else _("Channel list is full ({maxbans})", maxbans=MAXBANS))
            chat.delivery.reply(client, rpl.ERR_BANLISTFULL, channel.name, char, full)
            return _UNCHANGED
        entries.append(Ban(mask, client.nick, int(chat.wall_clock())))
    else:
        if fold(mask) not in folded:
            return _UNCHANGED
        del entries[folded.index(fold(mask))]
    set_lists(channel, **{LISTS[char][0]: entries})
    return mask


def set_lists(channel, bans=None, excepts=None, invex=None):
    """Give *channel* the :class:`Ban` lists given (None: as it is), and the patterns that
    match them."""
    if bans is not None:
        channel.bans = list(bans)
        plain, muted, accounts = [], [], []
        for ban in channel.bans:
            mask = ban.mask
            (accounts if mask.startswith("a:") else muted if mask.startswith("m:")
             else plain).append(mask[2:] if mask[1:2] == ":" else mask)
        channel.ban_pattern = Wildcards(*plain) if plain else None
        channel.mute_pattern = Wildcards(*muted) if muted else None
        channel.account_bans = Wildcards(*accounts) if accounts else None
    if excepts is not None:
        channel.excepts = list(excepts)
        channel.except_pattern = (Wildcards(*(entry.mask for entry in channel.excepts))
                                  if channel.excepts else None)
    if invex is not None:
        channel.invex = list(invex)
        channel.invex_pattern = (Wildcards(*(entry.mask for entry in channel.invex))
                                 if channel.invex else None)
    channel.ban_verdicts.clear()
    _regate(channel)


def _set_key(chat, client, channel, adding, key):
    if not adding:
        if channel.key is None:
            return _UNCHANGED
        channel.key = None
        return "*"
    # A space would make the key unusable in a JOIN (and a parameter of no reply could hold
    # it): refused, as the modern spec says, rather than cut or changed.
    if not key or len(key) > KEYLEN or key[0] == ":" or "," in key or " " in key:
        _invalid(chat, client, channel, "k", key,
                 _("a key is 1 to {length} characters, with no comma or space", length=KEYLEN))
        return _UNCHANGED
    if channel.key is not None:
        if key != channel.key:
            chat.delivery.reply(client, rpl.ERR_KEYSET, channel.name,
                                _("Channel key already set: remove it first (-k)"))
        return _UNCHANGED
    channel.key = key
    return key


def _set_limit(chat, client, channel, adding, text):
    if not adding:
        if channel.limit is None:
            return _UNCHANGED
        channel.limit = None
        return None
    if not text.isdigit() or not 0 < int(text) <= MAX_LIMIT:
        _invalid(chat, client, channel, "l", text,
                 _("a limit is a number from 1 to {limit}", limit=MAX_LIMIT))
        return _UNCHANGED
    if int(text) == channel.limit:
        return _UNCHANGED
    channel.limit = int(text)
    return str(channel.limit)


def _invalid(chat, client, channel, char, parameter, why):
    chat.delivery.reply(client, rpl.ERR_INVALIDMODEPARAM, channel.name, char,
                        middle_or(parameter), _("Invalid mode parameter: {why}", why=why))


def _regate(channel):
    """Keep ``Channel.gated`` true while a rule could stop a member without a prefix talking."""
    channel.gated = "m" in channel.modes or bool(channel.bans)


def _mode_line(applied):
    """``+ov-k`` and its arguments, for changes as ``(adding, char, argument)``."""
    letters, arguments, sign = "", [], None
    for adding, char, argument in applied:
        if adding != sign:
            letters += "+" if adding else "-"
            sign = adding
        letters += char
        if argument is not None:
            arguments.append(argument)
    return (letters, *arguments)


def _show_list(chat, client, channel, char):
    """367/368, 348/349 or 346/347: the entries of the list *char*, then its end."""
    name, entry_numeric, end_numeric = LISTS[char]
    for entry in getattr(channel, name):
        chat.delivery.reply(client, entry_numeric, channel.name, entry.mask, entry.by,
                            str(entry.at))
    ends = {"b": _("End of channel ban list"), "e": _("End of channel exception list"),
            "I": _("End of channel invite exception list")}
    chat.delivery.reply(client, end_numeric, channel.name, ends[char])


class Ban:
    __slots__ = ("mask", "by", "at")

    def __init__(self, mask, by, at):
        self.mask, self.by, self.at = mask, by, at


# -- KICK, INVITE, TOPIC --------------------------------------------------------------------

def operated_channel(chat, client, name):
    """The channel *name*, if *client* may moderate it; otherwise None, and the client told
    why (403, 442 or 482)."""
    channel = chat.registry.channels.get(fold(name))
    if channel is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _("No such channel"))
    elif client not in channel.members and not client.oper:
        chat.delivery.reply(client, rpl.ERR_NOTONCHANNEL, channel.name,
                            _("You're not on that channel"))
    elif not may_moderate(client, channel):
        chat.delivery.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name,
                            _("You're not channel operator"))
    else:
        return channel
    return None


def kick(chat, client, name, nicks, reason):
    """``KICK #channel nick[,nick...] [reason]``, by an operator."""
    channel = operated_channel(chat, client, name)
    if channel is None:
        return
    reason = utf8_prefix(reason or client.nick, KICKLEN)
    for nick in [nick for nick in nicks.split(",") if nick][:MAX_KICKS]:
        user = chat.registry.find_user(nick)
        if user is None:
            chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, nick, _("No such nick/channel"))
        elif user not in channel.members:
            chat.delivery.reply(client, rpl.ERR_USERNOTINCHANNEL, user.nick, channel.name,
                                _("They aren't on that channel"))
        else:
            chat.kick(client, channel, user, reason)


def invite(chat, client, nick, name):
    """``INVITE nick #channel``: any member may invite to an open channel, only an operator to
    an invite-only one."""
    user = chat.registry.find_user(nick)
    if user is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHNICK, nick, _("No such nick/channel"))
        return
    channel = chat.registry.channels.get(fold(name))
    if channel is None:
        chat.delivery.reply(client, rpl.ERR_NOSUCHCHANNEL, name, _("No such channel"))
    elif client not in channel.members and not client.oper:
        chat.delivery.reply(client, rpl.ERR_NOTONCHANNEL, channel.name,
                            _("You're not on that channel"))
    elif "i" in channel.modes and not may_moderate(client, channel):
        chat.delivery.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name,
                            _("You're not channel operator"))
    elif user in channel.members:
        chat.delivery.reply(client, rpl.ERR_USERONCHANNEL, user.nick, channel.name,
                            _("is already on channel"))
    else:
        if user.invites is None:
            user.invites = {}
        user.invites.pop(channel, None)
        user.invites[channel] = None
        if len(user.invites) > MAX_INVITES:
            del user.invites[next(iter(user.invites))]
        chat.delivery.reply(client, rpl.RPL_INVITING, user.nick, channel.name)
        chat.invite(client, user, channel)


def set_topic(chat, client, channel, text):
    """TOPIC with a text, from a member: anyone's to set, unless the channel is ``+t``."""
    if "t" in channel.modes and not may_moderate(client, channel):
        chat.delivery.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name,
                            _("You're not channel operator"))
    else:
        chat.set_topic(client, channel, text)
