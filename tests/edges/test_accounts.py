"""Accounts over REST: users managed within scope, invites and resets by real mail, links used once, deactivation
and deletion (a real embedded store and Redis, an inline engine, a real SMTP server; a real uvicorn where
sockets matter)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import httpx
import orjson
import pytest
import redis
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.actors.start import start_engine
from switchboard.edges.accounts import issue_link, token_id
from switchboard.edges.delivery.names import Names
from switchboard.edges.rest.accounts import ACCOUNTS_API, account_routes
from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.profile import PROFILE_API, profile_routes
from switchboard.edges.rest.setup import SETUP_API, setup_routes
from switchboard.edges.rest.toolkit import describe
from switchboard.mail.sender import MailSender
from switchboard.mail.transport import SmtpTransport
from switchboard.settings import MailSettings, ServerSettings
from switchboard.store.documents import AccountToken, User
from switchboard.store.users import agent_name, get_user
from tests.edges.conftest import CHEAP_PASSWORDS, api_error as error
from tests.mail.smtpd import Inbox, body, running_smtpd
from tests.server.conftest import Backends, Server, free_port, make_config

SECRET = "a-test-secret-of-at-least-32-characters"
ADMIN_ID, ADMIN_EMAIL, ADMIN_PASSWORD = "adm-00000001", "boss@example.com", "boss-password"
BASE_URL = "https://desk.example.com"
LINK = re.compile(r"(https://desk\.example\.com/account#token=([A-Za-z0-9._-]+))")


def my_routes() -> list[BaseRoute]:
    """What api.py serves, with the accounts helper's routes (until api.py names them)."""
    return [*account_routes(CHEAP_PASSWORDS), *profile_routes(CHEAP_PASSWORDS), *setup_routes(CHEAP_PASSWORDS)]


