"""History in a list: the plainest store there is, and the model that
:class:`~tcpchat.store.sqlite.SqliteStore` is held to (``tests/test_history_model.py``).

Everything is answered by looking at every entry: fine for tests, not for a server with a
year of history."""

import itertools

from ..chat import events
from ..protocol.names import fold
from .base import MESSAGES, Store, cut, entries_of, matches, oldest_first


class ListStore(Store):
    def __init__(self, lines=None):
        #: Entries, in order; at most *lines* per channel (None: no bound).
        self.entries = []
        self.lines = lines
        self._seq = itertools.count(1)

    def append(self, event):
        if isinstance(event, events.Redaction):
            self.redact(event.channel.name, event.target_id)
            return
        if isinstance(event, events.Rename):
            self.rename(event.old_name, event.channel.name)
            return
        for entry in entries_of(event):
            self.entries.append(entry._replace(seq=next(self._seq)))
            if self.lines is not None:
                self._trim(fold(entry.target))

    def take(self, entries):
        for entry in entries:
            self.entries.append(entry._replace(seq=next(self._seq)))
            if self.lines is not None:
                self._trim(fold(entry.target))

    def _trim(self, key):
        kept = [entry for entry in self.entries if fold(entry.target) == key]
        for entry in kept[:-self.lines]:
            self.entries.remove(entry)

    def page(self, target, after=None, before=None, limit=50, newest=False, commands=None):
        key = fold(target)
        return cut([entry for entry in self.entries
                    if matches(entry, key, after, before, commands)], limit, newest)

    def find(self, target, msgid):
        key = fold(target)
        return next((entry for entry in self.entries
                     if entry.msgid == msgid and fold(entry.target) == key), None)

    def targets(self, names, after, before, limit):
        latest = {}
        for entry in self.entries:
            key = fold(entry.target)
            if (key in names and entry.command in MESSAGES
                    and after < entry.time < before):
                latest[key] = (entry.target, entry.time)
        return oldest_first(latest.values(), limit)

    def redact(self, target, msgid):
        key = fold(target)
        self.entries = [entry for entry in self.entries
                        if not (entry.msgid == msgid and fold(entry.target) == key)]

    def rename(self, old, new):
        key = fold(old)
        self.entries = [entry._replace(target=new) if fold(entry.target) == key else entry
                        for entry in self.entries]
