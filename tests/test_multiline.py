"""IRCv3 draft/multiline, against its specification (https://ircv3.net/specs/extensions/multiline):
a batch of PRIVMSGs is one message, delivered as a batch to those with the capability, as its
lines one by one to other IRC users, and as a block to plain users; kept in history as one;
every broken batch gets its FAIL once and reaches nobody; a plain user's paste is one message.
"""

import time

import pytest

from helpers import Harness, numerics, with_caps
from tcpchat.commands.batches import TIMEOUT
from tcpchat.protocol import multiline
from tcpchat.protocol.message import MAX_MESSAGE
from tcpchat.store.memory import ListStore

CAPS = ("batch", "message-tags", "draft/multiline")


def room(**options):
    """ann (with the capability and echo), bob (message-tags alone), cy (no capability) and
    nadia (plain) in #lobby, every output read."""
    chat = Harness(history=ListStore(), **options)
    ann = with_caps(chat, "ann", *CAPS, "echo-message", "labeled-response")
    bob = with_caps(chat, "bob", "message-tags")
    cy = chat.irc("cy")
    nadia = chat.plain("nadia")
    for peer in (ann, bob, cy, nadia):
        peer.lines()
    return chat, ann, bob, cy, nadia


def send_batch(peer, target, *lines, ref="b1", opening_tags=""):
    """*lines*: text, or ``(text, True)`` for a line that continues the one before."""
    body = []
    for line in lines:
        text, concat = line if isinstance(line, tuple) else (line, False)
        tags = f"@batch={ref};{multiline.CONCAT}" if concat else f"@batch={ref}"
        body.append(f"{tags} PRIVMSG {target} :{text}")
    peer.send(f"{opening_tags}BATCH +{ref} draft/multiline {target}", *body, f"BATCH -{ref}")


def test_a_batch_is_one_message_each_recipient_reads_in_its_own_form():
    chat, ann, bob, cy, nadia = room()
    bob2 = with_caps(chat, "bob2", *CAPS)
    bob2.lines(), ann.lines(), bob.lines(), cy.lines(), nadia.lines()
    send_batch(ann, "#lobby", "hello", "", "how is ", ("everyone?", True),
               opening_tags="@label=L1;+draft/reply=x ")
    source = ":ann!ann@127.0.0.1"
    opening, *body, closing = bob2.messages()
    ref = opening.params[0][1:]
    assert opening.params == (f"+{ref}", "draft/multiline", "#lobby")
    msgid = opening.tags["msgid"]
    # The message's tags, once (message-tags brings time with msgid).
    assert opening.tags == {"msgid": msgid, "time": opening.tags["time"], "+draft/reply": "x"}
    assert [(line.tags, line.params[1]) for line in body] == [
        ({"batch": ref}, "hello"), ({"batch": ref}, ""), ({"batch": ref}, "how is "),
        ({"batch": ref, multiline.CONCAT: ""}, "everyone?")]
    assert closing.params == (f"-{ref}",)
    # The sender's echo is the same batch, its label on the opening line alone.
    echo = ann.messages()
    assert echo[0].tags["label"] == "L1" and all("label" not in line.tags for line in echo[1:])
    assert [line.params for line in echo[1:]] == [line.params for line in [*body, closing]]
    # Without the capability: the lines one by one, the blank one left out, the msgid on the
    # first alone (for message-tags), the composition kept.
    time = opening.tags["time"]
    assert bob.lines() == [
        f"@+draft/reply=x;msgid={msgid};time={time} {source} PRIVMSG #lobby :hello",
        f"@+draft/reply=x;time={time} {source} PRIVMSG #lobby :how is ",
        f"@+draft/reply=x;time={time} {source} PRIVMSG #lobby :everyone?"]
    assert cy.lines() == [f"{source} PRIVMSG #lobby :hello",
                          f"{source} PRIVMSG #lobby :how is ",
                          f"{source} PRIVMSG #lobby :everyone?"]
    # A plain user reads a block, its lines under the first line's text.
    assert nadia.output() == b"ann: hello\r\n\r\n     how is everyone?\r\n"
    assert chat.core.chat.stats.commands["BATCH"] == 2


