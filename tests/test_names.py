"""Which names are valid, when two are the same, and when one only looks like another."""

import fnmatch
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import Harness
from tcpchat.protocol import lookalikes
from tcpchat.protocol.names import Wildcards, channel_problem, fold, nick_problem, skeleton


@pytest.mark.parametrize("one, other", [
    ("Alice", "alice"), ("АЛИСА", "алиса"), ("ａｌｉｃｅ", "alice"), ("ＡＬＩＣＥ", "Alice"),
    ("e\u0301", "\u00e9"), ("ﾊﾟ", "ﾊﾟ"),
])
def test_fold_is_the_rfc8265_mapping_width_case_then_nfc(one, other):
    assert fold(one) == fold(other)


def test_fold_lowercases_and_does_not_case_fold():
    # toLowerCase, as RFC 8265 says (str.casefold would make these one name).
    assert fold("Straße") != fold("STRASSE")
    assert fold("ﬁ") != fold("fi")


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_fold_is_idempotent_and_the_ascii_shortcut_agrees(name):
    assert fold(fold(name)) == fold(name)
    if name.isascii():
        assert fold(name) == unicodedata.normalize("NFC", name).lower()


@pytest.mark.parametrize("nick", [
    "alice\u034f",        # combining grapheme joiner
    "alice\ufe0f",        # a variation selector
    "\u3164\u3164",       # Hangul fillers, which show as blank
    "\u115fbob",
    "bo\u200db",          # a zero-width joiner
    "al\u00adice",        # a soft hyphen
])
def test_characters_that_do_not_show_are_refused_in_nicks_and_channels(nick):
    problem = nick_problem(nick)
    assert problem is not None and "does not show" in problem
    assert channel_problem("#" + nick) is not None


@pytest.mark.parametrize("lookalike", [
    "\u0430lice",   # Cyrillic а
    "aIice",        # capital I for l
    "a1ice",
    "𝖆lice",       # mathematical Fraktur a, by NFKD
    "\u0391lice".lower().replace("α", "\u03b1"),  # Greek alpha
    "\u237alice",   # APL FUNCTIONAL SYMBOL ALPHA: no hand-made table had it
    "a\u13deice",   # CHEROKEE LETTER TLE, which looks like L
    "al\u0456ce",   # Cyrillic і (Ukrainian)
    "alic\u0435",   # Cyrillic е
    "\u0251lice",   # Latin alpha ɑ
])
def test_a_lookalike_of_a_present_users_nick_has_its_skeleton(lookalike):
    assert skeleton(lookalike) == skeleton("alice")


@pytest.mark.parametrize("different", ["alicia", "alíce", "bob", "Алиса", "dmitry"])
def test_names_that_only_share_letters_do_not(different):
    assert skeleton(different) != skeleton("alice")


def test_the_look_alikes_are_unicodes_and_say_which_version():
    assert "confusables.txt (UTS #39), Version: " in lookalikes.version()
    assert len(lookalikes.prototypes()) > 6000
    assert skeleton("rn") == skeleton("m") and skeleton("b0b") == skeleton("bob")


def test_the_table_is_made_from_unicodes_file_and_nothing_else(tmp_path):
    sample = ("\ufeff# confusables.txt\n# Date: 2024-08-14\n# Version: 16.0.0\n\n"
              "0430 ;\t0061 ;\tMA\t# ( а → a )\n006D ;\t0072 006E ;\tMA\t# ( m → rn )\n")
    assert lookalikes.parse(sample) == ("Version: 16.0.0, 2024-08-14",
                                        [("0430", "0061"), ("006D", "0072 006E")])
    with pytest.raises(ValueError):
        lookalikes.parse("alice: hello\n")


def test_a_lookalike_cannot_take_a_present_users_place_and_is_told_whose():
    chat = Harness()
    alice = chat.irc("alice")
    impostor = chat.connect()
    impostor.send("NICK \u0430lice")
    assert [(m.command, m.params) for m in impostor.messages()] == [
        ("433", ("*", "\u0430lice", "Nickname looks too much like alice, who is here"))]
    plain = chat.connect()
    plain.send("aIice")
    assert plain.lines() == ["! The name aIice looks too much like alice, who is here. "
                             "Type another name:"]
    bob = chat.irc("bob")
    alice.lines()
    bob.send("NICK a1ice")
    assert bob.messages()[-1].command == "433"
    alice.send("NICK AIice", "QUIT")  # one's own look-alike is one's own
    assert alice.messages()[0].params[0] == "AIice"
    impostor.send("NICK \u0430lice", "USER a 0 * :A")  # once alice has gone, it is free
    assert impostor.messages()[0].command == "001"


def test_two_registering_clients_cannot_hold_look_alike_nicks():
    chat = Harness()
    first, second = chat.connect(), chat.connect()
    first.send("NICK mary")
    second.send("NICK rnary")  # "rn" passes for "m"
    assert second.messages()[0].command == "433"


_MASK_CHARS = st.sampled_from("ab*?!@.")


@given(st.text(_MASK_CHARS, max_size=12), st.text(st.sampled_from("abAB!@."), max_size=12))
def test_wildcards_match_as_a_glob_does(mask, name):
    assert Wildcards(mask).matches(fold(name)) == fnmatch.fnmatchcase(fold(name), fold(mask))


def test_a_mask_made_to_make_a_regex_backtrack_is_answered_at_once():
    """``*a*a...*b`` against ``aaa...``: as a regular expression of ``.*`` this took 18 s
    (at 19 stars and 30 letters) and held up every user; any user may send one in a WHO."""
    chat = Harness()
    chat.irc("a" * 30)
    asker = chat.irc("asker")
    asker.send("WHO " + "*a" * 19 + "*b", "WHO " + "*a" * 19 + "*", "MODE #lobby +b " + "*a" * 40)
    replies = [m.command for m in asker.messages()]
    assert replies[:3] == ["315", "352", "315"]
