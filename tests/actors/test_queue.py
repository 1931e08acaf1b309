"""The SkillQueue entity alone: one message and an explicit time in, a list of effects out."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Rejected, SendTo, SetTimer
from switchboard.actors.events import QueuePosition
from switchboard.actors.messages import (
    AgentStatus, Candidate, Candidates, ConfigureGroup, CreateGroup, Dequeue, Enqueue, Enqueued, EnqueueRefused,
    InviteGranted, InviteTake, MemberLeft, Pull, PullResult, RetireGroup, SetPresence, Sweep, TimerFired,
)
from switchboard.actors.queue import SkillQueue
from switchboard.settings import DispatchSettings

SETTINGS = DispatchSettings()


def new_queue(policy: str = "balanced", settings: DispatchSettings = SETTINGS, **kw: Any) -> SkillQueue:
    return SkillQueue("sales", CreateGroup(policy, **kw), 0.0, settings)


def status(agent: str, active: int = 0, saturation: int = 2, presence: str = "online",
           idle: float | None = 0.0) -> AgentStatus:
    return AgentStatus(agent, presence, active, saturation, idle)


def member(queue: SkillQueue, agent: str, active: int = 0, saturation: int = 2, presence: str = "online",
           idle: float | None = 0.0) -> SkillQueue:
    assert queue.handle(status(agent, active, saturation, presence, idle), 0.0) == []
    return queue


def enqueue(conversation: str, at: float, priority: int = 0, **kw: Any) -> Enqueue:
    return Enqueue(conversation, f"v-{conversation}", priority, at, **kw)


def waiting(queue: SkillQueue, *conversations: str, start: float = 1.0) -> SkillQueue:
    """Enqueue these conversations one second apart (with nobody free, they just wait)."""
    for i, c in enumerate(conversations):
        queue.handle(enqueue(c, start + i), start + i)
    return queue


def told(conversation: str, position: int, eta: float | None = None) -> Deliver:
    return Deliver(UserRef.visitor(f"v-{conversation}"), QueuePosition(conversation, "sales", position, eta))


def cand(conversation: str, queued_at: float, priority: int = 0, tier: int = 1) -> Candidate:
    return Candidate(conversation, f"v-{conversation}", "sales", priority, queued_at, tier)


def offer(agent: str, *candidates: Candidate, solicited: bool = False) -> SendTo:
    return SendTo(Address.agent(agent), Candidates("sales", candidates, solicited))


def codes(effects: list[Effect]) -> list[str]:
    return [e.code for e in effects if isinstance(e, Rejected)]


# --- creation ----------------------------------------------------------------------------------------


def test_a_new_queue_arms_its_safety_sweep() -> None:
    assert new_queue().created(0.0) == [SetTimer("sweep", SETTINGS.sweep_interval_s)]


def test_a_queue_with_the_sweep_turned_off_arms_nothing() -> None:
    assert new_queue(settings=DispatchSettings(sweep_interval_s=0)).created(0.0) == []


BAD_CONFIGURATIONS = [  # (policy, max_queue, last_agent_wait_s)
    ("random", None, None), ("", None, None), (None, None, None), ("balanced", 0, None), ("balanced", -1, None),
    ("balanced", "5", None), ("balanced", True, None), ("balanced", 2.5, None), ("balanced", None, 0),
    ("balanced", None, -1.0), ("balanced", None, "30"), ("balanced", None, True),
]


@pytest.mark.parametrize("bad", [
    CreateGroup(policy="random"),
    CreateGroup(policy=""),
    CreateGroup(max_queue=0),
    CreateGroup(max_queue=-1),
    CreateGroup(max_queue="5"),  # type: ignore[arg-type]
    CreateGroup(max_queue=True),
    CreateGroup(max_queue=2.5),  # type: ignore[arg-type]
    CreateGroup(last_agent_wait_s=0),
    CreateGroup(last_agent_wait_s=-1.0),
    CreateGroup(last_agent_wait_s="30"),  # type: ignore[arg-type]
    CreateGroup(last_agent_wait_s=True),
], ids=repr)
def test_a_group_with_a_bad_policy_or_limit_is_refused(bad: CreateGroup) -> None:
    refusal = SkillQueue.validate_creation(bad)

    assert refusal is not None and refusal.code == errors.INVALID_ARGUMENT


def test_a_group_with_each_known_policy_and_sensible_limits_is_accepted() -> None:
    for policy in ("balanced", "last_agent_first", "designated"):
        assert SkillQueue.validate_creation(CreateGroup(policy, max_queue=10, last_agent_wait_s=5)) is None


def test_creating_a_group_that_exists_is_refused() -> None:
    queue = new_queue()

    assert codes(queue.handle(CreateGroup("designated"), 1.0)) == [errors.ALREADY_EXISTS]
    assert queue.policy == "balanced"


def test_a_message_the_queue_does_not_understand_is_refused_and_changes_nothing() -> None:
    queue = waiting(new_queue(), "c1")
    before = queue.snapshot()

    assert codes(queue.handle(SetPresence("online"), 5.0)) == [errors.UNKNOWN_MESSAGE]
    assert queue.snapshot() == before


# --- choosing an agent --------------------------------------------------------------------------------


def test_a_visitor_with_no_member_free_is_told_they_are_first() -> None:
    queue = new_queue()

    assert queue.handle(enqueue("c1", 5.0), 5.0) == [told("c1", 1)]
    assert queue.waiting() == ["c1"]


def test_a_visitor_is_offered_to_the_member_with_the_lowest_load_ratio() -> None:
    queue = new_queue()
    member(queue, "ann", active=1, saturation=2)
    member(queue, "bob", active=1, saturation=5)
    member(queue, "cid", active=0, saturation=1, presence="away")

    assert queue.handle(enqueue("c1", 5.0), 5.0) == [offer("bob", cand("c1", 5.0))]


def test_ties_go_to_the_agent_idle_longest() -> None:
    queue = new_queue()
    member(queue, "ann", idle=5.0)
    member(queue, "bob", idle=3.0)

    assert queue.handle(enqueue("c1", 6.0), 6.0) == [offer("bob", cand("c1", 6.0))]
    assert queue.handle(enqueue("c2", 7.0), 7.0) == [offer("ann", cand("c2", 7.0))]


def test_reserved_visitors_count_toward_an_agents_ratio_and_never_push_it_past_saturation() -> None:
    queue = new_queue()
    member(queue, "ann", saturation=1, idle=1.0)
    member(queue, "bob", saturation=2, idle=2.0)

    effects = [queue.handle(enqueue(c, t), t) for c, t in [("c1", 5.0), ("c2", 6.0), ("c3", 7.0), ("c4", 8.0)]]

    assert effects == [
        [offer("ann", cand("c1", 5.0))],
        [offer("bob", cand("c2", 6.0))],
        [offer("bob", cand("c3", 7.0))],
        [told("c4", 4)],
    ]


@pytest.mark.parametrize(("presence", "active"), [("away", 0), ("offline", 0), ("online", 2)])
def test_a_member_away_offline_or_full_is_not_offered_a_visitor(presence: str, active: int) -> None:
    queue = member(new_queue(), "ann", active=active, presence=presence)

    assert queue.handle(enqueue("c1", 5.0), 5.0) == [told("c1", 1)]


def test_a_visitor_already_reserved_for_one_agent_is_never_reserved_for_another() -> None:
    queue = member(new_queue(), "ann", saturation=1)
    queue.handle(enqueue("c1", 5.0), 5.0)

    assert queue.handle(Pull(status("bob"), 2), 6.0) == [offer("bob", solicited=True)]


def test_the_sweep_places_visitors_that_an_agent_status_alone_did_not() -> None:
    queue = waiting(new_queue(), "c1")
    member(queue, "ann")

    assert queue.handle(TimerFired("sweep"), 10.0) == [offer("ann", cand("c1", 1.0)),
                                                      SetTimer("sweep", 10.0 + SETTINGS.sweep_interval_s)]


def test_a_sweep_command_places_waiting_visitors() -> None:
    queue = waiting(new_queue(), "c1")
    member(queue, "ann")

    assert queue.handle(Sweep(), 10.0) == [offer("ann", cand("c1", 1.0))]


# --- the waiting list -----------------------------------------------------------------------------------


def test_a_full_queue_refuses_a_new_visitor() -> None:
    queue = waiting(new_queue(max_queue=1), "c1")

    effects = queue.handle(enqueue("c2", 5.0), 5.0)

    assert effects == [SendTo(Address.conversation("c2"), EnqueueRefused("sales", errors.QUEUE_FULL, "queue sales is full"))]
    assert queue.waiting() == ["c1"]


def test_a_visitor_sent_back_to_the_front_is_let_in_even_when_the_queue_is_full() -> None:
    queue = waiting(new_queue(max_queue=1), "c1")

    effects = queue.handle(enqueue("c0", 0.5, front=True), 5.0)

    assert effects == [told("c0", 1), told("c1", 2)]
    assert queue.waiting() == ["c0", "c1"]


def test_a_visitor_already_waiting_cannot_ask_again() -> None:
    queue = waiting(new_queue(), "c1")
    before = queue.snapshot()

    effects = queue.handle(enqueue("c1", 5.0), 5.0)

    assert [type(e.message) for e in effects if isinstance(e, SendTo)] == [EnqueueRefused]
    assert effects[0] == SendTo(Address.conversation("c1"), EnqueueRefused("sales", errors.ALREADY_REQUESTED,
                                                                           "already waiting in this queue"))
    assert queue.snapshot() == before


def test_positions_follow_priority_then_request_time() -> None:
    queue = new_queue()

    first = queue.handle(enqueue("c1", 1.0), 1.0)
    second = queue.handle(enqueue("c2", 2.0), 2.0)
    urgent = queue.handle(enqueue("c3", 3.0, priority=5), 3.0)

    assert (first, second) == ([told("c1", 1)], [told("c2", 2)])
    assert urgent == [told("c3", 1), told("c1", 2), told("c2", 3)]
    assert queue.waiting() == ["c3", "c1", "c2"]
    assert [queue.position(c) for c in ("c1", "c2", "c3", "c9")] == [2, 3, 1, None]


def test_a_leaving_visitor_moves_only_those_behind_up() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")

    assert queue.handle(Dequeue("c2"), 10.0) == [told("c3", 2)]
    assert queue.waiting() == ["c1", "c3"]


def test_dequeuing_a_visitor_who_is_not_waiting_changes_nothing() -> None:
    queue = waiting(new_queue(), "c1")
    before = queue.snapshot()

    assert queue.handle(Dequeue("c9"), 10.0) == []
    assert queue.snapshot() == before


def test_a_visitor_who_is_offered_keeps_counting_in_the_positions_of_those_behind() -> None:
    queue = member(new_queue(), "ann", saturation=1)
    queue.handle(enqueue("c1", 1.0), 1.0)

    assert queue.handle(enqueue("c2", 2.0), 2.0) == [told("c2", 2)]


def test_the_estimated_wait_follows_the_recent_assignment_rate() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")
    member(queue, "ann", active=1, saturation=1)

    first = queue.handle(InviteTake("c1", "ann"), 20.0)
    second = queue.handle(InviteTake("c2", "ann"), 30.0)

    assert first[1:] == [told("c2", 1), told("c3", 2)]  # one assignment: no rate yet
    assert second[1:] == [told("c3", 1, eta=10.0)]  # one assignment per 10 s


# --- the pull protocol ------------------------------------------------------------------------------------


def test_a_pull_reserves_the_best_open_visitors_for_that_agent() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")

    ann = queue.handle(Pull(status("ann"), 2), 10.0)
    bob = queue.handle(Pull(status("bob"), 5), 11.0)

    assert ann == [offer("ann", cand("c1", 1.0), cand("c2", 2.0), solicited=True)]
    assert bob == [offer("bob", cand("c3", 3.0), solicited=True)]


def test_a_pull_with_nobody_waiting_is_answered_with_no_candidates() -> None:
    assert new_queue().handle(Pull(status("ann"), 2), 10.0) == [offer("ann", solicited=True)]


def test_taken_visitors_leave_the_queue_and_those_behind_are_told_their_new_place() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")
    queue.handle(Pull(status("ann"), 2), 10.0)

    effects = queue.handle(PullResult(status("ann", active=2, idle=11.0), ("c1", "c2"), ()), 11.0)

    assert effects[-1] == told("c3", 1)
    assert set(effects) <= {told("c3", 1), told("c3", 2)}
    assert queue.waiting() == ["c3"]


def test_a_visitor_given_back_is_offered_to_the_next_best_agent() -> None:
    queue = member(new_queue(), "ann", saturation=1, idle=1.0)
    queue.handle(enqueue("c1", 5.0), 5.0)  # offered to ann
    member(queue, "bob", saturation=1, idle=2.0)

    effects = queue.handle(PullResult(status("ann", active=1, saturation=1), (), ("c1",)), 6.0)

    assert effects == [offer("bob", cand("c1", 5.0))]


def test_a_visitor_given_back_with_nobody_free_is_told_their_position() -> None:
    queue = member(new_queue(), "ann", saturation=1)
    queue.handle(enqueue("c1", 5.0), 5.0)

    effects = queue.handle(PullResult(status("ann", active=1, saturation=1), (), ("c1",)), 6.0)

    assert effects == [told("c1", 1)]
    assert queue.snapshot()["members"]["ann"] == {"presence": "online", "active": 1, "saturation": 1, "reserved": 0}


def test_an_answer_about_a_visitor_reserved_for_someone_else_is_ignored() -> None:
    queue = member(new_queue(), "ann", saturation=1)
    queue.handle(enqueue("c1", 5.0), 5.0)  # reserved for ann

    queue.handle(PullResult(status("bob", active=1), ("c1",), ()), 6.0)

    assert queue.waiting() == ["c1"]
    assert queue.snapshot()["waiting"][0]["reserved_by"] == "ann"


# --- invites ----------------------------------------------------------------------------------------------------


def test_an_invite_grants_the_visitor_to_a_member_even_when_full_and_moves_the_others_up() -> None:
    queue = waiting(new_queue(), "c1", "c2")
    member(queue, "ann", active=1, saturation=1)

    effects = queue.handle(InviteTake("c1", "ann"), 30.0)

    assert effects == [SendTo(Address.agent("ann"), InviteGranted("c1", "v-c1", "sales")), told("c2", 1)]
    assert queue.waiting() == ["c2"]


@pytest.mark.parametrize(("agent", "conversation", "code"), [
    ("bob", "c1", errors.NOT_IN_GROUP),
    ("otto", "c1", errors.AGENT_OFFLINE),
    ("ann", "c9", errors.NOT_QUEUED),
])
def test_an_invite_that_cannot_be_granted_is_refused_and_changes_nothing(agent: str, conversation: str, code: str) -> None:
    queue = waiting(new_queue(), "c1")
    member(queue, "ann", active=1, saturation=1)
    member(queue, "otto", presence="offline")
    before = queue.snapshot()

    assert codes(queue.handle(InviteTake(conversation, agent), 30.0)) == [code]
    assert queue.snapshot() == before


# --- holds: designated and last agent first ---------------------------------------------------------------------


def test_a_designated_visitor_waits_for_their_agent_while_those_behind_are_served() -> None:
    queue = new_queue("designated")
    member(queue, "ann", saturation=1)
    member(queue, "bob", active=1, saturation=1)

    held = queue.handle(enqueue("c1", 1.0, designated="bob"), 1.0)
    other = queue.handle(enqueue("c2", 2.0), 2.0)
    bob_free = queue.handle(Pull(status("bob", saturation=1), 1), 3.0)

    assert held == [told("c1", 1)]
    assert other == [offer("ann", cand("c2", 2.0))]
    assert bob_free == [offer("bob", cand("c1", 1.0), solicited=True)]


def test_designating_an_agent_outside_the_group_is_refused() -> None:
    queue = member(new_queue("designated"), "ann")

    effects = queue.handle(enqueue("c1", 1.0, designated="zed"), 1.0)

    assert [(type(e.message), e.message.code) for e in effects if isinstance(e, SendTo)] == [  # type: ignore[union-attr]
        (EnqueueRefused, errors.NOT_IN_GROUP)]
    assert queue.waiting() == []


def test_a_balanced_group_ignores_a_designated_agent() -> None:
    queue = new_queue()
    member(queue, "ann", idle=1.0)
    member(queue, "bob", idle=2.0)

    assert queue.handle(enqueue("c1", 5.0, designated="bob"), 5.0) == [offer("ann", cand("c1", 5.0))]


def test_a_member_leaving_releases_the_visitors_held_for_them() -> None:
    queue = new_queue("designated")
    member(queue, "ann", saturation=1)
    member(queue, "bob", active=1, saturation=1)
    queue.handle(enqueue("c1", 1.0, designated="bob"), 1.0)

    assert queue.handle(MemberLeft("bob"), 5.0) == [offer("ann", cand("c1", 1.0))]
    assert "bob" not in queue.snapshot()["members"]


def test_a_returning_visitor_is_held_for_their_last_agent_then_served_by_anyone() -> None:
    queue = new_queue("last_agent_first")
    member(queue, "ann", active=1, saturation=1)
    member(queue, "bob", saturation=1)

    held = queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0)
    released = queue.handle(TimerFired("hold:c1"), 40.0)

    assert held == [SetTimer("hold:c1", 10.0 + SETTINGS.last_agent_wait_s), told("c1", 1)]
    assert released == [offer("bob", cand("c1", 10.0))]


def test_a_group_can_shorten_how_long_a_visitor_waits_for_their_last_agent() -> None:
    queue = new_queue("last_agent_first", last_agent_wait_s=5)
    member(queue, "ann", active=1, saturation=1)

    assert queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0)[0] == SetTimer("hold:c1", 15.0)


def test_a_returning_visitor_whose_last_agent_is_offline_is_not_held() -> None:
    queue = new_queue("last_agent_first")
    member(queue, "ann", presence="offline")
    member(queue, "bob")

    assert queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0) == [offer("bob", cand("c1", 10.0))]


def test_a_visitor_reassigned_for_no_reply_avoids_the_silent_agent_for_a_while() -> None:
    queue = new_queue(settings=DispatchSettings(no_reply_reassign_s=30))
    member(queue, "ann")

    avoided = queue.handle(enqueue("c1", 1.0, front=True, avoid="ann"), 50.0)
    later = queue.handle(TimerFired("avoid:c1"), 80.0)

    assert avoided == [SetTimer("avoid:c1", 80.0), told("c1", 1)]
    assert later == [offer("ann", cand("c1", 1.0, tier=0))]


def test_an_avoiding_visitor_goes_to_another_free_agent_at_once() -> None:
    queue = new_queue(settings=DispatchSettings(no_reply_reassign_s=30))
    member(queue, "ann", idle=1.0)
    member(queue, "bob", active=1, idle=2.0)

    avoided = queue.handle(enqueue("c1", 1.0, front=True, avoid="ann"), 50.0)

    assert avoided == [SetTimer("avoid:c1", 80.0), offer("bob", cand("c1", 1.0, tier=0))]


def test_a_timer_for_a_visitor_who_has_left_changes_nothing() -> None:
    queue = waiting(new_queue("last_agent_first"), "c1")
    queue.handle(Dequeue("c1"), 5.0)

    assert queue.handle(TimerFired("hold:c1"), 40.0) == []


def test_a_group_transfer_is_confirmed_to_the_conversation() -> None:
    queue = new_queue()

    effects = queue.handle(enqueue("c1", 1.0, front=True, confirm=True), 5.0)

    assert effects == [SendTo(Address.conversation("c1"), Enqueued("sales")), told("c1", 1)]


# --- reconfigured at run time -------------------------------------------------------------------------------------


def test_a_new_configuration_changes_policy_and_limits_and_everyone_keeps_their_place() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")

    effects = queue.handle(ConfigureGroup("last_agent_first", 10, 12.5), 5.0)

    assert effects == []
    assert (queue.policy, queue.max_queue, queue.last_agent_wait_s) == ("last_agent_first", 10, 12.5)
    assert queue.waiting() == ["c1", "c2", "c3"]


def test_a_configuration_without_a_last_agent_wait_takes_the_settings_default() -> None:
    queue = new_queue(last_agent_wait_s=5)

    queue.handle(ConfigureGroup("balanced", None, None), 5.0)

    assert queue.last_agent_wait_s == SETTINGS.last_agent_wait_s


@pytest.mark.parametrize("bad", BAD_CONFIGURATIONS, ids=repr)
def test_a_bad_configuration_is_refused_and_changes_nothing(bad: tuple[Any, Any, Any]) -> None:
    queue = waiting(new_queue(max_queue=5), "c1")
    before = queue.snapshot()

    assert codes(queue.handle(ConfigureGroup(*bad), 5.0)) == [errors.INVALID_ARGUMENT]
    assert queue.snapshot() == before


def test_a_shorter_max_queue_drops_nobody_and_refuses_only_new_visitors() -> None:
    queue = waiting(new_queue(), "c1", "c2", "c3")

    shrunk = queue.handle(ConfigureGroup("balanced", 2, None), 5.0)
    refused = queue.handle(enqueue("c4", 6.0), 6.0)

    assert shrunk == []
    assert refused == [SendTo(Address.conversation("c4"), EnqueueRefused("sales", errors.QUEUE_FULL, "queue sales is full"))]
    assert queue.waiting() == ["c1", "c2", "c3"]


def test_leaving_last_agent_first_releases_the_held_visitors_to_anyone_free_at_once() -> None:
    queue = new_queue("last_agent_first")
    member(queue, "ann", active=1, saturation=1)
    member(queue, "bob", saturation=1)
    queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0)

    effects = queue.handle(ConfigureGroup("balanced", None, None), 12.0)

    assert effects == [CancelTimer("hold:c1"), offer("bob", cand("c1", 10.0))]


def test_leaving_designated_releases_the_visitors_held_for_their_agent() -> None:
    queue = new_queue("designated")
    member(queue, "ann", saturation=1)
    member(queue, "bob", active=1, saturation=1)
    queue.handle(enqueue("c1", 1.0, designated="bob"), 1.0)

    effects = queue.handle(ConfigureGroup("last_agent_first", None, None), 5.0)

    assert effects == [offer("ann", cand("c1", 1.0))]


def test_keeping_the_policy_keeps_the_holds_and_their_timers() -> None:
    queue = new_queue("last_agent_first")
    member(queue, "ann", active=1, saturation=1)
    member(queue, "bob", saturation=1)
    queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0)

    effects = queue.handle(ConfigureGroup("last_agent_first", 3, 5.0), 12.0)

    assert effects == []
    assert [w["hold"] for w in queue.snapshot()["waiting"]] == ["ann"]


def test_a_new_last_agent_wait_holds_visitors_who_arrive_afterwards_that_long() -> None:
    queue = new_queue("last_agent_first")
    member(queue, "ann", active=1, saturation=1)

    queue.handle(ConfigureGroup("last_agent_first", None, 5.0), 1.0)

    assert queue.handle(enqueue("c1", 10.0, last_agent="ann"), 10.0) == [SetTimer("hold:c1", 15.0), told("c1", 1)]


# --- retired (the group is deleted) and revived ----------------------------------------------------------------------


def test_a_group_with_a_visitor_waiting_cannot_be_retired() -> None:
    queue = waiting(new_queue(), "c1")
    before = queue.snapshot()

    assert codes(queue.handle(RetireGroup(), 5.0)) == [errors.GROUP_NOT_EMPTY]
    assert queue.snapshot() == before


def test_an_empty_group_retires_and_stops_its_sweep() -> None:
    queue = member(new_queue(), "ann")

    assert queue.handle(RetireGroup(), 5.0) == [CancelTimer("sweep")]
    assert queue.snapshot()["retired"] is True
    assert queue.handle(RetireGroup(), 6.0) == []
    assert queue.handle(TimerFired("sweep"), 10.0) == []


@pytest.mark.parametrize("front", [False, True])
def test_a_retired_group_refuses_every_visitor(front: bool) -> None:
    queue = new_queue()
    queue.handle(RetireGroup(), 5.0)

    effects = queue.handle(enqueue("c1", 1.0, front=front, confirm=True), 6.0)

    assert effects == [SendTo(Address.conversation("c1"),
                              EnqueueRefused("sales", errors.GROUP_RETIRED, "group sales has been deleted"))]
    assert queue.waiting() == []


def test_a_retired_group_answers_a_members_pull_with_nobody_so_their_round_ends() -> None:
    queue = member(new_queue(), "ann")
    queue.handle(RetireGroup(), 5.0)

    assert queue.handle(status("ann", active=1), 6.0) == []
    assert queue.handle(Pull(status("ann"), 2), 7.0) == [offer("ann", solicited=True)]
    assert queue.handle(PullResult(status("ann"), (), ()), 7.0) == []


def test_a_member_may_leave_a_retired_group() -> None:
    queue = member(new_queue(), "ann")
    queue.handle(RetireGroup(), 5.0)

    assert queue.handle(MemberLeft("ann"), 6.0) == []
    assert queue.snapshot()["members"] == {}


def test_a_retired_group_cannot_be_configured() -> None:
    queue = new_queue()
    queue.handle(RetireGroup(), 5.0)

    assert codes(queue.handle(ConfigureGroup("designated", None, None), 6.0)) == [errors.GROUP_RETIRED]
    assert queue.policy == "balanced"


def test_creating_a_retired_group_revives_it_with_the_new_configuration() -> None:
    queue = member(new_queue(), "ann", active=2)
    queue.handle(RetireGroup(), 5.0)

    revived = queue.handle(CreateGroup("designated", max_queue=3), 20.0)
    waiting_again = queue.handle(enqueue("c1", 21.0), 21.0)

    assert revived == [SetTimer("sweep", 20.0 + SETTINGS.sweep_interval_s)]
    assert (queue.policy, queue.max_queue, queue.snapshot()["retired"]) == ("designated", 3, False)
    assert waiting_again == [told("c1", 1)]
    assert codes(queue.handle(CreateGroup(), 22.0)) == [errors.ALREADY_EXISTS]


def test_reviving_a_group_with_a_bad_configuration_is_refused_and_it_stays_retired() -> None:
    queue = new_queue()
    queue.handle(RetireGroup(), 5.0)

    assert codes(queue.handle(CreateGroup("random"), 6.0)) == [errors.INVALID_ARGUMENT]
    assert queue.snapshot()["retired"] is True
