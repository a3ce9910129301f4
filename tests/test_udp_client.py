"""The reference client over UDP (``--udp``): numbered datagrams, the gaps it finds and shows,
and whole conversations through a server's UDP side and through a relay that loses, reorders
and duplicates chosen datagrams.  Every wait is bounded in time."""

import selectors
import socket
import subprocess
import sys
import threading

from hypothesis import given
from hypothesis import strategies as st

from helpers import (ROOT, TIMEOUT, ClientProcess, conversation, register_irc, running_server,
                     udp_backend, wait_until)
from tcpchat.protocol.framing import pack_lines
from tcpchat.client.session import ClientSession, Ready, Show
from tcpchat.text.display import ERROR, MESSAGE
from tcpchat.protocol.sequence import DUPLICATE, LATE, LOST, SEQ_CAP, WINDOW, SequenceCheck


# -- The numbers, with no I/O ----------------------------------------------------------------

def test_what_each_number_says():
    check = SequenceCheck()
    assert [check.see(n) for n in (1, 2, 5, 4, 4, 6, 3, 9)] == [
        None, None, (LOST, 2), (LATE, 1), (DUPLICATE, 1), None, (LATE, 1), (LOST, 2)]
    assert (check.lost, check.late, check.duplicated) == (2, 2, 1)


@given(st.lists(st.integers(1, 60), max_size=200))
def test_the_counts_agree_with_what_arrived(arrivals):
    check = SequenceCheck()
    for number in arrivals:
        check.see(number)
    distinct = set(arrivals)
    highest = max(arrivals, default=0)
    assert check.lost == len(set(range(1, highest + 1)) - distinct)
    assert check.duplicated == len(arrivals) - len(distinct)
    # Late: a first arrival after a higher number had come.
    late, seen, top = 0, set(), 0
    for number in arrivals:
        if number not in seen and number < top:
            late += 1
        seen.add(number)
        top = max(top, number)
    assert check.late == late


def test_memory_is_bounded_however_large_the_gap():
    check = SequenceCheck()
    assert check.see(10_000_000) == (LOST, 9_999_999)
    assert len(check._missing) <= WINDOW
    assert check.see(10_000_000 - 5) == (LATE, 1)


def datagram(line):
    return line.encode() + b"\r\n"


def numbered_session():
    session = ClientSession("alice", "#lobby", numbered=True)
    session.start()
    assert session.take_outgoing().decode().split("\r\n")[:-1] == [
        f"CAP REQ {SEQ_CAP}", "NICK alice", "USER alice 0 * :alice", "CAP END"]
    events = []
    for n, line in enumerate([f":srv CAP * ACK {SEQ_CAP}", ":srv 001 alice :Welcome",
                              ":alice!a@h JOIN #lobby"], start=1):
        events += session.receive_datagram(datagram(f"@{SEQ_CAP}={n} {line}"))
    assert Ready() in events
    session.take_outgoing()
    return session


def test_the_session_shows_lost_late_and_duplicated_messages():
    session = numbered_session()

    def arrive(n, text):
        return session.receive_datagram(
            datagram(f"@{SEQ_CAP}={n} :bob!b@h PRIVMSG #lobby :{text}"))

    assert arrive(4, "four") == [Show(MESSAGE, "bob: four")]
    assert arrive(7, "seven") == [Show(ERROR, "[2 messages lost]"), Show(MESSAGE, "bob: seven")]
    assert arrive(6, "six") == [Show(ERROR, "[1 out of order]"), Show(MESSAGE, "bob: six")]
    assert arrive(6, "six") == [Show(ERROR, "[1 duplicate ignored]")]
    assert arrive(9, "nine") == [Show(ERROR, "[1 message lost]"), Show(MESSAGE, "bob: nine")]
    # Unnumbered lines (another server) are shown as they come.
    assert session.receive_datagram(b":bob!b@h PRIVMSG #lobby :plain") == [
        Show(MESSAGE, "bob: plain")]


def test_registration_can_be_sent_again_whole_and_keepalive_is_a_ping():
    session = ClientSession("alice", "#lobby", numbered=True)
    session.start()
    first = session.take_outgoing()
    session.start()  # queued twice before anything was sent: restart keeps one copy
    session.restart()
    assert session.take_outgoing() == first
    session.keepalive()
    assert session.take_outgoing() == b"PING keepalive\r\n"


def test_datagrams_hold_whole_lines_within_the_size():
    lines = b"".join(b"PRIVMSG #lobby :%s\r\n" % (b"x" * 100) for _ in range(30))
    datagrams = pack_lines(lines, 1200)
    assert b"".join(datagrams) == lines
    assert all(len(d) <= 1200 and d.endswith(b"\r\n") for d in datagrams)
    assert len(datagrams) == 3  # ten lines of 118 bytes in each
    assert pack_lines(b"a\r\n" + b"x" * 2000 + b"\r\nb\r\n", 1200) == [
        b"a\r\n", b"x" * 2000 + b"\r\n", b"b\r\n"]  # a line too long goes alone, whole
    assert pack_lines(b"", 1200) == []


