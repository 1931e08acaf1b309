// Team → Team information and Team → Widget: the installation's one site document (GET/PATCH /api/site):
// the team's name, contact and logo (PUT/DELETE /api/site/logo), which visitors and mails show; the widget's
// title, greeting, colour and the sites it may run on; the groups its picker offers (widget_groups: which,
// their labels and order, or hidden: reachable only by a page's data-group); the identity secret pages sign
// their visitors with (GET /api/site/identity, POST /api/site/identity/regenerate); and the snippet that
// installs it. Admins only. The groups and identity blocks are built here, inside the Widget section.

import {$, dataUrl, el, fill, loading, runForm} from "./ws-dom.js";

const DEFAULT_COLOUR = "#2f5bea";

/**
 * The logo or avatar box: a chosen file is previewed at once (a data: URL) and uploaded on submit;
 * `upload(bytes, type)` and `removeImage()` call the server and resolve to the new picture's URL ("" for none).
 */
export function imageBox(form, {preview, none, remove, upload, removeImage, done, removed, changed = () => {}}) {
  let shown = "";
  const show = (url) => {
    preview.hidden = !url;
    if (url) preview.src = url;
    else preview.removeAttribute("src");
    none.hidden = Boolean(url);
  };
  const set = (url) => {
    shown = typeof url === "string" ? url : "";
    show(shown);
  };
  form.elements.file.addEventListener("change", async () => {
    const file = form.elements.file.files[0];
    show(file ? await dataUrl(file) : shown);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    const url = await runForm(form, async () => {
      if (!file) throw new Error("Choose a picture first.");
      return upload(await file.arrayBuffer(), file.type || "application/octet-stream");
    }, done);
    if (url === undefined) {
      show(shown);  // refused: back to the picture the server has
      return;
    }
    form.reset();
    set(url);
    changed(shown);
  });
  remove.addEventListener("click", async () => {
    if (await runForm(form, removeImage, removed)) {
      form.reset();
      set("");
      changed("");
    }
  });
  return {set};
}

export class TeamInfoSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.form = $("#team-form", root);
    this.form.addEventListener("submit", (event) => this.save(event));
    const logo = $("#logo-form", root);
    this.logo = imageBox(logo, {
      preview: $("#logo-preview", root), none: $("#logo-none", root), remove: $("#logo-remove", root),
      upload: async (bytes, type) => (await team.api.putLogo(bytes, type)).logo_url,
      removeImage: () => team.api.deleteLogo(),
      done: "Logo uploaded.", removed: "Logo removed.",
    });
  }

  async load() {
    try {
      this.show(await loading(this.form, this.team.api.site()));
    } catch (err) {
      this.team.toast(`Could not load the team's information: ${err.message}`, "error");
    }
  }

  show(site) {
    for (const name of ["team_name", "team_email", "team_phone"]) this.form.elements[name].value = site[name] || "";
    this.logo.set(site.logo_url);
  }

  async save(event) {
    event.preventDefault();
    const f = this.form.elements;
    const fields = {team_name: f.team_name.value.trim(), team_email: f.team_email.value.trim(),
                    team_phone: f.team_phone.value.trim()};
    const site = await runForm(this.form, () => this.team.api.updateSite(fields), "Team information saved.");
    if (site && site !== true) this.show(site);
  }
}

