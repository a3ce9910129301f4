"""``python -m tcpchat.server``: start the chat server from the command line."""

import argparse
import getpass
import logging
import signal
import sys

from . import __version__
from .chat.config import Config
from .core import ChatCore
from .protocol.names import channel_problem
from .commands.opers import hash_password, parse_oper_file
from .transports.datagram import MAX_UNREGISTERED
from .transports.driver import (AdmissionPolicy, bind_datagram, listen,
                              raise_descriptor_limit)
from .chat.flood import FloodPolicy
from .transports.selectloop import SELECTORS, SelectLoop, make_selector
from .transports.threads import ThreadsServer
from .transports.tls import Certificates, TlsSetupError

log = logging.getLogger("tcpchat")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tcpchat-server",
        description="A small chat server. IRC clients (irssi, WeeChat, HexChat) connect as to "
                    "any IRC server; netcat and telnet users type a name, then lines.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on: 127.0.0.1 (default, this machine only), "
                             "0.0.0.0 (every IPv4 interface) or :: (IPv6 and IPv4)")
    parser.add_argument("--port", type=int, default=6667,
                        help="TCP port (default 6667, IRC's; 0 picks a free one), and the UDP "
                             "port with --udp")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="serve TLS too, on --tls-port, with the certificate chain in "
                             "FILE (PEM: the server's certificate first); SIGHUP reads it "
                             "again")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="the certificate's private key (PEM, no passphrase; default: "
                             "in the --tls-cert file)")
    parser.add_argument("--tls-port", type=int, default=6697,
                        help="TLS port (default 6697, IRC's; 0 picks a free one)")
    parser.add_argument("--no-plaintext", action="store_true",
                        help="serve TLS alone: nothing listens on --port")
    parser.add_argument("--sts-duration", type=int, metavar="SECONDS",
                        help="advertise IRCv3 strict transport security: IRC clients that "
                             "know it move to the TLS port and keep to TLS for SECONDS (only "
                             "with a certificate clients trust; 0 withdraws the policy)")
    parser.add_argument("--web", type=int, metavar="PORT",
                        help="serve the chat page and IRC over WebSocket on PORT, for "
                             "browsers (select backend; needs `pip install 'tcpchat[web]'`)")
    parser.add_argument("--web-tls", action="store_true",
                        help="serve --web over TLS (HTTPS, wss://) with the --tls-cert "
                             "certificate")
    parser.add_argument("--web-origin", action="append", metavar="ORIGIN",
                        help="a page origin (https://chat.example.org) whose scripts may "
                             "open a chat connection; repeat for more, * for any (default: "
                             "the page's own host only)")
    parser.add_argument("--udp", action="store_true",
                        help="serve the chat over UDP as well, on the same port number: "
                             "`nc -u HOST PORT` users and `tcpchat.client --udp` (select "
                             "backend)")
    parser.add_argument("--udp-only", action="store_true",
                        help="serve the chat over UDP alone")
    parser.add_argument("--udp-max-unregistered", type=int, default=MAX_UNREGISTERED,
                        metavar="N",
                        help="UDP source addresses held at once before they register; past "
                             f"it the oldest is dropped (default {MAX_UNREGISTERED})")
    parser.add_argument("--name", default="tcpchat",
                        help="the server's name in replies and its network name (default "
                             "tcpchat)")
    parser.add_argument("--backend", choices=["select", "threads"], default="select",
                        help="how connections are served: select (default), one thread with "
                             "non-blocking sockets; threads, a reader and a writer thread per "
                             "connection with blocking sockets (the classic design, to compare)")
    parser.add_argument("--selector", choices=sorted(SELECTORS), default="auto",
                        help="the readiness API the select backend uses; auto (default) picks "
                             "the best this system has (epoll on Linux); the threads backend "
                             "has none")
    parser.add_argument("--channel", default="#lobby",
                        help="the default room: every plain-text user is in it, and IRC users "
                             "join it when they connect (default #lobby)")
    parser.add_argument("--no-autojoin", action="store_true",
                        help="do not put IRC users in the default room when they connect")
    parser.add_argument("--password",
                        help="a password everyone must give (IRC: PASS; plain: asked for)")
    parser.add_argument("--motd", metavar="FILE",
                        help="a text file whose lines are the message of the day")
    parser.add_argument("--oper-file", metavar="FILE",
                        help="server operators for OPER: one 'name hash' a line, each hash "
                             "from --hash-password")
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password (twice, unseen, on a terminal; else one line "
                             "of standard input), print its hash for --oper-file, and exit")
    parser.add_argument("--admin-email", metavar="ADDRESS",
                        help="a contact address, which ADMIN shows")
    limits = parser.add_argument_group(
        "limits", "what one client, one address or a crowd may take (docs/operations.rst); "
                  "0 means no limit")
    limits.add_argument("--sendq", type=int, default=Config.sendq, metavar="BYTES",
                        help="output a client may leave unread before it is disconnected as "
                             f"too slow (default {Config.sendq})")
    limits.add_argument("--max-clients", type=int, default=AdmissionPolicy.max_clients,
                        metavar="N", help="connections held at once; past it newcomers are "
                                          f"told the server is full (default "
                                          f"{AdmissionPolicy.max_clients})")
    limits.add_argument("--max-per-ip", type=int, default=AdmissionPolicy.max_per_ip,
                        metavar="N", help="connections from one IPv4 address or IPv6 /64 "
                                          f"(default {AdmissionPolicy.max_per_ip})")
    limits.add_argument("--max-unregistered", type=int, default=Config.max_unregistered,
                        metavar="N", help="connections that have not registered yet; past it "
                                          "the oldest is let go (default "
                                          f"{Config.max_unregistered})")
    limits.add_argument("--registration-timeout", type=float,
                        default=Config.registration_timeout, metavar="SECONDS",
                        help="time to register or choose a name (default "
                             f"{Config.registration_timeout:.0f})")
    limits.add_argument("--no-flood-control", action="store_true",
                        help="handle every line as fast as it comes (benchmarks, trusted "
                             "networks); by default a client may send "
                             f"{FloodPolicy.burst_lines} lines at once, then "
                             f"{FloodPolicy.lines_per_second:g} a second")
    limits.add_argument("--keepalive", default=":".join(map(str, AdmissionPolicy.keepalive)),
                        metavar="IDLE:INTERVAL:COUNT",
                        help="TCP keepalive: probe a silent peer after IDLE seconds, every "
                             "INTERVAL seconds, COUNT times (default %(default)s)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="INFO (default) logs registrations, quits and refusals; DEBUG "
                             "adds connections, joins, parts, nick changes and message "
                             "text")
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    return parser


