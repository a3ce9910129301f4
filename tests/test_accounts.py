"""Accounts through the sans-IO core: registering (REGISTER, /register), logging in (SASL PLAIN
and SCRAM-SHA-256, /login), what an account shows others (900, +r, WHOIS 330, WHOX, account-tag,
account-notify, extended-join), nick protection on the hand-moved clock, and every malformed or
hostile exchange the issue names."""

import base64

import pytest
import scramp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tcpchat.store.accounts import Account, Accounts
from tcpchat.store.credentials import hash_password, scram_keys

from helpers import Harness, HeldOffload, numerics


def account(name, password):
    return Account(name, hash_password(password), scram_keys(password), created=1.0)


@pytest.fixture
def chat():
    """A chat where the account ``alice`` has the password ``wonderland``."""
    harness = Harness()
    harness.core.chat.accounts.add(account("alice", "wonderland"))
    return harness


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def plain_payload(name, password, authorize=""):
    return b64(f"{authorize}\0{name}\0{password}")


def connecting(chat, nick="alice", caps="sasl"):
    """A connection that asked for *caps* and sent NICK and USER, registration on hold."""
    peer = chat.connect()
    peer.send(f"CAP REQ :{caps}", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    peer.lines()
    return peer


def sasl_plain(peer, name, password):
    peer.send("AUTHENTICATE PLAIN")
    assert numerics(peer) == [("AUTHENTICATE", ("+",))]
    peer.send(f"AUTHENTICATE {plain_payload(name, password)}")
    return numerics(peer)


# -- SASL PLAIN -----------------------------------------------------------------------------

def test_sasl_plain_logs_in_before_registration(chat):
    alice = connecting(chat)
    assert sasl_plain(alice, "alice", "wonderland") == [
        ("900", ("alice", "alice!alice@127.0.0.1", "alice", "You are now logged in as alice")),
        ("903", ("alice", "SASL authentication successful"))]
    alice.send("CAP END", "MODE alice", "WHOIS alice")
    replies = numerics(alice)
    assert replies[0][0] == "001" and ("221", ("alice", "+r")) in replies
    assert ("330", ("alice", "alice", "alice", "is logged in as")) in replies


@pytest.mark.parametrize("name, password", [("alice", "wrong password"),
                                            ("nobody", "wonderland")])
def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(chat, name, password):
    alice = connecting(chat)
    assert sasl_plain(alice, name, password) == [("904", ("alice", "SASL authentication failed"))]
    assert alice.client.account is None


def test_each_failure_makes_the_next_try_wait_longer(chat):
    mallory = connecting(chat, "mallory")
    assert sasl_plain(mallory, "alice", "guess1")[0][0] == "904"
    mallory.send("AUTHENTICATE PLAIN")  # at once: the address must wait a second
    assert numerics(mallory) == [("904", ("mallory", "Too many failed logins: try again in 1 s"))]
    chat.clock.advance(1)
    assert sasl_plain(mallory, "alice", "guess2")[0][0] == "904"
    chat.clock.advance(1)  # 2 s after the second failure now
    mallory.send("AUTHENTICATE PLAIN")
    assert numerics(mallory) == [("904", ("mallory", "Too many failed logins: try again in 1 s"))]
    # Another address: the account itself waits too, so a guesser gains nothing by moving.
    other = chat.connect("10.0.0.9")
    other.send("CAP REQ sasl", "NICK eve", "USER eve 0 * :eve")
    other.lines()
    assert sasl_plain(other, "alice", "wonderland") == [
        ("904", ("eve", "Too many failed logins: try again in 1 s"))]
    chat.clock.advance(1)
    assert sasl_plain(other, "alice", "wonderland")[0][0] == "900"


def test_the_check_runs_off_the_loop_and_registration_waits_for_it():
    offload = HeldOffload()
    chat = Harness(offload=offload)
    chat.core.chat.accounts.add(account("alice", "wonderland"))
    bob = chat.irc("bob")
    alice = connecting(chat)
    alice.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {plain_payload('alice', 'wonderland')}",
               "CAP END")
    assert alice.commands() == ["AUTHENTICATE"] and len(offload.waiting) == 1
    bob.send("PING :meanwhile")
    assert bob.commands() == ["PONG"]
    offload.run(chat)
    assert alice.commands()[:3] == ["900", "903", "001"]
    assert alice.client.account == "alice"


