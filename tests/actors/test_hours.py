"""Service hours in the engine (docs/hours.md, "What the hours change"): the queue and the conversation alone,
one message and an explicit time in, a list of effects out.

The desk of these tests opens Monday to Friday 09:00-18:00, Paris time; 30 March 2026 is a Monday (summer time,
UTC+2). Times are written as Paris wall-clock times and turned into the engine's UTC epoch seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.conversation import Conversation, Phase
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import OutsideHours, QueuePosition, Requeued
from switchboard.actors.messages import (
    AgentStatus, Assign, Candidate, Candidates, ConfigureGroup, CreateGroup, Enqueue, EnqueueRefused, HoursClosed,
    OpenConversation, Pull, PullResult, Requeue, RequestHuman, RetireGroup, TimerFired, TransferToGroup,
)
from switchboard.actors.queue import SkillQueue, group_status
from switchboard.actors.schedule import parse_schedule
from switchboard.settings import DispatchSettings

SETTINGS = DispatchSettings(sweep_interval_s=0)  # the sweep's timer would only add noise to the effect lists
PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
OFFICE: dict[str, Any] = {"timezone": "Europe/Paris",
                          "rules": [{"days": WEEKDAYS, "start": "09:00", "end": "18:00"}]}
CLOSED_DETAIL = "group sales is outside its service hours"


def paris(text: str) -> float:
    """A Paris wall-clock time as UTC epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


MON_0300, MON_0900, MON_1000 = paris("2026-03-30T03:00"), paris("2026-03-30T09:00"), paris("2026-03-30T10:00")
MON_1759, MON_1800, MON_1830 = paris("2026-03-30T17:59"), paris("2026-03-30T18:00"), paris("2026-03-30T18:30")
TUE_0900, TUE_1800 = paris("2026-03-31T09:00"), paris("2026-03-31T18:00")


def office(at_closing: str = "serve", schedule: dict[str, Any] | None = None, now: float = MON_1000) -> SkillQueue:
    return SkillQueue("sales", CreateGroup(schedule=schedule or OFFICE, at_closing=at_closing), now, SETTINGS)


def status(agent: str, active: int = 0, saturation: int = 2) -> AgentStatus:
    return AgentStatus(agent, "online", active, saturation, 0.0)


def enqueue(conversation: str, at: float, **kw: Any) -> Enqueue:
    return Enqueue(conversation, f"v-{conversation}", 0, at, **kw)


def to(conversation: str, message: Any) -> SendTo:
    return SendTo(Address.conversation(conversation), message)


def told(conversation: str, position: int) -> Deliver:
    return Deliver(UserRef.visitor(f"v-{conversation}"), QueuePosition(conversation, "sales", position, None))


def refused_closed(conversation: str, next_opening: float | None) -> SendTo:
    return to(conversation, EnqueueRefused("sales", errors.OUTSIDE_HOURS, CLOSED_DETAIL, next_opening))


def codes(effects: list[Effect]) -> list[str]:
    return [e.code for e in effects if isinstance(e, Rejected)]


# --- a request outside the hours -------------------------------------------------------------------------------


def test_a_request_at_three_in_the_morning_is_refused_with_the_next_opening_and_nobody_waits() -> None:
    queue = office()

    effects = queue.handle(enqueue("c1", MON_0300), MON_0300)

    assert effects == [refused_closed("c1", MON_0900)]
    assert queue.waiting() == []


def test_the_opening_instant_is_open_and_the_closing_instant_is_closed() -> None:
    queue = office()

    assert queue.handle(enqueue("c1", MON_0900), MON_0900) == [told("c1", 1)]
    assert queue.handle(enqueue("c2", MON_1759), MON_1759) == [told("c2", 2)]
    assert queue.handle(enqueue("c3", MON_1800), MON_1800) == [refused_closed("c3", TUE_0900)]


def test_on_friday_evening_the_next_opening_is_monday_morning() -> None:
    queue = office()
    friday = paris("2026-04-03T18:30")

    assert queue.handle(enqueue("c1", friday), friday) == [refused_closed("c1", paris("2026-04-06T09:00"))]


def test_a_schedule_that_never_opens_refuses_every_request_with_no_next_opening() -> None:
    queue = office(schedule={"timezone": "Europe/Paris", "rules": [{"date": "2026-03-30", "closed": True}]})

    assert queue.handle(enqueue("c1", MON_1000), MON_1000) == [refused_closed("c1", None)]


def test_a_group_without_a_schedule_is_always_open() -> None:
    queue = SkillQueue("sales", CreateGroup(), MON_0300, SETTINGS)

    assert queue.handle(enqueue("c1", MON_0300), MON_0300) == [told("c1", 1)]
    assert (queue.is_open(MON_0300), queue.next_opening(MON_0300)) == (True, MON_0300)


