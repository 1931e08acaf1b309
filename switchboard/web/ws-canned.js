// Canned replies (docs/canned.md): texts an agent inserts in the reply box by typing `/` and a shortcut, with
// {{variables}} filled in from what the workspace knows; and the "Canned replies" tab that manages them.
//
// - CannedPicker: the list under a `/` typed at the start of the reply or after a space (ws-conversation.js
//   makes one for #reply). It filters as the agent types (`/ref`), arrow keys and Enter (or Tab, or a click)
//   insert the reply, Escape closes. A listbox whose active option the reply box names (aria-activedescendant).
// - CannedArea: the tab's list (by scope) and its form (new reply, edit, delete). The server decides who may
//   change what (GET /api/canned says so per reply: can_edit); the form offers only the scopes one manages.
// - fillVariables: the one substitution, as text: never HTML, never eval. A variable without a value (or an
//   unknown one) becomes a visible "[visitor.name]", selected in the reply box so typing replaces it: a reply
//   never goes out with a raw {{...}} or a silent gap.
//
// Every call is the REST API's own (GET/POST /api/canned, PATCH/DELETE /api/canned/{id}), made with this tab's
// current login (a password change on the Profile tab renews it).

import {Api, session} from "./ws-api.js";
import {$, el, fill, runForm, sentence, toast} from "./ws-dom.js";

export const VARIABLES = ["visitor.name", "visitor.email", "agent.name", "team.name"];
const VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;
// A slash at the start of the text or after a space, then what has been typed of a shortcut, up to the caret.
const TRIGGER = /(?:^|\s)\/([a-z0-9_-]{0,32})$/i;
const FRESH_MS = 30000;  // the usable set, one's name and the team's are loaded again when older than this
const SHOWN = 50;  // options in the picker at most (the best matches first)
const SCOPE_LABELS = {personal: "Personal", group: "Group", global: "Everyone"};

class CannedApi extends Api {
  call(method, path, options) {
    this.token = session.token();
    return super.call(method, path, options);
  }

  canned(query = {}) {
    const params = new URLSearchParams(Object.entries(query).filter(([, value]) => value)).toString();
    return this.call("GET", `/api/canned${params ? `?${params}` : ""}`);
  }

  createCanned(fields) { return this.call("POST", "/api/canned", {json: fields}); }
  updateCanned(id, fields) { return this.call("PATCH", `/api/canned/${encodeURIComponent(id)}`, {json: fields}); }
  deleteCanned(id) { return this.call("DELETE", `/api/canned/${encodeURIComponent(id)}`); }
}

const api = new CannedApi();

/** What the picker needs, loaded together when first needed and again once stale or changed on the tab. */
const known = {
  at: 0,
  loading: null,
  replies: [],
  me: null,
  team: null,
  visitors: new Map(),  // visitor id -> {at, details: Promise}

  load() {
    if (this.loading) return this.loading;
    if (this.at && Date.now() - this.at < FRESH_MS) return Promise.resolve(this.replies);
    this.loading = Promise.all([api.canned(), api.me().catch(() => null), api.team().catch(() => null)])
      .then(([replies, me, team]) => {
        Object.assign(this, {replies, me, team, at: Date.now()});
        return replies;
      })
      .finally(() => { this.loading = null; });
    return this.loading;
  },

  forget() {
    this.at = 0;
  },

  /** The visitor's details as their widget reported them (GET /api/visitors/{id}); null if unavailable. */
  visitor(id) {
    if (!id) return Promise.resolve(null);
    const kept = this.visitors.get(id);
    if (kept && Date.now() - kept.at < FRESH_MS) return kept.details;
    const details = api.visitor(id).catch(() => null);
    this.visitors.set(id, {at: Date.now(), details});
    return details;
  },
};

/** `text` with every {{variable}} replaced by its value in `values` (name -> string); one without a value, or
 *  unknown, becomes "[name]". Plain string work: the result goes into a textarea as text. */
export function fillVariables(text, values) {
  return String(text).replace(VARIABLE, (_, name) => valueOf(values, name) || `[${name}]`);
}

/** The names of `text`'s variables that `values` has no value for, in order, once each. */
export function missingVariables(text, values) {
  const names = [...String(text).matchAll(VARIABLE)].map((m) => m[1]).filter((name) => !valueOf(values, name));
  return [...new Set(names)];
}

function valueOf(values, name) {
  return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name] ?? "").trim() : "";
}

/** Those of `replies` holding `query` (case-insensitive) in their shortcut, title or text, best first: a shortcut
 *  that starts with it, one that holds it, then a title, then a text (as GET /api/canned?q= ranks them). */
