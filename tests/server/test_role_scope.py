"""Every REST route, called by each kind of user: who gets through and who is refused (docs/accounts.md, "Roles").

The table below names, for every operation of the OpenAPI description, who may call it: anyone, any logged-in
user, an admin, or a steerer (an admin, or the supervisor of the group the call touches). A test checks the
table covers exactly the served routes, so a new route cannot be added without saying who may call it; another
calls every route as an anonymous caller, an agent, the supervisor of group A and an admin, against a target in
group A and one in group B, and checks each answer: refused (401, 403 or 404) where the table says so, and
never refused, nor a server error, where it lets the caller through. Destructive calls get fresh targets.
Real server, real store.
"""

from __future__ import annotations


import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from PIL import Image
from starlette.routing import Route

from switchboard.edges.auth import Passwords
from switchboard.edges.rest.api import OPENAPI, api_routes
from switchboard.store.users import Role, insert_user
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, admin_token, api, login

# steerer: an admin, or the supervisor of the target's group; lister: an admin or any supervisor (the answer
# holds only what the caller steers: tests/edges/test_accounts.py and test_groups_admin.py check the contents)
# visitor: a widget route that takes a visitor's token, which none of these callers holds (all are refused)
Who = Literal["anyone", "logged_in", "admin", "steerer", "lister", "visitor"]
Caller = Literal["anonymous", "agent", "supervisor", "admin"]
PASSWORD = "scope-password-1"
CALLERS: tuple[Caller, ...] = ("anonymous", "agent", "supervisor", "admin")
WEEK = {"from": "2026-12-01", "to": "2026-12-07", "tz": "Europe/Paris"}
# routes after which the callers log in again (logins hash with argon2's production cost: only when needed)
ENDS_SESSIONS = {("POST", "/api/auth/logout"), ("POST", "/api/me/password")}


def _no_conversation(world: "World", group: str) -> dict[str, str]:
    return {"conversation": "c-0000000000000000"}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    """Two groups (A: the supervisor's, B: not), tokens per caller, and makers of fresh targets."""

    server: Server
    group_a: str
    group_b: str
    emails: dict[Caller, str]
    passwords: dict[Caller, str]
    tokens: dict[Caller, str | None] = field(default_factory=dict)
    current: Caller = "anonymous"

    def log_in_everyone(self) -> None:
        """Fresh sessions: a route before may have logged out or changed a password."""
        self.tokens = {"anonymous": None, **{c: login(self.server, self.emails[c], self.passwords[c])
                                             for c in self.emails}}

    def client(self, who: Caller) -> httpx.Client:
        self.current = who
        return api(self.server, self.tokens[who])

    def user(self, group: str, roles: tuple[Role, ...] = ("agent",)) -> str:
        email = f"t-{uuid.uuid4().hex[:10]}@example.com"
        return str(insert_user(roles, email, Passwords().hash(PASSWORD), nickname="T", saturation=2,
                               groups=(group,)).id)

    def group(self) -> str:
        group = f"g{uuid.uuid4().hex[:8]}"
        assert self.client("admin").post("/api/groups", json={"id": group}).status_code == 201
        return group


@dataclass(frozen=True)
class Call:
    who: Who
    # the path's parameters for a target in group `g` (fresh where the call destroys or changes it)
    params: Callable[[World, str], dict[str, str]] = lambda world, group: {}
    body: Callable[[World, str], Any] = lambda world, group: None
    raw: bytes | None = None  # a raw body (images, documents) instead of JSON
    query: dict[str, str] = field(default_factory=dict)


def _agent(world: World, group: str) -> dict[str, str]:
    return {"user": world.user(group)}


def _agent_in(world: World, group: str) -> dict[str, str]:
    return {"agent": world.user(group)}


