"""The widget's groups and the identity secret over REST (issue 20): a real store and Redis, the site cache the
sockets read, driven through Starlette's TestClient."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.site import site_routes
from switchboard.edges.site import SiteCache
from switchboard.settings import ServerSettings
from switchboard.store.documents import Site
from tests.edges.conftest import CHEAP_PASSWORDS, RestWorld, add_user, api_error, rest_app


class World(RestWorld):
    site: SiteCache

    def groups(self, token: str, groups: Any) -> Any:
        return self.call("PATCH", "/api/site", token, {"widget_groups": groups})


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    site = SiteCache(ttl_s=60)
    add_user("admin", "boss@example.com")
    add_user("agent", "ann@example.com")
    with rest_app(redis_url, [*rest_routes(passwords=CHEAP_PASSWORDS), *site_routes()], settings=ServerSettings(),
                  site=site) as (client, engine):
        w = World(client, engine)
        w.site = site
        yield w


def test_an_admin_lists_groups_for_the_picker_in_order_with_labels_and_the_widget_reads_them(world: World) -> None:
    admin = world.login()
    for group in ("billing", "sales", "internal"):
        world.group(admin, group)

    saved = world.groups(admin, [{"id": "sales", "label": "  Buying a bike "}, {"id": "billing", "label": "Invoices"},
                                 {"id": "internal", "label": "Partners", "hidden": True}])
    config = world.client.get("/api/widget/config").json()

    assert saved.status_code == 200, saved.text
    assert saved.json()["widget_groups"] == [{"id": "sales", "label": "Buying a bike", "hidden": False},
                                             {"id": "billing", "label": "Invoices", "hidden": False},
                                             {"id": "internal", "label": "Partners", "hidden": True}]
    assert config["groups"] == [{"id": "sales", "label": "Buying a bike"}, {"id": "billing", "label": "Invoices"}]


@pytest.mark.parametrize("groups, why", [
    ("sales", "must be a list"),
    ([{"id": "sales"}], "label"),
    ([{"id": "sales", "label": ""}], "label"),
    ([{"id": "sales", "label": "   "}], "label"),
    ([{"id": "sales", "label": "x" * 61}], "label"),
    ([{"id": "sales", "label": "Sales", "colour": "red"}], "must be a list"),
    ([{"id": "sales", "label": "Sales", "hidden": "yes"}], "hidden"),
    ([{"id": "sales", "label": "A"}, {"id": "sales", "label": "B"}], "twice"),
    ([{"id": "nowhere", "label": "Nowhere"}], "no such group: nowhere"),
    ([{"id": "sales", "label": "Sales"}] * 21, "at most 20"),
], ids=["not-a-list", "no-label", "empty-label", "blank-label", "long-label", "unknown-key", "bad-hidden",
        "twice", "unknown-group", "too-many"])
def test_a_bad_picker_list_is_refused_and_the_stored_one_stays(world: World, groups: Any, why: str) -> None:
    admin = world.login()
    world.group(admin, "sales")
    world.groups(admin, [{"id": "sales", "label": "Sales"}])

    message = api_error(world.groups(admin, groups), 400, "invalid_argument")

    assert why in message
    assert world.call("GET", "/api/site", admin).json()["widget_groups"] == \
        [{"id": "sales", "label": "Sales", "hidden": False}]


def test_a_group_deleted_after_it_was_listed_leaves_the_widget_and_only_admins_change_the_list(world: World) -> None:
    admin = world.login()
    world.group(admin, "sales")
    world.group(admin, "billing")
    world.groups(admin, [{"id": "sales", "label": "Sales"}, {"id": "billing", "label": "Billing"}])

    assert world.call("DELETE", "/api/groups/billing", admin).status_code in (200, 204)
    world.site.invalidate()

    assert world.client.get("/api/widget/config").json()["groups"] == [{"id": "sales", "label": "Sales"}]
    api_error(world.groups(world.login("ann@example.com"), []), 403, "forbidden")


def test_the_identity_secret_is_made_on_first_read_kept_and_regenerated_only_on_request(world: World) -> None:
    admin = world.login()

    first = world.call("GET", "/api/site/identity", admin)
    again = world.call("GET", "/api/site/identity", admin).json()["secret"]
    fresh = world.call("POST", "/api/site/identity/regenerate", admin).json()["secret"]

    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    secret = first.json()["secret"]
    assert len(secret) >= 40 and again == secret and fresh != secret
    assert Site.objects(id="site").first().identity_secret == fresh
    assert world.call("GET", "/api/site/identity", admin).json()["secret"] == fresh


def test_the_identity_secret_reaches_admins_only_and_never_the_widget_or_the_site_settings(world: World) -> None:
    admin = world.login()
    secret = world.call("GET", "/api/site/identity", admin).json()["secret"]
    agent = world.login("ann@example.com")

    api_error(world.call("GET", "/api/site/identity", agent), 403, "forbidden")
    api_error(world.call("POST", "/api/site/identity/regenerate", agent), 403, "forbidden")
    api_error(world.call("GET", "/api/site/identity"), 401, "token_missing")
    assert secret not in world.client.get("/api/widget/config").text
    assert secret not in world.call("GET", "/api/site", admin).text
