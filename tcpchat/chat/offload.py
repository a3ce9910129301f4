"""Slow work away from the event loop: password hashes, which cost tens of milliseconds each
on purpose (that is what makes a stolen hash expensive to guess from).

The chat stays sans-IO: it hands an :class:`Offload` a function of no arguments that touches
nothing shared (``work``) and what to do with its result on the loop (``done``).  Where the work
runs is the driver's choice: :class:`Inline` runs it at once, in the caller (the core's tests,
embedding); :class:`tcpchat.transports.workers.WorkerThreads` runs it on a few threads and hands
the result back to the loop, so that others' messages keep their latency while a login is
checked.  While work for a connection is in flight, that connection reads nothing more
(:meth:`tcpchat.chat.chat.Chat.off_loop`), so its next lines are handled, in order, after the
answer.
"""


class Offload:
    """Where the chat's slow work runs."""

    #: Set by the driver that runs the core: ``post(done, result)``, called from any thread,
    #: must call ``ChatCore.completed(done, result)`` on the loop.  Unused by :class:`Inline`.
    post = None

    def submit(self, work, done):
        """Run ``work()`` and then, on the loop, ``done(result)``; False (and nothing run) if
        too much work waits already."""
        raise NotImplementedError

    def close(self):
        """Finish what was submitted, then let go (threads, say)."""


class Inline(Offload):
    """Work done at once, in the caller: deterministic, for tests and for embedding."""

    def submit(self, work, done):
        done(work())
        return True
