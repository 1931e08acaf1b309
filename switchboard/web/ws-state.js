// What the workspace knows: the agent's conversations with their messages, the queues of their groups,
// presence, transfer requests. No DOM here: frames go in (welcome, message, ack, conversation_assigned, ...),
// the views read the fields. Messages are kept by seq, so a frame seen twice (a resume, a sync from 0, a
// conversation_assigned.recent overlapping the history) is shown once.

export const ENDED_TEXT = {
  agent: "You closed this conversation.",
  visitor: "The visitor closed this conversation.",
  idle_timeout: "Closed after a period of silence.",
  system: "Closed by the system.",
  transferred: "Transferred to a colleague.",
  requeued: "Returned to the queue while you were offline.",
  no_reply: "Reassigned: it had no reply in time.",
  away: "No longer assigned to you.",
};

// The header's one word for a conversation no longer ours; only a closed one has ended (for the visitor too).
export const GONE_TEXT = {
  transferred: "transferred",
  requeued: "back in the queue",
  no_reply: "reassigned",
  away: "no longer yours",
};

let counter = 0;
export const newClientId = () => `w-${Date.now().toString(36)}-${(counter += 1)}`;

export class Conversation {
  constructor(id) {
    this.id = id;
    this.phase = "assigned";
    this.group = null;
    this.visitor = null;
    this.via = null;
    this.messages = new Map(); // seq -> message frame
    this.pending = new Map(); // client_id -> {client_id, kind, text, time, error}
    this.lastSeq = 0;
    this.quietUpTo = 0; // messages up to this seq were there before we looked: not unread
    this.unread = 0;
    this.fresh = false; // newly assigned, not opened yet
    this.ended = null; // null while open, else a key of ENDED_TEXT
    this.visitorTyping = false;
    this.typingAt = 0;
    this.draft = "";
    this.noteMode = false;
    this.activity = Date.now() / 1000;
    this.version = 0; // bumped when what the transcript shows changes
  }

  get open() {
    return this.ended === null;
  }

  /** Messages by seq, then the ones still waiting for their ack. */
  transcript() {
    const stored = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    return [...stored, ...this.pending.values()];
  }

  lastMessage() {
    const items = this.transcript();
    return items.length ? items[items.length - 1] : null;
  }
}

export class Desk {
  constructor(me) {
    this.me = me; // {id, nickname, role}
    this.convs = new Map();
    this.presence = "offline";
    this.saturation = 0;
    this.groups = [];
    this.queues = {};
    this.queuesAt = 0; // Date.now() when `queues` arrived; wait times count on from there
    this.inviting = new Set();
    this.transferRequests = new Map(); // conversation -> from_agent
    this.activeId = null;
  }

  conv(id) {
    let c = this.convs.get(id);
    if (!c) {
      c = new Conversation(id);
      this.convs.set(id, c);
    }
    return c;
  }

  get active() {
    return this.activeId ? this.convs.get(this.activeId) || null : null;
  }

  /** conversation id -> last seq held, for the hello's resume. */
  lastSeqs() {
    const out = {};
    for (const c of this.convs.values()) if (c.open && c.lastSeq > 0) out[c.id] = c.lastSeq;
    return out;
  }

  /** The conversations to show, open ones first, most recent activity first. */
  ordered() {
    return [...this.convs.values()].sort((a, b) => (a.open === b.open ? b.activity - a.activity : a.open ? -1 : 1));
  }

