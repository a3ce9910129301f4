"""Command lines that speak the user's language: the server's and the client's ``--help`` and
the errors of their options, from the same catalogs as everything else.

Which language: ``--lang CODE`` on the command line if it is there (read before the options
are, since it says how to word their help), else the locale's (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``, as gettext reads them), else English.  argparse's own few words
("usage:", "options:") are argparse's and stay as Python has them.
"""

import argparse
import getpass

from .catalog import ENGLISH, Text, _, languages, render, translations

_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def interface_language(argv, environ):
    """The language a program started with *argv* in *environ* speaks (see the module doc)."""
    for index, word in enumerate(argv):
        if word == "--lang" or word.startswith("--lang="):
            following = argv[index + 1] if index + 1 < len(argv) else ""
            wanted = word.partition("=")[2] or following
            return wanted if wanted in languages() else ENGLISH
    # As gettext reads them: the first of the variables that is set, and in it, the first
    # language there is a catalog for.
    for variable in _LOCALE_VARIABLES:
        if environ.get(variable):
            for value in environ[variable].split(":"):
                code = value.partition(".")[0].partition("_")[0].lower()
                if code in languages():
                    return code
            break
    return ENGLISH


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, with its descriptions, help and errors rendered in *language*."""

    def __init__(self, *args, language=ENGLISH, **kwargs):
        self.catalog = translations(language)
        if "description" in kwargs:
            kwargs["description"] = self._say(kwargs["description"])
        super().__init__(*args, **kwargs)

    def _say(self, text):
        return render(text, self.catalog)

    def _helped(self, kwargs):
        if "help" in kwargs:
            kwargs["help"] = self._say(kwargs["help"])
        return kwargs

    def add_argument(self, *args, **kwargs):
        return super().add_argument(*args, **self._helped(kwargs))

    def add_argument_group(self, title=None, description=None, **kwargs):
        group = super().add_argument_group(self._say(title), self._say(description), **kwargs)
        add = group.add_argument
        group.add_argument = lambda *args, **kwargs: add(*args, **self._helped(kwargs))
        return group

    def error(self, message):
        super().error(self._say(message))

    def exit(self, status=0, message=None):
        """Exit, saying *message* first: a sentence (a Text) in the parser's language, on a
        line of its own; argparse's own messages as they come."""
        if isinstance(message, Text):
            message = self._say(message) + "\n"
        super().exit(status, message)


def read_new_password(stdin):
    """A new password: typed twice without echo where *stdin* is a terminal, else its first
    line.  ``(password, None)``, or ``(None, why not)``."""
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            return None, _("The two passwords differ; nothing changed.")
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        return None, _("An empty password cannot be used.")
    return password, None
