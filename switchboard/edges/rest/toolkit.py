"""What every REST resource module is built from: errors, bodies, the caller, routes, the OpenAPI pieces.

A handler decides, then acts: it reads the whole body first (:func:`read_json` and the field readers are
strict: a field that must be a string is refused when it is an object such as ``{"$ne": null}``, so no
request value ever reaches a query as an operator), then reads or writes the store in the thread pool
(mongoengine and argon2 block), then tells the engine, which hears of a change only once it is stored.

Every failure is raised and answered in one place, :func:`endpoint`, as ``{"error": {"code", "message"}}``:
an :class:`ApiError` as it says, an :class:`~switchboard.edges.auth.AuthError` as 401, and the store's facts
(:mod:`switchboard.store.errors`) as HTTP: :class:`~switchboard.store.errors.Duplicate` is 409 ``conflict``,
:class:`~switchboard.store.errors.NotFound` 404 ``not_found``; Redis or the store out of reach is 503
``unavailable`` (with ``Retry-After``), never a plain-text 500.

Each resource module offers its routes (a function, built with :func:`make_routes`) and its share of the
description (an :class:`ApiPart`); :mod:`switchboard.edges.rest.api` assembles both, with :func:`describe`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from switchboard.actors.engine import Engine
from switchboard.settings import GROUP_ID, ServerSettings
from switchboard.store.documents import User
from switchboard.store.errors import Duplicate, NotFound
from switchboard.store.users import get_user
from switchboard.edges import codes
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, AuthError, Claims, Passwords, \
    check_session, decode_token
from switchboard.edges.protocol import EMAIL_PATTERN
from switchboard.edges.scope import Scope

__all__ = [
    "RestServices", "ApiError", "ORJSONResponse", "Handler", "endpoint", "make_routes", "services_of",
    "INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "BAD_CREDENTIALS", "TOKEN_MISSING", "FORBIDDEN", "NOT_FOUND", "CONFLICT",
    "bad", "too_large", "bad_credentials", "forbidden", "not_found", "UNAVAILABLE_ERRORS",
    "Caller", "caller", "admin", "steerer", "passwords_for",
    "MAX_BODY_BYTES", "MAX_TEXT", "Body", "read_raw", "read_json", "string_field", "int_field", "email_field",
    "new_password_field", "slug", "group_param", "query_params", "SLUG_SCHEMA",
    "OpenApi", "ApiPart", "describe", "ref", "json_content", "errors", "operation", "ERROR_CODES",
]

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 200

# REST's own error codes (the token ones are the sockets' too: switchboard.edges.codes); docs/protocol.md
# lists them under "REST" and the description's Error schema enumerates them (ERROR_CODES).
INVALID_ARGUMENT = "invalid_argument"
PAYLOAD_TOO_LARGE = "payload_too_large"
BAD_CREDENTIALS = "bad_credentials"
TOKEN_MISSING = "token_missing"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
CONFLICT = "conflict"


class RestServices(Protocol):
    """What every handler needs from ``request.app.state.services``.

    Optional, read with ``getattr`` where used: ``passwords`` (a :class:`Passwords`, see
    :func:`passwords_for`), ``names`` (agents' display names), ``kb``, ``bot_settings`` and ``relay``.
    """

    engine: Engine
    redis: Redis
    settings: ServerSettings
    secret: str


def services_of(request: Request) -> RestServices:
    services: RestServices = request.app.state.services
    return services


# --- errors and answers ---------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than success: HTTP `status`, a stable `code`, a human `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad(message: str) -> ApiError:
    return ApiError(400, INVALID_ARGUMENT, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, PAYLOAD_TOO_LARGE, message)


def bad_credentials(message: str) -> ApiError:
    return ApiError(401, BAD_CREDENTIALS, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, FORBIDDEN, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, NOT_FOUND, message)


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> ORJSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "5"} if status == 503 else None
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def endpoint(handler: Handler) -> Handler:
    """`handler` with every refusal raised in it (ApiError, AuthError, a store error) answered as JSON."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except (ApiError, AuthError) as exc:
            return _error(exc.status, exc.code, exc.message)
        except Duplicate as exc:
            return _error(409, CONFLICT, str(exc))
        except NotFound as exc:
            return _error(404, NOT_FOUND, str(exc))
        except UNAVAILABLE_ERRORS as exc:  # the gate (edges/health.py) answers the same once it has noticed
            return _error(503, codes.UNAVAILABLE, f"the server cannot reach {_part_of(exc)} at the moment; "
                                                  f"try again in a few seconds")

    return run


# Redis or the store gone (refused, reset, timed out): a 503 to retry, not a 500 with a traceback.
UNAVAILABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionFailure)


