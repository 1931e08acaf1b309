"""A queued visitor who went away (no socket anywhere) leaves the queue after the grace period; one who comes
back within it keeps the place. The Conversation entity alone, with explicit times."""

from __future__ import annotations

from switchboard.actors.address import Address, UserRef
from switchboard.actors.conversation import Conversation, Phase
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Record, SendTo, SetTimer
from switchboard.actors.events import Abandoned, Requeued
from switchboard.actors.messages import (
    Assign, Dequeue, Enqueue, OpenConversation, RequestHuman, Requeue, RestoreConversation, TimerFired, VisitorBack,
    VisitorGone,
)
from switchboard.settings import DispatchSettings

SETTINGS = DispatchSettings(visitor_gone_grace_s=60.0)
SALES = Address.queue("sales")
VISITOR = UserRef.visitor("v1")


def handle(conv: Conversation, msg: object, now: float) -> list[Effect]:
    return [e for e in conv.handle(msg, now) if not isinstance(e, Record)]  # type: ignore[arg-type]


def queued_at_10() -> Conversation:
    conv = Conversation("c1", OpenConversation("v1"), 0.0, SETTINGS)
    handle(conv, RequestHuman("sales"), 10.0)
    return conv


def test_a_queued_visitor_gone_for_the_grace_period_leaves_the_queue() -> None:
    conv = queued_at_10()

    assert handle(conv, VisitorGone(), 20.0) == [SetTimer("gone", 80.0)]
    left = handle(conv, TimerFired("gone"), 80.0)

    assert left == [SendTo(SALES, Dequeue("c1")), CancelTimer("wait"), Deliver(VISITOR, Abandoned("c1"))]
    assert conv.phase is Phase.ABANDONED and conv.close_reason == "visitor_gone"


def test_a_visitor_back_within_the_grace_period_keeps_the_place() -> None:
    conv = queued_at_10()
    handle(conv, VisitorGone(), 20.0)

    assert handle(conv, VisitorBack(), 50.0) == [CancelTimer("gone")]
    assert handle(conv, TimerFired("gone"), 80.0) == []  # a firing already on its way changes nothing
    assert conv.phase is Phase.QUEUED and conv.queued_at == 10.0


def test_a_visitor_who_went_away_while_with_the_bot_and_then_is_queued_gets_the_grace_period() -> None:
    conv = Conversation("c1", OpenConversation("v1"), 0.0, SETTINGS)
    assert handle(conv, VisitorGone(), 5.0) == []

    effects = handle(conv, RequestHuman("sales"), 10.0)  # asked for a person just before the socket went

    assert SetTimer("gone", 70.0) in effects


def test_a_visitor_away_when_an_agent_gives_the_conversation_back_gets_the_grace_period() -> None:
    conv = queued_at_10()
    handle(conv, Assign("ann", "auto"), 12.0)
    handle(conv, VisitorGone(), 20.0)

    effects = handle(conv, Requeue("ann"), 30.0)

    assert Deliver(VISITOR, Requeued("c1", "sales")) in effects and SetTimer("gone", 90.0) in effects
    handle(conv, TimerFired("gone"), 90.0)
    assert conv.phase is Phase.ABANDONED


def test_a_conversation_restored_in_a_queue_counts_its_visitor_away_until_a_socket_says_hello() -> None:
    restore = RestoreConversation("v1", "widget", phase="queued", group="sales", priority=0, front=False,
                                  agent=None, participants=(), created_at=0.0, queued_at=10.0, assigned_at=None,
                                  first_agent_reply_at=None, last_seq=0)
    conv = Conversation("c1", restore, 100.0, SETTINGS)

    created = conv.created(100.0)

    assert SendTo(SALES, Enqueue("c1", "v1", 0, 10.0, front=False, returning=True)) in created
    assert SetTimer("gone", 160.0) in created
    assert handle(conv, VisitorBack(), 110.0) == [CancelTimer("gone")]
