"""Reading a scenario file into checked values, with a clear message for a malformed one.

The format is defined in shared/scenarios/FORMAT.md (docs/scenarios.md in this project).
A scenario about service hours sets a realistic clock (``clock_start``, in the scenario's
``timezone``) and places steps at local times (``at``) as well as by seconds (``t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from switchboard.actors.messages import AT_CLOSING
from switchboard.settings import DispatchSettings, SettingsError

__all__ = ["Scenario", "Step", "ScenarioError", "load_scenario", "parse_instant", "DO_FIELDS", "EXPECT_KEYS",
           "GROUP_FIELDS"]

# Every `do:` with its required and optional fields.
DO_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "online": ({"agent"}, set()), "away": ({"agent"}, set()), "offline": ({"agent"}, set()),
    "set_saturation": ({"agent", "saturation"}, set()),
    "join_group": ({"agent", "group"}, set()), "leave_group": ({"agent", "group"}, set()),
    "request_human": ({"visitor", "group"}, {"priority", "agent"}),
    "leave_queue": ({"visitor"}, set()), "keep_waiting": ({"visitor"}, set()),
    "invite": ({"agent", "visitors"}, set()),
    "transfer": ({"visitor"}, {"to_agent", "to_group"}),
    "accept_transfer": ({"agent", "visitor"}, set()), "decline_transfer": ({"agent", "visitor"}, set()),
    "agent_message": ({"visitor"}, set()), "visitor_message": ({"visitor"}, set()),
    "close": ({"visitor", "by"}, set()),
    "configure_group": ({"group"}, {"policy", "max_queue", "last_agent_wait_s", "schedule", "at_closing"}),
}
EXPECT_KEYS = {"assigned", "load", "queue", "position", "phase", "told", "error", "next_opening", "open"}
GROUP_FIELDS = {"id", "policy", "max_queue", "last_agent_wait_s", "schedule", "at_closing"}


class ScenarioError(ValueError):
    """The file does not follow the scenario format; the message says where."""


@dataclass(frozen=True)
class Group:
    id: str
    policy: str = "balanced"
    max_queue: int | None = None
    last_agent_wait_s: float | None = None
    schedule: dict[str, Any] | None = None  # docs/hours.md's JSON form; None: always open
    at_closing: str = "serve"


@dataclass(frozen=True)
class AgentSpec:
    id: str
    saturation: Any
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    index: int
    t: float  # seconds since the scenario's clock_start
    do: str | None
    fields: dict[str, Any]
    expect: dict[str, Any] | None
    at: str | None = None  # the local time the step was written with, if any

    @property
    def when(self) -> str:
        """How failures name the step's time: as written."""
        return f"at={self.at}" if self.at is not None else f"t={self.t:g}"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    settings: DispatchSettings
    groups: tuple[Group, ...]
    agents: tuple[AgentSpec, ...]
    steps: tuple[Step, ...] = field(default_factory=tuple)
    clock_start: float = 0.0  # engine time (UTC epoch seconds) of t=0
    timezone: str = "UTC"  # for local times without an offset (clock_start, at, next_opening)

    def instant(self, text: object, where: str = "time") -> float:
        """A local time of this scenario as UTC epoch seconds (see :func:`parse_instant`)."""
        return parse_instant(text, self.timezone, where)


def parse_instant(text: object, timezone: str, where: str = "time") -> float:
    """``2026-03-30T09:00`` (local time in `timezone`) or ``2026-03-30T09:00+02:00`` (with its UTC offset)
    as UTC epoch seconds.

    A local time that a daylight-saving change skips or repeats is refused: write it with its offset.
    """
    if not isinstance(text, (str, datetime)):
        raise ScenarioError(f"{where}: {text!r} is not a date and time such as 2026-03-30T09:00")
    try:
        moment = text if isinstance(text, datetime) else datetime.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"{where}: {text!r} is not a date and time such as 2026-03-30T09:00") from None
    if moment.tzinfo is not None:
        return moment.timestamp()
    zone = ZoneInfo(timezone)
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        raise ScenarioError(f"{where}: {text} is skipped or repeated in {timezone} (the clocks change): "
                            "write it with its UTC offset, such as 2026-03-29T03:30+02:00")
    return first.timestamp()


def load_scenario(path: str | Path) -> Scenario:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse_scenario(data, str(path))


def parse_scenario(data: Any, path: str = "<scenario>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level")
    try:
        settings = DispatchSettings.from_mapping(data.get("settings") or {})
    except SettingsError as exc:
        raise ScenarioError(f"{path}: settings: {exc}") from None
    timezone = data.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError, TypeError):
        raise ScenarioError(f"{path}: timezone: {timezone!r} is not an IANA time zone name such as Europe/Paris") \
            from None
    clock_start = _clock_start(data.get("clock_start", 0), timezone, path)
    groups = tuple(_group(g, path) for g in data.get("groups") or [])
    agents = tuple(_agent(a, path) for a in data.get("agents") or [])
    steps_raw = data.get("steps") or []
    if not isinstance(steps_raw, list):
        raise ScenarioError(f"{path}: steps must be a list")
    steps, last_t = [], 0.0
    for i, raw in enumerate(steps_raw, 1):
        step = _step(i, raw, path, clock_start, timezone)
        if step.t < last_t:
            raise ScenarioError(f"{path}: step {i}: {step.when} goes back in time (previous t={last_t:g})")
        last_t = step.t
        steps.append(step)
    return Scenario(str(data.get("name") or Path(path).stem), path, settings, groups, agents, tuple(steps),
                    clock_start, timezone)


