"""The web gateway over loopback sockets, through the select loop: the page, IRC over
WebSocket beside TCP users, TLS, and what the loop does with a web peer that misbehaves.  The
protocol's corners, without sockets: test_web_gateway.py.  In a real browser:
test_web_browser.py."""

import json
import logging
import re
import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest

from helpers import (ROOT, TIMEOUT, LineSocket, WebPeer, flood_until_quit, register_irc, run_server,
                     running_server, start_server_process, tls_files, wait_until, web_address,
                     web_backend)
from tcpchat.transports import selectloop


def fetch(address, path="/", context=None):
    """GET *path* from *address* (over TLS with *context*): (status, headers, body)."""
    scheme = "https" if context else "http"
    host = "localhost" if context else address[0]
    # No proxy from the environment: the request is for loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open(f"{scheme}://{host}:{address[1]}{path}", timeout=TIMEOUT) as response:
        return response.status, response.headers, response.read()


def register_web(address, nick, **options):
    peer = WebPeer(address, **options)
    peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} in a browser")
    peer.expect(" 001 ")
    peer.expect(" 366 ")
    return peer


def test_the_page_and_its_files_are_served():
    with running_server(start=web_backend()) as server:
        status, headers, body = fetch(server.web_address)
        assert status == 200 and b'<script src="chat.js"' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        for path, kind in (("/chat.js", "text/javascript"), ("/chat.css", "text/css"),
                           ("/favicon.svg", "image/svg+xml")):
            status, headers, body = fetch(server.web_address, path)
            assert status == 200 and headers["Content-Type"].startswith(kind) and body
        with pytest.raises(urllib.error.HTTPError, match="404"):
            fetch(server.web_address, "/secret")


