"""REST for one's own account: log in, log out, read oneself, change one's password; and the user as shown.

A login starts a session (a sid in Redis, :mod:`switchboard.edges.auth`) and returns a token naming it;
logout ends that session only, a password change ends all of the user's (and bumps the token version in
the store, conditionally, so of two racing changes one wins). An unknown email and a wrong password get
the same answer and cost the same time. Every attempt is counted per account and per client address
before the password is checked, and past a few failures answered 429 ``login_throttled`` with
``Retry-After`` (:func:`~switchboard.edges.auth.login_attempt`); hashing runs on the hasher's own bounded
pool, and a login finding it full is answered 503 ``logins_busy`` at once.

A deactivated user gets the wrong password's answer unless the password was right: then 403
``account_deactivated`` (only the owner of the password learns the account is off); an invited user has no
password yet and gets 401. ``PATCH /api/me`` changes one's nickname and phone; a nickname may be blank (""):
visitors then see the default name, :data:`~switchboard.store.users.DEFAULT_AGENT_NAME`.
"""

from __future__ import annotations

import math
import re
import unicodedata

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.messages import is_blank
from switchboard.store.documents import ROLES, User, to_epoch
from switchboard.store.users import DEFAULT_AGENT_NAME, change_password, get_user_by_email, replace_password_hash, \
    roles_of, update_user, user_status
from switchboard.edges import codes
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, AuthError, HashingBusy, LoginLimits, \
    LoginThrottled, Passwords, end_session, end_sessions, issue_token, login_attempt, login_succeeded, start_session
from switchboard.edges.limits import client_address
from switchboard.edges.rest.toolkit import MAX_TEXT, ApiError, ApiPart, Body, ORJSONResponse, bad, \
    bad_credentials, caller, errors, json_content, make_routes, new_password_field, operation, passwords_for, \
    read_json, ref, services_of, string_field

__all__ = ["session_routes", "SESSIONS_API", "user_json", "nickname_field", "phone_field", "NICKNAME_SCHEMA",
           "PHONE_SCHEMA", "STATUSES"]

STATUSES = ("invited", "active", "deactivated")
_MAX_PHONE = 40
_PHONE = re.compile(r"^[0-9+()./ x-]*$")


def user_json(user: User) -> dict[str, object]:
    """A user as the API shows it: never the password hash or the token version."""
    roles = list(roles_of(user))
    return {"id": user.id, "roles": roles, "supervises": list(user.supervises or ()), "email": user.email,
            "nickname": user.nickname, "avatar_url": user.avatar_url, "phone": user.phone,
            "saturation": user.saturation, "groups": list(user.groups), "created_at": to_epoch(user.created_at),
            "status": user_status(user), "must_change_password": bool(user.must_change_password)}


def nickname_field(data: Body, name: str = "nickname") -> str:
    """What visitors see as the user's name: trimmed of whitespace and invisible characters at both ends; one
    that shows nothing (blank, or only zero-width and such) is "" (no nickname: the default name is shown).
    Control characters inside a visible name (a newline, NUL) are refused."""
    value = string_field(data, name)
    start, end = 0, len(value)
    while start < end and is_blank(value[start]):
        start += 1
    while end > start and is_blank(value[end - 1]):
        end -= 1
    value = value[start:end]
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise bad(f"{name} must be one line without control characters")
    return value


def phone_field(data: Body, name: str = "phone") -> str:
    """A phone number as typed (digits, spaces and + ( ) . / - x), trimmed; "" for none."""
    value = string_field(data, name, max_len=_MAX_PHONE).strip()
    if not _PHONE.fullmatch(value):
        raise bad(f"{name} may hold digits, spaces and + ( ) . / - x only, at most {_MAX_PHONE} characters")
    return value


