// The Live tab (admins and supervisors): who is online, away or offline with their load and open
// conversations, and who waits in each queue. The server pushes a `live` frame whenever that changes
// (docs/live.md); this module never asks twice. It holds its own /ws/agent socket (a steerer need not take
// chats), subscribes after each welcome, and counts the waits on locally between frames. A conversation
// can be opened (its messages synced once, then watched: the server pushes its new messages and a `watch`
// frame when its state changes), transferred to an agent or a group, or closed.
//
// The socket says hello with the token the workspace holds at each connect (`token` is a function); a
// password change ends every session, so the Profile tab pauses this socket first and resumes it with the
// new login's token (workspace.js).

import {$, clock, duration, el, fill, toast} from "./ws-dom.js";
import {AgentSocket} from "./ws-socket.js";

const PRESENCE_TEXT = {online: "Online", away: "Away", offline: "Offline"};
const ENDED_PHASES = new Set(["closed", "abandoned"]);

export class LiveArea {
  /** `token`: the login token, or a function giving the current one (read at every connect). */
  constructor(root, token) {
    this.root = root;
    this.live = null; // the last live frame
    this.at = 0; // Date.now() when it came
    this.openId = null;
    this.lastSeq = 0;
    this.stateLine = el("p", {id: "live-conv-state", class: "muted small", testid: "live-conv-state", role: "status"});
    this.socket = new AgentSocket({
      token, lastSeq: () => ({}),
      onFrame: (f) => this.frame(f), onState: (state, detail) => this.state(state, detail),
    });
  }

  start() {
    $("#live-conv-hide", this.root).addEventListener("click", () => this.hide());
    $("#live-refresh", this.root).addEventListener("click", () => this.sync());
    $("#live-close", this.root).addEventListener("click", () => this.closeConversation());
    $("#live-transfer", this.root).addEventListener("submit", (event) => {
      event.preventDefault();
      this.transfer();
    });
    $("#live-transcript", this.root).before(this.stateLine);
    this.socket.start();
    setInterval(() => this.tick(), 1000);
  }

  /** Before a password change (it ends every session, this socket's too): stop without a "Session ended". */
  pause() {
    this.socket.stop();
  }

  /** After it: connect again with the new login's `token` (the welcome subscribes and watches again). */
  resume(token) {
    if (token && typeof this.socket.token !== "function") this.socket.token = token;
    this.socket.start();
  }

  state(state, detail) {
    const label = $("#live-state", this.root);
    label.dataset.state = state;
    label.textContent = state === "open" ? "Live" : state === "ended" ? "Session ended" : "Reconnecting…";
    if (state === "open") {
      this.socket.send("live", {on: true});
      this.follow(); // a new socket watches nothing yet: the open conversation again, from what we hold
    }
    if (state === "ended" && detail) toast(detail.message || detail.code, "error");
  }

  frame(f) {
    if (f.type === "live") {
      this.live = f;
      this.at = Date.now();
      this.render();
    } else if (f.type === "message" && f.conversation === this.openId) {
      this.message(f);
    } else if (f.type === "watch" && f.conversation === this.openId) {
      this.showState(f);
    } else if (f.type === "error" && f.in_reply_to === "watch") {
      if (f.conversation === this.openId) this.lost(f);
    } else if (f.type === "error" && this.socket.welcomed) {
      toast(f.in_reply_to === "live" ? "Only admins and supervisors of a group see the live view."
        : f.message || f.code, "error");
    }
  }

  // --- the tables ----------------------------------------------------------------------------------

  render() {
    const live = this.live;
    const shown = live.agents.length < live.agents_total ? `${live.agents.length} of ${live.agents_total}`
      : String(live.agents_total);
    $("#live-agents-count", this.root).textContent = shown;
    fill($("#live-agents", this.root), live.agents.map((a) => this.agentRow(a)));
    fill($("#live-queues", this.root), live.queues.length ? live.queues.map((q) => this.queue(q))
      : el("p", {class: "muted"}, "No queues in your groups."));
    this.fillTargets();
  }

  agentRow(a) {
    return el("tr", {testid: "live-agent", dataset: {agent: a.id, presence: a.presence, load: String(a.load)}},
      el("td", {}, el("span", {class: "strong"}, a.name), el("div", {class: "muted small"}, a.groups.join(", "))),
      el("td", {}, el("span", {class: `live-dot live-${a.presence}`, "aria-hidden": "true"}),
         ` ${PRESENCE_TEXT[a.presence] || a.presence}`),
      el("td", {class: "live-load"},
         el("meter", {min: "0", max: String(Math.max(1, a.saturation)), value: String(a.load),
                      high: String(Math.max(1, a.saturation)), "aria-label": "load"}),
         el("span", {testid: "live-load"}, ` ${a.load} / ${a.saturation}`)),
      el("td", {}, a.conversations.length
        ? el("ul", {class: "live-convs"}, a.conversations.map((c) => this.convItem(c, c.since
          ? `since ${clock(c.since)}` : "")))
        : el("span", {class: "muted"}, "—")));
  }

  convItem(c, note) {
    return el("li", {testid: "live-conv", dataset: {conversation: c.id}},
      el("button", {class: "btn btn-ghost btn-small", type: "button", testid: "live-open",
                    onclick: () => this.open(c.id)}, `Open ${c.visitor || c.id}`),
      el("span", {class: "muted small"}, ` ${c.group || ""} ${note}`));
  }

