"""The usual line, ``PRIVMSG #channel :text``, takes a shorter way through the command layer
(``channel_message`` in tcpchat.protocol.message, used by ``irc.handle_line``): here it is held
to the general way, which parses the line into a Message and dispatches it.

Random reads of lines, around the shapes the shortcut must pass on (no text, several targets,
runs of spaces, a lower-case command, STATUSMSG, tags, a line of an open multiline batch, a
user not registered yet, a room the sender is not in or may not speak in), are played twice,
with the shortcut and without it: every connection must get the same bytes.
"""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers import Harness, with_caps
from tcpchat.commands import irc
from tcpchat.protocol.message import Message, channel_message, parse

LINES = [
    "PRIVMSG #lobby :hello there", "PRIVMSG #lobby :", "PRIVMSG #lobby ::)", "PRIVMSG #LOBBY :hi",
    "PRIVMSG #lobby x", "PRIVMSG  #lobby :x", "PRIVMSG #lobby  :x", "PRIVMSG #lobby :a :b",
    "PRIVMSG #nowhere :x", "PRIVMSG #lobby,#a :x", "PRIVMSG #a :x", "PRIVMSG # :x",
    "privmsg #lobby :lower", "PRIVMSG @#lobby :to the operators", "@+x=1 PRIVMSG #lobby :tagged",
    ":ann PRIVMSG #lobby :with a source", "PRIVMSG ann :private", "PRIVMSG #lobby :" + "é" * 300,
    "JOIN #a", "PART #a", "PART #lobby", "JOIN #lobby", "MODE #lobby +m", "MODE #lobby -m",
    "MODE #a +n", "AWAY :gone", "AWAY", "BATCH +b1 draft/multiline #lobby",
    "@batch=b1 PRIVMSG #lobby :in the batch", "BATCH -b1",
]
line = st.one_of(
    st.sampled_from(LINES),
    st.text(st.sampled_from(" :#,@aé"), max_size=12).map("PRIVMSG ".__add__),
)
#: Slots: 0 and 1 registered (1 with echo-message), 2 with multiline batches, 3 never
#: registered (it sent NICK alone).
SLOTS = 4
steps = st.lists(st.tuples(st.integers(0, SLOTS - 1), st.lists(line, min_size=1, max_size=6)),
                 min_size=1, max_size=12)


def _play(steps, shortcut):
    """Every peer's bytes after each step, the shortcut on or off."""
    usual = irc.channel_message
    if not shortcut:
        irc.channel_message = lambda line: None
    try:
        chat = Harness()
        peers = [chat.irc("ann"), with_caps(chat, "bob", "echo-message"),
                 with_caps(chat, "cy", "batch", "message-tags", "draft/multiline"),
                 chat.connect()]
        peers[3].send("NICK zed")
        seen = [[peer.output() for peer in peers]]
        for slot, lines in steps:
            peers[slot].send(*lines)
            seen.append([peer.output() for peer in peers])
        return seen, dict(chat.core.chat.stats.commands)
    finally:
        irc.channel_message = usual


@settings(max_examples=150, deadline=None)
@given(steps)
@example([(0, ["PRIVMSG #lobby :hello there", "PRIVMSG #lobby :again"]),
          (3, ["PRIVMSG #lobby :not registered"]),
          (2, ["BATCH +b1 draft/multiline #lobby", "PRIVMSG #lobby :ends it"]),
          (1, ["MODE #lobby +m", "PRIVMSG #lobby :ann may not", "PRIVMSG #lobby :x"])])
def test_the_usual_line_gives_everyone_what_the_general_way_gives(steps):
    assert _play(steps, shortcut=True) == _play(steps, shortcut=False)


@given(line)
@example("PRIVMSG #lobby :hello there")
def test_where_the_shortcut_answers_parse_gives_the_same_message(text):
    said = channel_message(text)
    if said is not None:
        channel, words = said
        assert parse(text) == Message("PRIVMSG", (channel, words))
        assert channel.startswith("#") and "," not in channel and words


def test_the_usual_line_is_taken_the_short_way():
    assert channel_message("PRIVMSG #lobby :hello there") == ("#lobby", "hello there")
    assert channel_message("PRIVMSG #lobby ::)") == ("#lobby", ":)")
