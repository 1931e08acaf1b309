"""The Team tab in Chromium: people, groups, the team's information, the widget, the mail log, and what a
supervisor sees of it. The server mails through a real SMTP server (``mailed``, tests/web/test_accounts_pages.py).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Dialog, FilePayload, Page, expect

from tests.server.conftest import admin_token, api, visitor
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csp_violations, screenshot, sign_in_at
from tests.web.test_accounts_pages import Mailed, mailed, make_group, make_user, unique_email  # noqa: F401

pytestmark = pytest.mark.timeout(120)


def png(colour: tuple[int, int, int] = (47, 91, 234), size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def upload(name: str, mime: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": data}


def team(context: Any, mailed: Mailed, section: str = "people") -> tuple[Page, list[str]]:
    """The admin on the Team tab, at `section`; and the page's CSP violations."""
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, mailed.url, ADMIN_EMAIL, ADMIN_PASSWORD, page)
    expect(page.get_by_test_id("admin")).to_be_visible()
    page.get_by_test_id(f"section-{section}").click()
    return page, violations


def person(page: Page, email: str) -> Any:
    return page.locator(f'[data-testid="person-row"][data-email="{email}"]')


def accept_dialogs(page: Page, asked: list[str]) -> None:
    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()
    page.on("dialog", answer)


# --- people -------------------------------------------------------------------------------------------


def test_an_invite_with_an_initial_password_must_be_changed_at_first_login(mailed: Mailed, browser: Any,
                                                                           context: Any) -> None:
    group = make_group(mailed.server, "Returns")
    page, violations = team(context, mailed)
    email = unique_email("ivy")
    form = page.get_by_test_id("invite-form")
    form.get_by_test_id("invite-email").fill(email)
    form.get_by_test_id("invite-nickname").fill("Ivy")
    form.get_by_test_id("invite-saturation").fill("4")
    form.locator(f'[data-testid="invite-group"][value="{group}"]').check()
    expect(form.get_by_test_id("invite-password")).to_be_hidden()
    form.get_by_test_id("invite-set-password").check()
    form.get_by_test_id("invite-password").fill("short")
    expect(form.get_by_test_id("invite-submit")).to_have_text("Create account")
    form.get_by_test_id("invite-submit").click()
    expect(form.get_by_test_id("form-error")).to_be_visible()  # the server's words: too short
    form.get_by_test_id("invite-password").fill("initial-pass-1")
    form.get_by_test_id("invite-submit").click()
    row = person(page, email)
    expect(row.get_by_test_id("status")).to_have_text("Active")
    expect(row.get_by_test_id("membership")).to_have_attribute("data-group", group)
    expect(row).to_contain_text("Up to 4 at once")
    expect(form.get_by_test_id("invite-email")).to_have_value("")
    screenshot(page, "admin-people")

    ivy = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        ivy_page = sign_in_at(ivy, mailed.url, email, "initial-pass-1")
        must = ivy_page.get_by_test_id("must-change-form")
        expect(must).to_be_visible()
        must.get_by_test_id("must-change-password").fill("ivys-own-pass-1")
        must.get_by_test_id("must-change-confirm").fill("ivys-own-pass-1")
        must.get_by_test_id("must-change-submit").click()
        expect(ivy_page.get_by_test_id("desk")).to_be_visible()
        expect(ivy_page.get_by_test_id("me")).to_have_text("Ivy")
    finally:
        ivy.close()
    assert violations == []


def test_an_invite_by_mail_shows_invited_and_can_be_sent_again(mailed: Mailed, context: Any) -> None:
    page, violations = team(context, mailed)
    email = unique_email("ned")
    form = page.get_by_test_id("invite-form")
    form.get_by_test_id("invite-email").fill(email)
    form.get_by_test_id("invite-nickname").fill("Ned")
    form.get_by_test_id("invite-submit").click()
    expect(page.get_by_test_id("toast").filter(has_text=f"Invitation sent to {email}")).to_be_visible()
    row = person(page, email)
    expect(row.get_by_test_id("status")).to_have_text("Invited")
    first = mailed.mail_to(email)
    row.get_by_test_id("resend-invite").click()
    expect(page.get_by_test_id("toast").filter(has_text="Invitation sent again")).to_be_visible()
    assert mailed.mail_to(email, 2) is not first
    assert violations == []