def test_authenticate_in_400_byte_chunks(chat):
    chat.core.chat.accounts.add(account("carol", "x" * 293))
    carol = connecting(chat, "carol")
    payload = plain_payload("carol", "x" * 293)  # 300 bytes: 400 of base64 exactly
    assert len(payload) == 400
    carol.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {payload}")
    assert numerics(carol) == [("AUTHENTICATE", ("+",))]  # waits for more
    carol.send("AUTHENTICATE +")
    assert carol.commands() == ["900", "903"]


@pytest.mark.parametrize("lines, reply", [
    (["AUTHENTICATE PLAIN", "AUTHENTICATE " + "A" * 401],
     ("905", ("alice", "SASL message too long"))),
    (["AUTHENTICATE PLAIN"] + ["AUTHENTICATE " + "A" * 400] * 11,
     ("905", ("alice", "SASL message too long"))),
    (["AUTHENTICATE PLAIN", "AUTHENTICATE !!notbase64"],
     ("904", ("alice", "The data was not base64"))),
    (["AUTHENTICATE PLAIN", f"AUTHENTICATE {b64('no separators')}"],
     ("904", ("alice", "PLAIN takes an account and a password"))),
    (["AUTHENTICATE PLAIN", "AUTHENTICATE " + b64(b"a\0\xff\0b")],
     ("904", ("alice", "PLAIN takes an account and a password"))),
    (["AUTHENTICATE PLAIN", f"AUTHENTICATE {plain_payload('alice', 'wonderland', 'bob')}"],
     ("904", ("alice", "PLAIN takes an account and a password"))),
    (["AUTHENTICATE PLAIN", "AUTHENTICATE *"], ("906", ("alice", "SASL authentication aborted"))),
    (["AUTHENTICATE " + plain_payload("alice", "wonderland")],  # data before a mechanism
     ("904", ("alice", "The mechanism AGFSAWNLAHDVBMRLCMXH is not offered"))),  # 20 shown
])
def test_malformed_exchanges_get_the_specified_numeric(chat, lines, reply):
    alice = connecting(chat)
    bob = chat.irc("bob")
    alice.send(*lines)
    assert numerics(alice)[-1] == reply
    assert alice.client.sasl is None and alice.client.account is None
    bob.send("PING :unaffected")
    assert numerics(bob) == [("PONG", ("tcpchat", "unaffected"))]
    # and a fresh exchange works afterwards
    assert sasl_plain(alice, "alice", "wonderland")[-1][0] == "903"


def test_a_mechanism_not_offered_gets_the_list_and_904(chat):
    alice = connecting(chat)
    alice.send("AUTHENTICATE EXTERNAL")
    assert numerics(alice) == [("908", ("alice", "SCRAM-SHA-256,PLAIN",
                                        "are available SASL mechanisms")),
                               ("904", ("alice", "The mechanism EXTERNAL is not offered"))]


def test_sasl_needs_the_capability_and_only_once(chat):
    alice = connecting(chat, caps="server-time")
    alice.send("AUTHENTICATE PLAIN")
    assert numerics(alice) == [("904", ("alice", "Ask for the sasl capability first"))]
    alice.send("CAP REQ sasl")
    alice.lines()
    assert sasl_plain(alice, "alice", "wonderland")[-1][0] == "903"
    alice.send("AUTHENTICATE PLAIN")
    assert numerics(alice) == [("907", ("alice", "You have already authenticated using SASL"))]


def test_registering_in_the_middle_of_an_exchange_aborts_it(chat):
    alice = connecting(chat)
    alice.send("AUTHENTICATE PLAIN", "CAP END")
    assert alice.commands()[:3] == ["AUTHENTICATE", "906", "001"]
    assert alice.client.account is None


# -- SASL SCRAM-SHA-256 ---------------------------------------------------------------------

def scram_exchange(peer, name, password, tamper=None):
    """Run SCRAM-SHA-256 from scramp's client side; the numerics of the end."""
    client = scramp.ScramClient(["SCRAM-SHA-256"], name, password)
    peer.send("AUTHENTICATE SCRAM-SHA-256")
    assert numerics(peer) == [("AUTHENTICATE", ("+",))]
    peer.send(f"AUTHENTICATE {b64(client.get_client_first())}")
    reply = numerics(peer)
    if reply[0][0] != "AUTHENTICATE":
        return reply
    client.set_server_first(base64.b64decode(reply[0][1][0]).decode())
    final = client.get_client_final()
    if tamper is not None:
        final = tamper(final)
    peer.send(f"AUTHENTICATE {b64(final)}")
    reply = numerics(peer)
    if reply[0][0] != "AUTHENTICATE":
        return reply
    client.set_server_final(base64.b64decode(reply[0][1][0]).decode())  # checks the server
    peer.send("AUTHENTICATE +")
    return numerics(peer)


names = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)


def prepared(password):
    """*password* as SASLprep makes it, or None where it refuses it (unassigned code points:
    such a password opens with PLAIN alone)."""
    try:
        return scramp.core.saslprep(password)
    except scramp.ScramException:
        return None


#: Passwords of Latin, Greek, Cyrillic, Armenian... letters, digits, signs and spaces (below
#: the right-to-left scripts, whose mixing SASLprep's bidi rule refuses), each a character
#: SASLprep takes.
passwords = st.text(st.characters(max_codepoint=0x58F, exclude_categories=("Cs", "Cc"))
                    .filter(lambda char: prepared(char) not in (None, "")),
                    min_size=1, max_size=40)


@settings(max_examples=25)
@given(name=names, password=passwords, other=passwords)
def test_scram_opens_to_the_right_password_only(name, password, other):
    assume(prepared(password) is not None and prepared(other) is not None)
    chat = Harness()
    chat.core.chat.accounts.add(account(name, password))
    peer = connecting(chat, "someone")
    assert scram_exchange(peer, name, password)[-1][0] == "903"
    assert peer.client.account == name
    if prepared(other) != prepared(password):
        stranger = chat.connect("10.0.0.2")
        stranger.send("CAP REQ sasl", "NICK x", "USER x 0 * :x")
        stranger.lines()
        assert scram_exchange(stranger, name, other)[-1] == ("904", (
            "x", "SASL authentication failed"))


def test_scram_for_an_unknown_account_fails_only_at_the_proof(chat):
    peer = connecting(chat, "bob")
    assert scram_exchange(peer, "nobody", "whatever") == [
        ("904", ("bob", "SASL authentication failed"))]


@pytest.mark.parametrize("tamper", [
    lambda final: final.replace("r=", "r=forged", 1),         # a nonce not the server's
    lambda final: final[:-8] + "AAAAAAA=",                     # a wrong proof
])
def test_scram_with_a_forged_nonce_or_proof_fails(chat, tamper):
    peer = connecting(chat, "bob")
    assert scram_exchange(peer, "alice", "wonderland", tamper) == [
        ("904", ("bob", "SASL authentication failed"))]


def test_a_password_scram_cannot_take_still_opens_with_plain(chat):
    chat.core.chat.accounts.add(account("erin", "ʮʮʮʮʮʮʮʮ"))  # unassigned in SASLprep's Unicode
    assert chat.core.chat.accounts.get("erin").scram is None
    erin = connecting(chat, "erin")
    assert sasl_plain(erin, "erin", "ʮʮʮʮʮʮʮʮ")[-1][0] == "903"


def test_a_plain_login_gives_an_old_account_its_scram_keys(chat):
    chat.core.chat.accounts.add(Account("dave", hash_password("dave's secret")))
    dave = connecting(chat, "dave")
    assert sasl_plain(dave, "dave", "dave's secret")[-1][0] == "903"
    assert chat.core.chat.accounts.get("dave").scram is not None
    again = connecting(chat, "dave2")
    assert scram_exchange(again, "dave", "dave's secret")[-1][0] == "903"


# -- REGISTER -------------------------------------------------------------------------------

def test_register_before_connecting_logs_in(chat):
    bob = connecting(chat, "bob", caps="draft/account-registration")
    bob.send("REGISTER * * :a long password")
    assert numerics(bob) == [
        ("REGISTER", ("SUCCESS", "bob", "Account bob registered")),
        ("900", ("bob", "bob!bob@127.0.0.1", "bob", "You are now logged in as bob"))]
    assert chat.core.chat.accounts.get("BOB").name == "bob"
    bob.send("CAP END")
    assert bob.commands()[0] == "001" and bob.client.account == "bob"


@pytest.mark.parametrize("line, code", [
    ("REGISTER alice * :a long password", "ACCOUNT_NAME_MUST_BE_NICK"),
    ("REGISTER * * :short", "WEAK_PASSWORD"),
    ("REGISTER * * :" + "x" * 301, "UNACCEPTABLE_PASSWORD"),
    ("REGISTER * * :", "UNACCEPTABLE_PASSWORD"),
])
def test_register_refusals(chat, line, code):
    bob = connecting(chat, "bob")
    bob.send(line)
    reply = numerics(bob)
    assert reply[0][0] == "FAIL" and reply[0][1][:2] == ("REGISTER", code)
    assert chat.core.chat.accounts.get("bob") is None


