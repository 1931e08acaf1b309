// The admin area: agents (create, saturation, group membership), skill groups (create) and the bot's
// knowledge base (list, upload a file as it is, delete). Shown to admins only; every call is the REST API's
// own (docs/protocol.md "REST", /api/openapi.json), so the server decides what an admin may do.

import {$, el, fill} from "./ws-dom.js";

export class AdminArea {
  constructor(root, api, toast) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    this.agents = [];
    this.groups = [];
    this.kb = null;
    this.kbError = null;
    this.wire();
  }

  wire() {
    $("#new-group", this.root).addEventListener("submit", (event) => this.createGroup(event));
    $("#new-agent", this.root).addEventListener("submit", (event) => this.createAgent(event));
    $("#kb-upload-form", this.root).addEventListener("submit", (event) => this.upload(event));
    $("#admin-refresh", this.root).addEventListener("click", () => this.load());
  }

  async load() {
    const [agents, groups] = await Promise.all([this.api.agents(), this.api.groups()]).catch((err) => {
      this.toast(`Could not load agents and groups: ${err.message}`, "error");
      return [this.agents, this.groups];
    });
    this.agents = agents;
    this.groups = groups;
    await this.loadKb();
    this.render();
  }

  async loadKb() {
    try {
      this.kb = await this.api.documents();
      this.kbError = null;
    } catch (err) {
      this.kb = null;
      this.kbError = err.message;
    }
  }

  /** Run `action`, report its outcome, reload what it changed. */
  async act(action, done, reload = () => this.load()) {
    try {
      await action();
      if (done) this.toast(done);
      await reload();
      return true;
    } catch (err) {
      this.toast(err.message || String(err), "error");
      return false;
    }
  }

  // --- forms -----------------------------------------------------------------------------------------

  async createGroup(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = {id: form.elements.id.value.trim(), name: form.elements.name.value.trim(),
                    policy: form.elements.policy.value};
    if (await this.act(() => this.api.createGroup(fields), `Group ${fields.id} created.`)) form.reset();
  }

  async createAgent(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const groups = [...form.querySelectorAll("input[name=groups]:checked")].map((box) => box.value);
    const fields = {email: form.elements.email.value.trim(), password: form.elements.password.value,
                    nickname: form.elements.nickname.value.trim(),
                    saturation: Number(form.elements.saturation.value), groups};
    if (await this.act(() => this.api.createAgent(fields), `Agent ${fields.email} created.`)) form.reset();
  }

  async upload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const file = form.elements.file.files[0];
    if (!file) {
      this.toast("Choose a file first.", "error");
      return;
    }
    const bytes = await file.arrayBuffer();
    let status = null;
    const ok = await this.act(async () => {
      status = (await this.api.uploadDocument(file.name, bytes)).status;
    }, null, async () => {
      await this.loadKb();
      this.render();
    });
    if (ok) {
      this.toast(`${file.name}: ${status}.`);
      form.reset();
    }
  }

  // --- rendering -------------------------------------------------------------------------------------

  render() {
    this.renderAgents();
    this.renderGroups();
    this.renderKb();
  }

  groupName(id) {
    const group = this.groups.find((g) => g.id === id);
    return group && group.name ? group.name : id;
  }

  renderAgents() {
    const rows = this.agents.map((agent) => this.agentRow(agent));
    fill($("#agent-rows", this.root), rows.length ? rows
      : el("tr", {}, el("td", {colspan: "3", class: "empty-note"}, "No agents yet.")));
    fill($("#new-agent-groups", this.root), el("legend", {}, "Groups"),
      this.groups.length ? this.groups.map((g) => el("label", {class: "check"},
        el("input", {type: "checkbox", name: "groups", value: g.id, testid: "new-agent-group"}), this.groupName(g.id)))
        : el("span", {class: "muted"}, "Create a group first."));
  }

  agentRow(agent) {
    const saturation = el("input", {type: "number", min: "1", max: "1000", value: String(agent.saturation),
                                    class: "input input-narrow", testid: "saturation-input",
                                    "aria-label": `Saturation of ${agent.email}`});
    const others = this.groups.filter((g) => !agent.groups.includes(g.id));
    const add = el("select", {class: "input", testid: "add-group", "aria-label": `Add ${agent.email} to a group`},
                   el("option", {value: ""}, "Add to group…"),
                   others.map((g) => el("option", {value: g.id}, this.groupName(g.id))));
    return el("tr", {testid: "agent-row", dataset: {agent: agent.id, email: agent.email}},
      el("td", {},
         el("div", {class: "strong"}, agent.nickname || agent.email),
         el("div", {class: "muted small"}, `${agent.email} · ${agent.id}`)),
      el("td", {},
         el("div", {class: "inline"}, saturation,
            el("button", {type: "button", class: "btn btn-small", testid: "save-saturation",
                          onclick: () => this.act(() => this.api.updateAgent(agent.id, {saturation: Number(saturation.value)}),
                                                  `Saturation of ${agent.email} set to ${saturation.value}.`)},
               "Save"))),
      el("td", {},
         el("div", {class: "chips"}, agent.groups.map((g) =>
           el("span", {class: "chip", testid: "membership", dataset: {group: g}}, this.groupName(g),
              el("button", {type: "button", class: "chip-x", testid: "remove-membership", dataset: {group: g},
                            "aria-label": `Remove from ${g}`,
                            onclick: () => this.act(() => this.api.membership(g, agent.id, false),
                                                    `${agent.email} left ${g}.`)}, "×")))),
         others.length ? el("div", {class: "inline"}, add,
           el("button", {type: "button", class: "btn btn-small", testid: "add-membership",
                         onclick: () => add.value && this.act(() => this.api.membership(add.value, agent.id, true),
                                                              `${agent.email} joined ${add.value}.`)}, "Add"))
           : null));
  }

  renderGroups() {
    const items = this.groups.map((g) => el("li", {class: "list-row", testid: "group-row", dataset: {group: g.id}},
      el("span", {class: "strong"}, g.name || g.id),
      el("span", {class: "muted small"}, `${g.id} · ${g.policy}${g.max_queue ? ` · max queue ${g.max_queue}` : ""}`),
      el("span", {class: "pill"}, plural(this.agents.filter((a) => a.groups.includes(g.id)).length, "agent"))));
    fill($("#group-rows", this.root), items.length ? items : el("li", {class: "empty-note"}, "No groups yet."));
  }

  renderKb() {
    const summary = $("#kb-summary", this.root);
    const list = $("#kb-documents", this.root);
    if (!this.kb) {
      summary.textContent = this.kbError ? `The knowledge base is unavailable: ${this.kbError}` : "";
      fill(list);
      return;
    }
    summary.textContent = [plural(this.kb.documents.length, "document"),
      this.kb.entries === 1 ? "1 entry" : `${this.kb.entries} entries`, `${this.kb.index} index`].join(" · ");
    fill(list, this.kb.documents.length ? this.kb.documents.map((d) =>
      el("li", {class: "list-row", testid: "kb-document", dataset: {name: d.name}},
         el("span", {class: "strong doc-name"}, d.name),
         el("span", {class: "muted small"}, `${d.kind} · ${d.entries === 1 ? "1 entry" : `${d.entries} entries`} · ${formatSize(d.size)}`),
         el("button", {type: "button", class: "btn btn-small btn-danger", testid: "kb-delete",
                       onclick: () => window.confirm(`Delete ${d.name}? The bot stops answering from it at once.`)
                         && this.act(() => this.api.deleteDocument(d.name), `${d.name} deleted.`,
                                     async () => { await this.loadKb(); this.render(); })},
            "Delete")))
      : el("li", {class: "empty-note"}, "No documents yet."));
  }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function formatSize(bytes) {
  if (typeof bytes !== "number") return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1048576).toFixed(1)} MiB`;
}
