"""The browser tests themselves under the pages' Content-Security-Policy (no ``'unsafe-eval'``).

The tests run the pages under their real policy, so they must wait in ways the policy allows, and their
violation check (``csp_violations``) must still see a violation when a page makes one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Route

from tests.server.conftest import Server
from tests.web.conftest import csp_violations
from tests.web.test_widget import Widget

LATE_LOADER = "/static/late-loader.js"  # answered by the test's route, never by the server


def _page_with_script(route: Route, script_tag: str, keep: bool = False) -> None:
    """The server's own response (headers and policy included) with the page's first <script> replaced by
    `script_tag` (put before it if `keep`)."""
    response = route.fetch()
    body = re.sub(r"<script[^>]*>\s*</script>", lambda m: script_tag + (m[0] if keep else ""), response.text(),
                  count=1)
    route.fulfill(response=response, body=body)


def test_waiting_for_a_widget_that_loads_after_the_page_does_not_need_eval(web: Server, context: Any) -> None:
    page: Page = context.new_page()
    violations = csp_violations(page)
    page.route(f"{web.url}/widget", lambda route: _page_with_script(route, f'<script src="{LATE_LOADER}"></script>'))
    page.route(f"{web.url}{LATE_LOADER}", lambda route: route.fulfill(content_type="text/javascript", body=(
        "setTimeout(() => { const s = document.createElement('script'); s.src = '/widget.js';"
        " document.body.append(s); }, 700);")))
    widget = Widget(page, web).goto()  # the page has loaded; the widget has not: the wait has to poll
    assert page.evaluate("window.Switchboard.version")
    assert violations == [] and widget.errors == []


def test_the_violation_check_sees_an_inline_script_on_the_workspace(web: Server, context: Any) -> None:
    page: Page = context.new_page()
    violations = csp_violations(page)
    page.route(f"{web.url}/workspace", lambda route: _page_with_script(
        route, '<script>document.title = "inline ran";</script>', keep=True))
    page.goto(f"{web.url}/workspace")
    page.get_by_test_id("login-email").wait_for()  # the page's own script ran
    assert page.title() != "inline ran"  # refused by the policy ...
    assert violations and "inline script" in violations[0]  # ... and seen by the check the CSP tests use


def test_no_browser_test_waits_with_wait_for_function() -> None:
    here = Path(__file__).resolve().parent
    callers = [p.name for p in sorted(here.glob("*.py")) if p != Path(__file__).resolve()
               and ".wait_for_function(" in p.read_text(encoding="utf-8")]
    assert callers == [], f"{callers}: wait_for_function polls by eval, which the pages' policy refuses"
