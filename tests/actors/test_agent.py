"""The Agent entity alone: one message and an explicit time in, a list of effects out."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.agent import Agent
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import PresenceChanged, TransferRequested, TransferWithdrawn
from switchboard.actors.messages import (
    AgentStatus, AnswerTransfer, Assign, Candidate, Candidates, CreateAgent, InviteGranted, JoinGroup,
    LeaveGroup, MemberLeft, Pull, PullResult, Release, Requeue, SetPresence, SetSaturation, SignOut, Sweep,
    TimerFired, TransferAccepted, TransferOffer, TransferRefused, Undeliverable,
)
from switchboard.settings import DispatchSettings

SETTINGS = DispatchSettings()
SALES, SUPPORT = Address.queue("sales"), Address.queue("support")
ANN = UserRef.agent("ann")
BAD_SATURATIONS = [0, -1, "5", True, 2.5]


def presence(old: str, new: str, at: float) -> Record:
    """The archive record of ann's presence change."""
    return Record(PresenceChanged("ann", old, new, at))


def new_agent(saturation: int = 2, groups: tuple[str, ...] = ("sales",), online_at: float | None = 0.0) -> Agent:
    """An agent named ann; if `online_at` is given, online then, with its first round answered empty."""
    agent = Agent("ann", CreateAgent(saturation, groups), 0.0, SETTINGS)
    if online_at is not None:
        agent.handle(SetPresence("online"), online_at)
        for group in groups:
            agent.handle(Candidates(group, (), solicited=True), online_at)
    return agent


def candidate(conversation: str, group: str = "sales", *, priority: int = 0, queued_at: float = 0.0,
              tier: int = 1) -> Candidate:
    return Candidate(conversation, f"v-{conversation}", group, priority, queued_at, tier)


def status(presence: str = "online", active: int = 0, saturation: int = 2, idle: float | None = 0.0) -> AgentStatus:
    return AgentStatus("ann", presence, active, saturation, idle)


def conv(conversation: str) -> Address:
    return Address.conversation(conversation)


def serving(agent: Agent, *conversations: str, at: float = 1.0) -> Agent:
    """Give `agent` these conversations by invite (which ignores saturation)."""
    for c in conversations:
        agent.handle(InviteGranted(c, f"v-{c}", "sales"), at)
    return agent


def codes(effects: list[Effect]) -> list[str]:
    return [e.code for e in effects if isinstance(e, Rejected)]


# --- creation and presence ------------------------------------------------------------------


def test_a_new_agent_tells_each_of_its_groups_that_it_exists_and_is_offline() -> None:
    agent = Agent("ann", CreateAgent(2, ("sales", "support", "sales")), 5.0, SETTINGS)

    assert agent.groups == ["sales", "support"]
    assert agent.created(5.0) == [
        SendTo(SALES, AgentStatus("ann", "offline", 0, 2, None)),
        SendTo(SUPPORT, AgentStatus("ann", "offline", 0, 2, None)),
    ]


def test_coming_online_announces_the_agent_and_pulls_from_every_group() -> None:
    agent = new_agent(groups=("sales", "support"), online_at=None)

    online = status(idle=10.0)
    assert agent.handle(SetPresence("online"), 10.0) == [
        presence("offline", "online", 10.0),
        CancelTimer("offline_grace"),
        SendTo(SALES, online), SendTo(SUPPORT, online),
        SendTo(SALES, Pull(online, 2)), SendTo(SUPPORT, Pull(online, 2)),
    ]


def test_an_agent_in_no_group_comes_online_without_pulling() -> None:
    agent = new_agent(groups=(), online_at=None)

    assert agent.handle(SetPresence("online"), 10.0) == [presence("offline", "online", 10.0),
                                                         CancelTimer("offline_grace")]


def test_setting_the_presence_the_agent_already_has_changes_nothing() -> None:
    agent = new_agent()

    assert agent.handle(SetPresence("online"), 5.0) == []


