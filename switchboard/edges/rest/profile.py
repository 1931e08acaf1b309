"""REST for one's own profile beyond the name: the email address (confirmed by a link to the new one), the
avatar, and the pictures every page shows.

An email change is not made at once: the password is asked again (a borrowed session cannot take the
account), and a link goes to the *new* address (:mod:`switchboard.edges.accounts`); only that link moves the
email (``POST /api/account/email``, :mod:`.accounts`), so nobody moves an account to an address they cannot
read. Until then mail keeps going to the old one.

An avatar is uploaded as the image's bytes (``PUT``, any image type) and never stored as sent: it is decoded
and re-encoded as a fresh PNG (:func:`switchboard.edges.images.reencode`; SVG, other formats or a header
claiming a huge picture are refused 400, more than 2 MiB 413). ``GET /api/images/{id}`` serves it (no login:
visitors see avatars) as ``image/png`` with ``nosniff``, a CSP that sandboxes it should it be opened as a
page, and a year's caching: its URL names a version (a hash of the bytes), so a new picture has a new URL.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.store.images import delete_image, get_image, put_image
from switchboard.store.users import get_user_by_email, set_avatar_url
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, HashingBusy, LoginLimits, LoginThrottled, Passwords, \
    login_attempt, login_succeeded
from switchboard.edges import codes
from switchboard.edges.images import MAX_IMAGE_BYTES, BadImage, reencode
from switchboard.edges.limits import client_address
from switchboard.edges.rest.accounts import send_link_mail
from switchboard.edges.rest.toolkit import CONFLICT, ApiError, ApiPart, ORJSONResponse, bad, bad_credentials, caller, \
    email_field, errors, json_content, make_routes, not_found, operation, passwords_for, read_json, read_raw, ref, \
    services_of, string_field

__all__ = ["profile_routes", "PROFILE_API", "IMAGE_HEADERS"]

IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "public, max-age=31536000, immutable"}
_IMAGE_ID = re.compile(r"^[a-z0-9-]{1,80}$")


def _refused(status: int, code: str, message: str, retry_after: float) -> Response:
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                          headers={"Retry-After": str(max(1, int(retry_after + 0.999)))})


class _Profile:
    def __init__(self, passwords: Passwords | None) -> None:
        self._passwords = passwords

    async def change_email(self, request: Request) -> Response:
        found = await caller(request)
        data = await read_json(request, ("email", "password"), ("email", "password"))
        email = email_field(data)
        password = string_field(data, "password", max_len=MAX_PASSWORD)
        user, services = found.user, services_of(request)
        if email == user.email:
            raise bad("that is your address already")
        address = client_address(request)
        try:  # a password check like a login's: counted, so a borrowed session cannot guess it
            await login_attempt(services.redis, LoginLimits.of(services.settings), str(user.email), address)
        except LoginThrottled as exc:
            return _refused(429, codes.LOGIN_THROTTLED, str(exc), exc.retry_after)
        try:
            if not await passwords_for(request, self._passwords).verify_async(user.password_hash, password):
                raise bad_credentials("the password is wrong")
        except HashingBusy:
            return _refused(503, codes.LOGINS_BUSY, "too many password checks at once; try again in a moment", 1.0)
        await login_succeeded(services.redis, str(user.email), address)
        if await run_in_threadpool(get_user_by_email, email) is not None:
            raise ApiError(409, CONFLICT, f"another user has the address {email}")
        await send_link_mail(request, user, "email", to=email, email=email)
        return Response(status_code=202)

    async def put_avatar(self, request: Request) -> Response:
        found = await caller(request)
        raw = await read_raw(request, MAX_IMAGE_BYTES, "the picture")
        try:
            png = await run_in_threadpool(reencode, raw)
        except BadImage as exc:
            raise bad(str(exc)) from None
        url = await run_in_threadpool(put_image, f"avatar-{found.user.id}", png)
        await run_in_threadpool(set_avatar_url, found.user.id, url)
        return ORJSONResponse({"avatar_url": url})

    async def delete_avatar(self, request: Request) -> Response:
        found = await caller(request)
        await run_in_threadpool(delete_image, f"avatar-{found.user.id}")
        await run_in_threadpool(set_avatar_url, found.user.id, "")
        return Response(status_code=204)

    async def image(self, request: Request) -> Response:
        image_id = str(request.path_params["image"])
        image = await run_in_threadpool(get_image, image_id) if _IMAGE_ID.fullmatch(image_id) else None
        if image is None:
            raise not_found(f"no image {image_id[:80]}")
        return Response(bytes(image.data), media_type="image/png", headers=IMAGE_HEADERS)


def profile_routes(passwords: Passwords | None = None) -> list[BaseRoute]:
    """`passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2-cffi's defaults."""
    api = _Profile(passwords)
    return make_routes([
        ("POST", "/api/me/email", api.change_email),
        ("PUT", "/api/me/avatar", api.put_avatar),
        ("DELETE", "/api/me/avatar", api.delete_avatar),
        ("GET", "/api/images/{image}", api.image),
    ])


PROFILE_API = ApiPart(
    paths={
        "/api/me/email": {"post": operation(
            "Ask to change one's email: a confirmation link goes to the new address (24 h); the email changes "
            "when it is followed (POST /api/account/email)",
            {"202": {"description": "the link is mailed"}, **errors(400, 409, 413),
             "401": json_content(ref("Error"), "bad_credentials (the password is wrong) or a token error"),
             "429": json_content(ref("Error"), "login_throttled: too many wrong passwords; wait Retry-After")},
            body="EmailChange")},
        "/api/me/avatar": {
            "put": {**operation(
                "Upload one's avatar: PNG, JPEG, GIF or WebP of at most 2 MiB, re-encoded as PNG (at most 512 px)",
                {"200": json_content({"type": "object", "required": ["avatar_url"],
                                      "properties": {"avatar_url": {"type": "string"}}}, "stored"),
                 **errors(401, 413),
                 "400": json_content(ref("Error"), "invalid_argument: not a picture taken (SVG, another format "
                                                   "or too many pixels)")}),
                "requestBody": {"required": True, "content": {"image/*": {"schema": {"type": "string",
                                                                                     "format": "binary"}}}}},
            "delete": operation("Remove one's avatar", {"204": {"description": "removed"}, **errors(401)}),
        },
        "/api/images/{image}": {"get": {**operation(
            "A stored picture (an avatar, the team's logo) as PNG; cached for a year (the URL changes with it)",
            {"200": {"description": "the picture", "content": {"image/png": {"schema": {
                "type": "string", "format": "binary"}}}}, **errors(404)}, auth=False, params=("image",))}},
    },
    schemas={
        "EmailChange": {"type": "object", "required": ["email", "password"], "additionalProperties": False,
                        "properties": {"email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL},
                                       "password": {"type": "string", "maxLength": MAX_PASSWORD}}},
    },
)
