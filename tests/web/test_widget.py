"""The visitor widget in a real Chromium against the real server (bot on, a small bicycle-shop FAQ).

The visitor side is the demo page ``/widget`` driven by Playwright; the agent side is a plain
websocket client (the agent workspace is tested elsewhere). Playwright's locators pierce the
widget's open shadow root, so the widget is found by its ``data-testid`` attributes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import Dialog, Locator, Page, WebSocketRoute, expect

from switchboard.settings import DispatchSettings, ServerSettings
from tests.server.conftest import Backends, Client, Server, admin_token, agent_socket, api, login, make_config
from tests.web.conftest import new_agent, own_server, screenshot

XSS = "<img src=x onerror=alert(1)>"
EMAIL_GROUP = "web-email"


# --- the two sides ------------------------------------------------------------------------------------


class Widget:
    """The demo page with the widget, seen as a visitor sees it."""

    def __init__(self, page: Page, server: Server) -> None:
        self.page, self.server = page, server
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, url: str | None = None) -> Widget:
        self.page.goto(url or f"{self.server.url}/widget")
        # The widget appends its bubble once window.Switchboard is set. A locator wait polls from Playwright's
        # own world; page.wait_for_function would poll with eval, which the page's policy refuses (csp_violations).
        expect(self.by_id("sb-bubble")).to_be_attached()
        return self

    def open(self) -> Widget:
        self.page.get_by_test_id("sb-bubble").click()
        expect(self.panel).to_be_visible()
        self.panel.evaluate("p => Promise.all(p.getAnimations().map(a => a.finished))")  # opened all the way
        return self

    @property
    def panel(self) -> Locator:
        return self.page.get_by_test_id("sb-panel")

    def by_id(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    def say(self, text: str) -> None:
        self.by_id("sb-input").fill(text)
        self.by_id("sb-send").click()

    def message(self, text: str, role: str | None = None) -> Locator:
        found = self.by_id("sb-message").filter(has=self.page.get_by_text(text, exact=True))
        return found if role is None else found.and_(self.page.locator(f"[data-role={role}]"))

    def transcript(self) -> list[tuple[str, str, str]]:
        """(role, seq, text) of every message shown, top to bottom."""
        rows: list[list[str]] = self.by_id("sb-message").evaluate_all(
            "els => els.map(e => [e.dataset.role, e.dataset.seq || '', "
            "e.querySelector('[data-testid=sb-text]').textContent])")
        return [(r[0], r[1], r[2]) for r in rows]

    @property
    def visitor_id(self) -> str:
        return str(self.page.evaluate("Switchboard.visitor"))


@dataclasses.dataclass
class Agent:
    """An agent on the agent websocket."""

    id: str
    name: str
    client: Client
    conversations: list[str] = dataclasses.field(default_factory=list)

    def online(self) -> None:
        self.client.send("presence", presence="online")
        self.client.wait("presence", presence="online")

    def take(self) -> str:
        conversation = str(self.client.wait("conversation_assigned", timeout=10)["conversation"])
        self.conversations.append(conversation)
        return conversation

    def say(self, conversation: str, text: str) -> int:
        client_id = f"w-{uuid.uuid4().hex[:8]}"
        self.client.send("message", conversation=conversation, client_id=client_id, text=text)
        return int(self.client.wait("ack", client_id=client_id)["seq"])

    def heard(self, text: str, timeout: float = 5.0) -> dict[str, Any]:
        """The visitor's message `text` (perhaps already received while waiting for something else)."""
        for frame in self.client.seen:
            if frame["type"] == "message" and frame.get("text") == text:
                return frame
        return self.client.wait("message", timeout=timeout, text=text)

    def times_heard(self, text: str) -> int:
        self.client.drain(0.4)
        return sum(1 for f in self.client.seen if f["type"] == "message" and f.get("text") == text)


@pytest.fixture
def widget(context: Any, web: Server) -> Iterator[Widget]:
    w = Widget(context.new_page(), web)
    yield w
    assert w.errors == [], f"the widget threw: {w.errors}"
    assert w.dialogs == [], f"a dialog opened: {w.dialogs}"


@pytest.fixture
def agents(web: Server) -> Iterator[Callable[..., Agent]]:
    made: list[Agent] = []

    def make(nickname: str = "Rosa", online: bool = True) -> Agent:
        agent_id, email, password = new_agent(web, nickname=nickname)
        client, _ = agent_socket(web, login(web, email, password))
        agent = Agent(agent_id, nickname, client)
        made.append(agent)
        if online:
            agent.online()
        return agent

    yield make
    for agent in made:  # done and gone: nothing of this test is offered to a later test's agent
        with suppress(Exception):
            for conversation in agent.conversations:
                agent.client.send("close", conversation=conversation)
            agent.client.send("ping")
            agent.client.wait("pong")  # the closes went through
            agent.client.send("presence", presence="offline")
            agent.client.close()


def handed_to(widget: Widget, agent: Agent) -> str:
    """The visitor asks for a person and `agent` (online) takes the conversation; its id."""
    widget.by_id("talk-to-person").click()
    conversation = agent.take()
    expect(widget.by_id("agent-name")).to_have_text(agent.name)
    return conversation


