"""REST against a real embedded store and Redis and an inline engine, driven through Starlette's TestClient."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import orjson
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from switchboard.actors.address import Address
from switchboard.edges.auth import CONTROL_CHANNEL, issue_token, issue_visitor_token
from switchboard.edges.rest.api import OPENAPI, api_routes, rest_routes
from switchboard.edges.rest.toolkit import make_routes, read_raw
from switchboard.settings import ServerSettings
from switchboard.store.documents import SkillGroup, User
from tests.edges.conftest import CHEAP_PASSWORDS, PASSWORD, SECRET, RestWorld, rest_app

ADMIN_EMAIL, ADMIN_PASSWORD = "boss@example.com", PASSWORD  # RestWorld.login's defaults


@dataclass
class World(RestWorld):
    redis: redis.Redis

    def agent(self, admin: str, email: str = "ann@example.com", **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/api/agents", admin, {"email": email, "password": "ann-password", **fields})
        assert response.status_code == 201, response.text
        agent: dict[str, Any] = response.json()
        return agent


@pytest.fixture
def world(store: str, redis_url: str, sync_redis: redis.Redis) -> Iterator[World]:
    User(id="adm-00000001", roles=["admin"], email=ADMIN_EMAIL, password_hash=CHEAP_PASSWORDS.hash(ADMIN_PASSWORD),
         created_at=datetime.now(timezone.utc)).save(force_insert=True)
    with rest_app(redis_url, rest_routes(passwords=CHEAP_PASSWORDS), settings=ServerSettings()) as (client, engine):
        yield World(client, engine, sync_redis)


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code, response.text


# --- login and one's own account ------------------------------------------------------------------


def test_an_admin_logs_in_and_reads_me(world: World) -> None:
    response = world.client.post("/api/auth/login", json={"email": " Boss@Example.COM ", "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == "adm-00000001" and body["user"]["roles"] == ["admin"]
    me = world.call("GET", "/api/me", body["token"])
    assert me.status_code == 200
    assert me.json() == body["user"]
    assert set(me.json()) == {"id", "roles", "supervises", "email", "nickname", "avatar_url", "phone", "saturation",
                              "groups", "created_at", "status", "must_change_password"}
    assert "argon2" not in me.text and "hash" not in me.text


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(world: World) -> None:
    wrong = world.client.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": "not-the-password"})
    unknown = world.client.post("/api/auth/login", json={"email": "nobody@example.com", "password": ADMIN_PASSWORD})
    _error(wrong, 401, "bad_credentials")
    assert wrong.content == unknown.content and wrong.status_code == unknown.status_code


@pytest.mark.parametrize("value", [{"$ne": None}, {"$gt": ""}, {"$regex": ".*"}, ["boss-password"], 1, None, True])
@pytest.mark.parametrize("field", ["email", "password"])
def test_a_login_with_a_non_string_such_as_ne_null_is_rejected_with_400_and_no_user_data(
        world: World, field: str, value: Any) -> None:
    body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, field: value}
    response = world.client.post("/api/auth/login", json=body)
    _error(response, 400, "invalid_argument")
    assert "token" not in response.text and ADMIN_EMAIL not in response.text and "adm-" not in response.text


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b'"email"', b"null", b'{"email": "a@b.c"}',
                                     b'{"email": "a@b.c", "password": "x", "extra": 1}'])
def test_a_login_body_that_is_not_the_expected_object_is_400(world: World, content: bytes) -> None:
    _error(world.call("POST", "/api/auth/login", content=content), 400, "invalid_argument")


def test_a_body_above_64_kib_is_413(world: World) -> None:
    big = orjson.dumps({"email": ADMIN_EMAIL, "password": "x" * 70_000})
    _error(world.call("POST", "/api/auth/login", content=big), 413, "payload_too_large")


def test_a_raw_body_over_its_limit_is_413_naming_the_limit_whether_its_length_is_told_or_not() -> None:
    async def echo(request: Request) -> Response:
        return Response(await read_raw(request, 1024, "the note"))

    with TestClient(Starlette(routes=make_routes([("PUT", "/echo", echo)]))) as client:
        assert client.put("/echo", content=b"x" * 1024).content == b"x" * 1024
        for content in (b"x" * 1025, iter([b"x" * 600, b"x" * 600])):  # Content-Length, then chunked
            answer = client.put("/echo", content=content)
            assert answer.status_code == 413
            assert answer.json()["error"] == {"code": "payload_too_large", "message": "the note is larger than 1 KiB"}


def test_requests_without_a_valid_token_get_401_with_the_reason(world: World) -> None:
    _error(world.call("GET", "/api/me"), 401, "token_missing")
    _error(world.client.get("/api/me", headers={"Authorization": "Basic Ym9zczpwdw=="}), 401, "token_missing")
    _error(world.call("GET", "/api/me", "nonsense"), 401, "token_invalid")
    token = world.login()
    _error(world.call("GET", "/api/me", token[:-3] + "abc"), 401, "token_invalid")
    _error(world.call("GET", "/api/me", issue_visitor_token("v-1", 60, secret=SECRET)), 401, "token_invalid")
    expired = issue_token("adm-00000001", ["admin"], 0, "s", 10, secret=SECRET, now=time.time() - 100)
    _error(world.call("GET", "/api/me", expired), 401, "token_expired")
    forged = issue_token("adm-00000001", ["admin"], 0, "made-up-sid", 60, secret=SECRET)
    _error(world.call("GET", "/api/me", forged), 401, "session_ended")


def test_logout_ends_that_token_only(world: World) -> None:
    first, second = world.login(), world.login()
    assert world.call("POST", "/api/auth/logout", first).status_code == 204
    _error(world.call("GET", "/api/me", first), 401, "session_ended")
    assert world.call("GET", "/api/me", second).status_code == 200


def test_a_password_change_ends_every_session_of_the_user(world: World) -> None:
    first, second = world.login(), world.login()
    pubsub = world.redis.pubsub()
    pubsub.subscribe(CONTROL_CHANNEL)
    pubsub.get_message(timeout=2)
    response = world.call("POST", "/api/me/password", first,
                          {"old_password": ADMIN_PASSWORD, "new_password": "a-new-password"})
    assert response.status_code == 204, response.text
    for token in (first, second):
        _error(world.call("GET", "/api/me", token), 401, "session_ended")
    message = pubsub.get_message(timeout=2)
    assert message is not None and orjson.loads(message["data"]) == {"type": "sessions_ended", "user": "adm-00000001"}
    pubsub.close()
    _error(world.client.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
           401, "bad_credentials")
    assert world.call("GET", "/api/me", world.login(password="a-new-password")).status_code == 200


def test_a_password_change_needs_the_old_password_and_a_long_enough_new_one(world: World) -> None:
    token = world.login()
    for old, new, status, code in [("wrong-password", "long-enough", 401, "bad_credentials"),
                                   (ADMIN_PASSWORD, "short", 400, "invalid_argument"),
                                   ({"$ne": None}, "long-enough", 400, "invalid_argument")]:
        response = world.call("POST", "/api/me/password", token, {"old_password": old, "new_password": new})
        _error(response, status, code)
    assert world.call("GET", "/api/me", token).status_code == 200


# --- agents -----------------------------------------------------------------------------------


def test_creating_an_agent_creates_the_dispatch_agent(world: World) -> None:
    admin = world.login()
    world.group(admin, "billing")
    agent = world.agent(admin, "Ann@Example.com", nickname="Ann", saturation=7, groups=["billing"])
    assert agent["id"].startswith("a-") and len(agent["id"]) == 10
    assert agent["email"] == "ann@example.com" and agent["roles"] == ["agent"] and agent["groups"] == ["billing"]
    entity = world.engine.inspect(Address.agent(agent["id"]))
    assert entity is not None
    assert (entity["saturation"], entity["groups"], entity["presence"]) == (7, ["billing"], "offline")
    stored = User.objects(id=agent["id"]).first()
    assert stored is not None and stored.password_hash.startswith("$argon2id$")


def test_a_created_agent_logs_in_and_is_listed_but_cannot_create_agents(world: World) -> None:
    admin = world.login()
    agent = world.agent(admin)
    assert world.agent(admin, "bob@example.com")["saturation"] == 5
    token = world.login("ann@example.com", "ann-password")
    assert world.call("GET", "/api/me", token).json()["id"] == agent["id"]
    listed = world.call("GET", "/api/agents", admin).json()
    assert [a["email"] for a in listed] == ["ann@example.com", "bob@example.com"]
    _error(world.call("POST", "/api/agents", token, {"email": "eve@example.com", "password": "eve-password"}),
           403, "forbidden")
    for method, path in [("GET", "/api/agents"), ("GET", "/api/groups"), ("POST", "/api/groups"),
                         ("PATCH", f"/api/agents/{agent['id']}"),
                         ("PUT", f"/api/groups/g/members/{agent['id']}")]:
        _error(world.call(method, path, token, {"id": "g"}), 403, "forbidden")


def test_a_duplicate_email_is_a_409(world: World) -> None:
    admin = world.login()
    world.agent(admin)
    response = world.call("POST", "/api/agents", admin, {"email": "ANN@example.com", "password": "other-password"})
    _error(response, 409, "conflict")
    response = world.call("POST", "/api/agents", admin, {"email": ADMIN_EMAIL, "password": "other-password"})
    _error(response, 409, "conflict")
    assert User.objects(roles="agent").count() == 1


@pytest.mark.parametrize("fields", [
    {"email": "not-an-email"}, {"email": {"$ne": None}}, {"email": ["ann@example.com"]},
    {"email": "a\u0000@example.com"}, {"password": "short"}, {"password": 12345678}, {"password": {"$ne": None}},
    {"nickname": {"first": "Ann"}}, {"nickname": "An\nn"}, {"nickname": "a\u0000b"}, {"saturation": 0}, {"saturation": 1001}, {"saturation": True},
    {"saturation": "5"}, {"saturation": 5.0}, {"groups": "billing"}, {"groups": [{"$ne": None}]},
    {"groups": ["Not A Slug"]}, {"groups": ["nowhere"]}, {"role": "admin"},
])
def test_an_agent_with_a_bad_field_is_400_and_not_created(world: World, fields: dict[str, Any]) -> None:
    admin = world.login()
    body = {"email": "ann@example.com", "password": "ann-password", **fields}
    _error(world.call("POST", "/api/agents", admin, body), 400, "invalid_argument")
    assert User.objects(roles="agent").count() == 0


def test_an_agents_nickname_is_trimmed_and_may_be_blank_which_means_none(world: World) -> None:
    admin = world.login()
    named = world.call("POST", "/api/agents", admin, {"email": "ann@example.com", "password": "ann-password",
                                                      "nickname": "  Ann  "}).json()
    unnamed = world.call("POST", "/api/agents", admin, {"email": "bob.smith@example.com",
                                                        "password": "bob-password"}).json()
    blank = world.call("POST", "/api/agents", admin, {"email": "cid@example.com", "password": "cid-password",
                                                      "nickname": " \u200b "}).json()

    assert (named["nickname"], unnamed["nickname"], blank["nickname"]) == ("Ann", "", "")
    assert world.call("PATCH", f"/api/agents/{named['id']}", admin, {"nickname": " \t "}).json()["nickname"] == ""
    assert User.objects.get(id=named["id"]).nickname == ""
    _error(world.call("PATCH", f"/api/agents/{named['id']}", admin, {"nickname": "A\rnn"}), 400, "invalid_argument")


def test_changing_an_agents_saturation_tells_the_dispatch_agent(world: World) -> None:
    admin = world.login()
    agent = world.agent(admin)
    response = world.call("PATCH", f"/api/agents/{agent['id']}", admin, {"saturation": 12, "nickname": "Annie"})
    assert response.status_code == 200
    assert (response.json()["saturation"], response.json()["nickname"]) == (12, "Annie")
    entity = world.engine.inspect(Address.agent(agent["id"]))
    assert entity is not None and entity["saturation"] == 12
    _error(world.call("PATCH", f"/api/agents/{agent['id']}", admin, {"saturation": -1}), 400, "invalid_argument")
    _error(world.call("PATCH", "/api/agents/a-00000000", admin, {"saturation": 3}), 404, "not_found")
    _error(world.call("PATCH", "/api/agents/adm-00000001", admin, {"nickname": "x"}), 404, "not_found")


# --- groups -----------------------------------------------------------------------------------


def test_creating_a_group_creates_its_queue(world: World) -> None:
    admin = world.login()
    group = world.group(admin, "vip", name="VIP", policy="last_agent_first", max_queue=50, last_agent_wait_s=20)
    assert group["policy"] == "last_agent_first" and group["last_agent_wait_s"] == 20.0
    queue = world.engine.inspect(Address.queue("vip"))
    assert queue is not None and (queue["policy"], queue["max_queue"]) == ("last_agent_first", 50)
    world.group(admin, "billing")
    assert [g["id"] for g in world.call("GET", "/api/groups", admin).json()] == ["billing", "vip"]
    assert SkillGroup.objects(id="vip").first().name == "VIP"


def test_a_duplicate_group_id_is_a_409(world: World) -> None:
    admin = world.login()
    world.group(admin, "billing")
    _error(world.call("POST", "/api/groups", admin, {"id": "billing"}), 409, "conflict")


@pytest.mark.parametrize("fields", [
    {"id": "Billing"}, {"id": "-billing"}, {"id": "b" * 65}, {"id": {"$ne": None}}, {"id": 7}, {"id": "billing\n"},
    {"policy": "random"}, {"policy": {"$in": ["balanced"]}}, {"max_queue": True}, {"max_queue": 0},
    {"max_queue": "10"}, {"last_agent_wait_s": 0}, {"last_agent_wait_s": False}, {"last_agent_wait_s": "30"},
    {"name": {"$ne": None}},
])
def test_a_group_with_a_bad_field_is_400_and_not_created(world: World, fields: dict[str, Any]) -> None:
    admin = world.login()
    _error(world.call("POST", "/api/groups", admin, {"id": "billing", **fields}), 400, "invalid_argument")
    assert SkillGroup.objects().count() == 0


def test_membership_changes_update_the_user_and_the_dispatch_agent(world: World) -> None:
    admin = world.login()
    world.group(admin, "billing")
    agent = world.agent(admin)
    path = f"/api/groups/billing/members/{agent['id']}"
    for _ in range(2):  # idempotent
        assert world.call("PUT", path, admin).status_code == 204
    assert User.objects(id=agent["id"]).first().groups == ["billing"]
    entity = world.engine.inspect(Address.agent(agent["id"]))
    assert entity is not None and entity["groups"] == ["billing"]
    for _ in range(2):
        assert world.call("DELETE", path, admin).status_code == 204
    assert User.objects(id=agent["id"]).first().groups == []
    entity = world.engine.inspect(Address.agent(agent["id"]))
    assert entity is not None and entity["groups"] == []


def test_membership_of_an_unknown_group_or_agent_is_404(world: World) -> None:
    admin = world.login()
    world.group(admin, "billing")
    agent = world.agent(admin)
    _error(world.call("PUT", f"/api/groups/nowhere/members/{agent['id']}", admin), 404, "not_found")
    _error(world.call("PUT", "/api/groups/billing/members/a-00000000", admin), 404, "not_found")
    _error(world.call("PUT", "/api/groups/billing/members/adm-00000001", admin), 404, "not_found")
    _error(world.call("DELETE", "/api/groups/BAD/members/a-00000000", admin), 404, "not_found")


# --- the description --------------------------------------------------------------------------


def test_openapi_json_lists_every_route(world: World) -> None:
    response = world.client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec == orjson.loads(orjson.dumps(OPENAPI)) and spec["openapi"].startswith("3.")
    routes = api_routes()
    served = {(method.lower(), route.path_format) for route in routes if isinstance(route, Route)
              for method in (route.methods or ()) if method != "HEAD"}
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served == described
    refs = {v.split("/")[-1] for v in _walk(spec) if isinstance(v, str) and v.startswith("#/components/schemas/")}
    assert refs <= set(spec["components"]["schemas"])


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node
