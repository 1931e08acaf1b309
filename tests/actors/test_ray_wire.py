"""The Ray hosts' own streams: frames survive any split, and only the engine's own processes are heard."""

from __future__ import annotations

import pickle
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from switchboard.actors import wire
from switchboard.actors.address import Address, host_for
from switchboard.actors.engine import ManualClock
from switchboard.actors.engine import Engine
from switchboard.actors.ray_runtime import RayEngine
from switchboard.actors.start import start_engine
from switchboard.actors.hostcore import Envelope
from switchboard.actors.messages import CreateGroup
from tests.conftest import harness_for


class Local:  # a class pickle finds by name
    def __init__(self, n: int) -> None:
        self.n = n


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    left, right = socket.socketpair()
    reader = wire.FrameReader(right)
    stream = b"".join(wire.frame([i, "x" * i]) for i in range(50))
    got: list[object] = []
    with left, right:
        for cut in range(0, len(stream), 7):  # 7-byte pieces cut through lengths and payloads alike
            left.sendall(stream[cut:cut + 7])
            frames = reader.feed()
            assert frames is not None
            got += frames
    assert got == [[i, "x" * i] for i in range(50)]


def test_a_closed_stream_reads_as_none() -> None:
    left, right = socket.socketpair()
    left.close()
    with right:
        assert wire.FrameReader(right).feed() is None


def test_a_class_defined_inside_a_function_still_travels() -> None:
    class Inner:
        def __init__(self) -> None:
            self.n = 3

    (back,) = _roundtrip(Inner())
    assert back.n == 3 and _roundtrip(Local(4))[0].n == 4


def _roundtrip(obj: object) -> list[Any]:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(wire.frame(obj))
        frames = wire.FrameReader(right).feed()
    assert frames is not None
    return frames


def test_a_hello_is_accepted_only_with_the_secret() -> None:
    raw = wire.hello("s3cret", "driver-1", True)[4:]
    assert wire.hello_ok(raw, "s3cret") == {"secret": "s3cret", "sender": "driver-1", "sink": True}
    assert wire.hello_ok(raw, "other") is None
    assert wire.hello_ok(b"not json", "s3cret") is None
    assert wire.hello_ok(b'["s3cret"]', "s3cret") is None


