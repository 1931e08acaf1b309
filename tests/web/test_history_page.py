"""The History tab in a real browser: an admin searches history and opens a transcript; an agent reaches a
conversation it closed from the desk's banner."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from switchboard.edges.rest.history import history_routes
from switchboard.store.documents import Conversation, User, Visitor
from switchboard.store.writer import StoreWriter
from tests.server.conftest import Backends, Server, free_port, make_config
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, WEB_GROUP, csp_violations, screenshot, sign_in_at
from tests.web.test_workspace import agent_in_own_group, ask_for_person, item, online, sign_in

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def web(backends: Backends) -> Iterator[Server]:
    """A server whose app serves the history routes (added here until rest/api.py lists them)."""
    srv = Server(make_config(backends, default_group=WEB_GROUP), free_port())
    if not any(getattr(r, "path", "") == "/api/history/conversations" for r in srv.app.router.routes):
        srv.app.router.routes[0:0] = history_routes()
    srv.start()
    from tests.server.conftest import ensure_admin
    ensure_admin()
    yield srv
    srv.stop()


def seed_conversation(word: str) -> str:
    """A closed conversation with a bot turn, an agent's reply, a note, a transfer, a rating and a comment,
    written as the server writes one: through a StoreWriter, whose keeper indexes its words."""
    cid, vid, now = f"c-{uuid.uuid4().hex[:16]}", f"v-{uuid.uuid4().hex[:12]}", datetime.now(timezone.utc)
    start = now - timedelta(hours=2)
    Visitor(id=vid, email=f"{word}@example.com", name="Rosa Visitor", created_at=start, seen_at=now).save(force_insert=True)
    for uid, nick in (("a-hist-kim", "Kim"), ("a-hist-lou", "Lou")):
        if User.objects(id=uid).first() is None:
            User(id=uid, roles=["agent"], email=f"{uid}@example.com", nickname=nick).save(force_insert=True)
    t0 = start.timestamp()
    state = {"conversation": cid, "visitor": vid, "channel": "widget", "phase": "closed", "group": WEB_GROUP,
             "agent": "a-hist-lou", "participants": ["a-hist-kim", "a-hist-lou"], "created_at": t0,
             "queued_at": t0 + 60, "assigned_at": t0 + 120, "closed_at": t0 + 1200, "close_reason": "agent",
             "transfers": [{"at": t0 + 360, "from_agent": "a-hist-kim", "to_agent": "a-hist-lou", "to_group": None}]}
    rows = [("visitor", "", "text", f"My {word} bike has a flat tyre", None),
            ("bot", "", "text", "Returns take 30 days.", {"decision": "suggest", "sources": [{"document": "shop-faq.yaml"}]}),
            ("agent", "a-hist-kim", "text", "Let me get a colleague.", None),
            ("agent", "a-hist-kim", "note", "Lou knows tyres", None),
            ("agent", "a-hist-lou", "text", "A new tube is on its way.", None)]

    async def write() -> None:
        writer = StoreWriter(journal=False)
        await writer.start()
        await writer.save_conversation(state)
        for seq, (role, sender, kind, text, extra) in enumerate(rows, 1):
            await writer.add_message({"conversation": cid, "seq": seq, "sender_role": role, "sender_id": sender,
                                      "kind": kind, "text": text, "client_id": None, "at": t0 + seq * 120,
                                      "extra": extra})
        await writer.save_rating(cid, vid, "a-hist-lou", 4, "Quick and kind", now.timestamp())
        await writer.close()  # the keeper stores what it counted and indexed

    with ThreadPoolExecutor(1) as pool:  # away from the thread Playwright's loop belongs to
        pool.submit(asyncio.run, write()).result()
    return cid


def test_an_admin_searches_history_by_text_and_opens_the_transcript(web: Server, context: Any) -> None:
    word = f"zz{uuid.uuid4().hex[:6]}"
    cid = seed_conversation(word)
    page = context.new_page()
    violations = csp_violations(page)
    sign_in_at(context, web.url, ADMIN_EMAIL, ADMIN_PASSWORD, page)
    page.get_by_test_id("tab-history").click()
    expect(page.get_by_test_id("history-status")).to_contain_text("conversation")
    page.get_by_test_id("history-q").fill(word)
    page.get_by_test_id("history-search").click()
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Rosa Visitor")
    expect(rows.first).to_contain_text(f"My {word} bike")
    rows.first.click()

    expect(page.get_by_test_id("history-title")).to_contain_text("Rosa Visitor")
    transcript = page.get_by_test_id("history-transcript")
    expect(transcript.locator("[data-testid=history-message]")).to_have_count(5)
    expect(transcript.locator('[data-kind="bot"]')).to_contain_text("Returns take 30 days.")
    expect(page.get_by_test_id("history-bot-decision")).to_contain_text("Bot suggested · sources: shop-faq.yaml")
    expect(transcript.locator('[data-kind="note"]')).to_contain_text("Note by Kim")
    expect(page.get_by_test_id("history-transfer")).to_contain_text("Transferred from Kim to Lou")
    expect(page.get_by_test_id("history-rating")).to_contain_text("Quick and kind")
    expect(page.get_by_test_id("history-visitor")).to_contain_text(f"{word}@example.com")
    with page.expect_download() as download:
        page.get_by_test_id("history-export-transcript-csv").click()
    assert download.value.suggested_filename == f"conversation-{cid}.csv"
    screenshot(page, "history-transcript")
    assert violations == []


def test_a_closed_conversation_on_the_desk_links_to_its_transcript_in_history(web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Noa")
    page = sign_in(context, web, email, password)
    online(page)
    guest, cid = ask_for_person(web, group)
    guest.send("message", client_id="m1", text="Is my order shipped?")
    guest.wait("ack", timeout=10)
    item(page, cid).click()
    page.get_by_test_id("close-conversation").click()
    expect(page.get_by_test_id("conversation-ended")).to_contain_text("You closed this conversation")
    deadline = time.monotonic() + 10  # the close is stored by the writer a moment after the frame
    while Conversation.objects(id=cid, phase="closed").first() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page.get_by_test_id("open-in-history").click()
    expect(page.get_by_test_id("history")).to_be_visible()
    expect(page.get_by_test_id("history-transcript")).to_contain_text("Is my order shipped?")
    screenshot(page, "history-from-desk")
