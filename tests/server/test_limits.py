"""Connection limits on a real server: the guarded uvicorn configuration serve runs (processes/graceful.py).

Each test starts its own server with small limits, so a flood takes tens of connections, not thousands,
and a timeout takes a second or two; the defaults are checked against the issue's figures separately.
Clients are raw TCP sockets (a request head sent halfway), websockets and httpx, all on loopback;
127.0.0.2 is another client address on the same machine.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from contextlib import ExitStack
from typing import Any, Iterator

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from switchboard.edges import codes
from switchboard.edges.app import create_app
from switchboard.edges.limits import CLOSE_TOO_MANY
from switchboard.processes.graceful import GracefulServer, fd_budget, server_config
from switchboard.settings import ServerSettings
from tests.netcut import NetCut
from tests.server.conftest import Backends, free_port, make_config


class GuardedServer:
    """The app under the configuration serve uses (server_config), in a thread with its own loop."""

    def __init__(self, backends: Backends, **settings: Any) -> None:
        config = make_config(backends, **settings)
        self.port = free_port()
        self.app = create_app(config)
        self.server = GracefulServer(server_config(self.app, config.settings, "warning", "127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def sockets(self) -> int:
        return len(self.app.state.services.sockets)

    def healthz(self, source: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=5) as client:
            return client.get(f"http://127.0.0.1:{self.port}/healthz")

    def tcp(self, source: str = "127.0.0.1") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(source, 0))
        return sock

    def visitor(self, **headers: str) -> Any:
        ws = connect(f"ws://127.0.0.1:{self.port}/ws/visitor", open_timeout=5, additional_headers=headers)
        with contextlib.suppress(ConnectionClosed):  # a refused socket may be closed before its hello
            ws.send(orjson.dumps({"type": "hello", "v": 1}).decode())
        return ws


@pytest.fixture
def start(backends: Backends) -> Iterator[Any]:
    servers: list[GuardedServer] = []

    def starter(**settings: Any) -> GuardedServer:
        servers.append(GuardedServer(backends, **settings))
        return servers[-1]

    yield starter
    for srv in servers:
        srv.stop()


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closed `sock` (read returns nothing or the connection resets)."""
    began = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {limit} s")
    return time.monotonic() - began


