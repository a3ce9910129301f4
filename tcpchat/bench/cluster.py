"""What the cluster costs and how fast it carries a message: ``python -m tcpchat.bench.cluster``.

Three setups, each run once per round, in an order that turns from round to round (so that the
machine's swings hit all alike), with a redis-server of the tool's own on a Unix socket:

- ``alone``: one server without ``--cluster``, every member on it;
- ``clustered``: the same with ``--cluster``: every message also goes to Redis, so this against
  ``alone`` is what the bus costs a node's own fan-out;
- ``two nodes``: two servers on one Redis, half the members on each, the senders on the first:
  the latency to members on the sender's node against the latency to those on the other;
- ``three nodes``: the same over three;
- ``workers 2``: one server started with ``--workers 2``: the kernel spreads the members over
  its two processes (``SO_REUSEPORT``), against ``alone``.

Every server keeps history, in memory, as it does by default (and with ``--cluster``, in Redis
too).

The load is an open loop: the senders together send ``--rate`` messages a second on a fixed
schedule, each carrying the moment it was due; a receiver's latency is from then to its
arrival (a stall counts, it is not hidden).  Then a burst: ``--burst`` messages as fast as the
first sender may, timed until every member has every one (deliveries a second).  Server CPU
is read from /proc: microseconds a delivery, every server (and Redis) counted.
"""

import argparse
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from .targets import process_cpu_seconds, start_on_free_ports

SETUPS = ("alone", "clustered", "two nodes", "three nodes", "workers 2")
#: Nodes (processes) each setup runs, and whether its members are spread over them by the
#: tool (else the kernel spreads them: --workers).
NODES = {"alone": 1, "clustered": 1, "two nodes": 2, "three nodes": 3, "workers 2": 1}


