// Team → Knowledge base: the bot's documents (GET /api/admin/kb/documents), uploaded as they are (PUT) or
// deleted (DELETE). Each document may name the skill group the bot hands a visitor off to after matching it
// (PATCH {"group"}; "" is the default group): a select on each row. The shipped demo content is marked and
// switched on or off with one button (PUT /api/admin/kb/demo). "Test the bot" asks GET /api/admin/kb/ask and
// shows the decision, why, and each match's scores against the thresholds. Admins only.

import {$, el, fill, runForm} from "./ws-dom.js";

export class KbSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.kb = null;
    this.error = null;
    this.groups = [];
    $("#kb-upload-form", root).addEventListener("submit", (event) => this.upload(event));
    $("#kb-ask-form", root).addEventListener("submit", (event) => this.ask(event));
    $("#kb-demo-toggle", root).addEventListener("click", () => this.toggleDemo());
  }

  async toggleDemo() {
    const on = !this.demoLive();
    const button = $("#kb-demo-toggle", this.root);
    button.disabled = true;
    button.textContent = on ? "Switching on…" : "Switching off…";
    try {
      await this.team.api.call("PUT", "/api/admin/kb/demo", {json: {on}});
      this.team.toast(on ? "Demo content switched on." : "Demo content switched off: the bot answers from your documents only.");
    } catch (err) {
      this.team.toast(err.message, "error");
    }
    button.disabled = false;
    await this.load();
  }

  demoLive() { return Boolean(this.kb && this.kb.demo_entries > 0); }

  async ask(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const q = form.elements.q.value.trim();
    if (!q) return;
    const result = await runForm(form, () => this.team.api.call("GET", `/api/admin/kb/ask?q=${encodeURIComponent(q)}`));
    if (result) this.showDecision(result);
  }

  showDecision(r) {
    const box = $("#kb-ask-result", this.root);
    const t = r.thresholds || {};
    const label = {answer: "Answers", suggest: "Suggests", decline: "Declines", handoff: "Hands off to a person"}[r.decision] || r.decision;
    const head = (r.matches || []).some((m) => m.confidence !== null && m.confidence !== undefined);
    const cut = head ? t.confident : t.answer;  // what the first match is compared with for a direct answer
    const rows = (r.matches || []).map((m, i) => el("tr", {testid: "kb-ask-match"},
      el("td", {}, String(i + 1)),
      el("td", {}, el("span", {class: "strong"}, m.title), el("br"),
         el("span", {class: "muted small"}, m.document + (m.demo ? " · demo" : ""))),
      el("td", {class: (head ? m.rank : m.score) >= cut ? "pass" : "miss", title: `answer at ${cut}`},
         (head ? m.rank : m.score).toFixed(3)),
      head ? el("td", {class: "muted"}, `${m.confidence.toFixed(3)} / ${m.score.toFixed(3)}`) : null,
      el("td", {class: m.topic >= t.suggest ? "pass" : "miss", title: `suggest threshold ${t.suggest}`}, m.topic.toFixed(3))));
    fill(box,
      el("p", {class: "kb-decision", testid: "kb-ask-decision", dataset: {decision: r.decision}},
         el("span", {class: `badge badge-${r.decision}`}, label), " ", el("span", {testid: "kb-ask-why"}, r.why)),
      r.decision === "answer" ? el("blockquote", {class: "kb-answer", testid: "kb-ask-answer"}, r.answer) : null,
      r.suggestions && r.suggestions.length ? el("p", {class: "small"}, "Did you mean: ",
        r.suggestions.map((s) => s.question).join(" · ")) : null,
      el("table", {class: "table small"},
         el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "Entry"),
            el("th", {title: "Orders the entries; the first is answered directly at or above the line"},
               `${head ? "Rank" : "Score"} (answers ≥ ${cut})`),
            head ? el("th", {title: "The rank blends the head trained on your phrasings with the cosine score"},
                      "Head / cosine") : null,
            el("th", {title: "Whether the bot engages at all"}, `Topic (engages ≥ ${t.suggest})`))),
         el("tbody", {}, ...rows)),
      r.calibrated ? null : el("p", {class: "muted small"},
        "These thresholds are the embedder's defaults: calibrate them on your own questions (switchboard kb calibrate)."));
    box.hidden = false;
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
      this.kb.entries === 1 ? "1 entry" : `${this.kb.entries} entries`, `${this.kb.index} index`,
      tuningText(this.kb)].filter(Boolean).join(" · ");
    clearTimeout(this.poll);
    if (!this.kb.tuned && this.kb.entries >= 2 && this.kb.tuning.state !== "failed") {
      this.poll = setTimeout(() => { if (this.root.isConnected && !this.root.closest("[hidden]")) this.load(); }, 2000);
    }
    const demo = $("#kb-demo", this.root);
    const live = this.demoLive();
    $("#kb-demo-text", this.root).textContent = live
      ? `Demo content is on: ${this.kb.demo_entries === 1 ? "1 entry" : `${this.kb.demo_entries} entries`} from the shipped example (a bike shop's FAQ and Switchboard's own docs). Your documents always win over it.`
      : "Demo content is off: the bot answers from your documents only.";
    $("#kb-demo-toggle", this.root).textContent = live ? "Switch demo off" : "Switch demo on";
    demo.hidden = false;
    fill(list, this.kb.documents.length ? this.kb.documents.map((d) =>
      el("li", {class: "list-row", testid: "kb-document", dataset: {name: d.name}},
         el("span", {class: "strong doc-name"}, d.name),
         d.demo ? el("span", {class: "badge", testid: "kb-demo-badge"}, "demo") : null,
         el("span", {class: "muted small"}, `${d.kind} · ${d.entries === 1 ? "1 entry" : `${d.entries} entries`} · ${formatSize(d.size)}`),
         this.groupSelect(d),
         el("button", {type: "button", class: "btn btn-small btn-danger", testid: "kb-delete",
                       onclick: () => this.remove(d)}, "Delete")))
      : el("li", {class: "empty-note"}, "No documents yet."));
  }
}

// The head trained on the base's own phrasings (switchboard/llm/tuning.py): answering goes on while it trains.
function tuningText(kb) {
  const t = kb.tuning || {};
  if (kb.tuned) return "tuned to your phrasings";
  if (t.state === "failed") return `tuning failed: ${t.error || "see the server log"}`;
  if (t.state === "running") return `tuning: ${t.stage} (${t.done}/${t.total})`;
  return kb.entries >= 2 && kb.entries <= 2000 ? "tuning soon" : "";
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function formatSize(bytes) {
  if (typeof bytes !== "number") return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1048576).toFixed(1)} MiB`;
}
