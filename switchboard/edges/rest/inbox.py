"""REST for leave-a-message: what the widget shows before anyone asks, the form it sends, and the agents' inbox.

The widget's side needs no login (docs/leave-a-message.md):

- ``GET /api/widget/status?group=<id>``: ``{status, next_opening, off_hours_reply}`` of the group (the default
  group without one): ``open``, ``open_no_agents`` or ``closed``, as the group's queue reports it. Any origin
  may read it; each process keeps an answer per group for :data:`STATUS_TTL_S` so a busy page does not make the
  server work per page view. An unknown group is a plain 404.
- ``POST /api/widget/messages`` with the visitor's token as the bearer (the one the visitor socket's welcome
  gave): ``{email, text, name?, group?, reason?}`` becomes an offline conversation (channel and phase
  ``message``) written through the store writer, and an entry in its group's inbox
  (:mod:`switchboard.store.inbox`). Limited per visitor and per client address (:data:`VISITOR_LIMIT`,
  :data:`ADDRESS_LIMIT`): past either, 429 ``rate_limited`` with ``Retry-After``.
- ``GET /api/widget/messages`` (same bearer): the visitor's left messages and their replies, newest first,
  which the widget shows when the visitor comes back.

The agents' side (any logged-in user; an admin sees every group, anyone else the groups they belong to or
supervise): ``GET /api/inbox`` (the count of open messages and a list), ``GET /api/inbox/{conversation}``,
``POST /api/inbox/{conversation}/assign`` (to the caller) and ``POST /api/inbox/{conversation}/reply``
``{text}``: stored as the agent's message of the conversation, mailed to the visitor's address, the entry
marked answered.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.queue import group_status
from switchboard.actors.schedule import next_opening
from switchboard.mail.templates import inbox_reply_mail
from switchboard.settings import GROUP_ID
from switchboard.store import inbox
from switchboard.store.documents import to_epoch
from switchboard.store.groups import get_group
from switchboard.store.hours import DEFAULT_ID, effective, get_many
from switchboard.store.site import get_site
from switchboard.store.users import agent_names
from switchboard.store.visitors import get_visitor
from switchboard.store.writer import StoreWriter
from switchboard.edges.auth import AuthError, decode_visitor_token
from switchboard.edges.limits import client_address
from switchboard.edges.rest.toolkit import ApiError, ApiPart, Caller, ORJSONResponse, bad, caller, email_field, \
    errors, json_content, make_routes, not_found, operation, read_json, ref, services_of, string_field, \
    TOKEN_MISSING

__all__ = ["inbox_routes", "INBOX_API", "MAX_MESSAGE", "MAX_REPLY", "VISITOR_LIMIT", "ADDRESS_LIMIT", "STATUS_TTL_S",
           "RATE_LIMITED"]

MAX_MESSAGE = 4000  # characters of a left message
MAX_REPLY = 8000  # characters of an agent's reply
MAX_NAME = 100
VISITOR_LIMIT = (5, 3600)  # left messages per visitor per hour
ADDRESS_LIMIT = (20, 3600)  # left messages per client address per hour
STATUS_TTL_S = 2.0
MAX_CACHED = 1000  # groups whose status a process keeps (more are read each time)
RATE_LIMITED = "rate_limited"
REASONS = ("closed", "queue_full", "left_queue", "no_agents", "offered")
_CONVERSATION = re.compile(r"^c-[A-Za-z0-9_-]{1,64}$")
_OPEN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
_PREFLIGHT = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST",
              "Access-Control-Allow-Headers": "Authorization, Content-Type", "Access-Control-Max-Age": "600"}


# --- the widget's status ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Cached:
    until: float
    answer: dict[str, Any] | None  # None: no such group


def _cache(request: Request) -> dict[str, _Cached]:
    state = request.app.state
    found: dict[str, _Cached] | None = getattr(state, "widget_status_cache", None)
    if found is None:
        found = {}
        state.widget_status_cache = found
    return found


def _default_group(request: Request) -> str:
    return str(getattr(services_of(request).settings, "default_group", "support"))


def _group_param(request: Request) -> str:
    group = request.query_params.get("group") or _default_group(request)
    if not GROUP_ID.fullmatch(group):
        raise bad("group must be a skill group's id: lower-case letters, digits, '_' or '-'")
    return group


async def _compute_status(request: Request, group: str) -> dict[str, Any] | None:
    def read() -> tuple[bool, Any]:
        if get_group(group) is None:
            return False, None
        hours = get_many([group, DEFAULT_ID])
        return True, effective(hours[group], hours[DEFAULT_ID])

    exists, found = await run_in_threadpool(read)
    if not exists:
        return None
    schedule, _, reply = found
    snapshot = await asyncio.to_thread(services_of(request).engine.inspect, Address.queue(group))
    now = time.time()
    status = (snapshot or {}).get("status") or group_status(schedule, now, 0)
    opening = (snapshot or {}).get("next_opening") if snapshot else \
        (None if schedule is None else next_opening(schedule, now))
    return {"group": group, "status": status, "next_opening": opening if status == "closed" else None,
            "off_hours_reply": reply}


async def _widget_status(request: Request) -> Response:
    group = _group_param(request)
    cache = _cache(request)
    now = time.monotonic()
    hit = cache.get(group)
    if hit is None or hit.until <= now:
        hit = _Cached(now + STATUS_TTL_S, await _compute_status(request, group))
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[group] = hit
    if hit.answer is None:
        raise not_found("no such group")
    return ORJSONResponse(hit.answer, headers=_OPEN)


# --- the visitor's messages ---------------------------------------------------------------------------


def _visitor_of(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(TOKEN_MISSING, "send 'Authorization: Bearer <visitor token>' (the widget's welcome gives it)")
    return decode_visitor_token(token.strip(), secret=services_of(request).secret)


async def _limit(request: Request, key: str, limit: tuple[int, int], what: str) -> None:
    """Count one more under `key`; ApiError 429 when that is past `limit` (count, window seconds)."""
    redis = services_of(request).redis
    count, window = limit
    n = int(await redis.incr(key))
    if n == 1:
        await redis.expire(key, window)
    if n > count:
        ttl = int(await redis.ttl(key))
        raise _RateLimited(max(ttl, 1), f"{what} may leave {count} messages an hour; try again later")


class _RateLimited(ApiError):
    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(429, RATE_LIMITED, message)
        self.retry_after = retry_after


def _writer(request: Request) -> StoreWriter:
    writer: StoreWriter | None = getattr(request.app.state.services, "writer", None)
    if writer is None:
        raise ApiError(503, "unavailable", "this server does not store conversations")
    return writer


def _state(*, conversation: str, visitor: str, group: str, created_at: float,
           agent: str | None = None) -> dict[str, Any]:
    """The offline conversation's whole state (the writer's report keeper counts whole states)."""
    return {"conversation": conversation, "visitor": visitor, "channel": inbox.CHANNEL, "phase": inbox.PHASE,
            "group": group, "priority": 0, "tier": 1, "agent": agent, "participants": [agent] if agent else [],
            "transfers": [], "created_at": created_at, "queued_at": None, "assigned_at": None,
            "first_agent_reply_at": None, "closed_at": None, "close_reason": None}


async def _leave(request: Request) -> Response:
    try:
        return await _leave_message(request)
    except _RateLimited as exc:
        return ORJSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=429,
                              headers={**_OPEN, "Retry-After": str(exc.retry_after)})
    except (ApiError, AuthError) as exc:  # answered here so that the widget's page may read why
        return ORJSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status,
                              headers={**_OPEN, "WWW-Authenticate": "Bearer"} if exc.status == 401 else _OPEN)


async def _leave_message(request: Request) -> Response:
    visitor = _visitor_of(request)
    data = await read_json(request, ("email", "text", "name", "group", "reason"), ("email", "text"))
    email = email_field(data)
    text = string_field(data, "text", max_len=MAX_MESSAGE).strip()
    if not text:
        raise bad("text must not be blank")
    name = string_field(data, "name", max_len=MAX_NAME).strip() if "name" in data else ""
    group = data.get("group") or _default_group(request)
    if not isinstance(group, str) or not GROUP_ID.fullmatch(group):
        raise bad("group must be a skill group's id")
    reason = data.get("reason") or "offered"
    if reason not in REASONS:
        raise bad(f"reason must be one of {', '.join(REASONS)}")
    if await run_in_threadpool(get_group, group) is None:
        raise not_found("no such group")
    await _limit(request, f"inbox:limit:v:{visitor}", VISITOR_LIMIT, "a visitor")
    await _limit(request, f"inbox:limit:a:{client_address(request)}", ADDRESS_LIMIT, "one network address")

    stored = await run_in_threadpool(get_visitor, visitor)
    name = name or (stored.name if stored is not None else "") or ""
    writer = _writer(request)
    now = time.time()
    conversation = f"c-{uuid.uuid4().hex[:16]}"
    await writer.save_conversation(_state(conversation=conversation, visitor=visitor, group=group,
                                          created_at=now))
    await writer.add_message({"conversation": conversation, "seq": 1, "sender_role": "visitor", "sender_id": visitor,
                              "kind": "text", "text": text, "client_id": None, "at": now})
    if stored is not None and not stored.email:
        await writer.save_visitor(visitor, email=email)
    entry = await run_in_threadpool(inbox.add_entry, conversation, visitor, group, email, name, text, str(reason), now)
    return ORJSONResponse({"conversation": conversation, "group": group, "created_at": to_epoch(entry.created_at)},
                          status_code=201, headers=_OPEN)


async def _mine(request: Request) -> Response:
    try:
        visitor = _visitor_of(request)
    except AuthError as exc:
        return ORJSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=401, headers=_OPEN)

    def read() -> list[dict[str, Any]]:
        entries = inbox.visitor_entries(visitor)
        messages = inbox.messages_of(e.id for e in entries)
        names = agent_names({m["sender"] for ms in messages.values() for m in ms if m["role"] == "agent"})
        out = []
        for e in entries:
            ms = messages.get(e.id, [])
            first = next((m for m in ms if m["role"] == "visitor"), None)
            out.append({"conversation": e.id, "group": e.group, "created_at": to_epoch(e.created_at),
                        "text": first["text"] if first else e.preview, "state": e.state,
                        "replies": [{"seq": m["seq"], "text": m["text"], "at": m["at"],
                                     "name": names.get(m["sender"], "")} for m in ms if m["role"] == "agent"]})
        return out

    return ORJSONResponse({"messages": await run_in_threadpool(read)}, headers=_OPEN)


async def _preflight(request: Request) -> Response:
    return Response(status_code=204, headers=_PREFLIGHT)


# --- the agents' inbox --------------------------------------------------------------------------------


def _groups(who: Caller) -> list[str] | None:
    """The groups whose inbox `who` sees: None for every group (an admin)."""
    if who.scope.is_admin:
        return None
    return sorted(set(who.user.groups or ()) | set(who.scope.supervises))


def _conversation_param(request: Request) -> str:
    conversation = str(request.path_params["conversation"])
    if not _CONVERSATION.fullmatch(conversation):
        raise not_found("no such message")
    return conversation


async def _entry_for(request: Request, who: Caller) -> inbox.InboxEntry:
    entry = await run_in_threadpool(inbox.get_entry, _conversation_param(request))
    groups = _groups(who)
    if entry is None or (groups is not None and entry.group not in groups):
        raise not_found("no such message in your inbox")
    return entry


def _entries_json(entries: list[inbox.InboxEntry]) -> list[dict[str, Any]]:
    ids = {e.assigned_to for e in entries if e.assigned_to} | {e.replied_by for e in entries if e.replied_by}
    names = agent_names(ids) if ids else {}
    return [{**inbox.entry_json(e), "assigned_name": names.get(e.assigned_to or "", ""),
             "replied_name": names.get(e.replied_by or "", "")} for e in entries]


async def _list(request: Request) -> Response:
    who = await caller(request)
    state = request.query_params.get("state", "open")
    if state not in ("open", "answered", "all"):
        raise bad("state must be open, answered or all")
    groups = _groups(who)

    def read() -> dict[str, Any]:
        entries = inbox.list_entries(groups, None if state == "all" else state)
        return {"count": inbox.count_open(groups), "entries": _entries_json(entries)}

    return ORJSONResponse(await run_in_threadpool(read))


def _detail(entry: inbox.InboxEntry) -> dict[str, Any]:
    messages = inbox.messages_of([entry.id])[entry.id]
    names = agent_names({m["sender"] for m in messages if m["role"] == "agent"})
    for m in messages:
        m["name"] = names.get(m["sender"], "") if m["role"] == "agent" else entry.name
    return {**_entries_json([entry])[0], "messages": messages}


async def _read(request: Request) -> Response:
    entry = await _entry_for(request, await caller(request))
    return ORJSONResponse(await run_in_threadpool(_detail, entry))


async def _assign(request: Request) -> Response:
    who = await caller(request)
    entry = await _entry_for(request, who)
    entry = await run_in_threadpool(inbox.assign, entry.id, who.scope.user_id, time.time())
    return ORJSONResponse(await run_in_threadpool(_detail, entry))


async def _reply(request: Request) -> Response:
    who = await caller(request)
    data = await read_json(request, ("text",), ("text",))
    text = string_field(data, "text", max_len=MAX_REPLY).strip()
    if not text:
        raise bad("text must not be blank")
    entry = await _entry_for(request, who)
    me = who.scope.user_id
    if entry.assigned_to not in (None, me) and not who.scope.manages(entry.group):
        raise ApiError(409, "conflict", "another agent has taken this message; only they (or a supervisor) reply")
    writer = _writer(request)
    now = time.time()
    seq = await run_in_threadpool(inbox.next_seq, entry.id)
    await writer.add_message({"conversation": entry.id, "seq": seq, "sender_role": "agent", "sender_id": me,
                              "kind": "text", "text": text, "client_id": f"inbox-{uuid.uuid4().hex[:12]}", "at": now})
    created = to_epoch(entry.created_at) or now
    await writer.save_conversation(_state(conversation=entry.id, visitor=entry.visitor, group=entry.group,
                                          created_at=created, agent=me))
    entry = await run_in_threadpool(inbox.mark_replied, entry.id, me, now)
    await _mail(request, who, entry, text)
    return ORJSONResponse(await run_in_threadpool(_detail, entry))


async def _mail(request: Request, who: Caller, entry: inbox.InboxEntry, reply: str) -> None:
    sender = getattr(request.app.state.services, "mail", None)
    if sender is None:
        return
    original = inbox.messages_of([entry.id])[entry.id]
    first = next((m["text"] for m in original if m["role"] == "visitor"), entry.preview)
    site = await run_in_threadpool(get_site)
    mail_settings = getattr(request.app.state.services, "mail_settings", None)
    team = site.team_name or (mail_settings.team_name if mail_settings is not None else "") or "Switchboard"
    agent = who.user.nickname or team
    try:
        sender.submit(inbox_reply_mail(entry.email, entry.name, agent, team, reply, first))
    except ValueError as exc:  # an address the mail component refuses: the reply is stored all the same
        raise bad(f"the reply is stored but cannot be mailed: {exc}") from None


def inbox_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/widget/status", _widget_status),
        ("GET", "/api/widget/messages", _mine),
        ("POST", "/api/widget/messages", _leave),
        ("OPTIONS", "/api/widget/messages", _preflight),
        ("GET", "/api/inbox", _list),
        ("GET", "/api/inbox/{conversation}", _read),
        ("POST", "/api/inbox/{conversation}/assign", _assign),
        ("POST", "/api/inbox/{conversation}/reply", _reply),
    ])


_STR = {"type": "string"}
_NUM_OR_NULL = {"type": "number", "nullable": True}
_ENTRY = {"type": "object", "properties": {
    "conversation": _STR, "visitor": _STR, "group": _STR, "email": _STR, "name": _STR, "preview": _STR,
    "reason": _STR, "state": {"type": "string", "enum": ["open", "answered"]},
    "assigned_to": {"type": "string", "nullable": True}, "assigned_name": _STR, "assigned_at": _NUM_OR_NULL,
    "replied_by": {"type": "string", "nullable": True}, "replied_name": _STR, "replied_at": _NUM_OR_NULL,
    "created_at": {"type": "number"}}}

INBOX_API = ApiPart(
    paths={
        "/api/widget/status": {"get": {
            **operation("Whether the widget's group answers now (no login; any origin): open, open_no_agents or "
                        "closed, the next opening and the reply outside hours",
                        {"200": json_content(ref("WidgetStatus"), "the group's status"), **errors(400, 404)},
                        auth=False),
            "parameters": [{"name": "group", "in": "query", "required": False, "schema": _STR}]}},
        "/api/widget/messages": {
            "get": operation("The visitor's left messages and their replies (bearer: the visitor token)",
                             {"200": json_content({"type": "object"}, "newest first"), **errors(401)}),
            "post": operation("Leave a message (bearer: the visitor token): an offline conversation in the group's "
                              "inbox; 429 rate_limited past 5 an hour per visitor or 20 per address",
                              {"201": json_content({"type": "object"}, "stored"), **errors(400, 401, 404)},
                              body="LeftMessage"),
            "options": operation("CORS preflight", {"204": {"description": "allowed"}}, auth=False)},
        "/api/inbox": {"get": {
            **operation("Left messages of the caller's groups (admin: all): the open count and a list",
                        {"200": json_content({"type": "object", "properties": {
                            "count": {"type": "integer"}, "entries": {"type": "array", "items": ref("InboxEntry")}}},
                            "the inbox"), **errors(400, 401)}),
            "parameters": [{"name": "state", "in": "query", "required": False,
                            "schema": {"type": "string", "enum": ["open", "answered", "all"]}}]}},
        "/api/inbox/{conversation}": {"get": operation(
            "One left message with its conversation's messages", {"200": json_content(ref("InboxEntry"), "it"),
                                                                  **errors(401, 404)}, params=("conversation",))},
        "/api/inbox/{conversation}/assign": {"post": operation(
            "Take it (assigned to the caller)", {"200": json_content(ref("InboxEntry"), "it"), **errors(401, 404)},
            params=("conversation",))},
        "/api/inbox/{conversation}/reply": {"post": operation(
            "Reply: stored as the caller's message, mailed to the visitor, the entry answered",
            {"200": json_content(ref("InboxEntry"), "it"), **errors(400, 401, 404, 409)}, body="InboxReply",
            params=("conversation",))},
    },
    schemas={
        "WidgetStatus": {"type": "object", "properties": {
            "group": _STR, "status": {"type": "string", "enum": ["open", "open_no_agents", "closed"]},
            "next_opening": _NUM_OR_NULL, "off_hours_reply": _STR}},
        "LeftMessage": {"type": "object", "required": ["email", "text"], "properties": {
            "email": _STR, "text": {"type": "string", "maxLength": MAX_MESSAGE},
            "name": {"type": "string", "maxLength": MAX_NAME}, "group": _STR,
            "reason": {"type": "string", "enum": list(REASONS)}}},
        "InboxEntry": _ENTRY,
        "InboxReply": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "maxLength": MAX_REPLY}}},
    },
    error_codes=(RATE_LIMITED,),
)
