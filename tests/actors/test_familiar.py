"""The familiar-customer policy (熟客优先): a verified returning customer is offered first to the agent who
served them most, if that agent is online, in the group and below saturation; else they are served as under
balanced at once, with no wait."""

from __future__ import annotations

from switchboard.actors.address import Address
from switchboard.actors.effects import SendTo, SetTimer
from switchboard.actors.messages import (
    CreateGroup, Enqueue, OpenConversation, Pull, PullResult, RequestHuman, TimerFired,
)
from switchboard.actors.conversation import Conversation
from switchboard.actors.queue import SkillQueue
from switchboard.settings import DispatchSettings
from tests.actors.test_flows import ask, create_agent, create_group, served_by
from tests.harness import Harness
from tests.actors.test_queue import cand, enqueue, member, new_queue, offer, status, told

SETTINGS = DispatchSettings()


def test_the_familiar_agent_gets_the_first_offer_though_another_agent_has_been_idle_longer() -> None:
    queue = new_queue("familiar")
    member(queue, "ann", idle=1.0)
    member(queue, "bob", active=1, saturation=3, idle=9.0)

    effects = queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0)

    assert effects == [offer("bob", cand("c1", 10.0))]


def test_a_familiar_agent_at_saturation_means_balanced_at_once_with_no_wait() -> None:
    queue = new_queue("familiar")
    member(queue, "ann")
    member(queue, "bob", active=2, saturation=2)

    effects = queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0)

    assert effects == [offer("ann", cand("c1", 10.0))]
    assert not any(isinstance(e, SetTimer) for e in effects)


def test_a_familiar_agent_who_is_away_offline_or_not_a_member_is_passed_over() -> None:
    for presence in ("away", "offline"):
        queue = new_queue("familiar")
        member(queue, "ann")
        member(queue, "bob", presence=presence)
        assert queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0) == [offer("ann", cand("c1", 10.0))]
    queue = new_queue("familiar")
    member(queue, "ann")
    assert queue.handle(enqueue("c1", 10.0, familiar="zed"), 10.0) == [offer("ann", cand("c1", 10.0))]


def test_a_familiar_agent_who_gives_the_offer_back_lets_anyone_take_the_visitor_at_once() -> None:
    queue = new_queue("familiar")
    member(queue, "ann", active=1, saturation=2)
    member(queue, "bob", idle=5.0)
    queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0)
    queue.handle(status("ann", active=0, saturation=2), 11.0)

    effects = queue.handle(PullResult(status("bob", active=2, saturation=2), taken=(), returned=("c1",)), 11.0)

    assert effects == [offer("ann", cand("c1", 10.0))]
    assert queue.snapshot()["waiting"][0]["hold"] is None


def test_with_nobody_free_the_customer_waits_unheld_and_goes_to_whoever_frees_a_slot_first() -> None:
    queue = new_queue("familiar")
    member(queue, "ann", active=1, saturation=1)
    member(queue, "bob", active=1, saturation=1)

    waited = queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0)
    freed = queue.handle(Pull(status("ann", active=0, saturation=1), 1), 20.0)

    assert waited == [told("c1", 1)]
    assert freed == [offer("ann", cand("c1", 10.0), solicited=True)]
    assert queue.handle(TimerFired("hold:c1"), 40.0) == []


def test_other_policies_ignore_the_familiar_agent() -> None:
    for policy in ("balanced", "last_agent_first", "designated"):
        queue = new_queue(policy)
        member(queue, "ann", idle=1.0)
        member(queue, "bob", idle=9.0)
        assert queue.handle(enqueue("c1", 10.0, familiar="bob"), 10.0) == [offer("ann", cand("c1", 10.0))]


def test_a_request_carries_the_familiar_agent_from_the_conversation_to_its_queue() -> None:
    conv = Conversation("c1", OpenConversation("v1"), 0.0, SETTINGS)

    effects = conv.handle(RequestHuman("sales", priority=3, familiar_agent="bob"), 5.0)

    assert SendTo(Address.queue("sales"), Enqueue("c1", "v1", 3, 5.0, familiar="bob")) in effects


def test_the_familiar_policy_is_a_known_policy() -> None:
    assert SkillQueue.validate_creation(CreateGroup("familiar")) is None
    assert RequestHuman("sales", familiar_agent=5).problem() is not None  # type: ignore[arg-type]


# --- the same on every runtime ------------------------------------------------------------------------------


def test_on_every_runtime_a_familiar_customer_goes_to_their_agent_though_another_is_idle_longer(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="familiar")
    create_agent(h, "ann", 3)
    h.at(5.0)
    create_agent(h, "bob", 3)
    h.at(10.0)

    ask(h, "c1", familiar_agent="bob")
    ask(h, "c2")

    assert (served_by(h, "c1"), served_by(h, "c2")) == ("bob", "ann")


def test_on_every_runtime_a_familiar_customer_whose_agent_is_full_is_served_by_another_at_once(
        engine_harness: Harness) -> None:
    h = engine_harness
    create_group(h, policy="familiar")
    create_agent(h, "bob", 1)
    ask(h, "c0")
    create_agent(h, "ann", 1)
    h.at(5.0)

    ask(h, "c1", familiar_agent="bob")

    assert served_by(h, "c0") == "bob" and served_by(h, "c1") == "ann"
