"""The web gateway with no sockets: a :class:`~tcpchat.transports.web.WebStream` fed by wsproto's own
client side (and by hand-written HTTP where a client would not send it), in front of a real
core.  Over loopback sockets, through the select loop: test_web.py."""

import json
import pathlib
import re

import h11
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.frame_protocol import FrameProtocol
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            RejectConnection, Request, TextMessage)

from helpers import ROOT, Harness, RecordingTransport
from tcpchat.chat.encoding import Dialect
from tcpchat.transports.pagetext import TEXTS
from tcpchat.transports.web import BINARY, TEXT, WebGateway

PAGE = {b"/": (b"text/html; charset=utf-8", b"<!doctype html><title>chat</title>"),
        b"/chat.js": (b"text/javascript; charset=utf-8", b"'use strict';")}


class Browser:
    """One web peer of *harness*'s core, as wsproto's client side speaks; every byte passes
    through a WebStream."""

    def __init__(self, harness, gateway=None):
        self.harness = harness
        self.stream = (gateway or WebGateway(files=PAGE)).stream(
            lambda: harness.core.connect("127.0.0.1", RecordingTransport(), Dialect.IRC))
        self.ws = WSConnection(ConnectionType.CLIENT)

    def feed(self, data):
        self.stream.receive_data(data)

    def output(self):
        return drain(self.stream)

    def events(self):
        self.ws.receive_data(self.output())
        return list(self.ws.events())

    def open(self, subprotocols=(TEXT,), **headers):
        self.feed(self.ws.send(Request(host="chat.example", target="/irc",
                                       subprotocols=list(subprotocols),
                                       extra_headers=list(headers.items()))))
        return self.events()

    def send(self, *lines, binary=False):
        for line in lines:
            self.feed(self.ws.send(BytesMessage(line.encode()) if binary else TextMessage(line)))

    def lines(self):
        return [event.data if isinstance(event.data, str) else event.data.decode()
                for event in self.events() if isinstance(event, (TextMessage, BytesMessage))]

    def register(self, nick):
        assert isinstance(self.open()[0], AcceptConnection)
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        lines = self.lines()
        assert any(f" 001 {nick} " in line for line in lines), lines
        return self


def drain(stream):
    """Every byte *stream* has to send now, as a driver takes them."""
    data = bytearray()
    while stream.pending:
        chunk = bytes(stream.data_to_send())
        stream.sent(len(chunk))
        data += chunk
    return bytes(data)


def http(stream, request):
    """Feed *request* (bytes) to *stream*; its answer, parsed: (status, headers, body)."""
    stream.receive_data(request)
    answer = drain(stream)
    assert stream.closing  # the HTTP exchange is over: the driver closes once it is sent
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(answer)
    response = client.next_event()
    body = b""
    while isinstance(event := client.next_event(), h11.Data):
        body += event.data
    return response.status_code, dict(response.headers), body


@pytest.fixture
def harness():
    return Harness()


def new_stream(harness, **options):
    return WebGateway(files=PAGE, **options).stream(
        lambda: harness.core.connect("127.0.0.1", RecordingTransport(), Dialect.IRC))


# -- The page --------------------------------------------------------------------------------

