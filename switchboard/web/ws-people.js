// Team → People: everyone the caller may see (GET /api/users: an admin sees all, a supervisor the people of
// the groups it supervises), an invite form (POST /api/users: a mailed link, or an initial password the person
// must change at first login) and, per person, edit, resend the invite, send a password reset, deactivate or
// reactivate, delete. A supervisor may only invite agents into its own groups; the server says no to the rest.

import {$, checked, el, fill, runForm} from "./ws-dom.js";

const ROLES = [["admin", "Admin"], ["supervisor", "Supervisor"], ["agent", "Agent"]];
const STATUS = {invited: "Invited", active: "Active", deactivated: "Deactivated"};

export class PeopleSection {
  constructor(root, team) {
    this.root = root;
    this.team = team;
    this.editing = null;  // the id of the person whose edit form is open
    this.form = $("#invite-form", root);
    this.form.addEventListener("submit", (event) => this.invite(event));
    this.form.addEventListener("change", () => this.inviteFields());
    $("#people-scope", root).textContent = team.isAdmin ? "Everyone on the team."
      : "The people of the groups you supervise.";
  }

  groupName(id) {
    const group = this.team.groups.find((g) => g.id === id);
    return group && group.name ? group.name : id;
  }

  // --- the invite form -------------------------------------------------------------------------------

  inviteFields() {
    const roles = checked(this.form, "roles");
    $("#invite-supervises", this.root).hidden = !roles.includes("supervisor");
    const own = this.form.elements.set_password.checked;
    $("#invite-password-field", this.root).hidden = !own;
    $("[data-testid=invite-submit]", this.form).textContent = own ? "Create account" : "Send invite";
  }

  async invite(event) {
    event.preventDefault();
    const form = this.form;
    const roles = checked(form, "roles");
    const fields = {email: form.elements.email.value.trim(), nickname: form.elements.nickname.value.trim(),
                    roles, saturation: Number(form.elements.saturation.value) || 5, groups: checked(form, "groups")};
    if (roles.includes("supervisor")) fields.supervises = checked(form, "supervises");
    const own = form.elements.set_password.checked;
    if (own) fields.password = form.elements.password.value;
    const done = own ? `Account for ${fields.email} created: they choose their own password at first login.`
      : `Invitation sent to ${fields.email}.`;
    if (await runForm(form, () => this.team.api.createUser(fields), done)) {
      form.reset();
      this.inviteFields();
      await this.team.reload();
    }
  }

  // --- rendering -------------------------------------------------------------------------------------

  render() {
    const users = [...this.team.users].sort((a, b) => label(a).localeCompare(label(b)));
    const rows = users.flatMap((user) => [this.row(user), this.editing === user.id ? this.editRow(user) : null]);
    fill($("#people-rows", this.root), rows.length ? rows
      : el("tr", {}, el("td", {colspan: "5", class: "empty-note"}, "Nobody yet: invite someone below.")));
    this.groupBoxes($("#invite-groups", this.root), "groups", "Groups", checked(this.form, "groups"), "invite-group");
    this.groupBoxes($("#invite-supervises", this.root), "supervises", "Supervises", checked(this.form, "supervises"),
                    "invite-supervise");
    this.inviteFields();
  }

  groupBoxes(box, name, legend, ticked, testid) {
    const groups = this.team.groups;
    fill(box, el("legend", {}, legend), groups.length ? groups.map((g) => el("label", {class: "check"},
      el("input", {type: "checkbox", name, value: g.id, checked: ticked.includes(g.id), testid}), this.groupName(g.id)))
      : el("span", {class: "muted small"}, "No groups yet."));
    return box;
  }

