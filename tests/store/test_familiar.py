"""store.familiar: the agent who served a verified customer most, across the browsers they came from."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from switchboard.store.documents import Conversation, Visitor
from switchboard.store.familiar import MAX_CONVERSATIONS, familiar_agent, most_familiar

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def served(visitor: str, minutes: int, *agents: str) -> None:
    Conversation(id=f"c-{visitor}-{minutes}", visitor=visitor, phase="closed", agent=agents[-1] if agents else None,
                 participants=list(agents), created_at=T0 + timedelta(minutes=minutes)).save()


def test_the_agent_in_most_conversations_wins_and_a_tie_goes_to_the_most_recent() -> None:
    assert most_familiar([["ann"], ["bob"], ["bob"], ["ann"]]) == "ann"  # 2 each: ann served the latest
    assert most_familiar([["ann"], ["bob", "cy"], ["bob"]]) == "bob"
    assert most_familiar([["ann", "ann"], ["bob"], ["bob"]]) == "bob"  # a conversation counts once per agent
    assert most_familiar([[], []]) is None


def test_a_customer_is_known_by_their_verified_id_across_visitor_records(store: str) -> None:
    Visitor(id="v-laptop", external_id="cust-1").save()
    Visitor(id="v-phone", external_id="cust-1").save()
    Visitor(id="v-stranger", external_id="cust-2").save()
    served("v-laptop", 1, "bob")
    served("v-phone", 2, "ann", "bob")
    served("v-phone", 3, "bob")
    served("v-stranger", 4, "cy")
    served("v-stranger", 5, "cy")

    assert familiar_agent("cust-1") == "bob"
    assert familiar_agent("cust-2") == "cy"
    assert familiar_agent("cust-3") is None
    assert familiar_agent("cust-3", "v-laptop") == "bob"  # this browser's own history counts before it is linked


def test_only_the_last_conversations_count(store: str) -> None:
    Visitor(id="v-1", external_id="cust-1").save()
    for minute in range(30):
        served("v-1", minute, "old-agent")
    for i in range(MAX_CONVERSATIONS):
        served("v-1", 100 + i, "ann" if i < 26 else "bob")

    assert familiar_agent("cust-1") == "ann"  # 26 of the last 50; old-agent's 30 are older than those