def test_deactivating_throws_the_agent_out_reactivating_lets_them_back_and_delete_asks_first(
        mailed: Mailed, browser: Any, context: Any) -> None:
    group = make_group(mailed.server)
    agent = make_user(mailed.server, ["agent"], groups=[group], nickname="Dee")
    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        agent_page = sign_in_at(agent_ctx, mailed.url, agent["email"], agent["password"])
        expect(agent_page.get_by_test_id("connection")).to_have_attribute("data-state", "open")

        page, violations = team(context, mailed)
        asked: list[str] = []
        accept_dialogs(page, asked)
        row = person(page, agent["email"])
        row.get_by_test_id("deactivate").click()
        expect(row.get_by_test_id("status")).to_have_text("Deactivated")
        expect(agent_page.get_by_test_id("login-form")).to_be_visible()  # thrown out at once
        expect(agent_page.get_by_test_id("login-error")).to_contain_text("session has ended")
        sign_in_at(agent_ctx, mailed.url, agent["email"], agent["password"], agent_page)
        expect(agent_page.get_by_test_id("login-error")).to_contain_text("deactivated")

        row.get_by_test_id("reactivate").click()
        expect(row.get_by_test_id("status")).to_have_text("Active")
        sign_in_at(agent_ctx, mailed.url, agent["email"], agent["password"], agent_page)
        expect(agent_page.get_by_test_id("desk")).to_be_visible()

        row.get_by_test_id("delete-user").click()
        expect(row).to_have_count(0)
        assert "history" in asked[-1] and agent["email"] in asked[-1]
        expect(agent_page.get_by_test_id("login-form")).to_be_visible()
        assert violations == []
    finally:
        agent_ctx.close()


def test_editing_a_person_changes_nickname_saturation_roles_and_groups(mailed: Mailed, context: Any) -> None:
    first, second = make_group(mailed.server, "First"), make_group(mailed.server, "Second")
    user = make_user(mailed.server, ["agent"], groups=[first], nickname="Edd")
    page, violations = team(context, mailed)
    row = person(page, user["email"])
    row.get_by_test_id("edit-user").click()
    form = page.get_by_test_id("edit-form")
    form.get_by_test_id("edit-nickname").fill("Eddie")
    form.get_by_test_id("edit-saturation").fill("7")
    form.locator(f'[data-testid="edit-group"][value="{first}"]').uncheck()
    form.locator(f'[data-testid="edit-group"][value="{second}"]').check()
    expect(form.locator(".edit-supervises")).to_be_hidden()
    form.get_by_test_id("edit-role-supervisor").check()
    form.locator(f'[data-testid="edit-supervise"][value="{first}"]').check()
    screenshot(page, "admin-people-edit")
    form.get_by_test_id("edit-save").click()
    expect(page.get_by_test_id("edit-form")).to_have_count(0)
    expect(row).to_contain_text("Eddie")
    expect(row.get_by_test_id("role")).to_have_text(["Supervisor", "Agent"])
    users = api(mailed.server, admin_token(mailed.server)).get("/api/users").json()
    stored = [u for u in users if u["id"] == user["id"]]
    assert [(u["nickname"], u["saturation"], u["groups"], u["supervises"]) for u in stored] == [
        ("Eddie", 7, [second], [first])]
    assert violations == []


