"""Service hours in Chromium: an admin gives a group its own hours in Team → Groups, sees the week drawn, and a
visitor who asks that group for a person on a closed day is told when it opens instead of being queued."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.server.conftest import admin_token, api, visitor
from tests.web.conftest import screenshot
from tests.web.test_accounts_pages import Mailed, mailed, make_group  # noqa: F401
from tests.web.test_admin_pages import team

pytestmark = pytest.mark.timeout(120)


def test_an_admin_sets_a_groups_hours_sees_the_week_and_a_visitor_on_a_closed_day_is_told_the_next_opening(
        mailed: Mailed, context: Any) -> None:
    group = make_group(mailed.server, "Bakery")
    page, violations = team(context, mailed, "groups")
    row = page.locator(f'[data-testid="group-row"][data-group="{group}"]')
    panel = row.get_by_test_id(f"hours-{group}")
    panel.get_by_test_id(f"hours-{group}-summary").click()
    form = panel.get_by_test_id(f"hours-{group}-form")
    form.get_by_test_id("hours-mode").select_option("own")
    form.get_by_test_id("hours-timezone").fill("UTC")
    form.get_by_test_id("hours-add-weekly").click()  # Monday to Friday, 09:00-17:00
    form.get_by_test_id("hours-add-date").click()  # today (UTC), closed all day
    form.get_by_test_id("hours-at-closing").select_option("offer_message")
    form.get_by_test_id("hours-reply").fill("The ovens are off; leave us a message.")
    form.get_by_test_id("hours-save").click()

    expect(page.get_by_test_id("toast").filter(has_text="Hours saved.")).to_be_visible()
    expect(panel.get_by_test_id("hours-status")).to_contain_text("Closed now; opens")
    windows = panel.get_by_test_id("hours-window")
    expect(windows.first).to_have_attribute("data-start", "09:00")
    assert windows.count() >= 4  # the weekdays of the coming week but today
    panel.scroll_into_view_if_needed()
    screenshot(page, "admin-group-hours")
    stored = api(mailed.server, admin_token(mailed.server)).get(f"/api/groups/{group}/hours").json()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert stored["use"] == "own" and stored["at_closing"] == "offer_message"
    assert stored["schedule"]["rules"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
        {"date": today, "closed": True}]

    guest, _ = visitor(mailed.server)
    guest.send("request_human", group=group)
    told = guest.wait("outside_hours", timeout=10)
    assert told["group"] == group and told["reason"] == "request"
    assert told["next_opening"] is not None and told["next_opening"] > time.time()
    assert time.strftime("%H:%M", time.gmtime(told["next_opening"])) == "09:00"
    assert violations == []
