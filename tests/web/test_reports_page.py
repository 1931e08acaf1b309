"""The Reports tab in a real browser: an admin reads today's figures of a small history as tiles, charts and
tables (the chart's data read from Chart.js in the page); an agent sees only its own row.

The history is written through the real store writer, as tests/edges/test_reports_rest.py does, in a group and
a channel of its own, so the conversations of other tests in the session's store do not count. Its events lie
between three hours and 100 minutes before now, in a browser time zone where it is now between 04:00 and 22:00:
every event is today's and past, whatever the hour the suite runs.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.server.conftest import Server
from tests.store.test_reports import feed, state, text
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csp_violations, screenshot, sign_in_at
from tests.web.test_workspace import agent_in_own_group

pytestmark = pytest.mark.timeout(180)

ZONES = ("UTC", "Asia/Tokyo", "America/New_York")  # at any instant, one of them is between 04:00 and 22:00


def daytime_zone() -> str:
    return next(z for z in ZONES if 4 <= datetime.now(ZoneInfo(z)).hour < 22)


class History:
    """Five conversations and two agents' presence today, in group `group` and channel `channel`:

    - c1 (v1): the bot answers citing returns.md, the visitor leaves: bot-only.
    - c2 (v2): the bot hands off; queued +11, assigned to Rita +13, she writes +15, closed +40, rated 5.
    - c3 (v3): queued +21, abandoned +26.
    - c4 (v4): queued +30, assigned to Rita +34, closed +60 with no word from her: missed.
    - c5 (v1 again): queued +46, assigned to Sam +47, he writes +50, closed +70, rated 3.
    - Rita online +0, away +50, online +55, offline +80; Sam online +40, offline +75 (minutes after the start).
    """

    def __init__(self, group: str, rita: str, sam: str, tz: str) -> None:
        self.group, self.channel, self.tz = group, f"ch-{uuid.uuid4().hex[:8]}", tz
        self.start = time.time() - 3 * 3600
        self.today = datetime.now(ZoneInfo(tz)).date()
        c1, c2, c3, c4, c5 = (f"c-{uuid.uuid4().hex[:16]}" for _ in range(5))
        v1, v2, v3, v4 = (f"v-{uuid.uuid4().hex[:12]}" for _ in range(4))

        def m(minutes: float) -> float:
            return self.start + minutes * 60

        def s(cid: str, visitor: str, phase: str, created: float, **changes: Any) -> dict[str, Any]:
            return state(cid, visitor, phase, created, group=group, channel=self.channel, **changes)

        c2_assigned = dict(queued_at=m(11), assigned_at=m(13), agent=rita, participants=[rita])
        c4_assigned = dict(queued_at=m(30), assigned_at=m(34), agent=rita, participants=[rita])
        c5_assigned = dict(queued_at=m(46), assigned_at=m(47), agent=sam, participants=[sam])
        self.records: list[tuple[str, Any]] = [
            ("presence", (rita, "offline", "online", m(0))),
            ("state", s(c1, v1, "bot", m(0))),
            ("message", text(c1, 1, "bot", "bot", "Returns take 30 days.", m(1),
                             {"decision": "answer", "sources": [{"id": "returns.md#window", "title": "Returns"}]})),
            ("state", s(c1, v1, "closed", m(0), closed_at=m(5), close_reason="visitor")),
            ("state", s(c2, v2, "bot", m(10))),
            ("message", text(c2, 1, "bot", "bot", "Let me find someone.", m(10.5), {"decision": "handoff"})),
            ("state", s(c2, v2, "queued", m(10), queued_at=m(11))),
            ("state", s(c2, v2, "assigned", m(10), **c2_assigned)),
            ("message", text(c2, 2, "agent", rita, "happy to help you today", m(15))),
            ("state", s(c2, v2, "assigned", m(10), **c2_assigned, first_agent_reply_at=m(15))),
            ("state", s(c3, v3, "queued", m(20), queued_at=m(21))),
            ("state", s(c3, v3, "abandoned", m(20), queued_at=m(21), closed_at=m(26), close_reason="left_queue")),
            ("state", s(c4, v4, "queued", m(30), queued_at=m(30))),
            ("state", s(c4, v4, "assigned", m(30), **c4_assigned)),
            ("state", s(c2, v2, "closed", m(10), **c2_assigned, first_agent_reply_at=m(15), closed_at=m(40),
                        close_reason="agent")),
            ("rating", (c2, v2, rita, 5, "great", m(41))),
            ("presence", (sam, "offline", "online", m(40))),
            ("state", s(c5, v1, "queued", m(45), queued_at=m(46))),
            ("state", s(c5, v1, "assigned", m(45), **c5_assigned)),
            ("presence", (rita, "online", "away", m(50))),
            ("message", text(c5, 1, "agent", sam, "hello", m(50))),
            ("state", s(c5, v1, "assigned", m(45), **c5_assigned, first_agent_reply_at=m(50))),
            ("presence", (rita, "away", "online", m(55))),
            ("state", s(c4, v4, "closed", m(30), **c4_assigned, closed_at=m(60), close_reason="idle_timeout")),
            ("state", s(c5, v1, "closed", m(45), **c5_assigned, first_agent_reply_at=m(50), closed_at=m(70),
                        close_reason="agent")),
            ("rating", (c5, v1, sam, 3, "", m(71))),
            ("presence", (sam, "online", "offline", m(75))),
            ("presence", (rita, "online", "offline", m(80))),
        ]

    def write(self) -> None:
        """Through a real StoreWriter (the server's own writes to the same store), on a thread of its own: Playwright's
        sync API keeps an event loop running in this one."""
        with ThreadPoolExecutor(1) as pool:
            pool.submit(feed, self.records, sole_writer=False).result(timeout=60)


@pytest.fixture(scope="module")
def desk(web: Server) -> Iterator[tuple[History, dict[str, tuple[str, str, str]]]]:
    group = f"rep{uuid.uuid4().hex[:8]}"
    _, rita, rita_email, password = agent_in_own_group(web, nickname="Rita Reports", group=group)
    _, sam, sam_email, _ = agent_in_own_group(web, nickname="Sam Stats", group=group)
    history = History(group, rita, sam, daytime_zone())
    history.write()
    yield history, {"rita": (rita, rita_email, password), "sam": (sam, sam_email, password)}


def reports_page(browser: Any, web: Server, tz: str, email: str, password: str) -> tuple[Page, list[str], Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, timezone_id=tz, accept_downloads=True)
    context.set_default_timeout(15_000)
    page: Page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, web.url, email, password, page)
    page.get_by_test_id("tab-reports").click()
    return page, violations, context


def datasets(page: Page, testid: str) -> dict[str, list[Any]]:
    """The chart's datasets as Chart.js holds them in the page: label -> data."""
    found: dict[str, list[Any]] = page.get_by_test_id(testid).evaluate(
        "canvas => Object.fromEntries(Chart.getChart(canvas).data.datasets.map((d) => [d.label, d.data]))")
    return found


def chart_labels(page: Page, testid: str) -> list[str]:
    labels: list[str] = page.get_by_test_id(testid).evaluate("canvas => Chart.getChart(canvas).data.labels")
    return labels


def whole(page: Page, path: str) -> None:
    """A screenshot of the whole Reports tab (it scrolls inside the page: the window grows to show it all)."""
    size = page.viewport_size or {"width": 1360, "height": 900}
    height = page.evaluate("() => document.querySelector('.topbar').offsetHeight"
                           " + document.querySelector('#reports').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    page.wait_for_timeout(500)  # the charts follow their boxes' sizes
    page.screenshot(path=path)
    page.set_viewport_size(size)


def shown(page: Page, report: str, **query: str) -> None:
    """Waits until `report` is drawn for a query holding `query`'s parameters."""
    section = page.get_by_test_id(f"reports-{report}")
    expect(section).to_have_attribute("data-state", "ready")
    for key, value in query.items():
        expect(section).to_have_attribute("data-query", re.compile(rf"(^|&){key}={re.escape(value)}(&|$)"))


def test_an_admin_reads_todays_conversations_in_the_overview_chart_and_tiles(
        web: Server, browser: Any, desk: tuple[History, dict[str, tuple[str, str, str]]]) -> None:
    history, agents = desk
    page, violations, context = reports_page(browser, web, history.tz, ADMIN_EMAIL, ADMIN_PASSWORD)
    today = history.today.isoformat()
    week_ago = (history.today - timedelta(days=6)).isoformat()

    shown(page, "overview")  # the last seven days, in the browser's zone, by default
    expect(page.get_by_test_id("reports-from")).to_have_value(week_ago)
    expect(page.get_by_test_id("reports-to")).to_have_value(today)
    expect(page.get_by_test_id("reports-tz")).to_have_value(history.tz)
    page.get_by_test_id("reports-group-filter").select_option(history.group)
    page.get_by_test_id("reports-apply").click()
    shown(page, "overview", group=history.group)

    volume = datasets(page, "reports-volume-chart")
    assert len(chart_labels(page, "reports-volume-chart")) == 7
    assert volume["Opened"] == [0, 0, 0, 0, 0, 0, 5]
    assert volume["Bot resolved"][-1] == 1 and volume["Handed off"][-1] == 4
    assert volume["Assigned"][-1] == 3 and volume["Abandoned"][-1] == 1 and volume["Missed"][-1] == 1
    assert sum(volume["Opened"]) == 5
    times = datasets(page, "reports-times-chart")
    assert times["Average wait"][-1] == 140 and times["First response"][-1] == 240
    assert datasets(page, "reports-csat-chart")["Ratings"] == [0, 0, 1, 0, 1]
    tiles = {"opened": "5", "bot_only": "1", "handed_off": "4", "assigned": "3", "abandoned": "1", "missed": "1",
             "resolution_rate": "75%", "wait_avg_s": "2m 20s", "first_response_avg_s": "4m",
             "handling_avg_s": "25m 20s", "csat_avg": "4.0 / 5", "csat_response_rate": "67%"}
    for figure, value in tiles.items():
        expect(page.get_by_test_id(f"tile-{figure}").get_by_test_id("tile-value")).to_have_text(value)
    label = page.get_by_test_id("reports-volume-chart").get_attribute("aria-label") or ""
    assert "opened 5" in label and "assigned 3" in label
    page.wait_for_timeout(500)  # the bars' short animation
    screenshot(page, "reports-overview")
    whole(page, "/tmp/reports-overview.png")

    with page.expect_download() as download:
        page.get_by_test_id("reports-csv-overview").click()
    assert download.value.suggested_filename == f"switchboard-overview-{week_ago}-{today}.csv"
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("period,opened,bot_only") and rows[-1].startswith("total,5,1,4,3,1,1,")

    page.get_by_test_id("reports-by").select_option("hour")  # by hour: a line per hour, the same five
    page.get_by_test_id("reports-apply").click()
    shown(page, "overview", by="hour")
    zone = ZoneInfo(history.tz)  # 7 × 24 hours, give or take a change of summer time
    hours = (datetime.combine(history.today + timedelta(days=1), dtime.min, zone).timestamp()
             - datetime.combine(history.today - timedelta(days=6), dtime.min, zone).timestamp()) / 3600
    assert len(chart_labels(page, "reports-volume-chart")) == round(hours)
    assert sum(datasets(page, "reports-volume-chart")["Opened"]) == 5
    whole(page, "/tmp/reports-overview-hour.png")
    page.get_by_test_id("reports-from").fill((history.today - timedelta(days=40)).isoformat())
    page.get_by_test_id("reports-apply").click()  # too long by hour: the server's words
    expect(page.get_by_test_id("reports-error")).to_have_text(
        "A report by hour spans at most 31 days, this one 41.")
    expect(page.get_by_test_id("reports-overview")).to_have_attribute("data-state", "error")
    page.get_by_test_id("reports-by").select_option("day")
    page.get_by_test_id("reports-from").fill(week_ago)
    page.get_by_test_id("reports-apply").click()
    shown(page, "overview", by="day")
    expect(page.get_by_test_id("reports-error")).to_be_hidden()

    page.get_by_test_id("report-agents").click()  # agents: the table, then one agent's day
    shown(page, "agents", group=history.group)
    rows_shown = page.get_by_test_id("reports-agent")
    expect(rows_shown).to_have_count(2)
    rita_id, sam_id = agents["rita"][0], agents["sam"][0]
    rita = page.locator(f'[data-testid=reports-agent][data-agent="{rita_id}"]')
    for figure, value in {"online_s": "1:15", "away_s": "0:05", "occupancy": "56%", "conversations": "2",
                          "messages": "1", "words": "5", "rated": "1", "rating_avg": "5.0",
                          "chat_avg_s": "26m 30s"}.items():
        expect(rita.locator(f"[data-figure={figure}]")).to_have_text(value)
    page.get_by_test_id("sort-conversations").click()  # most conversations first
    expect(rows_shown.first).to_have_attribute("data-agent", rita_id)
    page.get_by_test_id("sort-conversations").click()
    expect(rows_shown.first).to_have_attribute("data-agent", sam_id)
    rita.get_by_test_id("reports-agent-open").click()
    timeline = page.get_by_test_id("reports-timeline")
    expect(timeline).to_have_attribute("data-state", "ready")
    expect(page.get_by_test_id("reports-timeline-totals")).to_contain_text("Online 1:15 · Away 0:05")
    states = timeline.get_by_test_id("timeline-segment").evaluate_all("nodes => nodes.map((n) => n.dataset.state)")
    assert states == ["online", "away", "online", "offline"]  # offline since +80, until now
    screenshot(page, "reports-agents")
    whole(page, "/tmp/reports-agents.png")

    page.get_by_test_id("report-channels").click()  # channels: one of our own
    shown(page, "channels", group=history.group)
    channel = page.locator(f'[data-testid=reports-channel][data-channel="{history.channel}"]')
    for figure, value in {"visits": "4", "visitors": "4", "conversations": "5"}.items():
        expect(channel.locator(f"[data-figure={figure}]")).to_have_text(value)
    assert datasets(page, "reports-channels-chart") == {"Visits": [4], "Visitors": [4], "Conversations": [5]}
    whole(page, "/tmp/reports-channels.png")

    page.get_by_test_id("report-bot").click()  # the bot: by channel (its report has no groups)
    page.get_by_test_id("reports-channel-filter").fill(history.channel)
    page.get_by_test_id("reports-apply").click()
    shown(page, "bot", channel=history.channel)
    expect(page.get_by_test_id("tile-bot-answered").get_by_test_id("tile-value")).to_have_text("1")
    expect(page.get_by_test_id("tile-bot-handed_off").get_by_test_id("tile-value")).to_have_text("1")
    assert datasets(page, "reports-bot-chart")["Answered"][-1] == 1
    expect(page.get_by_test_id("reports-document")).to_have_count(1)
    expect(page.get_by_test_id("reports-document")).to_contain_text("returns.md")
    whole(page, "/tmp/reports-bot.png")
    assert violations == []
    context.close()


def test_an_agent_sees_only_its_own_figures(web: Server, browser: Any,
                                            desk: tuple[History, dict[str, tuple[str, str, str]]]) -> None:
    history, agents = desk
    rita_id, email, password = agents["rita"]
    page, violations, context = reports_page(browser, web, history.tz, email, password)
    shown(page, "agents")
    expect(page.get_by_test_id("reports-agent")).to_have_count(1)
    expect(page.get_by_test_id("reports-agent")).to_have_attribute("data-agent", rita_id)
    expect(page.get_by_test_id("reports-agent").locator("[data-figure=conversations]")).to_have_text("2")
    expect(page.get_by_test_id("report-overview")).to_be_hidden()  # desk-wide reports are not an agent's
    expect(page.get_by_test_id("reports-group-filter")).to_have_count(0)
    expect(page.get_by_test_id("reports-timeline")).to_have_attribute("data-state", "ready")  # their own, at once
    expect(page.get_by_test_id("reports-timeline-totals")).to_contain_text("Online 1:15 · Away 0:05")
    whole(page, "/tmp/reports-agent-own.png")
    assert violations == []
    context.close()
