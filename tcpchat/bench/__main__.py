"""``python -m tcpchat.bench``: every design of this chat measured side by side.

Scenarios (``--scenarios``, all by default):

core      The sans-IO core alone, no sockets: deliveries a second into a 100-member room, a
          core call per message and a read's worth (100 lines) per call.
fanout    100 clients in one room, 10 senders, at most 8 messages in flight per sender (a
          message is complete when every other member has it); then 500 clients, 5 senders.
          Deliveries a second over the measured seconds, after a warm-up; every delivery
          checked (see :mod:`tcpchat.bench.load`): no loss, no duplicate, order kept.  Also
          with 128 in flight: at 8, server and generator wait on each other in lock-step and
          neither is busy, so the deep window is where the server's own rate shows.
latency   100 clients, 1000 messages a second offered in all, on a fixed schedule (open loop);
          the time from each message's scheduled send to each receipt, at every receiver (the
          generator in C; the one in Python times ten): p50, p90, p99, max.
idle      10 000 registered idle connections: how many stay served (answer a PING), and the
          server's resident memory per connection once it has settled; then, on a fresh
          server, 5000 that all join one room, registering in one burst (the shape of a
          restart): memory per connection, settled too, and the peak during the joins.
slow      The fan-out with one more member that never reads: the others' rate against the
          plain fan-out, the server's memory meanwhile, and what became of the slow one.
transports  TCP against UDP and TLS on one server started with ``--udp`` and ``--tls-cert``:
          one sender, k receivers, the same stream over each at rising offered rates, and
          once with slow receivers;
          delivered %, reordered, duplicated, latency p50/p99, server CPU per 1000
          deliveries (see :mod:`tcpchat.bench.transports`).
cluster   Not by default (it needs redis-server and the cluster extra): one room's members on
          one server, on one with ``--cluster``, over two and three nodes, and under
          ``--workers 2``: latency p50/p99 to each node's members, CPU a delivery (servers and
          Redis), and a burst's deliveries a second (see :mod:`tcpchat.bench.cluster`).

Targets (``--targets``): tcpchat with each backend and selector; the textbook asyncio chat
server (plain protocol), on asyncio's loop and on uvloop; and the trivial relay that calibrates
the generator, always run first: in C where a compiler is (``relay-c``, this machine's
ceiling), else in Python.  ``--connect HOST:PORT --proto irc|plain`` adds a server started
elsewhere (ngircd, say).  The server runs pinned to core 0 and the generator to the others,
when the machine has two cores or more.

Rounds (``--rounds``, 3 by default).  This machine's speed swings by more than the differences
measured, so the fan-out and latency scenarios run in rounds, every target once a round (in
the order given, and in the reverse order every second round: see :func:`round_order`), and
each figure reported is the median of its rounds; beside it, each round's figure against the
calibration relay's of the same round (paired ratios).  The fan-out is
driven by the generator in C where a compiler is (``--generator``), else by this process.
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

from . import cgenerator
from .core import measured_core
from .load import (IRC, PLAIN, WHO_ANSWER, CheckFailed, Load, process_seconds,
                   raise_descriptor_limit)
from .targets import (DEFAULT_TARGETS, FREE_PORT, MACHINE_CORES, SERVER_CORE, TARGETS,
                      Target, calibration, known)
from .transports import certificate_files, measured_handshakes, measured_run

#: The idle scenario's two shapes, as the report and the plot name them.
IDLE_SHAPES = {"spread": "200 at a time, IRC in no room",
               "room": "one burst, all in one room"}
#: A figure at or above this share of the generator's own ceiling may be the generator's.
NEAR_CEILING = 0.8
#: Receivers at which latency is measured (the others are read in bulk: see Load.open_loop).
PROBES = 10
#: The scenarios run once a round; the others run in the first round alone.
ROUNDED = ("fanout", "latency")
#: The scenarios the generator in C drives (``--generator``).
IN_C = ("fanout", "latency")

FULL = dict(fanout=[(100, 10), (500, 5)], windows=(8, 128), seconds=10.0, warmup=2.0,
            latency_clients=100, latency_senders=10, rate=1000, idle=10_000, room=5000,
            settle=12.0,
            transports=dict(receivers=10, slow=3, rates=(1000, 4000, 16000, 64000),
                            slow_rate=4000, seconds=2.0, handshakes=500))
QUICK = dict(fanout=[(20, 4)], windows=(8,), seconds=1.0, warmup=0.3,
             latency_clients=20, latency_senders=4, rate=200, idle=200, room=200,
             settle=0.0,
             transports=dict(receivers=4, slow=1, rates=(200, 1000), slow_rate=200,
                             seconds=0.3, handshakes=20))


def measured_fanout(target, clients, senders, settings, window, slow=False,
                    full_check=False):
    load = Load(target.address, target.proto, clients + (1 if slow else 0), senders)
    if slow:
        load.clients[clients].small_window = True
    try:
        load.connect()
        if full_check:
            for client in load.clients:
                client.full_check = True
        receivers = load.clients[:clients]
        slow_one = load.clients[clients] if slow else None
        if slow_one is not None:
            load.stop_reading(slow_one)
        load.fan_out(settings["warmup"], window, receivers)
        rss = [target.rss()]
        cpu, own, start = target.cpu_seconds(), process_seconds(), time.perf_counter()
        loop = target.loop_cpu_seconds()
        delivered, seconds = 0, 0.0
        while seconds < settings["seconds"]:  # in slices, to sample the server's memory
            count, spent = load.fan_out(min(1.0, settings["seconds"] - seconds), window,
                                        receivers)
            delivered, seconds = delivered + count, seconds + spent
            rss.append(target.rss())
        wall = time.perf_counter() - start
        result = dict(clients=clients, senders=senders, window=window,
                      seconds=round(seconds, 2), deliveries=delivered,
                      rate=delivered / seconds, generator_cpu=(process_seconds() - own) / wall)
        if cpu is not None:
            result["server_cpu"] = (target.cpu_seconds() - cpu) / wall
            result["server_loop_cpu"] = (target.loop_cpu_seconds() - loop) / wall
            result["server_rss_max"] = max(rss)
        load.drain(receivers)
        result["check"] = "exact: no loss, no duplicate, order kept"
        if slow_one is not None:
            result["slow_reader"] = slow_fate(load, slow_one)
        return result
    finally:
        load.close()


def measured_fanout_c(target, clients, senders, settings, window):
    """The fan-out driven by the generator in C (``--generator c``, :mod:`.cgenerator`)."""
    delivered, seconds, generator_cpu, server_cpu, loop_cpu = cgenerator.fan_out(
        target, clients, senders, window, settings["warmup"], settings["seconds"])
    result = dict(clients=clients, senders=senders, window=window, seconds=round(seconds, 2),
                  deliveries=delivered, rate=delivered / seconds, generator_cpu=generator_cpu,
                  check="exact: no loss, no duplicate, order kept (generator in C)")
    if server_cpu is not None:
        result["server_cpu"], result["server_loop_cpu"] = server_cpu, loop_cpu
    return result


def slow_fate(load, client, timeout=10.0):
    """Read what the slow reader was sent, to its end: was it disconnected, and how."""
    client.full_check = False
    load.resume_reading(client)
    deadline = time.monotonic() + timeout
    while not client.closed and time.monotonic() < deadline:
        load.turn(0.2)
    if not client.closed:
        return "still connected after the run"
    goodbye = [line for line in client.lines if line.startswith(("ERROR", "(the connection"))]
    return "disconnected" + (f"; it read: {goodbye[-1]}" if goodbye else
                             ", with no goodbye read (none, or sent while it was not reading)")


def measured_latency(target, settings):
    load_senders = settings["latency_senders"]
    load = Load(target.address, target.proto, settings["latency_clients"], load_senders)
    try:
        load.connect()
        probes = load.clients[load_senders:load_senders + PROBES]
        load.open_loop(settings["warmup"], settings["rate"], probes)
        load.drain()  # the warm-up's last messages arrive before the counters start again
        load.sent = [0] * len(load.senders)
        for client in load.clients:
            client.progress = [0] * len(load.senders)
        cpu, own, start = target.cpu_seconds(), process_seconds(), time.perf_counter()
        latencies = sorted(load.open_loop(settings["seconds"], settings["rate"], probes))
        wall = time.perf_counter() - start
        generator_cpu = (process_seconds() - own) / wall
        load.drain()
        result = dict(clients=settings["latency_clients"], senders=load_senders,
                      offered=settings["rate"], probes=len(probes), samples=len(latencies),
                      generator_cpu=generator_cpu)
        for name, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            result[name + "_us"] = latencies[int(share * (len(latencies) - 1))] * 1e6
        result["max_us"] = latencies[-1] * 1e6
        if cpu is not None:
            result["server_cpu"] = (target.cpu_seconds() - cpu) / wall
            # Each message reaches every other member: CPU per delivery, the everyday cost.
            deliveries = settings["rate"] * (settings["latency_clients"] - 1)
            result["cpu_us_per_delivery"] = result["server_cpu"] / deliveries * 1e6
        return result
    finally:
        load.close()


def measured_latency_c(target, settings):
    """The latency scenario driven by the generator in C (:func:`.cgenerator.open_loop`): the
    same schedule, every receiver timed as data comes."""
    clients, senders = settings["latency_clients"], settings["latency_senders"]
    run = cgenerator.open_loop(target, clients, senders, settings["rate"], settings["warmup"],
                               settings["seconds"])
    result = dict(clients=clients, senders=senders, offered=settings["rate"], probes=clients,
                  samples=run["samples"], generator_cpu=run["generator_cpu"],
                  **{figure: run[figure] for figure in ("p50_us", "p90_us", "p99_us", "max_us")})
    if run["server_cpu"] is not None:
        result["server_cpu"] = run["server_cpu"]
        # What the server delivered, as counted at the receivers.
        result["cpu_us_per_delivery"] = (run["server_cpu"] * run["seconds"]
                                         / run["deliveries"] * 1e6)
    return result


def measured_idle(target, settings, room=False):
    """Register many connections that then do nothing; then every one of them sends a PING
    at once.  How long each step takes is part of the answer: a design can hold 10 000
    connections and still take minutes to answer them all.

    Spread out (by default): 200 at a time, IRC users in no room.  With *room*: all in one
    burst, everyone joining one room (each join told to everyone there).  Either way the
    memory is measured once the server has had ``settings["settle"]`` seconds to give back
    what the arrivals left free (tcpchat.transports.memory looks every 10 s): what idle users
    cost, not what their coming did."""
    wanted = settings["room" if room else "idle"]
    limit = raise_descriptor_limit(wanted + 100)
    count = min(wanted, limit - 100)
    notes = [] if count == wanted else [f"this process may open {limit} descriptors"]
    baseline = target.rss()
    load = Load(target.address, target.proto, count, 0, join=room)
    try:
        start = time.perf_counter()
        try:
            load.connect(batch=count if room else 200, timeout=120.0)
        except (TimeoutError, ConnectionError) as exc:
            notes.append(str(exc))
        registered = [client for client in load.clients
                      if client.sock is not None and not client.closed]
        register_seconds = time.perf_counter() - start
        if settings["settle"]:
            time.sleep(settings["settle"])  # the server's own pace, not a condition to await
        rss = target.rss()
        for client in registered:
            client.lines.clear()
            load._queue(client, b"PING :alive\r\n" if load.proto == IRC else b"/who\r\n")
        mark = ":alive" if load.proto == IRC else WHO_ANSWER
        waiting = set(registered)
        start = time.perf_counter()
        deadline = start + 300
        while waiting and time.perf_counter() < deadline:
            load.turn(0.2)
            waiting = {client for client in waiting if not client.closed
                       and not any(mark in line for line in client.lines)}
        answered = [client for client in registered
                    if any(mark in line for line in client.lines)]
        result = dict(shape="room" if room else "spread", connections=count,
                      registered=len(registered), served=len(answered),
                      register_seconds=register_seconds,
                      ping_all_seconds=time.perf_counter() - start)
        if rss is not None and registered:
            result["server_rss"] = rss
            result["rss_per_connection"] = (rss - baseline) / len(registered)
            result["server_peak_rss"] = target.peak_rss()
        if notes:
            result["note"] = "; ".join(notes)
        return result
    finally:
        load.close()


# -- Running targets --------------------------------------------------------------------------

def measured_transports(args, settings):
    """Every run of the transports scenario, on the first select target asked for."""
    name = next((name for name in args.targets if name.startswith("select")), "select-epoll")
    plan = settings["transports"]
    transports, extra, skipped, folder = ["tcp", "udp"], ["--udp"], None, None
    handshakes = None
    try:
        cert_file, key_file, folder = certificate_files()
    except ImportError:
        skipped = "TLS not measured: it needs trustme for a certificate (pip install trustme)"
        print(skipped, file=sys.stderr)
    else:
        transports.append("tls")
        extra += ["--tls-cert", cert_file, "--tls-key", key_file, "--tls-port", FREE_PORT]
    if not all(importlib.util.find_spec(name) for name in ("wsproto", "h11")):
        no_web = "web not measured: it needs wsproto and h11 (pip install '.[web]')"
        skipped = f"{skipped}; {no_web}" if skipped else no_web
        print(no_web, file=sys.stderr)
    else:
        transports.append("web")
        extra += ["--web", FREE_PORT]
    runs = []
    try:
        target = Target.start(name, IRC, extra=extra)
        # The ports probed for TLS and the web, in the order asked.
        given = iter(("127.0.0.1", port) for port in target.extra_ports)
        ports = {transport: next(given) for transport in ("tls", "web")
                 if transport in transports}
        try:
            for transport in transports:
                address = ports.get(transport)
                steps = [(rate, 0) for rate in plan["rates"]]
                for rate, slow in steps + [(plan["slow_rate"], plan["slow"])]:
                    print(f"... transports: {transport}, {rate}/s"
                          f"{', slow readers' if slow else ''}", file=sys.stderr, flush=True)
                    runs.append(measured_run(target, transport, plan["receivers"], slow, rate,
                                             plan["seconds"], len(runs), process_seconds,
                                             address))
            if "tls" in transports:
                print("... transports: TLS handshakes", file=sys.stderr, flush=True)
                handshakes = measured_handshakes(target, ports["tls"],
                                                 plan["handshakes"])
        finally:
            target.stop()
    finally:
        if folder is not None:
            folder.cleanup()
    return dict(target=name, runs=runs, skipped=skipped, handshakes=handshakes)


def round_order(targets, round_number):
    """The order *targets* run in, in round *round_number* (from 0): as given, and reversed
    every second round.  A target that always ran after another came out lower on this
    machine: two trees compared with each other's order swapped gave 0.92 and 1.19 for the
    same pair at 100 clients and 8 in flight (docs/benchmarks.rst, "Order")."""
    return targets if round_number % 2 == 0 else targets[::-1]


def run(args, settings):
    results = {}
    if "core" in args.scenarios:
        print("... the core alone", file=sys.stderr, flush=True)
        results["core"] = {"core": measured_core(runs=10 if args.quick else 50)}
    if "cluster" in args.scenarios:
        from . import cluster  # the cluster extra's: only for this scenario
        why = cluster.missing()
        if why is None:
            quick = dict(rounds=1, seconds=1.0, burst=500) if args.quick else {}
            results["cluster"] = {"cluster": cluster.measure(**quick)}
        else:
            results["cluster"] = {"cluster": {"error": why}}
    if "transports" in args.scenarios:
        try:
            results["transports"] = {"transports": measured_transports(args, settings)}
        except (OSError, TimeoutError, RuntimeError) as exc:
            results["transports"] = {"transports": {"error": f"{type(exc).__name__}: {exc}"}}
    calibrating = args.calibration = calibration()
    targets = [calibrating] + [name for name in args.targets if name != calibrating]
    if args.connect:
        targets.append("connect")
    rounds = {}  # (target, scenario) -> what each round measured
    for round_number in range(args.rounds):
        for name in round_order(targets, round_number):
            results.setdefault(name, {})
            for scenario in args.scenarios:
                if scenario in ("core", "transports", "cluster") or (
                        round_number and scenario not in ROUNDED):
                    continue
                print(f"... round {round_number + 1}: {name}: {scenario}", file=sys.stderr,
                      flush=True)
                try:
                    measured = run_scenario(name, scenario, args, settings)
                except (CheckFailed, OSError, TimeoutError, RuntimeError) as exc:
                    measured = {"error": f"{type(exc).__name__}: {exc}"}
                rounds.setdefault((name, scenario), []).append(measured)
    for (name, scenario), measured in rounds.items():
        results[name][scenario] = (medians(measured, rounds.get((calibrating, scenario)))
                                   if scenario in ROUNDED else measured[0])
    return results


def medians(measured, calibrating):
    """One result of a scenario's rounds (*measured*, one each): for each row, the round of
    the median figure (fan-out: deliveries a second; latency: p99), with every round's figure
    beside it and, for the fan-out, its ratio to the calibration relay's in the same round
    (*calibrating*, or None)."""
    if isinstance(measured[0], list):  # the fan-out: a row per shape
        return [_median_row([rows[index] for rows in measured if isinstance(rows, list)],
                            [rows[index] for rows in calibrating or () if isinstance(rows, list)
                             and index < len(rows)], "rate")
                for index in range(len(measured[0]))]
    return _median_row(measured, [], "p99_us")


def _median_row(rows, reference, figure):
    good = [row for row in rows if "error" not in row]
    if not good:
        return rows[0]
    chosen = dict(sorted(good, key=lambda row: row[figure])[(len(good) - 1) // 2])
    chosen["rounds"] = [row.get(figure) for row in rows]
    if figure == "p99_us":
        chosen["round_p50_us"] = [row.get("p50_us") for row in rows]
        chosen["round_cpu_us"] = [row.get("cpu_us_per_delivery") for row in rows]
    if len(reference) == len(rows):
        chosen["paired"] = [row[figure] / base[figure]
                            if "error" not in row and "error" not in base else None
                            for row, base in zip(rows, reference)]
    return chosen


def run_scenario(name, scenario, args, settings):
    if name == "connect":
        host, _, port = args.connect.rpartition(":")
        target = Target(args.connect, (host.strip("[]"), int(port)), args.proto)
    else:
        target = Target.start(name, args.proto, sendq=args.sendq)
    try:
        if scenario == "fanout":
            if _in_c(args):
                def measure(clients, senders, window):
                    return measured_fanout_c(target, clients, senders, settings, window)
            else:
                def measure(clients, senders, window):
                    return measured_fanout(target, clients, senders, settings, window,
                                           full_check=args.full_check)
            # A shape that fails (a server that never recovers from the one before) is an
            # error row of its own: the other shapes are still measured.
            return [_or_error(measure, clients, senders, window)
                    for clients, senders in settings["fanout"] for window in settings["windows"]]
        if scenario == "slow":
            clients, senders = settings["fanout"][0]
            return measured_fanout(target, clients, senders, settings, settings["windows"][-1],
                                   slow=True)
        if scenario == "latency":
            if _in_c(args):
                return measured_latency_c(target, settings)
            return measured_latency(target, settings)
        if scenario == "idle":
            rows = [measured_idle(target, settings)]
            if target.local:  # the peak is the process's: the burst gets a server of its own
                target.stop()
                target = Target.start(name, args.proto, sendq=args.sendq)
            rows.append(measured_idle(target, settings, room=True))
            return rows
        raise ValueError(scenario)
    finally:
        target.stop()


def _in_c(args):
    """Whether the generator in C drives the scenarios it can (:data:`IN_C`)."""
    return args.generator == "c" or (args.generator == "auto"
                                     and cgenerator.compiler() is not None)


def _or_error(measure, clients, senders, window):
    try:
        return measure(clients, senders, window)
    except (CheckFailed, OSError, TimeoutError, RuntimeError) as exc:
        return dict(clients=clients, senders=senders, window=window,
                    error=f"{type(exc).__name__}: {exc}")


# -- Reporting --------------------------------------------------------------------------------

def report(results, out=sys.stdout, calibrating="relay", against=None):
    ceiling = {}
    relay = results.get(calibrating, {})
    for row in relay.get("fanout", []) if isinstance(relay.get("fanout"), list) else []:
        if "rate" in row:
            ceiling[(row["clients"], row["senders"], row["window"])] = row["rate"]

    def flag(row):
        top = ceiling.get((row["clients"], row["senders"], row["window"]))
        return " (near the generator's ceiling)" if top and row["rate"] >= NEAR_CEILING * top \
            else ""

    def each(scenario):
        """(target, row) for each measured row of *scenario*; a row that is an error is
        printed as it comes, in the same column."""
        for name, scenarios in results.items():
            rows = scenarios.get(scenario, [])
            for row in rows if isinstance(rows, list) else [rows]:
                if "error" in row:
                    print(f"  {name:14s} {row['error']}", file=out)
                else:
                    yield name, row

    if "core" in results:
        row = results["core"]["core"]
        print(f"\ncore alone, no sockets, {row['members']} members: "
              f"{row['per_message'] / 1e6:.2f} M deliveries/s with a core call per message, "
              f"{row['per_read'] / 1e6:.2f} M/s with a read's worth (100 lines) per call",
              file=out)

    def measured(scenario):
        return any(scenario in scenarios for name, scenarios in results.items()
                   if name not in ("core", "transports"))

    if measured("fanout"):
        report_fanout(each, flag, calibrating, out)
    if measured("latency"):
        report_latency(each, out)
    if measured("idle"):
        report_idle(each, out)
    if measured("slow"):
        report_slow(each, results, out)
    transports = results.get("transports", {}).get("transports")
    if transports:
        report_transports(transports, out)
    if against is not None and against in results:
        report_against(results, against, out)


def report_fanout(each, flag, calibrating, out):
    print("\nfan-out: deliveries a second (every delivery checked; the median round)", file=out)
    print(f"  {'target':14s} {'clients':>7s} {'senders':>7s} {'window':>6s} {'M/s':>7s} "
          f"{'server CPU':>10s} {'its loop':>8s} {'M/CPU-s':>7s} {'generator CPU':>13s}  "
          f"{'/relay, by round'}", file=out)
    for name, row in each("fanout"):
        cpu = row.get("server_cpu")
        per_cpu = f"{row['rate'] / cpu / 1e6:7.2f}" if cpu else f"{'-':>7s}"
        paired = " ".join(f"{ratio:.2f}" if ratio is not None else "-"
                          for ratio in row.get("paired", ()))
        print(f"  {name:14s} {row['clients']:7d} {row['senders']:7d} {row['window']:6d} "
              f"{row['rate'] / 1e6:7.2f} {_share(cpu):>10s} "
              f"{_share(row.get('server_loop_cpu')):>8s} {per_cpu} "
              f"{_share(row['generator_cpu']):>13s}  "
              f"{paired if name != calibrating else ''}"
              f"{'' if name == calibrating else flag(row)}", file=out)
    print(f"  ({calibrating}: the trivial relay; its figure is the most this machine and "
          "generator can measure.  M/CPU-s: millions of deliveries per second of the server's "
          "CPU.  Its loop: its main thread's share, the select loop's (the rest of a select "
          "backend's is history's writer's; threads: the thread that accepts).  /relay: each "
          "round's figure over the relay's in the same round)", file=out)


def report_latency(each, out):
    print("\nlatency: µs from each message's scheduled send to each receipt (open loop)",
          file=out)
    print(f"  {'target':14s} {'offered/s':>9s} {'p50':>8s} {'p90':>8s} {'p99':>8s} "
          f"{'max':>9s} {'server CPU':>10s} {'CPU µs/delivery':>15s}  p99 by round", file=out)
    for name, row in each("latency"):
        per_delivery = row.get("cpu_us_per_delivery")
        print(f"  {name:14s} {row['offered']:9d} {row['p50_us']:8.0f} {row['p90_us']:8.0f} "
              f"{row['p99_us']:8.0f} {row['max_us']:9.0f} {_share(row.get('server_cpu')):>10s} "
              f"{per_delivery if per_delivery is not None else float('nan'):15.2f}  "
              + " ".join(f"{value:.0f}" for value in row.get("rounds", ()) if value), file=out)


def report_against(results, against, out):
    """Each target's figures over *against*'s in the same round, shape by shape: how the
    issues' targets are set (a ratio to a reference measured in the same round, never an
    absolute figure), since this machine's speed swings from round to round."""
    print(f"\nagainst {against}, paired by round (each round's figure over {against}'s in that "
          "round): the median, each round's, and in how many rounds it was below 1", file=out)
    base = results[against]
    for name, scenarios in results.items():
        if name == against or name in ("core", "transports", "cluster"):
            continue
        fanout, references = scenarios.get("fanout"), base.get("fanout")
        if isinstance(fanout, list) and isinstance(references, list):
            shapes = {_shape(row): row for row in references}
            for row in fanout:
                paired = _paired(row, shapes.get(_shape(row)), "rounds")
                if paired:
                    print(f"  {name:14s} fan-out, {row['clients']} clients, {row['window']} in "
                          f"flight: deliveries a second {paired}", file=out)
        latency, reference = scenarios.get("latency"), base.get("latency")
        if isinstance(latency, dict) and isinstance(reference, dict):
            for label, figure in (("CPU a delivery", "round_cpu_us"), ("p50", "round_p50_us"),
                                  ("p99", "rounds")):
                paired = _paired(latency, reference, figure)
                if paired:
                    print(f"  {name:14s} latency, {latency['offered']} messages a second: "
                          f"{label} {paired}", file=out)


