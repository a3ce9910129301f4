"""``python -m tcpchat.bench.soak``: a bounded soak run of a real server, to show it does not leak.

It starts ``python -m tcpchat.server`` on a free loopback port, with its default limits (flood
control on; ``--max-per-ip 0`` alone, since every client comes from 127.0.0.1), and runs rounds
of crowds against it.  In each round a crowd of IRC and plain users connects, registers, joins,
chats, changes names, one of them floods, and then everyone leaves (some with QUIT, some by
just closing).  After each round it waits until the server holds no more descriptors than
before the crowd came, and samples the server's resident memory, descriptors and CPU time.

Descriptors must come back to what the server held before any crowd.  Resident memory does
not fall back after each round: the interpreter's allocator keeps what the busiest round
needed, so after a few rounds it swings around a high-water mark.  A leak is a mark that keeps
rising: the verdict compares the highest sample of the last quarter of the rounds with the
highest of the second quarter.  It prints a row a round and a verdict, and exits 1 if
something did not come back.  Loopback only; bounded in
time by ``--rounds``.  Linux (it reads /proc).

With ``--plot FILE``, the server also serves its metrics (``--metrics``), the run reads them
twice a second as Prometheus would, and draws the run from them alone: users connected,
lines in and deliveries out a second, resident memory and descriptors, the loop's turns
(needs ``prometheus-client`` to read them and ``matplotlib`` to draw: ``pip install
'tcpchat[bench,metrics]'``).
"""

import argparse
import collections
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.request

from .targets import FREE_PORT, Target

#: How far the late high-water mark may stand above the early one and still count as no leak.
#: Over 120 rounds of 500 users, memory after a round swung between 44 and 55 MiB with no
#: trend; a leak of even 1 KiB a user would add 20 MiB over the default 40 rounds.
RSS_SLACK = 0.25
TIMEOUT = 10.0


#: Seconds between two reads of the server's metrics, with --plot.
SCRAPE_EVERY = 0.5


class Scraper:
    """The server's ``/metrics``, read every *every* seconds by a thread of its
    own and parsed with prometheus-client's parser: ``(seconds since start, {name: value})``
    for each read, each sample's value summed over its labels."""

    def __init__(self, address, every=SCRAPE_EVERY):
        from prometheus_client.parser import text_string_to_metric_families
        self._parse = text_string_to_metric_families
        self.every = every
        self.url = f"http://{address[0]}:{address[1]}/metrics"
        self.samples = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(TIMEOUT)
        self._read()  # the run's end, however short the run was

    def _run(self):
        self._read()  # its start
        while not self._stop.wait(self.every):
            self._read()

    def _read(self):
        try:
            with urllib.request.urlopen(self.url, timeout=TIMEOUT) as answer:
                text = answer.read().decode()
        except OSError:
            return  # the server busy past the timeout: a gap in the plot
        values = collections.Counter()
        for family in self._parse(text):
            for sample in family.samples:
                values[sample.name] += sample.value
                if "le" in sample.labels:  # a histogram's bucket, by its bound
                    values[(sample.name, sample.labels["le"])] = sample.value
        self.samples.append((time.monotonic() - self._started, values))


def plot(samples, path, title):
    """Draw the run from the metrics alone: five panels over time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    times = [when for when, _ in samples]
    # What is between two reads starts at 0, at the first read (none in a run too short for one).
    first = [0.0][:len(samples)]

    def series(name, scale=1.0):
        return [values.get(name, 0) * scale for _, values in samples]

    def rate(name):
        """Per second, between two reads (a counter's increase over the time between)."""
        counts = series(name)
        return first + [max(0.0, (b - a) / (t2 - t1)) for a, b, t1, t2 in
                        zip(counts, counts[1:], times, times[1:])]

    def turn_p99():
        """The 99th percentile of the loop's turns between two reads, from the histogram's
        buckets (the upper bound of the one it falls in), in milliseconds."""
        bounds = sorted({key[1] for _, values in samples for key in values
                         if isinstance(key, tuple)}, key=float)
        return first + [_quantile(before, after, bounds, 0.99) * 1e3
                        for (_, before), (_, after) in zip(samples, samples[1:])]
    figure, axes = pyplot.subplots(5, 1, figsize=(9, 12), sharex=True)
    panels = (
        ((series("tcpchat_users"), "users connected"),
         (series("tcpchat_connections_registering"), "registering"),
         (series("process_open_fds"), "open descriptors")),
        ((rate("tcpchat_deliveries_total"), "deliveries out a second"),),
        ((rate("tcpchat_lines_received_total"), "lines in a second"),),
        ((series("process_resident_memory_bytes", 1 / 2**20), "resident memory, MiB"),),
        ((turn_p99(), "p99 loop turn, ms (its bucket's bound)"),))
    for axis, lines in zip(axes, panels):
        for values, label in lines:
            axis.plot(times, values, label=label)
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left")
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds")
    axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path)