class Servers:
    """The servers of one setup (and Redis), started; stopped with :meth:`stop`."""

    def __init__(self, setup, folder):
        self.processes, self.addresses, self.redis = [], [], None
        cluster = []
        if setup != "alone":
            sock = os.path.join(folder, f"redis-{time.monotonic_ns()}.sock")
            self.redis = subprocess.Popen(
                ["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL)
            _wait(lambda: os.path.exists(sock))
            cluster = ["--cluster", f"unix://{sock}"]
        if setup == "workers 2":
            cluster += ["--workers", "2"]
        for _node in range(NODES[setup]):
            started = start_on_free_ports(1, lambda ports: [subprocess.Popen(
                [sys.executable, "-m", "tcpchat.server", "--port", str(ports[0]), "--channel",
                 "#bench", "--no-flood-control", "--max-per-ip", "0", "--log-level",
                 "WARNING", *cluster], stdin=subprocess.DEVNULL)],  # history on, in memory
                lambda ports: _answers(("127.0.0.1", ports[0])))
            if started is None:
                raise RuntimeError("a server exited at start")
            (port,), (process,) = started
            self.processes.append(process)
            self.addresses.append(("127.0.0.1", port))

    def thread_seconds(self):
        """CPU seconds of each thread of the first server, by thread id, in the order they
        were made (the loop first; with --cluster, then the bus and its reader last)."""
        pid, tick = self.processes[0].pid, os.sysconf("SC_CLK_TCK")
        seconds = {}
        for thread in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            with open(f"/proc/{pid}/task/{thread}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            seconds[thread] = (int(fields[11]) + int(fields[12])) / tick
        return seconds

    def cpu_seconds(self):
        """The servers' CPU seconds (their --workers too), and Redis's."""
        pids = [process.pid for process in self.processes]
        for pid in list(pids):
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                pids += map(int, children.read().split())
        servers = sum(process_cpu_seconds(pid) for pid in pids)
        return servers, process_cpu_seconds(self.redis.pid) if self.redis else 0.0

    def stop(self):
        for process in self.processes + ([self.redis] if self.redis else []):
            process.terminate()
            process.wait(10)


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("a server did not start")
        time.sleep(0.02)  # a process starting: nothing to wait on but time


def _answers(address):
    try:
        with socket.create_connection(address, timeout=1) as probe:
            return bool(probe.recv(1))
    except OSError:
        return False


class Member:
    """One IRC client in #bench, read by the tool's selector."""

    def __init__(self, address, nick, node):
        self.nick, self.node = nick, node
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        self.pending = b""
        self.latencies = []
        self.received = self.joins = 0
        self._wait_for(b" 366 ")

    def _wait_for(self, marker, timeout=10.0):
        self.sock.settimeout(timeout)
        while marker not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{self.nick}: closed")
            self.pending += chunk
        self.pending = self.pending[self.pending.index(marker):].partition(b"\n")[2]
        self.sock.setblocking(False)

    def read(self, now_ns):
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            at = line.find(b" PRIVMSG #bench :")
            if at < 0:
                self.joins += b" JOIN " in line
            else:
                self.received += 1
                due = int(line[at + 17:].split(b" ", 1)[0])
                self.latencies.append((now_ns - due) / 1000)

    def close(self):
        self.sock.close()


def one_run(setup, folder, members, senders, rate, seconds, burst):
    servers = Servers(setup, folder)
    try:
        nodes = len(servers.addresses)
        crowd = [Member(servers.addresses[number % nodes], f"m{number}", number % nodes)
                 for number in range(members)]
        if setup == "workers 2":
            _wait_for_every_worker(crowd)
        if setup != "workers 2":
            # Member n sees the joins of every member after it: then the room is full for all.
            _read_until(crowd, lambda: all(member.joins >= members - 1 - number
                                           for number, member in enumerate(crowd)))
        for member in crowd:
            member.latencies.clear()
            member.received = 0
        talking = [member for member in crowd if member.node == 0][:senders]
        (cpu, redis_cpu), threads = servers.cpu_seconds(), servers.thread_seconds()
        sent = _open_loop(crowd, talking, rate, seconds)
        after, redis_after = servers.cpu_seconds()
        cpu, redis_cpu = after - cpu + redis_after - redis_cpu, redis_after - redis_cpu
        threads = {thread: spent - threads.get(thread, 0)
                   for thread, spent in servers.thread_seconds().items()}
        expected = sent * (members - 1)
        _read_until(crowd, lambda: sum(member.received for member in crowd) >= expected, 10)
        by_node = {}
        for member in crowd:
            by_node.setdefault(member.node, []).extend(member.latencies)
        busy = [spent for spent in threads.values()]
        result = {"deliveries": sum(member.received for member in crowd), "expected": expected,
                  "cpu_us_per_delivery": cpu / max(1, expected) * 1e6,
                  "redis_us_per_message": redis_cpu / max(1, sent) * 1e6,
                  # The first server's loop, and its bus and reader (the last two threads made)
                  "loop_us_per_message": busy[0] / max(1, sent) * 1e6,
                  "bus_us_per_message": (sum(busy[-2:]) / max(1, sent) * 1e6
                                         if setup not in ("alone", "workers 2") else 0.0),
                  "latency_us": {node: _shares(values) for node, values in by_node.items()}}
        result["burst_deliveries_per_s"] = _burst(crowd, talking[0], burst)
        for member in crowd:
            member.close()
        return result
    finally:
        servers.stop()


def _wait_for_every_worker(crowd):
    """Under --workers, the room is full for everyone once each member's worker has every
    member in it: asked with NAMES until it says so."""
    for member in crowd:
        member.sock.setblocking(True)
        member.sock.settimeout(10)
        while True:
            member.sock.sendall(b"NAMES #bench\r\n")
            reply = b""
            while b" 366 " not in reply:
                reply += member.sock.recv(65536)
            names = sum(len(line.rsplit(b" :", 1)[1].split()) for line in reply.split(b"\n")
                        if b" 353 " in line)
            if names == len(crowd):
                break
        member.sock.setblocking(False)
        member.pending = b""


def _read_until(crowd, condition, timeout=30.0):
    selector = selectors.DefaultSelector()
    for member in crowd:
        selector.register(member.sock, selectors.EVENT_READ, member)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the members did not get what they were sent")
            for key, _ in selector.select(0.1):
                key.data.read(time.perf_counter_ns())
    finally:
        selector.close()


def _open_loop(crowd, talking, rate, seconds):
    """Send *rate* messages a second, round robin over *talking*, for *seconds*; read
    meanwhile.  The number sent."""
    selector = selectors.DefaultSelector()
    for member in crowd:
        selector.register(member.sock, selectors.EVENT_READ, member)
    interval = 1e9 / rate
    start = time.perf_counter_ns()
    sent, end = 0, start + int(seconds * 1e9)
    try:
        while True:
            now = time.perf_counter_ns()
            if now >= end:
                return sent
            due = start + int(sent * interval)
            while due <= now:
                sender = talking[sent % len(talking)]
                sender.sock.sendall(f"PRIVMSG #bench :{due} x\r\n".encode())
                sent += 1
                due = start + int(sent * interval)
            for key, _ in selector.select(max(0, (due - time.perf_counter_ns()) / 1e9)):
                key.data.read(time.perf_counter_ns())
    finally:
        selector.close()


def _burst(crowd, sender, count):
    for member in crowd:
        member.received = 0
    started = time.perf_counter_ns()
    lines = b"".join(f"PRIVMSG #bench :{started} burst\r\n".encode() for _ in range(count))
    sender.sock.setblocking(True)
    sender.sock.sendall(lines)
    sender.sock.setblocking(False)
    expected = count * (len(crowd) - 1)
    _read_until(crowd, lambda: sum(member.received for member in crowd) >= expected, 60)
    took = (time.perf_counter_ns() - started) / 1e9
    return sum(member.received for member in crowd) / took


def publish_cost(folder, count=5000):
    """Wall and CPU microseconds of one PUBLISH through redis-py, one at a time: through the
    client (its connection pool) and on a connection of one's own (as the bus sends)."""
    import redis as redis_library
    sock = os.path.join(folder, "redis-publish.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: os.path.exists(sock))
        client = redis_library.Redis.from_url(f"unix://{sock}")
        own = client.connection_pool.get_connection()
        payload = "x" * 120

        def through_pool():
            client.publish("bench", payload)

        def own_connection():
            own.send_command("PUBLISH", "bench", payload)
            own.read_response()
        costs = {}
        for name, publish in (("through the pool", through_pool),
                              ("own connection", own_connection)):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                publish()
            costs[name] = ((time.perf_counter() - wall) / count * 1e6,
                           (time.process_time() - cpu) / count * 1e6)
        own.disconnect()
        client.close()
        return costs
    finally:
        server.terminate()
        server.wait(10)


def _shares(values):
    if not values:
        return {}
    values = sorted(values)
    return {"p50": values[len(values) // 2], "p99": values[int(len(values) * 0.99)],
            "max": values[-1], "n": len(values)}


def missing():
    """What this tool needs and this machine lacks, in one line, or None."""
    if shutil.which("redis-server") is None:
        return "needs redis-server (Debian: apt-get install redis-server)"
    try:
        import redis  # noqa: F401 (only whether it is there)
    except ImportError:
        return "needs the redis library: pip install 'tcpchat[cluster]'"
    return None


def measure(rounds=3, seconds=4.0, members=40, senders=4, rate=500, burst=2000,
            setups=SETUPS):
    """Run each of *setups* once a round, printing each run and the medians; the results,
    by setup (a list of runs each)."""
    print(f"{members} members in #bench, {senders} senders, {rate} messages/s for "
          f"{seconds:g} s, then a burst of {burst}; {rounds} rounds, the setups' order "
          "turning each round", flush=True)
    results = {setup: [] for setup in setups}
    with tempfile.TemporaryDirectory(prefix="tcpchat-bench-cluster-") as folder:
        for name, (wall, cpu) in publish_cost(folder).items():
            print(f"one PUBLISH at a time, {name}: {wall:.0f} µs wall, {cpu:.0f} µs CPU")
        for round_ in range(rounds):
            turn = round_ % len(setups)
            for setup in setups[turn:] + setups[:turn]:
                result = one_run(setup, folder, members, senders, rate, seconds, burst)
                results[setup].append(result)
                print(f"round {round_ + 1} {setup:11} {_line(result)}", flush=True)
    print()
    print("medians of the rounds:")
    for setup, runs in results.items():
        print(f"  {setup:11} {_median_line(runs)}")
    alone = results.get("alone")
    for other in ("clustered", "workers 2"):
        if alone and results.get(other):
            paired = [run["cpu_us_per_delivery"] / base["cpu_us_per_delivery"]
                      for base, run in zip(alone, results[other])]
            print(f"{other} / alone, CPU a delivery, paired by round: "
                  f"{', '.join(f'{value:.2f}' for value in paired)}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tcpchat.bench.cluster",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rate", type=int, default=500, help="messages a second, in all")
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--setups", default=",".join(SETUPS),
                        help=f"which to run (default: {', '.join(SETUPS)})")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    setups = tuple(name.strip() for name in args.setups.split(","))
    unknown = [name for name in setups if name not in SETUPS]
    if unknown:
        parser.error(f"unknown setups: {', '.join(unknown)}")
    if missing():
        parser.error(missing())
    results = measure(args.rounds, args.seconds, args.members, args.senders, args.rate,
                      args.burst, setups)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"arguments": vars(args), "results": results}, out, indent=1)


def _line(result):
    latency = "; ".join(f"node {node}: p50 {shares['p50']:.0f} p99 {shares['p99']:.0f} µs"
                        for node, shares in sorted(result["latency_us"].items()))
    threads = f"; loop {result['loop_us_per_message']:.0f} µs a message"
    if result["bus_us_per_message"]:
        threads += f", bus threads {result['bus_us_per_message']:.0f}"
    if result["redis_us_per_message"]:
        threads += f", Redis {result['redis_us_per_message']:.0f}"
    return (f"{latency}{threads}; {result['cpu_us_per_delivery']:.2f} µs CPU a delivery; burst "
            f"{result['burst_deliveries_per_s'] / 1e3:.0f} k deliveries/s; "
            f"{result['deliveries']}/{result['expected']} delivered")


def _median_line(runs):
    def median(pick):
        return statistics.median(pick(run) for run in runs)
    nodes = sorted(runs[0]["latency_us"])
    latency = "; ".join(
        f"node {node}: p50 {median(lambda run: run['latency_us'][node]['p50']):.0f} p99 "
        f"{median(lambda run: run['latency_us'][node]['p99']):.0f} µs" for node in nodes)
    threads = f"; loop {median(lambda run: run['loop_us_per_message']):.0f} µs a message"
    if runs[0]["bus_us_per_message"]:
        threads += f", bus threads {median(lambda run: run['bus_us_per_message']):.0f}"
    if runs[0]["redis_us_per_message"]:
        threads += f", Redis {median(lambda run: run['redis_us_per_message']):.0f}"
    return (f"{latency}{threads}; {median(lambda run: run['cpu_us_per_delivery']):.2f} µs CPU a "
            f"delivery; burst {median(lambda run: run['burst_deliveries_per_s']) / 1e3:.0f} k "
            "deliveries/s")


if __name__ == "__main__":
    main()
