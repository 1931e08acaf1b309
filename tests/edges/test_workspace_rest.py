"""The workspace's REST (directory, visitor details) against a real embedded store and Redis, via TestClient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Iterator

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from switchboard.edges.rest.api import OPENAPI, rest_routes
from switchboard.edges.rest.workspace import workspace_routes
from switchboard.settings import ServerSettings
from switchboard.store.documents import Conversation, SkillGroup, User, Visitor
from tests.edges.conftest import CHEAP_PASSWORDS

SECRET = "a-test-secret-of-at-least-32-characters"
PASSWORD = "some-password"
VISITOR = "v-0c9d8e7f6a5b4c3d"


@dataclass
class Desk:
    client: TestClient
    redis: redis.Redis

    def user(self, user_id: str, role: str = "agent", nickname: str = "", groups: tuple[str, ...] = ()) -> str:
        """Store a user and log them in; their token."""
        email = f"{user_id}@example.com"
        User(id=user_id, roles=[role], email=email, nickname=nickname, groups=list(groups),
             password_hash=CHEAP_PASSWORDS.hash(PASSWORD), created_at=datetime.now(timezone.utc)).save()
        response = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def get(self, path: str, token: str | None = None) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})

    def open_conversation(self, conv: str, visitor: str, agent: str, participants: tuple[str, ...] = ()) -> None:
        """What the relay writes for an open conversation and the visitor socket for its visitor."""
        self.redis.hset(f"sb:conv:{conv}", mapping={"visitor": visitor, "phase": "assigned", "agent": agent,
                                                    "participants": orjson.dumps([*participants, agent])})
        self.redis.hset(f"sb:visitor:{visitor}", "conv", conv)


@pytest.fixture
def desk(store: str, redis_url: str, sync_redis: redis.Redis) -> Iterator[Desk]:
    aredis = aioredis.Redis.from_url(redis_url)
    app = Starlette(routes=[*rest_routes(passwords=CHEAP_PASSWORDS), *workspace_routes()])
    app.state.services = SimpleNamespace(engine=None, redis=aredis, settings=ServerSettings(), secret=SECRET)
    with TestClient(app) as client:
        yield Desk(client, sync_redis)
        assert client.portal is not None
        client.portal.call(aredis.aclose)


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


# --- directory ------------------------------------------------------------------------------------


def test_an_agent_reads_the_directory_of_colleagues_and_groups_without_their_emails(desk: Desk) -> None:
    SkillGroup(id="billing", name="Billing").save()
    SkillGroup(id="support", name="Support").save()
    token = desk.user("a-00000001", nickname="Sam", groups=("support",))
    desk.user("a-00000002", nickname="Ann", groups=("billing", "support"))
    desk.user("u-boss", role="admin", nickname="Boss")

    response = desk.get("/api/directory", token)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "agents": [{"id": "a-00000002", "nickname": "Ann", "groups": ["billing", "support"]},
                   {"id": "a-00000001", "nickname": "Sam", "groups": ["support"]}],
        "groups": [{"id": "billing", "name": "Billing"}, {"id": "support", "name": "Support"}]}
    assert "@example.com" not in response.text and "hash" not in response.text


def test_the_directory_needs_a_live_session(desk: Desk) -> None:
    _error(desk.get("/api/directory"), 401, "token_missing")
    _error(desk.get("/api/directory", "not-a-token"), 401, "token_invalid")
    token = desk.user("a-00000001")
    assert desk.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    _error(desk.get("/api/directory", token), 401, "session_ended")


# --- visitor details ------------------------------------------------------------------------------


def test_the_agent_serving_a_visitor_reads_the_details_their_widget_reported(desk: Desk) -> None:
    token = desk.user("a-00000001")
    desk.open_conversation("c-1", VISITOR, "a-00000001")
    desk.redis.hset(f"sb:visitor:{VISITOR}", mapping={"channel": "widget", "page": "https://shop.example/cart",
                                                       "email": "ada@example.org", "name": "Ada"})

    response = desk.get(f"/api/visitors/{VISITOR}", token)

    assert response.status_code == 200, response.text
    assert response.json() == {"id": VISITOR, "channel": "widget", "page": "https://shop.example/cart",
                               "email": "ada@example.org", "name": "Ada", "conversation": "c-1"}


def test_details_missing_from_redis_come_from_the_stored_visitor(desk: Desk) -> None:
    token = desk.user("a-00000001")
    desk.open_conversation("c-1", VISITOR, "a-00000001")
    desk.redis.hset(f"sb:visitor:{VISITOR}", "page", "https://shop.example/new")
    Visitor(id=VISITOR, email="old@example.org", name="Ada", channel="email", page="https://shop.example/old").save()

    details = desk.get(f"/api/visitors/{VISITOR}", token).json()

    assert (details["channel"], details["page"], details["email"], details["name"]) == (
        "email", "https://shop.example/new", "old@example.org", "Ada")


def test_an_agent_who_served_an_earlier_conversation_of_the_visitor_may_still_read_them(desk: Desk) -> None:
    token = desk.user("a-00000001")
    Visitor(id=VISITOR, email="ada@example.org").save()
    Conversation(id="c-old", visitor=VISITOR, phase="closed", agent="a-00000002",
                 participants=["a-00000001", "a-00000002"]).save()

    response = desk.get(f"/api/visitors/{VISITOR}", token)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada@example.org" and response.json()["conversation"] is None


def test_an_agent_who_was_handed_the_open_conversation_earlier_may_read_the_visitor(desk: Desk) -> None:
    token = desk.user("a-00000001")
    desk.open_conversation("c-1", VISITOR, "a-00000002", participants=("a-00000001",))
    desk.redis.hset(f"sb:visitor:{VISITOR}", "email", "ada@example.org")
    assert desk.get(f"/api/visitors/{VISITOR}", token).json()["email"] == "ada@example.org"


def test_an_agent_with_no_conversation_of_the_visitor_is_refused_whether_or_not_the_visitor_exists(
        desk: Desk) -> None:
    token = desk.user("a-00000001")
    desk.open_conversation("c-1", VISITOR, "a-00000002")
    desk.redis.hset(f"sb:visitor:{VISITOR}", "email", "ada@example.org")
    Conversation(id="c-old", visitor=VISITOR, phase="closed", agent="a-00000002", participants=["a-00000002"]).save()

    refused = desk.get(f"/api/visitors/{VISITOR}", token)
    _error(refused, 403, "forbidden")
    assert "ada@" not in refused.text
    _error(desk.get("/api/visitors/v-ffffffffffffffff", token), 403, "forbidden")
    _error(desk.get("/api/visitors/not-a-visitor", token), 403, "forbidden")
    _error(desk.get(f"/api/visitors/{VISITOR}"), 401, "token_missing")


def test_an_admin_reads_any_visitor_and_gets_404_for_an_unknown_one(desk: Desk) -> None:
    token = desk.user("u-boss", role="admin")
    Visitor(id=VISITOR, name="Ada", channel="widget").save()

    assert desk.get(f"/api/visitors/{VISITOR}", token).json()["name"] == "Ada"
    _error(desk.get("/api/visitors/v-ffffffffffffffff", token), 404, "not_found")
    _error(desk.get("/api/visitors/not-a-visitor", token), 404, "not_found")


def test_the_openapi_description_lists_the_workspace_routes(desk: Desk) -> None:
    paths = desk.get("/api/openapi.json").json()["paths"]
    assert paths["/api/directory"]["get"]["security"] == [{"bearer": []}]
    assert "403" in paths["/api/visitors/{visitor}"]["get"]["responses"]
    assert {"Directory", "VisitorDetails"} <= set(OPENAPI["components"]["schemas"])