def _shape(row):
    return row.get("clients"), row.get("senders"), row.get("window")


def _paired(row, reference, figure):
    """``median (each round's ratio), below 1 in k of n`` for *row*'s per-round *figure*
    over *reference*'s, or "" when they have no round in common."""
    if reference is None:
        return ""
    ratios = [value / base if value is not None and base else None
              for value, base in zip(row.get(figure) or (), reference.get(figure) or ())]
    measured = [ratio for ratio in ratios if ratio is not None]
    if not measured:
        return ""
    each = " ".join(f"{ratio:.2f}" if ratio is not None else "-" for ratio in ratios)
    below = sum(ratio < 1 for ratio in measured)
    return (f"{statistics.median(measured):.3f} ({each}), below 1 in {below} of "
            f"{len(measured)}")


def report_idle(each, out):
    print("\nidle: connections that register and then do nothing; then all PING at once",
          file=out)
    print(f"  {'target':14s} {'shape':6s} {'asked':>6s} {'registered':>10s} {'answered':>8s} "
          f"{'KiB each':>9s} {'peak MiB':>8s} {'register s':>10s} {'PING all s':>10s}",
          file=out)
    for name, row in each("idle"):
        per, peak = row.get("rss_per_connection"), row.get("server_peak_rss")
        print(f"  {name:14s} {row.get('shape', 'spread'):6s} {row['connections']:6d} "
              f"{row['registered']:10d} {row['served']:8d} "
              f"{per / 1024 if per is not None else float('nan'):9.2f} "
              f"{peak / 2**20 if peak is not None else float('nan'):8.1f} "
              f"{row['register_seconds']:10.1f} {row['ping_all_seconds']:10.1f}", file=out)
        if "note" in row:
            print(f"  {'':14s} {row['note']}", file=out)


