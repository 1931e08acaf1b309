"""The serve process's supervision of its edges, with stand-in edge processes (no Ray, no sockets)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from switchboard.actors.address import Address
from switchboard.actors.messages import Message
from switchboard.processes import multiedge
from switchboard.processes.multiedge import _Edge, _Supervisor


class _NoRedis:
    """The supervisor forgets only edges that reported an id; these never do."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Redis used: {name}")


def _no_redis() -> aioredis.Redis:
    return cast(aioredis.Redis, _NoRedis())


class _Engine:
    """A stand-in for the Ray engine: whole until told otherwise."""

    failure: str | None = None

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None:
        raise AssertionError(f"the engine was sent {message!r} for {to}")


def _sleeper(index: int) -> _Edge:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    read, write = os.pipe()
    os.close(write)
    return _Edge(index, proc, read, time.monotonic())


def test_when_the_engine_breaks_serve_stops_its_edges_and_exits_1_with_an_error_saying_why(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(multiedge, "POLL_S", 0.02)
    engine = _Engine()

    async def scenario() -> tuple[int, float, list[_Edge]]:
        supervisor = _Supervisor(_sleeper, 2, _no_redis(), engine)
        edges = [e for e in supervisor.edges if e]
        asyncio.get_running_loop().call_later(0.3, setattr, engine, "failure", "ray host 1 closed its stream")
        started = time.monotonic()
        code = await supervisor.run(asyncio.Event())
        took = time.monotonic() - started
        await supervisor.stop()
        return code, took, edges

    with caplog.at_level(logging.ERROR, logger="switchboard.processes.multiedge"):
        code, took, edges = asyncio.run(scenario())

    assert code == 1 and took < 2
    assert all(e.proc.poll() is not None for e in edges)  # stopped, as serve's own stop does
    assert "the engine cannot go on: ray host 1 closed its stream" in caplog.text


def test_an_edge_that_keeps_dying_is_started_again_ever_more_slowly_with_an_error_and_the_other_serves_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(multiedge, "RESTART_GAP_S", 0.2)
    monkeypatch.setattr(multiedge, "POLL_S", 0.02)
    starts: dict[int, list[float]] = {0: [], 1: []}
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(index: int) -> _Edge:
        code = "import time; time.sleep(60)" if index == 0 else "raise SystemExit(3)"  # edge 1 dies at once
        proc = subprocess.Popen([sys.executable, "-c", code])
        procs.append(proc)
        read, write = os.pipe()
        os.close(write)
        starts[index].append(time.monotonic())
        return _Edge(index, proc, read, time.monotonic())

    async def scenario() -> None:
        supervisor = _Supervisor(spawn, 2, _no_redis(), _Engine())
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        await supervisor.run(stop)
        await supervisor.stop()

    try:
        with caplog.at_level(logging.WARNING, logger="switchboard.processes.multiedge"):
            asyncio.run(scenario())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

    gaps = [b - a for a, b in zip(starts[1], starts[1][1:])]
    assert len(starts[0]) == 1  # the healthy edge was never touched
    assert 3 <= len(starts[1]) <= 5, gaps  # 0.2 s, then 0.2, 0.4, 0.8 ... apart: not a busy loop
    assert all(later > earlier for earlier, later in zip(gaps[1:], gaps[2:])), gaps
    assert "exited unexpectedly (status 3)" in caplog.text
    assert "edge 1 keeps dying" in caplog.text
