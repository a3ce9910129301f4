"""The web gateway, sans-IO: the chat page over HTTP, and IRC over WebSocket.

A connection to the web port (``--web``) begins as HTTP, parsed by h11.  A GET for one of the
page's files is answered, and the connection ends.  A GET that asks for a WebSocket is handed
to wsproto, which checks the upgrade and answers it; from then on each WebSocket message
carries one IRC line, without its line end, each way (the IRCv3 WebSocket specification), and
the peer is one more :class:`~tcpchat.chat.connection.Connection` of the chat, speaking IRC.

:class:`WebStream` stands between the transport's bytes and that Connection.  It has a
Connection's stream operations (``receive_data``, ``data_to_send``, ``sent``, ``pending``,
``closing``, ``reading_paused``), so a driver carries it as it carries any TCP connection, over
TLS or not.  It never touches a socket.

Bounds, so that no peer makes it hold more than a line: a request's head is at most
:data:`MAX_REQUEST` bytes (h11 answers 431 past it) and a body is never read; a WebSocket
message longer than an IRC line is dropped as it arrives and answered with 417, as an overlong
TCP line is; output is framed :data:`ENCODE_CHUNK` bytes at a time, so a slow reader's backlog
waits as lines, under the send queue bound.  No WebSocket extension is offered: with
compression, a small frame could inflate into a large one.

wsproto and h11 come with the ``web`` extra (``pip install 'tcpchat[web]'``); nothing else in
the server imports this module.
"""

import importlib.resources
import json
import logging
import re
from http import HTTPStatus
from urllib.parse import urlsplit

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Message, Ping, Request,
                            TextMessage)
from wsproto.utilities import RemoteProtocolError

from ..chat.connection import MAX_LINE
from ..protocol.framing import TOO_LONG
from ..text.catalog import _
from .pagetext import page_texts

log = logging.getLogger("tcpchat")

#: The IRCv3 subprotocols: binary messages carry any bytes, text messages UTF-8 only.
BINARY = "binary.ircv3.net"
TEXT = "text.ircv3.net"
#: The most bytes of an HTTP request's head (request line and headers).
MAX_REQUEST = 16 << 10
#: Bytes of output lines framed at a time, ahead of the socket.
ENCODE_CHUNK = 64 << 10
#: Frames kept for reuse (each set is emptied when it grows past this).
FRAME_CACHE = 4096

_HTTP_VERSION = re.compile(rb" HTTP/1\.[01]\r?$")

#: The page's files: URL path, file in the package's ``page`` folder, content type.
PAGE_FILES = (
    (b"/", "index.html", "text/html; charset=utf-8"),
    (b"/index.html", "index.html", "text/html; charset=utf-8"),
    (b"/chat.js", "chat.js", "text/javascript; charset=utf-8"),
    (b"/chat.css", "chat.css", "text/css; charset=utf-8"),
    (b"/favicon.svg", "favicon.svg", "image/svg+xml"),
)

