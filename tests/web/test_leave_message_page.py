"""Leave-a-message in Chromium against a real server and a real SMTP server (docs/leave-a-message.md).

Off hours the visitor sees "closed" and the next opening before asking anyone, leaves a message with their
email; an agent of the group finds it in the workspace's Inbox, takes it and replies; the reply arrives by mail,
and the visitor who comes back (same browser, same visitor token) sees it in the widget."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from switchboard.settings import MailSettings
from tests.mail.smtpd import Inbox, body, running_smtpd
from tests.server.conftest import Backends, Server, admin_token, api, ensure_admin, free_port, make_config
from tests.web.conftest import csp_violations, screenshot, sign_in_at
from tests.web.test_accounts_pages import Mailed, make_user, mail_to

pytestmark = pytest.mark.timeout(120)

REPLY = "Your order left our shop this morning.\nTracking number: PW-4471."


@pytest.fixture(scope="module")
def night(backends: Backends) -> Iterator[tuple[Mailed, str]]:
    """A server whose default group (the widget's) is its own, with mail to a real SMTP server."""
    group = f"night-{uuid.uuid4().hex[:6]}"
    inbox = Inbox()
    with running_smtpd(inbox) as smtp_port:
        port = free_port()
        config = replace(make_config(backends, port=port, default_group=group), recover=False,
                         mail=MailSettings.from_mapping({"host": "127.0.0.1", "port": smtp_port, "security": "none",
                                                         "backoff_s": 0.2, "timeout_s": 5}))
        srv = Server(config, port).start()
        ensure_admin()
        made = api(srv, admin_token(srv)).post("/api/groups", json={"id": group, "name": "Night desk"})
        assert made.status_code in (201, 409), made.text
        yield Mailed(srv, inbox), group
        srv.stop()


def close_today(server: Server, group: str) -> None:
    """The group's own hours: every day 09:00-17:00 UTC, but today closed."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    schedule = {"timezone": "UTC", "rules": [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "09:00", "end": "17:00"},
        {"date": today, "closed": True}]}
    answer = api(server, admin_token(server)).put(f"/api/groups/{group}/hours", json={
        "use": "own", "schedule": schedule, "at_closing": "offer_message",
        "off_hours_reply": "Our workshop is closed for the night."})
    assert answer.status_code == 200, answer.text


def test_off_hours_a_visitor_leaves_a_message_an_agent_replies_from_the_inbox_and_the_visitor_sees_it(
        night: tuple[Mailed, str], context: Any) -> None:
    mailed, group = night
    server = mailed.server
    close_today(server, group)
    agent = make_user(server, ["agent"], groups=[group], nickname="Noor")
    email = f"dana-{uuid.uuid4().hex[:6]}@example.com"

    # The visitor, before asking anyone: closed, the reply outside hours, the next opening in their own time.
    visitor = context.new_page()
    visitor_csp = csp_violations(visitor)
    errors: list[str] = []
    visitor.on("pageerror", lambda e: errors.append(str(e)))
    visitor.goto(f"{server.url}/widget")
    visitor.get_by_test_id("sb-bubble").click()
    hours = visitor.get_by_test_id("hours-status")
    expect(hours).to_have_attribute("data-status", "closed")
    expect(hours).to_contain_text("Our workshop is closed for the night.")
    opens = visitor.evaluate("""() => {
        const now = new Date(), at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1, 9));
        return at.toLocaleString([], {weekday: "long", hour: "2-digit", minute: "2-digit"}); }""")
    expect(hours).to_contain_text(f"We open again {opens}.")
    expect(visitor.get_by_test_id("sb-subtitle")).to_contain_text("Closed now")
    expect(visitor.get_by_test_id("sb-subtitle")).not_to_contain_text("We reply in a few moments")
    expect(visitor.get_by_test_id("talk-to-person")).to_be_hidden()
    form = visitor.get_by_test_id("leave-form")
    expect(form).to_be_visible()
    form.get_by_test_id("leave-name").fill("Dana")
    form.get_by_test_id("leave-email").fill("not an email")
    form.get_by_test_id("leave-text").fill("Where is my order 4471?\nIt was due yesterday.")
    form.get_by_test_id("leave-submit").click()
    expect(form.get_by_test_id("leave-error")).to_have_text("Please enter a valid email address.")
    form.get_by_test_id("leave-email").fill(email)
    expect(form.get_by_test_id("leave-error")).to_be_hidden()  # typing clears it
    screenshot(visitor, "widget-closed-leave-a-message")
    form.get_by_test_id("leave-submit").click()
    expect(visitor.get_by_test_id("leave-sent")).to_contain_text(f"will reply to {email}")
    expect(visitor.get_by_test_id("left-message")).to_contain_text("Where is my order 4471?")
    expect(visitor.get_by_test_id("left-waiting")).to_be_visible()

    # The agent: the Inbox tab counts it; they take it and reply.
    desk = sign_in_at(context, server.url, agent["email"], agent["password"])
    desk_csp = csp_violations(desk)
    expect(desk.get_by_test_id("inbox-badge")).to_have_text("1")
    desk.get_by_test_id("tab-inbox").click()
    expect(desk.get_by_test_id("inbox-count")).to_have_text("1")
    row = desk.get_by_test_id("inbox-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"Dana <{email}>")
    expect(row).to_contain_text("Where is my order 4471?")
    expect(row).to_contain_text("not taken")
    row.get_by_role("button").click()
    expect(desk.get_by_test_id("inbox-message")).to_contain_text("It was due yesterday.")
    desk.get_by_test_id("inbox-assign").click()
    expect(desk.get_by_test_id("inbox-assigned")).to_have_text("Assigned to you")
    expect(row).to_contain_text("taken by you")
    desk.get_by_test_id("inbox-reply-text").fill(REPLY)
    screenshot(desk, "workspace-inbox")
    desk.get_by_test_id("inbox-reply-send").click()
    expect(desk.get_by_test_id("toast").filter(has_text=f"Reply sent to {email}")).to_be_visible()
    expect(desk.get_by_test_id("inbox-message")).to_have_count(2)
    expect(desk.get_by_test_id("inbox-count")).to_have_text("0")
    expect(desk.get_by_test_id("inbox-badge")).to_be_hidden()

    # The mail, at the SMTP server.
    mail = mail_to(mailed.inbox, email)
    assert "a reply to your message" in str(mail["Subject"])
    text = body(mail, "plain")
    assert "Tracking number: PW-4471." in text and "> Where is my order 4471?" in text and "Noor" in text

    # The visitor comes back (same browser: same visitor token) and sees the reply.
    back = context.new_page()
    back.on("pageerror", lambda e: errors.append(str(e)))
    back.goto(f"{server.url}/widget")
    expect(back.get_by_test_id("sb-unread")).to_have_text("1")  # a reply they have not seen yet
    back.get_by_test_id("sb-bubble").click()
    panel = back.get_by_test_id("sb-panel")
    panel.evaluate("p => Promise.all(p.getAnimations().map(a => a.finished))")
    expect(back.get_by_test_id("left-message")).to_contain_text("Where is my order 4471?")
    reply = back.get_by_test_id("left-reply")
    expect(reply).to_contain_text("Noor replied")
    expect(reply).to_contain_text("Tracking number: PW-4471.")
    expect(reply).to_be_in_viewport()
    expect(back.get_by_test_id("leave-form")).to_be_hidden()  # they have messages: the form waits for a click
    expect(back.get_by_test_id("leave-message")).to_be_visible()
    screenshot(back, "widget-left-message-reply")
    assert errors == [] and visitor_csp == [] and desk_csp == []