def report_slow(each, results, out):
    print("\nslow reader: one member never reads while the others chat", file=out)
    for name, row in each("slow"):
        plain = results[name].get("fanout")
        same = (row["clients"], row["senders"], row["window"])
        base = next((other["rate"] for other in (plain if isinstance(plain, list) else ())
                     if "rate" in other
                     and (other["clients"], other["senders"], other["window"]) == same), None)
        held = f"{row['rate'] / base:.2f} of the fan-out without it" if base else ""
        rss = row.get("server_rss_max")
        print(f"  {name:14s} others {row['rate'] / 1e6:.2f} M/s {held}; "
              f"server RSS at most {rss / 2**20 if rss else float('nan'):.1f} MiB; "
              f"slow one: {row['slow_reader']}", file=out)


def report_transports(transports, out):
    if "error" in transports:
        print(f"\ntransports: {transports['error']}", file=out)
        return
    runs = transports["runs"]
    first = runs[0]
    names = list(dict.fromkeys(row["transport"].upper() for row in runs))
    over = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    print(f"\ntransports: one sender, {first['normal']['receivers']} receivers, the same "
          f"stream over {over} ({transports['target']} --udp --tls-cert --web; "
          f"{first['seconds']:g} s at each offered rate)", file=out)
    if transports.get("skipped"):
        print(f"  {transports['skipped']}", file=out)
    print(f"  {'':4s} {'offered/s':>9s} {'readers':>8s} {'relayed':>8s} {'delivered':>9s} "
          f"{'reordered':>9s} "
          f"{'duplicated':>10s} {'cut':>4s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'CPU ms/1000':>11s} {'generator':>9s}", file=out)
    for row in runs:
        groups = [("all", row["normal"])] if not row["slow"] else [
            ("normal", row["normal"]), ("slow", row["slow_group"])]
        for readers, group in groups:
            cost = row.get("server_cpu_per_1000")
            print(f"  {row['transport']:4s} {row['rate']:9d} {readers:>8s} "
                  f"{row['relayed_share'] * 100:7.1f}% "
                  f"{group['delivered_share'] * 100:8.1f}% {group['reordered']:9d} "
                  f"{group['duplicated']:10d} {group['cut']:4d} {_ms(group['p50_ms'])} "
                  f"{_ms(group['p99_ms'])} "
                  f"{cost * 1000 if cost is not None else float('nan'):11.2f} "
                  f"{_share(row['generator_cpu']):>9s}", file=out)
    print("  (relayed: messages at least one receiver got, so the server read them; delivered: "
          "distinct messages received / offered x receivers; cut: receivers the "
          "server disconnected; CPU ms/1000: server CPU per thousand deliveries; generator: "
          "this process's CPU, near 100 % it is the limit)", file=out)
    handshakes = transports.get("handshakes")
    if handshakes:
        cpu = handshakes.get("server_cpu_ms")
        print(f"  TLS handshakes, {handshakes['count']} one after another: "
              f"{handshakes['wall_ms']:.2f} ms each as the client saw it, server CPU "
              f"{cpu if cpu is not None else float('nan'):.2f} ms each", file=out)


