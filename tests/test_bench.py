"""The benchmark tool checks what it measures: its delivery checker catches each kind of wrong
stream, its generator drives a real server with every delivery checked, and the command runs.
(Timing itself is the tool's output, never asserted here.)"""

import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from helpers import ROOT, TIMEOUT, LineSocket, running_server, udp_backend
from tcpchat.bench.load import CheckFailed, Layout, Load


def record(sender, seq):
    return b":s%d!b@127.0.0.1 PRIVMSG #bench :%09d %s\r\n" % (sender, seq, b"x" * 54)


@pytest.fixture
def checker():
    """A generator client whose socket is one end of a socketpair: the test writes what a
    server would, and the client's own read path takes it."""
    load = Load(("127.0.0.1", 9), "irc", 4, 2)
    load.layout = Layout(record(0, 0)[:-2], "irc")
    client = load.clients[3]
    client.full_check = False
    client.sock, server_end = socket.socketpair()
    client.sock.setblocking(False)
    yield load, client, server_end
    client.sock.close()
    server_end.close()
    load.selector.close()


def tool_output(module, *args):
    """What ``python -m module args`` prints, once it has exited without an error."""
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                            text=True, timeout=60 + TIMEOUT, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def take(load, client, server_end, data):
    server_end.sendall(data)
    load._read(client)


def test_records_in_order_from_each_sender_are_counted(checker):
    load, client, server_end = checker
    take(load, client, server_end, record(0, 0) + record(1, 0) + record(0, 1))
    take(load, client, server_end, record(1, 1) + record(0, 2))
    assert client.progress == [3, 2] and load.delivered == 5


@pytest.mark.parametrize("stream, complaint", [
    (record(0, 0) + record(0, 2), "lost, duplicated or out of order"),  # a gap
    (record(0, 0) + record(0, 0), "lost, duplicated or out of order"),  # a duplicate
    (record(0, 1) + record(0, 0), "lost, duplicated or out of order"),  # reordered
    (record(0, 0) + record(5, 0), "from no sender"),                    # a stranger
])
def test_a_wrong_stream_fails_the_check(checker, stream, complaint):
    load, client, server_end = checker
    with pytest.raises(CheckFailed, match=complaint):
        take(load, client, server_end, stream)


def test_a_full_check_receiver_catches_reordering_inside_one_chunk(checker):
    load, client, server_end = checker
    client.full_check = True
    with pytest.raises(CheckFailed, match="got 1, expected 0"):
        take(load, client, server_end, record(1, 0) + record(0, 1) + record(0, 0))


def test_a_line_that_is_not_a_record_is_answered_and_records_go_on(checker):
    load, client, server_end = checker
    take(load, client, server_end, record(0, 0) + b"PING :x\r\n" + record(0, 1) + record(1, 0))
    assert client.progress == [2, 1]
    assert server_end.recv(100) == b"PONG :x\r\n"
    take(load, client, server_end, record(0, 2))  # aligned again: the fast path
    assert client.progress == [3, 1]


def test_the_generator_drives_a_real_server_with_every_delivery_checked():
    # As the bench runs its servers: with --no-flood-control.
    with running_server(default_channel="#bench", autojoin=False, flood=None) as server:
        load = Load(server.address, "irc", 12, 3)
        try:
            load.connect(timeout=TIMEOUT)
            delivered, seconds = load.fan_out(0.3, 8)
            load.drain(timeout=TIMEOUT)
            assert delivered > 0
            assert all(client.progress[sender] == load.sent[sender]
                       for client in load.clients for sender in range(3)
                       if client.sender != sender)
        finally:
            load.close()


@pytest.mark.parametrize("transport", ["tcp", "udp", "tls"])
def test_the_transports_run_counts_every_arrival_over_each_transport(transport):
    from tcpchat.bench.load import process_seconds
    from tcpchat.bench.targets import Target
    from tcpchat.bench.transports import measured_run
    with running_server(start=udp_backend(tls=True), autojoin=False, flood=None) as server:
        target = Target("in-process", server.address, "irc")  # no process: no CPU figure
        address = server.tls_address if transport == "tls" else None
        row = measured_run(target, transport, 3, 1, 200, 0.3, 0, process_seconds, address)
    assert row["offered"] == row["sent"] == 60
    assert row["relayed_share"] == 1.0  # a slow trickle on loopback: nothing lost on the way in
    for group in (row["normal"], row["slow_group"]):
        assert group["delivered_share"] == 1.0
        assert group["duplicated"] == group["reordered"] == group["cut"] == 0
        assert 0 < group["p50_ms"] <= group["p99_ms"]
    assert "server_cpu_per_1000" not in row


