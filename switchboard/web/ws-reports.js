// The Reports tab: the desk's figures over a range of days in a time zone (docs/reports.md), as tiles, charts
// and tables, one report at a time: the overview (conversation figures), agents (presence and work, and one
// agent's timeline), channels and the bot. Chart.js is vendored (decision 023) and loaded from this server the
// first time the tab opens; each chart is destroyed and made again when its report is drawn again. The server
// scopes every answer: an admin sees all four reports, a supervisor all but the bot's (for its groups), an agent
// only the agents report, which lists itself. CSV downloads fetch the same query with the token. Names people
// chose go on the page as text (ws-dom.js).

import {$, el, fill, sentence} from "./ws-dom.js";

const REPORTS = ["overview", "agents", "channels", "bot"];
// The filters each report reads (the overview refuses an agent filter; the bot's report has no groups).
const FILTERS = {overview: ["by", "group", "channel"], agents: ["group", "agent"], channels: ["group", "channel"],
                 bot: ["by", "channel"]};
const STATE_TEXT = {online: "Online", away: "Away", offline: "Offline"};
const NO_CHARTS = "The charts could not be loaded; the figures are shown without them.";

// --- Chart.js, loaded once -------------------------------------------------------------------------------

let library = null;

/** Chart.js (its UMD build sets `Chart` on the global object), styled like the workspace. */
export function chartLibrary(root) {
  if (!library) {
    library = import("./vendor/chart.umd.min.js").then(() => {
      const Chart = globalThis.Chart;
      const css = getComputedStyle(root);
      Chart.defaults.font.family = css.fontFamily;
      Chart.defaults.font.size = 12;
      Chart.defaults.color = css.getPropertyValue("--muted").trim();
      Chart.defaults.borderColor = css.getPropertyValue("--line").trim();
      return Chart;
    }, (err) => {
      library = null;  // try again next time
      throw err;
    });
  }
  return library;
}

// --- formats -----------------------------------------------------------------------------------------------

const count = (n) => Number(n || 0).toLocaleString();
const percent = (r) => (r === null || r === undefined ? "—" : `${Math.round(r * 100)}%`);
const rating = (r) => (r === null || r === undefined ? "—" : r.toFixed(1));

/** A duration for people, short enough for a tile or an axis: "42s", "3m 30s", "4m", "1h 05m"; "—" for none. */
export function human(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s / 60}m`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Seconds as h:mm ("0:00", "12:05"). */
export const hmm = (seconds) => {
  const m = Math.floor(Math.max(0, seconds || 0) / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}`;
};

