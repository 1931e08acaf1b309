"""The widget as the admin set it up (title, greeting, colour, team, logo; the allowed sites), in a real Chromium
against the real server. The admin's side is REST; the visitor's the demo page ``/widget``, or another site's page."""

from __future__ import annotations

import html
import http.server
import io
import re
import threading
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image as Picture
from playwright.sync_api import Page, expect
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.edges.rest.site import site_routes
from switchboard.store.documents import Site
from switchboard.store.images import get_image
from tests.server.conftest import Backends, Server, admin_token, api, ensure_admin, free_port, make_config
from tests.web.conftest import screenshot

GREETING = "Hello from Pedalwise! Ask about sizes, delivery or returns."


def with_site_routes(server: Server) -> Server:
    """The site routes on `server`'s app, unless the app serves them already (rest/api.py lists them); and,
    while the app has none, a stand-in for ``GET /api/images/{image}`` (rest/profile.py's) to show the logo."""
    paths = {route.path for route in server.app.router.routes if isinstance(route, Route)}
    if "/api/site" not in paths:
        server.app.router.routes[:0] = site_routes()
    if "/api/images/{image}" not in paths:
        server.app.router.routes.insert(0, Route("/api/images/{image}", _image, methods=["GET"]))
    return server


async def _image(request: Request) -> Response:
    image = await run_in_threadpool(get_image, str(request.path_params["image"]))
    return Response(bytes(image.data), media_type="image/png") if image else Response(status_code=404)


@pytest.fixture(scope="module")
def site_web(backends: Backends) -> Iterator[Server]:
    config = make_config(backends)
    config.recover = False  # other modules' servers own the open conversations of the shared store
    srv = with_site_routes(Server(config, free_port())).start()
    ensure_admin()
    Site.objects.delete()
    yield srv
    Site.objects.delete()  # the store is the session's: later servers start with the default site
    srv.stop()


@pytest.fixture
def admin(site_web: Server) -> Iterator[httpx.Client]:
    with api(site_web, admin_token(site_web)) as client:
        yield client


class _OtherSite(http.server.BaseHTTPRequestHandler):
    """Another site's page embedding the widget whose address ``?widget=`` gives."""

    def do_GET(self) -> None:
        src = parse_qs(urlsplit(self.path).query).get("widget", [""])[0]
        body = (f'<!doctype html><title>Spokes &amp; Co</title><h1>Spokes &amp; Co</h1>'
                f'<script src="{html.escape(src)}" async></script>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    """The origin of a site the server does not know (a real server on another port: another origin)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _logo() -> bytes:
    out = io.BytesIO()
    picture = Picture.new("RGB", (96, 96), (255, 255, 255))
    for x in range(16, 80):
        for y in range(16, 80):
            if (x - 48) ** 2 + (y - 48) ** 2 < 32 ** 2:
                picture.putpixel((x, y), (47, 95, 154))
    picture.save(out, format="PNG")
    return out.getvalue()


def by_id(page: Page, test_id: str) -> Any:
    return page.get_by_test_id(test_id)


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    expect(by_id(page, "sb-bubble")).to_be_visible()  # shown once the stylesheet and the team's settings are in
    by_id(page, "sb-bubble").click()
    expect(by_id(page, "sb-panel")).to_be_visible()
    by_id(page, "sb-panel").evaluate("p => Promise.all(p.getAnimations().map(a => a.finished))")  # opened all the way


def test_the_widget_shows_the_title_greeting_colour_team_and_logo_the_admin_set(
        context: Any, site_web: Server, admin: httpx.Client) -> None:
    response = admin.patch("/api/site", json={"team_name": "Pedalwise", "widget_title": "Pedalwise support",
                                              "widget_greeting": GREETING, "widget_colour": "#2f5f9a"})
    assert response.status_code == 200, response.text
    assert admin.put("/api/site/logo", content=_logo()).status_code == 200
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_widget(page, f"{site_web.url}/widget")

    expect(by_id(page, "sb-title")).to_have_text("Pedalwise support")
    expect(by_id(page, "sb-subtitle")).to_contain_text("Pedalwise · ")
    expect(by_id(page, "sb-greeting")).to_have_text(GREETING)
    expect(by_id(page, "sb-bubble")).to_have_css("background-color", "rgb(47, 95, 154)")
    expect(by_id(page, "sb-bubble")).to_have_css("color", "rgb(255, 255, 255)")  # white reads best on dark blue
    logo = by_id(page, "sb-logo")
    expect(logo).to_be_visible()
    expect(logo).to_have_attribute("src", re.compile(f"^{re.escape(site_web.url)}/api/images/team-logo\\?v="))
    assert logo.evaluate("img => img.naturalWidth") == 96  # served (by GET /api/images/...), not broken
    path = screenshot(page, "widget-settings")
    assert path.stat().st_size > 10_000

    admin.patch("/api/site", json={"widget_colour": "#ffd23f"})  # a light colour: dark ink, to stay readable
    light = context.new_page()
    open_widget(light, f"{site_web.url}/widget")
    expect(by_id(light, "sb-bubble")).to_have_css("background-color", "rgb(255, 210, 63)")
    expect(by_id(light, "sb-bubble")).to_have_css("color", "rgb(29, 35, 39)")
    expect(by_id(light, "talk-to-person")).to_have_css("color", "rgb(29, 35, 39)")  # not yellow on white
    assert errors == []


def test_without_settings_or_when_they_cannot_be_read_the_widget_keeps_its_defaults(
        context: Any, site_web: Server, admin: httpx.Client) -> None:
    page = context.new_page()
    page.route("**/api/widget/config", lambda route: route.abort())
    open_widget(page, f"{site_web.url}/widget")
    expect(by_id(page, "sb-title")).to_have_text("Chat with us")
    expect(by_id(page, "sb-greeting")).to_have_text("Hi! Ask us anything, or talk to a person.")
    expect(by_id(page, "sb-bubble")).to_have_css("background-color", "rgb(31, 122, 90)")


def test_a_site_not_allowed_is_told_chat_is_not_available_until_the_admin_adds_it(
        context: Any, site_web: Server, admin: httpx.Client, other_site: str) -> None:
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    shop_page = f"{other_site}/?widget={site_web.url}/widget.js"

    open_widget(page, shop_page)
    expect(by_id(page, "connection-status")).to_have_text("Chat is not available on this site")
    expect(by_id(page, "sb-input")).to_be_disabled()
    expect(by_id(page, "talk-to-person")).to_be_hidden()
    screenshot(page, "widget-refused-site")
    told = [line for line in console if line.startswith("Switchboard:")]
    assert len(told) == 1 and other_site in told[0] and "allowed_origins" in told[0], console
    page.wait_for_timeout(2000)  # the widget's first retry would come within a second: none comes
    assert len(sockets) == 1
    expect(by_id(page, "connection-status")).to_have_text("Chat is not available on this site")

    response = admin.patch("/api/site", json={"allowed_origins": [other_site]})
    assert response.status_code == 200, response.text
    page.reload()  # the chat was open: the reloaded widget connects at once
    expect(by_id(page, "sb-panel")).to_be_visible()
    by_id(page, "sb-input").fill("hello from Spokes & Co")
    by_id(page, "sb-send").click()
    expect(by_id(page, "sb-message").filter(has_text="hello from Spokes & Co")).to_have_attribute("data-seq", "1")
    expect(by_id(page, "connection-status")).to_be_hidden()
    admin.patch("/api/site", json={"allowed_origins": []})
