"""Reading a scenario file into checked values, with a clear message for a malformed one.

The format is defined in shared/scenarios/FORMAT.md (docs/scenarios.md in this project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from switchboard.settings import DispatchSettings, SettingsError

__all__ = ["Scenario", "Step", "ScenarioError", "load_scenario", "DO_FIELDS", "EXPECT_KEYS"]

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
}
EXPECT_KEYS = {"assigned", "load", "queue", "position", "phase", "told", "error"}


class ScenarioError(ValueError):
    """The file does not follow the scenario format; the message says where."""


@dataclass(frozen=True)
class Group:
    id: str
    policy: str = "balanced"
    max_queue: int | None = None
    last_agent_wait_s: float | None = None


@dataclass(frozen=True)
class AgentSpec:
    id: str
    saturation: Any
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    index: int
    t: float
    do: str | None
    fields: dict[str, Any]
    expect: dict[str, Any] | None


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    settings: DispatchSettings
    groups: tuple[Group, ...]
    agents: tuple[AgentSpec, ...]
    steps: tuple[Step, ...] = field(default_factory=tuple)


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
    groups = tuple(_group(g, path) for g in data.get("groups") or [])
    agents = tuple(_agent(a, path) for a in data.get("agents") or [])
    steps_raw = data.get("steps") or []
    if not isinstance(steps_raw, list):
        raise ScenarioError(f"{path}: steps must be a list")
    steps, last_t = [], 0.0
    for i, raw in enumerate(steps_raw, 1):
        step = _step(i, raw, path)
        if step.t < last_t:
            raise ScenarioError(f"{path}: step {i}: t={step.t} goes back in time (previous t={last_t})")
        last_t = step.t
        steps.append(step)
    return Scenario(str(data.get("name") or Path(path).stem), path, settings, groups, agents, tuple(steps))


def _group(raw: Any, path: str) -> Group:
    if not isinstance(raw, dict) or "id" not in raw:
        raise ScenarioError(f"{path}: each group needs an id: {raw!r}")
    return Group(str(raw["id"]), raw.get("policy", "balanced"), raw.get("max_queue"), raw.get("last_agent_wait_s"))


def _agent(raw: Any, path: str) -> AgentSpec:
    if not isinstance(raw, dict) or "id" not in raw or "saturation" not in raw:
        raise ScenarioError(f"{path}: each agent needs an id and a saturation: {raw!r}")
    return AgentSpec(str(raw["id"]), raw["saturation"], tuple(str(g) for g in raw.get("groups") or []))


def _step(index: int, raw: Any, path: str) -> Step:
    where = f"{path}: step {index}"
    if not isinstance(raw, dict) or "t" not in raw:
        raise ScenarioError(f"{where}: each step needs a time t: {raw!r}")
    if isinstance(raw["t"], bool) or not isinstance(raw["t"], (int, float)):
        raise ScenarioError(f"{where}: t must be a number of seconds, got {raw['t']!r}")
    do, expect = raw.get("do"), raw.get("expect")
    if do is None and expect is None:
        raise ScenarioError(f"{where}: a step needs `do` or `expect`")
    fields = {k: v for k, v in raw.items() if k not in ("t", "do", "expect")}
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
    elif fields:
        raise ScenarioError(f"{where}: unexpected fields {', '.join(sorted(fields))}")
    if expect is not None:
        if not isinstance(expect, dict) or not expect.keys() <= EXPECT_KEYS:
            raise ScenarioError(f"{where}: expect takes {', '.join(sorted(EXPECT_KEYS))}; got {expect!r}")
    return Step(index, float(raw["t"]), do, fields, expect)
