"""The worker threads that check passwords off the loop: they yield the CPU to it, their queue
is bounded, and a failing check answers None instead of taking a thread down."""

import os
import threading

import pytest

from tcpchat.transports.workers import NICE, WorkerThreads

from helpers import TIMEOUT, wait_until


def collect(offload):
    """Make *offload* post its results into a list; (the list, an event set on each)."""
    results, arrived = [], threading.Event()

    def post(done, result):
        results.append(result)
        arrived.set()
    offload.post = post
    return results, arrived


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux's scheduler calls")
def test_checks_run_at_the_lowest_ordinary_priority_and_the_loop_keeps_its_own():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    offload = WorkerThreads(threads=1)
    results, arrived = collect(offload)
    try:
        assert offload.submit(lambda: (os.sched_getscheduler(0), os.getpriority(
            os.PRIO_PROCESS, threading.get_native_id())), None)
        assert arrived.wait(TIMEOUT)
        # Not the idle class, which starves logins behind any busy program (the module doc).
        assert results == [(os.SCHED_OTHER, NICE)]
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
    finally:
        offload.close()


def test_the_queue_is_bounded_and_a_failing_check_answers_none():
    release = threading.Event()
    offload = WorkerThreads(threads=1, bound=2)
    results, arrived = collect(offload)
    try:
        assert offload.submit(lambda: release.wait(TIMEOUT) and 1 / 0, None)  # taken, running
        assert wait_until(offload._queue.empty)  # the worker took it
        assert offload.submit(lambda: "second", None)
        assert offload.submit(lambda: "third", None)
        assert not offload.submit(lambda: "refused", None)  # two wait already
        release.set()
        assert wait_until(lambda: len(results) == 3)
        assert results[0] is None and set(results[1:]) <= {"second", "third"}
    finally:
        offload.close()

