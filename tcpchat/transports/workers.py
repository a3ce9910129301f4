"""The chat's slow work (password hashes) on a few threads, off the event loop.

:class:`WorkerThreads` is the :class:`~tcpchat.chat.offload.Offload` the server gives the core.
Its queue is bounded: past :data:`QUEUE` waiting checks, ``submit`` says no and the chat tells
the user to try again, so a crowd of logins costs the server a bounded amount of memory and
time.  A result goes back through the driver's ``post``, which calls the core on the loop's
thread (the select loop) or under the core's lock (the threads backend).

hashlib's scrypt and pbkdf2 release the GIL while they run, so the loop keeps the interpreter
while checks run.  The CPU is another matter: two checks on a two-core machine take both cores,
and the loop, woken by a message, would wait for the scheduler to give it one back (a few
milliseconds at the p99).  So the workers run at the lowest priority of the ordinary class
(``nice`` 19, this thread alone): a core the loop wants is the loop's nearly at once, and
checks use what is left.  Not the idle class (``SCHED_IDLE``), which kept the chat's p99 the
same with logins but starved them behind any other busy program on the machine: 16 to 18 s a
login while two others kept both cores busy, against 2.5 to 3.6 s at ``nice`` 19.  A machine
saturated by the chat itself answers logins late (or, once :data:`QUEUE` checks wait, tells
the user to try again): the chat comes first.  Measured with ``python -m
tcpchat.bench.accounts --busy 2`` (docs/accounts.rst).
"""

import logging
import os
import queue
import threading

from ..chat.offload import Offload

log = logging.getLogger("tcpchat")

#: Threads that check passwords: each check is CPU-bound, so more than the cores would only
#: make every check slower.
THREADS = 2
#: Checks that may wait for a thread.
QUEUE = 64
#: The ``nice`` of the workers: the lowest priority of the ordinary class (see the module doc).
NICE = 19


class WorkerThreads(Offload):
    def __init__(self, threads=THREADS, bound=QUEUE):
        self._queue = queue.Queue(bound)
        self._threads = [threading.Thread(target=self._run, name=f"tcpchat-worker-{number}",
                                          daemon=True) for number in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, work, done):
        try:
            self._queue.put_nowait((work, done))
        except queue.Full:
            return False
        return True

    def _run(self):
        _yield_to_the_loop()
        while True:
            job = self._queue.get()
            if job is None:
                return
            work, done = job
            try:
                result = work()
            except Exception:  # a bug in the work: its user gets an error, the server goes on
                log.exception("internal error in off-loop work")
                result = None
            self.post(done, result)

    def close(self):
        for _thread in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()


def _yield_to_the_loop():
    """Put the calling thread below the loop and every ordinary program (see the module doc)."""
    try:
        # Linux and the BSDs take a thread's id here: this thread alone.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):  # not there, or not allowed: checks still run
        pass