function zoneParts(epochMs, tz) {
  const parts = new Intl.DateTimeFormat("en-US", {timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"}).formatToParts(new Date(epochMs));
  return Object.fromEntries(parts.map((p) => [p.type, p.value]));
}

/** Today's date (YYYY-MM-DD) in `tz`. */
function today(tz) {
  const p = zoneParts(Date.now(), tz);
  return `${p.year}-${p.month}-${p.day}`;
}

function addDays(iso, days) {
  return new Date(Date.parse(`${iso}T00:00:00Z`) + days * 86400000).toISOString().slice(0, 10);
}

/** Epoch seconds of local midnight starting day `iso` in `tz`. */
function midnight(iso, tz) {
  const wall = Date.parse(`${iso}T00:00:00Z`);
  const offset = (t) => {
    const p = zoneParts(t, tz);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(t / 1000) * 1000;
  };
  return (wall - offset(wall - offset(wall))) / 1000;
}

const dayLabel = (iso, year = false) => new Date(`${iso}T00:00:00Z`).toLocaleDateString([], {
  timeZone: "UTC", weekday: year ? undefined : "short", day: "numeric", month: "short", year: year ? "numeric" : undefined});

/** A chart's label for a period: "Tue, 10 Mar" by day; "14:00" by hour (with the day over several days). */
function periodLabel(period, severalDays) {
  if (period.length === 10) return dayLabel(period);
  const time = period.slice(11, 16);
  return severalDays ? `${dayLabel(period.slice(0, 10))} ${time}` : time;
}

/** A step for a duration axis: a round number of seconds, minutes or hours giving at most five steps. */
function durationStep(values) {
  const most = Math.max(0, ...values.filter((v) => v !== null && v !== undefined));
  return [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    .find((step) => most / step <= 5) || 86400;
}

const timeIn = (epoch, tz) => new Date(epoch * 1000).toLocaleTimeString([], {timeZone: tz, hour: "2-digit",
                                                                             minute: "2-digit"});

// --- the tab ----------------------------------------------------------------------------------------------

export class ReportsArea {
  constructor(root, api, toast, user) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    const roles = user.roles || [];
    this.isAdmin = roles.includes("admin");
    this.steers = this.isAdmin || roles.includes("supervisor");
    this.available = this.isAdmin ? REPORTS : this.steers ? ["overview", "agents", "channels"] : ["agents"];
    this.form = $("#reports-filters", root);
    this.error = $("#reports-error", root);
    this.shown = null;
    this.drawn = {};  // report -> the query its drawing shows
    this.asked = {};  // report -> the number of its latest request (older answers are dropped)
    this.data = {};
    this.charts = new Map();  // canvas id -> Chart
    this.sort = {key: "name", dir: 1};
    this.timelineAgent = null;
    this.Chart = null;
    this.colours = {};
  }

  async load() {
    const root = this.root;
    for (const button of root.querySelectorAll("#reports-nav .segment")) {
      button.hidden = !this.available.includes(button.dataset.report);
      button.addEventListener("click", () => this.show(button.dataset.report));
    }
    $("#reports-nav", root).hidden = this.available.length < 2;
    if (!this.steers) {  // an agent's own figures: only the range and the zone apply
      for (const label of this.form.querySelectorAll("[data-filter]")) label.remove();
      $("#reports-title", root).textContent = "Your figures";
      $("#agents-title", root).textContent = "Your work";
      $("#agents-hint", root).textContent = "Time online, away and offline as h:mm.";
    }
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    fill($("#reports-zones", root), [...new Set(["UTC", tz, ...zones])].map((z) => el("option", {value: z})));
    this.field("tz").value = tz;
    this.field("to").value = today(tz);
    this.field("from").value = addDays(today(tz), -6);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.apply();
    });
    for (const button of root.querySelectorAll("[data-csv]")) {
      button.addEventListener("click", () => this.csv(button.dataset.csv));
    }
    const css = getComputedStyle(root);
    for (const name of ["opened", "bot", "handoff", "assigned", "abandoned", "missed", "wait", "response", "visits",
                        "visitors", "conversations", "answered", "suggested", "declined", "errors",
                        "csat-1", "csat-2", "csat-3", "csat-4", "csat-5"]) {
      this.colours[name] = css.getPropertyValue(`--c-${name}`).trim();
    }
    await Promise.all([this.loadChoices(), chartLibrary(root).then((Chart) => { this.Chart = Chart; }, () => {
      this.showError(NO_CHARTS);
    })]);
    this.show(this.available[0]);
    return this;
  }

  field(name) {
    return this.form.elements.namedItem(name);
  }

  /** The groups (GET /api/groups) and agents (GET /api/users) a steerer may filter by, as the server scopes them. */
  async loadChoices() {
    if (!this.steers) return;
    const group = $("#reports-group", this.root), agent = $("#reports-agent", this.root);
    fill(group, el("option", {value: ""}, "All groups"));
    fill(agent, el("option", {value: ""}, "All agents"));
    try {
      const [groups, users] = await Promise.all([this.api.groups(), this.api.users()]);
      group.append(...groups.map((g) => el("option", {value: g.id}, g.name || g.id)));
      const agents = users.filter((u) => (u.roles || []).includes("agent"))
        .map((u) => ({id: u.id, name: u.nickname || u.email || u.id}))
        .sort((a, b) => a.name.localeCompare(b.name));
      agent.append(...agents.map((a) => el("option", {value: a.id}, a.name)));
    } catch (err) {
      this.toast(`Could not load the groups and agents: ${err.message}`, "error");
    }
  }

  /** Shows report `name` (drawn again if the filters changed since it was drawn). */
  show(name) {
    this.shown = name;
    for (const button of this.root.querySelectorAll("#reports-nav .segment")) {
      button.classList.toggle("active", button.dataset.report === name);
      button.setAttribute("aria-pressed", String(button.dataset.report === name));
    }
    for (const section of this.root.querySelectorAll("section.report")) section.hidden = section.dataset.report !== name;
    for (const label of this.form.querySelectorAll("[data-filter]")) {
      const used = FILTERS[name].includes(label.dataset.filter);
      label.classList.toggle("field-off", !used);
      const control = label.querySelector(".input");
      control.disabled = !used;
      control.title = used ? "" : `Not a filter of the ${name} report`;
    }
    if (this.drawn[name] !== this.query(name)) this.refresh(name);
    else this.showRange(this.data[name]);
  }

  apply() {
    if (!this.form.reportValidity()) return;
    this.drawn = {};
    this.refresh(this.shown);
  }

  /** The query string of report `name` from the filters (only those it reads). */
  query(name) {
    const params = new URLSearchParams();
    for (const key of ["from", "to", "tz"]) params.set(key, this.field(key).value.trim());
    for (const key of FILTERS[name]) {
      const control = this.field(key);
      const value = control ? control.value.trim() : "";
      if (value) params.set(key, value);
    }
    return params.toString();
  }

  showError(text) {
    this.error.textContent = text ? sentence(text) : "";
    this.error.hidden = !text;
  }

  showRange(data) {
    const line = $("#reports-range", this.root);
    if (!data) {
      line.textContent = "";
      return;
    }
    const days = data.from === data.to ? dayLabel(data.from, true) : `${dayLabel(data.from)} – ${dayLabel(data.to, true)}`;
    const by = FILTERS[this.shown].includes("by") ? `by ${data.by}` : "";
    line.textContent = [days, data.tz.replaceAll("_", " "), by,
                        data.group && data.group.length ? `group ${data.group.join(", ")}` : "",
                        data.channel ? `channel ${data.channel}` : ""].filter(Boolean).join(" · ");
  }

  async refresh(name) {
    const section = $(`section.report[data-report="${name}"]`, this.root);
    const query = this.query(name);
    const mine = (this.asked[name] || 0) + 1;
    this.asked[name] = mine;
    section.dataset.state = "loading";
    section.setAttribute("aria-busy", "true");
    try {
      const data = await this.api.call("GET", `/api/reports/${name}?${query}`);
      if (this.asked[name] !== mine) return;
      this.data[name] = data;
      this.drawn[name] = query;
      this.showError(this.Chart ? null : NO_CHARTS);
      this[name](data);
      section.dataset.state = "ready";
      section.dataset.query = query;
      if (this.shown === name) this.showRange(data);
      if (name === "agents") {  // the timeline shown follows the range; an agent's own is shown at once
        const own = !this.steers && data.agents.length === 1 ? {id: data.agents[0].agent, name: data.agents[0].name} : null;
        const who = this.timelineAgent || own;
        if (who) this.timeline(who.id, who.name);
      }
    } catch (err) {
      if (this.asked[name] !== mine) return;
      this.showError(err.message);
      section.dataset.state = "error";
    } finally {
      if (this.asked[name] === mine) section.removeAttribute("aria-busy");
    }
  }

  // --- charts ---------------------------------------------------------------------------------------

  /** (Re)draws the chart on canvas `id`: the previous instance is destroyed first. */
  draw(id, label, config) {
    const canvas = $(`#${id}`, this.root);
    canvas.setAttribute("aria-label", label);
    const old = this.charts.get(id) || (this.Chart && this.Chart.getChart(canvas));
    if (old) old.destroy();
    this.charts.delete(id);
    if (!this.Chart) return;
    this.charts.set(id, new this.Chart(canvas, config));
  }

  options({stacked = false, yFormat = null, yStep = undefined, legend = true} = {}) {
    return {
      responsive: true, maintainAspectRatio: false, animation: {duration: 300},
      interaction: {mode: "index", intersect: false},
      plugins: {
        legend: {display: legend, position: "bottom", labels: {usePointStyle: true, pointStyle: "rectRounded",
                                                                boxWidth: 10, boxHeight: 10, padding: 16}},
        tooltip: yFormat ? {callbacks: {label: (c) => `${c.dataset.label}: ${yFormat(c.parsed.y)}`}} : {},
      },
      scales: {
        x: {stacked, offset: true, grid: {display: false}, ticks: {maxRotation: 0, autoSkipPadding: 12}},
        y: {stacked, beginAtZero: true, ticks: yFormat ? {stepSize: yStep, callback: (v) => yFormat(v)} : {precision: 0}},
      },
    };
  }

  bars(label, data, colour, extra = {}) {
    return {label, data, backgroundColor: colour, borderColor: colour, borderRadius: 4, maxBarThickness: 26, ...extra};
  }

  line(label, data, colour) {
    return {label, data, borderColor: colour, backgroundColor: colour, cubicInterpolationMode: "monotone",
            spanGaps: true, pointRadius: 3,
            pointHoverRadius: 5, borderWidth: 2};
  }

  // --- the overview ---------------------------------------------------------------------------------

  overview(data) {
    const t = data.totals, c = this.colours;
    fill($("#overview-tiles", this.root),
      tile("opened", "Opened", count(t.opened), c.opened),
      tile("bot_only", "Bot resolved", count(t.bot_only), c.bot, "no person needed"),
      tile("handed_off", "Handed off", count(t.handed_off), c.handoff, "asked for a person"),
      tile("assigned", "Assigned", count(t.assigned), c.assigned, "taken by an agent"),
      tile("abandoned", "Abandoned", count(t.abandoned), c.abandoned, "left the queue"),
      tile("missed", "Missed", count(t.missed), c.missed, "an agent never wrote"),
      tile("resolution_rate", "Resolution rate", percent(t.resolution_rate), null,
           `${count(t.resolved)} of ${count(t.closed)} closed`),
      tile("wait_avg_s", "Average wait", human(t.wait_avg_s), c.wait, "queue to an agent"),
      tile("first_response_avg_s", "First response", human(t.first_response_avg_s), c.response,
           "until a person's first word"),
      tile("handling_avg_s", "Handling time", human(t.handling_avg_s), null, "assignment to close"),
      tile("csat_avg", "CSAT average", t.csat_avg === null ? "—" : `${rating(t.csat_avg)} / 5`, c["csat-5"],
           `${count(t.csat_responses)} rating${t.csat_responses === 1 ? "" : "s"}`),
      tile("csat_response_rate", "CSAT response rate", percent(t.csat_response_rate), null, "of handled conversations"));

    const hourly = data.by === "hour";
    const labels = data.series.map((s) => periodLabel(s.period, data.from !== data.to));
    const per = hourly ? "hour" : "day";
    const when = data.from === data.to ? dayLabel(data.from, true) : `${dayLabel(data.from)} to ${dayLabel(data.to, true)}`;
    $("#volume-caption", this.root).textContent = `Conversations per ${per}`;
    const volume = [["Opened", "opened", c.opened], ["Bot resolved", "bot_only", c.bot],
                    ["Handed off", "handed_off", c.handoff], ["Assigned", "assigned", c.assigned],
                    ["Abandoned", "abandoned", c.abandoned], ["Missed", "missed", c.missed]];
    this.draw("volume-chart",
      `Conversations per ${per}, ${when}: ${volume.map(([l, k]) => `${l.toLowerCase()} ${t[k]}`).join(", ")}`, {
        type: hourly ? "line" : "bar",
        data: {labels, datasets: volume.map(([l, k, colour]) => (hourly
          ? {...this.line(l, data.series.map((s) => s[k]), colour), pointRadius: 0}
          : this.bars(l, data.series.map((s) => s[k]), colour)))},
        options: this.options(),
      });

    $("#times-caption", this.root).textContent = `Average wait and first response per ${per}`;
    this.draw("times-chart", `Average wait ${human(t.wait_avg_s)}, average first response `
      + `${human(t.first_response_avg_s)}, per ${per}, ${when}`, {
      type: "line",
      data: {labels, datasets: [this.line("Average wait", data.series.map((s) => s.wait_avg_s), c.wait),
                                this.line("First response", data.series.map((s) => s.first_response_avg_s), c.response)]},
      options: this.options({yFormat: human, yStep: durationStep(data.series.flatMap((s) => [s.wait_avg_s,
                                                                                             s.first_response_avg_s]))}),
    });

    const scores = [1, 2, 3, 4, 5];
    $("#csat-caption", this.root).textContent = t.csat_responses
      ? `Satisfaction ratings: ${rating(t.csat_avg)} of 5 on average` : "Satisfaction ratings (none yet)";
    this.draw("csat-chart", `Ratings, ${when}: ${scores.map((s) => `${t[`csat_${s}`]} of ${s}`).join(", ")}`, {
      type: "bar",
      data: {labels: scores.map((s) => `${s} ★`),
             datasets: [this.bars("Ratings", scores.map((s) => t[`csat_${s}`]),
                                  scores.map((s) => c[`csat-${s}`]), {maxBarThickness: 44})]},
      options: this.options({legend: false}),
    });
  }

  // --- agents ---------------------------------------------------------------------------------------

  agents(data) {
    const columns = [
      ["name", "Agent"], ["online_s", "Online", hmm], ["away_s", "Away", hmm], ["offline_s", "Offline", hmm],
      ["occupancy", "Occupancy", percent], ["conversations", "Conversations", count], ["messages", "Messages", count],
      ["words", "Words", count], ["rated", "Rated", count], ["rating_avg", "Avg rating", rating],
      ["chat_avg_s", "Avg chat", human],
    ];
    const {key, dir} = this.sort;
    const rows = [...data.agents].sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;  // none last, either way
      if (y === null || y === undefined) return -1;
      return (typeof x === "string" ? x.localeCompare(y) : x - y) * dir;
    });
    fill($("#agents-head", this.root), columns.map(([k, label]) => el("th", {
      class: k === "name" ? "" : "num", "aria-sort": k === key ? (dir > 0 ? "ascending" : "descending") : "none"},
      el("button", {type: "button", class: "sort-button", testid: `sort-${k}`, onclick: () => {
        this.sort = {key: k, dir: k === key ? -dir : (k === "name" ? 1 : -1)};
        this.agents(data);
      }}, label, el("span", {class: "sort-mark", "aria-hidden": "true"}, k === key ? (dir > 0 ? " ▲" : " ▼") : "")))));
    fill($("#agents-rows", this.root), rows.length ? rows.map((a) => el("tr", {
      testid: "reports-agent", dataset: {agent: a.agent},
      class: this.timelineAgent && this.timelineAgent.id === a.agent ? "row-selected" : ""},
      columns.map(([k, , format]) => (k === "name"
        ? el("td", {}, el("button", {type: "button", class: "link-button agent-link", testid: "reports-agent-open",
                                     title: "Show this agent's timeline", onclick: () => this.timeline(a.agent, a.name)},
                              a.name))
        : el("td", {class: "num", dataset: {figure: k}}, k === "occupancy" ? occupancy(a.occupancy) : format(a[k]))))))
      : el("tr", {}, el("td", {colspan: String(columns.length), class: "muted"}, "No agents in this selection.")));
  }

  async timeline(agent, name) {
    this.timelineAgent = {id: agent, name};
    for (const row of this.root.querySelectorAll("[data-testid=reports-agent]")) {
      row.classList.toggle("row-selected", row.dataset.agent === agent);
    }
    const card = $("#timeline", this.root);
    card.hidden = false;
    card.dataset.agent = agent;
    card.dataset.state = "loading";
    $("#timeline-title", this.root).textContent = `Activity of ${name}`;
    const params = new URLSearchParams();
    for (const key of ["from", "to", "tz"]) params.set(key, this.field(key).value.trim());
    this.timelineQuery = params.toString();
    try {
      const data = await this.api.call("GET", `/api/reports/agents/${encodeURIComponent(agent)}/timeline?${this.timelineQuery}`);
      if (this.timelineAgent.id !== agent) return;
      this.drawTimeline(data);
      card.dataset.state = "ready";
      card.scrollIntoView({block: "nearest"});
    } catch (err) {
      fill($("#timeline-body", this.root), el("p", {class: "error-text"}, sentence(err.message)));
      card.dataset.state = "error";
    }
  }

  /** One track a day (00:00 to 24:00 local), or one for the whole range beyond a month, of presence intervals. */
  drawTimeline(data) {
    const t = data.totals;
    $("#timeline-totals", this.root).textContent =
      `Online ${hmm(t.online_s)} · Away ${hmm(t.away_s)} · Offline ${hmm(t.offline_s)} (h:mm)`;
    const days = [];
    for (let d = data.from; d <= data.to; d = addDays(d, 1)) days.push(d);
    const tracks = days.length <= 31
      ? days.map((d) => ({label: dayLabel(d), start: midnight(d, data.tz), end: midnight(addDays(d, 1), data.tz),
                          ticks: [0, 6, 12, 18, 24].map((h) => [h / 24, `${String(h).padStart(2, "0")}:00`])}))
      : [{label: `${days.length} days`, start: midnight(data.from, data.tz), end: midnight(addDays(data.to, 1), data.tz),
          ticks: [[0, dayLabel(data.from)], [0.5, dayLabel(days[Math.floor(days.length / 2)])], [1, dayLabel(data.to)]]}];
    const rows = tracks.map((track) => {
      const span = track.end - track.start;
      const parts = data.intervals.filter((i) => i.end > track.start && i.start < track.end).map((i) => {
        const s = Math.max(i.start, track.start), e = Math.min(i.end, track.end);
        const text = `${STATE_TEXT[i.state] || i.state} ${timeIn(s, data.tz)}–${timeIn(e, data.tz)}`;
        const node = el("span", {class: `timeline-seg seg-${i.state}`, title: text, testid: "timeline-segment",
                                 dataset: {state: i.state}});
        node.style.left = `${((s - track.start) / span) * 100}%`;
        node.style.width = `${Math.max(0.2, ((e - s) / span) * 100)}%`;
        return {node, text};
      });
      return el("div", {class: "timeline-row"},
        el("span", {class: "timeline-day small"}, track.label),
        el("div", {class: "timeline-track", role: "img",
                   "aria-label": `${track.label}: ${parts.length ? parts.map((p) => p.text).join(", ") : "no presence recorded"}`},
           parts.map((p) => p.node)));
    });
    const axis = tracks.length && tracks[0].ticks.length ? el("div", {class: "timeline-row", "aria-hidden": "true"},
      el("span", {}), el("div", {class: "timeline-axis"}, tracks[0].ticks.map(([at, text]) => {
        const tick = el("span", {class: "timeline-tick small"}, text);
        tick.style.left = `${at * 100}%`;
        return tick;
      }))) : null;
    const legend = el("div", {class: "timeline-legend small"}, ["online", "away", "offline"].map((s) =>
      el("span", {}, el("i", {class: `legend-swatch seg-${s}`, "aria-hidden": "true"}), STATE_TEXT[s])),
      el("span", {}, el("i", {class: "legend-swatch seg-none", "aria-hidden": "true"}), "No record"));
    fill($("#timeline-body", this.root), rows, axis, legend);
  }

  // --- channels and the bot -------------------------------------------------------------------------

  channels(data) {
    const c = this.colours, rows = data.channels;
    const sets = [["Visits", "visits", c.visits], ["Visitors", "visitors", c.visitors],
                  ["Conversations", "conversations", c.conversations]];
    this.draw("channels-chart", `By channel: ${rows.map((r) => `${r.channel || "none"} ${r.visits} visits, `
      + `${r.visitors} visitors, ${r.conversations} conversations`).join("; ") || "no conversations"}`, {
      type: "bar",
      data: {labels: rows.map((r) => r.channel || "(none)"),
             datasets: sets.map(([label, k, colour]) => this.bars(label, rows.map((r) => r[k]), colour, {maxBarThickness: 48}))},
      options: this.options(),
    });
    fill($("#channels-rows", this.root), rows.length ? rows.map((r) => el("tr", {testid: "reports-channel",
                                                                                 dataset: {channel: r.channel}},
      el("td", {}, r.channel || "(none)"), sets.map(([, k]) => el("td", {class: "num", dataset: {figure: k}}, count(r[k])))))
      : el("tr", {}, el("td", {colspan: "4", class: "muted"}, "No conversations in this range.")));
  }

  bot(data) {
    const c = this.colours, t = data.totals;
    const sets = [["Answered", "answered", c.answered], ["Suggested", "suggested", c.suggested],
                  ["Declined", "declined", c.declined], ["Handed off", "handed_off", c.handoff],
                  ["Errors", "errors", c.errors]];
    const hints = {answered: "from the knowledge base", suggested: "\u201cdid you mean\u201d", declined: "off topic",
                   handed_off: "to a person", errors: "the bot failed"};
    fill($("#bot-tiles", this.root), sets.map(([label, k, colour]) => tile(`bot-${k}`, label, count(t[k]), colour, hints[k])));
    const per = data.by === "hour" ? "hour" : "day";
    $("#bot-caption", this.root).textContent = `Decisions per ${per}`;
    this.draw("bot-chart", `The bot's decisions per ${per}: ${sets.map(([l, k]) => `${l.toLowerCase()} ${t[k]}`).join(", ")}`, {
      type: "bar",
      data: {labels: data.series.map((s) => periodLabel(s.period, data.from !== data.to)),
             datasets: sets.map(([label, k, colour]) => this.bars(label, data.series.map((s) => s[k]), colour,
                                                                   {borderRadius: 2}))},
      options: this.options({stacked: true}),
    });
    fill($("#bot-rows", this.root), data.documents.length ? data.documents.map((d) => el("tr", {testid: "reports-document"},
      el("td", {class: "cell-wrap"}, d.document), sets.map(([, k]) => el("td", {class: "num"}, count(d[k])))))
      : el("tr", {}, el("td", {colspan: "6", class: "muted"}, "No answer cited a document in this range.")));
  }

  // --- CSV --------------------------------------------------------------------------------------------

  csv(kind) {
    if (kind === "timeline") {
      if (!this.timelineAgent) return undefined;
      return this.download(`/api/reports/agents/${encodeURIComponent(this.timelineAgent.id)}/timeline?`
                           + `${this.timelineQuery}&format=csv`, `switchboard-timeline-${this.timelineAgent.id}.csv`);
    }
    return this.download(`/api/reports/${kind}?${this.drawn[kind] || this.query(kind)}&format=csv`,
                         `switchboard-${kind}.csv`);
  }

  /** Fetches `path` with the token and saves it under the server's Content-Disposition name (else `name`). */
  async download(path, name) {
    try {
      await this.api.download(path, name);
    } catch (err) {
      this.showError(`The CSV could not be downloaded: ${err.message}`);
    }
  }

}

/** A figure's tile: its label (with the colour its chart uses), the value, and what it counts. */
function tile(key, label, value, colour, hint) {
  const swatch = el("i", {class: "tile-swatch", "aria-hidden": "true"});
  if (colour) swatch.style.background = colour;
  else swatch.hidden = true;
  return el("div", {class: "tile", testid: `tile-${key}`, dataset: {figure: key}},
    el("span", {class: "tile-label"}, swatch, label),
    el("span", {class: "tile-value", testid: "tile-value"}, value),
    hint ? el("span", {class: "tile-hint"}, hint) : null);
}

/** Occupancy as a percentage over a small bar. */
function occupancy(value) {
  const fillBar = el("span", {class: "occ-fill"});
  fillBar.style.width = `${Math.min(100, Math.round((value || 0) * 100))}%`;
  return el("span", {class: "occ"}, el("span", {class: "occ-bar", "aria-hidden": "true"}, fillBar), percent(value));
}
