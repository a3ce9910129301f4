"""Netcat as a person would use it: the assignment's UDP chat with OpenBSD netcat (``nc -u``,
from Debian's netcat-openbsd) on the server's UDP side, with a TCP user in the same room; and
``nc -N`` over TCP, whose last line may come without a line end.  .ci/run installs
it; elsewhere the test is skipped when nc is missing (under CI, a missing nc is a failure)."""

import os
import shutil
import subprocess

import pytest

from helpers import TIMEOUT, LineProcess, register_irc, running_server, udp_backend

NC = shutil.which("nc")
pytestmark = pytest.mark.skipif(NC is None and os.environ.get("CI") != "true",
                                reason="nc is not installed (apt-get install netcat-openbsd)")


def test_nc_u_users_chat_with_a_tcp_user():
    assert NC is not None, "nc must be installed in CI"
    with running_server(start=udp_backend()) as server:
        alice = register_irc(server.address, "alice")
        host, port = server.udp_address[:2]
        carol = LineProcess([NC, "-u", host, str(port)])
        try:
            carol.send("carol")
            carol.expect(r"^\*\*\* Welcome, carol! You are in #lobby with @alice\.$")
            assert alice.expect("JOIN") == ":carol!carol@127.0.0.1 JOIN #lobby"
            carol.send("hello over udp, привет")
            assert alice.expect("PRIVMSG").endswith("PRIVMSG #lobby :hello over udp, привет")
            alice.send("PRIVMSG #lobby :hello carol")
            carol.expect("^alice: hello carol$")
            carol.send("exit")
            carol.expect(r"^\*\*\* Closing link: Quit$")
            assert alice.expect("QUIT") == ":carol!carol@127.0.0.1 QUIT :Quit"
        finally:
            carol.kill()


def test_nc_n_delivers_a_last_line_typed_without_enter():
    """``nc -N`` ends its input with the socket's: a last line with no Enter before Ctrl-D
    reaches the room (issue 30: it was dropped)."""
    assert NC is not None, "nc must be installed in CI"
    with running_server() as server:
        alice = register_irc(server.address, "alice")
        result = subprocess.run([NC, "-N", *map(str, server.address[:2])],
                                input=b"dora\nmy last words", capture_output=True,
                                timeout=TIMEOUT)
        assert alice.expect("PRIVMSG") == ":dora!dora@127.0.0.1 PRIVMSG #lobby :my last words"
        assert alice.expect("QUIT") == ":dora!dora@127.0.0.1 QUIT :Connection closed"
        assert b"Closing link: Connection closed" in result.stdout
