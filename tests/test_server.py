"""What only the select backend does (its selector watch, descriptor exhaustion) and the
server's command line, over real loopback sockets, each wait bounded in time.  What every
driver must do is in test_scenarios.py."""

import logging
import os
import re
import selectors
import signal
import socket
import subprocess
import sys

import pytest

from helpers import (TIMEOUT, DatagramPeer, LineSocket, register_irc, register_plain,
                     running_server, start_server_process, wait_until)



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
    from tcpchat.transports.driver import listen
    try:
        sock = listen("::", 0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::: {exc}")
    port = sock.getsockname()[1]
    sock.settimeout(TIMEOUT)
    clients = []
    try:
        # IPv4 must get in: that is what listening on :: with IPV6_V6ONLY off is for.
        clients.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        accepted, peer = sock.accept()
        accepted.close()
        assert peer[0] == "::ffff:127.0.0.1"
        try:
            clients.append(socket.create_connection(("::1", port), timeout=TIMEOUT))
        except OSError:
            return  # no IPv6 loopback here: the IPv4 half is still shown
        accepted, peer = sock.accept()
        accepted.close()
        assert peer[0] == "::1"
    finally:
        for client in clients:
            client.close()
        sock.close()


# -- The command line --------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["select", "threads"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_says_goodbye_to_everyone_and_exits_zero(signum, backend):
    process, address = start_server_process("--backend", backend)
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


def test_out_of_descriptors_the_server_says_it_is_full_and_serves_on(tmp_path):
    """EMFILE from accept(): the server spends its spare descriptor on telling the waiting
    connection it is full, closes it, and keeps serving who is connected; once descriptors
    are free again, newcomers get in."""
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
        first_lines = [peer.read_line() for peer in crowd]
        served = [peer for peer, line in zip(crowd, first_lines) if "Welcome" in line]
        refused = [line for line in first_lines if "Welcome" not in line]
        assert served and refused
        assert set(refused) == {"ERROR :Closing link: Server full"}
        assert "out of descriptors" in log_path.read_text()
        alice.send("PING :alive")
        assert alice.expect("PONG").endswith(":alive")
        for peer in served:
            peer.close()
        late = register_irc(address, "late")
        late.send("PING :in")
        assert late.expect("PONG").endswith(":in")
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def _many_descriptors():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))


