// The first-run page (/setup): while no admin exists, the setup code the server printed at start-up and the
// first admin's details create that admin (POST /api/setup); the answer is a login, kept as the workspace
// keeps it, and the page goes on to the workspace.

import {Api, session} from "./ws-api.js";
import {$, runForm} from "./ws-dom.js";

const api = new Api();
const form = $("#setup-form");

/** Someone finished the setup already: the page says so and points to the workspace. */
function alreadySetUp() {
  form.hidden = true;
  $("#setup-done").hidden = false;
}

async function createAdmin(event) {
  event.preventDefault();
  const f = form.elements;
  const login = await runForm(form, async () => {
    if (f.password.value !== f.confirm.value) throw new Error("The two passwords differ.");
    try {
      return await api.setup({code: f.code.value.trim(), email: f.email.value.trim(), password: f.password.value,
                              nickname: f.nickname.value.trim(), takes_chats: f.takes_chats.checked});
    } catch (err) {
      if (err.code === "setup_done") alreadySetUp();
      throw err;
    }
  });
  if (!login) return;
  session.save(login);
  location.assign("/workspace");
}

form.addEventListener("submit", createAdmin);
form.elements.code.focus();
api.setupNeeded().then((answer) => { if (!answer.needed) alreadySetUp(); }, () => {});
