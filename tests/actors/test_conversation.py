"""The Conversation entity alone: one message and an explicit time in, a list of effects out.

``SIMPLE_CASES`` lists (phase, message, next phase, effects) for every legal
transition in ``conversation.TRANSITIONS`` (and a few refusals inside legal
ones); the remaining behaviours, which need a longer history, follow it.
"""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.actors import errors, messages
from switchboard.actors.address import Address, UserRef
from switchboard.actors.conversation import TRANSITIONS, Conversation, Phase
from switchboard.actors.effects import AskBot, CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import (
    Abandoned, Assigned, Closed, ConversationAssigned, ConversationRemoved, ConversationState, OutsideHours, QueueFull,
    Reassigned, Requeued, TransferDeclined, WaitTimeout,
)
from switchboard.actors.messages import (
    Post, RestoreConversation,
    AgentStatus, AgentWrote, AnswerTransfer, Assign, Candidate, Candidates, Close, CreateAgent, CreateGroup,
    Dequeue, Enqueue, Enqueued, EnqueueRefused, HoursClosed, Invite, InviteGranted, InviteTake, JoinGroup, KeepWaiting,
    LeaveGroup, LeaveQueue, MemberLeft, OfferWithdrawn, OpenConversation, Pull, PullResult, Release, RequestHuman, Requeue,
    SetPresence, SetSaturation, Sweep, TimerFired, TransferAccepted, TransferOffer, TransferRefused,
    TransferToAgent, TransferToGroup, Undeliverable, VisitorBack, VisitorGone, VisitorWrote,
    ConfigureGroup, MoveToGroup, RetireGroup, SignOut,
)
from switchboard.settings import DispatchSettings

SETTINGS = DispatchSettings()
BOT, QUEUED, ASSIGNED, CLOSED, ABANDONED = Phase.BOT, Phase.QUEUED, Phase.ASSIGNED, Phase.CLOSED, Phase.ABANDONED
NOW = 100.0
QUEUED_AT = 10.0

SALES, SUPPORT = Address.queue("sales"), Address.queue("support")
ANN, BOB = Address.agent("ann"), Address.agent("bob")
VISITOR, ANN_USER, BOB_USER = UserRef.visitor("v1"), UserRef.agent("ann"), UserRef.agent("bob")
WAIT_AGAIN = SetTimer("wait", NOW + SETTINGS.wait_timeout_s)
ENDED: list[Effect] = [CancelTimer("idle"), CancelTimer("no_reply")]


class _AnyText(str):
    """Equal to any string: refusals are compared by code, not by their wording."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __hash__(self) -> int:
        return 0


def handle(conv: Conversation, msg: Any, now: float) -> list[Effect]:
    """The dispatch effects of one message; the archive's records are tested in test_transcript.py."""
    return [e for e in conv.handle(msg, now) if not isinstance(e, Record)]


def refused(code: str) -> Rejected:
    return Rejected(code, _AnyText())


def conversation_in(phase: Phase, settings: DispatchSettings = SETTINGS) -> Conversation:
    """Conversation c1 of visitor v1: asked for sales at 10, assigned to ann at 20, ended at 30."""
    conv = Conversation("c1", OpenConversation("v1"), 0.0, settings)
    if phase is BOT:
        return conv
    handle(conv, RequestHuman("sales"), QUEUED_AT)
    if phase is QUEUED:
        return conv
    if phase is ABANDONED:
        handle(conv, LeaveQueue(), 20.0)
        return conv
    handle(conv, Assign("ann", "auto"), 20.0)
    if phase is ASSIGNED:
        return conv
    handle(conv, Close("visitor"), 30.0)
    assert conv.phase is CLOSED
    return conv


def closed_by(reason: str) -> list[Effect]:
    """What an assigned conversation (ann serving v1) does when it ends for `reason`."""
    return ENDED + [Deliver(VISITOR, Closed("c1", reason)), SendTo(ANN, Release("c1", "closed")),
                    Deliver(ANN_USER, Closed("c1", reason))]


LEFT: list[Effect] = [SendTo(SALES, Dequeue("c1")), CancelTimer("wait"), Deliver(VISITOR, Abandoned("c1"))]
VOID: list[Effect] = [SendTo(BOB, Release("c1", "void"))]