# --- the bot ------------------------------------------------------------------------------------------


def test_the_visitor_asks_the_bot_about_returns_and_sees_the_faq_answer(widget: Widget) -> None:
    widget.goto().open()
    widget.say("what is your return policy?")
    answer = widget.message("You can return any bike within 30 days of delivery, unused and in its box.", "bot")
    expect(answer).to_be_visible()
    expect(widget.message("what is your return policy?", "visitor")).to_have_attribute("data-seq", "1")
    expect(answer).to_have_attribute("data-seq", "2")
    expect(widget.by_id("talk-to-person")).to_be_visible()  # the bot phase always offers a person
    # the shop's own `button {background: hotpink}` does not reach into the widget's shadow root
    assert widget.by_id("sb-bubble").evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(255, 105, 180)"


def test_a_vague_question_offers_did_you_mean_buttons_and_a_click_gets_that_answer(widget: Widget) -> None:
    widget.goto().open()
    widget.say("shipping")
    suggestions = widget.by_id("sb-suggestion")
    expect(suggestions).to_have_text(["How much does shipping cost?", "Who pays for return shipping?"])
    suggestions.filter(has_text="Who pays for return shipping?").click()
    expect(widget.message("Who pays for return shipping?", "visitor")).to_have_attribute("data-seq", "3")
    expect(widget.message("Returns by courier cost 25 euros; bringing the bike to a store is free.", "bot")) \
        .to_have_attribute("data-seq", "4")


# --- a person -------------------------------------------------------------------------------------


