"""Dispatch settings: defaults, then the settings file, then the environment; a bad value is named."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from switchboard.settings import BotSettings, DispatchSettings, SettingsError, load_bot_settings, load_dispatch_settings

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "switchboard.yaml"


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(text)
    return path


# --- defaults -------------------------------------------------------------------------------------------


def test_the_defaults_are_the_documented_values() -> None:
    assert dataclasses.asdict(DispatchSettings()) == {
        "wait_timeout_s": 60.0, "session_idle_timeout_s": 180.0, "offline_grace_s": 60.0, "transfer_offer_timeout_s": 60.0,
        "no_reply_reassign_s": None, "last_agent_wait_s": 30.0, "sweep_interval_s": 10.0, "eta_window": 20,
        "visitor_gone_grace_s": 60.0,
    }


def test_with_no_file_and_no_environment_the_defaults_apply() -> None:
    assert load_dispatch_settings(environ={}) == DispatchSettings()


def test_the_shipped_settings_file_holds_the_defaults() -> None:
    assert load_dispatch_settings(SHIPPED, environ={}) == DispatchSettings()


def test_settings_cannot_be_changed_once_loaded() -> None:
    settings = DispatchSettings()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.wait_timeout_s = 5  # type: ignore[misc]


# --- from a mapping --------------------------------------------------------------------------------------


def test_a_mapping_changes_only_the_settings_it_names() -> None:
    settings = DispatchSettings.from_mapping({"wait_timeout_s": "90", "eta_window": 30})

    assert settings == dataclasses.replace(DispatchSettings(), wait_timeout_s=90.0, eta_window=30)
    assert isinstance(settings.eta_window, int)


def test_a_mapping_applies_over_the_base_it_is_given() -> None:
    base = DispatchSettings(offline_grace_s=5.0)

    assert DispatchSettings.from_mapping({"wait_timeout_s": 1}, base) == DispatchSettings(offline_grace_s=5.0,
                                                                                          wait_timeout_s=1.0)


@pytest.mark.parametrize("off", ["off", "OFF", "none", "", None])
def test_no_reply_reassignment_can_be_turned_off(off: Any) -> None:
    base = DispatchSettings(no_reply_reassign_s=45)

    assert DispatchSettings.from_mapping({"no_reply_reassign_s": off}, base).no_reply_reassign_s is None


def test_no_reply_reassignment_can_be_turned_on_with_a_number_of_seconds() -> None:
    assert DispatchSettings.from_mapping({"no_reply_reassign_s": "45"}).no_reply_reassign_s == 45.0


def test_a_sweep_interval_of_zero_turns_the_sweep_off() -> None:
    assert DispatchSettings.from_mapping({"sweep_interval_s": 0}).sweep_interval_s == 0.0


@pytest.mark.parametrize(("name", "value"), [
    ("wait_timeout_s", "soon"),
    ("wait_timeout_s", 0),
    ("wait_timeout_s", -5),
    ("wait_timeout_s", True),
    ("session_idle_timeout_s", None),
    ("offline_grace_s", [60]),
    ("last_agent_wait_s", "0"),
    ("sweep_interval_s", -1),
    ("no_reply_reassign_s", 0),
    ("no_reply_reassign_s", "later"),
    ("eta_window", 1),
    ("eta_window", 2.5),
    ("eta_window", "many"),
    ("eta_window", False),
])
def test_a_bad_value_is_refused_with_a_message_naming_the_setting(name: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=name):
        DispatchSettings.from_mapping({name: value})


@pytest.mark.parametrize(("name", "value"), [
    ("wait_timeout_s", "nan"),
    ("offline_grace_s", float("nan")),
    ("eta_window", "nan"),
    ("eta_window", "inf"),
])
def test_a_value_that_is_not_a_finite_number_is_refused_with_a_message_naming_the_setting(name: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=name):
        DispatchSettings.from_mapping({name: value})


def test_an_unknown_setting_is_refused_with_its_name_and_the_known_ones() -> None:
    with pytest.raises(SettingsError, match="'wait_timeout'") as caught:
        DispatchSettings.from_mapping({"wait_timeout": 5})

    assert "wait_timeout_s" in str(caught.value)


def test_a_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- the file and the environment ----------------------------------------------------------------------------


def test_the_file_changes_the_settings_it_names(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dispatch:\n  wait_timeout_s: 90\n  no_reply_reassign_s: 45\n")

    assert load_dispatch_settings(path, environ={}) == DispatchSettings(wait_timeout_s=90.0, no_reply_reassign_s=45.0)


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dispatch:\n  wait_timeout_s: 90\n  no_reply_reassign_s: 45\n")
    environ = {"SWITCHBOARD_DISPATCH_WAIT_TIMEOUT_S": "120", "SWITCHBOARD_DISPATCH_ETA_WINDOW": "5", "HOME": "/x"}

    settings = load_dispatch_settings(path, environ=environ)

    assert settings == DispatchSettings(wait_timeout_s=120.0, no_reply_reassign_s=45.0, eta_window=5)


def test_the_environment_can_turn_off_what_the_file_turned_on(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dispatch:\n  no_reply_reassign_s: 45\n")

    settings = load_dispatch_settings(path, environ={"SWITCHBOARD_DISPATCH_NO_REPLY_REASSIGN_S": "off"})

    assert settings.no_reply_reassign_s is None


def test_the_environment_can_name_the_settings_file(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dispatch:\n  offline_grace_s: 15\n")

    assert load_dispatch_settings(environ={"SWITCHBOARD_SETTINGS": str(path)}).offline_grace_s == 15.0


def test_a_file_given_explicitly_wins_over_the_one_the_environment_names(tmp_path: Path) -> None:
    named = settings_file(tmp_path, "dispatch:\n  offline_grace_s: 15\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("dispatch:\n  offline_grace_s: 25\n")

    assert load_dispatch_settings(explicit, environ={"SWITCHBOARD_SETTINGS": str(named)}).offline_grace_s == 25.0


def test_the_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_SETTINGS", raising=False)
    monkeypatch.setenv("SWITCHBOARD_DISPATCH_SESSION_IDLE_TIMEOUT_S", "240")

    assert load_dispatch_settings().session_idle_timeout_s == 240.0


@pytest.mark.parametrize("text", ["", "other: {}\n", "dispatch:\n"])
def test_a_file_without_dispatch_settings_keeps_the_defaults(tmp_path: Path, text: str) -> None:
    assert load_dispatch_settings(settings_file(tmp_path, text), environ={}) == DispatchSettings()


def test_a_bad_value_in_the_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dispatch:\n  offline_grace_s: -3\n")

    with pytest.raises(SettingsError, match="offline_grace_s"):
        load_dispatch_settings(path, environ={})


def test_a_bad_value_in_the_environment_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="wait_timeout_s"):
        load_dispatch_settings(environ={"SWITCHBOARD_DISPATCH_WAIT_TIMEOUT_S": "a minute"})


def test_a_bad_value_names_the_place_it_came_from_the_file_or_the_variable(tmp_path: Path) -> None:
    from switchboard.settings import load_server_settings

    path = settings_file(tmp_path, "server:\n  port: 70000\n")
    with pytest.raises(SettingsError, match=f"^settings file {path}, section server: port "):
        load_server_settings(path, environ={})
    with pytest.raises(SettingsError, match="^environment variable SWITCHBOARD_PORT: port "):
        load_server_settings(environ={"SWITCHBOARD_PORT": "abc"})
    with pytest.raises(SettingsError, match="^environment variable SWITCHBOARD_BOT_TOP_K: top_k "):
        load_bot_settings(environ={"SWITCHBOARD_BOT_TOP_K": "many"})


def test_the_default_group_must_be_an_id_the_rest_api_can_name_since_every_start_creates_it() -> None:
    from switchboard.settings import load_server_settings

    assert load_server_settings(environ={"SWITCHBOARD_DEFAULT_GROUP": "help-desk"}).default_group == "help-desk"
    for bad in ("Support", "help desk", "-x", ""):
        with pytest.raises(SettingsError, match="default_group must be a group id"):
            load_server_settings(environ={"SWITCHBOARD_DEFAULT_GROUP": bad})


def test_a_misspelt_variable_is_reported_with_the_name_it_probably_meant() -> None:
    from switchboard.settings import unknown_variables

    environ = {"SWITCHBOARD_PROT": "9000", "SWITCHBOARD_PORT": "9001", "SWITCHBOARD_SETTINGS": "x.yaml",
               "SWITCHBOARD_DISPATCH_WAIT": "5", "HOME": "/root"}
    assert unknown_variables(environ) == ["SWITCHBOARD_PROT sets nothing (did you mean SWITCHBOARD_PORT?)"]


def test_an_unknown_setting_in_the_environment_is_refused_naming_it() -> None:
    with pytest.raises(SettingsError, match="'wait'"):
        load_dispatch_settings(environ={"SWITCHBOARD_DISPATCH_WAIT": "5"})


def test_a_settings_file_that_cannot_be_read_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    with pytest.raises(SettingsError, match="missing.yaml"):
        load_dispatch_settings(missing, environ={})


@pytest.mark.parametrize("text", ["dispatch: [unclosed\n", "- 1\n- 2\n", "dispatch: 5\n", "just words\n"])
def test_a_settings_file_that_is_not_a_mapping_of_settings_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    path = settings_file(tmp_path, text)

    with pytest.raises(SettingsError, match="switchboard.yaml"):
        load_dispatch_settings(path, environ={})


# --- server settings ------------------------------------------------------------------------------

from switchboard.settings import ServerSettings, load_server_settings  # noqa: E402


def test_redis_url_and_mongodb_uri_from_the_environment_replace_the_embedded_servers() -> None:
    s = load_server_settings(None, {"REDIS_URL": "redis://r:6379/0", "MONGODB_URI": "mongodb://m/sb",
                                    "SWITCHBOARD_PORT": "9001"})

    assert (s.redis_url, s.mongodb_uri, s.port) == ("redis://r:6379/0", "mongodb://m/sb", 9001)


@pytest.mark.parametrize(("name", "value"), [("allowed_origins", "https://*.example.com"), ("allowed_origins", "null"),
                                              ("port", "70000"), ("hello_timeout_s", "0"),
                                              ("rate_limit_per_s", "-1"), ("store_journal", "2"), ("max_frame_bytes", "x")])
def test_a_bad_server_setting_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        ServerSettings.from_mapping({name: value})


def test_the_hello_deadline_is_10_s_and_a_setting() -> None:
    assert ServerSettings().hello_timeout_s == 10.0
    assert load_server_settings(environ={"SWITCHBOARD_HELLO_TIMEOUT_S": "2.5"}).hello_timeout_s == 2.5


def test_allowed_origins_are_exact_strings_from_a_list_or_a_comma_separated_value() -> None:
    s = ServerSettings.from_mapping({"allowed_origins": "https://shop.example/, https://Help.Example"})

    assert s.allowed_origins == ("https://shop.example", "https://help.example")  # as browsers send them


# --- the bot -----------------------------------------------------------------------------------------


def test_the_shipped_file_gives_the_bots_defaults() -> None:
    assert load_bot_settings(SHIPPED, environ={}) == BotSettings()


def test_bot_settings_come_from_the_file_then_the_environment(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "bot:\n  embedder: semantic\n  top_k: 3\n")
    settings = load_bot_settings(path, environ={"SWITCHBOARD_BOT_LLM_BACKEND": "openai", "SWITCHBOARD_BOT_TOP_K": "7",
                                                "SWITCHBOARD_BOT_ENABLED": "off"})
    assert (settings.embedder, settings.top_k, settings.llm_backend, settings.enabled) == ("semantic", 7, "openai", False)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("llm_backend", "gpt", "llm_backend must be one of none, openai, tensorrt_llm"),
    ("embedder", "bert", "embedder must be one of hashing, semantic"),
    ("top_k", "0", "top_k must be a positive integer"),
    ("enabled", "maybe", "enabled must be true or false"),
    ("llm_timeout_s", "-1", "llm_timeout_s must be a positive number"),
    ("colour", "blue", "unknown bot setting 'colour'"),
])
def test_a_bad_bot_setting_is_refused_with_a_clear_message(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_bot_settings(environ={f"SWITCHBOARD_BOT_{name.upper()}": value})


@pytest.mark.parametrize(("written", "read"), [("off", "off"), ("on", "on"), ("auto", "auto"), ('"off"', "off")])
def test_store_transactions_reads_a_bare_yaml_on_or_off_as_the_word(tmp_path: Path, written: str, read: str) -> None:
    path = settings_file(tmp_path, f"server:\n  store_transactions: {written}\n")
    assert load_server_settings(path, environ={}).store_transactions == read


def test_store_transactions_from_the_environment_ignores_case_and_refuses_other_words() -> None:
    assert load_server_settings(None, {"SWITCHBOARD_STORE_TRANSACTIONS": "OFF"}).store_transactions == "off"
    with pytest.raises(SettingsError, match="auto, on or off"):
        load_server_settings(None, {"SWITCHBOARD_STORE_TRANSACTIONS": "sometimes"})
