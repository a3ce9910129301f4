"""``python -m tcpchat.client``: the reference terminal client.

Two threads, as in the assignment, done so that neither garbles the other:

- the main thread reads the keyboard (readline on a terminal, plain lines from a pipe);
- the receiver thread reads the socket, frames and prints what arrives.

They share the :class:`~tcpchat.client.session.ClientSession` and the socket; ``ChatClient._call``
is the one place either is touched, under one lock.  The screen has a lock of its own: a line
printed while the user types clears the input line, prints, and redraws the prompt and what was
typed so far.

Ending, from either side: ``/quit``, ``exit``, ``выход``, Ctrl-D and Ctrl-C send QUIT, wait
briefly for the server's goodbye and exit 0.  When the server closes or vanishes, the receiver
wakes the main thread out of its read with a SIGINT aimed at it, and the client exits 1 with the
reason on one line.

``--tls`` speaks TLS, checking the server's certificate against the system's trust store (or
``--ca FILE``).  The TLS is a :class:`~tcpchat.transports.tls.TlsStream` touched under the same
lock as the session: an ``ssl.SSLSocket`` must not be read by one thread while another writes to
it.

``--udp`` talks to a server started with ``--udp``, over a connected UDP socket: what the
session queues goes out in datagrams of whole lines, each datagram read is handed over whole,
and the server numbers what it sends so that the screen can show what went missing.  With no
connection to lean on, the receiver also keeps time: it sends the registration again while
nothing has come back, gives up when nothing does, and sends a PING after a spell of silence.
"""

import functools
import getpass
import os
import queue
import select
import signal
import socket
import ssl
import sys
import threading
import time

from ..protocol.framing import pack_lines
from ..protocol.names import NICK_RULE, nick_problem
from ..text.arguments import ArgumentParser, interface_language
from ..text.catalog import ENGLISH, _, languages, render, translations
from ..text.display import (CROWD, CROWD_WINDOW, ENGLISH_CATALOG, ERROR, MESSAGE, PRIVATE,
                            SERVER, clean, prefixed)
from ..transports.driver import port_number
from ..transports.tls import TlsSetupError, TlsStream, client_context
from .session import ClientSession, Closed, Ready, Show

#: Seconds to wait for the server's goodbye after sending QUIT.
QUIT_WAIT = 3.0
#: Seconds to wait for a connection to be set up.
CONNECT_TIMEOUT = 10.0
#: The kinds of line the screen stamps with the time: talk in a room, and private talk.
TIMESTAMPED = frozenset((MESSAGE, PRIVATE))
#: Seconds between the receiver's attempts to wake the main thread (see ChatClient._wake_main).
WAKE_RETRY = 0.2

# Over UDP:
#: Seconds between the receiver's looks at the clock.
TICK = 0.5
#: Seconds to wait for a first answer before sending the registration again, and in all.
RESEND_AFTER = 2.0
ANSWER_WAIT = CONNECT_TIMEOUT
#: Seconds of our own silence before a PING keeps the way open (NATs forget UDP flows fast).
KEEPALIVE = 30.0


class Screen:
    """Writes lines from any thread; reads lines on the main thread."""

    def __init__(self, interactive, out=None, catalog=ENGLISH_CATALOG):
        self.interactive = interactive
        self.out = out or sys.stdout
        #: The language lines are shown in (a gettext catalog): sentences are Texts until here.
        self.catalog = catalog
        self._lock = threading.Lock()
        self._prompt = None  # set while input() waits, so a printed line can redraw it
        self._readline = None
        if interactive:
            try:
                import readline  # line editing and history for input()
                self._readline = readline
            except ImportError:
                pass

    def show(self, kind, text, when=None):
        """A line: talk after the time it was said (*when*, or now), the rest marked as
        :func:`~tcpchat.text.display.prefixed` does."""
        text = clean(render(text, self.catalog))
        if kind in TIMESTAMPED:
            line = time.strftime("%H:%M " if when is None else "%Y-%m-%d %H:%M ",
                                 time.localtime(when)) + text
        else:
            line = prefixed(kind, text)
        with self._lock:
            if self._prompt is not None and self._readline is not None:
                typed = self._readline.get_line_buffer()
                # Carriage return and clear the line, print, then redraw what was being typed.
                self.out.write(f"\r\x1b[K{line}\n{self._prompt}{typed}")
            else:
                self.out.write(line + "\n")
            self.out.flush()

    def read_line(self, prompt=""):
        """The next line typed (without its end), or None at end of input (Ctrl-D, or the
        end of a pipe).  The prompt is shown on a terminal only."""
        if not self.interactive:
            line = sys.stdin.readline()
            return line.rstrip("\r\n") if line else None
        prompt = render(prompt, self.catalog)
        drawing = self._readline is not None
        if drawing:
            # Lines printed while readline draws the prompt would land inside it: they wait
            # (the lock) until it is drawn, and then redraw it.
            self._lock.acquire()

            def drawn():
                nonlocal drawing
                self._prompt, drawing = prompt, False
                self._lock.release()
            self._readline.set_pre_input_hook(drawn)
        else:
            with self._lock:
                self._prompt = prompt
        try:
            return input(prompt)
        except EOFError:
            self.out.write("\n")
            return None
        finally:
            if drawing:  # input() ended before the prompt was up (Ctrl-C)
                self._lock.release()
            with self._lock:
                self._prompt = None

    def ask(self, question):
        """Ask the user something; in a pipe the question is printed as a line of its own."""
        if not self.interactive:
            self.show(SERVER, question)
        return self.read_line(question)