SIMPLE_CASES: list[tuple[Phase, Any, Phase, list[Effect]]] = [
    # with the bot
    (BOT, RequestHuman("sales", priority=2), QUEUED,
     [SendTo(SALES, Enqueue("c1", "v1", 2, NOW)), WAIT_AGAIN]),
    (BOT, RequestHuman("sales", agent="bob", last_agent="ann"), QUEUED,
     [SendTo(SALES, Enqueue("c1", "v1", 0, NOW, designated="bob", last_agent="ann")), WAIT_AGAIN]),
    (BOT, RequestHuman(""), BOT, [refused(errors.INVALID_ARGUMENT)]),
    (BOT, RequestHuman("sales", priority="1"), BOT, [refused(errors.INVALID_ARGUMENT)]),  # type: ignore[arg-type]
    (BOT, RequestHuman("sales", priority=True), BOT, [refused(errors.INVALID_ARGUMENT)]),
    (BOT, RequestHuman("sales", agent=7), BOT, [refused(errors.INVALID_ARGUMENT)]),  # type: ignore[arg-type]
    (BOT, VisitorWrote(), BOT, []),
    (BOT, Close("visitor"), CLOSED, ENDED + [Deliver(VISITOR, Closed("c1", "visitor"))]),
    (BOT, Close("agent"), BOT, [refused(errors.NOT_ASSIGNED)]),
    (BOT, Close("robot"), BOT, [refused(errors.INVALID_ARGUMENT)]),
    (BOT, EnqueueRefused("sales", errors.QUEUE_FULL, "late"), BOT, []),
    (BOT, Undeliverable(SALES, Enqueue("c1", "v1", 0, QUEUED_AT)), BOT, []),
    (BOT, Assign("bob", "auto"), BOT, VOID),
    (BOT, TransferAccepted("bob"), BOT, VOID),
    # waiting in a queue
    (QUEUED, Assign("ann", "auto"), ASSIGNED,
     [CancelTimer("wait"), Deliver(VISITOR, Assigned("c1", "ann")),
      Deliver(ANN_USER, ConversationAssigned("c1", "v1", "sales", "auto"))]),
    (QUEUED, LeaveQueue(), ABANDONED, LEFT),
    (QUEUED, Close("visitor"), ABANDONED, LEFT),
    (QUEUED, Close("agent"), QUEUED, [refused(errors.NOT_ASSIGNED)]),
    (QUEUED, KeepWaiting(), QUEUED, [WAIT_AGAIN]),
    (QUEUED, Invite("ann"), QUEUED, [SendTo(SALES, InviteTake("c1", "ann"))]),
    (QUEUED, Invite(None), QUEUED, [refused(errors.INVALID_ARGUMENT)]),  # type: ignore[arg-type]
    (QUEUED, VisitorWrote(), QUEUED, []),
    (QUEUED, EnqueueRefused("sales", errors.QUEUE_FULL, "queue sales is full"), BOT,
     [CancelTimer("wait"), Deliver(VISITOR, QueueFull("c1", "sales"))]),
    (QUEUED, EnqueueRefused("sales", errors.OUTSIDE_HOURS, "group sales is outside its service hours", 2000.0), BOT,
     [CancelTimer("wait"), Deliver(VISITOR, OutsideHours("c1", "sales", 2000.0, "request"))]),
    (QUEUED, HoursClosed("sales", 2000.0), BOT,
     [CancelTimer("wait"), Deliver(VISITOR, OutsideHours("c1", "sales", 2000.0, "closing"))]),
    (QUEUED, HoursClosed("support", 2000.0), QUEUED, []),  # not its queue: late news from a queue it left
    (BOT, HoursClosed("sales", 2000.0), BOT, []),
    (ASSIGNED, HoursClosed("sales", 2000.0), ASSIGNED, []),
    (CLOSED, HoursClosed("sales", 2000.0), CLOSED, []),
    (ABANDONED, HoursClosed("sales", 2000.0), ABANDONED, []),
    (QUEUED, EnqueueRefused("sales", errors.NOT_IN_GROUP, "not here"), BOT,
     [CancelTimer("wait"), Rejected(errors.NOT_IN_GROUP, "not here")]),
    (QUEUED, Enqueued("sales"), QUEUED, []),
    (QUEUED, Undeliverable(SALES, Enqueue("c1", "v1", 0, QUEUED_AT)), BOT,
     [CancelTimer("wait"), refused(errors.UNKNOWN_GROUP)]),
    (QUEUED, TimerFired("wait"), QUEUED, [Deliver(VISITOR, WaitTimeout("c1", NOW - QUEUED_AT)), WAIT_AGAIN]),
    (QUEUED, TimerFired("idle"), QUEUED, []),
    (QUEUED, TransferRefused("bob", "declined"), QUEUED, []),
    (QUEUED, TransferAccepted("bob"), QUEUED, VOID),
    # with an agent
    (ASSIGNED, AgentWrote(), ASSIGNED,
     [CancelTimer("no_reply"), SetTimer("idle", NOW + SETTINGS.session_idle_timeout_s)]),
    (ASSIGNED, AgentWrote("ann"), ASSIGNED,
     [CancelTimer("no_reply"), SetTimer("idle", NOW + SETTINGS.session_idle_timeout_s)]),
    (ASSIGNED, AgentWrote("bob"), ASSIGNED, [refused(errors.NOT_YOUR_CONVERSATION)]),
    (ASSIGNED, VisitorWrote(), ASSIGNED, [CancelTimer("idle")]),
    (ASSIGNED, Close("agent"), CLOSED, closed_by("agent")),
    (ASSIGNED, Close("visitor"), CLOSED, closed_by("visitor")),
    (ASSIGNED, Close("system"), CLOSED, closed_by("system")),
    (ASSIGNED, Close("agent", agent="bob"), ASSIGNED, [refused(errors.NOT_YOUR_CONVERSATION)]),
    (ASSIGNED, TransferToAgent("bob"), ASSIGNED, [SendTo(BOB, TransferOffer("c1", "v1", "sales", "ann"))]),
    (ASSIGNED, TransferToAgent("ann"), ASSIGNED, [refused(errors.SAME_AGENT)]),
    (ASSIGNED, TransferToAgent(""), ASSIGNED, [refused(errors.INVALID_ARGUMENT)]),
    (ASSIGNED, TransferToGroup("support"), QUEUED,  # timers stay until the new queue confirms
     [SendTo(SUPPORT, Enqueue("c1", "v1", 0, QUEUED_AT, front=True, confirm=True))]),
    (ASSIGNED, TransferToGroup(None), ASSIGNED, [refused(errors.INVALID_ARGUMENT)]),  # type: ignore[arg-type]
    (ASSIGNED, TransferAccepted("bob"), ASSIGNED, VOID),  # nobody offered bob a transfer
    (ASSIGNED, TransferRefused("bob", "declined"), ASSIGNED, []),
    (ASSIGNED, Requeue("ann"), QUEUED,
     ENDED + [SendTo(SALES, Enqueue("c1", "v1", 0, QUEUED_AT, front=True, returning=True)),
              Deliver(VISITOR, Requeued("c1", "sales")), WAIT_AGAIN,
              Deliver(ANN_USER, ConversationRemoved("c1", "requeued"))]),
    (ASSIGNED, Requeue("bob"), ASSIGNED, []),
    (ASSIGNED, Assign("ann", "auto"), ASSIGNED, [SendTo(ANN, Release("c1", "void"))]),
    (ASSIGNED, Assign("bob", "auto"), ASSIGNED, VOID),
    (ASSIGNED, TimerFired("idle"), CLOSED, closed_by("idle_timeout")),
    (ASSIGNED, TimerFired("wait"), ASSIGNED, []),
    (ASSIGNED, Undeliverable(BOB, TransferOffer("c1", "v1", "sales", "ann")), ASSIGNED, []),
    (ASSIGNED, Enqueued("sales"), ASSIGNED, []),
    # chat messages (their records are tested in test_transcript.py)
    (BOT, Post("visitor", "v1", "hello"), BOT, [AskBot("c1", "v1", 1, "hello")]),
    (QUEUED, Post("visitor", "v1", "still there?"), QUEUED, []),
    (ASSIGNED, Post("agent", "ann", "hi, I am Ann"), ASSIGNED,
     [CancelTimer("no_reply"), SetTimer("idle", NOW + SETTINGS.session_idle_timeout_s)]),
    (ASSIGNED, Post("agent", "bob", "not mine"), ASSIGNED, [refused(errors.NOT_YOUR_CONVERSATION)]),
    (QUEUED, Post("agent", "ann", "too early"), QUEUED, [refused(errors.NOT_ASSIGNED)]),
    (CLOSED, Post("visitor", "v1", "too late"), CLOSED, [refused(errors.CONVERSATION_ENDED)]),
    # ended
    (CLOSED, Assign("bob", "auto"), CLOSED, VOID),
    (CLOSED, TimerFired("idle"), CLOSED, []),
    (CLOSED, TransferAccepted("bob"), CLOSED, VOID),
    (ABANDONED, Assign("ann", "auto"), ABANDONED, [SendTo(ANN, Release("c1", "void"))]),
    (ABANDONED, TimerFired("wait"), ABANDONED, []),
    (ABANDONED, TransferAccepted("bob"), ABANDONED, VOID),
    # the visitor's last socket goes and one comes back (tests/actors/test_visitor_gone.py has the flows)
    (BOT, VisitorGone(), BOT, []),
    (BOT, VisitorBack(), BOT, []),
    (BOT, TimerFired("gone"), BOT, []),
    (QUEUED, VisitorGone(), QUEUED, [SetTimer("gone", NOW + SETTINGS.visitor_gone_grace_s)]),
    (QUEUED, VisitorBack(), QUEUED, []),
    (ASSIGNED, VisitorGone(), ASSIGNED, []),
    (ASSIGNED, VisitorBack(), ASSIGNED, []),
    (CLOSED, VisitorGone(), CLOSED, []),
    (CLOSED, VisitorBack(), CLOSED, []),
    (ABANDONED, VisitorGone(), ABANDONED, []),
    (ABANDONED, VisitorBack(), ABANDONED, []),
    # an admin moves the conversation to another group
    (BOT, MoveToGroup("support"), BOT, []),
    (BOT, MoveToGroup(7), BOT, [refused(errors.INVALID_ARGUMENT)]),  # type: ignore[arg-type]
    (QUEUED, MoveToGroup("support"), QUEUED,
     [SendTo(SALES, Dequeue("c1")), SendTo(SUPPORT, Enqueue("c1", "v1", 0, QUEUED_AT, confirm=True))]),
    (QUEUED, MoveToGroup("sales"), QUEUED, [refused(errors.SAME_GROUP)]),
    (QUEUED, MoveToGroup(""), QUEUED, [refused(errors.INVALID_ARGUMENT)]),
    (ASSIGNED, MoveToGroup("support"), ASSIGNED, []),
    (ASSIGNED, MoveToGroup("sales"), ASSIGNED, [refused(errors.SAME_GROUP)]),
    (QUEUED, Assign("bob", "auto", "support"), QUEUED, VOID),  # taken from a queue it no longer waits in
]


