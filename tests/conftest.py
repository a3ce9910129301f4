import os
import sys

import pytest
from hypothesis import settings

import tcpchat.store.credentials
import tcpchat.store.sqlite

sys.path.insert(0, os.path.dirname(__file__))

# Properties are about behaviour, not speed: no per-example deadline, so a loaded CI machine
# cannot fail them.  (Timing belongs in the benchmarks, tcpchat/bench/.)
settings.register_profile("tcpchat", deadline=None)
settings.load_profile("tcpchat")


@pytest.fixture(autouse=True)
def _quick_history_writer(monkeypatch):
    """The SQLite store's writer rests 20 ms after each commit (250 ms in memory: the fan-out's
    sake); tests that wait for it need not."""
    monkeypatch.setattr(tcpchat.store.sqlite, "COMMIT_INTERVAL", 0.001)
    monkeypatch.setattr(tcpchat.store.sqlite, "MEMORY_COMMIT_INTERVAL", 0.001)


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch):
    """scrypt hashes that take microseconds: tests are about what a password opens, and the
    cost itself is measured by the benchmark (python -m tcpchat.bench.accounts).  SCRAM keeps
    its 4096 rounds (a few milliseconds): scramp refuses fewer."""
    monkeypatch.setattr(tcpchat.store.credentials, "COST", (2 ** 4, 1, 1))
