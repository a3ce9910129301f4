// tcpchat's page: a small IRC client over WebSocket (IRCv3 "text.ircv3.net": one IRC line per
// message, no line ends), served by the chat server itself.
//
// Everything a peer sends is put on the page as text (textContent, text nodes), never as
// markup, so no message can add an element or a script to anyone's page.
"use strict";

const SUBPROTOCOL = "text.ircv3.net";
const SERVER_VIEW = "*server*";
const RECONNECT_DELAYS = [1, 2, 4, 8, 15, 30];  // seconds, the last one repeated
// Asked for when the server offers them all: a room's history, each line with its id and
// time (IRCv3 draft/chathistory), loaded on joining and when the log is scrolled to its top.
const HISTORY_CAPS = ["batch", "server-time", "message-tags", "draft/chathistory"];
const HISTORY_PAGE = 50;
const READ_MARKER = "draft/read-marker";
// A pasted block goes out as one message (IRCv3 draft/multiline), within the bounds the server
// gives in CAP LS (these until it says).
const MULTILINE = "draft/multiline";
const CONCAT = "draft/multiline-concat";
// Avatars and display names (IRCv3 draft/metadata-2): the keys the page reads and sets.
const METADATA = "draft/metadata-2";
const PROFILE_KEYS = ["avatar", "display-name"];
// A room renamed (IRCv3 draft/channel-rename) stays the same tab, under its new name.
const CHANNEL_RENAME = "draft/channel-rename";
// The longest message the box sends, in pieces (about twenty lines: a paste, not a file).
const MAX_MESSAGE_CHARS = 8000;
const HELP = ["help-1", "help-2", "help-3"];
// A room of more members than this is crowded: who came and went is said once every
// CROWD_WINDOW seconds, a line each, as the server tells netcat users (tcpchat.text.display).
const CROWD = 50;
const CROWD_WINDOW = 10;
const NAMED = 5;  // names a line lists before "and N more"

// -- Words ----------------------------------------------------------------------------------

// The page's sentences in the reader's language, from the server's catalogs
// (/texts/LANGUAGE.json): t("joined", {nick}) fills in the placeholders.
let TEXTS = {};
let PLURALS = {};
let LANGUAGE = "en";

function t(key, args = {}) {
  return fill(TEXTS[key] || key, args);
}

// A sentence whose words follow a count ("1 person", "5 people"; Russian has three forms):
// the server's catalog says which form each count below 200 takes (tcpchat.transports.pagetext),
// and a larger count takes the form of 100 + count % 100.
function tn(key, count, args = {}) {
  const plural = PLURALS[key];
  const form = plural ? plural.forms[plural.index[count < 200 ? count : 100 + count % 100]] : key;
  return fill(form, {count, ...args});
}

function fill(text, args) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in args ? String(args[name]) : whole));
}

// The language: one chosen on this page before, else the first of the browser's the server
// has, else English.
function chosenLanguage(available) {
  const saved = localStorage.getItem("tcpchat-lang");
  if (saved && available.includes(saved)) return saved;
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const code = wanted.toLowerCase().split("-")[0];
    if (available.includes(code)) return code;
  }
  return "en";
}

async function loadTexts(code) {
  const answer = await fetch(`texts/${code}.json`);
  const loaded = await answer.json();
  TEXTS = loaded.texts;
  PLURALS = loaded.plurals;
  LANGUAGE = loaded.language;
  document.documentElement.lang = LANGUAGE;
  for (const element of document.querySelectorAll("[data-text]")) {
    element.textContent = t(element.dataset.text);
  }
  for (const attribute of ["placeholder", "title", "aria-label"]) {
    for (const element of document.querySelectorAll(`[data-text-${attribute}]`)) {
      element.setAttribute(attribute, t(element.getAttribute(`data-text-${attribute}`)));
    }
  }
  const box = $("lang");
  box.replaceChildren(...loaded.languages.map(([value, name]) => new Option(name, value)));
  box.value = LANGUAGE;
}

const $ = (id) => document.getElementById(id);

// -- IRC lines ------------------------------------------------------------------------------

// A multiline batch's lines (IRCv3 draft/multiline) as the one message they are, with the
// opening line's tags: joined by line feeds, but where a line is tagged concat and continues
// the one before; null for a batch of nothing to say.
function asOneMessage(opening, lines) {
  const said = lines.filter((line) => line.command === "PRIVMSG" || line.command === "NOTICE");
  if (!said.length) return null;
  const text = said.map((line, index) =>
    (index && !(CONCAT in line.tags) ? "\n" : "") + (line.params[1] || "")).join("");
  return {tags: opening.tags, source: opening.source, nick: opening.nick,
          command: said[0].command, params: [opening.params[2], text]};
}

// A line as {tags, source, nick, command, params}, per modern IRC's message format.
function parse(line) {
  const message = {tags: {}, source: "", nick: "", command: "", params: []};
  let rest = line;
  if (rest.startsWith("@")) {
    const end = rest.indexOf(" ");
    for (const tag of rest.slice(1, end).split(";")) {
      const eq = tag.indexOf("=");
      if (eq < 0) message.tags[tag] = "";
      else message.tags[tag.slice(0, eq)] = tag.slice(eq + 1);
    }
    rest = rest.slice(end + 1).trimStart();
  }
  if (rest.startsWith(":")) {
    const end = rest.indexOf(" ");
    message.source = rest.slice(1, end < 0 ? undefined : end);
    message.nick = message.source.split("!")[0];
    rest = end < 0 ? "" : rest.slice(end + 1).trimStart();
  }
  while (rest) {
    if (rest.startsWith(":")) { message.params.push(rest.slice(1)); break; }
    const end = rest.indexOf(" ");
    message.params.push(end < 0 ? rest : rest.slice(0, end));
    rest = end < 0 ? "" : rest.slice(end + 1).trimStart();
  }
  message.command = (message.params.shift() || "").toUpperCase();
  return message;
}

// What one message may say so that, relayed with "nick!user@host" before it, it is still one
// line of 512 bytes (the server refuses a longer one with 417): the page does not know its
// user@host, so it counts the longest usual one (a 10-letter username, a 63-letter host).
const utf8 = new TextEncoder();
const LONGEST_USERHOST = 10 + 1 + 63;
const textRoom = (nick, target) =>
  512 - utf8.encode(`:${nick}! PRIVMSG ${target} :\r\n`).length - LONGEST_USERHOST;