def _clock_start(raw: Any, timezone: str, path: str) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if not math.isfinite(raw) or raw < 0:
            raise ScenarioError(f"{path}: clock_start: {raw!r} is not a time")
        return float(raw)
    return parse_instant(raw, timezone, f"{path}: clock_start")


def _group(raw: Any, path: str) -> Group:
    if not isinstance(raw, dict) or "id" not in raw:
        raise ScenarioError(f"{path}: each group needs an id: {raw!r}")
    if extra := raw.keys() - GROUP_FIELDS:
        raise ScenarioError(f"{path}: group {raw['id']}: unknown fields {', '.join(sorted(map(str, extra)))}")
    _check_group_fields(raw, f"{path}: group {raw['id']}")
    return Group(str(raw["id"]), raw.get("policy", "balanced"), raw.get("max_queue"), raw.get("last_agent_wait_s"),
                 raw.get("schedule"), raw.get("at_closing", "serve"))


def _check_group_fields(raw: dict[str, Any], where: str) -> None:
    """The shape of the hours fields (their values are the engine's to judge: a bad schedule is refused)."""
    if "schedule" in raw and raw["schedule"] is not None and not isinstance(raw["schedule"], dict):
        raise ScenarioError(f"{where}: schedule must be a mapping (docs/hours.md), got {raw['schedule']!r}")
    if "at_closing" in raw and raw["at_closing"] not in AT_CLOSING:
        raise ScenarioError(f"{where}: at_closing must be one of {', '.join(AT_CLOSING)}, got {raw['at_closing']!r}")


def _agent(raw: Any, path: str) -> AgentSpec:
    if not isinstance(raw, dict) or "id" not in raw or "saturation" not in raw:
        raise ScenarioError(f"{path}: each agent needs an id and a saturation: {raw!r}")
    return AgentSpec(str(raw["id"]), raw["saturation"], tuple(str(g) for g in raw.get("groups") or []))


def _step(index: int, raw: Any, path: str, clock_start: float = 0.0, timezone: str = "UTC") -> Step:
    where = f"{path}: step {index}"
    if not isinstance(raw, dict) or len(raw.keys() & {"t", "at"}) != 1:
        raise ScenarioError(f"{where}: each step needs a time: t (seconds) or at (a local time), not both: {raw!r}")
    at: str | None = None
    if "at" in raw:
        at = str(raw["at"])
        t = parse_instant(raw["at"], timezone, f"{where}: at") - clock_start
        if t < 0:
            raise ScenarioError(f"{where}: at {at} is before clock_start")
    elif isinstance(raw["t"], bool) or not isinstance(raw["t"], (int, float)):
        raise ScenarioError(f"{where}: t must be a number of seconds, got {raw['t']!r}")
    else:
        t = float(raw["t"])
    do, expect = raw.get("do"), raw.get("expect")
    if do is None and expect is None:
        raise ScenarioError(f"{where}: a step needs `do` or `expect`")
    fields = {k: v for k, v in raw.items() if k not in ("t", "at", "do", "expect")}
    if do is not None:
        if do not in DO_FIELDS:
            raise ScenarioError(f"{where}: unknown do {do!r}; known: {', '.join(sorted(DO_FIELDS))}")
        required, optional = DO_FIELDS[do]
        missing, extra = required - fields.keys(), fields.keys() - required - optional
        if missing:
            raise ScenarioError(f"{where}: {do} needs {', '.join(sorted(missing))}")
        if extra:
            raise ScenarioError(f"{where}: {do} does not take {', '.join(sorted(extra))}")
        if do == "transfer" and len(fields.keys() & {"to_agent", "to_group"}) != 1:
            raise ScenarioError(f"{where}: transfer needs exactly one of to_agent, to_group")
        if do == "configure_group":
            _check_group_fields(fields, where)
    elif fields:
        raise ScenarioError(f"{where}: unexpected fields {', '.join(sorted(fields))}")
    if expect is not None:
        if not isinstance(expect, dict) or not expect.keys() <= EXPECT_KEYS:
            raise ScenarioError(f"{where}: expect takes {', '.join(sorted(EXPECT_KEYS))}; got {expect!r}")
        expect = _expect_instants(expect, timezone, where)
    return Step(index, t, do, fields, expect, at)


def _expect_instants(expect: dict[str, Any], timezone: str, where: str) -> dict[str, Any]:
    """`next_opening` values as UTC epoch seconds (None stays None: "does not open within a year")."""
    openings = expect.get("next_opening")
    if openings is None:
        return expect
    if not isinstance(openings, dict):
        raise ScenarioError(f"{where}: next_opening takes {{visitor: local time or null}}, got {openings!r}")
    instants = {visitor: None if value is None else parse_instant(value, timezone, f"{where}: next_opening[{visitor}]")
                for visitor, value in openings.items()}
    return {**expect, "next_opening": instants}
