"""What keeping history costs, measured in one process so that the figures compare.

fan-out, history on and off   The core's fan-out (tcpchat.bench.core: one sender, a channel
                              of N members, 100 lines per call as a loop turn reads them, and
                              one line per call) with no store, with SQLite in memory, and with
                              SQLite in a file; ROUNDS alternating runs, the best of each.
one CHATHISTORY request       Time through the core for ``CHATHISTORY LATEST #lobby * 100``
                              and ``BEFORE`` a msgid in the middle, on a database of 20 000
                              messages in a file: what one request holds the loop for.
others' messages, paging      A user pages back through history (one BEFORE request of 100
                              lines every 10 ms) while another sends a line every 1 ms; each
                              line's wait from when it arrives to when the core is done with
                              it (behind a page being served, if one is), p50 and p99, against
                              the same without the pager.
the writer                    Entries the writer thread commits a second to a file (WAL,
                              synchronous=FULL), fed as fast as the loop can append; and at
                              1000 messages a second, how long an entry waits before it is on
                              the disk (p50, p99, max): the durability window.

Run from the repository::

    python -m tcpchat.bench.history [--members 100] [--rounds 9]
"""

import argparse
import os
import statistics
import tempfile
import time

from ..chat.events import COUNTER_DIGITS
from ..store.sqlite import SqliteStore
from .core import LINE, core_members


def sender(members, history):
    """As :func:`tcpchat.bench.core.core_sender`, with *history* (a store, or None): (the
    members' connections, empty their buffers)."""
    return core_members(members, history=history)


