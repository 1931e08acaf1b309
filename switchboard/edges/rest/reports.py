"""REST for reports: the desk's figures over a date range in a time zone, by day or hour, as JSON or CSV.

Every figure is defined in docs/reports.md; the counters come from :mod:`switchboard.store.reports` (the
writers' day shards, hour by hour, summed here; never a scan of messages). A handler authenticates the caller (401), parses and bounds
the query (400), applies the caller's scope (403), then reads the store in the thread pool:

- an admin sees everything;
- a supervisor sees its ``supervises`` groups only: the group filter is forced into them, the agent filter
  and the agents table are limited to agents of those groups; the bot report (desk-wide) is refused;
- an agent sees only its own agent figures (``/agents`` with themselves, their timeline); desk-wide reports
  (overview, channels, bot) are refused with 403.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.store import report_reads
from switchboard.store import reports as store
from switchboard.store.report_counts import HOUR, day_of
from switchboard.store.users import agent_summaries
from switchboard.edges.rest.toolkit import ApiPart, Caller, ORJSONResponse, bad, caller, errors, forbidden, \
    make_routes, ref

__all__ = ["report_routes", "REPORTS_API", "MAX_DAYS", "MAX_HOUR_DAYS", "FIGURES"]

MAX_DAYS = 366
MAX_HOUR_DAYS = 31
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
_ID_PATTERN = "^[A-Za-z0-9_.:@-]{1,128}$"
_COUNTERS = ("opened", "bot_only", "handed_off", "assigned", "abandoned", "missed", "closed", "resolved")
FIGURES = (*_COUNTERS, "resolution_rate", "wait_avg_s", "first_response_avg_s", "handling_avg_s", "csat_avg",
           "csat_responses", "csat_response_rate", "csat_1", "csat_2", "csat_3", "csat_4", "csat_5")
_AGENT_FIELDS = ("agent", "name", "online_s", "away_s", "offline_s", "busy_s", "occupancy", "conversations",
                 "messages", "words", "rated", "rating_avg", "chat_n", "chat_avg_s")
_BOT_FIGURES = ("answered", "suggested", "declined", "handed_off", "errors")
_BOT_COUNTERS = dict(zip(("answer", "suggest", "decline", "handoff", "error"), _BOT_FIGURES))


# --- the query ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    day_from: date
    day_to: date
    tz: ZoneInfo
    by: str  # day | hour
    groups: frozenset[str] | None  # None: every group
    agent: str | None
    channel: str | None
    csv: bool

    @property
    def start(self) -> float:
        return datetime.combine(self.day_from, datetime.min.time(), self.tz).timestamp()

    @property
    def end(self) -> float:
        return datetime.combine(self.day_to + timedelta(days=1), datetime.min.time(), self.tz).timestamp()

    def period(self, t: float) -> str:
        """The label of the period holding epoch `t` (a counter's UTC hour start) in the query's zone; the UTC hour
        that holds the range's start (a zone with a :30 offset) is the range's first period."""
        local = datetime.fromtimestamp(max(t, self.start), self.tz)
        return local.date().isoformat() if self.by == "day" else local.isoformat(timespec="minutes")

    def periods(self) -> list[str]:
        if self.by == "day":
            days = (self.day_to - self.day_from).days + 1
            return [(self.day_from + timedelta(days=i)).isoformat() for i in range(days)]
        labels, t = [], self.start - self.start % HOUR
        while t < self.end:
            labels.append(self.period(t))
            t += HOUR
        return list(dict.fromkeys(labels))

    def head(self) -> dict[str, Any]:
        return {"from": self.day_from.isoformat(), "to": self.day_to.isoformat(), "tz": self.tz.key, "by": self.by,
                "group": sorted(self.groups) if self.groups is not None else None, "agent": self.agent,
                "channel": self.channel}


def _day(value: str | None, name: str) -> date:
    if value is None or not _DATE.fullmatch(value):
        raise bad(f"{name} must be a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise bad(f"{name} is not a calendar date: {value}") from None
    if not 1970 <= day.year <= 9998:
        raise bad(f"{name} must be a date from 1970 to 9998")
    return day


def _id(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not _ID.fullmatch(value):
        raise bad(f"{name} must be an id of letters, digits and _.:@- (at most 128)")
    return value


def parse_query(params: Any) -> Query:
    """The query string read and bounded (ApiError 400 otherwise); scope is applied afterwards."""
    unknown = sorted(set(params) - {"from", "to", "tz", "by", "group", "agent", "channel", "format"})
    if unknown:
        raise bad(f"unknown parameter(s): {', '.join(unknown)}")
    day_from, day_to = _day(params.get("from"), "from"), _day(params.get("to"), "to")
    if day_to < day_from:
        raise bad("to must not be before from")
    by = params.get("by", "day")
    if by not in ("day", "hour"):
        raise bad("by must be day or hour")
    days = (day_to - day_from).days + 1
    limit = MAX_HOUR_DAYS if by == "hour" else MAX_DAYS
    if days > limit:
        raise bad(f"a report by {by} spans at most {limit} days, this one {days}")
    try:
        tz = ZoneInfo(params.get("tz") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("tz must be an IANA time zone such as Europe/Paris") from None
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise bad("format must be json or csv")
    group = _id(params.get("group"), "group")
    return Query(day_from, day_to, tz, by, frozenset({group}) if group else None, _id(params.get("agent"), "agent"),
                 _id(params.get("channel"), "channel"), fmt == "csv")


def _scoped(q: Query, who: Caller, *, desk_wide: bool) -> Query:
    """`q` within the caller's scope (module docstring), or ApiError 403."""
    scope = who.scope
    if scope.is_admin:
        return q
    if scope.is_supervisor and scope.supervises:
        if q.groups is not None and not q.groups <= scope.supervises:
            raise forbidden("a supervisor sees only the groups it supervises")
        return Query(q.day_from, q.day_to, q.tz, q.by, q.groups or frozenset(scope.supervises), q.agent, q.channel,
                     q.csv)
    if desk_wide:
        raise forbidden("an agent sees only its own figures (GET /api/reports/agents)")
    if q.agent is not None and q.agent != scope.user_id:
        raise forbidden("an agent sees only its own figures")
    return Query(q.day_from, q.day_to, q.tz, q.by, None, scope.user_id, q.channel, q.csv)


# --- figures (pure) --------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def figures(c: dict[str, float]) -> dict[str, Any]:
    """The overview's figures from summed conv counters (docs/reports.md)."""
    out: dict[str, Any] = {name: int(c.get(name, 0)) for name in _COUNTERS}
    out["resolution_rate"] = _ratio(c.get("resolved", 0), c.get("closed", 0))
    out["wait_avg_s"] = _ratio(c.get("wait_s", 0), c.get("wait_n", 0))
    out["first_response_avg_s"] = _ratio(c.get("first_response_s", 0), c.get("first_response_n", 0))
    out["handling_avg_s"] = _ratio(c.get("handling_s", 0), c.get("handled", 0))
    out["csat_avg"] = _ratio(c.get("score_sum", 0), c.get("rated", 0))
    out["csat_responses"] = int(c.get("rated", 0))
    out["csat_response_rate"] = _ratio(c.get("rated", 0), c.get("handled", 0))
    for s in range(1, 6):
        out[f"csat_{s}"] = int(c.get(f"score_{s}", 0))
    return out


def _sum_into(total: dict[str, float], counts: dict[str, float]) -> None:
    for name, amount in counts.items():
        total[name] = total.get(name, 0) + amount


# --- the reports (blocking: in the thread pool) ------------------------------------------------------------


def _periods_of(q: Query) -> Callable[[float], str]:
    """`q.period`, remembered per hour (a month is 744 hours, read many times)."""
    cache: dict[float, str] = {}

    def period(t: float) -> str:
        label = cache.get(t)
        if label is None:
            label = cache[t] = q.period(t)
        return label
    return period


def _in(q: Query, dim: str) -> tuple[bool, str]:
    """Whether a ``group|channel`` dimension passes the query's filters, and its channel."""
    group, _, channel = dim.partition("|")
    return (q.groups is None or group in q.groups) and (q.channel is None or channel == q.channel), channel


def _days(q: Query) -> tuple[str, str]:
    """The UTC days the query's range touches."""
    return day_of(q.start), day_of(q.end - 1e-3)


def _sums_by_period(q: Query, part: str, keep: Callable[[str], bool]) -> dict[str, np.ndarray]:
    """Per counter of `part`, its amounts over the dimensions `keep` accepts, summed per period of `q`."""
    period, index = _periods_of(q), {p: i for i, p in enumerate(q.periods())}
    sums: dict[str, np.ndarray] = {}
    for day, d in report_reads.read_dense(part, *_days(q)):
        rows = [i for i, dim in enumerate(d.dims) if keep(dim)]
        hours, starts = report_reads.hour_columns(day, q.start, q.end)
        if not rows or not hours:
            continue
        values = d.values[rows].sum(axis=0)[:, hours]  # counters x hours
        slots = [index[period(t)] for t in starts]
        for i, name in enumerate(d.names):
            np.add.at(sums.setdefault(name, np.zeros(len(index))), slots, values[i])
    return sums


def overview(q: Query) -> dict[str, Any]:
    sums = _sums_by_period(q, "conv", lambda dim: _in(q, dim)[0])
    series = [{"period": p, **figures({n: float(v[i]) for n, v in sums.items()})} for i, p in enumerate(q.periods())]
    return {**q.head(), "totals": figures({n: float(v.sum()) for n, v in sums.items()}), "series": series}


def _agents_in(q: Query) -> dict[str, str]:
    """Agent id -> display name, within the query's groups and agent filter."""
    found = {}
    for a in agent_summaries():
        if q.groups is not None and not q.groups & set(a.groups):
            continue
        if q.agent is not None and a.id != q.agent:
            continue
        found[a.id] = a.nickname or a.id
    return found


def _presence(q: Query, agents: set[str], now: float) -> dict[str, list[tuple[str, float, float]]]:
    """Each agent's presence intervals clipped to the range (a running one ends now)."""
    out: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for agent, state, s, e in store.read_presence(agents if len(agents) <= 1 else None, q.start, q.end):
        if agent not in agents:
            continue
        s, e = max(s, q.start), min(e if e is not None else now, q.end, now)
        if e > s:
            out[agent].append((state, s, e))
    return out


def agents_report(q: Query, now: float) -> dict[str, Any]:
    names = _agents_in(q)
    totals = report_reads.read_agent_totals(q.start, q.end, names)
    running = report_reads.read_agents_now()
    rows = []
    for agent, name in sorted(names.items(), key=lambda kv: (kv[1].lower(), kv[0])):
        c = dict(totals.get(agent, {}))
        clock = running.get(agent)
        if clock is not None and clock.state is not None:  # the seconds since the clock last moved
            s, e = max(clock.since, q.start), min(now, q.end)
            if e > s:
                c[f"{clock.state}_s"] = c.get(f"{clock.state}_s", 0) + (e - s)
                if clock.state == "online" and clock.held:
                    c["busy_s"] = c.get("busy_s", 0) + (e - s)
        online, busy = c.get("online_s", 0), c.get("busy_s", 0)
        rows.append({"agent": agent, "name": name, "online_s": round(online, 3),
                     "away_s": round(c.get("away_s", 0), 3), "offline_s": round(c.get("offline_s", 0), 3),
                     "busy_s": round(busy, 3), "occupancy": _ratio(busy, online),
                     "conversations": int(c.get("conversations", 0)), "messages": int(c.get("messages", 0)),
                     "words": int(c.get("words", 0)), "rated": int(c.get("rated", 0)),
                     "rating_avg": _ratio(c.get("score_sum", 0), c.get("rated", 0)),
                     "chat_n": int(c.get("chat_n", 0)), "chat_avg_s": _ratio(c.get("chat_s", 0), c.get("chat_n", 0))})
    return {**q.head(), "agents": rows}


def timeline(q: Query, agent: str, now: float) -> dict[str, Any]:
    intervals = sorted(_presence(q, {agent}, now).get(agent, []), key=lambda i: i[1])
    totals = {f"{st}_s": round(sum(e - s for state, s, e in intervals if state == st), 3)
              for st in ("online", "away", "offline")}
    return {**q.head(), "agent": agent, "totals": totals,
            "intervals": [{"state": st, "start": s, "end": e} for st, s, e in intervals]}


def channels_report(q: Query) -> dict[str, Any]:
    opened: dict[str, float] = defaultdict(float)
    for day, d in report_reads.read_dense("conv", *_days(q)):
        hours, _ = report_reads.hour_columns(day, q.start, q.end)
        if "opened" not in d.names or not hours:
            continue
        column = d.names.index("opened")
        for i, dim in enumerate(d.dims):
            ok, channel = _in(q, dim)
            if ok:
                opened[channel] += float(d.values[i, column, hours].sum())
    day_of_hour = _periods_of(Query(q.day_from, q.day_to, q.tz, "day", q.groups, q.agent, q.channel, q.csv))
    visitors: dict[str, set[str]] = defaultdict(set)
    visits: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for day, present in report_reads.read_present(*_days(q)):
        hours, starts = report_reads.hour_columns(day, q.start, q.end)
        for dim, by_hour in present.present.items():
            ok, channel = _in(q, dim)
            if not ok:
                continue
            for h, t in zip(hours, starts):
                if by_hour[h]:
                    visitors[channel] |= by_hour[h]
                    visits[channel][day_of_hour(t)] |= by_hour[h]
    rows = [{"channel": ch, "visits": sum(len(v) for v in visits[ch].values()) if ch in visits else 0,
             "visitors": len(visitors.get(ch, ())), "conversations": int(opened.get(ch, 0))}
            for ch in sorted(set(opened) | set(visitors))]
    return {**q.head(), "channels": rows}


def bot_report(q: Query) -> dict[str, Any]:
    def keep(channel: str) -> bool:
        return q.channel is None or channel == q.channel

    def counts(values: dict[str, float]) -> dict[str, int]:
        return {figure: int(values.get(decision, 0)) for decision, figure in _BOT_COUNTERS.items()}

    overall = _sums_by_period(q, "bot", lambda dim: dim.endswith("|") and keep(dim[:-1]))
    documents: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for day, d in report_reads.read_dense("bot", *_days(q)):
        hours, _ = report_reads.hour_columns(day, q.start, q.end)
        for i, dim in enumerate(d.dims):
            channel, _, source = dim.partition("|")
            if source and keep(channel) and hours:
                for j, decision in enumerate(d.names):
                    documents[source][decision] += float(d.values[i, j, hours].sum())
    series = [{"period": p, **counts({n: float(v[i]) for n, v in overall.items()})}
              for i, p in enumerate(q.periods())]
    return {**q.head(), "totals": counts({n: float(v.sum()) for n, v in overall.items()}), "series": series,
            "documents": [{"document": doc, **counts(c)} for doc, c in sorted(documents.items())]}


# --- the routes --------------------------------------------------------------------------------------------


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...], name: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _name(kind: str, q: Query) -> str:
    kind = re.sub(r"[^A-Za-z0-9_.-]", "_", kind)
    return f"switchboard-{kind}-{q.day_from.isoformat()}-{q.day_to.isoformat()}"


