// Team → Team information and Team → Widget: the installation's one site document (GET/PATCH /api/site):
// the team's name, contact and logo (PUT/DELETE /api/site/logo), which visitors and mails show; the widget's
// title, greeting, colour and the sites it may run on; and the snippet that installs it. Admins only.

import {$, dataUrl, loading, runForm} from "./ws-dom.js";

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
  }

  async load() {
    try {
      this.show(await loading(this.form, this.team.api.site()));
    } catch (err) {
      this.team.toast(`Could not load the widget's settings: ${err.message}`, "error");
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
  }

  async save(event) {
    event.preventDefault();
    const f = this.form.elements;
    const fields = {widget_title: f.widget_title.value.trim(), widget_greeting: f.widget_greeting.value.trim(),
                    widget_colour: f.widget_colour.value.toLowerCase(),
                    allowed_origins: f.allowed_origins.value.split(/\s+/).map((o) => o.trim()).filter(Boolean)};
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