def _case_id(case: tuple[Phase, Any, Phase, list[Effect]]) -> str:
    phase, msg, after, _ = case
    fields = ",".join(repr(getattr(msg, name)) for name in msg.__struct_fields__)
    return f"{phase.name}-{type(msg).__name__}({fields})-{after.name}"


@pytest.mark.parametrize(("phase", "msg", "after", "effects"), SIMPLE_CASES, ids=[_case_id(c) for c in SIMPLE_CASES])
def test_each_simple_case_moves_to_the_expected_phase_with_the_expected_effects(
        phase: Phase, msg: Any, after: Phase, effects: list[Effect]) -> None:
    conv = conversation_in(phase)
    before = conv.snapshot(NOW)

    assert handle(conv, msg, NOW) == effects
    assert conv.phase is after
    if effects and all(isinstance(e, Rejected) for e in effects):
        assert conv.snapshot(NOW) == before


def test_the_simple_cases_cover_every_legal_transition() -> None:
    covered = {(phase, type(msg)) for phase, msg, _, _ in SIMPLE_CASES}

    assert set(TRANSITIONS) - covered == set()


def test_every_transition_names_a_handler_of_the_conversation() -> None:
    missing = {handler for handler in TRANSITIONS.values()
               if getattr(Conversation, handler.__name__, None) is not handler}

    assert missing == set()


