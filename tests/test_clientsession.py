"""The client's protocol state, with no sockets: bytes and typed lines in, events out."""

import socket
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import TIMEOUT, FakeClock, Harness, wait_until
from tcpchat.client.session import ClientSession, Closed, NeedNick, Ready, Show
from tcpchat.text.display import CROWD_WINDOW, ERROR, EVENT, MESSAGE, PRIVATE, SERVER
from tcpchat.protocol.message import MAX_MESSAGE


def sent(session):
    return session.take_outgoing().decode().split("\r\n")[:-1]


def feed(session, *lines):
    return session.receive("".join(line + "\r\n" for line in lines).encode())


@pytest.fixture
def session():
    """A session registered as alice and in #lobby."""
    session = ClientSession("alice", "#lobby")
    session.start()
    feed(session, ":srv 001 alice :Welcome", ":alice!a@h JOIN #lobby")
    session.take_outgoing()
    return session


def test_registration_and_join():
    session = ClientSession("alice", "#lobby")
    session.start()
    assert sent(session) == ["CAP LS 302", "NICK alice", "USER alice 0 * :alice"]
    feed(session, ":srv CAP * LS * :multi-prefix", )
    assert sent(session) == []  # more LS lines to come
    feed(session, ":srv CAP * LS :sasl")
    assert sent(session) == ["CAP END"]
    events = feed(session, ":srv 001 alice :Welcome to the net", ":srv 005 alice X :are")
    assert events == [Show(SERVER, "Welcome to the net")]
    assert sent(session) == ["JOIN #lobby"]
    events = feed(session, ":alice!a@h JOIN :#lobby", ":srv 353 alice = #lobby :@alice bob",
                  ":srv 366 alice #lobby :End")
    assert events == [Show(EVENT, "* You joined #lobby"), Ready(),
                      Show(SERVER, "In #lobby: @alice bob")]
    assert session.current == "#lobby"


def test_on_a_server_that_keeps_history_it_shows_a_rooms_last_lines_with_their_times():
    session = ClientSession("alice", "#lobby")
    session.start()
    session.take_outgoing()
    feed(session, ":srv CAP * LS * :batch draft/chathistory",
         ":srv CAP * LS :server-time sasl")
    assert sent(session) == ["CAP REQ :batch server-time draft/chathistory"]
    feed(session, ":srv CAP * ACK :batch server-time draft/chathistory")
    assert sent(session) == ["CAP END"]
    feed(session, ":srv 001 alice :Welcome")
    session.take_outgoing()
    assert feed(session, ":alice!a@h JOIN #lobby")[0] == Show(EVENT, "* You joined #lobby")
    assert sent(session) == ["CHATHISTORY LATEST #lobby * 20"]
    events = feed(session, ":srv BATCH +h1 chathistory #lobby",
                  "@batch=h1;time=2023-11-14T22:13:20.000Z :bob!b@h PRIVMSG #lobby :earlier",
                  ":srv BATCH -h1",
                  "@time=2023-11-14T22:14:00.000Z :bob!b@h PRIVMSG #lobby :now")
    assert events == [Show(SERVER, "Earlier in #lobby:"),
                      Show(MESSAGE, "bob: earlier", 1_700_000_000.0),
                      Show(SERVER, "(end of earlier conversation in #lobby)"),
                      Show(MESSAGE, "bob: now")]


def test_a_server_that_refuses_the_history_capabilities_is_not_asked_for_history():
    session = ClientSession("alice", "#lobby")
    session.start()
    session.take_outgoing()
    feed(session, ":srv CAP * LS :batch server-time draft/chathistory")
    feed(session, ":srv CAP * NAK :batch server-time draft/chathistory")
    assert sent(session)[-1] == "CAP END"
    feed(session, ":srv 001 alice :Welcome", ":alice!a@h JOIN #lobby")
    assert sent(session) == ["JOIN #lobby"]


