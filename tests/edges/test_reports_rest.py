"""Reports REST on the hand-made history of tests/store/test_reports.py, written through the real writer.

Figures by hand (UTC unless said; D = 2026-03-10): see that module's docstring for the history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
from switchboard.edges.rest.api import rest_routes
from switchboard.edges.rest.reports import REPORTS_API, report_routes
from switchboard.edges.rest.toolkit import describe
from switchboard.settings import ServerSettings
from switchboard.store.documents import AgentPresence, ReportShard, ReportWriter, TermShard, User
from tests.edges.conftest import CHEAP_PASSWORDS
from tests.store.test_reports import D, M, at, feed

SECRET = "a-test-secret-of-at-least-32-characters"
PASSWORD = "a-password-1"
DAY = "2026-03-10"
NEXT = "2026-03-11"


@dataclass
class Desk:
    client: TestClient
    tokens: dict[str, str]

    def get(self, path: str, who: str = "admin", **params: str) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def json(self, path: str, who: str = "admin", **params: str) -> Any:
        response = self.get(path, who, **params)
        assert response.status_code == 200, response.text
        return response.json()


def _user(uid: str, roles: list[str], groups: list[str] = [], supervises: list[str] = []) -> None:
    User(id=uid, roles=roles, email=f"{uid}@example.com", nickname=uid.capitalize(), groups=groups,
         supervises=supervises, password_hash=CHEAP_PASSWORDS.hash(PASSWORD),
         created_at=datetime.now(timezone.utc)).save(force_insert=True)


@pytest.fixture
def desk(store: str, redis_url: str, sync_redis: redis.Redis) -> Iterator[Desk]:
    for document in (ReportShard, ReportWriter, TermShard, AgentPresence):
        document._get_collection().delete_many({})
    feed()
    _user("boss", ["admin"])
    _user("sue", ["supervisor"], supervises=["sales"])
    _user("ann", ["agent"], groups=["sales"])
    _user("bob", ["agent"], groups=["support"])
    engine = start_engine("inline", tune_gc=False)
    aredis = aioredis.Redis.from_url(redis_url)
    app = Starlette(routes=[*rest_routes(passwords=CHEAP_PASSWORDS), *report_routes()])
    app.state.services = SimpleNamespace(engine=engine, redis=aredis, settings=ServerSettings(), secret=SECRET)
    with TestClient(app) as client:
        tokens = {}
        for who, uid in (("admin", "boss"), ("sue", "sue"), ("ann", "ann"), ("bob", "bob")):
            response = client.post("/api/auth/login", json={"email": f"{uid}@example.com", "password": PASSWORD})
            assert response.status_code == 200, response.text
            tokens[who] = response.json()["token"]
        yield Desk(client, tokens)
        assert client.portal is not None
        client.portal.call(aredis.aclose)
    engine.stop()


DAY_FIGURES = {"opened": 4, "bot_only": 1, "handed_off": 3, "assigned": 2, "abandoned": 1, "missed": 1, "closed": 2,
               "resolved": 1, "resolution_rate": 0.5, "wait_avg_s": 210.0, "first_response_avg_s": 420.0,
               "handling_avg_s": 1680.0, "csat_avg": None, "csat_responses": 0, "csat_response_rate": 0.0,
               "csat_1": 0, "csat_2": 0, "csat_3": 0, "csat_4": 0, "csat_5": 0}
NEXT_FIGURES = {"opened": 0, "bot_only": 0, "handed_off": 0, "assigned": 0, "abandoned": 0, "missed": 0, "closed": 1,
                "resolved": 1, "resolution_rate": 1.0, "wait_avg_s": None, "first_response_avg_s": None,
                "handling_avg_s": 1200.0, "csat_avg": 4.0, "csat_responses": 1, "csat_response_rate": 1.0,
                "csat_1": 0, "csat_2": 0, "csat_3": 0, "csat_4": 1, "csat_5": 0}


def test_the_overview_by_day_has_the_hand_computed_figures(desk: Desk) -> None:
    body = desk.json("/api/reports/overview", **{"from": DAY, "to": NEXT})

    assert body["series"] == [{"period": DAY, **DAY_FIGURES}, {"period": NEXT, **NEXT_FIGURES}]
    assert body["totals"] == {**DAY_FIGURES, "closed": 3, "resolved": 2, "resolution_rate": 0.6667,
                              "handling_avg_s": 1440.0, "csat_avg": 4.0, "csat_responses": 1,
                              "csat_response_rate": 0.5, "csat_4": 1}
    assert (body["from"], body["to"], body["tz"], body["by"], body["group"]) == (DAY, NEXT, "UTC", "day", None)


def test_a_conversation_closed_after_utc_midnight_is_the_same_local_day_in_new_york(desk: Desk) -> None:
    body = desk.json("/api/reports/overview", **{"from": DAY, "to": DAY, "tz": "America/New_York"})

    # c2 closed 00:10 UTC on D+1 is 20:10 EDT on D: all three closings fall on D there
    assert [s["period"] for s in body["series"]] == [DAY]
    assert body["totals"]["closed"] == 3 and body["totals"]["csat_responses"] == 1


def test_the_overview_by_hour_labels_local_hours(desk: Desk) -> None:
    body = desk.json("/api/reports/overview", **{"from": DAY, "to": DAY, "by": "hour"})

    assert len(body["series"]) == 24
    opened = {s["period"]: s["opened"] for s in body["series"] if s["opened"]}
    assert opened == {"2026-03-10T09:00+00:00": 1, "2026-03-10T10:00+00:00": 1, "2026-03-10T11:00+00:00": 1,
                      "2026-03-10T23:00+00:00": 1}


def test_the_agents_table_has_presence_occupancy_and_work(desk: Desk) -> None:
    body = desk.json("/api/reports/agents", **{"from": DAY, "to": NEXT})

    rows = {r["agent"]: r for r in body["agents"]}
    assert rows["ann"] == {"agent": "ann", "name": "Ann", "online_s": 140 * M, "away_s": 10 * M,
                           "offline_s": 23.5 * 3600, "busy_s": 8 * M, "occupancy": round(8 / 140, 4),
                           "conversations": 1, "messages": 1, "words": 3, "rated": 0, "rating_avg": None,
                           "chat_n": 1, "chat_avg_s": 480.0}
    assert rows["bob"] == {"agent": "bob", "name": "Bob", "online_s": 0, "away_s": 0, "offline_s": 0, "busy_s": 0,
                           "occupancy": None, "conversations": 2, "messages": 1, "words": 2, "rated": 1,
                           "rating_avg": 4.0, "chat_n": 2, "chat_avg_s": 1200.0}


def test_an_agents_timeline_lists_its_intervals_clipped_to_the_range(desk: Desk) -> None:
    body = desk.json("/api/reports/agents/ann/timeline", **{"from": DAY, "to": DAY})

    assert body["intervals"] == [
        {"state": "online", "start": at(22), "end": at(23, 30)},
        {"state": "away", "start": at(23, 30), "end": at(23, 40)},
        {"state": "online", "start": at(23, 40), "end": D + 86_400},
    ]
    assert body["totals"] == {"online_s": 110 * M, "away_s": 10 * M, "offline_s": 0}


def test_channels_count_visits_visitors_and_conversations(desk: Desk) -> None:
    body = desk.json("/api/reports/channels", **{"from": DAY, "to": NEXT})

    # v1 came twice on D (c1, c4): one visit; v2 and v3 once each
    assert body["channels"] == [{"channel": "widget", "visits": 3, "visitors": 3, "conversations": 4}]


def test_the_bot_report_counts_decisions_and_knowledge_documents(desk: Desk) -> None:
    body = desk.json("/api/reports/bot", **{"from": DAY, "to": DAY})

    assert body["totals"] == {"answered": 1, "suggested": 0, "declined": 0, "handed_off": 1, "errors": 0}
    assert body["documents"] == [{"document": "faq.md", "answered": 1, "suggested": 0, "declined": 0,
                                  "handed_off": 0, "errors": 0}]


def test_csv_is_an_attachment_with_a_header_and_a_total_row(desk: Desk) -> None:
    response = desk.get("/api/reports/overview", **{"from": DAY, "to": NEXT, "format": "csv"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == \
        'attachment; filename="switchboard-overview-2026-03-10-2026-03-11.csv"'
    lines = response.text.splitlines()
    assert lines[0].startswith("period,opened,bot_only,") and lines[-1].startswith("total,4,1,3,2,1,1,3,2,")
    assert len(lines) == 4


def test_a_supervisor_sees_only_its_groups(desk: Desk) -> None:
    own = desk.json("/api/reports/agents", "sue", **{"from": DAY, "to": NEXT})
    other = desk.get("/api/reports/overview", "sue", **{"from": DAY, "to": NEXT, "group": "support"})
    forced = desk.json("/api/reports/overview", "sue", **{"from": DAY, "to": NEXT})

    assert [r["agent"] for r in own["agents"]] == ["ann"]
    assert other.status_code == 403
    assert forced["group"] == ["sales"] and forced["totals"]["opened"] == 4
    assert desk.get("/api/reports/agents/bob/timeline", "sue", **{"from": DAY, "to": DAY}).status_code == 403
    assert desk.get("/api/reports/bot", "sue", **{"from": DAY, "to": DAY}).status_code == 403


def test_an_agent_sees_only_its_own_figures(desk: Desk) -> None:
    mine = desk.json("/api/reports/agents", "ann", **{"from": DAY, "to": NEXT})

    assert [r["agent"] for r in mine["agents"]] == ["ann"]
    assert desk.get("/api/reports/agents", "ann", **{"from": DAY, "to": NEXT, "agent": "bob"}).status_code == 403
    assert desk.get("/api/reports/overview", "ann", **{"from": DAY, "to": NEXT}).status_code == 403
    assert desk.get("/api/reports/agents/bob/timeline", "ann", **{"from": DAY, "to": DAY}).status_code == 403
    assert desk.get("/api/reports/agents/ann/timeline", "ann", **{"from": DAY, "to": DAY}).status_code == 200


@pytest.mark.parametrize("params", [
    {"from": DAY, "to": "2026-03-09"},
    {"from": DAY, "to": "2027-03-11"},
    {"from": DAY, "to": "2026-04-11", "by": "hour"},
    {"from": DAY, "to": NEXT, "tz": "Mars/Olympus"},
    {"from": "2026-02-30", "to": NEXT},
    {"to": NEXT},
    {"from": DAY, "to": NEXT, "by": "week"},
    {"from": DAY, "to": NEXT, "colour": "red"},
])
def test_a_bad_or_unbounded_range_is_a_400(desk: Desk, params: dict[str, str]) -> None:
    response = desk.get("/api/reports/overview", **params)

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_argument"


def test_reports_need_a_login(desk: Desk) -> None:
    assert desk.client.get("/api/reports/overview", params={"from": DAY, "to": DAY}).status_code == 401


def test_the_description_names_every_report_route() -> None:
    doc = describe({"title": "t", "version": "1"}, [REPORTS_API])

    assert sorted(doc["paths"]) == ["/api/reports/agents", "/api/reports/agents/{agent}/timeline",
                                    "/api/reports/bot", "/api/reports/channels", "/api/reports/overview"]


_SCHEMA = schemathesis.openapi.from_dict(describe({"title": "reports", "version": "1"}, [REPORTS_API]))


@_SCHEMA.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_report_operation_answers_as_described(case: schemathesis.Case[Any], desk: Desk) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver",
                                      headers={"Authorization": f"Bearer {desk.tokens['admin']}"})
    response = desk.client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                                   headers=kwargs.get("headers"))
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])


def test_a_half_hour_zone_files_each_utc_hour_in_one_local_period(desk: Desk) -> None:
    body = desk.json("/api/reports/overview", **{"from": DAY, "to": DAY, "tz": "Asia/Kolkata", "by": "hour"})

    periods = [s["period"] for s in body["series"]]
    # local D runs 18:30 UTC on D-1 to 18:30 UTC on D: the hour 18:00 UTC is filed at local midnight
    assert periods[0] == "2026-03-10T00:00+05:30" and periods[1] == "2026-03-10T00:30+05:30"
    assert periods[-1] == "2026-03-10T23:30+05:30" and len(periods) == 25
    assert {s["period"]: s["opened"] for s in body["series"] if s["opened"]} == {
        "2026-03-10T14:30+05:30": 1, "2026-03-10T15:30+05:30": 1, "2026-03-10T16:30+05:30": 1}


def test_the_relay_stores_a_presence_change_through_the_real_writer_and_tells_no_one(
        store: str, redis_url: str) -> None:
    from switchboard.actors.events import PresenceChanged
    from switchboard.actors.output import Recorded
    from switchboard.edges.delivery.fanout import Batch, Hub
    from switchboard.edges.delivery.names import Names
    from switchboard.edges.delivery.relay import Relay
    from switchboard.edges.protocol import Frame
    from switchboard.store import reports
    from switchboard.store.writer import StoreWriter

    AgentPresence._get_collection().delete_many({})
    for document in (ReportShard, ReportWriter):
        document._get_collection().delete_many({})

    async def scenario() -> list[Frame]:
        redis = aioredis.Redis.from_url(redis_url)
        hub, writer = Hub(redis, "edge-r1"), StoreWriter()
        relay = Relay(hub, writer, Names(), history_cap=200)
        seen: list[Frame] = []

        async def receive(items: Batch) -> None:
            seen.extend(frame for _, _, frame in items)

        async def control(_: Frame) -> None:
            return None

        hub.start(receive, control)
        await writer.start()
        relay.start()
        relay.push(Recorded(PresenceChanged("ann", "offline", "online", at(9)), None, at(9)))
        relay.push(Recorded(PresenceChanged("ann", "online", "away", at(9, 45)), None, at(9, 45)))
        await relay.idle()
        await relay.stop()
        await writer.close()
        await hub.stop()
        await redis.aclose()
        return seen

    assert asyncio.run(scenario()) == []
    assert sorted((s, st, e) for _, st, s, e in reports.read_presence(["ann"], D, D + 86_400)) == [
        (at(9), "online", at(9, 45)), (at(9, 45), "away", None)]
    assert reports.read_hours("agent", D, D + 86_400) == [(at(9), "ann", "online_s", 45 * M)]
