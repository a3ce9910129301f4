"""``python -m tcpchat.server``: start the chat server from the command line."""

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
import time

from . import __version__
from .chat.config import Config
from .chat.flood import FloodPolicy
from .cluster.link import ClusterLink
from .commands.opers import hash_password, parse_oper_file
from .commands.accounts import reload as reload_accounts
from .core import ChatCore
from .protocol.names import channel_problem
from .store.accounts import Accounts
from .store.sqlite import SqliteStore, StoreError
from .text.arguments import ArgumentParser, interface_language, read_new_password
from .text.catalog import ENGLISH, _, languages
from .transports.datagram import MAX_UNREGISTERED
from .transports.driver import (AdmissionPolicy, bind_datagram, listen, port_number,
                                raise_descriptor_limit)
from .transports.selectloop import SELECTORS, SelectLoop, make_selector
from .transports.threads import THREADS_CEILING, ThreadsServer
from .transports.tls import Certificates, TlsSetupError
from .transports.metrics import (LOOPBACK, MissingLibrary, allow_list, check_library,
                                 registry_for)
from .transports.metrics import page as metrics_page
from .transports.metrics import serve as serve_metrics
from .transports.redisbus import RedisBus, redact_url
from .transports.workers import WorkerThreads

log = logging.getLogger("tcpchat")


#: In memory (no --db), history is bounded whatever the options say: this many lines a room
#: unless --history-lines says otherwise, and this many in all.
MEMORY_LINES, MEMORY_TOTAL = 1000, 100_000