def config_from(args, parser):
    if not args.name or any(char in args.name for char in " !@:,*?"):
        parser.error(f"--name {args.name!r}: a server name has no spaces or ! @ : , * ?")
    problem = channel_problem(args.channel)
    if problem:
        parser.error(f"--channel {args.channel!r}: {problem}")
    if args.sendq < 4096:
        parser.error("--sendq must be at least 4096 bytes")
    for option in ("max_clients", "max_per_ip"):
        if getattr(args, option) < 0:
            parser.error(f"--{option.replace('_', '-')} cannot be negative")
    if args.max_unregistered < 1:
        parser.error("--max-unregistered must be at least 1")
    if args.registration_timeout <= 0:
        parser.error("--registration-timeout must be more than 0")
    motd = None
    if args.motd:
        try:
            with open(args.motd, encoding="utf-8") as motd_file:
                motd = motd_file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--motd: cannot read {args.motd}: {exc}")
    opers = {}
    if args.oper_file:
        try:
            with open(args.oper_file, encoding="utf-8") as oper_file:
                opers = parse_oper_file(oper_file.read())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            parser.error(f"--oper-file: cannot read {args.oper_file}: {exc}")
    return Config(server_name=args.name, default_channel=args.channel,
                  autojoin=not args.no_autojoin, password=args.password, motd=motd,
                  opers=opers, admin_email=args.admin_email,
                  sendq=args.sendq, max_unregistered=args.max_unregistered,
                  registration_timeout=args.registration_timeout,
                  flood=None if args.no_flood_control else FloodPolicy())


def admission_policy(args, parser):
    try:
        keepalive = tuple(int(part) for part in args.keepalive.split(":"))
    except ValueError:
        keepalive = ()
    if len(keepalive) != 3 or min(keepalive) < 1:
        parser.error(f"--keepalive {args.keepalive!r}: three whole numbers of at least 1, "
                     "IDLE:INTERVAL:COUNT")
    return AdmissionPolicy(args.max_clients, args.max_per_ip, keepalive)