def _quantile(before, after, bounds, share):
    """The bound of the histogram bucket holding the *share* quantile of the turns counted
    between two reads (the buckets are cumulative, as Prometheus keeps them); 0 if none."""
    name = "tcpchat_loop_turn_seconds"
    total = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    for bound in bounds:
        key = (f"{name}_bucket", bound)
        if total > 0 and after.get(key, 0) - before.get(key, 0) >= share * total:
            return min(float(bound), TIMEOUT)  # +Inf: drawn at the top of the panel
    return 0.0


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_descriptors(pid, address):
    """The server's descriptors once it is all set up: after it has answered a PING (it may
    accept connections before it has opened everything else) and that connection is gone."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(b"PING :ready\r\n")
        read_until(sock, b"ready")
    deadline = time.monotonic() + TIMEOUT
    count = descriptors(pid)
    while time.monotonic() < deadline:
        time.sleep(0.05)  # the server closing its side: polled until the count holds, bounded
        count, last = descriptors(pid), count
        if count == last:
            break
    return count


def drain(sock):
    """Read whatever *sock* has waiting, without waiting; False once it is closed."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def read_until(sock, marker, timeout=TIMEOUT):
    """Read from *sock* until *marker* has arrived; what was read."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return data


#: Users that connect at once: the crowd arrives in waves, each registered before the next,
#: under the server's bound on connections registering at once (--max-unregistered).
WAVE = 100


def one_round(address, clients, number):
    """A crowd comes, talks and leaves; returns how many registered."""
    crowd = []
    registered = 0
    for wave in range(0, clients, WAVE):
        arriving = arrive(address, range(wave, min(clients, wave + WAVE)), number)
        registered += sum(marker in read_until(sock, marker)
                          for sock, marker, _, _ in arriving)
        crowd += arriving
    talk_and_leave(crowd)
    return registered


def arrive(address, indexes, number):
    """Users *indexes* of round *number* connect and ask to register."""
    crowd = []
    for index in indexes:
        sock = socket.create_connection(address, timeout=TIMEOUT)
        name = f"s{number}x{index}"
        if index % 3 == 2:
            sock.sendall(f"{name}\r\n".encode())  # a netcat user
            marker = b"Welcome,"
        else:
            sock.sendall(f"NICK {name}\r\nUSER {name} 0 * :Soak {index}\r\n"
                         f"JOIN #soak{index % 10}\r\n".encode())
            marker = b" 001 "
        crowd.append((sock, marker, name, index % 3 != 2))
    return crowd


def talk_and_leave(crowd):
    for turn in range(3):
        for sock, _, name, irc in crowd:
            try:
                if irc:
                    sock.sendall(f"PRIVMSG #soak{turn} :hello from {name}\r\n".encode())
                else:
                    sock.sendall(f"hello {turn} from {name}\r\n".encode())
            except OSError:
                pass
        for sock, *_ in crowd:
            drain(sock)
    for sock, _, name, irc in crowd[::7]:  # some change their names
        try:
            sock.sendall((f"NICK {name}n\r\n" if irc else f"/nick {name}n\r\n").encode())
        except OSError:
            pass
    flooder = crowd[0][0]
    try:
        flooder.settimeout(1.0)
        flooder.sendall(b"PRIVMSG #soak0 :flood\r\n" * 2000)  # lagged, then Excess Flood
    except OSError:
        pass
    for sock, *_ in crowd:
        drain(sock)
    for position, (sock, _, _, irc) in enumerate(crowd):
        try:
            if position % 2:
                sock.sendall(b"QUIT :soaked\r\n" if irc else b"/quit\r\n")
        except OSError:
            pass
        sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tcpchat.bench.soak", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="crowds to run (default 40)")
    parser.add_argument("--clients", type=int, default=500,
                        help="users in each crowd (default 500)")
    parser.add_argument("--backend", choices=["select", "threads"], default="select")
    parser.add_argument("--plot", metavar="FILE",
                        help="draw the run from the server's metrics (PNG or SVG); needs "
                             "pip install 'tcpchat[bench,metrics]'")
    args = parser.parse_args(argv)
    if not os.path.isdir("/proc/self/fd"):
        parser.exit(2, "tcpchat.bench.soak reads /proc: it runs on Linux\n")
    missing = [name for name in ("prometheus_client", "matplotlib")
               if args.plot and importlib.util.find_spec(name) is None]
    if missing:
        parser.exit(2, f"--plot needs {' and '.join(missing)}: "
                       "pip install 'tcpchat[bench,metrics]'\n")
    command = [sys.executable, "-m", "tcpchat.server", "--port", FREE_PORT, "--backend",
               args.backend, "--max-per-ip", "0", "--log-level", "WARNING"]
    if args.plot:
        command += ["--metrics", f"127.0.0.1:{FREE_PORT}"]
    folder = tempfile.mkdtemp(prefix="tcpchat-soak-")
    try:
        target = Target.launch(f"tcpchat ({args.backend})", command, "irc", folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    process = target.process
    scraper = None
    try:
        if args.plot:
            scraper = Scraper(("127.0.0.1", *target.extra_ports))
            scraper.start()
        idle_descriptors = settled_descriptors(process.pid, target.address)
        print(f"soak: {args.rounds} rounds of {args.clients} users against {target.name}, "
              f"pid {process.pid}; after each round, once every user has left:")
        print(f"{'round':>5} {'registered':>10} {'seconds':>8} {'RSS KiB':>9} "
              f"{'descriptors':>11} {'CPU s':>7}")
        rows = []
        for number in range(args.rounds):
            started = time.monotonic()
            registered = one_round(target.address, args.clients, number)
            deadline = time.monotonic() + TIMEOUT
            while descriptors(process.pid) > idle_descriptors and time.monotonic() < deadline:
                time.sleep(0.05)  # the server closing the crowd's sockets: polled, bounded
            row = (number + 1, registered, time.monotonic() - started, target.rss() // 1024,
                   descriptors(process.pid), target.cpu_seconds())
            rows.append(row)
            print(f"{row[0]:>5} {row[1]:>10} {row[2]:>8.2f} {row[3]:>9} {row[4]:>11} "
                  f"{row[5]:>7.2f}", flush=True)
    finally:
        if scraper is not None:
            scraper.stop()
        target.stop()
    if args.plot:
        plot(scraper.samples, args.plot, f"python -m tcpchat.bench.soak: {args.rounds} rounds "
             f"of {args.clients} users, {args.backend} backend, as its metrics saw it")
        print(f"plot: {args.plot} ({len(scraper.samples)} reads of /metrics)")
    quarter = max(1, len(rows) // 4)
    # The allocator keeps what the busiest round needed: memory after a round swings from
    # round to round around a high-water mark.  A leak is a mark that keeps rising.
    warmed = max(row[3] for row in rows[quarter:2 * quarter] or rows[:1])
    late = max(row[3] for row in rows[-quarter:])
    last = rows[-1]
    problems = []
    if last[4] > idle_descriptors:
        problems.append(f"descriptors: {last[4]} held, {idle_descriptors} before any crowd")
    if late > warmed * (1 + RSS_SLACK):
        problems.append(f"memory: up to {late} KiB in the last quarter of the rounds, "
                        f"{warmed} KiB in the second (more than {RSS_SLACK:.0%} over)")
    if any(row[1] != args.clients for row in rows):
        problems.append("not every user could register")
    print(f"descriptors: {idle_descriptors} before any crowd, {last[4]} after the last; "
          f"resident memory: {rows[0][3]} KiB after round 1, at most {warmed} KiB in the "
          f"second quarter of the rounds, at most {late} KiB in the last "
          f"({(late - warmed) / warmed:+.1%})")
    print("verdict: " + ("; ".join(problems) if problems else
                         "no leak: memory and descriptors came back to their baseline"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
