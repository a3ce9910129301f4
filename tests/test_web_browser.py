"""The chat page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven with Selenium, beside a TCP user, as people would use it.

Skipped, with the reason, where Selenium or the browser is missing; ``.ci/run`` installs them.
With ``TCPCHAT_SCREENSHOT=FILE`` set, the conversation test saves the page as FILE (PNG): that
is how docs/web.png is made.
"""

import contextlib
import os
import re
import shutil
import tempfile

import pytest

from helpers import (TIMEOUT, LineSocket, register_irc, register_plain, running_server,
                     web_backend)
from tcpchat.store.accounts import Accounts
from tcpchat.store.memory import ListStore

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no browser: apt-get install chromium chromium-driver (Debian)")

#: What a message from a hostile user holds: were it taken as markup, the page's title changes.
HOSTILE = """<img src=x onerror="document.title='pwned'"><b>bold?</b>"""


class Browser:
    """A headless Chromium of one language and window size, driven through chromedriver.
    Launching one takes most of a second, so each is lent to one page at a time and kept for
    the next test that asks for the same (each test's server has a port, so an origin, of its
    own; what a page kept there is cleared all the same, as a port may come again)."""

    #: Browsers not lent now, by (language, width, height); quit when the module is done.
    idle = {}

    def __init__(self, language, width, height):
        self.kind = (language, width, height)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        options.add_argument(f"--lang={language}")
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        self.profile = tempfile.TemporaryDirectory(prefix="tcpchat-chromium-")
        # A machine with no network: Chromium's own background traffic is turned off.
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-quic", f"--window-size={width},{height}",
                     f"--user-data-dir={self.profile.name}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options,
                                       service=webdriver.ChromeService(CHROMEDRIVER))
        self.driver.set_page_load_timeout(TIMEOUT)

    @classmethod
    def lend(cls, *kind):
        idle = cls.idle.get(kind)
        return idle.pop() if idle else cls(*kind)

    def give_back(self):
        """Forget the page (its storage, its other tabs) and wait for the next; a browser that
        cannot be brought back to a blank tab is quit instead."""
        try:
            self.driver.execute_script("localStorage.clear(); sessionStorage.clear();")
            self.driver.delete_all_cookies()
            for handle in self.driver.window_handles[1:]:
                self.driver.switch_to.window(handle)
                self.driver.close()
            self.driver.switch_to.window(self.driver.window_handles[0])
            self.driver.get("about:blank")
        except Exception:  # an alert left open, a crashed tab: a new browser costs a second
            self.quit()
            return
        self.idle.setdefault(self.kind, []).append(self)

    def quit(self):
        self.driver.quit()
        self.profile.cleanup()


@pytest.fixture(scope="module", autouse=True)
def _browsers():
    yield
    for browsers in Browser.idle.values():
        for browser in browsers:
            browser.quit()
    Browser.idle.clear()


class Page:
    """One person's browser tab on the chat page."""

    def __init__(self, address, width=1000, height=640, language="en-US"):
        self.browser = Browser.lend(language, width, height)
        self.driver = self.browser.driver
        self.driver.get(f"http://{address[0]}:{address[1]}/")

    def wait(self, condition, what):
        return WebDriverWait(self.driver, TIMEOUT).until(lambda _: condition(), message=what)

    def type(self, text):
        """Keys into whatever has the focus, then Enter: the keyboard alone."""
        self.driver.switch_to.active_element.send_keys(text, Keys.ENTER)

    def log(self):
        """The text of the messages shown now (the active tab's)."""
        return self.driver.execute_script(
            "const log = document.querySelector('.log:not([hidden])');"
            "return log ? log.innerText : '';")

    def sees(self, text):
        return self.wait(lambda: text in self.log(), f"{text!r} on the page")

    def join(self, name, joined="You joined #lobby"):
        self.wait(lambda: self.driver.find_element(By.ID, "name").is_displayed(), "the form")
        assert not self.driver.find_element(By.ID, "line").is_displayed()
        self.type(name)
        self.wait(lambda: not self.driver.find_element(By.ID, "name").is_displayed(),
                  "the form gone")
        assert self.driver.find_element(By.ID, "line").is_displayed()
        self.sees(joined)

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def close(self):
        self.browser.give_back()