def build_parser(language=ENGLISH):
    parser = ArgumentParser(
        prog="tcpchat-server", language=language,
        description=_("A small chat server. IRC clients (irssi, WeeChat, HexChat) connect as to "
                    "any IRC server; netcat and telnet users type a name, then lines."))
    parser.add_argument("--host", default="127.0.0.1",
                        help=_("address to listen on: 127.0.0.1 (default, this machine only), "
                               "0.0.0.0 (every IPv4 interface) or :: (IPv6 and IPv4)"))
    parser.add_argument("--port", type=port_number, default=6667,
                        help=_("TCP port (default 6667, IRC's; 0 picks a free one), and the UDP "
                               "port with --udp"))
    parser.add_argument("--tls-cert", metavar="FILE",
                        help=_("serve TLS too, on --tls-port, with the certificate chain in "
                               "FILE (PEM: the server's certificate first); SIGHUP reads it "
                               "again"))
    parser.add_argument("--tls-key", metavar="FILE",
                        help=_("the certificate's private key (PEM, no passphrase; default: "
                               "in the --tls-cert file)"))
    parser.add_argument("--tls-port", type=port_number, default=6697,
                        help=_("TLS port (default 6697, IRC's; 0 picks a free one)"))
    parser.add_argument("--no-plaintext", action="store_true",
                        help=_("serve TLS alone: nothing listens on --port"))
    parser.add_argument("--sts-duration", type=int, metavar="SECONDS",
                        help=_("advertise IRCv3 strict transport security: IRC clients that "
                               "know it move to the TLS port and keep to TLS for SECONDS (only "
                               "with a certificate clients trust; 0 withdraws the policy)"))
    parser.add_argument("--web", type=port_number, metavar="PORT",
                        help=_("serve the chat page and IRC over WebSocket on PORT, for "
                               "browsers (select backend; needs `pip install 'tcpchat[web]'`)"))
    parser.add_argument("--web-tls", action="store_true",
                        help=_("serve --web over TLS (HTTPS, wss://) with the --tls-cert "
                               "certificate"))
    parser.add_argument("--web-origin", action="append", metavar="ORIGIN",
                        help=_("a page origin (https://chat.example.org) whose scripts may "
                               "open a chat connection; repeat for more, * for any (default: "
                               "the page's own host only)"))
    parser.add_argument("--udp", action="store_true",
                        help=_("serve the chat over UDP as well, on the same port number: "
                               "`nc -u HOST PORT` users and `tcpchat.client --udp` (select "
                               "backend)"))
    parser.add_argument("--udp-only", action="store_true",
                        help=_("serve the chat over UDP alone"))
    parser.add_argument("--udp-max-unregistered", type=int, default=MAX_UNREGISTERED,
                        metavar="N",
                        help=_("UDP source addresses held at once before they register; past it "
                               "the oldest is dropped (default {max_unregistered})",
                               max_unregistered=MAX_UNREGISTERED))
    parser.add_argument("--name", default="tcpchat",
                        help=_("the server's name in replies and its network name (default "
                               "tcpchat)"))
    parser.add_argument("--backend", choices=["select", "threads"], default="select",
                        help=_("how connections are served: select (default), one thread with "
                               "non-blocking sockets; threads, a reader and a writer thread per "
                               "connection with blocking sockets (the classic design, to compare)"))
    parser.add_argument("--selector", choices=sorted(SELECTORS), default="auto",
                        help=_("the readiness API the select backend uses; auto (default) picks "
                               "the best this system has (epoll on Linux); the threads backend "
                               "has none"))
    parser.add_argument("--no-io-uring", action="store_true",
                        help=_("send a broadcast to each member with a send() call of its own; "
                               "by default the select backend hands them all to the kernel in "
                               "one system call, through io_uring, where Linux has it"))
    parser.add_argument("--channel", default="#lobby",
                        help=_("the default room: every plain-text user is in it, and IRC users "
                               "join it when they connect (default #lobby)"))
    parser.add_argument("--no-autojoin", action="store_true",
                        help=_("do not put IRC users in the default room when they connect"))
    parser.add_argument("--password",
                        help=_("a password everyone must give (IRC: PASS; plain: asked for)"))
    parser.add_argument("--motd", metavar="FILE",
                        help=_("a text file whose lines are the message of the day"))
    parser.add_argument("--oper-file", metavar="FILE",
                        help=_("server operators for OPER: one 'name hash' a line, each hash "
                               "from --hash-password"))
    parser.add_argument("--hash-password", action="store_true",
                        help=_("read a password (twice, unseen, on a terminal; else one line "
                               "of standard input), print its hash for --oper-file, and exit"))
    parser.add_argument("--admin-email", metavar="ADDRESS",
                        help=_("a contact address, which ADMIN shows"))
    parser.add_argument("--lang", choices=languages(), default=ENGLISH,
                        help=_("the language everyone reads until they choose another (/lang, "
                               "LANGUAGE), and this command line's; default en, or the "
                               "locale's for the command line"))
    kept = parser.add_argument_group(
        _("history"), _("what was said is kept and shown again (docs/history.rst); without "
                        "--db, in memory until the server stops"))
    kept.add_argument("--db", metavar="FILE",
                      help=_("the SQLite file history and accounts are kept in (made if "
                             "missing, mode 0600)"))
    kept.add_argument("--no-history", action="store_true",
                      help=_("keep no history at all"))
    kept.add_argument("--history-lines", type=int, metavar="N",
                      help=_("keep at most N lines a room (default: no bound with --db; "
                             "{count} in memory, and {total} in all)", count=MEMORY_LINES,
                             total=MEMORY_TOTAL))
    kept.add_argument("--history-days", type=float, metavar="DAYS",
                      help=_("forget lines older than DAYS (default: never)"))
    kept.add_argument("--history-on-join", type=int, default=Config.history_on_join,
                      metavar="N", help=_("lines a plain user is shown on joining a room "
                                          "(default {count})", count=Config.history_on_join))
    people = parser.add_argument_group(
        _("accounts"), _("names that are people's own, and rooms that stay theirs "
                         "(docs/accounts.rst); without --db, in memory until the server "
                         "stops"))
    people.add_argument("--registration", choices=("open", "closed"),
                        default=Config.registration,
                        help=_("open: anyone may register an account (REGISTER, /register); "
                               "closed: only python -m tcpchat.admin makes them (default "
                               "open)"))
    people.add_argument("--nick-protection", choices=("off", "warn", "enforce"),
                        default=Config.nick_protection,
                        help=_("a user who takes an account's nick without logging in to it: "
                               "off, warn (a notice), enforce (a notice, then a guest nick "
                               "after --nick-grace; the default)"))
    people.add_argument("--nick-grace", type=float, default=Config.nick_grace,
                        metavar="SECONDS",
                        help=_("time to log in before enforce renames (default {seconds:.0f})",
                               seconds=Config.nick_grace))
    people.add_argument("--crowd", type=int, default=Config.crowd, metavar="N",
                        help=_("in a room of more than N people, netcat users are told who "
                               "came and went once every {seconds:.0f} seconds, and the history "
                               "keeps none of it (default {crowd})",
                               seconds=Config.crowd_window, crowd=Config.crowd))
    limits = parser.add_argument_group(
        _("limits"), _("what one client, one address or a crowd may take "
                        "(docs/operations.rst); 0 means no limit"))
    limits.add_argument("--sendq", type=int, default=Config.sendq, metavar="BYTES",
                        help=_("output a client may leave unread before it is disconnected as too "
                               "slow (default {sendq})",
                               sendq=Config.sendq))
    limits.add_argument("--max-clients", type=int, default=AdmissionPolicy.max_clients,
                        metavar="N", 
                        help=_("connections held at once; past it newcomers are told the server is "
                               "full (default {max_clients})",
                               max_clients=AdmissionPolicy.max_clients))
    limits.add_argument("--max-per-ip", type=int, default=AdmissionPolicy.max_per_ip,
                        metavar="N", 
                        help=_("connections from one IPv4 address or IPv6 /64 (default "
                               "{max_per_ip})",
                               max_per_ip=AdmissionPolicy.max_per_ip))
    limits.add_argument("--max-unregistered", type=int, default=Config.max_unregistered,
                        metavar="N", 
                        help=_("connections that have not registered yet; past it the oldest is "
                               "let go (default {max_unregistered})",
                               max_unregistered=Config.max_unregistered))
    limits.add_argument("--registration-timeout", type=float,
                        default=Config.registration_timeout, metavar="SECONDS",
                        help=_("time to register or choose a name (default "
                               "{registration_timeout:.0f})",
                               registration_timeout=Config.registration_timeout))
    limits.add_argument("--no-flood-control", action="store_true",
                        help=_("handle every line as fast as it comes (benchmarks, trusted "
                               "networks); by default a client may send {burst_lines} lines at "
                               "once, then {lines_per_second:g} a second",
                               burst_lines=FloodPolicy.burst_lines,
                               lines_per_second=FloodPolicy.lines_per_second))
    limits.add_argument("--keepalive", default=":".join(map(str, AdmissionPolicy.keepalive)),
                        metavar="IDLE:INTERVAL:COUNT",
                        help="TCP keepalive: probe a silent peer after IDLE seconds, every "
                             "INTERVAL seconds, COUNT times (default %(default)s)")
    joined = parser.add_argument_group(
        _("cluster"), _("several servers as one chat, joined through Redis "
                        "(docs/cluster.rst; needs `pip install 'tcpchat[cluster]'`)"))
    joined.add_argument("--cluster", metavar="URL",
                        help=_("the Redis every server of the chat shares: redis://HOST:PORT/DB, "
                               "rediss:// (TLS) or unix:///PATH; a password may be in the URL "
                               "(redis://:PASSWORD@HOST)"))
    joined.add_argument("--cluster-password-file", metavar="FILE",
                        help=_("read Redis's password from FILE rather than from the URL"))
    joined.add_argument("--workers", type=int, default=1, metavar="N",
                        help=_("serve with N processes sharing the ports (SO_REUSEPORT), one "
                               "chat through --cluster, so that every core of this machine is "
                               "used (default 1)"))
    joined.add_argument("--node-name", metavar="NAME",
                        help=_("this server's name among the others, which users see when it "
                               "splits away (default: HOST:PORT)"))
    parser.add_argument("--metrics", metavar="HOST:PORT",
                        help=_("serve metrics for Prometheus on HOST:PORT, or 'web' for "
                               "/metrics on the --web port (needs `pip install "
                               "'tcpchat[metrics]'`; docs/operations.rst)"))
    parser.add_argument("--metrics-allow", default=",".join(LOOPBACK), metavar="NETWORKS",
                        help=_("the addresses or networks that may read the metrics, "
                               "comma-separated (default: loopback)"))
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help=_("INFO (default) logs registrations, quits and refusals; DEBUG "
                               "adds connections, joins, parts, nick changes and message "
                               "text"))
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    return parser


