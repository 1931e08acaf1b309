"""REST for canned replies (docs/canned.md): the texts agents insert with ``/shortcut`` in the reply box.

- ``GET /api/canned``: the replies the caller may use (everyone's, their own, their groups'), by shortcut;
  ``?q=`` keeps those holding it (case-insensitive) in the shortcut, title or text, best first;
  ``?scope=`` (with ``?owner=`` for one group) lists one scope instead, also a group the caller supervises.
- ``POST /api/canned``: a new reply for a scope the caller manages.
- ``PATCH /api/canned/{reply}``: its shortcut, title or text (scope and owner never change).
- ``DELETE /api/canned/{reply}``.

Who manages what (:func:`manages`, asked of the caller's :class:`~switchboard.edges.scope.Scope`): everyone
their own personal replies, a supervisor the replies of the groups it supervises, an admin every group's and
the global ones. A reply the caller may neither use nor manage is 404 like an unknown one (ids cannot be
probed: another's personal reply does not exist for them); one they use but do not manage is 403.

Bodies are strict (:func:`~switchboard.edges.rest.toolkit.read_json`): a shortcut is 1 to 32 of ``a-z 0-9 _ -``,
a title one line of at most 100 characters, a text 1 to 4,000 characters (line breaks kept, other control
characters refused) whose ``{{variables}}`` are all known (:data:`~switchboard.store.canned.VARIABLES`), so
no reply can put an unfilled ``{{...}}`` in front of a visitor.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.store.canned import MAX_PER_AUDIENCE, MAX_SHORTCUT, MAX_TEXT, MAX_TITLE, REPLY_ID, SCOPES, \
    SHORTCUT, VARIABLES, Canned, Full, audience_of, delete_reply, get_reply, insert_reply, replies_for, search, \
    unknown_variables, update_reply, usable_audiences
from switchboard.store.documents import to_epoch
from switchboard.store.groups import get_group, list_groups
from switchboard.edges.rest.toolkit import query_params, CONFLICT, SLUG_SCHEMA, ApiError, ApiPart, Body, Caller, ORJSONResponse, \
    bad, caller, errors, forbidden, json_content, make_routes, not_found, operation, read_json, ref, slug, \
    string_field

__all__ = ["canned_routes", "CANNED_API", "manages", "reply_json"]

MAX_Q = 200
_PARAMS = ("q", "scope", "owner")
_FIELDS = ("shortcut", "title", "text")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # control characters but tab and line feed
_LINE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def manages(found: Caller, scope: str, owner: str) -> bool:
    """May change the replies of `scope` and `owner`: one's own personal ones; a group's as its supervisor or an
    admin; the global ones as an admin."""
    if scope == "personal":
        return owner == found.scope.user_id
    if scope == "group":
        return found.scope.manages(owner)
    return found.scope.is_admin


def _uses(found: Caller, scope: str, owner: str) -> bool:
    """May use (and so read) the replies of `scope` and `owner`: the global ones, one's own, one's groups'."""
    return (scope == "global" or (scope == "personal" and owner == found.scope.user_id)
            or (scope == "group" and owner in (found.user.groups or ())))


def reply_json(reply: Canned, can_edit: bool) -> dict[str, object]:
    return {"id": reply.id, "scope": reply.scope, "owner": reply.owner or None, "shortcut": reply.shortcut,
            "title": reply.title, "text": reply.text, "created_at": to_epoch(reply.created_at),
            "created_by": reply.created_by, "updated_at": to_epoch(reply.updated_at),
            "updated_by": reply.updated_by or None, "can_edit": can_edit}


def _answer(found: Caller, replies: list[Canned]) -> list[dict[str, object]]:
    return [reply_json(r, manages(found, r.scope, r.owner)) for r in replies]


# --- reading a request ----------------------------------------------------------------------------


def _query(request: Request) -> dict[str, str]:
    params = query_params(request, _PARAMS)
    if len(params.get("q", "")) > MAX_Q:
        raise bad(f"q must be at most {MAX_Q} characters")
    return params


def _scope(value: object) -> str:
    if not isinstance(value, str) or value not in SCOPES:
        raise bad(f"scope must be one of {', '.join(SCOPES)}")
    return value


def _shortcut(data: Body) -> str:
    value = string_field(data, "shortcut", max_len=MAX_SHORTCUT + 2)  # the slash may come with it
    value = value.strip().removeprefix("/")
    if not SHORTCUT.fullmatch(value):
        raise bad(f"shortcut must be 1 to {MAX_SHORTCUT} of a-z, 0-9, '_' and '-' (lower case), e.g. 'greet'")
    return value