class Planted:
    """A pickle that acts when it is loaded: what a stranger would send instead of a hello."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_a_pickled_hello_is_never_loaded(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    assert wire.hello_ok(pickle.dumps(Planted(str(planted))), "s3cret") is None
    assert not planted.exists()


def test_a_stranger_without_the_secret_is_cut_off_and_the_engine_keeps_working(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    h = harness_for("ray").fresh()
    evil = next(f"evil{i}" for i in range(1000) if host_for(Address.queue(f"evil{i}"), h.engine.hosts) == 0)
    host, port, _ = ray.get(ray_hosts(h.engine)[0].endpoint.remote())
    planted = tmp_path / "planted"
    for first in (wire.hello("guess", "stranger", True), wire.frame(Planted(str(planted)))):
        with socket.create_connection((host, port)) as stranger:
            stranger.sendall(first)
            stranger.sendall(wire.frame([Envelope(Address.queue(evil), CreateGroup(), 0.0)]))  # filed, were the hello taken
            stranger.settimeout(10)
            assert stranger.recv(1) == b""  # the host hung up
    h.engine.send(Address.queue("sales"), CreateGroup())
    assert h.engine.wait_quiet(10)
    assert h.inspect(Address.queue("sales")) is not None
    assert h.inspect(Address.queue(evil)) is None
    assert not planted.exists()


def test_a_stranger_whose_first_frame_is_huge_is_cut_off_before_it_is_read() -> None:
    ray = pytest.importorskip("ray")
    h = harness_for("ray").fresh()
    host, port, _ = ray.get(ray_hosts(h.engine)[1].endpoint.remote())
    with socket.create_connection((host, port)) as stranger:
        stranger.sendall((wire.MAX_HELLO + 1).to_bytes(4, "big"))
        stranger.settimeout(10)
        started = time.monotonic()
        assert stranger.recv(1) == b""
        assert time.monotonic() - started < 10


def test_what_an_attached_engine_sends_is_handled_and_the_owner_still_sees_quiet() -> None:
    pytest.importorskip("ray")
    from switchboard.actors.ray_runtime import attach_ray_engine

    owner = start_engine("ray", hosts=2, clock=ManualClock(0.0), named=True)
    try:
        edge = attach_ray_engine(2, None)
        try:
            for i in range(20):
                edge.send(Address.queue(f"g{i}"), CreateGroup())
            assert edge.wait_quiet(10)
        finally:
            edge.stop()
        assert owner.wait_quiet(10)
        assert all(owner.inspect(Address.queue(f"g{i}")) is not None for i in range(20))
    finally:
        owner.stop()


def test_a_dead_host_loses_only_its_own_messages_and_the_engine_says_it_cannot_go_on() -> None:
    ray = pytest.importorskip("ray")
    engine = start_engine("ray", hosts=2, clock=ManualClock(0.0))
    try:
        # A host whose node vanishes without closing its stream is found by the kernel's keepalive probes.
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) for s in engine._socks)  # type: ignore[attr-defined]
        assert engine.failure is None
        on = [[f"g{i}" for i in range(200) if host_for(Address.queue(f"g{i}"), 2) == k][:5] for k in (0, 1)]
        ray.kill(ray_hosts(engine)[1])
        time.sleep(1)
        assert engine.failure is not None and "ray host 1" in engine.failure  # serve stops on this (multiedge)
        for dead, live in zip(*reversed(on)):  # each flush carries a message for the dead host, then the live one
            engine.send(Address.queue(dead), CreateGroup())
            engine.send(Address.queue(live), CreateGroup())
            time.sleep(0.2)
        assert [engine.inspect(Address.queue(g)) is not None for g in on[0]] == [True] * 5
    finally:
        engine.stop()


def test_a_host_that_cannot_be_written_to_loses_its_batch_and_the_engine_says_it_cannot_go_on() -> None:
    pytest.importorskip("ray")
    engine = start_engine("ray", hosts=2, clock=ManualClock(0.0))
    live_stream = engine._socks[1]  # type: ignore[attr-defined]
    try:
        on = [[f"g{i}" for i in range(200) if host_for(Address.queue(f"g{i}"), 2) == k][:3] for k in (0, 1)]
        broken = socket.socket()
        broken.close()  # a real socket whose every write fails, as one to a host that takes nothing any more
        engine._socks[1] = broken  # type: ignore[attr-defined]
        for dead, live in zip(on[1], on[0]):
            engine.send(Address.queue(dead), CreateGroup())
            engine.send(Address.queue(live), CreateGroup())
            time.sleep(0.2)
        assert engine.failure is not None and "ray host 1 is unreachable" in engine.failure
        assert [engine.inspect(Address.queue(g)) is not None for g in on[0]] == [True] * 3  # the other host got its own
    finally:
        engine._socks[1] = live_stream  # type: ignore[attr-defined]
        engine.stop()


def test_a_host_keeps_the_newest_deliveries_for_an_absent_driver_and_counts_what_it_dropped() -> None:
    from switchboard.actors.ray_runtime import Backlog

    backlog: Backlog[int] = Backlog(limit=5)
    assert backlog.add([1, 2, 3]) == 0
    assert backlog.add([4, 5, 6, 7]) == 2
    assert len(backlog) == 5
    assert backlog.take() == ([3, 4, 5, 6, 7], 2)
    assert len(backlog) == 0 and backlog.take() == ([], 0)
    assert backlog.add(list(range(12))) == 7
    assert backlog.take() == ([7, 8, 9, 10, 11], 7)


def ray_hosts(engine: Engine) -> list[Any]:
    """The Ray actor handles of a Ray engine's hosts."""
    assert isinstance(engine, RayEngine)
    return engine._actors