def config_from(args, parser):
    if not args.name or any(char in args.name for char in " !@:,*?"):
        parser.error(_("--name {name!r}: a server name has no spaces or ! @ : , * ?",
                       name=args.name))
    problem = channel_problem(args.channel)
    if problem:
        parser.error(_("--channel {channel!r}: {problem}", channel=args.channel, problem=problem))
    if args.sendq < 4096:
        parser.error(_("--sendq must be at least 4096 bytes"))
    for option in ("max_clients", "max_per_ip", "crowd"):
        if getattr(args, option) < 0:
            parser.error(_("--{option} cannot be negative", option=option.replace('_', '-')))
    if args.max_unregistered < 1:
        parser.error(_("--max-unregistered must be at least 1"))
    if args.registration_timeout <= 0:
        parser.error(_("--registration-timeout must be more than 0"))
    motd = None
    if args.motd:
        try:
            with open(args.motd, encoding="utf-8") as motd_file:
                motd = motd_file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(_("--motd: cannot read {motd}: {error}", motd=args.motd, error=exc))
    opers = {}
    if args.oper_file:
        try:
            with open(args.oper_file, encoding="utf-8") as oper_file:
                opers = parse_oper_file(oper_file.read())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            parser.error(_("--oper-file: cannot read {oper_file}: {error}",
                           oper_file=args.oper_file, error=exc))
    if args.no_history:
        for given, option in ((args.history_lines, "--history-lines"),
                              (args.history_days, "--history-days")):
            if given is not None:
                parser.error(_("{option} with --no-history: choose one", option=option))
    for option in ("history_lines", "history_days"):
        if getattr(args, option) is not None and getattr(args, option) <= 0:
            parser.error(_("--{option} must be more than 0", option=option.replace('_', '-')))
    if args.history_on_join < 0:
        parser.error(_("--history-on-join cannot be negative"))
    if args.nick_grace < 0:
        parser.error(_("--nick-grace cannot be negative"))
    return Config(server_name=args.name, default_channel=args.channel,
                  autojoin=not args.no_autojoin, password=args.password, motd=motd,
                  opers=opers, admin_email=args.admin_email,
                  sendq=args.sendq, max_unregistered=args.max_unregistered,
                  registration_timeout=args.registration_timeout,
                  flood=None if args.no_flood_control else FloodPolicy(),
                  history_on_join=args.history_on_join, language=args.lang,
                  registration=args.registration, nick_protection=args.nick_protection,
                  nick_grace=args.nick_grace, crowd=args.crowd)


