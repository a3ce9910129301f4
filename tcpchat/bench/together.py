"""Two servers at once: their CPU a delivery compared over the same seconds.

The bench's rounds pair targets run one after the other, some seconds apart, and this
machine's speed swings within that: the median of twelve paired rounds moved by 3 % from one
run to the next, as much as is left between tcpchat and the asyncio chat on uvloop at an
everyday rate (docs/benchmarks.rst, "Two servers at once").  Here the two run at the same
time, both pinned to the server core, each driven by its own C generator (the latency
scenario's open loop) at the same rate, and each one's CPU a delivery is taken over the same
seconds, so that a swing of the machine falls on both alike.  Each round starts them afresh,
the first of the two in turn.

What it costs: they share the core, so a turn of one may hold up the other's, and each sees
caches the other has just used; the rate is what two fit on one core (``--rate``, 500
messages a second each by default, against the latency scenario's 1000 alone).  So the
latencies it prints are each server's beside the other, not alone; and a target against
itself (``select-epoll`` beside ``select-epoll@HEAD``) shows how near 1 the method comes.

    python -m tcpchat.bench.together --targets select-epoll,asyncio-uvloop [--rate 500]
        [--rounds 10] [--seconds 4]
"""

import argparse
import statistics
import threading

from . import cgenerator
from .targets import Target, known

#: The latency scenario's room: clients, of which senders.
CLIENTS, SENDERS = 100, 10
WARMUP = 1.0


def at_once(names, rate, seconds, clients=CLIENTS, senders=SENDERS):
    """Start the targets *names*, drive each with the C generator's open loop at *rate*
    messages a second over the same *seconds*, and stop them: each one's figures (as
    :func:`.cgenerator.open_loop` gives them), by name."""
    targets = []
    runs, failures = {}, []

    def drive(name, target):
        try:
            runs[name] = cgenerator.open_loop(target, clients, senders, rate, WARMUP, seconds)
        except Exception as exc:  # said in the caller's thread, after both are done
            failures.append(exc)
    try:
        for name in names:
            targets.append(Target.start(name))
        drivers = [threading.Thread(target=drive, args=(name, target))
                   for name, target in zip(names, targets)]
        for driver in drivers:
            driver.start()
        for driver in drivers:
            driver.join()
    finally:
        for target in targets:
            target.stop()
    if failures:
        raise failures[0]
    return runs


def cpu_per_delivery(run):
    """The server's CPU a delivery in a run, in µs."""
    return run["server_cpu"] * run["seconds"] / run["deliveries"] * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", required=True, metavar="A,B",
                        help="two targets of python -m tcpchat.bench (NAME or NAME@REVISION)")
    parser.add_argument("--rate", type=int, default=500,
                        help="messages a second into each server (default: 500)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="measured seconds a round, after a second's warm-up")
    args = parser.parse_args(argv)
    names = args.targets.split(",")
    if len(names) != 2 or names[0] == names[1]:
        parser.error("--targets takes two different targets: A,B")
    unknown = [name for name in names if not known(name)]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}")
    first, second = names
    print(f"{first} beside {second}: {args.rate} messages a second into each, "
          f"{CLIENTS} clients and {SENDERS} senders, {args.rounds} rounds of {args.seconds:g} s")
    ratios = {"CPU a delivery": [], "p50": [], "p99": []}
    for number in range(args.rounds):
        runs = at_once(names if number % 2 == 0 else names[::-1], args.rate, args.seconds)
        a, b = runs[first], runs[second]
        cpu = cpu_per_delivery(a), cpu_per_delivery(b)
        ratios["CPU a delivery"].append(cpu[0] / cpu[1])
        ratios["p50"].append(a["p50_us"] / b["p50_us"])
        ratios["p99"].append(a["p99_us"] / b["p99_us"])
        print(f"round {number + 1}: CPU a delivery {cpu[0]:.2f} and {cpu[1]:.2f} µs "
              f"({ratios['CPU a delivery'][-1]:.3f}); p50 {a['p50_us']} and {b['p50_us']} µs, "
              f"p99 {a['p99_us']} and {b['p99_us']} µs", flush=True)
    print(f"{first} over {second}, the median of the rounds' ratios (lowest, highest; "
          "rounds below 1):")
    for figure, values in ratios.items():
        below = sum(value < 1 for value in values)
        print(f"  {figure:15s} {statistics.median(values):.3f}  ({min(values):.3f}, "
              f"{max(values):.3f}; {below} of {len(values)})")


if __name__ == "__main__":
    main()
