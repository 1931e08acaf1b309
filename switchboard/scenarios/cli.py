"""`switchboard scenario FILE...`: run scenario files and print each failed expectation."""

from __future__ import annotations

import sys
from typing import Sequence

from switchboard.actors.engine import ManualClock
from switchboard.actors.start import start_engine
from switchboard.scenarios.format import ScenarioError, load_scenario
from switchboard.scenarios.runner import Observer, run_scenario

__all__ = ["run_files"]


def run_files(files: Sequence[str], runtime: str, hosts: int | None, ray_address: str | None, quiet: bool) -> int:
    observer = Observer()
    try:
        engine = start_engine(runtime, hosts=hosts, clock=ManualClock(), on_delivery=observer, ray_address=ray_address)
    except Exception as exc:  # e.g. Ray missing or failing to start
        print(f"cannot start the {runtime} runtime: {exc}", file=sys.stderr)
        return 2
    failed = errors = 0
    try:
        for path in files:
            try:
                scenario = load_scenario(path)
            except ScenarioError as exc:
                print(f"ERROR {exc}")
                errors += 1
                continue
            result = run_scenario(scenario, engine, observer)
            if result.ok:
                if not quiet:
                    print(f"PASS {path}: {scenario.name}")
                    for line in result.notes:
                        print(f"  note: {line}")
            else:
                failed += 1
                print(f"FAIL {path}: {scenario.name}")
                for line in result.failures:
                    print(f"  {line}")
                for line in result.notes:
                    print(f"  note: {line}")
    finally:
        engine.stop()
    total = len(files)
    print(f"{total - failed - errors} passed, {failed + errors} failed")
    return 1 if failed or errors else 0
