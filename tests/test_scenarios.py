"""Every scenario in tests/scenarios (and the shared examples) passes on every runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import yaml

from switchboard.actors.engine import Engine, ManualClock
from switchboard.actors.start import start_engine
from switchboard.scenarios import ScenarioError, load_scenario, run_scenario
from switchboard.scenarios.format import parse_scenario
from switchboard.scenarios.runner import Observer
from tests.conftest import RUNTIMES, harness_for

HERE = Path(__file__).parent
FILES = sorted((HERE / "scenarios").glob("*.yaml"))
# Scenarios about timers due at the same instant, whose order must not depend on the runtime or on how many
# hosts it has (docs/dispatch.md, "Timers due at the same instant"): run again on 1, 2 and 4 hosts, repeatedly.
AT_ONCE = [p for p in FILES if "due-at-once" in p.stem]
HOST_COUNTS = (1, 2, 4)
REPEATS = 5


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_holds(path: Path, runtime: str) -> None:
    harness = harness_for(runtime)
    observer = Observer()
    harness.recorder.listener = observer
    try:
        result = run_scenario(load_scenario(path), harness.engine, observer)
    finally:
        harness.recorder.listener = None
    assert result.ok, "\n".join(result.failures)


def test_project_scenarios_include_the_shared_examples() -> None:
    names = {p.name for p in FILES}
    assert {"01-balanced-ratio.yaml", "02-invite-beyond-saturation.yaml",
            "03-oldest-waiter-across-groups.yaml", "04-offline-grace-requeue.yaml"} <= names


def test_a_malformed_scenario_is_reported_with_where_it_went_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {t: 1, do: teleport, agent: A}\n")
    with pytest.raises(ValueError, match="step 1: unknown do 'teleport'"):
        load_scenario(bad)


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[tuple[str, int], tuple[Engine, Observer]]]:
    """Engines with a given number of hosts, started on first use and stopped with the module."""
    started: dict[tuple[str, int], tuple[Engine, Observer]] = {}
    yield started
    for engine, _ in started.values():
        engine.stop()


@pytest.mark.parametrize("runtime", ["local", "ray"])
@pytest.mark.parametrize("hosts", HOST_COUNTS)
@pytest.mark.parametrize("path", AT_ONCE, ids=[p.stem for p in AT_ONCE])
def test_timers_due_at_once_fire_in_the_same_order_on_any_number_of_hosts(
        path: Path, hosts: int, runtime: str, engines: dict[tuple[str, int], tuple[Engine, Observer]]) -> None:
    if (runtime, hosts) not in engines:
        if runtime == "ray":
            pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]')")
        observer = Observer()
        engines[runtime, hosts] = start_engine(runtime, hosts=hosts, clock=ManualClock(0.0), on_delivery=observer), observer
    engine, observer = engines[runtime, hosts]
    scenario = load_scenario(path)

    failures = [run_scenario(scenario, engine, observer).failures for _ in range(REPEATS)]

    assert failures == [[]] * REPEATS, "\n".join(line for run in failures for line in run)


def test_a_scenario_pins_down_the_order_of_timers_due_at_once() -> None:
    assert AT_ONCE


# --- service hours: a realistic clock and local times (docs/scenarios.md, "Service hours and a realistic clock") ---


HOURS = """
timezone: Europe/Paris
clock_start: "2026-03-30T08:00"
groups:
  - {id: sales, at_closing: offer_message, schedule: {timezone: Europe/Paris, rules: []}}
steps:
  - {t: 60, do: request_human, visitor: v1, group: sales}
  - {at: "2026-03-30T09:00", expect: {next_opening: {v1: "2026-03-31T09:00+02:00", v2: null}}}
  - {at: "2026-03-30T07:30Z", do: configure_group, group: sales, at_closing: serve}
"""


def test_local_times_become_seconds_from_the_clock_start_and_instants() -> None:
    scenario = parse_scenario(yaml.safe_load(HOURS))

    assert scenario.clock_start == 1774850400.0  # 2026-03-30T06:00Z
    assert [s.t for s in scenario.steps] == [60.0, 3600.0, 5400.0]
    assert scenario.steps[1].expect == {"next_opening": {"v1": 1774940400.0, "v2": None}}
    assert scenario.groups[0].at_closing == "offer_message"


MALFORMED_HOURS = [  # (what to replace in HOURS, with what, the message's gist)
    ("{t: 60, do:", '{t: 60, at: "2026-03-30T09:00", do:', "t \\(seconds\\) or at"),
    ("{t: 60,", '{at: "2026-03-29T02:30",', "skipped or repeated in Europe/Paris"),
    ("{t: 60,", '{at: "2026-03-30T07:00",', "before clock_start"),
    ("{t: 60,", '{at: "next monday",', "not a date and time"),
    ("at_closing: offer_message", "at_closing: close", "at_closing must be one of serve, offer_message"),
    ("at_closing: offer_message", "hours: 9-18", "unknown fields hours"),
    ("timezone: Europe/Paris\n", "timezone: Europe/Nowhere\n", "not an IANA time zone"),
    ("at_closing: serve}", "at_closing: later}", "step 3: at_closing must be one of"),
    ('v2: null', 'v2: tomorrow', "next_opening\\[v2\\]"),
]


@pytest.mark.parametrize(("old", "new", "match"), MALFORMED_HOURS, ids=[m[2] for m in MALFORMED_HOURS])
def test_a_malformed_hours_scenario_is_reported_with_where_it_went_wrong(old: str, new: str, match: str) -> None:
    assert old in HOURS

    with pytest.raises(ScenarioError, match=match):
        parse_scenario(yaml.safe_load(HOURS.replace(old, new, 1)))