  row(user) {
    const status = user.status || "active";
    const me = user.id === this.team.me.id;
    const api = this.team.api;
    const act = (action, done) => this.team.act(action, done);
    const who = label(user);
    const actions = [
      button("Edit", "edit-user", () => { this.editing = this.editing === user.id ? null : user.id; this.render(); }),
      status === "invited" ? button("Resend invite", "resend-invite",
        () => act(() => api.userAction(user.id, "invite"), `Invitation sent again to ${user.email}.`)) : null,
      status === "active" ? button("Send password reset", "send-reset",
        () => act(() => api.userAction(user.id, "password-reset"), `Password reset link sent to ${user.email}.`)) : null,
      me ? null : status === "deactivated"
        ? button("Reactivate", "reactivate", () => act(() => api.userAction(user.id, "reactivate"), `${who} can sign in again.`))
        : button("Deactivate", "deactivate", () => window.confirm(`Deactivate ${who}? They are signed out at once, `
            + "their open conversations go back to the queues, and they cannot sign in until reactivated.")
            && act(() => api.userAction(user.id, "deactivate"), `${who} is deactivated.`), "btn-danger"),
      me ? null : button("Delete", "delete-user", () => window.confirm(`Delete ${who} (${user.email})? They can no `
          + "longer sign in and leave every group. Conversations keep their name in the history.")
          && act(() => api.deleteUser(user.id), `${who} is deleted.`), "btn-danger"),
    ];
    return el("tr", {testid: "person-row", class: `person-${status}`, dataset: {user: user.id, email: user.email, status}},
      el("td", {},
         el("div", {class: "person"},
            user.avatar_url ? el("img", {class: "avatar avatar-img", src: user.avatar_url, alt: ""})
              : el("span", {class: "avatar", "aria-hidden": "true"}, initial(user)),
            el("div", {class: "person-text"},
               el("div", {class: "strong"}, user.nickname || el("span", {class: "muted"}, "No nickname"),
                  me ? el("span", {class: "muted small"}, " (you)") : null),
               el("div", {class: "muted small"}, user.email)))),
      el("td", {}, el("div", {class: "chips"}, (user.roles || []).map((r) => el("span", {class: `chip chip-role role-${r}`,
                                                                                      testid: "role"}, roleName(r))))),
      el("td", {},
         el("div", {class: "chips"}, (user.groups || []).map((g) => el("span", {class: "chip", testid: "membership",
                                                                                 dataset: {group: g}}, this.groupName(g)))),
         (user.supervises || []).length ? el("div", {class: "muted small supervises"}, "Supervises ",
           user.supervises.map((g) => this.groupName(g)).join(", ")) : null,
         (user.roles || []).includes("agent") ? el("div", {class: "muted small"}, `Up to ${user.saturation} at once`) : null),
      el("td", {}, el("span", {class: `status status-${status}`, testid: "status"}, STATUS[status] || status)),
      el("td", {class: "actions-col"}, el("div", {class: "row-actions"}, actions)));
  }

  editRow(user) {
    const isAdmin = this.team.isAdmin;
    const form = el("form", {class: "edit-form", testid: "edit-form"},
      el("label", {class: "field"}, "Nickname",
         el("input", {class: "input", name: "nickname", maxlength: "200", value: user.nickname || "",
                      placeholder: "Blank: visitors see “Agent”", testid: "edit-nickname"})),
      el("label", {class: "field"}, "Saturation",
         el("input", {class: "input input-narrow", type: "number", name: "saturation", min: "1", max: "1000",
                      value: String(user.saturation || 5), testid: "edit-saturation"})),
      isAdmin ? el("fieldset", {class: "groups-field"}, el("legend", {}, "Roles"),
        ROLES.map(([value, name]) => el("label", {class: "check"},
          el("input", {type: "checkbox", name: "roles", value, checked: (user.roles || []).includes(value),
                       testid: `edit-role-${value}`}), name))) : null,
      this.groupBoxes(el("fieldset", {class: "groups-field field-wide"}), "groups", "Groups", user.groups || [],
                      "edit-group"),
      isAdmin ? this.groupBoxes(el("fieldset", {class: "groups-field field-wide edit-supervises"}), "supervises",
                                "Supervises", user.supervises || [], "edit-supervise") : null,
      el("div", {class: "inline field-wide"},
         el("button", {class: "btn btn-primary btn-small", type: "submit", testid: "edit-save"}, "Save"),
         el("button", {class: "btn btn-ghost btn-small", type: "button",
                       onclick: () => { this.editing = null; this.render(); }}, "Cancel")));
    const supervises = () => {
      const box = $(".edit-supervises", form);
      if (box) box.hidden = !checked(form, "roles").includes("supervisor");
    };
    form.addEventListener("change", supervises);
    supervises();
    form.addEventListener("submit", (event) => this.save(event, user));
    return el("tr", {class: "edit-row", dataset: {user: user.id}}, el("td", {colspan: "5"}, form));
  }

  async save(event, user) {
    event.preventDefault();
    const form = event.currentTarget;
    // Groups the caller cannot see (a supervisor's view) stay as they are.
    const visible = new Set(this.team.groups.map((g) => g.id));
    const fields = {nickname: form.elements.nickname.value.trim(), saturation: Number(form.elements.saturation.value),
                    groups: [...(user.groups || []).filter((g) => !visible.has(g)), ...checked(form, "groups")]};
    if (this.team.isAdmin) {
      fields.roles = checked(form, "roles");
      fields.supervises = fields.roles.includes("supervisor") ? checked(form, "supervises") : [];
    }
    if (await runForm(form, () => this.team.api.updateUser(user.id, fields), `${fields.nickname || user.email} saved.`)) {
      this.editing = null;
      await this.team.reload();
    }
  }
}

const roleName = (role) => (ROLES.find(([value]) => value === role) || [role, role])[1];
const label = (user) => user.nickname || user.email;
const initial = (user) => (user.nickname || user.email || "?").trim().charAt(0).toUpperCase();

function button(text, testid, onclick, extra = "") {
  return el("button", {type: "button", class: `btn btn-small ${extra}`.trim(), testid, onclick}, text);
}
