"""Skill groups as an admin changes and deletes them, and as a supervisor lists them: REST on a real store and Redis
with an inline engine, whose queues and conversations show what the engine heard."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from switchboard.actors import messages as m
from switchboard.actors.address import Address
from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.groups import GROUPS_API
from switchboard.edges.site import SiteCache
from switchboard.settings import ServerSettings
from switchboard.store.documents import Conversation, SkillGroup, User
from switchboard.store.users import insert_user
from tests.edges.conftest import CHEAP_PASSWORDS, PASSWORD, RestWorld, add_user, api_error, rest_app


class World(RestWorld):
    def agent(self, admin: str, email: str, groups: list[str]) -> str:
        response = self.call("POST", "/api/agents", admin, {"email": email, "password": PASSWORD, "groups": groups})
        assert response.status_code == 201, response.text
        agent_id: str = response.json()["id"]
        return agent_id

    def waiting(self, conversation: str, visitor: str, group: str) -> None:
        """A visitor's conversation queued in `group`, in the engine and (as the relay would write it) the store."""
        self.engine.send(Address.conversation(conversation), m.OpenConversation(visitor))
        self.engine.send(Address.conversation(conversation), m.RequestHuman(group))
        Conversation(id=conversation, visitor=visitor, phase="queued", group=group,
                     created_at=datetime.now(timezone.utc)).save()

    def queue(self, group: str) -> dict[str, Any]:
        snapshot = self.engine.inspect(Address.queue(group))
        assert snapshot is not None
        return snapshot


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    add_user("admin", "boss@example.com")
    with rest_app(redis_url, rest_routes(passwords=CHEAP_PASSWORDS), settings=ServerSettings(),
                  site=SiteCache()) as (client, engine):
        yield World(client, engine)


# --- who may --------------------------------------------------------------------------------------


def test_a_supervisor_lists_only_its_groups_and_may_not_change_or_delete_any(world: World) -> None:
    admin = world.login("boss@example.com")
    for group in ("billing", "sales", "returns"):
        world.group(admin, group)
    add_user("supervisor", "sue@example.com", supervises=["billing", "returns"])
    sue = world.login("sue@example.com")

    listed = world.call("GET", "/api/groups", sue)
    assert listed.status_code == 200
    assert [g["id"] for g in listed.json()] == ["billing", "returns"]
    assert [g["id"] for g in world.call("GET", "/api/groups", admin).json()] == ["billing", "returns", "sales"]
    api_error(world.call("PATCH", "/api/groups/billing", sue, {"name": "Money"}), 403, "forbidden")
    api_error(world.call("DELETE", "/api/groups/billing", sue), 403, "forbidden")
    assert SkillGroup.objects(id="billing").first().name == ""


