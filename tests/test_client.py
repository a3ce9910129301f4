"""The reference client as a subprocess against a real server on loopback: through pipes, and
through a pseudo-terminal for the terminal path."""

import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

import pytest

from helpers import (ROOT, TIMEOUT, ClientProcess, LineSocket, conversation,
                     english_environment, register_irc, running_server, start_server_process,
                     wait_until)
from tcpchat.client.terminal import split_address
from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.credentials import hash_password


def test_two_clients_chat_both_ways():
    with running_server() as server:
        conversation(server.address)


def test_taken_name_is_asked_again():
    with running_server() as server:
        alice = register_irc(server.address, "alice")  # holds the name while we try it
        client = ClientProcess(server.address, "--name", "ALICE")
        try:
            client.expect(r"^! ALICE: Nickname is already in use$")
            client.expect(r"Type another name:")
            client.send("alice two")  # cannot be a name: asked once more, before sending it
            client.expect(r"^! 'alice two' cannot be a name: it holds a space\. Names use ")
            client.expect(r"Type another name:")
            client.send("alice2")
            client.expect(r"^\*\*\* In #lobby: @alice alice2$")
        finally:
            client.kill()
            alice.close()


@pytest.mark.parametrize("ending", ["exit", "выход", "/quit see you", None])
def test_leaving_exits_zero_and_the_others_see_it(ending):
    with running_server() as server:
        watcher = register_irc(server.address, "watcher")
        client = ClientProcess(server.address, "--name", "leaver")
        try:
            client.expect("You joined #lobby")
            if ending is None:
                client.close_input()  # Ctrl-D, or the end of a script
            else:
                client.send(ending)
            reason = "Quit: see you" if ending == "/quit see you" else "Quit"
            assert watcher.expect("QUIT") == f":leaver!leaver@127.0.0.1 QUIT :{reason}"
            status, errors = client.wait()
            assert status == 0 and errors == ""
        finally:
            client.kill()


def test_server_shutdown_is_shown_and_exits_nonzero():
    with running_server() as server:
        client = ClientProcess(server.address, "--name", "carol")
        client.expect("You joined #lobby")
        server.request_stop()
        try:
            client.expect(r"^\*\*\* Closing link: Server shutting down$")
            status, errors = client.wait()
            assert status == 1
            assert errors == "tcpchat-client: disconnected: Closing link: Server shutting down\n"
        finally:
            client.kill()


def test_server_vanishing_exits_nonzero_with_one_line():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    client = ClientProcess(listener.getsockname(), "--name", "dave")
    try:
        peer, _ = listener.accept()
        peer.settimeout(TIMEOUT)
        assert b"NICK dave" in peer.recv(4096)
        # Gone without a word: a reset instead of an orderly close.
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        status, errors = client.wait()
        assert status == 1
        assert errors.startswith("tcpchat-client: disconnected: ")
        assert errors.count("\n") == 1 and "Traceback" not in errors
    finally:
        client.kill()
        listener.close()


def test_nothing_listening_is_a_one_line_error():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tcpchat.client", "127.0.0.1", "--port",
             str(holder.getsockname()[1]), "--name", "x"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    finally:
        holder.close()
    assert result.returncode == 1
    assert result.stderr.startswith("tcpchat-client: cannot connect to 127.0.0.1 port ")
    assert result.stderr.count("\n") == 1


def test_no_name_in_a_pipe_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "tcpchat.client", "127.0.0.1"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2 and "--name" in result.stderr


@pytest.mark.parametrize("name", ["two words", ":x", "a\x01b"])
def test_a_name_that_cannot_be_one_is_a_one_line_usage_error(name):
    result = subprocess.run([sys.executable, "-m", "tcpchat.client", "127.0.0.1", "--name", name],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.startswith("tcpchat-client: --name: ")
    assert "cannot be a name" in result.stderr and "Names use letters" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["91636", "0", "-1"])
