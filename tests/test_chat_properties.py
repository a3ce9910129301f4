"""Random sequences of what users do, checked against a simple model of the chat.

Whatever the order of joins, parts, nick changes, quits and messages: no two users ever hold
the same nick (in any letter case), and every channel message reaches every other member of
the channel exactly once, in the order it was sent, and nobody else.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Harness
from tcpchat.protocol.names import fold

PEERS = 5
CHANNELS = ["#a", "#A", "#b", "#Жж", "#жЖ"]  # pairs that are one channel in different case
NICKS = ["ann", "ANN", "Ann", "bob", "BOB", "Жора", "жОРА", "ß"]

operations = st.lists(st.one_of(
    st.tuples(st.just("join"), st.integers(0, PEERS - 1), st.sampled_from(CHANNELS)),
    st.tuples(st.just("part"), st.integers(0, PEERS - 1), st.sampled_from(CHANNELS)),
    st.tuples(st.just("nick"), st.integers(0, PEERS - 1), st.sampled_from(NICKS)),
    st.tuples(st.just("say"), st.integers(0, PEERS - 1), st.sampled_from(CHANNELS)),
    st.tuples(st.just("quit"), st.integers(0, PEERS - 1), st.none()),
), max_size=60)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_nicks_stay_unique_and_channel_messages_arrive_once_in_order(ops):
    chat = Harness(autojoin=False)
    generation = [0] * PEERS
    peers = [chat.irc(f"user{i}") for i in range(PEERS)]
    members = {}  # fold(channel) -> set of peer slots, the model
    expected = {slot: [] for slot in range(PEERS)}
    received = {slot: [] for slot in range(PEERS)}
    counter = 0

    def collect():
        for slot, peer in enumerate(peers):
            for message in peer.messages():
                if message.command == "PRIVMSG":
                    received[slot].append(message.params[1])

    for op, slot, argument in ops:
        peer = peers[slot]
        if op == "join":
            peer.send(f"JOIN {argument}")
            members.setdefault(fold(argument), set()).add(slot)
        elif op == "part":
            peer.send(f"PART {argument}")
            members.get(fold(argument), set()).discard(slot)
        elif op == "nick":
            peer.send(f"NICK {argument}")
        elif op == "say":
            counter += 1
            text = f"m{counter}"
            peer.send(f"PRIVMSG {argument} :{text}")
            room = members.get(fold(argument), set())
            if slot in room:
                for other in room - {slot}:
                    expected[other].append(text)
        elif op == "quit":
            peer.send("QUIT :gone")
            for room in members.values():
                room.discard(slot)
            collect()
            generation[slot] += 1
            peers[slot] = chat.irc(f"user{slot}g{generation[slot]}")
        collect()

        registered = [p.client for p in peers]
        folded = [fold(client.nick) for client in registered]
        assert len(set(folded)) == len(folded), "two users share a nick"
        assert all(chat.core.chat.registry.find_user(client.nick) is client for client in registered)

    assert received == expected
