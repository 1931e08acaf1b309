"""REST: login and sessions for agents and admins, and the admin's agents and skill groups.

Every handler decides, then acts: it validates the whole body first (strict
types: a field that must be a string is refused when it is an object such as
``{"$ne": null}``, so no request value ever reaches a query as an operator),
then reads or writes the store, then tells the engine. The store is the record;
the engine hears about a change only after it is stored, and a restart rebuilds
the engine from the store.

mongoengine and argon2 block, so both run in the thread pool; `Engine.send`
never blocks and is called from the loop.

The app must set ``app.state.services`` to an object shaped like
:class:`RestServices`. Errors are ``{"error": {"code", "message"}}`` with the codes
listed in :data:`OPENAPI` (``components.schemas.Error``).
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol

import orjson
from mongoengine.errors import NotUniqueError
from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.actors.messages import CreateAgent, CreateGroup, JoinGroup, LeaveGroup, SetSaturation
from switchboard.settings import GROUP_ID, ServerSettings
from switchboard.store.documents import SkillGroup, User, to_epoch
from switchboard.edges.auth import AuthError, Claims, Passwords, check_session, decode_token, end_session, end_sessions, \
    issue_token, start_session

__all__ = ["RestServices", "ApiError", "ORJSONResponse", "rest_routes", "OPENAPI", "user_json", "group_json",
           "MAX_BODY_BYTES", "EMAIL_PATTERN", "MIN_PASSWORD", "MAX_PASSWORD"]

MAX_BODY_BYTES = 64 * 1024
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_TEXT = 200
_NICKNAME_SCHEMA = {"type": "string", "maxLength": MAX_TEXT, "pattern": r"\S",
                    "description": "shown to visitors; trimmed, never blank (on creation it defaults to the email's local part)"}
POLICIES = ("balanced", "last_agent_first", "designated")
# Loose: one @, a dot in the domain, no control characters. Every pattern here is used with .fullmatch:
# "$" also matches before a final newline, which let "support\n" pass as a group id.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+$")
_SLUG = GROUP_ID  # ids of groups (and of the default group in the settings)
_AGENT_ID = re.compile(r"^a-[0-9a-f]{8}$")


class RestServices(Protocol):
    """What the REST handlers need from ``request.app.state.services``.

    An optional ``passwords`` attribute (a :class:`Passwords`) is used for hashing
    when :func:`rest_routes` was not given one.
    """

    engine: Engine
    redis: Redis
    settings: ServerSettings
    secret: str


class ApiError(Exception):
    """An answer other than success: HTTP `status`, a stable `code`, a human `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, code: str, message: str) -> ORJSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: Handler) -> Handler:
    """Turn ApiError/AuthError raised anywhere in `handler` into the JSON error answer."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except (ApiError, AuthError) as exc:
            return _error(exc.status, exc.code, exc.message)

    return run


# --- request bodies -------------------------------------------------------------------------------


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message)


async def _body(request: Request, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON object in the body, with only `allowed` keys and every `required` one."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad("the body must be JSON") from None
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _bad(f"unknown field(s): {', '.join(unknown)}; expected {', '.join(allowed)}")
    missing = [name for name in required if name not in data]
    if missing:
        raise _bad(f"missing field(s): {', '.join(missing)}")
    return data


def _string(data: dict[str, Any], name: str, *, max_len: int = MAX_TEXT) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    if len(value) > max_len:
        raise _bad(f"{name} must be at most {max_len} characters")
    return value


def _nickname(data: dict[str, Any]) -> str:
    """What visitors see as the agent's name: never blank (a visitor would see nobody), trimmed."""
    value = _string(data, "nickname").strip()
    if not value:
        raise _bad("nickname must not be blank")
    return value


def _int(data: dict[str, Any], name: str, lo: int, hi: int) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _bad(f"{name} must be an integer from {lo} to {hi}")
    return value


def _email(data: dict[str, Any], name: str = "email") -> str:
    value = _string(data, name, max_len=254).strip().lower()
    if not EMAIL_PATTERN.fullmatch(value):
        raise _bad(f"{name} must look like an email address")
    return value


def _new_password(data: dict[str, Any], name: str) -> str:
    value = _string(data, name, max_len=MAX_PASSWORD)
    if len(value) < MIN_PASSWORD:
        raise _bad(f"{name} must be at least {MIN_PASSWORD} characters")
    return value


def _slug(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise _bad(f"{what} must be a slug: lower-case letters, digits, '_' or '-', at most 64, e.g. 'billing'")
    return value


def _groups(data: dict[str, Any]) -> tuple[str, ...]:
    value = data["groups"]
    if not isinstance(value, list) or len(value) > 100:
        raise _bad("groups must be a list of at most 100 group ids")
    return tuple(dict.fromkeys(_slug(g, "each group") for g in value))


# --- representations ------------------------------------------------------------------------------


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it: never the password hash or the token version."""
    return {"id": user.id, "role": user.role, "email": user.email, "nickname": user.nickname,
            "avatar_url": user.avatar_url, "phone": user.phone, "saturation": user.saturation,
            "groups": list(user.groups), "created_at": to_epoch(user.created_at)}


def group_json(group: SkillGroup) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "policy": group.policy, "max_queue": group.max_queue,
            "last_agent_wait_s": group.last_agent_wait_s, "created_at": to_epoch(group.created_at)}


# --- blocking store calls (run in the thread pool) ------------------------------------------------


def _user_by_id(user_id: str) -> User | None:
    user: User | None = User.objects(id=user_id).first()
    return user


def _user_by_email(email: str) -> User | None:
    user: User | None = User.objects(email=email).first()
    return user


def _agent(agent_id: str) -> User | None:
    user: User | None = User.objects(id=agent_id, role="agent").first()
    return user


def _insert_agent(email: str, password_hash: str, nickname: str, saturation: int, groups: tuple[str, ...]) -> User:
    """Store a new agent under a fresh ``a-<8 hex>`` id; ApiError 409 if the email is taken."""
    for _ in range(5):
        user = User(id=f"a-{secrets.token_hex(4)}", role="agent", email=email, nickname=nickname,
                    password_hash=password_hash, saturation=saturation, groups=list(groups),
                    created_at=_now())
        try:
            user.save(force_insert=True)
            return user
        except NotUniqueError:
            if User.objects(email=email).first() is not None:
                raise ApiError(409, "conflict", f"a user with email {email} exists") from None
    raise RuntimeError("could not draw a free agent id in 5 tries")  # pragma: no cover


def _missing_groups(groups: tuple[str, ...]) -> list[str]:
    found = {g.id for g in SkillGroup.objects(id__in=list(groups)).only("id")} if groups else set()
    return [g for g in groups if g not in found]


def _insert_group(group: SkillGroup) -> None:
    try:
        group.save(force_insert=True)
    except NotUniqueError:
        raise ApiError(409, "conflict", f"group {group.id} exists") from None


def _change_password(user_id: str, token_version: int, password_hash: str) -> bool:
    # Conditional on the version the caller was checked against: two racing changes cannot both win.
    done: int = User.objects(id=user_id, token_version=token_version).update_one(
        set__password_hash=password_hash, inc__token_version=1)
    return done == 1


def _replace_hash(user_id: str, old_hash: str, new_hash: str) -> None:
    User.objects(id=user_id, password_hash=old_hash).update_one(set__password_hash=new_hash)


def _update_agent(agent_id: str, changes: dict[str, Any]) -> tuple[User | None, int | None]:
    """Apply `changes`; the agent after the change and its saturation before it (None: no such agent)."""
    before = _agent(agent_id)
    if before is None:
        return None, None
    if changes:
        User.objects(id=agent_id, role="agent").update_one(**{f"set__{k}": v for k, v in changes.items()})
    return _agent(agent_id), before.saturation


def _membership(group_id: str, agent_id: str, join: bool) -> bool:
    """Add or remove; True if that changed anything. ApiError 404 for an unknown group or agent."""
    if SkillGroup.objects(id=group_id).first() is None:
        raise ApiError(404, "not_found", f"no group {group_id}")
    update = {"add_to_set__groups": group_id} if join else {"pull__groups": group_id}
    result = User.objects(id=agent_id, role="agent").update_one(full_result=True, **update)
    if result.matched_count == 0:
        raise ApiError(404, "not_found", f"no agent {agent_id}")
    return bool(result.modified_count)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- handlers -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Caller:
    user: User
    claims: Claims


class _Api:
    """The handlers; an object only so tests can give it a cheaper password hasher."""

    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords
        self._default: Passwords | None = None

    def passwords(self, request: Request) -> Passwords:
        """The hasher: rest_routes' argument, else ``services.passwords``, else argon2-cffi's defaults."""
        chosen = self._passwords or getattr(request.app.state.services, "passwords", None)
        if isinstance(chosen, Passwords):
            return chosen
        if self._default is None:
            self._default = Passwords()
        return self._default

    # authentication

    async def caller(self, request: Request) -> _Caller:
        """The authenticated user: a valid bearer token whose session is live (AuthError otherwise)."""
        services: RestServices = request.app.state.services
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("token_missing", "send 'Authorization: Bearer <token>' (from POST /api/auth/login)")
        claims = decode_token(token.strip(), secret=services.secret)
        user = await run_in_threadpool(_user_by_id, claims.user_id)
        if user is None:
            raise AuthError("session_ended", "the user no longer exists")
        await check_session(services.redis, claims, user.token_version)
        return _Caller(user, claims)

    async def admin(self, request: Request) -> _Caller:
        caller = await self.caller(request)
        if caller.user.role != "admin":
            raise ApiError(403, "forbidden", "only an admin may do this")
        return caller

    # login and the caller's own account

    async def login(self, request: Request) -> Response:
        data = await _body(request, ("email", "password"), ("email", "password"))
        email = _string(data, "email", max_len=254).strip().lower()
        password = _string(data, "password", max_len=MAX_PASSWORD)
        services: RestServices = request.app.state.services
        passwords = self.passwords(request)
        user = await run_in_threadpool(_user_by_email, email) if email else None
        if user is None:
            await run_in_threadpool(passwords.verify_unknown, password)
            raise ApiError(401, "bad_credentials", "wrong email or password")
        if not await run_in_threadpool(passwords.verify, user.password_hash, password):
            raise ApiError(401, "bad_credentials", "wrong email or password")
        if passwords.needs_rehash(user.password_hash):
            new_hash = await run_in_threadpool(passwords.hash, password)
            await run_in_threadpool(_replace_hash, user.id, user.password_hash, new_hash)
        ttl = services.settings.token_ttl_s
        sid = await start_session(services.redis, user.id, ttl)
        token = issue_token(user.id, user.role, user.token_version, sid, ttl, secret=services.secret)
        return ORJSONResponse({"token": token, "expires_in": ttl, "user": user_json(user)})

    async def logout(self, request: Request) -> Response:
        caller = await self.caller(request)
        await end_session(request.app.state.services.redis, caller.user.id, caller.claims.sid)
        return Response(status_code=204)

    async def me(self, request: Request) -> Response:
        caller = await self.caller(request)
        return ORJSONResponse(user_json(caller.user))

    async def change_password(self, request: Request) -> Response:
        caller = await self.caller(request)
        data = await _body(request, ("old_password", "new_password"), ("old_password", "new_password"))
        old = _string(data, "old_password", max_len=MAX_PASSWORD)
        new = _new_password(data, "new_password")
        user, passwords = caller.user, self.passwords(request)
        if not await run_in_threadpool(passwords.verify, user.password_hash, old):
            raise ApiError(401, "bad_credentials", "the old password is wrong")
        new_hash = await run_in_threadpool(passwords.hash, new)
        if not await run_in_threadpool(_change_password, user.id, user.token_version, new_hash):
            raise AuthError("session_ended", "the password was changed meanwhile; log in again")
        await end_sessions(request.app.state.services.redis, user.id)
        return Response(status_code=204)

    # agents (admin)

    async def create_agent(self, request: Request) -> Response:
        await self.admin(request)
        data = await _body(request, ("email", "password", "nickname", "saturation", "groups"),
                           ("email", "password"))
        email = _email(data)
        password = _new_password(data, "password")
        nickname = _nickname(data) if "nickname" in data else email.split("@", 1)[0]  # visitors see a name
        saturation = _int(data, "saturation", 1, 1000) if "saturation" in data else 5
        groups = _groups(data) if "groups" in data else ()
        missing = await run_in_threadpool(_missing_groups, groups)
        if missing:
            raise _bad(f"unknown group(s): {', '.join(missing)}")
        password_hash = await run_in_threadpool(self.passwords(request).hash, password)
        user = await run_in_threadpool(_insert_agent, email, password_hash, nickname, saturation, groups)
        engine: Engine = request.app.state.services.engine
        engine.send(Address.agent(user.id), CreateAgent(saturation=saturation, groups=groups, name=nickname))
        return ORJSONResponse(user_json(user), status_code=201)

    async def list_agents(self, request: Request) -> Response:
        await self.admin(request)
        agents = await run_in_threadpool(lambda: list(User.objects(role="agent")))
        return ORJSONResponse([user_json(a) for a in sorted(agents, key=lambda a: a.email)])

    async def update_agent(self, request: Request) -> Response:
        await self.admin(request)
        agent_id = request.path_params["agent"]
        data = await _body(request, ("nickname", "saturation"))
        changes: dict[str, Any] = {}
        if "nickname" in data:
            changes["nickname"] = _nickname(data)
        if "saturation" in data:
            changes["saturation"] = _int(data, "saturation", 1, 1000)
        user, before = await run_in_threadpool(_update_agent, agent_id, changes)
        if user is None:
            raise ApiError(404, "not_found", f"no agent {agent_id}")
        if "saturation" in changes and changes["saturation"] != before:
            engine: Engine = request.app.state.services.engine
            engine.send(Address.agent(agent_id), SetSaturation(changes["saturation"]))
        names = getattr(request.app.state.services, "names", None)
        if "nickname" in changes and names is not None:  # at once here; other processes within Names.ttl_s
            names.set_agent(agent_id, user.nickname)
        return ORJSONResponse(user_json(user))

    # groups (admin)

    async def create_group(self, request: Request) -> Response:
        await self.admin(request)
        data = await _body(request, ("id", "name", "policy", "max_queue", "last_agent_wait_s"), ("id",))
        group_id = _slug(data["id"], "id")
        name = _string(data, "name") if "name" in data else ""
        policy = data.get("policy", "balanced")
        if not isinstance(policy, str) or policy not in POLICIES:
            raise _bad(f"policy must be one of {', '.join(POLICIES)}")
        max_queue = _int(data, "max_queue", 1, 1_000_000) if data.get("max_queue") is not None else None
        wait = data.get("last_agent_wait_s")
        if wait is not None and (not isinstance(wait, (int, float)) or isinstance(wait, bool)
                                 or not 0 < wait <= 86400):
            raise _bad("last_agent_wait_s must be a number of seconds above 0 and at most 86400, or null")
        group = SkillGroup(id=group_id, name=name, policy=policy, max_queue=max_queue,
                           last_agent_wait_s=None if wait is None else float(wait), created_at=_now())
        await run_in_threadpool(_insert_group, group)
        engine: Engine = request.app.state.services.engine
        engine.send(Address.queue(group_id), CreateGroup(policy=policy, max_queue=max_queue,
                                                         last_agent_wait_s=group.last_agent_wait_s))
        return ORJSONResponse(group_json(group), status_code=201)

    async def list_groups(self, request: Request) -> Response:
        await self.admin(request)
        groups = await run_in_threadpool(lambda: list(SkillGroup.objects()))
        return ORJSONResponse([group_json(g) for g in sorted(groups, key=lambda g: g.id)])

    async def add_member(self, request: Request) -> Response:
        return await self._member(request, join=True)

    async def remove_member(self, request: Request) -> Response:
        return await self._member(request, join=False)

    async def _member(self, request: Request, join: bool) -> Response:
        await self.admin(request)
        group_id, agent_id = request.path_params["group"], request.path_params["agent"]
        if not _SLUG.fullmatch(group_id):
            raise ApiError(404, "not_found", f"no group {group_id}")
        if not _AGENT_ID.fullmatch(agent_id):
            raise ApiError(404, "not_found", f"no agent {agent_id}")
        changed = await run_in_threadpool(_membership, group_id, agent_id, join)
        if changed:  # the agent entity ignores a repeated join, but refuses leaving a group it is not in
            engine: Engine = request.app.state.services.engine
            engine.send(Address.agent(agent_id), JoinGroup(group_id) if join else LeaveGroup(group_id))
        return Response(status_code=204)

    async def openapi(self, request: Request) -> Response:
        return ORJSONResponse(OPENAPI)


def rest_routes(*, passwords: Passwords | None = None) -> list[BaseRoute]:
    """The REST routes; `passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2id
    with argon2-cffi's default (production) cost."""
    api = _Api(passwords)
    table: list[tuple[str, str, Handler]] = [
        ("POST", "/api/auth/login", api.login),
        ("POST", "/api/auth/logout", api.logout),
        ("GET", "/api/me", api.me),
        ("POST", "/api/me/password", api.change_password),
        ("POST", "/api/agents", api.create_agent),
        ("GET", "/api/agents", api.list_agents),
        ("PATCH", "/api/agents/{agent}", api.update_agent),
        ("POST", "/api/groups", api.create_group),
        ("GET", "/api/groups", api.list_groups),
        ("PUT", "/api/groups/{group}/members/{agent}", api.add_member),
        ("DELETE", "/api/groups/{group}/members/{agent}", api.remove_member),
        ("GET", "/api/openapi.json", api.openapi),
    ]
    return [Route(path, _endpoint(handler), methods=[method], name=f"{method.lower()} {path}")
            for method, path, handler in table]


