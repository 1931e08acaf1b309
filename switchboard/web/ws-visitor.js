// The right column: who the visitor is, as their widget reported it (GET /api/visitors/{id}), and the
// conversation's facts. The details are fetched once per visitor and kept.

import {el, fill} from "./ws-dom.js";

export class VisitorBook {
  constructor(api, changed) {
    this.api = api;
    this.changed = changed;
    this.entries = new Map(); // visitor id -> {state: "loading" | "ok" | "error", data, error}
  }

  get(id) {
    if (!id) return null;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {state: "loading", data: null, error: null, tries: 0};
      this.entries.set(id, entry);
      this.load(id, entry);
    }
    return entry;
  }

  load(id, entry) {
    entry.tries += 1;
    this.api.visitor(id).then(
      (data) => Object.assign(entry, {state: "ok", data}),
      (err) => {
        // A 403 right after an assignment can only be a race with the store; ask once more.
        if (err.status === 403 && entry.tries < 3) {
          setTimeout(() => this.load(id, entry), 700 * entry.tries);
          return;
        }
        Object.assign(entry, {state: "error", error: err.message || String(err)});
      },
    ).finally(() => this.changed());
  }

  /** Fetch again (the widget may have sent a profile since). */
  refresh(id) {
    this.entries.delete(id);
    return this.get(id);
  }

  /** The name to show: the visitor's own name, else their email, else "Visitor v-0c9d8e". */
  name(id, fetch = true) {
    const entry = !id ? null : fetch ? this.get(id) : this.entries.get(id);
    const data = entry && entry.data;
    if (data && data.name) return data.name;
    if (data && data.email) return data.email;
    return id ? `Visitor ${id.slice(2, 8)}` : "Visitor";
  }
}

function row(label, value, testid) {
  return [el("dt", {}, label), el("dd", {testid}, value || el("span", {class: "muted"}, "—"))];
}

function pageLink(page) {
  if (!page) return null;
  let url = null;
  try {
    url = new URL(page);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) return page; // shown, never followed
  const link = el("a", {target: "_blank", rel: "noopener noreferrer nofollow"}, page);
  link.href = url.href;
  return link;
}

export function renderDetails(root, c, book, groupName) {
  if (!c) {
    fill(root, el("h2", {class: "col-title"}, "Visitor"),
         el("p", {class: "empty-note"}, "Open a conversation to see who you are talking to."));
    return;
  }
  const entry = book.get(c.visitor);
  const data = (entry && entry.data) || {};
  const status = !entry ? null
    : entry.state === "loading" ? el("p", {class: "muted"}, "Loading details…")
    : entry.state === "error" ? el("p", {class: "error-text"}, `Details unavailable: ${entry.error}`) : null;
  fill(root,
    el("h2", {class: "col-title"}, "Visitor"),
    el("div", {class: "visitor-card", testid: "visitor-details"},
       el("div", {class: "avatar avatar-large", "aria-hidden": "true"}, book.name(c.visitor).charAt(0).toUpperCase()),
       el("p", {class: "visitor-name", testid: "visitor-name"}, book.name(c.visitor)),
       status,
       el("dl", {class: "facts"},
          row("Email", data.email, "visitor-email"),
          row("Channel", data.channel, "visitor-channel"),
          row("Page", pageLink(data.page), "visitor-page"),
          row("Visitor id", c.visitor, "visitor-id"))),
    el("h2", {class: "col-title"}, "Conversation"),
    el("dl", {class: "facts"},
       row("Id", c.id, "conversation-id"),
       row("Group", c.group ? groupName(c.group) : null, "conversation-group"),
       row("Status", c.open ? c.phase : "ended", "conversation-phase"),
       row("Assigned via", c.via, "conversation-via"),
       row("Messages", String(c.messages.size), "conversation-count")));
}
