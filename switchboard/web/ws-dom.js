// Small DOM helpers for the workspace. Text from people only ever goes in through textContent:
// `el()` takes text children as strings and never touches innerHTML.

/**
 * Build an element: el("li", {class: "x", dataset: {testid: "message"}, onclick: fn}, "text", child, ...).
 * Attribute values are set with setAttribute (or as properties for `value`, `checked`, `disabled`,
 * `hidden`), strings among the children become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled" || key === "hidden") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `node` with `children` (the same rules as el()). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** "0:07", "3:41", "1:02:09": a wait or a duration in seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** "14:03" for an epoch-seconds time today, else "12 Mar 14:03". */
export function clock(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  const time = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.toLocaleDateString([], {day: "numeric", month: "short"})} ${time}`;
}

/** A short, readable form of an id such as v-0c9d8e7f6a5b4c3d: "v-0c9d8e". */
export const shortId = (id) => (typeof id === "string" && id.length > 10 ? id.slice(0, 8) : String(id ?? ""));

// --- toasts and forms ---------------------------------------------------------------------------------

/** A short message at the top of the page; the same words at once make one toast, shown the longer. */
export function toast(text, kind = "info") {
  let box = $("#toasts");
  if (!box) {
    box = el("div", {id: "toasts", class: "toasts", "aria-live": "polite"});
    document.body.append(box);
  }
  const shown = [...box.children].find((t) => t.textContent === text && t.classList.contains(`toast-${kind}`));
  const item = shown || el("div", {class: `toast toast-${kind}`, testid: "toast", role: kind === "error" ? "alert" : "status"},
                           text);
  if (!shown) box.append(item);
  clearTimeout(item.timer);
  item.timer = setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * Run `action` for `form`: its buttons are disabled meanwhile, and a refusal is shown in the form's
 * `.form-error` (made if missing) in the server's words. Resolves to the action's result, or `undefined`
 * after a refusal; `done` (a string) is toasted on success.
 */
export async function runForm(form, action, done) {
  const buttons = [...form.querySelectorAll("button")];
  const error = formError(form);
  error.hidden = true;
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute("aria-busy", "true");
  try {
    const result = await action();
    if (done) toast(done);
    return result ?? true;
  } catch (err) {
    error.textContent = sentence(err.message || String(err));
    error.hidden = false;
    return undefined;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    form.removeAttribute("aria-busy");
  }
}

/** A server's message as a sentence: "the link was used" -> "The link was used." */
export function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return t;
  const first = /^[a-z]+_/.test(t) ? t : t.charAt(0).toUpperCase() + t.slice(1);  // a field name stays as it is
  return first + (/[.!?:)]$/.test(t) ? "" : ".");
}

/** The form's error line (`.form-error`, testid "form-error"). */
export function formError(form) {
  let error = $(".form-error", form);
  if (!error) {
    error = el("p", {class: "error-text form-error", role: "alert", testid: "form-error", hidden: true});
    const last = [...form.querySelectorAll("button[type=submit]")].pop();
    if (last && last.parentElement === form) form.insertBefore(error, last);
    else form.append(error);
  }
  return error;
}

/** Disable every control of `form` until `promise` settles (what it shows is still loading). */
export async function loading(form, promise) {
  const controls = [...form.elements].filter((c) => !c.disabled);
  controls.forEach((c) => { c.disabled = true; });
  try {
    return await promise;
  } finally {
    controls.forEach((c) => { c.disabled = false; });
  }
}

/** Read a chosen file as a data: URL (a preview the page's policy allows: blob: URLs it does not). */
export function dataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** The values of the checked boxes named `name` inside `root`. */
export const checked = (root, name) => [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((b) => b.value);
