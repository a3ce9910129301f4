"""``python -m tcpchat.server``: start the chat server from the command line."""

import argparse
import logging
import signal
import sys

from . import __version__
from .chat import Config
from .core import ChatCore
from .names import channel_problem
from .backends.datagram import MAX_UNREGISTERED
from .backends.driver import bind_datagram, listen
from .backends.selectloop import SELECTORS, SelectLoop, make_selector
from .backends.threads import ThreadsServer

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
    parser.add_argument("--sendq", type=int, default=Config.sendq, metavar="BYTES",
                        help="output that may wait for one client before it is disconnected "
                             f"as too slow (default {Config.sendq})")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="INFO (default) logs connections, registrations, joins and "
                             "quits; DEBUG adds message text")
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
    motd = None
    if args.motd:
        try:
            with open(args.motd, encoding="utf-8") as motd_file:
                motd = motd_file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--motd: cannot read {args.motd}: {exc}")
    return Config(server_name=args.name, default_channel=args.channel,
                  autojoin=not args.no_autojoin, password=args.password, motd=motd,
                  sendq=args.sendq)


def open_sockets(host, port, tcp=True, udp=False):
    """The TCP listener and the UDP socket asked for (None where not), on one port number:
    with port 0, UDP takes the port TCP was given."""
    listener = listen(host, port) if tcp else None
    try:
        datagram_socket = None
        if udp:
            datagram_socket = bind_datagram(host, listener.getsockname()[1] if tcp else port)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    return listener, datagram_socket


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    config = config_from(args, parser)
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
    try:
        listener, datagram_socket = open_sockets(args.host, args.port, tcp=not args.udp_only,
                                                 udp=udp)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", args.host, args.port, exc.strerror or exc)
        return 1
    core = ChatCore(config)
    if args.backend == "threads":
        server, how = ThreadsServer(core, listener), "threads backend"
    else:
        server = SelectLoop(core, listener, selector, datagram_socket,
                            max_unregistered=args.udp_max_unregistered)
        how = f"select backend, {type(selector).__name__}"
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.request_stop())
    host, port = (listener or datagram_socket).getsockname()[:2]
    protocols = " and ".join(name for name, sock in (("TCP", listener), ("UDP", datagram_socket))
                             if sock is not None)
    log.info("tcpchat %s listening on %s port %d (%s; %s)", __version__, host, port, protocols,
             how)
    server.serve()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