export class WidgetSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.form = $("#widget-form", root);
    this.form.addEventListener("submit", (event) => this.save(event));
    $("#snippet-copy", root).addEventListener("click", () => this.copy());
    this.groupRows = el("ul", {class: "list", testid: "widget-groups"});
    const save = this.form.querySelector('button[type="submit"]');
    this.form.insertBefore(el("div", {class: "field field-wide"},
      el("span", {}, "Groups in the widget"),
      el("span", {class: "muted small"}, "Tick the groups visitors may choose, in the order shown (↑ ↓), with the " +
         "label they read. Hidden: not in the picker, only for a page fixed to it with data-group. None ticked: " +
         "no picker, and a visitor may name any group."),
      this.groupRows), save);
    this.secret = el("input", {class: "input code", readonly: true, testid: "identity-secret", "aria-label": "Identity secret"});
    const identity = el("div", {class: "snippet", testid: "identity"},
      el("h3", {class: "form-title"}, "Identity verification"),
      el("p", {class: "muted small"}, "Your server signs a logged-in customer's id, email and attributes with this " +
         "secret (HMAC-SHA256, see docs/identity.md); only signed visitors get a priority or a chosen agent. " +
         "Keep it on your server: never put it in a page."),
      el("div", {class: "snippet-head"}, this.secret,
         el("button", {type: "button", class: "btn btn-small", testid: "identity-show",
                       onclick: () => this.showSecret()}, "Show"),
         el("button", {type: "button", class: "btn btn-small btn-danger", testid: "identity-regenerate",
                       onclick: () => this.regenerate()}, "Regenerate")));
    root.appendChild(identity);
  }

  async load() {
    try {
      const [site, groups] = await Promise.all([loading(this.form, this.team.api.site()),
                                                this.team.api.groups().catch(() => [])]);
      this.allGroups = Array.isArray(groups) ? groups : (groups && groups.groups) || [];
      this.show(site);
    } catch (err) {
      this.team.toast(`Could not load the widget's settings: ${err.message}`, "error");
    }
  }

  /** One row per group: the listed ones first in their order, then the others (unticked). */
  showGroups(listed) {
    const known = new Map((this.allGroups || []).map((g) => [g.id, g]));
    const rows = [...listed.filter((g) => known.has(g.id)).map((g) => ({...g, on: true})),
                  ...[...known.values()].filter((g) => !listed.some((l) => l.id === g.id))
                    .map((g) => ({id: g.id, label: g.name || g.id, hidden: false, on: false}))];
    fill(this.groupRows, ...rows.map((g) => this.groupRow(g)));
  }

  groupRow(g) {
    const move = (row, up) => {
      const other = up ? row.previousElementSibling : row.nextElementSibling;
      if (other) this.groupRows.insertBefore(up ? row : other, up ? other : row);
    };
    const row = el("li", {class: "list-row", testid: "widget-group", dataset: {group: g.id}},
      el("label", {}, el("input", {type: "checkbox", name: "offered", checked: g.on, testid: "widget-group-on"}),
         ` ${g.id}`),
      el("input", {class: "input", name: "label", value: g.label, maxlength: "60", testid: "widget-group-label",
                   "aria-label": `Label of ${g.id}`}),
      el("label", {class: "small"}, el("input", {type: "checkbox", name: "hidden", checked: g.hidden,
                                                 testid: "widget-group-hidden"}), " hidden"),
      el("button", {type: "button", class: "btn btn-small", testid: "widget-group-up", "aria-label": "Up",
                    onclick: () => move(row, true)}, "↑"),
      el("button", {type: "button", class: "btn btn-small", testid: "widget-group-down", "aria-label": "Down",
                    onclick: () => move(row, false)}, "↓"));
    return row;
  }

  widgetGroups() {
    return [...this.groupRows.children].filter((row) => row.querySelector('[name="offered"]').checked)
      .map((row) => ({id: row.dataset.group, label: row.querySelector('[name="label"]').value.trim(),
                      hidden: row.querySelector('[name="hidden"]').checked}));
  }

  async showSecret() {
    try {
      this.secret.value = (await this.team.api.call("GET", "/api/site/identity")).secret;
    } catch (err) {
      this.team.toast(err.message, "error");
    }
  }

  async regenerate() {
    if (!window.confirm("Make a new secret? Pages signed with the old one stop being verified at once.")) return;
    try {
      this.secret.value = (await this.team.api.call("POST", "/api/site/identity/regenerate")).secret;
      this.team.toast("New identity secret made: update your server's copy.");
    } catch (err) {
      this.team.toast(err.message, "error");
    }
  }

  show(site) {
    const f = this.form.elements;
    f.widget_title.value = site.widget_title || "";
    f.widget_greeting.value = site.widget_greeting || "";
    f.widget_colour.value = /^#[0-9a-f]{6}$/i.test(site.widget_colour || "") ? site.widget_colour : DEFAULT_COLOUR;
    f.allowed_origins.value = (site.allowed_origins || []).join("\n");
    if (site.install_snippet !== undefined) $("#snippet", this.root).value = site.install_snippet;
    const fromFile = site.file_origins || [];
    const note = $("#file-origins", this.root);
    note.textContent = fromFile.length ? `Also allowed by the server's settings file: ${fromFile.join(", ")}.` : "";
    note.hidden = !fromFile.length;
    if (site.widget_groups !== undefined) this.showGroups(site.widget_groups);
  }

  async save(event) {
    event.preventDefault();
    const f = this.form.elements;
    const fields = {widget_title: f.widget_title.value.trim(), widget_greeting: f.widget_greeting.value.trim(),
                    widget_colour: f.widget_colour.value.toLowerCase(),
                    allowed_origins: f.allowed_origins.value.split(/\s+/).map((o) => o.trim()).filter(Boolean),
                    widget_groups: this.widgetGroups()};
    const site = await runForm(this.form, () => this.team.api.updateSite(fields), "Widget saved.");
    if (site && site !== true) this.show(site);
  }

  async copy() {
    const box = $("#snippet", this.root);
    try {
      await navigator.clipboard.writeText(box.value);
      this.team.toast("Snippet copied.");
    } catch {
      box.focus();
      box.select();  // no clipboard for this page: the text is selected for Ctrl+C
      this.team.toast("Press Ctrl+C (⌘C) to copy the selected snippet.");
    }
  }
}
