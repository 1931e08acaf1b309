"""The mail vocabulary: an outgoing mail, the states a mail goes through, and the status an admin reads.

Values only, no I/O. An ``OutgoingMail`` carries its ``links`` beside the bodies so the outbox transport can
log them without parsing HTML; the bodies are already rendered (``templates``). A mail's life is
``QUEUED`` -> ``SENT``, or ``QUEUED`` -> ``FAILED`` once its attempts are spent or the server refused it for
good; between attempts it stays ``QUEUED`` with ``attempts`` and ``last_error`` set.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

__all__ = ["MailState", "MailStatus", "OutgoingMail"]


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One mail to one address: a subject, a plain-text body and its HTML twin."""

    to: str
    subject: str
    text: str
    html: str
    links: tuple[str, ...] = ()  # the links in the bodies (logged by the outbox, never by SMTP)

    def __post_init__(self) -> None:
        if "@" not in self.to or any(c in self.to for c in "\r\n"):
            raise ValueError(f"not a single mail address: {self.to!r}")
        if any(c in self.subject for c in "\r\n"):
            raise ValueError("a subject is one line")

    def to_email(self, from_address: str) -> EmailMessage:
        """The standard library's message: multipart/alternative, text first, HTML preferred by readers."""
        message = EmailMessage()
        message["From"] = from_address
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2].strip("> ") or None)
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class MailState(enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MailStatus:
    """What an admin sees of one mail (no bodies: they may carry single-use links)."""

    id: str
    to: str
    subject: str
    state: MailState
    attempts: int
    last_error: str  # empty until an attempt fails
    queued_at: float
    updated_at: float