# -- The client process ------------------------------------------------------------------------

def test_two_udp_clients_chat_both_ways():
    with running_server(start=udp_backend()) as server:
        conversation(server.address, alice_options=["--udp"], bob_options=["--udp"])


def test_a_udp_client_and_a_tcp_client_chat_both_ways():
    with running_server(start=udp_backend()) as server:
        conversation(server.address, alice_options=["--udp"])


def test_no_udp_server_is_a_one_line_error():
    with running_server() as server:  # TCP only: UDP datagrams to the port are refused
        result = subprocess.run(
            [sys.executable, "-m", "tcpchat.client", "127.0.0.1", "--port",
             str(server.address[1]), "--name", "x", "--udp"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr == ("tcpchat-client: disconnected: Connection refused (no UDP server "
                             "there: is it running with --udp?)\n")


def test_unanswered_registration_is_sent_again_then_the_client_gives_up():
    black_hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes all, answers nothing
    black_hole.bind(("127.0.0.1", 0))
    black_hole.settimeout(TIMEOUT)
    port = black_hole.getsockname()[1]
    # Shorter waits than the real ones (2 s, then 10 s in all), to keep the test short.
    script = ("import sys, tcpchat.client.terminal as c; c.RESEND_AFTER = 0.3; c.ANSWER_WAIT = 1.0; "
              f"sys.exit(c.main(['127.0.0.1', '--port', '{port}', '--name', 'x', '--udp']))")
    try:
        process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=ROOT)
        first = black_hole.recv(65536)
        assert black_hole.recv(65536) == first  # the whole registration, again
        assert b"NICK x\r\n" in first and first.endswith(b"CAP END\r\n")
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        black_hole.close()
    assert process.returncode == 1
    assert errors == ("tcpchat-client: disconnected: no answer over UDP: is the server "
                      "running with --udp?\n")


class LossyRelay:
    """Stands between one UDP client and the server, and does to the server's datagrams what a
    bad network might: drops those holding ``drop-me``, holds back one holding ``late`` until
    the next has gone, and sends those holding ``twice`` twice."""

    def __init__(self, server_address):
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(server_address[:2])
        self.address = self.front.getsockname()
        self._client = None
        self._held = None
        #: Every datagram the client sent, in order.
        self.from_client = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(TIMEOUT)
        self.front.close()
        self.back.close()

    def _run(self):
        with selectors.DefaultSelector() as selector:
            selector.register(self.front, selectors.EVENT_READ)
            selector.register(self.back, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    if key.fileobj is self.front:
                        data, self._client = self.front.recvfrom(65536)
                        self.from_client.append(data)
                        self.back.send(data)
                    else:
                        self._from_server(self.back.recv(65536))

    def _from_server(self, data):
        if b"drop-me" in data:
            return
        if b"late" in data:
            self._held = data
            return
        self.front.sendto(data, self._client)
        if self._held is not None:
            self.front.sendto(self._held, self._client)
            self._held = None
        if b"twice" in data:
            self.front.sendto(data, self._client)


def test_the_client_shows_what_the_network_lost_reordered_and_duplicated():
    stamp = r"^\d\d:\d\d "
    with running_server(start=udp_backend()) as server, LossyRelay(server.udp_address) as relay:
        client = ClientProcess(relay.address, "--name", "alice", "--udp")
        try:
            client.expect("You joined #lobby")
            bob = register_irc(server.address, "bob")
            client.expect("bob joined")
            for text in ("drop-me 1", "drop-me 2", "late", "after", "twice", "last"):
                # The server packs what a turn queues for one peer into one datagram: the
                # PONG says this message had a turn, so a datagram, of its own.
                bob.send(f"PRIVMSG #lobby :{text}", f"PING :{text[:4]}")
                bob.expect("PONG")
            client.expect(r"^! \[3 messages lost\]$")
            client.expect(stamp + "bob: after$")
            client.expect(r"^! \[1 out of order\]$")
            client.expect(stamp + "bob: late$")
            client.expect(stamp + "bob: twice$")
            client.expect(r"^! \[1 duplicate ignored\]$")
            client.expect(stamp + "bob: last$")
            assert not any("drop-me" in line for line in client.seen)
            client.send("exit")
            assert bob.expect("QUIT").endswith("QUIT :Quit")
            assert client.wait()[0] == 0
        finally:
            client.kill()


def test_a_quiet_client_sends_a_keepalive_ping():
    with running_server(start=udp_backend()) as server, LossyRelay(server.udp_address) as relay:
        # A shorter silence than the real one (30 s), to keep the test short.
        script = ("import sys, tcpchat.client.terminal as c; c.KEEPALIVE = 0.5; "
                  f"sys.exit(c.main(['127.0.0.1', '--port', '{relay.address[1]}', "
                  "'--name', 'quiet', '--udp']))")
        process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            assert wait_until(lambda: b"PING keepalive\r\n" in relay.from_client)
            process.stdin.close()  # Ctrl-D: QUIT, and the client exits
            assert process.wait(TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()