def _title(data: Body) -> str:
    value = string_field(data, "title", max_len=MAX_TITLE).strip()
    if _LINE.search(value):
        raise bad("title must be one line without control characters")
    return value


def _text(data: Body) -> str:
    value = string_field(data, "text", max_len=MAX_TEXT).replace("\r\n", "\n").strip()
    if not value:
        raise bad("text must not be blank")
    if _CONTROL.search(value):
        raise bad("text may hold line breaks and tabs but no other control characters")
    unknown = unknown_variables(value)
    if unknown:
        raise bad(f"text names unknown variable(s): {', '.join('{{' + v + '}}' for v in unknown)}; "
                  f"the variables are {', '.join('{{' + v + '}}' for v in VARIABLES)}")
    return value


def _changes(data: Body) -> dict[str, str]:
    readers = {"shortcut": _shortcut, "title": _title, "text": _text}
    return {name: readers[name](data) for name in _FIELDS if name in data}


def _reply_id(request: Request) -> str:
    reply_id = str(request.path_params["reply"])
    if not REPLY_ID.fullmatch(reply_id):
        raise not_found(f"no canned reply {reply_id[:40]}")
    return reply_id


async def _managed_reply(request: Request) -> tuple[Caller, Canned]:
    """The caller and the reply the path names, if the caller manages it (404 if they cannot see it at all)."""
    found = await caller(request)
    reply_id = _reply_id(request)
    reply = await run_in_threadpool(get_reply, reply_id)
    if reply is None or not (_uses(found, reply.scope, reply.owner) or manages(found, reply.scope, reply.owner)):
        raise not_found(f"no canned reply {reply_id}")
    if not manages(found, reply.scope, reply.owner):
        raise forbidden(_who_manages(reply.scope))
    return found, reply


def _who_manages(scope: str) -> str:
    return {"personal": "a personal reply is changed by its owner only",
            "group": "a group's replies are changed by its supervisors and admins only"}.get(
        scope, "global replies are changed by admins only")


def _full(exc: Full) -> ApiError:
    return ApiError(409, CONFLICT, str(exc))


# --- handlers -------------------------------------------------------------------------------------


async def _list(request: Request) -> Response:
    found = await caller(request)
    params = _query(request)
    scope, owner = params.get("scope"), params.get("owner")
    if scope is None:
        if owner is not None:
            raise bad("owner needs a scope (personal or group)")
        audiences = usable_audiences(found.scope.user_id, found.user.groups or ())
    else:
        audiences = await _audiences(found, _scope(scope), owner)
    q = params.get("q", "")
    replies = await run_in_threadpool(lambda: search(replies_for(audiences), q))
    return ORJSONResponse(_answer(found, replies))


async def _audiences(found: Caller, scope: str, owner: str | None) -> list[str]:
    """The audiences one scope lists for the caller (403 for a group they neither use nor manage)."""
    me = found.scope.user_id
    if scope == "global":
        if owner is not None:
            raise bad("global replies have no owner")
        return [audience_of("global")]
    if scope == "personal":
        if owner is not None and owner != me:
            raise forbidden("personal replies are their owner's only")
        return [audience_of("personal", me)]
    if owner is None:  # every group the caller is in or manages
        every = [str(g.id) for g in await run_in_threadpool(list_groups)] if found.scope.is_admin else []
        groups = [*(found.user.groups or ()), *found.scope.supervises, *every]
        return [audience_of("group", g) for g in dict.fromkeys(groups)]
    group = slug(owner, "owner")
    if not (_uses(found, "group", group) or manages(found, "group", group)):
        raise forbidden(f"only the agents, supervisors and admins of group {group} see its replies")
    return [audience_of("group", group)]


async def _create(request: Request) -> Response:
    found = await caller(request)
    data = await read_json(request, ("scope", "owner", *_FIELDS), ("scope", "shortcut", "text"))
    scope = _scope(data["scope"])
    owner = None if data.get("owner") is None else slug(data["owner"], "owner")
    if scope == "global":
        if owner is not None:
            raise bad("a global reply has no owner: leave owner out")
        owner = ""
    elif scope == "personal":
        if owner is not None and owner != found.scope.user_id:
            raise forbidden("a personal reply is its owner's: only you may have yours (leave owner out)")
        owner = found.scope.user_id
    else:
        if owner is None:
            raise bad("a group reply needs owner: the group's id")
    fields = _changes(data)
    if not manages(found, scope, owner):
        raise forbidden(_who_manages(scope).replace("changed", "made"))
    if scope == "group" and await run_in_threadpool(get_group, owner) is None:
        raise not_found(f"no group {owner}")
    try:
        reply = await run_in_threadpool(lambda: insert_reply(
            scope, owner, shortcut=fields["shortcut"], title=fields.get("title", ""), text=fields["text"],
            by=found.scope.user_id))
    except Full as exc:
        raise _full(exc) from None
    return ORJSONResponse(reply_json(reply, True), status_code=201)


