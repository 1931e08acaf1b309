/* Switchboard visitor widget.
 *
 * Embed on any page:   <script src="https://chat.example.com/widget.js" async></script>
 *                      (the site must be among the server's allowed sites: Admin → Widget → Allowed sites)
 * Optional attributes: data-title="Pedalwise support"  data-greeting="Hi! …"  data-color="#1f7a5a"
 *                      (each overrides, on this page, what the admin set: GET /api/widget/config)
 *                      data-group="billing": the skill group this page's visitors talk to (no group picker)
 * Page API:            Switchboard.setEmail("a@b.c"), Switchboard.open(), Switchboard.close(),
 *                      Switchboard.identify({id, email, name, attributes, signature}): a customer your server
 *                      signed (docs/identity.md), sent after every welcome; Switchboard.identify(null) forgets it
 *                      (calls made before the script loads can be queued on window.Switchboard.q)
 *
 * How it works (docs/protocol.md is the wire format):
 * - The server is wherever this script came from (its own <script src>), so it works on any origin.
 * - At start it reads the team's settings (GET /api/widget/config: title, greeting, colour, team name,
 *   logo); if that fails the widget keeps its defaults. The colour is set as CSS custom properties on the
 *   widget's root, with a text colour chosen to stay readable on it.
 * - A site the server does not allow gets an origin_not_allowed error: the widget says so in the
 *   console (with the setting to change), shows "Chat is not available on this site" and stops trying.
 * - The DOM lives in an open shadow root: the host page's CSS cannot reach it.
 * - One websocket to /ws/visitor. The hello carries the stored visitor token and, for the conversation
 *   on screen, the last seq seen; the server sends what is missing. Messages are kept by seq, so a
 *   message heard twice is shown once, in order.
 * - A sent message is pending until its ack and stays in the outbox (and in localStorage) until then;
 *   after a reconnect or a reload it is re-sent with the same client_id, which the server de-duplicates.
 * - Size is counted as the server counts it: the UTF-8 bytes of the whole frame, against the welcome's
 *   max_frame_bytes (MAX_FRAME_BYTES until a welcome says). What cannot fit is refused before it is sent;
 *   a message the server refuses as too large anyway (a frame_too_large error, a 1009 close) leaves the
 *   outbox for good with a note, so it can never be re-sent in a loop and hold up the messages after it.
 * - The transcript is kept in localStorage per conversation, so a reload re-renders it at once.
 * - People's text is only ever put in the page with text nodes (never innerHTML).
 * - Before anyone asks, the widget reads whether its group answers now (GET /api/widget/status): open,
 *   open but nobody online, or closed with the next opening, shown in the visitor's own time zone. Closed,
 *   a full queue, leaving the queue and nobody online all offer the leave-a-message form (email + message,
 *   POST /api/widget/messages with the visitor token); the visitor's left messages and their replies are
 *   read back (GET /api/widget/messages) and shown at the top of the chat (docs/leave-a-message.md).
 * - With two or more groups in the config (`groups`), "talk to a person" first asks which one.
 */
