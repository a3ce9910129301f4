"""The catalogs (tcpchat/text/locale) and choosing a language: every sentence translated with
the same placeholders, Russian's three plural forms, /lang, LANGUAGE, --lang and the locale,
and a Russian plain session over a socket."""

import gettext
import string

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from helpers import ROOT, Harness, LineSocket, numerics, running_server
from tcpchat.text.arguments import interface_language
from tcpchat.text.catalog import LOCALE_DIR, languages, translations

KEYWORDS = {"_": None, "N_": None, "N_plural": (1, 2), "ngettext": (1, 2)}


def source_messages():
    """Every msgid the source says, as Babel's extraction finds it (singular, or a pair)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            f"{ROOT}/tcpchat", keywords=KEYWORDS):
        found.add(tuple(message) if isinstance(message, (tuple, list)) else message)
    return found


def fields(text):
    return sorted(name for _literal, name, spec, _conversion in string.Formatter().parse(text)
                  if name is not None)


def catalog_source(language):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "tcpchat.po", "rb") as po:
        return read_po(po, locale=language)


#: Every language there is but English, whose catalog is the code itself.
TRANSLATED = languages()[1:]


def test_russian_is_a_language_there_is():
    assert languages() == ("en", "ru")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_sentence_has_a_translation_with_the_same_placeholders(language):
    russian = catalog_source(language)
    wanted = source_messages()
    translated = {tuple(m.id) if isinstance(m.id, (tuple, list)) else m.id: m
                  for m in russian if m.id}
    missing = sorted(map(str, wanted - set(translated)))
    assert not missing, f"no {language} for: {missing}"
    for msgid in wanted:
        message = translated[msgid]
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        forms = message.string if isinstance(message.string, (tuple, list)) else [message.string]
        assert all(forms), f"empty translation of {msgid!r}"
        assert "fuzzy" not in message.flags, f"a fuzzy translation of {msgid!r}"
        for form in forms:
            assert fields(form) == fields(singular), f"{form!r} against {singular!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_the_source_catalog(language):
    russian = catalog_source(language)
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "tcpchat.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for message in russian:
        if not message.id:
            continue
        if isinstance(message.id, (tuple, list)):
            for count, form in ((1, 0), (2, 1), (5, 2)):
                assert compiled.ngettext(*message.id, count) == message.string[form]
        else:
            assert compiled.gettext(message.id) == message.string


@pytest.mark.parametrize("count, said", [
    (1, "[1 сообщение потеряно]"), (2, "[2 сообщения потеряны]"),
    (5, "[5 сообщений потеряно]"), (11, "[11 сообщений потеряно]"),
    (21, "[21 сообщение потеряно]"), (22, "[22 сообщения потеряны]")])
def test_russian_has_three_plural_forms(count, said):
    from tcpchat.text.catalog import ngettext
    text = ngettext("[{count} message lost]", "[{count} messages lost]", count)
    assert text.render(translations("ru")) == said
    assert str(text) == f"[{count} message{'' if count == 1 else 's'} lost]"


@pytest.mark.parametrize("argv, environ, language", [
    (["--lang", "ru"], {}, "ru"), (["--lang=ru"], {"LANG": "en_US.UTF-8"}, "ru"),
    ([], {"LANG": "ru_RU.UTF-8"}, "ru"), ([], {"LC_ALL": "ru_RU", "LANG": "en_US"}, "ru"),
    ([], {"LANGUAGE": "de:ru", "LANG": "en_US"}, "ru"), ([], {"LANGUAGE": "de"}, "en"),
    ([], {"LANG": "de_DE", "LC_MESSAGES": "ru_RU"}, "ru"), ([], {}, "en"),
    (["--lang", "xx"], {"LANG": "ru_RU"}, "en"), ([], {"LANG": "C"}, "en"),
])
def test_the_command_lines_language_is_lang_then_the_locale(argv, environ, language):
    assert interface_language(argv, environ) == language


def test_lang_lists_the_languages_and_switches_a_plain_user():
    chat = Harness(flood=None)
    ann, bob = chat.plain("ann"), chat.plain("bob")
    ann.lines()
    ann.send("/lang")
    assert ann.lines() == [
        "*** Languages: en (English), ru (Русский). Yours: en. /lang CODE changes it."]
    ann.send("/lang xx", "/lang ru")
    assert ann.lines() == ["! There is no language xx here: /lang lists those there are",
                           "*** Теперь ваш язык — Русский."]
    bob.send("hello", "/me waves")
    assert ann.lines() == ["bob: hello", "* bob waves"]
    bob.send("/quit")
    assert ann.lines() == ["* bob ушёл (Вышел)"]


def test_language_sets_an_irc_users_language_and_one_message_is_rendered_once_a_language():
    chat = Harness(flood=None)
    peer = chat.connect()
    peer.send("LANGUAGE ru", "NICK ivan", "USER ivan 0 * :Ivan")
    replies = numerics(peer)
    assert replies[0] == ("687", ("*", "ru", "Язык выбран"))
    assert ("001", ("ivan", "Добро пожаловать в сеть tcpchat, ivan!ivan@127.0.0.1")) in replies
    isupport = " ".join(" ".join(params) for command, params in replies if command == "005")
    assert "LANGUAGE=2,en,ru" in isupport
    peer.send("PRIVMSG nobody :hi", "LANGUAGE de fr", "LANGUAGE en ru de", "LANGUAGE xx,en")
    assert numerics(peer) == [
        ("401", ("ivan", "nobody", "Нет такого пользователя или канала")),
        ("982", ("ivan", "de,fr", "Эти языки сервер не поддерживает")),
        ("981", ("ivan", "2", "Вы указали слишком много языков")),
        ("687", ("ivan", "en", "Language preferences have been set"))]


def test_a_servers_default_language_is_everyones_until_they_choose():
    chat = Harness(flood=None, language="ru")
    peer = chat.connect()
    peer.send("ann")
    assert peer.lines() == ["*** Добро пожаловать, ann! Вы в #lobby, пока одни.",
                            "*** Введите строку и нажмите Enter, чтобы говорить; /help "
                            "показывает список команд."]


def test_a_russian_plain_session_over_a_socket():
    with running_server(flood=None, language="ru") as server:
        ann = LineSocket(server.address)
        greeting = ann.read_line()
        assert greeting.startswith("NOTICE * :*** Добро пожаловать в tcpchat.")
        assert greeting.endswith("(In English: /lang en · По-русски: /lang ru)")
        ann.send("ann")
        ann.expect("Вы в #lobby, пока одни")
        bob = LineSocket(server.address)
        bob.send("ann")
        assert bob.expect("Имя ann занято") == "! Имя ann занято. Введите другое имя:"
        bob.send("bob")
        bob.expect("Добро пожаловать, bob! Вы в #lobby вместе с @ann.")
        assert ann.expect("bob") == "* bob вошёл в #lobby"
        ann.send("привет, bob")
        assert bob.expect("привет") == "ann: привет, bob"
        bob.send("/help")
        bob.expect("Введите строку и нажмите Enter, чтобы написать в комнату. Команды:")
        ann.send("/voice bob", "/kick bob хватит")
        assert bob.expect("* ann дал") == "* ann дал bob голос в #lobby"
        assert bob.expect("* ann удалил") == "* ann удалил bob из #lobby (хватит)"
        ann.send("/lang en", "/quit")
        ann.expect("Your language is now English.")
        assert ann.read_all()[-1] == "*** Closing link: Quit"
        bob.close()


def test_who_counts_people_in_russians_three_plural_forms_over_a_socket():
    forms = {1: "участник", 2: "участника", 5: "участников", 11: "участников",
             21: "участник", 22: "участника"}
    with running_server(flood=None, language="ru") as server:
        people = []
        try:
            for count in range(1, 23):
                person = LineSocket(server.address)
                person.send(f"u{count}")
                person.expect("Добро пожаловать")
                people.append(person)
                if count in forms:
                    people[0].send("/who")
                    said = people[0].expect(f"{count} {forms[count]}:")
                    assert said.startswith(f"*** В #lobby {count} {forms[count]}: @u1")
        finally:
            for person in people:
                person.close()


def test_the_page_is_told_every_plural_form_and_which_count_takes_which():
    """The page picks a form as chat.js's tn() does: by the table below 200, past it by
    100 + count % 100; it must agree with the catalog's own rule at any count."""
    from tcpchat.text.display import JOINED
    from tcpchat.transports.pagetext import COUNTS, plural_forms
    catalog = translations("ru")
    table = plural_forms(catalog, *JOINED)
    assert len(table["forms"]) == 3 and len(table["index"]) == COUNTS
    for count in (0, 1, 2, 5, 11, 12, 21, 22, 25, 101, 111, 121, 200, 1001, 1012, 12345):
        shown = table["forms"][table["index"][count if count < COUNTS else 100 + count % 100]]
        assert shown == catalog.ngettext(*JOINED, count), count
