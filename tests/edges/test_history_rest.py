"""REST history: search, transcripts, visitors and exports, per role, on the store's hand-made history."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from switchboard.actors.start import start_engine
from switchboard.edges.rest.api import OPENAPI, rest_routes
from switchboard.edges.rest.history import HISTORY_API, MAX_EXPORT_ROWS, csv_cell, history_routes
from switchboard.edges.rest.toolkit import describe
from switchboard.settings import ServerSettings
from switchboard.store.documents import User
from tests.edges.conftest import CHEAP_PASSWORDS
from tests.store.test_history import at, make_history

SECRET = "a-test-secret-of-at-least-32-characters"
PASSWORD = "a-long-password"
ACCOUNTS = {  # email: (id, roles, supervises)
    "boss@example.com": ("adm-1", ["admin"], []),
    "ann@example.com": ("a-ann", ["agent"], []),
    "bob@example.com": ("a-bob", ["agent"], []),
    "sue@example.com": ("s-sue", ["supervisor"], ["billing"]),
}


class History:
    def __init__(self, client: TestClient) -> None:
        self.client, self.tokens = client, {}
        for email in ACCOUNTS:
            response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.tokens[email.split("@")[0]] = response.json()["token"]

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def ids(self, who: str, **params: Any) -> list[str]:
        response = self.get(who, "/api/history/conversations", **params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]


@pytest.fixture
def history(store: str, redis_url: str, sync_redis: redis.Redis) -> Iterator[History]:
    engine = start_engine("inline", tune_gc=False)
    aredis = aioredis.Redis.from_url(redis_url)
    app = Starlette(routes=[*rest_routes(passwords=CHEAP_PASSWORDS), *history_routes()])
    app.state.services = SimpleNamespace(engine=engine, redis=aredis, settings=ServerSettings(), secret=SECRET)
    make_history()
    for email, (uid, roles, supervises) in ACCOUNTS.items():
        User.objects(id=uid).delete()  # make_history's agents, again with a password (an insert: dates stay dates)
        User(id=uid, roles=roles, supervises=supervises, email=email, nickname=uid.split("-")[1].title(),
             password_hash=CHEAP_PASSWORDS.hash(PASSWORD), created_at=datetime.now(timezone.utc)).save(force_insert=True)
    with TestClient(app) as client:
        yield History(client)
        assert client.portal is not None
        client.portal.call(aredis.aclose)
    engine.stop()


def _error(response: Any, status: int, code: str, says: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert says in response.json()["error"]["message"]


@pytest.mark.parametrize("who, expected", [
    ("boss", ["c5", "c4", "c3", "c2", "c1"]), ("ann", ["c4", "c2", "c1"]), ("bob", ["c2"]),
    ("sue", ["c4", "c3", "c1"]),
])
def test_each_role_lists_its_scope(history: History, who: str, expected: list[str]) -> None:
    assert history.ids(who) == expected


@pytest.mark.parametrize("params, expected", [
    ({"visitor": "v-1"}, ["c5", "c3", "c1"]), ({"email": "Jo@Example.com"}, ["c5", "c3", "c1"]),
    ({"agent": "a-bob"}, ["c2"]), ({"group": "sales"}, ["c5", "c2"]), ({"channel": "email"}, ["c4", "c2"]),
    ({"phase": "abandoned"}, ["c3"]), ({"rating": "5"}, ["c1"]), ({"q": "refund"}, ["c4"]),
    ({"from": "2026-03-02", "to": "2026-03-02"}, ["c3", "c2"]),  # 2 March, UTC
    ({"from": "2026-03-02", "to": "2026-03-02", "tz": "Pacific/Kiritimati"}, ["c2"]),  # UTC+14: 1 March 10:00 on
    ({"from": "2026-03-02T09:00:00Z", "to": "2026-03-03T09:00:00+00:00"}, ["c3", "c2"]),
])
def test_each_filter_over_rest(history: History, params: dict[str, str], expected: list[str]) -> None:
    assert history.ids("boss", **params) == expected


def test_pages_carry_a_cursor_until_the_last(history: History) -> None:
    first = history.get("boss", "/api/history/conversations", limit=3).json()
    assert [i["id"] for i in first["items"]] == ["c5", "c4", "c3"] and first["next"]
    second = history.get("boss", "/api/history/conversations", limit=3, cursor=first["next"]).json()
    assert [i["id"] for i in second["items"]] == ["c2", "c1"] and second["next"] is None


def test_an_item_has_the_documented_fields(history: History) -> None:
    item = history.get("ann", "/api/history/conversations", phase="closed", channel="widget").json()["items"][0]
    assert item == {"id": "c1", "visitor": "v-1", "visitor_email": "jo@example.com", "visitor_name": "Jo",
                    "channel": "widget", "group": "billing", "agent": "a-ann", "agent_name": "Ann",
                    "phase": "closed", "created_at": at(0).timestamp(), "closed_at": at(1).timestamp(), "rating": 5,
                    "messages": 3, "snippet": "My invoice is wrong"}


@pytest.mark.parametrize("params, says", [
    ({"from": "2026-02-30"}, "from must be a date"), ({"to": "yesterday"}, "to must be a date"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "from must be before to"),
    ({"tz": "Mars/Olympus"}, "is unknown"), ({"tz": "../etc/passwd"}, "tz must be an IANA"),
    ({"limit": "0"}, "limit must be"), ({"limit": "101"}, "limit must be"), ({"limit": "x"}, "limit must be"),
    ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor must be"), ({"cursor": "!!"}, "cursor must be"),
    ({"rating": "6"}, "rating must be"), ({"phase": "lost"}, "phase must be"), ({"group": "Bad Group"}, "group"),
    ({"q": " a "}, "q must hold"), ({"q": "x" * 201}, "q must be at most"), ({"colour": "red"}, "unknown query"),
    ({"visitor": "v 1"}, "visitor must be an id"),
])
def test_a_bad_query_is_a_400_that_says_what(history: History, params: dict[str, str], says: str) -> None:
    _error(history.get("boss", "/api/history/conversations", **params), 400, "invalid_argument", says)


def test_a_transcript_shows_bot_turns_notes_transfers_and_the_rating(history: History) -> None:
    response = history.get("bob", "/api/history/conversations/c2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"conversation", "messages", "transfers", "rating"}
    assert body["conversation"]["id"] == "c2" and body["conversation"]["agent_name"] == "Bob"
    assert [(m["sender_role"], m["kind"]) for m in body["messages"]] == [
        ("visitor", "text"), ("bot", "text"), ("agent", "note")]
    assert body["messages"][1]["extra"]["decision"] == "suggest"
    assert body["transfers"][0]["from_name"] == "Ann" and body["transfers"][0]["to_name"] == "Bob"
    assert body["rating"]["score"] == 2


@pytest.mark.parametrize("who, conversation", [("bob", "c1"), ("ann", "c5"), ("sue", "c2"), ("boss", "c9"),
                                               ("boss", "c 1")])
def test_a_transcript_out_of_scope_is_a_404_like_an_unknown_one(history: History, who: str, conversation: str) -> None:
    _error(history.get(who, f"/api/history/conversations/{conversation}"), 404, "not_found")
    _error(history.get(who, f"/api/history/conversations/{conversation}/export"), 404, "not_found")


def test_a_visitor_page_per_role(history: History) -> None:
    body = history.get("sue", "/api/history/visitors/v-1").json()
    assert body["visitor"]["email"] == "jo@example.com" and [c["id"] for c in body["conversations"]] == ["c3", "c1"]
    _error(history.get("bob", "/api/history/visitors/v-1"), 404, "not_found")
    _error(history.get("boss", "/api/history/visitors/v-404"), 404, "not_found")


def test_a_transcript_exports_as_csv_with_formulas_defused(history: History) -> None:
    response = history.get("boss", "/api/history/conversations/c2/export", format="csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="conversation-c2.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["seq"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["decision"] == "suggest" and rows[1]["sources"] == "faq.yaml" and rows[2]["kind"] == "note"
    as_json = history.get("boss", "/api/history/conversations/c2/export", format="json")
    assert as_json.headers["content-type"] == "application/json" and as_json.json()["rating"]["score"] == 2


def test_a_search_exports_as_csv_and_json_within_scope(history: History) -> None:
    response = history.get("ann", "/api/history/conversations/export", format="csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="conversations-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ["c4", "c2", "c1"] and rows[2]["created_at"] == "2026-03-01T09:00:00.000Z"
    as_json = history.get("sue", "/api/history/conversations/export", format="json", group="billing", q="refund")
    assert [i["id"] for i in as_json.json()] == ["c4"]
    _error(history.get("ann", "/api/history/conversations/export", format="xlsx"), 400, "invalid_argument", "format")
    assert MAX_EXPORT_ROWS == 10_000


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+33 6", "'+33 6"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("plain", "plain"), (None, ""), (5, "5"),
])
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


def test_a_rating_comment_with_a_formula_leaves_the_export_escaped(history: History) -> None:
    text = history.get("boss", "/api/history/conversations/c2/export", format="csv").text
    assert "=cmd" not in text or "'=cmd" in text
    item_rows = history.get("boss", "/api/history/conversations/export", format="csv", q="=cmd").text
    assert item_rows.startswith("id,")


def test_every_route_is_described_and_the_description_assembles(history: History) -> None:
    whole = describe({"title": "t", "version": "1"}, [HISTORY_API])
    assert set(whole["paths"]) == {"/api/history/conversations", "/api/history/conversations/export",
                                   "/api/history/conversations/{conversation}",
                                   "/api/history/conversations/{conversation}/export", "/api/history/visitors/{visitor}"}
    assert not set(HISTORY_API.paths) & set(OPENAPI["paths"]) or all(p in OPENAPI["paths"] for p in HISTORY_API.paths)


# --- the description against the routes: schemathesis on the history part alone ----------------------

_SCHEMA = schemathesis.openapi.from_dict(describe({"title": "history", "version": "1"}, [HISTORY_API]))


@_SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_history_operation_answers_as_described(case: schemathesis.Case[Any], history: History) -> None:
    # sent through this test's client (its store and Redis are per test), then checked by schemathesis
    sent = case.as_transport_kwargs(base_url="http://testserver",
                                    headers={"Authorization": f"Bearer {history.tokens['boss']}"})
    response = history.client.request(sent.pop("method"), sent.pop("url"), params=sent.get("params"),
                                      headers=sent.get("headers"))
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
