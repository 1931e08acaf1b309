"""A transfer to a busy agent through the real server: the offer must never block the conversation.

The reviewer's case: Eve transfers to Fay, who is full, so Fay is asked; Fay
goes offline and disconnects. Eve must be told and must be able to transfer
to someone else at once; a target still connected (a second tab) sees the
offer in the welcome and can answer it there.
"""

from __future__ import annotations

from tests.server.conftest import Client, Server, agent_socket, group_name, make_agent, visitor


def online(server: Server, token: str) -> Client:
    client, _ = agent_socket(server, token)
    client.send("presence", presence="online")
    client.wait("presence", presence="online")
    return client


def served(server: Server, group: str, agent: Client) -> str:
    """A new visitor asks for a person in `group`; `agent` gets them. Returns the conversation."""
    guest, _ = visitor(server)
    guest.send("request_human", group=group)
    conversation: str = agent.wait("conversation_assigned", timeout=10)["conversation"]
    return conversation


def eve_serving_and_fay_full(server: Server, group: str) -> tuple[Client, str, Client, str, str, str]:
    """Eve and Fay (saturation 1 each, in `group`) both serving a visitor, so an offer to Fay must wait.
    Returns (eve, eve_id, fay, fay_id, fay_token, Eve's conversation)."""
    eve_id, eve_token = make_agent(server, group, saturation=1, nickname="Eve")
    fay_id, fay_token = make_agent(server, group, saturation=1, nickname="Fay")
    eve = online(server, eve_token)
    c1 = served(server, group, eve)
    fay = online(server, fay_token)
    served(server, group, fay)
    return eve, eve_id, fay, fay_id, fay_token, c1


def test_a_transfer_to_an_agent_who_goes_offline_ends_and_another_transfer_works(server: Server) -> None:
    group = group_name()
    eve, _, fay, fay_id, fay_token, c1 = eve_serving_and_fay_full(server, group)
    gus_id, gus_token = make_agent(server, group, saturation=1, nickname="Gus")

    eve.send("transfer", conversation=c1, to_agent=fay_id)
    assert fay.wait("transfer_requested", timeout=10)["conversation"] == c1
    fay.send("presence", presence="offline")
    fay.wait("presence", presence="offline")
    fay.close()

    declined = eve.wait("transfer_declined", timeout=10, conversation=c1)
    assert (declined["to_agent"], declined["reason"]) == (fay_id, "offline")

    gus = online(server, gus_token)
    eve.send("transfer", conversation=c1, to_agent=gus_id)
    assert gus.wait("conversation_assigned", timeout=10, conversation=c1)["via"] == "transfer"
    eve.wait("conversation_removed", timeout=10, conversation=c1)
    assert not [f for f in eve.seen if f["type"] == "error"]

    _, again = agent_socket(server, fay_token)
    assert again["pending_transfers"] == []


def test_a_target_who_reconnects_while_an_offer_waits_sees_it_and_can_accept(server: Server) -> None:
    eve, eve_id, fay, fay_id, fay_token, c1 = eve_serving_and_fay_full(server, group_name())
    eve.send("transfer", conversation=c1, to_agent=fay_id)
    fay.wait("transfer_requested", timeout=10, conversation=c1)

    tab, welcome = agent_socket(server, fay_token)  # a reload: the new socket opens before the old one closes
    fay.close()

    assert welcome["pending_transfers"] == [{"conversation": c1, "from_agent": eve_id}]
    tab.send("answer_transfer", conversation=c1, accept=True)
    assert tab.wait("conversation_assigned", timeout=10, conversation=c1)["via"] == "transfer"
    eve.wait("conversation_removed", timeout=10, conversation=c1)
