// The middle column: one conversation's transcript (bot turns, the visitor, agents, internal notes, system
// lines), the visitor's typing, and the reply box with its note mode, plus transfer and close.
// Typing goes both ways: the agent's typing is sent while they write a reply (never for a note).
// `/` at the start of the reply or after a space opens the canned replies (ws-canned.js: CannedPicker).

import {CannedPicker} from "./ws-canned.js";
import {$, clock, el, fill} from "./ws-dom.js";
import {ENDED_TEXT, GONE_TEXT} from "./ws-state.js";

const TYPING_IDLE_MS = 3000;
const TYPING_REPEAT_MS = 5000;
const TYPING_SHOWN_MS = 8000; // a visitor's "typing" with no update for this long is stale

export class ConversationView {
  /**
   * @param {HTMLElement} root  the column (#conversation)
   * @param {Desk} desk
   * @param {object} o  {send(type, fields) -> bool, post(c, kind, text), names, loadDirectory() -> Promise,
   *                     dismiss(id)}
   */
  constructor(root, desk, o) {
    this.root = root;
    this.desk = desk;
    this.o = o;
    this.shown = {id: null, version: -1};
    this.typing = {conv: null, sentAt: 0, idle: null};
    this.parts = {
      empty: $("#conv-empty", root), view: $("#conv-view", root), title: $("#conv-title", root),
      sub: $("#conv-sub", root), banner: $("#conv-banner", root), transcript: $("#transcript", root),
      typing: $("#visitor-typing", root), form: $("#composer", root), reply: $("#reply", root),
      note: $("#note-mode", root), send: $("#send", root), hint: $("#composer-hint", root),
      transfer: $("#transfer", root), close: $("#close-conversation", root), picker: $("#transfer-panel", root),
      target: $("#transfer-target", root), confirm: $("#transfer-confirm", root),
      cancel: $("#transfer-cancel", root),
    };
    this.canned = new CannedPicker(this.parts.reply, {
      conversation: () => this.desk.active,
      groupName: (id) => `Group ${this.o.names.group(id)}`,
      inserted: () => this.drafted(),
    });
    this.wire();
  }

