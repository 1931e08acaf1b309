// Service hours in the Team → Groups section: an editor for a schedule (docs/hours.md: a time zone, up to 10
// weekly or dated rules, a country's public holidays) with what happens at closing time and the reply visitors
// get outside hours, and a picture of the coming week's merged windows as the server computes them
// (GET /api/hours: the same pure function the engine asks). Nothing is computed here but the drawing.

import {el, fill, runForm} from "./ws-dom.js";

const DAYS = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];
const MAX_RULES = 10;
const SVG = "http://www.w3.org/2000/svg";
const CLOSING = [["serve", "Serve the visitors still waiting"],
                 ["offer_message", "Tell them and offer to leave a message"]];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "testid") node.dataset.testid = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/**
 * The coming days' windows (GET /api/hours's `days`) as an SVG: one row per local date, 0-24 h across; a window
 * crossing midnight goes on into the next row. Each drawn window carries data-day, data-start and data-end.
 */
export function weekPicture(days) {
  const W = 640, left = 92, right = 20, row = 26, top = 20;
  const width = W - left - right, height = top + row * days.length + 4;
  const x = (minute) => left + (Math.min(1440, Math.max(0, minute)) / 1440) * width;
  const picture = svg("svg", {viewBox: `0 0 ${W} ${height}`, class: "hours-week", role: "img",
                              "aria-label": "Service hours of the coming week", testid: "hours-week"});
  for (const hour of [0, 6, 12, 18, 24]) {
    picture.append(svg("line", {x1: x(hour * 60), x2: x(hour * 60), y1: top - 4, y2: height - 4, class: "hours-grid"}),
                   svg("text", {x: x(hour * 60), y: 12, class: "hours-axis", "text-anchor": hour === 24 ? "end" : "middle"},
                       `${hour}:00`));
  }
  const bar = (i, from, to, day, label) => svg("rect", {
    x: x(from), y: top + i * row + 4, width: Math.max(1, x(to) - x(from)), height: row - 8, rx: 3,
    class: "hours-open", testid: "hours-window", "data-day": day, "data-start": label[0], "data-end": label[1]},
    svg("title", {}, `${day} ${label[0]}–${label[1]}`));
  days.forEach((d, i) => {
    const date = new Date(`${d.date}T12:00:00`);
    const name = `${date.toLocaleDateString([], {weekday: "short"})} ${date.getDate()} ${date.toLocaleDateString([], {month: "short"})}`;
    picture.append(svg("text", {x: 4, y: top + i * row + row / 2 + 4, class: "hours-day"}, name));
    for (const w of d.windows) {
      picture.append(bar(i, w.start_minute, Math.min(1440, w.end_minute), d.date, [w.start, w.end]));
      if (w.end_minute > 1440 && i + 1 < days.length) {
        picture.append(bar(i + 1, 0, w.end_minute - 1440, d.date, [w.start, w.end]));
      }
    }
    if (!d.windows.length) {
      const why = d.source === "holiday" ? `Closed: ${d.holiday || "public holiday"}` : d.source === "closed" ? "Closed (date)" : "Closed";
      picture.append(svg("text", {x: left + 6, y: top + i * row + row / 2 + 4, class: "hours-closed"}, why));
    }
  });
  return picture;
}

function timeZones() {
  try { return Intl.supportedValuesOf("timeZone"); } catch { return ["UTC"]; }
}

/**
 * A form for one group's (or the default) hours. `hours` is {schedule, at_closing, off_hours_reply} as the
 * server gives it; `modes` the choices for where the hours come from ("default" only for a group).
 * `save(hours)` stores them (a promise; its refusal is shown in the form).
 */
export class HoursEditor {
  constructor({hours, modes, save, testid = "hours-form"}) {
    this.hours = hours || {schedule: null, at_closing: "serve", off_hours_reply: ""};
    this.modes = modes;
    this.save = save;
    this.rules = (this.hours.schedule?.rules || []).map((r) => ({...r}));
    this.form = el("form", {class: "hours-form", testid});
    this.form.addEventListener("submit", (event) => this.submit(event));
    this.render();
  }

  mode() {
    if (this.hours.schedule) return "own";
    return this.modes.includes("default") ? "default" : "always";
  }

