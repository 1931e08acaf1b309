// Team → Mail: the latest mails the server sent or is still trying to send (GET /api/admin/mail), failed ones
// marked, with their last error. Admins only.

import {$, clock, el, fill} from "./ws-dom.js";

const STATES = {queued: "Queued", sending: "Sending", sent: "Sent", retrying: "Retrying", failed: "Failed"};

export class MailSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    $("#mail-refresh", root).addEventListener("click", () => this.load(true));
  }

  async load(asked = false) {
    const button = $("#mail-refresh", this.root);
    button.disabled = true;
    try {
      const mails = await this.team.api.mails();
      this.render(mails);
      if (asked) this.team.toast("Mail log refreshed.");
    } catch (err) {
      this.team.toast(`Could not load the mail log: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  render(mails) {
    const sorted = [...mails].sort((a, b) => (b.updated_at || b.queued_at || 0) - (a.updated_at || a.queued_at || 0));
    fill($("#mail-rows", this.root), sorted.length ? sorted.map((m) =>
      el("tr", {testid: "mail-row", class: m.state === "failed" ? "row-failed" : "", dataset: {state: m.state, to: m.to}},
         el("td", {class: "cell-wrap"}, m.to),
         el("td", {class: "cell-wrap"}, m.subject),
         el("td", {}, el("span", {class: `status status-mail-${m.state}`, testid: "mail-state"}, STATES[m.state] || m.state)),
         el("td", {}, String(m.attempts ?? "")),
         el("td", {class: "cell-wrap small"}, m.last_error || el("span", {class: "muted"}, "—")),
         el("td", {class: "nowrap"}, m.updated_at || m.queued_at ? clock(m.updated_at || m.queued_at) : "")))
      : el("tr", {}, el("td", {colspan: "6", class: "empty-note"}, "No mail sent yet.")));
  }
}
