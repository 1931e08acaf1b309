"""Mail settings: defaults, the file's ``mail`` section, SWITCHBOARD_MAIL_* variables; the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.settings import MailSettings, SettingsError, load_mail_settings, unknown_variables


def test_with_no_file_and_no_environment_mail_goes_to_the_outbox() -> None:
    settings = load_mail_settings(environ={})

    assert settings == MailSettings()
    assert not settings.smtp


def test_the_usual_port_follows_the_security() -> None:
    assert [MailSettings(security=s).effective_port for s in ("none", "starttls", "tls")] == [25, 587, 465]
    assert MailSettings(port=2525).effective_port == 2525


def test_the_file_then_the_environment_set_the_smtp_server(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text("mail:\n  host: smtp.example.com\n  security: tls\n  team_name: Acme\n")

    settings = load_mail_settings(path, environ={"SWITCHBOARD_MAIL_PORT": "2465", "SWITCHBOARD_MAIL_USER": "desk"})

    assert (settings.host, settings.security, settings.port, settings.user, settings.team_name) == (
        "smtp.example.com", "tls", 2465, "desk", "Acme")


@pytest.mark.parametrize(("name", "value", "says"), [
    ("security", "ssl", "security must be one of none, starttls, tls"),
    ("port", "70000", "port must be a port"),
    ("from_address", "nobody", "from_address must be a mail address"),
    ("max_attempts", "0", "max_attempts must be a positive integer"),
    ("backoff_s", "-1", "backoff_s must be a positive number"),
])
def test_a_bad_value_is_named_with_the_variable_it_came_from(name: str, value: str, says: str) -> None:
    variable = f"SWITCHBOARD_MAIL_{name.upper()}"

    with pytest.raises(SettingsError, match=f"environment variable {variable}: {says}"):
        load_mail_settings(environ={variable: value})


def test_an_unknown_mail_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SettingsError, match="unknown mail setting 'hots'; known: .*host"):
        MailSettings.from_mapping({"hots": "x"})


def test_the_password_is_not_in_the_repr() -> None:
    settings = load_mail_settings(environ={"SWITCHBOARD_MAIL_PASSWORD": "s3cret-smtp-pass"})

    assert settings.password == "s3cret-smtp-pass"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_a_bad_password_value_is_not_echoed_in_the_error() -> None:
    with pytest.raises(SettingsError) as caught:
        MailSettings.from_mapping({"password": 12345678})

    assert "12345678" not in str(caught.value)


def test_mail_variables_are_not_reported_as_setting_nothing() -> None:
    assert unknown_variables({"SWITCHBOARD_MAIL_HOST": "smtp.example.com"}) == []


def test_the_shipped_settings_file_holds_the_defaults() -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "switchboard.yaml"

    assert load_mail_settings(shipped, environ={}) == MailSettings()