def _part_of(exc: BaseException) -> str:
    return "the store" if isinstance(exc, ConnectionFailure) else "Redis"


def make_routes(table: Iterable[tuple[str, str, Handler]]) -> list[BaseRoute]:
    """One route per (method, path, handler), each wrapped in :func:`endpoint`."""
    return [Route(path, endpoint(handler), methods=[method], name=f"{method.lower()} {path}")
            for method, path, handler in table]


# --- the caller -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    claims: Claims
    scope: Scope


async def caller(request: Request) -> Caller:
    """The authenticated user: a valid bearer token whose session is live (AuthError otherwise)."""
    services = services_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(TOKEN_MISSING, "send 'Authorization: Bearer <token>' (from POST /api/auth/login)")
    claims = decode_token(token.strip(), secret=services.secret)
    user = await run_in_threadpool(get_user, claims.user_id)
    if user is None or user.deleted_at is not None or not user.active:
        raise AuthError(codes.SESSION_ENDED, "the user no longer exists or is deactivated")
    await check_session(services.redis, claims, user.token_version)
    return Caller(user, claims, Scope.of(user))


async def admin(request: Request) -> Caller:
    """The caller, if an admin (ApiError 403 otherwise)."""
    found = await caller(request)
    if not found.scope.is_admin:
        raise forbidden("only an admin may do this")
    return found


async def steerer(request: Request) -> Caller:
    """The caller, if an admin or a supervisor of some group (ApiError 403 otherwise); the handler still asks
    ``scope.manages`` for the group it touches."""
    found = await caller(request)
    if not found.scope.steers:
        raise forbidden("only an admin or a group's supervisor may do this")
    return found


@functools.cache
def _argon2_defaults() -> Passwords:
    return Passwords()


def passwords_for(request: Request, chosen: Passwords | None = None) -> Passwords:
    """The hasher: `chosen` (tests: a cheap one), else ``services.passwords``, else argon2-cffi's defaults."""
    found = chosen or getattr(request.app.state.services, "passwords", None)
    return found if isinstance(found, Passwords) else _argon2_defaults()


# --- request bodies -------------------------------------------------------------------------------

Body = dict[str, object]  # a JSON object as sent: every value still to be checked


def _size(n: int) -> str:
    """`n` bytes as people read it: 2 MiB, 64 KiB, 1000 bytes."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


async def read_raw(request: Request, max_bytes: int, what: str = "the body") -> bytes:
    """The body as sent (a picture, a document), read up to `max_bytes`: ApiError 413 ``payload_too_large``
    naming the limit as soon as it is passed, or at once when ``Content-Length`` says it will be."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large(f"{what} is larger than {_size(max_bytes)}")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large(f"{what} is larger than {_size(max_bytes)}")
    return bytes(raw)


