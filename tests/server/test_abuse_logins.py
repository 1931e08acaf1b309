"""Password guessing against a served instance (uvicorn, real argon2id, embedded Redis and store): the right
password after a run of wrong ones waits, and what a client is told says how long (issue 17, finding 4)."""

from __future__ import annotations

import uuid

import httpx

from tests.server.conftest import Server, admin_token, api


def from_address(server: Server, address: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_forty_wrong_passwords_then_the_right_one_is_answered_429_with_retry_after(server: Server) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    created = api(server, admin_token(server)).post("/api/agents", json={"email": email, "password": "agent-password"})
    assert created.status_code == 201, created.text
    statuses = []
    with from_address(server, "127.0.0.11") as client:
        for _ in range(40):
            statuses.append(client.post("/api/auth/login", json={"email": email, "password": "wrong-password"}).status_code)
        right = client.post("/api/auth/login", json={"email": email, "password": "agent-password"})
    assert statuses[:6] == [401] * 6 and set(statuses[6:]) <= {401, 429} and 429 in statuses
    assert right.status_code == 429, right.text
    assert right.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(right.headers["retry-after"]) <= 900