@pytest.mark.parametrize("at_closing", ["serve", "offer_message"])
def test_a_transfer_or_a_move_to_a_closed_group_is_refused_whatever_its_closing_setting(at_closing: str) -> None:
    queue = office(at_closing)

    transfer = queue.handle(enqueue("c1", MON_1000, front=True, confirm=True), MON_1830)
    move = queue.handle(enqueue("c2", MON_1000, confirm=True), MON_1830)

    assert transfer == [refused_closed("c1", TUE_0900)]
    assert move == [refused_closed("c2", TUE_0900)]


def test_a_returning_visitor_is_served_after_hours_when_the_group_serves_those_waiting_at_closing() -> None:
    queue = office("serve")
    queue.handle(status("ann"), MON_1000)

    effects = queue.handle(enqueue("c1", MON_1000, front=True, returning=True), MON_1830)

    assert effects == [SendTo(Address.agent("ann"), Candidates("sales", (
        Candidate("c1", "v-c1", "sales", 0, MON_1000, 0),), solicited=False))]


def test_a_returning_visitor_is_turned_away_after_hours_when_the_group_offers_a_message() -> None:
    queue = office("offer_message")

    effects = queue.handle(enqueue("c1", MON_1000, front=True, returning=True), MON_1830)

    assert effects == [refused_closed("c1", TUE_0900)]


def test_a_full_queue_outside_the_hours_says_it_is_closed() -> None:
    queue = SkillQueue("sales", CreateGroup(max_queue=1, schedule=OFFICE), MON_1000, SETTINGS)
    queue.handle(enqueue("c1", MON_1000), MON_1000)

    assert queue.handle(enqueue("c2", MON_1830), MON_1830) == [refused_closed("c2", TUE_0900)]


# --- closing time -----------------------------------------------------------------------------------------------


def test_a_group_that_serves_those_waiting_at_closing_sets_no_closing_timer() -> None:
    assert office("serve").created(MON_1000) == []


def test_a_group_that_offers_a_message_at_closing_sets_a_timer_for_the_end_of_the_opening() -> None:
    assert office("offer_message").created(MON_1000) == [SetTimer("closing", MON_1800)]


def test_created_while_closed_it_sets_the_timer_for_the_end_of_the_next_opening() -> None:
    queue = office("offer_message", now=MON_0300)

    assert queue.created(MON_0300) == [SetTimer("closing", MON_1800)]


def test_a_desk_open_around_the_clock_never_closes() -> None:
    every_day = WEEKDAYS + ["sat", "sun"]
    always = {"timezone": "Europe/Paris", "rules": [{"days": every_day, "start": "00:00", "end": "24:00"}]}

    assert office("offer_message", schedule=always).created(MON_1000) == []


def test_at_closing_time_every_waiting_visitor_leaves_in_serving_order_and_the_next_closing_is_set() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)
    for i, c in enumerate(["c1", "c2", "c3"]):
        queue.handle(enqueue(c, MON_1000 + i), MON_1000 + i)

    effects = queue.handle(TimerFired("closing"), MON_1800)

    assert effects == [to("c1", HoursClosed("sales", TUE_0900)), to("c2", HoursClosed("sales", TUE_0900)),
                       to("c3", HoursClosed("sales", TUE_0900)), SetTimer("closing", TUE_1800)]
    assert queue.waiting() == []


def test_a_visitor_offered_to_an_agent_at_closing_time_stays_for_that_agent_to_take() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)
    queue.handle(enqueue("c1", MON_1000), MON_1000)
    queue.handle(enqueue("c2", MON_1000 + 1), MON_1000 + 1)
    queue.handle(Pull(status("ann", saturation=1), 1), MON_1759)  # c1 is reserved for ann

    closing = queue.handle(TimerFired("closing"), MON_1800)
    taken = queue.handle(PullResult(status("ann", active=1, saturation=1), ("c1",), ()), MON_1800)

    assert closing == [to("c2", HoursClosed("sales", TUE_0900)), SetTimer("closing", TUE_1800)]
    assert taken == []
    assert queue.waiting() == []


def test_a_visitor_an_agent_gives_back_after_closing_time_leaves_the_queue_too() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)
    queue.handle(enqueue("c1", MON_1000), MON_1000)
    queue.handle(Pull(status("ann", saturation=1), 1), MON_1759)
    queue.handle(TimerFired("closing"), MON_1800)

    effects = queue.handle(PullResult(status("ann", saturation=1), (), ("c1",)), MON_1800 + 1)

    assert effects == [to("c1", HoursClosed("sales", TUE_0900))]
    assert queue.waiting() == []