// *text* in pieces of at most *room* bytes of UTF-8, cut between characters, after a space
// when one falls in the second half of a piece (as the server and the reference client cut).
function pieces(text, room) {
  const out = [];
  let piece = "";
  let size = 0;
  for (const char of text) {
    const bytes = utf8.encode(char).length;
    if (piece && size + bytes > room) {
      const space = piece.lastIndexOf(" ");
      const cut = space >= piece.length / 2 ? space + 1 : piece.length;
      out.push(piece.slice(0, cut));
      piece = piece.slice(cut);
      size = utf8.encode(piece).length;
    }
    piece += char;
    size += bytes;
  }
  if (piece) out.push(piece);
  return out;
}

// Names and rooms compared as the server compares them (CASEMAPPING=rfc8265: case-folded).
const fold = (name) => name.toLowerCase();
const isChannel = (name) => /^[#&]/.test(name);
const PREFIXES = "~&@%+";
const bareNick = (name) => name.replace(new RegExp(`^[${PREFIXES}]+`), "");

// -- What the page shows --------------------------------------------------------------------

class View {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind;  // "server", "channel" or "query"
    this.members = new Map();  // folded nick -> shown name (with its prefix)
    this.comings = null;  // while crowded: {joined, left} not said yet (Chat.cameOrWent)
    this.topic = "";
    this.log = document.createElement("ol");
    this.log.className = "log";
    this.log.setAttribute("role", "log");
    this.log.hidden = true;
    $("views").append(this.log);
    this.tab = document.createElement("button");
    this.tab.type = "button";
    this.tab.setAttribute("role", "tab");
    this.tab.textContent = kind === "server" ? t("server-tab") : name;
    // Read markers (draft/read-marker): the last message read here, on any of the user's
    // pages or clients, and how many came after it, shown beside the name.
    this.readUntil = null;
    this.unread = 0;
    this.count = document.createElement("span");
    this.count.className = "count";
    this.tab.append(this.count);
    this.tab.addEventListener("click", () => {
      chat.show(this);
      $("line").focus();  // ready to write there, mouse or keyboard
    });
    $("tabs").append(this.tab);
    // History (see Chat.fill): the ids shown, the oldest and newest of them, where history
    // goes (before the note of our last join), and what is being asked for.
    this.seen = new Set();
    this.oldest = this.newest = "";
    this.joinedAt = null;
    this.liveSinceJoin = this.filled = false;
    this.loading = "";
    this.exhausted = false;
    this.log.addEventListener("scroll", () => {
      if (this.log.scrollTop < 30) chat.loadEarlier(this);
    });
  }

  // A message with an id: shown once, however often it comes (live, then in history).
  remember(msgid) {
    if (!msgid) return true;
    if (this.seen.has(msgid)) return false;
    this.seen.add(msgid);
    this.newest = msgid;
    this.liveSinceJoin = true;
    if (!this.oldest) this.oldest = msgid;
    return true;
  }

  add(kind, text, nick, time) {
    const item = this.item(kind, text, nick, time);
    const log = this.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item);
    while (log.childElementCount > 2000) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (chat.active !== this && kind !== "event") this.tab.classList.add("unread");
    if (kind !== "event" && this.kind !== "server") {
      if (chat.active === this && !document.hidden) chat.markRead(this, time);
      else if (!this.readUntil || time > this.readUntil) this.counted(this.unread + 1);
    }
    return item;
  }

  // How many messages here came after the read marker (none shown as nothing).
  counted(unread) {
    this.unread = unread;
    this.count.textContent = unread ? ` (${unread})` : "";
  }

  // The read marker moved to *until* (here, or on another page of the same account): the
  // messages after it are counted again from the log.
  readTo(until) {
    if (this.readUntil && until <= this.readUntil) return;
    this.readUntil = until;
    let unread = 0;
    for (const stamp of this.log.querySelectorAll("li:not(.event) > time")) {
      if (new Date(stamp.dateTime) > until) unread += 1;
    }
    this.counted(unread);
    if (!unread) this.tab.classList.remove("unread");
  }

  item(kind, text, nick, time) {
    const item = document.createElement("li");
    item.className = kind;
    const stamp = document.createElement("time");
    stamp.dateTime = time.toISOString();
    stamp.textContent = time.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    item.append(stamp);
    if (nick) {
      const who = document.createElement("span");
      who.className = "nick";
      who.append(...chat.person(nick, nick));
      item.append(who);
    }
    item.append(...linked(text));
    return item;
  }

  remove() {
    this.log.remove();
    this.tab.remove();
  }
}

class Chat {
  constructor() {
    this.views = new Map();  // folded name -> View
    this.active = null;
    this.me = "";            // our nick once registered
    this.wanted = "";        // the nick asked for
    this.askedNick = "";     // the last NICK sent (registering, or /nick)
    this.password = "";
    this.accountPassword = "";  // logs in with SASL PLAIN while registering, if given
    this.registering = false;   // makes the account first (REGISTER), then logs in with it
    this.registered = false;
    this.quitting = false;
    this.socket = null;
    this.attempt = 0;
    this.pendingNames = new Map();  // folded channel -> names gathered from 353
    this.offered = new Set();       // capabilities CAP LS listed
    this.history = false;           // whether the server keeps history we asked for
    this.readMarkers = false;       // whether the server keeps read markers for us
    this.multiline = null;          // {bytes, lines}: the bounds of a multiline message
    this.metadata = false;          // whether the server keeps avatars and display names
    this.profiles = new Map();      // folded nick -> {avatar, "display-name"} it has set
    this.capValues = new Map();     // capability -> its value in CAP LS 302
    this.historyLimit = HISTORY_PAGE;
    this.batches = new Map();       // batch id -> {target, messages[, opening]}
    this.sentBatches = 0;           // multiline batches sent: their references
    this.crowd = CROWD;
    this.crowdWindow = CROWD_WINDOW;
  }