async def _answer(request: Request, desk_wide: bool, admin_only: bool = False) -> tuple[Query, Caller]:
    who = await caller(request)
    q = parse_query(request.query_params)
    if admin_only and not who.scope.is_admin:
        raise forbidden("only an admin sees the bot's report")
    return _scoped(q, who, desk_wide=desk_wide), who


async def _overview(request: Request) -> Response:
    q, _ = await _answer(request, desk_wide=True)
    if q.agent is not None:
        raise bad("the overview has no agent filter: use GET /api/reports/agents?agent=")
    body = await run_in_threadpool(overview, q)
    if q.csv:
        return _csv([*body["series"], {"period": "total", **body["totals"]}], ("period", *FIGURES), _name("overview", q))
    return ORJSONResponse(body)


async def _agents(request: Request) -> Response:
    q, _ = await _answer(request, desk_wide=False)
    body = await run_in_threadpool(agents_report, q, time.time())
    if q.csv:
        return _csv(body["agents"], _AGENT_FIELDS, _name("agents", q))
    return ORJSONResponse(body)


async def _timeline(request: Request) -> Response:
    scope = (await caller(request)).scope
    q = parse_query(request.query_params)
    agent = str(request.path_params["agent"])
    q = Query(q.day_from, q.day_to, q.tz, q.by, None, agent, q.channel, q.csv)
    if not scope.is_admin and agent != scope.user_id:
        if not (scope.is_supervisor and scope.supervises):
            raise forbidden("an agent sees only its own timeline")
        mine = Query(q.day_from, q.day_to, q.tz, q.by, frozenset(scope.supervises), agent, None, False)
        if agent not in await run_in_threadpool(_agents_in, mine):
            raise forbidden("this agent is in none of the groups you supervise")
    body = await run_in_threadpool(timeline, q, agent, time.time())
    if q.csv:
        return _csv(body["intervals"], ("state", "start", "end"), _name(f"timeline-{agent}", q))
    return ORJSONResponse(body)


