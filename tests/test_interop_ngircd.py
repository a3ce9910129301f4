"""The reference client on a real IRC server from Debian, ngircd: the same conversation as
against our own server, so the client is proven on a server nobody here wrote.

.ci/run installs ngircd; elsewhere the test is skipped when it is missing (under CI, a missing
ngircd is a failure).  ngircd takes its port from a configuration file, so the test asks the
kernel for a free loopback port and hands that number over.
"""

import os
import subprocess

import pytest

from helpers import TIMEOUT, conversation
from tcpchat.bench.targets import accepts, start_on_free_ports

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


@pytest.fixture
def ngircd(tmp_path):
    assert os.path.exists(NGIRCD), "ngircd must be installed in CI"
    config = tmp_path / "ngircd.conf"

    def start(ports):
        config.write_text(CONFIG.format(port=ports[0]))
        return [subprocess.Popen([NGIRCD, "--nodaemon", "--config", str(config)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    started = start_on_free_ports(1, start, lambda ports: accepts(("127.0.0.1", ports[0])))
    assert started, "ngircd exited at start"
    (port,), (process,) = started
    try:
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def test_reference_client_converses_on_ngircd(ngircd):
    conversation(ngircd)
