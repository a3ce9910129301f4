"""The servers a benchmark runs against: tcpchat with each backend and selector, the trivial
relay (in C, and in Python), the textbook asyncio chat (on asyncio's loop and on uvloop), or
a server someone else started (``--connect``); with what can be read of them from outside
(resident memory, CPU seconds) when they run on this machine."""

import contextlib
import io
import os
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

#: The checkout the package runs from: where ``NAME@REVISION`` targets are exported from.
ROOT = Path(__file__).resolve().parents[2]

#: Every target the tool can start: name -> the command line after ``python -m``.  Also any of
#: them as it was at a git revision, ``NAME@REVISION`` (``select-epoll@68b37f3``): the package
#: exported from this checkout at that revision and run from there, so that one run measures a
#: change before and after, alike.
TARGETS = {
    "select-epoll": ["tcpchat.server", "--backend", "select", "--selector", "epoll"],
    # History is on by default (in memory): these two measure it off, and in a file.
    "select-epoll-no-history": ["tcpchat.server", "--backend", "select", "--selector", "epoll",
                                "--no-history"],
    "select-epoll-db": ["tcpchat.server", "--backend", "select", "--selector", "epoll",
                        "--db", "{folder}/bench-history.db"],
    # A broadcast's sends in one system call (io_uring) by default: this one a send() each.
    "select-epoll-send": ["tcpchat.server", "--backend", "select", "--selector", "epoll",
                          "--no-io-uring"],
    "select-poll": ["tcpchat.server", "--backend", "select", "--selector", "poll"],
    "select-select": ["tcpchat.server", "--backend", "select", "--selector", "select"],
    "threads": ["tcpchat.server", "--backend", "threads"],
    "relay": ["tcpchat.bench.relay"],
    # The design a Python programmer reaches for first (plain protocol only).
    "asyncio": ["tcpchat.bench.asyncio_chat"],
    "asyncio-uvloop": ["tcpchat.bench.asyncio_chat", "--uvloop"],
    # The trivial relay in C, built here: this machine's ceiling (see calibration()).
    "relay-c": None,
}
DEFAULT_TARGETS = ("select-epoll", "select-poll", "select-select", "threads", "asyncio",
                   "asyncio-uvloop")
#: Targets that are not tcpchat: they take no tcpchat options, and greet nobody.
NOT_TCPCHAT = ("relay", "relay-c", "asyncio", "asyncio-uvloop")
#: Targets that speak the plain protocol alone, whatever ``--proto`` says.
PLAIN_ONLY = ("asyncio", "asyncio-uvloop")
#: The core the server is pinned to; the generator takes the others.
SERVER_CORE = 0


def calibration():
    """The relay a run measures first, whose figures are the ceiling: the one in C where the
    machine has a compiler, else the one in Python (which says less: it is slower than the
    fastest servers it measures)."""
    from .cgenerator import compiler
    return "relay-c" if compiler() is not None else "relay"


def known(name):
    """Whether *name* is a target the tool can start: one of TARGETS, or one at a revision."""
    return name.partition("@")[0] in TARGETS


def export(revision, into, package="tcpchat"):
    """The package as it was at *revision*, importable as *package* from the folder *into*."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "tcpchat"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into)
    if package != "tcpchat":
        os.rename(os.path.join(into, "tcpchat"), os.path.join(into, package))


def cores():
    return sorted(os.sched_getaffinity(0))


#: The cores this process was given, read before the generator pins itself to all but
#: :data:`SERVER_CORE` (which it does first thing): the server is pinned by these, never by
#: what the generator kept, or it would share the generator's core.
MACHINE_CORES = cores()


#: Ports a server is started on before it is given up on, each probed free (see Target.start).
PORT_ATTEMPTS = 3


#: In a target's command (Target.start's *extra*, Target.launch's *command*): a port probed
#: free for it, another at each attempt.
FREE_PORT = "{a free port}"


class PortTaken(RuntimeError):
    """The server exited at start: the port probed free for it was taken meanwhile."""


def free_ports(count):
    """*count* different loopback ports the system says are free (each probe held until all
    are chosen, so that none is given twice)."""
    with contextlib.ExitStack() as probes:
        ports = []
        for _ in range(count):
            probe = probes.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
        return ports


def start_on_free_ports(count, start, answers, timeout=10.0):
    """Start a server (or several) on *count* ports probed free, for a server that cannot be
    given port 0 and say which it took: *start(ports)* gives the processes it started,
    *answers(ports)* whether they serve.  A port probed free can be taken before the server
    binds it (by another program's connection: a test suite's other workers open thousands),
    and then a process exits; on fresh ports then, :data:`PORT_ATTEMPTS` times in all.

    Returns ``(ports, processes)``, or None once every attempt had a process exit (those of
    the last attempt ended, for the caller to say why from what they logged).  TimeoutError
    if they neither serve nor exit within *timeout* seconds.
    """
    for _ in range(PORT_ATTEMPTS):
        ports = free_ports(count)
        processes = start(ports)
        deadline = time.monotonic() + timeout
        while not any(process.poll() is not None for process in processes):
            if answers(ports):
                return ports, processes
            if time.monotonic() > deadline:
                _end(processes)
                raise TimeoutError(f"nothing served on ports {ports} in {timeout} s")
            time.sleep(0.01)  # a process starting up: nothing to wait on but time
        _end(processes)
    return None


def _end(processes):
    for process in processes:
        process.kill()
        process.wait()


def accepts(address):
    """Whether something accepts a TCP connection at *address* now."""
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def _prepare_server():
    """In the server's process, before it starts: as many descriptors as the system allows,
    and the server's core, for every thread it will start (:data:`MACHINE_CORES`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if len(MACHINE_CORES) > 1:
        os.sched_setaffinity(0, {SERVER_CORE})


