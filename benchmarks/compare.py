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

It prints the best run of each (noise on a shared machine only ever slows a run down, so the
fastest run is the closest to what the code costs), and after/before.  Run from the repository:

    python benchmarks/compare.py REV [--members 100] [--rounds 9]
"""

import argparse
import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import fanout  # beside this file: the loopback measurement, run here on either tree

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 2000
LINE = b"PRIVMSG #lobby :" + b"x" * 60 + b"\r\n"


def export(revision, into):
    """The package as it was at *revision*, importable as ``tcpchat_before`` from *into*."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "tcpchat"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into)
    os.rename(os.path.join(into, "tcpchat"), os.path.join(into, "tcpchat_before"))


def load(package):
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
    """A core with *members* registered in #lobby: (feed the first one, empty every buffer
    the core said has output)."""
    core = modules["core"].ChatCore(modules["chat"].Config(sendq=1 << 30))
    registration = "NICK u{0}\r\nUSER u 0 * :u\r\n"
    if "Transport" in modules:
        told = []
        core.output_ready = told.append
        connections = [core.connect("127.0.0.1", modules["Transport"]()) for _ in range(members)]
        for number, conn in enumerate(connections):
            conn.receive_data(registration.format(number).encode())
        feed = connections[0].receive_data

        def drain():
            for ready in told:
                for conn in ready:
                    conn.outbuf.clear()
            told.clear()
    else:
        clients = [core.connect("127.0.0.1") for _ in range(members)]
        for number, client in enumerate(clients):
            core.receive(client, registration.format(number).encode())

        def feed(data):
            core.receive(clients[0], data)

        def drain():
            for client in core.take_dirty():
                client.outbuf.clear()
    drain()
    return feed, drain


def core_rates(modules, members, batch, runs):
    """Deliveries per second in each of *runs* runs of 200 messages (a generator: the caller
    interleaves the two trees' runs)."""
    feed, drain = core_sender(modules, members)
    data = LINE * batch
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(200 // batch):
            feed(data)
            drain()
        yield 200 * (members - 1) / (time.perf_counter() - start)


def loopback_rates(modules, members, runs):
    for _ in range(runs):
        core = modules["core"].ChatCore(modules["chat"].Config(sendq=1 << 30))
        loop = modules["SelectLoop"](core, modules["listen"]("127.0.0.1", 0))
        yield fanout.loopback_rate(members, MESSAGES, loop)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision", help="the git revision to compare the working tree with")
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before_dir:
        export(args.revision, before_dir)
        sys.path[:0] = [before_dir, str(ROOT)]
        before, after = load("tcpchat_before"), load("tcpchat")
        print(f"{args.members} channel members, messages of 60 bytes of text; "
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
            for pair in zip(series["before"], series["after"]):
                for which, rate in zip(("before", "after"), pair):
                    rates[which].append(rate)
            old, new = max(rates["before"]), max(rates["after"])
            print(f"{name:28s}  before {old / 1e6:5.2f} M/s  after {new / 1e6:5.2f} M/s  "
                  f"after/before {new / old:.3f}")


if __name__ == "__main__":
    main()
