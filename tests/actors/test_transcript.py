"""The conversation numbers chat messages and records its state; a restart restores it.

Records (``Posted``, ``ConversationState``) go to the archive, which stores them
before anyone is told; these tests read them as the archive would.
"""

from __future__ import annotations

from typing import Any

import msgspec

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.conversation import Conversation, Phase
from switchboard.actors.effects import AskBot, Record, Rejected
from switchboard.actors.events import ConversationState, Posted, Requeued
from switchboard.actors.messages import (
    Assign, Close, CreateAgent, CreateGroup, OpenConversation, Post, RequestHuman, RestoreConversation,
    SetPresence,
)
from switchboard.settings import DispatchSettings
from tests.harness import Harness

SETTINGS = DispatchSettings()


def assigned_conversation() -> Conversation:
    conv = Conversation("c1", OpenConversation("v1"), 0.0, SETTINGS)
    conv.handle(RequestHuman("sales"), 10.0)
    conv.handle(Assign("ann", "auto"), 20.0)
    return conv


def posted(effects: list[Any]) -> list[Posted]:
    return [e.record for e in effects if isinstance(e, Record) and isinstance(e.record, Posted)]


def states(effects: list[Any]) -> list[dict[str, Any]]:
    return [e.record.state for e in effects if isinstance(e, Record) and isinstance(e.record, ConversationState)]


def test_messages_are_numbered_in_order_and_go_to_the_visitor_and_the_agent() -> None:
    conv = assigned_conversation()

    first = posted(conv.handle(Post("visitor", "v1", "my order is late", client_id="m1"), 21.0))
    second = posted(conv.handle(Post("agent", "ann", "let me look", client_id="x1"), 22.0))

    assert [(p.seq, p.role, p.text) for p in first + second] == [(1, "visitor", "my order is late"),
                                                                  (2, "agent", "let me look")]
    assert first[0].recipients == (UserRef.visitor("v1"), UserRef.agent("ann"))
    assert not first[0].duplicate


def test_a_resent_client_message_id_is_acked_with_its_first_seq_and_not_numbered_again() -> None:
    conv = assigned_conversation()
    conv.handle(Post("visitor", "v1", "hello", client_id="m1"), 21.0)

    again = posted(conv.handle(Post("visitor", "v1", "hello", client_id="m1"), 23.0))
    nxt = posted(conv.handle(Post("visitor", "v1", "anyone?", client_id="m2"), 24.0))

    assert [(p.seq, p.duplicate) for p in again + nxt] == [(1, True), (2, False)]


def test_an_internal_note_reaches_the_agent_and_never_the_visitor() -> None:
    conv = assigned_conversation()

    note = posted(conv.handle(Post("agent", "ann", "VIP customer", kind="note"), 21.0))

    assert note[0].recipients == (UserRef.agent("ann"),)


def test_a_visitor_cannot_post_into_another_visitors_conversation() -> None:
    conv = assigned_conversation()

    effects = conv.handle(Post("visitor", "v2", "let me in"), 21.0)

    assert [e.code for e in effects if isinstance(e, Rejected)] == [errors.NOT_YOUR_CONVERSATION]
    assert conv.last_seq == 0


def test_visitors_cannot_post_notes_and_text_must_be_a_short_string() -> None:
    conv = assigned_conversation()

    for bad in (Post("visitor", "v1", "x", kind="note"), Post("visitor", "v1", {"$ne": None}),  # type: ignore[arg-type]
                Post("visitor", "v1", " "), Post("visitor", "v1", "x" * 8001), Post("visitor", "v1", "x", client_id={})):  # type: ignore[arg-type]
        assert [type(e) for e in conv.handle(bad, 21.0)] == [Rejected]
    assert conv.last_seq == 0


def test_every_phase_change_is_recorded_for_the_store() -> None:
    conv = Conversation("c1", OpenConversation("v1"), 0.0, SETTINGS)

    queued = states(conv.handle(RequestHuman("sales", priority=2), 10.0))
    assigned = states(conv.handle(Assign("ann", "auto"), 20.0))
    message = states(conv.handle(Post("visitor", "v1", "hi"), 21.0))
    closed = states(conv.handle(Close("visitor"), 30.0))

    assert [s["phase"] for s in queued + assigned + closed] == ["queued", "assigned", "closed"]
    assert queued[0]["priority"] == 2 and assigned[0]["agent"] == "ann" and closed[0]["close_reason"] == "visitor"
    assert message == []  # a message alone changes no state the store keeps


def restored(conversation: str, queued_at: float, front: bool = False, phase: str = "queued",
             agent: str | None = None) -> RestoreConversation:
    return RestoreConversation(visitor=f"v-{conversation}", channel="widget", phase=phase, group="sales", priority=0,
                               front=front, agent=agent, participants=(agent,) if agent else (), created_at=0.0,
                               queued_at=queued_at, assigned_at=5.0 if agent else None, first_agent_reply_at=None,
                               last_seq=7, client_ids=(("visitor:v-c1|m9", 7),))


def test_restored_queued_conversations_come_back_in_their_queue_order(engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())

    for conv, at, front in [("late", 30.0, False), ("early", 10.0, False), ("requeued", 50.0, True)]:
        h.send(Address.conversation(conv), restored(conv, at, front))

    queue = h.inspect(Address.queue("sales"))
    assert queue is not None
    assert [w["conversation"] for w in queue["waiting"]] == ["requeued", "early", "late"]


