"""The inbox of left messages: which group a visitor's message waits in, who took it, whether it was answered.

A visitor who cannot reach a person (outside the hours, a full queue, nobody online, or after leaving the
queue) leaves an email and a message (docs/leave-a-message.md). That becomes an **offline conversation**: its
state and its messages are written through the :class:`~switchboard.store.writer.StoreWriter` like any
conversation's (so the history has it and the reports count it, channel ``message``, phase ``message``), and
its inbox bookkeeping is one :class:`~switchboard.store.documents.InboxEntry`, keyed by the conversation id. The engine never hears of
these conversations: phase ``message`` is not among ``OPEN_PHASES``, so a restart does not restore them.

``last_seq`` numbers the conversation's messages: the visitor's is 1, each reply takes the next one with an
atomic ``$inc`` (:func:`next_seq`), so two agents replying at once never share a seq.
"""

# mypy: disallow-subclassing-any=False
# (mongoengine is untyped, so Document is Any)

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument

from switchboard.store.documents import INBOX_STATES, InboxEntry, Message, to_epoch
from switchboard.store.errors import NotFound
from switchboard.store.updates import set_fields

__all__ = ["InboxEntry", "CHANNEL", "PHASE", "add_entry", "get_entry", "list_entries", "count_open", "assign",
           "next_seq", "mark_replied", "visitor_entries", "messages_of"]

CHANNEL = "message"  # the offline conversation's channel, in the history and the reports
PHASE = "message"  # its phase: never open for the engine, never closed or abandoned for the reports
STATES = INBOX_STATES
PREVIEW = 200  # characters of the first line kept for the list


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def preview_of(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:PREVIEW]


def entry_json(e: InboxEntry) -> dict[str, Any]:
    return {"conversation": e.id, "visitor": e.visitor, "group": e.group, "email": e.email, "name": e.name,
            "preview": e.preview, "reason": e.reason, "state": e.state, "assigned_to": e.assigned_to,
            "assigned_at": to_epoch(e.assigned_at), "replied_by": e.replied_by,
            "replied_at": to_epoch(e.replied_at), "created_at": to_epoch(e.created_at)}


def add_entry(conversation: str, visitor: str, group: str, email: str, name: str, text: str, reason: str,
              at: float) -> InboxEntry:
    entry = InboxEntry(id=conversation, visitor=visitor, group=group, email=email, name=name,
                       preview=preview_of(text), reason=reason, created_at=_dt(at), last_seq=1)
    entry.save(force_insert=True)
    return entry


def get_entry(conversation: str) -> InboxEntry | None:
    found: InboxEntry | None = InboxEntry.objects(id=conversation).first()
    return found


def _filter(groups: Iterable[str] | None, state: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if groups is not None:
        query["group__in"] = list(groups)
    if state is not None:
        query["state"] = state
    return query


def list_entries(groups: Iterable[str] | None, state: str | None = "open", limit: int = 100) -> list[InboxEntry]:
    """Entries of `groups` (None: every group) in `state` (None: any), newest first."""
    found = list(InboxEntry.objects(**_filter(groups, state)))
    found.sort(key=lambda e: (e.created_at, e.id), reverse=True)  # sorted here: the embedded store sorts in Python
    return found[:limit]


def count_open(groups: Iterable[str] | None) -> int:
    count: int = InboxEntry.objects(**_filter(groups, "open")).count()
    return count


def assign(conversation: str, user_id: str, at: float) -> InboxEntry:
    entry = get_entry(conversation)
    if entry is None:
        raise NotFound(f"no left message {conversation!r}")
    InboxEntry._get_collection().update_one({"_id": conversation},
                                            set_fields({"assigned_to": user_id, "assigned_at": _dt(at)}))
    entry.reload()
    return entry


def next_seq(conversation: str) -> int:
    """The seq of the conversation's next message (atomic: two callers never get the same one)."""
    doc = InboxEntry._get_collection().find_one_and_update(
        {"_id": conversation}, {"$inc": {"last_seq": 1}}, return_document=ReturnDocument.AFTER)
    if doc is None:
        raise NotFound(f"no left message {conversation!r}")
    return int(doc["last_seq"])


def mark_replied(conversation: str, user_id: str, at: float) -> InboxEntry:
    """Answered by `user_id` at `at` (who also holds it now, if nobody did)."""
    entry = get_entry(conversation)
    if entry is None:
        raise NotFound(f"no left message {conversation!r}")
    changes: dict[str, Any] = {"state": "answered", "replied_by": user_id, "replied_at": _dt(at)}
    if entry.assigned_to is None:
        changes.update(assigned_to=user_id, assigned_at=_dt(at))
    InboxEntry._get_collection().update_one({"_id": conversation}, set_fields(changes))
    entry.reload()
    return entry


def visitor_entries(visitor: str, limit: int = 20) -> list[InboxEntry]:
    found = list(InboxEntry.objects(visitor=visitor))
    found.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    return found[:limit]


def messages_of(conversations: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The stored messages of `conversations`, in seq order: {conversation: [{seq, role, sender, text, at}]}."""
    wanted = list(conversations)
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in wanted}
    if not wanted:
        return out
    for doc in Message._get_collection().find({"conversation": {"$in": wanted}}):
        if doc.get("kind", "text") != "text":
            continue
        out[doc["conversation"]].append({"seq": int(doc["seq"]), "role": doc["sender_role"],
                                         "sender": doc.get("sender_id") or "", "text": doc.get("text") or "",
                                         "at": to_epoch(doc.get("at"))})
    for messages in out.values():
        messages.sort(key=lambda m: m["seq"])
    return out
