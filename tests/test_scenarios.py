"""Every scenario in tests/scenarios (and the shared examples) passes on every runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.scenarios import load_scenario, run_scenario
from switchboard.scenarios.runner import Observer
from tests.conftest import RUNTIMES, harness_for

HERE = Path(__file__).parent
FILES = sorted((HERE / "scenarios").glob("*.yaml"))


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