async def read_json(request: Request, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Body:
    """The JSON object in the body (at most MAX_BODY_BYTES), with only `allowed` keys and every `required` one."""
    raw = await read_raw(request, MAX_BODY_BYTES)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("the body must be JSON") from None
    if not isinstance(data, dict):
        raise bad("the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise bad(f"unknown field(s): {', '.join(unknown)}; expected {', '.join(allowed)}")
    missing = [name for name in required if name not in data]
    if missing:
        raise bad(f"missing field(s): {', '.join(missing)}")
    return data


def string_field(data: Body, name: str, *, max_len: int = MAX_TEXT) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise bad(f"{name} must be a string")
    if len(value) > max_len:
        raise bad(f"{name} must be at most {max_len} characters")
    return value


def int_field(data: Body, name: str, lo: int, hi: int) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise bad(f"{name} must be an integer from {lo} to {hi}")
    return value


def email_field(data: Body, name: str = "email") -> str:
    """Trimmed and lower-cased, as users are stored."""
    value = string_field(data, name, max_len=MAX_EMAIL).strip().lower()
    if not EMAIL_PATTERN.fullmatch(value):
        raise bad(f"{name} must look like an email address")
    return value


def new_password_field(data: Body, name: str) -> str:
    value = string_field(data, name, max_len=MAX_PASSWORD)
    if len(value) < MIN_PASSWORD:
        raise bad(f"{name} must be at least {MIN_PASSWORD} characters")
    return value


SLUG_SCHEMA = {"type": "string", "pattern": f"^{GROUP_ID.pattern}$"}  # JSON Schema patterns search


def slug(value: object, what: str) -> str:
    """A group id (settings.GROUP_ID): the only ids a body may name."""
    if not isinstance(value, str) or not GROUP_ID.fullmatch(value):
        raise bad(f"{what} must be a slug: lower-case letters, digits, '_' or '-', at most 64, e.g. 'billing'")
    return value


def query_params(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query's parameters, each once and each one of `allowed` (else 400 naming them), empty ones dropped."""
    allowed = tuple(allowed)
    query = request.query_params
    unknown = sorted(set(query.keys()) - set(allowed))
    if unknown:
        raise bad(f"unknown query parameter(s): {', '.join(unknown)}; expected {', '.join(allowed)}")
    repeated = sorted(k for k in set(query.keys()) if len(query.getlist(k)) > 1)
    if repeated:
        raise bad(f"query parameter(s) given more than once: {', '.join(repeated)}")
    return {k: v for k, v in query.items() if v != ""}


def group_param(request: Request) -> str:
    """The ``{group}`` of the path: a group id, or 404 (no group can have another name)."""
    group_id = str(request.path_params["group"])
    if not GROUP_ID.fullmatch(group_id):
        raise not_found(f"no group {group_id[:64]}")
    return group_id


# --- the OpenAPI description ----------------------------------------------------------------------

OpenApi = dict[str, Any]  # a piece of an OpenAPI 3.0 document: nested JSON

# The codes of the Error schema that every part shares; a part adds its own (ApiPart.error_codes).
ERROR_CODES = (INVALID_ARGUMENT, PAYLOAD_TOO_LARGE, BAD_CREDENTIALS, TOKEN_MISSING, codes.TOKEN_INVALID,
               codes.TOKEN_EXPIRED, codes.SESSION_ENDED, FORBIDDEN, NOT_FOUND, CONFLICT, codes.UNAVAILABLE)


@dataclass(frozen=True)
class ApiPart:
    """One resource's share of the description: its paths, the schemas they name, its own error codes."""

    paths: OpenApi
    schemas: OpenApi = field(default_factory=dict)
    error_codes: tuple[str, ...] = ()


def describe(info: OpenApi, parts: Iterable[ApiPart]) -> OpenApi:
    """The whole OpenAPI 3.0.3 document: the parts' paths and schemas in the order given, a new dict (the parts
    are left as they are). ValueError if two parts describe the same path or schema."""
    paths: OpenApi = {}
    schemas: OpenApi = {"Error": None}  # first, filled in below
    codes = list(ERROR_CODES)
    for part in parts:
        for table, new in ((paths, part.paths), (schemas, part.schemas)):
            taken = sorted(set(table) & set(new))
            if taken:
                raise ValueError(f"described twice: {', '.join(taken)}")
            table.update(new)
        codes += [c for c in part.error_codes if c not in codes]
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": codes}, "message": {"type": "string"}}}}}
    return {"openapi": "3.0.3", "info": info, "paths": paths, "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": schemas}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: OpenApi, description: str) -> OpenApi:
    """A response with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "invalid_argument: not JSON, not an object, an unknown or missing field, a wrong type or value",
    401: "token_missing, token_invalid, token_expired or session_ended",
    403: "forbidden: not an admin (or not this group's supervisor)", 404: "not_found", 409: "conflict: the email or id is taken",
    413: "payload_too_large: a body above the route's limit (64 KiB, unless its summary names another)",
    503: "unavailable: Redis or the store is down for the moment; retry after Retry-After seconds"}


def errors(*statuses: int) -> OpenApi:
    """The Error responses of `statuses`, each with the usual meaning."""
    return {str(s): json_content(ref("Error"), _ERROR_TEXT[s]) for s in statuses}


def operation(summary: str, responses: OpenApi, *, body: str | None = None, auth: bool = True,
              params: tuple[str, ...] = ()) -> OpenApi:
    """An operation: a JSON body of schema `body`, bearer auth unless `auth` is False, string path `params`."""
    op: OpenApi = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    op["security"] = [{"bearer": []}] if auth else []
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in params]
    return op
