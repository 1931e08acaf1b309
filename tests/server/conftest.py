"""A real server for end-to-end tests: embedded Redis and store, the Starlette app under uvicorn.

One server per test module (start-up is a few seconds); the world inside it is
shared, so each test makes its own agents, groups and visitors with fresh ids.
Clients are real: websockets' sync client and httpx over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest
import uvicorn
from websockets.sync.client import ClientConnection, connect

from switchboard.edges.app import AppConfig, create_app
from switchboard.edges.auth import Passwords
from switchboard.settings import BotSettings, DispatchSettings, ServerSettings
from switchboard.store.embedded import EmbeddedMongo, EmbeddedRedis

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Backends:
    data_dir: Path
    redis_url: str
    mongodb_uri: str


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    data = tmp_path_factory.mktemp("sb")
    with EmbeddedRedis(str(data)) as redis_server, EmbeddedMongo(str(data)) as mongo:
        yield Backends(data, redis_server.start(), mongo.start())


class Server:
    """uvicorn running the app in a thread with its own event loop."""

    def __init__(self, config: AppConfig, port: int) -> None:
        self.config, self.port = config, port
        self.app = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws_per_message_deflate=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def services(self) -> Any:
        return self.app.state.services

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str, **kw: Any) -> ClientConnection:
        conn: ClientConnection = connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10, **kw)
        return conn

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (to inspect or poke Redis from a test)."""
        loop = self.services.hub._tasks[0].get_loop()  # the server's loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)


def make_config(backends: Backends, bot: dict[str, Any] | None = None, **settings: Any) -> AppConfig:
    """The app's configuration; the bot is off unless `bot` gives its settings (the dispatch tests talk to
    agents only), and then uses its own knowledge base directory under the session's data dir."""
    # Every test client connects from 127.0.0.1: the per-address and sync limits are lifted unless a test sets them
    # (tests/server/test_abuse_*.py).
    server = ServerSettings.from_mapping({"data_dir": str(backends.data_dir), "rate_limit_per_s": 200,
                                          "rate_limit_burst": 400, "visitor_open_per_address": 100000,
                                          "visitor_queued_per_address": 100000, "sync_rate_per_s": 200,
                                          "sync_burst": 400, **settings})
    bot_settings = BotSettings.from_mapping({"enabled": False} if bot is None else bot)
    return AppConfig(server, DispatchSettings(), backends.redis_url, backends.mongodb_uri, bot=bot_settings)


@pytest.fixture(scope="module")
def server(backends: Backends) -> Iterator[Server]:
    srv = Server(make_config(backends), free_port()).start()
    ensure_admin()
    yield srv
    srv.stop()


def forget_knowledge(backends: Backends) -> None:
    """Empty the store's knowledge collections: one store serves the session, each bot server has its own base."""
    from switchboard.store.connection import connect
    from switchboard.store.documents import KbDocument, KbEntry

    connect(backends.mongodb_uri)
    KbDocument.objects.delete()
    KbEntry.objects.delete()


def ensure_admin() -> None:
    from switchboard.store.documents import User

    if User.objects(email=ADMIN_EMAIL).first() is None:
        User(id="u-admin", roles=["admin"], email=ADMIN_EMAIL, nickname="Admin",
             password_hash=Passwords().hash(ADMIN_PASSWORD)).save()


# --- a small client vocabulary ------------------------------------------------------------------


class Client:
    """A websocket with frame helpers: send a frame, wait for a frame of some type."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.seen: list[dict[str, Any]] = []

    def send(self, type_: str, **fields: Any) -> None:
        self.conn.send(orjson.dumps({"type": type_, **fields}).decode())

    def send_raw(self, data: str | bytes) -> None:
        self.conn.send(data)

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(self.conn.recv(timeout=timeout))
        self.seen.append(frame)
        return frame

    def wait(self, type_: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {type_} frame {match or ''} within {timeout} s; saw {[f['type'] for f in self.seen[-10:]]}"
            frame = self.next(left)
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(self.next(quiet))
        return frames

    def close(self) -> None:
        self.conn.close()


def visitor(server: Server, token: str | None = None, **hello: Any) -> tuple[Client, dict[str, Any]]:
    client = Client(server.ws("/ws/visitor"))
    client.send("hello", token=token, **hello)
    return client, client.wait("welcome")


def api(server: Server, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


def login(server: Server, email: str, password: str) -> str:
    response = api(server).post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def admin_token(server: Server) -> str:
    return login(server, ADMIN_EMAIL, ADMIN_PASSWORD)


def make_agent(server: Server, group: str, saturation: int = 3, nickname: str = "Ann") -> tuple[str, str]:
    """A new agent in `group` (created if needed); returns (agent id, login token)."""
    admin = api(server, admin_token(server))
    assert admin.post("/api/groups", json={"id": group}).status_code in (201, 409)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    created = admin.post("/api/agents", json={"email": email, "password": "agent-password", "nickname": nickname,
                                              "saturation": saturation, "groups": [group]})
    assert created.status_code == 201, created.text
    return created.json()["id"], login(server, email, "agent-password")


def agent_socket(server: Server, token: str, **hello: Any) -> tuple[Client, dict[str, Any]]:
    client = Client(server.ws("/ws/agent"))
    client.send("hello", token=token, **hello)
    return client, client.wait("welcome")


def group_name() -> str:
    return f"g{uuid.uuid4().hex[:8]}"


@dataclass
class Chat:
    """A visitor talking with an agent about `conv`."""

    guest: Client
    guest_token: str
    agent: Client
    agent_token: str
    conv: str


def chat(server: Server) -> Chat:
    group = group_name()
    _, token = make_agent(server, group)
    agent, _ = agent_socket(server, token)
    agent.send("presence", presence="online")
    guest, hello = visitor(server)
    guest.send("request_human", group=group)
    conv = agent.wait("conversation_assigned")["conversation"]
    guest.wait("assigned")
    return Chat(guest, hello["token"], agent, token, conv)
