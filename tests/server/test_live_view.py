"""The live view over real sockets: pushed to steerers when agents and queues change, never asked for again.

An admin subscribes once; an agent comes online and a visitor is assigned: the admin gets live frames
showing it without sending anything. A supervisor of another group sees none of it; an agent is refused;
an agent's queue panel gets a ``queues`` frame when a visitor queues in its group.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from tests.server.conftest import Client, Server, admin_token, agent_socket, api, group_name, make_agent, visitor
from tests.server.test_socket_roles import person

Frame = dict[str, Any]


def live_until(client: Client, ok: Callable[[Frame], bool], timeout: float = 5.0) -> Frame:
    """The first live frame that satisfies `ok` (earlier ones are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching live frame within {timeout} s; saw {[f['type'] for f in client.seen[-10:]]}"
        frame = client.wait("live", timeout=left)
        if ok(frame):
            return frame


def agent_in(live: Frame, agent: str) -> Frame | None:
    return next((a for a in live["agents"] if a["id"] == agent), None)


def queue_in(live: Frame, group: str) -> Frame | None:
    return next((q for q in live["queues"] if q["group"] == group), None)


def test_an_admin_sees_an_agent_come_online_and_take_a_visitor_without_asking_again(server: Server) -> None:
    group, elsewhere = group_name(), group_name()
    assert api(server, admin_token(server)).post("/api/groups", json={"id": elsewhere}).status_code == 201
    agent_id, agent_token = make_agent(server, group, saturation=2, nickname="Live Ann")
    boss, _ = agent_socket(server, admin_token(server))
    boss.send("live", on=True)
    first = boss.wait("live")
    assert queue_in(first, group) is not None and queue_in(first, elsewhere) is not None
    assert first["agents_total"] >= 1
    row = agent_in(first, agent_id)
    assert row is not None and (row["presence"], row["load"], row["saturation"]) == ("offline", 0, 2)
    stranger, _ = agent_socket(server, person(server, ("supervisor",), supervises=(elsewhere,)))
    stranger.send("live", on=True)
    theirs = stranger.wait("live")
    assert agent_in(theirs, agent_id) is None and [q["group"] for q in theirs["queues"]] == [elsewhere]

    desk, welcome = agent_socket(server, agent_token)
    assert welcome["queues"] == {group: []}
    guest, _ = visitor(server)
    guest.send("request_human", group=group)
    pushed = desk.wait("queues")  # the panel is told, it does not ask
    assert [w["position"] for w in pushed["queues"][group]] == [1]
    waiting = live_until(boss, lambda f: (queue_in(f, group) or {}).get("waiting_total") == 1)
    entry = queue_in(waiting, group)["waiting"][0]  # type: ignore[index]
    assert entry["position"] == 1 and entry["waited_s"] >= 0 and entry["conversation"]

    desk.send("presence", presence="online")
    conv = desk.wait("conversation_assigned")["conversation"]
    assigned = live_until(boss, lambda f: (a := agent_in(f, agent_id)) is not None and a["load"] == 1)
    row = agent_in(assigned, agent_id)
    assert row is not None and row["presence"] == "online"
    assert [(c["id"], c["group"]) for c in row["conversations"]] == [(conv, group)]
    assert row["conversations"][0]["visitor"] and row["conversations"][0]["since"]
    assert queue_in(assigned, group)["waiting_total"] == 0  # type: ignore[index]
    assert desk.wait("queues")["queues"] == {group: []}

    assert [f for f in stranger.drain(0.6) if f["type"] == "live"] == []  # not a frame of another group's work
    boss.send("live", on=False)
    desk.send("presence", presence="away")
    assert [f for f in boss.drain(0.6) if f["type"] == "live"] == []
    for client in (guest, desk, boss, stranger):
        client.close()


def test_an_agent_may_not_watch_the_live_view(server: Server) -> None:
    _, token = make_agent(server, group_name())
    desk, _ = agent_socket(server, token)
    desk.send("live", on=True)
    refusal = desk.wait("error")
    assert (refusal["code"], refusal["in_reply_to"]) == ("forbidden", "live")
    desk.close()


def test_a_supervisor_of_no_group_may_not_watch_the_live_view(server: Server) -> None:
    boss, _ = agent_socket(server, person(server, ("supervisor",)))
    boss.send("live", on=True)
    assert boss.wait("error")["code"] == "forbidden"
    boss.close()


def test_a_supervisor_steering_a_conversation_from_the_live_view_may_read_and_close_it(server: Server) -> None:
    group = group_name()
    agent_id, agent_token = make_agent(server, group)
    desk, _ = agent_socket(server, agent_token)
    desk.send("presence", presence="online")
    guest, _ = visitor(server)
    guest.send("message", text="where is my parcel", client_id="m1")
    guest.send("request_human", group=group)
    conv = desk.wait("conversation_assigned")["conversation"]
    boss, _ = agent_socket(server, person(server, ("supervisor",), supervises=(group,)))
    boss.send("live", on=True)
    shown = live_until(boss, lambda f: bool((a := agent_in(f, agent_id)) and a["conversations"]))
    opened = agent_in(shown, agent_id)["conversations"][0]["id"]  # type: ignore[index]
    assert opened == conv
    boss.send("sync", conversation=opened, after=0)
    assert boss.wait("message")["conversation"] == conv
    boss.send("close", conversation=opened)
    guest.wait("closed")
    freed = live_until(boss, lambda f: (a := agent_in(f, agent_id)) is not None and a["load"] == 0)
    assert agent_in(freed, agent_id)["conversations"] == []  # type: ignore[index]
    for client in (guest, desk, boss):
        client.close()


def test_a_steerer_watching_a_conversation_gets_its_new_messages_its_transfer_and_its_close(server: Server) -> None:
    group, other = group_name(), group_name()
    agent_id, agent_token = make_agent(server, group, nickname="Watched Ann")
    colleague_id, colleague_token = make_agent(server, group, nickname="Watched Bob")
    desk, _ = agent_socket(server, agent_token)
    desk.send("presence", presence="online")
    guest, _ = visitor(server)
    guest.send("message", text="where is my parcel", client_id="m1")
    guest.send("request_human", group=group)
    conv = desk.wait("conversation_assigned")["conversation"]
    boss, _ = agent_socket(server, person(server, ("supervisor",), supervises=(group,)))
    boss.send("watch", conversation=conv, on=True)
    state = boss.wait("watch", conversation=conv)
    assert (state["phase"], state["group"], state["agent"]["id"]) == ("assigned", group, agent_id)
    boss.send("sync", conversation=conv, after=0)  # what was said before: asked once
    assert boss.wait("message", conversation=conv)["text"] == "where is my parcel"

    guest.send("message", text="it was due on Monday", client_id="m2")  # pushed: the boss asks nothing
    pushed = boss.wait("message", conversation=conv)
    assert (pushed["text"], pushed["sender"]["role"]) == ("it was due on Monday", "visitor")
    desk.send("note", conversation=conv, text="VIP customer", client_id="n1")
    assert boss.wait("message", conversation=conv)["kind"] == "note"  # a steerer sees notes, as agents do

    bob, _ = agent_socket(server, colleague_token)
    bob.send("presence", presence="online")
    boss.send("transfer", conversation=conv, to_agent=colleague_id)
    moved = boss.wait("watch", conversation=conv)
    assert (moved["phase"], moved["agent"]["id"]) == ("assigned", colleague_id)
    bob.wait("conversation_assigned", conversation=conv)

    guest.send("close")
    guest.wait("closed")
    closed = boss.wait("watch", conversation=conv)
    assert closed["phase"] == "closed"

    boss.send("watch", conversation=conv, on=False)
    assert [f for f in boss.drain(0.5) if f["type"] in ("watch", "message")] == []
    stranger, _ = agent_socket(server, person(server, ("supervisor",), supervises=(other,)))
    stranger.send("watch", conversation=conv, on=True)
    refusal = stranger.wait("error")
    assert (refusal["code"], refusal["in_reply_to"], refusal["conversation"]) == ("not_your_conversation", "watch",
                                                                                 conv)
    for client in (guest, desk, bob, boss, stranger):
        client.close()
