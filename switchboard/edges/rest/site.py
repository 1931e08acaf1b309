"""REST for the installation's site settings: the team (name, contact, logo) and the widget as visitors see it.

An admin reads and changes the one :class:`~switchboard.store.documents.Site` document (``/api/site``,
``/api/site/logo``); every logged-in user reads the team's card (``/api/team``); and the widget, on any
site and with no login, reads what it shows (``/api/widget/config``, open to every origin, from the
process's :class:`~switchboard.edges.site.SiteCache` so a busy shop's page loads never wait on the store).

A write goes to the store, then forgets this process's cached copy (``services.site.invalidate()``): the
origin check and the widget page's policy here see it at once, other processes within the cache's 2 s.
Allowed sites are normalised as browsers send an ``Origin``: ``scheme://host[:port]``, lower case, no
default port, no path; a wildcard is refused (an origin that is not listed must be refused, not guessed).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.settings import MailSettings
from switchboard.store.documents import Site, to_epoch
from switchboard.store.images import delete_image, put_image
from switchboard.store.groups import missing_groups
from switchboard.store.site import get_site, identity_secret, regenerate_identity_secret, update_site
from switchboard.edges.images import MAX_IMAGE_BYTES, BadImage, reencode
from switchboard.edges.rest.toolkit import ApiPart, Body, ORJSONResponse, admin, bad, caller, email_field, errors, \
    json_content, make_routes, operation, read_json, read_raw, ref, services_of, string_field
from switchboard.edges.site import SiteCache

__all__ = ["site_routes", "SITE_API", "LOGO_IMAGE", "MAX_ORIGINS", "MAX_WIDGET_GROUPS", "MAX_GROUP_LABEL",
           "normalise_origin", "install_snippet"]

LOGO_IMAGE = "team-logo"  # the logo's image id (store/images.py)
MAX_ORIGINS = 50
MAX_WIDGET_GROUPS, MAX_GROUP_LABEL = 20, 60
MAX_TEAM_NAME, MAX_PHONE, MAX_TITLE, MAX_GREETING = 100, 40, 60, 300
_PHONE = re.compile(r"[0-9 +()\-]*")
_COLOUR = re.compile(r"#[0-9a-f]{6}")
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FIELDS = ("team_name", "team_email", "team_phone", "widget_title", "widget_greeting", "widget_colour",
           "allowed_origins", "widget_groups")


def install_snippet(base_url: str) -> str:
    """The one line a customer's page needs."""
    return f'<script src="{base_url}/widget.js" async></script>'


def normalise_origin(value: str) -> str:
    """`value` as a browser would send it in ``Origin``: ``scheme://host[:port]`` (http or https), lower case,
    a default port dropped. ValueError says what is wrong."""
    text = value.strip().lower()
    if "*" in text:
        raise ValueError(f"{value!r}: wildcards are not accepted; list each site exactly, "
                         f"e.g. https://shop.example.com")
    text = text[:-1] if text.endswith("/") else text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not an origin such as https://shop.example.com") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{value!r}: an origin starts with https:// or http://, e.g. https://shop.example.com")
    if parts.path or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"{value!r}: a site is its origin only (scheme://host[:port]), with no path, "
                         f"query or fragment")
    if "@" in parts.netloc or not parts.hostname or not _valid_host(parts.hostname):
        raise ValueError(f"{value!r} does not name a host, e.g. https://shop.example.com")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _valid_host(host: str) -> bool:
    if _HOST.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _site_cache(request: Request) -> SiteCache:
    cache: SiteCache = request.app.state.services.site
    return cache


def _team_name(request: Request, site: Site) -> str:
    mail: MailSettings | None = getattr(request.app.state.services, "mail_settings", None)
    return str(site.team_name or (mail.team_name if mail is not None else ""))


