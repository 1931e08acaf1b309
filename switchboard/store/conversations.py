"""Stored conversations, asked about one fact at a time (recovery's bulk reads are in :mod:`.archive`).

The writer (:mod:`switchboard.store.writer`) is the only code that changes conversations; this module
only reads. Plain and synchronous: run it in a thread from async code.
"""

from __future__ import annotations

from switchboard.store.documents import Conversation

__all__ = ["has_participant"]


def has_participant(visitor_id: str, agent_id: str) -> bool:
    """Whether any stored conversation of `visitor_id`, open or ended, lists `agent_id` among its participants."""
    return Conversation.objects(visitor=visitor_id, participants=agent_id).only("id").first() is not None