def test_taken_name_asks_for_another():
    session = ClientSession("alice", "#lobby")
    session.start()
    session.take_outgoing()
    assert feed(session, ":srv 433 * alice :Nickname is already in use") == [
        NeedNick("alice: Nickname is already in use")]
    session.choose_nick("alice2")
    assert sent(session) == ["NICK alice2"]
    feed(session, ":srv 001 alice2 :Welcome")
    assert session.nick == "alice2"


def test_failed_join_still_lets_the_user_type():
    session = ClientSession("alice", "bad")
    session.start()
    events = feed(session, ":srv 001 alice :hi", ":srv 403 alice bad :No such channel")
    assert events[-2:] == [Show(ERROR, "bad: No such channel"), Ready()]
    assert session.current is None
    assert session.handle_input("hello") == [Show(ERROR, "You are not in a room: /join #room")]


def test_ping_is_answered_and_error_closes(session):
    assert feed(session, "PING :token") == []
    assert sent(session) == ["PONG token"]
    assert feed(session, "ERROR :Closing link: bye") == [Closed("Closing link: bye")]


def test_incoming_lines_for_people(session):
    events = feed(session,
                  ":bob!b@h PRIVMSG #lobby :hello",
                  ":bob!b@h PRIVMSG #lobby :\x01ACTION waves\x01",
                  ":bob!b@h PRIVMSG alice :psst",
                  ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
                  ":bob!b@h JOIN #lobby",
                  ":bob!b@h NICK robert",
                  ":robert!b@h PART #lobby :later",
                  ":carol!c@h QUIT :Quit: bye",
                  ":srv NOTICE alice :server says",
                  ":srv 401 alice nobody :No such nick/channel",
                  ":srv 332 alice #lobby :the topic")
    assert events == [
        Show(MESSAGE, "bob: hello"),
        Show(MESSAGE, "* bob waves"),
        Show(PRIVATE, "[private] bob: psst"),
        Show(EVENT, "* bob joined #lobby"),
        Show(EVENT, "* bob is now known as robert"),
        Show(EVENT, "* robert left #lobby (later)"),
        Show(EVENT, "* carol left (Quit: bye)"),
        Show(SERVER, "server says"),
        Show(ERROR, "nobody: No such nick/channel"),
        Show(SERVER, "Topic of #lobby: the topic"),
    ]


def test_typing(session):
    assert session.handle_input("hello all") == []
    assert sent(session) == ["PRIVMSG #lobby :hello all"]
    assert session.handle_input("/msg bob hi there") == [
        Show(PRIVATE, "[private] -> bob: hi there")]
    assert sent(session) == ["PRIVMSG bob :hi there"]
    session.handle_input("/me waves")
    assert sent(session) == ["PRIVMSG #lobby :\x01ACTION waves\x01"]
    session.handle_input("/nick al")
    session.handle_input("/who")
    session.handle_input("//etc is a path")
    assert sent(session) == ["NICK al", "NAMES #lobby", "PRIVMSG #lobby :/etc is a path"]
    assert feed(session, ":alice!a@h NICK :al") == [Show(EVENT, "* You are now known as al")]
    assert session.nick == "al"


def test_an_operator_moderates_the_current_room_and_other_commands_go_to_the_server(session):
    """The client's commands for a room's operators (issue 30: it had none), and any other
    /command passed on as the page does."""
    for line in ("/topic chess at five", "/topic", "/kick bob", "/kick bob calm down",
                 "/op bob", "/deop bob", "/voice bob", "/devoice bob", "/mode +mi",
                 "/mode", "/invite dan", "/whois bob", "/list", "/away gone to lunch",
                 "/away", "/frob"):
        assert session.handle_input(line) == []
    assert sent(session) == [
        "TOPIC #lobby :chess at five", "TOPIC #lobby", "KICK #lobby bob",
        "KICK #lobby bob :calm down", "MODE #lobby +o bob", "MODE #lobby -o bob",
        "MODE #lobby +v bob", "MODE #lobby -v bob", "MODE #lobby +mi", "MODE #lobby",
        "INVITE dan #lobby", "WHOIS bob", "LIST", "AWAY :gone to lunch", "AWAY", "FROB"]