# --- everything not in the table is refused ---------------------------------------------------------------

# One sample of every message type the engine knows.
SAMPLES: dict[type, Any] = {
    CreateAgent: CreateAgent(2), SetPresence: SetPresence("online"), SetSaturation: SetSaturation(3),
    JoinGroup: JoinGroup("sales"), LeaveGroup: LeaveGroup("sales"), AnswerTransfer: AnswerTransfer("c1", True),
    CreateGroup: CreateGroup(), Sweep: Sweep(), SignOut: SignOut(), ConfigureGroup: ConfigureGroup("balanced", None, None),
    RetireGroup: RetireGroup(), MoveToGroup: MoveToGroup("support"),
    OpenConversation: OpenConversation("v1"), RequestHuman: RequestHuman("sales"), LeaveQueue: LeaveQueue(),
    KeepWaiting: KeepWaiting(), Invite: Invite("bob"), TransferToAgent: TransferToAgent("bob"),
    TransferToGroup: TransferToGroup("support"), AgentWrote: AgentWrote(), VisitorWrote: VisitorWrote(),
    Close: Close("visitor"), Post: Post("visitor", "v1", "hello"),
    RestoreConversation: RestoreConversation("v1", "widget", "bot", None, 0, False, None, (), 0.0, None, None, None, 0),
    AgentStatus: AgentStatus("bob", "online", 0, 2, 0.0), Candidate: Candidate("c1", "v1", "sales", 0, 0.0, 1),
    Pull: Pull(AgentStatus("bob", "online", 0, 2, 0.0), 2), Candidates: Candidates("sales", (), True),
    PullResult: PullResult(AgentStatus("bob", "online", 0, 2, 0.0), (), ()), Enqueue: Enqueue("c1", "v1", 0, 0.0),
    Enqueued: Enqueued("sales"), EnqueueRefused: EnqueueRefused("sales", errors.QUEUE_FULL, "full"),
    HoursClosed: HoursClosed("sales", None),
    Dequeue: Dequeue("c1"), InviteTake: InviteTake("c1", "bob"), InviteGranted: InviteGranted("c1", "v1", "sales"),
    MemberLeft: MemberLeft("bob"), Assign: Assign("bob", "auto"), Release: Release("c1", "closed"),
    Requeue: Requeue("bob"), TransferOffer: TransferOffer("c1", "v1", "sales", "bob"),
    TransferAccepted: TransferAccepted("bob"), TransferRefused: TransferRefused("bob", "declined"),
    OfferWithdrawn: OfferWithdrawn("c1", "closed"),
    TimerFired: TimerFired("wait"), Undeliverable: Undeliverable(SALES, Enqueue("c1", "v1", 0, 0.0)),
    VisitorGone: VisitorGone(), VisitorBack: VisitorBack(),
}

