"""REST for the admin's agents: create, list, rename or resize them.

The store first, then the engine: a new agent is stored (under a fresh ``a-<8 hex>`` id), then its
dispatch entity is created (offline); a saturation change reaches the entity only when it changed. A
nickname change is at once in this process's display names and, in other processes, within
:data:`switchboard.edges.delivery.names.TTL_S`. A nickname may be blank (the field is optional): the agent
then has none, and visitors see the default name (:data:`~switchboard.store.users.DEFAULT_AGENT_NAME`).
``/api/users`` (:mod:`.accounts`) is the fuller version of these routes (roles, invitations, scope).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateAgent, SetSaturation
from switchboard.store.groups import missing_groups
from switchboard.store.users import DEFAULT_AGENT_NAME, insert_user, list_agents, update_agent
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, Passwords
from switchboard.edges.rest.sessions import NICKNAME_SCHEMA, nickname_field, user_json
from switchboard.edges.rest.toolkit import SLUG_SCHEMA, ApiPart, Body, ORJSONResponse, admin, bad, \
    email_field, errors, int_field, json_content, make_routes, new_password_field, operation, passwords_for, \
    read_json, ref, services_of, slug

__all__ = ["agent_routes", "AGENTS_API", "groups_field", "MAX_GROUPS"]

_ADMIN_ERRORS = (400, 401, 403, 413)
MAX_GROUPS = 100


def groups_field(data: Body, name: str = "groups") -> tuple[str, ...]:
    """A list of group ids (slugs), duplicates dropped, in the order given."""
    value = data[name]
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        raise bad(f"{name} must be a list of at most {MAX_GROUPS} group ids")
    return tuple(dict.fromkeys(slug(g, f"each of {name}") for g in value))


class _Agents:
    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords

    async def create(self, request: Request) -> Response:
        await admin(request)
        data = await read_json(request, ("email", "password", "nickname", "saturation", "groups"),
                               ("email", "password"))
        email = email_field(data)
        password = new_password_field(data, "password")
        nickname = nickname_field(data) if "nickname" in data else ""  # "": visitors see the default name
        saturation = int_field(data, "saturation", 1, 1000) if "saturation" in data else 5
        groups = groups_field(data) if "groups" in data else ()
        missing = await run_in_threadpool(missing_groups, groups)
        if missing:
            raise bad(f"unknown group(s): {', '.join(missing)}")
        password_hash = await run_in_threadpool(passwords_for(request, self._passwords).hash, password)
        user = await run_in_threadpool(lambda: insert_user("agent", email, password_hash, nickname=nickname,
                                                           saturation=saturation, groups=groups))
        services_of(request).engine.send(Address.agent(user.id),
                                         CreateAgent(saturation=saturation, groups=groups, name=nickname))
        return ORJSONResponse(user_json(user), status_code=201)

    async def list(self, request: Request) -> Response:
        await admin(request)
        agents = await run_in_threadpool(list_agents)
        return ORJSONResponse([user_json(a) for a in agents])

    async def update(self, request: Request) -> Response:
        await admin(request)
        agent_id = str(request.path_params["agent"])
        data = await read_json(request, ("nickname", "saturation"))
        nickname = nickname_field(data) if "nickname" in data else None
        saturation = int_field(data, "saturation", 1, 1000) if "saturation" in data else None
        user, before = await run_in_threadpool(lambda: update_agent(agent_id, nickname=nickname,
                                                                    saturation=saturation))
        if saturation is not None and saturation != before:
            services_of(request).engine.send(Address.agent(agent_id), SetSaturation(saturation))
        names = getattr(request.app.state.services, "names", None)
        if nickname is not None and names is not None:  # at once here; other processes within Names.ttl_s
            names.set_agent(agent_id, user.nickname or DEFAULT_AGENT_NAME)
        return ORJSONResponse(user_json(user))


def agent_routes(passwords: Passwords | None = None) -> list[BaseRoute]:
    """`passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2-cffi's defaults."""
    api = _Agents(passwords)
    return make_routes([
        ("POST", "/api/agents", api.create),
        ("GET", "/api/agents", api.list),
        ("PATCH", "/api/agents/{agent}", api.update),
    ])


AGENTS_API = ApiPart(
    paths={
        "/api/agents": {
            "post": operation("Create an agent (and its dispatch entity, offline)",
                              {"201": json_content(ref("User"), "created"), **errors(*_ADMIN_ERRORS, 409)},
                              body="NewAgent"),
            "get": operation("List agents", {"200": json_content({"type": "array", "items": ref("User")}, "agents"),
                                             **errors(401, 403)}),
        },
        "/api/agents/{agent}": {"patch": operation(
            "Change an agent's nickname or saturation", {"200": json_content(ref("User"), "the agent"),
                                                         **errors(*_ADMIN_ERRORS, 404)},
            body="AgentChange", params=("agent",))},
    },
    schemas={
        "NewAgent": {"type": "object", "required": ["email", "password"], "additionalProperties": False,
                     "properties": {
                         "email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL},
                         "password": {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD},
                         "nickname": NICKNAME_SCHEMA,
                         "saturation": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                         "groups": {"type": "array", "maxItems": MAX_GROUPS, "items": SLUG_SCHEMA,
                                    "description": "ids of existing groups"}}},
        "AgentChange": {"type": "object", "additionalProperties": False, "properties": {
            "nickname": NICKNAME_SCHEMA,
            "saturation": {"type": "integer", "minimum": 1, "maximum": 1000}}},
    },
)
