// Before the workspace: the login form, the "Forgot password?" form (POST /api/account/forgot), and the
// password change a user with an admin-set password makes before anything else (must_change_password).

import {session} from "./ws-api.js";
import {$, runForm} from "./ws-dom.js";

const FORGOT_SENT = "If an account exists for that address, we sent a link. It works for one hour.";

export class LoginScreens {
  /** `entered(login, password)`: a login answer ({token, user}) and the password that got it. */
  constructor(api, entered) {
    this.api = api;
    this.entered = entered;
    $("#login-form").addEventListener("submit", (event) => this.logIn(event));
    $("#forgot-link").addEventListener("click", () => this.forgotForm(true));
    $("#forgot-back").addEventListener("click", () => this.forgotForm(false));
    $("#forgot-form").addEventListener("submit", (event) => this.forgot(event));
  }

  show(notice) {
    $("#login").hidden = false;
    $("#must-change").hidden = true;
    $("#app").hidden = true;
    const error = $("#login-error");
    error.textContent = notice || "";
    error.hidden = !notice;
    const email = $("#login-email");
    if (!email.value) email.value = session.email();
    (email.value ? $("#login-password") : email).focus();
  }

  forgotForm(open) {
    $("#login-form").hidden = open;
    $("#forgot-form").hidden = !open;
    const form = $("#forgot-form");
    if (open) {
      form.elements.email.value = $("#login-email").value.trim();
      $("[data-testid=forgot-sent]", form).hidden = true;
      form.elements.email.focus();
    }
  }

  async logIn(event) {
    event.preventDefault();
    const button = $("#login-submit");
    const error = $("#login-error");
    button.disabled = true;
    error.hidden = true;
    const password = $("#login-password").value;
    try {
      const answer = await this.api.login($("#login-email").value.trim(), password);
      $("#login-password").value = "";
      this.entered(answer, password);
    } catch (err) {
      error.textContent = err.code === "bad_credentials" ? "Wrong email or password." : err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  async forgot(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const sent = $("[data-testid=forgot-sent]", form);
    sent.hidden = true;
    if (await runForm(form, () => this.api.forgot(form.elements.email.value.trim()))) {
      sent.textContent = FORGOT_SENT;
      sent.hidden = false;
    }
  }

  /**
   * The blocking password change: `known` is the password just typed to log in (then it is not asked again).
   * POST /api/me/password ends every session, so the page logs in again with the new password.
   */
  mustChange(user, known, logOut) {
    $("#login").hidden = true;
    $("#app").hidden = true;
    $("#must-change").hidden = false;
    const form = $("#must-change-form");
    $("#must-change-old").hidden = Boolean(known);
    form.elements.old.required = !known;
    $("#must-change-logout").onclick = logOut;
    form.onsubmit = async (event) => {
      event.preventDefault();
      const password = form.elements.password.value;
      const answer = await runForm(form, async () => {
        if (password !== form.elements.confirm.value) throw new Error("The two new passwords differ.");
        await this.api.changePassword(known || form.elements.old.value, password);
        return this.api.login(user.email, password);
      }, "Password changed.");
      if (answer) {
        form.reset();
        this.entered(answer, password);
      }
    };
    (known ? form.elements.password : form.elements.old).focus();
  }
}