def test_join_and_part_change_the_current_room_at_once_and_a_refusal_takes_it_back(session):
    """The prompt drawn after /join names the room the next line goes to (issue 30: it
    lagged a line, and text went to a room the prompt did not show)."""
    session.handle_input("/join #games")
    assert session.current == "#games"
    session.handle_input("hello games")
    session.handle_input("/join #chess")
    assert sent(session) == ["JOIN #games", "PRIVMSG #games :hello games", "JOIN #chess"]
    feed(session, ":alice!a@h JOIN #Games")  # as the server spells it, not made current
    assert session.channels == ["#lobby", "#Games", "#chess"]
    assert feed(session, ":srv 474 alice #chess :Cannot join channel (+b): you are banned") == [
        Show(ERROR, "#chess: Cannot join channel (+b): you are banned; now in #Games")]
    assert session.current == "#Games"
    session.handle_input("/part")
    assert session.current == "#lobby" and sent(session) == ["PART #Games"]
    assert feed(session, ":alice!a@h PART #Games") == [
        Show(EVENT, "* You left #Games; now in #lobby")]
    # A /part typed before the server answered the /join: the late JOIN brings nothing back.
    session.handle_input("/join #go")
    session.handle_input("/part")
    feed(session, ":alice!a@h JOIN #go")
    assert session.current == "#lobby"
    feed(session, ":alice!a@h PART #go")
    assert session.channels == ["#lobby"]


def test_a_server_password_goes_first():
    session = ClientSession("alice", "#lobby", password="classpw")
    session.start()
    assert sent(session)[:3] == ["CAP LS 302", "PASS classpw", "NICK alice"]


def test_bad_commands_are_hinted_not_sent(session):
    assert session.handle_input("/fr-ob") == [
        Show(ERROR, "Unknown command /fr-ob: /help lists the commands")]
    assert session.handle_input("/msg bob") == [Show(ERROR, "Usage: /msg NAME text")]
    assert session.handle_input("/kick") == [Show(ERROR, "Usage: /kick NAME [reason]")]
    assert session.handle_input("/op") == [Show(ERROR, "Usage: /op NAME")]
    assert session.handle_input("/invite a b") == [Show(ERROR, "Usage: /invite NAME")]
    assert session.handle_input("/join lobby") == [Show(ERROR, "Usage: /join #room")]
    assert session.handle_input("   ") == []
    assert sent(session) == []
    assert any("/quit" in event.text for event in session.handle_input("/help"))


def test_join_and_part_switch_the_current_room(session):
    session.handle_input("/join #games")
    assert sent(session) == ["JOIN #games"]
    feed(session, ":alice!a@h JOIN #games")
    assert session.current == "#games"
    session.handle_input("gg")
    session.handle_input("/part bye")
    assert sent(session) == ["PRIVMSG #games :gg", "PART #games :bye"]
    assert feed(session, ":alice!a@h PART #games :bye") == [
        Show(EVENT, "* You left #games; now in #lobby")]
    assert session.current == "#lobby"


def test_being_kicked_leaves_the_room_and_says_who_did_it(session):
    feed(session, ":alice!a@h JOIN #games")
    assert session.current == "#games"
    assert feed(session, ":op!o@h KICK #games bob :calm down",
                ":op!o@h KICK #games alice :enough") == [
        Show(EVENT, "* op removed bob from #games (calm down)"),
        Show(EVENT, "* op removed you from #games (enough); now in #lobby")]
    assert session.current == "#lobby"
    assert feed(session, ":op!o@h MODE #lobby +vk alice key") == [
        Show(EVENT, "* op gave alice a voice in #lobby; set a key on #lobby: joining takes "
                    "the key key")]


