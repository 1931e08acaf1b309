// Team → Groups: the skill groups (GET /api/groups: all for an admin, its own for a supervisor). An admin
// renames a group, changes its policy and queue limit (PATCH /api/groups/{id}), deletes it (DELETE; while open
// conversations name it the server answers group_busy, and the page offers to move them to another group:
// ?move_to=) and creates new ones. A supervisor sees the list only. Each group's service hours, and the desk's
// default hours above the list, open in a panel of their own (ws-hours.js: the editor and the week's picture).

import {$, el, fill, runForm, sentence} from "./ws-dom.js";
import {HoursEditor, weekPicture} from "./ws-hours.js";

const GROUP_MODES = [["default", "The desk's default hours"], ["always", "Always open"], ["own", "Its own hours"]];
const DEFAULT_MODES = [["always", "Always open"], ["own", "Opening hours"]];

const POLICIES = [["balanced", "Balanced"], ["last_agent_first", "Last agent first"], ["designated", "Designated"],
                  ["familiar", "Familiar customer first"]];

export class GroupsSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.busy = new Map();  // group id -> the server's group_busy message, while the move choice is open
    const create = $("#new-group", root);
    if (create) create.addEventListener("submit", (event) => this.create(event));
  }

  async create(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = {id: form.elements.id.value.trim(), name: form.elements.name.value.trim(),
                    policy: form.elements.policy.value};
    if (await runForm(form, () => this.team.api.createGroup(fields), `Group ${fields.name || fields.id} created.`)) {
      form.reset();
      await this.team.reload();
    }
  }

  render() {
    this.renderDefaultHours();
    const groups = this.team.groups;
    fill($("#group-rows", this.root), groups.length ? groups.map((g) => this.team.isAdmin ? this.editable(g) : this.plain(g))
      : el("li", {class: "empty-note"}, "No groups yet."));
  }

  members(group) {
    const n = this.team.users.filter((u) => (u.groups || []).includes(group.id) && (u.roles || []).includes("agent")).length;
    return `${n} agent${n === 1 ? "" : "s"}`;
  }

  plain(g) {
    return el("li", {class: "list-row", testid: "group-row", dataset: {group: g.id}},
      el("span", {class: "strong"}, g.name || g.id),
      el("span", {class: "muted small"}, `${g.id} · ${policyName(g.policy)}${g.max_queue ? ` · max queue ${g.max_queue}` : ""}`),
      el("span", {class: "pill"}, this.members(g)));
  }

  editable(g) {
    const form = el("form", {class: "group-form", testid: "group-form"},
      el("label", {class: "field"}, "Name",
         el("input", {class: "input", name: "name", maxlength: "200", value: g.name || "", placeholder: g.id,
                      testid: "group-name"})),
      el("label", {class: "field"}, "Policy",
         el("select", {class: "input", name: "policy", testid: "group-policy"},
            POLICIES.map(([value, name]) => el("option", {value, selected: value === g.policy}, name)))),
      el("label", {class: "field"}, "Max queue",
         el("input", {class: "input", type: "number", name: "max_queue", min: "1", max: "1000000",
                      value: g.max_queue ? String(g.max_queue) : "", placeholder: "No limit", testid: "group-max-queue"})),
      el("div", {class: "inline group-buttons"},
         el("button", {class: "btn btn-primary btn-small", type: "submit", testid: "group-save"}, "Save"),
         el("button", {class: "btn btn-small btn-danger", type: "button", testid: "group-delete",
                       onclick: () => this.remove(g, form)}, "Delete")));
    form.addEventListener("submit", (event) => this.save(event, g));
    const busy = this.busy.get(g.id);
    return el("li", {class: "group-item", testid: "group-row", dataset: {group: g.id}},
      el("div", {class: "group-title"}, el("span", {class: "strong"}, g.name || g.id),
         el("span", {class: "muted small"}, g.id), el("span", {class: "pill"}, this.members(g))),
      form, this.hoursPanel(`/api/groups/${encodeURIComponent(g.id)}/hours`, GROUP_MODES, `hours-${g.id}`),
      busy ? this.movePanel(g, busy) : null);
  }

  // -- service hours

  renderDefaultHours() {
    const list = $("#group-rows", this.root);
    if (!list || !this.team.isAdmin) return;
    let box = $("[data-testid=default-hours]", this.root);
    if (!box) {
      box = el("div", {class: "default-hours", testid: "default-hours"});
      list.before(box);
    }
    fill(box, this.hoursPanel("/api/hours", DEFAULT_MODES, "hours-default", "Default service hours"));
  }

  hoursPanel(path, modes, testid, title = "Service hours") {
    const body = el("div", {class: "hours-body"}, el("p", {class: "muted small"}, "Loading…"));
    const panel = el("details", {class: "hours-panel", testid},
      el("summary", {class: "strong", testid: `${testid}-summary`}, title), body);
    const show = (answer) => {
      const editor = new HoursEditor({hours: answer, modes, testid: `${testid}-form`, save: async (mode, hours) => {
        const saved = await this.team.api.call("PUT", path, {json: {...hours, use: mode}});
        show(saved);
        return saved;
      }});
      fill(body, editor.form, this.weekSummary(answer.week));
    };
    panel.addEventListener("toggle", async () => {
      if (!panel.open || panel.dataset.loaded) return;
      panel.dataset.loaded = "1";
      try {
        show(await this.team.api.call("GET", path));
      } catch (err) {
        fill(body, el("p", {class: "form-error", role: "alert"}, sentence(err.message || String(err))));
      }
    });
    return panel;
  }

  weekSummary(week) {
    if (!week || week.always_open) {
      return el("p", {class: "muted small", testid: "hours-status"}, "Open around the clock: visitors can always ask for a person.");
    }
    const next = week.next_opening ? new Date(week.next_opening * 1000) : null;
    const when = next ? next.toLocaleString([], {timeZone: week.timezone, weekday: "short", hour: "2-digit", minute: "2-digit"}) : null;
    return el("div", {class: "hours-week-box"},
      el("p", {class: "small", testid: "hours-status"},
         week.open_now ? "Open now." : when ? `Closed now; opens ${when} (${week.timezone}).` : "Closed, with no opening in the coming year."),
      weekPicture(week.days));
  }

  async save(event, g) {
    event.preventDefault();
    const form = event.currentTarget;
    const max = form.elements.max_queue.value.trim();
    const fields = {name: form.elements.name.value.trim(), policy: form.elements.policy.value,
                    max_queue: max ? Number(max) : null};
    if (await runForm(form, () => this.team.api.updateGroup(g.id, fields), `Group ${fields.name || g.id} saved.`)) {
      await this.team.reload();
    }
  }

  async remove(g, form) {
    if (!window.confirm(`Delete the group ${g.name || g.id}? Its agents leave it, and its queue closes.`)) return;
    const done = await runForm(form, async () => {
      try {
        await this.team.api.deleteGroup(g.id);
      } catch (err) {
        if (err.code !== "group_busy") throw err;
        this.busy.set(g.id, err.message);
        this.render();
        return false;
      }
      return true;
    });
    if (done === true) {
      this.team.toast(`Group ${g.name || g.id} deleted.`);
      await this.team.reload();
    }
  }

  movePanel(g, message) {
    const others = this.team.groups.filter((x) => x.id !== g.id);
    const target = el("select", {class: "input", name: "move_to", testid: "move-to", required: true},
      el("option", {value: ""}, "Choose a group…"), others.map((x) => el("option", {value: x.id}, x.name || x.id)));
    const panel = el("form", {class: "move-panel", testid: "move-panel"},
      el("p", {}, el("span", {class: "strong"}, "Conversations are still open in this group. "),
         "Choose a group to move them to; then this one is deleted."),
      el("p", {class: "muted small", testid: "busy-message"}, sentence(message)),
      el("div", {class: "inline"}, target,
         el("button", {class: "btn btn-danger btn-small", type: "submit", testid: "move-and-delete"}, "Move and delete"),
         el("button", {class: "btn btn-ghost btn-small", type: "button",
                       onclick: () => { this.busy.delete(g.id); this.render(); }}, "Cancel")));
    panel.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!target.value) return;
      const moved = others.find((x) => x.id === target.value);
      if (await runForm(panel, () => this.team.api.deleteGroup(g.id, target.value),
                        `Group ${g.name || g.id} deleted; its conversations moved to ${moved.name || moved.id}.`)) {
        this.busy.delete(g.id);
        await this.team.reload();
      }
    });
    return panel;
  }
}

const policyName = (policy) => (POLICIES.find(([value]) => value === policy) || [policy, policy])[1];