@pytest.fixture
def pages():
    opened = []

    def open_page(address, **size):
        opened.append(Page(address, **size))
        return opened[-1]
    yield open_page
    for page in opened:
        page.close()


def test_two_browser_users_and_a_tcp_user_chat(pages):
    with running_server(start=web_backend()) as server:
        ann = pages(server.web_address)
        ann.join("ann")
        bea = pages(server.web_address)
        bea.join("bea")
        carl = register_irc(server.address, "carl")
        ann.sees("carl joined")

        ann.type("hello from ann's browser")
        bea.sees("hello from ann's browser")
        assert carl.expect("PRIVMSG") == (
            ":ann!ann@127.0.0.1 PRIVMSG #lobby :hello from ann's browser")
        carl.send("PRIVMSG #lobby :hi browsers, carl here over TCP")
        ann.sees("hi browsers, carl here over TCP")
        bea.sees("hi browsers, carl here over TCP")
        assert bea.driver.execute_script(
            "return [...document.querySelectorAll('#members li')].map(li => li.textContent)"
        ) == ["@ann", "bea", "carl"]

        bea.type("/me waves")
        ann.sees("* bea waves")
        assert carl.expect("PRIVMSG") == ":bea!bea@127.0.0.1 PRIVMSG #lobby :\x01ACTION waves\x01"

        # A long line goes out in pieces, each one line once the server puts "ann!..." before
        # it (400 Cyrillic letters are 800 bytes: one PRIVMSG would get 417).
        long_line = "слово " * 65 + "конец"  # 395 letters: the box takes 400
        ann.type(long_line)
        texts = []
        for _ in range(3):
            line = carl.expect("PRIVMSG")
            assert len(line.encode()) + 2 <= 512
            texts.append(line.split(" :", 1)[1])
            if "".join(texts) == long_line:
                break
        assert "".join(texts) == long_line and len(texts) == 2

        # A taken name is refused on the page, which asks again.
        late = pages(server.web_address)
        late.wait(lambda: late.driver.find_element(By.ID, "name").is_displayed(), "the form")
        late.type("ann")
        late.wait(lambda: "is taken" in late.text("login-error"), "the name is taken")
        late.type("cat")  # over the refused name, which the page selected
        late.sees("You joined #lobby")
        ann.sees("cat joined")

        # Text is text: markup from another user is shown, never run.
        carl.send(f"PRIVMSG #lobby :{HOSTILE}")
        for page in (ann, bea, late):
            page.sees(HOSTILE)
            assert page.driver.execute_script(
                "return document.querySelectorAll('#views img, #views b').length") == 0
            assert page.driver.title == "tcpchat"

        # A private message opens its own tab.
        carl.send("PRIVMSG ann :just between us")
        ann.wait(lambda: ann.driver.find_elements(By.XPATH, "//nav[@id='tabs']/button"
                                                            "[text()='carl']"), "carl's tab")
        assert "just between us" not in ann.log()  # #lobby stays in front
        ann.driver.find_element(By.XPATH, "//nav[@id='tabs']/button[text()='carl']").click()
        ann.sees("just between us")
        ann.type("and back")
        assert carl.expect("PRIVMSG carl") == ":ann!ann@127.0.0.1 PRIVMSG carl :and back"
        ann.driver.find_element(By.XPATH, "//nav[@id='tabs']/button[text()='#lobby']").click()
        if os.environ.get("TCPCHAT_SCREENSHOT"):
            ann.driver.save_screenshot(os.environ["TCPCHAT_SCREENSHOT"])

        # Rooms, topics and names from the message box.
        ann.type("/join #games")
        ann.sees("You joined #games")
        ann.type("/topic chess at five")
        ann.wait(lambda: ann.text("topic") == "chess at five", "the topic shown")
        ann.type("/part")
        ann.wait(lambda: not ann.driver.find_elements(
            By.XPATH, "//nav[@id='tabs']/button[text()='#games']"), "#games closed")
        bea.type("/nick bee")
        ann.sees("bea is now known as bee")  # in #lobby, in front again
        ann.type("/mode #lobby +v bee")  # any other command goes to the server as it is
        ann.sees("ann sets mode +v bee")
        ann.wait(lambda: "+bee" in ann.text("members").split(), "bee's voice in the list")

        bea.type("/quit off for lunch")
        ann.sees("bee left the chat (Quit: off for lunch)")