class ChatClient:
    def __init__(self, sock, session, screen, datagrams=False, tls=None, received=b""):
        self.sock = sock
        self.session = session
        self.screen = screen
        #: Over UDP: the socket is a connected UDP socket (see the module's doc).
        self.datagrams = datagrams
        #: Over TLS: the connection's TlsStream, its handshake done (see :func:`connect_tls`).
        self.tls = tls
        #: What arrived with the end of the handshake, for the receiver to begin with.
        self._received = received
        self._started = self._last_sent = time.monotonic()
        self._closing = False  # the main thread is done: a datagram receiver stops
        self._lock = threading.Lock()  # guards self.session and writes to self.sock
        self._events = queue.Queue()  # registration news for the main thread
        self._finished = threading.Event()  # the receiver has stopped
        self._lost = None  # why the connection ended, when it was not our own quit
        self._interruptible = False  # a SIGINT may break the main thread out of its read
        self._main_done = threading.Event()  # the main thread has stopped reading input
        self._main_thread = threading.main_thread().ident
        self._receiver = threading.Thread(target=self._receive, name="receiver")

    def _call(self, method, *args):
        """Run a session method and send what it queued: the one place the socket is written."""
        with self._lock:
            result = method(*args)
            data = self.session.take_outgoing()
            if data:
                self._write(data)
        return result

    def _write(self, data):
        if self.tls is not None:
            self.tls.send(data)
            data = self.tls.take_outgoing()
        if not self.datagrams:
            self.sock.sendall(data)
            return
        for datagram in pack_lines(data):
            self.sock.send(datagram)
        self._last_sent = time.monotonic()

    # -- Main thread ----------------------------------------------------------------------

    def run(self):
        """Chat until either side ends it; return the exit status."""
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._interruptible = True
        try:
            self._call(self.session.start)
            self._receiver.start()
            if self._register():
                self._converse()
        except KeyboardInterrupt:
            self.screen.out.write("\n")
        except OSError as exc:  # a send failed: the receiver sees the same and says why
            self._lost = self._lost or exc.strerror or str(exc)
        finally:
            self._interruptible = False
            self._main_done.set()
            status = self._finish()
            signal.signal(signal.SIGINT, previous)
        return status

    def _on_sigint(self, signum, frame):
        if self._interruptible:
            raise KeyboardInterrupt

    def _register(self):
        while True:
            event = self._events.get()
            if isinstance(event, Ready):
                return True
            if isinstance(event, Closed):
                return False
            self.screen.show(ERROR, event.reason)
            name = self._ask_name()
            if name is None:
                return False
            self._call(self.session.choose_nick, name)

    def _ask_name(self):
        """Another name from the user, asked again while it cannot be one; None at the end of
        input."""
        while True:
            name = self.screen.ask(_("Type another name: "))
            if name is None:
                return None
            refusal = name_refusal(name.strip())
            if not refusal:
                return name.strip()
            self.screen.show(ERROR, refusal)

    def _converse(self):
        while not self._finished.is_set():
            current = self.session.current
            line = self.screen.read_line(f"[{current}] " if current else "> ")
            if line is None:
                return  # Ctrl-D
            for event in self._call(self.session.handle_input, line):
                self.screen.show(*event)
            if self.session.quitting:
                return

    def _finish(self):
        if not self._finished.is_set() and not self.session.quitting:
            try:
                self._call(self.session.quit)
            except OSError:
                pass
        # The server answers QUIT with ERROR and closes; the receiver stops then.
        self._finished.wait(QUIT_WAIT)
        self._closing = True
        if self.tls is not None:
            try:
                self._call(self._say_tls_goodbye)
            except OSError:
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the receiver if it still waits
        except OSError:
            pass
        if self._receiver.is_alive():
            self._receiver.join(QUIT_WAIT)
        self.sock.close()
        if self._lost is not None:
            print(render(_("tcpchat-client: disconnected: {reason}", reason=self._lost),
                         self.screen.catalog), file=sys.stderr)
            return 1
        return 0

    # -- Receiver thread ------------------------------------------------------------------

    def _receive(self):
        # Ctrl-C is sent to the whole process; blocked here, it reaches the main thread, the
        # only one that can break out of its blocking read.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        reason = None
        receive = self.session.receive_datagram if self.datagrams else self.session.receive
        try:
            # Plaintext that came with the end of the TLS handshake is read first.
            data, self._received = self._received, b""
            while not self._closing:
                if not data and not self.datagrams:
                    self._wait_readable()
                if not data:
                    try:
                        data = self.sock.recv(65536)
                    except TimeoutError:  # over UDP only: a TICK without a datagram
                        reason = self._tick()
                        if reason is not None:
                            break
                        continue
                    if self.tls is not None:
                        data = self._call(self._decrypt, data)
                ended = self.tls.ended if self.tls is not None else (
                    not data and not self.datagrams)
                if ended and not data:
                    break
                for event in self._call(receive, data):
                    if isinstance(event, Show):
                        self.screen.show(*event)
                    elif isinstance(event, Closed):
                        reason = event.reason
                        self.screen.show(SERVER, event.reason)
                    else:
                        self._events.put(event)
                data = b""
                if ended:
                    break
                if self.datagrams:
                    if reason is not None:
                        break  # the goodbye: over UDP no end of stream follows
                    self._tick()  # a busy room must not keep the keepalive from being sent
        except ConnectionRefusedError as exc:
            if self.datagrams:
                reason = reason or _("{error} (no UDP server there: is it running with --udp?)",
                                     error=exc.strerror)
            else:
                reason = reason or exc.strerror
        except OSError as exc:
            reason = reason or exc.strerror or str(exc)
        finally:
            if not self.session.quitting:
                self._lost = reason or _("the server closed the connection")
            self._finished.set()
            self._events.put(Closed(reason))
            if self._lost is not None:
                self._wake_main()

    def _decrypt(self, data):
        """The plaintext in *data* (under the lock); what TLS answers by itself is sent."""
        plaintext = self.tls.receive(data)
        if self.tls.wants_to_send:
            self.sock.sendall(self.tls.take_outgoing())
        return plaintext

    def _say_tls_goodbye(self):
        self.tls.close()
        self.sock.sendall(self.tls.take_outgoing())

    def _wait_readable(self):
        """Wait until the socket has something to read (TCP), showing meanwhile what the
        session has due (a crowded room's comings and goings, once a window)."""
        while not self._closing:
            deadline = self._call(self.session.next_deadline)
            timeout = None if deadline is None else max(0.0, deadline - self.session.clock())
            readable, _, _ = select.select([self.sock], [], [], timeout)
            self._show_due()
            if readable:
                return

    def _show_due(self):
        for event in self._call(self.session.tick, self.session.clock()):
            self.screen.show(*event)

    def _tick(self):
        """Over UDP, after each datagram and each TICK without one: send the registration
        again while nothing has come back, keep the way open while registered; show what the
        session has due; return why to stop, if it is time to."""
        now = time.monotonic()
        self._show_due()
        if not self.session.heard:
            if now >= self._started + ANSWER_WAIT:
                return _("no answer over UDP: is the server running with --udp?")
            if now >= self._last_sent + RESEND_AFTER:
                self._call(self.session.restart)
        elif self.session.registered and now >= self._last_sent + KEEPALIVE:
            self._call(self.session.keepalive)
        return None

    def _wake_main(self):
        """Break the main thread out of its wait for input, the connection being gone.

        Only a signal interrupts a blocking read.  One that lands while the main thread is
        between two system calls is noted but wakes nothing, so it is sent again until the
        main thread says it has stopped reading.
        """
        while not self._main_done.is_set():
            if hasattr(signal, "pthread_kill"):
                signal.pthread_kill(self._main_thread, signal.SIGINT)
            else:  # no POSIX threads: the nearest the platform offers
                import _thread
                _thread.interrupt_main()
            self._main_done.wait(WAKE_RETRY)


