"""The account pages in Chromium: where a fresh install and the mailed links lead, and the password screens.

``/`` and ``/setup`` redirect once an admin exists; ``/account`` reads the link's secret from the fragment,
drops it from the address bar, and sets a password (invite, reset) or confirms an email change; a used or
broken link says so and offers a new one; the login page's "Forgot password?" always gives the same answer;
a user whose password an admin set must replace it before anything else.

The server here mails through a real SMTP server (tests.mail.smtpd): ``mailed`` is a server per module with
its ``Inbox``, and the other page tests (admin, profile) use it too.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from email.message import EmailMessage
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from switchboard.settings import MailSettings
from tests.mail.smtpd import Inbox, body, running_smtpd
from tests.server.conftest import Backends, Server, admin_token, api, ensure_admin, free_port, make_config
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csp_violations, screenshot, sign_in_at

pytestmark = pytest.mark.timeout(120)

LINK = re.compile(r"(https?://[^\s<>\"]+/account#token=[A-Za-z0-9._\-]+)")
PAGE_HEADERS = {"x-frame-options": "DENY", "referrer-policy": "no-referrer"}


# --- a server that mails, and helpers the page tests share ----------------------------------------------


class Mailed:
    """A server whose mails go to `inbox`."""

    def __init__(self, server: Server, inbox: Inbox) -> None:
        self.server, self.inbox = server, inbox

    @property
    def url(self) -> str:
        return self.server.url

    def mail_to(self, address: str, count: int = 1) -> EmailMessage:
        return mail_to(self.inbox, address, count)


def mail_to(inbox: Inbox, address: str, count: int = 1, timeout: float = 15.0) -> EmailMessage:
    """The `count`-th mail to `address` (waiting for it)."""
    deadline = time.monotonic() + timeout
    while True:
        mails = [m for m in inbox.messages if address.lower() in str(m["To"]).lower()]
        if len(mails) >= count:
            return mails[count - 1]
        assert time.monotonic() < deadline, f"no mail #{count} to {address}; inbox: " \
                                            f"{[(str(m['To']), str(m['Subject'])) for m in inbox.messages]}"
        time.sleep(0.1)


def link_in(mail: EmailMessage) -> str:
    found = LINK.search(body(mail, "plain"))
    assert found, body(mail, "plain")
    return found.group(1)


@pytest.fixture(scope="module")
def mailed(backends: Backends) -> Iterator[Mailed]:
    inbox = Inbox()
    with running_smtpd(inbox) as smtp_port:
        port = free_port()
        config = replace(make_config(backends, port=port), mail=MailSettings.from_mapping(
            {"host": "127.0.0.1", "port": smtp_port, "security": "none", "backoff_s": 0.2, "timeout_s": 5}))
        srv = Server(config, port).start()
        ensure_admin()
        yield Mailed(srv, inbox)
        srv.stop()


def unique_email(tag: str = "p") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def make_user(server: Server, roles: list[str], groups: list[str] | None = None, supervises: list[str] | None = None,
              nickname: str = "Pat", password: str = "first-password-1", must_change: bool = False) -> dict[str, Any]:
    """A user created by the admin with a password (so no mail); `must_change` False clears the flag as if
    they had chosen their own already."""
    from switchboard.store.documents import User

    fields: dict[str, Any] = {"email": unique_email(roles[0]), "nickname": nickname, "roles": roles,
                              "groups": groups or [], "password": password}
    if supervises is not None:
        fields["supervises"] = supervises
    created = api(server, admin_token(server)).post("/api/users", json=fields)
    assert created.status_code == 201, created.text
    user: dict[str, Any] = created.json()
    if not must_change:
        User.objects(id=user["id"]).update(set__must_change_password=False)
    user["password"] = password
    return user


def make_group(server: Server, name: str = "Team") -> str:
    group = f"g{uuid.uuid4().hex[:8]}"
    assert api(server, admin_token(server)).post("/api/groups", json={"id": group, "name": f"{name} {group[1:5]}"}
                                                 ).status_code == 201
    return group


# --- where a fresh install and links lead -------------------------------------------------------------


def test_the_root_and_setup_lead_to_the_workspace_once_an_admin_exists(mailed: Mailed, context: Any) -> None:
    with httpx.Client(base_url=mailed.url, follow_redirects=False) as client:
        assert client.get("/").status_code == 307 and client.get("/").headers["location"] == "/workspace"
        answer = client.get("/setup")
        assert answer.status_code == 307 and answer.headers["location"] == "/workspace"
        account = client.get("/account")
        assert account.status_code == 200 and "frame-ancestors 'none'" in account.headers["content-security-policy"]
        assert {k: account.headers[k] for k in PAGE_HEADERS} == PAGE_HEADERS
    page = context.new_page()
    page.goto(f"{mailed.url}/setup")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert page.url.endswith("/workspace")


def test_forgot_password_gives_one_answer_and_mails_a_link_only_to_a_known_address(mailed: Mailed,
                                                                                    context: Any) -> None:
    user = make_user(mailed.server, ["agent"])
    page = context.new_page()
    violations = csp_violations(page)
    page.goto(f"{mailed.url}/workspace")
    page.get_by_test_id("login-email").fill(user["email"])
    page.get_by_test_id("forgot-link").click()
    form = page.get_by_test_id("forgot-form")
    expect(form.get_by_test_id("forgot-email")).to_have_value(user["email"])
    form.get_by_test_id("forgot-submit").click()
    expect(form.get_by_test_id("forgot-sent")).to_be_visible()
    expect(form.get_by_test_id("forgot-sent")).to_contain_text("If an account exists for that address, we sent a link")
    screenshot(page, "accounts-forgot")
    assert "/account#token=" in link_in(mailed.mail_to(user["email"]))

    stranger = unique_email("nobody")
    form.get_by_test_id("forgot-email").fill(stranger)
    form.get_by_test_id("forgot-submit").click()
    expect(form.get_by_test_id("forgot-submit")).to_be_enabled()
    expect(form.get_by_test_id("forgot-sent")).to_be_visible()
    time.sleep(1)
    assert not [m for m in mailed.inbox.messages if stranger in str(m["To"])]
    form.get_by_test_id("forgot-back").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert violations == []


def test_a_reset_link_sets_a_password_once_and_leaves_the_address_bar(mailed: Mailed, browser: Any) -> None:
    user = make_user(mailed.server, ["agent"], nickname="Rae")
    admin = api(mailed.server, admin_token(mailed.server))
    assert admin.post(f"/api/users/{user['id']}/password-reset").status_code == 202
    link = link_in(mailed.mail_to(user["email"]))
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        violations = csp_violations(page)
        page.goto(link)
        expect(page.get_by_test_id("account-heading")).to_have_text("Choose a new password")
        assert "#" not in page.url and page.url.endswith("/account")  # the secret left the address bar
        page.get_by_test_id("account-password").fill("brand-new-pass-1")
        page.get_by_test_id("account-confirm").fill("brand-new-pass-2")
        page.get_by_test_id("account-submit").click()
        expect(page.get_by_test_id("form-error")).to_have_text("The two passwords differ.")
        page.get_by_test_id("account-confirm").fill("brand-new-pass-1")
        page.get_by_test_id("account-submit").click()
        expect(page.get_by_test_id("account-done-heading")).to_have_text("Password set")
        screenshot(page, "accounts-password-set")
        page.get_by_test_id("account-to-workspace").click()
        expect(page.get_by_test_id("login-email")).to_have_value(user["email"])  # remembered for this tab
        page.get_by_test_id("login-password").fill("brand-new-pass-1")
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("desk")).to_be_visible()

        used = ctx.new_page()
        used.goto(link)  # a second time: spent
        expect(used.get_by_test_id("account-invalid")).to_be_visible()
        expect(used.get_by_test_id("account-invalid-text")).not_to_be_empty()
        used.get_by_test_id("account-forgot-email").fill(user["email"])
        used.get_by_test_id("account-forgot-submit").click()
        expect(used.get_by_test_id("account-forgot-sent")).to_contain_text("If an account exists")
        screenshot(used, "accounts-link-used")
        assert link_in(mailed.mail_to(user["email"], 2)) != link
        assert violations == []
    finally:
        ctx.close()


def test_a_broken_or_missing_link_says_so(mailed: Mailed, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{mailed.url}/account#token=not-a-token")
    expect(page.get_by_test_id("account-invalid")).to_be_visible()
    expect(page.get_by_test_id("account-invalid-text")).not_to_be_empty()
    page.goto(f"{mailed.url}/account")
    expect(page.get_by_test_id("account-invalid-text")).to_contain_text("incomplete")


def test_a_password_an_admin_set_is_replaced_before_anything_else(mailed: Mailed, context: Any) -> None:
    user = make_user(mailed.server, ["agent"], nickname="Mo", must_change=True)
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, mailed.url, user["email"], user["password"], page)
    form = page.get_by_test_id("must-change-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("desk")).to_be_hidden()
    expect(form.get_by_test_id("must-change-old")).to_be_hidden()  # the password just typed is used
    form.get_by_test_id("must-change-password").fill("my-own-secret-1")
    form.get_by_test_id("must-change-confirm").fill("my-own-secret-1")
    screenshot(page, "accounts-must-change")
    form.get_by_test_id("must-change-submit").click()
    expect(page.get_by_test_id("desk")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    assert api(mailed.server).post("/api/auth/login", json={"email": user["email"], "password": user["password"]}
                                   ).status_code == 401
    assert api(mailed.server).post("/api/auth/login", json={"email": user["email"], "password": "my-own-secret-1"}
                                   ).json()["user"]["must_change_password"] is False
    assert violations == []


def test_a_deactivated_account_hears_why_it_cannot_sign_in(mailed: Mailed, context: Any) -> None:
    user = make_user(mailed.server, ["agent"])
    assert api(mailed.server, admin_token(mailed.server)).post(f"/api/users/{user['id']}/deactivate").status_code == 200
    page = sign_in_at(context, mailed.url, user["email"], user["password"])
    expect(page.get_by_test_id("login-error")).to_contain_text("deactivated")
    page.get_by_test_id("login-password").fill("wrong-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")


def test_the_admin_of_the_shared_store_still_lands_on_team(mailed: Mailed, context: Any) -> None:
    page = sign_in_at(context, mailed.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.get_by_test_id("admin")).to_be_visible()
    expect(page.get_by_test_id("tab-desk")).to_be_hidden()
    expect(page.get_by_test_id("tab-team")).to_be_visible()
    expect(page.get_by_test_id("tab-profile")).to_be_visible()
