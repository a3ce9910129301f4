"""What logins cost everyone else, measured against a real server process.

A server (``python -m tcpchat.server --db FILE``, as an operator runs it: scrypt at its full
cost, checks on its worker threads) holds one account.  In the bench process, one client says a
line into #lobby every 10 ms and another, in the same room, times each line from before it was
sent to when it arrives.  Rounds alternate: with nobody logging in, and with LOGINS connections
a second that each log in with SASL PLAIN (a real scrypt check, about 50 ms of a core each) and
leave.  Figures: the lines' p50 and p99 in each case (all rounds of a case together), the
logins answered and how long each took, and the server's CPU time per second in each case.

With ``--busy N``, then: how long a login takes while N other programs (``while True:
pass``, at the same priority as the server) keep the cores busy, as a build or a backup would
on a shared machine, three logins one after another.

Run from the repository::

    python -m tcpchat.bench.accounts [--logins 10] [--rounds 3] [--seconds 4] [--busy 2]
"""

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .targets import accepts, start_on_free_ports

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TIMEOUT = 30.0


def start_server(folder):
    database = os.path.join(folder, "bench.db")
    subprocess.run([sys.executable, "-m", "tcpchat.admin", "--db", database, "account",
                    "create", "bench"], input=PASSWORD + "\n", text=True, check=True, cwd=ROOT,
                   capture_output=True)
    started = start_on_free_ports(1, lambda ports: [subprocess.Popen(
        [sys.executable, "-m", "tcpchat.server", "--port", str(ports[0]), "--db", database,
         "--no-flood-control", "--max-per-ip", "0", "--log-level", "WARNING"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)],
        lambda ports: accepts(("127.0.0.1", ports[0])))
    if started is None:
        raise RuntimeError("the server exited at start")
    (port,), (process,) = started
    return process, port


class Lines:
    """A socket read a line at a time."""

    def __init__(self, port, nick, caps=""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        # As the server's own sockets: without it, Nagle's algorithm holds a line behind the
        # server's delayed ACK (tens of ms) once the socket also receives (the logins' JOINs).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""
        greeting = f"CAP REQ :{caps}\r\n" if caps else ""
        self.sock.sendall(f"{greeting}NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode()
                          + (b"CAP END\r\n" if caps else b""))

    def line(self):
        while b"\n" not in self.pending:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.pending += chunk
        line, _sep, self.pending = self.pending.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def until(self, marker):
        while marker not in (line := self.line()):
            pass
        return line


def log_in(port, number):
    """One connection that logs in with SASL PLAIN and leaves; seconds it took, or None."""
    start = time.perf_counter()
    peer = Lines(port, f"login{number}", "sasl")
    payload = base64.b64encode(f"\0bench\0{PASSWORD}".encode()).decode()
    peer.sock.sendall(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {payload}\r\n".encode())
    try:
        answer = peer.until(" 90")
        while " 900 " in answer:
            answer = peer.until(" 90")
        return time.perf_counter() - start if " 903 " in answer else None
    finally:
        peer.sock.sendall(b"QUIT\r\n")
        peer.sock.close()


def cpu_seconds(process):
    with open(f"/proc/{process.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def login_load(port, rate, seconds):
    """Log in *rate* times a second for *seconds*, each on a thread of its own; print each
    login's seconds (or "failed") a line.  Run in a process of its own (``--login-load``), so
    that its threads never hold the interpreter the timed lines are read in."""
    stop = time.perf_counter() + seconds
    results, threads = [], []
    number = 0
    while time.perf_counter() < stop:
        moment = time.perf_counter() + 1 / rate
        thread = threading.Thread(target=lambda n=number: results.append(_timed(port, n)))
        thread.start()
        threads.append(thread)
        number += 1
        time.sleep(max(0.0, moment - time.perf_counter()))  # a rate, not a wait on state
    for thread in threads:
        thread.join(TIMEOUT)
    print("\n".join("failed" if took is None else f"{took:.6f}" for took in results))


def one_round(port, seconds, logins, latencies, login_times, process):
    speaker, listener = Lines(port, "speaker"), Lines(port, "listener")
    speaker.until(" 366 ")
    listener.until(" 366 ")
    stop = time.perf_counter() + seconds
    load = None
    if logins:
        load = subprocess.Popen([sys.executable, "-m", "tcpchat.bench.accounts", "--login-load",
                                 str(port), str(logins), str(seconds)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)

    def read_loop():
        while True:
            line = listener.line()
            if "PRIVMSG #lobby :" in line:
                sent = int(line.rsplit(":", 1)[1])
                if sent < 0:
                    return
                latencies.append((time.perf_counter_ns() - sent) / 1e6)

    reader = threading.Thread(target=read_loop, daemon=True)
    reader.start()
    cpu_start, wall_start = cpu_seconds(process), time.perf_counter()
    while time.perf_counter() < stop:
        moment = time.perf_counter() + 0.01
        speaker.sock.sendall(f"PRIVMSG #lobby :{time.perf_counter_ns()}\r\n".encode())
        time.sleep(max(0.0, moment - time.perf_counter()))  # a line every 10 ms
    cpu = (cpu_seconds(process) - cpu_start) / (time.perf_counter() - wall_start)
    speaker.sock.sendall(b"PRIVMSG #lobby :-1\r\n")
    reader.join(TIMEOUT)
    speaker.sock.close()
    listener.sock.close()
    failures = 0
    if load is not None:
        for line in load.communicate(timeout=TIMEOUT)[0].split():
            if line == "failed":
                failures += 1
            else:
                login_times.append(float(line))
    return cpu, failures


def _timed(port, number):
    try:
        return log_in(port, number)
    except OSError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tcpchat.bench.accounts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=float, default=10.0, help="logins a second")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds a round")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="then time logins while N other programs keep the cores busy")
    parser.add_argument("--login-load", nargs=3, metavar=("PORT", "RATE", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.login_load:
        port, rate, seconds = args.login_load
        login_load(int(port), float(rate), float(seconds))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        process, port = start_server(folder)
        try:
            cases = {"no logins": 0.0, f"{args.logins:g} logins/s": args.logins}
            latencies = {case: [] for case in cases}
            cpu = {case: [] for case in cases}
            login_times, failed = [], 0
            for _ in range(args.rounds):
                for case, rate in cases.items():
                    used, failures = one_round(port, args.seconds, rate, latencies[case],
                                               login_times, process)
                    cpu[case].append(used)
                    failed += failures
            busy_logins = logins_beside_busy_programs(port, args.busy) if args.busy else None
        finally:
            process.terminate()
            process.wait(TIMEOUT)
    print(f"a line every 10 ms into #lobby, timed from send to arrival; {args.rounds} "
          f"alternating rounds of {args.seconds:g} s; server: python -m tcpchat.server --db "
          "(scrypt N=2^14, checks on 2 worker threads at nice 19)")
    for case in cases:
        waits = sorted(latencies[case])
        print(f"  {case:>14}: p50 {_share(waits, 0.5):.2f} ms, p99 {_share(waits, 0.99):.2f} "
              f"ms over {len(waits)} lines; server CPU {statistics.mean(cpu[case]):.2f} s/s")
    if login_times:
        times = sorted(login_times)
        print(f"  logins: {len(times)} answered (p50 {_share(times, 0.5) * 1000:.0f} ms, p99 "
              f"{_share(times, 0.99) * 1000:.0f} ms from connecting to 903), {failed} failed")
    if busy_logins is not None:
        print(f"  logins while {args.busy} other programs keep the cores busy: "
              + ", ".join("failed" if took is None else f"{took:.2f} s" for took in busy_logins))
    return 0


def logins_beside_busy_programs(port, busy, count=3):
    """Seconds each of *count* logins, one after another, took while *busy* other programs
    spun (None for one that failed)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(busy)]
    try:
        return [_timed(port, f"busy{number}") for number in range(count)]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _share(values, share):
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())
