"""A transfer offer waiting for a busy agent's answer ends: when the target goes offline, after a timeout,
or when the conversation moves on without it (closed, back to its queue, to a group).

Run on the inline engine with a manual clock: the offering agent is told why
(``transfer_declined`` with a reason), the target is told the offer is over
(``transfer_withdrawn`` with a reason) and their list of offers forgets it, and
the conversation takes another transfer at once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterator

import pytest

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.events import TransferDeclined, TransferWithdrawn
from switchboard.actors.messages import (
    AnswerTransfer, Close, CreateAgent, CreateGroup, OpenConversation, RequestHuman, SetPresence, TransferToAgent,
    TransferToGroup,
)
from switchboard.settings import DispatchSettings
from tests.conftest import harness_for
from tests.harness import Harness

TRANSFER_OFFER_TIMEOUT_S = DispatchSettings().transfer_offer_timeout_s


@pytest.fixture
def h() -> Iterator[Harness]:
    yield harness_for("inline").fresh()


def agent(h: Harness, name: str, saturation: int = 1) -> None:
    h.send(Address.agent(name), CreateAgent(saturation, ("sales",)))
    h.send(Address.agent(name), SetPresence("online"))


def ask(h: Harness, conversation: str) -> None:
    h.send(Address.conversation(conversation), OpenConversation(f"v-{conversation}"))
    h.send(Address.conversation(conversation), RequestHuman("sales"))


def state(h: Harness, to: Address) -> dict[str, Any]:
    snap = h.inspect(to)
    assert snap is not None
    return snap


def transfer(h: Harness, conversation: str, to: str) -> list[str]:
    """Transfer and return the refusal codes it got."""
    ref = h.send(Address.conversation(conversation), TransferToAgent(to))
    return [r.code for r in h.refusals(ref)]


def declined(h: Harness, agent_id: str) -> list[dict[str, Any]]:
    """The transfer_declined events `agent_id` got, as their frames carry them."""
    return [asdict(e) for e in h.events_for(UserRef.agent(agent_id)) if isinstance(e, TransferDeclined)]


def withdrawn(h: Harness, agent_id: str) -> list[dict[str, Any]]:
    """The transfer_withdrawn events `agent_id` got."""
    return [asdict(e) for e in h.events_for(UserRef.agent(agent_id)) if isinstance(e, TransferWithdrawn)]


def eve_serves_c1_and_fay_is_full(h: Harness) -> None:
    h.send(Address.queue("sales"), CreateGroup())
    agent(h, "eve")
    ask(h, "c1")
    agent(h, "fay")
    ask(h, "c2")
    assert (state(h, Address.conversation("c1"))["agent"], state(h, Address.conversation("c2"))["agent"]) == ("eve", "fay")
    assert transfer(h, "c1", "fay") == []
    assert state(h, Address.agent("fay"))["pending_transfers"] == ["c1"]


def test_a_pending_transfer_is_refused_when_the_target_goes_offline_and_another_may_follow(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)

    h.send(Address.agent("fay"), SetPresence("offline"))

    assert declined(h, "eve") == [{"conversation": "c1", "to_agent": "fay", "reason": "offline"}]
    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "offline"}]  # another tab of hers may show it
    assert state(h, Address.agent("fay"))["pending_transfers"] == []
    assert state(h, Address.conversation("c1"))["agent"] == "eve"
    agent(h, "gus")
    assert transfer(h, "c1", "gus") == []
    assert state(h, Address.conversation("c1"))["agent"] == "gus"
    assert (state(h, Address.agent("eve"))["load"], state(h, Address.agent("gus"))["load"]) == (0, 1)


def test_a_pending_transfer_ends_after_the_timeout_and_the_target_forgets_it(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)
    h.at(TRANSFER_OFFER_TIMEOUT_S - 1)
    assert declined(h, "eve") == [] and transfer(h, "c1", "gus") == [errors.TRANSFER_PENDING]

    h.at(TRANSFER_OFFER_TIMEOUT_S)

    assert declined(h, "eve") == [{"conversation": "c1", "to_agent": "fay", "reason": "timeout"}]
    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "timeout"}]
    assert state(h, Address.agent("fay"))["pending_transfers"] == []
    answer = h.send(Address.agent("fay"), AnswerTransfer("c1", True))
    assert [r.code for r in h.refusals(answer)] == [errors.NO_TRANSFER_PENDING]
    assert state(h, Address.agent("fay"))["load"] == 1
    agent(h, "gus")
    assert transfer(h, "c1", "gus") == []
    assert state(h, Address.conversation("c1"))["agent"] == "gus"


def test_an_answered_transfer_is_not_timed_out_later(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)
    h.send(Address.agent("fay"), AnswerTransfer("c1", True))

    h.at(TRANSFER_OFFER_TIMEOUT_S + 1)

    assert declined(h, "eve") == []
    assert state(h, Address.conversation("c1"))["agent"] == "fay" and state(h, Address.agent("fay"))["load"] == 2


def test_a_target_who_stays_online_still_sees_the_offer_and_can_accept_it(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)
    h.send(Address.agent("fay"), SetPresence("away"))
    h.send(Address.agent("fay"), SetPresence("online"))

    offers = state(h, Address.agent("fay"))["transfer_offers"]
    h.send(Address.agent("fay"), AnswerTransfer("c1", True))

    assert offers == [{"conversation": "c1", "from_agent": "eve", "visitor": "v-c1", "group": "sales",
                       "due": TRANSFER_OFFER_TIMEOUT_S}]
    assert state(h, Address.conversation("c1"))["agent"] == "fay"


def test_an_offer_for_a_conversation_closed_meanwhile_is_withdrawn_from_the_target_at_once(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)

    h.send(Address.conversation("c1"), Close("visitor"))

    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "closed"}]
    assert state(h, Address.agent("fay"))["pending_transfers"] == []
    answer = h.send(Address.agent("fay"), AnswerTransfer("c1", True))
    assert [r.code for r in h.refusals(answer)] == [errors.NO_TRANSFER_PENDING]
    h.at(TRANSFER_OFFER_TIMEOUT_S)  # its timer was cancelled: nothing more happens
    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "closed"}]
    assert declined(h, "eve") == [] and state(h, Address.agent("fay"))["load"] == 1


def test_an_offer_for_a_conversation_that_went_back_to_its_queue_is_withdrawn(h: Harness) -> None:
    h.fresh(DispatchSettings(offline_grace_s=10))
    eve_serves_c1_and_fay_is_full(h)

    h.send(Address.agent("eve"), SetPresence("offline"))
    h.at(10)  # Eve's grace runs out before the offer's timeout: c1 goes back to the front of sales

    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "requeued"}]
    assert state(h, Address.agent("fay"))["pending_transfers"] == []
    assert state(h, Address.conversation("c1"))["phase"] == "queued"


def test_an_offer_for_a_conversation_moved_to_a_group_is_withdrawn(h: Harness) -> None:
    eve_serves_c1_and_fay_is_full(h)
    h.send(Address.queue("billing"), CreateGroup())

    h.send(Address.conversation("c1"), TransferToGroup("billing"))

    assert withdrawn(h, "fay") == [{"conversation": "c1", "reason": "transferred"}]
    assert state(h, Address.agent("fay"))["pending_transfers"] == []
