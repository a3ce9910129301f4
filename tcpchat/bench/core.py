"""Fan-out through the sans-IO core alone: no sockets, so the figure is Python's cost per
delivery, the ceiling every driver works under."""

import time

from ..chat.config import Config
from ..chat.connection import Transport
from ..core import ChatCore

LINE = b"PRIVMSG #lobby :" + b"x" * 64 + b"\r\n"


def bench_config(config_class=Config):
    """A config for measuring: a send queue no run fills, and no flood control (as the bench's
    servers run with --no-flood-control), in trees that have it."""
    config = config_class(sendq=1 << 30)
    if hasattr(config, "flood"):
        config.flood = None
    return config


def core_sender(members, core_class=ChatCore, config_class=Config, transport_class=Transport):
    """A core with *members* registered in #lobby; returns (feed the first member, empty the
    buffers the core said have output).  The classes may come from another tree (see
    tcpchat/bench/compare.py)."""
    connections, drain = core_members(members, core_class, config_class, transport_class)
    return connections[0].receive_data, drain


def core_members(members, core_class=ChatCore, config_class=Config, transport_class=Transport,
                 **core_options):
    """A core (made with *core_options*) with *members* registered in #lobby; returns (their
    connections, empty the buffers the core said have output)."""
    core = core_class(bench_config(config_class), **core_options)
    told = []
    core.output_ready = told.append
    connections = [core.connect("127.0.0.1", transport_class()) for _ in range(members)]
    for number, conn in enumerate(connections):
        conn.receive_data(f"NICK u{number}\r\nUSER u 0 * :u\r\n".encode())

    def drain():
        # Stands in for a driver's send that the kernel takes whole, so the figure is the
        # core's (and the same call for a revision of any output queue: tcpchat.bench.compare).
        for ready in told:
            for conn in ready:
                conn.sent(conn.pending)
        told.clear()

    drain()
    return connections, drain


def core_rates(members, batch, runs, messages=200, sender=None):
    """Deliveries a second in each of *runs* runs of *messages* messages, *batch* lines per
    core call (1: a call per message; 100: a read's worth, as the select loop calls it)."""
    feed, drain = sender or core_sender(members)
    data = LINE * batch
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(messages // batch):
            feed(data)
            drain()
        yield messages * (members - 1) / (time.perf_counter() - start)


def measured_core(members=100, runs=50):
    """The best of *runs* short runs (noise on a shared machine only slows a run down)."""
    return dict(members=members,
                per_message=max(core_rates(members, 1, runs)),
                per_read=max(core_rates(members, 100, runs)))
