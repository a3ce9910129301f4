"""The assignment's UDP chat as a person would have it: OpenBSD netcat (``nc -u``, from Debian's
netcat-openbsd) on the server's UDP side, with a TCP user in the same room.  .ci/run installs
it; elsewhere the test is skipped when nc is missing (under CI, a missing nc is a failure)."""

import os
import shutil

import pytest

from helpers import LineProcess, register_irc, running_server, udp_backend

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