  queue(q) {
    const more = q.waiting_total > q.waiting.length ? el("p", {class: "muted small"},
      `and ${q.waiting_total - q.waiting.length} more`) : null;
    return el("div", {class: "live-queue", testid: "live-queue", dataset: {group: q.group}},
      el("h3", {class: "live-queue-title"}, q.name, " ", el("span", {class: "pill"}, String(q.waiting_total))),
      q.waiting.length ? el("ul", {class: "live-waiting"}, q.waiting.map((w) =>
        el("li", {testid: "live-waiting", dataset: {conversation: w.conversation}},
          el("span", {class: "strong"}, `#${w.position}`), ` ${w.visitor} `,
          el("span", {class: "muted small live-wait", dataset: {waited: String(w.waited_s)}},
             duration(w.waited_s)),
          el("button", {class: "btn btn-ghost btn-small", type: "button", testid: "live-open",
                        onclick: () => this.open(w.conversation)}, "Open"))))
        : el("p", {class: "muted small"}, "Nobody waiting."),
      more);
  }

  /** The waits count on between frames (the server sends nothing while nothing changes). */
  tick() {
    const extra = (Date.now() - this.at) / 1000;
    for (const node of this.root.querySelectorAll(".live-wait")) {
      node.textContent = duration(Number(node.dataset.waited) + extra);
    }
  }

  fillTargets() {
    const select = $("#live-transfer-to", this.root);
    const kept = select.value;
    const agents = this.live.agents.filter((a) => a.presence !== "offline")
      .map((a) => el("option", {value: `agent:${a.id}`}, `${a.name} (${a.load}/${a.saturation})`));
    const groups = this.live.queues.map((q) => el("option", {value: `group:${q.group}`}, `Group ${q.name}`));
    fill(select, el("option", {value: ""}, "Choose…"), agents, groups);
    if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  }

  // --- one conversation ----------------------------------------------------------------------------

  open(id) {
    if (this.openId && this.openId !== id) this.socket.send("watch", {conversation: this.openId, on: false});
    this.openId = id;
    this.lastSeq = 0;
    const panel = $("#live-conversation", this.root);
    panel.hidden = false;
    panel.dataset.conversation = id;
    delete panel.dataset.phase;
    $("#live-conv-title", this.root).textContent = `Conversation ${id}`;
    this.stateLine.textContent = "";
    this.setEnded(false);
    fill($("#live-transcript", this.root));
    this.follow();
    panel.scrollIntoView({block: "nearest"});
  }

  /** The open conversation's messages after those shown (once), and what comes next (pushed: `watch`). */
  follow() {
    if (!this.openId) return;
    this.sync();
    this.socket.send("watch", {conversation: this.openId, on: true});
  }

  sync() {
    if (this.openId) this.socket.send("sync", {conversation: this.openId, after: this.lastSeq});
  }

  hide() {
    if (this.openId) this.socket.send("watch", {conversation: this.openId, on: false});
    this.openId = null;
    $("#live-conversation", this.root).hidden = true;
  }

  /** A `watch` frame: the open conversation's state (conversation info), pushed when it changes. */
  showState(f) {
    $("#live-conversation", this.root).dataset.phase = f.phase;
    const agent = f.agent ? f.agent.name || f.agent.id : "";
    const text = {
      bot: "With the bot.",
      queued: `Waiting in the queue${f.group ? ` of ${f.group}` : ""}.`,
      assigned: `Served by ${agent}${f.group ? ` (${f.group})` : ""}.`,
      closed: "Closed.",
      abandoned: "Abandoned: the visitor left the queue.",
    }[f.phase] || f.phase;
    this.stateLine.textContent = text;
    this.setEnded(ENDED_PHASES.has(f.phase));
  }

  /** The server refused or stopped the watch: the conversation left the groups we steer (what is shown
   * stays, no longer updated), or this socket watches too many. */
  lost(f) {
    if (f.code !== "not_your_conversation") {
      toast(f.message || f.code, "error");
      return;
    }
    this.stateLine.textContent = "No longer in your groups: not updated any more.";
    this.setEnded(true);
  }

  setEnded(ended) {
    $("#live-close", this.root).disabled = ended;
    $("[data-testid=live-transfer-send]", this.root).disabled = ended;
  }

  message(f) {
    if (f.seq <= this.lastSeq) return;
    this.lastSeq = f.seq;
    const who = f.sender ? f.sender.name || f.sender.role : "";
    $("#live-transcript", this.root).append(el("li", {testid: "live-message", dataset: {role: f.sender.role, kind: f.kind}},
      el("span", {class: "muted small"}, `${clock(f.time)} ${who}${f.kind === "note" ? " (note)" : ""}: `), f.text));
  }

  transfer() {
    const target = $("#live-transfer-to", this.root).value;
    if (!this.openId || !target) return;
    const [kind, id] = [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)];
    const sent = this.socket.send("transfer", kind === "agent" ? {conversation: this.openId, to_agent: id}
      : {conversation: this.openId, to_group: id});
    toast(sent ? "Transfer sent." : "Not connected.", sent ? "info" : "error");
  }

  closeConversation() {
    if (!this.openId || !confirm("Close this conversation for the visitor?")) return;
    if (this.socket.send("close", {conversation: this.openId})) {
      toast("Conversation closed.");
      this.hide();
    }
  }
}
