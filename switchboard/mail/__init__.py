"""Outgoing mail: typed messages from text and HTML templates, an SMTP or outbox transport, a retrying sender.

Layers inside, bottom first: ``message`` (the vocabulary: a mail, its state), ``templates`` (the mails the
accounts work sends), ``transport`` (SMTP through aiosmtplib, or .eml files in an outbox), ``sender`` (the
queue, retries with back-off and the bounded history an admin reads). See docs/mail.md.
"""

from __future__ import annotations

from switchboard.mail.message import MailState, MailStatus, OutgoingMail
from switchboard.mail.sender import MailSender
from switchboard.mail.templates import email_change_mail, invite_mail, password_reset_mail
from switchboard.mail.transport import MailTransport, OutboxTransport, SendFailed, SmtpTransport, make_transport

__all__ = ["MailSender", "MailState", "MailStatus", "MailTransport", "OutboxTransport", "OutgoingMail", "SendFailed",
           "SmtpTransport", "email_change_mail", "invite_mail", "make_transport", "password_reset_mail"]