def test_tls_handshakes_are_counted():
    from tcpchat.bench.targets import Target
    from tcpchat.bench.transports import measured_handshakes
    with running_server(start=udp_backend(tls=True)) as server:
        target = Target("in-process", server.address, "irc")
        result = measured_handshakes(target, server.tls_address, 5)
    assert result["count"] == 5 and result["wall_ms"] > 0 and "server_cpu_ms" not in result


def test_the_command_runs_quick_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    output = tool_output("tcpchat.bench", "--quick", "--targets", "select-epoll",
                         "--scenarios", "fanout,idle", "--json", str(out))
    assert "fan-out" in output and "relay" in output
    results = json.loads(out.read_text())["results"]
    (row,) = results["select-epoll"]["fanout"]
    assert row["deliveries"] > 0 and row["check"].startswith("exact")
    spread, room = results["select-epoll"]["idle"]
    assert (spread["shape"], room["shape"]) == ("spread", "room")
    for row in spread, room:
        assert row["served"] == row["connections"] > 0
        assert row["server_peak_rss"] >= row["server_rss"] > 0


def test_the_plot_draws_the_scenarios_run_with_the_rate_they_offered():
    """A --quick run offered 200 messages a second, and the panel said 1000; a run of one
    scenario drew two empty panels beside it (issue 30)."""
    from tcpchat.bench import __main__ as bench
    results = {"select-epoll": {"latency": {"offered": 200, "p50_us": 300, "p99_us": 900}},
               "threads": {"latency": {"offered": 200, "p50_us": 900, "p99_us": 4000}}}
    assert [(scenario, title) for scenario, title, _ in bench.panels(results)] == [
        ("latency", "latency, 200 messages/s offered")]
    results["relay"] = {"idle": [{"shape": "spread", "rss_per_connection": 512},
                                 {"shape": "room", "rss_per_connection": 640}],
                        "fanout": {"error": "x"}}
    assert [scenario for scenario, _, _ in bench.panels(results)] == ["latency", "idle"]
    assert bench.panels({"relay": {"fanout": {"error": "x"}}}) == []


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    from tcpchat.bench import __main__ as bench
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert bench.plot({}, os.devnull) is False
    assert "pip install 'tcpchat[bench]'" in capsys.readouterr().err


def test_the_plain_relay_answers_a_command_among_lines_read_at_once():
    """Its fast path (one replace prefixes a whole read) once relayed "/who" as a message
    when it came in one read with others, and ``--proto plain`` broke on it."""
    from tcpchat.transports.driver import listen
    from tcpchat.bench.relay import Peer, Relay
    relay = Relay(listen("127.0.0.1", 0), "plain")
    try:
        alice, bob = Peer(None), Peer(None)
        relay._take(alice, b"alice\n")
        relay._take(bob, b"bob\n")
        alice.out.clear()
        bob.out.clear()
        relay._take(alice, b"hi\n/who\nthere\n")
        assert alice.out == b"*** 2 people in #bench: everyone\r\n"
        assert bob.out == b"alice: hi\r\nalice: there\r\n"
        relay._take(alice, b"one\r\ntwo\r\n")  # the fast path, still
        assert bob.out.endswith(b"alice: one\r\nalice: two\r\n")
    finally:
        relay.selector.close()
        relay.listener.close()


