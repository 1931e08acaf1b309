"""The first run, end to end, as someone who just installed Switchboard: a real ``switchboard serve`` process
with an empty data directory and a real SMTP server, driven in Chromium.

Open ``/`` → the setup page → the setup code the server printed and the first admin → the workspace → Team →
invite an agent by email → the mail arrives → its link, in another browser, sets the agent's password → the
agent logs in and out → "Forgot password?" → the mail → its link → a new password → the agent logs in with it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.mail.smtpd import Inbox, running_smtpd
from tests.server.conftest import free_port
from tests.web.conftest import csp_violations, screenshot
from tests.web.test_accounts_pages import link_in, mail_to

pytestmark = pytest.mark.timeout(240)

SETUP_LINE = re.compile(r"First run: open (\S+)/setup and enter the setup code ([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})")
VENV_BIN = Path(sys.executable).parent


class Serve:
    """`switchboard serve` in a process of its own; its output is read on a thread (and kept for failures)."""

    def __init__(self, data_dir: Path, port: int, smtp_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")
               and k not in ("REDIS_URL", "MONGODB_URI")}
        env.update({"SWITCHBOARD_MAIL_HOST": "127.0.0.1", "SWITCHBOARD_MAIL_PORT": str(smtp_port),
                    "SWITCHBOARD_MAIL_SECURITY": "none", "SWITCHBOARD_BOT_ENABLED": "0",
                    "SWITCHBOARD_BOT_DEMO_KB": "0", "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            [str(VENV_BIN / "switchboard"), "serve", "--port", str(port), "--data-dir", str(data_dir),
             "--log-level", "warning"],
            cwd=data_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and self.process.poll() is None, \
                f"serve never printed {pattern.pattern!r}; it said:\n{''.join(self.seen[-40:])}"
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            found = pattern.search(line)
            if found:
                return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Serve, Inbox, str, str]]:
    """A fresh installation: (the server, its mail, its URL, the setup code)."""
    inbox = Inbox()
    with running_smtpd(inbox) as smtp_port:
        port = free_port()
        serve = Serve(tmp_path, port, smtp_port)
        try:
            found = serve.wait_for(SETUP_LINE)
            url = f"http://127.0.0.1:{port}"
            assert found.group(1) == url
            yield serve, inbox, url, found.group(2)
        finally:
            code = serve.stop()
            assert code == 0, f"serve exited {code}; it said:\n{''.join(serve.seen[-40:])}"


def set_password_from(link: str, browser: Any, password: str, heading: str) -> tuple[Any, Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(link)
    expect(page.get_by_test_id("account-heading")).to_contain_text(heading)
    page.get_by_test_id("account-password").fill(password)
    page.get_by_test_id("account-confirm").fill(password)
    page.get_by_test_id("account-submit").click()
    expect(page.get_by_test_id("account-done-heading")).to_have_text("Password set")
    return ctx, page


def test_a_fresh_install_is_set_up_in_the_browser_and_an_invited_agent_signs_in_and_resets_a_password(
        fresh: tuple[Serve, Inbox, str, str], browser: Any) -> None:
    _, inbox, url, code = fresh
    admin_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    contexts = [admin_ctx]
    try:
        page = admin_ctx.new_page()
        violations = csp_violations(page)
        page.goto(f"{url}/")
        expect(page.get_by_test_id("setup-form")).to_be_visible()
        assert page.url == f"{url}/setup"
        page.get_by_test_id("setup-code").fill("2222-3333-4444")
        page.get_by_test_id("setup-email").fill("owner@velo.example")
        page.get_by_test_id("setup-nickname").fill("Olga")
        page.get_by_test_id("setup-password").fill("owner-password-1")
        page.get_by_test_id("setup-confirm").fill("owner-password-1")
        expect(page.get_by_test_id("setup-takes-chats")).to_be_checked()
        page.get_by_test_id("setup-submit").click()
        expect(page.get_by_test_id("form-error")).to_be_visible()  # a wrong code: the server's words
        screenshot(page, "first-run-setup")
        page.get_by_test_id("setup-code").fill(code.lower())  # case does not matter
        page.get_by_test_id("setup-submit").click()

        expect(page.get_by_test_id("desk")).to_be_visible()  # an admin who also answers chats lands on the desk
        assert page.url == f"{url}/workspace"
        expect(page.get_by_test_id("me")).to_have_text("Olga")
        expect(page.get_by_test_id("tab-team")).to_be_visible()
        page.get_by_test_id("tab-team").click()
        form = page.get_by_test_id("invite-form")
        form.get_by_test_id("invite-email").fill("bo@velo.example")
        form.get_by_test_id("invite-nickname").fill("Bo")
        form.get_by_test_id("invite-group").first.check()
        form.get_by_test_id("invite-submit").click()
        row = page.locator('[data-testid="person-row"][data-email="bo@velo.example"]')
        expect(row.get_by_test_id("status")).to_have_text("Invited")
        screenshot(page, "first-run-team")

        invite = link_in(mail_to(inbox, "bo@velo.example"))
        agent_ctx, agent = set_password_from(invite, browser, "bos-password-1", "Welcome")
        contexts.append(agent_ctx)
        agent.get_by_test_id("account-to-workspace").click()
        agent.get_by_test_id("login-password").fill("bos-password-1")
        agent.get_by_test_id("login-submit").click()
        expect(agent.get_by_test_id("connection")).to_have_attribute("data-state", "open")
        expect(agent.get_by_test_id("me")).to_have_text("Bo")
        agent.get_by_test_id("logout").click()
        expect(agent.get_by_test_id("login-form")).to_be_visible()

        agent.get_by_test_id("forgot-link").click()
        agent.get_by_test_id("forgot-email").fill("bo@velo.example")
        agent.get_by_test_id("forgot-submit").click()
        expect(agent.get_by_test_id("forgot-sent")).to_be_visible()
        expect(agent.get_by_test_id("forgot-sent")).to_contain_text("If an account exists for that address")
        reset = link_in(mail_to(inbox, "bo@velo.example", 2))
        reset_ctx, done = set_password_from(reset, browser, "bos-new-password-2", "Choose a new password")
        contexts.append(reset_ctx)
        done.get_by_test_id("account-to-workspace").click()
        expect(done.get_by_test_id("login-email")).to_have_value("bo@velo.example")
        done.get_by_test_id("login-password").fill("bos-password-1")
        done.get_by_test_id("login-submit").click()
        expect(done.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
        done.get_by_test_id("login-password").fill("bos-new-password-2")
        done.get_by_test_id("login-submit").click()
        expect(done.get_by_test_id("connection")).to_have_attribute("data-state", "open")
        screenshot(done, "first-run-agent")

        page.get_by_test_id("admin-refresh").click()
        expect(row.get_by_test_id("status")).to_have_text("Active")
        page.goto(f"{url}/")  # set up now: / leads to the workspace, /setup too
        expect(page.get_by_test_id("admin")).to_be_visible()
        assert page.url == f"{url}/workspace"
        assert violations == []
    finally:
        for ctx in contexts:
            ctx.close()