# The documented refusal for a message that is not legal in a phase.
_NOT_LEGAL_CODE: dict[type, str] = {
    Invite: errors.NOT_QUEUED, LeaveQueue: errors.NOT_QUEUED, KeepWaiting: errors.NOT_QUEUED,
    RequestHuman: errors.ALREADY_REQUESTED, TransferToAgent: errors.NOT_ASSIGNED,
    TransferToGroup: errors.NOT_ASSIGNED, AgentWrote: errors.NOT_ASSIGNED,
}


def expected_refusal(phase: Phase, kind: type) -> str:
    if kind in (OpenConversation, RestoreConversation):
        return errors.ALREADY_EXISTS
    if phase in (CLOSED, ABANDONED):
        return errors.CONVERSATION_ENDED
    return _NOT_LEGAL_CODE.get(kind, errors.ILLEGAL_IN_STATE)


def test_the_samples_cover_every_message_type() -> None:
    known = {getattr(messages, name) for name in messages.__all__ if isinstance(getattr(messages, name), type)}

    assert known == set(SAMPLES)


ILLEGAL = [(phase, kind) for phase in Phase for kind in SAMPLES if (phase, kind) not in TRANSITIONS]


@pytest.mark.parametrize(("phase", "kind"), ILLEGAL, ids=[f"{p.name}-{k.__name__}" for p, k in ILLEGAL])
def test_a_message_not_legal_in_the_phase_is_refused_and_changes_nothing(phase: Phase, kind: type) -> None:
    conv = conversation_in(phase)
    before = conv.snapshot(NOW)

    effects = handle(conv, SAMPLES[kind], NOW)

    assert effects == [refused(expected_refusal(phase, kind))]
    assert conv.phase is phase
    assert conv.snapshot(NOW) == before


# --- creation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("visitor", ["", None, 7, ["v1"]])
def test_a_conversation_needs_a_visitor_id(visitor: Any) -> None:
    refusal = Conversation.validate_creation(OpenConversation(visitor))

    assert refusal is not None and refusal.code == errors.INVALID_ARGUMENT


def test_a_new_conversation_starts_with_the_bot_and_does_nothing_yet() -> None:
    conv = Conversation("c1", OpenConversation("v1", channel="slack"), 5.0, SETTINGS)

    created = conv.created(5.0)

    assert [type(e) for e in created] == [Record]
    assert isinstance(created[0], Record) and isinstance(created[0].record, ConversationState)
    assert created[0].record.state["phase"] == "bot"
    assert conv.snapshot()["phase"] == "bot" and conv.snapshot()["created_at"] == 5.0


@pytest.mark.parametrize("answer", [
    EnqueueRefused("sales", errors.QUEUE_FULL, "queue sales is full"),
    EnqueueRefused("sales", errors.NOT_IN_GROUP, "not here"),
    Undeliverable(SALES, Enqueue("c1", "v1", 0, NOW)),
], ids=["queue_full", "not_in_group", "unknown_group"])
def test_a_refused_request_leaves_the_conversation_as_it_was_before_it(answer: Any) -> None:
    conv = conversation_in(BOT)
    before = conv.snapshot(NOW)

    handle(conv, RequestHuman("sales", priority=3), NOW)
    handle(conv, answer, NOW)

    assert conv.snapshot(NOW) == before


# --- timers --------------------------------------------------------------------------------------------------


def test_a_waiting_visitor_is_asked_again_each_wait_timeout_from_when_they_last_chose_to_wait() -> None:
    conv = conversation_in(QUEUED)

    first = handle(conv, TimerFired("wait"), 70.0)
    keep = handle(conv, KeepWaiting(), 80.0)
    second = handle(conv, TimerFired("wait"), 140.0)

    assert first == [Deliver(VISITOR, WaitTimeout("c1", 60.0)), SetTimer("wait", 130.0)]
    assert keep == [SetTimer("wait", 140.0)]
    assert second == [Deliver(VISITOR, WaitTimeout("c1", 130.0)), SetTimer("wait", 200.0)]


def test_the_idle_timeout_runs_from_the_agents_last_message_until_the_visitor_answers() -> None:
    conv = conversation_in(ASSIGNED)

    first = handle(conv, AgentWrote(), 30.0)
    second = handle(conv, AgentWrote(), 50.0)
    answer = handle(conv, VisitorWrote(), 60.0)

    idle = SETTINGS.session_idle_timeout_s
    assert first == [CancelTimer("no_reply"), SetTimer("idle", 30.0 + idle)]
    assert second == [CancelTimer("no_reply"), SetTimer("idle", 50.0 + idle)]
    assert answer == [CancelTimer("idle")]
    assert conv.snapshot()["first_agent_reply_at"] == 30.0


