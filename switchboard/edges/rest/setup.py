"""REST for first-run setup: whether it is needed, and creating the first admin with the code serve printed.

``GET /api/setup`` says whether no admin exists yet (the ``/setup`` page asks it). ``POST /api/setup`` takes
the setup code (:mod:`switchboard.edges.setup`) with the first admin's email, password and nickname. Every
attempt counts like a login (account ``setup`` and the client's address: 429 ``login_throttled`` past a few
wrong codes). The code is compared in constant time, then spent atomically in Redis before the admin is
created, so two setups racing make one admin; should the creation fail, the code is put back. The answer is a
login's (token, expires_in, user): the page goes straight to the workspace.
"""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateAgent
from switchboard.store.groups import get_group
from switchboard.store.users import Role, admin_exists, insert_user, roles_of
from switchboard.edges import codes
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, HashingBusy, LoginLimits, LoginThrottled, \
    Passwords, issue_token, login_attempt, login_succeeded, start_session
from switchboard.edges.limits import client_address
from switchboard.edges.rest.sessions import NICKNAME_SCHEMA, nickname_field, user_json
from switchboard.edges.rest.toolkit import ApiError, ApiPart, ORJSONResponse, bad, email_field, errors, \
    json_content, make_routes, new_password_field, operation, passwords_for, read_json, ref, services_of, \
    string_field
from switchboard.edges.setup import CODE_FORMAT, check_code, restore_code, spend_code

__all__ = ["setup_routes", "SETUP_API"]

_SETUP_ACCOUNT = "setup"  # the login throttle's account for setup codes


def _done() -> ApiError:
    return ApiError(409, codes.SETUP_DONE, "an admin exists already: log in instead")


def _refused(status: int, code: str, message: str, retry_after: float) -> Response:
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                          headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class _Setup:
    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords

    async def needed(self, request: Request) -> Response:
        return ORJSONResponse({"needed": not await run_in_threadpool(admin_exists)})

    async def create(self, request: Request) -> Response:
        data = await read_json(request, ("code", "email", "password", "nickname", "takes_chats"),
                               ("code", "email", "password"))
        code = string_field(data, "code", max_len=64)
        email = email_field(data)
        password = new_password_field(data, "password")
        nickname = nickname_field(data) if "nickname" in data else ""
        takes_chats = data.get("takes_chats", False)
        if not isinstance(takes_chats, bool):
            raise bad("takes_chats must be true or false")
        services = services_of(request)
        if await run_in_threadpool(admin_exists):
            raise _done()
        address = client_address(request)
        try:
            await login_attempt(services.redis, LoginLimits.of(services.settings), _SETUP_ACCOUNT, address)
        except LoginThrottled as exc:
            return _refused(429, codes.LOGIN_THROTTLED, f"too many wrong setup codes; try again in "
                                                        f"{math.ceil(exc.retry_after)} s", exc.retry_after)
        found = await check_code(services.redis, code)
        if found != "right":
            if found == "none" and await run_in_threadpool(admin_exists):
                raise _done()
            raise ApiError(403, codes.SETUP_CODE_WRONG, "the setup code is wrong: use the one serve printed at "
                                                        "its last start")
        try:
            password_hash = await passwords_for(request, self._passwords).hash_async(password)
        except HashingBusy:
            return _refused(503, codes.LOGINS_BUSY, "too many password checks at once; try again in a moment", 1.0)
        if not await spend_code(services.redis, code):  # another setup spent it a moment ago
            raise _done()
        roles: tuple[Role, ...] = ("admin", "agent") if takes_chats else ("admin",)
        # An owner who answers chats starts in the default group, where visitors who name none wait (serve makes
        # sure it exists at every start): otherwise their desk would stay empty until they joined a group.
        default = services.settings.default_group
        groups = (default,) if takes_chats and await run_in_threadpool(get_group, default) is not None else ()
        try:
            user = await run_in_threadpool(lambda: insert_user(roles, email, password_hash, nickname=nickname,
                                                               saturation=5 if takes_chats else 1, groups=groups))
        except BaseException:
            await restore_code(services.redis, code)
            raise
        await login_succeeded(services.redis, _SETUP_ACCOUNT, address)
        if takes_chats:
            services.engine.send(Address.agent(user.id), CreateAgent(saturation=int(user.saturation), groups=groups,
                                                                     name=nickname))
        ttl = services.settings.token_ttl_s
        sid = await start_session(services.redis, user.id, ttl)
        token = issue_token(user.id, roles_of(user), user.token_version, sid, ttl, secret=services.secret)
        return ORJSONResponse({"token": token, "expires_in": ttl, "user": user_json(user)}, status_code=201)


def setup_routes(passwords: Passwords | None = None) -> list[BaseRoute]:
    """`passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2-cffi's defaults."""
    api = _Setup(passwords)
    return make_routes([("GET", "/api/setup", api.needed), ("POST", "/api/setup", api.create)])


SETUP_API = ApiPart(
    paths={"/api/setup": {
        "get": operation("Whether first-run setup is needed (no admin exists yet)",
                         {"200": json_content(ref("SetupState"), "the state")}, auth=False),
        "post": operation(
            "Create the first admin with the setup code serve printed; answers as a login",
            {"201": json_content(ref("Login"), "the admin, logged in"), **errors(400, 413),
             "403": json_content(ref("Error"), "setup_code_wrong: not the code serve printed at its last start"),
             "409": json_content(ref("Error"), "setup_done: an admin exists already"),
             "429": json_content(ref("Error"), "login_throttled: too many wrong codes; wait Retry-After seconds"),
             "503": json_content(ref("Error"), "logins_busy or unavailable; retry after Retry-After seconds")},
            body="Setup", auth=False),
    }},
    schemas={
        "SetupState": {"type": "object", "required": ["needed"], "properties": {"needed": {"type": "boolean"}}},
        "Setup": {"type": "object", "required": ["code", "email", "password"], "additionalProperties": False,
                  "properties": {
                      "code": {"type": "string", "description": f"{CODE_FORMAT} as printed (case and dashes "
                                                                "do not matter)"},
                      "email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL},
                      "password": {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD},
                      "nickname": NICKNAME_SCHEMA,
                      "takes_chats": {"type": "boolean", "default": False,
                                      "description": "the admin also answers chats (roles admin and agent)"}}},
    },
    error_codes=(codes.SETUP_CODE_WRONG, codes.SETUP_DONE),
)
