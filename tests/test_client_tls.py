"""The reference client over TLS (``--tls``, ``--ca``, ``--insecure``) as a subprocess against
a real server on loopback, each wait bounded in time."""

import ssl
import subprocess
import sys

import pytest

from helpers import (ROOT, TIMEOUT, ClientProcess, TlsFiles, conversation, register_irc,
                     running_server, tls_backend, tls_files)
from tcpchat.protocol.message import Message
from tcpchat.transports.driver import listen
from tcpchat.transports.selectloop import SelectLoop


@pytest.mark.parametrize("backend", ["select", "threads"])
def test_two_clients_chat_over_tls(backend):
    with running_server(start=tls_backend(backend)) as server:
        trust = ("--tls", "--ca", tls_files().ca_file)
        conversation(server.tls_address, alice_options=trust, bob_options=trust)


def test_a_tls_client_and_a_plaintext_client_share_the_room():
    with running_server(start=tls_backend()) as server:
        watcher = register_irc(server.address, "watcher")  # plaintext
        client = ClientProcess(server.tls_address, "--name", "alice", "--tls", "--ca",
                               tls_files().ca_file)
        try:
            client.expect("You joined #lobby")
            client.send("hello in plaintext's room")
            assert watcher.expect("PRIVMSG").endswith(" :hello in plaintext's room")
            watcher.send("PRIVMSG #lobby :and back")
            client.expect(r"watcher: and back$")
            client.send("exit")
            assert client.wait() == (0, "")
        finally:
            client.kill()


def run_client(address, *arguments):
    host, port = address[:2]
    return subprocess.run(
        [sys.executable, "-m", "tcpchat.client", host, "--port", str(port), "--name", "x",
         *arguments], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT, cwd=ROOT)


def test_an_untrusted_certificate_is_refused_with_one_line():
    with running_server(start=tls_backend()) as server:
        port = server.tls_address[1]
        result = run_client(server.tls_address, "--tls")  # the test CA is not the system's
    assert result.returncode == 1
    assert result.stderr == (
        f"tcpchat-client: cannot connect to 127.0.0.1 port {port}: the "
        "server's certificate is not trusted (unable to get local issuer certificate); --ca "
        "FILE trusts the CA that signed it, --insecure trusts anything\n")


def test_a_certificate_for_another_name_or_a_wrong_ca_says_which(tmp_path):
    """With --ca given, the hint is not to give --ca (issue 30)."""
    other = TlsFiles(str(tmp_path), names=("chat.example",))  # a certificate for another name
    def start(core):
        return SelectLoop(core, None, tls_listener=listen("127.0.0.1", 0),
                          certificates=other.certificates())
    with running_server(start=start) as server:
        mismatch = run_client(server.tls_address, "--tls", "--ca", other.ca_file)
        wrong_ca = run_client(server.tls_address, "--tls", "--ca", tls_files().ca_file)
    assert mismatch.returncode == 1
    assert "the server's certificate is not for that name (" in mismatch.stderr
    assert "connect to a name the certificate holds" in mismatch.stderr
    assert wrong_ca.returncode == 1
    assert f"not even with --ca {tls_files().ca_file}: is that the CA that signed it?" in \
        wrong_ca.stderr


def test_insecure_connects_and_says_so_on_screen():
    with running_server(start=tls_backend()) as server:
        client = ClientProcess(server.tls_address, "--name", "alice", "--tls", "--insecure")
        try:
            client.expect(r"^! --insecure: the server's certificate is not checked")
            client.expect("You joined #lobby")
            client.send("exit")
            assert client.wait()[0] == 0
        finally:
            client.kill()


def test_tls_to_a_plaintext_port_is_one_line():
    with running_server() as server:
        result = run_client(server.address, "--tls", "--insecure")
    assert result.returncode == 1
    assert result.stderr.endswith("TLS error: WRONG_VERSION_NUMBER (is that a TLS port?)\n")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("arguments, message", [
    (["--ca", "ca.pem"], "error: --ca goes with --tls\n"),
    (["--insecure"], "error: --insecure goes with --tls\n"),
    (["--tls", "--udp"], "error: --tls is over TCP: drop --udp\n"),
    (["--tls", "--ca", "ca.pem", "--insecure"], "error: --ca or --insecure, not both\n"),
    (["--tls", "--ca", "/nonexistent/ca.pem"],
     "tcpchat-client: --ca /nonexistent/ca.pem: No such file or directory\n"),
])
def test_tls_options_that_cannot_work(arguments, message):
    result = run_client(("127.0.0.1", 9), *arguments)  # nothing is connected to
    assert result.returncode == 2 and result.stderr.endswith(message)


def test_what_arrives_with_the_end_of_a_tls_1_2_handshake_is_shown():
    """Over TLS 1.2 the server's last handshake message and its first lines can come in one
    read: the client must take those lines as the plaintext they are.  (tcpchat's own first
    line, the greeting for netcat users, is one the client does not show, so this server
    adds a notice from itself that the client does.)"""
    def start(core):
        server = tls_backend()(core)
        server.certificates.context.maximum_version = ssl.TLSVersion.TLSv1_2
        add_client = core.chat.add_client

        def add_and_greet(conn, dialect):
            client = add_client(conn, dialect)
            core.chat.delivery.send(client, Message("NOTICE", ("*", "*** Hello over TLS 1.2"), "srv"))
            return client

        core.chat.add_client = add_and_greet
        return server

    with running_server(start=start) as server:
        client = ClientProcess(server.tls_address, "--name", "alice", "--tls", "--ca",
                               tls_files().ca_file)
        try:
            client.expect(r"^\*\*\* Hello over TLS 1\.2")
            client.expect("You joined #lobby")
            client.send("exit")
            assert client.wait() == (0, "")
        finally:
            client.kill()