def test_an_assigned_visitor_whose_agent_stays_silent_goes_back_to_the_front_avoiding_that_agent() -> None:
    settings = DispatchSettings(no_reply_reassign_s=30)
    conv = conversation_in(QUEUED, settings)

    assigned = handle(conv, Assign("ann", "auto"), 20.0)
    silent = handle(conv, TimerFired("no_reply"), 50.0)

    assert assigned[-1] == SetTimer("no_reply", 50.0)
    assert silent == [
        SendTo(ANN, Release("c1", "no_reply")),
        CancelTimer("idle"), CancelTimer("no_reply"),
        SendTo(SALES, Enqueue("c1", "v1", 0, QUEUED_AT, front=True, avoid="ann", returning=True)),
        Deliver(VISITOR, Reassigned("c1", "sales")), SetTimer("wait", 50.0 + SETTINGS.wait_timeout_s),
        Deliver(ANN_USER, ConversationRemoved("c1", "no_reply")),
    ]
    assert conv.phase is QUEUED and conv.agent is None


def test_an_agent_who_wrote_is_not_reassigned_for_no_reply() -> None:
    conv = conversation_in(QUEUED, DispatchSettings(no_reply_reassign_s=30))
    handle(conv, Assign("ann", "auto"), 20.0)
    handle(conv, AgentWrote(), 25.0)

    assert handle(conv, TimerFired("no_reply"), 50.0) == []
    assert conv.agent == "ann"


# --- transfers -------------------------------------------------------------------------------------------------


def test_a_transfer_to_an_agent_changes_nothing_until_they_accept() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)
    assert conv.agent == "ann"

    effects = handle(conv, TransferAccepted("bob"), 41.0)

    assert effects == [
        SendTo(ANN, Release("c1", "transferred")), Deliver(ANN_USER, ConversationRemoved("c1", "transferred")),
        Deliver(VISITOR, Assigned("c1", "bob")), Deliver(BOB_USER, ConversationAssigned("c1", "v1", "sales", "transfer")),
    ]
    assert conv.agent == "bob" and conv.participants == ["ann", "bob"]
    assert conv.snapshot()["transfers"] == [(41.0, "ann", "bob", None)]


def test_a_second_transfer_while_one_waits_for_an_answer_is_refused() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)
    before = conv.snapshot(41.0)

    assert handle(conv, TransferToAgent("cid"), 41.0) == [refused(errors.TRANSFER_PENDING)]
    assert conv.snapshot(41.0) == before


def test_a_declined_transfer_tells_the_transferring_agent_and_allows_another() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)

    declined = handle(conv, TransferRefused("bob", "declined"), 41.0)
    again = handle(conv, TransferToAgent("cid"), 42.0)

    assert declined == [Deliver(ANN_USER, TransferDeclined("c1", "bob"))]
    assert again == [SendTo(Address.agent("cid"), TransferOffer("c1", "v1", "sales", "ann"))]
    assert conv.agent == "ann"


def test_a_transfer_to_an_offline_agent_is_refused_to_the_sender() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)

    assert handle(conv, TransferRefused("bob", errors.AGENT_OFFLINE), 41.0) == [refused(errors.AGENT_OFFLINE)]
    assert conv.agent == "ann"


def test_a_transfer_to_an_agent_that_does_not_exist_is_refused_and_allows_another() -> None:
    conv = conversation_in(ASSIGNED)
    offer = TransferOffer("c1", "v1", "sales", "ann")
    handle(conv, TransferToAgent("ghost"), 40.0)

    bounced = handle(conv, Undeliverable(Address.agent("ghost"), offer), 40.0)

    assert bounced == [refused(errors.UNKNOWN_AGENT)]
    assert handle(conv, TransferToAgent("bob"), 41.0) == [SendTo(BOB, offer)]


def test_a_group_transfer_keeps_the_old_agent_until_the_new_queue_confirms() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToGroup("support"), 40.0)

    confirmed = handle(conv, Enqueued("support"), 41.0)

    assert confirmed == ENDED + [SendTo(ANN, Release("c1", "transferred")),
                                 Deliver(ANN_USER, ConversationRemoved("c1", "transferred")),
                                 SetTimer("wait", 40.0 + SETTINGS.wait_timeout_s)]
    assert (conv.phase, conv.group, conv.agent) == (QUEUED, "support", None)


def test_a_group_transfer_to_a_group_that_does_not_exist_puts_everything_back() -> None:
    conv = conversation_in(ASSIGNED)
    before = conv.snapshot(40.0)
    enqueue = Enqueue("c1", "v1", 0, QUEUED_AT, front=True, confirm=True)
    handle(conv, TransferToGroup("ghost"), 40.0)

    effects = handle(conv, Undeliverable(Address.queue("ghost"), enqueue), 40.0)

    assert effects == [refused(errors.UNKNOWN_GROUP)]
    assert conv.snapshot(40.0) == before


def test_a_group_transfer_to_a_full_queue_puts_everything_back() -> None:
    conv = conversation_in(ASSIGNED)
    before = conv.snapshot(40.0)
    handle(conv, TransferToGroup("support"), 40.0)

    effects = handle(conv, EnqueueRefused("support", errors.ALREADY_REQUESTED, "already"), 40.0)

    assert effects == [refused(errors.ALREADY_REQUESTED)]
    assert conv.snapshot(40.0) == before


