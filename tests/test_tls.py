"""TLS over real loopback sockets, on both backends: TLS and plaintext users in one room, the
handshake's deadline, peers that do not speak TLS or break it, records cut and packed, the
close_notify, a certificate reload.  (The whole scenario suite also runs over TLS: see
helpers.DRIVERS.)  Every wait is bounded in time."""

import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys

import pytest

from helpers import (ROOT, TIMEOUT, LineSocket, TlsFiles, TlsAddress, read_cap_ls,
                     register_irc, register_plain, run_server, running_server, tls_backend,
                     tls_connect, tls_files, wait_until)
from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.credentials import hash_password
from tcpchat.transports import selectloop, threads

BACKENDS = ["select", "threads"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def serve_tls(backend, tcp=True, **config):
    """A server with a TLS listener (and a plaintext one unless *tcp* is False)."""
    return running_server(start=tls_backend(backend, tcp=tcp), **config)


def tls_address(server):
    return TlsAddress(server.tls_address)


class RecordPeer:
    """A TLS client that hands the test its records, to cut or pack as it likes: an
    ``ssl.SSLObject`` over the raw socket, the handshake done."""

    def __init__(self, address):
        self.sock = socket.create_connection(address[:2], timeout=TIMEOUT)
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = tls_files().client_context().wrap_bio(self._incoming, self._outgoing,
                                                        server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self._outgoing.read())
                self._incoming.write(self.sock.recv(65536))
        self.sock.sendall(self._outgoing.read())

    def register(self, nick, watcher):
        """Register as *nick*, and wait until *watcher* (in #lobby) has seen it join."""
        self.sock.sendall(self.records(f"NICK {nick}", f"USER {nick} 0 * :{nick}"))
        watcher.expect(f"{nick}!")

    def encrypt(self, data):
        """The records that carry *data*, not sent."""
        self.tls.write(data)
        return self._outgoing.read()

    def records(self, *lines):
        """The records that carry *lines*, not sent."""
        return self.encrypt(b"".join(line.encode() + b"\r\n" for line in lines))


def record_lengths(data):
    """The length of each TLS record in *data* (5-byte headers, the length in the last 2)."""
    lengths = []
    while data:
        length = struct.unpack("!H", data[3:5])[0]
        lengths.append(length)
        data = data[5 + length:]
    return lengths


# -- Users -------------------------------------------------------------------------------------

def test_tls_and_plaintext_users_share_a_room(backend):
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")       # IRC over TLS
        bob = register_plain(server.address, "bob")              # netcat, plaintext
        carol = register_plain(tls_address(server), "carol")     # plain mode over TLS
        dave = register_irc(server.address, "dave")              # IRC, plaintext
        alice.expect("dave!")
        bob.send("hi from plaintext")
        assert alice.expect("PRIVMSG") == ":bob!bob@127.0.0.1 PRIVMSG #lobby :hi from plaintext"
        assert carol.expect("bob:") == "bob: hi from plaintext"
        alice.send("PRIVMSG #lobby :hi from TLS")
        assert bob.expect("alice:") == "alice: hi from TLS"
        assert dave.expect("alice!").endswith("PRIVMSG #lobby :hi from TLS")

        # Who is on TLS: 671 in WHOIS for them alone, and "(TLS)" in a plain user's /who.
        dave.send("WHOIS alice", "WHOIS bob")
        whois = [dave.expect(lambda line: " 318 " in line or " 671 " in line)
                 for _ in range(3)]
        assert whois[0] == ":tcpchat 671 dave alice :is using a secure connection"
        assert " 318 dave alice " in whois[1]
        assert " 318 dave bob " in whois[2]  # no 671 before it
        bob.send("/who")
        assert bob.expect("in #lobby") == ("*** 4 people in #lobby: @alice (TLS), bob, "
                                           "carol (TLS), dave")


def test_a_goodbye_over_tls_ends_with_a_close_notify(backend):
    """The ERROR line, then a close_notify: a client that insists on one (as this stdlib
    context does, unlike the server's) reads a clean end, not a truncation."""
    context = ssl.create_default_context(cafile=tls_files().ca_file)
    with serve_tls(backend) as server:
        raw = socket.create_connection(server.tls_address, timeout=TIMEOUT)
        bob = context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        bob.sendall(b"NICK bob\r\nUSER bob 0 * :Bob\r\nQUIT :bye\r\n")
        received = b""
        while True:
            chunk = bob.recv(65536)  # SSLEOFError here if the stream ended without one
            if not chunk:
                break
            received += chunk
        assert received.endswith(b"ERROR :Closing link: Quit: bye\r\n")
        bob.close()


# -- The handshake ---------------------------------------------------------------------------

def test_a_stalled_handshake_holds_up_nobody(backend):
    """One peer opens the TLS port and says nothing; another says half a ClientHello.  Others
    connect, finish their handshakes and chat meanwhile, and stopping the server does not
    wait for the stalled ones."""
    with serve_tls(backend) as server:
        silent = socket.create_connection(server.tls_address, timeout=TIMEOUT)
        halfway = socket.create_connection(server.tls_address, timeout=TIMEOUT)
        hello = ssl.MemoryBIO()
        client = tls_files().client_context().wrap_bio(ssl.MemoryBIO(), hello,
                                                      server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            client.do_handshake()  # the ClientHello is written, the answer awaited
        halfway.sendall(hello.read()[:40])
        alice = register_irc(tls_address(server), "alice")
        bob = register_irc(tls_address(server), "bob")
        alice.expect("bob!")
        bob.send("PRIVMSG #lobby :not held up")
        assert alice.expect("PRIVMSG").endswith(":not held up")
    for stalled in (silent, halfway):  # closed at shutdown
        assert stalled.recv(100) == b""
        stalled.close()


def test_a_handshake_that_never_finishes_is_dropped_at_its_deadline(backend, monkeypatch,
                                                                    caplog):
    monkeypatch.setattr(selectloop, "HANDSHAKE_TIMEOUT", 0.3)
    monkeypatch.setattr(threads, "HANDSHAKE_TIMEOUT", 0.3)
    caplog.set_level(logging.INFO, logger="tcpchat")
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        silent = socket.create_connection(server.tls_address, timeout=TIMEOUT)
        assert silent.recv(100) == b""  # closed by the server, well before TIMEOUT
        assert wait_until(lambda: "TLS handshake with 127.0.0.1 timed out" in caplog.text)
        alice.send("PING :still here")
        assert alice.expect("PONG").endswith(":still here")
        silent.close()


def test_plaintext_on_the_tls_port_is_told_where_to_go(backend):
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        lost = LineSocket(server.tls_address)  # plaintext, as nc or a client without TLS
        lost.send("NICK lost", "USER lost 0 * :Lost")
        assert lost.read_all() == [
            f"ERROR :Closing link: this port speaks TLS; plaintext is on port "
            f"{server.address[1]}"]
        alice.send("PING :unharmed")
        assert alice.expect("PONG").endswith(":unharmed")
    with serve_tls(backend, tcp=False) as server:
        lost = LineSocket(server.tls_address)
        lost.send("hello?")
        assert lost.read_all() == ["ERROR :Closing link: this port speaks TLS"]


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x00\x05hello",                  # a handshake record that is not one
    b"\x16" + bytes(range(256)) * 4,                # the right first byte, then noise
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",           # a browser
])
def test_garbage_on_the_tls_port_is_dropped_without_harm(backend, garbage):
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        intruder = socket.create_connection(server.tls_address, timeout=TIMEOUT)
        intruder.sendall(garbage)
        received = b""
        while chunk := intruder.recv(65536):  # until the server closes
            received += chunk
        assert b"PRIVMSG" not in received and b"Welcome" not in received
        intruder.close()
        alice.send("PING :unharmed")
        assert alice.expect("PONG").endswith(":unharmed")


