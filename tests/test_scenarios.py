"""Every scenario in tests/scenarios (and the shared examples) passes on every runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from switchboard.actors.engine import Engine, ManualClock
from switchboard.actors.start import start_engine
from switchboard.scenarios import load_scenario, run_scenario
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
