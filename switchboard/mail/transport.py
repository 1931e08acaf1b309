"""How a mail leaves: SMTP through aiosmtplib, or an .eml file in the outbox when no SMTP is configured.

A transport makes one attempt and either returns or raises ``SendFailed``; retrying is the sender's job.
``SendFailed.permanent`` says whether another attempt can help: a 5xx answer (unknown recipient, bad login)
will be the same next time, a 4xx answer, a refused connection or a timeout may not.

Secrets: the SMTP password goes to aiosmtplib and nowhere else; no transport logs it, and an error's text is
the server's answer or the socket's error, never our login. The outbox logs each mail's links (that is how
a fresh install without SMTP hands an invited agent their link); the SMTP transport logs no link, since a
link there is a single-use credential on its way to its owner only.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from pathlib import Path
from typing import Protocol

import aiosmtplib

from switchboard.mail.message import OutgoingMail
from switchboard.settings import MailSettings

__all__ = ["MailTransport", "OutboxTransport", "SendFailed", "SmtpTransport", "make_transport"]

log = logging.getLogger("switchboard.mail")


class SendFailed(Exception):
    """One attempt failed; ``permanent`` when retrying cannot help (the server's 5xx answer)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class MailTransport(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


class SmtpTransport:
    """One SMTP conversation per mail (connect, STARTTLS or TLS, login, send, quit): mail is rare, and a
    connection kept open would need its own health checks."""

    def __init__(self, settings: MailSettings, tls_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls_context = tls_context  # None: the system's trusted certificates
        if settings.user and settings.security == "none":
            log.warning("mail: security is none, so the SMTP login to %s goes over the network in clear; "
                        "set SWITCHBOARD_MAIL_SECURITY to starttls or tls unless the server is on this host",
                        settings.host)

    def __repr__(self) -> str:
        s = self._settings
        return f"SmtpTransport({s.host}:{s.effective_port}, security={s.security}, login={bool(s.user)})"

    async def send(self, mail: OutgoingMail) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                mail.to_email(s.from_address), hostname=s.host, port=s.effective_port,
                username=s.user or None, password=s.password if s.user else None,
                use_tls=s.security == "tls", start_tls=s.security == "starttls",
                tls_context=self._tls_context, timeout=s.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendFailed(f"recipient refused: {'; '.join(f'{r.code} {r.message}' for r in exc.recipients)}",
                             permanent=all(c >= 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc.code} {exc.message}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from None


class OutboxTransport:
    """Each mail as ``<outbox>/<time>-<random>-<to>.eml`` (RFC 5322, as a mail client opens it), written on a worker
    thread so the event loop never waits on the disk; its links are logged."""

    def __init__(self, outbox: Path, from_address: str) -> None:
        self.outbox = outbox
        self._from = from_address

    def __repr__(self) -> str:
        return f"OutboxTransport({self.outbox})"

    async def send(self, mail: OutgoingMail) -> None:
        path = await asyncio.to_thread(self._write, mail)
        log.info("mail to %s (%s) written to %s; links: %s", mail.to, mail.subject, path,
                 " ".join(mail.links) or "none")

    def _write(self, mail: OutgoingMail) -> Path:
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            safe_to = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in mail.to)
            path = self.outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}-{safe_to}.eml"
            path.write_bytes(bytes(mail.to_email(self._from)))
        except OSError as exc:
            raise SendFailed(f"outbox {self.outbox}: {exc}") from None
        return path


def make_transport(settings: MailSettings, data_dir: str | Path,
                   tls_context: ssl.SSLContext | None = None) -> SmtpTransport | OutboxTransport:
    """SMTP when a host is set, else the outbox (``outbox_dir``, or ``<data_dir>/outbox``)."""
    if settings.smtp:
        return SmtpTransport(settings, tls_context)
    return OutboxTransport(Path(settings.outbox_dir or Path(data_dir) / "outbox"), settings.from_address)
