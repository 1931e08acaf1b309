"""REST for the admin's skill groups: create, list, change and delete them, put agents in and take them out.

The store first, then the engine: a new group is stored, then its queue entity is created; a changed group
is stored, then its queue gets the whole new configuration (``ConfigureGroup``); a membership change
reaches the agent's entity only when it changed something (the entity ignores a repeated join but refuses
leaving a group it is not in). Adding and removing are idempotent for the caller. An admin sees every
group; a supervisor lists the groups it supervises.

Deleting is the one change that starts in the engine. Open conversations that name the group move first
(``MoveToGroup`` to each, to ``?move_to=``; without it a busy group is refused ``group_busy``); once its
queue is empty the queue is retired (``RetireGroup``: it refuses new requests from then on), and only then
the store takes the group out of its members and supervisors and deletes it, and the members' entities
leave it (``LeaveGroup``). A queue that is still not empty a few seconds later (a move was refused: the
other group's queue is full) leaves the group as it was, and the answer is ``group_busy`` again. Each
conversation's stored group follows when the relay hears the engine's report.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.actors.messages import POLICIES, CreateGroup, JoinGroup, LeaveGroup, MoveToGroup, RetireGroup
from switchboard.store.documents import SkillGroup, to_epoch
from switchboard.store.groups import add_member, get_group, insert_group, list_groups, open_conversations, \
    remove_member, retire_group, update_group
from switchboard.store.hours import DEFAULT_ID, get_many
from switchboard.store.users import AGENT_ID
from switchboard.edges import codes
from switchboard.edges.rest.hours import queue_configuration
from switchboard.edges.rest.toolkit import group_param, MAX_TEXT, SLUG_SCHEMA, ApiError, ApiPart, Body, ORJSONResponse, admin, \
    bad, errors, int_field, json_content, make_routes, not_found, operation, read_json, ref, services_of, slug, \
    steerer, string_field

__all__ = ["group_routes", "GROUPS_API", "group_json"]

log = logging.getLogger("switchboard.rest")

_MAX_WAIT_S = 86400
_MAX_QUEUE = 1_000_000
_BUSY_SHOWN = 100  # open conversations looked up to say how many (at least) a busy group has
_RETIRE_WAIT_S = 5.0  # how long a deleted group's queue may take to empty after its conversations moved


def group_json(group: SkillGroup) -> dict[str, object]:
    return {"id": group.id, "name": group.name, "policy": group.policy, "max_queue": group.max_queue,
            "last_agent_wait_s": group.last_agent_wait_s, "created_at": to_epoch(group.created_at)}


_FIELDS = ("name", "policy", "max_queue", "last_agent_wait_s")


def _fields(data: Body) -> dict[str, object]:
    """The group fields `data` gives, checked: name, policy, max_queue (null: no limit), last_agent_wait_s
    (null: the dispatch settings' default)."""
    fields: dict[str, object] = {}
    if "name" in data:
        fields["name"] = string_field(data, "name")
    if "policy" in data:
        policy = data["policy"]
        if not isinstance(policy, str) or policy not in POLICIES:
            raise bad(f"policy must be one of {', '.join(POLICIES)}")
        fields["policy"] = policy
    if "max_queue" in data:
        fields["max_queue"] = None if data["max_queue"] is None else int_field(data, "max_queue", 1, _MAX_QUEUE)
    if "last_agent_wait_s" in data:
        wait = data["last_agent_wait_s"]
        if wait is not None and (not isinstance(wait, (int, float)) or isinstance(wait, bool)
                                 or not 0 < wait <= _MAX_WAIT_S):
            raise bad(f"last_agent_wait_s must be a number of seconds above 0 and at most {_MAX_WAIT_S}, or null")
        fields["last_agent_wait_s"] = None if wait is None else float(wait)
    return fields


async def _create(request: Request) -> Response:
    await admin(request)
    data = await read_json(request, ("id", *_FIELDS), ("id",))
    group_id = slug(data["id"], "id")
    fields = _fields(data)
    name = str(fields.get("name", ""))
    policy = str(fields.get("policy", "balanced"))
    max_queue = fields.get("max_queue")
    wait_s = fields.get("last_agent_wait_s")
    assert max_queue is None or isinstance(max_queue, int)
    assert wait_s is None or isinstance(wait_s, float)
    group = await run_in_threadpool(lambda: insert_group(group_id, name=name, policy=policy, max_queue=max_queue,
                                                         last_agent_wait_s=wait_s))
    hours = await run_in_threadpool(get_many, [group_id, DEFAULT_ID])  # a new group uses the default hours
    configuration = queue_configuration(group, hours[group_id], hours[DEFAULT_ID])
    services_of(request).engine.send(Address.queue(group_id), CreateGroup(
        policy=policy, max_queue=max_queue, last_agent_wait_s=wait_s, schedule=configuration.schedule,
        at_closing=configuration.at_closing))
    return ORJSONResponse(group_json(group), status_code=201)


async def _list(request: Request) -> Response:
    scope = (await steerer(request)).scope
    groups = await run_in_threadpool(list_groups)
    return ORJSONResponse([group_json(g) for g in groups if scope.manages(str(g.id))])


async def _change(request: Request) -> Response:
    await admin(request)
    group_id = group_param(request)
    fields = _fields(await read_json(request, _FIELDS))
    group = await run_in_threadpool(lambda: update_group(group_id, **fields))
    if set(fields) - {"name"}:  # the queue hears its whole configuration, as stored now (its hours too)
        hours = await run_in_threadpool(get_many, [group_id, DEFAULT_ID])
        services_of(request).engine.send(Address.queue(group_id),
                                         queue_configuration(group, hours[group_id], hours[DEFAULT_ID]))
    return ORJSONResponse(group_json(group))


async def _delete(request: Request) -> Response:
    await admin(request)
    services = services_of(request)
    group_id = group_param(request)
    move_to = request.query_params.get("move_to")
    if group_id == services.settings.default_group:
        raise bad(f"{group_id} is the default group (the setting default_group): visitors who name no group "
                  f"wait there, so it cannot be deleted")
    if move_to is not None:
        move_to = slug(move_to, "move_to")
        if move_to == group_id:
            raise bad("move_to must name another group than the one deleted")
    if await run_in_threadpool(get_group, group_id) is None:
        raise not_found(f"no group {group_id}")
    if move_to is not None and await run_in_threadpool(get_group, move_to) is None:
        raise not_found(f"no group {move_to} to move the conversations to")
    if move_to is None:
        busy = await run_in_threadpool(open_conversations, group_id, _BUSY_SHOWN)
        if busy:
            raise _busy(group_id, len(busy))
    else:
        for conversation in await run_in_threadpool(open_conversations, group_id):
            services.engine.send(Address.conversation(conversation), MoveToGroup(group=move_to))
    waiting = await _retire_queue(services.engine, group_id)
    if waiting:
        raise ApiError(409, codes.GROUP_BUSY, f"{waiting} visitor(s) still wait in group {group_id}"
                                              f"{f' (group {move_to} refused them: is its queue full?)' if move_to else ''}"
                                              f"; the group was not deleted, try again")
    agents = await run_in_threadpool(retire_group, group_id)
    for agent in agents:
        services.engine.send(Address.agent(agent), LeaveGroup(group_id))
    return Response(status_code=204)


def _busy(group_id: str, found: int) -> ApiError:
    many = f"at least {found}" if found >= _BUSY_SHOWN else str(found)
    return ApiError(409, codes.GROUP_BUSY,
                    f"group {group_id} has {many} open conversation(s) (with the bot, queued or with an agent); "
                    f"choose another group to move them to first (move_to)")


async def _retire_queue(engine: Engine, group_id: str) -> int:
    """Retire the group's queue once nobody waits in it: 0 when done (or when there is no queue to retire),
    else how many still wait after ``_RETIRE_WAIT_S`` (a queued conversation leaves its queue a moment
    after its MoveToGroup, and goes back to it if the other queue refuses it)."""
    address, deadline = Address.queue(group_id), time.monotonic() + _RETIRE_WAIT_S
    while True:
        try:
            snapshot = await asyncio.to_thread(engine.inspect, address)
        except Exception:  # a runtime that cannot show it: retire, and let the queue refuse if anyone waits
            log.warning("could not inspect the queue of group %s; retiring it unseen", group_id, exc_info=True)
            engine.send(address, RetireGroup())
            return 0
        if snapshot is None or snapshot.get("retired"):
            return 0
        waiting = len(snapshot.get("waiting") or ())
        if not waiting:
            engine.send(address, RetireGroup())
        elif time.monotonic() >= deadline:
            return waiting
        await asyncio.sleep(0.05)


async def _add(request: Request) -> Response:
    return await _member(request, join=True)


async def _remove(request: Request) -> Response:
    return await _member(request, join=False)


async def _member(request: Request, join: bool) -> Response:
    await admin(request)
    group_id, agent_id = group_param(request), str(request.path_params["agent"])
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
        ("PATCH", "/api/groups/{group}", _change),
        ("DELETE", "/api/groups/{group}", _delete),
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
            "get": operation("List skill groups: an admin every one, a supervisor those it supervises",
                             {"200": json_content({"type": "array", "items": ref("Group")}, "groups"),
                              **errors(401, 403)}),
        },
        "/api/groups/{group}": {
            "patch": operation("Change a group (admin); its queue takes the new configuration at once",
                               {"200": json_content(ref("Group"), "the group as stored now"),
                                **errors(400, 401, 403, 404, 413)}, body="GroupChange", params=("group",)),
            "delete": {**operation(
                "Delete a group (admin): its open conversations move to ?move_to= first (without it a busy "
                "group is 409 group_busy); members leave it, supervisors lose it, its queue refuses new requests",
                {"204": {"description": "deleted"}, **errors(400, 401, 403, 404, 409)}, params=("group",)),
                "parameters": [
                    {"name": "group", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "move_to", "in": "query", "required": False, "schema": SLUG_SCHEMA,
                     "description": "the group the open conversations move to"}]},
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
            "max_queue": {"type": "integer", "minimum": 1, "maximum": _MAX_QUEUE, "nullable": True},
            "last_agent_wait_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                                  "maximum": _MAX_WAIT_S, "nullable": True}}},
        "GroupChange": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "maxLength": MAX_TEXT},
            "policy": {"type": "string", "enum": list(POLICIES)},
            "max_queue": {"type": "integer", "minimum": 1, "maximum": _MAX_QUEUE, "nullable": True},
            "last_agent_wait_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                                  "maximum": _MAX_WAIT_S, "nullable": True}}},
    },
    error_codes=(codes.GROUP_BUSY,),
)
