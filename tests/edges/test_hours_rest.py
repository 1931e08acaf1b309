"""Service hours over REST (docs/hours.md): the default and a group's, stored, refused when they cannot be, and
heard by the group's queue at once; a real store and Redis, an inline engine whose queues show what they keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from switchboard.actors.address import Address
from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.hours import hours_routes
from switchboard.edges.site import SiteCache
from switchboard.settings import ServerSettings
from switchboard.store.documents import ServiceHours
from tests.edges.conftest import CHEAP_PASSWORDS, RestWorld, add_user, api_error, rest_app

BAKERY = {"timezone": "Europe/Paris", "rules": [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "12:00"},
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "13:00", "end": "18:00"},
    {"date": "2026-12-25", "closed": True}], "holidays_country": "FR"}


@dataclass
class World(RestWorld):
    def queue(self, group: str) -> dict[str, Any]:
        snapshot = self.engine.inspect(Address.queue(group))
        assert snapshot is not None
        return snapshot

    def put(self, token: str, path: str, **body: Any) -> Any:
        return self.call("PUT", path, token, body)


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    ServiceHours._get_collection().delete_many({})
    add_user("admin", "boss@example.com")
    add_user("agent", "ann@example.com")
    add_user("supervisor", "sue@example.com", supervises=["support"])
    with rest_app(redis_url, [*rest_routes(passwords=CHEAP_PASSWORDS), *hours_routes()],
                  settings=ServerSettings(), site=SiteCache()) as (client, engine):
        yield World(client, engine)


def test_a_fresh_desk_is_open_around_the_clock_and_a_group_uses_the_default(world: World) -> None:
    admin = world.login()
    world.group(admin, "support")

    default = world.call("GET", "/api/hours", admin).json()
    group = world.call("GET", "/api/groups/support/hours", admin).json()

    assert (default["use"], default["schedule"], default["week"]["always_open"]) == ("always", None, True)
    assert (group["use"], group["week"]["always_open"], group["effective"]["at_closing"]) == ("default", True, "serve")
    assert world.queue("support")["schedule"] is None


def test_a_groups_own_hours_are_stored_drawn_for_the_week_and_kept_by_its_queue(world: World) -> None:
    admin = world.login()
    world.group(admin, "support")

    answer = world.put(admin, "/api/groups/support/hours", use="own", schedule=BAKERY, at_closing="offer_message",
                       off_hours_reply="We bake at night; ask us tomorrow.")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["use"], body["at_closing"], body["off_hours_reply"]) == ("own", "offer_message",
                                                                          "We bake at night; ask us tomorrow.")
    week = world.call("GET", "/api/groups/support/hours?from=2026-12-21", admin).json()["week"]
    assert [d["date"] for d in week["days"]][:5] == ["2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24",
                                                    "2026-12-25"]
    assert [(w["start"], w["end"]) for w in week["days"][0]["windows"]] == [("09:00", "12:00"), ("13:00", "18:00")]
    assert (week["days"][4]["source"], week["days"][4]["windows"]) == ("closed", [])  # a dated closed rule
    assert week["days"][5]["windows"] == []  # Saturday: no rule
    queue = world.queue("support")
    assert (queue["schedule"], queue["at_closing"]) == (body["schedule"], "offer_message")


def test_changing_the_default_reaches_every_group_that_uses_it_and_no_other(world: World) -> None:
    admin = world.login()
    world.group(admin, "support")
    world.group(admin, "night")
    world.put(admin, "/api/groups/night/hours", use="always")

    answer = world.put(admin, "/api/hours", use="own", schedule=BAKERY)

    assert answer.status_code == 200, answer.text
    assert world.queue("support")["schedule"] == answer.json()["schedule"]
    assert world.queue("night")["schedule"] is None
    world.group(admin, "sales")  # a new group starts on the default
    assert world.queue("sales")["schedule"] == answer.json()["schedule"]


def test_a_group_change_keeps_its_hours_in_the_queue(world: World) -> None:
    admin = world.login()
    world.group(admin, "support")
    world.put(admin, "/api/groups/support/hours", use="own", schedule=BAKERY)

    changed = world.call("PATCH", "/api/groups/support", admin, {"policy": "last_agent_first", "max_queue": 5})

    assert changed.status_code == 200, changed.text
    queue = world.queue("support")
    assert queue["schedule"] is not None and queue["schedule"]["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(("body", "code", "words"), [
    ({"use": "own", "schedule": {"timezone": "Mars/Olympus", "rules": []}}, "invalid_schedule", "Mars/Olympus"),
    ({"use": "own", "schedule": {"timezone": "UTC", "rules": [
        {"days": ["mon"], "start": "09:00", "end": "17:00"}] * 11}}, "invalid_schedule", "10"),
    ({"use": "own", "schedule": {"timezone": "UTC", "rules": [
        {"days": ["someday"], "start": "09:00", "end": "17:00"}]}}, "invalid_schedule", "someday"),
    ({"use": "own", "schedule": {"timezone": "UTC", "rules": [
        {"days": ["mon"], "start": "9 am", "end": "17:00"}]}}, "invalid_schedule", "9 am"),
    ({"use": "own"}, "invalid_argument", "needs a schedule"),
    ({"use": "always", "schedule": BAKERY}, "invalid_argument", "use own"),
    ({"use": "sometimes"}, "invalid_argument", "use must be"),
    ({"use": "always", "at_closing": "panic"}, "invalid_argument", "at_closing"),
    ({"use": "always", "off_hours_reply": "x" * 1001}, "invalid_argument", "1000"),
    ({"use": "always", "colour": "red"}, "invalid_argument", "colour"),
])
def test_hours_that_cannot_be_are_refused_with_what_is_wrong(world: World, body: dict[str, Any], code: str,
                                                              words: str) -> None:
    admin = world.login()
    world.group(admin, "support")

    message = api_error(world.call("PUT", "/api/groups/support/hours", admin, body), 400, code)

    assert words in message
    assert world.call("GET", "/api/groups/support/hours", admin).json()["use"] == "default"


def test_the_default_cannot_use_the_default(world: World) -> None:
    assert "use must be one of always, own" in api_error(
        world.put(world.login(), "/api/hours", use="default"), 400, "invalid_argument")


def test_only_an_admin_changes_hours_and_a_supervisor_reads_its_groups(world: World) -> None:
    admin = world.login()
    world.group(admin, "support")
    world.group(admin, "sales")
    sue, ann = world.login("sue@example.com"), world.login("ann@example.com")

    assert world.call("GET", "/api/groups/support/hours", sue).status_code == 200
    api_error(world.call("GET", "/api/groups/sales/hours", sue), 403, "forbidden")
    api_error(world.put(sue, "/api/groups/support/hours", use="always"), 403, "forbidden")
    api_error(world.call("GET", "/api/hours", ann), 403, "forbidden")
    api_error(world.put(admin, "/api/groups/nowhere/hours", use="always"), 404, "not_found")
