"""What the server is told at start (:class:`Config`), and the limits the chat keeps whatever
it is told, which ISUPPORT (005) announces.

Imported by every layer above the chat (the commands, the core, the command line), so that a
limit has one home.
"""

import time
from dataclasses import dataclass, field

from ..text.display import CROWD, CROWD_WINDOW
from .flood import FloodPolicy

TOPICLEN = 390
AWAYLEN = 200
#: The most bytes of what a client sent that a numeric echoes in one parameter: a channel name
#: of 50 four-byte letters.
ECHO_BYTES = 200
#: How many channels one user may be in at once (CHANLIMIT): bounds the work of a QUIT.
CHANLIMIT = 20
#: How many nicks one user may watch with MONITOR (ISUPPORT MONITOR).
MONITOR_LIMIT = 100
#: The server makes at most OPER_CHECKS password checks (OPER) in OPER_WINDOW seconds, all
#: users together: each costs tens of milliseconds of the thread that serves everyone.
OPER_CHECKS = 4
OPER_WINDOW = 2.0
#: Accounts registered (count, in seconds) from one address, and on the whole server: a class
#: behind one school router registers together, a script making thousands does not.
REGISTRATIONS_PER_ADDRESS = (30, 600.0)
REGISTRATIONS = (300, 600.0)


@dataclass
class Config:
    server_name: str = "tcpchat"
    default_channel: str = "#lobby"
    autojoin: bool = True
    password: str = None
    motd: list = None
    #: Bytes of output that may wait for one client before it is disconnected (see module doc).
    sendq: int = 1 << 20
    #: Seconds a new connection has to register (IRC) or choose a name (plain mode).
    registration_timeout: float = 60.0
    #: Connections that may be registering at once; past it, the oldest is let go.
    max_unregistered: int = 256
    #: How fast one connection's lines are handled (:mod:`tcpchat.chat.flood`); None: no limit.
    flood: FloodPolicy = field(default_factory=FloodPolicy)
    #: Seconds of silence from a registered IRC client before the server sends it a PING.
    ping_interval: float = 120.0
    #: Seconds after that PING before the client is dropped with "Ping timeout".
    pong_timeout: float = 60.0
    #: Seconds of silence from a plain user on a transport that cannot tell when its peer is
    #: gone (UDP) before it is asked to press Enter; pong_timeout later it is dropped with
    #: "Idle timeout".  Plain TCP users are never asked: keepalive finds the dead ones.
    idle_interval: float = 300.0
    #: IRCv3 strict transport security: with a duration (seconds), CAP LS 302 tells plaintext
    #: clients to come back over TLS on *sts_port*, and TLS clients to remember that for the
    #: duration.  None: not advertised.
    sts_duration: int = None
    sts_port: int = None
    #: Channel messages in a row go out as one append per member (see the module doc); off
    #: only to measure or test the one-message-at-a-time path against it.
    batch: bool = True
    #: Server operators: name -> scrypt hash (:mod:`tcpchat.commands.opers`); empty: OPER is
    #: refused.
    opers: dict = field(default_factory=dict)
    #: How many departed nicks WHOWAS remembers, newest first; the oldest are forgotten.
    whowas_length: int = 1000
    #: Shown by ADMIN (259), if given.
    admin_email: str = None
    #: The most history entries one request returns (CHATHISTORY=, /history), when the
    #: server keeps history (a store handed to the core).
    history_limit: int = 100
    #: Lines of a room's history a plain user is shown on joining it.
    history_on_join: int = 20
    #: The language every user reads until it chooses another (/lang, LANGUAGE): a code of
    #: :func:`tcpchat.text.catalog.languages`.
    language: str = "en"
    #: Who may register an account: "open" (anyone, REGISTER and /register) or "closed"
    #: (only the admin command line makes accounts).
    registration: str = "open"
    #: What happens to a user who takes a registered account's nick without logging in to
    #: it: "off" (nothing), "warn" (a notice), "enforce" (a notice, then after
    #: *nick_grace* seconds a guest nick).
    nick_protection: str = "enforce"
    nick_grace: float = 30.0
    #: A room of more members than this is crowded: its plain members are told who came and
    #: went once every *crowd_window* seconds, in one line, rather than one line a join.
    crowd: int = CROWD
    crowd_window: float = CROWD_WINDOW
    #: Set by the server when it starts; shown in 003.
    created: float = field(default_factory=time.time)