@pytest.mark.parametrize("bad", ["busy", "ONLINE", "", None, 1])
def test_an_unknown_presence_is_refused_and_changes_nothing(bad: Any) -> None:
    agent = new_agent()
    before = agent.snapshot(3.0)

    effects = agent.handle(SetPresence(bad), 3.0)

    assert codes(effects) == [errors.INVALID_PRESENCE] and len(effects) == 1
    assert agent.snapshot(3.0) == before


def test_online_time_counts_only_the_time_spent_online() -> None:
    agent = new_agent(online_at=10.0)
    agent.handle(SetPresence("away"), 25.0)
    agent.handle(SetPresence("online"), 40.0)

    assert agent.online_time(50.0) == 25.0


# --- saturation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_SATURATIONS)
def test_a_saturation_that_is_not_a_positive_integer_is_refused_and_changes_nothing(bad: Any) -> None:
    agent = new_agent()
    before = agent.snapshot(3.0)

    effects = agent.handle(SetSaturation(bad), 3.0)

    assert effects == [Rejected(errors.INVALID_SATURATION, f"saturation must be a positive integer, got {bad!r}")]
    assert agent.snapshot(3.0) == before


@pytest.mark.parametrize("bad", BAD_SATURATIONS)
def test_an_agent_cannot_be_created_with_a_bad_saturation(bad: Any) -> None:
    refusal = Agent.validate_creation(CreateAgent(bad, ("sales",)))

    assert refusal is not None and refusal.code == errors.INVALID_SATURATION


def test_an_agent_cannot_be_created_with_groups_that_are_not_ids() -> None:
    refusal = Agent.validate_creation(CreateAgent(2, ("sales", 7)))  # type: ignore[arg-type]

    assert refusal is not None and refusal.code == errors.INVALID_ARGUMENT


def test_raising_saturation_pulls_for_the_new_slots() -> None:
    agent = serving(new_agent(saturation=1), "c1")

    raised = AgentStatus("ann", "online", 1, 3, 1.0)
    assert agent.handle(SetSaturation(3), 5.0) == [SendTo(SALES, raised), SendTo(SALES, Pull(raised, 2))]


def test_lowering_saturation_below_the_load_keeps_every_conversation() -> None:
    agent = serving(new_agent(saturation=3), "c1", "c2")

    assert agent.handle(SetSaturation(1), 5.0) == [SendTo(SALES, AgentStatus("ann", "online", 2, 1, 1.0))]
    assert agent.load == 2 and agent.free == 0


# --- taking visitors ---------------------------------------------------------------------------------


def test_an_offered_visitor_is_taken_when_a_slot_is_free() -> None:
    agent = new_agent(groups=("sales", "support"))

    effects = agent.handle(Candidates("sales", (candidate("c1"),), solicited=False), 20.0)

    after = status(active=1, idle=20.0)
    assert effects == [
        SendTo(conv("c1"), Assign("ann", "auto", "sales")),
        SendTo(SALES, PullResult(after, ("c1",), ())),
        SendTo(SUPPORT, after),
    ]
    assert agent.snapshot()["active"] == ["c1"]


def test_a_full_agent_gives_an_offered_visitor_back() -> None:
    agent = serving(new_agent(saturation=1), "c1")

    effects = agent.handle(Candidates("sales", (candidate("c2"),), solicited=False), 20.0)

    assert effects == [SendTo(SALES, PullResult(AgentStatus("ann", "online", 1, 1, 1.0), (), ("c2",)))]
    assert agent.load == 1


def test_an_away_agent_gives_an_offered_visitor_back() -> None:
    agent = new_agent()
    agent.handle(SetPresence("away"), 5.0)

    effects = agent.handle(Candidates("sales", (candidate("c1"),), solicited=False), 6.0)

    assert effects == [SendTo(SALES, PullResult(status("away"), (), ("c1",)))]
    assert agent.load == 0


