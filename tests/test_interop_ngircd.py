"""The reference client on a real IRC server from Debian, ngircd: the same conversation as
against our own server, so the client is proven on a server nobody here wrote.

.ci/run installs ngircd; elsewhere the test is skipped when it is missing (under CI, a missing
ngircd is a failure).  ngircd takes its port from a configuration file, so the test asks the
kernel for a free loopback port and hands that number over.
"""

import os
import socket
import subprocess

import pytest

from helpers import TIMEOUT, conversation, wait_until

NGIRCD = "/usr/sbin/ngircd"
pytestmark = pytest.mark.skipif(not os.path.exists(NGIRCD) and os.environ.get("CI") != "true",
                                reason="ngircd is not installed (apt-get install ngircd)")

CONFIG = """\
[Global]
    Name = irc.test.invalid
    Info = tcpchat interoperability test
    Listen = 127.0.0.1
    Ports = {port}
    MotdPhrase = test server
[Limits]
    MaxNickLength = 30
[Options]
    DNS = no
    Ident = no
    PAM = no
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(address):
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def ngircd(tmp_path):
    assert os.path.exists(NGIRCD), "ngircd must be installed in CI"
    port = free_port()
    config = tmp_path / "ngircd.conf"
    config.write_text(CONFIG.format(port=port))
    process = subprocess.Popen([NGIRCD, "--nodaemon", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = ("127.0.0.1", port)
    try:
        assert wait_until(lambda: accepts(address) or process.poll() is not None)
        assert process.poll() is None, "ngircd exited at start"
        yield address
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def test_reference_client_converses_on_ngircd(ngircd):
    conversation(ngircd)