def test_an_agent_may_not_list_change_or_delete_groups(world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing")
    world.agent(admin, "ann@example.com", ["billing"])
    ann = world.login("ann@example.com")
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        path = "/api/groups" if method == "GET" else "/api/groups/billing"
        api_error(world.call(method, path, ann, body), 403, "forbidden")


# --- changing a group -----------------------------------------------------------------------------


def test_a_patch_is_stored_and_the_queue_takes_the_whole_new_configuration(world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing", max_queue=10)
    response = world.call("PATCH", "/api/groups/billing", admin,
                          {"name": "Billing desk", "policy": "last_agent_first", "last_agent_wait_s": 30})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["policy"], body["max_queue"], body["last_agent_wait_s"]) == \
        ("Billing desk", "last_agent_first", 10, 30.0)
    queue = world.queue("billing")
    assert (queue["policy"], queue["max_queue"]) == ("last_agent_first", 10)

    cleared = world.call("PATCH", "/api/groups/billing", admin, {"max_queue": None}).json()
    assert cleared["max_queue"] is None and cleared["policy"] == "last_agent_first"
    assert world.queue("billing")["max_queue"] is None
    stored = SkillGroup.objects(id="billing").first()
    assert (stored.name, stored.max_queue, stored.last_agent_wait_s) == ("Billing desk", None, 30.0)


def test_a_shorter_max_queue_refuses_the_next_request_as_full_while_those_waiting_keep_their_place(
        world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing")
    world.waiting("c-first", "v-first", "billing")
    assert world.call("PATCH", "/api/groups/billing", admin, {"max_queue": 1}).status_code == 200
    world.waiting("c-second", "v-second", "billing")
    assert [w["conversation"] for w in world.queue("billing")["waiting"]] == ["c-first"]
    second = world.engine.inspect(Address.conversation("c-second"))
    assert second is not None and second["phase"] != "queued"


@pytest.mark.parametrize("body, wrong", [
    ({"policy": "random"}, "policy"), ({"max_queue": 0}, "max_queue"), ({"max_queue": "5"}, "max_queue"),
    ({"last_agent_wait_s": -1}, "last_agent_wait_s"), ({"last_agent_wait_s": True}, "last_agent_wait_s"),
    ({"name": "x" * 201}, "name"), ({"name": {"$ne": None}}, "name"), ({"id": "other"}, "unknown field")])
def test_a_patch_with_a_wrong_field_is_400_and_changes_nothing(world: World, body: dict[str, Any], wrong: str) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing", max_queue=3)
    assert wrong in api_error(world.call("PATCH", "/api/groups/billing", admin, body), 400, "invalid_argument")
    assert world.queue("billing")["max_queue"] == 3


def test_a_patch_of_a_group_that_is_not_there_is_404(world: World) -> None:
    admin = world.login("boss@example.com")
    api_error(world.call("PATCH", "/api/groups/nowhere", admin, {"name": "x"}), 404, "not_found")
    api_error(world.call("PATCH", "/api/groups/Not%20A%20Slug", admin, {"name": "x"}), 404, "not_found")


# --- deleting a group -----------------------------------------------------------------------------


def test_a_group_with_a_waiting_visitor_is_refused_busy_then_with_move_to_the_visitor_is_served_in_the_other(
        world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing")
    world.group(admin, "sales")
    world.waiting("c-waiting", "v-waiting", "billing")

    message = api_error(world.call("DELETE", "/api/groups/billing", admin), 409, "group_busy")
    assert "1 open conversation" in message and "move_to" in message
    assert SkillGroup.objects(id="billing").first() is not None

    assert [w["conversation"] for w in world.queue("billing")["waiting"]] == ["c-waiting"]
    response = world.call("DELETE", "/api/groups/billing?move_to=sales", admin)
    assert response.status_code == 204, response.text
    assert [w["conversation"] for w in world.queue("sales")["waiting"]] == ["c-waiting"]
    assert world.queue("billing")["retired"] is True
    assert SkillGroup.objects(id="billing").first() is None

    seller = world.agent(admin, "sam@example.com", ["sales"])
    world.engine.send(Address.agent(seller), m.SetPresence("online"))
    served = world.engine.inspect(Address.conversation("c-waiting"))
    assert served is not None and (served["phase"], served["agent"], served["group"]) == ("assigned", seller, "sales")


def test_a_deleted_group_leaves_its_agents_and_supervisors_and_its_queue_refuses_new_requests(world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing")
    world.group(admin, "sales")
    ann = world.agent(admin, "ann@example.com", ["billing", "sales"])
    sue = insert_user(["supervisor", "agent"], "sue@example.com", "", saturation=3, groups=["billing"],
                      supervises=["billing", "sales"])
    world.engine.send(Address.agent(str(sue.id)), m.CreateAgent(saturation=3, groups=("billing",)))

    assert world.call("DELETE", "/api/groups/billing", admin).status_code == 204

    for user in (ann, str(sue.id)):
        stored = User.objects(id=user).first()
        assert "billing" not in stored.groups
        entity = world.engine.inspect(Address.agent(user))
        assert entity is not None and "billing" not in entity["groups"]
    assert User.objects(id=ann).first().groups == ["sales"]
    assert User.objects(id=str(sue.id)).first().supervises == ["sales"]
    world.engine.send(Address.conversation("c-late"), m.OpenConversation("v-late"))
    world.engine.send(Address.conversation("c-late"), m.RequestHuman("billing"))
    assert world.queue("billing")["waiting"] == []
    assert [g["id"] for g in world.call("GET", "/api/groups", admin).json()] == ["sales"]


def test_the_default_group_is_not_deleted_and_move_to_must_name_another_existing_group(world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "support")  # ServerSettings().default_group
    world.group(admin, "billing")
    assert "default_group" in api_error(world.call("DELETE", "/api/groups/support", admin), 400, "invalid_argument")
    api_error(world.call("DELETE", "/api/groups/billing?move_to=billing", admin), 400, "invalid_argument")
    api_error(world.call("DELETE", "/api/groups/billing?move_to=Bad%20Id", admin), 400, "invalid_argument")
    api_error(world.call("DELETE", "/api/groups/billing?move_to=nowhere", admin), 404, "not_found")
    api_error(world.call("DELETE", "/api/groups/nowhere", admin), 404, "not_found")
    assert SkillGroup.objects(id="billing").first() is not None and SkillGroup.objects(id="support").first() is not None


def test_closed_conversations_do_not_keep_a_group_from_being_deleted(world: World) -> None:
    admin = world.login("boss@example.com")
    world.group(admin, "billing")
    Conversation(id="c-old", visitor="v-old", phase="closed", group="billing").save()
    assert world.call("DELETE", "/api/groups/billing", admin).status_code == 204


def test_the_description_has_the_group_change_and_delete() -> None:
    item = GROUPS_API.paths["/api/groups/{group}"]
    assert set(item) == {"patch", "delete"}
    assert [p["name"] for p in item["delete"]["parameters"]] == ["group", "move_to"]
    assert "group_busy" in GROUPS_API.error_codes
