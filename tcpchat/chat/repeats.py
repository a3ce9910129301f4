"""Log lines for events that may come by the thousand, at a bounded rate, with exact counts.

A flood of connections would otherwise be a flood of log lines: a disk filled, a journal
rotated away before anyone reads it.  So events of one kind and key (refusals of one address
for one reason, failed TLS handshakes from one address, send-queue kills) are logged thus: the
first at once, as it always was; the others within :data:`WINDOW` seconds are counted, and
said in one line when the window ends ("refused 936 more connections from 127.0.0.1 in the
last 10 s: Too many connections from your address").  Nothing that matters is lost, and the
counts are exact.

Sans-IO, with the clock it is given: the driver calls :meth:`Repeats.flush` when
:meth:`Repeats.next_deadline` comes (and at shutdown), as it runs the core's timers.
"""

#: Seconds over which one kind of event is counted before its count is logged.
WINDOW = 10.0


class Repeats:
    def __init__(self, log, clock, window=WINDOW):
        self._log = log
        self._clock = clock
        self.window = window
        # key -> [when the window opened, how many since the first, level, summary, args]
        self._open = {}

    def note(self, level, key, first, summary, *args):
        """One event of *key* (a tuple: its kind and what sets it apart, such as an address).
        *first* is the log line for the first of them (``%`` style, with *args*); *summary*
        the line for the rest of a window, given the count and the window's seconds, then
        *args*."""
        now = self._clock()
        entry = self._open.get(key)
        if entry is not None and now >= entry[0] + self.window:
            self._close(key, entry)
            entry = None
        if entry is None:
            self._log.log(level, first, *args)
            self._open[key] = [now, 0, level, summary, args]
        else:
            entry[1] += 1

    def next_deadline(self):
        """When the first window ends; None if none is open."""
        if not self._open:  # nearly always: asked twice a turn of the loop
            return None
        return min(entry[0] + self.window for entry in self._open.values())

    def flush(self, everything=False):
        """Log the counts of the windows that have ended (of all of them, at shutdown)."""
        now = self._clock()
        for key, entry in list(self._open.items()):
            if everything or now >= entry[0] + self.window:
                self._close(key, entry)

    def _close(self, key, entry):
        del self._open[key]
        opened, count, level, summary, args = entry
        if count:
            self._log.log(level, summary, count, self.window, *args)
