"""Giving memory back to the system after a burst.

A burst (thousands of users joining one room at once, everyone reconnecting after a restart)
makes the server hold megabytes for a moment: lines queued for members, NAMES replies, reads.
Once they are sent, Python frees that memory to the C allocator, and glibc's ``malloc`` keeps
most of it: a free block in the middle of its heap is reused for what comes next but not
returned to the system, so the process stays as big as the burst made it.  With 5000 IRC users
joining one room in one burst, a quarter of what the server kept afterwards was such free memory
(``python -m tcpchat.bench --scenarios idle``; docs/benchmarks.rst has the figures).

glibc gives it back when asked: ``malloc_trim(0)`` walks the free blocks and returns their
pages, as the JVM does on a timer (``-XX:TrimNativeHeapInterval``, JDK-8293114) and Ruby
before it forks (``Process.warmup``).  A driver calls :meth:`Trimmer.tick` on its loop; every
:data:`INTERVAL` seconds it reads the resident memory (one read of ``/proc/self/statm``), and
trims when it has grown by more than :data:`SLACK` since the last trim, or when the last trim
gave back more than that (a burst may still be ending).  A trim takes about a millisecond for
every 10 MB of free blocks, so it runs after a burst, not on every turn.  Where there is no
glibc (musl, macOS, Windows), the allocators return memory their own way and nothing is done
here.
"""

import ctypes
import logging
import os
import time

log = logging.getLogger("tcpchat")

#: Seconds between two looks at the resident memory.
INTERVAL = 10.0
#: Bytes of growth since the last trim past which the next look trims.
SLACK = 4 << 20


def _malloc_trim():
    """glibc's ``malloc_trim``, or None where there is none to call (or no /proc to read)."""
    if not os.path.exists("/proc/self/statm"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def resident_bytes():
    """The process's resident memory, from ``/proc/self/statm``."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


#: glibc's ``malloc_trim``, or None.
MALLOC_TRIM = _malloc_trim()


class Trimmer:
    """When to ask the C allocator to give back what a burst left free."""

    def __init__(self, now, trim=MALLOC_TRIM, resident=resident_bytes):
        self._trim = trim
        self._resident = resident
        #: When :meth:`tick` next looks, on the driver's clock; None where it never will.
        self.next_at = now + INTERVAL if trim is not None else None
        # The resident memory after the last trim (or the least seen since): growth from here
        # is what the next look weighs.
        self._kept = resident() if trim is not None else 0
        # The last trim gave back more than SLACK: the burst may not be over, so the next
        # look trims again.
        self._paid_off = False
        #: Trims so far, the bytes they gave back, and the longest one took (seconds).
        self.trims = self.returned = 0
        self.longest = 0.0

    def tick(self, now):
        """A driver's turn at *now*: look, and trim, if it is time."""
        if self.next_at is None or now < self.next_at:
            return
        self.next_at = now + INTERVAL
        before = self._resident()
        if before - self._kept <= SLACK and not self._paid_off:
            self._kept = min(self._kept, before)
            return
        began = time.perf_counter()
        self._trim(0)
        took = time.perf_counter() - began
        self._kept = self._resident()
        returned = max(0, before - self._kept)
        self._paid_off = returned > SLACK
        self.trims += 1
        self.returned += returned
        self.longest = max(self.longest, took)
        log.debug("gave %.1f MiB back to the system in %.1f ms", returned / 2**20, took * 1e3)
