"""Events that may come by the thousand, logged at a bounded rate with exact counts
(tcpchat.chat.repeats): a flood of connections is no flood of log lines."""

import logging

import pytest

from helpers import FakeClock, LineSocket, running_server, wait_until
from tcpchat.chat.repeats import Repeats
from tcpchat.transports.driver import AdmissionPolicy, listen
from tcpchat.transports.selectloop import SelectLoop
from tcpchat.transports.threads import ThreadsServer


class Lines:
    """A logger's stand-in that keeps what it is asked to log."""

    def __init__(self):
        self.lines = []

    def log(self, level, text, *args):
        self.lines.append(text % args)


def test_the_first_is_logged_at_once_the_rest_counted_and_said_when_the_window_ends():
    clock, out = FakeClock(), Lines()
    repeats = Repeats(out, clock, window=10)
    for _ in range(936):
        repeats.note(logging.WARNING, ("refused", "10.0.0.1"), "refused %s",
                     "refused %d more in %.0f s from %s", "10.0.0.1")
    repeats.note(logging.WARNING, ("refused", "10.0.0.2"), "refused %s",
                 "refused %d more in %.0f s from %s", "10.0.0.2")
    assert out.lines == ["refused 10.0.0.1", "refused 10.0.0.2"]
    assert repeats.next_deadline() == clock() + 10
    clock.advance(9)
    repeats.flush()
    assert len(out.lines) == 2  # not yet
    clock.advance(1)
    repeats.flush()
    assert out.lines[2:] == ["refused 935 more in 10 s from 10.0.0.1"]  # exact; .2 had none
    assert repeats.next_deadline() is None
    repeats.note(logging.WARNING, ("refused", "10.0.0.1"), "refused %s",
                 "refused %d more in %.0f s from %s", "10.0.0.1")
    assert out.lines[-1] == "refused 10.0.0.1"  # a new window starts with a line at once


def test_an_event_after_its_window_closes_it_first_and_shutdown_says_every_count():
    clock, out = FakeClock(), Lines()
    repeats = Repeats(out, clock, window=10)
    for _ in range(3):
        repeats.note(logging.INFO, ("tls", "h"), "failed %s", "%d more in %.0f s from %s", "h")
    clock.advance(15)
    repeats.note(logging.INFO, ("tls", "h"), "failed %s", "%d more in %.0f s from %s", "h")
    assert out.lines == ["failed h", "2 more in 10 s from h", "failed h"]
    repeats.note(logging.INFO, ("tls", "h"), "failed %s", "%d more in %.0f s from %s", "h")
    repeats.flush(everything=True)
    assert out.lines[-1] == "1 more in 10 s from h"


@pytest.mark.parametrize("backend", ["select", "threads"])
def test_a_flood_of_refused_connections_is_two_log_lines(backend, caplog):
    caplog.set_level(logging.WARNING, logger="tcpchat")
    policy = AdmissionPolicy(max_clients=0, max_per_ip=1)
    clock = FakeClock()

    def start(core):
        if backend == "threads":
            return ThreadsServer(core, listen("127.0.0.1", 0), policy=policy)
        return SelectLoop(core, listen("127.0.0.1", 0), policy=policy)

    with running_server(start=start, clock=clock) as server:
        held = LineSocket(server.address)
        refused = [LineSocket(server.address) for _ in range(30)]
        for peer in refused:
            assert peer.read_all() == [
                "ERROR :Closing link: Too many connections from your address"]
        lines = [record.getMessage() for record in caplog.records]
        assert lines == ["refused a connection from 127.0.0.1: Too many connections from "
                         "your address"]
        clock.advance(11)
        held.close()  # something for the server to do: it looks at its deadlines again
        assert wait_until(lambda: len(caplog.records) == 2)
        assert caplog.records[1].getMessage() == (
            "refused 29 more connections in the last 10 s from 127.0.0.1: Too many "
            "connections from your address")