def test_rounds_give_the_median_round_and_each_rounds_ratio_to_the_relay():
    from tcpchat.bench import __main__ as bench
    row = dict(clients=100, senders=10, window=8)
    fanout = [[dict(row, rate=rate)] for rate in (3e6, 4e6, 2e6)]
    relay = [[dict(row, rate=rate)] for rate in (4e6, 5e6, 4e6)]
    (median,) = bench.medians(fanout, relay)
    assert median["rate"] == 3e6 and median["rounds"] == [3e6, 4e6, 2e6]
    assert median["paired"] == [0.75, 0.8, 0.5]
    latency = [dict(p50_us=300, p99_us=p99, cpu_us_per_delivery=cpu)
               for p99, cpu in ((900, 6.0), (700, 5.0), (800, 5.5))]
    median = bench.medians(latency, None)
    assert (median["p99_us"], median["round_cpu_us"]) == (800, [6.0, 5.0, 5.5])
    failed = [[{"error": "x"}], [dict(row, rate=1e6)]]  # a round that failed is not the median
    assert bench.medians(failed, None)[0]["rate"] == 1e6


def test_rounds_run_the_targets_in_turns_of_the_order_given_and_its_reverse():
    """No target always runs after another: over any two rounds, each pair runs once in each
    order."""
    from tcpchat.bench import __main__ as bench
    targets = ["relay-c", "a", "b"]
    orders = [bench.round_order(targets, number) for number in range(4)]
    assert orders == [targets, targets[::-1], targets, targets[::-1]]
    for first, second in (("a", "b"), ("relay-c", "a"), ("relay-c", "b")):
        assert sorted(order.index(first) < order.index(second) for order in orders[:2]) == [
            False, True]


def test_against_gives_each_targets_figures_over_the_references_round_by_round():
    """``--against``: the ratios the issues set as targets, each round's figure over the
    reference's in the same round, shape by shape, with how many rounds came out below."""
    import io
    from tcpchat.bench import __main__ as bench
    shape = dict(clients=100, senders=10, window=8)

    def fanout(*rates):
        return [dict(shape, rate=rates[0], rounds=list(rates), generator_cpu=1.0),
                dict(shape, window=128, error="RuntimeError: it broke")]

    def latency(p50s, p99s, cpus):
        return dict(offered=1000, p50_us=p50s[0], p90_us=300, p99_us=p99s[0], max_us=900,
                    round_p50_us=p50s, rounds=p99s, round_cpu_us=cpus)

    results = {"select-epoll": {"fanout": fanout(9.0, 8.0, None),
                                "latency": latency([220, 210], [400, 500], [5.0, 6.0])},
               "asyncio-uvloop": {"fanout": fanout(10.0, 10.0, 10.0),
                                  "latency": latency([200, 200], [800, 400], [4.0, 6.0])}}
    out = io.StringIO()
    bench.report(results, out=out, against="asyncio-uvloop")
    paired = out.getvalue().split("against asyncio-uvloop, paired by round")[1].splitlines()[1:]
    assert paired == [
        "  select-epoll   fan-out, 100 clients, 8 in flight: deliveries a second 0.850 "
        "(0.90 0.80 -), below 1 in 2 of 2",
        "  select-epoll   latency, 1000 messages a second: CPU a delivery 1.125 (1.25 1.00), "
        "below 1 in 0 of 2",
        "  select-epoll   latency, 1000 messages a second: p50 1.075 (1.10 1.05), "
        "below 1 in 0 of 2",
        "  select-epoll   latency, 1000 messages a second: p99 0.875 (0.50 1.25), "
        "below 1 in 1 of 2"]


def test_against_must_be_one_of_the_targets(capsys):
    from tcpchat.bench import __main__ as bench
    with pytest.raises(SystemExit):
        bench.main(["--targets", "select-epoll", "--against", "asyncio-uvloop"])
    assert "--against asyncio-uvloop: not among the targets" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["asyncio", "asyncio-uvloop"])
def test_the_asyncio_chat_relays_each_line_to_everyone_else(name):
    """The textbook design the bench measures tcpchat against: the plain protocol, as the
    generators speak it."""
    from tcpchat.bench.targets import Target
    target = Target.start(name, "irc")  # it speaks plain alone, whatever is asked
    try:
        assert target.proto == "plain"
        ann, bob = LineSocket(target.address), LineSocket(target.address)
        for peer, nick in ((ann, "ann"), (bob, "bob")):
            peer.send(nick)
            assert peer.expect("***") == "*** Type a line and press Enter"
        ann.send("/who", "hello")
        assert ann.expect("***") == "*** 2 people in #bench: everyone"
        assert bob.expect("ann") == "ann: hello"
        ann.close(), bob.close()
    finally:
        target.stop()