def _ms(value):
    return f"{value:8.2f}" if value is not None else f"{'-':>8s}"


def _share(value):
    return "-" if value is None else f"{value * 100:.0f} %"


def panels(results):
    """What --plot draws: ``(scenario, title, rows)`` for each scenario with figures, in
    order (a run of one scenario draws one panel, not two empty ones beside it)."""
    drawn = []
    fanout = {name: scenarios["fanout"] for name, scenarios in results.items()
              if isinstance(scenarios.get("fanout"), list) and scenarios["fanout"]
              and all("rate" in row for row in scenarios["fanout"])}
    if fanout:
        drawn.append(("fanout", "fan-out", fanout))
    latency = {name: scenarios["latency"] for name, scenarios in results.items()
               if "p50_us" in scenarios.get("latency", {})}
    if latency:
        offered = sorted({row["offered"] for row in latency.values()})
        rate = " or ".join(str(value) for value in offered)
        drawn.append(("latency", f"latency, {rate} messages/s offered", latency))
    idle = {name: rows for name, rows in (
        (name, [row for row in _listed(scenarios.get("idle", [])) if "rss_per_connection" in row])
        for name, scenarios in results.items()) if rows}
    if idle:
        drawn.append(("idle", "memory per idle connection", idle))
    return drawn


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        print("--plot needs matplotlib: pip install 'tcpchat[bench]'", file=sys.stderr)
        return False
    drawn = panels(results)
    if not drawn:
        print("--plot: nothing to draw (no scenario gave figures)", file=sys.stderr)
        return False
    figure, axes = pyplot.subplots(1, len(drawn), figsize=(5 * len(drawn), 4.5),
                                   squeeze=False)
    for axis, (scenario, title, rows) in zip(axes[0], drawn):
        _DRAW[scenario](axis, rows)
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    return True