def test_register_a_taken_or_look_alike_name(chat):
    taken = connecting(chat, "ALICE")
    taken.send("REGISTER * * :a long password")
    assert numerics(taken)[0][1][:3] == ("REGISTER", "ACCOUNT_EXISTS", "ALICE")
    lookalike = connecting(chat, "аlice")  # a Cyrillic а
    lookalike.send("REGISTER * * :a long password")
    assert numerics(lookalike)[0][1] == (
        "REGISTER", "BAD_ACCOUNT_NAME", "аlice",
        "This name looks too much like the account alice")


def test_register_when_logged_in_or_closed():
    chat = Harness(registration="closed")
    bob = connecting(chat, "bob")
    bob.send("REGISTER * * :a long password")
    assert numerics(bob)[0][1][1] == "TEMPORARILY_UNAVAILABLE"
    bob.send("CAP LS 302")
    assert "account-registration" not in bob.lines()[0]


def test_registrations_are_rate_limited_per_address(monkeypatch):
    monkeypatch.setattr("tcpchat.chat.chat.REGISTRATIONS_PER_ADDRESS", (2, 600.0))
    chat = Harness()
    for nick in ("one", "two"):
        peer = connecting(chat, nick)
        peer.send("REGISTER * * :a long password")
        assert numerics(peer)[0][1][0] == "SUCCESS"
    third = connecting(chat, "three")
    third.send("REGISTER * * :a long password")
    assert numerics(third)[0][1][:2] == ("REGISTER", "TEMPORARILY_UNAVAILABLE")
    elsewhere = chat.connect("10.1.1.1")
    elsewhere.send("NICK four", "USER four 0 * :four", "REGISTER * * :a long password")
    assert ("REGISTER", ("SUCCESS", "four", "Account four registered")) in numerics(elsewhere)


# -- What others see ------------------------------------------------------------------------

def test_others_see_the_account(chat):
    bob = chat.connect()
    bob.send("CAP REQ :account-tag account-notify extended-join",
             "NICK bob", "USER bob 0 * :Bob", "CAP END")
    bob.lines()
    alice = chat.irc("alice")
    assert numerics(bob)[0] == ("JOIN", ("#lobby", "*", "alice Real"))
    alice.send("CAP REQ sasl")
    alice.lines()
    assert sasl_plain(alice, "alice", "wonderland")[0][0] == "900"
    assert alice.commands() == []
    assert bob.lines() == [":alice!alice@127.0.0.1 ACCOUNT alice"]
    alice.send("PRIVMSG #lobby :hi", "WHO #lobby %na")
    assert bob.lines() == ["@account=alice :alice!alice@127.0.0.1 PRIVMSG #lobby :hi"]
    assert ("354", ("alice", "bob", "0")) in numerics(alice)
    carol = chat.irc("carol")
    carol.lines()
    alice.send("PRIVMSG #lobby :no tags for you")
    assert carol.lines() == [":alice!alice@127.0.0.1 PRIVMSG #lobby :no tags for you"]


# -- Plain users ----------------------------------------------------------------------------

def test_plain_users_register_log_out_and_log_in(chat):
    bob = chat.plain("bob")
    bob.send("/register hunter2hunter2")
    assert bob.lines() == [
        "*** Account bob registered: from now on, /login PASSWORD when you come back (or let "
        "your IRC client log in with SASL).", "*** You are logged in as bob."]
    bob.send("/logout", "/login wrong-password")
    assert bob.lines() == [
        "*** You are logged out.",
        "*** The nick bob belongs to the account bob: log in to it (SASL, or /login PASSWORD) "
        "within 30 seconds, or you will be renamed",
        "! Wrong account or password"]
    chat.clock.advance(5)
    bob.send("/login hunter2hunter2")
    assert bob.lines() == ["*** You are logged in as bob."]
    bob.send("/register again123")
    assert bob.lines() == ["! You are logged in to an account already"]


