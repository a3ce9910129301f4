"""Fan-out before and after a change, measured in one process: a git revision against the tree.

The machines this project runs on are shared and noisy, so figures from two runs say little.
This loads the package as it was at REV (exported from git, imported as ``tcpchat_before``)
next to the working tree's, and alternates them in three measurements:

core, 1 message per call     One sender posts to a channel of N members; each message is one
                             core call, after which every recipient's buffer is emptied.
                             ROUNDS x 20 alternating runs of 200 messages each.
core, 100 messages per call  The same, a hundred lines per call, as a loop turn reads them.
loopback                     The select backend in a thread, N-1 reader threads on loopback
                             sockets; time until every reader has every one of 2000 lines.
                             ROUNDS alternating runs.
latency                      The same server and readers (read in this thread, one selector):
                             one line at a time, the time until every reader has it; the
                             median of 200 lines, in ROUNDS alternating runs, of which the
                             median run is shown.
memory                       Bytes the core holds per idle registered connection (its
                             Connection, user and tables, by tracemalloc, so the figure is the
                             same run after run): 2000 connections that register and then do
                             nothing.  The socket and the driver's part are not in it.

It prints the best run of each (noise on a shared machine only ever slows a run down, so the
fastest run is the closest to what the code costs), and after/before.  Run from the repository:

    python -m tcpchat.bench.compare REV [--members 100] [--rounds 9]
"""

import argparse
import contextlib
import gc
import importlib
import itertools
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc

from . import core  # the measurement; the trees come from load()
from .targets import export


MESSAGES = 2000


def load(package):
    try:  # the layout with layers in folders (issue 22)
        return {"chat": importlib.import_module(f"{package}.chat.config"),
                "core": importlib.import_module(f"{package}.core"),
                "Transport": importlib.import_module(f"{package}.chat.connection").Transport,
                "SelectLoop": importlib.import_module(
                    f"{package}.transports.selectloop").SelectLoop,
                "listen": importlib.import_module(f"{package}.transports.driver").listen}
    except ImportError:
        pass
    modules = {name: importlib.import_module(f"{package}.{name}") for name in ("chat", "core")}
    try:
        modules["Transport"] = importlib.import_module(f"{package}.connection").Transport
        modules["SelectLoop"] = importlib.import_module(f"{package}.backends.selectloop").SelectLoop
        modules["listen"] = importlib.import_module(f"{package}.backends.driver").listen
    except ImportError:  # before the seam (commit b9be7f1): the core handed out Clients
        selectloop = importlib.import_module(f"{package}.selectloop")
        modules["SelectLoop"], modules["listen"] = selectloop.SelectLoop, selectloop.listen
    return modules


def core_sender(modules, members):
    """What tcpchat.bench.core measures, for either tree: (feed, drain)."""
    if "Transport" in modules:
        return core.core_sender(members, modules["core"].ChatCore, modules["chat"].Config,
                                modules["Transport"])
    # Before the seam the core handed out Clients and a dirty set.
    legacy = modules["core"].ChatCore(core.bench_config(modules["chat"].Config))
    clients = [legacy.connect("127.0.0.1") for _ in range(members)]
    for number, client in enumerate(clients):
        legacy.receive(client, f"NICK u{number}\r\nUSER u 0 * :u\r\n".encode())

    def feed(data):
        legacy.receive(clients[0], data)

    def drain():
        for client in legacy.take_dirty():
            client.outbuf.clear()

    drain()
    return feed, drain


def core_rates(modules, members, batch, runs):
    """Deliveries per second in each of *runs* runs (a generator: the caller interleaves the
    two trees' runs).  Each run has a core of its own: with one core per tree kept for every
    run, the tree whose core was made second measured 2 to 10 % slower, the same tree against
    itself (memory layout, it seems); made afresh, the two sides agree within noise."""
    for _ in range(runs):
        yield from core.core_rates(members, batch, 1, sender=core_sender(modules, members))


#: What each reader gets of one of the sender's lines.
RELAYED = len(b":sender!s@127.0.0.1 ") + len(core.LINE)


@contextlib.contextmanager
def loopback_room(modules, members):
    """A select loop of that tree serving from a thread, with *members* - 1 readers and a
    sender in #lobby, on loopback sockets: ``(readers, sender)``, every reader having seen
    the sender join; all closed and the loop stopped after."""
    chat_core = modules["core"].ChatCore(core.bench_config(modules["chat"].Config))
    loop = modules["SelectLoop"](chat_core, modules["listen"]("127.0.0.1", 0))
    server = threading.Thread(target=loop.serve, daemon=True)
    server.start()
    readers = []
    for number in range(members - 1):
        sock = socket.create_connection(loop.address)
        sock.sendall(f"NICK r{number}\r\nUSER r 0 * :r\r\n".encode())
        readers.append(sock)
    sender = socket.create_connection(loop.address)
    sender.sendall(b"NICK sender\r\nUSER s 0 * :s\r\n")
    for sock in readers:  # until each has seen the sender join
        seen = b""
        while b":sender!" not in seen:
            seen += sock.recv(65536)
    try:
        yield readers, sender
    finally:
        loop.request_stop()
        server.join()
        for sock in readers + [sender]:
            sock.close()