def test_a_plain_user_reads_a_block_with_blank_lines_kept():
    chat, ann, bob, cy, nadia = room()
    send_batch(ann, "#lobby", "def f():", "    return 1", "", "print(f())")
    assert nadia.output().decode() == ("ann: def f():\r\n"
                                       "         return 1\r\n"
                                       "\r\n"
                                       "     print(f())\r\n")


def test_to_a_nick_and_to_a_rooms_operators():
    chat, ann, bob, cy, nadia = room()
    send_batch(ann, "cy", "one", "two")
    assert cy.lines() == [":ann!ann@127.0.0.1 PRIVMSG cy :one",
                          ":ann!ann@127.0.0.1 PRIVMSG cy :two"]
    assert bob.lines() == [] and nadia.lines() == []
    ann.lines()
    send_batch(ann, "@#lobby", "ops", "only")  # ann is #lobby's operator: only ann hears
    assert cy.lines() == [] and bob.lines() == []
    assert [line.params for line in ann.messages()[1:-1]] == [("@#lobby", "ops"),
                                                              ("@#lobby", "only")]


def test_the_rooms_rules_hold_at_the_end_and_a_long_line_is_cut_to_fit_the_relay():
    chat, ann, bob, cy, nadia = room()
    ann.send("MODE #lobby +m")
    for peer in (ann, bob, cy, nadia):
        peer.lines()
    dan = with_caps(chat, "dan", *CAPS)
    cy.lines()
    send_batch(dan, "#lobby", "may", "I")
    assert [number for number, _params in numerics(dan)] == ["404"]
    assert cy.lines() == []
    ann.send("MODE #lobby -m")
    cy.lines()
    fits = MAX_MESSAGE - len(":ann!ann@127.0.0.1 PRIVMSG #lobby :\r\n")
    long = "word " * 99  # 494 bytes: fits the client's line, not the relay's with a mask
    send_batch(ann, "#lobby", long.strip(), "end")
    lines = cy.messages()
    assert len(lines) == 3 and all(len(line.params[1].encode()) <= fits for line in lines)
    assert "".join(line.params[1] for line in lines[:2]) == long.strip()
    concat = [line.tags.get(multiline.CONCAT) for line in with_batch_lines(chat)]
    assert concat == [None, "", None]


def test_a_line_dropped_as_too_long_drops_its_batch():
    chat, ann, bob, cy, nadia = room()
    send_batch(ann, "#lobby", "a", "x" * 600, "b")
    assert [command for command, _params in numerics(ann)] == ["417", "FAIL"]
    assert cy.lines() == []


def with_batch_lines(chat):
    """What a newcomer with the capability is given of #lobby's last message from history."""
    reader = with_caps(chat, "reader", *CAPS, "draft/chathistory")
    reader.send("CHATHISTORY LATEST #lobby * 1")
    return [line for line in reader.messages()
            if line.command == "PRIVMSG" and line.tags.get("batch")]


def test_history_keeps_it_as_one_message_and_gives_it_back_in_each_form():
    chat, ann, bob, cy, nadia = room()
    send_batch(ann, "#lobby", "first", "second")
    entries = [entry for entry in chat.core.chat.history.entries if entry.command == "PRIVMSG"]
    assert [entry.params for entry in entries] == [("#lobby", "first\nsecond")]
    modern = with_caps(chat, "modern", *CAPS, "draft/chathistory")
    modern.send("CHATHISTORY LATEST #lobby * 5")
    outer, inner, first, second, inner_end, outer_end = modern.messages()
    history, ref = outer.params[0][1:], inner.params[0][1:]
    assert outer.params[1:] == ("chathistory", "#lobby")
    assert inner.tags == {"batch": history, "msgid": entries[0].msgid,
                          "time": inner.tags["time"]}
    assert inner.params == (f"+{ref}", "draft/multiline", "#lobby")
    assert [(line.tags, line.params[1]) for line in (first, second)] == [
        ({"batch": ref}, "first"), ({"batch": ref}, "second")]
    assert (inner_end.tags, inner_end.params) == ({"batch": history}, (f"-{ref}",))
    assert outer_end.params == (f"-{history}",)
    older = with_caps(chat, "older", "batch", "draft/chathistory")
    older.send("CHATHISTORY LATEST #lobby * 5")
    assert [line.params for line in older.messages()[1:-1]] == [("#lobby", "first"),
                                                                ("#lobby", "second")]
    plain = chat.plain("paula")
    plain.send("/history 5")
    assert [line for line in plain.lines() if "first" in line or "second" in line][-2:] == [
        f"[{time_of(plain)}] ann: first", " " * (len(time_of(plain)) + 3) + "     second"]