(function () {
  "use strict";

  if (window.Switchboard && window.Switchboard.version) return; // loaded twice: keep the first

  // --- where we come from ---------------------------------------------------------------------------

  const SCRIPT = document.currentScript;
  const BASE = (() => {
    try {
      return new URL(".", SCRIPT && SCRIPT.src ? SCRIPT.src : location.href);
    } catch (_) {
      return new URL("/", location.href);
    }
  })();
  const WS_URL = (BASE.protocol === "https:" ? "wss:" : "ws:") + "//" + BASE.host + BASE.pathname + "ws/visitor";
  const CSS_URL = new URL("static/widget.css", BASE).href;
  const DATA = (SCRIPT && SCRIPT.dataset) || {};
  // Why nobody comes, in the visitor's words (the error's own message is written for developers).
  const HANDOFF_TEXT = {
    queue_full: "All our people are busy and the waiting line is full. Please try again in a few minutes.",
    unknown_group: "Sorry, nobody can take this chat right now. Please try again later.",
  };
  // What the widget shows: the script tag's data-* first, then the admin's settings (applyConfig), then these.
  const LOOK = {
    title: DATA.title || "Chat with us",
    greeting: DATA.greeting || "Hi! Ask us anything, or talk to a person.",
    team: "",
    logo: "",
  };
  const ACCENT = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(DATA.color || "") ? DATA.color : null;
  const CONFIG_URL = new URL("api/widget/config", BASE).href;
  const STATUS_URL = new URL("api/widget/status", BASE).href;
  const MESSAGES_URL = new URL("api/widget/messages", BASE).href;
  const SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/; // a skill group's id
  const FIXED_GROUP = SLUG.test(DATA.group || "") ? DATA.group : null;
  const MAX_LEFT_CHARS = 4000; // the server's limit on a left message
  const STATUS_FRESH_MS = 20000; // the status is read again when the panel opens after this long
  const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const REFUSED_TEXT = "Chat is not available on this site";

  const VERSION = "1";
  // The server's frame limit until its welcome says otherwise: keep equal to ServerSettings.max_frame_bytes
  // (tests/web/test_widget.py checks). Chinese text is 3 bytes a character, so 8000 characters need not fit.
  const MAX_FRAME_BYTES = 16384;
  const MAX_TEXT_CHARS = 8000; // protocol.py's limit on `text`, counted in code points as Python does
  const MAX_EMAIL_CHARS = 254; // protocol.py's limit on `email`: a longer one would fail every hello
  const CLOSE_TOO_BIG = 1009;
  const TOO_LONG_DROPPED = "A message was too long to send and was not delivered. Please shorten it, or send it in parts.";
  const MAX_ITEMS = 300; // transcript entries kept per conversation
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 10000;
  const PING_IDLE_MS = 25000; // ask for a pong after this long without a frame
  const PING_DEADLINE_MS = 10000; // and give the socket up if none comes
  const TYPING_IDLE_MS = 2500;
  const TYPING_SHOWN_MS = 10000;

  // --- storage ----------------------------------------------------------------------------------------

  const KEY = {
    token: "switchboard.visitor",
    email: "switchboard.email",
    session: "switchboard.session",
    open: "switchboard.open",
    group: "switchboard.group",
    leftSeen: "switchboard.left-seen",
    transcript: (conv) => "switchboard.transcript." + conv,
  };

  function load(area, key, fallback) {
    try {
      const raw = window[area].getItem(key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (_) {
      return fallback;
    }
  }

  function store(area, key, value) {
    try {
      if (value == null) window[area].removeItem(key);
      else window[area].setItem(key, JSON.stringify(value));
    } catch (_) {
      /* private mode or full: the widget still works, it just forgets on reload */
    }
  }

  // --- state ------------------------------------------------------------------------------------------

  const saved = load("localStorage", KEY.session, {}) || {};
  const S = {
    token: load("localStorage", KEY.token, null),
    visitor: null,
    email: load("localStorage", KEY.email, null), // what the visitor or the page gave
    emailOnServer: false, // the server has an email for this visitor (welcome.email or a profile echo)
    requireEmail: false,
    conv: typeof saved.conv === "string" ? saved.conv : null,
    phase: saved.phase || "none", // none | bot | queued | assigned | closed | abandoned
    agent: saved.agent || null, // {id, name}
    ended: !!saved.ended,
    rated: saved.rated || null,
    items: [], // messages {seq, role, name, text, time, kind, bot, client_id} and notices {notice, after}
    seqs: new Set(),
    lastSeq: 0,
    outbox: [], // {kind: "message", client_id, text, time, failed} | {kind: "control", frame}
    old: new Set(), // conversations left behind: their late frames are ignored
    queue: null, // {position, eta_s}
    handoff: false, // asked for a person, no answer yet
    waitTimeout: false,
    emailForm: null, // {then: "human" | null, error, waiting}
    ratingScore: 0,
    rating: "idle", // idle | sending
    typing: false,
    deltas: new Map(), // reply_to -> streamed text
    error: null,
    unread: 0,
    open: !!load("sessionStorage", KEY.open, false),
    maxFrameBytes: MAX_FRAME_BYTES, // what the welcome announced
    refusedBytes: Infinity, // the smallest message frame the server refused as too large
    group: FIXED_GROUP || (SLUG.test(String(load("sessionStorage", KEY.group, ""))) ? load("sessionStorage", KEY.group, null) : null),
    groups: [], // the group picker's choices (config `groups`): [{id, label}]
    picking: false, // "who would you like to talk to?" is on screen
    hours: null, // {status, next_opening, off_hours_reply} of the group (GET /api/widget/status)
    hoursAt: 0,
    leave: null, // the leave-a-message form: {reason, error, waiting, queued}
    leaveDismissed: false, // "not now" on the form a closed desk offered
    leftSent: null, // the address of the message just left
    left: [], // the visitor's left messages and their replies, oldest first
  };
  for (const m of saved.pending || []) {
    if (m && typeof m.client_id === "string" && typeof m.text === "string") {
      S.outbox.push({ kind: "message", client_id: m.client_id, text: m.text, time: m.time || 0 });
    }
  }
  if (S.conv) loadTranscript(S.conv);

  let counter = 0;

  function loadTranscript(conv) {
    S.items = [];
    S.seqs = new Set();
    S.lastSeq = 0;
    const items = load("localStorage", KEY.transcript(conv), []);
    for (const it of Array.isArray(items) ? items : []) {
      if (it && typeof it.seq === "number" && !S.seqs.has(it.seq)) {
        S.items.push(it);
        S.seqs.add(it.seq);
        S.lastSeq = Math.max(S.lastSeq, it.seq);
      } else if (it && typeof it.notice === "string") {
        S.items.push(it);
      }
    }
  }

  function save() {
    store("localStorage", KEY.session, {
      conv: S.conv, phase: S.phase, agent: S.agent, ended: S.ended, rated: S.rated,
      pending: S.outbox.filter((o) => o.kind === "message" && !o.failed)
        .map((o) => ({ client_id: o.client_id, text: o.text, time: o.time })),
    });
    if (S.conv) store("localStorage", KEY.transcript(S.conv), S.items.slice(-MAX_ITEMS));
  }

  /** Show another conversation (one the server opened for us): the old one's transcript is let go. */
  function switchTo(conv) {
    if (S.conv && S.conv !== conv) {
      S.old.add(S.conv);
      store("localStorage", KEY.transcript(S.conv), null);
    }
    const notes = S.conv ? [] : S.items.filter((it) => it.notice != null); // told before there was a conversation
    S.conv = conv;
    loadTranscript(conv);
    for (const it of notes) S.items.push({ notice: it.notice, after: 0 });
    Object.assign(S, { phase: "bot", agent: null, ended: false, rated: null, queue: null, waitTimeout: false,
      handoff: false, typing: false, ratingScore: 0, rating: "idle" });
    S.deltas.clear();
  }

  /** The visitor starts over after an ended conversation: their next message opens a new one. */
  function startOver() {
    if (S.conv) {
      S.old.add(S.conv);
      store("localStorage", KEY.transcript(S.conv), null);
    }
    S.conv = null;
    S.items = [];
    S.seqs = new Set();
    S.lastSeq = 0;
    Object.assign(S, { phase: "none", agent: null, ended: false, rated: null, queue: null, waitTimeout: false,
      handoff: false, typing: false, ratingScore: 0, rating: "idle" });
    S.deltas.clear();
  }

  function notice(text) {
    S.items.push({ notice: text, after: S.lastSeq });
  }

  // --- frame size: bytes as the server counts them ------------------------------------------------------

  const utf8 = new TextEncoder();

  function frameBytes(frame) {
    return utf8.encode(JSON.stringify(frame)).length;
  }

  function messageFrame(p) {
    return { type: "message", client_id: p.client_id, text: p.text };
  }

  /** The most bytes a frame may have: what the server announced, less than anything it refused. */
  function frameLimit() {
    return Math.min(S.maxFrameBytes, S.refusedBytes - 1);
  }

  /** Why `p` cannot be sent, in the visitor's words; null when it can. */
  function tooLong(p) {
    const chars = Array.from(p.text).length;
    if (chars > MAX_TEXT_CHARS) {
      return "That message is too long to send (" + MAX_TEXT_CHARS + " characters at most). Please shorten it, or send it in parts.";
    }
    const bytes = frameBytes(messageFrame(p));
    const over = bytes - frameLimit();
    if (over <= 0) return null;
    const cut = Math.max(1, Math.ceil(over / (utf8.encode(p.text).length / chars)));
    return "That message is too long to send. Please shorten it by about " + cut + " characters, or send it in parts.";
  }

  /** `p` will never be sent: out of the outbox for good, a note in the transcript, its text back in the box. */
  function dropTooLong(p) {
    const i = S.outbox.indexOf(p);
    if (i >= 0) S.outbox.splice(i, 1);
    notice(TOO_LONG_DROPPED);
    if (!input.value.trim()) {
      input.value = p.text;
      autosize();
    }
    save();
    render();
  }

  /** The server refused a frame of `sock` as too large (its frame_too_large error, or the 1009 close that
   * ends the socket, whichever comes first). The refused frame is the biggest message sent on the socket
   * and not acknowledged: it is dropped, and nothing as big is sent again. */
  function refusedAsTooLarge(sock) {
    const sent = sentOn.get(sock);
    if (!sent || sent.refused) return;
    sent.refused = true;
    let culprit = null;
    let size = 0;
    for (const o of S.outbox) {
      if (o.kind !== "message" || !sent.ids.has(o.client_id)) continue;
      const bytes = frameBytes(messageFrame(o));
      if (bytes > size) [culprit, size] = [o, bytes];
    }
    if (!culprit) return;
    S.refusedBytes = Math.min(S.refusedBytes, size);
    dropTooLong(culprit);
  }

  // --- the DOM ----------------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "testid") el.setAttribute("data-testid", v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c != null && c !== false) el.append(c); // strings become text nodes
    return el;
  }

  function icon(paths, size) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size || 24));
    svg.setAttribute("height", String(size || 24));
    svg.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", d);
      svg.append(p);
    }
    return svg;
  }

  const ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"];
  const ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  const ICON_SEND = ["M3 20l18-8L3 4l3 8-3 8z", "M6 12h8"];

  const host = document.createElement("switchboard-widget");
  host.setAttribute("style", "all: initial; position: fixed; z-index: 2147483000; bottom: 0; right: 0;");
  const root = host.attachShadow({ mode: "open" });

  const badge = h("span", { class: "badge", testid: "sb-unread", hidden: true });
  const bubble = h("button", { class: "bubble", type: "button", testid: "sb-bubble", "aria-label": "Open chat",
    onclick: () => (S.open ? closePanel() : openPanel()) }, icon(ICON_CHAT, 26), badge);

  const avatar = h("div", { class: "avatar", "aria-hidden": "true" });
  const titleEl = h("div", { class: "title", testid: "sb-title" }, LOOK.title);
  const agentNameEl = h("div", { class: "title", testid: "agent-name", hidden: true });
  const subtitleEl = h("div", { class: "subtitle", testid: "sb-subtitle" });
  const logoEl = h("img", { class: "logo", testid: "sb-logo", alt: "", hidden: true,
    onerror: () => { logoEl.dataset.failed = "true"; render(); } }); // a broken logo: the initial letter instead
  const endBtn = h("button", { class: "link", type: "button", testid: "sb-end", onclick: endConversation }, "End chat");
  const minimizeBtn = h("button", { class: "icon", type: "button", testid: "sb-minimize", "aria-label": "Close chat",
    onclick: closePanel }, icon(ICON_CLOSE, 18));
  const header = h("header", { class: "header" }, avatar, h("div", { class: "who" }, titleEl, agentNameEl, subtitleEl),
    endBtn, minimizeBtn);

  const connEl = h("div", { class: "conn", testid: "connection-status", role: "status", hidden: true });
  const log = h("div", { class: "log", role: "log", "aria-live": "polite" });
  const typingEl = h("div", { class: "typing", testid: "typing", hidden: true });
  const errorEl = h("div", { class: "error", testid: "sb-error", role: "alert", hidden: true });
  const statusEl = h("div", { class: "status" });

  const input = h("textarea", { class: "input", testid: "sb-input", rows: "1", maxlength: "8000",
    placeholder: "Write a message…", "aria-label": "Message" });
  const sendBtn = h("button", { class: "send", type: "submit", testid: "sb-send", "aria-label": "Send" },
    icon(ICON_SEND, 20));
  const composer = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); submitComposer(); } },
    input, sendBtn);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitComposer();
    }
  });
  input.addEventListener("input", () => {
    autosize();
    typingStarted();
  });

  const panel = h("section", { class: "panel", testid: "sb-panel", role: "dialog", "aria-label": LOOK.title, hidden: true },
    header, connEl, log, typingEl, errorEl, statusEl, composer);
  const frameEl = h("div", { class: "sb" }, panel, bubble);
  if (ACCENT) setAccent(ACCENT);

  const sheet = h("link", { rel: "stylesheet", href: CSS_URL });
  // Hidden until the stylesheet and the team's settings are in (or failed): no flash of an unstyled widget,
  // nor of the default colour turning into the team's.
  frameEl.style.visibility = "hidden";
  let awaited = 2;
  const reveal = () => { frameEl.style.visibility = ""; };
  const arrived = () => { if (--awaited <= 0) reveal(); };
  sheet.addEventListener("load", arrived);
  sheet.addEventListener("error", arrived);
  setTimeout(reveal, 3000);
  root.append(h("style", {}, "[hidden]{display:none !important}"), sheet, frameEl);

  // --- the team's settings and colour -------------------------------------------------------------------

  /** "#rgb", "#rgba", "#rrggbb" or "#rrggbbaa" as [r, g, b] (0..255); the alpha is ignored. */
  function rgb(colour) {
    let hex = colour.slice(1);
    if (hex.length <= 4) hex = hex.split("").map((c) => c + c).join("");
    const n = parseInt(hex.slice(0, 6), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function luminance(colour) {
    const [r, g, b] = rgb(colour).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function contrast(a, b) {
    const [hi, lo] = a > b ? [a, b] : [b, a];
    return (hi + 0.05) / (lo + 0.05);
  }

  /** The accent colour, with the ink on it (white or dark, whichever reads better) and a colour for text in
   * the accent on white (the accent itself, unless too light to read: then the dark ink). */
  function setAccent(colour) {
    const INK = "#1d2327";
    const l = luminance(colour);
    frameEl.style.setProperty("--sb-accent", colour);
    frameEl.style.setProperty("--sb-accent-ink", contrast(l, 1) >= contrast(l, luminance(INK)) ? "#ffffff" : INK);
    frameEl.style.setProperty("--sb-accent-text", contrast(l, 1) >= 3 ? colour : INK);
  }

  function applyConfig(c) {
    if (!c || typeof c !== "object") return;
    const text = (v, max) => (typeof v === "string" ? v.trim().slice(0, max) : "");
    if (!DATA.title && text(c.title, 60)) LOOK.title = text(c.title, 60);
    if (!DATA.greeting && text(c.greeting, 300)) LOOK.greeting = text(c.greeting, 300);
    LOOK.team = text(c.team_name, 100);
    LOOK.logo = logoUrl(c.logo_url);
    if (!ACCENT && typeof c.colour === "string" && /^#[0-9a-f]{6}$/i.test(c.colour)) setAccent(c.colour);
    S.groups = (Array.isArray(c.groups) ? c.groups : [])
      .filter((g) => g && typeof g.id === "string" && SLUG.test(g.id))
      .map((g) => ({ id: g.id, label: text(g.label, 60) || g.id })).slice(0, 20);
    if (!FIXED_GROUP && S.group && S.groups.length && !S.groups.some((g) => g.id === S.group)) chooseGroup(null);
    if (pickerWaits() && S.hours && !S.leave) S.hours = null; // which group's status? none until one is chosen
    titleEl.textContent = LOOK.title;
    panel.setAttribute("aria-label", LOOK.title);
    greetingEl.textContent = LOOK.greeting;
    if (LOOK.logo) logoEl.src = LOOK.logo;
    render();
  }

  /** The logo's address. The server's pictures are loaded from where this script came from (the server may
   * not know the address it is reached by, behind a proxy without public_url); any other http(s) one as is. */
  function logoUrl(value) {
    if (typeof value !== "string" || !value) return "";
    try {
      const url = new URL(value, BASE);
      if (url.pathname.startsWith("/api/images/")) return new URL(url.pathname.slice(1) + url.search, BASE).href;
      return /^https?:$/.test(url.protocol) ? url.href : "";
    } catch (_) {
      return "";
    }
  }

  function loadConfig() {
    // No cookies: the settings are public and the same for everyone.
    fetch(CONFIG_URL, { credentials: "omit", cache: "no-cache" })
      .then((r) => (r.ok ? r.json() : null))
      .then(applyConfig)
      .catch(() => { /* the defaults stay */ })
      .finally(arrived);
  }

  // --- whether the group answers now, and the messages left (docs/leave-a-message.md) -----------------------

  let statusLoading = undefined; // the group whose status is being read (null: the default group)
  /** Read the group's status (open, open_no_agents, closed) unless a fresh one is known or `force`. */
  /** A picker offers groups and none is chosen yet: no group's status is the visitor's. */
  function pickerWaits() {
    return !FIXED_GROUP && !S.group && S.groups.length >= 2;
  }

  function loadStatus(force) {
    if (pickerWaits()) return;
    if (statusLoading === S.group || (!force && S.hours && Date.now() - S.hoursAt < STATUS_FRESH_MS)) return;
    const group = S.group;
    statusLoading = group;
    fetch(STATUS_URL + (group ? "?group=" + encodeURIComponent(group) : ""), { credentials: "omit", cache: "no-cache" })
      .then((r) => (r.ok ? r.json() : null))
      .then((b) => {
        if (!b || group !== S.group || !["open", "open_no_agents", "closed"].includes(b.status)) return;
        setHours(b.status, b.next_opening, b.off_hours_reply);
      })
      .catch(() => { /* unknown: the widget claims nothing */ })
      .finally(() => { if (statusLoading === group) statusLoading = undefined; render(); });
  }

  function setHours(status, nextOpening, reply) {
    const before = S.hours && S.hours.status;
    S.hours = { status, next_opening: typeof nextOpening === "number" ? nextOpening : null,
      off_hours_reply: typeof reply === "string" ? reply.trim().slice(0, 1000) : (S.hours && S.hours.off_hours_reply) || "" };
    S.hoursAt = Date.now();
    if (status === "closed" && before !== "closed") S.leaveDismissed = false;
    // Closed: the form at once, unless the visitor has left messages already (theirs and the replies come first).
    if (status === "closed" && !S.leave && !S.leaveDismissed && !S.left.length && idle()) S.leave = { reason: "closed", auto: true };
  }

  /** When the group opens next, in the visitor's own time zone and words ("Tuesday 09:00"). */
  function openingText(t) {
    if (typeof t !== "number" || !isFinite(t)) return null;
    return new Date(t * 1000).toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" });
  }

  function chooseGroup(id) {
    if (FIXED_GROUP) return;
    S.group = id;
    store("sessionStorage", KEY.group, id);
    S.hours = null;
    loadStatus(true);
  }

  function idle() {
    return !S.refused && !S.ended && !S.handoff && !S.emailForm && !S.picking && (S.phase === "none" || S.phase === "bot");
  }

  function offerLeave(reason) {
    if (!S.leave) S.leave = { reason };
    S.leftSent = null;
    if (!S.open) S.unread += 1;
  }

  function replyCount() {
    return S.left.reduce((n, m) => n + m.replies.length, 0);
  }

  /** The visitor's left messages and their replies (with their token: none yet, nothing to show). */
  function loadLeft() {
    if (!S.token) return;
    fetch(MESSAGES_URL, { credentials: "omit", cache: "no-cache", headers: { Authorization: "Bearer " + S.token } })
      .then((r) => (r.ok ? r.json() : null))
      .then((b) => {
        if (!b || !Array.isArray(b.messages)) return;
        const str = (v) => (typeof v === "string" ? v : "");
        S.left = b.messages.filter((m) => m && typeof m.conversation === "string").slice(0, 5).reverse()
          .map((m) => ({ conversation: m.conversation, text: str(m.text), at: m.created_at,
            replies: (Array.isArray(m.replies) ? m.replies : []).filter(Boolean)
              .map((r) => ({ seq: r.seq, text: str(r.text), name: str(r.name), at: r.at })) }));
        if (S.left.length && S.leave && S.leave.auto && !S.leave.waiting && !S.leave.error) S.leave = null;
        S.scrollDown = true;
        const seen = Number(load("localStorage", KEY.leftSeen, 0)) || 0;
        const count = replyCount();
        if (S.open) store("localStorage", KEY.leftSeen, count);
        else if (count > seen) S.unread += count - seen;
        render();
      })
      .catch(() => { /* shown next time */ });
  }

  function submitLeave(name, email, text) {
    const f = S.leave;
    if (!f || f.waiting) return;
    email = String(email || "").trim();
    text = String(text || "").trim();
    if (!EMAIL_RE.test(email) || email.length > MAX_EMAIL_CHARS) f.error = "Please enter a valid email address.";
    else if (!text) f.error = "Please write your message.";
    else if (Array.from(text).length > MAX_LEFT_CHARS) f.error = "Your message is too long (" + MAX_LEFT_CHARS + " characters at most).";
    else f.error = null;
    if (f.error) return render();
    S.email = email;
    store("localStorage", KEY.email, email);
    const body = { email, text, reason: f.reason };
    if (String(name || "").trim()) body.name = String(name).trim().slice(0, 100);
    if (S.group) body.group = S.group;
    f.waiting = true;
    f.queued = body;
    if (S.token) postLeave();
    else ensureConnected(); // the welcome brings a visitor token, then it is sent
    render();
  }

  function postLeave() {
    const f = S.leave;
    if (!f || !f.queued || !S.token) return;
    const body = f.queued;
    f.queued = null;
    fetch(MESSAGES_URL, { method: "POST", credentials: "omit",
      headers: { Authorization: "Bearer " + S.token, "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then((r) => r.json().catch(() => null).then((b) => [r.status, b]))
      .then(([status, b]) => {
        if (status === 201) {
          S.leave = null;
          S.leftSent = body.email;
          leaveUi = null;
          loadLeft();
          return;
        }
        f.error = status === 429 ? "You have left several messages already. Please try again later."
          : status === 401 ? "Please try again in a moment."
          : (b && b.error && b.error.message) || "Your message could not be sent. Please try again.";
        if (status === 401) forgetVisitor();
      })
      .catch(() => { f.error = "Your message could not be sent. Please check your connection and try again."; })
      .finally(() => { f.waiting = false; render(); });
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  /** Text with http(s) links made clickable; everything else stays plain text. */
  function richText(el, text) {
    const parts = String(text).split(/(https?:\/\/[^\s<>"']+)/g);
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const href = part.replace(/[.,;:!?)]+$/, "");
        el.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, href), part.slice(href.length));
      } else if (part) {
        el.append(part);
      }
    });
    return el;
  }

  // --- rendering --------------------------------------------------------------------------------------

  const elements = new WeakMap(); // transcript entry / outbox entry -> its element

  function messageElement(item) {
    let el = elements.get(item);
    if (el) return el;
    const role = ["visitor", "bot", "agent", "system"].includes(item.role) ? item.role : "system";
    const name = h("div", { class: "name" }, role === "visitor" ? "" : item.name || "");
    const body = richText(h("div", { class: "text", testid: "sb-text" }), item.text);
    el = h("div", { class: "msg msg-" + role, testid: "sb-message", "data-role": role }, name, body);
    if (item.time) el.title = new Date(item.time * 1000).toLocaleString();
    const bot = item.bot || {};
    if (role === "bot" && bot.decision === "suggest" && Array.isArray(bot.suggestions) && bot.suggestions.length) {
      const list = h("div", { class: "suggestions" });
      for (const s of bot.suggestions) {
        if (s && typeof s.question === "string") {
          list.append(h("button", { class: "chip", type: "button", testid: "sb-suggestion",
            onclick: () => sendText(s.question) }, s.question));
        }
      }
      el.append(list);
    }
    elements.set(item, el);
    return el;
  }

  function pendingElement(p) {
    let el = elements.get(p);
    if (!el) {
      el = h("div", { class: "msg msg-visitor", testid: "sb-message", "data-role": "visitor" },
        h("div", { class: "name" }), richText(h("div", { class: "text", testid: "sb-text" }), p.text),
        h("div", { class: "state" }));
      elements.set(p, el);
    }
    el.classList.add("pending");
    el.dataset.pending = "true";
    el.dataset.seq = "";
    const state = el.querySelector(".state");
    state.replaceChildren();
    if (p.failed) {
      state.append("Not delivered. ", h("button", { class: "link", type: "button", onclick: () => retry(p) }, "Retry"));
      el.classList.add("failed");
    } else {
      state.append(S.welcomed ? "Sending…" : "Waiting for connection…");
      el.classList.remove("failed");
    }
    return el;
  }

  function noticeElement(item) {
    let el = elements.get(item);
    if (!el) {
      el = h("div", { class: "notice", testid: "sb-notice" }, item.notice);
      elements.set(item, el);
    }
    return el;
  }

  function sortedItems() {
    return S.items
      .map((it, i) => [it, typeof it.seq === "number" ? it.seq : (it.after || 0) + 0.5, i])
      .sort((a, b) => a[1] - b[1] || a[2] - b[2])
      .map((x) => x[0]);
  }

  /** Make `parent`'s children exactly `nodes`, moving only what is out of place (focus and scroll stay). */
  function reconcile(parent, nodes) {
    nodes.forEach((node, i) => {
      if (parent.childNodes[i] !== node) parent.insertBefore(node, parent.childNodes[i] || null);
    });
    while (parent.childNodes.length > nodes.length) parent.lastChild.remove();
  }

  const greetingEl = h("div", { class: "greeting", testid: "sb-greeting" }, LOOK.greeting);
  const deltaEls = new Map(); // reply_to -> the streaming bubble

  function renderLog() {
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    const nodes = [];
    if (!S.refused && !S.items.length && !S.outbox.some((o) => o.kind === "message")) nodes.push(greetingEl);
    nodes.push(...leftNodes()); // the messages the visitor left, and the replies, before this chat
    let previous = null;
    for (const it of sortedItems()) {
      if (it.notice != null) {
        nodes.push(noticeElement(it));
        previous = null;
        continue;
      }
      const el = messageElement(it);
      el.dataset.seq = String(it.seq);
      el.classList.remove("pending", "failed");
      delete el.dataset.pending;
      const st = el.querySelector(".state");
      if (st) st.remove();
      const runKey = it.role + ":" + it.name;
      el.querySelector(".name").hidden = it.role === "visitor" || it.role === "system" || runKey === previous;
      previous = runKey;
      nodes.push(el);
    }
    for (const key of [...deltaEls.keys()]) if (!S.deltas.has(key)) deltaEls.delete(key);
    for (const [key, text] of S.deltas) {
      let el = deltaEls.get(key);
      if (!el) {
        el = h("div", { class: "msg msg-bot streaming", testid: "sb-delta", "data-role": "bot" }, h("div", { class: "text" }));
        deltaEls.set(key, el);
      }
      el.firstChild.textContent = text;
      nodes.push(el);
    }
    for (const p of S.outbox) if (p.kind === "message") nodes.push(pendingElement(p));
    reconcile(log, nodes);
    if (nearBottom || S.scrollDown) log.scrollTop = log.scrollHeight;
    S.scrollDown = false;
  }

  const leftEls = new Map(); // a left message's key -> its elements
  function leftNodes() {
    const nodes = [];
    for (const m of S.left) {
      const key = m.conversation + ":" + m.replies.length;
      let els = leftEls.get(key);
      if (!els) {
        const when = typeof m.at === "number" ? new Date(m.at * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
        els = [h("div", { class: "msg msg-visitor left", testid: "left-message" },
          h("div", { class: "name" }, "Your message" + (when ? " · " + when : "")),
          richText(h("div", { class: "text" }), m.text))];
        for (const r of m.replies) {
          els.push(h("div", { class: "msg msg-agent left", testid: "left-reply" },
            h("div", { class: "name" }, (r.name || "Our team") + " replied"), richText(h("div", { class: "text" }), r.text)));
        }
        if (!m.replies.length) els.push(h("div", { class: "notice", testid: "left-waiting" }, "We will reply by email."));
        leftEls.set(key, els);
      }
      nodes.push(...els);
    }
    return nodes;
  }

  function renderHeader() {
    const agentName = S.agent && S.agent.name;
    agentNameEl.textContent = agentName || "";
    agentNameEl.hidden = !agentName;
    titleEl.hidden = !!agentName;
    const showLogo = !agentName && !!LOOK.logo && !logoEl.dataset.failed;
    logoEl.hidden = !showLogo;
    if (showLogo) avatar.replaceChildren(logoEl);
    else avatar.textContent = (agentName || LOOK.title).trim().charAt(0).toUpperCase();
    avatar.classList.toggle("avatar-agent", !!agentName);
    avatar.classList.toggle("avatar-logo", showLogo);
    const status = S.refused ? "" // the bar below the header says it
      : S.ended ? "Conversation ended"
      : S.phase === "assigned" ? "Customer service"
      : S.phase === "queued" || S.handoff ? "Waiting for a person"
      : !S.hours ? "" // not known yet: claim nothing
      : S.hours.status === "open" ? "We reply in a few moments"
      : S.hours.status === "open_no_agents" ? "Nobody is online right now"
      : "Closed now";
    subtitleEl.textContent = [agentName ? "" : LOOK.team, status].filter(Boolean).join(" · ");
    endBtn.hidden = !S.conv || S.ended || S.phase === "none";
  }

  function renderConnection() {
    if (S.refused) {
      connEl.hidden = false;
      connEl.textContent = REFUSED_TEXT;
      connEl.dataset.state = "refused";
      return;
    }
    const state = S.welcomed ? "online" : S.everWelcomed || S.attempt > 0 ? "reconnecting" : S.connecting ? "connecting" : "idle";
    connEl.hidden = state === "online" || state === "idle";
    connEl.textContent = state === "reconnecting" ? "Reconnecting…" : "Connecting…";
    connEl.dataset.state = state;
  }

  function etaText(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "";
    if (seconds < 60) return " (estimated wait: under a minute)";
    const minutes = Math.round(seconds / 60);
    return " (estimated wait: about " + minutes + (minutes === 1 ? " minute)" : " minutes)");
  }

  // The status area's parts are built once and updated in place, so a frame arriving while the
  // visitor types an email or a comment does not take the focus away.
  const queueEl = h("div", { class: "info", testid: "queue-status", role: "status" });
  const waitEl = h("div", { class: "card", testid: "wait-timeout" },
    h("div", {}, "Sorry for the wait. Would you like to keep waiting?"),
    h("div", { class: "row" },
      h("button", { class: "btn", type: "button", testid: "keep-waiting", onclick: () => keepWaiting() }, "Keep waiting"),
      h("button", { class: "btn btn-quiet", type: "button", testid: "leave-queue", onclick: () => leaveQueue() }, "Leave")));
  const talkBtn = h("button", { class: "btn btn-outline talk", type: "button", testid: "talk-to-person",
    onclick: () => requestHuman() }, "Talk to a person");
  const thanksEl = h("div", { class: "card thanks", testid: "rating-thanks", role: "status" }, "Thank you for your feedback!");

  const hoursEl = h("div", { class: "card hours", testid: "hours-status", role: "status" });
  const leaveBtn = h("button", { class: "btn btn-outline talk", type: "button", testid: "leave-message",
    onclick: () => { S.leaveDismissed = false; offerLeave(S.hours && S.hours.status === "closed" ? "closed"
      : S.hours && S.hours.status === "open_no_agents" ? "no_agents" : "offered"); render(); } }, "Leave a message");
  const choiceRow = h("div", { class: "choices" });
  const sentEl = h("div", { class: "card thanks", testid: "leave-sent", role: "status" });

  function hoursText() {
    const st = S.hours && S.hours.status;
    if (st === "closed") {
      const when = openingText(S.hours.next_opening);
      const first = S.hours.off_hours_reply || "We are closed right now.";
      return [first, when ? "We open again " + when + "." : ""].filter(Boolean);
    }
    if (st === "open_no_agents") return ["Nobody is online right now. You can wait for a person, or leave us a message."];
    return [];
  }

  function renderHours() {
    const lines = hoursText();
    hoursEl.dataset.status = (S.hours && S.hours.status) || "";
    reconcile(hoursEl, lines.map((line, i) => h("div", { class: i ? "opens" : "" }, line)));
    return hoursEl;
  }

  let pickerUi = null;
  function pickerEl() {
    if (!pickerUi || pickerUi.groups !== S.groups) {
      const buttons = S.groups.map((g) => h("button", { class: "btn btn-outline", type: "button", testid: "pick-group",
        "data-group": g.id, onclick: () => pickGroup(g.id) }, g.label));
      pickerUi = { groups: S.groups, el: h("div", { class: "card", testid: "group-picker" },
        h("div", { class: "strong" }, "Who would you like to talk to?"), h("div", { class: "choices" }, ...buttons),
        h("button", { class: "link", type: "button", onclick: () => { S.picking = false; render(); } }, "Cancel")) };
    }
    return pickerUi.el;
  }

  let leaveUi = null;
  const LEAVE_INTRO = {
    closed: "Leave us a message and we will reply by email.",
    queue_full: "All our people are busy. Leave us a message and we will reply by email.",
    left_queue: "You left the queue. Leave us a message and we will reply by email.",
    no_agents: "Nobody is online right now. Leave us a message and we will reply by email.",
    offered: "Leave us a message and we will reply by email.",
  };
  function leaveFormEl() {
    const f = S.leave;
    if (!leaveUi || leaveUi.state !== f) {
      const name = h("input", { class: "field", type: "text", testid: "leave-name", placeholder: "Your name (optional)",
        "aria-label": "Your name", autocomplete: "name", maxlength: "100" });
      const email = h("input", { class: "field", type: "email", testid: "leave-email", placeholder: "you@example.com",
        "aria-label": "Your email", autocomplete: "email", maxlength: "254", required: true });
      email.value = S.email || "";
      const text = h("textarea", { class: "field", testid: "leave-text", rows: "3", maxlength: String(MAX_LEFT_CHARS),
        placeholder: "Your message", "aria-label": "Your message", required: true });
      if (input.value.trim()) text.value = input.value.trim(); // what they had started to write
      const submit = h("button", { class: "btn", type: "submit", testid: "leave-submit" });
      const error = h("div", { class: "field-error", testid: "leave-error", role: "alert" });
      const form = h("form", { class: "card leave", testid: "leave-form", novalidate: true,
        oninput: () => { if (f.error) { f.error = null; render(); } },
        onsubmit: (e) => { e.preventDefault(); submitLeave(name.value, email.value, text.value); } },
        h("div", { class: "strong" }, LEAVE_INTRO[f.reason] || LEAVE_INTRO.offered), name, email, text, error,
        h("div", { class: "row" }, submit,
          h("button", { class: "link", type: "button", testid: "leave-cancel",
            onclick: () => { S.leave = null; S.leaveDismissed = true; render(); } }, "Not now")));
      leaveUi = { state: f, form, submit, error };
    }
    leaveUi.submit.disabled = !!f.waiting;
    leaveUi.submit.textContent = f.waiting ? "Sending…" : "Send message";
    leaveUi.error.textContent = f.error || "";
    leaveUi.error.hidden = !f.error;
    return leaveUi.form;
  }

  function renderStatus() {
    const parts = [];
    if (!S.ended && S.phase === "queued" && S.queue) {
      queueEl.textContent = "You are number " + S.queue.position + " in the queue" + etaText(S.queue.eta_s);
      parts.push(queueEl);
    } else if (!S.ended && (S.handoff || S.phase === "queued")) {
      queueEl.textContent = S.phase === "queued" ? "You are in the queue for a person…" : "Connecting you to a person…";
      parts.push(queueEl);
    }
    if (!S.ended && S.waitTimeout && S.phase === "queued") parts.push(waitEl);
    if (S.emailForm) parts.push(emailFormEl());
    if (S.ended && S.phase === "closed") parts.push(S.rated ? thanksEl : ratingEl());
    if (S.picking) parts.push(pickerEl());
    const closed = !!S.hours && S.hours.status === "closed";
    if (idle() && (closed || (S.hours && S.hours.status === "open_no_agents"))) parts.push(renderHours());
    if (S.leftSent) {
      sentEl.textContent = "Thank you! We got your message and will reply to " + S.leftSent + ".";
      parts.push(sentEl);
    }
    if (S.leave && !S.refused) parts.push(leaveFormEl());
    if (idle()) {
      const buttons = [];
      if (!closed) buttons.push(talkBtn);
      if (!S.leave && (closed || (S.hours && S.hours.status === "open_no_agents"))) buttons.push(leaveBtn);
      reconcile(choiceRow, buttons);
      if (buttons.length) parts.push(choiceRow);
    }
    reconcile(statusEl, parts);
  }

  let emailUi = null;
  function emailFormEl() {
    const f = S.emailForm;
    if (!emailUi || emailUi.state !== f) {
      const field = h("input", { class: "field", type: "email", testid: "email-input", placeholder: "you@example.com",
        "aria-label": "Your email", autocomplete: "email", maxlength: "254" });
      field.value = S.email || "";
      const submit = h("button", { class: "btn", type: "submit", testid: "email-submit" });
      const error = h("div", { class: "field-error", role: "alert" });
      const form = h("form", { class: "card", testid: "email-form", novalidate: true,
        onsubmit: (e) => { e.preventDefault(); submitEmail(field.value); } },
        h("div", {}, f.then === "human" ? "Please leave your email first, so a person can reach you if we get cut off."
          : "Leave your email and we will get back to you."),
        h("div", { class: "row" }, field, submit), error,
        f.then === "human" ? null
          : h("button", { class: "link", type: "button", onclick: () => { S.emailForm = null; render(); } }, "No thanks"));
      emailUi = { state: f, form, field, submit, error };
      if (S.open) setTimeout(() => field.focus(), 0);
    }
    emailUi.submit.disabled = !!f.waiting;
    emailUi.submit.textContent = f.waiting ? "Saving…" : "Continue";
    emailUi.error.textContent = f.error || "";
    emailUi.error.hidden = !f.error;
    return emailUi.form;
  }

  let ratingUi = null;
  function ratingEl() {
    if (!ratingUi || ratingUi.conv !== S.conv) {
      const stars = [];
      for (let n = 1; n <= 5; n++) {
        stars.push(h("button", { class: "star", type: "button", testid: "star-" + n, role: "radio",
          "aria-label": n + (n === 1 ? " star" : " stars"), onclick: () => { S.ratingScore = n; render(); } }, "★"));
      }
      const comment = h("textarea", { class: "field", testid: "rating-comment", rows: "2", maxlength: "2000",
        placeholder: "Anything to add? (optional)", "aria-label": "Comment" });
      const submit = h("button", { class: "btn", type: "submit", testid: "rating-submit" });
      const form = h("form", { class: "card", testid: "rating",
        onsubmit: (e) => { e.preventDefault(); rate(comment.value); } },
        h("div", { class: "strong" }, "How did we do?"),
        h("div", { class: "stars", role: "radiogroup", "aria-label": "Your rating" }, ...stars), comment, submit);
      ratingUi = { conv: S.conv, form, stars, submit };
    }
    ratingUi.stars.forEach((star, i) => {
      star.classList.toggle("on", i < S.ratingScore);
      star.setAttribute("aria-checked", i + 1 === S.ratingScore ? "true" : "false");
    });
    ratingUi.submit.disabled = !S.ratingScore || S.rating === "sending";
    ratingUi.submit.textContent = S.rating === "sending" ? "Sending…" : "Send rating";
    return ratingUi.form;
  }

  function renderTyping() {
    const name = (S.agent && S.agent.name) || "The agent";
    typingEl.hidden = !(S.typing && S.phase === "assigned" && !S.ended);
    typingEl.textContent = name + " is typing…";
  }

  function renderError() {
    errorEl.hidden = !S.error;
    errorEl.textContent = S.error || "";
  }

  function renderShell() {
    panel.hidden = !S.open;
    bubble.classList.toggle("is-open", S.open);
    bubble.setAttribute("aria-label", S.open ? "Close chat" : "Open chat");
    badge.hidden = S.open || !S.unread;
    badge.textContent = S.unread > 9 ? "9+" : String(S.unread);
    input.placeholder = S.refused ? "" : S.ended ? "Write to start a new conversation…" : "Write a message…";
    input.disabled = !!S.refused;
    sendBtn.disabled = !!S.refused;
  }

  let renderQueued = false;
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      for (const part of [renderShell, renderHeader, renderConnection, renderLog, renderTyping, renderError, renderStatus]) {
        try {
          part();
        } catch (e) {
          console.error("switchboard widget:", e);
        }
      }
    });
  }

  let errorTimer = null;
  function showError(message) {
    S.error = String(message || "Something went wrong.");
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { S.error = null; render(); }, 8000);
    render();
  }

  // --- the connection ---------------------------------------------------------------------------------

  let ws = null;
  let wanted = false; // a connection was asked for (the chat was opened, or there is something to resume)
  let retryTimer = null;
  let heartbeat = null;
  let lastHeard = 0;
  let pingSent = 0;
  S.welcomed = false;
  S.everWelcomed = false;
  S.attempt = 0;
  S.connecting = false;
  S.refused = false; // the server does not allow this site (origin_not_allowed): no more tries on this page

  function connect() {
    if (S.refused) return;
    wanted = true;
    if (ws) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    let sock;
    try {
      sock = new WebSocket(WS_URL);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    S.connecting = true;
    S.welcomed = false;
    sock.onopen = () => {
      if (sock === ws) sock.send(JSON.stringify(helloFrame()));
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      lastHeard = Date.now();
      pingSent = 0;
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      try {
        handle(f);
      } catch (e) {
        console.error("switchboard widget:", e);
      }
    };
    sock.onerror = () => {}; // a close follows
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      lost();
      if (S.refused) return; // told why already: reconnecting would only be refused again
      if (ev.code === 4001) forgetVisitor(); // the token is no good: come back as a new visitor
      if (ev.code === CLOSE_TOO_BIG) refusedAsTooLarge(sock);
      scheduleReconnect();
    };
    render();
  }

  function lost() {
    S.welcomed = false;
    S.connecting = false;
    S.typing = false;
    typingSent = false;
    clearInterval(heartbeat);
    heartbeat = null;
    render();
  }

  /** Give the current socket up (the network went away, or it stopped answering) and reconnect. */
  function drop(immediately) {
    const sock = ws;
    if (sock) {
      ws = null;
      try {
        sock.close();
      } catch (_) {
        /* already closing */
      }
      lost();
    }
    scheduleReconnect(immediately);
  }

  function scheduleReconnect(immediately) {
    if (S.refused) return;
    if (immediately) {
      clearTimeout(retryTimer);
      retryTimer = null;
      S.attempt = 0;
    }
    if (retryTimer || ws) return;
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** S.attempt);
    const delay = immediately ? 0 : base * (0.5 + Math.random() * 0.5); // jitter: not every widget at once
    S.attempt += 1;
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
    render();
  }

  function ensureConnected() {
    if (!ws && !retryTimer) connect();
  }

  function forgetVisitor() {
    S.token = null;
    store("localStorage", KEY.token, null);
    startOver();
    save();
  }

  function helloFrame() {
    const last = {};
    if (S.conv) last[S.conv] = S.lastSeq;
    const hello = { type: "hello", v: 1, token: S.token, channel: "widget", page: String(location.href).slice(0, 2048),
      last_seq: last };
    if (S.email) hello.email = S.email;
    return hello;
  }

  const sentOn = new WeakMap(); // socket -> {ids: client ids of the messages sent on it, refused: bool}

  function sendFrame(frame) {
    if (!ws || !S.welcomed || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      if (frame.type === "message") {
        if (!sentOn.has(ws)) sentOn.set(ws, { ids: new Set(), refused: false });
        sentOn.get(ws).ids.add(frame.client_id);
      }
      return true;
    } catch (_) {
      return false;
    }
  }

  /** A command the visitor gave (not a chat message): sent now, or as soon as we are connected. */
  function command(frame) {
    if (!sendFrame(frame)) {
      S.outbox.push({ kind: "control", frame });
      ensureConnected();
    }
  }

  function flush() {
    const keep = [];
    for (const o of [...S.outbox]) {
      if (o.kind === "message") {
        if (!o.failed && tooLong(o)) {
          dropTooLong(o); // left by an older page, or too big for what the server now takes
          continue;
        }
        if (!o.failed) sendFrame(messageFrame(o));
        keep.push(o); // until its ack
      } else if (!sendFrame(o.frame)) {
        keep.push(o);
      }
    }
    S.outbox = keep;
  }

  function startHeartbeat() {
    clearInterval(heartbeat);
    lastHeard = Date.now();
    pingSent = 0;
    heartbeat = setInterval(() => {
      const now = Date.now();
      if (pingSent && now - pingSent > PING_DEADLINE_MS) drop();
      else if (!pingSent && now - lastHeard > PING_IDLE_MS && sendFrame({ type: "ping" })) pingSent = now;
    }, 2000);
  }

  // The browser knows first when the network goes: a socket it cuts off may otherwise look open until
  // the heartbeat gives up on it. Back online, reconnect at once rather than at the back-off's pace.
  window.addEventListener("offline", () => { if (wanted) drop(); });
  window.addEventListener("online", () => { if (wanted && !S.welcomed) drop(true); });

  // --- frames from the server -------------------------------------------------------------------------

  function handle(f) {
    if (!f || typeof f.type !== "string") return;
    switch (f.type) {
      case "welcome": return onWelcome(f);
      case "message":
      case "ack": return onMessage(f);
      case "bot_delta": return onDelta(f);
      case "queue_position": return onQueue(f);
      case "assigned": return onAssigned(f);
      case "wait_timeout": return onWaitTimeout(f);
      case "queue_full": return onQueueFull(f);
      case "outside_hours": return onOutsideHours(f);
      case "requeued": return onRequeued(f, "Your agent was disconnected. You are back at the front of the queue.");
      case "reassigned": return onRequeued(f, "Another person will be with you shortly.");
      case "abandoned": return onEnded(f, "abandoned");
      case "closed": return onEnded(f, "closed");
      case "typing": return onTyping(f);
      case "profile": return onProfile(f);
      case "rated": return onRated(f);
      case "identified": S.verified = true; return undefined;
      case "error": return onError(f);
      default: return; // pong and anything newer
    }
  }

  function onWelcome(f) {
    S.welcomed = true;
    S.everWelcomed = true;
    S.connecting = false;
    S.attempt = 0;
    S.visitor = f.visitor || null;
    if (typeof f.token === "string") {
      S.token = f.token;
      store("localStorage", KEY.token, f.token);
    }
    S.requireEmail = !!f.require_email;
    S.emailOnServer = !!f.email;
    if (Number.isInteger(f.max_frame_bytes) && f.max_frame_bytes > 0) S.maxFrameBytes = f.max_frame_bytes;
    const c = f.conversation;
    if (c && c.id) {
      if (c.id !== S.conv) {
        switchTo(c.id);
        sendFrame({ type: "sync", conversation: c.id, after: S.lastSeq });
      }
      S.phase = c.phase || "bot";
      S.agent = c.agent || null;
      S.ended = false;
      if (S.phase !== "queued") S.queue = null;
      S.handoff = false;
    } else if (S.conv && !S.ended && S.phase !== "none") {
      // It ended while we were away (what is missing of it still comes back through last_seq).
      S.ended = true;
      S.phase = S.agent ? "closed" : "abandoned";
      S.queue = null;
      notice("The conversation has ended");
    }
    if (identity) sendFrame({ type: "identify", user: identity }); // before anything asks for a person
    flush();
    startHeartbeat();
    if (S.leave && S.leave.queued) postLeave();
    if (!leftRead) {
      leftRead = true;
      loadLeft();
    }
    if (S.emailForm && S.emailForm.waiting && S.emailOnServer && !S.outbox.some((o) => o.kind === "control")) {
      onProfile({ email: f.email }); // the hello carried the email (setEmail while disconnected)
    }
    save();
    render();
  }

  let leftRead = false; // the left messages were read since the page loaded (with a token)

  /** Is a frame about the conversation on screen? A new one (that the server opened for us) is adopted. */
  function ours(conv, adopt) {
    if (typeof conv !== "string" || !conv) return false;
    if (conv === S.conv) return true;
    if (!adopt || S.old.has(conv)) return false;
    switchTo(conv);
    return true;
  }

  function onMessage(f) {
    if (typeof f.seq !== "number" || !ours(f.conversation, true)) return;
    const sender = f.sender || {};
    let el = null;
    if (sender.role === "visitor" && f.client_id) {
      const i = S.outbox.findIndex((o) => o.kind === "message" && o.client_id === f.client_id);
      if (i >= 0) el = elements.get(S.outbox.splice(i, 1)[0]);
    }
    if (!S.seqs.has(f.seq)) {
      let name = typeof sender.name === "string" ? sender.name : "";
      if (sender.role === "agent" && S.agent && sender.id === S.agent.id && S.agent.name) name = S.agent.name;
      const item = { seq: f.seq, role: sender.role, name, text: String(f.text == null ? "" : f.text),
        time: f.time, kind: f.kind, bot: f.bot || null, client_id: f.client_id || null };
      if (el) elements.set(item, el);
      S.items.push(item);
      S.seqs.add(f.seq);
      S.lastSeq = Math.max(S.lastSeq, f.seq);
      if (S.items.length > MAX_ITEMS) S.items.splice(0, S.items.length - MAX_ITEMS);
      if (sender.role === "bot") onBotAnswer(item);
      if (sender.role === "agent") S.typing = false;
      if (sender.role !== "visitor" && f.type === "message" && !S.open) S.unread += 1;
      if (S.phase === "none") S.phase = "bot";
    }
    save();
    render();
  }

  function onBotAnswer(item) {
    S.deltas.clear();
    const bot = item.bot || {};
    if (bot.email_required) openEmailForm("human");
    else if (bot.decision === "handoff") S.handoff = true;
  }

  function onDelta(f) {
    if (f.conversation !== S.conv && S.conv) return;
    const key = String(f.reply_to);
    S.deltas.set(key, (S.deltas.get(key) || "") + String(f.text || ""));
    render();
  }

  function onQueue(f) {
    if (!ours(f.conversation, true)) return;
    S.phase = "queued";
    S.handoff = false;
    S.queue = { position: f.position, eta_s: f.eta_s };
    save();
    render();
  }

  function onAssigned(f) {
    if (!ours(f.conversation, true)) return;
    S.phase = "assigned";
    S.agent = f.agent || null;
    S.queue = null;
    S.handoff = false;
    S.waitTimeout = false;
    S.emailForm = S.emailForm && S.emailForm.then === "human" ? null : S.emailForm;
    notice(((S.agent && S.agent.name) || "A person") + " has joined");
    save();
    render();
  }

  function onWaitTimeout(f) {
    if (!ours(f.conversation, true)) return;
    S.phase = "queued";
    S.waitTimeout = true;
    render();
  }

  function onQueueFull(f) {
    if (!ours(f.conversation, true)) return;
    S.phase = "bot";
    S.handoff = false;
    S.queue = null;
    notice("Sorry, all our people are busy and the queue is full. Please try again a little later.");
    offerLeave("queue_full");
    save();
    render();
  }

  // The group is closed (docs/hours.md): the next opening in the visitor's own time zone and words.
  function onOutsideHours(f) {
    if (!ours(f.conversation, true)) return;
    S.phase = "bot";
    S.handoff = false;
    S.queue = null;
    const when = openingText(f.next_opening);
    const closed = f.reason === "closing" ? "We have just closed" : "We are closed right now";
    notice(when ? closed + ". We open again " + when + "." : closed + ".");
    setHours("closed", f.next_opening);
    offerLeave("closed");
    save();
    render();
  }

  function onRequeued(f, text) {
    if (!ours(f.conversation, true)) return;
    S.phase = "queued";
    S.agent = null;
    S.typing = false;
    S.queue = null;
    notice(text);
    save();
    render();
  }

  function onEnded(f, phase) {
    if (!ours(f.conversation, false) || S.ended) return;
    S.ended = true;
    S.phase = phase;
    S.queue = null;
    S.handoff = false;
    S.waitTimeout = false;
    S.typing = false;
    if (phase === "closed") {
      notice("The conversation has ended");
    } else {
      notice("You left the queue.");
      offerLeave("left_queue");
    }
    stopTyping();
    save();
    render();
  }

  let typingShownTimer = null;
  function onTyping(f) {
    if (f.sender !== "agent" || f.conversation !== S.conv) return;
    S.typing = !!f.typing;
    clearTimeout(typingShownTimer);
    if (S.typing) typingShownTimer = setTimeout(() => { S.typing = false; render(); }, TYPING_SHOWN_MS);
    render();
  }

  function onProfile(f) {
    if (typeof f.email === "string" && f.email) {
      S.email = f.email;
      S.emailOnServer = true;
      store("localStorage", KEY.email, f.email);
      const then = S.emailForm && S.emailForm.then;
      S.emailForm = null;
      if (then === "human") requestHuman();
    }
    render();
  }

  function onRated(f) {
    if (f.conversation !== S.conv) return;
    S.rated = f.score || true;
    S.rating = "idle";
    save();
    render();
  }

  function onError(f) {
    const code = f.code;
    if (code === "identity_invalid") {
      S.verified = false;
      console.error("Switchboard.identify: the server refused the identity (" + (f.message || code) + ")");
      return undefined;
    }
    if (code === "origin_not_allowed") return refused(f);
    if (code === "frame_too_large") {
      refusedAsTooLarge(ws); // the close 1009 follows; the note says what happened
      return render();
    }
    if (code === "email_required") {
      S.handoff = false;
      openEmailForm("human");
      return render();
    }
    if (code === "invalid_email") {
      S.email = null;
      store("localStorage", KEY.email, null);
      if (S.emailForm) {
        S.emailForm.waiting = false;
        S.emailForm.error = f.message || "That does not look like an email address.";
        return render();
      }
      return showError(f.message);
    }
    const pending = f.client_id ? S.outbox.find((o) => o.kind === "message" && o.client_id === f.client_id) : null;
    if (pending) {
      if (code === "store_unavailable") {
        setTimeout(() => { if (S.outbox.includes(pending)) sendFrame(messageFrame(pending)); }, 2000);
        return;
      }
      if ((code === "conversation_ended" || code === "unknown_conversation") && !pending.retried) {
        pending.retried = true; // the conversation closed under it: the resend opens a new one
        sendFrame(messageFrame(pending));
        return;
      }
      pending.failed = true;
    }
    if (f.in_reply_to === "request_human" || f.in_reply_to === "open") S.handoff = false;
    if (code === "not_your_conversation" && f.conversation && f.conversation === S.conv) {
      startOver(); // not ours (any more): start clean
      save();
    }
    if (code === "rate_limited" || code === "already_requested") return render();
    if (S.rating === "sending" && (code === "not_closed" || code === "not_your_conversation")) S.rating = "idle";
    if (f.in_reply_to === "request_human" && code !== "conversation_ended") {
      return showError(HANDOFF_TEXT[code] || HANDOFF_TEXT.unknown_group);
    }
    showError(f.message || code);
  }

  /** The server does not allow the widget on this site: say so to the site's developer, and stop. */
  function refused(f) {
    S.refused = true;
    wanted = false;
    clearTimeout(retryTimer);
    retryTimer = null;
    console.error("Switchboard: the chat server does not allow the widget on " + location.origin + ". " +
      "An admin adds " + location.origin + " under Admin → Widget → Allowed sites (the server setting " +
      "allowed_origins). The server said: " + String(f.message || f.code));
    render();
  }

  // --- what the visitor does --------------------------------------------------------------------------

  function openPanel() {
    S.open = true;
    S.unread = 0;
    S.scrollDown = true;
    store("sessionStorage", KEY.open, true);
    ensureConnected();
    loadStatus(false);
    if (S.left.length) store("localStorage", KEY.leftSeen, replyCount());
    render();
    setTimeout(() => input.focus(), 0);
  }

  function closePanel() {
    S.open = false;
    store("sessionStorage", KEY.open, false);
    render();
  }

  function submitComposer() {
    const text = input.value;
    if (!text.trim()) return;
    if (sendText(text)) {
      input.value = "";
      autosize();
    }
  }

  function sendText(text) {
    text = String(text).trim();
    if (!text) return false;
    counter += 1;
    const p = { kind: "message", client_id: "m-" + Date.now() + "-" + counter, text, time: Date.now() / 1000 };
    const refusal = tooLong(p);
    if (refusal) {
      showError(refusal); // the text stays in the box, to be shortened
      return false;
    }
    if (S.ended) startOver();
    stopTyping();
    S.outbox.push(p);
    S.scrollDown = true;
    save();
    sendFrame(messageFrame(p));
    ensureConnected();
    render();
    return true;
  }

  function retry(p) {
    p.failed = false;
    p.retried = false;
    const i = S.outbox.indexOf(p);
    if (i >= 0) S.outbox.splice(i, 1);
    if (tooLong(p)) return dropTooLong(p);
    S.outbox.push(p);
    save();
    sendFrame(messageFrame(p));
    ensureConnected();
    render();
  }

  function requestHuman() {
    if (S.requireEmail && !S.emailOnServer) {
      openEmailForm("human");
      return render();
    }
    if (!FIXED_GROUP && S.groups.length >= 2 && !S.picking) {
      S.picking = true; // "who would you like to talk to?" first; the choice sends the request
      return render();
    }
    if (S.ended) startOver();
    S.picking = false;
    S.handoff = true;
    S.leftSent = null;
    command(S.group ? { type: "request_human", group: S.group } : { type: "request_human" });
    save();
    render();
  }

  function pickGroup(id) {
    chooseGroup(id);
    requestHuman();
  }

  function openEmailForm(then) {
    S.emailForm = { then, error: null, waiting: false };
    if (!S.open) S.unread += 1;
  }

  function submitEmail(value) {
    const email = String(value || "").trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 254) {
      S.emailForm.error = "Please enter a valid email address.";
      return render();
    }
    S.emailForm.error = null;
    S.emailForm.waiting = true;
    S.email = email;
    store("localStorage", KEY.email, email);
    command({ type: "profile", email }); // the server echoes a profile frame: then we go on
    render();
  }

  function keepWaiting() {
    S.waitTimeout = false;
    command({ type: "keep_waiting" });
    render();
  }

  function leaveQueue() {
    S.waitTimeout = false;
    command({ type: "leave_queue" });
    render();
  }

  function endConversation() {
    if (!S.conv || S.ended) return;
    command({ type: "close" });
  }

  function rate(comment) {
    if (!S.conv || !S.ratingScore || S.rating === "sending") return;
    S.rating = "sending";
    command({ type: "rate", conversation: S.conv, score: S.ratingScore, comment: String(comment || "").trim().slice(0, 2000) });
    render();
  }

  let typingSent = false;
  let typingTimer = null;
  function typingStarted() {
    if (S.phase !== "assigned" || S.ended || !S.welcomed) return;
    if (!typingSent && sendFrame({ type: "typing", typing: true })) typingSent = true;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent) {
      typingSent = false;
      sendFrame({ type: "typing", typing: false });
    }
  }

  // --- the page's API ---------------------------------------------------------------------------------

  function setEmail(email) {
    const value = String(email == null ? "" : email).trim();
    if (!value || value.length > MAX_EMAIL_CHARS) return; // the hello would carry it and be refused, again and again
    S.email = value;
    store("localStorage", KEY.email, value);
    if (S.emailForm) S.emailForm.waiting = true;
    sendFrame({ type: "profile", email: value }); // not connected: the next hello carries it
    render();
  }

  // A signed identity (docs/identity.md): kept for this page only, sent after every welcome.
  let identity = null;

  function identify(user) {
    if (user === null || user === undefined) {
      identity = null;
      S.verified = false;
      return;
    }
    if (typeof user !== "object" || typeof user.id !== "string" || typeof user.signature !== "string") {
      console.error("Switchboard.identify: give {id, email, name, attributes, signature} as your server signed it");
      return;
    }
    identity = { id: user.id, email: user.email || "", name: user.name || "", attributes: user.attributes || {},
                 signature: user.signature };
    sendFrame({ type: "identify", user: identity }); // not connected: the next welcome sends it
  }

  const previous = window.Switchboard;
  const api = {
    version: VERSION,
    setEmail,
    identify,
    open: openPanel,
    close: closePanel,
    get visitor() { return S.visitor; },
    get conversation() { return S.conv; },
    get connected() { return S.welcomed; },
  };
  window.Switchboard = api;

  // --- start ------------------------------------------------------------------------------------------

  function start() {
    (document.body || document.documentElement).append(host);
    loadConfig();
    try {
      const fromQuery = new URLSearchParams(location.search).get("email");
      if (fromQuery) setEmail(fromQuery);
    } catch (_) {
      /* no query */
    }
    if (previous && Array.isArray(previous.q)) {
      for (const call of previous.q) {
        try {
          const [name, ...args] = call;
          if (typeof api[name] === "function") api[name](...args);
        } catch (e) {
          console.error("switchboard widget:", e);
        }
      }
    }
    // Connect now when there is something to resume; otherwise when the visitor first opens the chat.
    if (S.open || S.outbox.length || (S.token && S.conv)) ensureConnected();
    if (S.open) loadStatus(true);
    if (S.token) {
      leftRead = true;
      loadLeft();
    }
    render();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
