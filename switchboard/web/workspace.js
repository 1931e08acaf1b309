// The workspace: log in (ws-login.js), then tabs by role: "Desk" (agents: conversations over /ws/agent),
// "Team" (admins and supervisors: ws-admin.js; the server decides what each may see and do), "Live" (admins
// and supervisors: agents and queues now, pushed by the server: ws-live.js), "Reports" (everyone, scoped by the
// server: figures and charts, ws-reports.js) and "Profile" (everyone: ws-profile.js). The queue panel is pushed
// too: the server sends `queues` when a group shown changes. This module wires the desk's parts together: frames
// from the socket update the Desk (ws-state.js), and one render pass redraws the columns. Everything people
// wrote is put on the page as text (ws-dom.js).

import {Api, session} from "./ws-api.js";
import {AdminArea} from "./ws-admin.js";
import {CannedArea} from "./ws-canned.js";
import {ConversationView} from "./ws-conversation.js";
import {$, el, toast} from "./ws-dom.js";
import {HistoryArea, historyTarget, linkEndedBanner} from "./ws-history.js";
import {InboxArea, watchInboxCount} from "./ws-inbox.js";
import {LiveArea} from "./ws-live.js";
import {LoginScreens} from "./ws-login.js";
import {chime, setTitle, unlockAudio} from "./ws-notify.js";
import {ProfileArea} from "./ws-profile.js";
import {ReportsArea} from "./ws-reports.js";
import {renderSidebar, tickWaits} from "./ws-sidebar.js";
import {AgentSocket} from "./ws-socket.js";
import {Desk} from "./ws-state.js";
import {VisitorBook, renderDetails} from "./ws-visitor.js";

const PRESENCE_KEY = "switchboard.presence";
const NOTICE_KEY = "switchboard.notice";
const TAB_KEY = "switchboard.tab";
// Why a transfer offered to us ended unanswered (transfer_withdrawn), and why ours did (transfer_declined).
const WITHDRAWN_TEXT = {
  timeout: "A transfer offered to you expired unanswered.",
  offline: "The transfers offered to you ended when you went offline.",
  closed: "A transfer offered to you ended: the conversation was closed.",
  requeued: "A transfer offered to you ended: the conversation went back to its queue.",
  transferred: "A transfer offered to you ended: the conversation moved to a group.",
};
const DECLINED_TEXT = {
  declined: "declined the transfer.",
  offline: "went offline before answering your transfer.",
  timeout: "did not answer your transfer in time.",
};

// Refusals of what this agent did, in their words: the engine's own messages name agents by id.
const REFUSED_TEXT = {
  "invite:agent_offline": "You are offline: set yourself online or away to invite.",
  "invite:not_queued": "That visitor is no longer waiting.",
  "invite:not_in_group": "You are not in that visitor's group.",
  "transfer:agent_offline": "That colleague is offline and cannot take the transfer.",
  "transfer:unknown_agent": "There is no such colleague.",
  "transfer:unknown_group": "There is no such group.",
  "transfer:same_agent": "The conversation is already with that colleague.",
  "transfer:transfer_pending": "A transfer of this conversation is already waiting for an answer.",
  "transfer:queue_full": "That group's queue is full.",
};

const api = new Api();

// --- login and logout ------------------------------------------------------------------------------

function endSession(notice) {
  session.clear();
  sessionStorage.removeItem(PRESENCE_KEY);
  sessionStorage.removeItem(TAB_KEY);
  if (notice) sessionStorage.setItem(NOTICE_KEY, notice);
  location.replace(location.pathname);
}

/** A login answer: a password someone else set is replaced first, then the workspace starts. */
function entered(login, password) {
  unlockAudio();
  session.save(login);
  api.token = login.token;
  if (login.user.must_change_password) screens.mustChange(login.user, password, logOut);
  else start(login.token, login.user);
}

let workspace = null;

async function logOut() {
  // Conversations stay assigned to an agent who logs out until the offline grace ends: say so first.
  const open = workspace && workspace.desk ? workspace.desk.openCount() : 0;
  if (open > 0 && !confirm(`You have ${open} open conversation${open === 1 ? "" : "s"}. Visitors will wait `
      + "for you until they are handed to another agent. Log out anyway?")) return;
  if (workspace) workspace.socket.stop(); // our own socket's 4001 must not read as "session ended"
  try {
    await api.logout();
  } catch {
    // the session is over either way
  }
  endSession(null);
}