def test_a_restored_conversation_keeps_numbering_and_remembers_client_ids(engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())
    h.send(Address.conversation("c1"), restored("c1", 10.0))

    h.send(Address.conversation("c1"), Post("visitor", "v-c1", "again", client_id="m9"))
    h.send(Address.conversation("c1"), Post("visitor", "v-c1", "new", client_id="m10"))

    records = [d.event for d in h.recorder.deliveries if isinstance(d.event, Posted)]
    assert [(p.seq, p.duplicate) for p in records] == [(7, True), (8, False)]


def test_a_restored_conversation_remembers_as_many_client_ids_as_a_running_one(engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())
    ids = tuple((f"visitor:v-c1|m{seq}", seq) for seq in range(1, 301))
    h.send(Address.conversation("c1"), msgspec.structs.replace(restored("c1", 10.0), last_seq=300, client_ids=ids))

    h.send(Address.conversation("c1"), Post("visitor", "v-c1", "the newest, again", client_id="m300"))
    h.send(Address.conversation("c1"), Post("visitor", "v-c1", "the 256th newest, again", client_id="m45"))
    h.send(Address.conversation("c1"), Post("visitor", "v-c1", "the 257th newest, again", client_id="m44"))

    records = [d.event for d in h.recorder.deliveries if isinstance(d.event, Posted)]
    assert [(p.seq, p.duplicate) for p in records] == [(300, True), (45, True), (301, False)]  # as documented


def test_after_a_restart_the_first_visible_message_points_past_a_note_the_visitor_never_saw(
        engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())
    h.send(Address.agent("ann"), CreateAgent(2, ("sales",), active=(("c1", "sales"),)))
    h.send(Address.conversation("c1"), msgspec.structs.replace(restored("c1", 10.0, phase="assigned", agent="ann"),
                                                               last_public_seq=6))  # seq 7 was a note
    h.send(Address.conversation("c1"), Post("agent", "ann", "back again"))

    reply = [d.event for d in h.recorder.deliveries if isinstance(d.event, Posted)][-1]
    assert (reply.seq, reply.prev) == (8, 6)  # prev 7 would be a gap no sync could fill


def test_a_restored_agent_is_offline_and_its_conversations_requeue_after_the_grace(engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())
    h.send(Address.agent("ann"), CreateAgent(2, ("sales",), active=(("c1", "sales"),)))
    h.send(Address.conversation("c1"), restored("c1", 10.0, phase="assigned", agent="ann"))

    h.at(SETTINGS.offline_grace_s + 1)

    agent = h.inspect(Address.agent("ann"))
    conv = h.inspect(Address.conversation("c1"))
    assert agent is not None and conv is not None
    assert agent["presence"] == "offline" and conv["phase"] == Phase.QUEUED.value
    assert any(isinstance(e, Requeued) for e in h.events_for(UserRef.visitor("v-c1")))


def test_a_restored_agent_who_reconnects_in_time_keeps_the_conversation(engine_harness: Harness) -> None:
    h = engine_harness
    h.send(Address.queue("sales"), CreateGroup())
    h.send(Address.agent("ann"), CreateAgent(2, ("sales",), active=(("c1", "sales"),)))
    h.send(Address.conversation("c1"), restored("c1", 10.0, phase="assigned", agent="ann"))

    h.at(10.0).send(Address.agent("ann"), SetPresence("online"))
    h.at(SETTINGS.offline_grace_s + 30)

    conv = h.inspect(Address.conversation("c1"))
    assert conv is not None and conv["phase"] == "assigned" and conv["agent"] == "ann"


def test_a_visitor_message_in_the_bot_phase_asks_the_bot_after_recording_it() -> None:
    conv = Conversation("c1", OpenConversation("v1", "web"), 0.0, DispatchSettings())
    effects = conv.handle(Post("visitor", "v1", "where is my order?", client_id="m1"), 1.0)
    kinds = [type(e).__name__ for e in effects]
    assert kinds.index("Record") < kinds.index("AskBot")
    assert [e for e in effects if isinstance(e, AskBot)] == [AskBot("c1", "v1", 1, "where is my order?")]


def test_a_repeated_client_message_does_not_ask_the_bot_twice() -> None:
    conv = Conversation("c1", OpenConversation("v1", "web"), 0.0, DispatchSettings())
    conv.handle(Post("visitor", "v1", "hello", client_id="m1"), 1.0)
    again = conv.handle(Post("visitor", "v1", "hello", client_id="m1"), 2.0)
    assert not [e for e in again if isinstance(e, AskBot)]


def test_visitor_messages_after_the_handoff_do_not_ask_the_bot() -> None:
    conv = Conversation("c1", OpenConversation("v1", "web"), 0.0, DispatchSettings())
    conv.handle(RequestHuman("support"), 1.0)
    effects = conv.handle(Post("visitor", "v1", "anyone there?"), 2.0)
    assert not [e for e in effects if isinstance(e, AskBot)]


def test_a_bot_message_keeps_its_details_and_a_visitor_cannot_forge_them() -> None:
    conv = Conversation("c1", OpenConversation("v1", "web"), 0.0, DispatchSettings())
    bot = conv.handle(Post("bot", "bot", "Did you mean…", extra={"decision": "suggest"}), 1.0)
    forged = conv.handle(Post("visitor", "v1", "hi", extra={"decision": "answer"}), 2.0)
    posted = [e.record for e in bot + forged if isinstance(e, Record) and isinstance(e.record, Posted)]
    assert [p.extra for p in posted] == [{"decision": "suggest"}, None]