def test_a_round_waits_for_every_group_then_takes_the_longest_waiter_across_groups() -> None:
    agent = new_agent(saturation=1, groups=("sales", "support"), online_at=None)
    agent.handle(SetPresence("online"), 0.0)

    first = agent.handle(Candidates("sales", (candidate("c-sales", queued_at=20.0),), solicited=True), 30.0)
    second = agent.handle(Candidates("support", (candidate("c-support", "support", queued_at=10.0),), solicited=True), 31.0)

    after = AgentStatus("ann", "online", 1, 1, 31.0)
    assert first == []
    assert second == [
        SendTo(conv("c-support"), Assign("ann", "auto", "support")),
        SendTo(SALES, PullResult(after, (), ("c-sales",))),
        SendTo(SUPPORT, PullResult(after, ("c-support",), ())),
    ]


@pytest.mark.parametrize(("winner", "loser"), [
    (candidate("front", tier=0, queued_at=50.0), candidate("old", queued_at=1.0)),
    (candidate("urgent", priority=5, queued_at=50.0), candidate("old", queued_at=1.0)),
    (candidate("old", queued_at=1.0), candidate("new", queued_at=2.0)),
], ids=["front_of_queue_before_older", "higher_priority_before_older", "older_before_newer"])
def test_an_agent_with_one_slot_takes_the_visitor_first_in_serving_order(winner: Candidate, loser: Candidate) -> None:
    agent = new_agent(saturation=1)

    effects = agent.handle(Candidates("sales", (loser, winner), solicited=False), 60.0)

    assert effects[0] == SendTo(conv(winner.conversation), Assign("ann", "auto", "sales"))
    assert effects[1] == SendTo(SALES, PullResult(AgentStatus("ann", "online", 1, 1, 60.0),
                                                  (winner.conversation,), (loser.conversation,)))


def test_an_offer_arriving_during_a_round_joins_the_round() -> None:
    agent = new_agent(saturation=2, online_at=None)
    agent.handle(SetPresence("online"), 0.0)

    unsolicited = agent.handle(Candidates("sales", (candidate("c1"),), solicited=False), 1.0)
    answer = agent.handle(Candidates("sales", (candidate("c2", queued_at=1.0),), solicited=True), 2.0)

    assert unsolicited == []
    assert answer == [
        SendTo(conv("c1"), Assign("ann", "auto", "sales")),
        SendTo(conv("c2"), Assign("ann", "auto", "sales")),
        SendTo(SALES, PullResult(AgentStatus("ann", "online", 2, 2, 2.0), ("c1", "c2"), ())),
    ]


def test_a_slot_freed_during_a_round_is_pulled_for_when_the_round_ends() -> None:
    agent = serving(new_agent(saturation=2), "c1")
    agent.handle(Release("c0", "closed"), 2.0)  # not ours: nothing happens
    agent.handle(SetSaturation(3), 3.0)  # starts a round for 2 free slots

    during = agent.handle(Release("c1", "closed"), 4.0)
    end = agent.handle(Candidates("sales", (), solicited=True), 5.0)

    assert during == [CancelTimer("offline_grace"), SendTo(SALES, AgentStatus("ann", "online", 0, 3, 1.0))]
    idle = AgentStatus("ann", "online", 0, 3, 1.0)
    assert end == [SendTo(SALES, PullResult(idle, (), ())), SendTo(SALES, Pull(idle, 3))]


def test_closing_a_conversation_frees_the_slot_and_pulls_again() -> None:
    agent = serving(new_agent(saturation=1), "c1")

    freed = AgentStatus("ann", "online", 0, 1, 1.0)
    assert agent.handle(Release("c1", "closed"), 9.0) == [
        CancelTimer("offline_grace"), SendTo(SALES, freed), SendTo(SALES, Pull(freed, 1)),
    ]


def test_a_release_for_a_conversation_the_agent_does_not_hold_changes_nothing() -> None:
    agent = serving(new_agent(), "c1")
    before = agent.snapshot(3.0)

    assert agent.handle(Release("c9", "void"), 3.0) == []
    assert agent.snapshot(3.0) == before


