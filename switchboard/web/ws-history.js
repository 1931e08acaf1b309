// The History tab: search past and open conversations (GET /api/history/conversations, docs/history.md), load
// more with the server's cursor, open a transcript (bot turns, notes, transfers, rating and comment set apart),
// the visitor's previous conversations, and exports (CSV or JSON, fetched with the token, saved as a file).
// The server scopes everything: an agent sees the conversations it served, a supervisor its groups', an admin all.
// Text from people only goes in as text (ws-dom.js).

import {$, clock, el, fill} from "./ws-dom.js";

const PHASES = ["bot", "queued", "assigned", "closed", "abandoned", "message"];  // message: left (docs/leave-a-message.md)
const ROLE_TEXT = {visitor: "Visitor", bot: "Bot", agent: "Agent", system: "System"};
const DECISION_TEXT = {answer: "answered", suggest: "suggested", decline: "declined", handoff: "handed off"};

/** The History link a closed conversation's banner shows: `#history/<id>` (workspace.js opens it). */
export function historyHref(conversationId) {
  return `#history/${encodeURIComponent(conversationId)}`;
}

/** The conversation id of a `#history/<id>` address, else null. */
export function historyTarget(hash) {
  const match = /^#history\/(.+)$/.exec(hash || "");
  return match ? decodeURIComponent(match[1]) : null;
}

/**
 * Adds an "Open in History" link to the desk's ended-conversation banner whenever it is shown, for the
 * conversation `activeId()` names (the banner is drawn by ws-conversation.js; this only appends to it).
 */
export function linkEndedBanner(banner, activeId) {
  if (!banner) return;
  const add = () => {
    const id = activeId();
    if (banner.hidden || !id || banner.querySelector("[data-testid=open-in-history]")) return;
    banner.append(el("a", {class: "btn btn-small", href: historyHref(id), testid: "open-in-history"},
                     "Open in History"));
  };
  new MutationObserver(add).observe(banner, {childList: true, attributes: true, attributeFilter: ["hidden"]});
}

function when(epoch) {
  if (epoch === null || epoch === undefined) return "";
  const d = new Date(epoch * 1000);
  return `${d.toLocaleDateString()} ${clock(epoch)}`;
}

