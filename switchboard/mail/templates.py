"""The mails the accounts work sends, each in text and HTML, with the team's name.

Templates are the standard library's ``string.Template`` (Jinja2 is not a dependency). Every value put into
an HTML body goes through ``html.escape`` first, in one place (``_render``): a team named ``<b>Acme & Co``
or a link with ``&`` in it reads as typed and cannot add markup. The text bodies take values as they are.
Each builder returns an ``OutgoingMail`` whose ``links`` name the one link it carries.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template

from switchboard.mail.message import OutgoingMail

__all__ = ["MailTemplate", "INVITE", "PASSWORD_RESET", "EMAIL_CHANGE", "email_change_mail", "invite_mail",
           "password_reset_mail", "INBOX_REPLY", "inbox_reply_mail"]


@dataclass(frozen=True, slots=True)
class MailTemplate:
    subject: Template
    text: Template
    html: Template


_HTML_FRAME = """<!doctype html>
<html><body style="font-family: sans-serif; line-height: 1.5">
$body
<p style="color: #666; font-size: small">$team</p>
</body></html>
"""


def _template(subject: str, text: str, body_html: str) -> MailTemplate:
    return MailTemplate(Template(subject), Template(text + "\n-- \n$team\n"),
                        Template(_HTML_FRAME.replace("$body", body_html)))


INVITE = _template(
    "$team: you are invited to the support desk",
    "Hello $name,\n\n$team invites you to answer its customers on Switchboard.\n"
    "Set your password here (the link works once and expires in $hours hours):\n\n$link\n",
    "<p>Hello $name,</p>\n<p>$team invites you to answer its customers on Switchboard.</p>\n"
    "<p><a href=\"$link\">Set your password</a> (the link works once and expires in $hours hours).</p>\n"
    "<p>If the button does not work, paste this address into your browser:<br>$link</p>")

PASSWORD_RESET = _template(
    "$team: reset your password",
    "Hello $name,\n\nSomeone (we hope you) asked to reset your password for $team's support desk.\n"
    "Choose a new one here (the link works once and expires in $hours hours):\n\n$link\n\n"
    "If you did not ask, ignore this mail: your password stays as it is.\n",
    "<p>Hello $name,</p>\n<p>Someone (we hope you) asked to reset your password for $team's support desk.</p>\n"
    "<p><a href=\"$link\">Choose a new password</a> (the link works once and expires in $hours hours).</p>\n"
    "<p>If the button does not work, paste this address into your browser:<br>$link</p>\n"
    "<p>If you did not ask, ignore this mail: your password stays as it is.</p>")

EMAIL_CHANGE = _template(
    "$team: confirm your new mail address",
    "Hello $name,\n\nConfirm that $to is your new address for $team's support desk\n"
    "(the link works once and expires in $hours hours):\n\n$link\n\n"
    "Until you confirm, mail keeps going to your old address.\n",
    "<p>Hello $name,</p>\n<p>Confirm that $to is your new address for $team's support desk "
    "(the link works once and expires in $hours hours).</p>\n"
    "<p><a href=\"$link\">Confirm this address</a></p>\n"
    "<p>If the button does not work, paste this address into your browser:<br>$link</p>\n"
    "<p>Until you confirm, mail keeps going to your old address.</p>")


def _render(template: MailTemplate, to: str, link: str, **values: str) -> OutgoingMail:
    plain = {"to": to, "link": link, **values}
    escaped = {name: html.escape(value) for name, value in plain.items()}
    return OutgoingMail(to=to, subject=template.subject.substitute(plain), text=template.text.substitute(plain),
                        html=template.html.substitute(escaped), links=(link,))


def _hours(valid_s: float) -> str:
    return f"{valid_s / 3600:g}"


def invite_mail(to: str, name: str, link: str, team: str, valid_s: float = 72 * 3600) -> OutgoingMail:
    """An invited agent's mail: a link to set a first password."""
    return _render(INVITE, to, link, name=name or to, team=team, hours=_hours(valid_s))


def password_reset_mail(to: str, name: str, link: str, team: str, valid_s: float = 3600) -> OutgoingMail:
    """"Forgot password": a link to choose a new one."""
    return _render(PASSWORD_RESET, to, link, name=name or to, team=team, hours=_hours(valid_s))


def email_change_mail(to: str, name: str, link: str, team: str, valid_s: float = 24 * 3600) -> OutgoingMail:
    """Sent to the new address: a link that confirms it."""
    return _render(EMAIL_CHANGE, to, link, name=name or to, team=team, hours=_hours(valid_s))


INBOX_REPLY = _template(
    "$team: a reply to your message",
    "Hello $name,\n\n$agent of $team replied to the message you left:\n\n$reply\n\n"
    "Your message:\n> $quoted\n\n"
    "You can answer by opening the chat on our site again.\n",
    "<p>Hello $name,</p>\n<p>$agent of $team replied to the message you left:</p>\n"
    "<p style=\"white-space: pre-wrap\">$reply</p>\n"
    "<p style=\"color: #666\">Your message:</p>\n"
    "<blockquote style=\"white-space: pre-wrap; color: #666\">$original</blockquote>\n"
    "<p>You can answer by opening the chat on our site again.</p>")


def inbox_reply_mail(to: str, name: str, agent: str, team: str, reply: str, original: str) -> OutgoingMail:
    """An agent's reply to a message a visitor left in the widget (docs/leave-a-message.md): no link."""
    plain = {"to": to, "name": name or to, "agent": agent or team, "team": team, "reply": reply,
             "original": original, "quoted": original.replace("\n", "\n> ")}
    escaped = {key: html.escape(value) for key, value in plain.items()}
    return OutgoingMail(to=to, subject=INBOX_REPLY.subject.substitute(plain), text=INBOX_REPLY.text.substitute(plain),
                        html=INBOX_REPLY.html.substitute(escaped))
