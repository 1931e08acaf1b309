// The "Profile" tab: one's own nickname and phone (PATCH /api/me; a blank nickname is allowed: visitors then
// see the team's default name "Agent"), picture (PUT/DELETE /api/me/avatar), email (POST /api/me/email mails a
// confirmation link to the new address) and password (POST /api/me/password, which ends every session: the
// page logs in again with the new password, so this tab goes on).

import {session} from "./ws-api.js";
import {$, loading, runForm} from "./ws-dom.js";
import {imageBox} from "./ws-site.js";

export class ProfileArea {
  /**
   * hooks: `changed(user)` (the top bar shows the new name), `pause()` before a password change (the
   * workspace's sockets, the desk's and the Live tab's, stop: the change closes them) and `resume(token)` after
   * (they start again with `token`).
   */
  constructor(root, api, toast, user, hooks) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    this.user = user;
    this.hooks = hooks;
    $("#profile-form", root).addEventListener("submit", (event) => this.saveProfile(event));
    $("#email-form", root).addEventListener("submit", (event) => this.changeEmail(event));
    $("#password-form", root).addEventListener("submit", (event) => this.changePassword(event));
    this.avatar = imageBox($("#avatar-form", root), {
      preview: $("#avatar-preview", root), none: $("#avatar-none", root), remove: $("#avatar-remove", root),
      upload: async (bytes, type) => (await api.putAvatar(bytes, type)).avatar_url,
      removeImage: () => api.deleteAvatar(),
      done: "Picture updated.", removed: "Picture removed.",
      changed: (url) => { this.user = {...this.user, avatar_url: url}; },
    });
  }

  async load() {
    try {
      this.user = await loading($("#profile-form", this.root), this.api.me());
    } catch (err) {
      this.toast(`Could not load your profile: ${err.message}`, "error");
    }
    this.show();
  }

  show() {
    const u = this.user;
    const form = $("#profile-form", this.root);
    form.elements.nickname.value = u.nickname || "";
    form.elements.phone.value = u.phone || "";
    $("#profile-email", this.root).textContent = u.email;
    $("#avatar-none", this.root).textContent = (u.nickname || u.email || "?").charAt(0).toUpperCase();
    this.avatar.set(u.avatar_url);
  }

  async saveProfile(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = {nickname: form.elements.nickname.value.trim(), phone: form.elements.phone.value.trim()};
    const user = await runForm(form, () => this.api.updateMe(fields),
                               fields.nickname ? "Profile saved." : "Profile saved: visitors see you as “Agent”.");
    if (user) {
      this.user = user === true ? {...this.user, ...fields} : user;
      this.show();
      this.hooks.changed(this.user);
    }
  }

  async changeEmail(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const sent = $("[data-testid=email-sent]", this.root);
    const email = form.elements.email.value.trim();
    sent.hidden = true;
    if (await runForm(form, () => this.api.changeEmail(email, form.elements.password.value))) {
      form.reset();
      sent.textContent = `Check your new inbox: we sent a link to ${email}. Your address changes when you open it; `
        + `until then you sign in with ${this.user.email}.`;
      sent.hidden = false;
    }
  }

  async changePassword(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const password = form.elements.password.value;
    const login = await runForm(form, async () => {
      if (password !== form.elements.confirm.value) throw new Error("The two new passwords differ.");
      this.hooks.pause();
      try {
        await this.api.changePassword(form.elements.old.value, password);
      } catch (err) {
        this.hooks.resume(this.api.token);
        throw err;
      }
      return this.api.login(this.user.email, password);  // the change ended every session, this one too
    }, "Password changed. Your other sessions are signed out.");
    if (login) {
      form.reset();
      session.save(login);
      this.hooks.resume(login.token);
    }
  }
}