#: Sent with every HTTP response.  The policy lets the page run its own script and connect to
#: its own origin, nothing else: even if text from a message ever reached the page as markup,
#: no script in it would run.  Pictures may come from any https address: users' avatars
#: (draft/metadata-2), fetched without a referrer.
SECURITY_HEADERS = (
    (b"Content-Security-Policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
     b"img-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
    (b"Cache-Control", b"no-cache"),
    (b"Connection", b"close"),
)


def load_page():
    """The page's files from the package, by URL path: (content type, body)."""
    folder = importlib.resources.files("tcpchat.transports") / "page"
    return {path: (content_type.encode(), (folder / name).read_bytes())
            for path, name, content_type in PAGE_FILES}


def server_settings(asks_password):
    """``/server.json``: what the page needs to know before it connects (whether to ask for
    the server's password along with the name, so that its one connection registers)."""
    body = json.dumps({"password": bool(asks_password)}).encode()
    return {b"/server.json": (b"application/json", body)}


class WebGateway:
    """What every connection to the web port shares: the page (with *asks_password*: the
    server wants a password, which the page then asks for), and the origins whose pages may
    open a WebSocket.

    *origins* is None for same-origin only: a browser's ``Origin`` header must name the host
    the request was sent to (its ``Host`` header; the scheme is not compared, so that a
    reverse proxy may terminate TLS).  Otherwise it is a collection of origins such as
    ``https://chat.example.org``, or holds ``*`` for any.  A request without ``Origin`` does
    not come from a browser's page and is let in: Origin protects browser users from other
    sites' scripts, it cannot keep other programs out.
    """

    def __init__(self, origins=None, files=None, asks_password=False):
        self.origins = None if origins is None else frozenset(
            origin if origin == "*" else _origin(origin) for origin in origins)
        self.files = {**(load_page() if files is None else files),
                      **server_settings(asks_password), **page_texts()}
        #: Path -> ``answer(peer's address) -> (status, content type, body)``: pages made
        #: when asked (``/metrics``, see tcpchat.transports.metrics).
        self.handlers = {}
        #: Frames made lately, by line, for text and for binary peers: a message to a room is
        #: framed once, not once per member.  A server's frame depends on the line alone (it
        #: is not masked, and no extension is used), so any peer may be sent it.
        self.frames = {True: {}, False: {}}

    def allows(self, origin, host):
        """Whether a page from *origin* (the header's bytes) may open a WebSocket to *host*."""
        origin = origin.decode("latin-1").strip().lower()
        if self.origins is None:
            return host is not None and urlsplit(origin).netloc == host.decode(
                "latin-1").strip().lower()
        return "*" in self.origins or origin in self.origins

    def stream(self, open_connection, host=""):
        """A :class:`WebStream` for a new connection from *host*; *open_connection* makes its
        :class:`~tcpchat.chat.connection.Connection` when it becomes a WebSocket (or gives
        None if the chat could not take it: the stream then ends)."""
        return WebStream(self, open_connection, host)


def _origin(text):
    """An origin as browsers send it: scheme://host[:port], lower case, no path."""
    parts = urlsplit(text.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(_("{text!r} is not an origin such as https://chat.example.org",
                           text=text))
    return f"{parts.scheme}://{parts.netloc}"


class WebStream:
    """One connection to the web port, from its first byte to its close."""

    __slots__ = ("conn", "status", "_gateway", "_open", "_host", "_http", "_request", "_ws",
                 "_text", "_out", "_ended", "_message", "_message_too_long")

    def __init__(self, gateway, open_connection, host=""):
        #: The chat's Connection once the WebSocket is open, else None.
        self.conn = None
        #: What became of the HTTP request, for the log: "GET / 200", say.
        self.status = None
        self._gateway = gateway
        self._open = open_connection
        self._host = host
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        # The request's raw bytes: wsproto reads the upgrade from them.
        self._request = bytearray()
        self._ws = None
        # Send text messages (text.ircv3.net, or no subprotocol) rather than binary ones.
        self._text = True
        self._out = bytearray()
        # Nothing more will be read: the HTTP exchange is over, or the WebSocket closed.
        self._ended = False
        self._message = bytearray()
        self._message_too_long = False

    def __repr__(self):
        return f"<WebStream {self.status or 'reading a request'}>"

    # -- The stream operations a driver uses ---------------------------------------------

    @property
    def closing(self):
        """Read no more; close once nothing is :attr:`pending`."""
        return self._ended or (self.conn is not None and self.conn.closing)

    @property
    def reading_paused(self):
        return self.conn is not None and self.conn.reading_paused

    @property
    def pending(self):
        """Bytes to send: frames made, lines not framed yet, and the close frame to come."""
        pending = len(self._out)
        conn = self.conn
        if conn is not None:
            pending += conn.pending
            if conn.closing and self._ws.state in _CAN_SEND_CLOSE:
                pending += 1  # the close frame, made once the lines are out
        return pending

    def receive_data(self, data):
        """Bytes from the peer; ``b""`` when it will send no more."""
        if self._ended:
            return
        if self._ws is not None:
            self._receive_websocket(data, ended=not data)
        else:
            self._receive_http(data)

    def data_to_send(self):
        """Bytes to send now: frames for the next chunk of lines, or the close frame."""
        if not self._out and self.conn is not None:
            self._frame_output()
        return self._out

    def sent(self, count):
        del self._out[:count]

    # -- HTTP ------------------------------------------------------------------------------

    def _receive_http(self, data):
        self._request += data
        if len(self._request) > MAX_REQUEST:
            self._respond(431, _("The request's head is too large.") + "\n")
            return
        first_line, newline, _rest = self._request.partition(b"\n")
        if newline and not _HTTP_VERSION.search(first_line):
            # An IRC client or netcat on the wrong port, say: it would wait for an answer.
            self._respond(400, _("This port serves the chat page over HTTP; IRC clients and "
                                 "netcat connect to the chat's own port.") + "\n")
            return
        self._http.receive_data(bytes(data))
        try:
            event = self._http.next_event()
        except h11.RemoteProtocolError as exc:
            self._respond(exc.error_status_hint, _("Bad request: {error}", error=exc) + "\n")
            return
        if event is h11.NEED_DATA:
            return
        if isinstance(event, h11.ConnectionClosed):
            self._end("closed before a whole request")
            return
        self._route(event)

    def _route(self, request):
        headers = dict(request.headers)  # h11 gives the names in lower case
        self.status = f"{request.method.decode()} {request.target.decode()}"
        if headers.get(b"upgrade", b"").lower() == b"websocket":
            self._upgrade(request, headers)
            return
        if request.method not in (b"GET", b"HEAD"):
            self._respond(405, _("Only GET here.") + "\n", ((b"Allow", b"GET, HEAD"),))
            return
        path = request.target.partition(b"?")[0]
        handler = self._gateway.handlers.get(path)
        if handler is not None:
            status, content_type, body = handler(self._host)
            self._respond(status, body if request.method == b"GET" else b"",
                          content_type=content_type, length=len(body))
            return
        page = self._gateway.files.get(path)
        if page is None:
            self._respond(404, _("Not found.") + "\n")
            return
        content_type, body = page
        self._respond(200, body if request.method == b"GET" else b"", content_type=content_type,
                      length=len(body))

    def _respond(self, status, body, headers=(), content_type=b"text/plain; charset=utf-8",
                 length=None):
        """Answer the request with *status* and *body*, and end the connection."""
        if isinstance(body, str):
            body = body.encode()
        length = len(body) if length is None else length
        head = [(b"Content-Type", content_type), (b"Content-Length", str(length).encode()),
                *SECURITY_HEADERS, *headers]
        try:
            self._out += self._http.send(h11.Response(
                status_code=status, headers=head, reason=HTTPStatus(status).phrase))
            if body:
                self._out += self._http.send(h11.Data(data=body))
            self._out += self._http.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            pass  # the request was too broken to answer in HTTP: just close
        self._end(status)

    def _end(self, outcome):
        """The HTTP exchange is over: read no more, close once the answer is sent."""
        self._ended = True
        self._request.clear()
        self._outcome(outcome)

    def _outcome(self, outcome):
        self.status = f"{self.status} {outcome}" if self.status else str(outcome)
        log.debug("web: %s", self.status)

    # -- The upgrade ---------------------------------------------------------------------

    def _upgrade(self, request, headers):
        origin = headers.get(b"origin")
        if origin is not None and not self._gateway.allows(origin, headers.get(b"host")):
            self._respond(403, _("Origin {origin} may not open a chat connection here.",
                                 origin=origin.decode("latin-1")) + "\n")
            return
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.receive_data(bytes(self._request))
            event = next(ws.events())
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            self._respond(hint.status_code, _("Bad WebSocket request: {error}", error=exc) + "\n",
                          hint.headers)
            return
        assert isinstance(event, Request)
        # The first the client prefers among those we speak, as the specification asks.
        chosen = next((protocol for protocol in event.subprotocols
                       if protocol in (BINARY, TEXT)), None)
        self._text = chosen != BINARY
        self._out += ws.send(AcceptConnection(subprotocol=chosen))
        self._ws = ws
        self._request.clear()
        self._outcome(f"101 WebSocket ({chosen or 'no subprotocol'})")
        self.conn = self._open()
        if self.conn is None:  # the chat could not take it (it logged why): end here
            self._ended = True
            return
        # Frames that came with the request, if any (wsproto's server side would drop them).
        self._receive_websocket(self._http.trailing_data[0], ended=False)

    # -- WebSocket -----------------------------------------------------------------------

    def _receive_websocket(self, data, ended):
        """Frames from the peer; *ended*: its stream ended (``data`` is empty then)."""
        ws, conn = self._ws, self.conn
        if ws.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            ws.receive_data(bytes(data) if not ended else None)
        lines, closed = [], None
        for event in ws.events():
            if isinstance(event, Message):
                line = self._collect(event)
                if line is not None:
                    lines.append(line)
            elif isinstance(event, Ping):
                self._out += ws.send(event.response())
            elif isinstance(event, CloseConnection):
                closed = event
        for line in lines:
            conn.receive_line(line)
        if closed is None:
            return
        self._ended = True
        if ended or ws.state is ConnectionState.REMOTE_CLOSING:
            conn.receive_data(b"")  # the peer closed: its user quits
        else:
            # wsproto could not parse the peer's frames: say why in the close frame.
            self._out += ws.send(CloseConnection(code=closed.code, reason=closed.reason))
            conn.connection_lost(_("WebSocket error: {reason}", reason=closed.reason))

    def _collect(self, event):
        """The line a message's frames complete (TOO_LONG past the bound), or None yet."""
        data = event.data.encode() if isinstance(event, TextMessage) else event.data
        if not self._message_too_long:
            if len(self._message) + len(data) > MAX_LINE:
                self._message_too_long = True
                self._message.clear()
            else:
                self._message += data
        if not event.message_finished:
            return None
        line = TOO_LONG if self._message_too_long else bytes(self._message)
        self._message.clear()
        self._message_too_long = False
        return line

    def _frame_output(self):
        """Frame the next chunk of the connection's lines; the close frame after the last."""
        conn, ws = self.conn, self._ws
        if conn.pending:
            lines = conn.take_lines(ENCODE_CHUNK)
            if ws.state is ConnectionState.OPEN:
                frames = self._gateway.frames[self._text]
                for line in lines:
                    frame = frames.get(line)
                    if frame is None:
                        frame = frames[line] = ws.send(
                            TextMessage(line.decode(errors="replace")) if self._text
                            else BytesMessage(line))
                    self._out += frame
                if len(frames) > FRAME_CACHE:
                    frames.clear()
            # Else the peer sent its close frame: nothing may follow it but ours.
        if conn.closing and not conn.pending and ws.state in _CAN_SEND_CLOSE:
            self._out += ws.send(CloseConnection(code=1000))


#: The WebSocket states in which a close frame can still be sent.
_CAN_SEND_CLOSE = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