def test_an_invite_is_taken_even_beyond_saturation() -> None:
    agent = serving(new_agent(saturation=1), "c1")

    effects = agent.handle(InviteGranted("c2", "v-c2", "sales"), 30.0)

    assert effects == [SendTo(conv("c2"), Assign("ann", "invite", "sales")),
                       SendTo(SALES, AgentStatus("ann", "online", 2, 1, 30.0))]
    assert agent.load == 2


# --- offline grace -------------------------------------------------------------------------------------


def test_going_offline_with_conversations_arms_the_grace_timer() -> None:
    agent = serving(new_agent(), "c1")

    assert agent.handle(SetPresence("offline"), 40.0) == [
        presence("online", "offline", 40.0),
        SetTimer("offline_grace", 40.0 + SETTINGS.offline_grace_s),
        SendTo(SALES, AgentStatus("ann", "offline", 1, 2, 1.0)),
    ]


def test_going_offline_without_conversations_arms_no_timer() -> None:
    agent = new_agent()

    assert agent.handle(SetPresence("offline"), 40.0) == [presence("online", "offline", 40.0),
                                                          SendTo(SALES, status("offline"))]


def test_grace_running_out_sends_every_conversation_back_to_its_queue() -> None:
    agent = serving(new_agent(), "c1", "c2")
    agent.handle(SetPresence("offline"), 40.0)

    assert agent.handle(TimerFired("offline_grace"), 100.0) == [
        SendTo(conv("c1"), Requeue("ann")),
        SendTo(conv("c2"), Requeue("ann")),
        SendTo(SALES, AgentStatus("ann", "offline", 0, 2, 1.0)),
    ]
    assert agent.load == 0


def test_coming_back_within_grace_keeps_the_conversations() -> None:
    agent = serving(new_agent(saturation=1), "c1")
    agent.handle(SetPresence("offline"), 40.0)

    back = agent.handle(SetPresence("online"), 50.0)
    late = agent.handle(TimerFired("offline_grace"), 100.0)

    assert back == [presence("offline", "online", 50.0), CancelTimer("offline_grace"),
                    SendTo(SALES, AgentStatus("ann", "online", 1, 1, 1.0))]
    assert late == []
    assert agent.snapshot()["active"] == ["c1"]


# --- signed out (deactivated or deleted by an admin) -------------------------------------------------------


def test_signing_out_sends_every_conversation_back_to_its_queue_at_once() -> None:
    agent = serving(new_agent(), "c1", "c2")

    assert agent.handle(SignOut(), 40.0) == [
        presence("online", "offline", 40.0),
        SendTo(SALES, AgentStatus("ann", "offline", 2, 2, 1.0)),
        CancelTimer("offline_grace"),
        SendTo(conv("c1"), Requeue("ann")),
        SendTo(conv("c2"), Requeue("ann")),
        SendTo(SALES, AgentStatus("ann", "offline", 0, 2, 1.0)),
    ]
    assert agent.presence.value == "offline" and agent.load == 0


def test_signing_out_during_the_offline_grace_ends_it_at_once() -> None:
    agent = serving(new_agent(), "c1")
    agent.handle(SetPresence("offline"), 40.0)

    assert agent.handle(SignOut(), 50.0) == [
        CancelTimer("offline_grace"),
        SendTo(conv("c1"), Requeue("ann")),
        SendTo(SALES, AgentStatus("ann", "offline", 0, 2, 1.0)),
    ]


def test_signing_out_refuses_the_transfers_waiting_for_the_agents_answer() -> None:
    agent = serving(new_agent(saturation=1), "c1")
    agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)

    assert agent.handle(SignOut(), 40.0) == [
        presence("online", "offline", 40.0),
        CancelTimer("transfer_offer:c9"),
        SendTo(conv("c9"), TransferRefused("ann", "offline")),
        Deliver(ANN, TransferWithdrawn("c9", "offline")),
        SendTo(SALES, AgentStatus("ann", "offline", 1, 1, 1.0)),
        CancelTimer("offline_grace"),
        SendTo(conv("c1"), Requeue("ann")),
        SendTo(SALES, AgentStatus("ann", "offline", 0, 1, 1.0)),
    ]
    assert agent.pending_transfers == {}