def test_the_page_is_served_with_a_policy_that_lets_no_foreign_script_run(harness):
    status, headers, body = http(new_stream(harness), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (200, PAGE[b"/"][1])
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert b"script-src 'self'" in headers[b"content-security-policy"]
    assert headers[b"x-content-type-options"] == b"nosniff"
    status, headers, body = http(new_stream(harness),
                                 b"GET /chat.js?v=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (200, PAGE[b"/chat.js"][1])
    assert headers[b"content-type"].startswith(b"text/javascript")


def test_head_gets_the_length_without_the_body(harness):
    stream = new_stream(harness)
    stream.receive_data(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = bytes(stream.data_to_send())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: %d\r\n" % len(PAGE[b"/"][1]) in answer.lower()
    assert answer.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET /../chat.js HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"NICK alice\r\nUSER alice 0 * :Alice\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40) + b"\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
], ids=["unknown path", "dot-dot", "POST", "no Host", "IRC on the web port", "TLS to HTTP",
        "huge header"])
def test_requests_that_are_not_for_the_page_get_a_clear_status(harness, request_bytes, status):
    alice = harness.irc("alice")
    answer_status, _, body = http(new_stream(harness), request_bytes)
    assert answer_status == status and body  # a line saying why
    alice.send("PING :unharmed")
    assert alice.lines() == [":tcpchat PONG tcpchat :unharmed"]


def test_a_request_that_keeps_growing_is_refused_not_buffered(harness):
    stream = new_stream(harness)
    stream.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n")
    for _ in range(40):  # 40 KiB of headers, a kilobyte at a time
        stream.receive_data(b"X-More: " + b"m" * 1000 + b"\r\n")
        if stream.closing:
            break
    assert stream.closing
    assert bytes(stream.data_to_send()).startswith(b"HTTP/1.1 431 ")


def test_a_request_cut_off_by_the_peer_ends_the_stream(harness):
    stream = new_stream(harness)
    stream.receive_data(b"GET / HT")
    stream.receive_data(b"")
    assert stream.closing and stream.conn is None


# -- The upgrade ---------------------------------------------------------------------------

@pytest.mark.parametrize("offered, chosen", [
    ([TEXT], TEXT),
    ([BINARY], BINARY),
    ([BINARY, TEXT], BINARY),   # the client's preference
    ([TEXT, BINARY], TEXT),
    (["chat.example", TEXT], TEXT),
    ([], None),                 # legacy clients: no subprotocol, text messages
    (["chat.example"], None),
])
def test_the_subprotocol_is_the_first_the_client_prefers_among_the_ircv3_ones(
        harness, offered, chosen):
    browser = Browser(harness)
    accepted = browser.open(offered)[0]
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == chosen
    browser.send("NICK webby", "USER webby 0 * :Web")
    messages = [event for event in browser.events() if not isinstance(event, Ping)]
    assert messages and all(isinstance(event, BytesMessage if chosen == BINARY else TextMessage)
                            for event in messages)
    assert messages[0].data[:18] in (":tcpchat 001 webby", b":tcpchat 001 webby")
    # One IRC line per message, without its line end.
    assert not any(("\n" if isinstance(e.data, str) else b"\n") in e.data for e in messages)


def test_a_web_user_speaks_irc_from_the_first_line_no_netcat_greeting(harness):
    browser = Browser(harness)
    browser.open()
    assert browser.lines() == []
    assert browser.stream.conn.client.dialect is Dialect.IRC


def test_bad_upgrades_are_refused_with_the_reason(harness):
    # No key: wsproto's check.
    stream = new_stream(harness)
    status, _, body = http(stream, b"GET /irc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                   b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert status == 400 and b"Sec-WebSocket-Key" in body and stream.conn is None
    # A version we do not speak: 426, and the one we do.
    status, headers, _ = http(new_stream(harness),
                              b"GET /irc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                              b"Upgrade: websocket\r\nSec-WebSocket-Version: 8\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert status == 426 and headers[b"sec-websocket-version"] == b"13"
    # Not a GET.
    status, _, _ = http(new_stream(harness),
                        b"POST /irc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert status == 400
    assert harness.core.chat.delivery.dirty == set() and not harness.core.chat.registry.clients


@pytest.mark.parametrize("origins, origin, allowed", [
    (None, "http://chat.example", True),         # same origin: the host asked
    (None, "https://chat.example", True),        # behind a proxy that terminates TLS
    (None, "https://evil.example", False),
    (None, "http://chat.example.evil.example", False),
    (None, "null", False),
    (["https://chat.example.org"], "https://chat.example.org", True),
    (["https://chat.example.org"], "http://chat.example", False),
    (["*"], "https://anyone.example", True),
])
def test_origin_is_checked_against_the_allow_list(harness, origins, origin, allowed):
    browser = Browser(harness, WebGateway(origins, files=PAGE))
    answer = browser.open(Origin=origin)[0]
    if allowed:
        assert isinstance(answer, AcceptConnection)
    else:
        assert isinstance(answer, RejectConnection) and answer.status_code == 403
        assert browser.stream.conn is None and browser.stream.closing


def test_no_origin_header_is_not_a_browser_and_is_let_in(harness):
    assert isinstance(Browser(harness).open()[0], AcceptConnection)


def test_an_origin_on_the_command_line_must_be_one():
    with pytest.raises(ValueError, match="not an origin"):
        WebGateway(["chat.example.org"], files=PAGE)


def test_frames_sent_with_the_request_are_not_lost(harness):
    browser = Browser(harness)
    request = browser.ws.send(Request(host="chat.example", target="/", subprotocols=[TEXT]))
    # A client should wait for the answer before it sends frames; one that does not loses none.
    framer = FrameProtocol(client=True, extensions=[])
    frames = b"".join(framer.send_data(line) for line in ("NICK eager", "USER eager 0 * :E"))
    browser.feed(request + frames)
    events = browser.events()
    assert isinstance(events[0], AcceptConnection)
    assert events[1].data.startswith(":tcpchat 001 eager ")


# -- Messages --------------------------------------------------------------------------------

def test_web_and_tcp_users_chat_both_ways(harness):
    alice = harness.irc("alice")
    web = Browser(harness).register("webby")
    assert alice.lines() == [":webby!webby@127.0.0.1 JOIN #lobby"]
    web.send("PRIVMSG #lobby :hello from the browser")
    assert alice.lines() == [":webby!webby@127.0.0.1 PRIVMSG #lobby :hello from the browser"]
    alice.send("PRIVMSG #lobby :hello from TCP")
    assert web.lines() == [":alice!alice@127.0.0.1 PRIVMSG #lobby :hello from TCP"]
    web.send("QUIT :off to lunch")
    assert alice.lines() == [":webby!webby@127.0.0.1 QUIT :Quit: off to lunch"]


def test_a_message_in_fragments_is_one_line(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    for index, piece in enumerate(("PRIVMSG #lo", "bby :in three ", "pieces")):
        web.feed(web.ws.send(TextMessage(piece, message_finished=index == 2)))
    assert alice.lines() == [":webby!webby@127.0.0.1 PRIVMSG #lobby :in three pieces"]


def test_a_message_holding_a_line_end_cannot_smuggle_a_line_to_others(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    web.send("PRIVMSG #lobby :hi\r\n:server.example KILL alice :fake")
    assert alice.lines() == [":webby!webby@127.0.0.1 PRIVMSG #lobby :hi"]
    # The second line is webby's own, its source ignored: a KILL webby may not send.
    assert " 481 webby " in web.lines()[0] and not alice.conn.closing


@pytest.mark.parametrize("fragments", [1, 20])
def test_an_oversize_message_gets_417_and_the_user_stays(harness, fragments):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    text = "PRIVMSG #lobby :" + "x" * 100_000
    size = len(text) // fragments + 1
    for start in range(0, len(text), size):
        web.feed(web.ws.send(TextMessage(text[start:start + size],
                                         message_finished=start + size >= len(text))))
        # Never more than one IRC line is held for it.
        assert len(web.stream._message) <= 4096 + 512
    assert [line.split()[1] for line in web.lines()] == ["417"]
    web.send("PRIVMSG #lobby :short")
    assert alice.lines() == [":webby!webby@127.0.0.1 PRIVMSG #lobby :short"]


def test_binary_messages_carry_bytes_and_bad_utf8_gets_the_usual_answer(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    web.feed(web.ws.send(BytesMessage(b"PRIVMSG #lobby :caf\xe9")))
    assert web.lines()[0].startswith(":tcpchat FAIL PRIVMSG INVALID_UTF8 ")
    assert alice.lines() == []
    web.send("PRIVMSG #lobby :café", binary=True)
    assert alice.lines() == [":webby!webby@127.0.0.1 PRIVMSG #lobby :café"]


def test_a_ping_frame_gets_its_pong(harness):
    web = Browser(harness).register("webby")
    web.feed(web.ws.send(Ping(b"are you there")))
    assert [event for event in web.events() if isinstance(event, Pong)] == [
        Pong(payload=b"are you there")]


# -- The end -----------------------------------------------------------------------------------

def test_the_close_handshake_from_the_browser(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    web.feed(web.ws.send(CloseConnection(code=1001, reason="tab closed")))
    events = web.events()
    assert [type(event) for event in events] == [CloseConnection]  # its reply, and nothing else
    assert web.stream.closing and web.stream.pending == 0
    assert alice.lines() == [":webby!webby@127.0.0.1 QUIT :Connection closed"]


def test_the_server_closes_with_an_error_line_then_a_close_frame(harness):
    web = Browser(harness).register("webby")
    web.send("QUIT :bye")
    events = web.events()
    assert [type(event) for event in events] == [TextMessage, CloseConnection]
    assert events[0].data == "ERROR :Closing link: Quit: bye"
    assert events[1].code == 1000
    assert web.stream.closing and web.stream.pending == 0


def test_bad_frames_close_with_the_protocol_error_and_others_see_why(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    # A text frame that is not UTF-8, written by hand: a client library would not send it.
    web.feed(bytes([0x81, 0x82, 0, 0, 0, 0]) + b"\xc3\x28")
    events = web.events()
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1007
    assert web.stream.closing
    quit_line = alice.lines()[0]
    assert quit_line.startswith(":webby!webby@127.0.0.1 QUIT :WebSocket error:")


def test_an_unmasked_frame_from_a_client_is_a_protocol_error(harness):
    web = Browser(harness).register("webby")
    web.feed(bytes([0x81, 0x02]) + b"hi")
    events = web.events()
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1002


def test_the_end_of_the_stream_without_a_close_frame(harness):
    alice, web = harness.irc("alice"), Browser(harness).register("webby")
    alice.lines()
    web.feed(b"")
    assert web.stream.closing
    assert web.output() == b""  # nothing can be sent after the peer has gone
    assert alice.lines() == [":webby!webby@127.0.0.1 QUIT :Connection closed"]


def test_output_is_framed_a_chunk_at_a_time_so_the_send_queue_counts_the_rest(harness):
    web = Browser(harness).register("webby")
    for number in range(3000):
        web.stream.conn.outbuf += b":tcpchat NOTICE webby :%d %s\r\n" % (number, b"n" * 60)
    before = web.stream.conn.pending
    first = bytes(web.stream.data_to_send())
    assert 60_000 < len(first) < 70_000
    assert web.stream.conn.pending > before - 70_000  # the rest still counted by the sendq
    web.stream.sent(len(first))
    web.ws.receive_data(first + web.output())
    texts = [event.data for event in web.ws.events() if isinstance(event, TextMessage)]
    assert [text.split()[3] for text in texts] == [f":{n}" for n in range(3000)]


def test_the_pages_words_are_served_in_each_language_from_the_catalogs(harness):
    status, headers, body = http(new_stream(harness),
                                 b"GET /texts/ru.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and headers[b"content-type"].startswith(b"application/json")
    russian = json.loads(body)
    assert russian["language"] == "ru"
    assert russian["languages"] == [["en", "English"], ["ru", "Русский"]]
    assert russian["texts"]["join-button"] == "Войти в чат"
    assert russian["texts"]["joined"] == "→ {nick} вошёл"
    english = json.loads(http(new_stream(harness),
                              b"GET /texts/en.json HTTP/1.1\r\nHost: x\r\n\r\n")[2])
    assert english["texts"]["join-button"] == "Join the chat"
    assert set(english["texts"]) == set(russian["texts"]) == set(TEXTS)
    assert http(new_stream(harness), b"GET /texts/xx.json HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 404


def test_every_word_the_page_asks_for_is_in_the_catalog():
    """The page names its sentences by key (t("joined"), data-text="send"): a key that is not
    in pagetext.TEXTS would show as itself."""
    folder = pathlib.Path(ROOT) / "tcpchat" / "transports" / "page"
    script = (folder / "chat.js").read_text()
    markup = (folder / "index.html").read_text()
    asked = set(re.findall(r'\bt\(\s*"([a-z0-9-]+)"', script))
    asked |= set(re.findall(r'data-text(?:-[a-z-]+)?="([a-z0-9-]+)"', markup))
    asked |= set(re.findall(r'"(help-\d)"', script))
    for chosen in re.findall(r'\bt\(\s*[\w.]+ \? "([a-z0-9-]+)" : "([a-z0-9-]+)"', script):
        asked |= set(chosen)
    # The one key the script puts together: `removed${me ? "-you" : ""}${reason ? ...}`.
    asked |= {"removed", "removed-you", "removed-because", "removed-you-because"}
    assert len(asked) > 40
    assert asked <= set(TEXTS), sorted(asked - set(TEXTS))
