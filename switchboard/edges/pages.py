"""The web pages: the visitor widget and the agent workspace, plain ES modules with no build step.

Files live in ``switchboard/web/`` (package data). ``/widget`` is the widget's demo
page, ``/widget.js`` the embeddable script (``<script src=".../widget.js" async>``
adds a chat bubble to any page), ``/workspace`` the agents' and admins' page; every
other file is under ``/static/``. Nothing is rendered on the server: the pages talk
to the same websockets and REST as any client (docs/protocol.md).

Each page carries a Content-Security-Policy: scripts, styles, images and sockets only from this
server, no plugins, no ``<base>`` rewriting. ``/workspace`` may not be framed at all
(``frame-ancestors 'none'``: an agent's page inside someone else's frame is a clickjacking target).
``/widget`` may be framed by this server and by the widget's allowed sites (the settings file's
``allowed_origins`` and the admin page's, :mod:`switchboard.edges.site`), the same list the websocket's
origin check reads; its demo markup has inline styles, so only styles may be inline.
``/widget.js`` is meant for other sites' pages: it says so with ``Cross-Origin-Resource-Policy``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

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


def _file(name: str, media_type: str | None = None) -> Route:
    async def serve(request: Request) -> Response:
        return FileResponse(WEB_DIR / name, media_type=media_type, headers=await _headers(request, name))
    return Route(f"/{name.removesuffix('.html')}", serve, methods=["GET"], name=name)


def page_routes() -> list[BaseRoute]:
    return [_file("widget.html"), _file("workspace.html"),
            _file("widget.js", "text/javascript"),
            Mount("/static", StaticFiles(directory=WEB_DIR), name="static")]