def test_signing_out_with_no_conversation_is_going_offline() -> None:
    agent = new_agent()

    assert agent.handle(SignOut(), 40.0) == [presence("online", "offline", 40.0), SendTo(SALES, status("offline"))]
    assert agent.handle(SignOut(), 41.0) == []


def test_a_signed_out_agent_takes_nothing_until_they_come_online_again() -> None:
    agent = serving(new_agent(), "c1")
    agent.handle(SignOut(), 40.0)

    offered = agent.handle(Candidates("sales", (candidate("c2"),), solicited=False), 41.0)
    online = agent.handle(SetPresence("online"), 50.0)

    assert offered == [SendTo(SALES, PullResult(AgentStatus("ann", "offline", 0, 2, 1.0), (), ("c2",)))]
    assert online == [presence("offline", "online", 50.0), CancelTimer("offline_grace"),
                      SendTo(SALES, status(idle=1.0)), SendTo(SALES, Pull(status(idle=1.0), 2))]


def test_going_away_keeps_conversations_and_arms_no_grace() -> None:
    agent = serving(new_agent(), "c1")

    assert agent.handle(SetPresence("away"), 40.0) == [presence("online", "away", 40.0),
                                                       SendTo(SALES, AgentStatus("ann", "away", 1, 2, 1.0))]
    assert agent.load == 1


# --- transfers ---------------------------------------------------------------------------------------------


def test_a_transfer_to_an_agent_with_a_free_slot_is_taken_at_once() -> None:
    agent = new_agent()

    effects = agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)

    assert effects == [SendTo(conv("c9"), TransferAccepted("ann")), SendTo(SALES, status(active=1, idle=7.0))]


def test_a_transfer_beyond_saturation_asks_the_agent_first() -> None:
    agent = serving(new_agent(saturation=1), "c1")

    asked = agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)
    accepted = agent.handle(AnswerTransfer("c9", True), 8.0)

    assert asked == [Deliver(ANN, TransferRequested("c9", "bob")), SetTimer("transfer_offer:c9", 7.0 + SETTINGS.transfer_offer_timeout_s)]
    assert accepted == [SendTo(conv("c9"), TransferAccepted("ann")),
                        SendTo(SALES, AgentStatus("ann", "online", 2, 1, 8.0))]
    assert agent.load == 2 and agent.pending_transfers == {}


def test_a_declined_transfer_is_reported_to_the_conversation() -> None:
    agent = serving(new_agent(saturation=1), "c1")
    agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)

    assert agent.handle(AnswerTransfer("c9", False), 8.0) == [SendTo(conv("c9"), TransferRefused("ann", "declined"))]
    assert agent.load == 1 and agent.pending_transfers == {}


def test_an_offline_agent_refuses_a_transfer() -> None:
    agent = new_agent(online_at=None)

    effects = agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)

    assert effects == [SendTo(conv("c9"), TransferRefused("ann", errors.AGENT_OFFLINE))]


def test_answering_a_transfer_nobody_offered_is_refused() -> None:
    agent = new_agent()

    assert codes(agent.handle(AnswerTransfer("c9", True), 8.0)) == [errors.NO_TRANSFER_PENDING]


def test_answering_a_transfer_with_a_malformed_conversation_id_is_refused_and_the_offer_stays() -> None:
    agent = serving(new_agent(saturation=1), "c1")
    agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)
    before = agent.snapshot(8.0)

    effects = agent.handle(AnswerTransfer(["c9"], True), 8.0)  # type: ignore[arg-type]

    assert codes(effects) == [errors.INVALID_ARGUMENT]
    assert agent.snapshot(8.0) == before


