// The left column: transfer requests waiting for an answer, the agent's conversations with unread counts,
// and one queue panel per skill group with the waiting visitors, their wait time and an Invite button.

import {clock, duration, el, fill} from "./ws-dom.js";
import {ENDED_TEXT} from "./ws-state.js";

/**
 * @param {object} parts   {requests, list, queues, count}: the containers
 * @param {Desk} desk
 * @param {object} names   {visitor(id), queued(id), group(id), agent(id)} -> display text (queued: no lookup)
 * @param {object} act     {open(id), invite(id), answer(id, accept), refreshQueues()}
 */
export function renderSidebar(parts, desk, names, act) {
  renderRequests(parts.requests, desk, names, act);
  renderList(parts.list, parts.count, desk, names, act);
  renderQueues(parts.queues, desk, names, act);
}

function renderRequests(root, desk, names, act) {
  const items = [...desk.transferRequests.entries()].map(([conv, from]) =>
    el("div", {class: "request", testid: "transfer-request", dataset: {conversation: conv}, role: "alert"},
       el("p", {}, el("strong", {}, names.agent(from)), " wants to hand you a conversation."),
       el("div", {class: "request-actions"},
          el("button", {type: "button", class: "btn btn-primary btn-small", testid: "accept-transfer",
                        onclick: () => act.answer(conv, true)}, "Accept"),
          el("button", {type: "button", class: "btn btn-small", testid: "decline-transfer",
                        onclick: () => act.answer(conv, false)}, "Decline"))));
  fill(root, items);
  root.hidden = items.length === 0;
}

function preview(c) {
  const last = c.lastMessage();
  if (!c.open) return ENDED_TEXT[c.ended] || "Ended";
  if (c.visitorTyping) return "typing…";
  if (!last) return "No messages yet";
  const who = last.kind === "note" ? "Note: " : last.sender && last.sender.role === "agent" ? "You: " : "";
  return who + last.text;
}

function renderList(root, count, desk, names, act) {
  const convs = desk.ordered();
  const open = convs.filter((c) => c.open).length;
  count.textContent = desk.saturation ? `${open} / ${desk.saturation}` : String(open);
  if (!convs.length) {
    fill(root, el("li", {class: "empty-note"}, "No conversations. Go online to receive visitors."));
    return;
  }
  fill(root, convs.map((c) => {
    const last = c.lastMessage();
    const classes = ["conv-item", c.id === desk.activeId && "active", !c.open && "ended", c.fresh && "fresh"];
    return el("li", {},
      el("button", {type: "button", class: classes.filter(Boolean).join(" "), testid: "conversation-item",
                    dataset: {conversation: c.id}, "aria-current": c.id === desk.activeId ? "true" : null,
                    onclick: () => act.open(c.id)},
         el("span", {class: "avatar", "aria-hidden": "true"}, initial(names.visitor(c.visitor))),
         el("span", {class: "conv-main"},
            el("span", {class: "conv-top"},
               el("span", {class: "conv-name"}, names.visitor(c.visitor)),
               el("time", {class: "conv-time"}, last ? clock(last.time) : "")),
            el("span", {class: "conv-bottom"},
               el("span", {class: "conv-preview" + (c.visitorTyping && c.open ? " is-typing" : "")}, preview(c)),
               c.unread > 0 ? el("span", {class: "unread", testid: "unread",
                                          "aria-label": `${c.unread} unread`}, String(c.unread)) : null))));
  }));
}

function initial(name) {
  const ch = (name || "?").trim().charAt(0);
  return ch ? ch.toUpperCase() : "?";
}

function renderQueues(root, desk, names, act) {
  if (!desk.groups.length) {
    fill(root, el("p", {class: "empty-note"}, "You are in no skill group."));
    return;
  }
  fill(root, desk.groups.map((group) => {
    const waiting = desk.queues[group] || [];
    return el("section", {class: "queue", testid: "queue-panel", dataset: {group}},
      el("header", {class: "queue-head"},
         el("h3", {}, names.group(group)),
         el("span", {class: "pill" + (waiting.length ? " pill-warn" : ""), testid: "queue-count"},
            String(waiting.length))),
      waiting.length
        ? el("ul", {class: "queue-list"}, waiting.map((entry) => queueEntry(entry, desk, names, act)))
        : el("p", {class: "empty-note"}, "No one waiting."));
  }));
}

function queueEntry(entry, desk, names, act) {
  const inviting = desk.inviting.has(entry.conversation);
  return el("li", {class: "queue-entry", testid: "queue-entry", dataset: {conversation: entry.conversation}},
    el("span", {class: "queue-pos", title: "position"}, `#${entry.position}`),
    el("span", {class: "queue-who"}, names.queued(entry.visitor)),
    el("span", {class: "wait", testid: "wait-time", title: "waiting for",
                dataset: {waited: String(entry.waited_s), since: String(desk.queuesAt)}},
       duration(entry.waited_s + (Date.now() - desk.queuesAt) / 1000)),
    el("button", {type: "button", class: "btn btn-small btn-primary", testid: "invite", disabled: inviting,
                  onclick: () => act.invite(entry.conversation)}, inviting ? "Inviting…" : "Invite"));
}

/** Count every shown wait time on by itself (called each second; nothing else is redrawn). */
export function tickWaits(root) {
  const now = Date.now();
  for (const node of root.querySelectorAll("[data-testid=wait-time]")) {
    const text = duration(Number(node.dataset.waited) + (now - Number(node.dataset.since)) / 1000);
    if (node.textContent !== text) node.textContent = text;
  }
}
