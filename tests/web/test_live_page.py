"""The Live tab in a real browser: an admin watches agents and queues change, pushed by the server.

Agents and visitors are plain websocket clients; the admin only looks (and opens, then closes, a
conversation, whose new messages appear as they come). A supervisor's Live tab goes on with the new login
after a password change. Each test uses a group of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from playwright.sync_api import Page, expect

from switchboard.edges.auth import Passwords
from switchboard.store.users import insert_user
from tests.server.conftest import Server, agent_socket, login, visitor
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csp_violations, screenshot, sign_in_at
from tests.web.test_workspace import agent_in_own_group

pytestmark = pytest.mark.timeout(120)


def live_tab(context: Any, web: Server) -> tuple[Page, list[str]]:
    page: Page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, web.url, ADMIN_EMAIL, ADMIN_PASSWORD, page)
    page.get_by_test_id("tab-live").click()
    expect(page.get_by_test_id("live-state")).to_have_text("Live")
    return page, violations


def test_an_admin_sees_an_agents_load_change_when_a_visitor_is_assigned(web: Server, context: Any) -> None:
    group, agent_id, email, password = agent_in_own_group(web, nickname="Lena Live", saturation=2)
    page, violations = live_tab(context, web)
    row = page.locator(f'[data-testid="live-agent"][data-agent="{agent_id}"]')
    expect(row).to_have_attribute("data-presence", "offline")
    expect(row.get_by_test_id("live-load")).to_have_text("0 / 2")

    desk, _ = agent_socket(web, login(web, email, password))
    guest, _ = visitor(web)
    guest.send("message", text="my bike has a flat tyre", client_id="m1")
    guest.send("request_human", group=group)
    queue = page.locator(f'[data-testid="live-queue"][data-group="{group}"]')
    expect(queue.get_by_test_id("live-waiting")).to_have_count(1)  # waiting: nobody online yet
    desk.send("presence", presence="online")
    conv = desk.wait("conversation_assigned")["conversation"]

    expect(row).to_have_attribute("data-presence", "online")
    expect(row.get_by_test_id("live-load")).to_have_text("1 / 2")
    expect(row).to_have_attribute("data-load", "1")
    expect(queue.get_by_test_id("live-waiting")).to_have_count(0)
    screenshot(page, "live-view")

    row.get_by_test_id("live-open").click()  # a steerer reads the conversation, then closes it
    panel = page.get_by_test_id("live-conversation")
    expect(panel).to_have_attribute("data-conversation", conv)
    expect(page.get_by_test_id("live-message").filter(has_text="my bike has a flat tyre")).to_be_visible()
    expect(page.get_by_test_id("live-conv-state")).to_contain_text("Lena Live")
    guest.send("message", text="the front one, since this morning", client_id="m2")  # pushed: the tab asks nothing
    expect(page.get_by_test_id("live-message").filter(has_text="the front one, since this morning")).to_be_visible()
    screenshot(page, "live-view-conversation")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("live-close").click()
    guest.wait("closed")
    expect(row.get_by_test_id("live-load")).to_have_text("0 / 2")
    assert violations == []
    for client in (guest, desk):
        client.close()


def test_the_agents_queue_panel_shows_a_new_visitor_without_asking(web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Quinn")
    page: Page = context.new_page()
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto(f"{web.url}/workspace")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    guest, _ = visitor(web)
    guest.send("request_human", group=group)
    panel = page.locator(f'[data-testid="queue-panel"][data-group="{group}"]')
    expect(panel.get_by_test_id("queue-entry")).to_have_count(1)
    page.wait_for_timeout(3500)  # longer than the period the panel used to poll with
    assert sent and not any('"queues"' in frame for frame in sent)
    page.get_by_test_id("refresh-queues").click()  # the button still asks
    expect(panel.get_by_test_id("queue-entry")).to_have_count(1)
    assert any('"queues"' in frame for frame in sent)
    guest.close()


def test_the_live_tab_goes_on_with_the_new_login_after_a_password_change(web: Server, context: Any) -> None:
    group, agent_id, email, password = agent_in_own_group(web, nickname="Pia Pass")
    boss_email, boss_password = f"{uuid.uuid4().hex[:8]}@example.com", "boss-password-1"
    insert_user(("supervisor",), boss_email, Passwords().hash(boss_password), nickname="Boss", saturation=1,
                supervises=(group,))
    page: Page = context.new_page()
    hellos: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: hellos.append(
        orjson.loads(payload)["token"]) if '"hello"' in str(payload) else None))
    sign_in_at(context, web.url, boss_email, boss_password, page)
    page.get_by_test_id("tab-live").click()
    expect(page.get_by_test_id("live-state")).to_have_text("Live")
    row = page.locator(f'[data-testid="live-agent"][data-agent="{agent_id}"]')
    expect(row).to_have_attribute("data-presence", "offline")

    page.get_by_test_id("tab-profile").click()  # the change ends every session, the Live tab's socket's too
    form = page.get_by_test_id("password-form")
    form.get_by_test_id("password-old").fill(boss_password)
    form.get_by_test_id("password-new").fill("boss-password-2")
    form.get_by_test_id("password-confirm").fill("boss-password-2")
    form.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("toast").filter(has_text="Password changed.")).to_be_visible()
    page.get_by_test_id("tab-live").click()
    expect(page.get_by_test_id("live-state")).to_have_text("Live")
    desk, _ = agent_socket(web, login(web, email, password))
    desk.send("presence", presence="online")
    expect(row).to_have_attribute("data-presence", "online")  # pushed over the socket of the new login
    assert len(hellos) == 2 and hellos[0] != hellos[1]
    expect(page.get_by_test_id("toast").filter(has_text="ended")).to_have_count(0)
    desk.close()
