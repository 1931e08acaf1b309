"""Behaviours across agents, queues and conversations, run on every runtime (inline, local, ray).

Each test drives the engine through `engine_harness` like the scenario runner
does: send a command and wait until the engine is quiet, move the manual
clock with `at(t)` (timers fire in time order), then look at snapshots and
at what people were told.
"""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef, host_for
from switchboard.actors.events import ConversationRemoved, ConversationState, QueuePosition, Refused, WaitTimeout
from switchboard.actors.messages import (
    AgentWrote, AnswerTransfer, Close, ConfigureGroup, CreateAgent, CreateGroup, Invite, JoinGroup, KeepWaiting,
    LeaveGroup, LeaveQueue, MoveToGroup, OpenConversation, RequestHuman, RetireGroup, SetPresence, SetSaturation,
    SignOut, TransferToAgent, TransferToGroup, VisitorWrote,
)
from switchboard.actors.output import Recorded
from switchboard.settings import DispatchSettings
from tests.harness import Harness

# --- a small vocabulary -------------------------------------------------------------------------------


def create_group(h: Harness, group: str = "sales", **kw: Any) -> None:
    h.send(Address.queue(group), CreateGroup(**kw))
    assert h.inspect(Address.queue(group)) is not None


def create_agent(h: Harness, agent: str, saturation: int, groups: tuple[str, ...] = ("sales",),
                 online: bool = True) -> None:
    h.send(Address.agent(agent), CreateAgent(saturation, groups))
    if online:
        h.send(Address.agent(agent), SetPresence("online"))


def visitor(conversation: str) -> UserRef:
    return UserRef.visitor(f"v-{conversation}")


def ask(h: Harness, conversation: str, group: str = "sales", **kw: Any) -> str:
    """Visitor v-<conversation> opens the conversation and asks for a person; returns the request's ref."""
    h.send(Address.conversation(conversation), OpenConversation(visitor(conversation).id))
    return h.send(Address.conversation(conversation), RequestHuman(group, **kw))


def to_conv(h: Harness, conversation: str, message: Any) -> str:
    return h.send(Address.conversation(conversation), message)


def to_agent(h: Harness, agent: str, message: Any) -> str:
    return h.send(Address.agent(agent), message)


def agent_state(h: Harness, agent: str) -> dict[str, Any]:
    state = h.inspect(Address.agent(agent))
    assert state is not None, f"no agent {agent}"
    return state


def load(h: Harness, agent: str) -> int:
    return int(agent_state(h, agent)["load"])


def conv_state(h: Harness, conversation: str) -> dict[str, Any]:
    state = h.inspect(Address.conversation(conversation))
    assert state is not None, f"no conversation {conversation}"
    return state


def phase(h: Harness, conversation: str) -> str:
    return str(conv_state(h, conversation)["phase"])


def served_by(h: Harness, conversation: str) -> str | None:
    return conv_state(h, conversation)["agent"]  # type: ignore[no-any-return]


def waiting(h: Harness, group: str = "sales") -> list[str]:
    state = h.inspect(Address.queue(group))
    assert state is not None, f"no group {group}"
    return [w["conversation"] for w in state["waiting"]]


def position(h: Harness, conversation: str) -> int | None:
    """The last position this conversation's visitor was told."""
    told = [e.position for e in h.events_for(visitor(conversation)) if isinstance(e, QueuePosition)]
    return told[-1] if told else None


def refusal_codes(h: Harness, ref: str) -> list[tuple[str, str]]:
    return [(r.code, r.entity) for r in h.refusals(ref)]


# --- dispatch ---------------------------------------------------------------------------------------------


