"""Both pages together, two people in two browser contexts: the bot, the hand-off, the chat, the rating.

The visitor uses the widget on its demo page; the agent logs in to the workspace in a second browser
context (separate storage, as on another computer). Nothing in between is a double.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from switchboard.store.documents import Rating
from tests.server.conftest import Server
from tests.web.conftest import new_agent, screenshot


def test_a_visitor_is_answered_by_the_bot_then_served_by_an_agent_and_rates_the_chat(
        web: Server, browser: Any) -> None:
    _, email, password = new_agent(web, nickname="Greta", saturation=3)
    agent_ctx, visitor_ctx = browser.new_context(), browser.new_context()
    try:
        agent = agent_ctx.new_page()
        agent.goto(f"{web.url}/workspace")
        agent.get_by_test_id("login-email").fill(email)
        agent.get_by_test_id("login-password").fill(password)
        agent.get_by_test_id("login-submit").click()
        agent.get_by_test_id("presence").select_option("online")

        visitor = visitor_ctx.new_page()
        visitor.goto(f"{web.url}/widget")
        visitor.get_by_test_id("sb-bubble").click()
        visitor.get_by_test_id("sb-input").fill("what is your return policy?")
        visitor.get_by_test_id("sb-send").click()
        bot_answer = visitor.locator('[data-testid="sb-message"][data-role="bot"]').last
        expect(bot_answer).to_contain_text("within 30 days of delivery")

        visitor.get_by_test_id("talk-to-person").click()
        expect(visitor.get_by_test_id("agent-name")).to_contain_text("Greta")
        item = agent.get_by_test_id("conversation-item").first
        expect(item).to_be_visible()
        item.click()
        expect(agent.get_by_test_id("transcript")).to_contain_text("what is your return policy?")  # the bot phase
        expect(agent.get_by_test_id("transcript")).to_contain_text("within 30 days of delivery")

        agent.get_by_test_id("reply").fill("Hi, I'm Greta. Is the bike unused?")
        agent.get_by_test_id("send").click()
        expect(visitor.locator('[data-testid="sb-message"][data-role="agent"]').last).to_contain_text(
            "Hi, I'm Greta. Is the bike unused?")
        visitor.get_by_test_id("sb-input").fill("Yes, still in its box.")
        visitor.get_by_test_id("sb-send").click()
        expect(agent.get_by_test_id("transcript")).to_contain_text("Yes, still in its box.")

        agent.get_by_test_id("close-conversation").click()
        expect(visitor.get_by_test_id("rating")).to_be_visible()
        conversation = item.get_attribute("data-conversation")
        visitor.get_by_test_id("star-5").click()
        visitor.get_by_test_id("rating").get_by_role("button", name="Send rating").click()
        expect(visitor.get_by_test_id("rating-thanks")).to_be_visible()
        screenshot(visitor, "end-to-end-visitor")
        screenshot(agent, "end-to-end-agent")
        assert Rating.objects(id=conversation).first().score == 5
    finally:
        agent_ctx.close()
        visitor_ctx.close()