def test_select_selector_refuses_descriptors_it_cannot_watch_and_serves_on(tmp_path):
    """select() takes descriptors below 1024: a connection past that is told the server is
    full and closed; the server lives on for everyone it serves."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2200:
        pytest.skip(f"needs 2200 descriptors, the system allows {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2200), hard))
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            # No limit frees a descriptor meanwhile: a crowd past --max-unregistered would
            # have its oldest let go, and the last one would get a descriptor below 1024.
            [sys.executable, "-m", "tcpchat.server", "--port", "0", "--selector", "select",
             "--max-clients", "0", "--max-per-ip", "0", "--max-unregistered", "2000"],
            stderr=log_file, cwd=os.path.dirname(os.path.dirname(__file__)),
            preexec_fn=_many_descriptors)
    crowd = []
    try:
        assert wait_until(lambda: "listening on" in log_path.read_text())
        port = int(re.search(r"port (\d+)", log_path.read_text()).group(1))
        address = ("127.0.0.1", port)
        alice = register_irc(address, "alice")
        for _ in range(1030):  # past descriptor 1023 in the server
            crowd.append(LineSocket(address))
        assert crowd[-1].read_all() == ["ERROR :Closing link: Server full"]
        alice.send("PING :alive")
        assert alice.expect("PONG").endswith(":alive")
        assert process.poll() is None
    finally:
        for peer in crowd:
            peer.close()
        process.terminate()
        process.wait(TIMEOUT)


def test_help_explains_every_option():
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", "--help"],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0
    for option in ("--host", "--port", "--name", "--backend", "--selector", "--channel",
                   "--no-autojoin", "--password", "--motd", "--log-level", "--udp",
                   "--udp-only", "--udp-max-unregistered"):
        assert option in result.stdout


@pytest.mark.parametrize("arguments, complaint", [
    (["--channel", "lobby"], "--channel"),
    (["--name", "bad name"], "--name"),
    (["--motd", "/nonexistent/motd"], "--motd"),
    (["--udp", "--backend", "threads"], "--udp is served by the select backend"),
    (["--udp", "--udp-max-unregistered", "0"], "--udp-max-unregistered"),
    (["--crowd", "-1"], "--crowd cannot be negative"),
])
def test_bad_options_are_refused_clearly(arguments, complaint):
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", *arguments],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 2
    assert complaint in result.stderr


@pytest.mark.parametrize("option", ["--udp", "--udp-only"])
def test_udp_from_the_command_line_and_its_summary_at_shutdown(option):
    process, address = start_server_process(option)
    try:
        bob = DatagramPeer(address)
        bob.send("bob")
        bob.expect("Welcome, bob!")
        if option == "--udp":
            alice = register_irc(address, "alice", channel_joined=False)  # TCP, same port
            assert "bob" in alice.expect(" 353 ")
            bob.expect("alice joined")
        else:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(address, timeout=TIMEOUT)
        process.send_signal(signal.SIGTERM)
        assert bob.expect("Closing link") == "*** Closing link: Server shutting down"
        assert process.wait(TIMEOUT) == 0
        assert "UDP: 1 datagrams received" in process.stderr.read()
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("kind, option, options, named", [
    (socket.SOCK_STREAM, "--port", [], "TCP"),
    (socket.SOCK_DGRAM, "--port", ["--udp-only"], "UDP"),
    (socket.SOCK_STREAM, "--web", ["--port", "0"], "web"),
])
def test_port_in_use_is_a_one_line_error_naming_it(kind, option, options, named):
    holder = socket.socket(socket.AF_INET, kind)
    holder.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        holder.listen()
    busy = holder.getsockname()[1]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tcpchat.server", *options, option, str(busy)],
            capture_output=True, text=True, timeout=TIMEOUT,
            cwd=os.path.dirname(os.path.dirname(__file__)))
    finally:
        holder.close()
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1 port {busy} ({named}): " in result.stderr
    assert " or " not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("arguments, complaint", [
    (["--port", "99999"], "argument --port: 99999 is not a port: ports are 0 to 65535"),
    (["--port", "-5"], "argument --port: -5 is not a port: ports are 0 to 65535"),
    (["--udp-only", "--port", "92546"], "argument --port: 92546 is not a port"),
    (["--tls-port", "65536"], "argument --tls-port: 65536 is not a port"),
    (["--web", "91616"], "argument --web: 91616 is not a port"),
    (["--port", "http"], "argument --port: 'http' is not a port number"),
])
def test_a_port_out_of_range_is_a_usage_error(arguments, complaint):
    result = subprocess.run([sys.executable, "-m", "tcpchat.server", *arguments],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 2 and complaint in result.stderr


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


@pytest.mark.parametrize("argv, clients, warned", [
    (["--backend", "threads"], 1024, False),                        # the default: the ceiling
    (["--backend", "threads", "--max-clients", "0"], 1024, True),   # "no limit": the ceiling
    (["--backend", "threads", "--max-clients", "5000"], 1024, True),
    (["--backend", "threads", "--max-clients", "300"], 300, False),
    (["--max-clients", "5000"], 5000, False),                       # the select backend
])
def test_the_threads_backend_has_a_ceiling_on_connections(argv, clients, warned, caplog):
    from tcpchat.server import admission_policy, build_parser
    parser = build_parser()
    with caplog.at_level(logging.WARNING, logger="tcpchat"):
        policy = admission_policy(parser.parse_args(argv), parser)
    assert policy.max_clients == clients
    assert ("serves 1024 connections at most" in caplog.text) == warned


def test_the_crowd_of_a_room_is_a_setting_of_the_command_line():
    from tcpchat.server import build_parser, config_from
    parser = build_parser()
    assert config_from(parser.parse_args(["--crowd", "7"]), parser).crowd == 7
    assert config_from(parser.parse_args([]), parser).crowd == 50
