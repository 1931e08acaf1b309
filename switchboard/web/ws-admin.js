// The "Team" tab: a section at a time, chosen in its side bar. People (ws-people.js) and groups (ws-groups.js)
// share one load of the users and groups; the team's information and widget (ws-site.js), the mail log
// (ws-mail.js) and the knowledge base (ws-kb.js) load when first shown. Admins see every section; a
// supervisor sees people and groups only, and the server answers each with what it supervises. Every call
// is the REST API's own (docs/protocol.md "REST"), so the server decides what each may do.

import {$} from "./ws-dom.js";
import {GroupsSection} from "./ws-groups.js";
import {KbSection} from "./ws-kb.js";
import {MailSection} from "./ws-mail.js";
import {PeopleSection} from "./ws-people.js";
import {TeamInfoSection, WidgetSection} from "./ws-site.js";

const SECTION_KEY = "switchboard.team-section";

export class AdminArea {
  constructor(root, api, toast, me) {
    this.root = root;
    const isAdmin = (me.roles || []).includes("admin");
    this.team = {api, toast, me, isAdmin, users: [], groups: [],
                 reload: () => this.loadTeam(), act: (action, done) => this.act(action, done)};
    for (const node of root.querySelectorAll(".admin-only")) {
      if (!isAdmin) node.remove();  // not merely hidden: a supervisor's page has no admin controls at all
    }
    this.sections = {
      people: new PeopleSection(root, this.team),
      groups: new GroupsSection(root, this.team),
      ...(isAdmin ? {info: new TeamInfoSection(root, this.team), widget: new WidgetSection(root, this.team),
                     mail: new MailSection(root, this.team), kb: new KbSection(root, this.team)} : {}),
    };
    this.shown = null;
    for (const link of root.querySelectorAll(".team-link")) {
      link.addEventListener("click", () => this.show(link.dataset.section));
    }
    $("#admin-refresh", root).addEventListener("click", () => this.load());
  }

  async load() {
    await this.loadTeam();
    const kept = sessionStorage.getItem(SECTION_KEY);
    this.show(this.shown || (kept && this.sections[kept] ? kept : "people"), true);
  }

  /** Users and groups, which several sections show; then every section that shows them redraws. */
  async loadTeam() {
    try {
      const [users, groups] = await Promise.all([this.team.api.users(), this.team.api.groups()]);
      this.team.users = users;
      this.team.groups = groups;
    } catch (err) {
      this.team.toast(`Could not load the team: ${err.message}`, "error");
    }
    this.sections.people.render();
    this.sections.groups.render();
  }

  show(name, reload = false) {
    const first = this.shown !== name;
    this.shown = name;
    sessionStorage.setItem(SECTION_KEY, name);
    for (const section of this.root.querySelectorAll("section[data-section]")) {
      section.hidden = section.dataset.section !== name;
    }
    for (const link of this.root.querySelectorAll(".team-link")) {
      link.classList.toggle("active", link.dataset.section === name);
      link.setAttribute("aria-current", link.dataset.section === name ? "page" : "false");
    }
    const section = this.sections[name];
    if ((first || reload) && section.load) section.load();
  }

  /** Run `action`, toast its outcome, reload users and groups. */
  async act(action, done) {
    try {
      const result = await action();
      if (done) this.team.toast(done);
      await this.loadTeam();
      return result ?? true;
    } catch (err) {
      this.team.toast(err.message || String(err), "error");
      return undefined;
    }
  }
}