def open_store(args):
    """The store asked for: the --db file, or a database in memory for history; None with
    --no-history and no --db (accounts then live in the process alone).  StoreError if it
    cannot be opened."""
    if args.db is not None:
        return SqliteStore(args.db, lines=args.history_lines, days=args.history_days)
    if args.no_history:
        return None
    return SqliteStore(None, lines=args.history_lines or MEMORY_LINES,
                       days=args.history_days, total=MEMORY_TOTAL)


def admission_policy(args, parser):
    try:
        keepalive = tuple(int(part) for part in args.keepalive.split(":"))
    except ValueError:
        keepalive = ()
    if len(keepalive) != 3 or min(keepalive) < 1:
        parser.error(_("--keepalive {keepalive!r}: three whole numbers of at least 1, "
                       "IDLE:INTERVAL:COUNT", keepalive=args.keepalive))
    max_clients = args.max_clients
    if args.backend == "threads" and not 0 < max_clients <= THREADS_CEILING:
        # Two threads a connection: past this, it slows to a crawl rather than refuse.
        if max_clients != AdmissionPolicy.max_clients:  # asked for, not the default
            log.warning("the threads backend serves %d connections at most (two threads "
                        "each; docs/operations.rst): --max-clients %d is lowered to it",
                        THREADS_CEILING, max_clients)
        max_clients = THREADS_CEILING
    return AdmissionPolicy(max_clients, args.max_per_ip, keepalive)


