"""The web pages: the visitor widget and the agent workspace, plain ES modules with no build step.

Files live in ``switchboard/web/`` (package data). ``/widget`` is the widget's demo
page, ``/widget.js`` the embeddable script (``<script src=".../widget.js" async>``
adds a chat bubble to any page), ``/workspace`` the agents' and admins' page; every
other file is under ``/static/``. Nothing is rendered on the server: the pages talk
to the same websockets and REST as any client (docs/protocol.md).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["page_routes", "WEB_DIR"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _file(name: str, media_type: str | None = None) -> Route:
    async def serve(request: Request) -> Response:
        return FileResponse(WEB_DIR / name, media_type=media_type, headers=_HEADERS)
    return Route(f"/{name.removesuffix('.html')}", serve, methods=["GET"], name=name)


def page_routes() -> list[BaseRoute]:
    return [_file("widget.html"), _file("workspace.html"),
            _file("widget.js", "text/javascript"),
            Mount("/static", StaticFiles(directory=WEB_DIR), name="static")]