def test_the_page_reconnects_by_itself_and_says_so(pages):
    with running_server(start=web_backend()) as server:
        address = server.web_address
        ann = pages(address)
        ann.join("ann")
    # The server is gone: the page says so, and keeps trying.
    ann.wait(lambda: "Reconnecting" in ann.text("status"), "the page noticing")
    with running_server(start=web_backend(port=address[1])) as server:
        ann.wait(lambda: ann.text("status") == "Connected as ann", "the page back")
        ann.sees("You joined #lobby")
        carl = register_irc(server.address, "carl")
        ann.type("back again")
        assert carl.expect("PRIVMSG").endswith(":back again")


def test_a_phone_width_page_folds_the_people_list(pages):
    with running_server(start=web_backend()) as server:
        phone = pages(server.web_address, width=390, height=800)
        phone.join("pat")
        members = phone.driver.find_element(By.ID, "members")
        assert not members.is_displayed()
        phone.driver.find_element(By.ID, "people-toggle").click()
        assert members.is_displayed() and members.text == "@pat"
        line = phone.driver.find_element(By.ID, "line")
        assert line.is_displayed() and line.size["width"] > 200


def test_the_page_asks_for_the_servers_password_and_connects_once(pages):
    with running_server(start=web_backend(), password="classpw") as server:
        core = server.core
        connects = []
        real_connect = core.connect

        def counted(peer, transport, dialect=None):
            connects.append(peer)
            return real_connect(peer, transport, dialect)
        core.connect = counted
        watcher = register_with_password(server.address, "watcher", "classpw")

        ann = pages(server.web_address)
        password = ann.driver.find_element(By.ID, "password")
        ann.wait(lambda: password.is_displayed(), "the password box, up front")
        ann.driver.find_element(By.ID, "name").send_keys("ann")
        password.send_keys("classpw", Keys.ENTER)
        ann.sees("You joined #lobby")
        assert ann.text("status") == "Connected as ann"
        assert watcher.expect("JOIN") == ":ann!ann@127.0.0.1 JOIN #lobby"
        ann.type("hello with the password")
        assert watcher.expect("PRIVMSG") == ":ann!ann@127.0.0.1 PRIVMSG #lobby :hello with " \
                                            "the password"
        assert len(connects) == 2  # the watcher's and the page's one
        assert "Bad password" not in ann.log()


def test_a_wrong_password_is_asked_again_without_reconnecting(pages):
    with running_server(start=web_backend(), password="classpw") as server:
        bea = pages(server.web_address)
        password = bea.driver.find_element(By.ID, "password")
        bea.wait(lambda: password.is_displayed(), "the password box")
        bea.driver.find_element(By.ID, "name").send_keys("bea")
        password.send_keys("wrong", Keys.ENTER)
        bea.wait(lambda: bea.text("login-error") == "That password is not right.",
                 "the refusal said")
        assert "Reconnecting" not in bea.text("status")
        assert bea.driver.switch_to.active_element == password
        password.clear()
        password.send_keys("classpw", Keys.ENTER)
        bea.sees("You joined #lobby")
        watcher = register_with_password(server.address, "watcher", "classpw")
        watcher.send("NAMES #lobby")
        assert watcher.expect(" 353 ").endswith(":@bea watcher")  # bea once, not bea_ too