def test_a_started_server_that_logs_more_than_a_pipe_holds_is_not_stopped(tmp_path):
    """Nothing reads a started server's standard error while it runs: written to a pipe, the
    256 KiB here would have stopped it at 64."""
    from tcpchat.bench.targets import spawn
    process, errors = spawn([sys.executable, "-c", "import sys; sys.stderr.write('x' * 2**18)"],
                            str(tmp_path))
    try:
        assert process.wait(TIMEOUT) == 0
        assert os.path.getsize(tmp_path / "stderr.log") == 2**18
    finally:
        process.kill()
        errors.close()


def test_a_server_that_exits_at_start_says_why_and_leaves_nothing(monkeypatch, tmp_path):
    """What the server said before it exited is the bench's error, whole; its folder goes."""
    from tcpchat.bench import targets
    folder = tmp_path / "target"
    folder.mkdir()
    monkeypatch.setattr(targets.tempfile, "mkdtemp", lambda prefix: str(folder))
    monkeypatch.setitem(targets.TARGETS, "select-epoll", ["tcpchat.server", "--no-such-option"])
    with pytest.raises(RuntimeError, match="(?s)select-epoll exited: usage: .*"
                                           "unrecognized arguments: --no-such-option"):
        targets.Target.start("select-epoll", "irc")
    assert not folder.exists()


def test_a_server_whose_port_was_taken_first_starts_on_another(monkeypatch):
    """A port probed free can be taken before the server binds it (the suite's other workers
    open thousands of sockets): the server says so and exits, and the bench tries another."""
    from tcpchat.bench import targets
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # as a connection's socket holds it: nothing answers
        taken = holder.getsockname()[1]
        probed = []
        real = targets.free_ports
        monkeypatch.setattr(targets, "free_ports", lambda count: probed.append(
            [taken] if not probed else real(count)) or probed[-1])
        target = targets.Target.start("relay", "irc")
        try:
            assert probed[0] == [taken] and target.address == ("127.0.0.1", *probed[1])
            ann = LineSocket(target.address)
            ann.send("NICK ann", "USER a 0 * :a")
            assert " 001 " in ann.expect(" 001 ")
            ann.close()
        finally:
            target.stop()


def test_a_server_whose_every_port_is_taken_says_so_and_leaves_nothing(monkeypatch, tmp_path):
    from tcpchat.bench import targets
    folder = tmp_path / "target"
    folder.mkdir()
    monkeypatch.setattr(targets.tempfile, "mkdtemp", lambda prefix: str(folder))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        tried = []
        monkeypatch.setattr(targets, "free_ports",
                            lambda count: tried.append([holder.getsockname()[1]]) or tried[-1])
        with pytest.raises(targets.PortTaken, match="(?s)relay exited: .*already in use"):
            targets.Target.start("relay", "irc")
    assert len(tried) == targets.PORT_ATTEMPTS
    assert not folder.exists()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to pin")
@pytest.mark.parametrize("name", ["select-epoll", "relay-c"])
def test_a_started_server_and_every_thread_it_starts_run_on_the_servers_core(name):
    """The bench pins itself (the generator) to the other cores first thing; a server it then
    starts is pinned by the cores the machine gave, not by what the generator kept (it had
    shared the generator's core, and its figures were that)."""
    from tcpchat.bench import targets
    if name == "relay-c":
        c_generator()
    given = os.sched_getaffinity(0)
    os.sched_setaffinity(0, given - {targets.SERVER_CORE})  # as python -m tcpchat.bench does
    try:
        target = targets.Target.start(name, "irc")
    finally:
        os.sched_setaffinity(0, given)
    try:
        LineSocket(target.address).close()  # up, and its threads started
        tasks = os.listdir(f"/proc/{target.process.pid}/task")
        assert tasks and all(os.sched_getaffinity(int(task)) == {targets.SERVER_CORE}
                             for task in tasks)
    finally:
        target.stop()


# -- The generator in C (--generator c) --------------------------------------------------------

def c_generator():
    from tcpchat.bench import cgenerator
    try:
        cgenerator.binary()
    except cgenerator.NoCompiler:
        pytest.skip("no C compiler")
    return cgenerator


