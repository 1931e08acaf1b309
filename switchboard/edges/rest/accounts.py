"""REST for accounts: users managed by admins and supervisors, the emailed links, and the mail log.

Who may touch whom is :mod:`switchboard.edges.scope`'s rule, applied here in one helper (:func:`_may_manage`):
an admin manages every user; a supervisor sees the users of the groups it supervises (and itself), and
manages only plain agents (roles exactly ``["agent"]``) of those groups, and only within them. Only an admin
changes roles or ``supervises`` and deletes. Nobody deactivates or deletes themselves (400), and no change
may leave the installation without an active admin (409 ``last_admin``).

The store first, then everyone else: a deactivation or deletion bumps the user's token version in the store,
then ends their sessions in Redis (every edge closes their sockets, 4001), then tells their dispatch entity to
sign out (``SignOut``: offline at once, conversations back to their queues); a deletion also takes it out of
its groups (``LeaveGroup``). A deleted user's document stays (history shows the nickname) with its email freed.

The links (:mod:`switchboard.edges.accounts`) are mailed, never answered: ``POST /api/users`` without a
password, ``.../invite`` and ``.../password-reset`` answer 201/202 and the mail carries the link; ``POST
/api/account/forgot`` answers 202 whether the address is known or not. Nothing here logs a link, a token or a
password; the outbox transport logs links by design (a fresh install without SMTP), nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateAgent, JoinGroup, LeaveGroup, SetSaturation, SignOut
from switchboard.mail.message import OutgoingMail
from switchboard.mail.templates import email_change_mail, invite_mail, password_reset_mail
from switchboard.store.documents import ROLES, User
from switchboard.store.groups import missing_groups
from switchboard.store.images import delete_image
from switchboard.store.site import get_site
from switchboard.store.tokens import drop_tokens
from switchboard.store.users import DEFAULT_AGENT_NAME, Role, active_admins, change_password, delete_user, \
    get_user, get_user_by_email, insert_user, list_users, roles_of, set_active, set_email, update_user
from switchboard.edges import codes
from switchboard.edges.accounts import LIFETIMES_S, LinkInvalid, Link, Purpose, issue_link, link_url, read_link, \
    spend_link
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, HashingBusy, LoginLimits, LoginThrottled, \
    Passwords, end_sessions, login_attempt
from switchboard.edges.limits import client_address
from switchboard.edges.rest.agents import MAX_GROUPS, groups_field
from switchboard.edges.rest.sessions import NICKNAME_SCHEMA, PHONE_SCHEMA, nickname_field, phone_field, user_json
from switchboard.edges.rest.toolkit import CONFLICT, SLUG_SCHEMA, ApiError, ApiPart, Body, Caller, ORJSONResponse, admin, \
    bad, email_field, errors, forbidden, int_field, json_content, make_routes, new_password_field, not_found, \
    operation, passwords_for, read_json, ref, services_of, steerer, string_field

__all__ = ["account_routes", "ACCOUNTS_API", "send_link_mail"]

_MAIL_BUILDERS: dict[Purpose, Callable[..., OutgoingMail]] = {
    "invite": invite_mail, "reset": password_reset_mail, "email": email_change_mail}


# --- who may manage whom --------------------------------------------------------------------------


def _visible(me: Caller, user: User) -> bool:
    """Listed for `me`: an admin sees everyone; a supervisor itself and the users of the groups it supervises."""
    return me.scope.is_admin or user.id == me.user.id or me.scope.manages_any(user.groups)


def _may_manage(me: Caller, user: User) -> bool:
    """An admin manages everyone; a supervisor only plain agents (roles exactly agent) of its groups."""
    if me.scope.is_admin:
        return True
    return list(roles_of(user)) == ["agent"] and me.scope.manages_any(user.groups)


async def _managed(request: Request, me: Caller) -> User:
    user_id = str(request.path_params["user"])
    user = await run_in_threadpool(get_user, user_id)
    if user is None or user.deleted_at is not None or not _visible(me, user):
        raise not_found(f"no user {user_id[:64]}")
    if not _may_manage(me, user):
        raise forbidden("a supervisor manages only agents of the groups it supervises")
    return user


def _last_admin() -> ApiError:
    return ApiError(409, codes.LAST_ADMIN, "this would leave no active admin: make another admin first")


async def _is_last_admin(user: User) -> bool:
    """Whether `user` is an active admin and the only one."""
    admins = await run_in_threadpool(active_admins)
    return admins == [user.id]


# --- fields ---------------------------------------------------------------------------------------


def _roles(data: Body) -> tuple[Role, ...]:
    value = data["roles"]
    if not isinstance(value, list) or not value or not all(isinstance(r, str) and r in ROLES for r in value):
        raise bad(f"roles must be a non-empty list of {', '.join(ROLES)}")
    return tuple(cast(Role, r) for r in ROLES if r in value)  # in ROLES' order, each once


async def _known_groups(groups: Iterable[str]) -> None:
    missing = await run_in_threadpool(missing_groups, tuple(groups))
    if missing:
        raise bad(f"unknown group(s): {', '.join(missing)}")


# --- mail -----------------------------------------------------------------------------------------


async def send_link_mail(request: Request, user: User, purpose: Purpose, *, to: str | None = None,
                         email: str = "") -> None:
    """Issue a `purpose` link for `user` and mail it to `to` (default: the user's address). With no mail
    sender (bare tests) the link is issued and not sent."""
    services = services_of(request)
    token = await run_in_threadpool(lambda: issue_link(user, purpose, secret=services.secret, email=email))
    sender = getattr(request.app.state.services, "mail", None)
    if sender is None:
        return
    site = await run_in_threadpool(get_site)
    mail_settings = getattr(request.app.state.services, "mail_settings", None)
    team = site.team_name or (mail_settings.team_name if mail_settings is not None else "") or "Switchboard"
    link = link_url(services.settings.base_url, token)
    sender.submit(_MAIL_BUILDERS[purpose](to or user.email, user.nickname, link, team, LIFETIMES_S[purpose]))


# --- the engine -----------------------------------------------------------------------------------


def _sign_out(request: Request, user: User) -> None:
    if "agent" in roles_of(user):
        services_of(request).engine.send(Address.agent(user.id), SignOut())


async def _shut_out(request: Request, me: Caller, user: User, verb: str, change: Callable[[], User]) -> User:
    """Deactivate or delete `user` (`change`, in the store; what it answers is returned), then end their sessions
    and sign their agent out. Never oneself (400), never the last active admin (409 ``last_admin``)."""
    if user.id == me.user.id:
        raise bad(f"you cannot {verb} yourself")
    if await _is_last_admin(user):
        raise _last_admin()
    changed = await run_in_threadpool(change)
    await end_sessions(services_of(request).redis, user.id)
    _sign_out(request, changed)
    return changed


def _rename(request: Request, user: User) -> None:
    names = getattr(request.app.state.services, "names", None)
    if names is not None:  # at once here; other processes within Names.ttl_s
        names.set_agent(user.id, user.nickname or DEFAULT_AGENT_NAME)


def _tell_engine(request: Request, before: User, after: User) -> None:
    """What the agent entity must hear of a change: created when the agent role is new, signed out when it
    is gone, its saturation and groups otherwise."""
    engine = services_of(request).engine
    address = Address.agent(after.id)
    was, now = "agent" in roles_of(before), "agent" in roles_of(after)
    if now and not was:
        engine.send(address, CreateAgent(saturation=int(after.saturation), groups=tuple(after.groups),
                                         name=after.nickname))
        return
    if was and not now:
        engine.send(address, SignOut())
        return
    if not now:
        return
    if int(after.saturation) != int(before.saturation):
        engine.send(address, SetSaturation(int(after.saturation)))
    for group in [g for g in after.groups if g not in before.groups]:
        engine.send(address, JoinGroup(group))
    for group in [g for g in before.groups if g not in after.groups]:
        engine.send(address, LeaveGroup(group))


# --- users ----------------------------------------------------------------------------------------

_NEW_FIELDS = ("email", "nickname", "roles", "saturation", "groups", "supervises", "password", "phone")
_CHANGE_FIELDS = ("nickname", "phone", "saturation", "roles", "supervises", "groups")


class _Accounts:
    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords

    async def list(self, request: Request) -> Response:
        me = await steerer(request)
        users = await run_in_threadpool(list_users)
        return ORJSONResponse([user_json(u) for u in users if _visible(me, u)])

    async def create(self, request: Request) -> Response:
        me = await steerer(request)
        data = await read_json(request, _NEW_FIELDS, ("email",))
        email = email_field(data)
        nickname = nickname_field(data) if "nickname" in data else ""
        phone = phone_field(data) if "phone" in data else ""
        roles: tuple[Role, ...] = _roles(data) if "roles" in data else ("agent",)
        saturation = int_field(data, "saturation", 1, 1000) if "saturation" in data else 5
        groups = groups_field(data) if "groups" in data else ()
        supervises = groups_field(data, "supervises") if "supervises" in data else ()
        password = new_password_field(data, "password") if "password" in data else None
        if not me.scope.is_admin:
            if roles != ("agent",) or supervises:
                raise forbidden("a supervisor creates agents only (roles ['agent'], no supervises)")
            if not groups or not me.scope.manages_all(groups):
                raise forbidden("a supervisor puts agents only in groups it supervises (name at least one)")
        await _known_groups((*groups, *supervises))
        password_hash = "" if password is None else \
            await run_in_threadpool(passwords_for(request, self._passwords).hash, password)
        user = await run_in_threadpool(lambda: insert_user(
            roles, email, password_hash, nickname=nickname, saturation=saturation, groups=groups,
            supervises=supervises, must_change_password=password is not None))
        if phone:
            _, user = await run_in_threadpool(lambda: update_user(user.id, phone=phone))
        if "agent" in roles:
            services_of(request).engine.send(Address.agent(user.id),
                                             CreateAgent(saturation=saturation, groups=groups, name=nickname))
        if password is None:
            await send_link_mail(request, user, "invite")
        return ORJSONResponse(user_json(user), status_code=201)

    async def change(self, request: Request) -> Response:
        me = await steerer(request)
        user = await _managed(request, me)
        data = await read_json(request, _CHANGE_FIELDS)
        changes: dict[str, object] = {}
        if "nickname" in data:
            changes["nickname"] = nickname_field(data)
        if "phone" in data:
            changes["phone"] = phone_field(data)
        if "saturation" in data:
            changes["saturation"] = int_field(data, "saturation", 1, 1000)
        if "groups" in data:
            groups = groups_field(data)
            moved = set(groups) ^ set(user.groups)
            if not me.scope.manages_all(moved):
                raise forbidden("a supervisor moves agents in and out of the groups it supervises only")
            if not me.scope.is_admin and not groups:
                raise forbidden("a supervisor cannot take an agent out of every group it supervises")
            await _known_groups(moved & set(groups))
            changes["groups"] = list(groups)
        if "supervises" in data:
            supervises = groups_field(data, "supervises")
            if set(supervises) != set(user.supervises or ()):
                if not me.scope.is_admin:
                    raise forbidden("only an admin changes who supervises what")
                await _known_groups(set(supervises) - set(user.supervises or ()))
            changes["supervises"] = list(supervises)
        if "roles" in data:
            roles = _roles(data)
            if set(roles) != set(roles_of(user)):
                if not me.scope.is_admin:
                    raise forbidden("only an admin changes roles")
                if "admin" not in roles and await _is_last_admin(user):
                    raise _last_admin()
            changes["roles"] = list(roles)
        before, after = await run_in_threadpool(lambda: update_user(user.id, **changes))
        _tell_engine(request, before, after)  # a deactivated agent's entity too: it is there, signed out
        if "nickname" in changes:
            _rename(request, after)
        return ORJSONResponse(user_json(after))

    async def deactivate(self, request: Request) -> Response:
        me = await steerer(request)
        user = await _managed(request, me)
        after = await _shut_out(request, me, user, "deactivate", lambda: set_active(user.id, False))
        return ORJSONResponse(user_json(after))

    async def reactivate(self, request: Request) -> Response:
        me = await steerer(request)
        user = await _managed(request, me)
        after = await run_in_threadpool(set_active, user.id, True)
        return ORJSONResponse(user_json(after))

    async def delete(self, request: Request) -> Response:
        me = await admin(request)
        user = await _managed(request, me)
        before = await _shut_out(request, me, user, "delete", lambda: delete_user(user.id))
        if "agent" in roles_of(before):
            for group in before.groups:
                services_of(request).engine.send(Address.agent(before.id), LeaveGroup(group))
        await run_in_threadpool(drop_tokens, before.id)
        await run_in_threadpool(delete_image, f"avatar-{before.id}")
        return Response(status_code=204)

    async def password_reset(self, request: Request) -> Response:
        me = await steerer(request)
        user = await _managed(request, me)
        if not user.active:
            raise ApiError(409, CONFLICT, "the user is deactivated: reactivate them first")
        await send_link_mail(request, user, "reset")
        return Response(status_code=202)

    async def invite(self, request: Request) -> Response:
        me = await steerer(request)
        user = await _managed(request, me)
        if user.password_hash:
            raise ApiError(409, CONFLICT, "the user has a password already: send a password reset instead")
        if not user.active:
            raise ApiError(409, CONFLICT, "the user is deactivated: reactivate them first")
        await send_link_mail(request, user, "invite")
        return Response(status_code=202)

    # --- the links (no login) -----------------------------------------------------------------------

    async def forgot(self, request: Request) -> Response:
        data = await read_json(request, ("email",), ("email",))
        email = string_field(data, "email", max_len=MAX_EMAIL).strip().lower()
        services = services_of(request)
        try:  # counted apart from logins: an account's and an address's own counters
            await login_attempt(services.redis, LoginLimits.of(services.settings), f"forgot:{email}",
                                f"forgot:{client_address(request)}")
        except LoginThrottled as exc:
            return ORJSONResponse({"error": {"code": codes.LOGIN_THROTTLED, "message": str(exc)}}, status_code=429,
                                  headers={"Retry-After": str(max(1, int(exc.retry_after + 0.999)))})
        user = await run_in_threadpool(get_user_by_email, email) if email else None
        if user is not None and user.active and user.deleted_at is None:
            await send_link_mail(request, user, "reset")
        return Response(status_code=202)

    async def read_token(self, request: Request) -> Response:
        data = await read_json(request, ("token",), ("token",))
        link = await self._link(request, data, ("invite", "reset", "email"))
        return ORJSONResponse({"purpose": link.purpose, "email": link.email, "nickname": link.user.nickname})

    async def set_password(self, request: Request) -> Response:
        data = await read_json(request, ("token", "password"), ("token", "password"))
        password = new_password_field(data, "password")
        link = await self._link(request, data, ("invite", "reset"))
        try:  # on the hashing pool of its own, as logins (edges/auth.py): bounded, never the shared thread pool
            password_hash = await passwords_for(request, self._passwords).hash_async(password)
        except HashingBusy:
            return ORJSONResponse({"error": {"code": codes.LOGINS_BUSY, "message": "too many password checks at "
                                             "once; try again in a moment"}}, status_code=503,
                                  headers={"Retry-After": "1"})
        await self._spend(link)
        if not await run_in_threadpool(change_password, link.user.id, int(link.token.token_version), password_hash):
            raise ApiError(400, codes.LINK_INVALID, "the link was replaced by a later change: ask for a new one")
        await end_sessions(services_of(request).redis, link.user.id)
        return Response(status_code=204)

    async def confirm_email(self, request: Request) -> Response:
        data = await read_json(request, ("token",), ("token",))
        link = await self._link(request, data, ("email",))
        await self._spend(link)
        await run_in_threadpool(set_email, link.user.id, link.email)  # Duplicate: 409 conflict
        return Response(status_code=204)

    @staticmethod
    async def _link(request: Request, data: Body, purposes: tuple[Purpose, ...]) -> Link:
        secret = services_of(request).secret
        try:
            return await run_in_threadpool(lambda: read_link(data["token"], secret=secret, purposes=purposes))
        except LinkInvalid as exc:
            raise ApiError(400, codes.LINK_INVALID, str(exc)) from None

    @staticmethod
    async def _spend(link: Link) -> None:
        try:
            await run_in_threadpool(spend_link, link)
        except LinkInvalid as exc:
            raise ApiError(400, codes.LINK_INVALID, str(exc)) from None

    # --- the mail log -------------------------------------------------------------------------------

    async def mail(self, request: Request) -> Response:
        await admin(request)
        sender = getattr(request.app.state.services, "mail", None)
        statuses = sender.statuses() if sender is not None else []
        return ORJSONResponse([{"id": s.id, "to": s.to, "subject": s.subject, "state": s.state.value,
                                "attempts": s.attempts, "last_error": s.last_error, "queued_at": s.queued_at,
                                "updated_at": s.updated_at} for s in statuses])


def account_routes(passwords: Passwords | None = None) -> list[BaseRoute]:
    """`passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2-cffi's defaults."""
    api = _Accounts(passwords)
    return make_routes([
        ("GET", "/api/users", api.list),
        ("POST", "/api/users", api.create),
        ("PATCH", "/api/users/{user}", api.change),
        ("DELETE", "/api/users/{user}", api.delete),
        ("POST", "/api/users/{user}/deactivate", api.deactivate),
        ("POST", "/api/users/{user}/reactivate", api.reactivate),
        ("POST", "/api/users/{user}/password-reset", api.password_reset),
        ("POST", "/api/users/{user}/invite", api.invite),
        ("POST", "/api/account/forgot", api.forgot),
        ("POST", "/api/account/token", api.read_token),
        ("POST", "/api/account/password", api.set_password),
        ("POST", "/api/account/email", api.confirm_email),
        ("GET", "/api/admin/mail", api.mail),
    ])


# --- the description ------------------------------------------------------------------------------

_STR = {"type": "string"}
_GROUPS = {"type": "array", "maxItems": MAX_GROUPS, "items": SLUG_SCHEMA, "description": "ids of existing groups"}
_ROLES = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(ROLES)}}
_LINK_400 = json_content(ref("Error"), "link_invalid: malformed, expired, used already or replaced by a later "
                                       "change (one code; the message says which kind); or invalid_argument")
_SCOPE_403 = json_content(ref("Error"), "forbidden: not an admin, or a supervisor outside its groups")
_LAST_409 = json_content(ref("Error"), "last_admin: this would leave no active admin")
_USER = ("user",)


def _user_op(summary: str, ok: dict[str, object], *extra: int, conflict: dict[str, object] | None = None,
             body: str | None = None) -> dict[str, object]:
    responses = {**ok, **errors(400, 401, 404, 413, *extra), "403": _SCOPE_403}
    if conflict is not None:
        responses["409"] = conflict
    return operation(summary, responses, body=body, params=_USER)


ACCOUNTS_API = ApiPart(
    paths={
        "/api/users": {
            "get": operation("Users an admin (everyone) or a supervisor (its groups' users and itself) sees",
                             {"200": json_content({"type": "array", "items": ref("User")}, "users, by email"),
                              **errors(401), "403": _SCOPE_403}),
            "post": operation(
                "Create a user: without password an invite mail goes out (status invited); with one, the user "
                "must change it. A supervisor creates agents of its groups only",
                {"201": json_content(ref("User"), "created"), **errors(400, 401, 409, 413), "403": _SCOPE_403},
                body="NewUser"),
        },
        "/api/users/{user}": {
            "patch": _user_op("Change a user (roles and supervises: admins only)",
                              {"200": json_content(ref("User"), "the user")},
                              conflict=_LAST_409, body="UserChange"),
            "delete": _user_op("Delete a user (admins): sessions end, conversations go back to their queues; the "
                               "nickname stays in history, the email is freed",
                               {"204": {"description": "deleted"}}, conflict=_LAST_409),
        },
        "/api/users/{user}/deactivate": {"post": _user_op(
            "Deactivate a user: sessions end and sockets close at once, conversations go back to their queues",
            {"200": json_content(ref("User"), "the user")}, conflict=_LAST_409)},
        "/api/users/{user}/reactivate": {"post": _user_op(
            "Let a deactivated user log in again", {"200": json_content(ref("User"), "the user")})},
        "/api/users/{user}/password-reset": {"post": _user_op(
            "Mail the user a password reset link (1 h)", {"202": {"description": "mailed"}},
            conflict=json_content(ref("Error"), "conflict: the user is deactivated"))},
        "/api/users/{user}/invite": {"post": _user_op(
            "Mail the invitation again (a new link, 72 h)", {"202": {"description": "mailed"}},
            conflict=json_content(ref("Error"), "conflict: the user has a password already, or is deactivated"))},
        "/api/account/forgot": {"post": operation(
            "Forgot password: a reset link is mailed if the address belongs to an active user (the answer is the "
            "same either way)",
            {"202": {"description": "accepted"}, **errors(400, 413),
             "429": json_content(ref("Error"), "login_throttled: too many requests for this address or from this "
                                               "client; wait Retry-After seconds")},
            body="Forgot", auth=False)},
        "/api/account/token": {"post": operation(
            "What an emailed link is for (not spent)", {"200": json_content(ref("LinkInfo"), "the link"),
                                                        "400": _LINK_400, **errors(413)},
            body="LinkToken", auth=False)},
        "/api/account/password": {"post": operation(
            "Set the password with an invite or reset link (spent); every session of the user ends",
            {"204": {"description": "done: log in"}, "400": _LINK_400, **errors(413)},
            body="LinkPassword", auth=False)},
        "/api/account/email": {"post": operation(
            "Confirm an email change with its link (spent)",
            {"204": {"description": "the email is changed"}, "400": _LINK_400, **errors(409, 413)},
            body="LinkToken", auth=False)},
        "/api/admin/mail": {"get": operation(
            "Mails sent and queued since start (newest first; no bodies)",
            {"200": json_content({"type": "array", "items": ref("MailStatus")}, "mails"), **errors(401, 403)})},
    },
    schemas={
        "NewUser": {"type": "object", "required": ["email"], "additionalProperties": False, "properties": {
            "email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL},
            "nickname": NICKNAME_SCHEMA, "phone": PHONE_SCHEMA, "roles": {**_ROLES, "default": ["agent"]},
            "saturation": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
            "groups": _GROUPS, "supervises": _GROUPS,
            "password": {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD,
                         "description": "absent: an invite mail goes out; given: the user must change it"}}},
        "UserChange": {"type": "object", "additionalProperties": False, "properties": {
            "nickname": NICKNAME_SCHEMA, "phone": PHONE_SCHEMA, "roles": _ROLES,
            "saturation": {"type": "integer", "minimum": 1, "maximum": 1000},
            "groups": _GROUPS, "supervises": _GROUPS}},
        "Forgot": {"type": "object", "required": ["email"], "additionalProperties": False,
                   "properties": {"email": _STR}},
        "LinkToken": {"type": "object", "required": ["token"], "additionalProperties": False,
                      "properties": {"token": {"type": "string", "description": "from the link's #token="}}},
        "LinkPassword": {"type": "object", "required": ["token", "password"], "additionalProperties": False,
                         "properties": {"token": _STR, "password": {"type": "string", "minLength": MIN_PASSWORD,
                                                                    "maxLength": MAX_PASSWORD}}},
        "LinkInfo": {"type": "object", "required": ["purpose", "email", "nickname"], "properties": {
            "purpose": {"type": "string", "enum": ["invite", "reset", "email"]},
            "email": {"type": "string", "description": "the new address for an email change, else the user's"},
            "nickname": _STR}},
        "MailStatus": {"type": "object", "properties": {
            "id": _STR, "to": _STR, "subject": _STR, "state": {"type": "string", "enum": ["queued", "sent", "failed"]},
            "attempts": {"type": "integer"}, "last_error": _STR, "queued_at": {"type": "number"},
            "updated_at": {"type": "number"}}},
    },
    error_codes=(codes.LINK_INVALID, codes.LAST_ADMIN, codes.LOGIN_THROTTLED),
)