export function matching(replies, query) {
  const needle = String(query || "").trim().toLowerCase();
  if (!needle) return replies.slice();
  const ranked = [];
  replies.forEach((reply, i) => {
    const shortcut = reply.shortcut.toLowerCase();
    const rank = shortcut.startsWith(needle) ? 0 : shortcut.includes(needle) ? 1
      : (reply.title || "").toLowerCase().includes(needle) ? 2 : reply.text.toLowerCase().includes(needle) ? 3 : -1;
    if (rank >= 0) ranked.push([rank, i, reply]);
  });
  return ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, , reply]) => reply);
}

/** "Personal", "Everyone", or the group's name. */
function scopeLabel(reply, groupName) {
  return reply.scope === "group" ? groupName(reply.owner) : SCOPE_LABELS[reply.scope] || reply.scope;
}

// --- the picker in the reply box -----------------------------------------------------------------------

export class CannedPicker {
  /**
   * @param {HTMLTextAreaElement} reply  the reply box
   * @param {object} o  {conversation() -> the open conversation or null, groupName(id) -> string,
   *                     inserted() after the box's text changed}
   */
  constructor(reply, o) {
    this.reply = reply;
    this.o = o;
    this.shown = false;
    this.matches = [];
    this.active = 0;
    this.ticket = 0;  // bumped on every change, so a late answer never draws over a newer state
    this.list = el("ul", {id: "canned-options", class: "canned-options", role: "listbox",
                          "aria-label": "Canned replies", testid: "canned-options"});
    this.note = el("p", {class: "canned-note", role: "status", testid: "canned-note"});
    this.box = el("div", {class: "canned-pop", testid: "canned-picker", hidden: true},
      el("div", {class: "canned-pop-head", "aria-hidden": "true"},
         el("span", {class: "strong"}, "Canned replies"), el("span", {}, "↑ ↓ choose · Enter insert · Esc close")),
      this.list, this.note);
    this.box.addEventListener("mousedown", (event) => event.preventDefault());  // the reply box keeps the focus
    reply.before(this.box);
    reply.setAttribute("aria-autocomplete", "list");
    reply.setAttribute("aria-controls", "canned-options");
    reply.addEventListener("blur", () => this.close());
    reply.addEventListener("click", () => this.update());
  }

  /** The reply box changed (or its caret moved): open, filter or close the list. */
  update() {
    const r = this.reply;
    const found = r.selectionStart === r.selectionEnd ? TRIGGER.exec(r.value.slice(0, r.selectionStart)) : null;
    if (!found || r.disabled) {
      this.close();
      return;
    }
    this.query = found[1].toLowerCase();
    this.end = r.selectionStart;
    this.start = this.end - found[1].length - 1;  // the slash
    const c = this.o.conversation();
    if (c && c.visitor) known.visitor(c.visitor);  // ready by the time one is chosen
    this.show();
  }

  async show() {
    const ticket = (this.ticket += 1);
    this.shown = true;
    this.box.hidden = false;
    if (known.loading || !known.at) this.draw([], "Loading canned replies…");
    let replies;
    try {
      replies = await known.load();
    } catch (err) {
      if (ticket === this.ticket) this.draw([], `Could not load canned replies: ${err.message}`);
      return;
    }
    if (ticket !== this.ticket || !this.shown) return;
    const matches = matching(replies, this.query);
    const chosen = this.matches[this.active];
    this.active = Math.max(0, chosen ? matches.slice(0, SHOWN).findIndex((m) => m.id === chosen.id) : 0);
    this.draw(matches.slice(0, SHOWN), !replies.length
      ? "No canned replies yet: make some on the Canned replies tab."
      : !matches.length ? `No canned reply matches /${this.query}.`
      : matches.length > SHOWN ? `${matches.length} match; type more of the shortcut to narrow them.` : "");
  }

  draw(matches, note) {
    this.matches = matches;
    const groupName = this.o.groupName || ((id) => id);
    fill(this.list, matches.map((reply, i) => el("li", {
      id: `canned-option-${i}`, role: "option", class: `canned-option${i === this.active ? " active" : ""}`,
      "aria-selected": String(i === this.active), testid: "canned-option", dataset: {shortcut: reply.shortcut},
      onmousedown: (event) => { event.preventDefault(); this.choose(i); },
    },
      el("span", {class: "canned-shortcut"}, `/${reply.shortcut}`),
      el("span", {class: "canned-title"}, reply.title || ""),
      el("span", {class: `canned-scope canned-scope-${reply.scope}`}, scopeLabel(reply, groupName)),
      el("span", {class: "canned-preview"}, reply.text))));
    this.list.hidden = !matches.length;
    this.note.textContent = note || "";
    this.note.hidden = !note;
    if (matches.length) {
      this.reply.setAttribute("aria-activedescendant", `canned-option-${this.active}`);
      this.list.children[this.active].scrollIntoView({block: "nearest"});
    } else {
      this.reply.removeAttribute("aria-activedescendant");
    }
  }