@pytest.mark.parametrize("line, expected", [("/quit", "QUIT"), ("/quit gone fishing",
                                            "QUIT :gone fishing"), ("exit", "QUIT"),
                                            ("выход", "QUIT"), ("Exit", "QUIT"),
                                            ("EXIT", "QUIT"), ("Выход", "QUIT")])
def test_ways_to_quit(session, line, expected):
    """The assignment's words, in any case (issue 30: 'Exit' and 'Выход' went to the room)."""
    session.handle_input(line)
    assert session.quitting
    assert sent(session) == [expected]


@pytest.mark.parametrize("userhost", [None, "a@127.0.0.1", "longuser10@" + "h" * 63])
def test_long_lines_are_sent_in_pieces_that_fit_once_relayed(userhost):
    """Each piece fits the server's relayed line, with our nick!user@host before it: as soon
    as our JOIN shows it, or, before that, the longest a server makes."""
    session = ClientSession("alice", "#lobby")
    session.start()
    feed(session, ":srv 001 alice :Welcome", ":srv 366 alice #lobby :End")
    if userhost:
        feed(session, f":alice!{userhost} JOIN #lobby")
    session.take_outgoing()
    text = "слово " * 200 + "end"
    session.handle_input("/msg #lobby " + text)
    lines = session.take_outgoing().split(b"\r\n")[:-1]
    relayed = [f":alice!{userhost or 'u' * 10 + '@' + 'h' * 63} ".encode() + line
               for line in lines]
    assert len(lines) > 1 and all(len(line) + 2 <= MAX_MESSAGE for line in relayed)
    assert "".join(line.decode().split(" :", 1)[1] for line in lines) == text


def test_the_client_and_the_server_agree_on_what_fits():
    """The reference client's long line, through the server's core, reaches another user
    whole, in lines of at most 512 bytes, with no 417."""
    harness = Harness()
    bob = harness.irc("bob")
    session = ClientSession("alice", "#lobby")
    session.start()
    server_side = harness.connect(host="2001:db8::" + "abcd:" * 3 + "1")
    server_side.send_bytes(session.take_outgoing())
    session.receive(server_side.output())
    server_side.send_bytes(session.take_outgoing())
    session.receive(server_side.output())
    bob.lines()
    text = "Ж" * 250 + " the end"
    session.handle_input(text)
    server_side.send_bytes(session.take_outgoing())
    assert b" 417 " not in server_side.output()
    data = bob.output()
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) == 2 and all(len(line) + 2 <= MAX_MESSAGE for line in lines)
    assert "".join(line.decode().split(" :", 1)[1] for line in lines) == text


def test_escape_sequences_from_the_server_are_kept_for_the_screen_to_clean(session):
    (event,) = feed(session, ":bob!b@h PRIVMSG #lobby :\x1b[2Jboo")
    assert event == Show(MESSAGE, "bob: \x1b[2Jboo")  # Screen.show cleans it (test_client)


@given(st.binary(max_size=2000))
def test_any_bytes_from_the_server_give_events_never_an_exception(data):
    session = ClientSession("alice", "#lobby")
    session.start()
    for event in session.receive(data):
        assert isinstance(event, (Show, NeedNick, Ready, Closed))


_COMMANDS = ["001", "332", "353", "366", "403", "432", "433", "JOIN", "PART", "NICK", "TOPIC",
             "QUIT", "PRIVMSG", "NOTICE", "ERROR", "CAP", "PING", "MODE", "KICK"]


@given(st.sampled_from(_COMMANDS), st.lists(st.sampled_from(["alice", "#lobby", "x", "LS"]),
                                            max_size=3),
       st.sampled_from([":bob!b@h ", ":srv ", ""]))
def test_a_command_with_too_few_parameters_leaves_the_client_reading(command, params, source):
    """Any line from any server leaves the client running: a short 353 once killed its
    receiver with IndexError."""
    session = ClientSession("alice", "#lobby")
    session.start()
    feed(session, ":srv 001 alice :Welcome", ":alice!a@h JOIN #lobby")
    feed(session, f"{source}{command} {' '.join(params)}".rstrip())
    events = feed(session, ":bob!b@h PRIVMSG #lobby :still here")
    assert events[-1:] == [Show(MESSAGE, "bob: still here")]


