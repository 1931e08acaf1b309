"""Reads for restart recovery and gap healing: plain, synchronous, few queries (call them from a thread).

Recovery needs the agents, the groups and every open conversation with enough of
its messages to refuse a replayed client message id: four finds in all, whatever
the number of conversations. nx-27017 sorts in Python anyway, so nothing here
asks the server to sort; results are sorted here instead. Times come back as
epoch floats, the engine's unit, in the same dict shapes the writer takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from switchboard.store.documents import OPEN_PHASES, Conversation, Message, SkillGroup, User, to_epoch

__all__ = [
    "AgentRecord", "GroupRecord", "World", "ensure_group", "load_world", "messages_between", "phases",
]

_STATE_TIMES = ("created_at", "queued_at", "assigned_at", "first_agent_reply_at", "closed_at")
_STATE_DEFAULTS: dict[str, Any] = {
    "visitor": "", "channel": "widget", "phase": None, "group": None, "priority": 0, "tier": 1, "agent": None,
    "close_reason": None, "last_seq": 0,
}
_MESSAGE_FIELDS = ("conversation", "seq", "sender_role", "sender_id", "kind", "text", "client_id", "at")


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    nickname: str
    saturation: int
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    policy: str
    max_queue: int | None
    last_agent_wait_s: float | None


@dataclass(slots=True)
class World:
    """Everything the engine is rebuilt from after a restart."""

    agents: list[AgentRecord] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)  # save_conversation's keys + last_seq
    # conversation -> "role:sender_id|client_id" -> seq: the dedupe key RestoreConversation.client_ids takes
    client_ids: dict[str, dict[str, int]] = field(default_factory=dict)


def load_world() -> World:
    """Agents, groups, open conversations (sorted by id) and the client ids of their messages.

    A client id is unique per sender, so it is keyed as the conversation entity
    keys it: ``"visitor:v1|m9"`` (see ``Conversation._split_client_key``).
    """
    conversations = sorted((_state(d) for d in _find(Conversation, {"phase": {"$in": list(OPEN_PHASES)}})),
                           key=lambda c: str(c["conversation"]))
    ids = [c["conversation"] for c in conversations]
    notes = _note_seqs(ids)
    for c in conversations:  # seqs run 1..last_seq without holes: step down over the notes at the end
        last = int(c["last_seq"] or 0)
        while last in notes.get(c["conversation"], ()):
            last -= 1
        c["last_public_seq"] = last
    return World(_agents(), _groups(), conversations, _client_ids(ids))


def phases(conversations: list[str]) -> dict[str, str]:
    """The stored phase of each of `conversations` the store has (a find by id, indexed)."""
    if not conversations:
        return {}
    return {d["_id"]: d["phase"] for d in _find(Conversation, {"_id": {"$in": conversations}}, {"phase": 1})}


def ensure_group(group_id: str) -> bool:
    """Create skill group `group_id` (balanced, named after its id) unless it exists; True if it was created.

    One conditional upsert, so two processes starting at once cannot both create it, and an existing group
    keeps its name and policy.
    """
    result = SkillGroup._get_collection().update_one(
        {"_id": group_id},
        {"$setOnInsert": {"name": group_id.replace("-", " ").replace("_", " ").title(), "policy": "balanced",
                          "created_at": datetime.now(timezone.utc)}},
        upsert=True)
    return result.upserted_id is not None


def messages_between(conversation: str, after: int, upto: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Messages of `conversation` with ``after < seq <= upto`` (no upper bound if None), the first `limit` by seq.

    The dicts have :meth:`StoreWriter.add_message`'s keys, ``at`` as an epoch float.

    Never the whole tail (issue 17: a sync from 0 of a long conversation read and sorted all of it): seqs
    are dense, so the range ``(after, after + limit]`` holds the page; only a range with holes widens,
    doubling, while :func:`_any_after` finds more beyond it. Each find is a bounded range on the
    (conversation, seq) index, sorted here (the embedded store's sorted finds are slow: decision 004).
    """
    rows: list[dict[str, Any]] = []
    low, span = after, max(1, limit)
    while len(rows) < limit:
        high = low + span if upto is None else min(upto, low + span)
        found = _find(Message, {"conversation": conversation, "seq": {"$gt": low, "$lte": high}})
        rows += sorted(found, key=lambda d: int(d["seq"]))
        if len(rows) >= limit or (upto is not None and high >= upto) or not _any_after(conversation, high):
            break
        low, span = high, span * 2
    return [_message(d) for d in rows[:limit]]


def _any_after(conversation: str, seq: int) -> bool:
    """Whether `conversation` has a message past `seq` (one indexed lookup, no sort)."""
    found = Message._get_collection().find_one({"conversation": conversation, "seq": {"$gt": seq}}, {"_id": 1})
    return found is not None


# --- helpers ------------------------------------------------------------------------------------


def _find(document: Any, query: dict[str, Any], projection: dict[str, int] | None = None) -> list[dict[str, Any]]:
    return list(document._get_collection().find(query, projection))


def _agents() -> list[AgentRecord]:
    rows = _find(User, {"roles": "agent"}, {"nickname": 1, "saturation": 1, "groups": 1})
    return sorted((AgentRecord(d["_id"], d.get("nickname", ""), d.get("saturation", 5), tuple(d.get("groups", ())))
                   for d in rows), key=lambda a: a.id)


def _groups() -> list[GroupRecord]:
    rows = _find(SkillGroup, {}, {"policy": 1, "max_queue": 1, "last_agent_wait_s": 1})
    return sorted((GroupRecord(d["_id"], d.get("policy", "balanced"), d.get("max_queue"), d.get("last_agent_wait_s"))
                   for d in rows), key=lambda g: g.id)


def _state(doc: dict[str, Any]) -> dict[str, Any]:
    state = {"conversation": doc["_id"], **{k: doc.get(k, default) for k, default in _STATE_DEFAULTS.items()}}
    state["participants"] = list(doc.get("participants", []))
    state["transfers"] = [dict(t) for t in doc.get("transfers", [])]
    state.update({k: to_epoch(doc.get(k)) for k in _STATE_TIMES})
    if doc.get("queued_at_s") is not None and state["queued_at"] is not None:
        state["queued_at"] = float(doc["queued_at_s"])  # exact: the queue's order survives a restart
    return state


def _client_ids(conversations: list[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {c: {} for c in conversations}
    if not conversations:
        return found
    query = {"conversation": {"$in": conversations}, "client_id": {"$ne": None}}
    rows = _find(Message, query, {"conversation": 1, "seq": 1, "client_id": 1, "sender_role": 1, "sender_id": 1})
    for d in sorted(rows, key=lambda d: int(d["seq"])):
        if d["client_id"]:
            key = f"{d['sender_role']}:{d.get('sender_id', '')}|{d['client_id']}"
            found[d["conversation"]][key] = d["seq"]
    return found


def _note_seqs(conversations: list[str]) -> dict[str, set[int]]:
    """The seqs of internal notes (few) in `conversations`: what a visitor never sees."""
    found: dict[str, set[int]] = {}
    if conversations:
        for d in _find(Message, {"conversation": {"$in": conversations}, "kind": "note"}, {"conversation": 1, "seq": 1}):
            found.setdefault(d["conversation"], set()).add(int(d["seq"]))
    return found


def _message(doc: dict[str, Any]) -> dict[str, Any]:
    msg = {k: doc.get(k) for k in _MESSAGE_FIELDS}
    msg["at"] = to_epoch(doc["at"])
    if doc.get("extra"):
        msg["extra"] = doc["extra"]  # a bot message's decision, suggestions and sources
    return msg