def _draw_fanout(axis, rows):
    names = list(rows)
    sizes = sorted({(row["clients"], row["senders"], row["window"]) for name in names
                    for row in rows[name]})
    width = 0.8 / max(len(sizes), 1)
    for offset, size in enumerate(sizes):
        rates = [next((row["rate"] / 1e6 for row in rows[name]
                       if (row["clients"], row["senders"], row["window"]) == size), 0)
                 for name in names]
        axis.bar([i + offset * width for i in range(len(names))], rates, width,
                 label=f"{size[0]} clients, {size[1]} senders, {size[2]} in flight")
    axis.set_xticks([i + width * (len(sizes) - 1) / 2 for i in range(len(names))], names,
                    rotation=20)
    axis.set_ylabel("million deliveries / s")
    axis.legend()


def _draw_latency(axis, rows):
    names = list(rows)
    for offset, key in enumerate(("p50_us", "p99_us")):
        axis.bar([i + offset * 0.4 for i in range(len(names))],
                 [rows[name][key] for name in names], 0.4, label=key[:3])
    axis.set_xticks([i + 0.2 for i in range(len(names))], names, rotation=20)
    axis.set_ylabel("µs")
    axis.legend()


def _listed(rows):
    """A scenario's rows as a list (one scenario gives a row, another several)."""
    return rows if isinstance(rows, list) else [rows]


