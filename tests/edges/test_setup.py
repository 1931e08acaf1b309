"""First-run setup: a code made while no admin exists, spent once by the setup that creates the first admin."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import redis

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateGroup
from switchboard.store.groups import get_group, insert_group
from switchboard.edges.keys import SETUP_KEY
from switchboard.edges.pages import WEB_DIR
from switchboard.edges.setup import ALPHABET, CODE_FORMAT, code_hash, new_code, prepare_setup, setup_line
from switchboard.store.documents import User
from switchboard.store.users import active_admins
from tests.edges.conftest import api_error as error
from tests.edges.test_accounts import ADMIN_ID, Desk, desk

__all__ = ["desk"]  # the fixture, imported


def no_admin() -> None:
    User.objects(id=ADMIN_ID).delete()


def prepare(desk: Desk) -> str:
    assert desk.client.portal is not None
    code: str | None = desk.client.portal.call(prepare_setup, desk.client.app.state.services.redis)  # type: ignore[attr-defined]
    assert code is not None
    return code


def setup(desk: Desk, code: str, email: str = "first@example.com", **fields: Any) -> Any:
    return desk.call("POST", "/api/setup", body={"code": code, "email": email, "password": "first-password",
                                                 **fields})


def test_a_code_is_twelve_unambiguous_characters_in_groups_of_four() -> None:
    codes = {new_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert re.fullmatch(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}", code)
    assert not set("01OIL") & set(ALPHABET)
    assert code_hash("7kq4 m2xp-9htc") == code_hash("7KQ4-M2XP-9HTC")
    assert setup_line("http://h:1", "AAAA-BBBB-CCCC") == \
        "First run: open http://h:1/setup and enter the setup code AAAA-BBBB-CCCC"


def test_the_format_shown_has_the_codes_shape_and_the_setup_page_shows_the_same() -> None:
    assert re.sub(f"[{ALPHABET}]", "X", new_code()) == CODE_FORMAT == "XXXX-XXXX-XXXX"
    # web/setup.html is served as it is (edges/pages.py), so its placeholder spells the format out too
    assert f'placeholder="{CODE_FORMAT}"' in (WEB_DIR / "setup.html").read_text()


def test_only_the_codes_hash_is_kept_and_only_while_no_admin_exists(desk: Desk, sync_redis: redis.Redis) -> None:
    assert desk.client.portal is not None
    services_redis = desk.client.app.state.services.redis  # type: ignore[attr-defined]
    assert desk.client.portal.call(prepare_setup, services_redis) is None  # the fixture's admin
    assert sync_redis.get(SETUP_KEY) is None
    no_admin()
    code = prepare(desk)
    assert sync_redis.get(SETUP_KEY) == code_hash(code) and sync_redis.ttl(SETUP_KEY) == -1


def test_setup_is_needed_until_the_first_admin_is_made_with_the_code(desk: Desk, sync_redis: redis.Redis) -> None:
    assert desk.call("GET", "/api/setup").json() == {"needed": False}
    no_admin()
    assert desk.call("GET", "/api/setup").json() == {"needed": True}
    code = prepare(desk)
    if get_group("support") is None:  # serve makes the default group (and its queue) at every start
        insert_group("support")
    desk.engine.send(Address.queue("support"), CreateGroup())
    error(setup(desk, "AAAA-BBBB-CCCC"), 403, "setup_code_wrong")
    made = setup(desk, code.lower(), nickname="  Root ", takes_chats=True)
    assert made.status_code == 201, made.text
    user = made.json()["user"]
    assert (user["roles"], user["nickname"], user["email"]) == (["admin", "agent"], "Root", "first@example.com")
    assert user["groups"] == ["support"]  # an owner who answers chats starts where visitors wait
    assert desk.call("GET", "/api/me", made.json()["token"]).json()["id"] == user["id"]
    agent = desk.engine.inspect(Address.agent(user["id"]))
    assert agent is not None and agent["groups"] == ["support"]
    assert desk.call("GET", "/api/setup").json() == {"needed": False}
    assert sync_redis.get(SETUP_KEY) is None
    error(setup(desk, code, "second@example.com"), 409, "setup_done")
    desk.login("first@example.com", "first-password")


def test_wrong_codes_are_throttled_like_logins(desk: Desk) -> None:
    no_admin()
    code = prepare(desk)
    answers = [setup(desk, "AAAA-BBBB-CCCC").status_code for _ in range(7)]
    assert answers[:5] == [403] * 5 and answers[-1] == 429
    assert setup(desk, code).status_code == 429  # the right code waits too
    assert User.objects.count() == 0


def test_a_setup_with_a_bad_field_is_400_and_spends_nothing(desk: Desk, sync_redis: redis.Redis) -> None:
    no_admin()
    code = prepare(desk)
    for fields in ({"email": "not-an-email"}, {"password": "short"}, {"takes_chats": "yes"}, {"code": 12},
                   {"roles": ["admin"]}):
        body = {"code": code, "email": "first@example.com", "password": "first-password", **fields}
        error(desk.call("POST", "/api/setup", body=body), 400, "invalid_argument")
    assert sync_redis.get(SETUP_KEY) == code_hash(code)


def test_two_setups_at_once_make_exactly_one_admin(desk: Desk, redis_url: str) -> None:
    no_admin()
    code = prepare(desk)
    app = desk.client.app

    async def race() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*[
                client.post("/api/setup", json={"code": code, "email": f"admin{i}@example.com",
                                                "password": "first-password"}) for i in range(6)])
        return sorted(a.status_code for a in answers)

    assert desk.client.portal is not None
    statuses = desk.client.portal.call(race)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 403, 409}
    assert len(active_admins()) == 1


def test_a_failed_creation_puts_the_code_back(desk: Desk, sync_redis: redis.Redis) -> None:
    no_admin()
    code = prepare(desk)
    User(id="a-00000009", roles=["agent"], email="taken@example.com").save()
    error(setup(desk, code, "taken@example.com"), 409, "conflict")
    assert sync_redis.get(SETUP_KEY) == code_hash(code)
    assert setup(desk, code).status_code == 201