def test_a_supervisor_sees_only_the_people_of_its_groups_and_invites_agents_only(mailed: Mailed,
                                                                                 context: Any) -> None:
    mine, other = make_group(mailed.server, "Mine"), make_group(mailed.server, "Other")
    colleague = make_user(mailed.server, ["agent"], groups=[mine], nickname="Col")
    stranger = make_user(mailed.server, ["agent"], groups=[other], nickname="Str")
    boss = make_user(mailed.server, ["supervisor"], supervises=[mine], nickname="Boss")
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, mailed.url, boss["email"], boss["password"], page)
    expect(page.get_by_test_id("admin")).to_be_visible()  # a supervisor lands on Team
    expect(page.get_by_test_id("tab-desk")).to_be_hidden()
    expect(person(page, colleague["email"])).to_be_visible()
    expect(person(page, boss["email"])).to_be_visible()
    expect(person(page, stranger["email"])).to_have_count(0)
    for section in ("info", "widget", "mail", "kb"):
        expect(page.get_by_test_id(f"section-{section}")).to_have_count(0)
    form = page.get_by_test_id("invite-form")
    expect(form.get_by_test_id("invite-role-admin")).to_have_count(0)
    expect(form.get_by_test_id("invite-role-supervisor")).to_have_count(0)
    expect(form.get_by_test_id("invite-group")).to_have_count(1)
    email = unique_email("sup-agent")
    form.get_by_test_id("invite-email").fill(email)
    form.get_by_test_id("invite-submit").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("group")  # name at least one of its groups
    form.locator(f'[data-testid="invite-group"][value="{mine}"]').check()
    form.get_by_test_id("invite-submit").click()
    expect(person(page, email).get_by_test_id("status")).to_have_text("Invited")
    page.get_by_test_id("section-groups").click()
    expect(page.get_by_test_id("group-row")).to_have_count(1)
    expect(page.get_by_test_id("group-form")).to_have_count(0)  # a supervisor does not edit groups
    screenshot(page, "admin-supervisor")
    assert violations == []


# --- groups -------------------------------------------------------------------------------------------