def fanout(members, rounds, batch, folder):
    """Deliveries a second, best of *rounds*, for each way of keeping history."""
    stores = {"off": None, "SQLite, memory": SqliteStore(None),
              "SQLite, file": SqliteStore(os.path.join(folder, "fanout.db"))}
    senders = {name: sender(members, store) for name, store in stores.items()}
    best = dict.fromkeys(stores, 0.0)
    data = LINE * batch
    messages = 2000
    for _ in range(rounds):
        for name, (connections, drain) in senders.items():
            feed = connections[0].receive_data
            start = time.perf_counter()
            for _ in range(messages // batch):
                feed(data)
                drain()
            rate = messages * (members - 1) / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
            settle(stores[name])
    for store in stores.values():
        if store is not None:
            store.close()
    return best


def settle(store, timeout=30.0):
    """Wait (outside any timing) until the writer has written everything."""
    deadline = time.monotonic() + timeout
    while store is not None and store.recent and time.monotonic() < deadline:
        time.sleep(0.001)


def history_server(path, messages):
    store = SqliteStore(path)
    connections, drain = sender(2, store)
    talker, reader = connections
    for start in range(0, messages, 500):
        talker.receive_data(b"".join(f"PRIVMSG #lobby :message {number}\r\n".encode()
                                     for number in range(start, start + 500)))
        drain()
    settle(store)
    reader.receive_data(b"CAP REQ :batch server-time message-tags draft/chathistory\r\n")
    drain()
    return store, talker, reader, drain


def msgid(prefix, number):
    """The msgid of the *number*th message of the process with msgid *prefix*, as the chat
    writes them (tcpchat.chat.events.message_ids)."""
    return f"{prefix}-{number:0{COUNTER_DIGITS}x}"


def request_cost(folder, messages=20_000, repeats=200):
    store, _talker, reader, drain = history_server(os.path.join(folder, "requests.db"),
                                                   messages)
    middle = store.page("#lobby", limit=1, newest=True).pop().msgid.rsplit("-", 1)[0]
    middle = msgid(middle, messages // 2)
    costs = {}
    for name, line in (("LATEST * 100", b"CHATHISTORY LATEST #lobby * 100\r\n"),
                       ("BEFORE msgid 100",
                        f"CHATHISTORY BEFORE #lobby msgid={middle} 100\r\n".encode())):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            reader.receive_data(line)
            times.append(time.perf_counter() - start)
            drain()
        costs[name] = statistics.median(times)
    store.close()
    return costs


def paging(folder, messages=20_000, seconds=2.0):
    """How long a talker's lines wait, p50 and p99, with and without a pager beside it.

    As a loop turn would: every line and request has the time it arrives (a line every
    millisecond, a request every 10); they are handled in that order, one at a time, and a
    line's wait is from its arrival to the end of its handling, so a line that arrives while
    a page is being served waits for it."""
    store, talker, reader, drain = history_server(os.path.join(folder, "paging.db"), messages)
    prefix = store.page("#lobby", limit=1, newest=True).pop().msgid.rsplit("-", 1)[0]
    results = {}
    for pager in (False, True):
        arrivals = [(number * 0.001, "line") for number in range(int(seconds * 1000))]
        if pager:
            arrivals += [(number * 0.010, "page") for number in range(int(seconds * 100))]
        arrivals.sort()
        waits = []
        position = messages
        start = time.perf_counter()
        for due, what in arrivals:
            _sleep_until(start + due)
            if what == "page":
                position = position - 100 if position > 200 else messages
                reader.receive_data(
                    f"CHATHISTORY BEFORE #lobby msgid={msgid(prefix, position)} 100\r\n".encode())
            else:
                talker.receive_data(b"PRIVMSG #lobby :now\r\n")
            drain()
            if what == "line":
                waits.append(time.perf_counter() - (start + due))
        waits.sort()
        results[pager] = (waits[len(waits) // 2], waits[int(len(waits) * 0.99)])
        settle(store)
    store.close()
    return results


def writer(folder, entries=50_000, rate=1000, seconds=2.0):
    """Entries a second the writer commits, fed at once, and the writer thread's CPU time
    for each (None where the system does not tell a thread's); and at *rate*, how long an
    entry waits to be on the disk."""
    store = SqliteStore(os.path.join(folder, "writer.db"))
    connections, drain = sender(2, store)
    talker = connections[0]
    cpu = thread_cpu(store._writer)
    start = time.perf_counter()
    for begin in range(0, entries, 1000):
        talker.receive_data(b"PRIVMSG #lobby :x\r\n" * 1000)
        drain()
    settle(store, timeout=120)
    throughput = entries / (time.perf_counter() - start)
    if cpu is not None:
        cpu = (thread_cpu(store._writer) - cpu) / entries
    waits = []
    sent = {}
    first = store.written + 1  # each message is one entry, numbered from there
    start = time.perf_counter()
    number = 0
    while time.perf_counter() - start < seconds:
        talker.receive_data(b"PRIVMSG #lobby :y\r\n")
        drain()
        sent[first + number] = time.perf_counter()
        number += 1
        # Note when what was sent is written, while waiting for the next send (asleep, as a
        # loop between messages is, in select()).
        while time.perf_counter() < start + number / rate:
            written = store.written
            for seq in [seq for seq in sent if seq <= written]:
                waits.append(time.perf_counter() - sent.pop(seq))
            time.sleep(0.0001)
    settle(store)
    store.close()
    waits.sort()
    return throughput, cpu, waits


def thread_cpu(thread):
    """Seconds of CPU *thread* has used, from Linux's /proc; None elsewhere."""
    try:
        with open(f"/proc/self/task/{thread.native_id}/schedstat") as stats:
            return int(stats.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _sleep_until(moment):
    left = moment - time.perf_counter()
    if left > 0:
        time.sleep(left)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tcpchat-history-bench-") as folder:
        print(f"{args.members} members, best of {args.rounds} alternating runs of 2000 "
              "messages; history off against SQLite in memory and in a file")
        for batch, what in ((100, "100 lines per call"), (1, "1 line per call")):
            best = fanout(args.members, args.rounds, batch, folder)
            off = best["off"]
            print(f"fan-out, {what}: " + ", ".join(
                f"{name} {rate / 1e6:.2f} M/s ({rate / off:.3f})" for name, rate in best.items()))
        costs = request_cost(folder)
        print("one request, 20 000 messages in a file, median of 200: " + ", ".join(
            f"{name} {cost * 1e6:.0f} µs" for name, cost in costs.items()))
        results = paging(folder)
        (alone50, alone99), (paged50, paged99) = results[False], results[True]
        print(f"a line a millisecond, from its arrival to its end: alone p50 "
              f"{alone50 * 1e6:.0f} µs p99 {alone99 * 1e6:.0f} µs; beside a pager of 100 lines "
              f"every 10 ms p50 {paged50 * 1e6:.0f} µs p99 {paged99 * 1e6:.0f} µs")
        throughput, cpu, waits = writer(folder)
        cost = "n/a" if cpu is None else f"{cpu * 1e6:.2f} µs"
        print(f"writer, a file with synchronous=FULL: {throughput:,.0f} entries/s fed at once, "
              f"its thread's CPU {cost} an entry; "
              f"at 1000 messages/s an entry waits p50 {_ms(waits, 0.5)} p99 "
              f"{_ms(waits, 0.99)} max {_ms(waits, 1.0)} to be on the disk")


def _ms(waits, share):
    if not waits:
        return "n/a"
    return f"{waits[min(len(waits) - 1, int(len(waits) * share))] * 1000:.1f} ms"


if __name__ == "__main__":
    main()
