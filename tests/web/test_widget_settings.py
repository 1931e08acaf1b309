"""The widget as the admin set it up (title, greeting, colour, team, logo; the allowed sites), in a real Chromium
against the real server. The admin's side is REST; the visitor's the demo page ``/widget``, or another site's page."""

from __future__ import annotations

import io
import re
from typing import Any, Iterator

import httpx
import pytest
from PIL import Image as Picture
from playwright.sync_api import Page, expect

from switchboard.store.documents import Site
from tests.server.conftest import Backends, Server, admin_token, api, make_config
from tests.web.conftest import own_server, screenshot

GREETING = "Hello from Pedalwise! Ask about sizes, delivery or returns."


@pytest.fixture(scope="module")
def site_web(backends: Backends) -> Iterator[Server]:
    with own_server(make_config(backends)) as srv:
        Site.objects.delete()
        yield srv
        Site.objects.delete()  # the store is the session's: later servers start with the default site


@pytest.fixture
def admin(site_web: Server) -> Iterator[httpx.Client]:
    with api(site_web, admin_token(site_web)) as client:
        yield client


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
    expect(by_id(page, "sb-subtitle")).to_contain_text("Pedalwise")  # then the group's status, when it has one
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
