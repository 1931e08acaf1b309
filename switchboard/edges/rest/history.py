"""Conversation history over REST: search, transcripts, a visitor's conversations, exports (docs/history.md).

- ``GET /api/history/conversations``: a page of conversations, newest first, filtered; ``next`` continues it.
- ``GET /api/history/conversations/export``: the same search as CSV or JSON (at most 10,000 rows, streamed).
- ``GET /api/history/conversations/{conversation}``: one transcript.
- ``GET /api/history/conversations/{conversation}/export``: one transcript as CSV or JSON.
- ``GET /api/history/visitors/{visitor}``: a visitor and their conversations.

Any logged-in user; what each sees is scoped (:mod:`switchboard.edges.scope`): an admin everything, a
supervisor the conversations of the groups it supervises, an agent those it took part in. A conversation or
visitor outside the caller's scope is answered 404 like an unknown one, so ids cannot be probed. Query
parameters are strict: an unknown one, a bad date, an unknown time zone, a limit out of range or a cursor
this server did not hand out is a 400 ``invalid_argument`` saying which.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from switchboard.settings import GROUP_ID
from switchboard.store.documents import Conversation
from switchboard.store.history import MAX_LIMIT, HistoryFilter, HistoryScope, iter_conversations, \
    search_conversations, transcript, visitor_history
from switchboard.edges.rest.toolkit import query_params, ApiPart, Caller, ORJSONResponse, OpenApi, bad, caller, errors, \
    json_content, make_routes, not_found, operation, ref

__all__ = ["history_routes", "HISTORY_API", "MAX_EXPORT_ROWS", "csv_cell"]

MAX_EXPORT_ROWS = 10_000
DEFAULT_LIMIT = 25
_PHASES = tuple(Conversation.phase.choices)
_SEARCH_PARAMS = ("visitor", "email", "agent", "group", "channel", "from", "to", "tz", "phase", "rating", "q")
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_Q = 200
_ITEM_COLUMNS = ("id", "created_at", "closed_at", "phase", "channel", "group", "agent", "agent_name", "visitor",
                 "visitor_email", "visitor_name", "rating", "messages", "snippet")
_MESSAGE_COLUMNS = ("conversation", "seq", "at", "sender_role", "sender_id", "sender_name", "kind", "text",
                    "decision", "sources")


# --- reading the query ----------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | timezone:
    if not name or name == "UTC":
        return timezone.utc
    if len(name) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name) or ".." in name or name.startswith("/"):
        raise bad(f"tz must be an IANA time zone such as Europe/Paris, not {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise bad(f"tz must be an IANA time zone such as Europe/Paris; {name!r} is unknown") from None


def _moment(name: str, value: str, zone: ZoneInfo | timezone, end: bool) -> datetime:
    """`value` as a UTC datetime: a date (YYYY-MM-DD: its start in `zone`, or for ``to`` the next day's start)
    or an ISO 8601 date-time (in `zone` unless it carries an offset)."""
    try:
        if _DATE.fullmatch(value):
            day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)
        if len(value) > 40 or not value[:4].isdigit():
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise bad(f"{name} must be a date (2026-03-31) or an ISO 8601 date-time (2026-03-31T14:00:00+02:00), "
                  f"not {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise bad(f"{name} is out of range") from None


def _text(params: dict[str, str], name: str, max_len: int = 200) -> str | None:
    value = params.get(name)
    if value is not None and len(value) > max_len:
        raise bad(f"{name} must be at most {max_len} characters")
    return value


def _an_id(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not _ID.fullmatch(value):
        raise bad(f"{name} must be an id: letters, digits and _ . : @ -, at most 128")
    return value


def _filter(params: dict[str, str]) -> HistoryFilter:
    zone = _zone(params.get("tz"))
    since = _moment("from", params["from"], zone, end=False) if "from" in params else None
    until = _moment("to", params["to"], zone, end=True) if "to" in params else None
    if since is not None and until is not None and since >= until:
        raise bad("from must be before to")
    group = params.get("group")
    if group is not None and not GROUP_ID.fullmatch(group):
        raise bad("group must be a group id: lower-case letters, digits, '_' or '-', e.g. 'billing'")
    phase = params.get("phase")
    if phase is not None and phase not in _PHASES:
        raise bad(f"phase must be one of {', '.join(_PHASES)}")
    rating: int | None = None
    if "rating" in params:
        if params["rating"] not in ("1", "2", "3", "4", "5"):
            raise bad("rating must be an integer from 1 to 5")
        rating = int(params["rating"])
    q = _text(params, "q", _MAX_Q)
    if q is not None and len(q.strip()) < 2:
        raise bad("q must hold at least 2 characters besides spaces")
    channel = _text(params, "channel", 64)
    email = _text(params, "email", 254)
    return HistoryFilter(visitor=_an_id(params, "visitor"), email=email.lower() if email else None,
                         agent=_an_id(params, "agent"), group=group, channel=channel, phase=phase, rating=rating,
                         q=q.strip() if q else None, since=since, until=until)


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(key: tuple[datetime, str], span: float | None = None) -> str:
    """``<created_at ms>|<id>|<span s>`` in URL-safe base64: where the page ended, and how far back it reached
    (the next page's window hint, :func:`~switchboard.store.history.search_conversations`)."""
    ms = int(key[0].astimezone(timezone.utc).timestamp() * 1000)
    hint = "" if span is None else str(max(0, int(span)))
    return base64.urlsafe_b64encode(f"{ms}|{key[1]}|{hint}".encode()).decode().rstrip("=")


def _cursor(params: dict[str, str]) -> tuple[tuple[datetime, str] | None, float | None]:
    raw = params.get("cursor")
    if raw is None:
        return None, None
    try:
        if len(raw) > 300:
            raise ValueError(raw)
        ms, cid, hint = (base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("|") + [""])[:3]
        if not ms.isdigit() or len(ms) > 15 or not _ID.fullmatch(cid) or not (hint == "" or hint.isdigit()):
            raise ValueError(raw)
        return (datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc), cid), float(hint) if hint else None
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise bad("cursor must be a `next` value this server returned") from None


def _format(params: dict[str, str]) -> str:
    value = params.get("format", "csv")
    if value not in ("csv", "json"):
        raise bad("format must be csv or json")
    return value


def history_scope(found: Caller) -> HistoryScope:
    scope = found.scope
    return HistoryScope(user_id=scope.user_id, is_admin=scope.is_admin,
                        groups=scope.supervises if scope.is_supervisor else frozenset(), is_agent=scope.is_agent)


# --- CSV ------------------------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A value as a CSV cell a spreadsheet will not run: a leading = + - @ (or tab, CR) gets a ' in front."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(v) for v in values])
        return buffer.getvalue()

    yield line(columns)
    for row in rows:
        yield line(_iso(row.get(c)) if c in ("created_at", "closed_at", "at") else row.get(c) for c in columns)


def _iso(epoch: object) -> str:
    if not isinstance(epoch, (int, float)):
        return ""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_array(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    for i, row in enumerate(rows):
        yield (b"," if i else b"") + orjson.dumps(row)
    yield b"]"


def _attachment(name: str, fmt: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"}


def _message_rows(found: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cid = found["conversation"]["id"]
    for m in found["messages"]:
        extra = m.get("extra") or {}
        sources = extra.get("sources") or []
        yield {**m, "conversation": cid, "decision": extra.get("decision", ""),
               "sources": " ".join(str(s.get("document", s)) if isinstance(s, dict) else str(s) for s in sources)}


# --- handlers -------------------------------------------------------------------------------------


async def _search(request: Request) -> Response:
    found = await caller(request)
    params = query_params(request, (*_SEARCH_PARAMS, "cursor", "limit"))
    f, limit, (after, span) = _filter(params), _limit(params), _cursor(params)
    page = await run_in_threadpool(search_conversations, f, history_scope(found), limit=limit, after=after, span=span,
                                   now=datetime.now(timezone.utc))
    return ORJSONResponse({"items": page.items, "next": encode_cursor(page.next, page.span) if page.next else None})


async def _export_search(request: Request) -> Response:
    found = await caller(request)
    params = query_params(request, (*_SEARCH_PARAMS, "format"))
    f, fmt, scope = _filter(params), _format(params), history_scope(found)
    rows = iter_conversations(f, scope, max_rows=MAX_EXPORT_ROWS, now=datetime.now(timezone.utc))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        return StreamingResponse(_csv_lines(_ITEM_COLUMNS, rows), media_type="text/csv; charset=utf-8",
                                 headers=_attachment(f"conversations-{stamp}", "csv"))
    return StreamingResponse(_json_array(rows), media_type="application/json",
                             headers=_attachment(f"conversations-{stamp}", "json"))


async def _found_transcript(request: Request, found: Caller) -> dict[str, Any]:
    cid = str(request.path_params["conversation"])
    result = None if not _ID.fullmatch(cid) else await run_in_threadpool(transcript, cid, history_scope(found))
    if result is None:
        raise not_found(f"no conversation {cid[:128]} in your history")
    return result


async def _transcript(request: Request) -> Response:
    found = await caller(request)
    query_params(request, ())
    return ORJSONResponse(await _found_transcript(request, found))


async def _export_transcript(request: Request) -> Response:
    found = await caller(request)
    fmt = _format(query_params(request, ("format",)))
    result = await _found_transcript(request, found)
    name = f"conversation-{result['conversation']['id']}"
    if fmt == "json":
        return Response(orjson.dumps(result), media_type="application/json", headers=_attachment(name, "json"))
    body = "".join(_csv_lines(_MESSAGE_COLUMNS, _message_rows(result)))
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(name, "csv"))


async def _visitor(request: Request) -> Response:
    found = await caller(request)
    query_params(request, ())
    vid = str(request.path_params["visitor"])
    result = None if not _ID.fullmatch(vid) else await run_in_threadpool(visitor_history, vid, history_scope(found))
    if result is None:
        raise not_found(f"no visitor {vid[:128]} in your history")
    return ORJSONResponse(result)


def history_routes() -> list[BaseRoute]:
    # the export of a search before the transcript route, which would take "export" for an id
    return make_routes([
        ("GET", "/api/history/conversations", _search),
        ("GET", "/api/history/conversations/export", _export_search),
        ("GET", "/api/history/conversations/{conversation}", _transcript),
        ("GET", "/api/history/conversations/{conversation}/export", _export_transcript),
        ("GET", "/api/history/visitors/{visitor}", _visitor),
    ])


# --- the description ------------------------------------------------------------------------------

_S: OpenApi = {"type": "string"}
_NS: OpenApi = {"type": "string", "nullable": True}
_T: OpenApi = {"type": "number", "nullable": True, "description": "epoch seconds"}


def _q(name: str, schema: OpenApi, description: str) -> OpenApi:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_SEARCH_PARAMETERS = [
    _q("visitor", {"type": "string", "maxLength": 128}, "a visitor id"),
    _q("email", {"type": "string", "maxLength": 254}, "the visitor's email (exact, case-insensitive)"),
    _q("agent", {"type": "string", "maxLength": 128}, "an agent who took part (a participant)"),
    _q("group", {"type": "string", "maxLength": 64}, "a skill group id"),
    _q("channel", {"type": "string", "maxLength": 64}, "the visitor's channel, e.g. widget"),
    _q("from", _S, "created at or after: a date (YYYY-MM-DD, its start in tz) or an ISO 8601 date-time"),
    _q("to", _S, "created before: a date (the end of that day in tz) or an ISO 8601 date-time"),
    _q("tz", {"type": "string", "default": "UTC"}, "the IANA time zone of dates and offset-less times"),
    _q("phase", {"type": "string", "enum": list(_PHASES)}, "the conversation's phase"),
    _q("rating", {"type": "integer", "minimum": 1, "maximum": 5}, "the visitor's rating"),
    _q("q", {"type": "string", "minLength": 2, "maxLength": _MAX_Q},
       "text in any message (case-insensitive); checked on at most 60 conversations per page"),
]
_PAGE_PARAMETERS = [
    _q("cursor", _S, "the `next` of the previous page"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "items per page"),
]
_FORMAT = _q("format", {"type": "string", "enum": ["csv", "json"], "default": "csv"}, "the file's format")
_PATH = {"name": "conversation", "in": "path", "required": True, "schema": _S}


def _op(summary: str, responses: OpenApi, parameters: list[OpenApi]) -> OpenApi:
    op = operation(summary, responses)
    op["parameters"] = parameters
    return op


def _file(description: str, json_schema: OpenApi) -> OpenApi:
    return {"description": description, "headers": {"Content-Disposition": {"schema": _S}},
            "content": {"text/csv": {"schema": _S}, "application/json": {"schema": json_schema}}}


_ITEM = {"type": "object", "required": list(_ITEM_COLUMNS), "properties": {
    "id": _S, "visitor": _S, "visitor_email": _S, "visitor_name": _S, "channel": _S, "group": _NS, "agent": _NS,
    "agent_name": _S, "phase": {"type": "string", "enum": list(_PHASES)}, "created_at": _T, "closed_at": _T,
    "rating": {"type": "integer", "nullable": True, "minimum": 1, "maximum": 5},
    "messages": {"type": "integer", "description": "the conversation's last message seq (notes and system lines "
                                                   "included)"},
    "snippet": {"type": "string", "description": "the matching text for q, else the visitor's first message"}}}
_RATING = {"type": "object", "nullable": True, "required": ["score", "comment"], "properties": {
    "score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": _S, "at": _T}}

HISTORY_API = ApiPart(
    paths={
        "/api/history/conversations": {"get": _op(
            "Conversations, newest first, filtered and scoped (admin: all; supervisor: its groups'; agent: "
            "those it took part in); follow `next` for more",
            {"200": json_content(ref("HistoryPage"), "a page"), **errors(400, 401)},
            [*_SEARCH_PARAMETERS, *_PAGE_PARAMETERS])},
        "/api/history/conversations/export": {"get": _op(
            f"The search as a file (at most {MAX_EXPORT_ROWS} conversations, streamed)",
            {"200": _file("CSV, or a JSON array of HistoryItem", {"type": "array", "items": ref("HistoryItem")}),
             **errors(400, 401)}, [*_SEARCH_PARAMETERS, _FORMAT])},
        "/api/history/conversations/{conversation}": {"get": _op(
            "A transcript: the conversation, every message in seq order, transfers, rating and comment",
            {"200": json_content(ref("Transcript"), "the transcript"), **errors(401, 404)}, [_PATH])},
        "/api/history/conversations/{conversation}/export": {"get": _op(
            "A transcript as a file: CSV (one row per message) or JSON (a Transcript)",
            {"200": _file("the transcript", ref("Transcript")), **errors(400, 401, 404)}, [_PATH, _FORMAT])},
        "/api/history/visitors/{visitor}": {"get": _op(
            "A visitor and their conversations that the caller may see, newest first (at most 100)",
            {"200": json_content(ref("VisitorHistory"), "the visitor"), **errors(401, 404)},
            [{"name": "visitor", "in": "path", "required": True, "schema": _S}])},
    },
    schemas={
        "HistoryItem": _ITEM,
        "HistoryPage": {"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": ref("HistoryItem")},
            "next": {"type": "string", "nullable": True, "description": "the cursor of the next page; null: no more"}}},
        "Transcript": {"type": "object", "required": ["conversation", "messages", "transfers", "rating"], "properties": {
            "conversation": {"type": "object", "required": ["id", "phase"], "properties": {
                **{k: v for k, v in _ITEM["properties"].items() if k != "snippet"},  # type: ignore[attr-defined]
                "queued_at": _T, "assigned_at": _T, "first_agent_reply_at": _T, "close_reason": _NS,
                "participants": {"type": "array", "items": {"type": "object", "properties": {"id": _S, "name": _S}}}}},
            "messages": {"type": "array", "items": {"type": "object", "required": [
                "seq", "at", "sender_role", "sender_id", "sender_name", "kind", "text"], "properties": {
                "seq": {"type": "integer"}, "at": _T,
                "sender_role": {"type": "string", "enum": ["visitor", "agent", "bot", "system"]},
                "sender_id": _S, "sender_name": _S, "kind": {"type": "string", "enum": ["text", "system", "note"]},
                "text": _S, "extra": {"type": "object", "description": "a bot turn's decision, suggestions, sources"}}}},
            "transfers": {"type": "array", "items": {"type": "object", "properties": {
                "at": _T, "from_agent": _NS, "to_agent": _NS, "to_group": _NS, "from_name": _S, "to_name": _S}}},
            "rating": _RATING}},
        "VisitorHistory": {"type": "object", "required": ["visitor", "conversations"], "properties": {
            "visitor": {"type": "object", "required": ["id", "email", "name", "channel"], "properties": {
                "id": _S, "email": _S, "name": _S, "channel": _S, "first_seen": _T, "last_seen": _T}},
            "conversations": {"type": "array", "items": ref("HistoryItem")}}},
    },
)
