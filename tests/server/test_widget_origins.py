"""The widget's allowed sites at run time, against a real server: a site not allowed is told why and refused,
an admin adds it, and the next socket from it is let in without a restart."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Iterator

import orjson
import pytest
from starlette.routing import Route
from websockets.exceptions import ConnectionClosed, InvalidStatus

from switchboard.edges.rest.site import site_routes
from switchboard.store.documents import Site
from switchboard.store.site import update_site
from tests.server.conftest import Backends, Client, Server, admin_token, api, ensure_admin, free_port, make_config

FILE_SITE = "https://configured.example"


def with_site_routes(server: Server) -> Server:
    """The site routes on `server`'s app, unless the app serves them already (rest/api.py lists them)."""
    paths = {route.path for route in server.app.router.routes if isinstance(route, Route)}
    if "/api/site" not in paths:
        server.app.router.routes[:0] = site_routes()
    return server


@pytest.fixture(scope="module")
def origins(backends: Backends) -> Iterator[Server]:
    config = make_config(backends, allowed_origins=[FILE_SITE])
    config.recover = False  # other modules' servers own the open conversations of the shared store
    srv = with_site_routes(Server(config, free_port())).start()
    ensure_admin()
    Site.objects.delete()
    yield srv
    Site.objects.delete()  # the store is the session's: later servers start with the default site
    srv.stop()


def refusal(server: Server, origin: str) -> tuple[dict[str, Any], int | None]:
    """The error frame a visitor socket from `origin` gets, and the close code that follows it."""
    conn = server.ws("/ws/visitor", origin=origin)
    error = orjson.loads(conn.recv(timeout=5))
    with pytest.raises(ConnectionClosed) as closed:
        conn.recv(timeout=5)
    return error, closed.value.rcvd.code if closed.value.rcvd else None


def welcomed(server: Server, origin: str) -> bool:
    """Whether a visitor socket from `origin` is welcomed (a refused one is closed after its error frame)."""
    client = Client(server.ws("/ws/visitor", origin=origin))
    try:
        client.send("hello")
        frame = client.next()
    except ConnectionClosed:
        return False
    finally:
        client.close()
    return bool(frame["type"] == "welcome")


def site(server: Server, token: str, origins: list[str]) -> None:
    response = api(server, token).patch("/api/site", json={"allowed_origins": origins})
    assert response.status_code == 200, response.text


def test_a_site_not_allowed_is_told_which_setting_to_change_then_let_in_once_an_admin_adds_it(origins: Server) -> None:
    shop = f"https://shop-{uuid.uuid4().hex[:6]}.example"
    error, code = refusal(origins, shop)
    assert error["type"] == "error" and error["code"] == "origin_not_allowed"
    assert shop in error["message"] and "Allowed sites" in error["message"] and "allowed_origins" in error["message"]
    assert code == 1008

    site(origins, admin_token(origins), [shop.upper() + "/"])
    assert welcomed(origins, shop)  # the write went through this process: at once, no restart
    assert welcomed(origins, FILE_SITE)  # the settings file's sites still count beside the stored ones
    site(origins, admin_token(origins), [])
    assert refusal(origins, shop)[0]["code"] == "origin_not_allowed"


def test_a_site_stored_by_another_process_is_let_in_within_the_caches_two_seconds(origins: Server) -> None:
    shop = f"https://other-{uuid.uuid4().hex[:6]}.example"
    assert refusal(origins, shop)[0]["code"] == "origin_not_allowed"
    update_site(allowed_origins=[shop])  # as another process writes it: this server's cache is not told
    began = time.monotonic()
    while not welcomed(origins, shop):
        assert time.monotonic() - began < 3.0, "the stored site was not let in within 3 s"
        time.sleep(0.2)
    update_site(allowed_origins=[])


def test_a_refused_site_is_logged_once_however_often_it_tries(origins: Server, caplog: pytest.LogCaptureFixture) -> None:
    shop = f"https://noisy-{uuid.uuid4().hex[:6]}.example"
    with caplog.at_level(logging.WARNING, logger="switchboard.ws"):
        refusal(origins, shop)
        refusal(origins, shop)
    lines = [r.getMessage() for r in caplog.records if shop in r.getMessage()]
    assert len(lines) == 1, lines
    assert "allowed_origins" in lines[0] and "Allowed sites" in lines[0]


def test_the_agent_socket_reads_the_same_sites(origins: Server) -> None:
    shop = f"https://desk-{uuid.uuid4().hex[:6]}.example"
    with pytest.raises(InvalidStatus) as refused:
        origins.ws("/ws/agent", origin=shop)
    assert refused.value.response.status_code == 403
    site(origins, admin_token(origins), [shop])
    conn = origins.ws("/ws/agent", origin=shop)  # accepted: the hello is what it is asked for next
    conn.close()
    site(origins, admin_token(origins), [])


def test_the_widget_pages_policy_lets_a_site_added_at_run_time_frame_it(origins: Server) -> None:
    shop = f"https://frame-{uuid.uuid4().hex[:6]}.example"
    assert shop not in api(origins).get("/widget").headers["content-security-policy"]
    site(origins, admin_token(origins), [shop])
    policy = api(origins).get("/widget").headers["content-security-policy"]
    assert policy.endswith(f"frame-ancestors 'self' {FILE_SITE} {shop}")
    site(origins, admin_token(origins), [])
