"""The fan-out's fast path against a model and against the plain path.

Channel messages in a row go out as one batch per member (``Config.batch``, see
:mod:`tcpchat.chat.chat`).  Here random reads (several lines in one chunk, as a socket read brings
them) from IRC and plain users mix channel messages, private messages, actions, joins, parts,
nick changes and quits.  Every recipient's stream is checked against a simple model (each
message once, in order, never to its sender, none after leaving a channel), with the fast path
and without it; and the two runs must give every connection the same bytes.  One IRC user has
echo-message (its own messages come back to it, in their place), another server-time and
message-tags (its lines carry tags, from an Encoding of their own).

Broadcasts (a channel's batches recorded for the driver to send itself while nothing else
waits: see :mod:`tcpchat.chat.delivery`) are held to the queues the same way: the same steps
played with a driver that sends broadcasts give every connection the same bytes.
"""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Harness
from tcpchat.chat.flood import FloodPolicy
from tcpchat.protocol.names import fold

IRC_SLOTS = 4
PLAIN_SLOTS = 2
SLOTS = IRC_SLOTS + PLAIN_SLOTS
LOBBY = "#lobby"
CHANNELS = [LOBBY, "#a", "#B", "#b"]  # "#B" and "#b" are one channel
NICKS = ["ann", "Bob", "bob", "cy", "Дарья"]
#: The IRC slot whose user enables echo-message, and the one whose user enables tags.
ECHO_SLOT, TAGGED_SLOT = 1, 2
CAPS = {ECHO_SLOT: "echo-message", TAGGED_SLOT: "server-time message-tags"}