def test_a_group_that_serves_those_waiting_keeps_them_after_closing_and_offers_them_to_a_free_agent() -> None:
    queue = office("serve")
    queue.handle(enqueue("c1", MON_1000), MON_1000)

    effects = queue.handle(status("ann"), MON_1830)
    pulled = queue.handle(Pull(status("ann"), 1), MON_1830)

    assert effects == []
    assert pulled == [SendTo(Address.agent("ann"), Candidates("sales", (
        Candidate("c1", "v-c1", "sales", 0, MON_1000, 1),), solicited=True))]


def test_a_closing_timer_that_fires_early_only_sets_itself_again() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)
    queue.handle(enqueue("c1", MON_1000), MON_1000)

    assert queue.handle(TimerFired("closing"), MON_1759) == [SetTimer("closing", MON_1800)]
    assert queue.waiting() == ["c1"]


# --- configured at run time ---------------------------------------------------------------------------------------


def test_new_hours_move_the_closing_timer() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)
    shorter = {"timezone": "Europe/Paris", "rules": [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}]}

    effects = queue.handle(ConfigureGroup("balanced", None, None, shorter, "offer_message"), MON_1000)

    assert effects == [SetTimer("closing", paris("2026-03-30T17:00"))]


def test_the_same_hours_again_change_no_timer() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)

    assert queue.handle(ConfigureGroup("balanced", 5, None, OFFICE, "offer_message"), MON_1000) == []


@pytest.mark.parametrize("change", [
    ConfigureGroup("balanced", None, None, OFFICE, "serve"),
    ConfigureGroup("balanced", None, None),
], ids=["serve", "no schedule"])
def test_serving_those_waiting_or_dropping_the_hours_cancels_the_closing_timer(change: ConfigureGroup) -> None:
    queue = office("offer_message")
    queue.created(MON_1000)

    assert queue.handle(change, MON_1000) == [CancelTimer("closing")]


def test_dropping_the_hours_opens_the_group_at_once() -> None:
    queue = office("serve")

    queue.handle(ConfigureGroup("balanced", None, None), MON_1830)

    assert queue.handle(enqueue("c1", MON_1830), MON_1830) == [told("c1", 1)]


def test_offering_a_message_at_closing_while_closed_turns_away_the_visitors_still_waiting_at_once() -> None:
    queue = office("serve")
    queue.handle(enqueue("c1", MON_1000), MON_1000)

    effects = queue.handle(ConfigureGroup("balanced", None, None, OFFICE, "offer_message"), MON_1830)

    assert effects == [SetTimer("closing", TUE_1800), to("c1", HoursClosed("sales", TUE_0900))]
    assert queue.waiting() == []


BAD_HOURS = [  # (schedule, at_closing, code)
    ({"timezone": "Europe/Nowhere", "rules": []}, "serve", errors.INVALID_SCHEDULE),
    ({"timezone": "Europe/Paris", "rules": [{"days": ["mon"], "start": "9:00", "end": "18:00"}]}, "serve",
     errors.INVALID_SCHEDULE),
    ({"timezone": "Europe/Paris", "rules": [{"days": ["mon"], "start": "09:00", "end": "18:00"}] * 11}, "serve",
     errors.INVALID_SCHEDULE),
    ("09:00-18:00", "serve", errors.INVALID_SCHEDULE),
    ({1: 2, "timezone": "UTC"}, "serve", errors.INVALID_SCHEDULE),  # keys no JSON has: still a refusal, no crash
    (OFFICE, "close", errors.INVALID_ARGUMENT),
    (OFFICE, None, errors.INVALID_ARGUMENT),
]


@pytest.mark.parametrize(("schedule", "at_closing", "code"), BAD_HOURS, ids=repr)
def test_bad_hours_are_refused_at_creation(schedule: Any, at_closing: Any, code: str) -> None:
    refusal = SkillQueue.validate_creation(CreateGroup(schedule=schedule, at_closing=at_closing))

    assert refusal is not None and refusal.code == code


@pytest.mark.parametrize(("schedule", "at_closing", "code"), BAD_HOURS, ids=repr)
def test_bad_hours_are_refused_at_run_time_and_change_nothing(schedule: Any, at_closing: Any, code: str) -> None:
    queue = office("offer_message")
    queue.handle(enqueue("c1", MON_1000), MON_1000)
    before = queue.snapshot(MON_1000)

    assert codes(queue.handle(ConfigureGroup("balanced", None, None, schedule, at_closing), MON_1000)) == [code]
    assert queue.snapshot(MON_1000) == before


def test_a_retired_group_stops_its_closing_timer_and_a_revived_one_sets_it_again() -> None:
    queue = office("offer_message")
    queue.created(MON_1000)

    retired = queue.handle(RetireGroup(), MON_1000)
    revived = queue.handle(CreateGroup(schedule=OFFICE, at_closing="offer_message"), MON_1830)

    assert retired == [CancelTimer("sweep"), CancelTimer("closing")]
    assert revived == [SetTimer("closing", TUE_1800)]