def test_a_short_numeric_is_shown_as_it_came(session):
    assert feed(session, ":srv 353 alice") == [
        Show(SERVER, "(a line this client cannot read: :srv 353 alice)")]


def test_the_greeting_for_netcat_users_is_not_shown():
    session = ClientSession("alice", "#lobby")
    session.start()
    greeting = "NOTICE * :*** Welcome to tcpchat. IRC clients: register as usual."
    assert feed(session, greeting) == []
    assert feed(session, ":srv NOTICE * :*** Looking up your hostname") == [
        Show(SERVER, "Looking up your hostname")]


def test_join_with_no_room_is_a_usage_hint_not_a_join(session):
    assert session.handle_input("/join") == [Show(ERROR, "Usage: /join #room")]
    assert sent(session) == []


def test_a_russian_session_asks_a_server_that_offers_russian_and_describes_in_russian():
    session = ClientSession("dasha", "#lobby", language="ru")
    session.start()
    session.take_outgoing()
    feed(session, ":srv 001 dasha :Welcome", ":srv 005 dasha LANGUAGE=2,en,ru UTF8ONLY :are")
    assert sent(session) == ["JOIN #lobby", "LANGUAGE ru"]
    assert feed(session, ":srv 687 dasha ru :Язык выбран") == []
    assert feed(session, ":bob!b@h JOIN #lobby") == [Show(EVENT, "* bob вошёл в #lobby")]
    english = ClientSession("ann", "#lobby")
    english.start()
    english.take_outgoing()
    feed(english, ":srv 001 ann :Welcome", ":srv 005 ann LANGUAGE=2,en,ru :are")
    assert sent(english) == ["JOIN #lobby"]  # English is every server's already
    other = ClientSession("dasha", "#lobby", language="ru")
    other.start()
    other.take_outgoing()
    feed(other, ":srv 001 dasha :Welcome", ":srv 005 dasha LANGUAGE=1,en :are")
    assert sent(other) == ["JOIN #lobby"]  # not asked of a server that has no Russian


def test_sasl_plain_while_registering_and_registration_after_the_answer():
    session = ClientSession("alice", "#lobby", sasl=("alice", "p" * 300))
    session.start()
    session.take_outgoing()
    feed(session, ":srv CAP * LS :server-time sasl=PLAIN")
    assert sent(session) == ["CAP REQ sasl"]
    feed(session, ":srv CAP alice ACK :sasl")
    assert sent(session) == ["AUTHENTICATE PLAIN"]
    feed(session, "AUTHENTICATE +")
    lines = sent(session)  # 307 bytes: 412 of base64, in two lines
    assert [len(line) for line in lines] == [len("AUTHENTICATE ") + 400, len("AUTHENTICATE ") + 12]
    assert feed(session, ":srv 900 alice alice!a@h alice :You are now logged in as alice",
                ":srv 903 alice :SASL authentication successful") == [
        Show(SERVER, "You are logged in as alice.")]
    assert sent(session) == ["CAP END"]


def test_a_failed_login_or_a_server_without_sasl_is_said_and_registration_goes_on():
    session = ClientSession("alice", "#lobby", sasl=("alice", "pw"))
    session.start()
    session.take_outgoing()
    assert feed(session, ":srv CAP * LS :server-time") == [
        Show(ERROR, "This server offers no login (SASL): you are not logged in.")]
    assert sent(session) == ["CAP END"]
    session = ClientSession("alice", "#lobby", sasl=("alice", "pw"))
    session.start()
    feed(session, ":srv CAP * LS :sasl", ":srv CAP alice ACK sasl", "AUTHENTICATE +")
    session.take_outgoing()
    assert feed(session, ":srv 904 alice :SASL authentication failed") == [
        Show(ERROR, "Login failed: SASL authentication failed")]
    assert sent(session) == ["CAP END"]