def loopback_rate(modules, members):
    """Deliveries a second through a select loop of that tree, reader threads in this
    process (which share its GIL with the server: a conservative figure)."""
    with loopback_room(modules, members) as (readers, sender):
        done = threading.Barrier(len(readers) + 1)

        def read_all(sock):
            remaining = RELAYED * MESSAGES
            while remaining > 0:
                remaining -= len(sock.recv(1 << 20))
            done.wait()

        for sock in readers:
            threading.Thread(target=read_all, args=(sock,), daemon=True).start()
        start = time.perf_counter()
        sender.sendall(core.LINE * MESSAGES)
        done.wait()
        return MESSAGES * (members - 1) / (time.perf_counter() - start)


def loopback_latencies(modules, members, runs, lines=200):
    """Median µs from one line's send until every reader has it, in each of *runs* runs."""
    for _ in range(runs):
        with loopback_room(modules, members) as (readers, sender), \
                selectors.DefaultSelector() as waiting:
            for sock in readers:
                sock.setblocking(False)
                waiting.register(sock, selectors.EVENT_READ)
            times = []
            for _ in range(lines):
                left = dict.fromkeys(readers, RELAYED)
                start = time.perf_counter()
                sender.sendall(core.LINE)
                while left:
                    for key, _events in waiting.select():
                        sock = key.fileobj
                        left[sock] -= len(sock.recv(65536))
                        if left[sock] <= 0:
                            del left[sock]
                times.append(time.perf_counter() - start)
        yield statistics.median(times) * 1e6


def idle_bytes(modules, connections=2000):
    """Bytes the core holds per idle registered connection (see the module doc)."""
    config = core.bench_config(modules["chat"].Config)
    config.autojoin = False
    chat_core = modules["core"].ChatCore(config)
    chat_core.output_ready = lambda ready: None
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = []
    for number in range(connections):
        conn = chat_core.connect("127.0.0.1", modules["Transport"]())
        conn.receive_data(f"NICK i{number}\r\nUSER i 0 * :idle\r\n".encode())
        conn.sent(len(conn.data_to_send()))
        held.append(conn)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / connections


def loopback_rates(modules, members, runs):
    for _ in range(runs):
        yield loopback_rate(modules, members)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision", help="the git revision to compare the working tree with")
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before_dir:
        export(args.revision, before_dir, "tcpchat_before")
        sys.path.insert(0, before_dir)
        before, after = load("tcpchat_before"), load("tcpchat")
        print(f"{args.members} channel members, messages of 64 bytes of text; "
              f"{args.revision} (before) against the working tree (after), alternating; "
              f"best runs")
        core_runs = args.rounds * 20
        measurements = (
            ("core, 1 message per call",
             lambda modules: core_rates(modules, args.members, 1, core_runs)),
            ("core, 100 messages per call",
             lambda modules: core_rates(modules, args.members, 100, core_runs)),
            ("loopback, select backend",
             lambda modules: loopback_rates(modules, args.members, args.rounds)),
        )
        for name, runs in measurements:
            rates = {"before": [], "after": []}
            series = {"before": runs(before), "after": runs(after)}
            for run in itertools.count():
                # Each side goes first in every other run: whichever runs second after the
                # other was measured slower by a few percent, the same tree against itself.
                order = ("before", "after") if run % 2 == 0 else ("after", "before")
                try:
                    for which in order:
                        rates[which].append(next(series[which]))
                except StopIteration:
                    break
            old, new = max(rates["before"]), max(rates["after"])
            print(f"{name:28s}  before {old / 1e6:5.2f} M/s  after {new / 1e6:5.2f} M/s  "
                  f"after/before {new / old:.3f}")
        latencies = {"before": [], "after": []}
        series = {"before": loopback_latencies(before, args.members, args.rounds),
                  "after": loopback_latencies(after, args.members, args.rounds)}
        for run in range(args.rounds):
            for which in (("before", "after") if run % 2 == 0 else ("after", "before")):
                latencies[which].append(next(series[which]))
        # The median run, not the best: a lucky run of one line at a time is far from the rest.
        old, new = statistics.median(latencies["before"]), statistics.median(latencies["after"])
        print(f"{'latency, one line to all':28s}  before {old:6.0f} µs   after {new:6.0f} µs   "
              f"after/before {new / old:.3f}")
        old, new = idle_bytes(before), idle_bytes(after)
        print(f"{'memory per idle connection':28s}  before {old:6.0f} B    after {new:6.0f} B    "
              f"after/before {new / old:.3f}")


if __name__ == "__main__":
    main()