ROUTES: dict[tuple[str, str], Call] = {
    ("POST", "/api/auth/login"): Call("anyone", body=lambda w, g: {"email": w.emails["agent"],
                                                                   "password": w.passwords["agent"]}),
    ("POST", "/api/auth/logout"): Call("logged_in"),
    ("GET", "/api/me"): Call("logged_in"),
    ("PATCH", "/api/me"): Call("logged_in", body=lambda w, g: {"phone": "+1 555 0100"}),
    ("POST", "/api/me/password"): Call("logged_in", body=lambda w, g: {"old_password": w.passwords.get(w.current, "not-logged-in"),
                                                                       "new_password": w.passwords.get(w.current, "not-logged-in")}),
    ("POST", "/api/me/email"): Call("logged_in", body=lambda w, g: {"email": f"n-{uuid.uuid4().hex[:8]}@example.com",
                                                                    "password": w.passwords.get(w.current, "not-logged-in")}),
    ("PUT", "/api/me/avatar"): Call("logged_in", raw=_png()),
    ("DELETE", "/api/me/avatar"): Call("logged_in"),
    ("POST", "/api/agents"): Call("admin", body=lambda w, g: {"email": f"a-{uuid.uuid4().hex[:8]}@example.com",
                                                               "password": "agent-password", "groups": [g]}),
    ("GET", "/api/agents"): Call("admin"),
    ("PATCH", "/api/agents/{agent}"): Call("admin", params=_agent_in, body=lambda w, g: {"saturation": 3}),
    ("POST", "/api/groups"): Call("admin", body=lambda w, g: {"id": f"g{uuid.uuid4().hex[:8]}"}),
    ("GET", "/api/groups"): Call("lister"),
    ("PATCH", "/api/groups/{group}"): Call("admin", params=lambda w, g: {"group": g}, body=lambda w, g: {"name": "G"}),
    ("DELETE", "/api/groups/{group}"): Call("admin", params=lambda w, g: {"group": w.group()}),
    ("PUT", "/api/groups/{group}/members/{agent}"): Call("admin", params=lambda w, g: {"group": g,
                                                                                       "agent": w.user(g)}),
    ("DELETE", "/api/groups/{group}/members/{agent}"): Call("admin", params=lambda w, g: {"group": g,
                                                                                          "agent": w.user(g)}),
    ("GET", "/api/openapi.json"): Call("anyone"),
    ("GET", "/api/admin/kb/documents"): Call("admin"),
    ("PUT", "/api/admin/kb/documents/{name}"): Call("admin", params=lambda w, g: {"name": "scope.md"},
                                                    raw=b"# Scope\n\nA test document.\n"),
    ("DELETE", "/api/admin/kb/documents/{name}"): Call("admin", params=lambda w, g: {"name": "scope.md"}),
    ("GET", "/api/admin/kb/ask"): Call("admin", query={"q": "hello"}),
    ("PUT", "/api/admin/kb/demo"): Call("admin", body=lambda w, g: {"on": False}),
    ("GET", "/api/directory"): Call("logged_in"),
    ("GET", "/api/visitors/{visitor}"): Call("admin", params=lambda w, g: {"visitor": "v-nobody"}),
    ("GET", "/api/setup"): Call("anyone"),
    ("POST", "/api/setup"): Call("anyone", body=lambda w, g: {"code": "AAAA-BBBB-CCCC", "email": "x@example.com",
                                                               "password": "setup-password"}),
    ("GET", "/api/users"): Call("lister"),
    ("POST", "/api/users"): Call("steerer", body=lambda w, g: {"email": f"i-{uuid.uuid4().hex[:8]}@example.com",
                                                                "roles": ["agent"], "groups": [g]}),
    ("PATCH", "/api/users/{user}"): Call("steerer", params=_agent, body=lambda w, g: {"saturation": 4}),
    ("DELETE", "/api/users/{user}"): Call("admin", params=_agent),
    ("POST", "/api/users/{user}/deactivate"): Call("steerer", params=_agent),
    ("POST", "/api/users/{user}/reactivate"): Call("steerer", params=_agent),
    ("POST", "/api/users/{user}/password-reset"): Call("steerer", params=_agent),
    ("POST", "/api/users/{user}/invite"): Call("steerer", params=_agent),
    ("POST", "/api/account/forgot"): Call("anyone", body=lambda w, g: {"email": "nobody@example.com"}),
    ("POST", "/api/account/token"): Call("anyone", body=lambda w, g: {"token": "not-a-link"}),
    ("POST", "/api/account/password"): Call("anyone", body=lambda w, g: {"token": "not-a-link",
                                                                         "password": "link-password"}),
    ("POST", "/api/account/email"): Call("anyone", body=lambda w, g: {"token": "not-a-link"}),
    ("GET", "/api/admin/mail"): Call("admin"),
    ("GET", "/api/images/{image}"): Call("anyone", params=lambda w, g: {"image": "team-logo"}),
    ("GET", "/api/site"): Call("admin"),
    ("PATCH", "/api/site"): Call("admin", body=lambda w, g: {"widget_title": "Help"}),
    ("PUT", "/api/site/logo"): Call("admin", raw=_png()),
    ("DELETE", "/api/site/logo"): Call("admin"),
    ("GET", "/api/team"): Call("logged_in"),
    ("GET", "/api/widget/config"): Call("anyone"),
    ("GET", "/api/reports/overview"): Call("lister", query=WEEK),
    ("GET", "/api/reports/agents"): Call("logged_in", query=WEEK),  # an agent gets its own row only
    ("GET", "/api/reports/agents/{agent}/timeline"): Call("steerer", params=_agent_in, query=WEEK),
    ("GET", "/api/reports/channels"): Call("lister", query=WEEK),
    ("GET", "/api/reports/bot"): Call("admin", query=WEEK),
    # history: every logged-in user, each seeing only its scope (tests/edges/test_history_rest.py checks what)
    ("GET", "/api/history/conversations"): Call("logged_in"),
    ("GET", "/api/history/conversations/export"): Call("logged_in", query={"format": "csv"}),
    ("GET", "/api/history/conversations/{conversation}"): Call("logged_in", params=_no_conversation),
    ("GET", "/api/history/conversations/{conversation}/export"): Call("logged_in", params=_no_conversation),
    ("GET", "/api/history/visitors/{visitor}"): Call("logged_in", params=lambda w, g: {"visitor": "v-nobody"}),
    # canned replies: every logged-in user, each managing only its scopes (tests/edges/test_canned_rest.py)
    ("GET", "/api/canned"): Call("logged_in"),
    ("POST", "/api/canned"): Call("logged_in", body=lambda w, g: {"scope": "personal", "shortcut": f"s{uuid.uuid4().hex[:8]}",
                                                                 "text": "Hello"}),
    ("PATCH", "/api/canned/{reply}"): Call("logged_in", params=lambda w, g: {"reply": "cr-0000000000000000"},
                                           body=lambda w, g: {"text": "Hi"}),
    ("DELETE", "/api/canned/{reply}"): Call("logged_in", params=lambda w, g: {"reply": "cr-0000000000000000"}),
    # service hours (tests/edges/test_hours_rest.py)
    ("GET", "/api/hours"): Call("lister"),
    ("PUT", "/api/hours"): Call("admin", body=lambda w, g: {"use": "always"}),
    ("GET", "/api/groups/{group}/hours"): Call("steerer", params=lambda w, g: {"group": g}),
    ("PUT", "/api/groups/{group}/hours"): Call("admin", params=lambda w, g: {"group": g},
                                               body=lambda w, g: {"use": "default"}),
    # leave-a-message: the inbox for the desk, the widget's routes for visitors (tests/edges/test_inbox_rest.py)
    ("GET", "/api/inbox"): Call("logged_in"),
    ("GET", "/api/inbox/{conversation}"): Call("logged_in", params=_no_conversation),
    ("POST", "/api/inbox/{conversation}/assign"): Call("logged_in", params=_no_conversation),
    ("POST", "/api/inbox/{conversation}/reply"): Call("logged_in", params=_no_conversation,
                                                      body=lambda w, g: {"text": "Thanks"}),
    ("GET", "/api/widget/status"): Call("anyone"),
    ("GET", "/api/widget/messages"): Call("visitor"),
    ("POST", "/api/widget/messages"): Call("visitor", body=lambda w, g: {"email": "v@example.com", "text": "Hi"}),
    ("OPTIONS", "/api/widget/messages"): Call("anyone"),
    # routing: the identity secret, a document's hand-off group (tests/edges/test_widget_groups.py, test_bot_routing)
    ("GET", "/api/site/identity"): Call("admin"),
    ("POST", "/api/site/identity/regenerate"): Call("admin"),
    ("PATCH", "/api/admin/kb/documents/{name}"): Call("admin", params=lambda w, g: {"name": "scope.md"},
                                                      body=lambda w, g: {"group": None}),
}