  wire() {
    const p = this.parts;
    p.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    p.reply.addEventListener("keydown", (event) => {
      if (this.canned.keydown(event)) return;  // the canned replies' list took it (arrows, Enter, Escape)
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    p.reply.addEventListener("input", () => {
      this.drafted();
      this.canned.update();
    });
    p.note.addEventListener("click", () => {
      const c = this.desk.active;
      if (!c) return;
      c.noteMode = !c.noteMode;
      if (c.noteMode) this.stopTyping();
      this.renderComposer(c);
      p.reply.focus();
    });
    p.close.addEventListener("click", () => {
      const c = this.desk.active;
      if (c && c.open) this.o.send("close", {conversation: c.id});
    });
    p.transfer.addEventListener("click", () => this.openPicker());
    p.target.addEventListener("change", () => { p.confirm.disabled = !p.target.value; });
    p.cancel.addEventListener("click", () => { p.picker.hidden = true; });
    p.confirm.addEventListener("click", () => {
      const c = this.desk.active;
      const [kind, id] = (p.target.value || "").split(/:(.*)/s);
      if (!c || !id) return;
      const fields = kind === "agent" ? {to_agent: id} : {to_group: id};
      if (this.o.send("transfer", {conversation: c.id, ...fields})) {
        p.picker.hidden = true;
        this.o.toast(`Transfer to ${p.target.selectedOptions[0].textContent} requested.`);
      }
    });
  }

  /** The reply box changed (typed, or a canned reply put in): keep the draft, say we are typing. */
  drafted() {
    const c = this.desk.active;
    if (!c) return;
    c.draft = this.parts.reply.value;
    if (!c.noteMode && c.open) this.typed(c);
  }

  // --- typing --------------------------------------------------------------------------------------

  typed(c) {
    const t = this.typing;
    const now = Date.now();
    if (t.conv !== c.id || now - t.sentAt > TYPING_REPEAT_MS) {
      if (t.conv && t.conv !== c.id) this.stopTyping();
      if (this.o.send("typing", {conversation: c.id, typing: true})) {
        t.conv = c.id;
        t.sentAt = now;
      }
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    const t = this.typing;
    clearTimeout(t.idle);
    if (t.conv) {
      const c = this.desk.convs.get(t.conv);
      if (c && c.open) this.o.send("typing", {conversation: t.conv, typing: false});
    }
    t.conv = null;
    t.sentAt = 0;
  }

  submit() {
    const c = this.desk.active;
    const text = this.parts.reply.value.trim();
    if (!c || !c.open || !text) return;
    if (!c.noteMode) this.stopTyping();
    this.canned.close();
    this.o.post(c, c.noteMode ? "note" : "text", text);
    this.parts.reply.value = "";
    c.draft = "";
    this.render();
  }

  // --- transfer --------------------------------------------------------------------------------------

  async openPicker() {
    const p = this.parts;
    const c = this.desk.active;
    if (!c || !c.open) return;
    p.picker.hidden = false;
    fill(p.target, el("option", {value: ""}, "Loading…"));
    p.confirm.disabled = true;
    let directory;
    try {
      directory = await this.o.loadDirectory();
    } catch (err) {
      fill(p.target, el("option", {value: ""}, "Could not load colleagues"));
      return;
    }
    const agents = directory.agents.filter((a) => a.id !== this.desk.me.id);
    const named = (a) => agents.filter((b) => b.nickname === a.nickname).length > 1 ? `${a.nickname} (${a.id})` : a.nickname;
    fill(p.target,
      el("option", {value: ""}, "Choose a colleague or a group…"),
      el("optgroup", {label: "Agents"}, agents.map((a) =>
        el("option", {value: `agent:${a.id}`, title: a.id}, a.nickname ? named(a) : a.id))),  // the id only to tell two apart
      el("optgroup", {label: "Groups"}, directory.groups.map((g) =>
        el("option", {value: `group:${g.id}`, title: g.id}, g.name || g.id))));
    p.confirm.disabled = true;  // until a colleague or a group is chosen
    p.target.focus();
  }

  // --- rendering -------------------------------------------------------------------------------------

  render() {
    const p = this.parts;
    const c = this.desk.active;
    p.empty.hidden = Boolean(c);
    p.view.hidden = !c;
    if (!c) {
      this.shown = {id: null, version: -1};
      return;
    }
    const switched = this.shown.id !== c.id;
    if (switched) {
      this.stopTyping();
      this.canned.close();
      p.picker.hidden = true;
      p.reply.value = c.draft;
    }
    p.title.textContent = this.o.names.visitor(c.visitor);
    p.sub.textContent = [c.group && `Group ${this.o.names.group(c.group)}`, c.open ? c.phase : GONE_TEXT[c.ended] || "ended",
                         c.via && `via ${c.via}`].filter(Boolean).join(" · ");
    p.transfer.disabled = !c.open;
    p.close.disabled = !c.open;
    if (c.open) {
      p.banner.hidden = true;
    } else {
      p.banner.hidden = false;
      fill(p.banner, el("span", {}, ENDED_TEXT[c.ended] || "This conversation has ended."),
           el("button", {type: "button", class: "btn btn-small", testid: "dismiss",
                         onclick: () => this.o.dismiss(c.id)}, "Remove from list"));
    }
    const stale = Date.now() - c.typingAt > TYPING_SHOWN_MS;
    p.typing.hidden = !(c.open && c.visitorTyping && !stale);
    this.renderComposer(c);
    if (switched || this.shown.version !== c.version) this.renderTranscript(c, switched);
    this.shown = {id: c.id, version: c.version};
  }

  renderComposer(c) {
    const p = this.parts;
    p.note.setAttribute("aria-pressed", String(c.noteMode));
    p.note.classList.toggle("on", c.noteMode);
    p.form.classList.toggle("note-mode", c.noteMode);
    p.reply.disabled = !c.open;
    p.send.disabled = !c.open;
    p.note.disabled = !c.open;
    p.reply.placeholder = !c.open ? (GONE_TEXT[c.ended] ? "This conversation is no longer yours." : "This conversation has ended.")
      : c.noteMode ? "Write an internal note (only agents see it)…" : "Write a reply… (/ for a canned reply)";
    p.send.textContent = c.noteMode ? "Add note" : "Send";
    p.hint.textContent = c.noteMode ? "Internal note: never shown to the visitor"
      : "Enter to send · Shift+Enter for a new line · / for canned replies";
  }

  renderTranscript(c, switched) {
    const box = this.parts.transcript;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    const items = c.transcript();
    fill(box, items.length ? items.map((m) => this.messageNode(c, m))
      : el("li", {class: "empty-note"}, "No messages yet."));
    if (switched || nearBottom) box.scrollTop = box.scrollHeight;
  }

  messageNode(c, m) {
    const role = (m.sender && m.sender.role) || "system";
    const kind = m.kind || "text";
    const mine = role === "agent" && m.sender.id === this.desk.me.id;
    const author = role === "visitor" ? this.o.names.visitor(c.visitor)
      : mine ? "You" : role === "bot" ? "Bot" : role === "system" ? "System" : (m.sender.name || m.sender.id);
    const classes = ["msg", `msg-${role}`, kind === "note" && "msg-note", kind === "system" && "msg-system",
                     mine && "msg-mine", m.pending && "msg-pending", m.error && "msg-failed"];
    const status = m.pending ? (m.error ? `Not sent: ${m.error}` : "Sending…") : null;
    return el("li", {class: classes.filter(Boolean).join(" "), testid: "message",
                     dataset: {role, kind, seq: m.seq !== undefined ? String(m.seq) : ""}},
      el("div", {class: "msg-meta"},
         el("span", {class: "msg-author"}, author),
         kind === "note" ? el("span", {class: "badge badge-note", testid: "note-badge"}, "Internal note") : null,
         role === "bot" && m.bot ? el("span", {class: "badge"}, m.bot.decision) : null,
         el("time", {}, m.time ? clock(m.time) : ""),
         status ? el("span", {class: "msg-status"}, status) : null),
      el("div", {class: "msg-text"}, m.text),
      role === "bot" && m.bot ? botDetails(m.bot) : null);
  }
}

function botDetails(bot) {
  const lines = [];
  if (bot.sources && bot.sources.length) {
    lines.push(el("span", {}, "Sources: " + bot.sources.map((s) => s.title || s.id).join("; ")));
  }
  if (bot.suggestions && bot.suggestions.length) {
    lines.push(el("span", {}, "Suggested: " + bot.suggestions.map((s) => s.question).join("; ")));
  }
  return lines.length ? el("div", {class: "msg-bot"}, lines) : null;
}
