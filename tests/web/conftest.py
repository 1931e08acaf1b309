"""Browser tests: the real server and Debian's Chromium driven by Playwright for Python.

Chromium comes from the ``chromium`` Debian package (``.ci/run`` installs it); Playwright's own browser
download cannot run here. Without ``/usr/bin/chromium`` every test in this folder is skipped with a
message saying so. Screenshots go to ``tests/artifacts/`` (``ARTIFACTS``).

Fixtures:
- ``web``: one server per module with the bot on (its own small FAQ, uploaded by the admin), dispatch to
  the group ``WEB_GROUP``; ``web.url`` is its base URL.
- ``browser``: one headless Chromium per session; ``context`` a fresh browser context per test (cookies
  and storage apart, so two contexts are two people).
- ``new_agent(web, nickname=..., saturation=...)``: an agent in ``WEB_GROUP`` with its email and password.
- ``csp_violations(page)``: the Content-Security-Policy violations the page reports from then on.
- ``own_server(config)``: a module's second server (other settings than ``web``'s), with the admin.
- ``other_site``: one per session, the origin of another site whose page embeds the widget from ``?widget=``.

The pages run under their real policy (no ``bypass_csp``), which has no ``'unsafe-eval'``. So wait with
locators (``expect(locator)...``, ``locator.wait_for``), which Playwright polls from its own world, never with
``page.wait_for_function``: after its first check it polls by ``eval`` in the page, which the policy refuses
(``tests/web/test_page_policy.py`` keeps both true).
"""

from __future__ import annotations

import dataclasses
import html
import http.server
import os
import shutil
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from switchboard.edges.app import AppConfig
from tests.server.conftest import (  # noqa: F401 (backends: the session's embedded Redis and store, a fixture)
    ADMIN_EMAIL, ADMIN_PASSWORD, Backends, Server, admin_token, api, backends, ensure_admin, forget_knowledge,
    free_port, make_config,
)

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WEB_GROUP = "web-support"
FAQ = b"""
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?", "return policy"]
  answer: You can return any bike within 30 days of delivery, unused and in its box.
- id: return-shipping
  question: Who pays for return shipping?
  alternatives: ["Is returning an order free?", "return postage cost"]
  answer: Returns by courier cost 25 euros; bringing the bike to a store is free.
- id: shipping-cost
  question: How much does shipping cost?
  alternatives: ["What are the delivery fees?", "Is delivery free?"]
  answer: Delivery is free above 100 euros; below that it costs 6 euros.
- id: store-hours
  question: When are your stores open?
  alternatives: ["opening hours", "What time do you open?"]
  answer: Our stores open Monday to Saturday, 9:00 to 18:00.
"""

__all__ = ["ARTIFACTS", "WEB_GROUP", "ADMIN_EMAIL", "ADMIN_PASSWORD", "csp_violations", "new_agent", "screenshot",
           "own_server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: install Debian's `chromium` package "
                                       f"(.ci/run does) or set SWITCHBOARD_CHROMIUM")
        for item in items:
            if "tests/web/" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def web(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    forget_knowledge(backends)
    bot = {"kb_dir": str(tmp_path_factory.mktemp("kb-web")), "demo_kb": False, "low_streak_handoff": 3}
    srv = Server(make_config(backends, bot=bot, default_group=WEB_GROUP), free_port()).start()
    ensure_admin()
    admin = api(srv, admin_token(srv))
    assert admin.put("/api/admin/kb/documents/shop-faq.yaml", content=FAQ).status_code in (200, 201)
    assert admin.post("/api/groups", json={"id": WEB_GROUP, "name": "Web support"}).status_code in (201, 409)
    yield srv
    srv.stop()


@contextmanager
def own_server(config: AppConfig) -> Iterator[Server]:
    """A server of `config` for a module that needs other settings than ``web``'s, stopped on leaving. It shares
    the session's Redis and store with the others, so it does not recover (adopt) their open conversations;
    the admin exists."""
    srv = Server(dataclasses.replace(config, recover=False), free_port()).start()
    try:
        ensure_admin()
        yield srv
    finally:
        srv.stop()


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


@pytest.fixture(scope="session")
def other_site() -> Iterator[str]:
    """The origin of a site no server knows unless told (a real server on another port: another origin; Chromium
    lets only loopback pages load from loopback). It keeps nothing, so one serves the session."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
            "--no-first-run", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def new_agent(server: Server, nickname: str = "Ann", saturation: int = 3) -> tuple[str, str, str]:
    """A new agent in WEB_GROUP: (agent id, email, password)."""
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "agent-password"
    created = api(server, admin_token(server)).post("/api/agents", json={
        "email": email, "password": password, "nickname": nickname, "saturation": saturation, "groups": [WEB_GROUP]})
    assert created.status_code == 201, created.text
    return created.json()["id"], email, password


def sign_in_at(context: Any, base: str, email: str, password: str, page: Any = None) -> Any:
    """Log in to the workspace at `base` on `page` (a new page of `context` when None); returns the page."""
    page = page or context.new_page()
    page.goto(f"{base}/workspace")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    return page


def csp_violations(page: Any) -> list[str]:
    """Every Content-Security-Policy violation `page` reports from now on (Chromium logs each to the console):
    call it before `page.goto` to see the ones made while the page loads."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
