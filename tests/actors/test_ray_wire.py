"""The Ray hosts' own streams: frames survive any split, and only the engine's own processes are heard."""

from __future__ import annotations

import pickle
import socket
import time

import pytest

from switchboard.actors import wire
from switchboard.actors.address import Address
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


def _roundtrip(obj: object) -> list[object]:
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
    assert wire.hello_ok(b"not a pickle", "s3cret") is None
    assert wire.hello_ok(pickle.dumps(["s3cret"]), "s3cret") is None


def test_a_stranger_without_the_secret_is_cut_off_and_the_engine_keeps_working() -> None:
    ray = pytest.importorskip("ray")
    h = harness_for("ray").fresh()
    host, port, _ = ray.get(h.engine._actors[0].endpoint.remote())
    with socket.create_connection((host, port)) as stranger:
        stranger.sendall(wire.hello("guess", "stranger", True))
        stranger.sendall(wire.frame([Address.queue("evil")]))  # would be filed if the hello were taken
        stranger.settimeout(10)
        assert stranger.recv(1) == b""  # the host hung up
    h.engine.send(Address.queue("sales"), CreateGroup())
    assert h.engine.wait_quiet(10)
    assert h.inspect(Address.queue("sales")) is not None
    assert h.inspect(Address.queue("evil")) is None


def test_a_stranger_whose_first_frame_is_huge_is_cut_off_before_it_is_read() -> None:
    ray = pytest.importorskip("ray")
    h = harness_for("ray").fresh()
    host, port, _ = ray.get(h.engine._actors[1].endpoint.remote())
    with socket.create_connection((host, port)) as stranger:
        stranger.sendall((wire.MAX_HELLO + 1).to_bytes(4, "big"))
        stranger.settimeout(10)
        started = time.monotonic()
        assert stranger.recv(1) == b""
        assert time.monotonic() - started < 10
