import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# Properties are about behaviour, not speed: no per-example deadline, so a loaded CI machine
# cannot fail them.  (Timing belongs in the benchmarks, tcpchat/bench/.)
settings.register_profile("tcpchat", deadline=None)
settings.load_profile("tcpchat")
