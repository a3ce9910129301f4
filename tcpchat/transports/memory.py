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
:data:`INTERVAL` seconds it asks glibc how many bytes it holds free (``mallinfo2``), and trims
when that has grown by more than :data:`SLACK` since the last trim (or the least it has been
since): memory freed since then, in pages the process still holds.  Growth of the resident
size would not do: memory a burst was using when the last look came, and freed after it, is
freed within the resident size.  A look costs about 0.1 ms and a trim about a millisecond for
every 10 MB of free blocks, so neither is felt.  Where there is no glibc (musl, macOS,
Windows), the allocators return memory their own way and nothing is done here.
"""

import ctypes
import logging
import os
import time

log = logging.getLogger("tcpchat")

#: Seconds between two looks at what the allocator holds free.
INTERVAL = 10.0
#: Bytes freed since the last trim past which the next look trims: what may stay resident
#: and free at most (a trim costs a fraction of a millisecond, so it can be small).
SLACK = 1 << 20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _glibc():
    """``(malloc_trim, free bytes)`` from glibc, or None where there is no glibc (2.33 or
    later, for ``mallinfo2``)."""
    try:
        libc = ctypes.CDLL(None)
        trim, info = libc.malloc_trim, libc.mallinfo2
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    info.argtypes, info.restype = [], _MallInfo2
    return trim, lambda: info().fordblks


#: glibc's ``malloc_trim`` and how many bytes its heaps hold free, or None.
GLIBC = _glibc()


def resident_bytes():
    """The process's resident memory, from ``/proc/self/statm`` (None without /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


class Trimmer:
    """When to ask the C allocator to give back what a burst left free."""

    def __init__(self, now, allocator=GLIBC):
        #: When :meth:`tick` next looks, on the driver's clock; None where it never will.
        self.next_at = now + INTERVAL if allocator is not None else None
        self._trim, self._free_bytes = allocator or (None, None)
        # What the allocator held free after the last trim (or the least seen since).
        self._free = self._free_bytes() if allocator is not None else 0
        #: Trims so far, the resident bytes they gave back, and the longest one (seconds).
        self.trims = self.returned = 0
        self.longest = 0.0

    def tick(self, now):
        """A driver's turn at *now*: look, and trim, if it is time."""
        if self.next_at is None or now < self.next_at:
            return
        self.next_at = now + INTERVAL
        free = self._free_bytes()
        if free - self._free <= SLACK:
            self._free = min(self._free, free)
            return
        before = resident_bytes()
        began = time.perf_counter()
        self._trim(0)
        took = time.perf_counter() - began
        after = resident_bytes()
        self._free = self._free_bytes()
        returned = max(0, before - after) if before is not None and after is not None else 0
        self.trims += 1
        self.returned += returned
        self.longest = max(self.longest, took)
        log.debug("gave %.1f MiB back to the system in %.1f ms (%.1f MiB were free)",
                  returned / 2**20, took * 1e3, free / 2**20)
