"""Fixtures: `engine_harness` runs a test on every runtime (inline, local Pykka, Ray).

Engines are started once per test session and reset (fresh world, clock at 0)
for every test; the Ray one starts a local Ray cluster the first time it is used.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from switchboard.actors.engine import ManualClock
from switchboard.actors.start import start_engine
from tests.harness import Harness, Recorder

pytest_plugins = ["tests.store_fixtures"]  # mongo_uri and store, for tests/store, tests/llm and others

# Servers a test starts in its own process count their report aggregates in a thread: a child process each would
# add a second of start-up to every one. tests/store/test_report_process.py and the served processes of
# tests/server/test_processes.py run the child process, as `serve` does by default.
os.environ.setdefault("SWITCHBOARD_REPORT_KEEPER", "thread")

RUNTIMES = ["inline", "local", "ray"]
_engines: dict[str, Harness] = {}


def harness_for(runtime: str) -> Harness:
    """The session's engine for `runtime`, started on first use (for tests that need their own loop)."""
    return _harness(runtime)


def _harness(runtime: str) -> Harness:
    if runtime not in _engines:
        if runtime == "ray":
            pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]')")
        recorder = Recorder()
        engine = start_engine(runtime, clock=ManualClock(0.0), on_delivery=recorder)
        _engines[runtime] = Harness(engine, recorder)
    return _engines[runtime]


@pytest.fixture(params=RUNTIMES)
def engine_harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A fresh world on each runtime in turn (default dispatch settings; call .fresh(settings) to change)."""
    yield _harness(request.param).fresh()


@pytest.fixture(scope="session", autouse=True)
def _stop_engines() -> Iterator[None]:
    yield
    for harness in _engines.values():
        harness.engine.stop()
    _engines.clear()
    if "ray" in os.environ.get("SWITCHBOARD_KEEP_RAY", ""):
        return
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except ImportError:
        pass
