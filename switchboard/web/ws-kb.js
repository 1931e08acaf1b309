// Team → Knowledge base: the bot's documents (GET /api/admin/kb/documents), uploaded as they are (PUT) or
// deleted (DELETE). Each document may name the skill group the bot hands a visitor off to after matching it
// (PATCH {"group"}; "" is the default group): a select on each row. Admins only.

import {$, el, fill, runForm} from "./ws-dom.js";

export class KbSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.kb = null;
    this.error = null;
    this.groups = [];
    $("#kb-upload-form", root).addEventListener("submit", (event) => this.upload(event));
  }

  async load() {
    try {
      const [kb, groups] = await Promise.all([this.team.api.documents(), this.team.api.groups().catch(() => [])]);
      this.kb = kb;
      this.groups = Array.isArray(groups) ? groups : [];
      this.error = null;
    } catch (err) {
      this.kb = null;
      this.error = err.message;
    }
    this.render();
  }

  async upload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const file = form.elements.file.files[0];
    if (!file) {
      this.team.toast("Choose a file first.", "error");
      return;
    }
    const bytes = await file.arrayBuffer();
    const answer = await runForm(form, () => this.team.api.uploadDocument(file.name, bytes));
    if (answer) {
      this.team.toast(`${file.name}: ${answer.status}.`);
      form.reset();
      await this.load();
    }
  }

  async setGroup(doc, group) {
    try {
      await this.team.api.call("PATCH", `/api/admin/kb/documents/${encodeURIComponent(doc.name)}`, {json: {group}});
      this.team.toast(`${doc.name}: hand-offs go to ${group || "the default group"}.`);
    } catch (err) {
      this.team.toast(err.message, "error");
    }
    await this.load();
  }

  groupSelect(doc) {
    const current = doc.group || "";
    const ids = this.groups.map((g) => g.id);
    if (current && !ids.includes(current)) ids.push(current);
    return el("select", {class: "input input-small", testid: "kb-group", "aria-label": `Hand-off group of ${doc.name}`,
                         title: "Where the bot hands a visitor off after answering from this document",
                         onchange: (event) => this.setGroup(doc, event.target.value)},
      el("option", {value: "", selected: !current}, "Hand-off: default group"),
      ...ids.map((id) => el("option", {value: id, selected: id === current}, `Hand-off: ${id}`)));
  }

  async remove(doc) {
    if (!window.confirm(`Delete ${doc.name}? The bot stops answering from it at once.`)) return;
    try {
      await this.team.api.deleteDocument(doc.name);
      this.team.toast(`${doc.name} deleted.`);
    } catch (err) {
      this.team.toast(err.message, "error");
    }
    await this.load();
  }

  render() {
    const summary = $("#kb-summary", this.root);
    const list = $("#kb-documents", this.root);
    if (!this.kb) {
      summary.textContent = this.error ? `The knowledge base is unavailable: ${this.error}` : "";
      fill(list);
      return;
    }
    summary.textContent = [plural(this.kb.documents.length, "document"),
      this.kb.entries === 1 ? "1 entry" : `${this.kb.entries} entries`, `${this.kb.index} index`].join(" · ");
    fill(list, this.kb.documents.length ? this.kb.documents.map((d) =>
      el("li", {class: "list-row", testid: "kb-document", dataset: {name: d.name}},
         el("span", {class: "strong doc-name"}, d.name),
         el("span", {class: "muted small"}, `${d.kind} · ${d.entries === 1 ? "1 entry" : `${d.entries} entries`} · ${formatSize(d.size)}`),
         this.groupSelect(d),
         el("button", {type: "button", class: "btn btn-small btn-danger", testid: "kb-delete",
                       onclick: () => this.remove(d)}, "Delete")))
      : el("li", {class: "empty-note"}, "No documents yet."));
  }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function formatSize(bytes) {
  if (typeof bytes !== "number") return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1048576).toFixed(1)} MiB`;
}
