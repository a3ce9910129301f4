"""The assignment's UDP chat as a person would have it: OpenBSD netcat (``nc -u``, from Debian's
netcat-openbsd) on the server's UDP side, with a TCP user in the same room.  .ci/run installs
it; elsewhere the test is skipped when nc is missing (under CI, a missing nc is a failure)."""

import os
import select
import shutil
import subprocess
import time

import pytest

from helpers import TIMEOUT, register_irc, running_server, udp_backend

NC = shutil.which("nc")
pytestmark = pytest.mark.skipif(NC is None and os.environ.get("CI") != "true",
                                reason="nc is not installed (apt-get install netcat-openbsd)")


class Netcat:
    """``nc -u HOST PORT``: what is written to it goes out; what arrives is read from it."""

    def __init__(self, address):
        self.process = subprocess.Popen([NC, "-u", address[0], str(address[1])],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pending = b""

    def type(self, line):
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def expect(self, wanted):
        deadline = time.monotonic() + TIMEOUT
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self._pending:
                line, _, self._pending = self._pending.partition(b"\n")
                text = line.decode().rstrip("\r")
                if wanted in text:
                    return text
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no line with {wanted!r} from nc"
            chunk = os.read(fd, 65536)
            assert chunk, f"nc ended before {wanted!r}"
            self._pending += chunk

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


def test_nc_u_users_chat_with_a_tcp_user():
    assert NC is not None, "nc must be installed in CI"
    with running_server(start=udp_backend()) as server:
        alice = register_irc(server.address, "alice")
        carol = Netcat(server.udp_address)
        try:
            carol.type("carol")
            assert carol.expect("Welcome") == "*** Welcome, carol! You are in #lobby with @alice."
            assert alice.expect("JOIN") == ":carol!carol@127.0.0.1 JOIN #lobby"
            carol.type("hello over udp, привет")
            assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :hello over udp, привет")
            alice.send("PRIVMSG #lobby :hello carol")
            assert carol.expect("alice") == "alice: hello carol"
            carol.type("exit")
            assert carol.expect("Closing link") == "*** Closing link: Quit"
            assert alice.expect("QUIT") == ":carol!carol@127.0.0.1 QUIT :Quit"
        finally:
            carol.close()
