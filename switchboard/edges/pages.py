"""The web pages: the visitor widget, the workspace and its account pages, plain ES modules with no build step.

Files live in ``switchboard/web/`` (package data). ``/widget`` is the widget's demo
page, ``/widget.js`` the embeddable script (``<script src=".../widget.js" async>``
adds a chat bubble to any page), ``/workspace`` the page of agents, supervisors and admins,
``/setup`` the first-run page (creates the first admin with the setup code ``serve`` printed),
``/account`` where mailed links land (invite, password reset, email change: the secret is in the URL
fragment, which the page reads); every other file is under ``/static/``, vendored libraries under
``/static/vendor/`` (Chart.js for the workspace's Reports tab, decision 023: from this server, never a
CDN, so the policy below needs nothing more). ``/`` sends a fresh installation (no admin yet) to ``/setup``
and everyone else to ``/workspace``; ``/setup`` itself sends to ``/workspace`` once an admin exists.
Nothing is rendered on the server: the pages talk to the same websockets and REST as any client
(docs/protocol.md).

Each page carries a Content-Security-Policy: scripts, styles, images and sockets only from this
server, no plugins, no ``<base>`` rewriting. ``/workspace``, ``/setup`` and ``/account`` may not be framed at
all (``frame-ancestors 'none'``: an agent's page inside someone else's frame is a clickjacking target).
``/widget`` may be framed by this server and by the widget's allowed sites (the settings file's
``allowed_origins`` and the admin page's, :mod:`switchboard.edges.site`), the same list the websocket's
origin check reads; its demo markup has inline styles, so only styles may be inline.
``/widget.js`` is meant for other sites' pages: it says so with ``Cross-Origin-Resource-Policy``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from switchboard.store.users import admin_exists
from switchboard.edges.services import Services

__all__ = ["page_routes", "WEB_DIR", "WORKSPACE_CSP", "WIDGET_CSP", "widget_csp"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_SAME_ORIGIN = ("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
                "object-src 'none'; base-uri 'none'; form-action 'self'")
WORKSPACE_CSP = f"{_SAME_ORIGIN}; style-src 'self'; frame-ancestors 'none'"
WIDGET_CSP = f"{_SAME_ORIGIN}; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'"


def widget_csp(allowed_origins: tuple[str, ...]) -> str:
    """The widget page's policy: framed by this server and by each allowed origin."""
    return " ".join((WIDGET_CSP, *allowed_origins))


async def _headers(request: Request, name: str) -> dict[str, str]:
    if name == "widget.html":  # the allowed sites as the admin page left them a moment ago (edges/site.py)
        services: Services = request.app.state.services
        return {**_HEADERS, "Content-Security-Policy": widget_csp(await services.site.origins())}
    if name == "widget.js":
        return {**_HEADERS, "Cross-Origin-Resource-Policy": "cross-origin"}  # for any site
    return {**_HEADERS, "Content-Security-Policy": WORKSPACE_CSP, "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer"}


def _file(name: str, media_type: str | None = None, *, unless_set_up: bool = False) -> Route:
    """`name` at ``/<name without .html>``; `unless_set_up`: once an admin exists, a redirect to the workspace."""
    async def serve(request: Request) -> Response:
        if unless_set_up and await run_in_threadpool(admin_exists):
            return RedirectResponse("/workspace", status_code=307, headers=_HEADERS)
        return FileResponse(WEB_DIR / name, media_type=media_type, headers=await _headers(request, name))
    return Route(f"/{name.removesuffix('.html')}", serve, methods=["GET"], name=name)


async def _root(request: Request) -> Response:
    target = "/workspace" if await run_in_threadpool(admin_exists) else "/setup"
    return RedirectResponse(target, status_code=307, headers=_HEADERS)


def page_routes() -> list[BaseRoute]:
    return [Route("/", _root, methods=["GET"], name="root"),
            _file("widget.html"), _file("workspace.html"), _file("setup.html", unless_set_up=True),
            _file("account.html"), _file("widget.js", "text/javascript"),
            Mount("/static", StaticFiles(directory=WEB_DIR), name="static")]