  // Someone came to (or left) a channel view whose members, counting them, are *size*: said
  // now, or with the others at the end of the window in a crowded room.
  cameOrWent(view, size, nick, joined, said, time) {
    if (size <= this.crowd) {
      note(view, said, time);
      return;
    }
    if (!view.comings) {
      view.comings = {joined: [], left: []};
      setTimeout(() => this.tellComings(view), this.crowdWindow * 1000);
    }
    view.comings[joined ? "joined" : "left"].push(nick);
  }

  tellComings(view) {
    const {joined, left} = view.comings;
    view.comings = null;
    for (const [key, nicks] of [["people-joined", joined], ["people-left", left]]) {
      if (nicks.length) {
        note(view, tn(key, nicks.length, {channel: view.name, seconds: this.crowdWindow,
                                          names: someNames(nicks)}), new Date());
      }
    }
  }

  view(name, kind) {
    const key = kind === "server" ? SERVER_VIEW : fold(name);
    let view = this.views.get(key);
    if (!view && kind) {
      view = new View(name, kind);
      this.views.set(key, view);
      if (!this.active || kind === "channel" && this.active.kind === "server") this.show(view);
    }
    return view;
  }

  show(view) {
    for (const other of this.views.values()) {
      const selected = other === view;
      other.log.hidden = !selected;
      other.tab.setAttribute("aria-selected", String(selected));
      other.tab.tabIndex = selected ? 0 : -1;
    }
    this.active = view;
    view.tab.classList.remove("unread");
    const stamps = view.log.querySelectorAll("li:not(.event) > time");
    const last = stamps[stamps.length - 1];
    if (last && view.kind !== "server") this.markRead(view, new Date(last.dateTime));
    view.log.scrollTop = view.log.scrollHeight;
    $("topic").textContent = view.topic;
    this.showMembers();
  }

  showMembers() {
    const view = this.active;
    const members = $("members");
    members.replaceChildren();
    const names = view && view.kind === "channel" ? [...view.members.values()] : [];
    names.sort((a, b) => rank(a) - rank(b) || fold(bareNick(a)).localeCompare(fold(bareNick(b))));
    for (const name of names) {
      const item = document.createElement("li");
      item.append(...this.person(bareNick(name), name));
      members.append(item);
    }
    $("people-count").textContent = names.length ? `(${names.length})` : "";
    $("people").hidden = !view || view.kind !== "channel";
  }

  // What shows *nick* (as *shown*, with its prefix): its avatar and display name beside it,
  // when it has set them (draft/metadata-2); text and an <img>, never markup.
  person(nick, shown) {
    const profile = this.profiles.get(fold(nick));
    if (!profile) return [shown];
    const parts = [];
    if (/^https:\/\/\S+$/.test(profile.avatar || "")) {
      const picture = document.createElement("img");
      picture.className = "avatar";
      picture.src = profile.avatar;
      picture.alt = "";
      picture.width = picture.height = 16;
      picture.loading = "lazy";
      picture.referrerPolicy = "no-referrer";
      parts.push(picture);
    }
    parts.push(shown);
    if (profile["display-name"] && profile["display-name"] !== nick) {
      const name = document.createElement("span");
      name.className = "display-name";
      name.textContent = ` (${profile["display-name"]})`;
      parts.push(name);
    }
    return parts;
  }

  // *nick*'s *key* is *value* now (none: taken away).
  setProfile(nick, key, value) {
    if (!PROFILE_KEYS.includes(key)) return;
    const folded = fold(nick);
    const profile = {...this.profiles.get(folded)};
    if (value) profile[key] = value;
    else delete profile[key];
    if (Object.keys(profile).length) this.profiles.set(folded, profile);
    else this.profiles.delete(folded);
    this.showMembers();
  }

  // /avatar and /displayname: one of our own keys, set (and remembered in this browser, for
  // the next connection) or, with no value, taken away.
  setOwn(key, value) {
    if (!this.metadata) {
      this.here.add("error", t("no-metadata"), "", new Date());
      return;
    }
    if (key === "avatar" && value && !/^https:\/\/\S+$/.test(value)) {
      this.here.add("error", t("avatar-https"), "", new Date());
      return;
    }
    if (value) localStorage.setItem(`tcpchat-${key}`, value);
    else localStorage.removeItem(`tcpchat-${key}`);
    this.send(value ? `METADATA * SET ${key} :${value}` : `METADATA * SET ${key}`);
  }

  // The user has seen *view* up to *time*: its marker moves there (with the server's
  // draft/read-marker, for the user's other pages and clients too).
  markRead(view, time) {
    if (view.readUntil && time <= view.readUntil) return;
    view.readTo(time);
    if (this.readMarkers) this.send(`MARKREAD ${view.name} timestamp=${time.toISOString()}`);
  }

  // Where a line about the current situation goes: the active view, or the server's.
  get here() {
    return this.active || this.view("", "server");
  }

  // -- The connection -----------------------------------------------------------------------