def _site_json(request: Request, site: Site) -> dict[str, object]:
    settings = services_of(request).settings
    return {"team_name": site.team_name, "team_email": site.team_email, "team_phone": site.team_phone,
            "logo_url": site.logo_url, "widget_title": site.widget_title, "widget_greeting": site.widget_greeting,
            "widget_colour": site.widget_colour, "allowed_origins": list(site.allowed_origins or ()),
            "widget_groups": [_widget_group(g) for g in site.widget_groups or () if isinstance(g, dict)],
            "file_origins": list(settings.allowed_origins), "updated_at": to_epoch(site.updated_at),
            "install_snippet": install_snippet(settings.base_url)}


def _changes(data: Body) -> dict[str, object]:
    """The fields of a PATCH, checked and normalised."""
    changes: dict[str, object] = {}
    for name, limit in (("team_name", MAX_TEAM_NAME), ("widget_title", MAX_TITLE), ("widget_greeting", MAX_GREETING)):
        if name in data:
            changes[name] = string_field(data, name, max_len=limit).strip()
    if "team_email" in data:
        blank = isinstance(data["team_email"], str) and not data["team_email"].strip()
        changes["team_email"] = "" if blank else email_field(data, "team_email")
    if "team_phone" in data:
        phone = string_field(data, "team_phone", max_len=MAX_PHONE).strip()
        if not _PHONE.fullmatch(phone):
            raise bad("team_phone may hold digits, spaces and + - ( ) only")
        changes["team_phone"] = phone
    if "widget_colour" in data:
        colour = string_field(data, "widget_colour", max_len=7).strip().lower()
        if colour and not _COLOUR.fullmatch(colour):
            raise bad("widget_colour must be a colour as #rrggbb (e.g. #1f7a5a), or \"\" for the default")
        changes["widget_colour"] = colour
    if "allowed_origins" in data:
        changes["allowed_origins"] = _origins(data["allowed_origins"])
    if "widget_groups" in data:
        changes["widget_groups"] = _widget_groups(data["widget_groups"])
    return changes


def _widget_group(stored: dict[str, object]) -> dict[str, object]:
    return {"id": str(stored.get("id", "")), "label": str(stored.get("label", "")),
            "hidden": bool(stored.get("hidden", False))}


def _widget_groups(value: object) -> list[dict[str, object]]:
    """The picker's groups, in order: [{"id", "label", "hidden"?}], each group once (existence is checked
    against the store by the caller)."""
    shape = 'widget_groups must be a list of {"id": group id, "label": text, "hidden": true|false}'
    if not isinstance(value, list):
        raise bad(shape)
    if len(value) > MAX_WIDGET_GROUPS:
        raise bad(f"widget_groups holds at most {MAX_WIDGET_GROUPS} groups")
    groups: list[dict[str, object]] = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"id", "label", "hidden"}:
            raise bad(shape)
        group_id, label, hidden = item.get("id"), item.get("label"), item.get("hidden", False)
        if not isinstance(group_id, str) or not group_id or len(group_id) > 64:
            raise bad("widget_groups: each id must be a group id")
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= MAX_GROUP_LABEL:
            raise bad(f"widget_groups: the label of {group_id!r} must be 1 to {MAX_GROUP_LABEL} characters")
        if not isinstance(hidden, bool):
            raise bad(f"widget_groups: hidden of {group_id!r} must be true or false")
        if any(g["id"] == group_id for g in groups):
            raise bad(f"widget_groups: {group_id!r} is listed twice")
        groups.append({"id": group_id, "label": label.strip(), "hidden": hidden})
    return groups


