"""store.conversations: single facts about stored conversations."""

from __future__ import annotations

from switchboard.store.conversations import has_participant
from switchboard.store.documents import Conversation


def test_a_visitor_was_served_by_the_participants_of_any_of_their_conversations(store: str) -> None:
    Conversation(id="c1", visitor="v1", phase="closed", participants=["a1", "a2"]).save()
    assert has_participant("v1", "a2")
    assert not has_participant("v1", "a3") and not has_participant("v2", "a1")