def _draw_idle(axis, rows):
    names = list(rows)
    shapes = list(dict.fromkeys(row.get("shape", "spread") for name in names
                                for row in rows[name]))
    width = 0.8 / len(shapes)
    for offset, shape in enumerate(shapes):
        axis.bar([i + offset * width for i in range(len(names))],
                 [next((row["rss_per_connection"] / 1024 for row in rows[name]
                        if row.get("shape", "spread") == shape), 0) for name in names],
                 width, label=IDLE_SHAPES[shape])
    axis.set_xticks([i + width * (len(shapes) - 1) / 2 for i in range(len(names))], names,
                    rotation=20)
    axis.legend()
    axis.set_ylabel("KiB of server RSS")


_DRAW = {"fanout": _draw_fanout, "latency": _draw_latency, "idle": _draw_idle}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tcpchat.bench", description=__doc__.split("\n")[0],
        epilog="Scenarios and method: docs/benchmarks.rst.")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                        help=f"servers to start, from {', '.join(TARGETS)}, each also as "
                             "it was at a git revision, NAME@REV (default: all but those)")
    parser.add_argument("--connect", metavar="HOST:PORT",
                        help="also measure a server already running there")
    parser.add_argument("--proto", choices=[IRC, PLAIN], default=IRC,
                        help="how the generator's clients speak (default irc)")
    parser.add_argument("--scenarios", default="core,fanout,latency,idle,slow,transports",
                        help="which to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small and short: checks the tool, measures little")
    parser.add_argument("--full-check", action="store_true",
                        help="every receiver parses every line (the design the generator "
                             "measured against; see docs/benchmarks.rst)")
    parser.add_argument("--generator", choices=["auto", "python", "c"], default="auto",
                        help="what drives the fan-out and latency scenarios: a generator "
                             "in C built with the system's compiler (auto: where there is "
                             "one), or this process, whose own ceiling is near 3 M "
                             "deliveries a second and which times ten receivers of 99")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the fan-out and latency scenarios, every target once "
                             "a round (default 3; 1 with --quick)")
    parser.add_argument("--sendq", type=int, help="the started tcpchat servers' --sendq")
    parser.add_argument("--against", metavar="TARGET",
                        help="also give every other target's figures over this one's, "
                             "paired round by round (say, asyncio-uvloop, or "
                             "select-epoll-no-history for what history costs)")
    parser.add_argument("--json", default="bench.json", metavar="FILE",
                        help="where to write the results (default bench.json)")
    parser.add_argument("--plot", metavar="FILE", help="draw the comparison (PNG or SVG); "
                        "needs matplotlib: pip install 'tcpchat[bench]'")
    args = parser.parse_args(argv)
    args.targets = [name for name in args.targets.split(",") if name]
    args.scenarios = [name for name in args.scenarios.split(",") if name]
    unknown = [name for name in args.targets if not known(name)]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    if args.against is not None and args.against not in [*args.targets, calibration()]:
        parser.error(f"--against {args.against}: not among the targets")
    settings = QUICK if args.quick else FULL
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    available = MACHINE_CORES
    if len(available) > 1:
        os.sched_setaffinity(0, set(available) - {SERVER_CORE})
        placement = (f"server pinned to core {SERVER_CORE}, generator to "
                     f"{sorted(set(available) - {SERVER_CORE})}")
    else:
        placement = "one core: server and generator share it (figures are lower bounds)"
    if args.generator == "auto":
        args.generator = "c" if cgenerator.compiler() is not None else "python"
        if args.generator == "python" and set(IN_C) & set(args.scenarios):
            print("tcpchat.bench: no C compiler: the fan-out and latency are driven from "
                  "Python, which cannot measure past ~3 M deliveries a second and times ten "
                  "receivers of 99 (apt-get install gcc)", file=sys.stderr)
    if args.generator == "c" and set(IN_C) & set(args.scenarios):
        try:
            cgenerator.binary()
        except cgenerator.NoCompiler as exc:
            parser.error(str(exc))
    generator = ("one process, batched reads" if args.generator == "python" else
                 "in C for the fan-out and latency, one process, batched reads for the rest")
    print(f"tcpchat.bench: {placement}; generator: {generator}, every delivery checked",
          file=sys.stderr)
    results = run(args, settings)
    meta = dict(placement=placement, quick=args.quick, proto=args.proto,
                python=sys.version.split()[0], cores=len(available), when=time.time(),
                generator=args.generator, rounds=args.rounds,
                calibration=getattr(args, "calibration", None))
    with open(args.json, "w") as out:
        json.dump(dict(meta=meta, results=results), out, indent=1)
    report(results, calibrating=getattr(args, "calibration", "relay"), against=args.against)
    if args.plot and plot(results, args.plot):
        print(f"\nplot: {args.plot}")
    print(f"results: {args.json}")
    failed = [f"{name} {scenario}" for name, scenarios in results.items()
              for scenario, row in scenarios.items()
              if ("error" in row if isinstance(row, dict) else
                  any("error" in item for item in row))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