def split_address(text):
    """``(host, port)`` from what a user types for the server: ``host``, ``host:port``,
    ``[v6addr]:port`` or a bare IPv6 address; the port is None where none is given."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(_("cannot read the address {address!r}: write [v6addr] or "
                               "[v6addr]:port", address=text))
        port = rest[1:]
    elif text.count(":") == 1:
        host, _sep, port = text.partition(":")
    else:
        return text, None  # a name, an IPv4 address, or an IPv6 address without a port
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(_("cannot read the address {address!r}: {port!r} is not a port number",
                           address=text, port=port))
    return host, int(port)


#: --password given alone: ask for it.
ASK = object()


def build_parser(language=ENGLISH):
    parser = ArgumentParser(
        prog="tcpchat-client", language=language,
        description=_("Chat on a tcpchat (or any IRC) server from a terminal or a script."))
    parser.add_argument("host", nargs="?",
                        help=_("the server's address, HOST or HOST:PORT ([v6addr]:PORT for "
                               "IPv6; asked for on a terminal; default localhost)"))
    parser.add_argument("--port", type=functools.partial(port_number, lowest=1),
                        help=_("the server's port (6667; 6697 with --tls)"))
    parser.add_argument("--name", help=_("your nickname (asked for on a terminal)"))
    parser.add_argument("--channel", default="#lobby", help=_("the room to join (#lobby)"))
    parser.add_argument("--password", nargs="?", const=ASK, metavar="PASSWORD",
                        help=_("the server's password, if it wants one; alone, it is asked for "
                               "without showing it"))
    parser.add_argument("--sasl", metavar="ACCOUNT",
                        help=_("log in to ACCOUNT while connecting (SASL PLAIN: use it with "
                               "--tls beyond your own machine); its password is asked for "
                               "without showing it, or read from the first line of standard "
                               "input"))
    parser.add_argument("--udp", action="store_true",
                        help=_("talk over UDP to a server started with --udp, and show what "
                               "the network lost or reordered"))
    parser.add_argument("--tls", action="store_true",
                        help=_("encrypt with TLS, checking the server's certificate against the "
                               "system's trusted CAs"))
    parser.add_argument("--ca", metavar="FILE",
                        help=_("with --tls: trust the CA certificates in FILE instead (a test "
                               "or LAN server's own CA)"))
    parser.add_argument("--insecure", action="store_true",
                        help=_("with --tls: check nothing (a self-signed test server); anyone "
                               "on the way could read and change the chat"))
    parser.add_argument("--crowd", type=int, default=CROWD, metavar="N",
                        help=_("in a room of more than N people, show who came and went once "
                               "every {seconds:.0f} seconds, not one line each ({crowd})",
                               seconds=CROWD_WINDOW, crowd=CROWD))
    parser.add_argument("--lang", choices=languages(),
                        help=_("the language to show the chat in (default: the locale's, "
                               "LANG; else English)"))
    return parser


def main(argv=None):
    language = interface_language(sys.argv[1:] if argv is None else argv, os.environ)
    catalog = translations(language)
    parser = build_parser(language)
    args = parser.parse_args(argv)
    if args.crowd < 0:
        parser.error(_("--crowd is a number of people: 0 or more"))
    context = tls_options(args, parser)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    screen = Screen(interactive, catalog=catalog)
    host, name = args.host, args.name
    try:
        if host is None:
            host = (screen.ask(_("Server address (host or host:port) [localhost]: "))
                    if interactive else "") or ""
        while interactive and (not name or name_refusal(name)):
            if name:
                screen.show(ERROR, name_refusal(name))
            name = screen.ask(_("Your name: "))
            if name is None:
                return 0
            name = name.strip()
        password = args.password
        if password is ASK:
            password = _secret(_("Server password: "), catalog)
        sasl = None
        if args.sasl is not None:
            sasl = (args.sasl, _secret(_("Password of {account}: ", account=args.sasl),
                                       catalog))
    except (KeyboardInterrupt, EOFError):
        screen.out.write("\n")
        return 0
    if not name:
        parser.error(_("--name is needed when standard input is not a terminal"))
    if name_refusal(name):
        parser.exit(2, _("{program}: --name: {refusal}", program=parser.prog,
                         refusal=name_refusal(name)))
    try:
        host, port = split_address(host.strip() or "localhost")
    except ValueError as exc:
        parser.error(exc.args[0])
    port = port or args.port or (6697 if args.tls else 6667)
    tls, received = None, b""
    try:
        if args.udp:
            sock = connect_udp(host, port)
        elif context is not None:
            sock, tls, received = connect_tls(host, port, context)
        else:
            sock = connect_tcp(host, port)
    except OSError as exc:
        print(render(_("tcpchat-client: cannot connect to {host} port {port}: {reason}",
                       host=host, port=port, reason=connect_failure(exc, args.ca)), catalog),
              file=sys.stderr)
        return 1
    if args.insecure:
        screen.show(ERROR, _("--insecure: the server's certificate is not checked, so anyone "
                             "on the way could read and change this chat"))
    if sasl is not None and args.udp:
        parser.error(_("--sasl works over TCP and TLS, not --udp"))
    session = ClientSession(name, args.channel, numbered=args.udp, password=password,
                            language=language, sasl=sasl, crowd=args.crowd)
    return ChatClient(sock, session, screen, datagrams=args.udp, tls=tls,
                      received=received).run()


def _secret(prompt, catalog):
    """What the user types after *prompt*, unseen; from a pipe, its next line."""
    if sys.stdin.isatty():
        return getpass.getpass(render(prompt, catalog))
    return sys.stdin.readline().rstrip("\r\n")


def name_refusal(name):
    """Why *name* cannot be a nickname, as a sentence for the user; None when it can.

    Checked before connecting, since a name that cannot be one may not even fit in the
    registration's USER line (a space, a leading colon); the server's rule is the one
    netcat users are told.
    """
    problem = nick_problem(name)
    return problem and _("{name!r} cannot be a name: {problem}. {rule}", name=clean(name),
                         problem=problem, rule=NICK_RULE)


def tls_options(args, parser):
    """The TLS context the options ask for, or None."""
    if not args.tls:
        for given, option in ((args.ca, "--ca"), (args.insecure, "--insecure")):
            if given:
                parser.error(_("{option} goes with --tls", option=option))
        return None
    if args.udp:
        parser.error(_("--tls is over TCP: drop --udp"))
    if args.ca and args.insecure:
        parser.error(_("--ca or --insecure, not both"))
    try:
        return client_context(args.ca, args.insecure)
    except TlsSetupError as exc:
        parser.exit(2, _("{program}: {error}", program=parser.prog, error=exc.args[0]))


def connect_failure(exc, ca=None):
    """Why a connection could not be made, in words for the user (*ca*: the --ca file it
    gave, if any)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "mismatch" in (exc.verify_message or "") or "match" in str(exc.reason or ""):
            return _("the server's certificate is not for that name ({reason}); connect to a "
                     "name the certificate holds (its subjectAltName)",
                     reason=exc.verify_message)
        if ca is not None:
            return _("the server's certificate is not trusted ({reason}), not even with --ca "
                     "{ca}: is that the CA that signed it?", reason=exc.verify_message, ca=ca)
        return _("the server's certificate is not trusted ({reason}); --ca FILE trusts the CA "
                 "that signed it, --insecure trusts anything", reason=exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "WRONG_VERSION_NUMBER":
            return _("TLS error: {reason} (is that a TLS port?)", reason=exc.reason)
        return _("TLS error: {reason}", reason=exc.reason or exc)
    return exc.strerror or str(exc)


def connect_tcp(host, port):
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect_tls(host, port, context):
    """A TCP socket to the server, its TLS handshake done: (socket, its TlsStream, any
    plaintext that came with the handshake's end).  Raises ssl.SSLError (an untrusted
    certificate: ssl.SSLCertVerificationError) or OSError."""
    sock = connect_tcp(host, port)
    try:
        sock.settimeout(CONNECT_TIMEOUT)  # for the handshake too
        tls = TlsStream(context, server_hostname=host)
        tls.start()
        received = b""
        while True:
            if tls.wants_to_send:
                sock.sendall(tls.take_outgoing())
            if tls.handshaken:
                break
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError(_("the server closed the connection during the "
                                             "TLS handshake"))
            received = tls.receive(data)
        sock.settimeout(None)
    except ssl.SSLError:
        try:
            sock.sendall(tls.take_outgoing())  # TLS's alert: the server can log why
        except OSError:
            pass
        sock.close()
        raise
    except BaseException:
        sock.close()
        raise
    return sock, tls, received


def connect_udp(host, port):
    """A UDP socket connected to the server: it sends there by default, takes datagrams from
    there only, and hears of an ICMP "port unreachable" as ConnectionRefusedError."""
    family, kind, proto, _sep, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    sock.settimeout(TICK)
    return sock
