"""REST for service hours: the desk's default and each skill group's (docs/hours.md), and the coming week drawn.

An admin changes hours; an admin or a group's supervisor reads them. A change is stored, then every queue whose
schedule it changes hears its whole configuration again (``ConfigureGroup``, as a group change does): the
group's own for a group, every group that uses the default for the default. The week (``GET
/api/groups/{group}/hours``) is computed by the same pure function the engine asks
(:mod:`switchboard.actors.schedule`), so the picture on the admin page is what visitors will meet.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.errors import INVALID_SCHEDULE
from switchboard.actors.messages import ConfigureGroup
from switchboard.actors.schedule import MAX_RULES, Schedule, ScheduleError, is_open, next_opening, parse_schedule, \
    week_windows
from switchboard.store.documents import SkillGroup
from switchboard.store.groups import get_group, list_groups
from switchboard.store.hours import AT_CLOSING, DEFAULT_ID, MAX_REPLY, USES, Hours, effective, get_hours, get_many, \
    put_hours
from switchboard.edges.rest.toolkit import group_param, ApiError, ApiPart, Body, ORJSONResponse, admin, bad, errors, forbidden, \
    json_content, make_routes, not_found, operation, read_json, ref, services_of, steerer, string_field

__all__ = ["hours_routes", "HOURS_API", "queue_configuration"]

_FIELDS = ("use", "schedule", "at_closing", "off_hours_reply")
_WEEK_DAYS = 7


def queue_configuration(group: SkillGroup, hours: Hours, default: Hours) -> ConfigureGroup:
    """The whole configuration a group's queue keeps: the group's fields and its effective hours."""
    schedule, at_closing, _ = effective(hours, default)
    return ConfigureGroup(policy=group.policy, max_queue=group.max_queue, last_agent_wait_s=group.last_agent_wait_s,
                          schedule=schedule.to_dict() if schedule is not None else None, at_closing=at_closing)


def _hours_input(data: Body, owner: str) -> tuple[str, Schedule | None, str, str]:
    use = data.get("use", "own" if data.get("schedule") is not None else ("always" if owner == DEFAULT_ID else "default"))
    allowed = [u for u in USES if not (owner == DEFAULT_ID and u == "default")]
    if use not in allowed:
        raise bad(f"use must be one of {', '.join(allowed)}")
    schedule = None
    if use == "own":
        if data.get("schedule") is None:
            raise bad("use own needs a schedule (docs/hours.md)")
        try:
            schedule = parse_schedule(data["schedule"])
        except ScheduleError as exc:
            raise ApiError(400, INVALID_SCHEDULE, exc.detail) from None
    elif data.get("schedule") is not None:
        raise bad(f"a schedule goes with use own, not {use}")
    at_closing = data.get("at_closing", "serve")
    if at_closing not in AT_CLOSING:
        raise bad(f"at_closing must be one of {', '.join(AT_CLOSING)}")
    reply = string_field(data, "off_hours_reply", max_len=MAX_REPLY).strip() if "off_hours_reply" in data else ""
    return str(use), schedule, str(at_closing), reply


def _week(schedule: Schedule | None, start: date | None) -> dict[str, object]:
    now = time.time()
    if schedule is None:
        return {"always_open": True, "open_now": True, "next_opening": now, "timezone": None, "days": []}
    first = start or datetime.fromtimestamp(now, ZoneInfo(schedule.timezone)).date()
    return {"always_open": False, "open_now": is_open(schedule, now), "next_opening": next_opening(schedule, now),
            "timezone": schedule.timezone,
            "days": [d.to_dict() for d in week_windows(schedule, first, _WEEK_DAYS)]}


def _from_param(request: Request) -> date | None:
    raw = request.query_params.get("from")
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad(f"from must be a date YYYY-MM-DD, got {raw[:40]!r}") from None


async def _read_default(request: Request) -> Response:
    await steerer(request)
    hours = await run_in_threadpool(get_hours, DEFAULT_ID)
    return ORJSONResponse({**hours.to_json(), "week": _week(hours.schedule, _from_param(request))})


async def _put_default(request: Request) -> Response:
    await admin(request)
    use, schedule, at_closing, reply = _hours_input(await read_json(request, _FIELDS), DEFAULT_ID)
    hours = await run_in_threadpool(put_hours, DEFAULT_ID, use, schedule, at_closing, reply)  # type: ignore[arg-type]

    def following() -> list[tuple[SkillGroup, Hours]]:
        groups = list_groups()
        owned = get_many(str(g.id) for g in groups)
        return [(g, owned[str(g.id)]) for g in groups if owned[str(g.id)].use == "default"]

    engine = services_of(request).engine
    for group, own in await run_in_threadpool(following):
        engine.send(Address.queue(str(group.id)), queue_configuration(group, own, hours))
    return ORJSONResponse({**hours.to_json(), "week": _week(hours.schedule, None)})


async def _read_group(request: Request) -> Response:
    scope = (await steerer(request)).scope
    group_id = group_param(request)
    if not scope.manages(group_id):
        raise forbidden(f"only an admin or the supervisor of {group_id} may read its hours")

    def read() -> tuple[SkillGroup | None, dict[str, Hours]]:
        return get_group(group_id), get_many([group_id, DEFAULT_ID])

    group, hours = await run_in_threadpool(read)
    if group is None:
        raise not_found(f"no group {group_id}")
    schedule, at_closing, reply = effective(hours[group_id], hours[DEFAULT_ID])
    return ORJSONResponse({**hours[group_id].to_json(), "effective": {"at_closing": at_closing, "off_hours_reply": reply},
                           "week": _week(schedule, _from_param(request))})


async def _put_group(request: Request) -> Response:
    await admin(request)
    group_id = group_param(request)
    use, schedule, at_closing, reply = _hours_input(await read_json(request, _FIELDS), group_id)

    def write() -> tuple[SkillGroup, Hours, Hours] | None:
        group = get_group(group_id)
        if group is None:
            return None
        return group, put_hours(group_id, use, schedule, at_closing, reply), get_hours(DEFAULT_ID)  # type: ignore[arg-type]

    written = await run_in_threadpool(write)
    if written is None:
        raise not_found(f"no group {group_id}")
    group, hours, default = written
    services_of(request).engine.send(Address.queue(group_id), queue_configuration(group, hours, default))
    eff_schedule, eff_closing, eff_reply = effective(hours, default)
    return ORJSONResponse({**hours.to_json(), "effective": {"at_closing": eff_closing, "off_hours_reply": eff_reply},
                           "week": _week(eff_schedule, None)})


def hours_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/hours", _read_default),
        ("PUT", "/api/hours", _put_default),
        ("GET", "/api/groups/{group}/hours", _read_group),
        ("PUT", "/api/groups/{group}/hours", _put_group),
    ])


_HHMM = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"}
_DATE = {"type": "string", "format": "date"}
_WINDOW = {"type": "object", "properties": {
    "start": {"type": "string"}, "end": {"type": "string"}, "crosses_midnight": {"type": "boolean"},
    "start_minute": {"type": "integer"}, "end_minute": {"type": "integer"}}}

HOURS_API = ApiPart(
    paths={
        "/api/hours": {
            "get": operation("The desk's default service hours and its coming week (?from=YYYY-MM-DD); admin or "
                             "supervisor", {"200": json_content(ref("HoursWithWeek"), "the default hours"),
                                            **errors(400, 401, 403)}),
            "put": operation("Replace the default service hours (admin); every group that uses them follows at once",
                             {"200": json_content(ref("HoursWithWeek"), "as stored now"),
                              **errors(400, 401, 403, 413)}, body="HoursChange"),
        },
        "/api/groups/{group}/hours": {
            "get": operation("A group's service hours, what it uses in effect, and its coming week",
                             {"200": json_content(ref("HoursWithWeek"), "the group's hours"),
                              **errors(400, 401, 403, 404)}, params=("group",)),
            "put": operation("Replace a group's service hours (admin); its queue follows at once",
                             {"200": json_content(ref("HoursWithWeek"), "as stored now"),
                              **errors(400, 401, 403, 404, 413)}, body="HoursChange", params=("group",)),
        },
    },
    schemas={
        "Schedule": {"type": "object", "required": ["timezone"], "properties": {
            "timezone": {"type": "string"},
            "rules": {"type": "array", "maxItems": MAX_RULES, "items": {"type": "object", "properties": {
                "days": {"type": "array", "items": {"type": "string",
                                                    "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                "date": _DATE, "closed": {"type": "boolean"}, "start": _HHMM, "end": _HHMM}}},
            "holidays_country": {"type": "string", "nullable": True},
            "holidays_subdivision": {"type": "string", "nullable": True}}},
        "HoursChange": {"type": "object", "additionalProperties": False, "properties": {
            "use": {"type": "string", "enum": list(USES)},
            "schedule": {**ref("Schedule"), "nullable": True},
            "at_closing": {"type": "string", "enum": list(AT_CLOSING)},
            "off_hours_reply": {"type": "string", "maxLength": MAX_REPLY}}},
        "HoursWithWeek": {"type": "object", "properties": {
            "use": {"type": "string", "enum": list(USES)},
            "schedule": {"type": "object", "nullable": True},
            "at_closing": {"type": "string", "enum": list(AT_CLOSING)},
            "off_hours_reply": {"type": "string"},
            "effective": {"type": "object", "properties": {"at_closing": {"type": "string"},
                                                           "off_hours_reply": {"type": "string"}}},
            "week": {"type": "object", "properties": {
                "always_open": {"type": "boolean"}, "open_now": {"type": "boolean"},
                "next_opening": {"type": "number", "nullable": True},
                "timezone": {"type": "string", "nullable": True},
                "days": {"type": "array", "items": {"type": "object", "properties": {
                    "date": {"type": "string"}, "weekday": {"type": "string"}, "source": {"type": "string"},
                    "holiday": {"type": "string", "nullable": True},
                    "windows": {"type": "array", "items": _WINDOW}}}}}}}},
    },
    error_codes=(INVALID_SCHEDULE,),
)