def _served() -> set[tuple[str, str]]:
    """Every route as OpenAPI names it (`path_format`: a converter such as "{name:path}" is the plain "{name}")."""
    return {(method, route.path_format) for route in api_routes()
            if isinstance(route, Route) for method in (route.methods or ()) if method != "HEAD"}


def test_the_table_says_who_may_call_every_route_the_server_serves() -> None:
    assert set(ROUTES) == _served()
    described = {(m.upper(), p) for p, ops in OPENAPI["paths"].items() for m in ops}
    assert set(ROUTES) == described


@pytest.fixture(scope="module")
def people(server: Server) -> World:
    admin = api(server, admin_token(server))
    group_a, group_b = f"ga{uuid.uuid4().hex[:6]}", f"gb{uuid.uuid4().hex[:6]}"
    for group in (group_a, group_b):
        assert admin.post("/api/groups", json={"id": group}).status_code == 201
    agent, supervisor = (f"{who}-{uuid.uuid4().hex[:8]}@example.com" for who in ("agent", "supervisor"))
    insert_user("agent", agent, Passwords().hash(PASSWORD), nickname="Agent A", saturation=2, groups=(group_a,))
    insert_user("supervisor", supervisor, Passwords().hash(PASSWORD), nickname="Sup A", saturation=2,
                supervises=(group_a,))
    return World(server, group_a, group_b, emails={"agent": agent, "supervisor": supervisor, "admin": ADMIN_EMAIL},
                 passwords={"agent": PASSWORD, "supervisor": PASSWORD, "admin": ADMIN_PASSWORD})


