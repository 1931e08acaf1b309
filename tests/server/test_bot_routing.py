"""The bot hands a visitor off to the group of the knowledge document it matched (issue 20), in a real server:
documents uploaded over REST with a group, questions over the visitor websocket, agents on their sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.actors.address import Address
from tests.server.conftest import (
    Backends, Client, Server, admin_token, agent_socket, api, ensure_admin, forget_knowledge, free_port, make_agent,
    make_config, visitor,
)

DEFAULT = "bot-front"
REPAIRS = "bot-repairs"
SHOP = b"""
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?"]
  answer: You can return any bike within 30 days of delivery, unused and in its box.
"""
WARRANTY = b"""
- id: warranty-frame
  question: How long is the frame warranty?
  alternatives: ["Is the frame guaranteed?", "frame warranty years"]
  answer: Frames carry a 10-year warranty against manufacturing defects.
"""


@pytest.fixture(scope="module")
def bot_server(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    kb_dir = tmp_path_factory.mktemp("kb-routing")
    config = make_config(backends, bot={"kb_dir": str(kb_dir), "demo_kb": False}, default_group=DEFAULT)
    forget_knowledge(backends)
    srv = Server(config, free_port()).start()
    ensure_admin()
    admin = api(srv, admin_token(srv))
    assert admin.post("/api/groups", json={"id": REPAIRS}).status_code in (201, 409)
    assert admin.put("/api/admin/kb/documents/shop.yaml", content=SHOP).status_code in (200, 201)
    assert admin.put(f"/api/admin/kb/documents/warranty.yaml?group={REPAIRS}", content=WARRANTY).status_code in (200, 201)
    yield srv
    srv.stop()


def agents(server: Server) -> tuple[Client, Client]:
    """An online agent of the default group and one of the repairs group."""
    sockets = []
    for group, name in ((DEFAULT, "Fay"), (REPAIRS, "Rex")):
        _, token = make_agent(server, group, nickname=name, saturation=20)
        agent, _ = agent_socket(server, token)
        agent.send("presence", presence="online")
        agent.wait("presence")
        sockets.append(agent)
    return sockets[0], sockets[1]


def group_of(server: Server, conv: str) -> str:
    found: dict[str, Any] = server.services.engine.inspect(Address.conversation(conv))
    return str(found["group"])


def say(guest: Client, client_id: str, text: str) -> dict[str, Any]:
    guest.send("message", client_id=client_id, text=text)
    return guest.wait("message", timeout=10)


def test_the_documents_group_is_listed_and_can_be_changed_by_the_admin(bot_server: Server) -> None:
    admin = api(bot_server, admin_token(bot_server))
    listed = {d["name"]: d["group"] for d in admin.get("/api/admin/kb/documents").json()["documents"]}
    refused = admin.patch("/api/admin/kb/documents/shop.yaml", json={"group": "no-such-group"})
    missing = admin.patch("/api/admin/kb/documents/nothing.yaml", json={"group": ""})

    assert listed == {"shop.yaml": "", "warranty.yaml": REPAIRS}
    assert refused.status_code == 400 and "no such group" in refused.json()["error"]["message"]
    assert missing.status_code == 404


def test_asking_for_a_person_after_a_warranty_answer_reaches_the_repairs_group(bot_server: Server) -> None:
    front, repairs = agents(bot_server)
    guest, _ = visitor(bot_server)

    answer = say(guest, "q1", "how long is the frame warranty?")
    handoff = say(guest, "q2", "I want to talk to a human")

    assert answer["bot"]["decision"] == "answer" and handoff["bot"]["decision"] == "handoff"
    assert repairs.wait("conversation_assigned", timeout=10)["group"] == REPAIRS
    assert all(f["type"] != "conversation_assigned" for f in front.drain())


def test_the_visitors_own_request_after_a_warranty_answer_goes_to_repairs_too(bot_server: Server) -> None:
    agents(bot_server)
    guest, _ = visitor(bot_server)

    answer = say(guest, "q1", "is the frame guaranteed?")
    guest.send("request_human")
    guest.wait("assigned", timeout=10)

    assert group_of(bot_server, answer["conversation"]) == REPAIRS


def test_a_hand_off_after_a_document_with_no_group_goes_to_the_default_group(bot_server: Server) -> None:
    agents(bot_server)
    guest, _ = visitor(bot_server)

    answer = say(guest, "q1", "what is your return policy?")
    handoff = say(guest, "q2", "I want to talk to a human")
    guest.wait("assigned", timeout=10)

    assert (answer["bot"]["decision"], handoff["bot"]["decision"]) == ("answer", "handoff")
    assert group_of(bot_server, answer["conversation"]) == DEFAULT
