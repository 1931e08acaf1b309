"""The bot in a real server: knowledge uploaded over REST, questions over the visitor websocket.

Everything is real (uvicorn, Redis, the store, Faiss, the hashing embedder);
the knowledge base is a small FAQ uploaded by the admin at the start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.store.documents import Message
from tests.server.conftest import (
    Backends, Client, Server, admin_token, agent_socket, api, ensure_admin, forget_knowledge, free_port, make_agent,
    make_config, visitor,
)

GROUP = "bot-support"
FAQ = b"""
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?"]
  answer: You can return any bike within 30 days of delivery, unused and in its box.
- id: shipping-cost
  question: How much does shipping cost?
  alternatives: ["What are the delivery fees?", "Is delivery free?"]
  answer: Delivery is free above 100 euros; below that it costs 6 euros.
- id: warranty-frame
  question: How long is the frame warranty?
  alternatives: ["Is the frame guaranteed?", "frame warranty years"]
  answer: Frames carry a 10-year warranty against manufacturing defects.
"""


@pytest.fixture(scope="module")
def bot_server(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    kb_dir = tmp_path_factory.mktemp("kb")
    config = make_config(backends, bot={"kb_dir": str(kb_dir), "demo_kb": False, "low_streak_handoff": 2},
                         default_group=GROUP)
    forget_knowledge(backends)
    srv = Server(config, free_port()).start()
    ensure_admin()
    admin = api(srv, admin_token(srv))
    assert admin.put("/api/admin/kb/documents/shop-faq.yaml", content=FAQ).status_code in (200, 201)
    yield srv
    srv.stop()


def ask(server: Server, text: str) -> tuple[Client, dict[str, Any]]:
    guest, _ = visitor(server)
    guest.send("message", client_id="q1", text=text)
    return guest, guest.wait("message", timeout=10)


def test_a_question_the_faq_covers_gets_its_answer_from_the_bot(bot_server: Server) -> None:
    _, reply = ask(bot_server, "what is your return policy?")
    assert reply["sender"] == {"role": "bot", "id": "bot", "name": "Bot"}
    assert reply["text"].startswith("You can return any bike within 30 days")
    assert reply["bot"]["decision"] == "answer"
    assert reply["bot"]["sources"][0]["id"] == "shop-faq.yaml#return-window"


def test_the_bot_answer_is_stored_after_the_question_with_its_details(bot_server: Server) -> None:
    _, reply = ask(bot_server, "is delivery free?")
    rows = sorted(Message.objects(conversation=reply["conversation"]), key=lambda m: m.seq)
    assert [(m.seq, m.sender_role) for m in rows] == [(1, "visitor"), (2, "bot")]
    assert rows[1].extra["decision"] == "answer"


def test_off_topic_chatter_is_declined_and_a_person_is_offered(bot_server: Server) -> None:
    _, reply = ask(bot_server, "who won the football world cup in 1998?")
    assert reply["bot"]["decision"] == "decline"
    assert reply["bot"]["offer_human"] is True
    assert "don't know" in reply["text"]


def test_asking_for_a_person_hands_off_to_the_queue_and_the_agent_sees_the_bot_turns(bot_server: Server) -> None:
    _, token = make_agent(bot_server, GROUP, nickname="Bea")
    agent, _ = agent_socket(bot_server, token)
    agent.send("presence", presence="online")
    guest, answer = ask(bot_server, "how much is shipping?")
    guest.send("message", client_id="q2", text="转人工")
    handoff = guest.wait("message", timeout=10, seq=4)
    assigned = guest.wait("assigned", timeout=10)
    offer = agent.wait("conversation_assigned", timeout=10)

    assert handoff["bot"]["decision"] == "handoff"
    assert assigned["agent"]["name"] == "Bea"
    assert [(m["seq"], m["sender"]["role"]) for m in offer["recent"]] == [
        (1, "visitor"), (2, "bot"), (3, "visitor"), (4, "bot")]
    assert offer["recent"][1]["text"] == answer["text"]
    agent.send("close", conversation=offer["conversation"])


def test_two_questions_the_bot_cannot_answer_in_a_row_hand_the_visitor_to_a_person(bot_server: Server) -> None:
    guest, first = ask(bot_server, "what's the capital of Peru?")
    guest.send("message", client_id="q2", text="tell me a joke about cats")
    second = guest.wait("message", timeout=10, seq=4)
    assert (first["bot"]["decision"], second["bot"]["decision"]) == ("decline", "handoff")
    assert {"queue_position", "assigned"} & {f["type"] for f in guest.drain(1.0)}  # in the dispatch flow now


def test_the_admin_lists_replaces_and_deletes_knowledge_documents(bot_server: Server) -> None:
    admin = api(bot_server, admin_token(bot_server))
    extra = b"# Opening hours\n\nThe Amsterdam store opens 9:00 to 18:00, Monday to Saturday.\n"
    assert admin.put("/api/admin/kb/documents/hours.md", content=extra).status_code == 201
    listed = admin.get("/api/admin/kb/documents").json()
    assert {d["name"] for d in listed["documents"]} >= {"shop-faq.yaml", "hours.md"}

    _, reply = ask(bot_server, "when does the Amsterdam store open?")
    assert reply["bot"]["decision"] in ("answer", "suggest")
    assert admin.put("/api/admin/kb/documents/hours.md", content=extra).json()["status"] == "unchanged"

    assert admin.delete("/api/admin/kb/documents/hours.md").status_code == 204
    assert admin.delete("/api/admin/kb/documents/hours.md").status_code == 404
    assert "hours.md" not in {d["name"] for d in admin.get("/api/admin/kb/documents").json()["documents"]}


def test_bad_knowledge_uploads_get_clear_errors(bot_server: Server) -> None:
    admin = api(bot_server, admin_token(bot_server))
    assert admin.put("/api/admin/kb/documents/virus.exe", content=b"MZ").json()["error"]["code"] == "invalid_argument"
    broken = admin.put("/api/admin/kb/documents/broken.yaml", content=b"- question: no answer here\n")
    assert broken.status_code == 400 and "answer" in broken.json()["error"]["message"]
    assert admin.put("/api/admin/kb/documents/empty.md", content=b"").status_code == 400
    deep = admin.put("/api/admin/kb/documents/deep.yaml", content=b"[" * 600 + b"]" * 600)  # was a 500
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "invalid_argument"
    assert admin.put("/api/admin/kb/documents/faq.yaml%0A", content=b"- question: Q\n  answer: A\n").status_code == 400
    assert api(bot_server).get("/api/admin/kb/documents").status_code == 401


def test_documents_are_named_by_path_and_the_list_shows_the_demo_switch_and_the_tuning(bot_server: Server) -> None:
    admin = api(bot_server, admin_token(bot_server))
    for name in ("README.md", "docs/README.md"):
        assert admin.put(f"/api/admin/kb/documents/{name}", content=b"# Shop\n\nWe sell bikes.\n").status_code == 201
    listed = admin.get("/api/admin/kb/documents").json()
    assert {"README.md", "docs/README.md"} <= {d["name"] for d in listed["documents"]}
    assert listed["demo"] == "off" and listed["demo_entries"] == 0  # no demo in this base: the admin's own only
    assert listed["tuning"]["state"] in ("idle", "running", "done", "failed") and isinstance(listed["tuned"], bool)
    assert admin.put("/api/admin/kb/documents/docs%2F%2E%2E%2Fetc.md", content=b"# x\n").status_code == 400
    assert admin.delete("/api/admin/kb/documents/docs/README.md").status_code == 204
    assert admin.delete("/api/admin/kb/documents/README.md").status_code == 204
    assert admin.put("/api/admin/kb/demo", json={"on": "yes"}).status_code == 400


def test_test_the_bot_explains_the_decision_and_a_visitor_asking_whether_it_is_a_person_is_answered(
        bot_server: Server) -> None:
    admin = api(bot_server, admin_token(bot_server))
    explained = admin.get("/api/admin/kb/ask", params={"q": "what is your return policy?"}).json()
    assert explained["decision"] == "answer" and explained["why"] and explained["thresholds"]["suggest"] > 0
    assert explained["matches"][0]["id"] == "shop-faq.yaml#return-window"
    assert {"score", "topic", "rank", "confidence", "demo"} <= set(explained["matches"][0])
    _, reply = ask(bot_server, "are you a real person?")
    assert reply["bot"]["decision"] == "answer" and "automated assistant" in reply["text"]