def time_of(peer):
    return time.strftime("%H:%M", time.gmtime(peer.harness.clock.wall()))


@pytest.mark.parametrize("lines, code", [
    (["x"] * (multiline.MAX_LINES + 1), "MULTILINE_MAX_LINES"),
    (["x" * 400] * 11, "MULTILINE_MAX_BYTES"),
    (["", "  "], "MULTILINE_INVALID"),
    ([], "MULTILINE_INVALID"),
    (["a", ("", True)], "MULTILINE_INVALID"),
])
def test_a_batch_over_its_bounds_or_malformed_fails_once_and_reaches_nobody(lines, code):
    chat, ann, bob, cy, nadia = room(flood=None)
    send_batch(ann, "#lobby", *lines)
    fails = [params for command, params in numerics(ann) if command == "FAIL"]
    assert [params[:2] for params in fails] == [("BATCH", code)]
    assert bob.lines() == [] and cy.lines() == [] and nadia.lines() == []
    ann.send("PRIVMSG #lobby :still here")  # and the next message goes as ever
    assert cy.lines() == [":ann!ann@127.0.0.1 PRIVMSG #lobby :still here"]


def test_a_line_to_another_target_spoils_the_batch():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline #lobby", "@batch=b1 PRIVMSG #other :hi",
             "@batch=b1 PRIVMSG #lobby :hi", "BATCH -b1")
    assert numerics(ann) == [("FAIL", ("BATCH", "MULTILINE_INVALID_TARGET", "#lobby", "#other",
                                       "Every line of a multiline batch goes to the batch's "
                                       "target"))]
    assert cy.lines() == []


def test_nested_interleaved_stray_and_unopened_batches_are_refused():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline #lobby", "BATCH +b2 draft/multiline #lobby",
             "@batch=b1 PRIVMSG #lobby :a", "@batch=b2 PRIVMSG #lobby :b", "BATCH -b2",
             "BATCH -b1")
    assert [params[1] for _command, params in numerics(ann)] == ["MULTILINE_INVALID"]
    ann.send("BATCH +b3 draft/multiline #lobby", "@batch=b3 PRIVMSG #lobby :a",
             "@batch=b9 PRIVMSG #lobby :interleaved", "@batch=b3 PRIVMSG #lobby :c")
    assert [params[1] for _command, params in numerics(ann)] == ["MULTILINE_INVALID"]
    ann.send("BATCH -b3", "BATCH -nothing", "BATCH x", "BATCH +b4 other/type #lobby",
             "BATCH +b5 draft/multiline a,b")  # the spoilt b3 ends unanswered
    assert [params[1] for _command, params in numerics(ann)] == [
        "MULTILINE_INVALID", "MULTILINE_INVALID", "MULTILINE_INVALID",
        "MULTILINE_INVALID_TARGET"]
    assert cy.lines() == [] and bob.lines() == [] and nadia.lines() == []
    assert chat.core.chat.batches == {}


def test_another_command_ends_an_open_batch_but_a_ping_does_not():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline #lobby", "@batch=b1 PRIVMSG #lobby :a", "PING x",
             "@batch=b1 PRIVMSG #lobby :b", "BATCH -b1")
    assert [line.split(" :")[-1] for line in cy.lines()] == ["a", "b"]
    ann.lines()
    ann.send("BATCH +b2 draft/multiline #lobby", "@batch=b2 PRIVMSG #lobby :a", "TOPIC #lobby")
    assert [command for command, _params in numerics(ann)] == ["FAIL", "331"]
    ann.send("@batch=b2 PRIVMSG #lobby :late", "BATCH -b2")
    assert [params[1] for _command, params in numerics(ann)] == ["MULTILINE_INVALID"] * 2
    assert cy.lines() == []