def open_sockets(host, port, tcp=True, udp=False, tls_port=None, web_port=None, shared=False):
    """The TCP listener, the UDP socket, the TLS listener and the web listener asked for (None
    where not): TCP and UDP on one port number (with port 0, UDP takes the port TCP was
    given), TLS on *tls_port* and the web on *web_port* if they are not None.  *shared*: the
    listeners take SO_REUSEPORT (--workers)."""
    listener = datagram_socket = tls_listener = web_listener = None
    trying = None
    try:
        if tcp:
            trying = port, "TCP"
            listener = listen(host, port, shared=shared)
        if udp:
            trying = listener.getsockname()[1] if tcp else port, "UDP"
            datagram_socket = bind_datagram(host, trying[0])
        if tls_port is not None:
            trying = tls_port, "TLS"
            tls_listener = listen(host, tls_port, shared=shared)
        if web_port is not None:
            trying = web_port, "web"
            web_listener = listen(host, web_port, shared=shared)
    except BaseException as exc:
        for sock in (listener, datagram_socket, tls_listener, web_listener):
            if sock is not None:
                sock.close()
        if isinstance(exc, OSError):
            raise ListenError(*trying, exc) from exc
        raise
    return listener, datagram_socket, tls_listener, web_listener


class ListenError(OSError):
    """A port the server could not listen on: which one, for what, and why."""

    def __init__(self, port, kind, error):
        super().__init__(error.errno, error.strerror or str(error))
        self.port, self.kind = port, kind


def tls_options(args, parser):
    """The certificates to serve TLS with (None without --tls-cert), loaded now so that a bad
    file stops the server before anything listens."""
    if args.tls_cert is None:
        for given, option in ((args.tls_key, "--tls-key"), (args.no_plaintext, "--no-plaintext"),
                              (args.sts_duration is not None, "--sts-duration")):
            if given:
                parser.error(_("{option} needs --tls-cert", option=option))
        return None
    if args.sts_duration is not None and args.sts_duration < 0:
        parser.error(_("--sts-duration cannot be negative"))
    if args.no_plaintext and (args.udp or args.udp_only):
        parser.error(_("--no-plaintext serves TLS alone: drop --udp"))
    try:
        return Certificates(args.tls_cert, args.tls_key or args.tls_cert)
    except TlsSetupError as exc:
        parser.exit(2, _("{program}: {error}", program=parser.prog, error=exc))


def metrics_options(args, parser, web):
    """Where the metrics go, checked now: (networks allowed, (host, port) or "web"), or
    None without --metrics; one line and exit when the library is missing."""
    if args.metrics is None:
        return None
    try:
        networks = allow_list(args.metrics_allow)
        check_library()
    except ValueError as exc:
        parser.error(_("--metrics-allow {error}", error=exc))
    except MissingLibrary as exc:
        parser.exit(2, _("{program}: {error}", program=parser.prog, error=exc))
    if args.metrics == "web":
        if web is None:
            parser.error(_("--metrics web needs --web"))
        return networks, "web"
    host, _sep, port = args.metrics.rpartition(":")
    try:
        return networks, (host.strip("[]") or "127.0.0.1", port_number(port))
    except argparse.ArgumentTypeError as exc:
        parser.error(_("--metrics {value!r}: {error}", value=args.metrics, error=exc))


