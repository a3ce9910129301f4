"""The select backend over real loopback sockets, each wait bounded in time."""

import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from helpers import (TIMEOUT, LineSocket, register_irc, register_plain, running_server,
                     wait_until)
from tcpchat.backends.selectloop import SELECTORS

AVAILABLE_SELECTORS = [name for name, factory in SELECTORS.items() if factory is not None]


@pytest.mark.parametrize("selector", AVAILABLE_SELECTORS)
def test_irc_and_plain_users_chat_on_every_selector(selector):
    with running_server(selector) as server:
        alice = register_irc(server.address, "alice")
        bob = register_plain(server.address, "bob")
        alice.expect("JOIN #lobby")
        bob.send("hi from plain")
        assert alice.expect("PRIVMSG") == ":bob!bob@127.0.0.1 PRIVMSG #lobby :hi from plain"
        alice.send("PRIVMSG #lobby :hi from irc")
        assert bob.expect("alice") == "alice: hi from irc"
        alice.send("QUIT :done")
        assert alice.expect("ERROR") == "ERROR :Closing link: Quit: done"
        assert bob.expect("left") == "* alice left (Quit: done)"
        bob.send("/quit")
        bob.expect("Closing link")
        assert bob.read_all() == []  # and then the server closes the connection


def test_many_clients_each_get_every_other_message():
    count = 40
    with running_server() as server:
        peers = [register_irc(server.address, f"user{i}") for i in range(count)]
        for peer in peers[:-1]:  # wait until everyone has seen the last one join
            peer.expect(f"user{count - 1}!")
        for i, peer in enumerate(peers):
            peer.send(f"PRIVMSG #lobby :from {i}")
        for i, peer in enumerate(peers):
            texts = {peer.expect("PRIVMSG").rsplit(":", 1)[1] for _ in range(count - 1)}
            assert texts == {f"from {j}" for j in range(count) if j != i}


def test_input_one_byte_at_a_time_and_utf8_split_between_segments():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        slow = LineSocket(server.address)
        slow.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in "NICK slow\r\nUSER s 0 * :S\r\nPRIVMSG #lobby :по байту\r\n".encode():
            slow.send_bytes(bytes([byte]))
        assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :по байту")


def test_thousands_of_lines_in_one_segment():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send_bytes(b"".join(b"PRIVMSG #lobby :%d\r\n" % i for i in range(3000)))
        for i in range(3000):
            assert alice.expect("PRIVMSG").endswith(f" :{i}")


def test_half_closed_client_still_gets_its_replies():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        bob = LineSocket(server.address)
        bob.send("bob", "hello then goodbye")
        bob.sock.shutdown(socket.SHUT_WR)
        lines = bob.read_all()
        assert lines[1].startswith("*** Welcome, bob!")
        assert lines[-1] == "*** Closing link: Connection closed"
        assert alice.expect("PRIVMSG").endswith(":hello then goodbye")
        assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Connection closed"


def test_line_cut_by_a_disconnect_is_dropped():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send_bytes(b"PRIVMSG #lobby :whole\r\nPRIVMSG #lobby :cut o")
        bob.close()
        assert alice.expect("PRIVMSG").endswith(":whole")
        assert alice.expect("QUIT").endswith(":Connection closed")


def test_client_that_resets_mid_write_does_not_disturb_the_others():
    with running_server(sendq=4 << 20) as server:
        alice = register_irc(server.address, "alice")
        victim = register_irc(server.address, "victim")
        flooder = register_irc(server.address, "flooder")
        # The victim stops reading, so the server has output pending for it...
        victim.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooder.send_bytes(b"".join(b"PRIVMSG #lobby :%s\r\n" % (b"z" * 400)
                                    for _ in range(2000)))
        for _ in range(2000):
            alice.expect("PRIVMSG")
        # ...and then resets the connection (RST instead of FIN).
        victim.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        victim.close()
        assert "victim!" in alice.expect("QUIT")
        flooder.send("PRIVMSG #lobby :still alive")
        assert alice.expect("PRIVMSG").endswith(":still alive")


def test_a_reader_that_never_reads_stalls_nobody_and_is_cut_at_the_send_queue():
    with running_server(sendq=64 << 10) as server:
        alice = register_irc(server.address, "alice")
        sleeper = socket.socket()
        # A small receive window, set before connecting, keeps the kernel from buffering
        # megabytes on the sleeper's behalf.
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.settimeout(TIMEOUT)
        sleeper.connect(server.address)
        sleeper.sendall(b"NICK sleeper\r\nUSER s 0 * :S\r\n")
        talker = register_irc(server.address, "talker")
        alice.expect("talker!")
        line = b"PRIVMSG #lobby :" + b"w" * 400 + b"\r\n"
        # More than the server's send buffer (up to 4 MiB) and the 64 KiB send queue hold.
        quit_line = None
        for _ in range(150):
            talker.send_bytes(line * 100)
            for _ in range(100):
                received = alice.expect(lambda line: "PRIVMSG" in line or "QUIT" in line)
                if "QUIT" in received:
                    quit_line = received
                    alice.expect("PRIVMSG")
            if quit_line:
                break
        sleeper.close()
        assert quit_line == ":sleeper!s@127.0.0.1 QUIT :SendQ exceeded"