irc_action = st.one_of(
    st.tuples(st.just("say"), st.sampled_from(CHANNELS)),
    st.tuples(st.just("notice"), st.sampled_from(CHANNELS)),
    st.tuples(st.just("msg"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("join"), st.sampled_from(CHANNELS)),
    st.tuples(st.just("part"), st.sampled_from(CHANNELS)),
    st.tuples(st.just("nick"), st.sampled_from(NICKS)),
)
plain_action = st.one_of(
    st.tuples(st.just("say"), st.just(LOBBY)),
    st.tuples(st.just("me"), st.just(LOBBY)),
    st.tuples(st.just("msg"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("nick"), st.sampled_from(NICKS)),
)
# One step: a read from one user (its lines in one chunk), or that user quitting and a new
# user taking its slot, or (for a run with flood control) time passing.
step = st.one_of(
    st.integers(0, SLOTS - 1).flatmap(lambda slot: st.one_of(
        st.tuples(st.just(slot), st.lists(irc_action if slot < IRC_SLOTS else plain_action,
                                          min_size=1, max_size=8)),
        st.tuples(st.just(slot), st.just("quit")),
    )),
    st.tuples(st.just(None), st.just("tick")),
)
#: Tight enough that a few reads pause a user, and one timer call resumes several at once,
#: each with lines held: the batch must not mix their messages.
TIGHT = FloodPolicy(lines_per_second=4.0, burst_lines=4, backlog=1 << 20)

MESSAGE_TEXT = re.compile(r"\bm\d+\b")


class Run:
    """One chat, its users, the model of who is where, and what each slot received."""

    def __init__(self, batch, flood=None, direct=False):
        self.harness = Harness(batch=batch, flood=flood, direct=direct)
        self.generation = [0] * SLOTS
        self.peers = [self._connect(slot) for slot in range(SLOTS)]
        self.streams = {slot: [] for slot in range(SLOTS)}  # every byte, per slot
        self.expected = {slot: [] for slot in range(SLOTS)}
        self.received = {slot: [] for slot in range(SLOTS)}
        self.members = {fold(LOBBY): set(range(SLOTS))}  # the model: fold(channel) -> slots
        self.counter = 0
        self.sender = {}  # text -> (slot, generation) of the user who sent it
        # Texts sent to a nick: whoever holds the nick when the line is handled gets them.
        self.to_a_nick = set()
        self.received_by = {}  # (slot, generation) -> texts, for each user who held the slot
        self.collect()

    def _connect(self, slot):
        name = f"u{slot}g{self.generation[slot]}"
        if slot in CAPS:
            peer = self.harness.connect()
            peer.send(f"CAP REQ :{CAPS[slot]}", f"NICK {name}", f"USER {name} 0 * :R",
                      "CAP END")
            peer.lines()
            return peer
        if slot < IRC_SLOTS:
            return self.harness.irc(name)
        # The last plain user's transport is not one broadcasts are sent to (a web page's).
        return self.harness.plain(name, direct=False if slot == SLOTS - 1 else None)

    def play(self, slot, actions):
        if actions == "tick":
            self.harness.clock.advance(0.5)
            self.harness.run_timers()
        elif actions == "quit":
            self.peers[slot].send("QUIT :gone" if slot < IRC_SLOTS else "/quit")
            for room in self.members.values():
                room.discard(slot)
            self.collect()
            self.generation[slot] += 1
            self.peers[slot] = self._connect(slot)
            self.members[fold(LOBBY)].add(slot)
        else:
            self.peers[slot].send(*(self._line(slot, *action) for action in actions))
        self.collect()

    def _line(self, slot, action, argument):
        plain = slot >= IRC_SLOTS
        if action in ("say", "notice", "me"):
            text = self._text(slot)
            room = self.members.get(fold(argument), set())
            if slot in room:
                self._expect(room - {slot} | self._echo(slot), text)
            if plain:
                return f"/me {text}" if action == "me" else text
            return f"{action.upper().replace('SAY', 'PRIVMSG')} {argument} :{text}"
        if action == "msg":
            if argument == slot:
                return "/who" if plain else "PING x"
            text = self._text(slot)
            self.to_a_nick.add(text)
            # The recipient's nick now: only its own reads change it.
            self._expect({argument} | self._echo(slot), text)
            nick = self.peers[argument].client.nick
            return f"/msg {nick} {text}" if plain else f"PRIVMSG {nick} :{text}"
        if action == "join":
            self.members.setdefault(fold(argument), set()).add(slot)
            return f"JOIN {argument}"
        if action == "part":
            self.members.get(fold(argument), set()).discard(slot)
            return f"PART {argument} :bye"
        return f"/nick {argument}" if plain else f"NICK {argument}"

    @staticmethod
    def _echo(slot):
        return {slot} if slot == ECHO_SLOT else set()

    def _text(self, slot):
        self.counter += 1
        text = f"m{self.counter}"
        self.sender[text] = (slot, self.generation[slot])
        return text

    def _expect(self, slots, text):
        for slot in slots:
            self.expected[slot].append(text)

    def collect(self):
        for slot, peer in enumerate(self.peers):
            data = peer.output()
            self.streams[slot].append(data)
            for line in data.decode().split("\r\n"):
                if line.startswith("[private] ->"):
                    continue  # a plain user's own private message, shown back to it
                if slot < IRC_SLOTS and not re.match(r"(@\S+ )?:\S+ (PRIVMSG|NOTICE) ", line):
                    continue
                texts = MESSAGE_TEXT.findall(line)
                self.received[slot].extend(texts)
                self.received_by.setdefault((slot, self.generation[slot]), []).extend(texts)


def play(steps, batch, flood=None, direct=False):
    run = Run(batch, flood, direct)
    for slot, actions in steps:
        run.play(slot, actions)
    return run


@settings(max_examples=120, deadline=None)
@given(st.lists(step, max_size=25))
def test_every_recipient_gets_each_message_once_in_order_with_and_without_batching(steps):
    batched, one_by_one = play(steps, batch=True), play(steps, batch=False)
    for run in (batched, one_by_one):
        assert run.received == run.expected
    assert batched.streams == one_by_one.streams


@settings(max_examples=80, deadline=None)
@given(st.lists(step, max_size=25))
def test_lines_held_by_flood_control_go_out_alike_with_and_without_batching(steps):
    """Held lines are handled later, when the model no longer knows who is where; so here
    the plain path is the model, and no one ever gets a message twice or its own to a room.
    (A message to a nick goes to whoever holds the nick when it is handled: its sender, if a
    NICK held before it took that nick once its holder left.)"""
    batched, one_by_one = play(steps, True, TIGHT), play(steps, False, TIGHT)
    assert batched.streams == one_by_one.streams
    for user, texts in batched.received_by.items():
        assert len(texts) == len(set(texts))
        assert not any(batched.sender[text] == user for text in texts
                       if user[0] != ECHO_SLOT and text not in batched.to_a_nick)


@settings(max_examples=120, deadline=None)
@given(st.lists(step, max_size=25))
def test_broadcasts_give_every_connection_the_bytes_its_queue_would(steps):
    """A driver that sends broadcasts itself (see "Broadcasts" in tcpchat.chat.delivery)
    against one that sends every queue: the same bytes to every connection."""
    direct, queued = play(steps, batch=True, direct=True), play(steps, batch=True)
    assert direct.received == direct.expected
    assert direct.streams == queued.streams


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=25))
def test_broadcasts_and_lines_held_by_flood_control_go_out_as_the_queues_would(steps):
    direct, queued = play(steps, True, TIGHT, direct=True), play(steps, True, TIGHT)
    assert direct.streams == queued.streams