def crowded_session(crowd=3):
    """alice in #lobby with bob, cy and dee (four members: crowded past three), on a clock
    moved by hand."""
    clock = FakeClock()
    session = ClientSession("alice", "#lobby", crowd=crowd, clock=clock)
    session.start()
    feed(session, ":srv 001 alice :Welcome", ":alice!a@h JOIN #lobby",
         ":srv 353 alice = #lobby :@alice +bob cy dee", ":srv 366 alice #lobby :End")
    session.take_outgoing()
    return session, clock


def test_a_crowded_rooms_comings_and_goings_are_shown_once_a_window():
    session, clock = crowded_session()
    assert feed(session, ":eve!e@h JOIN #lobby", ":fay!f@h JOIN #lobby",
                ":bob!b@h PART #lobby :later", ":cy!c@h QUIT :bye") == []
    assert session.next_deadline() == clock.now + CROWD_WINDOW
    clock.advance(CROWD_WINDOW - 1)
    assert session.tick(clock.now) == []
    clock.advance(1)
    assert session.tick(clock.now) == [
        Show(EVENT, "* 2 people joined #lobby in the last 10 s: eve, fay"),
        Show(EVENT, "* 2 people left #lobby in the last 10 s: bob, cy")]
    assert session.next_deadline() is None
    # Four members (alice, dee, eve, fay): crowded still as dee leaves; three, counting the
    # one who comes or goes, are not: shown at once, as ever.
    assert feed(session, ":dee!d@h PART #lobby") == []
    assert feed(session, ":eve!e@h PART #lobby") == [Show(EVENT, "* eve left #lobby")]
    assert feed(session, ":gus!g@h JOIN #lobby") == [Show(EVENT, "* gus joined #lobby")]


def test_a_quit_from_a_small_room_too_is_shown_at_once():
    session, clock = crowded_session()
    feed(session, ":alice!a@h JOIN #small", ":srv 353 alice = #small :alice cy",
         ":srv 366 alice #small :End")
    assert feed(session, ":cy!c@h QUIT :bye") == [Show(EVENT, "* cy left (bye)")]
    clock.advance(CROWD_WINDOW)
    assert session.tick(clock.now) == [
        Show(EVENT, "* 1 person left #lobby in the last 10 s: cy")]


def test_a_rename_is_counted_and_past_five_names_the_rest_are_counted():
    session, clock = crowded_session()
    feed(session, ":dee!d@h NICK dora")
    names = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"]
    assert feed(session, *(f":{name}!x@h JOIN #lobby" for name in names),
                ":dora!d@h PART #lobby") == []
    clock.advance(CROWD_WINDOW)
    assert session.tick(clock.now) == [
        Show(EVENT, "* 7 people joined #lobby in the last 10 s: n1, n2, n3, n4, n5 and 2 more"),
        Show(EVENT, "* 1 person left #lobby in the last 10 s: dora")]


def test_the_terminal_shows_a_windows_line_when_it_ends_with_nothing_to_read():
    """The receiver waits for the socket and for the session's next deadline, whichever
    comes first: a crowded room's line is not held until the server next says something."""
    from tcpchat.client.terminal import ChatClient

    session, clock = crowded_session()
    feed(session, ":eve!e@h JOIN #lobby")
    shown = []

    class Screen:
        def show(self, kind, text, when=None):
            shown.append(str(text))

    ours, theirs = socket.socketpair()
    client = ChatClient(ours, session, Screen())
    waiting = threading.Thread(target=client._wait_readable, daemon=True)
    clock.advance(CROWD_WINDOW)
    try:
        waiting.start()
        assert wait_until(lambda: shown == [
            "* 1 person joined #lobby in the last 10 s: eve"])
        theirs.send(b":srv PING x\r\n")
        waiting.join(TIMEOUT)
        assert not waiting.is_alive()
    finally:
        ours.close()
        theirs.close()