  /** How many of the agent's conversations are still open (a reason to think twice before logging out). */
  openCount() {
    let n = 0;
    for (const c of this.convs.values()) if (c.open) n += 1;
    return n;
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  hasFresh() {
    for (const c of this.convs.values()) if (c.fresh && c.open) return true;
    return false;
  }

  // --- frames in ---------------------------------------------------------------------------------

  /** The snapshot. Returns the ids of conversations whose history must be fetched (sync from 0). */
  welcome(frame) {
    this.presence = frame.presence;
    this.saturation = frame.saturation;
    this.groups = frame.groups || [];
    this.setQueues(frame.queues || {});
    const listed = new Set();
    const backfill = [];
    for (const info of frame.conversations || []) {
      listed.add(info.id);
      const known = this.convs.has(info.id);
      const c = this.conv(info.id);
      c.phase = info.phase;
      c.group = info.group;
      c.visitor = info.visitor;
      c.ended = null;
      if (!known) {
        c.quietUpTo = info.last_seq || 0;
        backfill.push(info.id);
      }
    }
    for (const c of this.convs.values()) {
      if (c.open && !listed.has(c.id)) this.end(c, "away");
    }
    // The offers still waiting for our answer: any others ended while we were away.
    this.transferRequests = new Map((frame.pending_transfers || []).map((o) => [o.conversation, o.from_agent]));
    return backfill;
  }

  setQueues(queues) {
    this.queues = queues;
    this.queuesAt = Date.now();
    const waiting = new Set(Object.values(queues).flat().map((e) => e.conversation));
    for (const id of [...this.inviting]) if (!waiting.has(id)) this.inviting.delete(id);
  }

  /**
   * conversation_assigned; returns the seq to sync from. `recent` can miss the newest turns (the server
   * reads its history before the last writes land), and the agent was not a recipient of them, so the
   * view always asks: from 0 when `recent` does not start the conversation, else after its last turn.
   */
  assigned(frame) {
    const c = this.conv(frame.conversation);
    c.phase = "assigned";
    c.group = frame.group;
    c.visitor = frame.visitor && frame.visitor.id;
    c.via = frame.via;
    c.ended = null;
    c.fresh = true;
    c.activity = Date.now() / 1000;
    this.inviting.delete(c.id);
    this.transferRequests.delete(c.id);
    const recent = frame.recent || [];
    let fromVisitor = 0;
    for (const m of recent) {
      if (this.addMessage(c, m) && m.sender && m.sender.role === "visitor") fromVisitor += 1;
      c.quietUpTo = Math.max(c.quietUpTo, m.seq);
    }
    if (c.id !== this.activeId) c.unread += Math.max(1, fromVisitor);
    c.version += 1;
    return recent.length && recent[0].seq === 1 ? recent[recent.length - 1].seq : 0;
  }

  /** A `message` or `ack`; true if it is new and someone else's (worth a notice). */
  message(frame, looking) {
    const c = this.conv(frame.conversation);
    if (frame.type === "ack" && frame.client_id) c.pending.delete(frame.client_id);
    const added = this.addMessage(c, frame);
    if (!added) return false;
    c.version += 1;
    if (frame.seq > c.quietUpTo) c.activity = frame.time || Date.now() / 1000;
    const mine = frame.sender && frame.sender.role === "agent" && frame.sender.id === this.me.id;
    if (mine || frame.seq <= c.quietUpTo) return false;
    if (frame.sender && frame.sender.role === "visitor") c.visitorTyping = false;
    if (!(looking && c.id === this.activeId)) c.unread += 1;
    return true;
  }

  addMessage(c, frame) {
    if (typeof frame.seq !== "number" || c.messages.has(frame.seq)) return false;
    const {type, ...message} = frame;
    c.messages.set(frame.seq, message);
    c.lastSeq = Math.max(c.lastSeq, frame.seq);
    return true;
  }

  /** A message or note of ours, shown at once and replaced by its ack. */
  addPending(c, kind, text) {
    const item = {client_id: newClientId(), kind, text, time: Date.now() / 1000, pending: true, error: null,
                  sender: {role: "agent", id: this.me.id, name: this.me.nickname || "You"}};
    c.pending.set(item.client_id, item);
    c.activity = item.time;
    c.version += 1;
    return item;
  }

  /** An error frame that names one of our pending messages: mark it failed. True if it did. */
  failPending(frame) {
    for (const c of this.convs.values()) {
      const item = c.pending.get(frame.client_id);
      if (item) {
        item.error = frame.code === "store_unavailable" ? null : frame.message || frame.code;
        c.version += 1;
        return true;
      }
    }
    return false;
  }

  typing(frame) {
    if (frame.sender !== "visitor") return;
    const c = this.convs.get(frame.conversation);
    if (!c) return;
    c.visitorTyping = Boolean(frame.typing);
    c.typingAt = Date.now();
  }

  end(c, reason) {
    if (!c.open && c.ended === reason) return;
    c.ended = reason;
    c.phase = reason === "agent" || reason === "visitor" || reason === "idle_timeout" || reason === "system"
      ? "closed" : c.phase;
    c.visitorTyping = false;
    c.fresh = false;
    c.version += 1;
    this.transferRequests.delete(c.id);
  }

  closed(frame) {
    const c = this.convs.get(frame.conversation);
    if (c) this.end(c, ENDED_TEXT[frame.reason] ? frame.reason : "system");
  }

  removed(frame) {
    const c = this.convs.get(frame.conversation);
    if (c) this.end(c, ENDED_TEXT[frame.reason] ? frame.reason : "away");
  }

  open(id) {
    const c = this.convs.get(id);
    if (!c) return null;
    this.activeId = id;
    c.unread = 0;
    c.fresh = false;
    return c;
  }

  dismiss(id) {
    this.convs.delete(id);
    if (this.activeId === id) this.activeId = null;
  }
}