async def _channels(request: Request) -> Response:
    q, _ = await _answer(request, desk_wide=True)
    body = await run_in_threadpool(channels_report, q)
    if q.csv:
        return _csv(body["channels"], ("channel", "visits", "visitors", "conversations"), _name("channels", q))
    return ORJSONResponse(body)


async def _bot(request: Request) -> Response:
    q, _ = await _answer(request, desk_wide=True, admin_only=True)
    body = await run_in_threadpool(bot_report, q)
    if q.csv:
        rows = [*body["series"], *({"period": f"document:{d['document']}", **d} for d in body["documents"])]
        return _csv(rows, ("period", *_BOT_FIGURES), _name("bot", q))
    return ORJSONResponse(body)


def report_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/reports/overview", _overview),
        ("GET", "/api/reports/agents", _agents),
        ("GET", "/api/reports/agents/{agent}/timeline", _timeline),
        ("GET", "/api/reports/channels", _channels),
        ("GET", "/api/reports/bot", _bot),
    ])


# --- the description ---------------------------------------------------------------------------------------

_NUM = {"type": "number", "nullable": True}
_INT = {"type": "integer", "minimum": 0}


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}


_HEAD = {"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
         "tz": {"type": "string"}, "by": {"type": "string", "enum": ["day", "hour"]},
         "group": {"type": "array", "items": {"type": "string"}, "nullable": True},
         "agent": {"type": "string", "nullable": True}, "channel": {"type": "string", "nullable": True}}