def test_a_batch_left_open_times_out_and_its_lines_are_ignored():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline #lobby", "@batch=b1 PRIVMSG #lobby :a")
    chat.clock.advance(TIMEOUT + 1)
    chat.run_timers()
    assert numerics(ann)[0][1][:3] == ("BATCH", "TIMEOUT", "b1")
    ann.send("@batch=b1 PRIVMSG #lobby :b", "BATCH -b1")
    assert ann.lines() == [] and cy.lines() == []
    assert chat.core.chat.batches == {}


def test_without_the_capability_batch_is_an_unknown_command():
    chat, ann, bob, cy, nadia = room()
    cy.send("BATCH +b1 draft/multiline #lobby")
    assert numerics(cy)[0][0] == "421" and chat.core.chat.batches == {}


def test_a_whole_batch_of_the_most_lines_is_not_held_by_flood_control():
    chat, ann, bob, cy, nadia = room()
    send_batch(ann, "#lobby", *[f"line {number}" for number in range(multiline.MAX_LINES)])
    assert len(cy.lines()) == multiline.MAX_LINES


def test_a_user_who_leaves_mid_batch_leaves_nothing_behind():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline #lobby", "@batch=b1 PRIVMSG #lobby :a", "QUIT")
    assert chat.core.chat.batches == {}


# -- Plain users' pastes --------------------------------------------------------------------

def test_a_plain_users_paste_is_one_message():
    chat, ann, bob, cy, nadia = room()
    nadia.send("first", "", "second", "/who", "after")
    source = ":nadia!nadia@127.0.0.1"
    assert cy.lines() == [f"{source} PRIVMSG #lobby :first", f"{source} PRIVMSG #lobby :second",
                          f"{source} PRIVMSG #lobby :after"]
    opening, *body, closing, after = ann.messages()
    assert opening.params[1:] == ("draft/multiline", "#lobby")
    assert [line.params[1] for line in body] == ["first", "", "second"]
    assert closing.command == "BATCH" and after.params == ("#lobby", "after")
    entries = [entry.params[1] for entry in chat.core.chat.history.entries
               if entry.command == "PRIVMSG"]
    assert entries == ["first\n\nsecond", "after"]


def test_a_paste_past_the_bounds_goes_out_as_more_messages_nothing_lost():
    chat, ann, bob, cy, nadia = room()
    nadia.send(*[f"n{number}" for number in range(multiline.MAX_LINES + 5)])
    kept = [entry.params[1] for entry in chat.core.chat.history.entries
            if entry.command == "PRIVMSG"]
    assert [len(text.split("\n")) for text in kept] == [multiline.MAX_LINES, 5]
    assert len(cy.lines()) == multiline.MAX_LINES + 5


def test_a_plain_line_typed_alone_is_a_message_as_ever():
    chat, ann, bob, cy, nadia = room()
    nadia.send("hello")
    nadia.send("again")
    assert cy.lines() == [":nadia!nadia@127.0.0.1 PRIVMSG #lobby :hello",
                          ":nadia!nadia@127.0.0.1 PRIVMSG #lobby :again"]
    assert [message.command for message in ann.messages()] == ["PRIVMSG", "PRIVMSG"]


def test_a_target_that_cannot_be_one_is_said_back_as_a_star():
    chat, ann, bob, cy, nadia = room()
    ann.send("BATCH +b1 draft/multiline :two words", "@batch=b1 PRIVMSG #lobby :x",
             "BATCH -b1")
    assert numerics(ann) == [("FAIL", ("BATCH", "MULTILINE_INVALID_TARGET", "*", "#lobby",
                                       "Every line of a multiline batch goes to the batch's "
                                       "target"))]
    assert cy.lines() == []