@dataclass
class Desk:
    client: TestClient
    engine: Engine
    redis: redis.Redis
    inbox: Inbox
    sender: MailSender
    responses: list[Any] = field(default_factory=list)

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        response = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             content: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if content is None and body is not None:
            content, sent["Content-Type"] = orjson.dumps(body), "application/json"
        response = self.client.request(method, path, headers=sent, content=content)
        self.responses.append(response)
        return response

    def user(self, admin: str, email: str, **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/api/users", admin, {"email": email, **fields})
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()
        return user

    def group(self, admin: str, group_id: str) -> None:
        assert self.call("POST", "/api/groups", admin, {"id": group_id}).status_code == 201

    def drain(self) -> None:
        assert self.client.portal is not None
        self.client.portal.call(self.sender.drain)

    def mails_to(self, address: str) -> list[EmailMessage]:
        self.drain()
        return [m for m in self.inbox.messages if m["To"] == address]

    def link(self, address: str) -> tuple[str, str]:
        """The (link, token) of the last mail to `address`."""
        mails = self.mails_to(address)
        assert mails, f"no mail to {address}"
        found = LINK.search(body(mails[-1], "plain"))
        assert found is not None, body(mails[-1], "plain")
        return found.group(1), found.group(2)


@pytest.fixture
def desk(store: str, redis_url: str, sync_redis: redis.Redis) -> Iterator[Desk]:
    inbox = Inbox()
    with running_smtpd(inbox) as port:
        engine = start_engine("inline", tune_gc=False)
        aredis = aioredis.Redis.from_url(redis_url)
        mail = MailSettings(host="127.0.0.1", port=port, security="none", backoff_s=0.05, max_attempts=2,
                            timeout_s=5, team_name="Acme Support")
        sender = MailSender(SmtpTransport(mail), mail)
        app = Starlette(routes=[*rest_routes(passwords=CHEAP_PASSWORDS), *my_routes()])
        app.state.services = SimpleNamespace(engine=engine, redis=aredis, settings=ServerSettings(public_url=BASE_URL),
                                             secret=SECRET, mail=sender, mail_settings=mail, names=Names())
        User(id=ADMIN_ID, roles=["admin"], email=ADMIN_EMAIL, nickname="Boss",
             password_hash=CHEAP_PASSWORDS.hash(ADMIN_PASSWORD), created_at=datetime.now(timezone.utc)).save(
            force_insert=True)
        with TestClient(app) as client:
            yield Desk(client, engine, sync_redis, inbox, sender)
            assert client.portal is not None
            client.portal.call(sender.close)
            client.portal.call(aredis.aclose)
        engine.stop()


# --- invitations and links --------------------------------------------------------------------------


def test_an_invited_agent_gets_a_mail_whose_link_sets_the_password_once(desk: Desk) -> None:
    admin = desk.login()
    desk.group(admin, "billing")
    ann = desk.user(admin, "Ann@Example.com", nickname="Ann", groups=["billing"])
    assert (ann["status"], ann["roles"], ann["must_change_password"]) == ("invited", ["agent"], False)
    entity = desk.engine.inspect(Address.agent(ann["id"]))
    assert entity is not None and entity["groups"] == ["billing"]

    link, token = desk.link("ann@example.com")
    mail = desk.mails_to("ann@example.com")[-1]
    assert "Acme Support" in mail["Subject"] and "?token" not in link and link in body(mail, "html")
    error(desk.client.post("/api/auth/login", json={"email": "ann@example.com", "password": "whatever-1"}),
          401, "bad_credentials")  # no password yet

    info = desk.call("POST", "/api/account/token", body={"token": token})
    assert info.json() == {"purpose": "invite", "email": "ann@example.com", "nickname": "Ann"}
    assert desk.call("POST", "/api/account/password", body={"token": token, "password": "ann-password"}
                     ).status_code == 204
    me = desk.call("GET", "/api/me", desk.login("ann@example.com", "ann-password")).json()
    assert (me["status"], me["must_change_password"]) == ("active", False)

    again = desk.call("POST", "/api/account/password", body={"token": token, "password": "eve-password"})
    assert "used already" in error(again, 400, "link_invalid")
    error(desk.call("POST", "/api/account/token", body={"token": token}), 400, "link_invalid")
    desk.login("ann@example.com", "ann-password")


def test_an_invite_can_be_sent_again_until_the_password_is_set(desk: Desk) -> None:
    admin = desk.login()
    ann = desk.user(admin, "ann@example.com")
    assert desk.call("POST", f"/api/users/{ann['id']}/invite", admin).status_code == 202
    assert len(desk.mails_to("ann@example.com")) == 2
    _, token = desk.link("ann@example.com")
    assert desk.call("POST", "/api/account/password", body={"token": token, "password": "ann-password"}
                     ).status_code == 204
    error(desk.call("POST", f"/api/users/{ann['id']}/invite", admin), 409, "conflict")


@pytest.mark.parametrize("token", ["", "nonsense", "a.b.c", {"$ne": None}, ["x"], 7])
def test_a_malformed_link_is_link_invalid_or_a_bad_body(desk: Desk, token: Any) -> None:
    response = desk.call("POST", "/api/account/token", body={"token": token})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("link_invalid", "invalid_argument")


def test_an_expired_link_is_refused(desk: Desk) -> None:
    user = get_user(ADMIN_ID)
    assert user is not None
    token = issue_link(user, "reset", secret=SECRET, now=time.time() - 3700)  # reset links live 1 h
    message = error(desk.call("POST", "/api/account/token", body={"token": token}), 400, "link_invalid")
    assert "expired" in message
    short = issue_link(user, "reset", secret=SECRET, lifetime_s=1)
    time.sleep(2.1)
    error(desk.call("POST", "/api/account/password", body={"token": short, "password": "new-password"}),
          400, "link_invalid")
    desk.login()  # unchanged


def test_a_link_for_one_purpose_does_not_do_another(desk: Desk) -> None:
    user = get_user(ADMIN_ID)
    assert user is not None
    token = issue_link(user, "email", secret=SECRET, email="new@example.com")
    error(desk.call("POST", "/api/account/password", body={"token": token, "password": "new-password"}),
          400, "link_invalid")
    forged = issue_link(user, "reset", secret="another-secret-of-at-least-32-characters")
    error(desk.call("POST", "/api/account/password", body={"token": forged, "password": "new-password"}),
          400, "link_invalid")


def test_a_reset_link_is_voided_by_a_later_password_change(desk: Desk) -> None:
    admin = desk.login()
    ann = desk.user(admin, "ann@example.com", password="first-password")
    assert desk.call("POST", f"/api/users/{ann['id']}/password-reset", admin).status_code == 202
    _, token = desk.link("ann@example.com")
    own = desk.login("ann@example.com", "first-password")
    assert desk.call("POST", "/api/me/password", own, {"old_password": "first-password",
                                                       "new_password": "second-password"}).status_code == 204
    message = error(desk.call("POST", "/api/account/password", body={"token": token, "password": "third-password"}),
                    400, "link_invalid")
    assert "later change" in message
    desk.login("ann@example.com", "second-password")


def test_a_password_typed_by_an_admin_must_be_changed_and_the_flag_clears_when_it_is(desk: Desk) -> None:
    admin = desk.login()
    desk.user(admin, "ann@example.com", password="typed-by-boss")
    assert desk.mails_to("ann@example.com") == []  # no invite: the admin hands the password over
    login = desk.client.post("/api/auth/login", json={"email": "ann@example.com", "password": "typed-by-boss"}).json()
    assert login["user"]["must_change_password"] is True and login["user"]["status"] == "active"
    desk.call("POST", "/api/me/password", login["token"], {"old_password": "typed-by-boss",
                                                           "new_password": "chosen-by-ann"})
    assert desk.call("GET", "/api/me", desk.login("ann@example.com", "chosen-by-ann")).json()[
        "must_change_password"] is False


def test_forgot_password_answers_the_same_for_a_known_and_an_unknown_email_and_mails_only_the_known(
        desk: Desk) -> None:
    admin = desk.login()
    desk.user(admin, "ann@example.com", password="first-password")
    old_session = desk.login("ann@example.com", "first-password")
    known = desk.call("POST", "/api/account/forgot", body={"email": " Ann@Example.com "})
    unknown = desk.call("POST", "/api/account/forgot", body={"email": "nobody@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content) == (202, b"")
    assert desk.mails_to("nobody@example.com") == []
    assert len(desk.mails_to("ann@example.com")) == 1
    _, token = desk.link("ann@example.com")
    assert desk.call("POST", "/api/account/password", body={"token": token, "password": "reset-password"}
                     ).status_code == 204
    error(desk.call("GET", "/api/me", old_session), 401, "session_ended")
    desk.login("ann@example.com", "reset-password")


def test_forgot_password_is_throttled_per_address(desk: Desk) -> None:
    answers = [desk.call("POST", "/api/account/forgot", body={"email": "ann@example.com"}).status_code
               for _ in range(8)]
    assert answers[:5] == [202] * 5 and 429 in answers


# --- users within scope -----------------------------------------------------------------------------


def test_a_supervisor_sees_and_manages_only_agents_of_its_groups(desk: Desk) -> None:
    admin = desk.login()
    for group in ("billing", "sales"):
        desk.group(admin, group)
    desk.user(admin, "sue@example.com", roles=["supervisor"], supervises=["billing"], password="sue-password")
    billing = desk.user(admin, "ann@example.com", groups=["billing"], password="ann-password")
    sales = desk.user(admin, "bob@example.com", groups=["sales"], password="bob-password")
    sue = desk.login("sue@example.com", "sue-password")

    seen = {u["email"] for u in desk.call("GET", "/api/users", sue).json()}
    assert seen == {"sue@example.com", "ann@example.com"}
    assert {u["email"] for u in desk.call("GET", "/api/users", admin).json()} >= seen | {"bob@example.com",
                                                                                       ADMIN_EMAIL}
    created = desk.user(sue, "cid@example.com", groups=["billing"])
    assert created["roles"] == ["agent"] and created["status"] == "invited"
    error(desk.call("POST", "/api/users", sue, {"email": "dan@example.com", "groups": ["sales"]}), 403, "forbidden")
    error(desk.call("POST", "/api/users", sue, {"email": "dan@example.com", "groups": ["billing"],
                                                "roles": ["supervisor"]}), 403, "forbidden")
    error(desk.call("POST", "/api/users", sue, {"email": "dan@example.com"}), 403, "forbidden")

    changed = desk.call("PATCH", f"/api/users/{billing['id']}", sue, {"nickname": "Annie", "saturation": 9})
    assert (changed.json()["nickname"], changed.json()["saturation"]) == ("Annie", 9)
    entity = desk.engine.inspect(Address.agent(billing["id"]))
    assert entity is not None and entity["saturation"] == 9
    error(desk.call("PATCH", f"/api/users/{billing['id']}", sue, {"groups": ["billing", "sales"]}), 403, "forbidden")
    error(desk.call("PATCH", f"/api/users/{billing['id']}", sue, {"roles": ["agent", "admin"]}), 403, "forbidden")
    error(desk.call("PATCH", f"/api/users/{sales['id']}", sue, {"nickname": "x"}), 404, "not_found")
    error(desk.call("POST", f"/api/users/{sales['id']}/deactivate", sue), 404, "not_found")
    error(desk.call("POST", f"/api/users/{ADMIN_ID}/password-reset", sue), 404, "not_found")
    error(desk.call("DELETE", f"/api/users/{billing['id']}", sue), 403, "forbidden")
    assert desk.call("POST", f"/api/users/{billing['id']}/deactivate", sue).json()["status"] == "deactivated"
    agent = desk.login("bob@example.com", "bob-password")
    error(desk.call("GET", "/api/users", agent), 403, "forbidden")


def test_an_admin_moves_an_agent_between_groups_and_the_engine_follows(desk: Desk) -> None:
    admin = desk.login()
    for group in ("billing", "sales"):
        desk.group(admin, group)
    ann = desk.user(admin, "ann@example.com", groups=["billing"])
    moved = desk.call("PATCH", f"/api/users/{ann['id']}", admin, {"groups": ["sales"]})
    assert moved.json()["groups"] == ["sales"]
    entity = desk.engine.inspect(Address.agent(ann["id"]))
    assert entity is not None and entity["groups"] == ["sales"]
    error(desk.call("PATCH", f"/api/users/{ann['id']}", admin, {"groups": ["nowhere"]}), 400, "invalid_argument")


def test_the_last_active_admin_cannot_be_demoted_deactivated_or_deleted_and_nobody_removes_themselves(
        desk: Desk) -> None:
    admin = desk.login()
    error(desk.call("PATCH", f"/api/users/{ADMIN_ID}", admin, {"roles": ["agent"]}), 409, "last_admin")
    error(desk.call("POST", f"/api/users/{ADMIN_ID}/deactivate", admin), 400, "invalid_argument")
    error(desk.call("DELETE", f"/api/users/{ADMIN_ID}", admin), 400, "invalid_argument")
    other = desk.user(admin, "root@example.com", roles=["admin"], password="root-password")
    assert desk.call("POST", f"/api/users/{other['id']}/deactivate", admin).status_code == 200
    error(desk.call("POST", f"/api/users/{ADMIN_ID}/deactivate", desk.login()), 400, "invalid_argument")
    assert desk.call("POST", f"/api/users/{other['id']}/reactivate", admin).json()["status"] == "active"
    root = desk.login("root@example.com", "root-password")
    assert desk.call("PATCH", f"/api/users/{ADMIN_ID}", root, {"roles": ["agent"]}).json()["roles"] == ["agent"]
    error(desk.call("DELETE", f"/api/users/{other['id']}", root), 400, "invalid_argument")


def test_a_blank_nickname_is_accepted_everywhere_and_invisible_characters_count_as_blank(desk: Desk) -> None:
    admin = desk.login()
    for nickname in ("", "   ", "\u200b\u200b", "\u3164"):
        user = desk.user(admin, f"n{len(desk.responses)}@example.com", nickname=nickname)
        assert user["nickname"] == ""
        assert agent_name(user["id"]) == "Agent"  # what visitors see
    agent = desk.call("POST", "/api/agents", admin, {"email": "old@example.com", "password": "old-password",
                                                     "nickname": " "})
    assert agent.status_code == 201 and agent.json()["nickname"] == ""
    me = desk.call("PATCH", "/api/me", admin, {"nickname": " \u200b Boss \u200b ", "phone": " +1 555 0100 "})
    assert (me.json()["nickname"], me.json()["phone"]) == ("Boss", "+1 555 0100")
    assert desk.call("PATCH", "/api/me", admin, {"nickname": "\t"}).json()["nickname"] == ""
    for bad in ({"nickname": "Bo\nss"}, {"nickname": "a\x00b"}, {"nickname": {"$ne": None}}, {"phone": "call me"},
                {"role": "admin"}):
        error(desk.call("PATCH", "/api/me", admin, bad), 400, "invalid_argument")


# --- deactivation and deletion ----------------------------------------------------------------------


def test_deletion_keeps_the_name_for_history_frees_the_email_and_forgets_the_password(desk: Desk) -> None:
    admin = desk.login()
    desk.group(admin, "billing")
    ann = desk.user(admin, "ann@example.com", nickname="Ann", groups=["billing"], password="ann-password")
    session = desk.login("ann@example.com", "ann-password")
    assert desk.call("DELETE", f"/api/users/{ann['id']}", admin).status_code == 204
    error(desk.call("GET", "/api/me", session), 401, "session_ended")
    error(desk.client.post("/api/auth/login", json={"email": "ann@example.com", "password": "ann-password"}),
          401, "bad_credentials")
    stored = User.objects.get(id=ann["id"])
    assert (stored.email, stored.password_hash, list(stored.groups), stored.active) == (
        f"deleted-{ann['id']}@invalid", "", [], False)
    assert stored.deleted_at is not None and agent_name(ann["id"]) == "Ann"
    entity = desk.engine.inspect(Address.agent(ann["id"]))
    assert entity is not None and entity["groups"] == [] and entity["presence"] == "offline"
    assert ann["id"] not in {u["id"] for u in desk.call("GET", "/api/users", admin).json()}
    error(desk.call("PATCH", f"/api/users/{ann['id']}", admin, {"nickname": "x"}), 404, "not_found")
    again = desk.user(admin, "ann@example.com", nickname="New Ann")  # the address is free
    assert again["id"] != ann["id"]


def test_a_deactivated_user_with_the_right_password_is_told_so_and_with_a_wrong_one_is_not(desk: Desk) -> None:
    admin = desk.login()
    ann = desk.user(admin, "ann@example.com", password="ann-password")
    desk.call("POST", f"/api/users/{ann['id']}/deactivate", admin)
    error(desk.client.post("/api/auth/login", json={"email": "ann@example.com", "password": "ann-password"}),
          403, "account_deactivated")
    error(desk.client.post("/api/auth/login", json={"email": "ann@example.com", "password": "wrong-password"}),
          401, "bad_credentials")
    assert desk.call("POST", "/api/account/forgot", body={"email": "ann@example.com"}).status_code == 202
    assert desk.mails_to("ann@example.com") == []
    error(desk.call("POST", f"/api/users/{ann['id']}/password-reset", admin), 409, "conflict")
    desk.call("POST", f"/api/users/{ann['id']}/reactivate", admin)
    desk.login("ann@example.com", "ann-password")


def test_the_mail_log_lists_mails_without_bodies_for_admins_only(desk: Desk) -> None:
    admin = desk.login()
    desk.user(admin, "ann@example.com", password="ann-password")
    desk.user(admin, "bob@example.com")
    desk.drain()
    mails = desk.call("GET", "/api/admin/mail", admin).json()
    assert [(m["to"], m["state"], m["attempts"]) for m in mails] == [("bob@example.com", "sent", 1)]
    assert set(mails[0]) == {"id", "to", "subject", "state", "attempts", "last_error", "queued_at", "updated_at"}
    assert "token" not in orjson.dumps(mails).decode()
    error(desk.call("GET", "/api/admin/mail", desk.login("ann@example.com", "ann-password")), 403, "forbidden")


# --- nothing secret in logs, answers or the store ---------------------------------------------------


def test_no_password_token_or_link_secret_reaches_a_log_an_answer_or_the_store(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = desk.login()
    ann = desk.user(admin, "ann@example.com", nickname="Ann")
    _, invite = desk.link("ann@example.com")
    desk.call("POST", "/api/account/token", body={"token": invite})
    desk.call("POST", "/api/account/password", body={"token": invite, "password": "ann-secret-password"})
    desk.call("POST", "/api/account/forgot", body={"email": "ann@example.com"})
    _, reset = desk.link("ann@example.com")
    desk.call("POST", "/api/account/password", body={"token": reset, "password": "ann-second-password"})
    session = desk.login("ann@example.com", "ann-second-password")
    desk.call("GET", "/api/users", admin)
    desk.call("GET", "/api/me", session)

    secrets = ["ann-secret-password", "ann-second-password", ADMIN_PASSWORD, invite, reset, session, admin, SECRET]
    jtis = [_jti(t) for t in (invite, reset)]
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the mail sender logged its sends
    for secret in [*secrets, *jtis]:
        assert secret not in logged
    for response in desk.responses:
        assert "password_hash" not in response.text and "argon2" not in response.text
        for secret in ["ann-secret-password", "ann-second-password", *jtis]:
            assert secret not in response.text
    stored = [orjson.dumps(d, default=str).decode() for d in AccountToken._get_collection().find({})]
    stored += [orjson.dumps(d, default=str).decode() for d in User._get_collection().find({})]
    assert all(secret not in text for text in stored for secret in [*secrets, *jtis])
    ids = {t.id for t in AccountToken.objects(user=ann["id"])}
    assert ids == {token_id(j) for j in jtis} and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)


def _jti(token: str) -> str:
    import jwt

    jti: str = jwt.decode(token, SECRET, algorithms=["HS256"])["jti"]
    return jti


def test_the_helpers_description_parts_fit_beside_each_other_and_name_every_route() -> None:
    spec = describe({"title": "t", "version": "1"}, [ACCOUNTS_API, PROFILE_API, SETUP_API])
    served = {(method.lower(), route.path) for route in my_routes() if isinstance(route, Route)
              for method in (route.methods or ()) if method != "HEAD"}
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served == described


# --- a live server: sockets close at once --------------------------------------------------------------


@pytest.fixture
def live(store: str, redis_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = Server(make_config(Backends(tmp_path, redis_url, store)), free_port())
    served = {(r.path, tuple(sorted(r.methods or ()))) for r in srv.app.router.routes if isinstance(r, Route)}
    srv.app.router.routes[:0] = [r for r in my_routes() if isinstance(r, Route)
                                 and (r.path, tuple(sorted(r.methods or ()))) not in served]
    srv.start()
    User(id=ADMIN_ID, roles=["admin"], email=ADMIN_EMAIL, password_hash=CHEAP_PASSWORDS.hash(ADMIN_PASSWORD),
         created_at=datetime.now(timezone.utc)).save(force_insert=True)
    yield srv
    srv.stop()


def test_deactivation_closes_the_users_live_agent_socket_at_once_with_4001(live: Server) -> None:
    http = httpx.Client(base_url=live.url, timeout=10)
    admin = http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {admin}"}
    assert http.post("/api/groups", json={"id": "billing"}, headers=auth).status_code == 201
    ann = http.post("/api/users", json={"email": "ann@example.com", "groups": ["billing"], "password": "ann-password"},
                    headers=auth).json()
    token = http.post("/api/auth/login", json={"email": "ann@example.com", "password": "ann-password"}).json()["token"]
    with live.ws("/ws/agent") as sock:
        sock.send(orjson.dumps({"type": "hello", "token": token}).decode())
        assert orjson.loads(sock.recv(timeout=5))["type"] == "welcome"
        sock.send(orjson.dumps({"type": "presence", "presence": "online"}).decode())
        started = time.monotonic()
        assert http.post(f"/api/users/{ann['id']}/deactivate", headers=auth).status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                sock.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        assert time.monotonic() - started < 3
    refused = http.post("/api/auth/login", json={"email": "ann@example.com", "password": "ann-password"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "account_deactivated")
    deadline = time.monotonic() + 5
    while (entity := live.services.engine.inspect(Address.agent(ann["id"]))) and entity["presence"] != "offline":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    http.close()