@pytest.fixture
def world(people: World) -> World:
    if not people.tokens:  # the first route, or one after a route that ended the callers' sessions
        people.log_in_everyone()
    return people


def _allowed(who: Who, caller: Caller, in_scope: bool) -> bool:
    if who == "anyone":
        return True
    if caller == "anonymous" or who == "visitor":
        return False
    if who == "logged_in":
        return True
    if who == "lister":
        return caller in ("admin", "supervisor")
    if who == "admin":
        return caller == "admin"
    return caller == "admin" or (caller == "supervisor" and in_scope)


def _call(world: World, caller: Caller, method: str, path: str, call: Call, group: str) -> httpx.Response:
    client = world.client(caller)
    url = path.format(**call.params(world, group))
    if call.raw is not None:
        return client.request(method, url, content=call.raw, params=call.query,
                              headers={"Content-Type": "image/png" if call.raw.startswith(b"\x89PNG")
                                       else "application/octet-stream"})
    body = call.body(world, group)
    return client.request(method, url, json=body, params=call.query) if body is not None else \
        client.request(method, url, params=call.query)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_caller_is_let_through_or_refused_as_the_table_says(world: World, route: tuple[str, str]) -> None:
    method, path = route
    call = ROUTES[route]
    wrong: list[str] = []
    for caller in CALLERS:
        for group, in_scope in ((world.group_a, True), (world.group_b, False)):
            response = _call(world, caller, method, path, call, group)
            allowed = _allowed(call.who, caller, in_scope)
            refused = response.status_code in (401, 403) or (response.status_code == 404 and call.who == "steerer")
            if response.status_code >= 500 or (allowed and response.status_code in (401, 403)) or (
                    not allowed and not refused):
                wrong.append(f"{caller} ({'in' if in_scope else 'out of'} scope): {response.status_code} "
                             f"{response.text[:160]}")
            if call.who != "steerer":
                break  # the target's group does not matter to these
    if route in ENDS_SESSIONS:
        world.tokens = {}
    assert not wrong, f"{method} {path} ({call.who}):\n" + "\n".join(wrong)