async def _change(request: Request) -> Response:
    found, reply = await _managed_reply(request)
    changes = _changes(await read_json(request, _FIELDS))
    changed = await run_in_threadpool(lambda: update_reply(reply.id, by=found.scope.user_id, **changes))
    return ORJSONResponse(reply_json(changed, True))


async def _delete(request: Request) -> Response:
    _, reply = await _managed_reply(request)
    await run_in_threadpool(delete_reply, reply.id)
    return Response(status_code=204)


def canned_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/canned", _list),
        ("POST", "/api/canned", _create),
        ("PATCH", "/api/canned/{reply}", _change),
        ("DELETE", "/api/canned/{reply}", _delete),
    ])


# --- the description ------------------------------------------------------------------------------

_STR = {"type": "string"}
_SCOPE = {"type": "string", "enum": list(SCOPES)}
_SHORTCUT = {"type": "string", "pattern": f"^{SHORTCUT.pattern}$", "example": "greet"}
_TITLE = {"type": "string", "maxLength": MAX_TITLE}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
         "description": f"may name the variables {', '.join('{{' + v + '}}' for v in VARIABLES)}",
         "example": "Hello {{visitor.name}}, I am {{agent.name}} from {{team.name}}."}
_WHO = "everyone their own personal replies, a group's supervisors and admins its replies, admins the global ones"

CANNED_API = ApiPart(
    paths={
        "/api/canned": {
            "get": {**operation(
                "The canned replies the caller may use (global, their own, their groups'), by shortcut; ?q= keeps "
                "those holding it in shortcut, title or text (case-insensitive), best first; ?scope= (and ?owner= "
                "for one group) lists one scope, also groups the caller supervises",
                {"200": json_content({"type": "array", "items": ref("CannedReply")}, "the replies"),
                 **errors(400, 401, 403)}),
                "parameters": [
                    {"name": "q", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": MAX_Q}},
                    {"name": "scope", "in": "query", "required": False, "schema": _SCOPE},
                    {"name": "owner", "in": "query", "required": False, "schema": SLUG_SCHEMA,
                     "description": "with scope=group: the group; with scope=personal: only your own id"}]},
            "post": operation(f"Make a canned reply for a scope the caller manages ({_WHO}); 409 when the "
                              f"shortcut is taken in that scope or it holds {MAX_PER_AUDIENCE:,} replies",
                              {"201": json_content(ref("CannedReply"), "made"),
                               **errors(400, 401, 403, 404, 409, 413)}, body="NewCannedReply"),
        },
        "/api/canned/{reply}": {
            "patch": operation(f"Change a canned reply's shortcut, title or text ({_WHO})",
                               {"200": json_content(ref("CannedReply"), "the reply as stored now"),
                                **errors(400, 401, 403, 404, 409, 413)}, body="CannedReplyChange", params=("reply",)),
            "delete": operation(f"Delete a canned reply ({_WHO})",
                                {"204": {"description": "deleted"}, **errors(401, 403, 404)}, params=("reply",)),
        },
    },
    schemas={
        "CannedReply": {"type": "object", "required": ["id", "scope", "owner", "shortcut", "title", "text"],
                        "properties": {
            "id": _STR, "scope": _SCOPE,
            "owner": {"type": "string", "nullable": True,
                      "description": "the user (personal) or the group (group); null for a global reply"},
            "shortcut": _STR, "title": _STR, "text": _STR,
            "created_at": {"type": "number", "nullable": True}, "created_by": _STR,
            "updated_at": {"type": "number", "nullable": True}, "updated_by": {"type": "string", "nullable": True},
            "can_edit": {"type": "boolean", "description": "whether the caller may change or delete it"}}},
        "NewCannedReply": {"type": "object", "required": ["scope", "shortcut", "text"], "additionalProperties": False,
                           "properties": {
            "scope": _SCOPE,
            "owner": {**SLUG_SCHEMA, "description": "scope group: the group's id (required); personal: left out "
                                                    "(or your own id); global: left out"},
            "shortcut": _SHORTCUT, "title": _TITLE, "text": _TEXT}},
        "CannedReplyChange": {"type": "object", "additionalProperties": False, "properties": {
            "shortcut": _SHORTCUT, "title": _TITLE, "text": _TEXT}},
    },
)