@contextlib.contextmanager
def python_relay(broadcast):
    """The trivial relay in Python served from a thread, each of its broadcasts made by
    ``broadcast(relay, its own broadcast, sender, data)``: a Target for it."""
    from tcpchat.transports.driver import listen
    from tcpchat.bench.relay import Relay
    from tcpchat.bench.targets import Target
    relay = Relay(listen("127.0.0.1", 0), "irc")
    own = relay._broadcast
    relay._broadcast = lambda sender, data: broadcast(relay, own, sender, data)
    thread = threading.Thread(target=relay.serve, daemon=True)
    thread.start()
    try:
        yield Target("relay", relay.listener.getsockname(), "irc")
    finally:
        relay.running = False
        thread.join(TIMEOUT)
        relay.selector.close()
        relay.listener.close()


def test_the_c_generator_drives_a_real_server_with_every_delivery_checked():
    cgenerator = c_generator()
    from tcpchat.bench.targets import Target
    with running_server(default_channel="#bench", autojoin=False, flood=None) as server:
        target = Target("tcpchat", server.address, "irc")
        delivered, seconds, generator_cpu, server_cpu, loop_cpu = cgenerator.fan_out(
            target, 12, 3, 8, 0.2, 0.3)
    assert delivered > 0 and seconds > 0 and server_cpu is None and loop_cpu is None


@pytest.mark.parametrize("fault", ["drop", "repeat"])
def test_the_c_generator_fails_on_a_lost_or_repeated_message(fault):
    """Against the trivial relay made to lose (or repeat) one message to one client, the
    generator stops with an error that says which client and sequence number."""
    cgenerator = c_generator()
    count = [0]

    def faulty(relay, broadcast, sender, data):
        count[0] += 1
        if count[0] == 20 and data.count(b"\n") == 1:
            victim = next(peer for peer in relay.peers if peer is not sender)
            if fault == "drop":
                relay.peers.remove(victim)
                broadcast(sender, data)
                relay.peers.append(victim)
                return
            victim.out += data
        broadcast(sender, data)

    complaint = "never reached every client" if fault == "drop" else "got .*, expected"
    with python_relay(faulty) as target, pytest.raises(CheckFailed, match=complaint):
        cgenerator.fan_out(target, 6, 2, 1, 0.2, 5.0, stall=1.0)


def test_the_accounts_benchmark_times_lines_beside_real_logins():
    lines = tool_output("tcpchat.bench.accounts", "--rounds", "1", "--seconds", "0.5",
                        "--logins", "4").splitlines()
    assert "no logins: p50" in lines[1] and "4 logins/s: p50" in lines[2]
    answered, failed = map(int, re.search(r"logins: (\d+) answered .*, (\d+) failed",
                                          lines[3]).groups())
    assert answered >= 1 and failed == 0


@pytest.mark.parametrize("sends", ["default", "--no-io-uring"])
def test_the_turn_tool_times_turns_after_a_gap_asleep(sends):
    """Each figure a median and a 10th percentile; the turn says how the loop sent, and
    where there is io_uring the same sends through it are timed too."""
    from tcpchat.transports.uring import open_ring
    ring, _reason = open_ring()
    if ring is not None:
        ring.close()
    lines = tool_output("tcpchat.bench.turn", "--members", "5", "--rounds", "5", "--gap", "1",
                        *([sends] if sends != "default" else [])).splitlines()
    assert lines[0].startswith("one message to 4 members, 5 rounds, each after 1 ms asleep")
    figures = {match[1]: (int(match[2]), int(match[3])) for match in (
        re.match(r"  (turn|bare sends|ring sends) +(\d+) +(\d+)", line) for line in lines)
        if match}
    assert all(median >= low > 0 for median, low in figures.values()), figures
    through = "through io_uring" if ring is not None and sends == "default" else "a send() each"
    assert lines[1].endswith(f"(the loop sending {through})")
    assert set(figures) == {"turn", "bare sends"} | ({"ring sends"} if ring else set())
    assert "µs per recipient" in lines[-1]