def test_an_older_server_that_says_464_gets_the_password_asked(pages):
    """Without /server.json's word (a page cached from an older server), the refusal asks."""
    with running_server(start=web_backend(), password="classpw") as server:
        cy = pages(server.web_address)
        password = cy.driver.find_element(By.ID, "password")
        cy.wait(lambda: password.is_displayed(), "server.json answered")  # then, as if not:
        cy.driver.execute_script(
            "const box = document.getElementById('password');"
            "box.required = false; box.hidden = box.labels[0].hidden = true;")
        cy.driver.find_element(By.ID, "name").click()
        cy.type("cy")
        cy.wait(lambda: password.is_displayed(), "the password box after the refusal")
        assert cy.text("login-error") == "This server needs a password."
        assert "Reconnecting" not in cy.text("status")
        password.send_keys("classpw", Keys.ENTER)
        cy.sees("You joined #lobby")


def register_with_password(address, nick, password):
    """An IRC user on *address* that gives *password*, registered and in #lobby."""
    user = LineSocket(address)
    user.send(f"PASS {password}", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    user.expect(f" 366 {nick} ")
    return user


def test_a_name_that_cannot_be_one_is_refused_whole_not_cut(pages):
    """ "John Smith" joined as John, and ":colon" as colon (issue 30): now the server judges
    the whole name and the page says what was wrong."""
    with running_server(start=web_backend()) as server:
        watcher = register_irc(server.address, "watcher")
        page = pages(server.web_address)
        page.wait(lambda: page.driver.find_element(By.ID, "name").is_displayed(), "the form")
        page.type("John Smith")
        page.wait(lambda: page.text("login-error") == "“John Smith” cannot be a name here: "
                                                      "Erroneous nickname: it holds a space",
                  "the refusal")
        page.type(":colon")  # over the refused name, which the page selected
        page.wait(lambda: "“:colon” cannot be a name here" in page.text("login-error"),
                  "the second refusal")
        page.type("John")
        page.sees("You joined #lobby")
        assert watcher.expect("JOIN").startswith(":John!")
        page.type("/nick Mary Jane")
        page.sees("“Mary Jane” cannot be a name here: Erroneous nickname: it holds a space")
        watcher.send("PING :still John")
        assert watcher.expect(lambda line: "NICK" in line or "PONG" in line).endswith(
            ":still John")  # John did not become Mary


def test_a_long_paste_goes_out_whole_and_a_too_long_one_is_refused_saying_so(pages):
    """A 749-character paste lost its last 70 words to the box's maxlength (issue 30)."""
    with running_server(start=web_backend()) as server:
        carl = register_irc(server.address, "carl")
        ann = pages(server.web_address)
        ann.join("ann")
        paste = " ".join(f"word{number}" for number in range(107)) + " end"  # 749 characters
        assert len(paste) == 749
        line = ann.driver.find_element(By.ID, "line")
        line.send_keys(paste, Keys.ENTER)  # typed: a maxlength would cut it, as a paste
        texts = []
        while "".join(texts) != paste:
            texts.append(carl.expect("PRIVMSG").split(" :", 1)[1])
            assert len(texts) <= 3
        too_long = "x" * 8001
        ann.driver.execute_script("arguments[0].value = arguments[1];", line, too_long)
        line.send_keys(Keys.ENTER)
        ann.sees("That is 8001 characters; a message may have 8000. Nothing was sent.")
        carl.send("PING :nothing else")
        assert carl.expect(lambda text: "PRIVMSG" in text or "PONG" in text).endswith(
            ":nothing else")


def test_the_server_tab_reads_as_sentences_and_quitting_is_no_error(pages):
    """The Server tab was a raw dump ("2 3 Current local users 2, max 3", WHOIS times as
    numbers), a missing MOTD an error, and /quit red with a stale people list (issue 30)."""
    with running_server(start=web_backend()) as server:
        carl = register_irc(server.address, "carl")
        ann = pages(server.web_address)
        ann.join("ann")
        ann.type("/whois carl")
        ann.driver.find_element(By.XPATH, "//nav[@id='tabs']/button[text()='Server']").click()
        ann.sees("carl has been idle")
        lines = ann.log().splitlines()
        assert any(line.endswith("Current local users 2, max 2") for line in lines)
        assert not any(re.search(r"\b\d+ \d+ Current", line) for line in lines)
        assert not any("has been idle" in line and re.search(r"idle \d+ \d+", line)
                       for line in lines)
        errors = ann.driver.execute_script(
            "return [...document.querySelectorAll('#views .error')].map(e => e.textContent)")
        assert not any("MOTD" in error for error in errors)
        ann.type("/quit see you")
        ann.wait(lambda: "You left the chat" in ann.text("status"), "the goodbye")
        assert ann.driver.execute_script(
            "return document.querySelectorAll('#members li').length") == 0
        errors = ann.driver.execute_script(
            "return [...document.querySelectorAll('#views .error')].map(e => e.textContent)")
        assert not any("Closing link" in error for error in errors)
        assert carl.expect("QUIT").endswith(":Quit: see you")


def test_links_open_in_a_new_tab_mentions_stand_out_and_notify_while_hidden(pages):
    """What a class expects of the page next (issue 30): links, highlights, notifications."""
    with running_server(start=web_backend()) as server:
        carl = register_irc(server.address, "carl")
        ann = pages(server.web_address)
        ann.join("ann")
        carl.send("PRIVMSG #lobby :see https://example.org/page?q=1, or javascript:alert(1)")
        ann.sees("javascript:alert(1)")
        links = ann.driver.execute_script(
            "return [...document.querySelectorAll('#views a')].map("
            "a => [a.getAttribute('href'), a.target, a.rel, a.textContent])")
        assert links == [["https://example.org/page?q=1", "_blank", "noopener noreferrer",
                          "https://example.org/page?q=1"]]
        assert ann.driver.title == "tcpchat"

        # A hidden tab, a browser that granted notifications, the box ticked.
        ann.driver.execute_script(
            "window.notes = [];"
            "window.Notification = function (title, options) {"
            "  window.notes.push([title, options.body]); };"
            "Notification.permission = 'granted';"
            "Object.defineProperty(document, 'hidden', {get: () => true});")
        ann.driver.find_element(By.ID, "notify").click()
        carl.send("PRIVMSG #lobby :annabel is someone else", "PRIVMSG #lobby :hey ANN, look",
                  "PRIVMSG ann :just between us")
        ann.wait(lambda: len(ann.driver.execute_script("return window.notes")) == 2,
                 "two notifications")
        assert ann.driver.execute_script("return window.notes") == [
            ["carl in #lobby", "hey ANN, look"], ["carl", "just between us"]]
        highlighted = ann.driver.execute_script(
            "return [...document.querySelectorAll('#views li.mention')].map("
            "li => li.textContent)")
        assert len(highlighted) == 1 and highlighted[0].endswith("hey ANN, look")
        assert ann.driver.execute_script("return localStorage.getItem('tcpchat-notify')") == "yes"


def test_the_page_loads_a_rooms_history_on_joining_and_earlier_lines_when_scrolled_up(pages):
    with running_server(start=web_backend(), history=ListStore(), flood=None) as server:
        carl = register_irc(server.address, "carl")
        carl.send(*[f"PRIVMSG #lobby :line {number:02}" for number in range(80)])
        carl.send("PING :said")
        carl.expect("PONG")
        ann = pages(server.web_address)
        ann.join("ann")
        ann.sees("line 79")
        assert "line 30" in ann.log() and "line 29" not in ann.log()  # the last 50
        ann.driver.execute_script("document.querySelector('.log:not([hidden])').scrollTop = 0")
        ann.sees("line 00")
        shown = ann.log()
        assert [shown.count(f"line {number:02}") for number in range(80)] == [1] * 80
        assert shown.index("line 00") < shown.index("line 79") < shown.index("You joined")
        assert ann.driver.execute_script(
            "return document.querySelectorAll('.log:not([hidden]) li.history').length") == 80


def test_a_pasted_block_goes_out_as_one_message_and_one_is_shown_as_a_block(pages):
    """draft/multiline on the page: a paste of lines is one message (a batch), read by an
    IRC client with the capability as one, by one without it line by line, by a plain user
    as a block; a batch from an IRC client is one block on the page, live and from history."""
    with running_server(start=web_backend(), history=ListStore()) as server:
        modern = LineSocket(server.address)
        modern.send("CAP REQ :batch draft/multiline", "NICK modern", "USER modern 0 * :m",
                    "CAP END")
        modern.expect(" 366 ")
        carl = register_irc(server.address, "carl")
        nadia = register_plain(server.address, "nadia")
        ann = pages(server.web_address)
        ann.join("ann")
        line = ann.driver.find_element(By.ID, "line")
        block = "def f():\n    return 1\n\nprint(f())"
        ann.driver.execute_script("arguments[0].value = arguments[1];", line, block)
        line.send_keys(Keys.ENTER)
        opening = modern.expect(" BATCH +")
        assert opening.endswith(" draft/multiline #lobby")
        said = [modern.read_line() for _ in range(5)]
        assert [text.split(" :", 2)[-1] for text in said[:4]] == [
            "def f():", "    return 1", "", "print(f())"]
        assert " BATCH -" in said[4]
        assert [carl.expect("PRIVMSG").split(" :", 1)[1] for _ in range(3)] == [
            "def f():", "    return 1", "print(f())"]
        assert nadia.expect("ann: ") == "ann: def f():"
        assert [nadia.read_line() for _ in range(3)] == ["         return 1", "",
                                                          "     print(f())"]
        ann.sees("print(f())")
        assert "def f():\n    return 1\n\nprint(f())" in ann.log()
        # From an IRC client: one message on the page, its lines kept (concat joins two).
        modern.send("BATCH +m1 draft/multiline #lobby", "@batch=m1 PRIVMSG #lobby :roses are ",
                    "@batch=m1;draft/multiline-concat PRIVMSG #lobby :red",
                    "@batch=m1 PRIVMSG #lobby :violets are blue", "BATCH -m1")
        ann.sees("violets are blue")
        assert "roses are red\nviolets are blue" in ann.log()
        # And a newcomer's page gets both from history, whole.
        bea = pages(server.web_address)
        bea.join("bea")
        bea.sees("violets are blue")
        shown = bea.log()
        assert "roses are red\nviolets are blue" in shown
        assert "def f():\n    return 1\n\nprint(f())" in shown


def test_the_page_shows_avatars_and_display_names_and_sets_its_own(pages):
    """draft/metadata-2 on the page: others' avatars and display names beside their nicks,
    in the people list and on their messages; /displayname and /avatar set the page's own."""
    # An https address on this machine, at a port browsers refuse: nothing leaves it.
    avatar = "https://127.0.0.1:1/modern.png"
    with running_server(start=web_backend()) as server:
        modern = LineSocket(server.address)
        modern.send("CAP REQ :batch draft/metadata-2", "NICK modern", "USER modern 0 * :m",
                    "CAP END", f"METADATA * SET avatar :{avatar}",
                    "METADATA * SET display-name :Modern Person", "METADATA * SUB display-name")
        modern.expect(" 770 ")
        ann = pages(server.web_address)
        ann.join("ann")
        members = "[...document.querySelectorAll('#members li')]"
        ann.wait(lambda: "@modern (Modern Person)" in ann.driver.execute_script(
            f"return {members}.map(li => li.textContent)"), "modern's display name")
        assert ann.driver.execute_script(
            f"return {members}.map(li => li.querySelector('img.avatar'))"
            ".filter(img => img).map(img => img.getAttribute('src'))") == [avatar]
        modern.send("PRIVMSG #lobby :hello, page")
        ann.sees("hello, page")
        assert ann.driver.execute_script(
            "const said = [...document.querySelectorAll('.log:not([hidden]) li')].pop();"
            "return [said.querySelector('img.avatar').getAttribute('src'),"
            " said.querySelector('.nick').textContent]") == [avatar, "modern (Modern Person)"]
        ann.type("/displayname Ann Example")
        assert modern.expect(" METADATA ann ").endswith(" display-name * :Ann Example")
        ann.type("/avatar ftp://nowhere/a.png")
        ann.sees("An avatar is the https:// address of a picture.")


def test_a_renamed_room_keeps_its_tab_under_the_new_name(pages):
    with running_server(start=web_backend()) as server:
        carl = register_irc(server.address, "carl")
        carl.send("JOIN #boaring")  # first in: its operator
        carl.expect(" 366 ")
        ann = pages(server.web_address)
        ann.join("ann")
        ann.type("/join #boaring")
        ann.sees("You joined #boaring")
        carl.send("RENAME #boaring #boring :typo")
        ann.sees("carl renamed #boaring to #boring (typo)")
        tabs = "return [...document.querySelectorAll('#tabs button')].map(b => b.textContent)"
        assert "#boring" in ann.driver.execute_script(tabs)
        assert "#boaring" not in ann.driver.execute_script(tabs)
        ann.type("still here")
        assert carl.expect("PRIVMSG") == ":ann!ann@127.0.0.1 PRIVMSG #boring :still here"


@contextlib.contextmanager
def page_across_a_restart(pages, said_before, history_before, history_after):
    """ann's page on a server where carl said *said_before*; the server stops and starts again
    on the same ports with *history_after*: (ann, carl back on it, before the page is)."""
    with running_server(start=web_backend(), history=history_before) as server:
        address = server.web_address
        ann = pages(address)
        ann.join("ann")
        carl = register_irc(server.address, "carl")
        carl.send(f"PRIVMSG #lobby :{said_before}")
        ann.sees(said_before)
    ann.wait(lambda: "Reconnecting" in ann.text("status"), "the page noticing")
    with running_server(start=web_backend(port=address[1]), history=history_after) as server:
        yield ann, register_irc(server.address, "carl")


def test_a_page_that_reconnects_fills_what_it_missed_once(pages):
    store = ListStore()
    with page_across_a_restart(pages, "before the break", store, store) as (ann, carl):
        carl.send("PRIVMSG #lobby :while you were away")  # before the page is back
        ann.wait(lambda: ann.text("status") == "Connected as ann", "the page back")
        ann.sees("while you were away")
        carl.send("PRIVMSG #lobby :after")
        ann.sees("after")
        shown = ann.log()
        assert shown.count("before the break") == 1 and shown.count("while you were away") == 1
        assert shown.index("while you were away") < shown.rindex("You joined")


def test_a_russian_browser_gets_the_page_in_russian_and_may_switch_it(pages):
    with running_server(start=web_backend()) as server:
        carl = register_irc(server.address, "carl")
        dasha = pages(server.web_address, language="ru-RU")
        dasha.wait(lambda: dasha.text("join") == "Войти в чат", "the form in Russian")
        assert dasha.driver.execute_script("return document.documentElement.lang") == "ru"
        dasha.join("dasha", joined="Вы вошли в #lobby")
        assert carl.expect("JOIN").endswith("JOIN #lobby")
        carl.send("PRIVMSG #lobby :привет")
        dasha.sees("привет")
        dasha.type("/whois nobody")  # the server's answer, in the language the page asked for
        dasha.wait(lambda: "Нет такого пользователя или канала" in dasha.driver.find_element(
            By.CSS_SELECTOR, "body").text, "the server's words in Russian")
        Select(dasha.driver.find_element(By.ID, "lang")).select_by_value("en")
        dasha.wait(lambda: dasha.driver.find_element(By.ID, "line").get_attribute(
            "placeholder") == "Message, or /help", "the page in English")
        carl.send("PART #lobby")
        dasha.sees("← carl left")


def test_a_page_back_on_a_restarted_server_that_forgot_its_history_loads_the_latest(pages):
    with page_across_a_restart(pages, "before the restart", ListStore(), ListStore()) as (
            ann, carl):
        carl.send("PRIVMSG #lobby :said on the new server")
        ann.wait(lambda: ann.text("status") == "Connected as ann", "the page back")
        ann.sees("said on the new server")
        assert "msgid" not in ann.log()  # the refusal of a forgotten msgid is not shown


def test_a_page_registers_its_name_then_logs_in_with_it_and_a_wrong_password_is_said(
        pages, monkeypatch):
    """The page makes an account of its name (REGISTER), logs in to it with SASL PLAIN from
    another tab, and says a refused login in the form, where it may be tried again (at once:
    the growing wait after a failure is another test's)."""
    monkeypatch.setattr("tcpchat.chat.throttle.FIRST_DELAY", 0.0)
    accounts = Accounts()
    with running_server(start=web_backend(), accounts=accounts) as server:
        watcher = LineSocket(server.address)
        watcher.send("CAP REQ :account-tag", "NICK watcher", "USER w 0 * :w", "CAP END")
        watcher.expect(" 366 ")
        ann = pages(server.web_address)
        ann.wait(lambda: ann.driver.find_element(By.ID, "name").is_displayed(), "the form")
        ann.driver.find_element(By.ID, "name").send_keys("ann")
        ann.driver.find_element(By.ID, "account-password").send_keys("ann's secret")
        ann.driver.find_element(By.ID, "register").click()
        ann.driver.find_element(By.ID, "join").click()
        ann.sees("You joined #lobby")
        assert accounts.get("ann") is not None
        ann.type("hello as ann")
        assert watcher.expect("PRIVMSG") == "@account=ann :ann!ann@127.0.0.1 PRIVMSG #lobby " \
                                            ":hello as ann"
        ann.type("/quit")

        again = pages(server.web_address)
        again.wait(lambda: again.driver.find_element(By.ID, "name").is_displayed(), "the form")
        again.driver.find_element(By.ID, "name").send_keys("ann")
        box = again.driver.find_element(By.ID, "account-password")
        box.send_keys("not it", Keys.ENTER)
        again.wait(lambda: again.text("login-error") == "SASL authentication failed",
                   "the refusal said")
        assert again.driver.switch_to.active_element == box
        box.clear()
        box.send_keys("ann's secret", Keys.ENTER)
        again.sees("You joined #lobby")
        again.type("back, logged in")
        assert watcher.expect("back") == "@account=ann :ann!ann@127.0.0.1 PRIVMSG #lobby " \
                                         ":back, logged in"


def test_a_crowded_rooms_comings_and_goings_are_a_line_a_window_in_the_readers_language(pages):
    """Past the page's crowd (set low here, with a short window), joins and leaves are said
    once a window, with the count in the right form of the reader's language."""
    with running_server(start=web_backend()) as server:
        dasha = pages(server.web_address, language="ru-RU")
        dasha.join("dasha", joined="Вы вошли в #lobby")
        dasha.driver.execute_script("chat.crowd = 2; chat.crowdWindow = 1;")
        people = [register_irc(server.address, f"b{number}") for number in range(1, 8)]
        dasha.sees("→ b1 вошёл")  # two of them: not crowded yet
        people.pop().close()  # b7 goes
        dasha.sees("* 6 человек зашли в #lobby за последние 1 с: b2, b3, b4, b5, b6 и ещё 1")
        dasha.sees("* 1 человек вышел из #lobby за последние 1 с: b7")
        assert "b3 вошёл" not in dasha.log()
        for person in people:
            person.close()


def test_a_tab_counts_what_came_after_the_read_marker_and_reading_moves_it(pages):
    """draft/read-marker on the page: messages to a room the user is not looking at are
    counted beside its name; looking at it clears the count and moves the marker on the
    server, which would tell the user's other pages."""
    with running_server(start=web_backend()) as server:
        bob = register_irc(server.address, "bob")
        ann = pages(server.web_address)
        ann.join("ann")
        ann.type("/join #side")
        ann.sees("You joined #side")  # #side is shown now, #lobby is not
        for number in range(3):
            bob.send(f"PRIVMSG #lobby :unread {number}")
        lobby_tab = ann.driver.find_element(By.XPATH, "//button[starts-with(., '#lobby')]")
        ann.wait(lambda: lobby_tab.text == "#lobby (3)", "three counted")
        lobby_tab.click()
        ann.sees("unread 2")
        ann.wait(lambda: lobby_tab.text == "#lobby", "the count cleared")
        markers = server.core.chat.markers
        ann.wait(lambda: any("#lobby" in kept for kept in markers.values()), "the marker kept")
        bob.close()
