"""The Profile tab in Chromium: one's nickname (blank allowed), picture, password and email."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.server.conftest import api, login
from tests.web.conftest import csp_violations, screenshot, sign_in_at
from tests.web.test_accounts_pages import Mailed, link_in, mailed, make_group, make_user, \
    unique_email  # noqa: F401
from tests.web.test_admin_pages import png, upload

pytestmark = pytest.mark.timeout(120)

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def profile(context: Any, mailed: Mailed, nickname: str = "Pia") -> tuple[Page, dict[str, Any], list[str]]:
    """An agent on their Profile tab: (page, user, CSP violations)."""
    user = make_user(mailed.server, ["agent"], groups=[make_group(mailed.server)], nickname=nickname)
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, mailed.url, user["email"], user["password"], page)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    page.get_by_test_id("tab-profile").click()
    expect(page.get_by_test_id("profile-nickname")).to_have_value(nickname)
    return page, user, violations


def test_a_blank_nickname_is_accepted_and_visitors_then_see_agent(mailed: Mailed, context: Any) -> None:
    page, user, violations = profile(context, mailed)
    expect(page.get_by_test_id("profile-nickname")).to_have_attribute("placeholder", re.compile("Agent"))
    page.get_by_test_id("profile-nickname").fill("   ")
    page.get_by_test_id("profile-phone").fill("+49 30 1234")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="visitors see you as “Agent”")).to_be_visible()
    me = api(mailed.server, login(mailed.server, user["email"], user["password"])).get("/api/me").json()
    assert (me["nickname"], me["phone"]) == ("", "+49 30 1234")
    expect(page.get_by_test_id("me")).to_have_text(user["email"])
    page.get_by_test_id("profile-nickname").fill("Pia")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("me")).to_have_text("Pia")
    assert violations == []


def test_a_picture_is_uploaded_shown_and_removed_and_an_svg_is_refused(mailed: Mailed, context: Any) -> None:
    page, user, violations = profile(context, mailed)
    form = page.get_by_test_id("avatar-form")
    form.get_by_test_id("avatar-file").set_input_files(files=[upload("me.svg", "image/svg+xml", SVG)])
    form.get_by_test_id("avatar-upload").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("not a PNG, JPEG, GIF or WebP picture")  # the server's
    expect(page.get_by_test_id("avatar-preview")).to_be_hidden()  # back to no picture

    form.get_by_test_id("avatar-file").set_input_files(files=[upload("me.png", "image/png", png((230, 120, 40), 120))])
    expect(page.get_by_test_id("avatar-preview")).to_have_attribute("src", re.compile("^data:image/png"))
    form.get_by_test_id("avatar-upload").click()
    expect(page.get_by_test_id("toast").filter(has_text="Picture updated.")).to_be_visible()
    expect(page.get_by_test_id("avatar-preview")).to_have_attribute("src", re.compile("^/api/images/"))
    src = page.get_by_test_id("avatar-preview").get_attribute("src") or ""
    assert api(mailed.server).get(src).headers["content-type"] == "image/png"
    assert api(mailed.server, login(mailed.server, user["email"], user["password"])).get("/api/me").json()[
        "avatar_url"] == src
    screenshot(page, "profile")
    page.get_by_test_id("avatar-remove").click()
    expect(page.get_by_test_id("avatar-preview")).to_be_hidden()
    assert violations == []


def test_a_password_change_keeps_this_tab_signed_in(mailed: Mailed, context: Any) -> None:
    page, user, violations = profile(context, mailed)
    form = page.get_by_test_id("password-form")
    form.get_by_test_id("password-old").fill("not-my-password")
    form.get_by_test_id("password-new").fill("a-new-password-1")
    form.get_by_test_id("password-confirm").fill("a-new-password-1")
    form.get_by_test_id("password-submit").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("old password")
    expect(page.get_by_test_id("tab-profile")).to_be_visible()  # a wrong password is not a lost session
    form.get_by_test_id("password-old").fill(user["password"])
    form.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("toast").filter(has_text="Password changed.")).to_be_visible()
    assert api(mailed.server).post("/api/auth/login", json={"email": user["email"], "password": user["password"]}
                                   ).status_code == 401
    login(mailed.server, user["email"], "a-new-password-1")
    page.get_by_test_id("tab-desk").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    page.reload()  # the new login is the one this tab keeps
    expect(page.get_by_test_id("tab-profile")).to_be_visible()
    assert violations == []


def test_an_email_change_is_mailed_to_the_new_address_and_confirmed_by_its_link(mailed: Mailed,
                                                                                context: Any) -> None:
    page, user, violations = profile(context, mailed)
    new = unique_email("moved")
    form = page.get_by_test_id("email-form")
    form.get_by_test_id("email-new").fill(new)
    form.get_by_test_id("email-password").fill(user["password"])
    form.get_by_test_id("email-submit").click()
    expect(page.get_by_test_id("email-sent")).to_contain_text("Check your new inbox")
    link = link_in(mailed.mail_to(new))
    confirm = context.new_page()
    confirm.goto(link)
    expect(confirm.get_by_test_id("account-done-heading")).to_have_text("Email changed")
    screenshot(confirm, "profile-email-changed")
    login(mailed.server, new, user["password"])
    assert violations == []
