"""The agent workspace in a real browser: what an agent (or an admin) sees and does, end to end.

Visitors are plain websocket clients (tests.server.conftest.visitor), so these tests depend on the
workspace only. Every test but the first puts its agents in a group of its own, so a visitor never reaches
an agent of another test; the first uses the bot's hand-off, which goes to WEB_GROUP.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Dialog, FilePayload, Page, expect

from tests.server.conftest import Client, Server, admin_token, agent_socket, api, login, visitor
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, new_agent, screenshot, sign_in_at

pytestmark = pytest.mark.timeout(120)

XSS = "<img src=x onerror=alert(1)>"
SEQ = re.compile(r"^\d+$")


# --- helpers ------------------------------------------------------------------------------------------


def agent_in_own_group(web: Server, nickname: str = "Ann", saturation: int = 3,
                       group: str | None = None) -> tuple[str, str, str, str]:
    """A new agent in a group of its own (or `group`): (group, agent id, email, password)."""
    admin = api(web, admin_token(web))
    group = group or f"g{uuid.uuid4().hex[:8]}"
    assert admin.post("/api/groups", json={"id": group, "name": f"Team {group}"}).status_code in (201, 409)
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "agent-password"
    created = admin.post("/api/agents", json={"email": email, "password": password, "nickname": nickname,
                                              "saturation": saturation, "groups": [group]})
    assert created.status_code == 201, created.text
    return group, created.json()["id"], email, password


def sign_in(context: Any, web: Server, email: str, password: str) -> Page:
    page: Page = sign_in_at(context, web.url, email, password)
    return page


def online(page: Page) -> None:
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    page.get_by_test_id("presence").select_option("online")
    expect(page.get_by_test_id("presence")).to_have_value("online")


def ask_for_person(web: Server, group: str, **hello: Any) -> tuple[Client, str]:
    """A visitor who asks a person of `group` and is assigned one: (client, conversation id)."""
    guest, _ = visitor(web, **hello)
    guest.send("request_human", group=group)
    assigned = guest.wait("assigned", timeout=10)
    return guest, str(assigned["conversation"])


def item(page: Page, conversation: str) -> Any:
    return page.locator(f'[data-testid="conversation-item"][data-conversation="{conversation}"]')


def messages(page: Page, role: str | None = None, kind: str | None = None) -> Any:
    selector = '[data-testid="transcript"] [data-testid="message"]'
    selector += f'[data-role="{role}"]' if role else ""
    selector += f'[data-kind="{kind}"]' if kind else ""
    return page.locator(selector)


def transfer_request(web: Server, context: Any, me_name: str,
                     colleague_name: str) -> tuple[Page, str, Client, Client, str, str, str]:
    """A saturated agent in the workspace whose colleague asks to hand over a conversation.

    Returns (the agent's page, the agent's id, the colleague's socket, the visitor, the conversation,
    the agent's email and password).
    """
    group, me, email, password = agent_in_own_group(web, nickname=me_name, saturation=1)
    page = sign_in(context, web, email, password)
    online(page)
    _, mine = ask_for_person(web, group)
    expect(item(page, mine)).to_be_visible()
    _, _, colleague_email, colleague_password = agent_in_own_group(web, nickname=colleague_name, group=group)
    other, _ = agent_socket(web, login(web, colleague_email, colleague_password))
    other.send("presence", presence="online")
    other.wait("presence")
    guest, handed = ask_for_person(web, group)
    other.send("transfer", conversation=handed, to_agent=me)
    return page, me, other, guest, handed, email, password


def reply(page: Page, text: str) -> None:
    page.get_by_test_id("reply").fill(text)
    page.get_by_test_id("send").click()


# --- the agent's desk ---------------------------------------------------------------------------------


def test_a_visitor_who_asks_the_bot_for_a_person_reaches_the_online_agent_with_unread_count_title_and_bot_turns(
        web: Server, context: Any) -> None:
    _, email, password = new_agent(web, nickname="Ann")
    page = sign_in(context, web, email, password)
    online(page)
    expect(page).to_have_title("Workspace — Switchboard")

    guest, _ = visitor(web, name="Ada")
    guest.send("message", client_id="q1", text="How long do I have to return a bike?")
    answer = guest.wait("message", timeout=10, seq=2)
    guest.send("message", client_id="q2", text="I want to talk to a real person")
    conversation = guest.wait("assigned", timeout=10)["conversation"]

    listed = item(page, conversation)
    expect(listed).to_be_visible()
    expect(listed.get_by_test_id("unread")).to_have_text(SEQ)
    expect(page).to_have_title(re.compile(r"^\(\d+\) New conversation — Switchboard$"))
    assert int(page.evaluate("document.documentElement.dataset.chimes || 0")) >= 1

    listed.click()
    expect(messages(page)).to_have_count(4)
    assert [messages(page).nth(i).get_attribute("data-role") for i in range(4)] == ["visitor", "bot", "visitor", "bot"]
    assert [messages(page).nth(i).get_attribute("data-seq") for i in range(4)] == ["1", "2", "3", "4"]
    expect(messages(page, "bot").first).to_contain_text(answer["text"])
    expect(messages(page, "visitor").nth(1)).to_contain_text("I want to talk to a real person")
    expect(listed.get_by_test_id("unread")).to_have_count(0)
    expect(page).to_have_title("Workspace — Switchboard")


def test_the_agent_replies_sees_the_visitor_typing_and_an_internal_note_never_reaches_the_visitor(
        web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Bea")
    page = sign_in(context, web, email, password)
    online(page)
    guest, conversation = ask_for_person(web, group)
    item(page, conversation).click()

    page.get_by_test_id("reply").fill("Hello, I am Bea. How can I help?")
    assert guest.wait("typing", sender="agent", typing=True)["conversation"] == conversation
    page.get_by_test_id("send").click()
    sent = guest.wait("message", text="Hello, I am Bea. How can I help?")
    assert sent["sender"]["role"] == "agent" and sent["sender"]["name"] == "Bea"
    expect(messages(page, "agent").last).to_have_attribute("data-seq", str(sent["seq"]))

    guest.send("typing", typing=True)
    expect(page.get_by_test_id("visitor-typing")).to_be_visible()
    guest.send("message", client_id="v1", text="My parcel has not arrived.")
    expect(messages(page, "visitor").last).to_have_text(re.compile("My parcel has not arrived."))
    expect(page.get_by_test_id("visitor-typing")).to_be_hidden()

    page.get_by_test_id("note-mode").click()
    expect(page.get_by_test_id("note-mode")).to_have_attribute("aria-pressed", "true")
    reply(page, "Internal: VIP customer, refund allowed.")
    note = messages(page, "agent", "note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Internal note")
    expect(note).to_have_attribute("data-seq", SEQ)  # stored: the ack came back

    page.get_by_test_id("note-mode").click()
    reply(page, "Let me check the courier for you.")
    after = guest.wait("message", text="Let me check the courier for you.")
    assert after["prev"] == sent["seq"] + 1 and after["seq"] == after["prev"] + 2  # the note's seq is skipped
    assert not any("VIP" in str(frame) for frame in guest.seen)


def test_a_visitor_waiting_in_the_queue_panel_is_taken_with_invite_beyond_saturation(
        web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Cem", saturation=1)
    page = sign_in(context, web, email, password)
    online(page)
    _, first = ask_for_person(web, group)
    expect(item(page, first)).to_be_visible()

    waiting, _ = visitor(web)
    waiting.send("request_human", group=group)
    second = waiting.wait("queue_position", timeout=10)["conversation"]
    panel = page.locator(f'[data-testid="queue-panel"][data-group="{group}"]')
    entry = panel.locator(f'[data-testid="queue-entry"][data-conversation="{second}"]')
    expect(entry).to_be_visible()
    wait_time = entry.get_by_test_id("wait-time")
    expect(wait_time).to_have_text(re.compile(r"^\d+:\d\d$"))
    shown = wait_time.text_content()
    expect(wait_time).not_to_have_text(shown or "")  # it counts on every second

    entry.get_by_test_id("invite").click()
    assert waiting.wait("assigned", timeout=10)["conversation"] == second
    expect(item(page, second)).to_be_visible()
    expect(page.get_by_test_id("conversation-item")).to_have_count(2)
    expect(panel.get_by_test_id("queue-entry")).to_have_count(0)


def test_an_invite_refused_because_the_agent_is_offline_says_so_in_words_not_ids(web: Server, context: Any) -> None:
    group, me, email, password = agent_in_own_group(web, nickname="Dov")
    page = sign_in(context, web, email, password)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("presence")).to_have_value("offline")
    waiting, _ = visitor(web)
    waiting.send("request_human", group=group)
    queued = waiting.wait("queue_position", timeout=10)["conversation"]
    page.locator(f'[data-testid="queue-entry"][data-conversation="{queued}"]').get_by_test_id("invite").click()
    refusal = page.get_by_test_id("toast").filter(has_text="You are offline")
    expect(refusal).to_be_visible()
    expect(refusal).not_to_contain_text(me)
    screenshot(page, "workspace-refusal")  # the toast sits over the transcript's header, not the composer


def test_a_conversation_is_transferred_to_a_colleague_and_another_is_closed_for_the_visitor(
        web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Dee")
    page = sign_in(context, web, email, password)
    online(page)
    moving, to_move = ask_for_person(web, group)
    ending, to_close = ask_for_person(web, group)
    _, colleague_id, colleague_email, colleague_password = agent_in_own_group(web, nickname="Eli", group=group)
    colleague, _ = agent_socket(web, login(web, colleague_email, colleague_password))
    colleague.send("presence", presence="online")
    colleague.wait("presence")

    item(page, to_move).click()
    page.get_by_test_id("transfer").click()
    expect(page.get_by_test_id("transfer-confirm")).to_be_disabled()  # nobody chosen yet
    page.get_by_test_id("transfer-target").select_option(f"agent:{colleague_id}")
    expect(page.get_by_test_id("transfer-target")).to_contain_text("Eli")  # a name, not "Eli (a-…)"
    expect(page.get_by_test_id("transfer-target")).not_to_contain_text(f"({colleague_id})")
    page.get_by_test_id("transfer-confirm").click()
    taken = colleague.wait("conversation_assigned", timeout=10, conversation=to_move)
    assert taken["via"] == "transfer"
    assert moving.wait("assigned", timeout=10)["agent"]["id"] == colleague_id
    expect(page.get_by_test_id("conversation-ended")).to_contain_text("Transferred")
    expect(page.get_by_test_id("reply")).to_be_disabled()

    item(page, to_close).click()
    page.get_by_test_id("close-conversation").click()
    assert ending.wait("closed", timeout=10, conversation=to_close)["reason"] == "agent"
    expect(page.get_by_test_id("conversation-ended")).to_contain_text("You closed this conversation")
    colleague.close()


def test_a_transfer_request_beyond_saturation_is_accepted_from_the_workspace(web: Server, context: Any) -> None:
    page, me, other, guest, handed, _, _ = transfer_request(web, context, "Fay", "Gus")
    request = page.locator(f'[data-testid="transfer-request"][data-conversation="{handed}"]')
    expect(request).to_contain_text("Gus")
    request.get_by_test_id("accept-transfer").click()
    assert guest.wait("assigned", timeout=10)["agent"]["id"] == me
    expect(item(page, handed)).to_be_visible()
    expect(request).to_have_count(0)
    assert other.wait("conversation_removed", conversation=handed)["reason"] == "transferred"
    other.close()


def test_a_conversation_transferred_to_another_group_goes_to_that_groups_agent(web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Hal")
    page = sign_in(context, web, email, password)
    online(page)
    guest, moving = ask_for_person(web, group)
    billing, billing_agent, billing_email, billing_password = agent_in_own_group(web, nickname="Ida")
    specialist, _ = agent_socket(web, login(web, billing_email, billing_password))
    specialist.send("presence", presence="online")
    specialist.wait("presence")

    item(page, moving).click()
    page.get_by_test_id("transfer").click()
    page.get_by_test_id("transfer-target").select_option(f"group:{billing}")
    page.get_by_test_id("transfer-confirm").click()
    taken = specialist.wait("conversation_assigned", timeout=10, conversation=moving)
    assert guest.wait("assigned", timeout=10)["agent"]["id"] == billing_agent
    assert taken["conversation"] == moving
    expect(page.get_by_test_id("conversation-ended")).to_contain_text("Transferred")
    expect(page.locator("#conv-sub")).to_contain_text("transferred")  # not "ended": the visitor chats on
    expect(page.get_by_test_id("reply")).to_have_attribute("placeholder", "This conversation is no longer yours.")
    specialist.close()


def test_a_declined_transfer_request_leaves_the_conversation_with_the_agent_who_asked(
        web: Server, context: Any) -> None:
    page, me, other, guest, kept, _, _ = transfer_request(web, context, "Jo", "Kit")
    request = page.locator(f'[data-testid="transfer-request"][data-conversation="{kept}"]')
    expect(request).to_contain_text("Kit")
    request.get_by_test_id("decline-transfer").click()
    assert other.wait("transfer_declined", timeout=10, conversation=kept)["to_agent"] == me
    expect(request).to_have_count(0)
    expect(item(page, kept)).to_have_count(0)
    other.send("message", conversation=kept, text="Still with me", client_id="c-kept-1")
    assert guest.wait("message", timeout=10, text="Still with me")["sender"]["role"] == "agent"
    other.close()


def test_a_transfer_request_survives_a_reload_and_goes_when_the_visitor_leaves(web: Server, context: Any) -> None:
    page, _, other, guest, handed, email, password = transfer_request(web, context, "Lea", "Max")
    request = page.locator(f'[data-testid="transfer-request"][data-conversation="{handed}"]')
    expect(request).to_contain_text("Max")
    other_tab, _ = agent_socket(web, login(web, email, password))  # so the reload is not her going offline

    page.reload()  # the welcome lists the offers still waiting for an answer
    expect(request).to_contain_text("Max")
    guest.send("close")

    expect(request).to_have_count(0)
    expect(page.get_by_test_id("toast").filter(has_text="the conversation was closed")).to_be_visible()
    assert other_tab.wait("transfer_withdrawn", timeout=10) == {"type": "transfer_withdrawn", "conversation": handed,
                                                                "reason": "closed"}
    for client in (other, other_tab):
        client.close()


def test_going_offline_with_two_transfer_requests_ends_both_with_one_toast(web: Server, context: Any) -> None:
    page, me, other, _, first, _, _ = transfer_request(web, context, "Ned", "Ola")
    group = other.wait("conversation_assigned", conversation=first)["group"]
    _, second = ask_for_person(web, group)  # Ned is saturated: Ola takes this one too, and offers it to him
    other.send("transfer", conversation=second, to_agent=me)
    requests = page.get_by_test_id("transfer-request")
    expect(requests).to_have_count(2)

    page.get_by_test_id("presence").select_option("offline")

    expect(requests).to_have_count(0)
    expect(page.get_by_test_id("toast").filter(has_text="when you went offline")).to_have_count(1)
    expect(page.get_by_test_id("toast").filter(has_text="Your open conversation goes back to the queue")).to_be_visible()
    declined = [other.wait("transfer_declined", timeout=10) for _ in range(2)]  # in either order
    assert sorted((d["conversation"], d["reason"]) for d in declined) == sorted([(first, "offline"),
                                                                                (second, "offline")])
    other.close()


def test_markup_from_a_visitor_is_shown_as_text_and_never_runs(web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web)
    page = sign_in(context, web, email, password)
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    online(page)
    guest, conversation = ask_for_person(web, group, name=XSS, page="javascript:alert(2)",
                                         email="x@example.org")
    guest.send("message", client_id="x1", text=XSS)
    expect(item(page, conversation)).to_contain_text(XSS)
    item(page, conversation).click()

    shown = messages(page, "visitor").last.locator(".msg-text")
    expect(shown).to_have_text(XSS)
    expect(page.get_by_test_id("visitor-name")).to_have_text(XSS)
    expect(page.get_by_test_id("visitor-page")).to_have_text("javascript:alert(2)")
    assert page.locator("#desk img").count() == 0  # (the profile and team tabs have pictures of their own)
    assert page.locator('[data-testid="visitor-page"] a').count() == 0
    reply(page, "Noted.")
    guest.wait("message", text="Noted.")  # a round trip later, an onerror would long have fired
    assert dialogs == []


def test_a_dropped_socket_reconnects_and_resumes_without_losing_or_repeating_messages(
        web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Hal")
    page = sign_in(context, web, email, password)
    online(page)
    guest, conversation = ask_for_person(web, group)
    item(page, conversation).click()
    guest.send("message", client_id="r1", text="before the drop")
    expect(messages(page, "visitor")).to_have_count(1)
    connection = page.get_by_test_id("connection")

    page.evaluate("window.switchboardWorkspace.socket.stop()")
    expect(connection).not_to_have_attribute("data-state", "open")
    guest.send("message", client_id="r2", text="while you were away")
    guest.send("message", client_id="r3", text="still here?")
    guest.wait("ack", text="still here?")
    reply(page, "Written offline")  # pending until the socket is back, then sent once
    page.evaluate("window.switchboardWorkspace.socket.start()")
    expect(connection).to_have_attribute("data-welcomes", "2")
    guest.wait("message", text="Written offline")

    page.evaluate("window.switchboardWorkspace.socket.drop()")  # as a network drop: back-off, then resume
    expect(connection).to_have_attribute("data-welcomes", "3")
    guest.send("message", client_id="r4", text="after the reconnect")
    expect(messages(page)).to_have_count(5)
    seqs = [int(messages(page).nth(i).get_attribute("data-seq") or 0) for i in range(5)]
    assert seqs == sorted(set(seqs)) and len(seqs) == 5
    texts = [messages(page).nth(i).locator(".msg-text").text_content() for i in range(5)]
    assert texts == ["before the drop", "while you were away", "still here?", "Written offline",
                     "after the reconnect"]
    expect(page.get_by_test_id("presence")).to_have_value("online")

    page.reload()  # still logged in (sessionStorage); the history comes back from the server, nothing unread
    expect(item(page, conversation)).to_be_visible()
    expect(item(page, conversation).get_by_test_id("unread")).to_have_count(0)
    item(page, conversation).click()
    expect(messages(page)).to_have_count(5)
    assert [messages(page).nth(i).locator(".msg-text").text_content() for i in range(5)] == texts


# --- admin --------------------------------------------------------------------------------------------


def test_an_admin_creates_a_group_and_an_agent_in_it_and_uploads_a_document_to_the_knowledge_base(
        web: Server, context: Any) -> None:
    page = sign_in(context, web, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_area = page.get_by_test_id("admin")
    expect(admin_area).to_be_visible()  # an admin who takes no chats lands on Team, with no desk
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(page.get_by_test_id("tab-desk")).to_be_hidden()

    group = f"g{uuid.uuid4().hex[:8]}"
    page.get_by_test_id("section-groups").click()
    page.get_by_test_id("new-group-id").fill(group)
    page.get_by_test_id("new-group-name").fill("Returns team")
    page.get_by_test_id("create-group").click()
    expect(page.locator(f'[data-testid="group-row"][data-group="{group}"]')).to_contain_text("Returns team")

    email = f"{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_test_id("section-people").click()
    page.get_by_test_id("invite-email").fill(email)
    page.get_by_test_id("invite-nickname").fill("Ivy")
    page.get_by_test_id("invite-saturation").fill("4")
    page.locator(f'[data-testid="invite-group"][value="{group}"]').check()
    page.get_by_test_id("invite-set-password").check()
    page.get_by_test_id("invite-password").fill("a-good-password")
    page.get_by_test_id("invite-submit").click()
    row = page.locator(f'[data-testid="person-row"][data-email="{email}"]')
    expect(row.get_by_test_id("membership")).to_have_attribute("data-group", group)
    stored = [a for a in api(web, admin_token(web)).get("/api/agents").json() if a["email"] == email]
    assert [(a["nickname"], a["saturation"], a["groups"]) for a in stored] == [("Ivy", 4, [group])]
    row.get_by_test_id("edit-user").click()
    page.locator(f'[data-testid="edit-group"][value="{group}"]').uncheck()
    page.get_by_test_id("edit-save").click()
    expect(row.get_by_test_id("membership")).to_have_count(0)
    row.get_by_test_id("edit-user").click()
    page.locator(f'[data-testid="edit-group"][value="{group}"]').check()
    page.get_by_test_id("edit-saturation").fill("6")
    page.get_by_test_id("edit-save").click()
    expect(row.get_by_test_id("membership")).to_have_attribute("data-group", group)
    expect(row).to_contain_text("Up to 6 at once")
    stored = [a for a in api(web, admin_token(web)).get("/api/agents").json() if a["email"] == email]
    assert [(a["saturation"], a["groups"]) for a in stored] == [(6, [group])]

    page.get_by_test_id("section-kb").click()
    upload: FilePayload = {"name": "bike-care.md", "mimeType": "text/markdown",
                           "buffer": b"# Bike care\n\n## Chains\n\nClean and oil the chain every 300 km.\n"}
    page.get_by_test_id("kb-file").set_input_files(files=[upload])
    page.get_by_test_id("kb-upload").click()
    document = page.locator('[data-testid="kb-document"][data-name="bike-care.md"]')
    expect(document).to_contain_text("markdown")
    names = [d["name"] for d in api(web, admin_token(web)).get("/api/admin/kb/documents").json()["documents"]]
    assert "bike-care.md" in names

    screenshot(page, "workspace-admin")
    asked: list[str] = []

    def second_thought(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()
    page.once("dialog", second_thought)
    document.get_by_test_id("kb-delete").click()  # a second thought: nothing is deleted
    expect(document).to_be_visible()
    assert asked and "bike-care.md" in asked[0]
    page.get_by_test_id("kb-file").wait_for()  # the page is idle again
    names = [d["name"] for d in api(web, admin_token(web)).get("/api/admin/kb/documents").json()["documents"]]
    assert "bike-care.md" in names
    page.once("dialog", lambda dialog: dialog.accept())
    document.get_by_test_id("kb-delete").click()
    expect(document).to_have_count(0)

    token = page.evaluate("sessionStorage.getItem('switchboard.token')")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('switchboard.token')") is None
    assert api(web, token).get("/api/me").status_code == 401


# --- the look -----------------------------------------------------------------------------------------


def test_a_screenshot_of_the_workspace_with_an_open_conversation(web: Server, context: Any) -> None:
    group, _, email, password = agent_in_own_group(web, nickname="Jo", saturation=1)
    page = sign_in(context, web, email, password)
    online(page)
    guest, _ = visitor(web, name="Ada Lovelace", email="ada@example.org", page="https://shop.example/cart",
                       channel="widget")
    guest.send("message", client_id="q1", text="How much does shipping cost?")
    guest.wait("message", timeout=10, seq=2)
    guest.send("request_human", group=group)
    conversation = guest.wait("assigned", timeout=10)["conversation"]
    waiting, _ = visitor(web)
    waiting.send("request_human", group=group)
    waiting.wait("queue_position", timeout=10)
    expect(page.get_by_test_id("queue-entry")).to_have_count(1)
    item(page, conversation).click()
    guest.send("message", client_id="q2", text="My order #1042 has not arrived yet.")
    expect(messages(page, "visitor")).to_have_count(2)
    reply(page, "Sorry to hear that, Ada. Let me look it up.")
    page.get_by_test_id("note-mode").click()
    reply(page, "Courier reports a delay in the depot.")
    page.get_by_test_id("note-mode").click()
    guest.send("typing", typing=True)
    expect(page.get_by_test_id("visitor-email")).to_have_text("ada@example.org")
    expect(page.get_by_test_id("visitor-page")).to_have_text("https://shop.example/cart")
    expect(page.get_by_test_id("visitor-channel")).to_have_text("widget")
    expect(messages(page, "agent", "note")).to_have_attribute("data-seq", SEQ)
    expect(page.get_by_test_id("visitor-typing")).to_be_visible()
    page.get_by_test_id("reply").fill("Your parcel is")

    path = screenshot(page, "workspace")
    assert path.exists() and path.stat().st_size > 10_000