def test_a_bug_while_serving_one_client_costs_only_that_client(monkeypatch, caplog):
    import tcpchat.irc

    def broken(chat, client, message):
        raise RuntimeError("a bug")

    monkeypatch.setitem(tcpchat.irc.COMMANDS, "WHOIS",
                        tcpchat.irc.COMMANDS["WHOIS"]._replace(handler=broken))
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send("WHOIS alice")
        assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Internal server error"
        assert bob.read_all() == []  # bob's connection is closed
        carol = register_irc(server.address, "carol")
        carol.send("PRIVMSG #lobby :the server lives on")
        assert alice.expect("PRIVMSG").endswith(":the server lives on")
    assert "internal error while serving" in caplog.text


def test_write_interest_only_while_output_is_pending():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send("PRIVMSG #lobby :x")
        alice.expect("PRIVMSG")
        transports = list(server._transports)
        assert len(transports) == 2
        assert wait_until(lambda: all(t.events == selectors.EVENT_READ
                                      and not t.conn.pending for t in transports))


def test_ipv6_any_address_takes_ipv4_too():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this system")
    from tcpchat.backends.driver import listen
    try:
        sock = listen("::", 0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::: {exc}")
    port = sock.getsockname()[1]
    try:
        for address in ("::1", "127.0.0.1"):
            try:
                client = socket.create_connection((address, port), timeout=TIMEOUT)
            except OSError as exc:
                pytest.skip(f"no {address}: {exc}")
            client.close()
    finally:
        sock.close()


# -- The command line --------------------------------------------------------------------

def start_server_process(*arguments):
    process = subprocess.Popen(
        [sys.executable, "-m", "tcpchat.server", "--port", "0", *arguments],
        stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    port = None
    deadline = time.monotonic() + TIMEOUT
    log = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        log.append(line)
        found = re.search(r"listening on \S+ port (\d+)", line)
        if found:
            port = int(found.group(1))
            break
    if port is None:
        process.kill()
        raise AssertionError(f"the server did not start: {log}")
    return process, ("127.0.0.1", port)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_says_goodbye_to_everyone_and_exits_zero(signum):
    process, address = start_server_process()
    try:
        alice = register_irc(address, "alice")
        bob = register_plain(address, "bob")
        alice.expect("JOIN")
        process.send_signal(signum)
        assert alice.read_all()[-1] == "ERROR :Closing link: Server shutting down"
        assert bob.read_all()[-1] == "*** Closing link: Server shutting down"
        assert process.wait(TIMEOUT) == 0
        log = process.stderr.read()
        assert "alice registered" in log and "shutting down" in log
    finally:
        process.kill()
        process.wait()


def _few_descriptors():
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))


def test_out_of_descriptors_pauses_accepting_and_serves_on(tmp_path):
    """EMFILE from accept(): the server stops watching the listener for a second instead of
    spinning on it, keeps serving who is connected, and accepts the waiting ones later."""
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tcpchat.server", "--port", "0"], stderr=log_file,
            cwd=os.path.dirname(os.path.dirname(__file__)), preexec_fn=_few_descriptors)
    try:
        assert wait_until(lambda: "listening on" in log_path.read_text())
        port = int(re.search(r"port (\d+)", log_path.read_text()).group(1))
        address = ("127.0.0.1", port)
        alice = register_irc(address, "alice")
        crowd = [LineSocket(address) for _ in range(30)]  # far more than 24 descriptors allow
        assert wait_until(lambda: "cannot accept connections" in log_path.read_text())
        alice.send("PING :alive")
        assert alice.expect("PONG").endswith(":alive")
        for peer in crowd[:15]:
            peer.close()
        # The listener is watched again after a second, and the last one waiting gets in.
        assert crowd[-1].expect("NOTICE").startswith("NOTICE * :*** Welcome")
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def test_help_explains_every_option():
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", "--help"],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0
    for option in ("--host", "--port", "--name", "--backend", "--selector", "--channel",
                   "--no-autojoin", "--password", "--motd", "--log-level"):
        assert option in result.stdout


@pytest.mark.parametrize("arguments, complaint", [
    (["--channel", "lobby"], "--channel"),
    (["--name", "bad name"], "--name"),
    (["--motd", "/nonexistent/motd"], "--motd"),
])
def test_bad_options_are_refused_clearly(arguments, complaint):
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", *arguments],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 2
    assert complaint in result.stderr


def test_port_in_use_is_a_one_line_error():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tcpchat.server", "--port", str(holder.getsockname()[1])],
            capture_output=True, text=True, timeout=TIMEOUT,
            cwd=os.path.dirname(os.path.dirname(__file__)))
    finally:
        holder.close()
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_motd_file_and_password_from_the_command_line(tmp_path):
    motd = tmp_path / "motd.txt"
    motd.write_text("Добро пожаловать!\n", encoding="utf-8")
    process, address = start_server_process("--motd", str(motd), "--password", "sesame",
                                            "--channel", "#main")
    try:
        peer = LineSocket(address)
        peer.send("PASS sesame", "NICK alice", "USER a 0 * :A")
        assert peer.expect(" 372 ").endswith(":- Добро пожаловать!")
        assert peer.expect("JOIN").endswith("JOIN #main")
    finally:
        process.terminate()
        assert process.wait(TIMEOUT) == 0
