"""A real SMTP server for the mail tests: aiosmtpd on its own thread, on a free local port.

``Inbox`` is the handler: it keeps every accepted message parsed by the standard library, can refuse the
first ``refuse`` DATA commands with a 4xx (to test retries) and can ask for a login.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["Inbox", "body", "free_port", "running_smtpd"]


class Inbox:
    def __init__(self, refuse: int = 0, refusal: str = "451 4.3.0 Try again later") -> None:
        self.messages: list[EmailMessage] = []
        self.attempts = 0
        self.refuse = refuse
        self.refusal = refusal
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts <= self.refuse:
            return self.refusal
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 OK"

    def authenticator(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: object) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            return AuthResult(success=auth_data.password == b"s3cret-smtp-pass", handled=False)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_smtpd(inbox: Inbox, *, login: bool = False, starttls: ssl.SSLContext | None = None,
                  implicit_tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve `inbox` on 127.0.0.1; yields the port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=implicit_tls,
                            tls_context=starttls, require_starttls=starttls is not None,
                            authenticator=inbox.authenticator if login else None, auth_required=login,
                            auth_require_tls=starttls is not None)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None and part.get_content_subtype() == kind
    return str(part.get_content())
