"""Canned replies over REST: who uses, makes, changes and deletes which (personal, group, global), the search,
and every refusal with its status and code. A real store and Redis, driven through Starlette's TestClient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from switchboard.edges.rest.api import OPENAPI, rest_routes
from switchboard.edges.rest.canned import canned_routes
from switchboard.settings import ServerSettings
from switchboard.store import canned
from switchboard.store.canned import get_reply
from switchboard.store.groups import insert_group
from tests.edges.conftest import CHEAP_PASSWORDS, RestWorld, add_user, api_error, rest_app


@dataclass
class World(RestWorld):
    ids: dict[str, str]

    def as_(self, who: str) -> str:
        return self.login(f"{who}@example.com")

    def make(self, token: str, **body: Any) -> Any:
        return self.call("POST", "/api/canned", token, body)

    def made(self, token: str, **body: Any) -> dict[str, Any]:
        response = self.make(token, **{"text": "Hello!", **body})
        assert response.status_code == 201, response.text
        reply: dict[str, Any] = response.json()
        return reply

    def listed(self, token: str, query: str = "") -> list[str]:
        response = self.call("GET", f"/api/canned{query}", token)
        assert response.status_code == 200, response.text
        return [f"{r['scope']}:{r['shortcut']}" for r in response.json()]


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    for group in ("billing", "sales"):
        insert_group(group)
    ids = {
        "boss": str(add_user("admin", "boss@example.com").id),
        "sue": str(add_user("supervisor", "sue@example.com", supervises=["billing"]).id),
        "ann": str(add_user("agent", "ann@example.com", groups=["billing"]).id),
        "bob": str(add_user("agent", "bob@example.com", groups=["sales"]).id),
    }
    with rest_app(redis_url, [*rest_routes(passwords=CHEAP_PASSWORDS), *canned_routes()],
                  settings=ServerSettings()) as (client, engine):
        yield World(client, engine, ids)


# --- using ------------------------------------------------------------------------------------------


def test_each_user_lists_the_global_replies_their_own_and_their_groups(world: World) -> None:
    boss, sue, ann, bob = (world.as_(w) for w in ("boss", "sue", "ann", "bob"))
    world.made(boss, scope="global", shortcut="hello")
    world.made(boss, scope="group", owner="billing", shortcut="refund")
    world.made(sue, scope="group", owner="billing", shortcut="invoice")
    world.made(boss, scope="group", owner="sales", shortcut="discount")
    world.made(ann, scope="personal", shortcut="mine")
    world.made(bob, scope="personal", shortcut="bobs")
    assert world.listed(ann) == ["global:hello", "group:invoice", "personal:mine", "group:refund"]
    assert world.listed(bob) == ["personal:bobs", "group:discount", "global:hello"]
    assert world.listed(sue) == ["global:hello"]  # she supervises billing but is not in it: nothing to use there
    assert world.listed(sue, "?scope=group") == ["group:invoice", "group:refund"]  # ... yet she manages it
    assert world.listed(boss, "?scope=group") == ["group:discount", "group:invoice", "group:refund"]


def test_a_reply_says_who_made_it_and_whether_the_caller_may_change_it(world: World) -> None:
    boss, ann = world.as_("boss"), world.as_("ann")
    made = world.made(boss, scope="group", owner="billing", shortcut="refund", title="  Refunds ",
                      text="Refunds take 5 days,\r\n{{visitor.name}}.")
    assert {k: made[k] for k in ("scope", "owner", "shortcut", "title", "text", "created_by", "updated_at",
                                 "updated_by", "can_edit")} == {
        "scope": "group", "owner": "billing", "shortcut": "refund", "title": "Refunds",
        "text": "Refunds take 5 days,\n{{visitor.name}}.", "created_by": world.ids["boss"], "updated_at": None,
        "updated_by": None, "can_edit": True}
    assert made["id"].startswith("cr-") and isinstance(made["created_at"], float)
    seen = world.call("GET", "/api/canned", ann).json()
    assert [(r["id"], r["can_edit"]) for r in seen] == [(made["id"], False)]
    mine = world.made(ann, scope="personal", shortcut="/thanks", text="Thanks!")
    assert (mine["owner"], mine["shortcut"], mine["can_edit"]) == (world.ids["ann"], "thanks", True)
    assert world.made(boss, scope="global", shortcut="hi")["owner"] is None


def test_q_searches_shortcut_title_and_text_case_insensitively_best_first(world: World) -> None:
    boss = world.as_("boss")
    world.made(boss, scope="global", shortcut="zz", title="Delivery times", text="Two days.")
    world.made(boss, scope="global", shortcut="bye", text="See you on DELIVERY day.")
    world.made(boss, scope="global", shortcut="delivery", text="Let me check.")
    world.made(boss, scope="global", shortcut="late-delivery", text="Sorry!")
    world.made(boss, scope="global", shortcut="refund", text="5 days.")
    ann = world.as_("ann")
    assert world.listed(ann, "?q=Deliv") == ["global:delivery", "global:late-delivery", "global:zz", "global:bye"]
    assert world.listed(ann, "?q=nothing-like-it") == []
    assert world.listed(ann, "?q=") == world.listed(ann)


def test_one_scope_is_listed_with_scope_and_owner(world: World) -> None:
    boss, ann = world.as_("boss"), world.as_("ann")
    world.made(boss, scope="global", shortcut="hello")
    world.made(boss, scope="group", owner="billing", shortcut="refund")
    world.made(ann, scope="personal", shortcut="mine")
    assert world.listed(ann, "?scope=personal") == ["personal:mine"]
    assert world.listed(ann, f"?scope=personal&owner={world.ids['ann']}") == ["personal:mine"]
    assert world.listed(ann, "?scope=global") == ["global:hello"]
    assert world.listed(ann, "?scope=group&owner=billing") == ["group:refund"]
    assert world.listed(ann, "?scope=group&owner=billing&q=nope") == []
    assert world.listed(boss, "?scope=personal") == []  # nobody reads another's personal replies, admins neither


@pytest.mark.parametrize("query, status, code, says", [
    ("?scope=group&owner=sales", 403, "forbidden", "group sales"),
    ("?scope=personal&owner=a-00000000", 403, "forbidden", "owner's only"),
    ("?owner=billing", 400, "invalid_argument", "owner needs a scope"),
    ("?scope=everyone", 400, "invalid_argument", "scope must be one of personal, group, global"),
    ("?scope=global&owner=billing", 400, "invalid_argument", "no owner"),
    ("?scope=group&owner=Not%20A%20Slug", 400, "invalid_argument", "owner must be a slug"),
    ("?q=" + "x" * 201, 400, "invalid_argument", "q must be at most 200"),
    ("?q=a&q=b", 400, "invalid_argument", "more than once: q"),
    ("?limit=5", 400, "invalid_argument", "unknown query parameter(s): limit"),
])
def test_a_list_query_outside_the_callers_scope_or_malformed_is_refused(world: World, query: str, status: int,
                                                                         code: str, says: str) -> None:
    assert says in api_error(world.call("GET", f"/api/canned{query}", world.as_("ann")), status, code)


# --- making ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, body", [
    ("ann", {"scope": "global"}),
    ("sue", {"scope": "global"}),
    ("ann", {"scope": "group", "owner": "billing"}),  # in the group, but only its supervisors and admins manage it
    ("sue", {"scope": "group", "owner": "sales"}),  # a supervisor of another group
    ("sue", {"scope": "group", "owner": "nowhere"}),  # not hers, whether or not it exists
    ("boss", {"scope": "personal", "owner": "a-00000000"}),  # nobody makes another's personal replies
])
def test_a_reply_for_a_scope_the_caller_does_not_manage_is_refused(world: World, who: str,
                                                                   body: dict[str, str]) -> None:
    api_error(world.make(world.as_(who), shortcut="greet", text="Hi", **body), 403, "forbidden")
    assert world.listed(world.as_("boss"), "?scope=global") == []
    assert world.listed(world.as_("boss"), "?scope=group") == []


def test_whoever_manages_a_scope_makes_its_replies(world: World) -> None:
    assert world.made(world.as_("sue"), scope="group", owner="billing", shortcut="a")["can_edit"]
    assert world.made(world.as_("boss"), scope="group", owner="sales", shortcut="b")["can_edit"]
    assert world.made(world.as_("boss"), scope="global", shortcut="c")["can_edit"]
    for who in ("boss", "sue", "ann"):
        assert world.made(world.as_(who), scope="personal", shortcut="mine")["owner"] == world.ids[who]


def test_a_group_that_does_not_exist_is_404_for_an_admin(world: World) -> None:
    assert "no group nowhere" in api_error(world.make(world.as_("boss"), scope="group", owner="nowhere",
                                                      shortcut="x", text="y"), 404, "not_found")


def test_a_shortcut_taken_in_the_same_scope_is_409_and_elsewhere_is_fine(world: World) -> None:
    boss, ann = world.as_("boss"), world.as_("ann")
    world.made(boss, scope="global", shortcut="greet")
    message = api_error(world.make(boss, scope="global", shortcut="greet", text="Again"), 409, "conflict")
    assert "/greet is taken among the global replies" in message
    world.made(ann, scope="personal", shortcut="greet")
    world.made(boss, scope="group", owner="billing", shortcut="greet")


def test_a_full_scope_is_409(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canned, "MAX_PER_AUDIENCE", 2)
    ann = world.as_("ann")
    world.made(ann, scope="personal", shortcut="a")
    world.made(ann, scope="personal", shortcut="b")
    assert "number 2 already" in api_error(world.make(ann, scope="personal", shortcut="c", text="x"), 409, "conflict")


@pytest.mark.parametrize("body, says", [
    ({"scope": "personal", "shortcut": "Greet", "text": "x"}, "shortcut must be 1 to 32 of a-z"),
    ({"scope": "personal", "shortcut": "", "text": "x"}, "shortcut must be"),
    ({"scope": "personal", "shortcut": "a b", "text": "x"}, "shortcut must be"),
    ({"scope": "personal", "shortcut": "x" * 33, "text": "x"}, "shortcut must be"),
    ({"scope": "personal", "shortcut": {"$ne": None}, "text": "x"}, "shortcut must be a string"),
    ({"scope": "personal", "shortcut": "ok", "text": "   "}, "text must not be blank"),
    ({"scope": "personal", "shortcut": "ok", "text": "x" * 4001}, "text must be at most 4000 characters"),
    ({"scope": "personal", "shortcut": "ok", "text": "bell\x07"}, "no other control characters"),
    ({"scope": "personal", "shortcut": "ok", "text": "Hi {{visitor.nom}} and {{ agent.name }}"},
     "unknown variable(s): {{visitor.nom}}; the variables are {{visitor.name}}, {{visitor.email}}, "
     "{{agent.name}}, {{team.name}}"),
    ({"scope": "personal", "shortcut": "ok", "text": "x", "title": "x" * 101}, "title must be at most 100"),
    ({"scope": "personal", "shortcut": "ok", "text": "x", "title": "two\nlines"}, "title must be one line"),
    ({"scope": "team", "shortcut": "ok", "text": "x"}, "scope must be one of personal, group, global"),
    ({"scope": "group", "shortcut": "ok", "text": "x"}, "a group reply needs owner"),
    ({"scope": "global", "owner": "billing", "shortcut": "ok", "text": "x"}, "a global reply has no owner"),
    ({"scope": "group", "owner": "../x", "shortcut": "ok", "text": "x"}, "owner must be a slug"),
    ({"scope": "personal", "text": "x"}, "missing field(s): shortcut"),
    ({"scope": "personal", "shortcut": "ok", "text": "x", "by": "me"}, "unknown field(s): by"),
])
def test_a_wrong_body_is_400_naming_the_field_and_nothing_is_stored(world: World, body: dict[str, Any],
                                                                     says: str) -> None:
    boss = world.as_("boss")
    assert says in api_error(world.call("POST", "/api/canned", boss, body), 400, "invalid_argument")
    assert world.listed(boss) == []


def test_a_body_above_64_kib_is_413(world: World) -> None:
    response = world.call("POST", "/api/canned", world.as_("ann"),
                          content=b'{"scope": "personal", "shortcut": "x", "text": "' + b"x" * 70_000 + b'"}')
    api_error(response, 413, "payload_too_large")


def test_every_route_needs_a_login(world: World) -> None:
    for method, path in (("GET", "/api/canned"), ("POST", "/api/canned"),
                         ("PATCH", "/api/canned/cr-0000000000000000"), ("DELETE", "/api/canned/cr-0000000000000000")):
        api_error(world.call(method, path, body={}), 401, "token_missing")


# --- changing and deleting ------------------------------------------------------------------------


def test_a_manager_changes_shortcut_title_and_text_and_the_change_is_noted(world: World) -> None:
    boss, sue = world.as_("boss"), world.as_("sue")
    made = world.made(boss, scope="group", owner="billing", shortcut="refund", title="Refunds", text="Old")
    response = world.call("PATCH", f"/api/canned/{made['id']}", sue, {"text": "New {{agent.name}}", "shortcut": "refunds"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["shortcut"], body["title"], body["text"], body["scope"], body["owner"]) == \
        ("refunds", "Refunds", "New {{agent.name}}", "group", "billing")
    assert (body["updated_by"], body["created_by"], body["updated_at"] >= body["created_at"]) == \
        (world.ids["sue"], world.ids["boss"], True)
    assert world.call("PATCH", f"/api/canned/{made['id']}", sue, {}).json() == body


def test_scope_and_owner_never_change(world: World) -> None:
    boss = world.as_("boss")
    made = world.made(boss, scope="group", owner="billing", shortcut="refund")
    for body in ({"scope": "global"}, {"owner": "sales"}):
        assert "unknown field(s)" in api_error(world.call("PATCH", f"/api/canned/{made['id']}", boss, body), 400,
                                               "invalid_argument")


def test_a_change_to_a_taken_shortcut_is_409_and_a_wrong_field_400(world: World) -> None:
    ann = world.as_("ann")
    world.made(ann, scope="personal", shortcut="hi")
    other = world.made(ann, scope="personal", shortcut="bye")
    api_error(world.call("PATCH", f"/api/canned/{other['id']}", ann, {"shortcut": "hi"}), 409, "conflict")
    api_error(world.call("PATCH", f"/api/canned/{other['id']}", ann, {"text": "{{nope}}"}), 400, "invalid_argument")
    assert get_reply(other["id"]) is not None and get_reply(other["id"]).shortcut == "bye"  # type: ignore[union-attr]


def test_one_who_uses_a_reply_but_does_not_manage_it_gets_403_and_others_404(world: World) -> None:
    boss, sue, ann, bob = (world.as_(w) for w in ("boss", "sue", "ann", "bob"))
    group_reply = world.made(boss, scope="group", owner="billing", shortcut="refund")
    global_reply = world.made(boss, scope="global", shortcut="hello")
    personal = world.made(ann, scope="personal", shortcut="mine")
    for token, reply in ((ann, group_reply), (ann, global_reply), (sue, global_reply), (bob, global_reply)):
        api_error(world.call("PATCH", f"/api/canned/{reply['id']}", token, {"text": "x"}), 403, "forbidden")
        api_error(world.call("DELETE", f"/api/canned/{reply['id']}", token), 403, "forbidden")
    for token, reply in ((bob, group_reply), (boss, personal), (sue, personal), (bob, personal)):
        api_error(world.call("PATCH", f"/api/canned/{reply['id']}", token, {"text": "x"}), 404, "not_found")
        api_error(world.call("DELETE", f"/api/canned/{reply['id']}", token), 404, "not_found")
    for path in ("/api/canned/cr-0000000000000000", "/api/canned/not-an-id"):
        api_error(world.call("DELETE", path, boss), 404, "not_found")
    assert get_reply(personal["id"]) is not None and get_reply(group_reply["id"]) is not None


def test_each_manager_deletes_what_they_manage(world: World) -> None:
    boss, sue, ann = world.as_("boss"), world.as_("sue"), world.as_("ann")
    for token, reply in ((sue, world.made(boss, scope="group", owner="billing", shortcut="refund")),
                         (boss, world.made(boss, scope="global", shortcut="hello")),
                         (ann, world.made(ann, scope="personal", shortcut="mine"))):
        assert world.call("DELETE", f"/api/canned/{reply['id']}", token).status_code == 204
        api_error(world.call("DELETE", f"/api/canned/{reply['id']}", token), 404, "not_found")
    assert world.listed(ann) == []


def test_the_description_has_every_canned_route_and_its_refusals() -> None:
    paths = OPENAPI["paths"]
    assert set(paths["/api/canned"]) == {"get", "post"} and set(paths["/api/canned/{reply}"]) == {"patch", "delete"}
    assert set(paths["/api/canned"]["post"]["responses"]) == {"201", "400", "401", "403", "404", "409", "413"}
    assert [p["name"] for p in paths["/api/canned"]["get"]["parameters"]] == ["q", "scope", "owner"]
