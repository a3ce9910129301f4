"""The scenario suite: what every driver must do for its users, over real loopback sockets.

Each test runs once against every driver in ``helpers.DRIVERS``: the select backend with each
selector the system has, the threads backend, and both of them serving TLS alone.  A new
transport's driver joins DRIVERS and passes all of it; what only one driver does (its selector
watch, its command line) is tested in that driver's own file.  Every wait is bounded in time.
"""

import contextlib
import socket
import struct
import threading
from types import SimpleNamespace

import pytest

from tcpchat.commands import serverinfo
from tcpchat.store.credentials import hash_password
from tcpchat.transports.workers import WorkerThreads

from helpers import (CHEAP, DRIVERS, TIMEOUT, LineSocket, flood_until_quit,
                     install_pause_commands, register_irc, register_plain, running_server,
                     served_address)


@pytest.fixture(params=sorted(DRIVERS))
def serve(request):
    """``serve(**config)``: a context manager running this test's driver on a free port; what
    it yields has the ``address`` a client connects to (a TLS one for the TLS drivers)."""
    @contextlib.contextmanager
    def serve(**config):
        with running_server(request.param, **config) as server:
            yield SimpleNamespace(address=served_address(server))
    return serve


def test_irc_and_plain_users_chat(serve):
    with serve() as server:
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


def test_many_clients_each_get_every_other_message(serve):
    count = 40
    with serve() as server:
        peers = [register_irc(server.address, f"user{i}") for i in range(count)]
        for peer in peers[:-1]:  # wait until everyone has seen the last one join
            peer.expect(f"user{count - 1}!")
        for i, peer in enumerate(peers):
            peer.send(f"PRIVMSG #lobby :from {i}")
        for i, peer in enumerate(peers):
            texts = {peer.expect("PRIVMSG").rsplit(":", 1)[1] for _ in range(count - 1)}
            assert texts == {f"from {j}" for j in range(count) if j != i}