def test_talking_to_a_person_queues_then_chats_with_the_agent_and_ends_with_a_rating(
        widget: Widget, agents: Callable[..., Agent]) -> None:
    from switchboard.store.documents import Rating

    agent = agents("Rosa", online=False)
    widget.goto().open()
    widget.by_id("talk-to-person").click()
    expect(widget.by_id("queue-status")).to_have_text(re.compile(r"^You are number 1 in the queue"))

    agent.online()
    conversation = agent.take()
    expect(widget.by_id("agent-name")).to_have_text("Rosa")
    expect(widget.by_id("sb-notice").filter(has_text="Rosa has joined")).to_be_visible()
    expect(widget.by_id("queue-status")).to_be_hidden()
    expect(widget.by_id("talk-to-person")).to_be_hidden()

    agent.say(conversation, "Hi, I'm Rosa. How can I help?")
    expect(widget.message("Hi, I'm Rosa. How can I help?", "agent")).to_be_visible()

    widget.by_id("sb-input").fill("My front tyre")  # typing, seen by the agent
    agent.client.wait("typing", conversation=conversation, sender="visitor", typing=True)
    widget.by_id("sb-input").fill("My front tyre is flat")
    widget.by_id("sb-send").click()
    assert agent.heard("My front tyre is flat")["sender"]["role"] == "visitor"
    expect(widget.message("My front tyre is flat", "visitor")).not_to_have_attribute("data-seq", "")

    agent.client.send("typing", conversation=conversation, typing=True)
    expect(widget.by_id("typing")).to_have_text("Rosa is typing…")
    agent.say(conversation, "Bring it to a store, we fix it while you wait.")
    expect(widget.by_id("typing")).to_be_hidden()
    expect(widget.message("Bring it to a store, we fix it while you wait.", "agent")).to_be_visible()

    agent.client.send("close", conversation=conversation)
    expect(widget.by_id("sb-notice").filter(has_text="The conversation has ended")).to_be_visible()
    expect(widget.by_id("rating")).to_be_visible()
    widget.by_id("star-5").click()
    widget.by_id("rating-comment").fill("Quick and kind")
    widget.by_id("rating-submit").click()
    expect(widget.by_id("rating-thanks")).to_be_visible()

    deadline = time.monotonic() + 5
    while (rating := Rating.objects(id=conversation).first()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rating is not None and (rating.score, rating.comment, rating.agent) == (5, "Quick and kind", agent.id)


def test_after_a_network_drop_the_widget_reconnects_and_nothing_is_lost_or_repeated(
        widget: Widget, agents: Callable[..., Agent], context: Any) -> None:
    agent = agents("Omar")
    widget.goto().open()
    conversation = handed_to(widget, agent)
    agent.say(conversation, "Hello, Omar here.")
    expect(widget.message("Hello, Omar here.", "agent")).to_be_visible()

    context.set_offline(True)
    expect(widget.by_id("connection-status")).to_have_text("Reconnecting…")
    agent.say(conversation, "First, while you were away.")
    agent.say(conversation, "Second, while you were away.")
    widget.say("Typed while offline.")
    expect(widget.message("Typed while offline.", "visitor")).to_have_attribute("data-pending", "true")

    context.set_offline(False)
    expect(widget.by_id("connection-status")).to_be_hidden()
    expect(widget.message("Second, while you were away.", "agent")).to_be_visible()
    expect(widget.message("Typed while offline.", "visitor")).not_to_have_attribute("data-seq", "")
    assert agent.heard("Typed while offline.")
    assert agent.times_heard("Typed while offline.") == 1

    texts = [text for _, _, text in widget.transcript()]
    assert texts.count("First, while you were away.") == 1 and texts.count("Second, while you were away.") == 1
    assert texts.index("First, while you were away.") < texts.index("Second, while you were away.")
    seqs = [int(seq) for _, seq, _ in widget.transcript()]
    assert seqs == sorted(set(seqs)), f"messages out of order or repeated: {widget.transcript()}"


def test_after_a_reload_the_transcript_is_back_with_what_was_missed_and_no_duplicates(
        widget: Widget, agents: Callable[..., Agent]) -> None:
    agent = agents("Lena")
    widget.goto().open()
    widget.say("is delivery free?")
    expect(widget.message("Delivery is free above 100 euros; below that it costs 6 euros.", "bot")).to_be_visible()
    conversation = handed_to(widget, agent)
    agent.say(conversation, "Hi, Lena here.")
    expect(widget.message("Hi, Lena here.", "agent")).to_be_visible()
    before = widget.transcript()

    widget.page.goto("about:blank")  # the visitor is away: the agent writes meanwhile
    agent.say(conversation, "Are you still there?")
    widget.goto()
    expect(widget.panel).to_be_visible()  # the chat stays open across pages
    expect(widget.message("Are you still there?", "agent")).to_be_visible()
    after = widget.transcript()
    assert after[:len(before)] == before and [text for _, _, text in after[len(before):]] == ["Are you still there?"]
    expect(widget.by_id("agent-name")).to_have_text("Lena")

    widget.page.reload()  # and a plain reload shows the same, once
    expect(widget.message("Are you still there?", "agent")).to_be_visible()
    widget.page.wait_for_timeout(300)  # room for a wrongly repeated message to show up
    assert widget.transcript() == after


def test_html_in_messages_and_names_is_shown_as_text_and_never_runs(
        widget: Widget, agents: Callable[..., Agent]) -> None:
    agent = agents("<i>Ivy</i>")
    widget.goto().open()
    conversation = handed_to(widget, agent)
    agent.say(conversation, XSS)
    widget.say(XSS)
    expect(widget.message(XSS, "agent")).to_be_visible()
    expect(widget.message(XSS, "visitor")).not_to_have_attribute("data-seq", "")
    widget.page.wait_for_timeout(300)  # an injected image would have failed to load by now
    assert widget.panel.locator("img, i").count() == 0
    assert widget.dialogs == []


def test_the_open_widget_mid_conversation_is_captured_for_the_docs(widget: Widget, context: Any) -> None:
    widget.goto().open()
    widget.say("what is your return policy?")
    expect(widget.message("You can return any bike within 30 days of delivery, unused and in its box.")).to_be_visible()
    widget.say("shipping")
    expect(widget.by_id("sb-suggestion")).to_have_count(2)
    path = screenshot(widget.page, "widget")
    assert path.stat().st_size > 10_000

    narrow = Widget(context.new_page(), widget.server)  # a second tab: the same visitor and conversation
    narrow.page.set_viewport_size({"width": 375, "height": 700})
    narrow.goto().open()
    expect(narrow.by_id("sb-suggestion")).to_have_count(2)
    # the panel takes a phone's whole screen (its layout width: the opening animation scales it a little)
    assert narrow.panel.evaluate("p => [p.offsetWidth, p.offsetHeight]") == [375, 700]
    screenshot(narrow.page, "widget-narrow")
    assert narrow.errors == []


# --- a scripted socket: what the real server will not do on cue ---------------------------------------


BOT = {"role": "bot", "id": "bot", "name": "Bot"}


class ScriptedSocket:
    """Playwright answers the widget's /ws/visitor itself: the frames the widget sent, and frames to send it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sockets: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self._taken = 0
        page.route_web_socket("**/ws/visitor", self._accept)

    def _accept(self, ws: Any) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda raw: self.received.append(json.loads(raw)))

    def next(self, type_: str, **match: Any) -> dict[str, Any]:
        """The next frame of `type_` (and `match`) the widget sends, after those already taken."""
        deadline = time.monotonic() + 5
        while True:
            for i in range(self._taken, len(self.received)):
                frame = self.received[i]
                if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                    self._taken = i + 1
                    return frame
            assert time.monotonic() < deadline, f"the widget sent no {type_}; it sent {self.received}"
            self.page.wait_for_timeout(20)

    def send(self, type_: str, **fields: Any) -> None:
        self.sockets[-1].send(json.dumps({"type": type_, **fields}))

    def welcome(self, token: str = "t-1", conversation: dict[str, Any] | None = None) -> dict[str, Any]:
        hello = self.next("hello")
        self.send("welcome", v=1, edge="e1", visitor="v-1", token=token, conversation=conversation,
                  require_email=False, email=None)
        return hello

    def ack(self, frame: dict[str, Any], seq: int, conversation: str = "c-1") -> None:
        self.send("ack", conversation=conversation, seq=seq, prev=seq - 1, kind="text", text=frame["text"],
                  sender={"role": "visitor", "id": "v-1", "name": "Visitor"}, client_id=frame["client_id"], time=1.0)


@pytest.fixture
def scripted(widget: Widget) -> ScriptedSocket:
    return ScriptedSocket(widget.page)


def test_a_streamed_bot_answer_grows_in_a_temporary_bubble_that_the_final_answer_replaces(
        widget: Widget, scripted: ScriptedSocket) -> None:
    widget.goto().open()
    hello = scripted.welcome()
    assert (hello["token"], hello["channel"], hello["page"], hello["last_seq"]) == \
        (None, "widget", f"{widget.server.url}/widget", {})
    widget.say("what is your return policy?")
    question = scripted.next("message")
    assert re.fullmatch(r"m-\d+-\d+", question["client_id"])
    scripted.ack(question, 1)
    scripted.send("bot_delta", conversation="c-1", reply_to=1, text="Returns are ")
    scripted.send("bot_delta", conversation="c-1", reply_to=1, text="free within ")
    expect(widget.by_id("sb-delta")).to_have_text("Returns are free within ")
    scripted.send("message", conversation="c-1", seq=2, prev=1, sender=BOT, kind="text", client_id="re:1", time=2.0,
                  text="Returns are free within 30 days [1].", bot={"decision": "answer", "generated": True})
    expect(widget.message("Returns are free within 30 days [1].", "bot")).to_have_attribute("data-seq", "2")
    expect(widget.by_id("sb-delta")).to_have_count(0)


def test_a_message_still_unacknowledged_when_the_socket_drops_is_sent_again_with_the_same_client_id(
        widget: Widget, scripted: ScriptedSocket) -> None:
    widget.goto().open()
    scripted.welcome(token="t-1")
    widget.say("first")
    scripted.ack(scripted.next("message", text="first"), 1)
    expect(widget.message("first", "visitor")).to_have_attribute("data-seq", "1")
    widget.say("second")
    second = scripted.next("message", text="second")
    scripted.sockets[-1].close(code=1001, reason="server shutting down")  # before the ack
    expect(widget.by_id("connection-status")).to_have_text("Reconnecting…")

    hello = scripted.welcome(token="t-2", conversation={"id": "c-1", "phase": "bot", "group": None, "agent": None,
                                                       "visitor": "v-1", "last_seq": 2})
    assert (hello["token"], hello["last_seq"]) == ("t-1", {"c-1": 1})
    assert scripted.next("message", text="second")["client_id"] == second["client_id"]
    scripted.ack(second, 2)
    expect(widget.message("second", "visitor")).to_have_attribute("data-seq", "2")
    expect(widget.by_id("connection-status")).to_be_hidden()
    assert widget.page.evaluate("localStorage.getItem('switchboard.visitor')") == '"t-2"'


def asks_for_a_person(widget: Widget, scripted: ScriptedSocket) -> None:
    """A welcomed visitor presses "talk to a person"; the scripted server has the request."""
    widget.goto().open()
    scripted.welcome()
    widget.by_id("talk-to-person").click()
    scripted.next("request_human")


def test_errors_and_a_full_queue_are_told_to_the_visitor_and_the_widget_carries_on(
        widget: Widget, scripted: ScriptedSocket) -> None:
    asks_for_a_person(widget, scripted)
    expect(widget.by_id("queue-status")).to_have_text("Connecting you to a person…")
    scripted.send("queue_full", conversation="c-1", group="web-support")
    expect(widget.by_id("sb-notice").filter(has_text="the queue is full")).to_be_visible()
    expect(widget.by_id("talk-to-person")).to_be_visible()
    expect(widget.by_id("leave-form")).to_contain_text("All our people are busy")

    scripted.send("error", code="internal_error", message="<b>the server failed</b>")
    expect(widget.by_id("sb-error")).to_have_text("<b>the server failed</b>")
    scripted.sockets[-1].send("this is not json")
    scripted.send("a_frame_from_the_future", conversation="c-1")
    scripted.send("message", conversation="c-1")  # no seq: ignored
    widget.say("still there?")
    scripted.next("message", text="still there?")


def test_a_signed_identity_from_the_page_is_sent_after_every_welcome_and_a_refusal_leaves_the_chat_working(
        widget: Widget, scripted: ScriptedSocket) -> None:
    user = {"id": "cust-42", "email": "kim@example.com", "name": "Kim", "attributes": {"priority": 2},
            "signature": "ab" * 32}
    widget.goto().open()
    widget.page.evaluate("(user) => window.Switchboard.identify(user)", user)
    scripted.welcome()

    assert scripted.next("identify")["user"] == user
    scripted.send("error", code="identity_invalid", in_reply_to="identify", message="the signature does not match")
    widget.say("hello")
    scripted.next("message", text="hello")

    scripted.sockets[-1].close(code=1001, reason="server restarting")
    scripted.welcome()
    assert scripted.next("identify")["user"] == user  # again after the reconnect's welcome


def test_outside_hours_the_visitor_is_told_the_next_opening_in_their_own_time_and_may_ask_again(
        widget: Widget, scripted: ScriptedSocket) -> None:
    asks_for_a_person(widget, scripted)
    opens = widget.page.evaluate("new Date(2026, 11, 8, 9, 0).getTime() / 1000")  # Tuesday 09:00, the page's zone

    scripted.send("outside_hours", conversation="c-1", group="web-support", next_opening=opens, reason="request")

    told = widget.by_id("sb-notice").filter(has_text="We are closed right now")
    expect(told).to_contain_text("We open again Tuesday")
    expect(told).to_contain_text("09:00")
    expect(widget.by_id("hours-status")).to_contain_text("We open again Tuesday")
    expect(widget.by_id("leave-form")).to_be_visible()  # closed: a message instead of a person
    expect(widget.by_id("talk-to-person")).to_be_hidden()
    expect(widget.by_id("queue-status")).to_be_hidden()


def test_a_refused_hand_off_is_told_in_the_visitors_words_and_they_may_ask_again(
        widget: Widget, scripted: ScriptedSocket) -> None:
    asks_for_a_person(widget, scripted)
    scripted.send("error", code="unknown_group", in_reply_to="request_human", message="no skill group 'helpdesk'")
    expect(widget.by_id("sb-error")).to_have_text("Sorry, nobody can take this chat right now. Please try again later.")
    expect(widget.by_id("talk-to-person")).to_be_visible()


def test_frames_arriving_while_the_visitor_types_an_email_do_not_interrupt_the_typing(
        widget: Widget, scripted: ScriptedSocket) -> None:
    asks_for_a_person(widget, scripted)
    scripted.send("error", code="email_required", in_reply_to="request_human", message="leave an email first")
    field = widget.by_id("email-input")
    expect(field).to_be_focused()
    widget.page.keyboard.type("bob@")
    scripted.send("bot_delta", conversation="c-1", reply_to=1, text="a frame that re-renders the panel")
    expect(widget.by_id("sb-delta")).to_be_visible()
    widget.page.keyboard.type("example.com")
    expect(field).to_have_value("bob@example.com")
    widget.page.keyboard.press("Enter")
    assert scripted.next("profile") == {"type": "profile", "email": "bob@example.com"}
    scripted.send("profile", email="bob@example.com")
    scripted.next("request_human")  # asked again, now with an email
    expect(widget.by_id("email-form")).to_be_hidden()


# --- a server that wants an email before a person, and lets another site embed the widget -----------------


@pytest.fixture(scope="module")
def email_web(backends: Backends, tmp_path_factory: pytest.TempPathFactory, other_site: str) -> Iterator[Server]:
    """require_email on, waits time out after 1 s, and `other_site` may embed the widget. Its visitors queue in
    a group of its own."""
    bot = {"kb_dir": str(tmp_path_factory.mktemp("kb-email")), "demo_kb": False}
    config = make_config(backends, bot=bot, default_group=EMAIL_GROUP, require_email=1,
                         allowed_origins=[other_site])
    with own_server(dataclasses.replace(config, dispatch=DispatchSettings(wait_timeout_s=1.0))) as srv:
        assert api(srv, admin_token(srv)).post("/api/groups", json={"id": EMAIL_GROUP}).status_code == 201
        yield srv


@pytest.fixture
def email_widget(context: Any, email_web: Server) -> Iterator[Widget]:
    w = Widget(context.new_page(), email_web)
    yield w
    assert w.errors == [] and w.dialogs == []


def stored_email(server: Server, visitor: str) -> str | None:
    raw = server.call(server.services.redis.hget(f"sb:visitor:{visitor}", "email"))
    return raw.decode() if isinstance(raw, bytes) else raw


def leave(widget: Widget) -> None:
    """End the conversation, so no queued visitor is left behind for a later test."""
    widget.by_id("sb-end").click()
    expect(widget.by_id("sb-end")).to_be_hidden()


def test_an_email_set_by_the_page_reaches_the_server_and_the_visitor_goes_straight_to_the_queue(
        email_widget: Widget) -> None:
    email_widget.goto()
    email_widget.page.evaluate("Switchboard.setEmail('ann@example.com')")
    email_widget.open()
    email_widget.by_id("talk-to-person").click()
    expect(email_widget.by_id("queue-status")).to_have_text(re.compile(r"^You are number \d+ in the queue"))
    expect(email_widget.by_id("email-form")).to_be_hidden()
    assert stored_email(email_widget.server, email_widget.visitor_id) == "ann@example.com"
    leave(email_widget)


def test_without_an_email_the_email_form_comes_before_the_hand_off(email_widget: Widget) -> None:
    email_widget.goto().open()
    email_widget.by_id("talk-to-person").click()
    expect(email_widget.by_id("email-form")).to_be_visible()
    expect(email_widget.by_id("queue-status")).to_be_hidden()  # no request_human went out
    email_widget.by_id("email-input").fill("not-an-email")
    email_widget.by_id("email-submit").click()
    expect(email_widget.by_id("email-form")).to_contain_text("valid email")
    email_widget.by_id("email-input").fill("bob@example.com")
    email_widget.by_id("email-submit").click()
    expect(email_widget.by_id("queue-status")).to_have_text(re.compile(r"^You are number \d+ in the queue"))
    expect(email_widget.by_id("email-form")).to_be_hidden()
    assert stored_email(email_widget.server, email_widget.visitor_id) == "bob@example.com"
    leave(email_widget)


def test_when_the_bot_hands_off_without_an_email_the_widget_asks_for_one_first(email_widget: Widget) -> None:
    email_widget.goto().open()
    email_widget.say("I want to talk to a real person")
    expect(email_widget.by_id("email-form")).to_be_visible()
    email_widget.by_id("email-input").fill("cy@example.com")
    email_widget.by_id("email-submit").click()
    expect(email_widget.by_id("queue-status")).to_have_text(re.compile(r"^You are number \d+ in the queue"))
    leave(email_widget)


def test_a_visitor_waiting_too_long_may_keep_waiting_or_leave(email_widget: Widget) -> None:
    email_widget.goto(f"{email_widget.server.url}/widget?email=dee@example.com")  # an iframe's ?email=
    email_widget.open()
    email_widget.by_id("talk-to-person").click()
    expect(email_widget.by_id("queue-status")).to_be_visible()
    expect(email_widget.by_id("keep-waiting")).to_be_visible()  # wait_timeout_s is 1 s on this server
    email_widget.by_id("keep-waiting").click()
    expect(email_widget.by_id("wait-timeout")).to_be_hidden()
    expect(email_widget.by_id("leave-queue")).to_be_visible()  # asked again a second later
    email_widget.by_id("leave-queue").click()
    expect(email_widget.by_id("sb-notice").filter(has_text="You left the queue")).to_be_visible()
    expect(email_widget.by_id("queue-status")).to_be_hidden()


def test_the_widget_embedded_on_another_site_finds_its_server_from_its_script_tag(
        email_widget: Widget, other_site: str) -> None:
    email_widget.goto(f"{other_site}/?widget={email_widget.server.url}/widget.js").open()
    email_widget.say("hello from another site")
    expect(email_widget.message("hello from another site", "visitor")).to_have_attribute("data-seq", "1")
    expect(email_widget.by_id("sb-message").and_(email_widget.page.locator("[data-role=bot]"))).to_have_count(1)
    leave(email_widget)


# --- text too long in bytes: refused before it is sent, and never re-sent in a loop -----------------------

WIDGET_JS = Path(__file__).resolve().parents[2] / "switchboard" / "web" / "widget.js"
CHINESE = "你" * 6000  # under the 8000-character limit, but 18,000 bytes: over the 16 KiB frame limit
TOO_LONG_NOTE = "A message was too long to send and was not delivered"


def sockets_opened(page: Page) -> list[Any]:
    """Every websocket the page opens from now on (a reconnect loop shows up as a long list)."""
    opened: list[Any] = []
    page.on("websocket", lambda ws: opened.append(ws))
    return opened


def test_the_widgets_frame_limit_is_the_servers_default() -> None:
    found = re.search(r"const MAX_FRAME_BYTES = (\d+);", WIDGET_JS.read_text())
    assert found is not None and int(found.group(1)) == ServerSettings().max_frame_bytes


def test_text_over_the_frame_limit_in_bytes_is_refused_before_sending_with_how_much_to_cut(widget: Widget) -> None:
    opened = sockets_opened(widget.page)
    widget.goto().open()
    widget.say(CHINESE)
    error = widget.by_id("sb-error")
    expect(error).to_contain_text("That message is too long to send. Please shorten it by about")
    expect(widget.by_id("sb-input")).to_have_value(CHINESE)  # kept, to be shortened
    found = re.search(r"by about (\d+) characters", error.inner_text())
    assert found is not None
    shortened = CHINESE[:len(CHINESE) - int(found.group(1))]  # just under the limit: the widget and server agree
    widget.say(shortened)
    expect(widget.message(shortened, "visitor")).not_to_have_attribute("data-seq", "")
    widget.say("and a short one")
    expect(widget.message("and a short one", "visitor")).not_to_have_attribute("data-seq", "")
    assert len(opened) == 1, f"the widget reconnected {len(opened) - 1} times"


def test_an_oversized_message_left_in_the_outbox_by_an_older_page_is_dropped_with_a_note_on_reload(
        widget: Widget) -> None:
    widget.goto()
    widget.page.evaluate("text => localStorage.setItem('switchboard.session', JSON.stringify("
                         "{conv: null, phase: 'none', pending: [{client_id: 'm-1-1', text, time: 1}]}))", CHINESE)
    opened = sockets_opened(widget.page)
    widget.page.reload()
    widget.open()
    expect(widget.by_id("sb-notice").filter(has_text=TOO_LONG_NOTE)).to_be_visible()
    expect(widget.by_id("sb-input")).to_have_value(CHINESE)  # back in the box, to be shortened
    widget.by_id("sb-input").fill("after the reload")
    widget.by_id("sb-send").click()
    expect(widget.message("after the reload", "visitor")).not_to_have_attribute("data-seq", "")
    expect(widget.by_id("sb-notice").filter(has_text=TOO_LONG_NOTE)).to_be_visible()  # kept by the new conversation
    assert CHINESE not in widget.page.evaluate("localStorage.getItem('switchboard.session')")
    assert len(opened) == 1, f"the widget reconnected {len(opened) - 1} times"


def test_a_message_the_server_refuses_as_too_large_is_dropped_with_a_note_and_never_sent_again(
        widget: Widget) -> None:
    """The real server refuses the frame (frame_too_large, then close 1009) because the widget was told a larger
    limit than the server's: as behind a proxy with a lower limit, or a server restarted with a lower one."""
    announced: list[int] = []
    sent: list[dict[str, Any]] = []

    def through(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def up(raw: str | bytes) -> None:
            sent.append(json.loads(raw))
            server.send(raw)

        def down(raw: str | bytes) -> None:
            frame = json.loads(raw)
            if frame["type"] == "welcome":
                announced.append(frame["max_frame_bytes"])
                frame["max_frame_bytes"] = 65536
            route.send(json.dumps(frame))

        route.on_message(up)
        server.on_message(down)

    widget.page.route_web_socket("**/ws/visitor", through)
    opened = sockets_opened(widget.page)
    widget.goto().open()
    widget.say(CHINESE)
    expect(widget.by_id("sb-notice").filter(has_text=TOO_LONG_NOTE)).to_be_visible()
    expect(widget.by_id("sb-input")).to_have_value(CHINESE)
    widget.by_id("sb-input").fill("later messages flow")
    widget.by_id("sb-send").click()
    expect(widget.message("later messages flow", "visitor")).not_to_have_attribute("data-seq", "")
    assert announced[0] == widget.server.config.settings.max_frame_bytes

    widget.page.reload()  # and a reload does not bring it back
    expect(widget.panel).to_be_visible()  # the chat stays open across pages
    widget.say("after a reload")
    expect(widget.message("after a reload", "visitor")).not_to_have_attribute("data-seq", "")
    assert sum(1 for f in sent if f["type"] == "message" and f["text"] == CHINESE) == 1
    assert len(opened) == 3, f"{len(opened)} sockets: one refused, its reconnect, the reload's"


def test_a_1009_close_without_an_error_frame_drops_the_biggest_unacknowledged_message_only(
        widget: Widget, scripted: ScriptedSocket) -> None:
    widget.goto().open()
    scripted.welcome()  # no max_frame_bytes: the widget assumes the server's default
    widget.say("first")
    first = scripted.next("message", text="first")
    widget.say("你" * 4000)  # 12,000 bytes: fits 16 KiB, but not what is between the widget and the server
    scripted.next("message", text="你" * 4000)
    scripted.sockets[-1].close(code=1009, reason="message too big")  # before any ack
    expect(widget.by_id("sb-notice").filter(has_text=TOO_LONG_NOTE)).to_be_visible()

    scripted.welcome(conversation=None)
    assert scripted.next("message")["client_id"] == first["client_id"]  # the small one is still re-sent
    scripted.ack(first, 1)
    widget.by_id("sb-input").fill("你" * 4000)
    widget.by_id("sb-send").click()  # as big as the refused one: refused at once this time
    expect(widget.by_id("sb-error")).to_contain_text("too long to send")
    widget.by_id("sb-input").fill("then this")
    widget.by_id("sb-send").click()
    scripted.next("message", text="then this")
    assert sum(1 for f in scripted.received if f.get("text") == "你" * 4000) == 1


def test_an_email_too_long_for_the_protocol_is_ignored_rather_than_failing_every_hello(widget: Widget) -> None:
    opened = sockets_opened(widget.page)
    widget.goto()
    widget.page.evaluate("address => Switchboard.setEmail(address)", "a" * 300 + "@example.com")  # over 254
    widget.open()
    widget.say("hello with a long email")
    expect(widget.message("hello with a long email", "visitor")).not_to_have_attribute("data-seq", "")
    assert len(opened) == 1, f"the widget reconnected {len(opened) - 1} times"


# --- what the desk's hours change, the group picker, leave-a-message (docs/leave-a-message.md) ----------


def answer_status(page: Page, status: str, next_opening: float | None = None, reply: str = "") -> list[str]:
    """GET /api/widget/status answered with `status`; the addresses the widget asked, in order."""
    asked: list[str] = []

    def fulfil(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(json={"group": "web-support", "status": status, "next_opening": next_opening,
                            "off_hours_reply": reply}, headers={"Access-Control-Allow-Origin": "*"})

    page.route("**/api/widget/status*", fulfil)
    return asked


def test_the_status_shows_before_anyone_asks_and_a_few_moments_is_said_only_when_someone_is_online(
        widget: Widget, scripted: ScriptedSocket) -> None:
    answer_status(widget.page, "open")
    widget.goto().open()
    scripted.welcome()
    # the team's name first (another test may have named the team on this shared server), then the status
    expect(widget.by_id("sb-subtitle")).to_have_text(re.compile(r"^.+ · We reply in a few moments$"))
    expect(widget.by_id("talk-to-person")).to_be_visible()
    expect(widget.by_id("leave-message")).to_be_hidden()
    expect(widget.by_id("hours-status")).to_be_hidden()

    nobody = widget.page.context.new_page()
    answer_status(nobody, "open_no_agents")
    ScriptedSocket(nobody)
    other = Widget(nobody, widget.server).goto().open()
    expect(other.by_id("sb-subtitle")).to_have_text(re.compile(r"^.+ · Nobody is online right now$"))
    expect(other.by_id("hours-status")).to_contain_text("Nobody is online right now")
    expect(other.by_id("talk-to-person")).to_be_visible()  # they may still wait
    other.by_id("leave-message").click()
    expect(other.by_id("leave-form")).to_contain_text("Nobody is online right now. Leave us a message")
    assert other.errors == []


def test_closed_the_widget_says_when_it_opens_in_the_visitors_time_and_offers_the_form_not_a_person(
        widget: Widget, scripted: ScriptedSocket) -> None:
    opens = 1_796_720_400.0  # a Tuesday, 09:00 UTC
    answer_status(widget.page, "closed", opens, "The ovens are off.")
    widget.goto().open()
    when = widget.page.evaluate(
        f"new Date({opens} * 1000).toLocaleString([], {{weekday: 'long', hour: '2-digit', minute: '2-digit'}})")
    expect(widget.by_id("hours-status")).to_have_text(f"The ovens are off.We open again {when}.")
    expect(widget.by_id("sb-subtitle")).not_to_contain_text("a few moments")
    expect(widget.by_id("talk-to-person")).to_be_hidden()
    expect(widget.by_id("leave-form")).to_be_visible()
    widget.by_id("leave-cancel").click()
    expect(widget.by_id("leave-form")).to_be_hidden()
    expect(widget.by_id("leave-message")).to_be_visible()


def test_a_message_left_before_the_welcome_waits_for_the_visitor_token_then_goes_with_it(
        widget: Widget, scripted: ScriptedSocket) -> None:
    answer_status(widget.page, "closed", None)
    posted: list[dict[str, Any]] = []

    def messages(route: Any) -> None:
        if route.request.method == "POST":
            posted.append({"auth": route.request.headers.get("authorization"), **json.loads(route.request.post_data)})
            route.fulfill(status=201, json={"conversation": "c-left", "group": "web-support", "created_at": 1.0})
        else:
            route.fulfill(json={"messages": []})

    widget.page.route("**/api/widget/messages", messages)
    widget.goto().open()
    form = widget.by_id("leave-form")
    form.get_by_test_id("leave-email").fill("eve@example.com")
    assert form.get_by_test_id("leave-text").get_attribute("maxlength") == "4000"  # the server's limit
    form.get_by_test_id("leave-text").fill("Call me back, please.")
    form.get_by_test_id("leave-submit").click()
    expect(form.get_by_test_id("leave-submit")).to_have_text("Sending…")
    assert posted == []
    scripted.welcome(token="t-9")
    expect(widget.by_id("leave-sent")).to_contain_text("will reply to eve@example.com")
    assert posted == [{"auth": "Bearer t-9", "email": "eve@example.com", "text": "Call me back, please.",
                       "reason": "closed"}]


def test_leaving_the_queue_offers_the_form(widget: Widget, scripted: ScriptedSocket) -> None:
    asks_for_a_person(widget, scripted)
    scripted.send("queue_position", conversation="c-1", position=1, eta_s=30)
    scripted.send("abandoned", conversation="c-1")
    expect(widget.by_id("sb-notice").filter(has_text="You left the queue")).to_be_visible()
    expect(widget.by_id("leave-form")).to_contain_text("You left the queue. Leave us a message")


def test_with_two_groups_the_visitor_chooses_whom_to_talk_to_and_the_request_names_it(
        widget: Widget, scripted: ScriptedSocket) -> None:
    asked = answer_status(widget.page, "open")
    widget.page.route("**/api/widget/config", lambda route: route.fulfill(json={
        "team_name": "", "logo_url": "", "title": "", "greeting": "", "colour": "",
        "groups": [{"id": "sales", "label": "Buying a bike"}, {"id": "repairs", "label": "Repairs"}]}))
    widget.goto().open()
    scripted.welcome()
    widget.by_id("talk-to-person").click()
    picker = widget.by_id("group-picker")
    expect(picker).to_contain_text("Who would you like to talk to?")
    expect(widget.by_id("pick-group")).to_have_text(["Buying a bike", "Repairs"])
    picker.locator('[data-group="repairs"]').click()
    assert scripted.next("request_human")["group"] == "repairs"
    expect(picker).to_be_hidden()
    for _ in range(100):  # the status of the chosen group is read
        if asked and asked[-1].endswith("/api/widget/status?group=repairs"):
            break
        widget.page.wait_for_timeout(20)
    assert asked[-1].endswith("/api/widget/status?group=repairs"), asked
    assert widget.page.evaluate("sessionStorage.getItem('switchboard.group')") == '"repairs"'


def test_a_group_fixed_on_the_script_tag_asks_no_one_and_names_its_group(context: Any, web: Server) -> None:
    page = context.new_page()
    asked = answer_status(page, "open")
    page.route("**/api/widget/config", lambda route: route.fulfill(json={
        "groups": [{"id": "sales", "label": "Sales"}, {"id": "repairs", "label": "Repairs"}]}))
    scripted = ScriptedSocket(page)
    page.route(f"{web.url}/shop", lambda route: route.fulfill(content_type="text/html", body=(
        f'<!doctype html><title>Shop</title><script src="{web.url}/widget.js" data-group="repairs" async></script>')))
    widget = Widget(page, web).goto(f"{web.url}/shop")
    widget.open()
    scripted.welcome()
    widget.by_id("talk-to-person").click()
    assert scripted.next("request_human")["group"] == "repairs"
    expect(widget.by_id("group-picker")).to_have_count(0)
    assert asked and all(url.endswith("/api/widget/status?group=repairs") for url in asked)