class _Sessions:
    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords

    async def login(self, request: Request) -> Response:
        data = await read_json(request, ("email", "password"), ("email", "password"))
        email = string_field(data, "email", max_len=MAX_EMAIL).strip().lower()
        password = string_field(data, "password", max_len=MAX_PASSWORD)
        services = services_of(request)
        passwords = passwords_for(request, self._passwords)
        address = client_address(request)
        try:
            await login_attempt(services.redis, LoginLimits.of(services.settings), email, address)
        except LoginThrottled as exc:
            return _refused(429, codes.LOGIN_THROTTLED, str(exc), exc.retry_after)
        user = await run_in_threadpool(get_user_by_email, email) if email else None
        try:
            if user is None or not user.password_hash:  # unknown, invited (no password yet) or deleted
                await passwords.verify_unknown_async(password)
                raise bad_credentials("wrong email or password")
            if not await passwords.verify_async(user.password_hash, password):
                raise bad_credentials("wrong email or password")
            await login_succeeded(services.redis, email, address)
            if not user.active:
                raise ApiError(403, codes.ACCOUNT_DEACTIVATED, "this account is deactivated: ask an admin")
            if passwords.needs_rehash(user.password_hash):
                new_hash = await passwords.hash_async(password)
                await run_in_threadpool(replace_password_hash, user.id, user.password_hash, new_hash)
        except HashingBusy:
            return _refused(503, codes.LOGINS_BUSY, "too many logins at once; try again in a moment", 1.0)
        ttl = services.settings.token_ttl_s
        sid = await start_session(services.redis, user.id, ttl)
        token = issue_token(user.id, roles_of(user), user.token_version, sid, ttl, secret=services.secret)
        return ORJSONResponse({"token": token, "expires_in": ttl, "user": user_json(user)})

    async def logout(self, request: Request) -> Response:
        found = await caller(request)
        await end_session(services_of(request).redis, found.user.id, found.claims.sid)
        return Response(status_code=204)

    async def me(self, request: Request) -> Response:
        found = await caller(request)
        return ORJSONResponse(user_json(found.user))

    async def change_me(self, request: Request) -> Response:
        found = await caller(request)
        data = await read_json(request, ("nickname", "phone"))
        changes: dict[str, object] = {}
        if "nickname" in data:
            changes["nickname"] = nickname_field(data)
        if "phone" in data:
            changes["phone"] = phone_field(data)
        _, user = await run_in_threadpool(lambda: update_user(found.user.id, **changes))
        names = getattr(request.app.state.services, "names", None)
        if "nickname" in changes and names is not None:  # at once here; other processes within Names.ttl_s
            names.set_agent(user.id, user.nickname or DEFAULT_AGENT_NAME)
        return ORJSONResponse(user_json(user))

    async def change_password(self, request: Request) -> Response:
        found = await caller(request)
        data = await read_json(request, ("old_password", "new_password"), ("old_password", "new_password"))
        old = string_field(data, "old_password", max_len=MAX_PASSWORD)
        new = new_password_field(data, "new_password")
        user, passwords = found.user, passwords_for(request, self._passwords)
        try:
            if not await passwords.verify_async(user.password_hash, old):
                raise bad_credentials("the old password is wrong")
            new_hash = await passwords.hash_async(new)
        except HashingBusy:
            return _refused(503, codes.LOGINS_BUSY, "too many password checks at once; try again in a moment", 1.0)
        if not await run_in_threadpool(change_password, user.id, user.token_version, new_hash):
            raise AuthError(codes.SESSION_ENDED, "the password was changed meanwhile; log in again")
        await end_sessions(services_of(request).redis, user.id)
        return Response(status_code=204)


def _refused(status: int, code: str, message: str, retry_after: float) -> Response:
    """The JSON error shape with ``Retry-After`` (whole seconds, at least 1)."""
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                          headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def session_routes(passwords: Passwords | None = None) -> list[BaseRoute]:
    """`passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2-cffi's defaults."""
    api = _Sessions(passwords)
    return make_routes([
        ("POST", "/api/auth/login", api.login),
        ("POST", "/api/auth/logout", api.logout),
        ("GET", "/api/me", api.me),
        ("PATCH", "/api/me", api.change_me),
        ("POST", "/api/me/password", api.change_password),
    ])


