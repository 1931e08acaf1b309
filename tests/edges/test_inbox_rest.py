"""Leave-a-message over REST: the widget's status, the visitor's form, the agents' inbox, the reply mailed.

A real store and Redis, the real store writer (with its report keeper), an inline engine whose queues the
group routes configure; the mail sender is a list."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from switchboard.edges.auth import issue_visitor_token
from switchboard.edges.rest import inbox as inbox_rest
from switchboard.edges.rest.api import OPENAPI, rest_routes
from switchboard.edges.rest.hours import hours_routes
from switchboard.edges.rest.inbox import inbox_routes
from switchboard.edges.rest.reports import report_routes
from switchboard.mail.message import OutgoingMail
from switchboard.settings import MailSettings, ServerSettings
from switchboard.store import report_reads
from switchboard.store.documents import Conversation, Message, ReportShard, ReportWriter, TermShard, Visitor
from switchboard.store.inbox import InboxEntry
from switchboard.store.writer import StoreWriter
from tests.edges.conftest import CHEAP_PASSWORDS, SECRET, RestWorld, add_user, api_error, rest_app


class Outbox:
    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def submit(self, mail: OutgoingMail) -> None:
        self.sent.append(mail)


@dataclass
class World(RestWorld):
    writer: StoreWriter
    outbox: Outbox
    tokens: dict[str, str] = field(default_factory=dict)

    def visitor(self, visitor: str = "v-ann") -> str:
        return issue_visitor_token(visitor, 3600, secret=SECRET)

    def leave(self, token: str, **body: Any) -> Any:
        return self.call("POST", "/api/widget/messages", token,
                         {"email": "ann@shop.example", "text": "Where is my order 42?", **body})

    def flush(self) -> None:
        assert self.client.portal is not None
        self.client.portal.call(self.writer.flush_reports)


@pytest.fixture
def world(store: str, redis_url: str) -> Iterator[World]:
    for document in (ReportShard, ReportWriter, TermShard):
        document._get_collection().delete_many({})
    report_reads.clear_cache()
    add_user("admin", "boss@example.com", nickname="Boss")
    add_user("agent", "rosa@example.com", nickname="Rosa", groups=["support"])
    add_user("agent", "bob@example.com", nickname="Bob", groups=["sales"])
    add_user("supervisor", "sue@example.com", nickname="Sue", supervises=["support"])
    writer, outbox = StoreWriter(), Outbox()
    with rest_app(redis_url, [*rest_routes(passwords=CHEAP_PASSWORDS), *hours_routes(), *inbox_routes(),
                              *report_routes()],
                  settings=ServerSettings(default_group="support"), writer=writer, mail=outbox,
                  mail_settings=MailSettings(team_name="Pedalwise")) as (client, engine):
        w = World(client, engine, writer, outbox)
        admin = w.login()
        w.group(admin, "support", name="Support")
        w.group(admin, "sales", name="Sales")
        w.tokens = {"admin": admin, "rosa": w.login("rosa@example.com"), "bob": w.login("bob@example.com"),
                    "sue": w.login("sue@example.com")}
        yield w
        assert client.portal is not None
        client.portal.call(writer.close)


# --- the widget's status ------------------------------------------------------------------------------


def test_the_status_of_an_open_group_without_agents_and_of_a_closed_one_with_its_next_opening(world: World) -> None:
    response = world.client.get("/api/widget/status")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {"group": "support", "status": "open_no_agents", "next_opening": None,
                               "off_hours_reply": ""}

    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    closed = {"timezone": "UTC", "rules": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                            "start": "09:00", "end": "17:00"}, {"date": today, "closed": True}]}
    put = world.call("PUT", "/api/groups/sales/hours", world.tokens["admin"],
                     {"use": "own", "schedule": closed, "at_closing": "serve", "off_hours_reply": "Back soon!"})
    assert put.status_code == 200, put.text
    body = world.client.get("/api/widget/status", params={"group": "sales"}).json()
    assert (body["status"], body["off_hours_reply"]) == ("closed", "Back soon!")
    assert body["next_opening"] > time.time()
    assert datetime.fromtimestamp(body["next_opening"], timezone.utc).strftime("%H:%M") == "09:00"


def test_the_status_is_kept_a_moment_and_unknown_or_malformed_groups_are_refused(world: World) -> None:
    first = world.client.get("/api/widget/status", params={"group": "sales"}).json()
    world.call("PUT", "/api/groups/sales/hours", world.tokens["admin"],
               {"use": "own", "schedule": {"timezone": "UTC", "rules": []}, "at_closing": "serve",
                "off_hours_reply": ""})
    assert world.client.get("/api/widget/status", params={"group": "sales"}).json() == first  # cached
    world.client.app.state.widget_status_cache.clear()  # type: ignore[attr-defined]
    assert world.client.get("/api/widget/status", params={"group": "sales"}).json()["status"] == "closed"

    assert api_error(world.client.get("/api/widget/status", params={"group": "nope"}), 404, "not_found") == \
        "no such group"
    api_error(world.client.get("/api/widget/status", params={"group": "../etc"}), 400, "invalid_argument")


# --- leaving a message --------------------------------------------------------------------------------


def test_a_left_message_is_an_offline_conversation_in_the_groups_inbox_and_counts_in_reports(world: World) -> None:
    Visitor(id="v-ann", name="Ann", created_at=datetime.now(timezone.utc)).save()
    response = world.leave(world.visitor(), group="support", reason="closed")
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    conversation = response.json()["conversation"]
    world.flush()

    stored = Conversation._get_collection().find_one({"_id": conversation})
    assert (stored["visitor"], stored["channel"], stored["phase"], stored["group"]) == \
        ("v-ann", "message", "message", "support")
    assert stored["queued_at"] is None and stored["assigned_at"] is None
    [message] = Message._get_collection().find({"conversation": conversation})
    assert (message["seq"], message["sender_role"], message["text"]) == (1, "visitor", "Where is my order 42?")
    entry = InboxEntry.objects.get(id=conversation)
    assert (entry.group, entry.email, entry.name, entry.state, entry.reason) == \
        ("support", "ann@shop.example", "Ann", "open", "closed")
    assert Visitor.objects.get(id="v-ann").email == "ann@shop.example"  # it had none

    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    report_reads.clear_cache()
    channels = world.call("GET", f"/api/reports/channels?from={today}&to={today}", world.tokens["admin"]).json()
    assert {"channel": "message", "visits": 1, "visitors": 1, "conversations": 1} in channels["channels"]
    overview = world.call("GET", f"/api/reports/overview?from={today}&to={today}&channel=message",
                          world.tokens["admin"]).json()["totals"]
    assert (overview["opened"], overview["handed_off"], overview["assigned"], overview["closed"],
            overview["wait_avg_s"]) == (1, 0, 0, 0, None)


def test_the_form_is_checked_and_needs_a_visitor_token(world: World) -> None:
    token = world.visitor()
    api_error(world.call("POST", "/api/widget/messages", None, {"email": "a@b.example", "text": "hi"}), 401,
              "token_missing")
    api_error(world.call("POST", "/api/widget/messages", world.tokens["rosa"], {"email": "a@b.example", "text": "hi"}),
              401, "token_invalid")  # an agent's token is no visitor's
    api_error(world.leave(token, email="not-an-email"), 400, "invalid_argument")
    api_error(world.leave(token, text="   "), 400, "invalid_argument")
    api_error(world.leave(token, text="x" * (inbox_rest.MAX_MESSAGE + 1)), 400, "invalid_argument")
    api_error(world.leave(token, group="nowhere"), 404, "not_found")
    api_error(world.leave(token, group={"$ne": None}), 400, "invalid_argument")
    api_error(world.leave(token, reason="because"), 400, "invalid_argument")
    api_error(world.leave(token, extra=1), 400, "invalid_argument")
    assert InboxEntry.objects.count() == 0
    preflight = world.client.options("/api/widget/messages")
    assert preflight.status_code == 204
    assert "Authorization" in preflight.headers["access-control-allow-headers"]


def test_a_visitor_and_an_address_may_leave_only_so_many_messages_an_hour(world: World) -> None:
    count, _ = inbox_rest.VISITOR_LIMIT
    token = world.visitor("v-busy")
    for _ in range(count):
        assert world.leave(token).status_code == 201
    refused = world.leave(token)
    assert api_error(refused, 429, "rate_limited").startswith("a visitor may leave")
    assert int(refused.headers["retry-after"]) > 0
    per_address, _ = inbox_rest.ADDRESS_LIMIT
    for n in range(per_address - count):
        assert world.leave(world.visitor(f"v-other{n}")).status_code == 201
    api_error(world.leave(world.visitor("v-new")), 429, "rate_limited")
    assert InboxEntry.objects.count() == per_address


# --- the inbox ----------------------------------------------------------------------------------------


def test_agents_see_their_groups_inbox_take_a_message_and_reply_by_mail(world: World) -> None:
    support = world.leave(world.visitor(), group="support", name="Ann").json()["conversation"]
    world.leave(world.visitor("v-bo"), group="sales", email="bo@shop.example", text="Price of the red bike?")

    admin = world.call("GET", "/api/inbox", world.tokens["admin"]).json()
    assert admin["count"] == 2 and [e["group"] for e in admin["entries"]] == ["sales", "support"]
    rosa = world.call("GET", "/api/inbox", world.tokens["rosa"]).json()
    assert rosa["count"] == 1
    [entry] = rosa["entries"]
    assert (entry["conversation"], entry["email"], entry["name"], entry["preview"], entry["state"]) == \
        (support, "ann@shop.example", "Ann", "Where is my order 42?", "open")
    assert world.call("GET", "/api/inbox", world.tokens["sue"]).json()["count"] == 1
    assert world.call("GET", "/api/inbox", world.tokens["bob"]).json()["entries"][0]["group"] == "sales"
    api_error(world.call("GET", f"/api/inbox/{support}", world.tokens["bob"]), 404, "not_found")
    api_error(world.call("POST", f"/api/inbox/{support}/assign", world.tokens["bob"]), 404, "not_found")
    api_error(world.call("GET", "/api/inbox"), 401, "token_missing")

    taken = world.call("POST", f"/api/inbox/{support}/assign", world.tokens["rosa"]).json()
    assert (taken["assigned_name"], taken["messages"][0]["text"]) == ("Rosa", "Where is my order 42?")
    api_error(world.call("POST", f"/api/inbox/{support}/reply", world.tokens["admin"], {"text": ""}), 400,
              "invalid_argument")

    replied = world.call("POST", f"/api/inbox/{support}/reply", world.tokens["rosa"],
                         {"text": "It left our shop today.\nTracking: 123"})
    assert replied.status_code == 200, replied.text
    body = replied.json()
    assert (body["state"], body["replied_name"]) == ("answered", "Rosa")
    assert [(m["seq"], m["role"], m["name"]) for m in body["messages"]] == [(1, "visitor", "Ann"), (2, "agent", "Rosa")]
    [mail] = world.outbox.sent
    assert (mail.to, mail.subject) == ("ann@shop.example", "Pedalwise: a reply to your message")
    assert "It left our shop today.\nTracking: 123" in mail.text and "> Where is my order 42?" in mail.text
    assert world.call("GET", "/api/inbox", world.tokens["rosa"]).json() == {"count": 0, "entries": []}
    answered = world.call("GET", "/api/inbox?state=answered", world.tokens["rosa"]).json()["entries"]
    assert [e["conversation"] for e in answered] == [support]

    world.flush()
    stored = Conversation._get_collection().find_one({"_id": support})
    assert (stored["phase"], stored["agent"], stored["participants"], stored["last_seq"]) == \
        ("message", taken["assigned_to"], [taken["assigned_to"]], 2)


def test_a_message_taken_by_one_agent_is_replied_by_them_or_a_supervisor_only(world: World) -> None:
    add_user("agent", "tom@example.com", nickname="Tom", groups=["support"])
    tom = world.login("tom@example.com")
    conversation = world.leave(world.visitor()).json()["conversation"]
    world.call("POST", f"/api/inbox/{conversation}/assign", world.tokens["rosa"])
    api_error(world.call("POST", f"/api/inbox/{conversation}/reply", tom, {"text": "Me too"}), 409, "conflict")
    assert world.call("POST", f"/api/inbox/{conversation}/reply", world.tokens["sue"],
                      {"text": "Sue here"}).status_code == 200


def test_the_visitor_reads_their_messages_and_the_replies_and_no_one_elses(world: World) -> None:
    token = world.visitor()
    conversation = world.leave(token).json()["conversation"]
    world.leave(world.visitor("v-bo"), text="Someone else's")
    mine = world.call("GET", "/api/widget/messages", token).json()["messages"]
    assert [(m["conversation"], m["text"], m["replies"]) for m in mine] == \
        [(conversation, "Where is my order 42?", [])]
    world.call("POST", f"/api/inbox/{conversation}/reply", world.tokens["rosa"], {"text": "On its way!"})
    [again] = world.call("GET", "/api/widget/messages", token).json()["messages"]
    assert again["state"] == "answered"
    assert [(r["text"], r["name"]) for r in again["replies"]] == [("On its way!", "Rosa")]
    api_error(world.call("GET", "/api/widget/messages", "garbage"), 401, "token_invalid")


def test_the_routes_are_described() -> None:
    for path in ("/api/widget/status", "/api/widget/messages", "/api/inbox", "/api/inbox/{conversation}",
                 "/api/inbox/{conversation}/assign", "/api/inbox/{conversation}/reply"):
        assert path in OPENAPI["paths"]
