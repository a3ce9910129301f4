"""STATUSMSG: ``PRIVMSG @#room`` reaches a room's operators, ``+#room`` its voiced and
operators, and no one else; it is not kept in the room's history, and it crosses a cluster."""

from helpers import Harness, numerics
from tcpchat.store.memory import ListStore


def room(**options):
    """ann (operator), vic (voiced) and bob in #lobby, every output read."""
    chat = Harness(history=ListStore(), flood=None, **options)
    ann, vic, bob = chat.irc("ann"), chat.irc("vic"), chat.irc("bob")
    ann.send("MODE #lobby +v vic")
    for peer in (ann, vic, bob):
        peer.lines()
    return chat, ann, vic, bob


def test_a_message_to_the_operators_reaches_them_alone():
    chat, ann, vic, bob = room()
    bob.send("PRIVMSG @#lobby :ops, a word")
    assert ann.lines() == [":bob!bob@127.0.0.1 PRIVMSG @#lobby :ops, a word"]
    assert vic.lines() == [] and bob.lines() == []


def test_a_message_to_the_voiced_reaches_them_and_the_operators():
    chat, ann, vic, bob = room()
    ann.send("NOTICE +#lobby :voiced and up")
    assert vic.lines() == [":ann!ann@127.0.0.1 NOTICE +#lobby :voiced and up"]
    assert ann.lines() == [] and bob.lines() == []


def test_the_rules_of_the_room_still_hold_and_005_says_it():
    chat, ann, vic, bob = room()
    ann.send("MODE #lobby +m")
    ann.lines(), vic.lines(), bob.lines()
    bob.send("PRIVMSG @#lobby :let me speak")  # moderated, and bob has no voice
    assert numerics(bob)[0][0] == "404" and ann.lines() == []
    bob.send("PRIVMSG @#nowhere :hello")
    number, params = numerics(bob)[0]
    assert (number, params[:2]) == ("401", ("bob", "@#nowhere"))
    bob.send("VERSION")
    assert any("STATUSMSG=@+" in params for _number, params in numerics(bob))


def test_echo_comes_back_and_history_keeps_none_of_it():
    chat, ann, vic, bob = room()
    vic.send("CAP REQ :echo-message")
    vic.lines()
    vic.send("PRIVMSG @#lobby :only for ops")
    assert vic.lines() == [":vic!vic@127.0.0.1 PRIVMSG @#lobby :only for ops"]
    assert ann.lines() == [":vic!vic@127.0.0.1 PRIVMSG @#lobby :only for ops"]
    assert "only for ops" not in str(chat.core.chat.history.entries)


def test_a_plain_operator_reads_it_set_apart():
    chat = Harness(flood=None)
    nc = chat.plain("nadia")  # first in #lobby: its operator
    bob = chat.irc("bob")
    nc.lines()
    bob.send("PRIVMSG @#lobby :psst")
    assert nc.lines() == ["[@#lobby only] bob: psst"]