def spawn(command, folder, **options):
    """Start a server, *command*, with its standard error going to ``stderr.log`` in *folder*:
    ``(process, that file)``.  A file, not a pipe: nothing reads a pipe while the server runs,
    and a server that logged more than one holds (64 KiB) would stop at its next line,
    mid-round."""
    errors = open(os.path.join(folder, "stderr.log"), "w+b")
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=errors,
                            **options), errors


class Target:
    """A server to measure, and what can be seen of it."""

    def __init__(self, name, address, proto, process=None, folder=None, errors=None):
        self.name = name
        self.address = address
        self.proto = proto
        self.process = process
        self.folder = folder  # files the started server keeps (its history), removed at stop
        self.errors = errors  # its standard error, a file in the folder (see spawn)

    @classmethod
    def start(cls, name, proto="irc", sendq=None, extra=()):
        """Start target *name* (of :data:`TARGETS`, ``NAME@REV`` for a revision of tcpchat)
        on a free port, with *extra* arguments (where :data:`FREE_PORT` may stand)."""
        folder = tempfile.mkdtemp(prefix="tcpchat-bench-")  # for a target's files, if any
        base, _, revision = name.partition("@")
        if base in PLAIN_ONLY:
            proto = "plain"
        try:
            if revision:
                export(revision, folder)  # and run from there: ``-m`` looks in the cwd first
            if base == "relay-c":
                from .cgenerator import RELAY, binary
                command = [str(binary(RELAY)), FREE_PORT, proto]
            else:
                command = [sys.executable, "-m",
                           *(part.format(folder=folder) for part in TARGETS[base]),
                           "--port", FREE_PORT, *extra]
            if base == "relay":
                command += ["--proto", proto]
            elif base not in NOT_TCPCHAT:
                # IRC users join #bench themselves (no autojoin: 10 000 joins to one room would
                # be a benchmark of JOIN); plain users are always in the default room.
                # Many clients from one address, each sending as fast as it may: the limits a
                # public server needs would measure themselves, not the server.
                command += ["--channel", "#bench", "--no-autojoin", "--log-level", "WARNING",
                            "--no-flood-control", "--max-clients", "0", "--max-per-ip", "0"]
                if sendq:
                    command += ["--sendq", str(sendq)]
            return cls.launch(name, command, proto, folder, preexec_fn=_prepare_server,
                              cwd=folder if revision else None)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def launch(cls, name, command, proto, folder, **options):
        """Run *command* as target *name*, its standard error in *folder* (see :func:`spawn`,
        which takes *options*), each :data:`FREE_PORT` among its arguments a port probed free:
        the first, the one it serves on; the rest its ``extra_ports``, in order.

        A port probed free may be taken before the server binds it (by another program's
        connection: a test suite's other workers open thousands), and the server exits saying
        so (:class:`PortTaken`); it starts again on fresh ports then, :data:`PORT_ATTEMPTS`
        times in all.  The folder stays when it fails: it is the caller's."""
        for attempt in range(PORT_ATTEMPTS):
            ports = free_ports(sum(part.count(FREE_PORT) for part in command))
            given = iter(ports)
            process, errors = spawn(
                [part.replace(FREE_PORT, str(next(given))) if FREE_PORT in part else part
                 for part in command], folder, **options)
            target = cls(name, ("127.0.0.1", ports[0]), proto, process, folder, errors)
            target.extra_ports = ports[1:]
            try:
                target._wait_listening()
                return target
            except PortTaken:
                target.stop(keep_folder=True)
                if attempt == PORT_ATTEMPTS - 1:
                    raise
            except BaseException:
                target.stop(keep_folder=True)
                raise

    def _wait_listening(self, timeout=10.0):
        """Until the server serves: a tcpchat server listens before it has made its core
        (its tables, its store), so it is ready once it greets a connection, and the memory
        measured from then on is its users'.  (The relay says nothing until spoken to.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.errors.seek(0)
                said = self.errors.read().decode(errors="replace")
                raise (PortTaken if "already in use" in said.lower() else RuntimeError)(
                    f"{self.name} exited: {said}")
            try:
                with socket.create_connection(self.address, timeout=timeout) as probe:
                    if self.name.partition("@")[0] not in NOT_TCPCHAT:
                        probe.recv(1)  # the greeting: the loop is running
                return
            except OSError:
                time.sleep(0.05)  # a process starting up: nothing to wait on but time
        raise TimeoutError(f"{self.name} did not start listening")

    @property
    def local(self):
        return self.process is not None

    def rss(self):
        """Resident memory in bytes, or None for a server not started here."""
        return self._status("VmRSS:")

    def peak_rss(self):
        """The most resident memory the server has had, in bytes (or None, as for rss)."""
        return self._status("VmHWM:")

    def _status(self, field):
        if not self.local:
            return None
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        return None

    def cpu_seconds(self):
        return process_cpu_seconds(self.process.pid) if self.local else None

    def loop_cpu_seconds(self):
        """The CPU seconds of the server's main thread alone (the select loop's), or None for
        a server not started here: what its other threads (history's writer) take is the
        rest of :meth:`cpu_seconds`."""
        return process_cpu_seconds(self.process.pid, self.process.pid) if self.local else None

    def stop(self, keep_folder=False):
        """Stop the server, and remove its folder unless *keep_folder*."""
        if not self.local:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.errors is not None:
            self.errors.close()
        if self.folder is not None and not keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def process_cpu_seconds(pid, thread=None):
    """CPU seconds (user and system) that process *pid* has used, or its thread *thread*
    alone."""
    with open(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
