"""The familiar agent of a verified customer: who served them most (the ``familiar`` policy, docs/dispatch.md).

A customer is known by the id their company's server vouched for (``Visitor.external_id``, set by a verified
``identify``), so their conversations from other browsers count too. The read is bounded: at most
:data:`MAX_VISITORS` visitor records of that customer, and their last :data:`MAX_CONVERSATIONS` conversations,
both found by an index (``external_id``, ``visitor``); it runs once per verified identify, never per message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from switchboard.store.documents import Conversation, Visitor

__all__ = ["familiar_agent", "most_familiar", "MAX_VISITORS", "MAX_CONVERSATIONS"]

MAX_VISITORS = 20
MAX_CONVERSATIONS = 50


def familiar_agent(external_id: str, visitor: str | None = None) -> str | None:
    """The agent who served the customer `external_id` (and the visitor `visitor`) most, or None."""
    ids = [str(v.id) for v in Visitor.objects(external_id=external_id).only("id").limit(MAX_VISITORS)]
    if visitor is not None and visitor not in ids:
        ids.append(visitor)
    if not ids:
        return None
    recent = Conversation.objects(visitor__in=ids).only("agent", "participants", "created_at") \
        .order_by("-created_at").limit(MAX_CONVERSATIONS)
    return most_familiar([list(c.participants or ()) or ([c.agent] if c.agent else []) for c in recent])


def most_familiar(served: Iterable[list[str]]) -> str | None:
    """From each conversation's agents, most recent conversation first: the agent in the most conversations,
    a tie going to the one seen most recently."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for i, agents in enumerate(served):
        for agent in dict.fromkeys(a for a in agents if a):
            counts[agent] += 1
            first_seen.setdefault(agent, i)
    if not counts:
        return None
    return min(counts, key=lambda a: (-counts[a], first_seen[a]))