def start_metrics(where, core, store, web):
    """Serve the metrics as :func:`metrics_options` said; the server thread's, or None."""
    networks, place = where
    registry = registry_for(core, store)
    if place == "web":
        web.handlers[b"/metrics"] = metrics_page(registry, networks)
        return None
    server = serve_metrics(*place, registry, networks)
    log.info("metrics on %s port %d for %s", place[0], server.server_address[1],
             ", ".join(map(str, networks)))
    return server


def web_options(args, parser):
    """The web gateway (None without --web), with the page loaded now; or one line saying
    what is missing."""
    if args.web is None:
        for given, option in ((args.web_tls, "--web-tls"), (args.web_origin, "--web-origin")):
            if given:
                parser.error(_("{option} needs --web", option=option))
        return None
    if args.backend == "threads":
        parser.error(_("--web is served by the select backend's event loop: drop --backend "
                     "threads"))
    if args.web_tls and args.tls_cert is None:
        parser.error(_("--web-tls needs --tls-cert"))
    if args.no_plaintext and not args.web_tls:
        parser.error(_("--no-plaintext: the web port would serve plaintext; add --web-tls"))
    try:
        from .transports.web import WebGateway
    except ImportError as exc:
        parser.exit(2, _("{program}: --web needs wsproto and h11 ({name} is missing): "
                         "pip install 'tcpchat[web]'", program=parser.prog, name=exc.name))
    try:
        return WebGateway(args.web_origin, asks_password=args.password is not None)
    except ValueError as exc:
        parser.error(_("--web-origin {error}", error=exc))


def describe_sockets(listener, datagram_socket, tls_listener, web_listener=None,
                     web_tls=False):
    """``127.0.0.1 port 6667 (TCP and UDP), port 6697 (TLS), port 8080 (web)``, for the
    log."""
    plaintext = " and ".join(name for name, sock in (("TCP", listener),
                                                     ("UDP", datagram_socket)) if sock)
    ports = []
    if plaintext:
        ports.append(f"port {(listener or datagram_socket).getsockname()[1]} ({plaintext})")
    if tls_listener is not None:
        ports.append(f"port {tls_listener.getsockname()[1]} (TLS)")
    if web_listener is not None:
        ports.append(f"port {web_listener.getsockname()[1]} "
                     f"({'web over TLS' if web_tls else 'web'})")
    host = (listener or datagram_socket or tls_listener or web_listener).getsockname()[0]
    return f"{host} {', '.join(ports)}"


def cluster_options(args, parser):
    """The Redis URL and password for --cluster, or None without it; one line and exit when
    the extra is missing or the password file cannot be read."""
    if args.cluster is None:
        for given, option in ((args.cluster_password_file, "--cluster-password-file"),
                              (args.node_name, "--node-name")):
            if given is not None:
                parser.error(_("{option} needs --cluster", option=option))
        if args.workers != 1:
            parser.error(_("--workers needs --cluster: the processes are one chat through it"))
        return None
    if args.workers < 1:
        parser.error(_("--workers must be at least 1"))
    if args.workers > 1:
        if not hasattr(socket, "SO_REUSEPORT"):
            parser.error(_("--workers needs SO_REUSEPORT, which this system does not have"))
        for given, option in ((args.db, "--db"), (args.udp or args.udp_only, "--udp"),
                              (args.metrics, "--metrics")):
            if given:
                parser.error(_("{option} with --workers: each process would need it alone; "
                               "run one server a process instead", option=option))
    try:
        import redis  # noqa: F401 (only whether it is there)
    except ImportError:
        parser.error(_("--cluster needs the redis library: pip install 'tcpchat[cluster]'"))
    if not args.cluster.startswith(("redis://", "rediss://", "unix://")):
        parser.error(_("--cluster: a redis://, rediss:// or unix:// URL, not {url}",
                       url=args.cluster))
    password = None
    if args.cluster_password_file is not None:
        try:
            with open(args.cluster_password_file, encoding="utf-8") as lines:
                password = lines.readline().rstrip("\r\n")
        except OSError as exc:
            parser.error(_("--cluster-password-file: {error}", error=exc.strerror))
    return args.cluster, password