_STR = {"type": "string"}
NICKNAME_SCHEMA = {"type": "string", "maxLength": MAX_TEXT,
                   "description": "shown to visitors, trimmed; blank (or only invisible characters) means none: "
                                  f"visitors see \"{DEFAULT_AGENT_NAME}\""}
PHONE_SCHEMA = {"type": "string", "maxLength": _MAX_PHONE, "pattern": _PHONE.pattern}

SESSIONS_API = ApiPart(
    paths={
        "/api/auth/login": {"post": operation(
            "Log in with email and password; the token goes in 'Authorization: Bearer'",
            {"200": json_content(ref("Login"), "logged in"),
             "401": json_content(ref("Error"), "bad_credentials: unknown email, wrong password, no password yet "
                                               "(invited) or a deactivated account with a wrong password (one "
                                               "answer)"),
             "403": json_content(ref("Error"), "account_deactivated: the password is right but the account is "
                                               "deactivated"),
             "429": json_content(ref("Error"), "login_throttled: too many failures for this account or address; "
                                               "wait Retry-After seconds"),
             "503": json_content(ref("Error"), "logins_busy: too many password checks waiting; retry after "
                                               "Retry-After seconds"),
             **errors(400, 413)}, body="Credentials", auth=False)},
        "/api/auth/logout": {"post": operation("End this token's session only",
                                               {"204": {"description": "done"}, **errors(401)})},
        "/api/me": {
            "get": operation("The logged-in user", {"200": json_content(ref("User"), "the user"), **errors(401)}),
            "patch": operation("Change one's nickname (blank: none, visitors see the default name) or phone",
                               {"200": json_content(ref("User"), "the user"), **errors(400, 401, 413)},
                               body="ProfileChange")},
        "/api/me/password": {"post": operation(
            "Change one's password; ends every session of the user (log in again)",
            {"204": {"description": "done"}, **errors(400, 413),
             "401": json_content(ref("Error"), "bad_credentials (old password wrong) or a token error")},
            body="PasswordChange")},
    },
    schemas={
        "Credentials": {"type": "object", "required": ["email", "password"], "additionalProperties": False,
                        "properties": {"email": _STR, "password": _STR}},
        "Login": {"type": "object", "required": ["token", "expires_in", "user"], "properties": {
            "token": _STR, "expires_in": {"type": "number", "description": "seconds"}, "user": ref("User")}},
        "PasswordChange": {"type": "object", "required": ["old_password", "new_password"],
                           "additionalProperties": False,
                           "properties": {"old_password": _STR,
                                          "new_password": {"type": "string", "minLength": MIN_PASSWORD,
                                                           "maxLength": MAX_PASSWORD}}},
        "User": {"type": "object", "properties": {
            "id": _STR, "roles": {"type": "array", "items": {"type": "string", "enum": list(ROLES)}},
            "supervises": {"type": "array", "items": _STR},
            "email": _STR, "nickname": _STR, "avatar_url": _STR, "phone": _STR,
            "saturation": {"type": "integer"}, "groups": {"type": "array", "items": _STR},
            "created_at": {"type": "number", "nullable": True},
            "status": {"type": "string", "enum": list(STATUSES),
                       "description": "invited: no password yet; deactivated: may not log in"},
            "must_change_password": {"type": "boolean",
                                     "description": "the password was typed by an admin: choose one's own"}}},
        "ProfileChange": {"type": "object", "additionalProperties": False, "properties": {
            "nickname": NICKNAME_SCHEMA, "phone": PHONE_SCHEMA}},
    },
    error_codes=(codes.LOGIN_THROTTLED, codes.LOGINS_BUSY, codes.ACCOUNT_DEACTIVATED),
)