  render() {
    const mode = this.form.elements?.mode?.value || this.mode();
    const s = this.hours.schedule || {};
    const zones = el("datalist", {id: `zones-${Math.random().toString(36).slice(2)}`},
                     timeZones().map((z) => el("option", {value: z})));
    const own = mode === "own";
    fill(this.form,
      el("label", {class: "field"}, "Hours",
         el("select", {class: "input", name: "mode", testid: "hours-mode", onchange: () => this.render()},
            this.modes.map(([value, name]) => el("option", {value, selected: value === mode}, name)))),
      own ? [
        el("label", {class: "field"}, "Time zone",
           el("input", {class: "input", name: "timezone", required: true, list: zones.id, testid: "hours-timezone",
                        value: this.form.elements?.timezone?.value || s.timezone ||
                               Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"}), zones),
        el("label", {class: "field"}, "Public holidays of (country code)",
           el("input", {class: "input", name: "country", maxlength: "3", placeholder: "e.g. FR, US, none",
                        testid: "hours-country", value: s.holidays_country || ""})),
        el("fieldset", {class: "field-wide hours-rules"}, el("legend", {}, `Rules (at most ${MAX_RULES})`),
           this.rules.map((rule, i) => this.ruleRow(rule, i)),
           el("div", {class: "inline"},
              el("button", {class: "btn btn-small", type: "button", testid: "hours-add-weekly",
                            disabled: this.rules.length >= MAX_RULES,
                            onclick: () => this.add({days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00"})},
                 "Add weekly hours"),
              el("button", {class: "btn btn-small", type: "button", testid: "hours-add-date",
                            disabled: this.rules.length >= MAX_RULES,
                            onclick: () => this.add({date: new Date().toISOString().slice(0, 10), closed: true})},
                 "Add a date"))),
      ] : null,
      mode !== "always" || this.modes.some(([v]) => v === "own") ? [
        el("label", {class: "field field-wide"}, "At closing time",
           el("select", {class: "input", name: "at_closing", testid: "hours-at-closing"},
              CLOSING.map(([value, name]) => el("option", {value, selected: value === this.hours.at_closing}, name)))),
        el("label", {class: "field field-wide"}, "Reply outside hours",
           el("textarea", {class: "input", name: "reply", rows: "2", maxlength: "1000", testid: "hours-reply",
                           placeholder: "We are closed now. Leave us a message and we will answer by email."},
              this.hours.off_hours_reply || "")),
      ] : null,
      el("div", {class: "inline"},
         el("button", {class: "btn btn-primary btn-small", type: "submit", testid: "hours-save"}, "Save hours")));
  }

  ruleRow(rule, i) {
    const set = (key, value) => { this.rules[i] = {...this.rules[i], [key]: value}; };
    const dated = "date" in rule;
    const closed = dated && rule.closed;
    return el("div", {class: "hours-rule inline", testid: "hours-rule"},
      dated
        ? el("input", {class: "input input-small", type: "date", value: rule.date, required: true, testid: "hours-rule-date",
                       "aria-label": "Date", onchange: (e) => set("date", e.target.value)})
        : el("span", {class: "hours-days", role: "group", "aria-label": "Weekdays"},
             DAYS.map(([value, name]) => el("label", {class: "day-toggle"},
               el("input", {type: "checkbox", checked: rule.days.includes(value), testid: `hours-day-${value}`,
                            onchange: (e) => set("days", e.target.checked ? [...new Set([...this.rules[i].days, value])]
                                                                             : this.rules[i].days.filter((d) => d !== value))}),
               name))),
      dated ? el("label", {class: "inline small"},
                 el("input", {type: "checkbox", checked: closed, testid: "hours-rule-closed",
                              onchange: (e) => { this.rules[i] = e.target.checked ? {date: rule.date, closed: true}
                                                                                  : {date: rule.date, start: "09:00", end: "17:00"};
                                                 this.render(); }}),
                 "Closed all day") : null,
      closed ? null : [
        el("input", {class: "input input-small", type: "time", value: rule.start, required: true, testid: "hours-rule-start",
                     "aria-label": "Opens", onchange: (e) => set("start", e.target.value)}),
        el("span", {}, "–"),
        el("input", {class: "input input-small", type: "time", value: rule.end === "24:00" ? "00:00" : rule.end, required: true,
                     testid: "hours-rule-end", "aria-label": "Closes", onchange: (e) => set("end", e.target.value)}),
      ],
      el("button", {class: "btn btn-ghost btn-small", type: "button", "aria-label": "Remove this rule", testid: "hours-rule-remove",
                    onclick: () => { this.rules.splice(i, 1); this.render(); }}, "Remove"));
  }

  add(rule) {
    if (this.rules.length < MAX_RULES) this.rules.push(rule);
    this.render();
  }

  value() {
    const f = this.form.elements;
    const mode = f.mode.value;
    const country = mode === "own" ? f.country.value.trim().toUpperCase() : "";
    const schedule = mode !== "own" ? null : {
      timezone: f.timezone.value.trim(), rules: this.rules,
      holidays_country: country && country !== "NONE" ? country : null};
    return {mode, hours: {schedule, at_closing: f.at_closing ? f.at_closing.value : "serve",
                          off_hours_reply: f.reply ? f.reply.value.trim() : ""}};
  }

  async submit(event) {
    event.preventDefault();
    const {mode, hours} = this.value();
    await runForm(this.form, () => this.save(mode, hours), "Hours saved.");
  }
}
