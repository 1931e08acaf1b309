"""Canned replies in a real browser: an agent types `/` in the reply box, chooses one, and the visitor gets it
with the names filled in; a value the workspace does not know is left for the agent to fill; the "Canned
replies" tab lists, makes, changes and deletes them within the agent's scope.

The visitor is a plain websocket client (tests.server.conftest.visitor); each test's agent is in a group of its
own, so its group's replies reach nobody else's composer.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.server.conftest import Server, admin_token, api, login
from tests.web.conftest import csp_violations, screenshot, sign_in_at
from tests.web.test_workspace import agent_in_own_group, ask_for_person, item, messages, online

pytestmark = pytest.mark.timeout(120)

GREET = "Hello {{visitor.name}}, I am {{agent.name}}. How can I help?"
GOODBYE = "Thanks for writing, {{visitor.name}}. Goodbye!"


def desk_with_replies(web: Server, context: Any, nickname: str) -> tuple[Page, list[str], str, str]:
    """An online agent at the desk, with a group reply /greet (the admin's) and a personal one /goodbye (their
    own): (page, CSP violations seen, group, agent token)."""
    group, _, email, password = agent_in_own_group(web, nickname=nickname)
    admin = api(web, admin_token(web))
    made = admin.post("/api/canned", json={"scope": "group", "owner": group, "shortcut": "greet",
                                           "title": "Greeting", "text": GREET})
    assert made.status_code == 201, made.text
    token = login(web, email, password)
    mine = api(web, token).post("/api/canned", json={"scope": "personal", "shortcut": "goodbye", "title": "Goodbye",
                                                     "text": GOODBYE})
    assert mine.status_code == 201, mine.text
    page: Page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, web.url, email, password, page=page)
    online(page)
    return page, violations, group, token


def options(page: Page) -> Any:
    return page.get_by_test_id("canned-option")


def test_an_agent_inserts_a_canned_reply_with_slash_and_the_visitor_gets_it_with_the_names_filled_in(
        web: Server, context: Any) -> None:
    page, violations, group, _ = desk_with_replies(web, context, "Greta")
    guest, conversation = ask_for_person(web, group, name="Ada Lovelace")
    item(page, conversation).click()
    reply = page.get_by_test_id("reply")
    # The conversation has opened in the composer: visible, not merely enabled (a hidden box is enabled too, and a
    # "/" typed into it before the switch is wiped when the composer shows the conversation's draft).
    expect(reply).to_be_visible()
    expect(reply).to_be_editable()

    reply.press_sequentially("/")
    expect(page.get_by_test_id("canned-picker")).to_be_visible(timeout=15000)  # the first / reads the set
    expect(options(page)).to_have_count(2)  # the group's and the agent's own
    reply.press_sequentially("gre")
    expect(options(page)).to_have_count(1)
    only = options(page).first
    expect(only).to_contain_text("/greet")
    expect(only).to_contain_text("Greeting")
    expect(only).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant", only.get_attribute("id") or "-")
    screenshot(page, "canned-picker")

    reply.press("Enter")
    expect(reply).to_have_value("Hello Ada Lovelace, I am Greta. How can I help?")
    expect(page.get_by_test_id("canned-picker")).to_be_hidden()
    expect(messages(page)).to_have_count(0)  # inserted, not sent: the agent may still edit it

    reply.press("Enter")
    got = guest.wait("message", timeout=10, text="Hello Ada Lovelace, I am Greta. How can I help?")
    assert got["sender"]["role"] == "agent" and got["sender"]["name"] == "Greta"
    expect(messages(page, "agent").last).to_contain_text("Hello Ada Lovelace, I am Greta.")
    expect(reply).to_have_value("")
    assert violations == []


def test_arrows_choose_escape_closes_and_a_value_nobody_knows_is_left_selected_for_the_agent(
        web: Server, context: Any) -> None:
    page, violations, group, _ = desk_with_replies(web, context, "Hugo")
    guest, conversation = ask_for_person(web, group)  # a visitor who gave no name
    item(page, conversation).click()
    reply = page.get_by_test_id("reply")
    # The conversation has opened in the composer: visible, not merely enabled (a hidden box is enabled too, and a
    # "/" typed into it before the switch is wiped when the composer shows the conversation's draft).
    expect(reply).to_be_visible()
    expect(reply).to_be_editable()

    reply.press_sequentially("See you /gre")
    expect(options(page)).to_have_count(1)
    reply.press("Escape")
    expect(page.get_by_test_id("canned-picker")).to_be_hidden()
    expect(reply).to_have_value("See you /gre")

    reply.fill("")
    reply.press_sequentially("/zzz")
    expect(page.get_by_test_id("canned-note")).to_have_text("No canned reply matches /zzz.")
    reply.fill("")
    reply.press_sequentially("/")
    expect(options(page)).to_have_count(2)
    expect(options(page).nth(0)).to_have_attribute("data-shortcut", "goodbye")  # by shortcut
    reply.press("ArrowDown")
    expect(options(page).nth(1)).to_have_attribute("aria-selected", "true")
    reply.press("ArrowDown")  # round to the first again
    expect(options(page).nth(0)).to_have_attribute("aria-selected", "true")
    reply.press("Enter")
    expect(reply).to_have_value("Thanks for writing, [visitor.name]. Goodbye!")
    expect(page.get_by_test_id("toast").last).to_contain_text("Fill in [visitor.name]")
    reply.press_sequentially("Sam")  # the placeholder was selected: typing replaces it
    expect(reply).to_have_value("Thanks for writing, Sam. Goodbye!")
    reply.press("Enter")
    guest.wait("message", timeout=10, text="Thanks for writing, Sam. Goodbye!")
    assert violations == []


def test_the_canned_replies_tab_lists_makes_changes_and_deletes_within_the_agents_scope(
        web: Server, context: Any) -> None:
    page, violations, group, token = desk_with_replies(web, context, "Iris")
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.get_by_test_id("tab-canned").click()
    expect(page.get_by_test_id("canned")).to_be_visible()
    expect(page.get_by_test_id("desk")).to_be_hidden()
    rows = page.get_by_test_id("canned-row")
    expect(rows).to_have_count(2)
    greet = page.locator('[data-testid="canned-row"][data-shortcut="greet"]')
    expect(greet.get_by_test_id("canned-row-scope")).to_have_text(f"Group Team {group}")
    expect(greet.get_by_test_id("canned-edit")).to_have_count(0)  # the group's: its supervisors' and admins' to change
    expect(page.locator('[data-testid="canned-row"][data-shortcut="goodbye"]').get_by_test_id("canned-edit")).to_be_visible()
    scopes = page.get_by_test_id("canned-scope").locator("option")
    expect(scopes).to_have_text(["Only you"])  # an agent manages its own replies only

    form = page.get_by_test_id("canned-form")
    page.get_by_test_id("canned-shortcut").fill("Late")
    page.get_by_test_id("canned-title").fill("Late parcel")
    page.get_by_test_id("canned-text").fill("Sorry, {{visitor.nom}}")
    page.get_by_test_id("canned-save").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("unknown variable(s): {{visitor.nom}}")
    page.get_by_test_id("canned-text").fill("Sorry {{visitor.name}}, your parcel is late.")
    page.get_by_test_id("canned-save").click()
    late = page.locator('[data-testid="canned-row"][data-shortcut="late"]')
    expect(late.get_by_test_id("canned-row-text")).to_have_text("Sorry {{visitor.name}}, your parcel is late.")
    expect(rows).to_have_count(3)

    page.get_by_test_id("canned-search").fill("parcel")
    expect(rows).to_have_count(1)
    late.get_by_test_id("canned-edit").click()
    expect(page.get_by_test_id("canned-shortcut")).to_have_value("late")
    expect(page.get_by_test_id("canned-scope")).to_be_disabled()
    page.get_by_test_id("canned-text").fill("Sorry {{visitor.name}}, the courier is a day late.")
    page.get_by_test_id("canned-save").click()
    expect(late.get_by_test_id("canned-row-text")).to_have_text("Sorry {{visitor.name}}, the courier is a day late.")
    page.get_by_test_id("canned-search").fill("")
    screenshot(page, "canned-replies-tab")

    late.get_by_test_id("canned-delete").click()
    expect(late).to_have_count(0)
    assert asked == ["Delete the canned reply /late?"]
    listed = api(web, token).get("/api/canned").json()
    assert sorted(r["shortcut"] for r in listed) == ["goodbye", "greet"]

    page.get_by_test_id("tab-desk").click()
    expect(page.get_by_test_id("canned")).to_be_hidden()
    expect(page.get_by_test_id("desk")).to_be_visible()
    expect(page.get_by_test_id("tab-canned")).to_have_attribute("aria-selected", "false")
    expect(page.get_by_test_id("tab-desk")).to_have_class(re.compile(r"\bactive\b"))
    assert violations == []