  connect() {
    const url = new URL("irc", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    status(t(this.attempt ? "reconnecting" : "connecting"));
    const socket = new WebSocket(url.href, [SUBPROTOCOL]);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.offered = new Set();
      this.history = false;
      this.multiline = null;
      this.metadata = false;
      this.profiles.clear();
      this.batches.clear();
      status(t("connected"), false);
      if (this.wanted) this.register();
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(String(event.data));
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.registered = false;
      if (this.quitting) {
        status(t("left-for-good"), true);
        return;
      }
      const delay = RECONNECT_DELAYS[Math.min(this.attempt, RECONNECT_DELAYS.length - 1)];
      this.attempt += 1;
      status(t("lost-retry", {seconds: delay}), true);
      for (const view of this.views.values()) {
        if (view.kind !== "server") view.add("error", t("lost"), "", new Date());
      }
      setTimeout(() => this.connect(), delay * 1000);
    });
  }

  send(line) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(line);
      return true;
    }
    this.here.add("error", t("not-sent"), "", new Date());
    return false;
  }

  register() {
    if (this.socket.introduced) {  // another name, after the first was refused
      this.askNick(this.wanted);
      return;
    }
    this.socket.introduced = true;
    this.send("CAP LS 302");
    if (LANGUAGE !== "en") this.send(`LANGUAGE ${LANGUAGE}`);
    if (this.password) this.send(`PASS :${this.password}`);
    this.askNick(this.wanted);
    this.send(`USER ${this.wanted.replace(/[^A-Za-z0-9]/g, "") || "web"} 0 * :web user`);
  }

  // The whole name as one parameter: the server, not the line's spaces, decides what a name
  // may be ("John Smith" was taken as "John"), and its refusal names the name asked for.
  askNick(name) {
    this.askedNick = name;
    this.send(`NICK :${name}`);
  }

  receive(line) {
    const message = parse(line);
    const batch = message.command !== "BATCH" && this.batches.get(message.tags.batch);
    if (batch) {  // a line of history, or of a multiline message: shown when its batch ends
      batch.messages.push(message);
      return;
    }
    this.handle(message);
  }

  handle(message) {
    const stamped = new Date(message.tags.time || NaN);  // server-time, if the server sends it
    const time = Number.isNaN(stamped.getTime()) ? new Date() : stamped;
    const handler = HANDLERS[message.command];
    if (handler) handler.call(this, message, time);
    else if (message.command === "FAIL" && message.params[0] === "CHATHISTORY") {
      this.historyFailed();
    } else if (message.command === "FAIL" && message.params[0] === "REGISTER" &&
               !this.registered) {
      this.refuseLogin(message.params[message.params.length - 1]);
    } else if (message.command === "FAIL" || message.command === "WARN") {
      // An IRCv3 standard reply: the command, a code, then the text for people.
      this.here.add("error", message.params[message.params.length - 1] || "", "", time);
    } else if (/^[45]\d\d$/.test(message.command) && !NOT_ERRORS.has(message.command)) {
      this.here.add("error", numericText(message), "", time);
    } else if (/^\d\d\d$/.test(message.command)) {
      this.view("", "server").add("notice", numericText(message), "", time);
    }
  }

  // -- What the user types ------------------------------------------------------------------

  say(text) {
    if (!text.startsWith("/") || text.startsWith("//")) {
      this.message(this.active, text.startsWith("//") ? text.slice(1) : text);
      return;
    }
    const space = text.indexOf(" ");
    const command = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
    const rest = space < 0 ? "" : text.slice(space + 1).trim();
    const target = this.active && this.active.kind !== "server" ? this.active.name : "";
    switch (command) {
      case "help":
        for (const line of HELP) this.here.add("notice", t(line), "", new Date());
        break;
      case "me":
        if (target && rest) this.message(this.active, `\x01ACTION ${rest}\x01`);
        break;
      case "join": case "j":
        if (rest) this.send(`JOIN ${rest}`);
        break;
      case "part": case "leave":
        if (this.active.kind === "channel") this.send(`PART ${target} :${rest}`);
        else if (this.active.kind === "query") this.close(this.active);
        break;
      case "msg": case "query": {
        const [nick, ...words] = rest.split(" ");
        if (!nick) break;
        const view = this.view(nick, isChannel(nick) ? "channel" : "query");
        this.show(view);
        if (command === "msg" && words.length) this.message(view, words.join(" "));
        break;
      }
      case "nick":
        if (rest) this.askNick(rest);
        break;
      case "topic":
        if (this.active.kind === "channel") {
          this.send(rest ? `TOPIC ${target} :${rest}` : `TOPIC ${target}`);
        }
        break;
      case "avatar":
        this.setOwn("avatar", rest);
        break;
      case "displayname":
        this.setOwn("display-name", rest);
        break;
      case "quit":
        this.quitting = true;
        this.send(`QUIT :${rest || "Leaving"}`);
        break;
      default:  // as IRC clients do: the rest goes to the server as it is
        this.send(`${command.toUpperCase()}${rest ? " " + rest : ""}`);
    }
  }

  message(view, text) {
    if (!view || view.kind === "server") {
      this.here.add("error", t("choose-first"), "", new Date());
      return;
    }
    if (!text) return;
    if (text.length > MAX_MESSAGE_CHARS) {  // said, not cut: the box takes any paste
      this.here.add("error", t("too-long", {length: text.length, most: MAX_MESSAGE_CHARS}), "",
                    new Date());
      return;
    }
    // A long line goes out in pieces, each one line once relayed; an action stays an action.
    const action = /^\x01ACTION (.*)\x01$/s.exec(text);
    const [start, body, end] = action ? ["\x01ACTION ", action[1], "\x01"] : ["", text, ""];
    const room = textRoom(this.me, view.name) - utf8.encode(start + end).length;
    if (this.multiline && !action && (text.includes("\n") || utf8.encode(text).length > room)) {
      if (!this.sendMultiline(view.name, text, room)) return;
    } else {
      // Without multiline, a block goes out a line at a time, its blank lines left out.
      for (const line of body.split("\n").filter((line) => line.trim())) {
        for (const piece of pieces(line, room)) {
          if (!this.send(`PRIVMSG ${view.name} :${start}${piece}${end}`)) return;
        }
      }
    }
    this.show(view);
    this.shown(view, this.me, text, "mine", new Date());
  }

  // *text* as multiline messages to *target*: its lines, each cut in pieces of *room* bytes
  // joined by concat; as many messages as the server's bounds need (most blocks: one).
  sendMultiline(target, text, room) {
    const lines = [];
    for (const line of text.split("\n")) {
      if (!line) lines.push(["", false]);  // a blank line stays: the block's paragraphs
      pieces(line, room).forEach((piece, index) => lines.push([piece, index > 0]));
    }
    let batch = [];
    let size = 0;
    const flush = () => {
      if (!batch.length) return true;
      const id = `m${++this.sentBatches}`;
      const sent = [`BATCH +${id} ${MULTILINE} ${target}`,
                    ...batch.map(([piece, concat], index) =>
                      `@batch=${id}${concat && index ? ";" + CONCAT : ""} PRIVMSG ${target} :${piece}`),
                    `BATCH -${id}`].every((line) => this.send(line));
      batch = [];
      size = 0;
      return sent;
    };
    for (const [piece, concat] of lines) {
      const bytes = utf8.encode(piece).length + (batch.length && !concat ? 1 : 0);
      if (batch.length === this.multiline.lines || size + bytes > this.multiline.bytes) {
        if (!flush()) return false;
      }
      size += batch.length ? bytes : utf8.encode(piece).length;
      batch.push([piece, concat]);
    }
    return flush();
  }

  shown(view, nick, text, kind, time) {
    const action = /^\x01ACTION (.*)\x01?$/.exec(text);
    const said = action ? action[1].replace(/\x01$/, "") : text;
    const mine = kind === "mine";
    const mention = !mine && mentions(said, this.me);
    const classes = `${kind}${action ? " action" : ""}${mention ? " mention" : ""}`;
    if (action) view.add(classes, `* ${nick} ${said}`, "", time);
    else view.add(classes, text, nick, time);
    if (!mine && (mention || view.kind === "query")) {
      notify(view.kind === "query" ? nick : t("in-room", {nick, room: view.name}), said);
    }
  }

  incoming(message, time, kind) {
    const [target, text = ""] = message.params;
    const fromServer = !message.nick || !message.source.includes("!");
    let view;
    if (isChannel(target)) view = this.view(target, "channel");
    else if (fromServer || !this.registered) view = this.view("", "server");
    else view = this.view(message.nick, "query");
    if (!view.remember(message.tags.msgid)) return;  // shown already, from history
    if (fromServer) view.add("notice", text, "", time);
    else this.shown(view, message.nick, text, kind, time);
  }

  // -- History ------------------------------------------------------------------------------

  // On joining: the room's latest lines, or after a reconnection, those since the newest
  // shown.  They go before the note of this join; ids already shown are not shown again.
  loadRecent(view) {
    if (!this.history || view.loading) return;
    view.loading = "recent";
    const since = view.newest ? `msgid=${view.newest}` : "*";
    this.send(`CHATHISTORY LATEST ${view.name} ${since} ${this.historyLimit}`);
  }

  // Scrolled to the top: the lines before the oldest shown.
  loadEarlier(view) {
    if (!this.history || view.loading || view.exhausted || !view.oldest) return;
    view.loading = "earlier";
    this.send(`CHATHISTORY BEFORE ${view.name} msgid=${view.oldest} ${this.historyLimit}`);
  }

  // A history request refused: most likely a msgid the server no longer knows (it restarted
  // without --db).  A view that asked for what it missed asks for the latest instead; one
  // that asked for earlier lines has seen all there are.
  historyFailed() {
    for (const view of this.views.values()) {
      const asked = view.loading;
      view.loading = "";
      if (asked === "recent" && view.newest) {
        view.newest = "";
        this.loadRecent(view);
      } else if (asked === "earlier") {
        view.exhausted = true;
      }
    }
  }

  fill(view, messages) {
    const direction = view.loading;
    view.loading = "";
    const items = [];
    let oldest = "";
    for (const message of messages) {
      const msgid = message.tags.msgid || "";
      if (msgid && view.seen.has(msgid)) continue;
      if (msgid) view.seen.add(msgid);
      oldest = oldest || msgid;
      items.push(this.historyItem(view, message));
    }
    if (direction === "earlier") {
      if (!items.length) {
        view.exhausted = true;
        return;
      }
      const log = view.log;
      const height = log.scrollHeight;
      log.prepend(...items);
      log.scrollTop += log.scrollHeight - height;  // what was in sight stays in sight
      view.oldest = oldest;
      return;
    }
    if (!items.length) return;
    const before = view.joinedAt && view.joinedAt.isConnected ? view.joinedAt : null;
    for (const item of items) view.log.insertBefore(item, before);
    if (!view.filled) view.oldest = oldest;  // the first fill is older than all shown
    view.filled = true;
    if (!view.liveSinceJoin) view.newest = messages[messages.length - 1].tags.msgid || "";
    view.log.scrollTop = view.log.scrollHeight;
  }

  historyItem(view, message) {
    const stamped = new Date(message.tags.time || NaN);
    const time = Number.isNaN(stamped.getTime()) ? new Date() : stamped;
    const text = message.params[1] || "";
    const action = /^\x01ACTION (.*)\x01?$/.exec(text);
    const kind = `history${message.command === "NOTICE" ? " notice" : ""}`;
    if (!message.source.includes("!")) return view.item(`${kind} notice`, text, "", time);
    if (action) {
      return view.item(`${kind} action`,
                       `* ${message.nick} ${action[1].replace(/\x01$/, "")}`, "", time);
    }
    return view.item(kind, text, message.nick, time);
  }

  setTopic(view, topic) {
    view.topic = topic;
    if (view === this.active) $("topic").textContent = topic;
  }

  // Registration waits for the account: made first (REGISTER) if asked, else CAP END now.
  endNegotiation() {
    if (this.registering && this.accountPassword) {
      this.send(`REGISTER * * :${this.accountPassword}`);
      return;
    }
    this.send("CAP END");
  }

  // The login or the account was refused: this connection ends, and the form says why.
  refuseLogin(text) {
    const socket = this.socket;
    this.socket = null;  // its close is no news: the form says what to do
    if (socket) socket.close();
    status(text, true);
    this.nameProblem(text);
    $("account-password").focus();
  }

  nameProblem(text) {
    if (this.registered) {
      this.here.add("error", text, "", new Date());
      return;
    }
    $("login-error").textContent = text;
    $("login").hidden = false;
    $("join").disabled = false;
    $("name").focus();
    $("name").select();
  }

  close(view) {
    this.views.delete(view.kind === "server" ? SERVER_VIEW : fold(view.name));
    view.remove();
    if (this.active === view) {  // to a room still open, else to whatever is left
      const views = [...this.views.values()];
      const next = views.find((other) => other.kind === "channel") || views.pop();
      if (next) this.show(next);
    }
  }
}

