"""REST for the admin's skill groups: create and list them, put agents in and take them out.

The store first, then the engine: a new group is stored, then its queue entity is created; a membership
change reaches the agent's entity only when it changed something (the entity ignores a repeated join but
refuses leaving a group it is not in). Adding and removing are idempotent for the caller.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateGroup, JoinGroup, LeaveGroup
from switchboard.actors.messages import POLICIES
from switchboard.settings import GROUP_ID
from switchboard.store.documents import SkillGroup, to_epoch
from switchboard.store.groups import add_member, insert_group, list_groups, remove_member
from switchboard.store.users import AGENT_ID
from switchboard.edges.rest.toolkit import MAX_TEXT, SLUG_SCHEMA, ApiPart, ORJSONResponse, admin, bad, errors, \
    int_field, json_content, make_routes, not_found, operation, read_json, ref, services_of, slug, string_field

__all__ = ["group_routes", "GROUPS_API", "group_json"]

_MAX_WAIT_S = 86400


def group_json(group: SkillGroup) -> dict[str, object]:
    return {"id": group.id, "name": group.name, "policy": group.policy, "max_queue": group.max_queue,
            "last_agent_wait_s": group.last_agent_wait_s, "created_at": to_epoch(group.created_at)}


async def _create(request: Request) -> Response:
    await admin(request)
    data = await read_json(request, ("id", "name", "policy", "max_queue", "last_agent_wait_s"), ("id",))
    group_id = slug(data["id"], "id")
    name = string_field(data, "name") if "name" in data else ""
    policy = data.get("policy", "balanced")
    if not isinstance(policy, str) or policy not in POLICIES:
        raise bad(f"policy must be one of {', '.join(POLICIES)}")
    max_queue = int_field(data, "max_queue", 1, 1_000_000) if data.get("max_queue") is not None else None
    wait = data.get("last_agent_wait_s")
    if wait is not None and (not isinstance(wait, (int, float)) or isinstance(wait, bool)
                             or not 0 < wait <= _MAX_WAIT_S):
        raise bad(f"last_agent_wait_s must be a number of seconds above 0 and at most {_MAX_WAIT_S}, or null")
    wait_s = None if wait is None else float(wait)
    group = await run_in_threadpool(lambda: insert_group(group_id, name=name, policy=policy, max_queue=max_queue,
                                                         last_agent_wait_s=wait_s))
    services_of(request).engine.send(Address.queue(group_id), CreateGroup(policy=policy, max_queue=max_queue,
                                                                          last_agent_wait_s=wait_s))
    return ORJSONResponse(group_json(group), status_code=201)


async def _list(request: Request) -> Response:
    await admin(request)
    groups = await run_in_threadpool(list_groups)
    return ORJSONResponse([group_json(g) for g in groups])


async def _add(request: Request) -> Response:
    return await _member(request, join=True)


async def _remove(request: Request) -> Response:
    return await _member(request, join=False)


async def _member(request: Request, join: bool) -> Response:
    await admin(request)
    group_id, agent_id = str(request.path_params["group"]), str(request.path_params["agent"])
    if not GROUP_ID.fullmatch(group_id):
        raise not_found(f"no group {group_id}")
    if not AGENT_ID.fullmatch(agent_id):
        raise not_found(f"no agent {agent_id}")
    changed = await run_in_threadpool(add_member if join else remove_member, group_id, agent_id)
    if changed:
        services_of(request).engine.send(Address.agent(agent_id), JoinGroup(group_id) if join else LeaveGroup(group_id))
    return Response(status_code=204)


def group_routes() -> list[BaseRoute]:
    return make_routes([
        ("POST", "/api/groups", _create),
        ("GET", "/api/groups", _list),
        ("PUT", "/api/groups/{group}/members/{agent}", _add),
        ("DELETE", "/api/groups/{group}/members/{agent}", _remove),
    ])


_STR = {"type": "string"}

GROUPS_API = ApiPart(
    paths={
        "/api/groups": {
            "post": operation("Create a skill group (and its queue)",
                              {"201": json_content(ref("Group"), "created"), **errors(400, 401, 403, 413, 409)},
                              body="NewGroup"),
            "get": operation("List skill groups",
                             {"200": json_content({"type": "array", "items": ref("Group")}, "groups"),
                              **errors(401, 403)}),
        },
        "/api/groups/{group}/members/{agent}": {
            "put": operation("Add an agent to a group (idempotent)",
                             {"204": {"description": "done"}, **errors(401, 403, 404)}, params=("group", "agent")),
            "delete": operation("Remove an agent from a group (idempotent)",
                                {"204": {"description": "done"}, **errors(401, 403, 404)},
                                params=("group", "agent")),
        },
    },
    schemas={
        "Group": {"type": "object", "properties": {
            "id": _STR, "name": _STR, "policy": {"type": "string", "enum": list(POLICIES)},
            "max_queue": {"type": "integer", "nullable": True},
            "last_agent_wait_s": {"type": "number", "nullable": True},
            "created_at": {"type": "number", "nullable": True}}},
        "NewGroup": {"type": "object", "required": ["id"], "additionalProperties": False, "properties": {
            "id": SLUG_SCHEMA, "name": {"type": "string", "maxLength": MAX_TEXT},
            "policy": {"type": "string", "enum": list(POLICIES), "default": "balanced"},
            "max_queue": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "nullable": True},
            "last_agent_wait_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                                  "maximum": _MAX_WAIT_S, "nullable": True}}},
    },
)
