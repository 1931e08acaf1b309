"""A visitor and an agent talk through the real server: websockets, Redis fan-out, the store."""

from __future__ import annotations

from switchboard.store.documents import Message, Rating
from tests.server.conftest import Server, agent_socket, group_name, make_agent, visitor


def test_a_visitor_asks_for_a_person_and_talks_with_the_agent_who_gets_it(server: Server) -> None:
    group = group_name()
    agent_id, token = make_agent(server, group, nickname="Ann")
    agent, welcome = agent_socket(server, token)
    assert welcome["agent"] == {"id": agent_id, "name": "Ann"} and welcome["presence"] == "offline"
    agent.send("presence", presence="online")

    guest, hello = visitor(server, page="https://shop.example.com/cart")
    guest.send("message", client_id="m1", text="where is my parcel?")
    ack = guest.wait("ack", client_id="m1")
    guest.send("request_human", group=group)
    assigned = guest.wait("assigned")
    offer = agent.wait("conversation_assigned")
    conv = ack["conversation"]

    assert ack["seq"] == 1 and assigned["agent"] == {"id": agent_id, "name": "Ann"}
    assert offer["conversation"] == conv and offer["visitor"]["id"] == hello["visitor"]

    agent.send("message", conversation=conv, client_id="a1", text="Hi, I am Ann")
    got = guest.wait("message")
    guest.send("message", client_id="m2", text="thanks!")
    back = agent.wait("message")

    assert (got["seq"], got["text"], got["sender"]["name"]) == (2, "Hi, I am Ann", "Ann")
    assert (back["seq"], back["text"]) == (3, "thanks!")

    agent.send("close", conversation=conv)
    assert guest.wait("closed")["reason"] == "agent"
    guest.send("rate", conversation=conv, score=5, comment="great")
    guest.wait("rated")

    stored = [(m.seq, m.text) for m in Message.objects(conversation=conv)]
    assert sorted(stored) == [(1, "where is my parcel?"), (2, "Hi, I am Ann"), (3, "thanks!")]
    assert Rating.objects(id=conv).first().score == 5


def test_an_internal_note_reaches_the_agent_and_never_the_visitor(server: Server) -> None:
    group = group_name()
    _, token = make_agent(server, group)
    agent, _ = agent_socket(server, token)
    agent.send("presence", presence="online")
    guest, _ = visitor(server)
    guest.send("request_human", group=group)
    conv = agent.wait("conversation_assigned")["conversation"]

    agent.send("note", conversation=conv, client_id="n1", text="VIP, be nice")
    agent.wait("ack", client_id="n1")
    agent.send("message", conversation=conv, client_id="a1", text="hello")

    seen = guest.wait("message")
    assert seen["text"] == "hello" and seen["seq"] == 2 and seen["prev"] == 0
    assert all(f.get("kind") != "note" for f in guest.drain())
