"""The agent socket asks each user's roles and scope (switchboard/edges/scope.py) for every action.

Only a user holding the agent role takes chats; an admin, or the supervisor of a conversation's group,
may transfer, close and read one that is not theirs, and sees the queues of the groups they steer; a
supervisor of another group, or another agent, may not. Real server, real sockets.
"""

from __future__ import annotations

import uuid

from switchboard.actors.address import Address
from switchboard.actors.messages import CreateAgent, JoinGroup
from switchboard.edges.auth import Passwords
from switchboard.store.documents import Conversation
from switchboard.store.users import Role, insert_user
from tests.server.conftest import Server, admin_token, agent_socket, api, chat, login, visitor

PASSWORD = "role-password-1"


def person(server: Server, roles: tuple[Role, ...], supervises: tuple[str, ...] = (),
           groups: tuple[str, ...] = ()) -> str:
    """A new user with `roles`, logged in: the token."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    insert_user(roles, email, Passwords().hash(PASSWORD), nickname="P", saturation=3, groups=groups,
                supervises=supervises)
    return login(server, email, PASSWORD)


def group_of(conv: str) -> str:
    stored = Conversation.objects(id=conv).first()
    assert stored is not None and stored.group
    return str(stored.group)


def test_a_user_without_the_agent_role_is_refused_every_chat_action_but_the_socket_stays(server: Server) -> None:
    supervisor_token = person(server, ("supervisor",), supervises=("nowhere",))
    boss, welcome = agent_socket(server, supervisor_token)
    assert (welcome["presence"], welcome["conversations"]) == ("offline", [])
    for frame_type, fields in (("presence", {"presence": "online"}),
                               ("message", {"conversation": "c-0", "text": "hi", "client_id": "x1"}),
                               ("note", {"conversation": "c-0", "text": "hi", "client_id": "x2"}),
                               ("typing", {"conversation": "c-0", "typing": True}),
                               ("invite", {"conversation": "c-0"}),
                               ("answer_transfer", {"conversation": "c-0", "accept": True})):
        boss.send(frame_type, **fields)
        refusal = boss.wait("error")
        assert (refusal["code"], refusal["in_reply_to"]) == ("forbidden", frame_type)
    boss.send("ping")
    boss.wait("pong")  # still connected
    boss.close()


def test_the_supervisor_of_the_group_transfers_and_closes_a_conversation_another_agent_serves(server: Server) -> None:
    talk = chat(server)
    talk.guest.send("message", text="my order is late", client_id="g1")
    talk.agent.wait("message", conversation=talk.conv)
    group = group_of(talk.conv)
    other_group = f"g{uuid.uuid4().hex[:8]}"
    admin = api(server, admin_token(server))
    assert admin.post("/api/groups", json={"id": other_group}).status_code == 201

    stranger, _ = agent_socket(server, person(server, ("supervisor",), supervises=(other_group,)))
    stranger.send("close", conversation=talk.conv)
    assert stranger.wait("error")["code"] in ("not_your_conversation", "not_assigned")
    stranger.send("sync", conversation=talk.conv, after=0)
    assert stranger.wait("error")["code"] == "not_your_conversation"
    stranger.close()

    colleague, _ = agent_socket(server, person(server, ("agent",), groups=(group,)))
    colleague.send("transfer", conversation=talk.conv, to_group=other_group)
    assert colleague.wait("error")["code"] == "not_your_conversation"
    colleague.close()

    boss, welcome = agent_socket(server, person(server, ("supervisor",), supervises=(group,)))
    assert group in welcome["queues"] and other_group not in welcome["queues"]
    boss.send("sync", conversation=talk.conv, after=0)
    assert boss.wait("message")["conversation"] == talk.conv
    boss.send("close", conversation=talk.conv)
    talk.guest.wait("closed")
    talk.agent.wait("closed")
    boss.close()


def test_an_admin_who_also_takes_chats_is_served_conversations_and_sees_every_queue(server: Server) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    admin = api(server, admin_token(server))
    assert admin.post("/api/groups", json={"id": group}).status_code == 201
    token = person(server, ("admin", "agent"), groups=(group,))
    me = api(server, token).get("/api/me").json()
    assert me["roles"] == ["admin", "agent"] and me["id"].startswith("a-")
    server.app.state.services.engine.send(Address.agent(me["id"]), CreateAgent(saturation=3))
    server.app.state.services.engine.send(Address.agent(me["id"]), JoinGroup(group))
    desk, welcome = agent_socket(server, token)
    assert group in welcome["queues"]
    desk.send("presence", presence="online")
    desk.wait("presence")
    guest, _ = visitor(server)
    guest.send("request_human", group=group)
    assert desk.wait("conversation_assigned")["conversation"]
    guest.close()
    desk.close()
