"""Every sentence the chat page shows, from the same catalogs as the server's: the page fetches
``/texts/LANGUAGE.json`` (:func:`page_texts`) and fills in the ``{placeholders}`` itself.

A key names each sentence for the page's script (``t("joined", {nick})``) and for its HTML
(``data-text="join-button"``); the English is the msgid, so a translator sees the page's
sentences beside the server's in one catalog.
"""

import json

from ..text.catalog import N_, language_name, languages, translations
from ..text.display import AND_MORE, JOINED, LEFT

TEXTS = {
    # The page's HTML.
    "loading": N_("Loading…"),
    "notify": N_("Notify me of mentions and private messages"),
    "notify-title": N_("while this tab is hidden"),
    "login-intro": N_("Everyone here, in the browser, in an IRC client or with netcat, sees "
                      "you by this name."),
    "name-label": N_("Your name"),
    "password-label": N_("Server password"),
    "account-password-label": N_("Your account's password (if this name is registered)"),
    "register-label": N_("Register this name with this password"),
    "join-button": N_("Join the chat"),
    "needs-script": N_("This page needs JavaScript to chat."),
    "tabs-label": N_("Rooms and private messages"),
    "messages-label": N_("Messages"),
    "people": N_("Here"),
    "people-label": N_("Who is here"),
    "line-label": N_("Message (or a command: /help)"),
    "line-placeholder": N_("Message, or /help"),
    "send": N_("Send"),
    "language-label": N_("Language"),
    # What the script says.
    "help-1": N_("/join #room · /part [reason] · /msg name text · /query name · /me does "
                 "something"),
    "help-2": N_("/nick newname · /topic [text] · /quit [reason] · any other /command goes to "
                 "the server as IRC (/whois name, /list, /away text)"),
    "help-3": N_("/avatar https://… shows your picture beside your name · /displayname Your "
                 "Name shows that beside your nick (alone: takes it away) · Alt+1…9: go to a "
                 "tab"),
    "avatar-https": N_("An avatar is the https:// address of a picture."),
    "no-metadata": N_("This server keeps no avatars or display names."),
    "server-tab": N_("Server"),
    "connecting": N_("Connecting…"),
    "reconnecting": N_("Reconnecting…"),
    "connected": N_("Connected"),
    "connected-as": N_("Connected as {nick}"),
    "left-for-good": N_("You left the chat. Reload the page to come back."),
    "lost-retry": N_("Connection lost. Reconnecting in {seconds} s…"),
    "lost": N_("Connection lost; reconnecting…"),
    "not-sent": N_("Not connected: this was not sent."),
    "choose-first": N_("Choose a room or a person first (/join #room)."),
    "too-long": N_("That is {length} characters; a message may have {most}. Nothing was "
                   "sent."),
    "in-room": N_("{nick} in {room}"),
    "idle": N_("{nick} has been idle {idle}, here since {since}"),
    "seconds": N_("{count} s"),
    "minutes": N_("{count} min"),
    "hours": N_("{hours} h {minutes} min"),
    "welcome": N_("Welcome"),
    "bad-name": N_("“{name}” cannot be a name here: {problem}"),
    "name-taken": N_("“{name}” is taken. Choose another name."),
    "needs-password": N_("This server needs a password."),
    "wrong-password": N_("That password is not right."),
    "you-joined": N_("You joined {room}"),
    "joined": N_("→ {nick} joined"),
    "left": N_("← {nick} left"),
    "left-because": N_("← {nick} left ({reason})"),
    "removed": N_("{nick} removed {user} from {room}"),
    "removed-because": N_("{nick} removed {user} from {room}: {reason}"),
    "removed-you": N_("{nick} removed you from {room}"),
    "removed-you-because": N_("{nick} removed you from {room}: {reason}"),
    "mode": N_("{nick} sets mode {modes}"),
    "quit": N_("← {nick} left the chat"),
    "quit-because": N_("← {nick} left the chat ({reason})"),
    "renamed": N_("{nick} is now known as {new_nick}"),
    "topic": N_("{nick} set the topic: {topic}"),
    "renamed-room": N_("{nick} renamed {room} to {new_room}"),
    "renamed-room-because": N_("{nick} renamed {room} to {new_room} ({reason})"),
    "no-topic": N_("{nick} cleared the topic"),
    "closed": N_("The server closed the connection"),
    "choose-name": N_("Choose a name to join."),
    "no-accounts": N_("This server keeps no accounts: join without an account password."),
}


#: Sentences with a count, the page's (``tn("people-joined", count, {...})``): the same ones
#: the server's netcat users and the reference client read.
PLURALS = {"people-joined": JOINED, "people-left": LEFT, "and-more": AND_MORE}
#: The counts whose form the page is told.  A language's plural rule looks at a number's last
#: two digits at most, past the first hundred, so a count past these takes the form of
#: 100 + count % 100.
COUNTS = 200


def plural_forms(catalog, singular, plural):
    """``{"forms": [...], "index": [...]}``: each form of a sentence in *catalog*'s language,
    and the one that each count below :data:`COUNTS` takes."""
    texts = [catalog.ngettext(singular, plural, count) for count in range(COUNTS)]
    forms = list(dict.fromkeys(texts))
    return {"forms": forms, "index": [forms.index(text) for text in texts]}


def page_texts():
    """``/texts/LANGUAGE.json`` for every language there is: its sentences by key, and the
    languages the page may switch to, each named in itself."""
    choices = [[code, language_name(code)] for code in languages()]
    files = {}
    for code in languages():
        catalog = translations(code)
        body = json.dumps({"language": code, "languages": choices,
                           "texts": {key: catalog.gettext(text) for key, text in TEXTS.items()},
                           "plurals": {key: plural_forms(catalog, *sentence)
                                       for key, sentence in PLURALS.items()}},
                          ensure_ascii=False).encode()
        files[f"/texts/{code}.json".encode()] = (b"application/json; charset=utf-8", body)
    return files