_FIGURE_PROPS = {name: (_INT if name in _COUNTERS or name.startswith("csat_") and name[-1].isdigit()
                        or name == "csat_responses" else _NUM) for name in FIGURES}
_BOT_PROPS = {name: _INT for name in _BOT_FIGURES}
_SCHEMAS = {
    "ReportFigures": _object(_FIGURE_PROPS),
    "ReportOverview": _object({**_HEAD, "totals": ref("ReportFigures"), "series": {"type": "array", "items": _object(
        {"period": {"type": "string"}, **_FIGURE_PROPS})}}),
    "ReportAgents": _object({**_HEAD, "agents": {"type": "array", "items": _object({
        "agent": {"type": "string"}, "name": {"type": "string"}, "online_s": {"type": "number"},
        "away_s": {"type": "number"}, "offline_s": {"type": "number"}, "busy_s": {"type": "number"},
        "occupancy": _NUM, "conversations": _INT, "messages": _INT, "words": _INT, "rated": _INT,
        "rating_avg": _NUM, "chat_n": _INT, "chat_avg_s": _NUM})}}),
    "ReportTimeline": _object({**_HEAD, "totals": _object({"online_s": {"type": "number"},
                                                             "away_s": {"type": "number"},
                                                             "offline_s": {"type": "number"}}),
                               "intervals": {"type": "array", "items": _object({
                                   "state": {"type": "string", "enum": ["online", "away", "offline"]},
                                   "start": {"type": "number"}, "end": {"type": "number"}})}}),
    "ReportChannels": _object({**_HEAD, "channels": {"type": "array", "items": _object({
        "channel": {"type": "string"}, "visits": _INT, "visitors": _INT, "conversations": _INT})}}),
    "ReportBot": _object({**_HEAD, "totals": _object(_BOT_PROPS), "series": {"type": "array", "items": _object(
        {"period": {"type": "string"}, **_BOT_PROPS})}, "documents": {"type": "array", "items": _object(
            {"document": {"type": "string"}, **_BOT_PROPS})}}),
}
_PARAMS = [
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": "first day (YYYY-MM-DD), in tz"},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": f"last day, included: at most {MAX_DAYS} days, {MAX_HOUR_DAYS} by hour"},
    {"name": "tz", "in": "query", "required": False, "schema": {"type": "string", "default": "UTC"}},
    {"name": "by", "in": "query", "required": False, "schema": {"type": "string", "enum": ["day", "hour"]}},
    {"name": "group", "in": "query", "required": False, "schema": {"type": "string", "pattern": _ID_PATTERN}},
    {"name": "agent", "in": "query", "required": False, "schema": {"type": "string", "pattern": _ID_PATTERN}},
    {"name": "channel", "in": "query", "required": False, "schema": {"type": "string", "pattern": _ID_PATTERN}},
    {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "csv"]}},
]


