"""The layers, held as tests.

The folders are the layers, from the wire up: each module imports only from its own folder and
from the layers below it, never up or across.  And the core is sans-IO: no socket, selector,
thread or ssl in it, so every transport can drive it and the tests can drive it with none,
checked twice: what its source imports, and what importing it loads in a fresh interpreter.
"""

import ast
import configparser
import json
import os
import pathlib
import subprocess
import sys

from helpers import ROOT, TIMEOUT

PACKAGE = pathlib.Path(ROOT) / "tcpchat"

#: Each layer, lowest first: a package (folder), a top-level module, or one module of a
#: package that stands apart (the catalog, below everything: any layer may say a sentence).
#: A module may import from its own layer and from those before it.  The last four stand
#: side by side on top (the server's command line, the admin's, the reference client, the
#: benchmarks), and import none of each other.
LAYERS = ("text.catalog", "protocol", "text", "chat", "store", "commands", "cluster", "core",
          "transports",
          ("server", "admin", "client", "bench"))
#: The sans-IO ones: the protocol, the chat and the commands with the core that dispatches to
#: them, the storage seam and its model, and the reference client's session.  (The SQLite
#: store has a writer thread: the server hands it to the core, which sees only the seam.)
SANS_IO = ("protocol", "text", "chat", "store.base", "store.memory", "store.accounts",
           "store.credentials", "commands", "cluster", "core", "client.session")

#: Sans-IO too, but made of libraries from an extra (the web gateway: wsproto, h11), which an
#: interpreter started without site-packages cannot import: checked by their source alone.
SANS_IO_WITH_EXTRAS = ("transports.web",)
#: What only a driver may use.
IO_MODULES = frozenset(("socket", "_socket", "select", "selectors", "ssl", "_ssl", "threading",
                        "_thread", "asyncio", "multiprocessing", "signal"))


def _modules():
    """Every module of the package: dotted name under tcpchat -> path."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _rank(module):
    """(rank, layer name) of a dotted module name under tcpchat: its most specific layer."""
    found = None
    for rank, layer in enumerate(LAYERS):
        for name in (layer if isinstance(layer, tuple) else (layer,)):
            if (module == name or module.startswith(name + ".")) and (
                    found is None or len(name) > len(found[1])):
                found = rank, name
    if found is None:
        raise AssertionError(f"tcpchat/{module.replace('.', '/')}: in no layer; add it to "
                             "LAYERS")
    return found


def _imports(module, path):
    """(what it names at the top level, the tcpchat modules it imports, dotted, resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    outside, inside = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                (inside.append(name[8:]) if name.startswith("tcpchat.")
                 else outside.append(name.split(".")[0]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module
                (inside.append(name[8:]) if name.startswith("tcpchat.")
                 else outside.append(name.split(".")[0]))
                continue
            base = package[:len(package) - (node.level - 1)]
            source = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # a module of that package, or a name from it
                submodule = ".".join(source + [alias.name])
                inside.append(submodule if submodule in MODULES else ".".join(source))
    return outside, [name for name in inside if name and name != "__version__"
                     and not name.endswith(".__version__")]


def test_every_module_is_in_a_layer_and_imports_point_down():
    wrong = []
    for module, path in sorted(MODULES.items()):
        rank, layer = _rank(module)
        for imported in _imports(module, path)[1]:
            their_rank, their_layer = _rank(imported)
            if their_layer != layer and their_rank >= rank:
                wrong.append(f"tcpchat/{module.replace('.', '/')} imports {imported}")
    assert not wrong, "imports that point up or across:\n" + "\n".join(wrong)


def test_the_check_resolves_relative_imports_and_ranks_them(tmp_path):
    path = tmp_path / "state.py"
    path.write_text("from ..commands import plain\nfrom . import config\nimport socket\n")
    outside, inside = _imports("chat.state", path)
    assert inside == ["commands.plain", "chat.config"] and outside == ["socket"]
    assert _rank("commands.plain")[0] > _rank("chat.state")[0]
    assert _rank("text.catalog")[0] < _rank("protocol.names")[0] < _rank("text.display")[0]


def _sans_io_modules():
    return [module for module in MODULES
            if any(module == name or module.startswith(name + ".") for name in SANS_IO)]


def test_no_sans_io_module_imports_io():
    for module in _sans_io_modules() + list(SANS_IO_WITH_EXTRAS):
        outside, _ = _imports(module, MODULES[module])
        assert IO_MODULES.isdisjoint(outside), f"tcpchat.{module} imports I/O"


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
    probe = _PROBE.format(root=ROOT, modules=sorted(_sans_io_modules()))
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True,
                            text=True, timeout=TIMEOUT, check=True)
    loaded = json.loads(result.stdout)
    assert "tcpchat.core" in loaded["new"] and "tcpchat.chat.chat" in loaded["new"]
    assert IO_MODULES.isdisjoint(loaded["new"])
    assert {"socket", "select", "selectors", "ssl", "asyncio"}.isdisjoint(loaded["all"])


def test_every_package_is_installed():
    """setup.cfg names the packages one by one: a new folder left out would be missing from
    a ``pip install .`` while every test of the source tree passed."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    listed = set(config["options"]["packages"].split())
    found = {os.path.relpath(folder, ROOT).replace(os.sep, ".")
             for folder, _dirs, files in os.walk(os.path.join(ROOT, "tcpchat"))
             if "__init__.py" in files}
    assert listed == found
