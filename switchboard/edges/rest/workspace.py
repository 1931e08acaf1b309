"""REST the agent workspace needs beyond login: colleagues and groups to transfer to, a visitor's details.

Agents (not only admins) may read these; each route checks the caller's session.

- ``GET /api/directory``: every agent (id, nickname, groups) and every skill group (id, name), for the
  transfer picker. Any logged-in user. No emails or other contact details.
- ``GET /api/visitors/{visitor}``: the details a visitor's widget reported (channel, page, email, name).
  An admin may read any visitor. An agent may read a visitor only while serving, or after having served,
  one of that visitor's conversations: the visitor's open conversation in Redis (its view's ``agent`` or
  ``participants``), else any stored conversation of the visitor listing the agent among its
  participants. Anyone else gets 403, whether the visitor exists or not. The details come from the
  visitor socket's Redis hash (:func:`~switchboard.edges.keys.visitor_key`), field by field falling back
  to the stored :class:`~switchboard.store.documents.Visitor`.
"""

from __future__ import annotations

import re

from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.store.conversations import has_participant
from switchboard.store.groups import list_groups
from switchboard.store.users import agent_summaries
from switchboard.store.visitors import get_visitor
from switchboard.edges.keys import ConvView, conv_key, text_hash, visitor_key
from switchboard.edges.rest.toolkit import ApiPart, ORJSONResponse, caller, errors, forbidden, json_content, \
    make_routes, not_found, operation, ref, services_of

__all__ = ["workspace_routes", "WORKSPACE_API", "VISITOR_FIELDS"]

VISITOR_FIELDS = ("channel", "page", "email", "name")
_VISITOR_ID = re.compile(r"^v-[A-Za-z0-9_-]{1,64}$")


def _directory() -> dict[str, object]:
    return {"agents": [{"id": a.id, "nickname": a.nickname, "groups": list(a.groups)} for a in agent_summaries()],
            "groups": [{"id": g.id, "name": g.name or ""} for g in list_groups()]}


async def _directory_route(request: Request) -> Response:
    await caller(request)
    return ORJSONResponse(await run_in_threadpool(_directory))


async def _visitor(request: Request) -> Response:
    found = await caller(request)
    visitor_id = str(request.path_params["visitor"])
    redis = services_of(request).redis
    if not _VISITOR_ID.fullmatch(visitor_id):
        raise not_found("no such visitor") if found.scope.is_admin else forbidden("not a visitor of yours")
    live = text_hash(await redis.hgetall(visitor_key(visitor_id)))
    if not found.scope.is_admin and not await _serves(redis, visitor_id, live.get("conv"), found.user.id):
        raise forbidden("only an agent serving one of this visitor's conversations may see them")
    stored = await run_in_threadpool(get_visitor, visitor_id)
    if not live and stored is None:
        raise not_found(f"no visitor {visitor_id}")
    details: dict[str, object] = {"id": visitor_id}
    for name in VISITOR_FIELDS:
        value = live.get(name)
        if not value and stored is not None:
            value = getattr(stored, name, None)
        details[name] = value or ""
    details["conversation"] = live.get("conv") or None
    return ORJSONResponse(details)


async def _serves(redis: Redis, visitor_id: str, open_conv: str | None, agent_id: str) -> bool:
    """The agent serves the visitor's open conversation, or was a participant of any of theirs."""
    if open_conv:
        view = ConvView.from_hash(open_conv, await redis.hgetall(conv_key(open_conv)))
        if view is not None and (view.agent == agent_id or agent_id in view.participants):
            return True
    return await run_in_threadpool(has_participant, visitor_id, agent_id)


def workspace_routes() -> list[BaseRoute]:
    return make_routes([("GET", "/api/directory", _directory_route), ("GET", "/api/visitors/{visitor}", _visitor)])


_S = {"type": "string"}

WORKSPACE_API = ApiPart(
    paths={
        "/api/directory": {"get": operation(
            "Colleagues and skill groups, for the workspace's transfer picker (any logged-in user)",
            {"200": json_content(ref("Directory"), "agents and groups"), **errors(401)})},
        "/api/visitors/{visitor}": {"get": operation(
            "A visitor's details as their widget reported them: for an admin, or an agent who serves or served "
            "one of the visitor's conversations",
            {"200": json_content(ref("VisitorDetails"), "the visitor"),
             "403": json_content(ref("Error"), "forbidden: not a visitor of one of your conversations"),
             **errors(401, 404)}, params=("visitor",))},
    },
    schemas={
        "Directory": {"type": "object", "required": ["agents", "groups"], "properties": {
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "id": _S, "nickname": _S, "groups": {"type": "array", "items": _S}}}},
            "groups": {"type": "array", "items": {"type": "object", "properties": {"id": _S, "name": _S}}}}},
        "VisitorDetails": {"type": "object", "required": ["id", *VISITOR_FIELDS], "properties": {
            "id": _S, "channel": _S, "page": _S, "email": _S, "name": _S,
            "conversation": {"type": "string", "nullable": True,
                             "description": "the visitor's open conversation"}}},
    },
)
