"""The fan-out and latency scenarios driven by ``loadgen.c`` (``--generator c``, the default
where a C compiler is), and the calibration relay ``relay.c``: each built here with the
system's C compiler on first use.

The Python generator checks every delivery at about 130 ns each and waits on the server in
lock-step, so against the trivial relay it tops out near 3 M deliveries a second: a server
faster than that cannot be measured with it.  The C generator does the same fan-out (every
delivery checked: each sender's sequence numbers, in order, at every receiver) at a few tens
of nanoseconds a delivery.  At everyday load (the latency scenario) the Python generator
reads ten receivers as data comes and the rest in bulk, since 99 000 reads a second are more
than its core has; the C one reads every receiver as data comes and times every delivery,
the last member of a room's fan-out as well as the first.  It needs a C compiler (``cc``;
Debian: ``apt-get install gcc``); without one the tool says so in one line.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .load import CheckFailed
from .targets import process_cpu_seconds

SOURCE = Path(__file__).with_name("loadgen.c")
RELAY = Path(__file__).with_name("relay.c")


class NoCompiler(RuntimeError):
    pass


def compiler():
    """The system's C compiler, or None."""
    return shutil.which("cc") or shutil.which("gcc")


def binary(source=SOURCE):
    """The program built from *source* (the generator by default), made once per version of
    its source."""
    text = source.read_bytes()
    version = hashlib.sha1(text).hexdigest()[:12]
    built = Path(tempfile.gettempdir()) / f"tcpchat-{source.stem}-{version}"
    if built.exists():
        return built
    found = compiler()
    if found is None:
        raise NoCompiler(f"{source.name} needs a C compiler: apt-get install gcc")
    partial = built.with_suffix(f".{os.getpid()}")
    subprocess.run([found, "-O2", "-o", str(partial), str(source)], check=True,
                   capture_output=True)
    os.replace(partial, built)
    return built


def fan_out(target, clients, senders, window, warmup, seconds, stall=None):
    """Run the C generator against *target*; returns (deliveries, seconds, generator CPU
    share, server CPU share or None, its main thread's share or None), the CPU shares over
    the counted seconds only, once every message in flight has arrived too.  A message none
    of whose sender's messages reached anyone for *stall* seconds (the generator's default:
    10) is lost."""
    end, generator_cpu, server_cpu, loop_cpu = _run(
        target, [], clients, senders, window, warmup, seconds, stall)
    return end["deliveries"], end["seconds"], generator_cpu, server_cpu, loop_cpu


def open_loop(target, clients, senders, rate, warmup, seconds):
    """The latency scenario from C: *rate* messages a second in all from *senders* of
    *clients*, on a fixed schedule, every receiver read as data comes; returns the generator's
    figures (deliveries, seconds, samples, p50_us, p90_us, p99_us, max_us: from each message's
    scheduled send to each receipt) with ``generator_cpu``, ``server_cpu`` and
    ``server_loop_cpu`` (None for a server not started here), as for :func:`fan_out`."""
    end, generator_cpu, server_cpu, loop_cpu = _run(
        target, ["--rate", str(rate)], clients, senders, 0, warmup, seconds)
    return dict(end, generator_cpu=generator_cpu, server_cpu=server_cpu,
                server_loop_cpu=loop_cpu)


def _run(target, options, clients, senders, window, warmup, seconds, stall=None):
    """The generator's run against *target*: its end line (a dict) and the CPU shares over
    the counted seconds (generator, server, server's main thread), once it has checked that
    every message in flight arrived too."""
    host, port = target.address
    command = [str(binary()), *options, host, str(port), target.proto, str(clients),
               str(senders), str(window), str(warmup), str(seconds),
               *([] if stall is None else [str(stall)])]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            _said(process)  # {"measuring": true}: the counting starts
            own, server = process_cpu_seconds(process.pid), target.cpu_seconds()
            loop = target.loop_cpu_seconds()
            end = _said(process)
            spent = end["seconds"]
            generator_cpu = (process_cpu_seconds(process.pid) - own) / spent
            server_cpu = loop_cpu = None
            if server is not None:
                server_cpu = (target.cpu_seconds() - server) / spent
                loop_cpu = (target.loop_cpu_seconds() - loop) / spent
            _said(process)  # {"checked": true}
        finally:
            process.kill()
    return end, generator_cpu, server_cpu, loop_cpu


def _said(process):
    """The generator's next line, or CheckFailed with what it said was wrong."""
    said = json.loads(process.stdout.readline() or '{"error": "it ended"}')
    if "error" in said:
        raise CheckFailed(f"the C generator: {said['error']}")
    return said