def test_a_suspended_account_cannot_log_in(chat):
    chat.core.chat.accounts.get("alice").suspended = "spam"
    bob = chat.plain("alice")
    bob.send("/login wonderland")
    assert bob.lines()[-1] == "! The account alice is suspended: spam"
    other = connecting(chat, "al")
    assert sasl_plain(other, "alice", "wonderland") == [
        ("904", ("al", "The account alice is suspended: spam"))]


# -- Nick protection ------------------------------------------------------------------------

def test_a_registered_nick_is_given_back_after_the_grace_period(chat):
    impostor = chat.plain("alice")
    impostor.output()
    assert impostor.client.nick == "alice"
    chat.clock.advance(29)
    chat.run_timers()
    assert impostor.client.nick == "alice"
    chat.clock.advance(1)
    chat.run_timers()
    assert impostor.client.nick.startswith("Guest")


def test_logging_in_within_the_grace_period_keeps_the_nick(chat):
    alice = chat.irc("alice")
    assert alice.client.nick == "alice"
    alice.send("CAP REQ sasl")
    alice.lines()
    assert sasl_plain(alice, "alice", "wonderland")[-1][0] == "903"
    chat.clock.advance(31)
    chat.run_timers()
    assert alice.client.nick == "alice"


def test_protection_warns_and_renames(chat):
    alice = chat.connect()
    alice.send("NICK alice", "USER a 0 * :a")
    lines = alice.lines()
    assert any("The nick alice belongs to the account alice: log in to it" in line
               for line in lines)
    chat.clock.advance(30)
    chat.run_timers()
    assert alice.lines()[-2:] == [
        ":tcpchat NOTICE alice :You did not log in to alice: you are Guest2 now",
        ":alice!a@127.0.0.1 NICK Guest2"]


@pytest.mark.parametrize("policy", ["warn", "off"])
def test_protection_off_or_warn_never_renames(policy):
    chat = Harness(nick_protection=policy)
    chat.core.chat.accounts.add(account("alice", "wonderland"))
    alice = chat.connect()
    alice.send("NICK alice", "USER a 0 * :a")
    warned = any("belongs to the account" in line for line in alice.lines())
    assert warned == (policy == "warn")
    chat.clock.advance(60)
    chat.run_timers()
    assert alice.client.nick == "alice"


def test_a_look_alike_of_an_account_is_protected_too(chat):
    impostor = chat.irc("аlice")  # Cyrillic а
    chat.clock.advance(30)
    chat.run_timers()
    assert impostor.client.nick.startswith("Guest")


# -- The records a store keeps --------------------------------------------------------------

def test_accounts_hand_every_change_to_the_store():
    kept = []
    accounts = Accounts(keep=lambda *record: kept.append(record))
    accounts.add(Account("Alice", "scrypt$x", created=2.0))
    accounts.get("alice").suspended = "why"
    accounts.save(accounts.get("ALICE"))
    accounts.remove(accounts.get("alice"))
    assert [(kind, key, data and data["suspended"]) for kind, key, data in kept] == [
        ("account", "alice", None), ("account", "alice", "why"), ("account", "alice", None)]
    reloaded = Accounts(records=[("account", "alice", kept[1][2])])
    assert reloaded.get("alice").suspended == "why"


def test_sasl_external_takes_the_account_of_the_connections_certificate(chat):
    chat.core.chat.accounts.get("alice").certificates["ab" * 32] = "PEM"
    chat.core.chat.accounts.save(chat.core.chat.accounts.get("alice"))
    alice = connecting(chat)
    alice.conn.transport.certfp = "ab" * 32
    alice.send("CAP LS 302")
    assert "sasl=EXTERNAL,SCRAM-SHA-256,PLAIN" in alice.lines()[0]
    alice.send("AUTHENTICATE EXTERNAL", f"AUTHENTICATE {b64('bob')}")
    assert numerics(alice)[-1] == ("904", ("alice", "SASL authentication failed"))
    alice.send("AUTHENTICATE EXTERNAL", "AUTHENTICATE +")
    assert alice.commands() == ["AUTHENTICATE", "900", "903"]
    stranger = connecting(chat, "eve")
    stranger.send("AUTHENTICATE EXTERNAL", "AUTHENTICATE +")
    assert numerics(stranger)[-1] == (
        "904", ("eve", "No account holds the certificate this connection showed"))


def test_external_is_offered_only_while_an_account_holds_a_certificate(chat):
    peer = chat.connect()
    peer.send("CAP LS 302")
    assert "sasl=SCRAM-SHA-256,PLAIN " in peer.lines()[0]
