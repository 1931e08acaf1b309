// The Inbox tab: messages visitors left when nobody could chat (docs/leave-a-message.md). The count of open ones
// (also on the tab, refreshed every minute), a list (from, email, group, when, first line), and one message opened:
// "Assign to me", the conversation's messages, and a reply box. A reply is stored as the agent's message of that
// conversation, mailed to the visitor, and shown in the widget when they come back. The server scopes it all:
// an admin sees every group, anyone else the groups they belong to or supervise.
// Text from people only goes in as text (ws-dom.js).

import {clock, el, fill, $} from "./ws-dom.js";

const REFRESH_MS = 60000;
const REASONS = {
  closed: "outside the hours", queue_full: "the queue was full", left_queue: "left the queue",
  no_agents: "nobody was online", offered: "chose to leave a message",
};

function when(epoch) {
  return epoch === null || epoch === undefined ? "" : clock(epoch);
}

/** The open count on the tab's badge now and every minute (quietly: a failure leaves it as it was). */
export function watchInboxCount(api, show) {
  const read = () => api.call("GET", "/api/inbox").then((body) => show(body.count), () => {});
  read();
  setInterval(read, REFRESH_MS);
}

export class InboxArea {
  constructor(root, api, toast, user, showCount) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    this.user = user;
    this.showCount = showCount || (() => {});
    this.openId = null;
    this.p = {
      count: $("#inbox-count", root), show: $("#inbox-show", root), status: $("#inbox-status", root),
      rows: $("#inbox-rows", root), pane: $("#inbox-pane", root),
    };
  }

  load() {
    this.p.show.addEventListener("change", () => this.refresh());
    this.refresh();
    setInterval(() => { if (!this.root.hidden) this.refresh(); }, REFRESH_MS);
    return this;
  }

  async refresh() {
    const p = this.p;
    let body;
    try {
      body = await this.api.call("GET", `/api/inbox?state=${encodeURIComponent(p.show.value)}`);
    } catch (err) {
      p.status.textContent = `Could not read the inbox: ${err.message}`;
      return;
    }
    p.count.textContent = String(body.count);
    this.showCount(body.count);
    p.status.textContent = body.entries.length ? "" : p.show.value === "open" ? "No message waits for an answer." : "No messages.";
    fill(p.rows, body.entries.map((entry) => this.row(entry)));
  }

  row(entry) {
    const from = entry.name ? `${entry.name} <${entry.email}>` : entry.email;
    const taken = entry.state === "answered" ? `answered by ${entry.replied_name || entry.replied_by}`
      : entry.assigned_to ? `taken by ${entry.assigned_to === this.user.id ? "you" : entry.assigned_name || entry.assigned_to}`
      : "not taken";
    return el("li", {class: `list-row inbox-row${entry.conversation === this.openId ? " active" : ""}`, testid: "inbox-row",
                     dataset: {conversation: entry.conversation, state: entry.state}},
      el("button", {class: "inbox-open", type: "button", onclick: () => this.open(entry.conversation)},
        el("span", {class: "inbox-from strong"}, from),
        el("span", {class: "inbox-preview"}, entry.preview),
        el("span", {class: "muted small"}, `${entry.group} · ${when(entry.created_at)} · ${taken}`)));
  }

  async open(conversation) {
    this.openId = conversation;
    let entry;
    try {
      entry = await this.api.call("GET", `/api/inbox/${encodeURIComponent(conversation)}`);
    } catch (err) {
      this.toast(err.message, "error");
      return;
    }
    this.showEntry(entry);
    for (const row of this.p.rows.children) row.classList.toggle("active", row.dataset.conversation === conversation);
  }

  showEntry(entry) {
    const mine = entry.assigned_to === this.user.id;
    const from = entry.name ? `${entry.name} <${entry.email}>` : entry.email;
    const assign = mine ? el("span", {class: "pill", testid: "inbox-assigned"}, "Assigned to you")
      : el("button", {class: "btn btn-small", type: "button", testid: "inbox-assign", onclick: () => this.assign(entry)},
           entry.assigned_to ? `Take it from ${entry.assigned_name || entry.assigned_to}` : "Assign to me");
    const text = el("textarea", {class: "input inbox-reply-text", rows: "5", maxlength: "8000", testid: "inbox-reply-text",
                                 placeholder: `Your answer to ${entry.email}`, "aria-label": "Reply"});
    const send = el("button", {class: "btn btn-primary", type: "submit", testid: "inbox-reply-send"}, "Send reply");
    const form = el("form", {class: "inbox-reply", testid: "inbox-reply", onsubmit: (event) => {
      event.preventDefault();
      this.reply(entry, text, send);
    }}, text, el("div", {class: "inbox-reply-actions"},
      el("span", {class: "muted small"}, `Sent by email to ${entry.email}, and shown in the chat when they come back.`), send));
    fill(this.p.pane,
      el("header", {class: "inbox-head"},
        el("div", {}, el("h3", {class: "inbox-from-title", testid: "inbox-from"}, from),
          el("p", {class: "muted small"}, `${entry.group} · left ${when(entry.created_at)} · ${REASONS[entry.reason] || ""}`)),
        assign),
      el("ol", {class: "inbox-messages", testid: "inbox-messages"}, entry.messages.map((m) =>
        el("li", {class: `inbox-message inbox-${m.role}`, testid: "inbox-message", dataset: {role: m.role}},
          el("span", {class: "muted small"}, `${m.role === "agent" ? m.name || "Agent" : m.name || entry.email} · ${when(m.at)}`),
          el("p", {class: "inbox-text"}, m.text)))),
      form);
  }

  async assign(entry) {
    try {
      this.showEntry(await this.api.call("POST", `/api/inbox/${encodeURIComponent(entry.conversation)}/assign`));
      this.refresh();
    } catch (err) {
      this.toast(err.message, "error");
    }
  }

  async reply(entry, textArea, button) {
    const text = textArea.value.trim();
    if (!text) {
      textArea.focus();
      return;
    }
    button.disabled = true;
    try {
      const answered = await this.api.call("POST", `/api/inbox/${encodeURIComponent(entry.conversation)}/reply`,
                                            {json: {text}});
      this.showEntry(answered);
      this.toast(`Reply sent to ${entry.email}`);
      this.refresh();
    } catch (err) {
      this.toast(err.message, "error");
      button.disabled = false;
    }
  }
}