def _origins(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad("allowed_origins must be a list of origins, e.g. [\"https://shop.example.com\"]")
    if len(value) > MAX_ORIGINS:
        raise bad(f"allowed_origins holds at most {MAX_ORIGINS} sites")
    origins: list[str] = []
    for item in value:
        if len(item) > 300:
            raise bad("an origin in allowed_origins is longer than 300 characters")
        try:
            origin = normalise_origin(item)
        except ValueError as exc:
            raise bad(f"allowed_origins: {exc}") from None
        if origin not in origins:
            origins.append(origin)
    return origins


async def _read(request: Request) -> Response:
    await admin(request)
    site = await run_in_threadpool(get_site)
    return ORJSONResponse(_site_json(request, site))


async def _change(request: Request) -> Response:
    await admin(request)
    changes = _changes(await read_json(request, _FIELDS))
    listed = changes.get("widget_groups")
    if isinstance(listed, list) and listed:
        missing = await run_in_threadpool(missing_groups, [str(g["id"]) for g in listed])
        if missing:
            raise bad(f"widget_groups: no such group: {', '.join(missing)}")
    site = await run_in_threadpool(lambda: update_site(**changes) if changes else get_site())
    _site_cache(request).invalidate()
    return ORJSONResponse(_site_json(request, site))


async def _identity(request: Request) -> Response:
    """The identity secret (admin), made on first read: the customer's server signs identities with it."""
    await admin(request)
    secret = await run_in_threadpool(identity_secret)
    _site_cache(request).invalidate()
    return ORJSONResponse({"secret": secret}, headers={"Cache-Control": "no-store"})


async def _regenerate_identity(request: Request) -> Response:
    """A new identity secret (admin): signatures made with the old one are refused from now on."""
    await admin(request)
    secret = await run_in_threadpool(regenerate_identity_secret)
    _site_cache(request).invalidate()
    return ORJSONResponse({"secret": secret}, headers={"Cache-Control": "no-store"})


async def _put_logo(request: Request) -> Response:
    await admin(request)
    raw = await read_raw(request, MAX_IMAGE_BYTES, "the picture")
    try:
        png = await run_in_threadpool(reencode, raw)
    except BadImage as exc:
        raise bad(str(exc)) from None

    def store() -> str:
        url = put_image(LOGO_IMAGE, png)
        update_site(logo_url=url)
        return url

    url = await run_in_threadpool(store)
    _site_cache(request).invalidate()
    return ORJSONResponse({"logo_url": url})


async def _delete_logo(request: Request) -> Response:
    await admin(request)

    def forget() -> None:
        update_site(logo_url="")
        delete_image(LOGO_IMAGE)

    await run_in_threadpool(forget)
    _site_cache(request).invalidate()
    return Response(status_code=204)


async def _team(request: Request) -> Response:
    await caller(request)
    site = await _site_cache(request).site()
    return ORJSONResponse({"name": _team_name(request, site), "email": site.team_email, "phone": site.team_phone,
                           "logo_url": site.logo_url})


_OPEN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


async def _widget_config(request: Request) -> Response:
    cache = _site_cache(request)
    site = await cache.site()
    groups = [{"id": g.id, "label": g.label} for g in await cache.widget_groups() if not g.hidden]
    base = services_of(request).settings.base_url
    return ORJSONResponse({"team_name": _team_name(request, site),
                           "logo_url": f"{base}{site.logo_url}" if site.logo_url else "",
                           "title": site.widget_title, "greeting": site.widget_greeting,
                           "colour": site.widget_colour, "groups": groups}, headers=_OPEN)


def site_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/site", _read),
        ("PATCH", "/api/site", _change),
        ("PUT", "/api/site/logo", _put_logo),
        ("DELETE", "/api/site/logo", _delete_logo),
        ("GET", "/api/site/identity", _identity),
        ("POST", "/api/site/identity/regenerate", _regenerate_identity),
        ("GET", "/api/team", _team),
        ("GET", "/api/widget/config", _widget_config),
    ])


_STR = {"type": "string"}
_ORIGINS = {"type": "array", "maxItems": MAX_ORIGINS, "items": {"type": "string", "example": "https://shop.example.com"}}
_WIDGET_GROUPS = {"type": "array", "maxItems": MAX_WIDGET_GROUPS, "items": {
    "type": "object", "additionalProperties": False, "required": ["id", "label"], "properties": {
        "id": {"type": "string", "description": "an existing group's id"},
        "label": {"type": "string", "minLength": 1, "maxLength": MAX_GROUP_LABEL},
        "hidden": {"type": "boolean", "description": "reachable by a page's data-group, not shown in the picker"}}}}
_SECRET = {"type": "object", "properties": {"secret": _STR}}