def test_a_read_of_many_channel_lines_is_one_append_per_member():
    """The fast path is taken: a read of 50 lines to a channel is one pass over its
    members, not 50."""
    harness = Harness(flood=None)
    sender, *others = [harness.irc(f"u{number}") for number in range(5)]
    for peer in others:
        peer.output()  # the later ones' JOINs
    calls = []
    fan_out = harness.core.chat.delivery._fan_out
    harness.core.chat.delivery._fan_out = lambda *args: calls.append(args) or fan_out(*args)
    sender.send(*(f"PRIVMSG #lobby :line {number}" for number in range(50)))
    assert len(calls) == 1
    for peer in others:
        assert [m.params[1] for m in peer.messages()] == [f"line {n}" for n in range(50)]


def everyday_room(members=4):
    """A driver that sends broadcasts, and *members* IRC users in #lobby, their output read."""
    harness = Harness(flood=None, direct=True)
    peers = [harness.irc(f"u{number}") for number in range(members)]
    for peer in peers:
        peer.output()
    return harness, peers


def texts(peer):
    return [message.params[-1] for message in peer.messages()]


def test_a_message_alone_in_its_turn_is_a_broadcast_to_all_but_its_sender():
    harness, (sender, *others) = everyday_room()
    stats = harness.core.chat.stats
    delivered = stats.deliveries
    for number in range(3):
        sender.send(f"PRIVMSG #lobby :line {number}")
    assert harness.broadcasts == 3
    for peer in others:
        assert texts(peer) == ["line 0", "line 1", "line 2"]
    assert sender.output() == b""
    assert stats.deliveries - delivered == 9


def test_what_is_queued_after_a_broadcast_in_the_same_call_comes_after_it():
    """The private message is queued after the channel's line was recorded as a broadcast:
    the broadcast goes into the queues first, so u1 reads the two in the order said."""
    harness, (sender, first, second, _third) = everyday_room()
    sender.send("PRIVMSG #lobby :to the room", "PRIVMSG u1 :to u1", "PRIVMSG #lobby :again")
    assert harness.broadcasts == 0  # the first was queued, the last queued as usual
    assert texts(first) == ["to the room", "to u1", "again"]
    assert texts(second) == ["to the room", "again"]


def test_a_broadcast_not_sent_yet_counts_in_the_room_a_long_reply_has():
    """In one turn of the loop, u0's line is recorded as a broadcast; u1's LIST, read later
    in the same turn, must see it in u1's queue when it asks whether a long reply fits (half the bound)."""
    harness = Harness(flood=None, direct=True, sendq=4000)
    sender, reader = harness.irc("u0"), harness.irc("u1")
    for peer in (sender, reader):
        peer.send("JOIN #lobby")
        peer.output()
    delivery = harness.core.chat.delivery
    harness.begin_turn()
    sender.conn.receive_data((b"PRIVMSG #lobby :" + b"x" * 400 + b"\r\n") * 5)
    assert delivery.broadcasts  # recorded, not queued
    assert reader.conn.pending == 0
    assert not delivery.has_room(reader.conn.client)  # 5 lines of 400 bytes of 4000 wait
    assert reader.conn.pending > 2000


