import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tcpchat.protocol.message import (MAX_MESSAGE, TEXT_POSITION, MalformedMessage, Message,
                                     _joined_body, _parse_any, encode_line, parse, serialize,
                                     split_utf8, text_room, utf8_prefix)


def test_parse_full_message():
    message = parse(r"@id=123;msg=x\:y\sz\\w;flag :nick!u@host PRIVMSG #chan :hello there")
    assert message == Message("PRIVMSG", ("#chan", "hello there"), "nick!u@host",
                              {"id": "123", "msg": "x;y z\\w", "flag": ""})


def test_parse_upper_cases_the_command_and_allows_many_spaces():
    assert parse("privmsg   #a    :x  y") == Message("PRIVMSG", ("#a", "x  y"))


def test_parse_trailing_may_be_empty_or_start_with_colon():
    assert parse("TOPIC #a :").params == ("#a", "")
    assert parse("PRIVMSG #a ::)").params == ("#a", ":)")


@pytest.mark.parametrize("line", ["", "   ", "@tags", ":source", ":source  "])
def test_no_command_is_malformed(line):
    with pytest.raises(MalformedMessage):
        parse(line)


def test_serialize_puts_a_colon_before_text():
    assert serialize(Message("PRIVMSG", ("#a", "hi"), "n!u@h")) == ":n!u@h PRIVMSG #a :hi"
    assert serialize(Message("JOIN", ("#a",), "n!u@h")) == ":n!u@h JOIN #a"


@pytest.mark.parametrize("params", [("", "x"), ("a b", "x"), (":a", "x"), ("a", "x\r\ny")])
def test_serialize_refuses_what_cannot_be_read_back(params):
    with pytest.raises(ValueError):
        serialize(Message("PRIVMSG", params))


def test_utf8_prefix_never_cuts_a_character():
    text = "яя"  # 4 bytes
    assert utf8_prefix(text, 3) == "я"
    assert utf8_prefix(text, 4) == "яя"
    assert utf8_prefix("€", 2) == ""


def test_encode_line_shortens_an_overlong_trailing_at_a_character():
    line = encode_line(Message("QUIT", ("я" * 400,), "nick!user@host"))
    assert len(line) <= MAX_MESSAGE
    assert line.endswith(b"\r\n")
    line.decode()  # no half character


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), max_size=40),
       st.sampled_from(["#c", "#каналы", "nick"]))
def test_text_room_is_exactly_what_fits_in_one_relayed_line(source, target):
    source = "n!u@" + source.replace(" ", "").replace("\r", "").replace("\n", "")
    room = text_room(source, "PRIVMSG", target)
    line = serialize(Message("PRIVMSG", (target, "x" * room), source)).encode() + b"\r\n"
    assert len(line) == MAX_MESSAGE


@given(st.text(max_size=300), st.integers(min_value=4, max_value=100))
def test_split_utf8_pieces_fit_and_join_back(text, size):
    pieces = split_utf8(text, size)
    assert "".join(pieces) == text
    assert all(len(piece.encode()) <= size for piece in pieces)


# -- parse(serialize(m)) == m --------------------------------------------------------------

_no_breaks = st.characters(blacklist_characters="\0\r\n", blacklist_categories=("Cs",))
_word = st.text(_no_breaks, min_size=1, max_size=12).filter(
    lambda s: " " not in s and not s.startswith(":") and not s.startswith("@"))
_tag_key = st.from_regex(r"\A\+?[a-z][a-z0-9-]{0,8}(/[a-z]{1,5})?\Z")
_tag_value = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                     max_size=12)
messages = st.builds(
    Message,
    command=st.one_of(st.from_regex(r"\A[A-Z]{1,10}\Z"), st.from_regex(r"\A[0-9]{3}\Z")),
    params=st.tuples(st.lists(_word, max_size=5),
                     st.one_of(st.none(), st.text(_no_breaks, max_size=40))).map(
        lambda parts: tuple(parts[0]) + (() if parts[1] is None else (parts[1],))),
    source=st.one_of(st.none(), _word),
    tags=st.dictionaries(_tag_key, _tag_value, max_size=4),
)


@given(messages)
def test_parse_of_serialize_is_identity(message):
    assert parse(serialize(message)) == message


@given(st.text(st.sampled_from(" :@!#aZ0\t"), max_size=30))
def test_the_usual_line_fast_path_parses_as_the_general_parser_does(line):
    """parse() takes a shorter way for a line with no tags and no source; on any line made
    of the characters the grammar cares about, both ways agree (or both refuse it)."""
    try:
        expected = _parse_any(line)
    except MalformedMessage:
        with pytest.raises(MalformedMessage):
            parse(line)
    else:
        assert parse(line) == expected


_grammar = st.text(st.sampled_from(" :@!#aZ0\r\n\0"), max_size=8)


@given(st.sampled_from(sorted(TEXT_POSITION)), st.tuples(_grammar, _grammar), _grammar)
def test_a_message_of_a_target_and_a_text_serializes_as_the_general_way_does(
        command, params, source):
    """serialize() takes a shorter way for a source, a target and a text (PRIVMSG, NOTICE):
    on anything made of the characters the grammar cares about, it writes the general way's
    line, or refuses it where that line holds CR, LF or NUL or its target is no parameter."""
    try:
        expected = _joined_body(command, params, source)
    except ValueError:  # a middle parameter no parser could read back
        expected = None
    if expected is None or {"\r", "\n", "\0"} & set(expected):
        with pytest.raises(ValueError):
            serialize(Message(command, params, source))
    else:
        assert serialize(Message(command, params, source)) == expected


_wide = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0 ")
_middle = st.text(_wide, min_size=1, max_size=300).filter(lambda text: text[0] != ":")


@example(command="421", middles=["alice", "X" * 508], last="Unknown command", source="srv")
@example(command="352", middles=["alice", "#" + "\U0001d504" * 49, "\U0001d504" * 10, "h",
                                 "srv", "\U0001d504" * 30, "H"],
         last="0 " + "\U0001d504" * 100, source="srv")
@example(command="366", middles=["alice", "#a," * 200], last="End of /NAMES list", source="srv")
@given(command=st.sampled_from(["352", "366", "421", "PRIVMSG", "NOTICE", "TOPIC", "KICK"]),
       middles=st.lists(_middle, max_size=6),
       last=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"),
                    max_size=600),
       source=st.one_of(st.none(), _middle))
def test_any_message_the_server_builds_is_one_line_of_at_most_512_bytes_of_utf8(
        command, middles, last, source):
    """Numerics echo what clients send (a 508-byte command in 421, a long NAMES argument in
    366), and WHO replies carry long 4-byte-letter nicks: the middle parameters alone may
    pass 512 bytes.  The line still fits, is valid UTF-8, and parses to as many parameters."""
    message = Message(command, (*middles, last), source)
    encoded = encode_line(message, message.tags)
    assert len(encoded) <= MAX_MESSAGE and encoded.endswith(b"\r\n")
    assert encoded.count(b"\n") == 1
    again = parse(encoded[:-2].decode("utf-8"))
    assert again.command == command and len(again.params) == len(message.params)