def test_a_group_transfer_answered_by_an_assignment_before_the_confirmation_releases_the_old_agent() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToGroup("support"), 40.0)

    assigned = handle(conv, Assign("bob", "auto"), 41.0)
    late = handle(conv, Enqueued("support"), 41.0)

    assert assigned == [
        CancelTimer("wait"), *ENDED,
        SendTo(ANN, Release("c1", "transferred")), Deliver(ANN_USER, ConversationRemoved("c1", "transferred")),
        Deliver(VISITOR, Assigned("c1", "bob")), Deliver(BOB_USER, ConversationAssigned("c1", "v1", "support", "auto")),
    ]
    assert late == []
    assert conv.participants == ["ann", "bob"]


def test_a_visitor_leaving_during_a_group_transfer_releases_the_old_agent() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToGroup("support"), 40.0)

    assert handle(conv, LeaveQueue(), 41.0) == [
        SendTo(SUPPORT, Dequeue("c1")), CancelTimer("wait"), Deliver(VISITOR, Abandoned("c1")), *ENDED,
        SendTo(ANN, Release("c1", "transferred")), Deliver(ANN_USER, ConversationRemoved("c1", "transferred")),
    ]


def test_an_offer_accepted_while_a_group_transfer_waits_ends_so_a_refused_one_leaves_ann_free_to_transfer_again(
        ) -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)
    handle(conv, TransferToGroup("ghost"), 41.0)

    crossed = handle(conv, TransferAccepted("bob"), 42.0)  # bob's answer to the offer, after the group transfer
    handle(conv, Undeliverable(Address.queue("ghost"), Enqueue("c1", "v1", 0, QUEUED_AT, front=True, confirm=True)), 43.0)

    assert crossed == [SendTo(BOB, Release("c1", "void"))]
    assert (conv.phase, conv.agent) == (ASSIGNED, "ann")
    assert handle(conv, TransferToAgent("bob"), 44.0) == [SendTo(BOB, TransferOffer("c1", "v1", "sales", "ann"))]


def test_a_visitor_leaving_during_a_group_transfer_withdraws_an_offer_as_closed() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToAgent("bob"), 40.0)
    handle(conv, TransferToGroup("support"), 41.0)

    left = handle(conv, LeaveQueue(), 42.0)

    assert [e for e in left if isinstance(e, SendTo) and e.to == BOB] == [SendTo(BOB, OfferWithdrawn("c1", "closed"))]


def test_a_refused_group_transfer_keeps_the_idle_timeout_the_agent_started() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, AgentWrote(), 30.0)  # idle timer due at 30 + 180
    enqueue = Enqueue("c1", "v1", 0, QUEUED_AT, front=True, confirm=True)
    moved = handle(conv, TransferToGroup("ghost"), 40.0)

    restored = handle(conv, Undeliverable(Address.queue("ghost"), enqueue), 40.0)

    cancelled = CancelTimer("idle") in moved
    rearmed = SetTimer("idle", 30.0 + SETTINGS.session_idle_timeout_s) in restored
    assert rearmed or not cancelled, "the idle timer was cancelled by the transfer and never put back"


def test_an_idle_timeout_that_fell_due_while_a_group_transfer_waited_still_closes_after_the_refusal() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, AgentWrote(), 30.0)
    due = 30.0 + SETTINGS.session_idle_timeout_s
    enqueue = Enqueue("c1", "v1", 0, QUEUED_AT, front=True, confirm=True)
    handle(conv, TransferToGroup("ghost"), due - 0.001)

    fired = handle(conv, TimerFired("idle"), due)  # the queue's answer is still on its way
    restored = handle(conv, Undeliverable(Address.queue("ghost"), enqueue), due + 0.001)

    assert fired == [] and conv.phase is ASSIGNED and conv.agent == "ann"
    assert SetTimer("idle", due) in restored, "the idle timeout was spent during the transfer and never re-armed"


# --- moved by an admin to another group -----------------------------------------------------------------------


def test_a_move_changes_the_recorded_group_so_the_store_follows() -> None:
    conv = conversation_in(ASSIGNED)

    effects = conv.handle(MoveToGroup("support"), 40.0)

    assert effects == [Record(ConversationState(conv.state()))]
    assert conv.state()["group"] == "support" and (conv.phase, conv.agent) == (ASSIGNED, "ann")


def test_an_assigned_conversation_moved_to_another_group_is_requeued_there() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, MoveToGroup("support"), 40.0)

    requeued = handle(conv, Requeue("ann"), 50.0)

    assert requeued == ENDED + [SendTo(SUPPORT, Enqueue("c1", "v1", 0, QUEUED_AT, front=True, returning=True)),
                                Deliver(VISITOR, Requeued("c1", "support")),
                                SetTimer("wait", 50.0 + SETTINGS.wait_timeout_s),
                                Deliver(ANN_USER, ConversationRemoved("c1", "requeued"))]