def join_cluster(core, server, where, node_name, listener, worker=None):
    """This node's link to the others (tcpchat.cluster), started; the bus is returned to be
    closed at the end.  *worker*: this process's number among --workers."""
    url, password = where
    if node_name is None:
        host, port = (listener.getsockname()[:2] if listener is not None
                      else (socket.gethostname(), os.getpid()))
        node_name = f"{socket.gethostname() if host in ('0.0.0.0', '::') else host}:{port}"
    if worker is not None:
        node_name += f"/{worker}"
    node = secrets.token_hex(6)
    bus = RedisBus(url, node, node_name, password=password)
    bus.link = ClusterLink(core.chat, node, node_name, bus)
    bus.post = server.post_completed
    bus.start()
    log.info("cluster: node %s (%s) on %s", node_name, node, redact_url(url))
    return bus


def fork_workers(count):
    """Fork the other *count* - 1 processes of --workers: (this process's number, 0 for the
    first, and the children's pids, for the first)."""
    children = []
    for number in range(1, count):
        pid = os.fork()
        if pid == 0:
            _end_with_parent()
            return number, []
        children.append(pid)
    return 0, children


def reopen_shared(host, *listeners):
    """A forked worker's own listeners on the ports its parent's are bound to (so that the
    kernel gives each process its share of new connections), in place of the copies it
    inherited."""
    ports = [sock.getsockname()[1] if sock is not None else None for sock in listeners]
    for sock in listeners:
        if sock is not None:
            sock.close()
    tcp, tls, web = ports
    return open_sockets(host, tcp or 0, tcp=tcp is not None, tls_port=tls, web_port=web,
                        shared=True)


def _end_with_parent():
    """Linux: this worker gets SIGTERM when the first process dies, even by kill -9, rather
    than serve on alone."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_workers(children, timeout=10.0):
    """The first process stops: so do the others (each says goodbye to its users)."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in children:
        while True:
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # a process's end cannot be waited on with a timeout otherwise