def test_fifteen_visitors_fill_a_to_five_and_b_to_ten_always_to_the_lowest_ratio(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    saturation = {"a": 5, "b": 10}
    for agent, sat in saturation.items():
        create_agent(h, agent, sat)

    for i in range(15):
        loads = {a: load(h, a) for a in saturation}
        free_ratios = {a: loads[a] / saturation[a] for a in saturation if loads[a] < saturation[a]}
        h.at(float(i))
        ask(h, f"c{i}")
        chosen = served_by(h, f"c{i}")
        assert chosen in free_ratios, f"c{i} went to {chosen}, who had no free slot: loads {loads}"
        assert free_ratios[chosen] == min(free_ratios.values()), f"c{i} went to {chosen} with loads {loads}"

    assert {a: load(h, a) for a in saturation} == {"a": 5, "b": 10}
    ask(h, "c15")
    assert phase(h, "c15") == "queued" and position(h, "c15") == 1
    assert {a: load(h, a) for a in saturation} == {"a": 5, "b": 10}


def test_an_agent_coming_online_takes_the_longest_waiters_up_to_saturation(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 2, online=False)
    for i in range(4):
        h.at(float(i))
        ask(h, f"c{i}")

    h.at(10.0)
    to_agent(h, "ann", SetPresence("online"))

    assert agent_state(h, "ann")["active"] == ["c0", "c1"]
    assert waiting(h) == ["c2", "c3"]
    assert (position(h, "c2"), position(h, "c3")) == (1, 2)


def test_freed_slot_goes_to_oldest_waiter_across_groups(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "ann", 1, groups=("sales", "support"))
    ask(h, "c1", "sales")
    h.at(10.0)
    ask(h, "c2", "support")
    h.at(20.0)
    ask(h, "c3", "sales")
    assert served_by(h, "c1") == "ann" and phase(h, "c2") == phase(h, "c3") == "queued"

    h.at(30.0)
    to_conv(h, "c1", Close("agent"))

    assert served_by(h, "c2") == "ann"
    assert phase(h, "c3") == "queued" and waiting(h, "sales") == ["c3"] and waiting(h, "support") == []
    assert load(h, "ann") == 1


def test_a_higher_priority_visitor_is_served_before_those_who_asked_earlier(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c0")
    h.at(1.0)
    ask(h, "c1")
    h.at(2.0)
    ask(h, "c2", priority=5)
    assert (position(h, "c2"), position(h, "c1")) == (1, 2)

    to_conv(h, "c0", Close("visitor"))

    assert served_by(h, "c2") == "ann" and waiting(h) == ["c1"] and position(h, "c1") == 1


def test_raising_saturation_takes_more_waiting_visitors(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    for c in ("c0", "c1", "c2"):
        ask(h, c)

    to_agent(h, "ann", SetSaturation(3))

    assert agent_state(h, "ann")["active"] == ["c0", "c1", "c2"]
    assert waiting(h) == []


def test_an_agent_who_left_a_group_gets_no_more_visitors_from_it(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "ann", 2, groups=("sales", "support"))

    to_agent(h, "ann", LeaveGroup("sales"))
    ask(h, "c1", "sales")
    ask(h, "c2", "support")

    assert phase(h, "c1") == "queued" and served_by(h, "c2") == "ann"
    to_agent(h, "ann", JoinGroup("sales"))
    assert served_by(h, "c1") == "ann"


def test_invite_beyond_saturation_tells_those_behind_their_new_position(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c0")
    for i in (1, 2, 3):
        h.at(float(i))
        ask(h, f"c{i}")
    assert [position(h, c) for c in ("c1", "c2", "c3")] == [1, 2, 3]

    h.at(10.0)
    to_conv(h, "c2", Invite("ann"))

    assert served_by(h, "c2") == "ann" and load(h, "ann") == 2
    assert "assigned" in h.kinds_for(visitor("c2"))
    assert [e.via for e in h.events_for(UserRef.agent("ann")) if e.kind == "conversation_assigned"] == ["auto", "invite"]
    assert (position(h, "c1"), position(h, "c3")) == (1, 2)
    assert waiting(h) == ["c1", "c3"]


def test_an_invite_from_an_agent_outside_the_group_is_refused(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_group(h, "support")
    create_agent(h, "ann", 1, groups=("support",))
    ask(h, "c1")

    ref = to_conv(h, "c1", Invite("ann"))

    assert refusal_codes(h, ref) == [(errors.NOT_IN_GROUP, "queue:sales")]
    assert phase(h, "c1") == "queued" and load(h, "ann") == 0


def test_a_full_queue_tells_the_visitor_and_leaves_them_with_the_bot(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, max_queue=1)
    ask(h, "c1")

    ask(h, "c2")

    assert h.kinds_for(visitor("c2")) == ["queue_full"]
    assert phase(h, "c2") == "bot" and waiting(h) == ["c1"]


def test_a_request_for_a_group_that_does_not_exist_is_refused_and_the_visitor_stays_with_the_bot(
        engine_harness: Harness) -> None:
    h = engine_harness

    ref = ask(h, "c1", "nowhere")

    assert refusal_codes(h, ref) == [(errors.UNKNOWN_GROUP, "conversation:c1")]
    assert phase(h, "c1") == "bot" and conv_state(h, "c1")["group"] is None
    create_group(h, "sales")
    to_conv(h, "c1", RequestHuman("sales"))
    assert phase(h, "c1") == "queued"


def test_a_designated_visitor_waits_for_their_agent_while_a_free_colleague_is_not_offered_them(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="designated")
    create_agent(h, "ann", 1)
    ask(h, "c0")
    create_agent(h, "bob", 1)

    ask(h, "c1", agent="ann")
    assert phase(h, "c1") == "queued" and load(h, "bob") == 0

    to_conv(h, "c0", Close("agent"))
    assert served_by(h, "c1") == "ann"


def test_designating_an_agent_outside_the_group_is_refused(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="designated")
    create_agent(h, "ann", 1)

    ref = ask(h, "c1", agent="zed")

    assert refusal_codes(h, ref) == [(errors.NOT_IN_GROUP, "conversation:c1")]
    assert phase(h, "c1") == "bot" and load(h, "ann") == 0


# --- transfers -----------------------------------------------------------------------------------------------


def test_transfer_to_unknown_agent_is_refused_and_nothing_changes(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 2)
    ask(h, "c1")
    before = (conv_state(h, "c1"), agent_state(h, "ann"))

    ref = to_conv(h, "c1", TransferToAgent("ghost"))

    assert refusal_codes(h, ref) == [(errors.UNKNOWN_AGENT, "conversation:c1")]
    assert (conv_state(h, "c1"), agent_state(h, "ann")) == before
    create_agent(h, "bob", 1)
    to_conv(h, "c1", TransferToAgent("bob"))
    assert served_by(h, "c1") == "bob" and load(h, "ann") == 0


def test_a_transfer_to_a_busy_agent_waits_for_their_yes(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    create_agent(h, "bob", 1)
    ask(h, "c2")
    assert (served_by(h, "c1"), served_by(h, "c2")) == ("ann", "bob")

    to_conv(h, "c1", TransferToAgent("bob"))
    assert served_by(h, "c1") == "ann" and h.kinds_for(UserRef.agent("bob"))[-1] == "transfer_requested"

    to_agent(h, "bob", AnswerTransfer("c1", True))

    assert served_by(h, "c1") == "bob" and (load(h, "ann"), load(h, "bob")) == (0, 2)
    assert h.kinds_for(UserRef.agent("ann"))[-1] == "conversation_removed"
    assert [e.agent for e in h.events_for(visitor("c1")) if e.kind == "assigned"] == ["ann", "bob"]


def test_a_declined_transfer_tells_the_transferring_agent_and_changes_nothing(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    create_agent(h, "bob", 1)
    ask(h, "c2")
    to_conv(h, "c1", TransferToAgent("bob"))

    to_agent(h, "bob", AnswerTransfer("c1", False))

    assert h.kinds_for(UserRef.agent("ann"))[-1] == "transfer_declined"
    assert served_by(h, "c1") == "ann" and (load(h, "ann"), load(h, "bob")) == (1, 1)


def test_a_transfer_to_a_group_puts_the_visitor_at_the_front_of_that_queue(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "ann", 1, groups=("sales",))
    create_agent(h, "cid", 1, groups=("support",), online=False)
    ask(h, "c1", "sales")
    h.at(5.0)
    ask(h, "c2", "support")

    h.at(10.0)
    to_conv(h, "c1", TransferToGroup("support"))

    assert waiting(h, "support") == ["c1", "c2"] and load(h, "ann") == 0
    assert (position(h, "c1"), position(h, "c2")) == (1, 2)
    to_agent(h, "cid", SetPresence("online"))
    assert served_by(h, "c1") == "cid" and conv_state(h, "c1")["participants"] == ["ann", "cid"]


def test_a_transfer_to_a_group_that_does_not_exist_is_refused_and_nothing_changes(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    before = (conv_state(h, "c1"), agent_state(h, "ann"))

    ref = to_conv(h, "c1", TransferToGroup("nowhere"))

    assert refusal_codes(h, ref) == [(errors.UNKNOWN_GROUP, "conversation:c1")]
    assert (conv_state(h, "c1"), agent_state(h, "ann")) == before


def test_a_conversation_left_idle_after_a_refused_group_transfer_still_closes(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    h.at(10.0)
    to_conv(h, "c1", AgentWrote())
    h.at(20.0)
    to_conv(h, "c1", TransferToGroup("nowhere"))

    h.at(10.0 + DispatchSettings().session_idle_timeout_s)

    assert phase(h, "c1") == "closed" and load(h, "ann") == 0


# --- refusals and failures ------------------------------------------------------------------------------------


def test_refusal_reaches_the_sender_by_ref(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 2)

    h.send(Address.agent("ann"), SetSaturation(0), ref="set-saturation")
    h.send(Address.agent("ghost"), SetPresence("online"), ref="wake-ghost")
    h.send(Address.conversation("c1"), OpenConversation("v-c1"), ref="open")
    h.send(Address.conversation("c1"), RequestHuman("nowhere"), ref="ask-nowhere")

    assert h.refusals("set-saturation") == [
        Refused("set-saturation", errors.INVALID_SATURATION, "saturation must be a positive integer, got 0", "agent:ann")]
    assert refusal_codes(h, "wake-ghost") == [(errors.UNKNOWN_AGENT, "agent:ghost")]
    assert refusal_codes(h, "ask-nowhere") == [(errors.UNKNOWN_GROUP, "conversation:c1")]
    assert h.refusals("open") == []
    refusal_deliveries = [d for d in h.recorder.deliveries if isinstance(d.event, Refused)]
    assert all(d.to is None and d.ref == d.event.ref for d in refusal_deliveries)


@pytest.mark.parametrize(("to", "message", "code"), [
    (Address.agent("ann"), CreateAgent(0), errors.INVALID_SATURATION),
    (Address.agent("ann"), CreateAgent(-1), errors.INVALID_SATURATION),
    (Address.agent("ann"), CreateAgent("5"), errors.INVALID_SATURATION),  # type: ignore[arg-type]
    (Address.agent("ann"), CreateAgent(True), errors.INVALID_SATURATION),
    (Address.agent("ann"), CreateAgent(2.5), errors.INVALID_SATURATION),  # type: ignore[arg-type]
    (Address.queue("sales"), CreateGroup(policy="random"), errors.INVALID_ARGUMENT),
    (Address.queue("sales"), CreateGroup(max_queue=0), errors.INVALID_ARGUMENT),
    (Address.conversation("c1"), OpenConversation(""), errors.INVALID_ARGUMENT),
], ids=lambda v: repr(v) if not isinstance(v, Address) else str(v))
def test_an_entity_created_with_bad_values_is_refused_and_never_exists(
        engine_harness: Harness, to: Address, message: Any, code: str) -> None:
    h = engine_harness

    ref = h.send(to, message)

    assert refusal_codes(h, ref) == [(code, str(to))]
    assert h.inspect(to) is None


@pytest.mark.parametrize(("message", "code"), [
    (SetSaturation(0), errors.INVALID_SATURATION),
    (SetSaturation(-1), errors.INVALID_SATURATION),
    (SetSaturation("5"), errors.INVALID_SATURATION),  # type: ignore[arg-type]
    (SetSaturation(True), errors.INVALID_SATURATION),
    (SetSaturation(2.5), errors.INVALID_SATURATION),  # type: ignore[arg-type]
    (SetPresence("busy"), errors.INVALID_PRESENCE),
    (LeaveGroup("support"), errors.NOT_IN_GROUP),
    (AnswerTransfer("c9", True), errors.NO_TRANSFER_PENDING),
], ids=repr)
def test_a_bad_command_to_an_agent_is_refused_and_changes_nothing(
        engine_harness: Harness, message: Any, code: str) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    ask(h, "c2")
    before = (agent_state(h, "ann"), conv_state(h, "c1"), conv_state(h, "c2"), h.inspect(Address.queue("sales")))

    ref = to_agent(h, "ann", message)

    assert refusal_codes(h, ref) == [(code, "agent:ann")]
    assert (agent_state(h, "ann"), conv_state(h, "c1"), conv_state(h, "c2"), h.inspect(Address.queue("sales"))) == before


def test_an_entity_that_raises_refuses_later_messages_but_the_host_keeps_running(engine_harness: Harness) -> None:
    h = engine_harness

    class CursedPresence(str):
        """A presence that cannot be looked up: the agent breaks inside its handler."""

        def __hash__(self) -> int:
            raise RuntimeError("cursed")

    # Everything on the broken agent's host, so that host's mailbox must keep running.
    home = host_for(Address.agent("ann"), h.engine.hosts)
    bob = next(f"bob{i}" for i in range(1000) if host_for(Address.agent(f"bob{i}"), h.engine.hosts) == home)
    group = next(f"g{i}" for i in range(1000) if host_for(Address.queue(f"g{i}"), h.engine.hosts) == home)
    conv = next(f"c{i}" for i in range(1000) if host_for(Address.conversation(f"c{i}"), h.engine.hosts) == home)
    create_group(h, group)
    create_agent(h, "ann", 1, groups=(group,), online=False)
    create_agent(h, bob, 1, groups=(group,))

    broke = to_agent(h, "ann", SetPresence(CursedPresence("online")))
    later = to_agent(h, "ann", SetPresence("online"))

    assert refusal_codes(h, broke) == [(errors.ENTITY_ERROR, "agent:ann")]
    assert refusal_codes(h, later) == [(errors.ENTITY_ERROR, "agent:ann")]
    assert h.inspect(Address.agent("ann")) == {"id": "ann", "error": True}
    ask(h, conv, group)
    assert served_by(h, conv) == bob


def test_answering_a_transfer_with_a_malformed_conversation_id_leaves_the_agent_working(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    create_agent(h, "bob", 1)
    ask(h, "c2")
    to_conv(h, "c1", TransferToAgent("bob"))

    ref = to_agent(h, "bob", AnswerTransfer(["c1"], True))  # type: ignore[arg-type]

    assert refusal_codes(h, ref) == [(errors.INVALID_ARGUMENT, "agent:bob")]
    to_agent(h, "bob", AnswerTransfer("c1", True))
    assert served_by(h, "c1") == "bob"


# --- races -------------------------------------------------------------------------------------------------------


def test_race_visitor_leaves_while_offered_frees_the_agent(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 100)
    conversations = [f"c{i}" for i in range(100)]
    for c in conversations:
        h.engine.send(Address.conversation(c), OpenConversation(visitor(c).id))
    assert h.engine.wait_quiet(30)

    # No waiting in between: on the threaded runtimes many leaves reach a conversation after the queue
    # offered it and before the agent's Assign arrives; inline runs each request to the end first.
    for c in conversations:
        h.engine.send(Address.conversation(c), RequestHuman("sales"), ref=f"ask-{c}")
    for c in conversations:
        h.engine.send(Address.conversation(c), LeaveQueue(), ref=f"leave-{c}")
    assert h.engine.wait_quiet(30)

    phases = {c: phase(h, c) for c in conversations}
    assigned = {c for c, p in phases.items() if p == "assigned"}
    assert set(phases.values()) <= {"assigned", "abandoned"}
    assert set(agent_state(h, "ann")["active"]) == assigned
    assert all(served_by(h, c) == "ann" for c in assigned)
    assert all(refusal_codes(h, f"leave-{c}") == [(errors.NOT_QUEUED, f"conversation:{c}")] for c in assigned)
    assert all(h.refusals(f"leave-{c}") == [] for c in conversations if c not in assigned)
    assert waiting(h) == []

    for c in assigned:
        h.engine.send(Address.conversation(c), Close("visitor"))
    assert h.engine.wait_quiet(30)
    assert load(h, "ann") == 0
    to_agent(h, "ann", SetSaturation(1))
    ask(h, "late")
    assert served_by(h, "late") == "ann"


def test_a_visitor_invited_while_offered_to_a_colleague_ends_with_exactly_one_agent(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    create_agent(h, "bob", 1, online=False)
    h.send(Address.conversation("c1"), OpenConversation("v-c1"))

    h.engine.send(Address.conversation("c1"), RequestHuman("sales"))
    h.engine.send(Address.agent("bob"), SetPresence("online"))
    h.engine.send(Address.conversation("c1"), Invite("bob"))
    assert h.engine.wait_quiet(30)

    agent = served_by(h, "c1")
    assert agent in ("ann", "bob") and phase(h, "c1") == "assigned"
    assert {a: load(h, a) for a in ("ann", "bob")} == {"ann": int(agent == "ann"), "bob": int(agent == "bob")}
    assert waiting(h) == []


# --- timers ------------------------------------------------------------------------------------------------------


def test_a_waiting_visitor_is_asked_to_keep_waiting_after_the_wait_timeout(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    ask(h, "c1")

    h.at(59.9)
    assert "wait_timeout" not in h.kinds_for(visitor("c1"))
    h.at(60.0)
    assert [e.waited_s for e in h.events_for(visitor("c1")) if isinstance(e, WaitTimeout)] == [60.0]

    h.at(70.0)
    to_conv(h, "c1", KeepWaiting())
    h.at(129.9)
    assert h.kinds_for(visitor("c1")).count("wait_timeout") == 1
    h.at(130.0)
    assert [e.waited_s for e in h.events_for(visitor("c1")) if isinstance(e, WaitTimeout)] == [60.0, 130.0]
    assert phase(h, "c1") == "queued"


def test_a_conversation_the_visitor_stopped_answering_closes_after_the_idle_timeout(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    h.at(10.0)
    to_conv(h, "c1", AgentWrote())

    h.at(189.9)
    assert phase(h, "c1") == "assigned"
    h.at(190.0)

    assert phase(h, "c1") == "closed" and conv_state(h, "c1")["close_reason"] == "idle_timeout"
    assert h.kinds_for(visitor("c1"))[-1] == "closed" and h.kinds_for(UserRef.agent("ann"))[-1] == "closed"
    assert load(h, "ann") == 0


def test_a_visitor_reply_stops_the_idle_timeout(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    h.at(10.0)
    to_conv(h, "c1", AgentWrote())
    h.at(100.0)
    to_conv(h, "c1", VisitorWrote())

    h.at(1000.0)

    assert phase(h, "c1") == "assigned"


def test_offline_agent_conversations_return_to_front_after_grace(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 2)
    create_agent(h, "bob", 1, online=False)
    ask(h, "c1")
    h.at(1.0)
    ask(h, "c2")
    h.at(5.0)
    ask(h, "c3")
    assert agent_state(h, "ann")["active"] == ["c1", "c2"] and position(h, "c3") == 1

    h.at(10.0)
    to_agent(h, "ann", SetPresence("offline"))
    h.at(69.9)
    assert load(h, "ann") == 2 and served_by(h, "c1") == "ann"
    h.at(70.0)

    assert load(h, "ann") == 0 and phase(h, "c1") == phase(h, "c2") == "queued"
    assert waiting(h) == ["c1", "c2", "c3"]
    assert h.kinds_for(visitor("c1"))[-2:] == ["requeued", "queue_position"]
    assert h.kinds_for(UserRef.agent("ann"))[-2:] == ["conversation_removed", "conversation_removed"]
    assert [position(h, c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
    h.at(71.0)
    to_agent(h, "bob", SetPresence("online"))
    assert served_by(h, "c1") == "bob" and waiting(h) == ["c2", "c3"]


def test_an_agent_back_online_within_grace_keeps_their_conversations(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    h.at(10.0)
    to_agent(h, "ann", SetPresence("offline"))
    h.at(50.0)
    to_agent(h, "ann", SetPresence("online"))

    h.at(500.0)

    assert served_by(h, "c1") == "ann" and load(h, "ann") == 1 and waiting(h) == []


def test_a_silent_agent_loses_the_visitor_to_a_colleague_when_no_reply_reassignment_is_on(
        engine_harness: Harness) -> None:
    h = engine_harness.fresh(DispatchSettings(no_reply_reassign_s=30))
    create_group(h)
    create_agent(h, "ann", 1)
    ask(h, "c1")
    h.at(1.0)
    create_agent(h, "bob", 1)

    h.at(30.0)

    assert served_by(h, "c1") == "bob" and (load(h, "ann"), load(h, "bob")) == (0, 1)
    assert [k for k in h.kinds_for(visitor("c1")) if k != "queue_position"] == ["assigned", "reassigned", "assigned"]


def test_a_returning_visitor_waits_a_while_for_their_last_agent_then_anyone_serves_them(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="last_agent_first", last_agent_wait_s=30)
    create_agent(h, "ann", 1)
    ask(h, "c0")
    create_agent(h, "bob", 1)
    h.at(5.0)
    ask(h, "c1", last_agent="ann")

    h.at(34.9)
    assert phase(h, "c1") == "queued" and load(h, "bob") == 0
    h.at(35.0)

    assert served_by(h, "c1") == "bob"


def test_a_returning_visitor_is_served_by_their_last_agent_when_they_free_up_in_time(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="last_agent_first", last_agent_wait_s=30)
    create_agent(h, "ann", 1)
    ask(h, "c0")
    create_agent(h, "bob", 1)
    h.at(5.0)
    ask(h, "c1", last_agent="ann")

    h.at(20.0)
    to_conv(h, "c0", Close("agent"))

    assert served_by(h, "c1") == "ann" and load(h, "bob") == 0


# --- admin: groups changed, deleted, visitors moved, agents signed out ----------------------------------------------


def groups_recorded(h: Harness, conversation: str) -> list[str | None]:
    """The group of each state the conversation handed to the archive (what the store and Redis keep)."""
    return [d.event.state["group"] for d in list(h.recorder.deliveries)
            if isinstance(d, Recorded) and isinstance(d.event, ConversationState)
            and d.event.state["conversation"] == conversation]


def test_a_group_given_a_shorter_queue_keeps_its_visitors_and_turns_the_next_one_away(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    for i, c in enumerate(("c1", "c2", "c3")):
        h.at(float(i))
        ask(h, c)

    ref = h.send(Address.queue("sales"), ConfigureGroup("balanced", 2, None))
    h.at(5.0)
    ask(h, "c4")

    assert h.refusals(ref) == []
    assert waiting(h) == ["c1", "c2", "c3"]
    assert h.kinds_for(visitor("c4")) == ["queue_full"] and phase(h, "c4") == "bot"


def test_a_configuration_for_a_group_that_does_not_exist_or_with_bad_values_is_refused(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, max_queue=3)

    missing = h.send(Address.queue("nowhere"), ConfigureGroup("balanced", None, None))
    bad = h.send(Address.queue("sales"), ConfigureGroup("random", None, None))

    assert refusal_codes(h, missing) == [(errors.UNKNOWN_GROUP, "queue:nowhere")]
    assert refusal_codes(h, bad) == [(errors.INVALID_ARGUMENT, "queue:sales")]
    sales = h.inspect(Address.queue("sales"))
    assert h.inspect(Address.queue("nowhere")) is None
    assert sales is not None and (sales["policy"], sales["max_queue"]) == ("balanced", 3)


def test_a_group_retires_only_once_empty_then_turns_visitors_away_until_it_is_created_again(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "ann", 1, groups=("sales", "support"), online=False)
    ask(h, "c1")

    not_empty = h.send(Address.queue("sales"), RetireGroup())
    to_conv(h, "c1", LeaveQueue())
    retired = h.send(Address.queue("sales"), RetireGroup())
    turned_away = ask(h, "c2")

    assert refusal_codes(h, not_empty) == [(errors.GROUP_NOT_EMPTY, "queue:sales")]
    assert h.refusals(retired) == []
    assert refusal_codes(h, turned_away) == [(errors.GROUP_RETIRED, "conversation:c2")]
    assert phase(h, "c2") == "bot" and conv_state(h, "c2")["group"] is None

    to_agent(h, "ann", SetPresence("online"))  # her round asks the retired group too, and still ends
    ask(h, "c3", "support")
    left = to_agent(h, "ann", LeaveGroup("sales"))
    assert served_by(h, "c3") == "ann" and h.refusals(left) == []

    revived = h.send(Address.queue("sales"), CreateGroup(max_queue=5))
    create_agent(h, "bob", 1)
    to_conv(h, "c2", RequestHuman("sales"))
    assert h.refusals(revived) == [] and (h.inspect(Address.queue("sales")) or {})["max_queue"] == 5
    assert served_by(h, "c2") == "bob"


def test_a_visitor_moved_to_another_group_is_served_there_before_those_who_asked_later(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "cid", 1, groups=("support",), online=False)
    ask(h, "c1", "sales")
    h.at(5.0)
    ask(h, "c2", "support")

    h.at(10.0)
    ref = to_conv(h, "c1", MoveToGroup("support"))

    assert h.refusals(ref) == []
    assert waiting(h, "sales") == [] and waiting(h, "support") == ["c1", "c2"]
    assert (position(h, "c1"), position(h, "c2")) == (1, 2)
    assert groups_recorded(h, "c1")[-1] == "support"
    to_agent(h, "cid", SetPresence("online"))
    assert served_by(h, "c1") == "cid" and phase(h, "c2") == "queued"
    assert conv_state(h, "c1")["group"] == "support"


def test_a_visitor_moved_to_a_full_group_keeps_their_place_in_the_old_one(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support", max_queue=1)
    ask(h, "c1", "sales")
    h.at(1.0)
    ask(h, "c2", "sales")
    ask(h, "c3", "support")

    ref = to_conv(h, "c1", MoveToGroup("support"))

    assert refusal_codes(h, ref) == [(errors.QUEUE_FULL, "conversation:c1")]
    assert waiting(h, "sales") == ["c1", "c2"] and waiting(h, "support") == ["c3"]
    assert conv_state(h, "c1")["group"] == "sales" and groups_recorded(h, "c1")[-1] == "sales"


def test_an_assigned_conversation_moved_to_another_group_goes_back_to_that_group(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, "sales")
    create_group(h, "support")
    create_agent(h, "ann", 1, groups=("sales",))
    create_agent(h, "cid", 1, groups=("support",))
    ask(h, "c1", "sales")

    to_conv(h, "c1", MoveToGroup("support"))
    to_agent(h, "ann", SignOut())

    assert served_by(h, "c1") == "cid" and conv_state(h, "c1")["group"] == "support"


def test_a_signed_out_agents_conversations_go_at_once_to_an_online_colleague(engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h)
    create_agent(h, "ann", 2)
    ask(h, "c1")
    ask(h, "c2")
    create_agent(h, "bob", 2)
    assert (served_by(h, "c1"), served_by(h, "c2"), load(h, "bob")) == ("ann", "ann", 0)

    h.at(10.0)
    ref = to_agent(h, "ann", SignOut())

    assert h.refusals(ref) == []
    assert (served_by(h, "c1"), served_by(h, "c2")) == ("bob", "bob")
    assert agent_state(h, "ann")["presence"] == "offline" and load(h, "ann") == 0
    assert [e for e in h.events_for(UserRef.agent("ann")) if isinstance(e, ConversationRemoved)] == [
        ConversationRemoved("c1", "requeued"), ConversationRemoved("c2", "requeued")]
    assert "requeued" in h.kinds_for(visitor("c1")) and "requeued" in h.kinds_for(visitor("c2"))

    h.at(10.0 + DispatchSettings().offline_grace_s + 1)
    ask(h, "c3")
    assert phase(h, "c3") == "queued" and agent_state(h, "ann")["presence"] == "offline"
    to_agent(h, "ann", SetPresence("online"))
    assert served_by(h, "c3") == "ann"