def open_sockets(host, port, tcp=True, udp=False, tls_port=None, web_port=None):
    """The TCP listener, the UDP socket, the TLS listener and the web listener asked for (None
    where not): TCP and UDP on one port number (with port 0, UDP takes the port TCP was
    given), TLS on *tls_port* and the web on *web_port* if they are not None."""
    listener = datagram_socket = tls_listener = web_listener = None
    try:
        if tcp:
            listener = listen(host, port)
        if udp:
            datagram_socket = bind_datagram(host, listener.getsockname()[1] if tcp else port)
        if tls_port is not None:
            tls_listener = listen(host, tls_port)
        if web_port is not None:
            web_listener = listen(host, web_port)
    except BaseException:
        for sock in (listener, datagram_socket, tls_listener):
            if sock is not None:
                sock.close()
        raise
    return listener, datagram_socket, tls_listener, web_listener


def tls_options(args, parser):
    """The certificates to serve TLS with (None without --tls-cert), loaded now so that a bad
    file stops the server before anything listens."""
    if args.tls_cert is None:
        for given, option in ((args.tls_key, "--tls-key"), (args.no_plaintext, "--no-plaintext"),
                              (args.sts_duration is not None, "--sts-duration")):
            if given:
                parser.error(f"{option} needs --tls-cert")
        return None
    if args.sts_duration is not None and args.sts_duration < 0:
        parser.error("--sts-duration cannot be negative")
    if args.no_plaintext and (args.udp or args.udp_only):
        parser.error("--no-plaintext serves TLS alone: drop --udp")
    try:
        return Certificates(args.tls_cert, args.tls_key or args.tls_cert)
    except TlsSetupError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")


def web_options(args, parser):
    """The web gateway (None without --web), with the page loaded now; or one line saying
    what is missing."""
    if args.web is None:
        for given, option in ((args.web_tls, "--web-tls"), (args.web_origin, "--web-origin")):
            if given:
                parser.error(f"{option} needs --web")
        return None
    if args.backend == "threads":
        parser.error("--web is served by the select backend's event loop: drop --backend "
                     "threads")
    if args.web_tls and args.tls_cert is None:
        parser.error("--web-tls needs --tls-cert")
    if args.no_plaintext and not args.web_tls:
        parser.error("--no-plaintext: the web port would serve plaintext; add --web-tls")
    try:
        from .transports.web import WebGateway
    except ImportError as exc:
        parser.exit(2, f"{parser.prog}: --web needs wsproto and h11 ({exc.name} is missing): "
                       f"pip install 'tcpchat[web]'\n")
    try:
        return WebGateway(args.web_origin, asks_password=args.password is not None)
    except ValueError as exc:
        parser.error(f"--web-origin {exc}")


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


def print_password_hash():
    """--hash-password: the hash of a password read without echo (or from a pipe)."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ; nothing printed.", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("An empty password cannot be used.", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.hash_password:
        return print_password_hash()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    config = config_from(args, parser)
    policy = admission_policy(args, parser)
    try:
        selector = make_selector(args.selector)
    except ValueError as exc:
        parser.error(f"--selector: {exc}")
    udp = args.udp or args.udp_only
    if udp and args.backend == "threads":
        parser.error("--udp is served by the select backend's event loop: drop --backend "
                     "threads")
    if args.udp_max_unregistered < 1:
        parser.error("--udp-max-unregistered must be at least 1")
    certificates = tls_options(args, parser)
    web = web_options(args, parser)
    tls_port = args.tls_port if certificates is not None else None
    try:
        listener, datagram_socket, tls_listener, web_listener = open_sockets(
            args.host, args.port, tcp=not (args.udp_only or args.no_plaintext), udp=udp,
            tls_port=tls_port, web_port=args.web)
    except OSError as exc:
        ports = " or ".join(str(port) for port in (args.port, tls_port, args.web)
                            if port is not None)
        log.error("cannot listen on %s port %s: %s", args.host, ports, exc.strerror or exc)
        return 1
    if args.sts_duration is not None:
        config.sts_duration = args.sts_duration
        config.sts_port = tls_listener.getsockname()[1]
    core = ChatCore(config)
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
                            max_unregistered=args.udp_max_unregistered)
        how = f"select backend, {type(selector).__name__}"
    if config.flood is None:
        how += ", no flood control"
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.request_stop())
    if certificates is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: server.request_reload())
    log.info("tcpchat %s listening on %s; %s", __version__,
             describe_sockets(listener, datagram_socket, tls_listener, web_listener,
                              args.web_tls), how)
    server.serve()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
