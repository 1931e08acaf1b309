"""Routing to the right group (issue 20) through the real server: the widget's groups, signed identities and the
familiar-customer policy, with real sockets, Redis and the store.

The store is shared by the session: every test here leaves the site's widget groups empty again."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest

from switchboard.actors.address import Address
from switchboard.edges.identity import sign
from switchboard.store.documents import Conversation, Visitor
from tests.server.conftest import Client, Server, admin_token, agent_socket, api, group_name, make_agent, visitor


@pytest.fixture
def admin(server: Server) -> Iterator[Any]:
    client = api(server, admin_token(server))
    yield client
    assert client.patch("/api/site", json={"widget_groups": []}).status_code == 200


def online_agent(server: Server, group: str, nickname: str = "Ann") -> tuple[str, Client]:
    agent_id, token = make_agent(server, group, nickname=nickname)
    agent, _ = agent_socket(server, token)
    agent.send("presence", presence="online")
    agent.wait("presence")
    return agent_id, agent


def group_with_policy(admin: Any, policy: str) -> str:
    group = group_name()
    assert admin.post("/api/groups", json={"id": group, "policy": policy}).status_code == 201
    return group


def identify(guest: Client, secret: str, user_id: str, **attributes: Any) -> dict[str, Any]:
    email = f"{user_id}@example.com"
    guest.send("identify", user={"id": user_id, "email": email, "name": "Kim", "attributes": attributes,
                                 "signature": sign(secret, user_id, email, attributes)})
    return guest.wait("identified")


def conversation_of(server: Server, conv: str) -> dict[str, Any]:
    found: dict[str, Any] = server.services.engine.inspect(Address.conversation(conv))
    return found


# --- the widget's groups ----------------------------------------------------------------------------


def test_a_visitor_picks_a_group_and_is_served_by_that_groups_agent(server: Server, admin: Any) -> None:
    sales, billing = group_name(), group_name()
    ann, _ = online_agent(server, sales, "Ann")
    bob, bob_socket = online_agent(server, billing, "Bob")
    saved = admin.patch("/api/site", json={"widget_groups": [{"id": sales, "label": "Buying"},
                                                             {"id": billing, "label": "Invoices"}]})
    assert saved.status_code == 200, saved.text
    offered = api(server).get("/api/widget/config").json()["groups"]

    guest, _ = visitor(server)
    guest.send("request_human", group=offered[1]["id"])

    assert offered == [{"id": sales, "label": "Buying"}, {"id": billing, "label": "Invoices"}]
    assert guest.wait("assigned")["agent"]["id"] == bob
    assert bob_socket.wait("conversation_assigned")["group"] == billing


def test_a_visitor_naming_a_group_the_widget_does_not_offer_is_refused_and_not_queued(
        server: Server, admin: Any) -> None:
    public, internal = group_name(), group_name()
    online_agent(server, public)
    _, insider = online_agent(server, internal, "Ivy")
    admin.patch("/api/site", json={"widget_groups": [{"id": public, "label": "Help"}]})

    guest, _ = visitor(server)
    guest.send("request_human", group=internal)
    refused = guest.wait("error")
    guest.send("request_human", group="no-such-group")
    unknown = guest.wait("error")

    assert (refused["code"], refused["in_reply_to"]) == ("unknown_group", "request_human")
    assert unknown["code"] == "unknown_group" and unknown["message"].replace("no-such-group", internal) == \
        refused["message"]  # an internal group reads exactly as a missing one
    assert all(f["type"] != "conversation_assigned" for f in insider.drain())


def test_a_hidden_group_is_not_in_the_picker_but_a_page_fixed_to_it_reaches_it(server: Server, admin: Any) -> None:
    public, partners = group_name(), group_name()
    online_agent(server, public)
    partner_agent, _ = online_agent(server, partners, "Pat")
    admin.patch("/api/site", json={"widget_groups": [{"id": public, "label": "Help"},
                                                     {"id": partners, "label": "Partners", "hidden": True}]})

    guest, _ = visitor(server)
    guest.send("request_human", group=partners)

    assert [g["id"] for g in api(server).get("/api/widget/config").json()["groups"]] == [public]
    assert guest.wait("assigned")["agent"]["id"] == partner_agent


# --- signed identities ----------------------------------------------------------------------------


def test_an_unverified_visitor_cannot_designate_an_agent(server: Server, admin: Any) -> None:
    group = group_with_policy(admin, "designated")
    ann, _ = online_agent(server, group, "Ann")
    bob, _ = online_agent(server, group, "Bob")

    guest, _ = visitor(server)
    guest.send("request_human", group=group, agent=bob)

    assert guest.wait("assigned")["agent"]["id"] == ann  # balanced: Ann has been idle longer


def test_a_verified_visitor_reaches_the_agent_and_priority_their_signed_identity_names(
        server: Server, admin: Any) -> None:
    secret = admin.get("/api/site/identity").json()["secret"]
    group = group_with_policy(admin, "designated")
    online_agent(server, group, "Ann")
    bob, _ = online_agent(server, group, "Bob")

    guest, _ = visitor(server)
    identified = identify(guest, secret, "cust-vip", priority=7, agent=bob)
    guest.send("message", client_id="m1", text="hello")
    conv = guest.wait("ack")["conversation"]
    guest.send("request_human", group=group)

    assert identified["user"] == {"id": "cust-vip", "email": "cust-vip@example.com", "name": "Kim"}
    assert guest.wait("assigned")["agent"]["id"] == bob
    assert conversation_of(server, conv)["priority"] == 7


def test_a_tampered_identity_is_refused_and_the_visitor_stays_anonymous(server: Server, admin: Any) -> None:
    secret = admin.get("/api/site/identity").json()["secret"]
    group = group_with_policy(admin, "designated")
    ann, _ = online_agent(server, group, "Ann")
    bob, _ = online_agent(server, group, "Bob")

    guest, _ = visitor(server)
    attributes = {"priority": 1}
    signature = sign(secret, "cust-1", "cust-1@example.com", attributes)
    guest.send("identify", user={"id": "cust-1", "email": "cust-1@example.com", "signature": signature,
                                 "attributes": {"priority": 10, "agent": bob}})
    refused = guest.wait("error")
    guest.send("message", client_id="m1", text="hello")
    conv = guest.wait("ack")["conversation"]
    guest.send("request_human", group=group)

    assert (refused["code"], refused["in_reply_to"]) == ("identity_invalid", "identify")
    assert guest.wait("assigned")["agent"]["id"] == ann
    assert conversation_of(server, conv)["priority"] == 0


def test_a_regenerated_secret_voids_identities_signed_with_the_old_one(server: Server, admin: Any) -> None:
    old = admin.get("/api/site/identity").json()["secret"]
    admin.post("/api/site/identity/regenerate")
    guest, _ = visitor(server)
    guest.send("identify", user={"id": "c", "email": "", "attributes": {}, "signature": sign(old, "c", "", {})})

    assert guest.wait("error")["code"] == "identity_invalid"


# --- the familiar customer --------------------------------------------------------------------------


def test_a_verified_returning_customer_goes_to_the_agent_who_served_them_most(server: Server, admin: Any) -> None:
    secret = admin.get("/api/site/identity").json()["secret"]
    group = group_with_policy(admin, "familiar")
    ann, _ = online_agent(server, group, "Ann")
    bob, _ = online_agent(server, group, "Bob")
    customer, earlier = f"cust-{uuid.uuid4().hex[:8]}", f"v-{uuid.uuid4().hex[:12]}"
    Visitor(id=earlier, external_id=customer).save()  # they came before, from another browser
    for i, agent in enumerate((bob, ann, bob)):
        Conversation(id=f"c-{earlier}-{i}", visitor=earlier, phase="closed", agent=agent, participants=[agent]).save()

    guest, _ = visitor(server)
    identify(guest, secret, customer)
    guest.send("request_human", group=group)
    stranger, _ = visitor(server)
    time.sleep(0.2)
    stranger.send("request_human", group=group)

    assert guest.wait("assigned")["agent"]["id"] == bob  # though Ann has been idle longer
    assert stranger.wait("assigned")["agent"]["id"] == ann