def test_the_c_generators_open_loop_times_every_delivery_at_every_receiver():
    """The latency scenario from C: each of the 11 others gets each message, checked, and
    every delivery counted gives a latency; the percentiles come out in order."""
    cgenerator = c_generator()
    from tcpchat.bench.targets import Target
    with running_server(default_channel="#bench", autojoin=False, flood=None) as server:
        target = Target("tcpchat", server.address, "irc")
        run = cgenerator.open_loop(target, 12, 3, 300, 0.2, 0.5)
    assert run["deliveries"] > 0 and run["samples"] == run["deliveries"]
    assert 0 <= run["p50_us"] <= run["p90_us"] <= run["p99_us"] <= run["max_us"]
    assert run["server_cpu"] is None and run["generator_cpu"] is not None


def test_the_c_generators_open_loop_counts_a_stall_from_the_schedule():
    """A relay that stops for 0.3 s in the middle of the count: its messages still leave the
    generator on schedule (the loop is open), so the ones it held show the stall whole in
    the latency, however fast it catches up once it goes on; and none is lost."""
    cgenerator = c_generator()
    messages = [0]

    def stalling(relay, broadcast, sender, data):
        messages[0] += data.count(b"\n")
        if 80 <= messages[0] < 80 + data.count(b"\n"):
            # The server under test stalls (a third of a second: the stall is the subject,
            # not a wait for something).  At 200 a second, the 80th message is 0.4 s in:
            # past the 0.2 s warm-up, with most of the second counted still to come.
            time.sleep(0.3)
        broadcast(sender, data)

    with python_relay(stalling) as target:
        run = cgenerator.open_loop(target, 6, 2, 200, 0.2, 1.0)
    assert messages[0] >= 80, messages  # it did stall
    assert run["max_us"] >= 300_000 and run["samples"] == run["deliveries"], run


def test_the_latency_scenario_from_c_gives_every_members_figures_and_the_cpu_a_delivery(
        monkeypatch):
    """What the bench's latency row holds when the generator in C drives it (as it does by
    default where there is a compiler): every member timed, not ten, and the server's CPU a
    delivery over what the receivers counted.  (The generator's own figures: the tests
    above; a real server's CPU over half a second is a tick or none, so it is given here.)"""
    from tcpchat.bench import __main__ as bench, cgenerator
    from tcpchat.bench.targets import Target
    assert "latency" in bench.IN_C
    asked = []

    def open_loop(target, clients, senders, rate, warmup, seconds):
        asked.append((clients, senders, rate, warmup, seconds))
        return dict(deliveries=1400, seconds=0.5, samples=1400, p50_us=300, p90_us=400,
                    p99_us=900, max_us=1200, generator_cpu=0.25, server_cpu=0.2,
                    server_loop_cpu=0.2)

    monkeypatch.setattr(cgenerator, "open_loop", open_loop)
    settings = dict(bench.QUICK, latency_clients=8, latency_senders=2, seconds=0.5)
    row = bench.measured_latency_c(Target("stub", ("127.0.0.1", 9), "irc"), settings)
    assert asked == [(8, 2, settings["rate"], settings["warmup"], 0.5)]
    assert row["probes"] == 8 and row["samples"] == 1400 and row["p99_us"] == 900
    # 0.2 of a core over 0.5 s is 100 ms, over 1400 deliveries.
    assert row["cpu_us_per_delivery"] == pytest.approx(0.2 * 0.5 / 1400 * 1e6)


@pytest.mark.parametrize("proto", ["irc", "plain"])
def test_the_relay_in_c_relays_every_delivery_the_generator_checks(proto):
    """The calibration relay in C: the C generator checks each delivery (order, none lost,
    none twice) against it, as against any server."""
    cgenerator = c_generator()
    from tcpchat.bench.targets import Target
    target = Target.start("relay-c", proto)
    try:
        delivered, seconds, _generator, server, loop = cgenerator.fan_out(target, 20, 4, 8,
                                                                          0.2, 0.5)
    finally:
        target.stop()
    assert delivered > 0 and seconds > 0 and server > 0
    # One thread: its loop's share is all of it, to the clock's tick read at either end.
    assert abs(server - loop) <= 2 / os.sysconf("SC_CLK_TCK") / seconds