  close() {
    this.ticket += 1;
    if (!this.shown) return;
    this.shown = false;
    this.box.hidden = true;
    this.reply.removeAttribute("aria-activedescendant");
  }

  /** A key in the reply box: true if the list took it (the caller then does nothing more with it). */
  keydown(event) {
    if (!this.shown || event.isComposing) return false;
    const n = this.matches.length;
    if (event.key === "Escape") {
      this.close();
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && n) {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.draw(this.matches, this.note.textContent);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && (n || known.loading)) {
      if (n) this.choose(this.active);  // while the list loads, Enter waits rather than sending "/gre"
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  /** Put the chosen reply, variables filled in, where the `/shortcut` was typed. */
  async choose(i) {
    const reply = this.matches[i];
    if (!reply) return;
    const {start, end, query} = this;
    const c = this.o.conversation();
    this.close();
    const [visitor] = await Promise.all([known.visitor(c && c.visitor), known.load().catch(() => null)]);
    const values = {
      "visitor.name": visitor && visitor.name, "visitor.email": visitor && visitor.email,
      "agent.name": known.me && known.me.nickname, "team.name": known.team && known.team.name,
    };
    const text = fillVariables(reply.text, values);
    const r = this.reply;
    if (r.disabled || c !== this.o.conversation()) return;  // the conversation ended or changed meanwhile
    const typed = r.value.slice(start, end).toLowerCase() === `/${query}`;  // else it was edited meanwhile
    const [from, to] = typed ? [start, end] : [r.selectionStart, r.selectionEnd];
    r.setRangeText(text, from, to, "end");
    r.focus();
    const missing = missingVariables(reply.text, values);
    if (missing.length) {
      const gap = text.indexOf(`[${missing[0]}]`);
      if (gap >= 0) r.setSelectionRange(from + gap, from + gap + missing[0].length + 2);
      toast(`Fill in ${missing.map((name) => `[${name}]`).join(", ")}: no value known here.`);
    }
    if (this.o.inserted) this.o.inserted();
  }
}

// --- the "Canned replies" tab --------------------------------------------------------------------------

export class CannedArea {
  constructor(root) {
    this.root = root;
    this.form = $("#canned-form", root);
    this.show = $("#canned-show", root);
    this.search = $("#canned-search", root);
    this.rows = $("#canned-rows", root);
    this.status = $("#canned-status", root);
    this.items = [];
    this.editing = null;
    this.groups = new Map();  // group id -> name
    this.me = null;
    this.form.addEventListener("submit", (event) => this.save(event));
    $("#canned-cancel", root).addEventListener("click", () => this.edit(null));
    this.show.addEventListener("change", () => this.list());
    this.search.addEventListener("input", () => this.render());
  }

  async load() {
    try {
      const [me, directory] = await Promise.all([api.me(), api.directory().catch(() => ({groups: []}))]);
      this.me = me;
      this.groups = new Map(directory.groups.map((g) => [g.id, g.name || g.id]));
    } catch (err) {
      toast(`Could not load canned replies: ${err.message}`, "error");
      return this;
    }
    this.choices();
    await this.list();
    return this;
  }

  get roles() { return (this.me && this.me.roles) || []; }

  /** Groups one is in or supervises (every group for an admin), as [id, name], by name. */
  ownGroups(managedOnly) {
    const admin = this.roles.includes("admin");
    const ids = admin ? [...this.groups.keys()]
      : [...(managedOnly ? [] : this.me.groups || []), ...(this.roles.includes("supervisor") ? this.me.supervises || [] : [])];
    return [...new Set(ids)].map((id) => [id, this.groups.get(id) || id]).sort((a, b) => a[1].localeCompare(b[1]));
  }

  groupName(id) {
    return `Group ${this.groups.get(id) || id}`;
  }

  /** The "Show" choices (what one may see) and the form's "For" choices (what one manages). */
  choices() {
    const kept = this.show.value;
    const groups = this.ownGroups(false);
    fill(this.show,
      el("option", {value: ""}, "All you can use"),
      el("option", {value: "personal"}, "Only yours"),
      groups.length > 1 ? el("option", {value: "group"}, "All your groups") : null,
      groups.map(([id, name]) => el("option", {value: `group:${id}`}, `Group ${name}`)),
      el("option", {value: "global"}, "Everyone's"));
    this.show.value = [...this.show.options].some((o) => o.value === kept) ? kept : "";
    fill(this.form.elements.scope,
      el("option", {value: "personal"}, "Only you"),
      this.ownGroups(true).map(([id, name]) => el("option", {value: `group:${id}`}, `Group ${name}`)),
      this.roles.includes("admin") ? el("option", {value: "global"}, "Everyone") : null);
  }

  async list() {
    const [scope, owner] = this.show.value.split(/:(.*)/s);
    this.status.textContent = "Loading…";
    try {
      this.items = await api.canned({scope, owner});
    } catch (err) {
      this.items = [];
      this.status.textContent = sentence(`Could not load canned replies: ${err.message}`);
      fill(this.rows);
      return;
    }
    this.render();
  }

  render() {
    const shown = matching(this.items, this.search.value);
    this.status.textContent = !this.items.length ? "No canned replies here yet."
      : shown.length === this.items.length ? `${shown.length} canned repl${shown.length === 1 ? "y" : "ies"}.`
      : `${shown.length} of ${this.items.length} match.`;
    fill(this.rows, shown.map((reply) => this.row(reply)));
  }

  row(reply) {
    return el("li", {class: `canned-row${this.editing === reply.id ? " editing" : ""}`, testid: "canned-row",
                     dataset: {id: reply.id, shortcut: reply.shortcut, scope: reply.scope}},
      el("div", {class: "canned-row-head"},
         el("span", {class: "canned-shortcut"}, `/${reply.shortcut}`),
         reply.title ? el("span", {class: "strong"}, reply.title) : null,
         el("span", {class: `canned-scope canned-scope-${reply.scope}`, testid: "canned-row-scope"},
            scopeLabel(reply, (id) => this.groupName(id))),
         reply.can_edit ? el("span", {class: "row-actions"},
           el("button", {class: "btn btn-small", type: "button", testid: "canned-edit",
                         onclick: () => this.edit(reply)}, "Edit"),
           el("button", {class: "btn btn-small btn-danger", type: "button", testid: "canned-delete",
                         onclick: () => this.remove(reply)}, "Delete")) : null),
      el("p", {class: "canned-text", testid: "canned-row-text"}, reply.text));
  }

  /** Fill the form with `reply` to change it (its scope stays), or empty it for a new one (null). */
  edit(reply) {
    const f = this.form.elements;
    this.editing = reply ? reply.id : null;
    this.form.reset();
    $(".form-error", this.form)?.setAttribute("hidden", "");
    $("#canned-form-title", this.root).textContent = reply ? `Change /${reply.shortcut}` : "New canned reply";
    $("#canned-cancel", this.root).hidden = !reply;
    f.scope.disabled = Boolean(reply);
    if (reply) {
      const value = reply.scope === "group" ? `group:${reply.owner}` : reply.scope;
      if (![...f.scope.options].some((o) => o.value === value)) {
        f.scope.append(el("option", {value}, scopeLabel(reply, (id) => this.groupName(id))));
      }
      f.scope.value = value;
      f.shortcut.value = reply.shortcut;
      f.title.value = reply.title;
      f.text.value = reply.text;
      f.shortcut.focus();
    }
    this.render();
  }

  async save(event) {
    event.preventDefault();
    const f = this.form.elements;
    const fields = {shortcut: f.shortcut.value.trim().toLowerCase().replace(/^\//, ""), title: f.title.value.trim(),
                    text: f.text.value};
    const editing = this.editing;
    let action;
    if (editing) {
      action = () => api.updateCanned(editing, fields);
    } else {
      const [scope, owner] = f.scope.value.split(/:(.*)/s);
      action = () => api.createCanned({...fields, scope, ...(owner ? {owner} : {})});
    }
    if (await runForm(this.form, action, editing ? `/${fields.shortcut} saved.` : `/${fields.shortcut} added.`)) {
      known.forget();
      this.edit(null);
      await this.list();
    }
  }

  async remove(reply) {
    if (!window.confirm(`Delete the canned reply /${reply.shortcut}?`)) return;
    try {
      await api.deleteCanned(reply.id);
      toast(`/${reply.shortcut} deleted.`);
    } catch (err) {
      toast(sentence(err.message), "error");
    }
    known.forget();
    if (this.editing === reply.id) this.edit(null);
    await this.list();
  }
}