def frames_until_close(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    frames = []
    try:
        while True:
            frames.append(orjson.loads(ws.recv(timeout=5)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


# --- the defaults -------------------------------------------------------------------------------------


def test_the_defaults_close_a_half_sent_head_within_10s_and_notice_a_dead_network_within_15s() -> None:
    settings = ServerSettings()
    assert settings.request_head_timeout_s <= 10
    assert 10 <= settings.ws_ping_interval_s + settings.ws_ping_timeout_s <= 15


def test_the_connection_budget_stays_below_the_open_file_limit() -> None:
    import resource

    budget = fd_budget()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY  # raised to the hard limit
    assert 0 < budget <= soft - 256


# --- slow request heads (slowloris) -------------------------------------------------------------------


def test_a_half_sent_websocket_handshake_is_closed_after_the_head_timeout(start: Any) -> None:
    srv = start(request_head_timeout_s=1.5)
    with srv.tcp() as sock:
        sock.sendall(b"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        assert 1.0 < closed_after(sock, 10) < 4.0


def test_a_head_dripped_one_byte_at_a_time_is_closed_after_the_head_timeout(start: Any) -> None:
    srv = start(request_head_timeout_s=1.5)
    sock = srv.tcp()
    began = time.monotonic()
    with sock, pytest.raises(OSError):  # the server cut the connection: a later byte cannot be sent
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 100:
            sock.sendall(bytes([byte]))  # each byte is fresh data: a keep-alive timer alone would never fire
            time.sleep(0.2)
    assert time.monotonic() - began < 4.0, "the dripping client was not cut off"


def test_a_keep_alive_connection_answers_requests_whose_heads_arrive_in_time(start: Any) -> None:
    srv = start(request_head_timeout_s=1.5)
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=5) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(1.0)  # less than the keep-alive timeout: the same connection serves the next one


# --- how many connections -----------------------------------------------------------------------------


def test_past_the_total_limit_a_connection_gets_503_and_the_server_recovers(start: Any) -> None:
    srv = start(max_connections=20, request_head_timeout_s=30)
    with ExitStack() as held:
        for _ in range(20):
            held.callback(srv.tcp(source="127.0.0.2").close)
        refused = srv.healthz()
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"
        assert refused.headers["retry-after"] == "5"
    time.sleep(0.3)
    assert srv.healthz().status_code == 200


def test_one_address_cannot_take_every_connection(start: Any) -> None:
    srv = start(max_connections_per_address=10, request_head_timeout_s=30)
    with ExitStack() as held:
        for _ in range(10):
            held.callback(srv.tcp(source="127.0.0.2").close)
        assert srv.healthz(source="127.0.0.2").status_code == 503
        assert srv.healthz(source="127.0.0.1").status_code == 200


def test_a_trusted_proxy_may_hold_more_connections_than_one_address(start: Any) -> None:
    srv = start(max_connections_per_address=3, request_head_timeout_s=30, trusted_proxies="127.0.0.0/30")
    with ExitStack() as held:
        for _ in range(5):
            held.callback(srv.tcp(source="127.0.0.2").close)
        assert srv.healthz(source="127.0.0.2").status_code == 200


def test_a_flood_of_refusals_is_logged_in_one_line_per_interval(start: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = start(max_connections_per_address=5, request_head_timeout_s=30, limits_log_interval_s=30)
    with caplog.at_level(logging.WARNING, logger="switchboard.limits"), ExitStack() as held:
        for _ in range(5):
            held.callback(srv.tcp(source="127.0.0.2").close)
        for _ in range(40):
            assert srv.healthz(source="127.0.0.2").status_code == 503
        time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.limits"]
    assert len(lines) == 1, lines
    assert "from 127.0.0.2" in lines[0]


def test_websockets_past_the_per_address_limit_are_closed_with_4029(start: Any) -> None:
    srv = start(max_sockets_per_address=3)
    welcomed = [srv.visitor() for _ in range(3)]
    for ws in welcomed:
        assert orjson.loads(ws.recv(timeout=5))["type"] == "welcome"
    frames, code = frames_until_close(srv.visitor())
    assert code == CLOSE_TOO_MANY
    assert frames[0]["code"] == codes.TOO_MANY_SOCKETS
    welcomed.pop().close()
    time.sleep(0.3)
    again = srv.visitor()
    assert orjson.loads(again.recv(timeout=5))["type"] == "welcome"  # a freed place is taken again
    for ws in [*welcomed, again]:
        ws.close()


def test_a_forged_forwarded_for_does_not_escape_the_per_address_limit(start: Any) -> None:
    srv = start(max_sockets_per_address=2)
    held = [srv.visitor(**{"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(2)]
    _, code = frames_until_close(srv.visitor(**{"X-Forwarded-For": "198.51.100.9"}))
    assert code == CLOSE_TOO_MANY
    for ws in held:
        ws.close()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(start: Any) -> None:
    srv = start(max_sockets_per_address=2, trusted_proxies="127.0.0.1")
    held = [srv.visitor(**{"X-Forwarded-For": "203.0.113.7"}) for _ in range(2)]
    _, code = frames_until_close(srv.visitor(**{"X-Forwarded-For": "203.0.113.7"}))
    assert code == CLOSE_TOO_MANY
    other = srv.visitor(**{"X-Forwarded-For": "203.0.113.8"})
    assert orjson.loads(other.recv(timeout=5))["type"] == "welcome"
    for ws in [*held, other]:
        ws.close()


# --- heartbeats -------------------------------------------------------------------------------------


def test_the_server_forgets_a_socket_whose_network_was_cut_within_ping_interval_and_timeout(start: Any) -> None:
    srv = start(ws_ping_interval_s=1.0, ws_ping_timeout_s=2.0)
    relay = NetCut(srv.port)
    try:
        ws = connect(f"ws://127.0.0.1:{relay.port}/ws/visitor", open_timeout=5)
        ws.send(orjson.dumps({"type": "hello", "v": 1}).decode())
        assert orjson.loads(ws.recv(timeout=5))["type"] == "welcome"
        before = srv.sockets
        time.sleep(2.5)
        assert srv.sockets == before, "a healthy socket answers the server's pings and stays"
        relay.cut()
        began = time.monotonic()
        while srv.sockets == before:
            assert time.monotonic() - began < 6, "the server still holds a socket whose network is gone"
            time.sleep(0.1)
        assert time.monotonic() - began <= 1.0 + 2.0 + 0.5
    finally:
        relay.close()


# --- page headers ---------------------------------------------------------------------------------


def test_the_widget_page_may_be_framed_by_the_allowed_origins_and_its_script_loaded_by_any_site(start: Any) -> None:
    srv = start(allowed_origins="https://shop.example.com")
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=5) as client:
        page = client.get("/widget")
        script = client.get("/widget.js")
        workspace = client.get("/workspace")
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'self' https://shop.example.com")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "frame-ancestors 'none'" in workspace.headers["content-security-policy"]
