"""A real IRC client from Debian, ii, on our server: it registers, joins, posts and reads.

ii keeps a directory per server and channel, each with an ``in`` FIFO to write commands and
text into and an ``out`` file where it logs what arrives.  .ci/run installs it; elsewhere the
test is skipped when ii is missing (under CI, a missing ii is a failure).
"""

import os
import shutil
import subprocess

import pytest

from helpers import TIMEOUT, read_text, register_irc, running_server, wait_until

II = shutil.which("ii")
pytestmark = pytest.mark.skipif(II is None and os.environ.get("CI") != "true",
                                reason="ii is not installed (apt-get install ii)")


def write_fifo(path, text):
    # O_NONBLOCK: fail at once, rather than hang, if ii is not reading its FIFO.
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, text.encode() + b"\n")
    finally:
        os.close(fd)


def test_ii_registers_joins_posts_and_reads(tmp_path):
    assert II is not None, "ii must be installed in CI"
    with running_server() as server:
        host, port = server.address[:2]
        alice = register_irc(server.address, "alice")
        ii = subprocess.Popen([II, "-s", host, "-p", str(port), "-n", "iibot",
                               "-i", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            server_dir = tmp_path / host
            lobby = server_dir / "#lobby"
            # Registered and put in the default room: ii made the channel's FIFO.
            assert alice.expect("JOIN") == f":iibot!iibot@{host} JOIN #lobby"
            assert wait_until(lambda: (lobby / "in").exists())
            assert "Welcome to the tcpchat Network, iibot!" in read_text(server_dir / "out")

            write_fifo(lobby / "in", "hello from ii")
            assert alice.expect("PRIVMSG") == f":iibot!iibot@{host} PRIVMSG #lobby :hello from ii"

            alice.send("PRIVMSG #lobby :hello, ii")
            assert wait_until(lambda: "<alice> hello, ii" in read_text(lobby / "out")), \
                read_text(lobby / "out")

            write_fifo(server_dir / "in", "/j #second")
            assert wait_until(lambda: (server_dir / "#second" / "in").exists())
            alice.send("NAMES #second")
            assert alice.expect(" 353 ").endswith("#second :@iibot")

            write_fifo(server_dir / "in", "/q leaving now")
            assert alice.expect("QUIT") == f":iibot!iibot@{host} QUIT :Quit: leaving now"
        finally:
            ii.terminate()
            ii.wait(TIMEOUT)
