"""Transports against a real SMTP server (aiosmtpd, started here): plain, with login, STARTTLS, TLS; the outbox."""

from __future__ import annotations

import asyncio
import logging
import ssl
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import trustme

from switchboard.mail import OutboxTransport, SendFailed, SmtpTransport, invite_mail, make_transport
from switchboard.settings import MailSettings
from tests.mail.smtpd import Inbox, body, running_smtpd

# aiosmtpd warns about a login over a plain connection; two tests do exactly that, on purpose, on 127.0.0.1.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

LINK = "https://desk.example.com/invite?token=tok123"
PASSWORD = "s3cret-smtp-pass"


def client_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything our side logged (the test's own server, aiosmtpd's ``mail.log``, logs the whole exchange)."""
    return "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records if not r.name.startswith("mail.log"))


def smtp(port: int, **changes: str | int) -> MailSettings:
    values: dict[str, str | int] = {"host": "127.0.0.1", "port": port, "security": "none",
                                    "from_address": "Desk <desk@example.com>", "timeout_s": 5}
    return MailSettings.from_mapping({**values, **changes})


def test_a_mail_arrives_with_subject_text_html_team_and_link() -> None:
    inbox = Inbox()
    with running_smtpd(inbox) as port:
        asyncio.run(SmtpTransport(smtp(port)).send(invite_mail("ann@example.com", "Ann", LINK, "Pedalwise")))

    [message] = inbox.messages
    assert message["Subject"] == "Pedalwise: you are invited to the support desk"
    assert message["To"] == "ann@example.com" and message["From"] == "Desk <desk@example.com>"
    assert LINK in body(message, "plain") and "Pedalwise" in body(message, "plain")
    assert f'href="{LINK}"' in body(message, "html") and "Pedalwise" in body(message, "html")


def test_the_transport_logs_in_and_keeps_the_password_out_of_logs_and_repr(
        caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox()
    caplog.set_level(logging.DEBUG)
    with running_smtpd(inbox, login=True) as port:
        transport = SmtpTransport(smtp(port, user="desk", password=PASSWORD))
        asyncio.run(transport.send(invite_mail("ann@example.com", "Ann", LINK, "T")))

    assert inbox.logins == [(b"desk", PASSWORD.encode())] and len(inbox.messages) == 1
    assert "goes over the network in clear" in caplog.text  # security none with a login: said at start
    assert PASSWORD not in client_log(caplog) and PASSWORD not in repr(transport)
    assert LINK not in client_log(caplog)  # over SMTP a link goes to its owner only


def test_a_wrong_password_fails_for_good() -> None:
    with running_smtpd(Inbox(), login=True) as port:
        with pytest.raises(SendFailed) as caught:
            asyncio.run(SmtpTransport(smtp(port, user="desk", password="wrong")).send(
                invite_mail("ann@example.com", "Ann", LINK, "T")))

    assert caught.value.permanent and "wrong" not in caught.value.reason


def test_a_4xx_answer_may_be_retried_and_a_5xx_answer_may_not() -> None:
    mail = invite_mail("ann@example.com", "Ann", LINK, "T")
    for refusal, permanent in (("451 4.3.0 Try again later", False), ("554 5.7.1 Rejected", True)):
        with running_smtpd(Inbox(refuse=1, refusal=refusal)) as port:
            with pytest.raises(SendFailed) as caught:
                asyncio.run(SmtpTransport(smtp(port)).send(mail))
        assert caught.value.permanent is permanent and refusal.split()[0] in caught.value.reason


def test_no_server_listening_is_a_failure_worth_retrying() -> None:
    from tests.mail.smtpd import free_port

    with pytest.raises(SendFailed) as caught:
        asyncio.run(SmtpTransport(smtp(free_port())).send(invite_mail("a@example.com", "", LINK, "T")))

    assert not caught.value.permanent


@pytest.fixture(scope="module")
def certificates() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context, a client context trusting only the test's own CA)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def test_starttls_then_login_then_the_mail(certificates: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, client = certificates
    inbox = Inbox()
    with running_smtpd(inbox, login=True, starttls=server) as port:
        asyncio.run(SmtpTransport(smtp(port, security="starttls", user="desk", password=PASSWORD), client).send(
            invite_mail("ann@example.com", "Ann", LINK, "T")))

    assert inbox.logins == [(b"desk", PASSWORD.encode())] and len(inbox.messages) == 1


def test_starttls_refuses_a_certificate_it_does_not_trust(
        certificates: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, _ = certificates
    with running_smtpd(Inbox(), starttls=server) as port:
        with pytest.raises(SendFailed):
            asyncio.run(SmtpTransport(smtp(port, security="starttls")).send(
                invite_mail("ann@example.com", "Ann", LINK, "T")))


def test_implicit_tls(certificates: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, client = certificates
    inbox = Inbox()
    with running_smtpd(inbox, implicit_tls=server) as port:
        asyncio.run(SmtpTransport(smtp(port, security="tls"), client).send(
            invite_mail("ann@example.com", "Ann", LINK, "T")))

    assert len(inbox.messages) == 1


def test_with_no_smtp_host_mail_goes_to_the_outbox_under_the_data_dir(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.mail")
    transport = make_transport(MailSettings(team_name="Pedalwise"), tmp_path)
    assert isinstance(transport, OutboxTransport) and transport.outbox == tmp_path / "outbox"

    asyncio.run(transport.send(invite_mail("ann@example.com", "Ann", LINK, "Pedalwise")))

    [path] = list((tmp_path / "outbox").glob("*.eml"))
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "ann@example.com" and "Pedalwise" in str(message["Subject"])
    assert LINK in body(message, "plain")
    assert LINK in caplog.text and str(path) in caplog.text


def test_an_outbox_that_cannot_be_written_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file where the folder should be")

    with pytest.raises(SendFailed, match="outbox"):
        asyncio.run(OutboxTransport(tmp_path / "outbox", "d@example.com").send(
            invite_mail("a@example.com", "", LINK, "T")))
