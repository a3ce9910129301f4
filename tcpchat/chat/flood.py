"""Flood control: how fast one connection's lines are handled, sans-IO.

Each connection has a :class:`FloodBucket`, two token buckets in one: one of lines, one of
bytes.  A line is handled when both hold enough for it, and takes its share of each; they
refill at a steady rate up to their burst.  When a line does not fit, the core stops reading
that connection (``Connection.pause_reading``), keeps the lines already read, and resumes when
the bucket has refilled enough for the next one (IRC servers call this "fakelag"): the flooder
waits, everyone else is served as usual.  A client that piles up more unhandled input than
``FloodPolicy.backlog`` is disconnected with ``Excess Flood``.

The burst lets a person paste a block of text in one go, and lets a client's registration and
auto-join burst through, without waiting.  The defaults are chosen for people typing and
pasting; ``--no-flood-control`` turns the whole thing off, for benchmarks and trusted networks.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FloodPolicy:
    #: Lines handled per second, once the burst is spent.
    lines_per_second: float = 4.0
    #: Lines that may arrive at once, on a bucket that has had time to fill.
    burst_lines: int = 25
    #: Bytes (of lines, line ends not counted) handled per second, once the burst is spent.
    bytes_per_second: float = 2048.0
    #: Bytes that may arrive at once: a 20-line paste of long lines fits.
    burst_bytes: int = 16384
    #: Bytes of lines read but not yet handled beyond which the client is cut ("Excess
    #: Flood").  A stream peer that is paused is not read, so this bounds what one read can
    #: bring past the burst; a datagram peer cannot be paused, and this bounds it too.
    backlog: int = 16384


class FloodBucket:
    """One connection's allowance of lines and bytes, refilled by the clock."""

    __slots__ = ("policy", "lines", "bytes", "updated")

    def __init__(self, policy, now):
        self.policy = policy
        self.lines = float(policy.burst_lines)
        self.bytes = float(policy.burst_bytes)
        self.updated = now

    def refill(self, now):
        """Add what the time since the last refill earned, up to the burst."""
        policy = self.policy
        elapsed = now - self.updated
        if elapsed > 0:
            self.updated = now
            self.lines = min(policy.burst_lines, self.lines + elapsed * policy.lines_per_second)
            self.bytes = min(policy.burst_bytes, self.bytes + elapsed * policy.bytes_per_second)

    def take(self, size):
        """Spend one line of *size* bytes; False, spending nothing, if it does not fit now."""
        size = min(size, self.policy.burst_bytes)  # a longer line would never fit
        if self.lines < 1 or self.bytes < size:
            return False
        self.lines -= 1
        self.bytes -= size
        return True

    def take_all(self, count, size):
        """Spend *count* lines of *size* bytes in all, as many calls of :meth:`take` would,
        or nothing (False) if any of them would not fit now.  Those calls all succeed exactly
        when the bucket holds *count* lines and *size* bytes: the bytes never exceed the
        burst, so no line that fits is ever cut to it."""
        if self.lines < count or self.bytes < size:
            return False
        self.lines -= count
        self.bytes -= size
        return True

    def refund_line(self):
        """Give back the line a line took, its bytes kept: for lines that are parts of one
        message (a multiline batch's)."""
        self.lines = min(self.policy.burst_lines, self.lines + 1)

    def wait(self, size):
        """Seconds until a line of *size* bytes fits."""
        policy = self.policy
        size = min(size, policy.burst_bytes)
        return max(0.0, (1 - self.lines) / policy.lines_per_second,
                   (size - self.bytes) / policy.bytes_per_second)
