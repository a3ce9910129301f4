"""The core is sans-IO: no socket, selector, thread or ssl in it, so every transport can drive
it and the tests can drive it with none.  Held as a test, twice: what the core's own source
imports, and what importing it loads in a fresh interpreter."""

import ast
import json
import os
import subprocess
import sys

from helpers import ROOT, TIMEOUT

#: The protocol core and the reference client's session: bytes and messages in and out.
CORE_MODULES = ("chat", "clientsession", "connection", "core", "display", "encoding",
                "framing", "irc", "ircserver", "ircv3", "message", "moderation", "names",
                "numerics", "opers", "plain")
#: Sans-IO too, but made of libraries from an extra (the web gateway: wsproto, h11), which an
#: interpreter started without site-packages cannot import: checked by their source alone.
EXTRA_MODULES = ("web",)
#: What only a driver may use.
IO_MODULES = frozenset(("socket", "_socket", "select", "selectors", "ssl", "_ssl", "threading",
                        "_thread", "asyncio", "multiprocessing", "signal"))


def _imported_names(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


def test_no_core_module_imports_io():
    for name in CORE_MODULES + EXTRA_MODULES:
        path = os.path.join(ROOT, "tcpchat", f"{name}.py")
        assert IO_MODULES.isdisjoint(_imported_names(path)), f"tcpchat/{name}.py imports I/O"


_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import logging  # the core logs; logging brings threading for its own locks
before = set(sys.modules)
for name in {modules!r}:
    __import__("tcpchat." + name)
print(json.dumps({{"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}}))
"""


def test_importing_the_core_loads_no_io_module():
    probe = _PROBE.format(root=ROOT, modules=CORE_MODULES)
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True,
                            text=True, timeout=TIMEOUT, check=True)
    loaded = json.loads(result.stdout)
    assert "tcpchat.core" in loaded["new"]
    assert IO_MODULES.isdisjoint(loaded["new"])
    assert {"socket", "select", "selectors", "ssl", "asyncio"}.isdisjoint(loaded["all"])