def test_a_member_who_changes_encoding_is_written_for_as_it_asked():
    """A member enables server-time: its lines carry tags from then on, in a group of their
    own, and the others' lines are as before."""
    harness, (sender, tagged, untagged, other) = everyday_room()
    sender.send("PRIVMSG #lobby :before")
    assert [message.tags for message in tagged.messages()] == [{}]
    tagged.send("CAP REQ :server-time")
    for peer in (sender, tagged, untagged, other):
        peer.output()
    sender.send("PRIVMSG #lobby :after")
    assert harness.broadcasts == 3  # one, then one for each Encoding of the room
    assert [set(message.tags) for message in tagged.messages()] == [{"time"}]
    assert [(message.tags, message.params[-1]) for message in untagged.messages()] == [
        ({}, "after")]


def test_who_joins_hears_the_next_broadcast_and_who_quits_does_not():
    harness, (sender, staying, leaving, other) = everyday_room()
    leaving.send("QUIT :bye")
    newcomer = harness.irc("late")
    for peer in (sender, staying, leaving, other, newcomer):
        peer.output()
    sender.send("PRIVMSG #lobby :hello")
    assert harness.broadcasts == 1
    assert texts(newcomer) == ["hello"]
    assert texts(staying) == ["hello"]
    assert leaving.conn not in harness.sent


def test_a_room_of_irc_and_plain_users_has_a_broadcast_for_each_encoding():
    """Plain users are written by another Encoding: a group of their own, and each member
    reads the line in its own form."""
    harness, (sender, irc_member, *rest) = everyday_room()
    plain = harness.plain("netcat")
    for peer in (sender, irc_member, *rest):
        peer.output()
    sender.send("PRIVMSG #lobby :hi")
    assert harness.broadcasts == 2
    assert texts(irc_member) == ["hi"]
    assert plain.lines() == ["u0: hi"]


def test_a_member_on_another_transport_has_the_broadcast_queued_in_its_place():
    """A member the driver does not send broadcasts to (a web page) gets the room's line in
    its queue, before what is queued for it after."""
    harness, (sender, *others) = everyday_room()
    page = harness.plain("page", direct=False)
    for peer in (sender, *others):
        peer.output()
    sender.send("PRIVMSG #lobby :to the room")
    sender.send("PRIVMSG #lobby :again", "PRIVMSG page :to the page")
    assert harness.broadcasts == 1  # the second went into the queues: a line came after it
    assert page.lines() == ["u0: to the room", "u0: again", "[private] u0: to the page"]
    for peer in others:
        assert texts(peer) == ["to the room", "again"]


def test_the_broadcasts_of_one_turn_reach_each_member_in_order_and_no_sender_its_own():
    """Two talkers' reads in one turn, the driver's flush after both: two broadcasts to one
    audience, which each member reads as the queues would have had them."""
    harness, (first, second, *others) = everyday_room()
    harness.begin_turn()
    first.conn.receive_data(b"PRIVMSG #lobby :a1\r\nPRIVMSG #lobby :a2\r\n")
    second.conn.receive_data(b"PRIVMSG #lobby :b1\r\n")
    first.conn.receive_data(b"PRIVMSG #lobby :a3\r\n")
    harness.end_turn()
    assert harness.broadcasts == 3
    assert texts(first) == ["b1"]
    assert texts(second) == ["a1", "a2", "a3"]
    for peer in others:
        assert texts(peer) == ["a1", "a2", "b1", "a3"]


def test_a_member_lost_or_cut_off_after_a_broadcast_of_its_turn_is_sent_none_of_it():
    """As on the general path, where the broadcast would have waited in their queues: a
    connection lost in the same turn, or cut off after an internal error, gets nothing more;
    the others get the line, then the quits."""
    harness, (sender, lost, cut, *others) = everyday_room(5)
    harness.begin_turn()
    sender.conn.receive_data(b"PRIVMSG #lobby :hi\r\n")
    lost.conn.connection_lost("Connection reset by peer")
    cut.conn.abandon()
    harness.end_turn()
    assert lost.output() == b"" and cut.output() == b""
    for peer in others:
        assert [(message.command, message.params[-1]) for message in peer.messages()] == [
            ("PRIVMSG", "hi"), ("QUIT", "Connection reset by peer")]
