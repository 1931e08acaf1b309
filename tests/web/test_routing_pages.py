"""Team → Widget's groups and identity secret in a real browser (issue 20): the admin ticks, labels and orders
the groups the widget offers, and shows and regenerates the identity secret. (The knowledge base's hand-off
group select needs a server with the bot: tests/server/test_bot_routing.py covers its REST.)"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.server.conftest import admin_token, api
from tests.web.conftest import screenshot, sign_in_at
from tests.web.test_accounts_pages import Mailed, mailed, make_group, make_user  # noqa: F401
from tests.web.test_admin_pages import accept_dialogs, team

pytestmark = pytest.mark.timeout(120)


def test_the_admin_offers_two_groups_in_the_widget_labelled_and_ordered(mailed: Mailed, context: Any) -> None:
    first, second = make_group(mailed.server, "Sales"), make_group(mailed.server, "Billing")
    admin = api(mailed.server, admin_token(mailed.server))
    try:
        page, violations = team(context, mailed, "widget")
        rows = page.get_by_test_id("widget-group")

        def row_of(group: str) -> Any:
            return page.locator(f'[data-testid="widget-group"][data-group="{group}"]')

        expect(row_of(second)).to_be_visible()
        for group, label in ((first, "Buying a bike"), (second, "Invoices")):
            row_of(group).get_by_test_id("widget-group-on").check()
            row_of(group).get_by_test_id("widget-group-label").fill(label)
        while rows.first.get_attribute("data-group") != second:  # the second group first
            row_of(second).get_by_test_id("widget-group-up").click()
        page.get_by_test_id("widget-save").click()
        expect(page.get_by_test_id("toast").filter(has_text="Widget saved.")).to_be_visible()

        config = api(mailed.server).get("/api/widget/config").json()
        assert config["groups"][:2] == [{"id": second, "label": "Invoices"}, {"id": first, "label": "Buying a bike"}]
        screenshot(page, "admin-widget-groups")

        asked: list[str] = []
        accept_dialogs(page, asked)
        page.get_by_test_id("identity-show").click()
        secret = page.get_by_test_id("identity-secret")
        expect(secret).to_have_value(admin.get("/api/site/identity").json()["secret"])
        old = secret.input_value()
        page.get_by_test_id("identity-regenerate").click()
        expect(secret).not_to_have_value(old)
        assert secret.input_value() == admin.get("/api/site/identity").json()["secret"] and asked
        assert violations == []
    finally:
        assert admin.patch("/api/site", json={"widget_groups": []}).status_code == 200



def test_a_visitor_picks_a_group_in_the_widget_and_is_served_by_that_groups_agent(mailed: Mailed, context: Any,
                                                                                 browser: Any) -> None:
    sales, billing = make_group(mailed.server, "Sales"), make_group(mailed.server, "Billing")
    admin = api(mailed.server, admin_token(mailed.server))
    assert admin.patch("/api/site", json={"widget_groups": [{"id": sales, "label": "Buying a bike"},
                                                            {"id": billing, "label": "Invoices"}]}).status_code == 200
    try:
        bea = make_user(mailed.server, ["agent"], groups=[billing], nickname="Bea")
        desk = sign_in_at(context, mailed.server.url, bea["email"], bea["password"])
        expect(desk.get_by_test_id("connection")).to_have_attribute("data-state", "open", timeout=20000)
        desk.get_by_test_id("presence").select_option("online")

        guest = browser.new_context().new_page()
        guest.goto(f"{mailed.server.url}/widget")
        guest.get_by_test_id("sb-bubble").click()
        guest.get_by_test_id("talk-to-person").click()
        picker = guest.get_by_test_id("group-picker")
        expect(guest.get_by_test_id("pick-group")).to_have_text(["Buying a bike", "Invoices"])
        screenshot(guest, "widget-group-picker")
        picker.locator(f'[data-group="{billing}"]').click()

        expect(guest.get_by_test_id("agent-name")).to_contain_text("Bea", timeout=20000)
        expect(desk.get_by_test_id("conversation-item")).to_have_count(1, timeout=10000)
    finally:
        assert admin.patch("/api/site", json={"widget_groups": []}).status_code == 200
