"""The sender: mail is queued at once and delivered in the background, retried with back-off, and its state
kept for the admin.

``submit`` never waits on the network: it records the mail as ``QUEUED`` and starts a task that tries
the transport up to ``max_attempts`` times, waiting ``backoff_s``, then twice that, ... (at most
``max_backoff_s``) between attempts. A permanent failure (the server's 5xx answer) ends the retries at
once. At most ``concurrency`` mails talk to the transport at a time, so a burst of invites does not open
a hundred SMTP connections.

The history is in memory and bounded by ``history``: past it the oldest finished mails are forgotten
(a queued one never is). A restart forgets the history and any mail still waiting for a retry; that is
the price of no store module yet, written down in docs/decisions/012-mail.md.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from switchboard.mail.message import MailState, MailStatus, OutgoingMail
from switchboard.mail.transport import MailTransport, SendFailed
from switchboard.settings import MailSettings

__all__ = ["MailSender"]

log = logging.getLogger("switchboard.mail")

Sleep = Callable[[float], Awaitable[None]]


class MailSender:
    def __init__(self, transport: MailTransport, settings: MailSettings, *, concurrency: int = 2,
                 clock: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep) -> None:
        self._transport = transport
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        self._statuses: OrderedDict[str, MailStatus] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[MailStatus]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    def submit(self, mail: OutgoingMail) -> MailStatus:
        """Queue `mail` (to be called on the event loop); returns its first status, with its id."""
        if self._closed:
            raise RuntimeError("the mail sender is closed")
        now = self._clock()
        status = MailStatus(id=f"m{next(self._ids)}-{int(now)}", to=mail.to, subject=mail.subject,
                            state=MailState.QUEUED, attempts=0, last_error="", queued_at=now, updated_at=now)
        self._statuses[status.id] = status
        self._forget_oldest()
        self._tasks[status.id] = asyncio.get_running_loop().create_task(self._deliver(status.id, mail))
        return status

    def status(self, mail_id: str) -> MailStatus | None:
        return self._statuses.get(mail_id)

    def statuses(self) -> list[MailStatus]:
        """Every remembered mail, newest first."""
        return list(reversed(self._statuses.values()))

    async def wait(self, mail_id: str) -> MailStatus:
        """The mail's final status (SENT or FAILED), once its retries are over."""
        task = self._tasks.get(mail_id)
        if task is not None:
            return await asyncio.shield(task)
        status = self._statuses.get(mail_id)
        if status is None:
            raise KeyError(mail_id)
        return status

    async def drain(self) -> None:
        """Until every queued mail is sent or failed."""
        while self._tasks:
            await asyncio.gather(*[asyncio.shield(t) for t in list(self._tasks.values())])

    async def close(self) -> None:
        """Stop: mails still waiting for a retry are given up (logged with their state)."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for status in self._statuses.values():
            if status.state is MailState.QUEUED:
                log.warning("mail %s to %s not sent before shutdown (attempts %d, last error: %s)",
                            status.id, status.to, status.attempts, status.last_error or "none")

    def delay_before(self, attempt: int) -> float:
        """The wait before attempt number `attempt` (2, 3, ...): back-off doubled each time, capped."""
        s = self._settings
        return float(min(s.backoff_s * 2 ** (attempt - 2), s.max_backoff_s))

    async def _deliver(self, mail_id: str, mail: OutgoingMail) -> MailStatus:
        status = self._statuses[mail_id]
        try:
            for attempt in range(1, self._settings.max_attempts + 1):
                if attempt > 1:
                    await self._sleep(self.delay_before(attempt))
                async with self._slots:
                    try:
                        await self._transport.send(mail)
                    except SendFailed as exc:
                        final = exc.permanent or attempt == self._settings.max_attempts
                        status = self._update(status, MailState.FAILED if final else MailState.QUEUED, attempt,
                                              exc.reason)
                        log.warning("mail %s to %s: attempt %d of %d failed%s: %s", mail_id, mail.to, attempt,
                                    self._settings.max_attempts, " for good" if exc.permanent else "", exc.reason)
                        if final:
                            break
                        continue
                status = self._update(status, MailState.SENT, attempt, status.last_error)
                log.info("mail %s to %s sent (attempt %d)", mail_id, mail.to, attempt)
                break
            return status
        finally:
            self._tasks.pop(mail_id, None)

    def _update(self, status: MailStatus, state: MailState, attempts: int, error: str) -> MailStatus:
        status = replace(status, state=state, attempts=attempts, last_error=error, updated_at=self._clock())
        self._statuses[status.id] = status
        if state is not MailState.QUEUED:
            self._forget_oldest()
        return status

    def _forget_oldest(self) -> None:
        excess = len(self._statuses) - self._settings.history
        for mail_id in [i for i, s in self._statuses.items() if s.state is not MailState.QUEUED][:max(excess, 0)]:
            del self._statuses[mail_id]