def test_a_move_keeps_the_front_tier_and_the_priority_of_a_visitor_at_the_front() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, Requeue("ann"), 40.0)  # back to the front of sales
    conv.priority = 4

    moved = handle(conv, MoveToGroup("support"), 50.0)

    assert moved == [SendTo(SALES, Dequeue("c1")),
                     SendTo(SUPPORT, Enqueue("c1", "v1", 4, QUEUED_AT, front=True, confirm=True))]


def test_a_confirmed_move_changes_nothing_more_and_allows_another() -> None:
    conv = conversation_in(QUEUED)
    handle(conv, MoveToGroup("support"), 40.0)

    confirmed = handle(conv, Enqueued("support"), 41.0)
    again = handle(conv, MoveToGroup("billing"), 42.0)

    assert confirmed == []
    assert again == [SendTo(SUPPORT, Dequeue("c1")),
                     SendTo(Address.queue("billing"), Enqueue("c1", "v1", 0, QUEUED_AT, confirm=True))]


def test_a_second_move_before_the_new_queue_confirms_is_refused() -> None:
    conv = conversation_in(QUEUED)
    handle(conv, MoveToGroup("support"), 40.0)
    before = conv.snapshot(41.0)

    assert handle(conv, MoveToGroup("billing"), 41.0) == [refused(errors.TRANSFER_PENDING)]
    assert conv.snapshot(41.0) == before


def test_a_move_while_a_group_transfer_waits_for_its_queue_is_refused() -> None:
    conv = conversation_in(ASSIGNED)
    handle(conv, TransferToGroup("support"), 40.0)

    assert handle(conv, MoveToGroup("billing"), 41.0) == [refused(errors.TRANSFER_PENDING)]
    assert conv.group == "support"


@pytest.mark.parametrize("answer", [
    EnqueueRefused("support", errors.QUEUE_FULL, "queue support is full"),
    EnqueueRefused("support", errors.GROUP_RETIRED, "group support has been deleted"),
    Undeliverable(SUPPORT, Enqueue("c1", "v1", 0, QUEUED_AT, confirm=True)),
], ids=["queue_full", "group_retired", "unknown_group"])
def test_a_move_the_new_queue_refuses_goes_back_to_the_old_queue_in_its_place_and_tells_the_mover(
        answer: Any) -> None:
    conv = conversation_in(QUEUED)
    before = conv.snapshot(41.0)
    handle(conv, MoveToGroup("support"), 40.0)

    effects = handle(conv, answer, 41.0)

    code = answer.code if isinstance(answer, EnqueueRefused) else errors.UNKNOWN_GROUP
    assert effects == [SendTo(SALES, Enqueue("c1", "v1", 0, QUEUED_AT, returning=True)), refused(code)]
    assert conv.snapshot(41.0) == before


def test_a_moved_visitor_the_old_queue_refuses_too_goes_back_to_the_bot_like_any_refused_request() -> None:
    conv = conversation_in(QUEUED)
    handle(conv, MoveToGroup("support"), 40.0)
    handle(conv, EnqueueRefused("support", errors.GROUP_RETIRED, "deleted"), 41.0)

    effects = handle(conv, EnqueueRefused("sales", errors.QUEUE_FULL, "queue sales is full"), 42.0)

    assert effects == [CancelTimer("wait"), Deliver(VISITOR, QueueFull("c1", "sales"))]
    assert (conv.phase, conv.group, conv.queued_at) == (BOT, None, None)


def test_a_visitor_taken_from_the_old_queue_as_they_moved_is_released_and_the_new_queue_serves_them() -> None:
    conv = conversation_in(QUEUED)
    handle(conv, MoveToGroup("support"), 40.0)

    stale = handle(conv, Assign("ann", "auto", "sales"), 41.0)
    fresh = handle(conv, Assign("bob", "auto", "support"), 42.0)

    assert stale == [SendTo(ANN, Release("c1", "void"))]
    assert fresh == [CancelTimer("wait"), Deliver(VISITOR, Assigned("c1", "bob")),
                     Deliver(BOB_USER, ConversationAssigned("c1", "v1", "support", "auto"))]
    assert (conv.phase, conv.agent, conv.group) == (ASSIGNED, "bob", "support")
    assert handle(conv, Enqueued("support"), 43.0) == []


def test_a_visitor_leaving_while_a_move_waits_for_its_queue_leaves_the_new_queue() -> None:
    conv = conversation_in(QUEUED)
    handle(conv, MoveToGroup("support"), 40.0)

    assert handle(conv, LeaveQueue(), 41.0) == [
        SendTo(SUPPORT, Dequeue("c1")), CancelTimer("wait"), Deliver(VISITOR, Abandoned("c1"))]


def test_a_closed_conversation_cannot_be_moved() -> None:
    conv = conversation_in(CLOSED)

    assert handle(conv, MoveToGroup("support"), 40.0) == [refused(errors.CONVERSATION_ENDED)]
    assert conv.group == "sales"
