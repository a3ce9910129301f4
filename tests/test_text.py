"""The text layer (tcpchat.text.catalog): sentences as message ids with named arguments,
rendered per language when a message is encoded, once per Encoding; and a check over the
source that every sentence is whole and names its placeholders."""

import ast
import pathlib
import re
import struct

import pytest

from helpers import ROOT, Harness
from tcpchat.text import catalog
from tcpchat.text.catalog import _, ngettext

#: A made-up catalog for a language nothing ships (Latin), as a translator would add one.
LATIN = {
    "": "Content-Type: text/plain; charset=UTF-8\n"
        "Plural-Forms: nplurals=2; plural=(n != 1);\n",
    "* {nick} joined {channel}": "* {nick} intravit in {channel}",
    "No such nick/channel": "Nemo nec canalis hoc nomine",
    "*** Welcome, {nick}! You are in {channel} on your own for now.":
        "*** Salve, {nick}! In {channel} solus es.",
    "*** Welcome, {nick}! You are in {channel} with {names}.":
        "*** Salve, {nick}! In {channel} es cum {names}.",
    ("{names} and {count} more", "{names} and {count} more"):
        ("{names} et {count} alius", "{names} et {count} alii"),
    "Quit": "Exiit",
    "* {nick} left ({reason})": "* {nick} abiit ({reason})",
    ("operator online", "operators online"): ("operator adest", "operatores adsunt"),
}


def write_mo(path, entries):
    """A GNU gettext .mo file of *entries* (msgid or (singular, plural) -> str or forms)."""
    def key(item):
        return "\0".join(item) if isinstance(item, tuple) else item
    pairs = sorted(((key(k).encode(), key(v).encode()) for k, v in entries.items()))
    count = len(pairs)
    originals_at, translations_at = 28, 28 + 8 * count
    data_at = translations_at + 8 * count
    originals = translated = strings = b""
    for original, translation in pairs:
        originals += struct.pack("<2I", len(original), data_at + len(strings))
        strings += original + b"\0"
    for original, translation in pairs:
        translated += struct.pack("<2I", len(translation), data_at + len(strings))
        strings += translation + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + originals + translated + strings)


@pytest.fixture
def latin(tmp_path, monkeypatch):
    write_mo(tmp_path / "la" / "LC_MESSAGES" / "tcpchat.mo", LATIN)
    monkeypatch.setattr(catalog, "LOCALE_DIR", tmp_path)
    catalog.translations.cache_clear()
    yield catalog.translations("la")
    catalog.translations.cache_clear()


def test_a_text_is_its_english_sentence_and_keeps_what_it_was_made_of():
    text = _("* {nick} joined {channel}", nick="ann", channel="#lobby")
    assert text == "* ann joined #lobby" and isinstance(text, str)
    assert text.msgid == "* {nick} joined {channel}" and text.args["nick"] == "ann"
    assert ngettext("{count} apple", "{count} apples", 1) == "1 apple"
    assert ngettext("{count} apple", "{count} apples", 3) == "3 apples"
    assert ngettext("operator online", "operators online", 0) == "operators online"


def test_a_catalog_renders_whole_sentences_plurals_and_nested_texts(latin):
    joined = _("* {nick} joined {channel}", nick="ann", channel="#lobby")
    assert joined.render(latin) == "* ann intravit in #lobby"
    assert ngettext("operator online", "operators online", 1).render(latin) == "operator adest"
    assert ngettext("operator online", "operators online", 2).render(latin) == \
        "operatores adsunt"
    quit = _("* {nick} left ({reason})", nick="bob", reason=_("Quit"))
    assert quit.render(latin) == "* bob abiit (Exiit)"
    assert _("Not in the catalog").render(latin) == "Not in the catalog"  # English stands


def test_users_of_another_language_read_the_servers_sentences_in_it(latin):
    chat = Harness(flood=None)
    english = chat.irc("ann")
    quintus = chat.connect()
    quintus.client.set_language("la")
    quintus.send("NICK quintus", "USER q 0 * :Quintus")
    quintus.lines(), english.output()
    quintus.send("PRIVMSG nobody :salve")
    assert quintus.lines() == [":tcpchat 401 quintus nobody :Nemo nec canalis hoc nomine"]
    english.send("PRIVMSG nobody :hi")
    assert english.lines() == [":tcpchat 401 ann nobody :No such nick/channel"]

    marcus = chat.connect()
    marcus.client.set_language("la")
    marcus.send("marcus")  # plain mode
    assert marcus.lines()[0] == "*** Salve, marcus! In #lobby es cum @ann, quintus."
    english.output()
    plain_en = chat.plain("pat")
    assert marcus.lines() == ["* pat intravit in #lobby"]
    assert plain_en.client.encoding is not marcus.client.encoding


def test_a_sentence_is_rendered_once_per_encoding_not_once_per_recipient(latin, monkeypatch):
    chat = Harness(flood=None)
    readers = []
    for number in range(20):
        peer = chat.connect()
        peer.client.set_language("la")
        peer.send(f"reader{number}")
        readers.append(peer)
    for peer in readers:
        peer.output()
    renders = []
    gettext = type(latin).gettext
    monkeypatch.setattr(type(latin), "gettext",
                        lambda self, msgid: renders.append(msgid) or gettext(self, msgid))
    chat.plain("late")
    assert all(peer.lines() == ["* late intravit in #lobby"] for peer in readers)
    assert renders.count("* {nick} joined {channel}") == 1


# -- The source ------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}!:]*)[^{}]*\}(?!\})")


def _sentences():
    """Every _() and ngettext() call in the package with literal text: (where, ids, names)."""
    for path in sorted((pathlib.Path(ROOT) / "tcpchat").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "ngettext")):
                continue
            count = 2 if node.func.id == "ngettext" else 1
            ids = [arg.value for arg in node.args[:count] if isinstance(arg, ast.Constant)]
            if len(ids) != count:
                continue  # a msgid from a table (N_), checked where it is marked
            names = {keyword.arg for keyword in node.keywords}
            if node.func.id == "ngettext":
                names.add("count")
            yield f"{path.relative_to(ROOT)}:{node.lineno}", ids, names


def test_every_sentence_names_each_placeholder_and_is_given_each():
    sentences = list(_sentences())
    assert len(sentences) > 150
    wrong = []
    for where, ids, names in sentences:
        for msgid in ids:
            used = set(_PLACEHOLDER.findall(msgid))
            if "" in used:
                wrong.append(f"{where}: {msgid!r} has a placeholder with no name")
            elif used - names or (len(ids) == 1 and names - used):
                wrong.append(f"{where}: {msgid!r} uses {sorted(used)}, given {sorted(names)}")
    assert not wrong, "\n".join(wrong)