export class HistoryArea {
  constructor(root, api, toast) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    this.next = null;
    this.query = "";
    this.p = {
      form: $("#history-filters", root), results: $("#history-results", root), more: $("#history-more", root),
      status: $("#history-status", root), pane: $("#history-pane", root), agent: $("#history-agent", root),
      group: $("#history-group", root), phase: $("#history-phase", root),
    };
  }

  async load() {
    const p = this.p;
    fill(p.phase, el("option", {value: ""}, "Any phase"), PHASES.map((x) => el("option", {value: x}, x)));
    try {
      const directory = await this.api.call("GET", "/api/directory");
      fill(p.agent, el("option", {value: ""}, "Any agent"),
           directory.agents.map((a) => el("option", {value: a.id}, a.nickname || a.id)));
      fill(p.group, el("option", {value: ""}, "Any group"),
           directory.groups.map((g) => el("option", {value: g.id}, g.name || g.id)));
    } catch (err) {
      /* the filters still work by typing nothing there */
    }
    p.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    p.more.addEventListener("click", () => this.page());
    $("#history-export-csv", this.root).addEventListener("click", () => this.exportSearch("csv"));
    $("#history-export-json", this.root).addEventListener("click", () => this.exportSearch("json"));
    this.search();
    return this;
  }

  /** The filters as a query string (empty fields left out; dates in this browser's time zone). */
  filters() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(this.p.form)) {
      if (String(value).trim()) params.set(name, String(value).trim());
    }
    if (params.has("from") || params.has("to")) params.set("tz", Intl.DateTimeFormat().resolvedOptions().timeZone);
    return params.toString();
  }

  search() {
    this.query = this.filters();
    this.next = null;
    fill(this.p.results);
    return this.page();
  }

  async page() {
    const p = this.p;
    const query = this.query + (this.next ? `${this.query ? "&" : ""}cursor=${encodeURIComponent(this.next)}` : "");
    p.more.disabled = true;
    p.status.textContent = "Searching…";
    try {
      const found = await this.api.call("GET", `/api/history/conversations${query ? "?" + query : ""}`);
      for (const item of found.items) p.results.append(this.row(item));
      this.next = found.next;
      const shown = p.results.children.length;
      p.status.textContent = shown ? `${shown} conversation${shown === 1 ? "" : "s"}`
        + (found.next ? "; more may match" : "") : found.next ? "None yet; load more to search further." : "No conversations match.";
    } catch (err) {
      p.status.textContent = err.message;
    }
    p.more.hidden = !this.next;
    p.more.disabled = false;
  }

  row(item) {
    const who = item.visitor_name || item.visitor_email || item.visitor;
    return el("li", {},
      el("button", {type: "button", class: "history-row", testid: "history-row", dataset: {id: item.id},
                    onclick: () => this.open(item.id)},
        el("span", {class: "history-row-top"},
          el("strong", {}, who),
          el("span", {class: `pill phase-${item.phase}`}, item.phase),
          item.rating ? el("span", {class: "history-stars", title: `rated ${item.rating} of 5`}, "★".repeat(item.rating)) : null),
        el("span", {class: "history-row-meta muted small"},
          [when(item.created_at), item.group, item.agent_name || item.agent, item.channel].filter(Boolean).join(" · ")),
        item.snippet ? el("span", {class: "history-snippet small"}, item.snippet) : null));
  }

  /** Shows the transcript of `id` (and its visitor's other conversations) in the pane. */
  async open(id) {
    const pane = this.p.pane;
    for (const b of this.p.results.querySelectorAll(".history-row")) b.classList.toggle("active", b.dataset.id === id);
    fill(pane, el("p", {class: "muted"}, "Loading…"));
    let t;
    try {
      t = await this.api.call("GET", `/api/history/conversations/${encodeURIComponent(id)}`);
    } catch (err) {
      fill(pane, el("p", {class: "error-text", testid: "history-error"}, err.message));
      return;
    }
    const c = t.conversation;
    const events = [
      ...t.messages.map((m) => ({at: m.at, seq: m.seq, node: this.message(m)})),
      ...t.transfers.map((x) => ({at: x.at, seq: Infinity, node: this.transfer(x)})),
    ].sort((a, b) => (a.at - b.at) || (a.seq - b.seq));
    fill(pane,
      el("header", {class: "history-head"},
        el("h2", {class: "card-title", testid: "history-title"},
           c.visitor_name || c.visitor_email || c.visitor, " ", el("span", {class: `pill phase-${c.phase}`}, c.phase)),
        el("p", {class: "muted small"}, [
          `Started ${when(c.created_at)}`, c.closed_at && `closed ${when(c.closed_at)}`,
          c.group && `group ${c.group}`, c.channel && `via ${c.channel}`,
          c.participants.length && `served by ${c.participants.map((x) => x.name || x.id).join(", ")}`,
        ].filter(Boolean).join(" · ")),
        el("div", {class: "history-actions"},
          el("button", {type: "button", class: "btn btn-small", testid: "history-export-transcript-csv",
                        onclick: () => this.download(`/api/history/conversations/${encodeURIComponent(c.id)}/export?format=csv`,
                                                     `conversation-${c.id}.csv`)}, "Export CSV"),
          el("button", {type: "button", class: "btn btn-small",
                        onclick: () => this.download(`/api/history/conversations/${encodeURIComponent(c.id)}/export?format=json`,
                                                     `conversation-${c.id}.json`)}, "Export JSON"))),
      el("ol", {class: "history-transcript", testid: "history-transcript"}, events.map((e) => e.node)),
      this.rating(t.rating),
      el("section", {class: "history-about", testid: "history-visitor"}, el("p", {class: "muted small"}, "…")));
    this.visitor(c.visitor, c.id);
  }

  message(m) {
    const kind = m.kind === "note" ? "note" : m.sender_role;
    const who = m.kind === "note" ? `Note by ${m.sender_name || m.sender_id}`
      : m.sender_role === "agent" ? (m.sender_name || m.sender_id) : ROLE_TEXT[m.sender_role] || m.sender_role;
    const extra = m.extra || {};
    const sources = (extra.sources || []).map((s) => (s && typeof s === "object" ? s.document || s.title || "" : String(s)))
      .filter(Boolean);
    return el("li", {class: `history-msg history-${kind}`, testid: "history-message", dataset: {kind, role: m.sender_role}},
      el("span", {class: "history-msg-who small"}, who, " · ", clock(m.at)),
      el("span", {class: "history-msg-text"}, m.text),
      m.sender_role === "bot" && extra.decision
        ? el("span", {class: "history-bot-meta small", testid: "history-bot-decision"},
             `Bot ${DECISION_TEXT[extra.decision] || extra.decision}`, sources.length ? ` · sources: ${sources.join(", ")}` : "")
        : null);
  }

  transfer(x) {
    const to = x.to_group ? `group ${x.to_group}` : (x.to_name || x.to_agent || "someone");
    return el("li", {class: "history-msg history-transfer", testid: "history-transfer"},
      el("span", {class: "history-msg-text small"}, `Transferred from ${x.from_name || x.from_agent || "the queue"} to ${to}`,
         " · ", clock(x.at)));
  }

  rating(r) {
    if (!r) return el("p", {class: "history-rating muted small", testid: "history-rating"}, "Not rated.");
    return el("div", {class: "history-rating", testid: "history-rating"},
      el("span", {class: "history-stars", title: `${r.score} of 5`}, "★".repeat(r.score) + "☆".repeat(5 - r.score)),
      r.comment ? el("q", {class: "history-comment"}, r.comment) : el("span", {class: "muted small"}, " no comment"));
  }

  async visitor(visitorId, current) {
    const box = $(".history-about", this.p.pane);
    try {
      const v = await this.api.call("GET", `/api/history/visitors/${encodeURIComponent(visitorId)}`);
      const others = v.conversations.filter((c) => c.id !== current);
      fill(box,
        el("h3", {class: "history-sub"}, "Visitor"),
        el("p", {class: "small"}, [v.visitor.name, v.visitor.email, v.visitor.channel].filter(Boolean).join(" · ") || v.visitor.id,
           v.visitor.first_seen ? el("span", {class: "muted"}, ` · first seen ${when(v.visitor.first_seen)}`) : null),
        el("h3", {class: "history-sub"}, "Previous conversations"),
        others.length
          ? el("ul", {class: "history-previous"}, others.map((c) => el("li", {},
              el("button", {type: "button", class: "btn btn-ghost btn-small", testid: "history-previous",
                            onclick: () => this.open(c.id)},
                 `${when(c.created_at)} · ${c.phase}${c.rating ? ` · ${"★".repeat(c.rating)}` : ""}`, c.snippet ? ` · ${c.snippet}` : ""))))
          : el("p", {class: "muted small"}, "None."));
    } catch (err) {
      fill(box, el("p", {class: "muted small"}, err.message));
    }
  }

  exportSearch(format) {
    const query = this.query ? `${this.query}&format=${format}` : `format=${format}`;
    return this.download(`/api/history/conversations/export?${query}`, `conversations.${format}`);
  }

  /** Fetches `path` with the token and saves it under `name` (the server's Content-Disposition name if any). */
  async download(path, name) {
    try {
      await this.api.download(path, name);
    } catch (err) {
      this.toast(`Export failed: ${err.message}`, "error");
    }
  }

}