def _get(summary: str, schema: str, path_agent: bool = False) -> dict[str, Any]:
    params: list[dict[str, Any]] = list(_PARAMS)
    if path_agent:
        params.insert(0, {"name": "agent", "in": "path", "required": True, "schema": {"type": "string"}})
        params = [p for p in params if not (p["name"] == "agent" and p["in"] == "query")]
    ok = {"description": "the report (CSV with format=csv, as an attachment)", "content": {
        "application/json": {"schema": ref(schema)}, "text/csv": {"schema": {"type": "string"}}}}
    return {"get": {"summary": summary, "parameters": params, "security": [{"bearer": []}],
                    "responses": {"200": ok, **errors(400, 401, 403)}}}


REPORTS_API = ApiPart(paths={
    "/api/reports/overview": _get("Conversation figures (docs/reports.md), totals and by period", "ReportOverview"),
    "/api/reports/agents": _get("Per-agent figures", "ReportAgents"),
    "/api/reports/agents/{agent}/timeline": _get("An agent's presence intervals", "ReportTimeline", path_agent=True),
    "/api/reports/channels": _get("Per-channel visits, visitors and conversations", "ReportChannels"),
    "/api/reports/bot": _get("The bot's decisions, in all and by knowledge document", "ReportBot"),
}, schemas=_SCHEMAS)
