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