# --- what the edges read -----------------------------------------------------------------------------------------


def test_the_snapshot_says_whether_the_group_is_open_and_when_it_opens_next() -> None:
    queue = office("offer_message")
    queue.handle(status("ann"), MON_1000)

    open_, closed = queue.snapshot(MON_1000), queue.snapshot(MON_1830)

    assert {k: open_[k] for k in ("open", "next_opening", "status", "at_closing")} == {
        "open": True, "next_opening": MON_1000, "status": "open", "at_closing": "offer_message"}
    assert {k: closed[k] for k in ("open", "next_opening", "status")} == {
        "open": False, "next_opening": TUE_0900, "status": "closed"}
    assert parse_schedule(closed["schedule"]) == parse_schedule(OFFICE)


@pytest.mark.parametrize(("schedule", "at", "online", "expected"), [
    (None, MON_0300, 1, "open"),
    (None, MON_0300, 0, "open_no_agents"),
    (OFFICE, MON_1000, 3, "open"),
    (OFFICE, MON_1000, 0, "open_no_agents"),
    (OFFICE, MON_1800, 3, "closed"),
    (OFFICE, MON_0300, 0, "closed"),
])
def test_group_status_is_closed_outside_the_hours_and_says_whether_anyone_is_online_inside(
        schedule: dict[str, Any] | None, at: float, online: int, expected: str) -> None:
    assert group_status(None if schedule is None else parse_schedule(schedule), at, online) == expected


# --- the conversation's side ---------------------------------------------------------------------------------------


def dispatch(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if not isinstance(e, Record)]


def conversation(phase: Phase) -> Conversation:
    """c1 of visitor v1: asked for sales at 10:00 (and, assigned, served by ann from 10:01)."""
    conv = Conversation("c1", OpenConversation("v1"), MON_0900, SETTINGS)
    conv.handle(RequestHuman("sales"), MON_1000)
    if phase is Phase.ASSIGNED:
        conv.handle(Assign("ann", "auto"), MON_1000 + 60)
    assert conv.phase is phase
    return conv


def test_a_refused_request_leaves_the_visitor_with_the_bot_told_when_the_group_opens() -> None:
    conv = conversation(Phase.QUEUED)

    effects = dispatch(conv.handle(EnqueueRefused("sales", errors.OUTSIDE_HOURS, CLOSED_DETAIL, TUE_0900), MON_1000))

    assert effects == [CancelTimer("wait"), Deliver(UserRef.visitor("v1"), OutsideHours("c1", "sales", TUE_0900))]
    assert (conv.phase, conv.group, conv.queued_at) == (Phase.BOT, None, None)


def test_a_visitor_turned_away_at_closing_goes_back_to_the_bot_and_may_ask_again_later() -> None:
    conv = conversation(Phase.QUEUED)

    closed = dispatch(conv.handle(HoursClosed("sales", TUE_0900), MON_1800))
    again = dispatch(conv.handle(RequestHuman("sales"), TUE_0900))

    assert closed == [CancelTimer("wait"),
                      Deliver(UserRef.visitor("v1"), OutsideHours("c1", "sales", TUE_0900, "closing"))]
    assert again[0] == SendTo(Address.queue("sales"), Enqueue("c1", "v1", 0, TUE_0900))


def test_a_visitor_whose_agent_left_after_hours_is_told_the_group_closed_if_it_turns_them_away() -> None:
    conv = conversation(Phase.ASSIGNED)
    requeue = dispatch(conv.handle(Requeue("ann"), MON_1830))

    refused = dispatch(conv.handle(EnqueueRefused("sales", errors.OUTSIDE_HOURS, CLOSED_DETAIL, TUE_0900), MON_1830))

    assert SendTo(Address.queue("sales"), Enqueue("c1", "v1", 0, MON_1000, front=True, returning=True)) in requeue
    assert Deliver(UserRef.visitor("v1"), Requeued("c1", "sales")) in requeue
    assert refused == [CancelTimer("wait"),
                       Deliver(UserRef.visitor("v1"), OutsideHours("c1", "sales", TUE_0900, "closing"))]
    assert conv.phase is Phase.BOT


def test_a_transfer_to_a_closed_group_is_refused_to_the_agent_who_keeps_the_conversation() -> None:
    conv = conversation(Phase.ASSIGNED)
    conv.handle(TransferToGroup("night"), MON_1000 + 120)

    effects = dispatch(conv.handle(EnqueueRefused("night", errors.OUTSIDE_HOURS, "group night is outside its service "
                                                  "hours", MON_1800), MON_1000 + 120))

    assert codes(effects) == [errors.OUTSIDE_HOURS]
    assert (conv.phase, conv.agent, conv.group) == (Phase.ASSIGNED, "ann", "sales")
