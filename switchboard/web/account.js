// Where mailed links land (/account#token=...): the secret is in the fragment, which never reaches the server's
// logs or a Referer; the page reads it, takes it out of the address bar, and asks the server what it is for
// (POST /api/account/token). An invite or a password reset sets a password (POST /api/account/password); an
// email change is confirmed at once (POST /api/account/email). A used, expired or broken link says so and offers
// a new password link (POST /api/account/forgot).

import {Api, session} from "./ws-api.js";
import {$, runForm, sentence} from "./ws-dom.js";

const api = new Api();
const FORGOT_SENT = "If an account exists for that address, we sent a link. It works for one hour.";
const PURPOSE_TEXT = {
  invite: (who) => ["Welcome to the team!", `Choose a password for ${who}. You sign in with this address.`],
  reset: (who) => ["Choose a new password", `For ${who}. Your other sessions are signed out.`],
};

function only(id) {
  for (const card of document.querySelectorAll(".login > *")) card.hidden = card.id !== id;
}

function finished(heading, text) {
  $("#done-heading").textContent = heading;
  $("#done-text").textContent = text;
  only("account-done");
}

function invalid(message, email = "") {
  $("#invalid-text").textContent = sentence(message);
  const form = $("#account-invalid");
  form.elements.email.value = email;
  only("account-invalid");
}

function choosePassword(token, link) {
  const [heading, intro] = PURPOSE_TEXT[link.purpose](link.email);
  $("#password-heading").textContent = heading;
  $("#password-intro").textContent = intro;
  const form = $("#password-form");
  form.elements.username.value = link.email;  // for password managers
  $("button[type=submit]", form).textContent = link.purpose === "invite" ? "Set password and join" : "Set password";
  only("password-form");
  form.elements.password.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const ok = await runForm(form, async () => {
      if (f.password.value !== f.confirm.value) throw new Error("The two passwords differ.");
      try {
        return await api.setPassword(token, f.password.value);
      } catch (err) {
        if (err.code === "link_invalid") invalid(err.message, link.email);
        throw err;
      }
    });
    if (!ok) return;
    session.rememberEmail(link.email);
    finished("Password set", `You can now sign in as ${link.email} with your new password.`);
  });
}

async function confirmEmail(token, link) {
  try {
    await api.confirmEmail(token);
    session.rememberEmail(link.email);
    finished("Email changed", `You now sign in as ${link.email}.`);
  } catch (err) {
    if (err.code === "link_invalid") invalid(err.message);
    else invalid(`The address could not be changed: ${err.message}`);
  }
}

async function askAgain(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const sent = $("[data-testid=account-forgot-sent]", form);
  sent.hidden = true;
  if (await runForm(form, () => api.forgot(form.elements.email.value.trim()))) {
    sent.textContent = FORGOT_SENT;
    sent.hidden = false;
  }
}

async function main() {
  $("#account-invalid").addEventListener("submit", askAgain);
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (location.hash) history.replaceState(null, "", location.pathname);  // the secret leaves the address bar
  if (!token) {
    invalid("The link is incomplete: open it from the mail once more, or copy all of it.");
    return;
  }
  let link;
  try {
    link = await api.linkPurpose(token);
  } catch (err) {
    invalid(err.code === "link_invalid" ? err.message : `The link cannot be checked now: ${err.message}`);
    return;
  }
  if (link.purpose === "email") await confirmEmail(token, link);
  else if (PURPOSE_TEXT[link.purpose]) choosePassword(token, link);
  else invalid("This link is not one this page knows.");
}

main();