def test_input_one_byte_at_a_time_and_utf8_split_between_segments(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        slow = LineSocket(server.address)
        slow.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in "NICK slow\r\nUSER s 0 * :S\r\nPRIVMSG #lobby :по байту\r\n".encode():
            slow.send_bytes(bytes([byte]))
        assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :по байту")


def test_thousands_of_lines_in_one_segment(serve):
    with serve(flood=None) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send_bytes(b"".join(b"PRIVMSG #lobby :%d\r\n" % i for i in range(3000)))
        for i in range(3000):
            assert alice.expect("PRIVMSG").endswith(f" :{i}")


def test_half_closed_client_still_gets_its_replies(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        bob = LineSocket(server.address)
        bob.send("bob", "hello then goodbye")
        bob.shut_write()
        lines = bob.read_all()
        assert lines[1].startswith("*** Welcome, bob!")
        assert lines[-1] == "*** Closing link: Connection closed"
        assert alice.expect("PRIVMSG").endswith(":hello then goodbye")
        assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Connection closed"


def test_line_cut_by_a_disconnect_is_dropped(serve):
    with serve() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send_bytes(b"PRIVMSG #lobby :whole\r\nPRIVMSG #lobby :cut o")
        bob.close()
        assert alice.expect("PRIVMSG").endswith(":whole")
        assert alice.expect("QUIT").endswith(":Connection closed")


def test_client_that_resets_mid_write_does_not_disturb_the_others(serve):
    with serve(sendq=4 << 20, flood=None) as server:
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


def test_a_reader_that_never_reads_stalls_nobody_and_is_cut_at_the_send_queue(serve):
    with serve(sendq=64 << 10, flood=None) as server:
        alice = register_irc(server.address, "alice")
        # A small receive window keeps the kernel from buffering megabytes for the sleeper.
        sleeper = LineSocket(server.address, receive_buffer=4096)
        sleeper.send("NICK sleeper", "USER s 0 * :S")
        talker = register_irc(server.address, "talker")
        alice.expect("talker!")
        # More than the server's send buffer (up to 4 MiB) and the 64 KiB send queue hold.
        quit_line = flood_until_quit(talker, alice)
        sleeper.close()
        assert quit_line == ":sleeper!s@127.0.0.1 QUIT :SendQ exceeded"


def test_a_bug_while_serving_one_client_costs_only_that_client(serve, monkeypatch, caplog):
    import tcpchat.commands.irc

    def broken(chat, client, message):
        raise RuntimeError("a bug")

    monkeypatch.setitem(tcpchat.commands.irc.COMMANDS, "WHOIS",
                        tcpchat.commands.irc.COMMANDS["WHOIS"]._replace(handler=broken))
    with serve() as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        bob.send("WHOIS alice")
        assert alice.expect("QUIT") == ":bob!bob@127.0.0.1 QUIT :Internal server error"
        assert bob.read_all() == []  # bob's connection is closed
        carol = register_irc(server.address, "carol")
        carol.send("PRIVMSG #lobby :the server lives on")
        assert alice.expect("PRIVMSG").endswith(":the server lives on")
    assert "internal error while serving" in caplog.text


def test_a_paused_connection_is_not_read_until_it_resumes(serve, monkeypatch):
    """While paused (HUSH), what the peer sends stays in the kernel: read, it would pass the
    core's bound on held input and cost the peer its connection."""
    install_pause_commands(monkeypatch)
    with serve(flood=None) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        alice.expect("bob!")
        bob.send("HUSH", "PRIVMSG #lobby :held")
        bob.expect("reading paused")
        lines = 300
        bob.send_bytes(b"".join(b"PRIVMSG #lobby :%d %s\r\n" % (number, b"p" * 400)
                                for number in range(lines)))  # 125 KiB, twice the bound
        for turn in range(4):  # each a loop turn at least: bob's socket is readable in each
            alice.send(f"PING :turn {turn}")
            assert alice.expect(lambda line: "PONG" in line or "PRIVMSG" in line).endswith(
                f":turn {turn}")
        alice.send("UNHUSH bob")
        assert alice.expect("PRIVMSG").endswith(":held")
        for number in range(lines):
            assert alice.expect("PRIVMSG").endswith(f":{number} " + "p" * 400)


def test_timers_fire_a_connection_that_never_registers_is_closed(serve):
    with serve(registration_timeout=0.3) as server:
        alice = register_irc(server.address, "alice")
        idle = LineSocket(server.address)
        idle.send("NICK idle")  # and nothing more
        assert idle.read_all()[-1] == "ERROR :Closing link: Registration timed out"
        alice.send("PING :still served")
        assert alice.expect("PONG").endswith(":still served")


def test_a_password_check_runs_beside_the_chat(serve, monkeypatch):
    """OPER's check runs on a worker thread: while it is held up, others chat and the one who
    asked still receives; its next line is answered after the check."""
    release = threading.Event()
    check = serverinfo.check_password

    def held_check(password, encoded):
        assert release.wait(TIMEOUT)
        return check(password, encoded)

    monkeypatch.setattr(serverinfo, "check_password", held_check)
    opers = {"root": hash_password("hunter2", cost=CHEAP)}
    with serve(offload=WorkerThreads(), opers=opers) as server:
        alice = register_irc(server.address, "alice")
        bob = register_irc(server.address, "bob")
        alice.expect("JOIN #lobby")
        alice.send("OPER root hunter2", "PING :after")
        bob.send("PRIVMSG #lobby :meanwhile")
        assert alice.expect("PRIVMSG").endswith(":meanwhile")
        release.set()
        assert alice.expect(" 381 ").endswith(":You are now an IRC operator")
        assert alice.expect("PONG").endswith(":after")


def test_an_operator_keeps_order_and_everyone_sees_each_step(serve):
    """The moderation flow over real sockets: an operator bans, kicks, sets +m and voices a
    user; an IRC member and a plain member see every step, and the rules hold."""
    with serve() as server:
        op = register_irc(server.address, "op")
        talker = register_irc(server.address, "talker")
        rowdy = register_irc(server.address, "rowdy")
        watcher = register_plain(server.address, "watcher")
        for peer in (op, talker, rowdy):
            peer.expect("JOIN #lobby" if peer is rowdy else "watcher!")
        op.send("MODE #lobby +b rowdy!*@*")
        talker.expect("MODE #lobby +b rowdy!*@*")
        assert watcher.expect("banned") == "* op banned rowdy!*@* from #lobby"
        op.send("KICK #lobby rowdy :calm down")
        assert rowdy.expect("KICK") == ":op!op@127.0.0.1 KICK #lobby rowdy :calm down"
        assert watcher.expect("removed") == "* op removed rowdy from #lobby (calm down)"
        rowdy.send("JOIN #lobby")
        assert " 474 rowdy #lobby :" in rowdy.expect(" 474 ")
        op.send("MODE #lobby +m")
        assert watcher.expect("moderated").startswith("* op made #lobby moderated")
        talker.send("PRIVMSG #lobby :may I?")
        assert " 404 talker #lobby :" in talker.expect(" 404 ")
        op.send("MODE #lobby +v talker")
        assert watcher.expect("voice") == "* op gave talker a voice in #lobby"
        talker.send("PRIVMSG #lobby :thank you")
        assert watcher.expect("talker:") == "talker: thank you"
        assert op.expect("PRIVMSG") == ":talker!talker@127.0.0.1 PRIVMSG #lobby :thank you"
