"""A real IRC client from Debian, WeeChat (headless), on our server over TLS: it checks our
certificate against the test CA, registers, posts and reads (a multiline message too, line by
line), and WHOIS shows it on TLS.  And
it moderates a channel with its own commands, and shows the moderation done to it; and it logs
in to its account with SASL, PLAIN and SCRAM-SHA-256.

WeeChat is driven through its FIFO (``weechat_fifo_PID`` in its home directory) and read
through its logger's files.  .ci/run installs ``weechat-headless``; elsewhere the test is
skipped when it is missing (under CI, a missing WeeChat is a failure).
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.credentials import hash_password, scram_keys

from helpers import (TIMEOUT, LineSocket, read_text, register_irc, running_server, tls_backend,
                     tls_files, wait_until)

WEECHAT = shutil.which("weechat-headless")
pytestmark = pytest.mark.skipif(WEECHAT is None and os.environ.get("CI") != "true",
                                reason="WeeChat is not installed (apt-get install "
                                       "weechat-headless)")


def start_weechat(home, commands):
    """WeeChat with its home in *home*, running *commands* (``;``-separated) once up."""
    return subprocess.Popen([WEECHAT, "--dir", str(home), "-r", commands],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def tls_word():
    """WeeChat 4 renamed its ``ssl`` options ``tls``."""
    version = subprocess.run([WEECHAT, "--version"], capture_output=True, text=True,
                             timeout=TIMEOUT).stdout
    return "tls" if int(re.match(r"\d+", version).group()) >= 4 else "ssl"


@pytest.mark.parametrize("backend", ["select", "threads"])
def test_weechat_over_tls_checks_the_certificate_and_chats(tmp_path, backend):
    assert WEECHAT is not None, "WeeChat must be installed in CI"
    tls = tls_word()
    with running_server(start=tls_backend(backend)) as server:
        alice = register_irc(server.address, "alice")  # plaintext, in the same room
        commands = (f'/set weechat.network.gnutls_ca_user "{tls_files().ca_file}"; '
                    "/set logger.file.flush_delay 0; "
                    f"/server add tc 127.0.0.1/{server.tls_address[1]} -{tls} "
                    f"-{tls}_verify -nicks=weebot -username=weebot; /connect tc")
        weechat = start_weechat(tmp_path, commands)
        try:
            assert alice.expect("JOIN") == ":weebot!weebot@127.0.0.1 JOIN #lobby"
            server_log = tmp_path / "logs" / "irc.server.tc.weechatlog"
            assert wait_until(lambda: "peer's certificate is trusted" in read_text(server_log))
            # WeeChat takes commands for the server once it has handled its own JOIN (the
            # room's buffer, and so its log, exist then), not merely once it was sent.
            lobby_log = tmp_path / "logs" / "irc.tc.#lobby.weechatlog"
            assert wait_until(lambda: "weebot" in read_text(lobby_log))

            fifo = glob.glob(str(tmp_path / "weechat_fifo_*"))[0]
            with open(fifo, "w") as commands_in:
                commands_in.write("irc.server.tc */msg #lobby hello over TLS\n")
            assert alice.expect("PRIVMSG") == (":weebot!weebot@127.0.0.1 PRIVMSG #lobby "
                                               ":hello over TLS")
            alice.send("WHOIS weebot")
            assert alice.expect(" 671 ") == ":tcpchat 671 alice weebot :is using a secure " \
                                            "connection"

            alice.send("PRIVMSG #lobby :hello, WeeChat")
            assert wait_until(lambda: "alice\thello, WeeChat" in read_text(lobby_log)), \
                read_text(lobby_log)
            # A multiline message: Debian's WeeChat (3.8) predates draft/multiline, so it is
            # given the lines one by one, and shows them in order.
            alice.send("CAP REQ :batch draft/multiline")
            alice.expect(" ACK ")
            alice.send("BATCH +m draft/multiline #lobby", "@batch=m PRIVMSG #lobby :first line",
                       "@batch=m PRIVMSG #lobby :second line", "BATCH -m")
            assert wait_until(lambda: "alice\tsecond line" in read_text(lobby_log))
            shown = read_text(lobby_log)
            assert shown.index("alice\tfirst line") < shown.index("alice\tsecond line")

            with open(fifo, "w") as commands_in:
                commands_in.write("irc.server.tc */quit bye\n")
            assert alice.expect("QUIT") == ":weebot!weebot@127.0.0.1 QUIT :Quit: bye"
        finally:
            weechat.terminate()
            weechat.wait(TIMEOUT)


def test_weechat_moderates_with_its_own_commands_and_shows_what_others_do(tmp_path):
    """WeeChat's /voice, /mode and /kick against our moderation, and what it makes of ours:
    the modes it is given, the KICK that puts it out."""
    assert WEECHAT is not None, "WeeChat must be installed in CI"
    with running_server(autojoin=False) as server:
        # Its anti-flood delay (2 s a line) off: WeeChat 3 and 4 name it differently.
        commands = ("/set logger.file.flush_delay 0; "
                    "/set irc.server_default.anti_flood_prio_high 0; "
                    "/set irc.server_default.anti_flood 0; "
                    f"/server add tc 127.0.0.1/{server.address[1]} -no{tls_word()} "
                    "-nicks=weebot -username=weebot -autojoin=#wee; /connect tc")
        weechat = start_weechat(tmp_path, commands)
        try:
            wee_log = tmp_path / "logs" / "irc.tc.#wee.weechatlog"
            assert wait_until(lambda: "weebot" in read_text(wee_log))  # weebot: #wee's op
            alice = register_irc(server.address, "alice", channel_joined=False)
            alice.send("JOIN #wee")
            alice.expect(" 366 ")
            # WeeChat's /voice names only nicks it knows are there: once it has seen alice.
            assert wait_until(lambda: "alice" in read_text(wee_log))
            fifo = glob.glob(str(tmp_path / "weechat_fifo_*"))[0]
            with open(fifo, "w") as commands_in:
                commands_in.write("irc.tc.#wee */voice alice\n"
                                  "irc.tc.#wee */mode #wee +m\n"
                                  "irc.tc.#wee */kick alice enough\n")
            assert alice.expect(" MODE ") == ":weebot!weebot@127.0.0.1 MODE #wee +v alice"
            assert alice.expect(" MODE ") == ":weebot!weebot@127.0.0.1 MODE #wee +m"
            assert alice.expect(" KICK ") == ":weebot!weebot@127.0.0.1 KICK #wee alice :enough"
            alice.send("JOIN #wee", "MODE #wee +o alice")
            assert " 482 alice #wee " in alice.expect(" 482 ")  # alice is no operator there

            alice.send("JOIN #lobby")  # alice: #lobby's operator, as its first member
            alice.expect(" 366 ")
            with open(fifo, "w") as commands_in:
                commands_in.write("irc.server.tc */join #lobby\n")
            alice.expect("weebot!weebot@127.0.0.1 JOIN #lobby")
            alice.send("MODE #lobby +v weebot", "KICK #lobby weebot :out you go")
            lobby_log = tmp_path / "logs" / "irc.tc.#lobby.weechatlog"
            assert wait_until(lambda: "out you go" in read_text(lobby_log)), read_text(lobby_log)
            shown = read_text(lobby_log)
            assert "Mode #lobby [+v weebot] by alice" in shown
            assert "alice has kicked weebot (out you go)" in shown
        finally:
            weechat.terminate()
            weechat.wait(TIMEOUT)


@pytest.mark.parametrize("mechanism", ["plain", "scram-sha-256"])
def test_weechat_logs_in_with_sasl(tmp_path, mechanism):
    """WeeChat logs in to its account by itself while connecting, with SASL PLAIN or
    SCRAM-SHA-256; others see its account on its messages (account-tag) and in WHOIS."""
    assert WEECHAT is not None, "WeeChat must be installed in CI"
    accounts = Accounts()
    accounts.add(Account("weebot", hash_password("wonderland"), scram_keys("wonderland")))
    with running_server(accounts=accounts) as server:
        alice = LineSocket(server.address)
        alice.send("CAP REQ :account-tag", "NICK alice", "USER alice 0 * :alice", "CAP END")
        alice.expect(" 366 ")
        commands = ("/set logger.file.flush_delay 0; "
                    f"/server add tc 127.0.0.1/{server.address[1]} -nicks=weebot "
                    f"-username=weebot -sasl_mechanism={mechanism} -sasl_username=weebot "
                    "-sasl_password=wonderland; /connect tc")
        weechat = start_weechat(tmp_path, commands)
        try:
            assert alice.expect("JOIN") == ":weebot!weebot@127.0.0.1 JOIN #lobby"
            server_log = tmp_path / "logs" / "irc.server.tc.weechatlog"
            assert wait_until(lambda: "SASL authentication successful" in read_text(
                server_log)), read_text(server_log)
            alice.send("WHOIS weebot")
            assert alice.expect(" 330 ") == ":tcpchat 330 alice weebot weebot :is logged in as"
            lobby_log = tmp_path / "logs" / "irc.tc.#lobby.weechatlog"
            assert wait_until(lambda: "weebot" in read_text(lobby_log))
            fifo = glob.glob(str(tmp_path / "weechat_fifo_*"))[0]
            with open(fifo, "w") as commands_in:
                commands_in.write("irc.server.tc */msg #lobby logged in\n")
            assert alice.expect("PRIVMSG") == (
                "@account=weebot :weebot!weebot@127.0.0.1 PRIVMSG #lobby :logged in")
        finally:
            weechat.terminate()
            weechat.wait(TIMEOUT)
