"""The site settings over REST (the team, the widget, the allowed sites, the logo): a real store and Redis, the
site cache the sockets read, driven through Starlette's TestClient."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from PIL import Image as Picture
from starlette.routing import Route

from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.site import SITE_API, normalise_origin, site_routes
from switchboard.edges.site import SiteCache
from switchboard.settings import MailSettings, ServerSettings
from switchboard.store.documents import Image
from switchboard.store.site import get_site
from tests.edges.conftest import CHEAP_PASSWORDS, RestWorld, add_user, api_error, rest_app

FILE_ORIGIN = "https://configured.example"


@dataclass
class World(RestWorld):
    site: SiteCache

    def patch(self, token: str, **fields: Any) -> Any:
        return self.call("PATCH", "/api/site", token, fields)


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    site = SiteCache((FILE_ORIGIN,), ttl_s=60)  # long: only a write through this process refreshes it here
    settings = ServerSettings(public_url="https://chat.example.com/", allowed_origins=(FILE_ORIGIN,))
    add_user("admin", "boss@example.com")
    add_user("agent", "ann@example.com")
    add_user("supervisor", "sue@example.com", supervises=["support"])
    with rest_app(redis_url, [*rest_routes(passwords=CHEAP_PASSWORDS), *site_routes()], settings=settings,
                  site=site, mail_settings=MailSettings(team_name="Mail Team")) as (client, engine):
        yield World(client, engine, site)


def _png(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Picture.new("RGB", (width, height), (31, 122, 90)).save(out, format="PNG")
    return out.getvalue()


# --- reading and changing the settings -------------------------------------------------------------


def test_a_fresh_site_reads_as_the_defaults_with_the_install_snippet_for_this_server(world: World) -> None:
    body = world.call("GET", "/api/site", world.login()).json()
    assert body == {"team_name": "", "team_email": "", "team_phone": "", "logo_url": "", "widget_title": "",
                    "widget_greeting": "", "widget_colour": "", "allowed_origins": [], "widget_groups": [],
                    "file_origins": [FILE_ORIGIN],
                    "updated_at": None,
                    "install_snippet": '<script src="https://chat.example.com/widget.js" async></script>'}


def test_an_admin_patches_some_fields_and_the_others_stay(world: World) -> None:
    admin = world.login()
    first = world.patch(admin, team_name="  Pedalwise  ", team_email="Help@Pedalwise.Example", team_phone="+1 (555) 010-99",
                        widget_title="Pedalwise support", widget_greeting="Hi! Ask about bikes.", widget_colour="#1F7A5A")
    assert first.status_code == 200, first.text
    second = world.patch(admin, widget_title="Bike help")
    body = second.json()
    assert (body["team_name"], body["team_email"], body["team_phone"]) == \
        ("Pedalwise", "help@pedalwise.example", "+1 (555) 010-99")
    assert (body["widget_title"], body["widget_greeting"], body["widget_colour"]) == \
        ("Bike help", "Hi! Ask about bikes.", "#1f7a5a")
    assert body["updated_at"] is not None
    assert world.call("GET", "/api/site", admin).json() == body
    cleared = world.patch(admin, team_email="", widget_colour="").json()
    assert (cleared["team_email"], cleared["widget_colour"]) == ("", "")


def test_allowed_origins_are_stored_as_browsers_send_them_and_the_cache_sees_them_at_once(world: World) -> None:
    admin = world.login()
    response = world.patch(admin, allowed_origins=["HTTPS://Shop.Example.com/", "https://shop.example.com:443",
                                                   "http://localhost:8080", "http://[::1]:3000"])
    assert response.status_code == 200, response.text
    assert response.json()["allowed_origins"] == ["https://shop.example.com", "http://localhost:8080",
                                                  "http://[::1]:3000"]
    assert world.client.portal is not None
    assert world.client.portal.call(world.site.origins) == (FILE_ORIGIN, "https://shop.example.com",
                                                            "http://localhost:8080", "http://[::1]:3000")
    assert world.patch(admin, allowed_origins=[]).json()["allowed_origins"] == []
    assert world.client.portal.call(world.site.origins) == (FILE_ORIGIN,)


@pytest.mark.parametrize("origin, says", [
    ("*", "wildcards"), ("https://*.shop.example", "wildcards"), ("shop.example.com", "https://"),
    ("ftp://shop.example.com", "https://"), ("https://shop.example.com/path", "no path"),
    ("https://shop.example.com?q=1", "no path"), ("https://shop.example.com#top", "no path"),
    ("https://user@shop.example.com", "host"), ("https://", "host"), ("https://shop.example.com:99999", "origin"),
    ("https://sh op.example", "host"), ("null", "https://")])
def test_an_origin_that_is_not_scheme_host_port_is_refused_with_the_reason(world: World, origin: str, says: str) -> None:
    message = api_error(world.patch(world.login(), allowed_origins=["https://fine.example", origin]), 400,
                     "invalid_argument")
    assert says in message and "allowed_origins" in message
    assert get_site().allowed_origins == []


def test_a_default_port_is_dropped_as_browsers_drop_it_and_a_wildcard_is_no_origin() -> None:
    with pytest.raises(ValueError):
        normalise_origin("*")
    assert normalise_origin("http://shop.example:80") == "http://shop.example"


def test_more_than_50_origins_are_refused(world: World) -> None:
    origins = [f"https://shop{i}.example" for i in range(51)]
    assert "at most 50" in api_error(world.patch(world.login(), allowed_origins=origins), 400, "invalid_argument")
    assert world.patch(world.login(), allowed_origins=origins[:50]).status_code == 200


@pytest.mark.parametrize("fields, says", [
    ({"team_name": "x" * 101}, "team_name"), ({"team_email": "not-an-email"}, "team_email"),
    ({"team_phone": "call me"}, "team_phone"), ({"team_phone": "1" * 41}, "team_phone"),
    ({"widget_title": "x" * 61}, "widget_title"), ({"widget_greeting": "x" * 301}, "widget_greeting"),
    ({"widget_colour": "green"}, "widget_colour"), ({"widget_colour": "#abc"}, "widget_colour"),
    ({"widget_colour": "#12345g"}, "widget_colour"), ({"team_name": {"$ne": None}}, "team_name"),
    ({"allowed_origins": "https://shop.example"}, "allowed_origins"), ({"allowed_origins": [1]}, "allowed_origins"),
    ({"logo_url": "https://evil.example/x.png"}, "unknown field")])
def test_a_wrong_field_is_400_naming_it_and_nothing_is_stored(world: World, fields: dict[str, Any], says: str) -> None:
    assert says in api_error(world.patch(world.login(), **fields), 400, "invalid_argument")
    assert get_site().updated_at is None


def test_only_an_admin_reads_or_changes_the_site(world: World) -> None:
    for email in ("ann@example.com", "sue@example.com"):
        token = world.login(email)
        api_error(world.call("GET", "/api/site", token), 403, "forbidden")
        api_error(world.patch(token, team_name="Mine"), 403, "forbidden")
        api_error(world.call("PUT", "/api/site/logo", token, content=_png()), 403, "forbidden")
        api_error(world.call("DELETE", "/api/site/logo", token), 403, "forbidden")
    api_error(world.call("GET", "/api/site"), 401, "token_missing")
    assert get_site().team_name == ""


# --- the team, the logo, the widget's config ----------------------------------------------------------


def test_every_logged_in_user_reads_the_team_and_the_name_falls_back_to_the_mail_settings(world: World) -> None:
    ann = world.login("ann@example.com")
    assert world.call("GET", "/api/team", ann).json() == {"name": "Mail Team", "email": "", "phone": "",
                                                         "logo_url": ""}
    world.patch(world.login(), team_name="Pedalwise", team_email="help@pedalwise.example", team_phone="+1 555")
    assert world.call("GET", "/api/team", ann).json() == {"name": "Pedalwise", "email": "help@pedalwise.example",
                                                         "phone": "+1 555", "logo_url": ""}
    api_error(world.call("GET", "/api/team"), 401, "token_missing")


def test_an_uploaded_logo_is_stored_as_a_png_and_named_in_the_site_the_team_and_the_widget_config(
        world: World) -> None:
    admin = world.login()
    jpeg = io.BytesIO()
    Picture.new("RGB", (1024, 256), (200, 40, 40)).save(jpeg, format="JPEG")
    response = world.call("PUT", "/api/site/logo", admin, content=jpeg.getvalue())
    assert response.status_code == 200, response.text
    url = response.json()["logo_url"]
    assert url.startswith("/api/images/team-logo?v=")
    stored = Image.objects(id="team-logo").first()
    assert stored is not None and stored.data.startswith(b"\x89PNG")
    assert Picture.open(io.BytesIO(stored.data)).size == (512, 128)
    assert world.call("GET", "/api/site", admin).json()["logo_url"] == url
    assert world.call("GET", "/api/team", world.login("ann@example.com")).json()["logo_url"] == url
    assert world.call("GET", "/api/widget/config").json()["logo_url"] == f"https://chat.example.com{url}"

    assert world.call("DELETE", "/api/site/logo", admin).status_code == 204
    assert Image.objects(id="team-logo").first() is None
    assert world.call("GET", "/api/widget/config").json()["logo_url"] == ""


def test_a_logo_that_is_not_a_picture_or_too_big_is_refused(world: World) -> None:
    admin = world.login()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "PNG, JPEG, GIF or WebP" in api_error(world.call("PUT", "/api/site/logo", admin, content=svg), 400,
                                              "invalid_argument")
    api_error(world.call("PUT", "/api/site/logo", admin, content=b""), 400, "invalid_argument")
    api_error(world.call("PUT", "/api/site/logo", admin, content=b"\0" * (2 * 1024 * 1024 + 1)), 413, "payload_too_large")
    assert get_site().logo_url == "" and Image.objects(id="team-logo").first() is None


def test_the_widget_config_needs_no_login_and_any_site_may_read_it(world: World) -> None:
    world.patch(world.login(), team_name="Pedalwise", widget_title="Bike help", widget_greeting="Hi!",
                widget_colour="#2f5f9a")
    response = world.client.get("/api/widget/config", headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {"team_name": "Pedalwise", "logo_url": "", "title": "Bike help", "greeting": "Hi!",
                               "colour": "#2f5f9a", "groups": []}


def test_the_description_covers_every_site_route() -> None:
    described = {(method.upper(), path) for path, item in SITE_API.paths.items() for method in item}
    routed = {(method, route.path) for route in site_routes() if isinstance(route, Route)
              for method in (route.methods or ()) if method != "HEAD"}
    assert described == routed