def test_the_history_benchmark_pages_from_messages_that_exist(tmp_path):
    """tcpchat.bench.history times CHATHISTORY BEFORE a msgid it writes itself: a msgid of
    another form than the chat's would time a FAIL instead."""
    from tcpchat.bench import history
    store, _talker, _reader, _drain = history.history_server(str(tmp_path / "h.db"), 600)
    try:
        prefix = store.page("#lobby", limit=1, newest=True).pop().msgid.rsplit("-", 1)[0]
        found = store.find("#lobby", history.msgid(prefix, 300))
        assert found is not None and found.command == "PRIVMSG"
    finally:
        store.close()


FAKE_VALGRIND = """#!{python}
# Stands in for valgrind: runs the program it is given, then writes what callgrind would
# have counted, a file a thread, of a known form: 1000 + 7 instructions a message on the
# main thread, 500 + 3 a message on the writer's.
import itertools, subprocess, sys
options = list(itertools.takewhile(lambda arg: arg.startswith("--"), sys.argv[1:]))
program = sys.argv[1 + len(options):]  # after valgrind's options
out = next(arg for arg in options if arg.startswith("--callgrind-out-file=")).partition("=")[2]
subprocess.run(program, check=True)
turns, history, shape = int(program[-3]), program[-2] == "on", program[-1]
messages = turns * (1 if shape == "loop" else 40)
with open(out + "-01", "w") as summary:
    summary.write(f"summary: {{1000 + 7 * messages}}\\n")
if history:
    with open(out + "-02", "w") as summary:
        summary.write(f"summary: {{500 + 3 * messages}}\\n")
"""


@pytest.mark.parametrize("shape", [[], ["--loop"]], ids=["core", "loop"])
def test_the_instruction_count_is_a_messages_share_of_the_long_run_over_the_short(
        tmp_path, monkeypatch, capsys, shape):
    """With callgrind's counts (a stand-in valgrind here, which runs the tool's own child on
    the working tree's core, or its select loop over loopback, and then reports counts of a
    known form), the tool gives what a message costs each thread, start-up taken off, and
    what history adds."""
    from tcpchat.bench import instructions
    fake = tmp_path / "valgrind"
    fake.write_text(FAKE_VALGRIND.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    instructions.main(["--turns", "12", *shape])
    lines = capsys.readouterr().out.splitlines()
    assert ("through the select loop" in lines[0]) == bool(shape)
    assert lines[2].split() == [".", "off", "7", "-", "7"]
    assert lines[3].split() == [".", "on", "7", "3", "10"]
    assert lines[4] == "  .: with history, 42.9% more (the loop's thread 0.0%, the writer 42.9%)"


def test_the_instruction_count_without_valgrind_says_what_to_install(tmp_path, monkeypatch):
    from tcpchat.bench import instructions
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    with pytest.raises(SystemExit, match="needs valgrind: apt-get install valgrind"):
        instructions.main([])


def test_two_servers_at_once_are_compared_round_by_round_over_the_same_seconds():
    """``python -m tcpchat.bench.together``: both servers started, driven at once, and each
    round's ratio of CPU a delivery is the one its two figures give; the median of them is
    what it says last."""
    c_generator()
    lines = tool_output("tcpchat.bench.together", "--targets",
                        "select-epoll,select-epoll-no-history", "--rounds", "2",
                        "--seconds", "0.5", "--rate", "100").splitlines()
    assert lines[0].startswith("select-epoll beside select-epoll-no-history: 100 messages")
    ratios = []
    for line in lines[1:3]:
        first, second, ratio = re.search(r"CPU a delivery ([\d.]+) and ([\d.]+) µs \(([\d.]+)\)",
                                         line).groups()
        assert float(ratio) == pytest.approx(float(first) / float(second), abs=0.01)
        ratios.append(float(ratio))
    assert lines[3].startswith("select-epoll over select-epoll-no-history")
    assert float(lines[4].split()[3]) == pytest.approx(statistics.median(ratios), abs=0.001)


def test_two_servers_at_once_must_be_two_known_and_different(capsys):
    from tcpchat.bench import together
    for targets in ("select-epoll", "select-epoll,select-epoll", "select-epoll,nothing"):
        with pytest.raises(SystemExit):
            together.main(["--targets", targets])
    assert "unknown target 'nothing'" in capsys.readouterr().err
