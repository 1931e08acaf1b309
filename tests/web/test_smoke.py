"""The browser harness works: the server serves a page and headless Chromium renders it."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Server


def test_the_widget_demo_page_is_served_to_a_real_browser(web: Server, context: Any) -> None:
    page = context.new_page()
    response = page.goto(f"{web.url}/widget")
    assert response is not None and response.status == 200
    assert page.title() == "Switchboard widget"