def test_a_group_is_renamed_reconfigured_and_deleted_after_moving_its_open_conversations(
        mailed: Mailed, context: Any) -> None:
    group, refuge = make_group(mailed.server, "Old"), make_group(mailed.server, "Refuge")
    guest, _ = visitor(mailed.server)
    guest.send("request_human", group=group)
    guest.wait("queue_position", timeout=10)  # nobody is online: it waits, open, in the group
    page, violations = team(context, mailed, "groups")
    row = page.locator(f'[data-testid="group-row"][data-group="{group}"]')
    row.get_by_test_id("group-name").fill("Billing")
    row.get_by_test_id("group-policy").select_option("last_agent_first")
    row.get_by_test_id("group-max-queue").fill("12")
    row.get_by_test_id("group-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="Group Billing saved.")).to_be_visible()
    stored = {g["id"]: g for g in api(mailed.server, admin_token(mailed.server)).get("/api/groups").json()}
    assert (stored[group]["name"], stored[group]["policy"], stored[group]["max_queue"]) == (
        "Billing", "last_agent_first", 12)
    row.get_by_test_id("group-max-queue").fill("")
    row.get_by_test_id("group-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="Group Billing saved.")).to_have_count(1)
    expect(row.get_by_test_id("group-max-queue")).to_have_value("")

    asked: list[str] = []
    accept_dialogs(page, asked)
    row.get_by_test_id("group-delete").click()
    panel = row.get_by_test_id("move-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("busy-message")).to_contain_text("open conversation")
    panel.scroll_into_view_if_needed()
    screenshot(page, "admin-groups-busy")
    panel.get_by_test_id("move-to").select_option(refuge)
    panel.get_by_test_id("move-and-delete").click()
    expect(row).to_have_count(0)
    assert group not in {g["id"] for g in api(mailed.server, admin_token(mailed.server)).get("/api/groups").json()}
    assert guest.wait("queue_position", timeout=10)  # still waiting, now in the refuge group
    assert violations == []


# --- team information, widget, mail -------------------------------------------------------------------


def test_the_team_information_and_logo_are_saved_and_shown(mailed: Mailed, context: Any) -> None:
    page, violations = team(context, mailed, "info")
    form = page.get_by_test_id("team-form")
    form.get_by_test_id("team-name").fill("Velo Shop")
    form.get_by_test_id("team-email").fill("help@velo.example")
    form.get_by_test_id("team-phone").fill("+31 20 123 4567")
    form.get_by_test_id("team-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="Team information saved.")).to_be_visible()
    team_card = api(mailed.server, admin_token(mailed.server)).get("/api/team").json()
    assert (team_card["name"], team_card["email"], team_card["phone"]) == ("Velo Shop", "help@velo.example",
                                                                          "+31 20 123 4567")
    form.get_by_test_id("team-phone").fill("call us")
    form.get_by_test_id("team-save").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("team_phone")

    logo = page.get_by_test_id("logo-form")
    logo.get_by_test_id("logo-file").set_input_files(files=[upload("logo.png", "image/png", png())])
    expect(page.get_by_test_id("logo-preview")).to_have_attribute("src", re.compile("^data:image/png"))
    logo.get_by_test_id("logo-upload").click()
    expect(page.get_by_test_id("logo-preview")).to_have_attribute("src", re.compile("^/api/images/"))
    src = page.get_by_test_id("logo-preview").get_attribute("src") or ""
    assert api(mailed.server).get(src).headers["content-type"] == "image/png"
    screenshot(page, "admin-team-info")
    page.reload()  # the top bar shows the team's name and logo
    expect(page.get_by_test_id("team-brand")).to_contain_text("Velo Shop")
    page.get_by_test_id("section-info").click()
    page.get_by_test_id("logo-remove").click()
    expect(page.get_by_test_id("logo-preview")).to_be_hidden()
    assert api(mailed.server, admin_token(mailed.server)).get("/api/site").json()["logo_url"] == ""
    assert violations == []


def test_the_widget_settings_are_saved_and_the_snippet_copied(mailed: Mailed, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=mailed.url)
    try:
        page, violations = team(ctx, mailed, "widget")
        form = page.get_by_test_id("widget-form")
        form.get_by_test_id("widget-title").fill("Ask Velo")
        form.get_by_test_id("widget-greeting").fill("Hi! How can we help with your bike?")
        form.get_by_test_id("widget-colour").fill("#1f7a5a")
        form.get_by_test_id("widget-origins").fill("https://shop.example.com/cart")
        form.get_by_test_id("widget-save").click()
        expect(form.get_by_test_id("form-error")).to_contain_text("no path")
        form.get_by_test_id("widget-origins").fill("https://Shop.Example.com\nhttp://localhost:3000\n")
        form.get_by_test_id("widget-save").click()
        expect(page.get_by_test_id("toast").filter(has_text="Widget saved.")).to_be_visible()
        expect(form.get_by_test_id("widget-origins")).to_have_value("https://shop.example.com\nhttp://localhost:3000")
        site = api(mailed.server, admin_token(mailed.server)).get("/api/site").json()
        assert (site["widget_title"], site["widget_colour"], site["allowed_origins"]) == (
            "Ask Velo", "#1f7a5a", ["https://shop.example.com", "http://localhost:3000"])
        config = api(mailed.server).get("/api/widget/config").json()
        assert (config["title"], config["greeting"]) == ("Ask Velo", "Hi! How can we help with your bike?")

        snippet = page.get_by_test_id("snippet")
        expect(snippet).to_have_value(re.compile(r'<script src="http://127\.0\.0\.1:\d+/widget\.js" async>'))
        page.get_by_test_id("snippet-copy").click()
        expect(page.get_by_test_id("toast").filter(has_text="Snippet copied.")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == snippet.input_value()
        screenshot(page, "admin-widget")
        assert violations == []
    finally:
        ctx.close()


def test_the_mail_log_shows_a_sent_mail(mailed: Mailed, context: Any) -> None:
    user = make_user(mailed.server, ["agent"])
    admin = api(mailed.server, admin_token(mailed.server))
    assert admin.post(f"/api/users/{user['id']}/password-reset").status_code == 202
    mailed.mail_to(user["email"])
    page, violations = team(context, mailed, "mail")
    row = page.locator(f'[data-testid="mail-row"][data-to="{user["email"]}"]')
    page.get_by_test_id("mail-refresh").click()
    expect(row.get_by_test_id("mail-state")).to_have_text("Sent")
    expect(row).to_contain_text("password")
    screenshot(page, "admin-mail")
    assert violations == []


def test_a_screenshot_of_the_knowledge_base_section(mailed: Mailed, context: Any) -> None:
    page, violations = team(context, mailed, "kb")
    expect(page.get_by_test_id("kb-upload-form")).to_be_visible()
    expect(page.get_by_test_id("kb-summary")).not_to_be_empty()
    assert violations == []

