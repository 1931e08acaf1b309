"""A socket that takes nothing: it costs only itself, never another socket's frames (a real server, real sockets)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Iterator

import orjson
import pytest
from starlette.websockets import WebSocketState
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from switchboard.actors.address import UserRef
from switchboard.edges.delivery import sockets
from switchboard.edges.delivery.sockets import Connection, Sockets, TokenBucket
from tests.server.conftest import Backends, Client, Server, free_port, make_config, visitor

ROUNDS = 700  # 5.6 MB to each stalled socket: past the kernel's (4 MB at most here) and the transport's buffers
BIG = "x" * 7900  # near the 8000-character limit


@pytest.fixture
def server(store: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    # a frame that waits this long for room in its socket ends the socket (10 s in production)
    monkeypatch.setattr(sockets, "SEND_TIMEOUT_S", 1.0, raising=False)
    srv = Server(make_config(Backends(tmp_path, redis_url, store), rate_limit_per_s=1000, rate_limit_burst=2000),
                 free_port()).start()
    yield srv
    srv.stop()


def never_reading(server: Server, token: str) -> tuple[ClientConnection, socket.socket]:
    """A visitor socket with a tiny receive buffer whose client reads nothing (until the test says so)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    conn = connect(f"ws://127.0.0.1:{server.port}/ws/visitor", sock=raw, max_queue=1, open_timeout=10,
                   max_size=None)
    conn.send(orjson.dumps({"type": "hello", "token": token}).decode())
    return conn, raw


def close_code(conn: ClientConnection, within: float) -> int | None:
    """Read everything the server sent until it closes; the code of its close frame (None: no close frame)."""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            conn.recv(timeout=deadline - time.monotonic())
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    except TimeoutError:
        pass
    raise AssertionError(f"the socket was still open after {within} s")


def test_a_visitor_whose_sockets_never_read_holds_up_no_one_else_and_is_closed_1013(server: Server) -> None:
    talker = Client(server.ws("/ws/visitor", max_queue=None))  # reads everything the server sends it
    talker.send("hello")
    token = talker.wait("welcome")["token"]
    stalled = [never_reading(server, token) for _ in range(3)]
    try:
        for n in range(ROUNDS):  # every message the visitor says goes to all their sockets: about 5.6 MB to each
            talker.send("message", client_id=f"big-{n}", text=BIG)
            if n % 50 == 49:
                time.sleep(0.05)
        time.sleep(0.5)

        other, _ = visitor(server)
        started = time.monotonic()
        other.send("message", client_id="hi", text="is anyone there?")
        ack = other.wait("ack", client_id="hi", timeout=2.0)
        assert ack["seq"] == 1 and time.monotonic() - started < 2.0

        assert [close_code(conn, within=15) for conn, _ in stalled] == [sockets.CLOSE_TOO_SLOW] * 3 == [1013] * 3
    finally:
        for conn, raw in stalled:
            raw.close()  # unread data: a reset, which frees the server's side at once
            conn.close_socket()
        talker.close()


class FakeSocket:
    """A websocket with no transport to look at (so every frame takes the writer) that takes frames while `open`."""

    def __init__(self, taking: bool) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.taking = asyncio.Event()
        if taking:
            self.taking.set()
        self.got: list[int] = []
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        await self.taking.wait()
        self.got.append(orjson.loads(text)["n"])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code
        self.application_state = WebSocketState.DISCONNECTED


def test_delivery_waits_on_no_socket_each_keeps_its_order_and_one_that_takes_nothing_is_closed_1013(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "SEND_TIMEOUT_S", 0.3, raising=False)

    async def scenario() -> tuple[FakeSocket, FakeSocket, float]:
        edge = Sockets(None)  # type: ignore[arg-type]  # no Redis: these frames never need healing
        stuck, fine = FakeSocket(taking=False), FakeSocket(taking=True)
        bucket = TokenBucket(20, 40)
        for n, ws in enumerate((stuck, fine)):
            conn = Connection(ws, UserRef.visitor(f"v{n}"), f"c{n}", bucket)  # type: ignore[arg-type]
            edge.add(conn)
            await edge.release(conn)
        started = time.monotonic()
        for n in range(50):
            await asyncio.wait_for(edge.receive([["u", "visitor:v0", {"type": "typing", "n": n}],
                                                 ["u", "visitor:v1", {"type": "typing", "n": n}]]), 1)
        waited = time.monotonic() - started
        for _ in range(30):
            await asyncio.sleep(0.05)
        return stuck, fine, waited

    stuck, fine, waited = asyncio.run(scenario())
    assert waited < 0.5
    assert fine.got == list(range(50))
    assert stuck.got == [] and stuck.closed_with == 1013