const rank = (name) => {
  const index = PREFIXES.indexOf(name[0]);
  return index < 0 ? PREFIXES.length : index;
};

// -- What the server says -------------------------------------------------------------------

// Numerics in the 400s that are news, not errors: no message of the day.
const NOT_ERRORS = new Set(["422"]);

// A numeric as a line for people: its text, after what it is about (a nick, a channel), but
// not the counts and times a program reads (they are in the text, or said below).
function numericText(message) {
  const [, ...params] = message.params;
  if (message.command === "317" && params.length >= 4) {  // WHOIS idle and sign-on times
    const [nick, idle, signon] = params;
    const since = new Date(Number(signon) * 1000).toLocaleString();
    return t("idle", {nick, idle: duration(Number(idle)), since});
  }
  const text = params.pop() || "";
  const about = params.filter((param) => !/^\d+$/.test(param)).join(" ");
  return about ? `${about}: ${text}` : text;
}

function duration(seconds) {
  if (seconds < 60) return t("seconds", {count: seconds});
  if (seconds < 3600) return t("minutes", {count: Math.floor(seconds / 60)});
  return t("hours", {hours: Math.floor(seconds / 3600), minutes: Math.floor(seconds % 3600 / 60)});
}

// Text as nodes: the http and https addresses in it as links that open in a new tab, the rest
// as text.  Only those two schemes: a "javascript:" address stays text.  Nothing in it is
// markup: a link's text and address are set as text and an attribute, never parsed.
const LINK = /\bhttps?:\/\/[^\s<>"]+[^\s<>"'.,;:!?)\]]/g;

function linked(text) {
  const nodes = [];
  let start = 0;
  for (const found of text.matchAll(LINK)) {
    if (found.index > start) nodes.push(document.createTextNode(text.slice(start, found.index)));
    const link = document.createElement("a");
    link.href = found[0];
    link.textContent = found[0];
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    nodes.push(link);
    start = found.index + found[0].length;
  }
  if (start < text.length) nodes.push(document.createTextNode(text.slice(start)));
  return nodes;
}

// Whether *text* names *nick* as a word, in any case (RFC 8265's folding, near enough).
function mentions(text, nick) {
  if (!nick) return false;
  const folded = fold(text);
  const name = fold(nick);
  let at = folded.indexOf(name);
  while (at >= 0) {
    const before = at === 0 ? "" : folded[at - 1];
    const after = folded[at + name.length] || "";
    if (!/[\p{L}\p{N}_\-\[\]\\`^{}|]/u.test(before) &&
        !/[\p{L}\p{N}_\-\[\]\\`^{}|]/u.test(after)) return true;
    at = folded.indexOf(name, at + 1);
  }
  return false;
}

// A browser notification, while the tab is hidden and the user asked for them.
function notify(title, body) {
  if (!document.hidden || !$("notify").checked || !("Notification" in window) ||
      Notification.permission !== "granted") return;
  new Notification(title, {body});
}

// "ann, bob, cy", or past NAMED the first of them "and 34 more".
function someNames(nicks) {
  if (nicks.length <= NAMED) return nicks.join(", ");
  return tn("and-more", nicks.length - NAMED, {names: nicks.slice(0, NAMED).join(", ")});
}

function note(view, text, time) {
  return view.add("event", text, "", time);
}

const HANDLERS = {
  PING(message) {
    this.send(`PONG :${message.params[0] || ""}`);
  },
  // Ask for history when the server has it, and for SASL to log in with; registration
  // waits for END, which comes once the answers (and the login's or REGISTER's) are in.
  CAP(message) {
    const [, subcommand, ...rest] = message.params;
    if (this.registered) return;
    if (subcommand === "LS") {
      for (const cap of (rest[rest.length - 1] || "").split(" ")) {
        const eq = cap.indexOf("=");
        this.offered.add(eq < 0 ? cap : cap.slice(0, eq));
        if (eq >= 0) this.capValues.set(cap.slice(0, eq), cap.slice(eq + 1));
      }
      if (rest[0] === "*") return;  // more LS lines to come
      const wanted = HISTORY_CAPS.every((cap) => this.offered.has(cap)) ? [...HISTORY_CAPS] : [];
      if (this.offered.has(READ_MARKER)) wanted.push(READ_MARKER);
      if (this.offered.has(CHANNEL_RENAME)) wanted.push(CHANNEL_RENAME);
      for (const cap of [MULTILINE, METADATA]) {  // each needs batch
        if (!this.offered.has(cap) || !this.offered.has("batch")) continue;
        if (!wanted.includes("batch")) wanted.push("batch");
        wanted.push(cap);
      }
      if (this.accountPassword && !this.offered.has("sasl")) {
        this.refuseLogin(t("no-accounts"));
        return;
      }
      if (this.accountPassword && !this.registering) wanted.push("sasl");
      if (wanted.length) {
        this.send(`CAP REQ :${wanted.join(" ")}`);
        return;
      }
    } else if (subcommand === "ACK") {
      const acked = (rest[rest.length - 1] || "").split(" ");
      this.history = HISTORY_CAPS.every((cap) => acked.includes(cap));
      this.readMarkers = acked.includes(READ_MARKER);
      this.metadata = acked.includes(METADATA);
      if (acked.includes(MULTILINE)) {
        const bounds = new Map((this.capValues.get(MULTILINE) || "").split(",")
          .map((token) => token.split("=")));
        this.multiline = {bytes: Number(bounds.get("max-bytes")) || 4096,
                          lines: Number(bounds.get("max-lines")) || 100};
      }
      if (acked.includes("sasl")) {
        this.send("AUTHENTICATE PLAIN");
        return;
      }
    }
    this.endNegotiation();
  },
  AUTHENTICATE(message) {  // the server waits for our account and password, in base64
    if (message.params[0] !== "+") return;
    const bytes = new TextEncoder().encode(`\0${this.wanted}\0${this.accountPassword}`);
    const data = btoa(String.fromCharCode(...bytes));
    for (let start = 0; start < data.length; start += 400) {
      this.send(`AUTHENTICATE ${data.slice(start, start + 400)}`);
    }
    if (data.length % 400 === 0) this.send("AUTHENTICATE +");
  },
  "903"() {  // logged in (900 said as whom)
    this.send("CAP END");
  },
  "904"(message) { this.refuseLogin(message.params[message.params.length - 1]); },
  "905"(message) { this.refuseLogin(message.params[message.params.length - 1]); },
  REGISTER(message) {  // REGISTER SUCCESS: the account is made, and we are logged in to it
    if (message.params[0] !== "SUCCESS") return;
    this.registering = false;  // from now on (a reconnection), SASL logs in
    $("register").checked = false;
    this.send("CAP END");
  },
  "005"(message) {  // what the server supports: how many lines of history a request gets
    for (const token of message.params.slice(1, -1)) {
      const [name, value] = token.split("=");
      if (name === "CHATHISTORY" && Number(value) > 0) {
        this.historyLimit = Math.min(Number(value), HISTORY_PAGE);
      }
    }
  },
  BATCH(message) {
    const [reference, kind, target] = message.params;
    const id = reference.slice(1);
    if (reference.startsWith("+")) {
      if (kind === "chathistory") this.batches.set(id, {target, messages: []});
      if (kind === MULTILINE) this.batches.set(id, {target, messages: [], opening: message});
      return;
    }
    const batch = this.batches.get(id);
    if (!batch) return;
    this.batches.delete(id);
    if (batch.opening) {  // a multiline message: one message of its lines
      const whole = asOneMessage(batch.opening, batch.messages);
      const outer = this.batches.get(batch.opening.tags.batch);  // in a history batch
      if (!whole) return;
      if (outer) outer.messages.push(whole);
      else this.handle(whole);
      return;
    }
    const view = this.view(batch.target);
    if (view) this.fill(view, batch.messages);
  },
  "001"(message, time) {  // welcome: we are in
    this.me = message.params[0];
    this.registered = true;
    $("login").hidden = true;
    $("chat").hidden = false;
    status(t("connected-as", {nick: this.me}), false);
    this.view("", "server").add("notice", message.params[1] || t("welcome"), "", time);
    // After a reconnection: back into the rooms we were in.
    const rooms = [...this.views.values()].filter((view) => view.kind === "channel");
    if (rooms.length) this.send(`JOIN ${rooms.map((view) => view.name).join(",")}`);
    if (this.metadata) {  // others' avatars and names from now on, and ours again
      this.send(`METADATA * SUB ${PROFILE_KEYS.join(" ")}`);
      for (const key of PROFILE_KEYS) {
        const value = localStorage.getItem(`tcpchat-${key}`);
        if (value) this.send(`METADATA * SET ${key} :${value}`);
      }
    }
    $("line").focus();
  },
  "432"(message) {  // erroneous nickname: the server echoes "*" for one it cannot echo
    const asked = message.params[1] === "*" ? this.askedNick : message.params[1];
    this.nameProblem(t("bad-name", {name: asked, problem: message.params[2]}));
  },
  "433"(message) {  // in use
    if (!this.registered && this.me) {
      // Back after a dropped connection, whose user the server may not have let go yet.
      this.send(`NICK ${message.params[1]}_`);
      return;
    }
    this.nameProblem(t("name-taken", {name: message.params[1]}));
  },
  "464"() {  // password needed or wrong: this connection is over, and no retry without one
    const socket = this.socket;
    this.socket = null;  // its ERROR and close are not news: the form says what to do
    socket.close();
    askPassword();
    status(t("needs-password"), true);
    this.nameProblem(t(this.password ? "wrong-password" : "needs-password"));
    $("password").focus();
  },
  "332"(message) {  // the topic, on joining
    const view = this.view(message.params[1]);
    if (view) this.setTopic(view, message.params[2]);
  },
  "353"(message) {  // names
    const key = fold(message.params[2]);
    const names = this.pendingNames.get(key) || [];
    names.push(...message.params[3].split(" ").filter(Boolean));
    this.pendingNames.set(key, names);
  },
  "366"(message) {  // end of names
    const key = fold(message.params[1]);
    const view = this.view(message.params[1]);
    const names = this.pendingNames.get(key) || [];
    this.pendingNames.delete(key);
    if (!view) return;
    view.members = new Map(names.map((name) => [fold(bareNick(name)), name]));
    if (view === this.active) this.showMembers();
  },
  JOIN(message, time) {
    const name = message.params[0];
    const view = this.view(name, "channel");
    if (fold(message.nick) === fold(this.me)) {
      this.show(view);
      view.joinedAt = note(view, t("you-joined", {room: name}), time);
      view.liveSinceJoin = false;
      this.loadRecent(view);
      return;
    }
    view.members.set(fold(message.nick), message.nick);
    this.cameOrWent(view, view.members.size, message.nick, true,
                    t("joined", {nick: message.nick}), time);
    if (view === this.active) this.showMembers();
  },
  PART(message, time) {
    const view = this.view(message.params[0]);
    if (!view) return;
    if (fold(message.nick) === fold(this.me)) {
      this.close(view);
      return;
    }
    const size = view.members.size;
    view.members.delete(fold(message.nick));
    const reason = message.params[1];
    this.cameOrWent(view, size, message.nick, false,
                    t(reason ? "left-because" : "left", {nick: message.nick, reason}), time);
    if (view === this.active) this.showMembers();
  },
  KICK(message, time) {
    const [channel, nick, reason] = message.params;
    const view = this.view(channel);
    if (!view) return;
    view.members.delete(fold(nick));
    const me = fold(nick) === fold(this.me);
    const key = `removed${me ? "-you" : ""}${reason ? "-because" : ""}`;
    note(view, t(key, {nick: message.nick, user: nick, room: channel, reason}), time);
    if (me) view.members.clear();
    if (view === this.active) this.showMembers();
  },
  MODE(message, time) {
    const [target, letters = "", ...args] = message.params;
    const view = this.view(target);
    if (!view || view.kind !== "channel") return;
    note(view, t("mode", {nick: message.nick, modes: [letters, ...args].join(" ")}), time);
    // A member's prefix changed (+o, -v...): the server's NAMES says what each one has now.
    if (/[ov]/.test(letters)) this.send(`NAMES ${target}`);
  },
  QUIT(message, time) {
    const reason = message.params[0];
    const said = t(reason ? "quit-because" : "quit", {nick: message.nick, reason});
    for (const view of this.views.values()) {
      const size = view.members.size;
      if (view.members.delete(fold(message.nick))) {
        this.cameOrWent(view, size, message.nick, false, said, time);
      } else if (view.kind === "query" && fold(view.name) === fold(message.nick)) {
        note(view, said, time);
      }
    }
    this.profiles.delete(fold(message.nick));
    this.showMembers();
  },
  NICK(message, time) {
    const [old, now] = [message.nick, message.params[0]];
    const profile = this.profiles.get(fold(old));
    if (profile) {
      this.profiles.delete(fold(old));
      this.profiles.set(fold(now), profile);
    }
    if (fold(old) === fold(this.me)) {
      this.me = now;
      status(t("connected-as", {nick: now}), false);
    }
    for (const view of this.views.values()) {
      const shown = view.members.get(fold(old));
      const isQuery = view.kind === "query" && fold(view.name) === fold(old);
      if (shown !== undefined) {
        view.members.delete(fold(old));
        view.members.set(fold(now), shown.replace(old, now));
      }
      if (isQuery) {
        this.views.delete(fold(old));
        view.name = view.tab.firstChild.textContent = now;  // the count beside it stays
        this.views.set(fold(now), view);
      }
      if (shown !== undefined || isQuery) {
        note(view, t("renamed", {nick: old, new_nick: now}), time);
      }
    }
    this.showMembers();
  },
  TOPIC(message, time) {
    const view = this.view(message.params[0]);
    if (!view) return;
    this.setTopic(view, message.params[1] || "");
    const topic = message.params[1];
    note(view, topic ? t("topic", {nick: message.nick, topic}) : t("no-topic", {nick: message.nick}),
         time);
  },
  PRIVMSG(message, time) {
    this.incoming(message, time, "");
  },
  RENAME(message, time) {  // a room's new name: its tab, log and people stay
    const [old, now, reason] = message.params;
    const view = this.views.get(fold(old || ""));
    if (!view || !now) return;
    this.views.delete(fold(old));
    view.name = view.tab.firstChild.textContent = now;  // the count beside it stays
    this.views.set(fold(now), view);
    note(view, t(reason ? "renamed-room-because" : "renamed-room",
                 {nick: message.nick, room: old, new_room: now, reason}), time);
  },
  METADATA(message) {  // someone's key changed, or what it is (draft/metadata-2)
    const [target, key, , value] = message.params;
    if (target && !/^[#&]/.test(target)) this.setProfile(target, key, value);
  },
  "761"(message) {  // a key's value: our own, as we set it
    const [, target, key, , value] = message.params;
    if (target && !/^[#&]/.test(target)) this.setProfile(target, key, value);
  },
  "770"() {},  // subscribed
  "774"(message) {  // a crowded room's metadata, to be asked for
    if (message.params[1]) this.send(`METADATA ${message.params[1]} SYNC`);
  },
  MARKREAD(message) {  // where the user has read to, on this page or another of its own
    const [target, until] = message.params;
    const view = this.views.get(fold(target || ""));
    if (view && until && until.startsWith("timestamp=")) view.readTo(new Date(until.slice(10)));
  },
  NOTICE(message, time) {
    this.incoming(message, time, "notice");
  },
  ERROR(message, time) {
    const text = message.params[0] || t("closed");
    if (this.quitting) {  // the goodbye asked for: said once, and nobody is here any more
      this.here.add("notice", text, "", time);
      for (const view of this.views.values()) view.members.clear();
      this.showMembers();
      return;
    }
    for (const view of this.views.values()) view.add("error", text, "", time);
    if (!this.registered) this.nameProblem(text);
  },
};

// The message box as tall as its lines, up to the height its style allows.
function growBox() {
  const box = $("line");
  box.style.height = "auto";
  box.style.height = `${box.scrollHeight}px`;
}

// Show the password box, which the form then needs filled.
function askPassword() {
  const box = $("password");
  box.hidden = box.labels[0].hidden = false;
  box.required = true;
}

function status(text, trouble) {
  const line = $("status");
  line.textContent = text;
  line.classList.toggle("trouble", Boolean(trouble));
}

// -- Start ----------------------------------------------------------------------------------

const chat = new Chat();

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    $("login-error").textContent = "";
    chat.wanted = name;
    chat.password = $("password").value;
    chat.accountPassword = $("account-password").value;
    chat.registering = $("register").checked;
    $("join").disabled = true;
    if (chat.socket && chat.socket.readyState === WebSocket.OPEN) chat.register();
    else if (!chat.socket) chat.connect();  // registers once open
  });
  // Enter sends; Shift+Enter starts a new line, and a pasted block keeps its lines.
  $("line").addEventListener("keydown", (key) => {
    if (key.key === "Enter" && !key.shiftKey && !key.isComposing) {
      key.preventDefault();
      $("say").requestSubmit();
    }
  });
  $("line").addEventListener("input", growBox);
  $("say").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const text = $("line").value;
    if (!text.trim()) return;
    $("line").value = "";
    growBox();
    chat.say(text);
  });
  // Notifications: asked for when the box is ticked (a click: browsers ask only then), and
  // remembered in this browser.
  const box = $("notify");
  box.checked = localStorage.getItem("tcpchat-notify") === "yes";
  box.addEventListener("change", () => {
    localStorage.setItem("tcpchat-notify", box.checked ? "yes" : "no");
    if (box.checked && "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission();
    }
  });
  $("people-toggle").addEventListener("click", () => {
    const toggle = $("people-toggle");
    toggle.setAttribute("aria-expanded",
                        String(toggle.getAttribute("aria-expanded") !== "true"));
  });
  document.addEventListener("keydown", (key) => {
    if (!key.altKey || !/^[1-9]$/.test(key.key)) return;
    const view = [...chat.views.values()][Number(key.key) - 1];
    if (view) {
      key.preventDefault();
      chat.show(view);
      $("line").focus();
    }
  });
  if (matchMedia("(min-width: 40.01em)").matches) {
    $("people-toggle").setAttribute("aria-expanded", "true");
  }
  // The words first, in the reader's language; then the form may be used.
  fetch("texts/en.json").then((answer) => answer.json())
    .then((english) => loadTexts(chosenLanguage(english.languages.map(([code]) => code))))
    .then(() => status(t("choose-name"), false))
    .catch(() => status("Choose a name to join.", false));
  $("lang").addEventListener("change", () => {
    const code = $("lang").value;
    localStorage.setItem("tcpchat-lang", code);
    loadTexts(code).then(() => {
      if (chat.socket && chat.socket.readyState === WebSocket.OPEN) chat.send(`LANGUAGE ${code}`);
      if (!chat.registered) status(t("choose-name"), false);
    });
  });
  // Whether the server wants a password: asked with the name, so the one connection
  // registers.  Without this answer (an old server), a refusal (464) asks for it.
  fetch("server.json").then((answer) => answer.json()).then((settings) => {
    if (settings.password) askPassword();
  }).catch(() => {});
});