def test_a_port_out_of_range_is_a_usage_error(port):
    result = subprocess.run([sys.executable, "-m", "tcpchat.client", "127.0.0.1", "--port",
                             port, "--name", "x"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2
    assert f"argument --port: {port} is not a port: ports are 1 to 65535" in result.stderr


@pytest.mark.parametrize("crowd, said", [("-1", "--crowd is a number of people: 0 or more"),
                                         ("many", "argument --crowd: invalid int value")])
def test_a_crowd_that_is_no_count_is_a_usage_error(crowd, said):
    result = subprocess.run([sys.executable, "-m", "tcpchat.client", "127.0.0.1", "--crowd",
                             crowd, "--name", "x"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2 and said in result.stderr


def test_a_server_with_a_password(tmp_path):
    """--password PASSWORD, or --password alone to be asked (from the pipe here); without it,
    the client says what to do (issue 30: it could not join such a server)."""
    with running_server(password="classpw") as server:
        alice = LineSocket(server.address)
        alice.send("PASS classpw", "NICK alice", "USER alice 0 * :alice")
        alice.expect(" 366 alice ")
        given = ClientProcess(server.address, "--name", "bob", "--password", "classpw")
        asked = ClientProcess(server.address, "--name", "cy", "--password")
        refused = ClientProcess(server.address, "--name", "dan")
        try:
            asked.send("classpw")
            joined = {alice.expect("JOIN").split("!")[0] for _ in range(2)}
            assert joined == {":bob", ":cy"}
            refused.expect(r"^! This server wants a password: start the client with "
                           r"--password\.$")
            assert refused.wait()[0] == 1
        finally:
            for client in (given, asked, refused):
                client.kill()
            alice.close()


def test_the_client_logs_in_with_sasl():
    """--sasl ACCOUNT, its password from the pipe: the client is logged in (others see the
    account tag), and a wrong password is said in one line while the chat goes on."""
    accounts = Accounts()
    accounts.add(Account("alice", hash_password("wonderland")))
    with running_server(accounts=accounts) as server:
        watcher = LineSocket(server.address)
        watcher.send("CAP REQ :account-tag", "NICK watcher", "USER w 0 * :w", "CAP END")
        watcher.expect(" 366 ")
        alice = ClientProcess(server.address, "--name", "alice", "--sasl", "alice")
        wrong = ClientProcess(server.address, "--name", "mallory", "--sasl", "alice")
        try:
            alice.send("wonderland")
            alice.expect(r"You are logged in as alice\.")
            alice.expect("You joined #lobby")
            alice.send("hello")
            assert watcher.expect("PRIVMSG").startswith("@account=alice :alice!")
            wrong.send("not it")
            wrong.expect(r"^! Login failed: SASL authentication failed$")
            wrong.expect("You joined #lobby")
        finally:
            for client in (alice, wrong):
                client.kill()
            watcher.close()


def test_pipe_output_has_no_escape_codes():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        client = ClientProcess(server.address, "--name", "bob")
        try:
            client.expect("You joined")
            alice.send("PRIVMSG #lobby :\x1b[31mred\x1b[0m and \x02bold\x02")
            line = client.expect("alice:")
            assert "\x1b" not in line and "\x02" not in line
            assert line.endswith("alice: \ufffd[31mred\ufffd[0m and bold")
        finally:
            client.kill()


# -- The terminal path ------------------------------------------------------------------------

def _own_terminal():
    """In the child: a session of its own with the pseudo-terminal (its stdin) as controlling
    terminal, so Ctrl-C typed there is a SIGINT, as at a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """The client on a pseudo-terminal: what a person at a keyboard would see and type."""

    def __init__(self, *arguments, locale="C.UTF-8"):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcpchat.client", *arguments],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, preexec_fn=_own_terminal,
            env={**english_environment(), "TERM": "xterm", "LANG": locale})
        os.close(slave)
        self.screen = ""

    def type(self, keys):
        os.write(self.master, keys.encode())

    def wait_for(self, pattern):
        deadline = time.monotonic() + TIMEOUT
        while not re.search(pattern, self.screen):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.master], [], [], remaining)[0]:
                raise AssertionError(f"{pattern!r} never appeared; screen: {self.screen!r}")
            try:
                self.screen += os.read(self.master, 65536).decode(errors="replace")
            except OSError:  # the child is gone and the terminal closed
                raise AssertionError(
                    f"{pattern!r} never appeared; screen: {self.screen!r}") from None
        return self.screen

    def wait_until_reading(self):
        """Wait until the client's main thread sleeps in readline's select() on the terminal.

        A Ctrl-C typed just as the prompt is drawn, before that select(), is only noted by the
        interpreter, as in Python's own REPL; a person would press it again.  The test waits
        for the moment a person would see, instead of racing it.
        """
        def reading():
            try:
                with open(f"/proc/{self.process.pid}/wchan") as wchan:
                    where = wchan.read()
            except OSError:
                return True  # no /proc: nothing better to wait on
            return "poll" in where or "select" in where
        assert wait_until(reading), "the client never waited for input"

    def close(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(TIMEOUT)
        os.close(self.master)


def test_terminal_asks_for_address_and_name_and_redraws_what_is_typed():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        terminal = Terminal()
        try:
            # host:port, as a new user types it (it was once taken for a host name).
            terminal.wait_for(r"Server address \(host or host:port\) \[localhost\]: ")
            terminal.type(f"127.0.0.1:{server.address[1]}\r")
            terminal.wait_for(r"Your name: ")
            terminal.type("carol\r")
            terminal.wait_for(r"\[#lobby\] ")
            alice.expect("carol!")
            terminal.type("half a thou")
            terminal.wait_for("half a thou")
            alice.send("PRIVMSG #lobby :interruption")
            # The incoming line clears the input line, prints, and redraws prompt and typing.
            terminal.wait_for(r"\r\x1b\[K\d\d:\d\d alice: interruption\r\n\[#lobby\] half a thou")
            terminal.type("ght\r")
            assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :half a thought")
            terminal.wait_for(r"half a thought\r\n.*\[#lobby\] $")
            terminal.wait_until_reading()
            terminal.type("\x04")  # Ctrl-D on an empty line
            assert alice.expect("QUIT") == ":carol!carol@127.0.0.1 QUIT :Quit"
            assert terminal.process.wait(TIMEOUT) == 0
        finally:
            terminal.close()


def test_terminal_asks_again_for_a_name_that_cannot_be_one():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        terminal = Terminal("127.0.0.1", "--port", str(server.address[1]), "--name", ":x")
        try:
            terminal.wait_for(r"! ':x' cannot be a name: it holds ':'\. Names use letters")
            terminal.wait_for(r"Your name: ")
            terminal.type("John Smith\r")
            terminal.wait_for(r"! 'John Smith' cannot be a name: it holds a space\.")
            terminal.wait_for(r"a space\.[^\n]*\n.*Your name: ")
            terminal.type("John\r")
            terminal.wait_for(r"\[#lobby\] ")
            assert alice.expect("JOIN").startswith(":John!")
            assert "Traceback" not in terminal.screen
        finally:
            terminal.close()


def test_the_prompt_names_the_room_a_line_goes_to_right_after_join_and_part():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        terminal = Terminal("127.0.0.1", "--port", str(server.address[1]), "--name", "gil")
        try:
            terminal.wait_for(r"\[#lobby\] ")
            terminal.wait_until_reading()
            terminal.type("/join #room3\r")
            terminal.wait_for(r"/join #room3\r\n(.*\r\n)?\[#room3\] ")
            # The names come after the join: typing before them, the line is redrawn under them.
            terminal.wait_for(r"In #room3: @gil\r\n\[#room3\] ")
            terminal.wait_until_reading()
            terminal.type("/part\r")
            terminal.wait_for(r"/part\r\n(.*\r\n)?\[#lobby\] ")
            assert "[#lobby] [#lobby]" not in terminal.screen  # a prompt drawn once
            terminal.wait_until_reading()
            terminal.type("back in the lobby\r")
            assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :back in the lobby")
        finally:
            terminal.close()


def test_ctrl_c_on_a_terminal_quits_cleanly():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        terminal = Terminal("127.0.0.1", "--port", str(server.address[1]), "--name", "erin")
        try:
            terminal.wait_for(r"\[#lobby\] ")
            terminal.wait_until_reading()
            terminal.type("\x03")  # Ctrl-C
            assert alice.expect("QUIT") == ":erin!erin@127.0.0.1 QUIT :Quit"
            assert terminal.process.wait(TIMEOUT) == 0
            assert "Traceback" not in terminal.screen
        finally:
            terminal.close()


def test_server_shutdown_wakes_a_terminal_client_mid_typing():
    with running_server() as server:
        terminal = Terminal("127.0.0.1", "--port", str(server.address[1]), "--name", "finn")
        try:
            terminal.wait_for(r"\[#lobby\] ")
            terminal.type("unfinished")
            terminal.wait_for("unfinished")
            server.request_stop()
            terminal.wait_for("disconnected: Closing link: Server shutting down")
            assert terminal.process.wait(TIMEOUT) == 1
            assert "Traceback" not in terminal.screen
        finally:
            terminal.close()


@pytest.mark.parametrize("typed, expected", [
    ("example.org", ("example.org", None)),
    ("127.0.0.1:16667", ("127.0.0.1", 16667)),
    ("localhost:", ("localhost", None)),
    ("::1", ("::1", None)),
    ("[::1]:6697", ("::1", 6697)),
    ("[fe80::1]", ("fe80::1", None)),
])
def test_the_server_address_may_carry_a_port(typed, expected):
    assert split_address(typed) == expected


@pytest.mark.parametrize("typed", ["host:http", "host:70000", "[::1", "[::1]6697", "host:0"])
def test_an_address_that_cannot_be_read_says_why(typed):
    with pytest.raises(ValueError, match="cannot read the address"):
        split_address(typed)


def test_the_client_shows_what_was_said_before_it_joined_with_its_date_and_time():
    process, address = start_server_process()  # history in memory, the default
    try:
        early = LineSocket(address)
        early.send("early", "said before you came")
        early.expect("Type a line")
        client = ClientProcess(address, "--name", "late")
        try:
            client.expect("Earlier in #lobby:")
            line = client.expect("early: said before you came")
            assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d early: said before you came$", line)
            client.expect(r"\(end of earlier conversation in #lobby\)")
            client.send("/quit")
            assert client.wait()[0] == 0
        finally:
            client.kill()
        early.close()
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
        process.stderr.close()


def test_the_client_speaks_russian_in_a_russian_locale_and_asks_the_server_for_it():
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        terminal = Terminal("127.0.0.1", "--port", str(server.address[1]), "--name", "dasha",
                            locale="ru_RU.UTF-8")
        try:
            terminal.wait_for(r"\* Вы вошли в #lobby")
            terminal.wait_for(r"\[#lobby\] ")
            alice.send("PRIVMSG #lobby :привет, Даша")
            terminal.wait_for(r"\d\d:\d\d alice: привет, Даша")
            terminal.wait_until_reading()
            terminal.type("/msg nobody hi\r")
            terminal.wait_for("Нет такого пользователя или канала")  # the server's, in Russian
            terminal.wait_until_reading()
            terminal.type("/quit\r")
            assert alice.expect("QUIT") == ":dasha!dasha@127.0.0.1 QUIT :Quit"
            assert terminal.process.wait(TIMEOUT) == 0
        finally:
            terminal.close()


def test_the_clients_help_is_in_the_language_asked_for():
    result = subprocess.run([sys.executable, "-m", "tcpchat.client", "--lang", "ru", "--help"],
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
                            env=english_environment())
    assert "Чат на сервере tcpchat (или любом IRC-сервере)" in result.stdout
    assert "--lang {en,ru}" in result.stdout
