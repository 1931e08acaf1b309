"""The knowledge base an admin trusts, in a real browser (issue 21): a fresh server answers from the shipped
demo content, marked demo; the admin switches it off with one click, uploads the bakery's markdown FAQ, asks in
the "test the bot" box and sees why the bot answers; a visitor asking the same question in the widget gets the
bakery's answer, not the bike shop's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import FilePayload, expect

from tests.server.conftest import Backends, Server, admin_token, api, forget_knowledge, make_config
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csp_violations, own_server, screenshot, sign_in_at
from tests.web.test_widget import Widget

pytestmark = pytest.mark.timeout(180)

BAKERY = b"""# Bakery FAQ

## What are your opening hours?

The bakery opens every day from 7:00 to 14:00, and until 16:00 on Saturdays.

## Do you bake gluten-free bread?

Yes: a gluten-free loaf every Friday, baked before the others.
"""
HOURS = "The bakery opens every day from 7:00 to 14:00, and until 16:00 on Saturdays."


@pytest.fixture(scope="module")
def demo_server(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    forget_knowledge(backends)
    bot = {"kb_dir": str(tmp_path_factory.mktemp("kb-demo")), "demo_kb": True}
    with own_server(make_config(backends, bot=bot)) as srv:
        yield srv
    forget_knowledge(backends)


def test_the_admin_switches_the_demo_off_uploads_a_markdown_faq_tests_it_and_a_visitor_is_answered_from_it(
        demo_server: Server, context: Any) -> None:
    admin = api(demo_server, admin_token(demo_server))
    assert all(d["demo"] for d in admin.get("/api/admin/kb/documents").json()["documents"])
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, demo_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, page)
    page.get_by_test_id("section-kb").click()
    expect(page.get_by_test_id("kb-demo-text")).to_contain_text("Demo content is on")
    expect(page.get_by_test_id("kb-demo-badge").first).to_be_visible()
    screenshot(page, "kb-demo-on")

    page.get_by_test_id("kb-demo-toggle").click()
    expect(page.get_by_test_id("kb-demo-text")).to_contain_text("Demo content is off")
    expect(page.get_by_test_id("kb-document")).to_have_count(0)

    upload: FilePayload = {"name": "bakery-faq.md", "mimeType": "text/markdown", "buffer": BAKERY}
    page.get_by_test_id("kb-file").set_input_files(files=[upload])
    page.get_by_test_id("kb-upload").click()
    expect(page.locator('[data-testid="kb-document"][data-name="bakery-faq.md"]')).to_contain_text("2 entries")

    page.get_by_test_id("kb-ask-input").fill("what are your opening hours?")
    page.get_by_test_id("kb-ask").click()
    decision = page.get_by_test_id("kb-ask-decision")
    expect(decision).to_have_attribute("data-decision", "answer")
    expect(page.get_by_test_id("kb-ask-why")).to_contain_text(">= answer")
    expect(page.get_by_test_id("kb-ask-answer")).to_have_text(HOURS)
    expect(page.get_by_test_id("kb-ask-match").first).to_contain_text("bakery-faq.md")
    screenshot(page, "kb-test-the-bot")
    assert violations == []

    widget = Widget(context.new_page(), demo_server).goto().open()
    widget.say("What are your opening hours?")
    expect(widget.message(HOURS, "bot")).to_be_visible()
    assert widget.errors == []
