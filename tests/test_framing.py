from hypothesis import given
from hypothesis import strategies as st

from tcpchat.protocol.framing import TOO_LONG, LineFramer, split_datagram


def feed_all(framer, chunks):
    lines = []
    for chunk in chunks:
        lines.extend(framer.feed(chunk))
    return lines


def split_at(data, cuts):
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def test_crlf_and_bare_lf_both_end_lines():
    assert LineFramer(100).feed(b"one\r\ntwo\nthree\r\n") == [b"one", b"two", b"three"]


def test_unfinished_line_waits_for_its_end():
    framer = LineFramer(100)
    assert framer.feed(b"hel") == []
    assert framer.feed(b"lo\r") == []
    assert framer.feed(b"\n") == [b"hello"]


def test_utf8_character_split_across_chunks_is_whole_in_the_line():
    encoded = "привет\n".encode()
    framer = LineFramer(100)
    assert framer.feed(encoded[:3]) == []
    assert framer.feed(encoded[3:]) == ["привет".encode()]


def test_line_at_the_limit_passes_and_one_byte_more_does_not():
    framer = LineFramer(10)
    assert framer.feed(b"x" * 8 + b"\r\n") == [b"x" * 8]
    assert framer.feed(b"x" * 9 + b"\r\n") == [TOO_LONG]


def test_overlong_line_is_reported_once_and_the_next_line_is_read():
    framer = LineFramer(10)
    out = framer.feed(b"y" * 25)
    assert out == [TOO_LONG]
    assert framer.buffered == 0
    assert framer.feed(b"y" * 1000) == []
    assert framer.buffered == 0
    assert framer.feed(b"yyy\nnext\n") == [b"next"]


def test_thousands_of_lines_in_one_chunk():
    data = b"".join(b"line %d\r\n" % i for i in range(5000))
    assert LineFramer(100).feed(data) == [b"line %d" % i for i in range(5000)]


def test_finish_gives_the_last_line_that_had_no_line_end():
    framer = LineFramer(100)
    assert framer.feed(b"complete\nthe last\r") == [b"complete"]
    assert framer.finish() == b"the last"
    assert framer.finish() is None and framer.buffered == 0
    assert LineFramer(100).finish() is None
    too_long = LineFramer(10)
    assert too_long.feed(b"x" * 20) == [TOO_LONG]
    assert too_long.finish() is None  # reported once already


def test_discard_forgets_a_line_cut_by_a_disconnect():
    framer = LineFramer(100)
    framer.feed(b"complete\nhalf a li")
    assert framer.discard() == len(b"half a li")
    assert framer.feed(b"ne\n") == [b"ne"]


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=20))
def test_any_split_gives_the_same_lines_as_the_whole(data, cuts):
    whole = LineFramer(32).feed(data)
    assert feed_all(LineFramer(32), split_at(data, cuts)) == whole


@given(st.binary(max_size=300))
def test_one_byte_at_a_time_gives_the_same_lines(data):
    whole = LineFramer(32).feed(data)
    assert feed_all(LineFramer(32), [data[i:i + 1] for i in range(len(data))]) == whole


@given(st.lists(st.binary(min_size=1, max_size=200), max_size=30))
def test_the_buffer_never_grows_past_the_limit(chunks):
    framer = LineFramer(64)
    for chunk in chunks:
        for line in framer.feed(chunk):
            assert line is TOO_LONG or len(line) < 64
        assert framer.buffered < 64


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=20))
def test_lines_come_out_as_they_went_in(lines):
    data = b"".join(line + b"\n" for line in lines)
    expected = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    assert LineFramer(64).feed(data) == expected


def test_a_datagram_is_cut_at_the_same_line_ends_and_its_last_line_needs_none():
    assert split_datagram(b"one\r\ntwo\nthree") == [b"one", b"two", b"three"]
    assert split_datagram(b"hello\n") == [b"hello"]
    assert split_datagram(b"") == []
    assert split_datagram(b"\n\n") == [b"", b""]  # empty lines, which the core ignores


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20))
def test_a_datagram_gives_the_lines_a_stream_of_the_same_bytes_gives(lines):
    data = b"".join(line + b"\n" for line in lines)
    assert split_datagram(data) == LineFramer(1000).feed(data)
