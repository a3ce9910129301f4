"""Memory a burst left free is given back to the system (tcpchat.transports.memory)."""

import pytest

from helpers import DRIVERS, FakeClock, LineSocket, running_server, wait_until
from tcpchat.transports.memory import INTERVAL, MALLOC_TRIM, SLACK, Trimmer, resident_bytes

MiB = 1 << 20


class FakeHeap:
    """A resident size moved by hand, and a trim that gives back what is *free*."""

    def __init__(self, size):
        self.size = size
        self.free = 0
        self.trims = 0

    def resident(self):
        return self.size

    def trim(self, pad):
        assert pad == 0
        self.trims += 1
        self.size -= self.free
        self.free = 0


def test_it_trims_every_interval_at_most_after_growth_past_the_slack_or_a_trim_that_paid():
    heap = FakeHeap(100 * MiB)
    trimmer = Trimmer(0.0, trim=heap.trim, resident=heap.resident)
    heap.size += SLACK + MiB
    trimmer.tick(INTERVAL - 1)
    assert heap.trims == 0  # not time yet, however much it grew
    heap.size -= 2 * MiB
    trimmer.tick(INTERVAL)
    assert heap.trims == 0  # grown, but by less than the slack
    heap.size += 6 * MiB
    heap.free = 5 * MiB
    trimmer.tick(2 * INTERVAL)
    assert (heap.trims, trimmer.trims, trimmer.returned) == (1, 1, 5 * MiB)
    heap.free = 2 * MiB  # the end of the burst, freed after the trim
    trimmer.tick(3 * INTERVAL)
    assert (heap.trims, trimmer.returned) == (2, 7 * MiB)  # the last one paid off: again
    heap.free = MiB
    trimmer.tick(4 * INTERVAL)
    assert heap.trims == 2  # nothing grew, and the last gave back little: no more


def test_growth_is_weighed_from_the_least_it_has_been_since():
    heap = FakeHeap(100 * MiB)
    trimmer = Trimmer(0.0, trim=heap.trim, resident=heap.resident)
    heap.size = 60 * MiB  # users left, and Python gave its own memory back
    trimmer.tick(INTERVAL)
    heap.size += SLACK + MiB  # still well under where it began
    trimmer.tick(2 * INTERVAL)
    assert heap.trims == 1


def test_without_glibc_it_never_looks():
    trimmer = Trimmer(0.0, trim=None)
    assert trimmer.next_at is None
    trimmer.tick(1e9)
    assert trimmer.trims == 0


@pytest.mark.skipif(MALLOC_TRIM is None, reason="needs glibc's malloc_trim and /proc")
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
    assert len(survivors) == 1000


@pytest.mark.parametrize("driver", ["select-epoll" if "select-epoll" in DRIVERS
                                    else "select-poll", "threads"])
def test_each_backend_ticks_its_trimmer_on_its_loop(driver):
    clock = FakeClock()
    heap = FakeHeap(100 * MiB)
    with running_server(driver, clock=clock) as server:
        server.trimmer = Trimmer(clock(), trim=heap.trim, resident=heap.resident)
        heap.size += SLACK + MiB
        clock.advance(INTERVAL)
        LineSocket(server.address).close()  # something to do: both look at their clocks
        assert wait_until(lambda: heap.trims == 1)
