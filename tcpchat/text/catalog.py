"""Every sentence a person reads, as a message id and its arguments, rendered per language.

Call sites write whole sentences in English with named placeholders, as gettext asks (and as
CPython's argparse does), so that a translator can reorder them, and a count goes through
:func:`ngettext`, never through ``'s' if n > 1``.  A brace meant as itself is doubled
(``{{``), as ``str.format`` has it::

    _("Cannot send to {channel}: {reason}", channel=name, reason=refusal)
    ngettext("{count} person joined", "{count} people joined", count, count=count)

What they give is a :class:`Text`: a ``str`` holding the English sentence, so that it goes
wherever a string goes (a Message parameter, a log line, a length check), which also keeps its
message id and arguments, so that it can be rendered again in another language
(:meth:`Text.render`).  Rendering happens when a message is encoded for its recipients: an
:class:`~tcpchat.chat.encoding.Encoding` is per language as it is per capabilities, so a
message is still rendered once per Encoding, not once per recipient; English Encodings render
nothing, their Texts being English already.

The catalogs are gettext's: :func:`translations` gives a language's
(``tcpchat/text/locale/LANGUAGE/LC_MESSAGES/tcpchat.mo``), or English (the message ids
themselves) where there is none; :func:`languages` lists those there are.  ``_`` and
``ngettext`` are the names gettext's extraction tools (xgettext, Babel) look for
(docs/translating.rst).
"""

import functools
import gettext
import pathlib

#: The language of the message ids, and of everyone who asks for none.
ENGLISH = "en"
DOMAIN = "tcpchat"
LOCALE_DIR = pathlib.Path(__file__).parent / "locale"


class Text(str):
    """A sentence for people: its English rendering, with what it was made from."""

    def __new__(cls, msgid, plural=None, count=None, args=None):
        args = args or {}
        source = msgid if plural is None or count == 1 else plural
        text = super().__new__(cls, source.format(**args))
        text.msgid, text.plural, text.count, text.args = msgid, plural, count, args
        return text

    def render(self, catalog):
        """This sentence in *catalog*'s language (a gettext translations object); the
        arguments that are Texts too, in the same language."""
        if self.plural is None:
            template = catalog.gettext(self.msgid)
        else:
            template = catalog.ngettext(self.msgid, self.plural, self.count)
        return template.format(**{name: value.render(catalog) if isinstance(value, Text)
                                  else value for name, value in self.args.items()})

    def __reduce__(self):  # a str subclass pickles by its value alone otherwise
        return Text, (self.msgid, self.plural, self.count, self.args)


def _(msgid, /, **args):
    """The sentence *msgid* with its named placeholders filled from *args*."""
    return Text(msgid, args=args)


def N_(msgid):
    """*msgid* as it is, marked for extraction: a sentence kept in a table and made into a
    Text where it is used (``_(table[key], **args)``)."""
    return msgid


def N_plural(singular, plural):
    """A sentence with a count, marked for extraction as :func:`N_` marks one without: kept
    in a table as ``(singular, plural)`` and made into a Text where it is used
    (``ngettext(*table[key], count)``), or sent to the page in all its forms."""
    return singular, plural


def ngettext(singular, plural, count, /, **args):
    """*singular* or *plural* by *count*, as the language's plural rule has it (Russian has
    three forms); *count* is also the ``{count}`` placeholder unless *args* name it."""
    return Text(singular, plural, count, {"count": count, **args})


@functools.lru_cache(maxsize=None)
def translations(language=ENGLISH):
    """The gettext catalog of *language*: English (the message ids) where there is none."""
    if language == ENGLISH:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)


#: Translated as the name of the catalog's language in that language ("Русский"): how a list
#: of languages names each one.
LANGUAGE_NAME = N_("English")


@functools.lru_cache(maxsize=None)
def languages():
    """The languages there are catalogs for, English first: codes such as ``ru``."""
    found = sorted(path.parent.parent.name
                   for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (ENGLISH, *found)


def language_name(language):
    """*language*'s name in itself (``Русский``)."""
    return translations(language).gettext(LANGUAGE_NAME)


def render(value, catalog):
    """*value* in *catalog*'s language if it is a :class:`Text`, else as it is."""
    return value.render(catalog) if isinstance(value, Text) else value
