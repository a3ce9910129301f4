"""The chat's slow work (password hashes) on a few threads, off the event loop.

:class:`WorkerThreads` is the :class:`~tcpchat.chat.offload.Offload` the server gives the core.
Its queue is bounded: past :data:`QUEUE` waiting checks, ``submit`` says no and the chat tells
the user to try again, so a crowd of logins costs the server a bounded amount of memory and
time.  A result goes back through the driver's ``post``, which calls the core on the loop's
thread (the select loop) or under the core's lock (the threads backend).

hashlib's scrypt and pbkdf2 release the GIL while they run, so the loop keeps its core while
two checks run beside it on a two-core machine (docs/accounts.rst has what it measured).
"""

import logging
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
