"""The chat's slow work (password hashes) on a few threads, off the event loop.

:class:`WorkerThreads` is the :class:`~tcpchat.chat.offload.Offload` the server gives the core.
Its queue is bounded: past :data:`QUEUE` waiting checks, ``submit`` says no and the chat tells
the user to try again, so a crowd of logins costs the server a bounded amount of memory and
time.  A result goes back through the driver's ``post``, which calls the core on the loop's
thread (the select loop) or under the core's lock (the threads backend).

hashlib's scrypt and pbkdf2 release the GIL while they run, so the loop keeps the interpreter
while checks run.  The CPU is another matter: two checks on a two-core machine take both cores,
and the loop, woken by a message, would wait for the scheduler to give it one back (a few
milliseconds at the p99).  So the workers run at the scheduler's idle class (``SCHED_IDLE``,
Linux; elsewhere the lowest ``nice``): whenever the loop wants a core it gets it at once, and
checks use what is left.  A machine saturated by the chat itself then answers logins late (or,
once :data:`QUEUE` checks wait, tells the user to try again): the chat comes first.  Measured
with ``python -m tcpchat.bench.accounts`` (docs/accounts.rst).
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
    """Put the calling thread below everything else the system runs (see the module doc)."""
    thread = threading.get_native_id()
    try:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # not Linux, or not allowed
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, thread, 19)  # Linux and BSDs: this thread alone
    except (AttributeError, OSError):
        pass
