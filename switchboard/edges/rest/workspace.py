"""REST the agent workspace needs beyond login: colleagues and groups to transfer to, a visitor's details.

Agents (not only admins) may read these; each route checks the caller's session.

- ``GET /api/directory``: every agent (id, nickname, groups) and every skill group (id, name), for the
  transfer picker. Any logged-in user. No emails or other contact details.
- ``GET /api/visitors/{visitor}``: the details a visitor's widget reported (channel, page, email, name).
  An admin may read any visitor. An agent may read a visitor only while serving, or after having served,
  one of that visitor's conversations: the visitor's open conversation in Redis (``sb:conv:{conv}``,
  ``agent`` or ``participants``), else any stored conversation of the visitor listing the agent among its
  participants. Anyone else gets 403, whether the visitor exists or not. The details come from the
  visitor socket's Redis hash (``sb:visitor:{id}``), field by field falling back to the stored
  :class:`~switchboard.store.documents.Visitor`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from switchboard.store.documents import Conversation, SkillGroup, User, Visitor
from switchboard.edges.rest.accounts import OPENAPI, ApiError, ORJSONResponse, _Api, _endpoint, _errors, _json, _op, _ref

__all__ = ["workspace_routes", "VISITOR_FIELDS"]

VISITOR_FIELDS = ("channel", "page", "email", "name")
_VISITOR_ID = re.compile(r"^v-[A-Za-z0-9_-]{1,64}$")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


# --- blocking store calls (run in the thread pool) ------------------------------------------------


def _directory() -> dict[str, Any]:
    agents = sorted(User.objects(role="agent").only("id", "nickname", "groups"),
                    key=lambda u: ((u.nickname or u.id).lower(), u.id))
    groups = sorted(SkillGroup.objects().only("id", "name"), key=lambda g: g.id)
    return {"agents": [{"id": a.id, "nickname": a.nickname or "", "groups": list(a.groups)} for a in agents],
            "groups": [{"id": g.id, "name": g.name or ""} for g in groups]}


def _served_before(visitor_id: str, agent_id: str) -> bool:
    return Conversation.objects(visitor=visitor_id, participants=agent_id).only("id").first() is not None


def _stored_visitor(visitor_id: str) -> Visitor | None:
    visitor: Visitor | None = Visitor.objects(id=visitor_id).first()
    return visitor


# --- handlers -------------------------------------------------------------------------------------


class _WorkspaceApi:
    def __init__(self) -> None:
        self.auth = _Api(None)

    async def directory(self, request: Request) -> Response:
        await self.auth.caller(request)
        return ORJSONResponse(await run_in_threadpool(_directory))

    async def visitor(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        visitor_id = str(request.path_params["visitor"])
        redis = request.app.state.services.redis
        if not _VISITOR_ID.fullmatch(visitor_id):
            raise (ApiError(404, "not_found", "no such visitor") if caller.user.role == "admin"
                   else ApiError(403, "forbidden", "not a visitor of yours"))
        raw = await redis.hgetall(f"sb:visitor:{visitor_id}")
        live = {_text(k) or "": _text(v) for k, v in raw.items()}
        if caller.user.role != "admin" and not await self._serves(redis, visitor_id, live.get("conv"), caller.user.id):
            raise ApiError(403, "forbidden", "only an agent serving one of this visitor's conversations may see them")
        stored = await run_in_threadpool(_stored_visitor, visitor_id)
        if not live and stored is None:
            raise ApiError(404, "not_found", f"no visitor {visitor_id}")
        details: dict[str, Any] = {"id": visitor_id}
        for name in VISITOR_FIELDS:
            value = live.get(name)
            if not value and stored is not None:
                value = getattr(stored, name, None)
            details[name] = value or ""
        details["conversation"] = live.get("conv") or None
        return ORJSONResponse(details)

    @staticmethod
    async def _serves(redis: Any, visitor_id: str, open_conv: str | None, agent_id: str) -> bool:
        """The agent serves the visitor's open conversation, or was a participant of any of theirs."""
        if open_conv:
            agent, participants = (_text(v) for v in await redis.hmget(f"sb:conv:{open_conv}",
                                                                         ["agent", "participants"]))
            if agent == agent_id:
                return True
            if participants:
                try:
                    if agent_id in orjson.loads(participants):
                        return True
                except orjson.JSONDecodeError:
                    pass
        return await run_in_threadpool(_served_before, visitor_id, agent_id)


def workspace_routes() -> list[BaseRoute]:
    api = _WorkspaceApi()
    table = [("GET", "/api/directory", api.directory), ("GET", "/api/visitors/{visitor}", api.visitor)]
    return [Route(path, _endpoint(handler), methods=[method], name=f"{method.lower()} {path}")
            for method, path, handler in table]


_S = {"type": "string"}

OPENAPI["paths"].update({
    "/api/directory": {"get": _op(
        "Colleagues and skill groups, for the workspace's transfer picker (any logged-in user)",
        {"200": _json(_ref("Directory"), "agents and groups"), **_errors(401)})},
    "/api/visitors/{visitor}": {"get": _op(
        "A visitor's details as their widget reported them: for an admin, or an agent who serves or served "
        "one of the visitor's conversations",
        {"200": _json(_ref("VisitorDetails"), "the visitor"),
         "403": _json(_ref("Error"), "forbidden: not a visitor of one of your conversations"),
         **_errors(401, 404)}, params=("visitor",))},
})
OPENAPI["components"]["schemas"].update({
    "Directory": {"type": "object", "required": ["agents", "groups"], "properties": {
        "agents": {"type": "array", "items": {"type": "object", "properties": {
            "id": _S, "nickname": _S, "groups": {"type": "array", "items": _S}}}},
        "groups": {"type": "array", "items": {"type": "object", "properties": {"id": _S, "name": _S}}}}},
    "VisitorDetails": {"type": "object", "required": ["id", *VISITOR_FIELDS], "properties": {
        "id": _S, "channel": _S, "page": _S, "email": _S, "name": _S,
        "conversation": {"type": "string", "nullable": True, "description": "the visitor's open conversation"}}},
})