# --- OpenAPI --------------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "invalid_argument: not JSON, not an object, an unknown or missing field, a wrong type or value",
            401: "token_missing, token_invalid, token_expired or session_ended",
            403: "forbidden: not an admin", 404: "not_found", 409: "conflict: the email or id is taken",
            413: "payload_too_large: a body above 64 KiB"}
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


def _op(summary: str, responses: dict[str, Any], *, body: str | None = None, auth: bool = True,
        params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op["security"] = [{"bearer": []}] if auth else []
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in params]
    return op


_STR = {"type": "string"}
_SLUG_SCHEMA = {"type": "string", "pattern": f"^{_SLUG.pattern}$"}  # JSON Schema patterns search
_NO_CONTENT = {"204": {"description": "done"}}
_ADMIN = (400, 401, 403, 413)

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Switchboard REST", "version": "1",
             "description": "Agents and admins log in here; admins manage agents and skill groups. "
                            "Times are epoch seconds. Every error is {\"error\": {\"code\", \"message\"}}."},
    "paths": {
        "/api/auth/login": {"post": _op(
            "Log in with email and password; the token goes in 'Authorization: Bearer'",
            {"200": _json(_ref("Login"), "logged in"),
             "401": _json(_ref("Error"), "bad_credentials: unknown email or wrong password (one answer)"),
             **_errors(400, 413)}, body="Credentials", auth=False)},
        "/api/auth/logout": {"post": _op("End this token's session only", {**_NO_CONTENT, **_errors(401)})},
        "/api/me": {"get": _op("The logged-in user", {"200": _json(_ref("User"), "the user"), **_errors(401)})},
        "/api/me/password": {"post": _op(
            "Change one's password; ends every session of the user (log in again)",
            {**_NO_CONTENT, **_errors(400, 413),
             "401": _json(_ref("Error"), "bad_credentials (old password wrong) or a token error")},
            body="PasswordChange")},
        "/api/agents": {
            "post": _op("Create an agent (and its dispatch entity, offline)",
                        {"201": _json(_ref("User"), "created"), **_errors(*_ADMIN, 409)}, body="NewAgent"),
            "get": _op("List agents", {"200": _json({"type": "array", "items": _ref("User")}, "agents"),
                                       **_errors(401, 403)}),
        },
        "/api/agents/{agent}": {"patch": _op(
            "Change an agent's nickname or saturation", {"200": _json(_ref("User"), "the agent"),
                                                         **_errors(*_ADMIN, 404)},
            body="AgentChange", params=("agent",))},
        "/api/groups": {
            "post": _op("Create a skill group (and its queue)", {"201": _json(_ref("Group"), "created"),
                                                                 **_errors(*_ADMIN, 409)}, body="NewGroup"),
            "get": _op("List skill groups", {"200": _json({"type": "array", "items": _ref("Group")}, "groups"),
                                             **_errors(401, 403)}),
        },
        "/api/groups/{group}/members/{agent}": {
            "put": _op("Add an agent to a group (idempotent)", {**_NO_CONTENT, **_errors(401, 403, 404)},
                       params=("group", "agent")),
            "delete": _op("Remove an agent from a group (idempotent)", {**_NO_CONTENT, **_errors(401, 403, 404)},
                          params=("group", "agent")),
        },
        "/api/openapi.json": {"get": _op("This description", {"200": {"description": "OpenAPI 3"}}, auth=False)},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": [
                    "invalid_argument", "payload_too_large", "bad_credentials", "token_missing", "token_invalid",
                    "token_expired", "session_ended", "forbidden", "not_found", "conflict"]},
                    "message": _STR}}}},
            "Credentials": {"type": "object", "required": ["email", "password"], "additionalProperties": False,
                            "properties": {"email": _STR, "password": _STR}},
            "Login": {"type": "object", "required": ["token", "expires_in", "user"], "properties": {
                "token": _STR, "expires_in": {"type": "number", "description": "seconds"}, "user": _ref("User")}},
            "PasswordChange": {"type": "object", "required": ["old_password", "new_password"],
                               "additionalProperties": False,
                               "properties": {"old_password": _STR,
                                              "new_password": {"type": "string", "minLength": 8,
                                                               "maxLength": MAX_PASSWORD}}},
            "User": {"type": "object", "properties": {
                "id": _STR, "role": {"type": "string", "enum": ["admin", "agent"]},
                "email": _STR, "nickname": _STR, "avatar_url": _STR, "phone": _STR,
                "saturation": {"type": "integer"}, "groups": {"type": "array", "items": _STR},
                "created_at": {"type": "number", "nullable": True}}},
            "NewAgent": {"type": "object", "required": ["email", "password"], "additionalProperties": False,
                         "properties": {
                             "email": {"type": "string", "format": "email", "maxLength": 254},
                             "password": {"type": "string", "minLength": 8, "maxLength": MAX_PASSWORD},
                             "nickname": _NICKNAME_SCHEMA,
                             "saturation": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                             "groups": {"type": "array", "maxItems": 100, "items": _SLUG_SCHEMA,
                                        "description": "ids of existing groups"}}},
            "AgentChange": {"type": "object", "additionalProperties": False, "properties": {
                "nickname": _NICKNAME_SCHEMA,
                "saturation": {"type": "integer", "minimum": 1, "maximum": 1000}}},
            "Group": {"type": "object", "properties": {
                "id": _STR, "name": _STR, "policy": {"type": "string", "enum": list(POLICIES)},
                "max_queue": {"type": "integer", "nullable": True},
                "last_agent_wait_s": {"type": "number", "nullable": True},
                "created_at": {"type": "number", "nullable": True}}},
            "NewGroup": {"type": "object", "required": ["id"], "additionalProperties": False, "properties": {
                "id": _SLUG_SCHEMA, "name": {"type": "string", "maxLength": MAX_TEXT},
                "policy": {"type": "string", "enum": list(POLICIES), "default": "balanced"},
                "max_queue": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "nullable": True},
                "last_agent_wait_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                                      "maximum": 86400, "nullable": True}}},
        },
    },
}
