"""The accounts mails: text and HTML with the team's name and the link; values escaped in HTML only."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from switchboard.mail import OutgoingMail, email_change_mail, invite_mail, password_reset_mail

Builder = Callable[..., OutgoingMail]
LINK = "https://desk.example.com/set-password?token=abc&x=1"


@pytest.mark.parametrize("build", [invite_mail, password_reset_mail, email_change_mail])
def test_each_mail_carries_the_team_and_the_link_in_both_bodies(build: Builder) -> None:
    mail = build("ann@example.com", "Ann", LINK, "Pedalwise")

    assert "Pedalwise" in mail.subject
    assert LINK in mail.text and "Pedalwise" in mail.text and "Ann" in mail.text
    assert 'href="https://desk.example.com/set-password?token=abc&amp;x=1"' in mail.html
    assert "Pedalwise" in mail.html
    assert mail.links == (LINK,)


def test_markup_in_a_team_name_is_shown_as_text_in_html() -> None:
    mail = invite_mail("ann@example.com", "<i>Ann</i>", LINK, "<b>Acme</b> & Co")

    assert "<b>" not in mail.html and "<i>" not in mail.html
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in mail.html
    assert "<b>Acme</b> & Co" in mail.text


def test_the_validity_is_said_in_hours() -> None:
    assert "expires in 1 hours" in password_reset_mail("a@example.com", "", LINK, "T").text
    assert "expires in 72 hours" in invite_mail("a@example.com", "", LINK, "T").text


def test_a_mail_without_a_name_greets_the_address() -> None:
    assert "Hello a@example.com," in invite_mail("a@example.com", "", LINK, "T").text


def test_the_email_change_mail_names_the_new_address() -> None:
    assert "new@example.com is your new address" in email_change_mail("new@example.com", "Ann", LINK, "T").text


@pytest.mark.parametrize("to", ["nobody", "a@example.com\r\nBcc: b@example.com"])
def test_a_mail_is_for_one_address(to: str) -> None:
    with pytest.raises(ValueError):
        OutgoingMail(to=to, subject="s", text="t", html="h")


def test_a_team_name_cannot_break_the_subject_line() -> None:
    with pytest.raises(ValueError):
        invite_mail("a@example.com", "Ann", LINK, "Acme\r\nBcc: evil@example.com")