def test_answering_a_transfer_with_something_other_than_yes_or_no_is_refused_and_the_offer_stays() -> None:
    agent = serving(new_agent(saturation=1), "c1")
    agent.handle(TransferOffer("c9", "v-c9", "sales", "bob"), 7.0)
    before = agent.snapshot(8.0)

    effects = agent.handle(AnswerTransfer("c9", "no"), 8.0)  # type: ignore[arg-type]

    assert codes(effects) == [errors.INVALID_ARGUMENT]
    assert agent.snapshot(8.0) == before


# --- groups -----------------------------------------------------------------------------------------------


def test_joining_a_group_announces_the_agent_there_and_pulls() -> None:
    agent = new_agent(saturation=1)

    assert agent.handle(JoinGroup("support"), 3.0) == [
        SendTo(SUPPORT, status(saturation=1)),
        SendTo(SALES, Pull(status(saturation=1), 1)),
        SendTo(SUPPORT, Pull(status(saturation=1), 1)),
    ]
    assert agent.groups == ["sales", "support"]


def test_joining_a_group_twice_changes_nothing() -> None:
    agent = new_agent()

    assert agent.handle(JoinGroup("sales"), 3.0) == []


def test_leaving_a_group_tells_that_queue() -> None:
    agent = new_agent(groups=("sales", "support"))

    assert agent.handle(LeaveGroup("support"), 3.0) == [SendTo(SUPPORT, MemberLeft("ann"))]
    assert agent.groups == ["sales"]


def test_leaving_a_group_the_agent_is_not_in_is_refused() -> None:
    agent = new_agent()
    before = agent.snapshot(3.0)

    assert codes(agent.handle(LeaveGroup("support"), 3.0)) == [errors.NOT_IN_GROUP]
    assert agent.snapshot(3.0) == before


def test_a_group_that_does_not_exist_is_dropped_and_the_round_ends_without_it() -> None:
    agent = new_agent(groups=("sales", "ghost"), online_at=None)
    agent.handle(SetPresence("online"), 0.0)
    agent.handle(Candidates("sales", (), solicited=True), 1.0)

    effects = agent.handle(Undeliverable(Address.queue("ghost"), Pull(status(), 2)), 1.0)

    assert codes(effects) == [errors.UNKNOWN_GROUP]
    assert effects[1:] == [SendTo(SALES, PullResult(status(), (), ()))]
    assert agent.groups == ["sales"]


# --- everything else ----------------------------------------------------------------------------------------


def test_creating_an_agent_that_exists_is_refused() -> None:
    agent = new_agent()

    assert codes(agent.handle(CreateAgent(5), 1.0)) == [errors.ALREADY_EXISTS]
    assert agent.saturation == 2


def test_a_message_the_agent_does_not_understand_is_refused() -> None:
    agent = new_agent()
    before = agent.snapshot(1.0)

    assert codes(agent.handle(Sweep(), 1.0)) == [errors.UNKNOWN_MESSAGE]
    assert agent.snapshot(1.0) == before


def test_a_timer_the_agent_did_not_set_changes_nothing() -> None:
    agent = serving(new_agent(), "c1")

    assert agent.handle(TimerFired("something_else"), 1.0) == []


# --- presence records --------------------------------------------------------------------------------------


def test_every_presence_change_is_recorded_for_the_archive_and_no_change_is_not() -> None:
    agent = new_agent(groups=(), online_at=None)

    records = [e for t, p in ((1.0, "online"), (2.0, "online"), (3.0, "away"), (4.0, "offline"))
               for e in agent.handle(SetPresence(p), t) if isinstance(e, Record)]

    assert records == [presence("offline", "online", 1.0), presence("online", "away", 3.0),
                       presence("away", "offline", 4.0)]


def test_a_presence_record_survives_the_ray_wire() -> None:
    import pickle

    record = presence("offline", "online", 1.0)
    assert pickle.loads(pickle.dumps(record)) == record
