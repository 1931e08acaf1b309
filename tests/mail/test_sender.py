"""The sender: queued at once, retried with doubling back-off, its state kept (bounded) for the admin."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from switchboard.mail import MailSender, MailState, OutgoingMail, SendFailed, SmtpTransport, invite_mail, make_transport
from switchboard.settings import MailSettings
from tests.mail.smtpd import Inbox, running_smtpd

LINK = "https://desk.example.com/invite?token=tok123"


def mail(to: str = "ann@example.com") -> OutgoingMail:
    return invite_mail(to, "Ann", LINK, "Pedalwise")


@dataclass
class Script:
    """A transport that fails as told: one entry per attempt (None: sent)."""

    outcomes: list[SendFailed | None]
    sent: list[OutgoingMail] = field(default_factory=list)

    async def send(self, message: OutgoingMail) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(message)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_refused_attempts_are_retried_against_a_real_server_until_one_is_accepted() -> None:
    inbox = Inbox(refuse=2)
    settings = MailSettings(host="127.0.0.1", security="none", backoff_s=0.05, max_attempts=4, timeout_s=5)

    async def run() -> tuple[MailState, int, str]:
        with running_smtpd(inbox) as port:
            sender = MailSender(SmtpTransport(replace(settings, port=port)), settings)
            queued = sender.submit(mail())
            assert queued.state is MailState.QUEUED and queued.attempts == 0
            final = await sender.wait(queued.id)
            return final.state, final.attempts, final.last_error

    state, attempts, last_error = asyncio.run(run())

    assert (state, attempts) == (MailState.SENT, 3)
    assert "451" in last_error  # the last failure stays visible after the success
    assert inbox.attempts == 3 and len(inbox.messages) == 1


def test_the_back_off_doubles_up_to_its_cap_and_the_attempts_are_bounded() -> None:
    sleeps = Sleeps()
    transport = Script([SendFailed("421 busy")] * 10)
    settings = MailSettings(backoff_s=1, max_backoff_s=5, max_attempts=5)

    async def run() -> tuple[MailState, int, str]:
        sender = MailSender(transport, settings, sleep=sleeps)
        final = await sender.wait(sender.submit(mail()).id)
        return final.state, final.attempts, final.last_error

    assert asyncio.run(run()) == (MailState.FAILED, 5, "421 busy")
    assert sleeps.waits == [1, 2, 4, 5]
    assert transport.sent == []


def test_a_permanent_failure_is_not_retried() -> None:
    sleeps = Sleeps()
    transport = Script([SendFailed("550 no such user", permanent=True)])

    async def run() -> tuple[MailState, int]:
        sender = MailSender(transport, MailSettings(), sleep=sleeps)
        final = await sender.wait(sender.submit(mail()).id)
        return final.state, final.attempts

    assert asyncio.run(run()) == (MailState.FAILED, 1)
    assert sleeps.waits == []


def test_submit_returns_before_the_mail_is_sent() -> None:
    gate = asyncio.Event()

    class Held:
        async def send(self, message: OutgoingMail) -> None:
            await gate.wait()

    async def run() -> list[MailState]:
        sender = MailSender(Held(), MailSettings())
        status = sender.submit(mail())
        await asyncio.sleep(0.01)
        seen = [sender.statuses()[0].state]
        gate.set()
        seen.append((await sender.wait(status.id)).state)
        return seen

    assert asyncio.run(run()) == [MailState.QUEUED, MailState.SENT]


def test_the_history_keeps_the_newest_finished_mails_first_and_never_drops_a_queued_one() -> None:
    async def run() -> list[str]:
        sender = MailSender(Script([]), MailSettings(history=3))
        for n in range(5):
            sender.submit(mail(f"u{n}@example.com"))
        await sender.drain()
        sender.submit(mail("late@example.com"))
        statuses = [s.to for s in sender.statuses()]
        await sender.drain()
        return statuses

    assert asyncio.run(run()) == ["late@example.com", "u4@example.com", "u3@example.com"]


def test_close_gives_up_mails_waiting_for_a_retry_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard.mail")

    async def run() -> MailState:
        sender = MailSender(Script([SendFailed("421 busy")] * 3), MailSettings(backoff_s=60))
        sender.submit(mail())
        await asyncio.sleep(0.01)
        await sender.close()
        with pytest.raises(RuntimeError):
            sender.submit(mail())
        return sender.statuses()[0].state

    assert asyncio.run(run()) is MailState.QUEUED
    assert "not sent before shutdown" in caplog.text


def test_the_outbox_path_end_to_end_logs_the_link_and_not_the_smtp_password(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = MailSettings.from_mapping({"password": "s3cret-smtp-pass", "team_name": "Pedalwise"})

    async def run() -> MailState:
        sender = MailSender(make_transport(settings, tmp_path), settings)
        return (await sender.wait(sender.submit(mail()).id)).state

    assert asyncio.run(run()) is MailState.SENT
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert LINK in caplog.text and "s3cret" not in caplog.text
