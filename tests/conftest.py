import os
import sys

import pytest
from hypothesis import settings

import tcpchat.store.sqlite

sys.path.insert(0, os.path.dirname(__file__))

# Properties are about behaviour, not speed: no per-example deadline, so a loaded CI machine
# cannot fail them.  (Timing belongs in the benchmarks, tcpchat/bench/.)
settings.register_profile("tcpchat", deadline=None)
settings.load_profile("tcpchat")


@pytest.fixture(autouse=True)
def _quick_history_writer(monkeypatch):
    """The SQLite store's writer rests 20 ms after each commit (the fan-out's sake); tests that
    wait for it need not."""
    monkeypatch.setattr(tcpchat.store.sqlite, "COMMIT_INTERVAL", 0.001)
