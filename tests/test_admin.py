"""The admin command line (python -m tcpchat.admin) on a database, alone and beside a running
server that reads its changes on SIGHUP; accounts that outlive a restart."""

import io
import os
import signal
import stat
import subprocess
import sys

import pytest

from tcpchat import admin
from tcpchat.store.accounts import ACCOUNT
from tcpchat.store.credentials import check_password
from tcpchat.store.sqlite import RecordFile

from helpers import (ROOT, TIMEOUT, LineSocket, read_text, register_plain,
                     start_server_process, wait_until)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "chat.db")


def run(db, *argv, stdin=""):
    return admin.main(["--db", db, *argv], stdin=io.StringIO(stdin))


def stored(db):
    database = RecordFile(db)
    try:
        return database.records(ACCOUNT)
    finally:
        database.close()


def test_create_list_suspend_and_delete(db, capsys):
    assert run(db, "account", "create", "Alice", stdin="wonderland\n") == 0
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    record = stored(db)["alice"]
    assert record["name"] == "Alice" and check_password("wonderland", record["password"])
    assert record["scram"].startswith("SCRAM-SHA-256$")
    assert run(db, "account", "suspend", "alice", "spamming", "again") == 0
    assert stored(db)["alice"]["suspended"] == "spamming again"
    capsys.readouterr()
    assert run(db, "account", "list") == 0
    assert "Alice  made " in capsys.readouterr().out
    assert run(db, "account", "unsuspend", "ALICE") == 0
    assert stored(db)["alice"]["suspended"] is None
    assert run(db, "account", "password", "alice", stdin="looking glass\n") == 0
    assert check_password("looking glass", stored(db)["alice"]["password"])
    assert run(db, "account", "delete", "alice") == 0
    assert stored(db) == {}


@pytest.mark.parametrize("argv, stdin, error", [
    (("account", "create", "bad name"), "pw\n", "cannot be an account name"),
    (("account", "create", "bob"), "\n", "An empty password cannot be used."),
    (("account", "suspend", "nobody", "why"), "", "no account nobody"),
    (("room", "drop", "#nowhere"), "", "no registered room #nowhere"),
])
def test_mistakes_get_one_clear_line(db, capsys, argv, stdin, error):
    assert run(db, *argv, stdin=stdin) != 0
    assert error in capsys.readouterr().err


def test_a_taken_or_look_alike_name(db, capsys):
    assert run(db, "account", "create", "alice", stdin="wonderland\n") == 0
    assert run(db, "account", "create", "аlice", stdin="other one\n") == 1  # Cyrillic а
    assert "exists already, or one that looks like it" in capsys.readouterr().err


def test_a_file_that_is_not_a_database(db, capsys):
    with open(db, "w") as junk:
        junk.write("junk " * 500)
    assert run(db, "account", "list") == 1
    assert "file is not a database" in capsys.readouterr().err


def test_the_admin_command_line_runs_as_a_module(db):
    result = subprocess.run([sys.executable, "-m", "tcpchat.admin", "--db", db, "account",
                             "create", "carol"], input="a password\n", capture_output=True,
                            text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 0 and "account carol made." in result.stdout


def test_a_running_server_reads_the_changes_on_sighup(db, tmp_path):
    """Registration closed: only the admin makes accounts; the server learns of a new one,
    and of a suspension (which logs its user out), when it gets SIGHUP."""
    log = tmp_path / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tcpchat.server", "--port", "0", "--db", db,
             "--registration", "closed"], stderr=stderr, text=True, cwd=ROOT)
    try:
        assert wait_until(lambda: "listening on" in read_text(log))
        port = int(read_text(log).split(" port ")[1].split()[0].rstrip(";,"))
        bob = register_plain(("127.0.0.1", port), "bob")
        bob.send("/register a long password")
        assert bob.expect("Registration") == (
            "! Registration is closed on this server: its operators make accounts")
        assert run(db, "account", "create", "bob", stdin="a long password\n") == 0
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "read 1 accounts" in read_text(log)), read_text(log)
        bob.send("/login a long password")
        assert bob.expect("logged in") == "*** You are logged in as bob."
        assert run(db, "account", "suspend", "bob", "testing") == 0
        process.send_signal(signal.SIGHUP)
        assert bob.expect("logged out") == "*** You are logged out."
        bob.close()
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def test_accounts_outlive_a_restart(db):
    process, address = start_server_process("--db", db)
    try:
        peer = LineSocket(address)
        peer.send("CAP REQ :draft/account-registration", "NICK dana", "USER dana 0 * :Dana",
                  "REGISTER * * :a long password", "CAP END")
        assert peer.expect("REGISTER") .endswith("REGISTER SUCCESS dana :Account dana registered")
        peer.expect(" 001 ")
        peer.close()
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stderr.close()
    assert "dana" in stored(db)
    process, address = start_server_process("--db", db)
    try:
        dana = register_plain(address, "dana")
        dana.send("/login a long password")
        assert dana.expect("logged in") == "*** You are logged in as dana."
        dana.close()
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stderr.close()


def test_certificates_are_added_listed_and_removed(db, tmp_path, capsys):
    import trustme
    issued = trustme.CA().issue_cert("alice@example.org")
    pem = tmp_path / "alice.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(pem))  # key first: still found
    assert run(db, "account", "create", "alice", stdin="wonderland\n") == 0
    assert run(db, "account", "cert-add", "alice", str(pem)) == 0
    (fingerprint,) = stored(db)["alice"]["certificates"]
    assert f"certificate {fingerprint} added" in capsys.readouterr().out
    assert run(db, "account", "create", "bob", stdin="builder1\n") == 0
    assert run(db, "account", "cert-add", "bob", str(pem)) == 1
    assert "the account alice has this certificate already" in capsys.readouterr().err
    assert run(db, "account", "cert-add", "bob", str(tmp_path / "none.pem")) == 1
    assert "No such file" in capsys.readouterr().err
    (tmp_path / "junk.pem").write_text("junk")
    assert run(db, "account", "cert-add", "bob", str(tmp_path / "junk.pem")) == 1
    assert "there is no PEM certificate in it" in capsys.readouterr().err
    assert run(db, "account", "list") == 0
    assert f"    certificate {fingerprint}" in capsys.readouterr().out
    assert run(db, "account", "cert-remove", "alice", fingerprint.upper()) == 0
    assert stored(db)["alice"]["certificates"] == {}
    assert run(db, "account", "cert-remove", "alice", fingerprint) == 1
