"""Memory a burst left free is given back to the system (tcpchat.transports.memory)."""

import pytest

from helpers import DRIVERS, FakeClock, LineSocket, running_server, wait_until
from tcpchat.transports.memory import GLIBC, INTERVAL, SLACK, Trimmer, resident_bytes

MiB = 1 << 20


class FakeAllocator:
    """What an allocator holds free, moved by hand; its trims counted."""

    def __init__(self):
        self.free = 10 * MiB
        self.trims = 0

    def trim(self, pad):
        assert pad == 0
        self.trims += 1  # the free blocks stay free: their pages go back to the system

    def free_bytes(self):
        return self.free

    def trimmer(self, now=0.0):
        return Trimmer(now, allocator=(self.trim, self.free_bytes))


def test_it_trims_every_interval_at_most_and_only_after_frees_past_the_slack():
    heap = FakeAllocator()
    trimmer = heap.trimmer()
    heap.free += SLACK + MiB
    trimmer.tick(INTERVAL - 1)
    assert heap.trims == 0  # not time yet, however much was freed
    heap.free -= 2 * MiB  # some of it taken again
    trimmer.tick(INTERVAL)
    assert heap.trims == 0  # freed since the last trim: less than the slack
    heap.free += 6 * MiB
    trimmer.tick(2 * INTERVAL)
    assert heap.trims == trimmer.trims == 1
    trimmer.tick(3 * INTERVAL)
    assert heap.trims == 1  # nothing freed since: the pages are back already


def test_what_is_freed_after_a_look_in_the_middle_of_a_burst_is_trimmed_at_the_next():
    """The burst was using its memory when the look came, and freed it after: the resident
    size did not grow, but what the allocator holds free did."""
    heap = FakeAllocator()
    trimmer = heap.trimmer()
    heap.free += SLACK + MiB  # the burst's first replies, sent
    trimmer.tick(INTERVAL)
    assert heap.trims == 1
    heap.free -= 20 * MiB  # the burst goes on, in the same pages
    trimmer.tick(2 * INTERVAL)
    heap.free += 20 * MiB  # and ends
    trimmer.tick(3 * INTERVAL)
    assert heap.trims == 2


def test_without_glibc_it_never_looks():
    trimmer = Trimmer(0.0, allocator=None)
    assert trimmer.next_at is None
    trimmer.tick(1e9)
    assert trimmer.trims == 0


@pytest.mark.skipif(GLIBC is None or resident_bytes() is None,
                    reason="needs glibc 2.33 or later, and /proc")
def test_a_burst_freed_in_the_middle_of_the_heap_goes_back_to_the_system():
    trimmer = Trimmer(0.0)
    burst, survivors = [], []
    for number in range(16_000):  # 64 MB, with a small block kept after every 16th
        burst.append(bytearray(4000))
        if number % 16 == 0:
            survivors.append(bytearray(600))
    del burst  # free, but held by the allocator: blocks that outlive it sit above
    held = resident_bytes()
    trimmer.tick(INTERVAL)
    assert trimmer.trims == 1
    assert held - resident_bytes() > 32 * MiB
    assert trimmer.returned > 32 * MiB
    assert len(survivors) == 1000


@pytest.mark.parametrize("driver", ["select-epoll" if "select-epoll" in DRIVERS
                                    else "select-poll", "threads"])
def test_each_backend_ticks_its_trimmer_on_its_loop(driver):
    clock = FakeClock()
    heap = FakeAllocator()
    with running_server(driver, clock=clock) as server:
        server.trimmer = heap.trimmer(clock())
        heap.free += SLACK + MiB
        clock.advance(INTERVAL)
        LineSocket(server.address).close()  # something to do: both look at their clocks
        assert wait_until(lambda: heap.trims == 1)