def print_password_hash():
    """--hash-password: the hash of a password read without echo (or from a pipe)."""
    password, problem = read_new_password(sys.stdin)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    if any(char.isspace() for char in password):
        # irssi's /oper NAME PASSWORD, like most clients', sends the password as one word.
        print(_("A password with a space cannot be given to OPER by most IRC clients; choose "
                "one without."), file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv=None):
    language = interface_language(sys.argv[1:] if argv is None else argv, os.environ)
    parser = build_parser(language)
    args = parser.parse_args(argv)
    if args.hash_password:
        return print_password_hash()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    config = config_from(args, parser)
    policy = admission_policy(args, parser)
    try:
        selector = make_selector(args.selector)
    except ValueError as exc:
        parser.error(_("--selector: {error}", error=exc))
    udp = args.udp or args.udp_only
    if udp and args.backend == "threads":
        parser.error(_("--udp is served by the select backend's event loop: drop --backend "
                     "threads"))
    if args.udp_max_unregistered < 1:
        parser.error(_("--udp-max-unregistered must be at least 1"))
    certificates = tls_options(args, parser)
    web = web_options(args, parser)
    metrics = metrics_options(args, parser, web)
    cluster = cluster_options(args, parser)
    tls_port = args.tls_port if certificates is not None else None
    shared = args.workers > 1
    try:
        listener, datagram_socket, tls_listener, web_listener = open_sockets(
            args.host, args.port, tcp=not (args.udp_only or args.no_plaintext), udp=udp,
            tls_port=tls_port, web_port=args.web, shared=shared)
    except ListenError as exc:
        log.error("cannot listen on %s port %s (%s): %s", args.host, exc.port, exc.kind,
                  exc.strerror)
        return 1
    worker, children = 0, []
    if shared:  # before any thread is started: a fork copies only the thread that calls it
        worker, children = fork_workers(args.workers)
        if worker:
            listener, _udp, tls_listener, web_listener = reopen_shared(
                args.host, listener, tls_listener, web_listener)
            # An epoll instance made before the fork is the parent's too: each process would
            # be woken for the other's sockets.  The worker makes its own.
            selector.close()
            selector = make_selector(args.selector)
    if args.sts_duration is not None:
        config.sts_duration = args.sts_duration
        config.sts_port = tls_listener.getsockname()[1]
    try:
        store = open_store(args)
        records = store.records() if store is not None else ()
    except StoreError as exc:
        log.error("cannot keep history and accounts in %s", exc)
        for sock in (listener, datagram_socket, tls_listener, web_listener):
            if sock is not None:
                sock.close()
        return 1
    offload = WorkerThreads()
    accounts = (Accounts(store.keep, records, store.keeping) if store is not None
                else Accounts())
    core = ChatCore(config, history=None if args.no_history else store, offload=offload,
                    accounts=accounts)
    if args.db is not None:  # python -m tcpchat.admin changed the file: kill -HUP reads it
        core.reloaders.append(lambda: reload_accounts(core.chat, store.records()))
    if metrics is not None:
        try:
            start_metrics(metrics, core, store, web)
        except OSError as exc:
            log.error("cannot serve metrics on %s: %s", args.metrics, exc.strerror)
            return 1
    if certificates is not None:
        try:  # TLS client certificates that log in (SASL EXTERNAL) are the accounts'
            certificates.trust_clients(accounts.anchors)
        except TlsSetupError as exc:
            log.error("%s; SASL EXTERNAL is off until a reload that works", exc)
    descriptors = raise_descriptor_limit()
    if descriptors is not None and policy.max_clients and descriptors < policy.max_clients + 32:
        log.warning("this process may open %d descriptors: fewer than --max-clients %d "
                    "needs; past them, newcomers are told the server is full", descriptors,
                    policy.max_clients)
    if args.backend == "threads":
        server = ThreadsServer(core, listener, tls_listener, certificates, policy)
        how = "threads backend"
    else:
        server = SelectLoop(core, listener, selector, datagram_socket, tls_listener,
                            certificates, web_listener, web, args.web_tls, policy,
                            io_uring=not args.no_io_uring,
                            max_unregistered=args.udp_max_unregistered)
        how = f"select backend, {type(selector).__name__}"
        if server.ring is not None:
            how += ", broadcasts through io_uring"
        elif server.no_ring is not None:
            how += f", a send() a member (no io_uring: {server.no_ring})"
    if config.flood is None:
        how += ", no flood control"
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.request_stop())
    if (certificates is not None or args.db is not None) and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: server.request_reload())
    log.info("tcpchat %s listening on %s; %s", __version__,
             describe_sockets(listener, datagram_socket, tls_listener, web_listener,
                              args.web_tls), how)
    bus = None
    if cluster is not None:
        bus = join_cluster(core, server, cluster, args.node_name,
                           listener or tls_listener or web_listener,
                           worker if shared else None)
    try:
        server.serve()
    finally:
        if bus is not None:
            bus.close()  # the other nodes let this one's users go at once
        offload.close()
        stop_workers(children)
        if store is not None:
            store.close()  # what the writer has not written yet, written now
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