// --- the app -----------------------------------------------------------------------------------------

const ROLE_NAMES = {admin: "Admin", supervisor: "Supervisor", agent: "Agent"};

function start(token, user) {
  api.token = token;
  api.onSessionEnded = () => endSession("Your session has ended. Please log in again.");
  $("#login").hidden = true;
  $("#must-change").hidden = true;
  $("#app").hidden = false;
  showMe(user);
  $("#logout").onclick = logOut;
  document.addEventListener("pointerdown", unlockAudio, {once: true});
  api.team().then(showTeam, () => {});
  const roles = user.roles || [];
  let liveArea = null;  // made when the Live tab is first shown
  const tabs = {
    desk: roles.includes("agent") ? () => {} : null,
    team: roles.includes("admin") || roles.includes("supervisor")
      ? once(() => new AdminArea($("#admin"), api, toast, user).load()) : null,
    live: roles.includes("admin") || roles.includes("supervisor")  // pushed by the server: ws-live.js
      ? once(() => { liveArea = new LiveArea($("#live"), () => api.token); liveArea.start(); }) : null,
    history: once(() => { historyArea = new HistoryArea($("#history"), api, toast).load(); }),  // scoped by the server
    reports: once(() => new ReportsArea($("#reports"), api, toast, user).load()),  // scoped by the server
    canned: once(() => new CannedArea($("#canned")).load()),  // everyone: their own, their groups', the global ones
    inbox: once(() => new InboxArea($("#inbox"), api, toast, user, setInboxBadge).load()),  // scoped by the server
    profile: once(() => new ProfileArea($("#profile"), api, toast, user, {
      changed: showMe,
      pause: () => {  // the change ends every session: no socket of ours may read that as "session ended"
        if (workspace) workspace.socket.stop();
        if (liveArea) liveArea.pause();
      },
      resume: (fresh) => {
        api.token = fresh;
        if (liveArea) liveArea.resume(fresh);
        if (!workspace) return;
        workspace.socket.token = fresh;
        workspace.socket.start();
      },
    }).load()),
  };
  const areas = {desk: $("#desk"), team: $("#admin"), live: $("#live"), history: $("#history"),
                 reports: $("#reports"), profile: $("#profile"), canned: $("#canned"),
                 inbox: $("#inbox")};
  $("#agent-controls").hidden = !tabs.desk;
  const show = (name) => {
    for (const [tab, area] of Object.entries(areas)) area.hidden = tab !== name;
    for (const button of document.querySelectorAll("#tabs .tab")) {
      button.hidden = !tabs[button.dataset.tab];
      button.classList.toggle("active", button.dataset.tab === name);
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    sessionStorage.setItem(TAB_KEY, name);
    tabs[name]();
    if (name === "desk" && workspace) workspace.render();
  };
  for (const button of document.querySelectorAll("#tabs .tab")) {
    button.addEventListener("click", () => show(button.dataset.tab));
  }
  if (tabs.desk) {
    workspace = new Workspace(token, user);
    workspace.start();
  }
  let historyArea = null;  // #history/<id> (the desk's ended banner links there) opens that transcript
  const openLinked = () => {
    const target = historyTarget(location.hash);
    if (!target) return false;
    show("history");
    historyArea.then((area) => area.open(target));
    window.history.replaceState(null, "", location.pathname + location.search);
    return true;
  };
  window.addEventListener("hashchange", openLinked);
  linkEndedBanner($("#conv-banner"), () => workspace && workspace.desk.activeId);
  const setInboxBadge = (count) => {
    const badge = $("#inbox-badge");
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = !count;
  };
  watchInboxCount(api, setInboxBadge);
  const kept = sessionStorage.getItem(TAB_KEY);
  if (!openLinked()) show(kept && tabs[kept] ? kept : tabs.desk ? "desk" : "team");
}

function showMe(user) {
  $("#me-name").textContent = user.nickname || user.email;
  $("#me-role").textContent = (user.roles || []).map((r) => ROLE_NAMES[r] || r).join(" · ");
}

/** The team's logo and name beside ours (not the default name "Switchboard" twice). */
function showTeam(team) {
  const name = team.name && team.name !== "Switchboard" ? team.name : "";
  const brand = $("#team-brand");
  brand.replaceChildren(...[team.logo_url ? el("img", {class: "team-logo", src: team.logo_url, alt: ""}) : null,
                            name].filter(Boolean));
  brand.hidden = !name && !team.logo_url;
}

/** `fn` run on the first call only. */
function once(fn) {
  let done = false;
  return () => {
    if (!done) fn();
    done = true;
  };
}

class Workspace {
  constructor(token, user) {
    this.desk = new Desk(user);
    this.book = new VisitorBook(api, () => this.render());
    this.directory = null;
    this.renderQueued = false;
    this.names = {
      visitor: (id) => this.book.name(id),
      queued: (id) => this.book.name(id, false),
      group: (id) => {
        const g = this.directory && this.directory.groups.find((x) => x.id === id);
        return g && g.name ? g.name : id;
      },
      agent: (id) => {
        const a = this.directory && this.directory.agents.find((x) => x.id === id);
        if (!a) this.directoryStale();
        return a && a.nickname ? a.nickname : id;
      },
    };
    this.socket = new AgentSocket({
      token, lastSeq: () => this.desk.lastSeqs(),
      onFrame: (frame) => this.frame(frame), onState: (state, detail) => this.connection(state, detail),
    });
    this.view = new ConversationView($("#conversation"), this.desk, {
      send: (type, fields) => this.send(type, fields),
      post: (c, kind, text) => this.post(c, kind, text),
      names: this.names, toast, loadDirectory: () => this.loadDirectory(),
      dismiss: (id) => { this.desk.dismiss(id); this.render(); },
    });
    this.sidebar = {requests: $("#transfer-requests"), list: $("#conversation-list"), queues: $("#queues"),
                    count: $("#conversation-count")};
    this.actions = {
      open: (id) => this.open(id),
      invite: (id) => {
        if (this.send("invite", {conversation: id})) this.desk.inviting.add(id);
        this.render();
      },
      answer: (id, accept) => {
        if (this.send("answer_transfer", {conversation: id, accept})) this.desk.transferRequests.delete(id);
        this.render();
      },
    };
  }

  start() {
    const presence = $("#presence");
    presence.addEventListener("change", () => {
      sessionStorage.setItem(PRESENCE_KEY, presence.value);
      if (!this.send("presence", {presence: presence.value})) toast("Not connected: your status is set on reconnect.");
      const open = [...this.desk.convs.values()].filter((c) => c.open).length;
      if (presence.value === "offline" && open) {  // the offline grace: back soon, and they are still yours
        toast(`Your ${open === 1 ? "open conversation goes" : `${open} open conversations go`} back to the queue `
              + "unless you are online or away again soon.");
      }
    });
    $("#refresh-queues").addEventListener("click", () => this.send("queues"));
    $("#reconnect").addEventListener("click", () => this.socket.drop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.desk.active) this.desk.open(this.desk.activeId);
      this.render();
    });
    this.loadDirectory().then(() => this.render(), () => {});
    this.socket.start();
    setInterval(() => {
      tickWaits(this.sidebar.queues);
      this.view.render(); // a visitor's stale "typing" fades out
    }, 1000);
    window.switchboardWorkspace = this; // for the console, and for tests that stop or drop the socket
    this.render();
  }

  async loadDirectory() {
    this.directoryAt = Date.now();
    this.directory = await api.directory();
    return this.directory;
  }

  /** A colleague we do not know yet (created after we loaded the directory): load it again, at most every 2 s,
   *  and draw again once it is here (nothing else may redraw soon: the queue panel is pushed, not polled). */
  directoryStale() {
    if (this.directoryReload) return;
    const wait = Math.max(0, 2000 - (Date.now() - (this.directoryAt || 0)));
    this.directoryReload = setTimeout(() => {
      this.directoryReload = null;
      this.loadDirectory().then(() => this.render(), () => {});
    }, wait);
  }

  send(type, fields = {}) {
    return this.socket.send(type, fields);
  }

  /** Show our message at once; it is sent now or, if the socket is down, after the next welcome. */
  post(c, kind, text) {
    const item = this.desk.addPending(c, kind, text);
    this.send(kind === "note" ? "note" : "message", {conversation: c.id, client_id: item.client_id, text});
  }

  open(id) {
    const c = this.desk.open(id);
    if (c) this.book.get(c.visitor);
    this.render();
    $("#reply").focus();
  }

  looking() {
    return document.visibilityState === "visible";
  }

  connection(state, detail) {
    const label = $("#connection");
    label.dataset.state = state;
    // once welcomed, every later attempt is a reconnection: say so, also between the waits
    const connecting = this.welcomes ? "Reconnecting…" : "Connecting…";
    label.textContent = state === "open" ? "Connected" : state === "connecting" ? connecting
      : state === "waiting" ? `Reconnecting in ${Math.max(1, Math.round(detail.seconds))} s…`
      : state === "offline" ? "Offline" : "Disconnected";
    if (state === "ended") endSession(`Your session has ended (${detail.message || detail.code}). Please log in again.`);
  }

  frame(f) {
    const desk = this.desk;
    switch (f.type) {
      case "welcome": {
        this.welcomes = (this.welcomes || 0) + 1;
        $("#connection").dataset.welcomes = String(this.welcomes);
        for (const id of desk.welcome(f)) this.send("sync", {conversation: id, after: 0});
        const wanted = sessionStorage.getItem(PRESENCE_KEY);
        if (wanted && wanted !== f.presence) this.send("presence", {presence: wanted});
        else $("#presence").value = f.presence;
        this.resendPending();
        break;
      }
      case "presence":
        desk.presence = f.presence;
        $("#presence").value = f.presence;
        break;
      case "queues":
        desk.setQueues(f.queues);
        break;
      case "message":
      case "ack":
        if (desk.message(f, this.looking()) && f.type === "message") chime("message");
        break;
      case "conversation_assigned": {
        this.send("sync", {conversation: f.conversation, after: desk.assigned(f)});
        this.book.get(f.visitor && f.visitor.id);
        chime("conversation");
        break;
      }
      case "conversation_removed":
        desk.removed(f);
        break;
      case "closed":
        desk.closed(f);
        break;
      case "typing":
        desk.typing(f);
        break;
      case "transfer_requested":
        desk.transferRequests.set(f.conversation, f.from_agent);
        chime("conversation");
        break;
      case "transfer_withdrawn":
        if (desk.transferRequests.delete(f.conversation)) toast(WITHDRAWN_TEXT[f.reason] || WITHDRAWN_TEXT.closed);
        break;
      case "transfer_declined":
        toast(`${this.names.agent(f.to_agent)} ${DECLINED_TEXT[f.reason] || DECLINED_TEXT.declined}`, "error");
        break;
      case "error":
        this.error(f);
        break;
      default:
        break; // pong and frames of newer servers
    }
    this.render();
  }

  error(f) {
    if (f.client_id && this.desk.failPending(f)) {
      if (f.code !== "store_unavailable") toast(`Message not sent: ${f.message}`, "error");
      return;
    }
    if (f.in_reply_to === "invite" || f.code === "not_queued") {
      this.desk.inviting.clear();
      this.send("queues");
    }
    toast(REFUSED_TEXT[`${f.in_reply_to}:${f.code}`] || f.message || f.code, "error");
  }

  /** After a reconnect: send again what was never acked, with the same client_id (no duplicates). */
  resendPending() {
    for (const c of this.desk.convs.values()) {
      if (!c.open) continue;
      for (const item of c.pending.values()) {
        if (item.error) continue;
        this.send(item.kind === "note" ? "note" : "message", {conversation: c.id, client_id: item.client_id,
                                                                 text: item.text});
      }
    }
  }

  render() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => {
      this.renderQueued = false;
      const desk = this.desk;
      if (desk.active && desk.active.unread && this.looking()) desk.open(desk.activeId);
      renderSidebar(this.sidebar, desk, this.names, this.actions);
      this.view.render();
      renderDetails($("#details"), desk.active, this.book, this.names.group);
      setTitle(desk.totalUnread(), desk.hasFresh());
    }, 0);
  }
}

// --- boot --------------------------------------------------------------------------------------------

const screens = new LoginScreens(api, entered);
const token = session.token();
const notice = sessionStorage.getItem(NOTICE_KEY);
sessionStorage.removeItem(NOTICE_KEY);
if (token) {
  api.token = token;
  api.me().then((user) => {
    if (user.must_change_password) screens.mustChange(user, null, logOut);
    else start(token, user);
  }, () => endSession("Your session has ended. Please log in again."));
} else {
  screens.show(notice);
}