def test_a_client_that_does_not_trust_the_certificate_leaves_a_reason_in_the_log(
        backend, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tcpchat")
    other_ca = TlsFiles(str(tmp_path))
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connect(server.tls_address, context=other_ca.client_context())
        assert wait_until(lambda: "TLS handshake with 127.0.0.1 failed: TLS error: "
                                  "TLSV1_ALERT_UNKNOWN_CA" in caplog.text)
        alice.send("PING :unharmed")
        assert alice.expect("PONG").endswith(":unharmed")


# -- Records ---------------------------------------------------------------------------------

def test_many_messages_in_one_record(backend):
    with serve_tls(backend, flood=None) as server:
        alice = register_irc(tls_address(server), "alice")
        bob = RecordPeer(server.tls_address)
        bob.register("bob", alice)
        data = bob.records(*(f"PRIVMSG #lobby :{number}" for number in range(300)))
        assert len(record_lengths(data)) == 1  # 300 lines, one record
        bob.sock.sendall(data)
        for number in range(300):
            assert alice.expect("PRIVMSG").endswith(f" :{number}")


def test_one_message_across_many_segments_and_records(backend):
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        bob = RecordPeer(server.tls_address)
        bob.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bob.register("bob", alice)
        line = "PRIVMSG #lobby :по записи\r\n".encode()
        for start in range(0, len(line), 5):  # a record per 5 bytes, a UTF-8 letter split
            data = bob.encrypt(line[start:start + 5])
            for byte in range(0, len(data), 7):  # and each record across segments
                bob.sock.sendall(data[byte:byte + 7])
        assert alice.expect("PRIVMSG").endswith(":по записи")


@pytest.mark.parametrize("how", ["closes", "resets"])
def test_a_peer_that_vanishes_mid_record(backend, how):
    """What a cut record held is lost, as the end of a cut TCP line is; the peer leaves."""
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        bob = RecordPeer(server.tls_address)
        bob.sock.sendall(bob.records("NICK bob", "USER bob 0 * :Bob", "PRIVMSG #lobby :whole"))
        assert alice.expect("PRIVMSG").endswith(":whole")
        data = bob.records("PRIVMSG #lobby :cut off")
        bob.sock.sendall(data[:len(data) // 2])
        if how == "resets":
            bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        bob.sock.close()
        quit_line = alice.expect(lambda line: "QUIT" in line or "PRIVMSG" in line)
        assert quit_line.startswith(":bob!bob@127.0.0.1 QUIT :")
        alice.send("PING :after")
        assert alice.expect("PONG").endswith(":after")  # and no "cut off" before it


def test_a_broken_record_after_the_handshake_costs_only_that_user(backend):
    with serve_tls(backend) as server:
        alice = register_irc(tls_address(server), "alice")
        bob = RecordPeer(server.tls_address)
        bob.register("bob", alice)
        data = bytearray(bob.records("PRIVMSG #lobby :tampered"))
        data[-3] ^= 0xFF  # the record's authentication tag no longer matches
        bob.sock.sendall(data)
        assert alice.expect("QUIT").startswith(":bob!bob@127.0.0.1 QUIT :TLS error: ")
        alice.send("PING :after")
        assert alice.expect("PONG").endswith(":after")


# -- Strict transport security ----------------------------------------------------------------

def test_sts_tells_plaintext_clients_where_tls_is_and_tls_clients_for_how_long(backend):
    with serve_tls(backend, sts_duration=300, sts_port=6697) as server:
        plain = LineSocket(server.address)
        plain.send("CAP LS 302")
        assert read_cap_ls(plain).endswith("=before-connect sts=port=6697")
        plain.send("CAP LS")  # a client that cannot read values is not told
        assert "sts" not in read_cap_ls(plain)
        plain.send("CAP REQ :sts")  # listed, never requested
        assert plain.expect(" NAK ").endswith(" NAK :sts")
        secure = LineSocket(tls_address(server))
        secure.send("CAP LS 302")
        assert read_cap_ls(secure).endswith("=before-connect sts=duration=300")


def test_no_sts_unless_the_server_is_told_to(backend):
    with serve_tls(backend) as server:
        plain = LineSocket(server.address)
        plain.send("CAP LS 302")
        assert "sts" not in read_cap_ls(plain)


# -- Certificates ----------------------------------------------------------------------------

def test_a_reloaded_certificate_serves_new_connections(backend, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tcpchat")
    first, second = tls_files(), TlsFiles(str(tmp_path))
    cert_file, key_file = tmp_path / "served-cert.pem", tmp_path / "served-key.pem"
    shutil.copy(first.cert_file, cert_file)
    shutil.copy(first.key_file, key_file)
    from tcpchat.transports.driver import listen
    from tcpchat.transports.tls import Certificates

    def start(core):
        certificates = Certificates(str(cert_file), str(key_file))
        if backend == "select":
            return selectloop.SelectLoop(core, None, tls_listener=listen("127.0.0.1", 0),
                                         certificates=certificates)
        return threads.ThreadsServer(core, None, listen("127.0.0.1", 0), certificates)

    with running_server(start=start) as server:
        alice = register_irc(tls_address(server), "alice")
        shutil.copy(second.cert_file, cert_file)
        shutil.copy(second.key_file, key_file)
        server.request_reload()
        assert wait_until(lambda: "certificate reloaded" in caplog.text)

        bob = tls_connect(server.tls_address, context=second.client_context())
        bob.sendall(b"NICK bob\r\nUSER bob 0 * :Bob\r\nPRIVMSG #lobby :new certificate\r\n")
        assert alice.expect("PRIVMSG").endswith(":new certificate")  # alice keeps hers
        with pytest.raises(ssl.SSLCertVerificationError):
            LineSocket(tls_address(server))  # trusts the first CA only

        (tmp_path / "served-key.pem").write_text("not a key")
        server.request_reload()
        assert wait_until(lambda: "certificate not reloaded, the one in use stays: --tls-key"
                          in caplog.text)
        tls_connect(server.tls_address, context=second.client_context()).close()
        bob.close()


def test_reload_without_tls_says_there_is_nothing_to_reload(caplog):
    caplog.set_level(logging.INFO, logger="tcpchat")
    with running_server() as server:
        server.request_reload()
        assert wait_until(lambda: "nothing to reload" in caplog.text)
        register_irc(server.address, "alice").send("QUIT")


# -- The command line ------------------------------------------------------------------------

def test_unusable_certificate_files_stop_the_server_with_one_line(tmp_path):
    files = tls_files()
    other = TlsFiles(str(tmp_path))
    (tmp_path / "empty.pem").write_text("")
    for arguments, message in [
            (["--tls-cert", str(tmp_path / "missing.pem")],
             f"--tls-cert {tmp_path / 'missing.pem'}: No such file or directory"),
            (["--tls-cert", str(tmp_path / "empty.pem"), "--tls-key", files.key_file],
             f"--tls-cert {tmp_path / 'empty.pem'}: there is no PEM certificate in it"),
            (["--tls-cert", files.cert_file],  # the key is not in the certificate's file
             f"--tls-key {files.cert_file}: there is no PEM private key in it"),
            (["--tls-cert", files.cert_file, "--tls-key", other.key_file],
             f"--tls-key {other.key_file}: not the key of the certificate in --tls-cert "
             f"{files.cert_file}")]:
        result = run_server(*arguments)
        assert result.returncode == 2
        assert result.stderr == f"tcpchat-server: {message}\n"  # before anything listens


@pytest.mark.parametrize("arguments, message", [
    (["--tls-key", "key.pem"], "--tls-key needs --tls-cert"),
    (["--no-plaintext"], "--no-plaintext needs --tls-cert"),
    (["--sts-duration", "60"], "--sts-duration needs --tls-cert"),
    (["--sts-duration", "-1", "--tls-cert", "cert.pem"], "--sts-duration cannot be negative"),
    (["--no-plaintext", "--udp", "--tls-cert", "cert.pem"],
     "--no-plaintext serves TLS alone: drop --udp"),
])
def test_tls_options_that_do_not_go_together(arguments, message):
    result = run_server(*arguments)
    assert result.returncode == 2 and result.stderr.endswith(f"error: {message}\n")


def start_logging_server(log_path, *arguments):
    """The server with *arguments*, its log in *log_path*, once it listens: (the process,
    {"TCP": port, "TLS": port} for those it listens on)."""
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tcpchat.server", "--port", "0", "--tls-port", "0",
             "--tls-cert", tls_files().cert_file, "--tls-key", tls_files().key_file,
             *arguments], stderr=log_file, cwd=ROOT)
    if not wait_until(lambda: "listening on" in log_path.read_text()):
        process.kill()
        raise AssertionError(f"the server did not start: {log_path.read_text()}")
    ports = re.findall(r"port (\d+) \((TCP|TLS)\)", log_path.read_text())
    return process, {kind: int(port) for port, kind in ports}


@pytest.mark.parametrize("backend", BACKENDS)
def test_tls_alone_from_the_command_line_and_a_reload_on_sighup(backend, tmp_path):
    log_path = tmp_path / "server.log"
    process, ports = start_logging_server(log_path, "--backend", backend, "--no-plaintext")
    try:
        assert list(ports) == ["TLS"]  # nothing listens in plaintext
        address = TlsAddress(("127.0.0.1", ports["TLS"]))
        alice = register_irc(address, "alice")
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "certificate reloaded" in log_path.read_text())
        bob = register_irc(address, "bob")  # served on, with the certificate read again
        bob.send("PRIVMSG #lobby :after the reload")
        assert alice.expect("PRIVMSG").endswith(":after the reload")
    finally:
        process.terminate()
        process.wait(TIMEOUT)
    assert process.returncode == 0


def test_both_ports_from_the_command_line_and_sts_pointing_at_tls(tmp_path):
    process, ports = start_logging_server(tmp_path / "server.log", "--sts-duration", "86400")
    try:
        alice = register_irc(TlsAddress(("127.0.0.1", ports["TLS"])), "alice")
        bob = register_plain(("127.0.0.1", ports["TCP"]), "bob")
        bob.send("hello TLS")
        assert alice.expect("PRIVMSG").endswith(":hello TLS")
        carol = LineSocket(("127.0.0.1", ports["TCP"]))
        carol.send("CAP LS 302")
        assert read_cap_ls(carol).endswith(f" sts=port={ports['TLS']}")
    finally:
        process.terminate()
        process.wait(TIMEOUT)


# -- SASL EXTERNAL: a client certificate an account holds --------------------------------------

def client_certificate(name, folder):
    """A client certificate the run's CA issues for *name*, kept in *folder*: (its PEM, a
    client context that shows it and trusts the server's CA)."""
    issued = tls_files().ca.issue_cert(f"{name}@example.org")
    path = os.path.join(folder, f"{name}.pem")
    issued.private_key_and_cert_chain_pem.write_to_path(path)
    context = tls_files().client_context()
    context.load_cert_chain(path)
    return issued.cert_chain_pems[0].bytes().decode(), context


def test_a_client_certificate_logs_in_with_sasl_external_and_an_unknown_one_is_refused(
        backend, tmp_path):
    pem, context = client_certificate("alice", tmp_path)
    _stranger, stranger_context = client_certificate("stranger", tmp_path)
    accounts = Accounts()
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    accounts.add(Account("alice", hash_password("x" * 8), certificates={fingerprint: pem}))
    with running_server(start=tls_backend(backend), accounts=accounts) as server:
        alice = LineSocket(tls_address(server), context=context)
        alice.send("CAP LS 302", "CAP REQ sasl", "NICK alice", "USER alice 0 * :alice",
                   "AUTHENTICATE EXTERNAL")
        assert "sasl=EXTERNAL,SCRAM-SHA-256,PLAIN" in read_cap_ls(alice)
        assert alice.expect("AUTHENTICATE") == "AUTHENTICATE +"
        alice.send("AUTHENTICATE +")
        assert alice.expect(" 900 ").endswith(":You are now logged in as alice")
        alice.expect(" 903 ")
        alice.send("CAP END")
        alice.expect(" 001 ")
        plain = LineSocket(tls_address(server))  # no certificate: TLS as before
        plain.send("CAP REQ sasl", "NICK bob", "USER bob 0 * :bob", "AUTHENTICATE EXTERNAL",
                   "AUTHENTICATE +")
        assert plain.expect(" 904 ").endswith(
            ":No account holds the certificate this connection showed")
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            stranger = LineSocket(tls_address(server), context=stranger_context)
            stranger.send("NICK mallory", "USER m 0 * :m")
            stranger.expect(" 001 ")  # refused at the handshake: no line comes