def test_server_json_says_whether_the_page_must_ask_for_a_password():
    with running_server(start=web_backend()) as server:
        status, headers, body = fetch(server.web_address, "/server.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"password": False}
    with running_server(start=web_backend(), password="classpw") as server:
        assert json.loads(fetch(server.web_address, "/server.json")[2]) == {"password": True}


def test_web_from_the_command_line_tells_the_page_about_the_password():
    process, _ = start_server_process("--web", "0", "--password", "classpw")
    try:
        port = int(re.search(r"port (\d+) \(web\)", process.listening).group(1))
        assert json.loads(fetch(("127.0.0.1", port), "/server.json")[2]) == {"password": True}
    finally:
        process.kill()
        process.wait()


def test_an_internal_error_while_opening_a_websocket_costs_that_connection_alone(caplog):
    caplog.set_level(logging.ERROR, logger="tcpchat")
    with running_server(start=web_backend()) as server:
        connect = server.core.connect

        def broken(peer, transport, dialect=None):
            if dialect is not None:  # the web gateway's connections, and only those
                raise RuntimeError("injected")
            return connect(peer, transport, dialect)
        server.core.connect = broken
        peer = WebPeer(server.web_address)
        peer.sock.settimeout(TIMEOUT)
        while peer.lines.sock.recv(65536):  # the server closes it
            pass
        # ...through the guarded connect every connection takes, not a deadline
        assert "internal error while connecting 127.0.0.1" in caplog.text
        carl = register_irc(server.address, "carl")  # everyone else is served
        carl.send("PING :still")
        assert carl.expect("PONG").endswith(":still")
    # and the server stopped (running_server checks)


def test_web_and_tcp_users_share_the_room():
    with running_server(start=web_backend()) as server:
        alice = register_irc(server.address, "alice")
        webby = register_web(server.web_address, "webby")
        assert alice.expect("JOIN") == ":webby!webby@127.0.0.1 JOIN #lobby"
        webby.send("PRIVMSG #lobby :hello from the browser")
        assert alice.expect("PRIVMSG") == (
            ":webby!webby@127.0.0.1 PRIVMSG #lobby :hello from the browser")
        alice.send("PRIVMSG #lobby :hello from TCP", "PRIVMSG webby :psst")
        assert webby.expect("PRIVMSG #lobby") == (
            ":alice!alice@127.0.0.1 PRIVMSG #lobby :hello from TCP")
        assert webby.expect("PRIVMSG webby") == ":alice!alice@127.0.0.1 PRIVMSG webby :psst"
        webby.send("NAMES #lobby")
        assert webby.expect(" 353 ").endswith(":@alice webby")
        webby.expect(" 366 ")
        webby.send("QUIT :bye")
        assert webby.read_all() == ["ERROR :Closing link: Quit: bye"]
        assert webby.closed.code == 1000
        assert alice.expect("QUIT") == ":webby!webby@127.0.0.1 QUIT :Quit: bye"


def test_thousands_of_messages_in_one_read_all_arrive_in_order():
    with running_server(start=web_backend(), flood=None) as server:
        alice = register_irc(server.address, "alice")
        webby = register_web(server.web_address, "webby")
        webby.send(*(f"PRIVMSG #lobby :{number}" for number in range(2000)))
        for number in range(2000):
            assert alice.expect("PRIVMSG").endswith(f" :{number}")


def test_a_browser_that_stops_reading_is_cut_at_the_send_queue_and_stalls_nobody():
    with running_server(start=web_backend(), sendq=64 << 10, flood=None) as server:
        alice = register_irc(server.address, "alice")
        # A small receive window keeps the kernel from buffering megabytes for the sleeper.
        sleeper = register_web(server.web_address, "sleeper", receive_buffer=4096)
        talker = register_irc(server.address, "talker")
        alice.expect("talker!")
        quit_line = flood_until_quit(talker, alice)
        sleeper.close()
        assert quit_line == ":sleeper!sleeper@127.0.0.1 QUIT :SendQ exceeded"


def test_a_client_that_closes_is_answered_and_others_see_it_leave():
    from wsproto.events import CloseConnection
    with running_server(start=web_backend()) as server:
        alice = register_irc(server.address, "alice")
        webby = register_web(server.web_address, "webby")
        alice.expect("JOIN")
        webby.sock.sendall(webby.ws.send(CloseConnection(code=1001, reason="tab closed")))
        assert webby.read_all() == []
        assert webby.closed is not None
        assert alice.expect("QUIT") == ":webby!webby@127.0.0.1 QUIT :Connection closed"


def test_shutdown_says_goodbye_to_web_users_too():
    with running_server(start=web_backend()) as server:
        webby = register_web(server.web_address, "webby")
        server.request_stop()
        assert webby.read_all() == ["ERROR :Closing link: Server shutting down"]
        assert webby.closed.code == 1000


def test_a_refused_origin_gets_403_and_an_allowed_one_chats():
    from wsproto.events import RejectConnection
    with running_server(start=web_backend(origins=["https://chat.example.org"])) as server:
        refused = WebPeer(server.web_address, origin="https://evil.example")
        assert isinstance(refused.accepted, RejectConnection)
        assert refused.accepted.status_code == 403
        welcome = WebPeer(server.web_address, origin="https://chat.example.org")
        welcome.send("NICK ok", "USER ok 0 * :OK")
        assert " 001 ok " in welcome.expect(" 001 ")


def test_same_origin_by_default():
    from wsproto.events import AcceptConnection, RejectConnection
    with running_server(start=web_backend()) as server:
        host, port = server.web_address
        assert isinstance(WebPeer(server.web_address, origin=f"http://{host}:{port}").accepted,
                          AcceptConnection)
        assert isinstance(WebPeer(server.web_address, origin="http://elsewhere").accepted,
                          RejectConnection)


def test_an_http_request_that_never_ends_is_dropped_at_its_deadline(monkeypatch, caplog):
    monkeypatch.setattr(selectloop, "HANDSHAKE_TIMEOUT", 0.3)
    caplog.set_level(logging.INFO, logger="tcpchat")
    with running_server(start=web_backend()) as server:
        alice = register_irc(server.address, "alice")
        slow = socket.create_connection(server.web_address, timeout=TIMEOUT)
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert slow.recv(100) == b""
        assert wait_until(lambda: "HTTP exchange with 127.0.0.1 timed out" in caplog.text)
        alice.send("PING :still here")
        assert alice.expect("PONG").endswith(":still here")
        slow.close()


def test_an_irc_client_on_the_web_port_is_told_at_once():
    with running_server(start=web_backend()) as server:
        lost = LineSocket(server.web_address)
        lost.send("NICK lost", "USER lost 0 * :Lost")
        lines = lost.read_all()
        assert lines[0] == "HTTP/1.1 400 Bad Request"
        assert lines[-1].startswith("This port serves the chat page over HTTP")


# -- Over TLS ---------------------------------------------------------------------------------

def test_the_page_and_the_chat_over_tls():
    with running_server(start=web_backend(tls=True)) as server:
        context = tls_files().client_context()
        status, _, body = fetch(server.web_address, context=context)
        assert status == 200 and b"chat.js" in body
        alice = register_irc(server.address, "alice")
        secure = register_web(web_address(server), "secure")
        secure.send("PRIVMSG #lobby :over wss")
        assert alice.expect("PRIVMSG").endswith(":over wss")
        alice.send("WHOIS secure")
        assert " 671 alice secure " in alice.expect(" 671 ")


def test_plain_http_to_the_tls_web_port_is_told_to_use_https():
    with running_server(start=web_backend(tls=True)) as server:
        with pytest.raises(urllib.error.HTTPError, match="400") as refused:
            fetch(server.web_address)
        assert b"use an https://" in refused.value.read()
        # And the certificate is not trusted without the test's CA.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(server.web_address, context=ssl.create_default_context())


# -- From the command line ---------------------------------------------------------------------

def test_web_from_the_command_line():
    process, _ = start_server_process("--web", "0", "--web-origin", "https://chat.example.org")
    try:
        port = int(re.search(r"port (\d+) \(web\)", process.listening).group(1))
        status, _, body = fetch(("127.0.0.1", port))
        assert status == 200 and b"tcpchat" in body
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("arguments, message", [
    (["--web", "0", "--backend", "threads"],
     "--web is served by the select backend's event loop: drop --backend threads"),
    (["--web-tls"], "--web-tls needs --web"),
    (["--web-origin", "https://x.example"], "--web-origin needs --web"),
    (["--web", "0", "--web-tls"], "--web-tls needs --tls-cert"),
    (["--web", "0", "--web-origin", "x.example"],
     "--web-origin 'x.example' is not an origin such as https://chat.example.org"),
])
def test_web_options_that_do_not_go_together(arguments, message):
    result = run_server(*arguments)
    assert result.returncode == 2 and result.stderr.endswith(f"error: {message}\n")


def test_no_plaintext_web_beside_tls_alone():
    files = tls_files()
    result = run_server("--web", "0", "--no-plaintext", "--tls-cert", files.cert_file,
                        "--tls-key", files.key_file)
    assert result.returncode == 2
    assert result.stderr.endswith("--no-plaintext: the web port would serve plaintext; add "
                                  "--web-tls\n")


def test_without_wsproto_web_says_in_one_line_what_to_install():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['wsproto'] = None; "
                               "from tcpchat.server import main; main(['--web', '0'])"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == ("tcpchat-server: --web needs wsproto and h11 (wsproto is "
                             "missing): pip install 'tcpchat[web]'\n")
