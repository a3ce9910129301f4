"""How often people may try to log in and to register: bounds kept in memory, per key.

:class:`FailureDelays` makes each failed login cost more than the last, for its account and for
its address: a guesser waits 1, 2, 4... seconds (at most :data:`LONGEST_DELAY`) before its next
try is even looked at, while a user who mistyped once waits a second.  Unknown account names
are keyed like known ones, so the delays tell nobody which accounts exist.

:class:`WindowLimit` counts events per key in a sliding window: registrations per address and
for the whole server.

Both forget what is old, and hold at most :data:`MAX_KEYS` keys: a crowd of addresses cannot
make them grow without end (the oldest keys go first).
"""

from collections import OrderedDict, deque

#: The delay after the first failure, doubled with each further one up to LONGEST_DELAY.
FIRST_DELAY = 1.0
LONGEST_DELAY = 300.0
#: A key with no failure for this long starts again from nothing.
FORGET_AFTER = 3600.0
MAX_KEYS = 10_000


class FailureDelays:
    def __init__(self, clock, max_keys=MAX_KEYS):
        self.clock = clock
        self.max_keys = max_keys
        #: key -> [failures, monotonic time before which the key may not try]
        self._keys = OrderedDict()

    def wait(self, keys):
        """Seconds before *keys* may try again (0: now)."""
        now = self.clock()
        waits = [entry[1] - now for entry in map(self._keys.get, keys) if entry is not None]
        return max([0.0, *waits])

    def failed(self, keys):
        now = self.clock()
        for key in keys:
            entry = self._keys.pop(key, None)
            if entry is None or now - entry[1] > FORGET_AFTER:
                entry = [0, now]
            entry[0] += 1
            entry[1] = now + min(FIRST_DELAY * 2 ** (entry[0] - 1), LONGEST_DELAY)
            self._keys[key] = entry  # newest last: the oldest are dropped first
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def succeeded(self, keys):
        for key in keys:
            self._keys.pop(key, None)


class WindowLimit:
    """At most *count* events per key in any *window* seconds."""

    def __init__(self, clock, count, window, max_keys=MAX_KEYS):
        self.clock = clock
        self.count = count
        self.window = window
        self.max_keys = max_keys
        self._keys = OrderedDict()

    def allow(self, key):
        """Whether one more event of *key* fits; if so, it is counted."""
        now = self.clock()
        times = self._keys.pop(key, None) or deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        allowed = len(times) < self.count
        if allowed:
            times.append(now)
        if times:
            self._keys[key] = times
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return allowed