SITE_API = ApiPart(
    paths={
        "/api/site": {
            "get": operation("The site settings (admin), with the widget's install snippet",
                             {"200": json_content(ref("Site"), "the settings"), **errors(401, 403)}),
            "patch": operation("Change site settings (admin): only the fields given; allowed_origins replaces "
                               "the stored list and takes effect without a restart",
                               {"200": json_content(ref("Site"), "the settings as stored now"),
                                **errors(400, 401, 403, 413)}, body="SiteChange"),
        },
        "/api/site/logo": {
            "put": {**operation("Upload the team's logo (admin): the body is the picture (PNG, JPEG, GIF or WebP, "
                                "at most 2 MiB), re-encoded as PNG",
                                {"200": json_content({"type": "object", "properties": {"logo_url": _STR}},
                                                     "where the logo is served"),
                                 **errors(400, 401, 403, 413)}),
                    "requestBody": {"required": True, "content": {"image/*": {"schema": {
                        "type": "string", "format": "binary"}}}}},
            "delete": operation("Remove the team's logo (admin)",
                                {"204": {"description": "removed"}, **errors(401, 403)}),
        },
        "/api/site/identity": {
            "get": operation("The site's identity secret (admin), made on first read: the customer's server "
                             "signs identities with it (docs/identity.md)",
                             {"200": json_content(_SECRET, "the secret"), **errors(401, 403)}),
        },
        "/api/site/identity/regenerate": {
            "post": operation("A new identity secret (admin): identities signed with the old one are refused",
                              {"200": json_content(_SECRET, "the new secret"), **errors(401, 403)}),
        },
        "/api/team": {
            "get": operation("The team's card (any logged-in user)",
                             {"200": json_content(ref("Team"), "the team"), **errors(401)}),
        },
        "/api/widget/config": {
            "get": operation("What the widget shows (no login; any origin may read it): empty strings mean "
                             "the widget's defaults",
                             {"200": json_content(ref("WidgetConfig"), "the widget's settings")}, auth=False),
        },
    },
    schemas={
        "Site": {"type": "object", "properties": {
            "team_name": _STR, "team_email": _STR, "team_phone": _STR,
            "logo_url": {"type": "string", "description": "\"\" or /api/images/team-logo?v=<version>"},
            "widget_title": _STR, "widget_greeting": _STR,
            "widget_colour": {"type": "string", "description": "\"\" (the default) or #rrggbb"},
            "allowed_origins": _ORIGINS, "widget_groups": _WIDGET_GROUPS,
            "file_origins": {"type": "array", "items": _STR,
                             "description": "the settings file's allowed_origins (read only; they count too)"},
            "updated_at": {"type": "number", "nullable": True},
            "install_snippet": {"type": "string", "description": "the <script> tag for a customer's page"}}},
        "SiteChange": {"type": "object", "additionalProperties": False, "properties": {
            "team_name": {"type": "string", "maxLength": MAX_TEAM_NAME},
            "team_email": {"type": "string", "description": "an email address, or \"\""},
            "team_phone": {"type": "string", "maxLength": MAX_PHONE, "pattern": "^[0-9 +()-]*$"},
            "widget_title": {"type": "string", "maxLength": MAX_TITLE},
            "widget_greeting": {"type": "string", "maxLength": MAX_GREETING},
            "widget_colour": {"type": "string", "pattern": "^(#[0-9a-fA-F]{6})?$"},
            "allowed_origins": _ORIGINS, "widget_groups": _WIDGET_GROUPS}},
        "Team": {"type": "object", "properties": {"name": _STR, "email": _STR, "phone": _STR, "logo_url": _STR}},
        "WidgetConfig": {"type": "object", "properties": {
            "team_name": _STR, "logo_url": {"type": "string", "description": "absolute, or \"\""},
            "title": _STR, "greeting": _STR, "colour": _STR,
            "groups": {"type": "array", "description": "the picker's groups in order (none: no picker)",
                       "items": {"type": "object", "properties": {"id": _STR, "label": _STR}}}}},
    },
)
