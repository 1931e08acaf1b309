"""Logins against password guessing and floods: throttled per account and per address, hashed on a pool of
their own. Real embedded Redis and store; the app driven in-process over httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Literal

import httpx
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from starlette.applications import Starlette

from switchboard.actors.start import start_engine
from switchboard.edges.auth import Passwords
from switchboard.edges.rest.api import rest_routes
from switchboard.settings import ServerSettings
from switchboard.store.documents import User
from tests.edges.conftest import CHEAP_PASSWORDS

SECRET = "a-test-secret-of-at-least-32-characters"
EMAIL, PASSWORD = "ann@example.com", "ann-password"


class _SlowHasher(PasswordHasher):
    """The cheapest argon2, made to take `delay` seconds, counting how many run at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.delay, self.running, self.most = delay, 0, 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def _world(redis_url: str, passwords: Passwords, body: Callable[[httpx.AsyncClient], Awaitable[None]],
                 address: str = "203.0.113.7", **settings: Any) -> None:
    engine = start_engine("inline", tune_gc=False)
    redis = aioredis.Redis.from_url(redis_url)
    app = Starlette(routes=rest_routes(passwords=passwords))
    app.state.services = SimpleNamespace(engine=engine, redis=redis, settings=ServerSettings.from_mapping(settings),
                                         secret=SECRET)
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await body(client)
    finally:
        await redis.aclose()
        engine.stop()


@pytest.fixture
def ann(store: str) -> str:
    User(id="a-0000000a", roles=["agent"], email=EMAIL, password_hash=CHEAP_PASSWORDS.hash(PASSWORD),
         saturation=3, created_at=datetime.now(timezone.utc)).save(force_insert=True)
    return EMAIL


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


def test_the_right_password_waits_after_too_many_wrong_ones_and_works_once_the_wait_is_over(
        ann: str, redis_url: str) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        for _ in range(4):  # three free failures, and the fourth makes the account wait
            assert (await _login(client, ann, "wrong-password")).status_code == 401
        refused = await _login(client, ann, PASSWORD)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "login_throttled"
        assert refused.headers["retry-after"] == "1"
        await asyncio.sleep(0.6)
        assert (await _login(client, ann, PASSWORD)).status_code == 200
        assert (await _login(client, ann, "wrong-password")).status_code == 401  # a success forgot the failures

    asyncio.run(_world(redis_url, CHEAP_PASSWORDS, body, login_free_failures=3, login_delay_s=0.5))


def test_the_waits_double_with_each_further_failure(ann: str, redis_url: str) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        waits = []
        for _ in range(3):
            while (answer := await _login(client, ann, "wrong-password")).status_code == 401:
                pass
            assert answer.status_code == 429
            waits.append(int(answer.headers["retry-after"]))
            await asyncio.sleep(waits[-1])
        assert waits == sorted(waits) and waits[-1] >= 2  # 0.4, 0.8, 1.6 s (less the time a try takes), rounded up

    asyncio.run(_world(redis_url, CHEAP_PASSWORDS, body, login_free_failures=1, login_delay_s=0.4))


def test_one_address_guessing_at_many_accounts_is_throttled(store: str, redis_url: str) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        for i in range(6):  # five free failures, and the sixth makes the address wait
            assert (await _login(client, f"nobody{i}@example.com", "guess-password")).status_code == 401
        refused = await _login(client, "nobody-else@example.com", "guess-password")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "login_throttled"

    asyncio.run(_world(redis_url, CHEAP_PASSWORDS, body, login_address_free_failures=5))


def test_a_login_flood_hashes_on_its_own_small_pool_and_what_overflows_its_queue_is_refused_at_once(
        store: str, redis_url: str) -> None:
    hasher = _SlowHasher(0.5)  # long enough for all twelve to arrive while the first two still hash
    passwords = Passwords(hasher, workers=2, queue=4)

    async def body(client: httpx.AsyncClient) -> None:
        answers = await asyncio.gather(*[_login(client, f"flood{i}@example.com", "guess-password")
                                         for i in range(12)])
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 6 + [503] * 6  # two hashing, four waiting, the rest refused
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.json()["error"]["code"] == "logins_busy" and busy.headers["retry-after"] == "1"

    asyncio.run(_world(redis_url, passwords, body, login_address_free_failures=1000))
    assert hasher.most == 2


def test_an_unknown_email_costs_a_full_password_check(store: str, redis_url: str, ann: str) -> None:
    hasher = _SlowHasher(0.2)

    async def body(client: httpx.AsyncClient) -> None:
        for email in (ann, "nobody@example.com"):
            started = time.monotonic()
            assert (await _login(client, email, "wrong-password")).status_code == 401
            assert time.monotonic() - started >= 0.2

    asyncio.run(_world(redis_url, Passwords(hasher), body))
