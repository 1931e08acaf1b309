"""Recent messages per conversation in Redis, older ones from the store: what resume and gap healing read.

The embedded store is slow at sorted finds by conversation (decision 004 has the
figure), so the hot path never asks it: each conversation keeps its last
``history_cap`` message frames in a Redis sorted set scored by seq
(``sb:hist:{conversation}``), written by the relay in the same pipeline as the
publish that announces them. Only a range older than that falls back to the
store (a reconnect after a long absence, after Redis lost its data, or a message
missing from the window). A page never skips a stored message: see :func:`fetch`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from switchboard.edges.keys import history_key
from switchboard.edges.protocol import Frame, frame

__all__ = ["stage_append", "fetch", "message_frame", "HISTORY_TTL_S", "PAGE"]

HISTORY_TTL_S = 7 * 86400


def message_frame(conversation: str, seq: int, prev: int, role: str, author: str, name: str, kind: str, text: str,
                  client_id: str | None, at: float, extra: dict[str, Any] | None = None) -> Frame:
    """The ``message`` frame; `prev` is the seq of the previous message a visitor can see (notes skipped).

    A bot message carries its ``bot`` details (decision, suggestions, sources, offer_human).
    """
    message = frame("message", conversation=conversation, seq=seq, prev=prev,
                    sender={"role": role, "id": author, "name": name}, kind=kind, text=text,
                    client_id=client_id, time=at)
    if extra:
        message["bot"] = extra
    return message


def stage_append(pipe: Pipeline, conversation: str, messages: list[Frame], cap: int) -> None:
    """Add `messages` (frames with their ``seq``) to the conversation's history: three commands for any number."""
    key = history_key(conversation)
    pipe.zadd(key, {orjson.dumps(m): m["seq"] for m in messages})
    pipe.zremrangebyrank(key, 0, -(cap + 1))
    pipe.expire(key, HISTORY_TTL_S)


PAGE = 500  # messages per resume or sync answer (docs/protocol.md): a full page means "ask again after it"


async def fetch(redis: aioredis.Redis, conversation: str, after: int, upto: int | None,
                for_visitor: bool, limit: int = PAGE) -> list[Frame]:
    """Messages with after < seq <= upto (upto None: to the end), in order; notes withheld from visitors.

    A page is what the reader missed from `after` on, never with a stored message skipped: `limit`
    messages the reader may see, or all that are left when fewer are (so a full page means "ask again
    after its last seq"). Notes a visitor may not see are read past, not counted.
    """
    page: list[Frame] = []
    more = True
    while more and len(page) < limit:
        run, more = await _next_run(redis, conversation, after, upto, limit)
        if not run:
            break
        page += [m for m in run if not (for_visitor and m.get("kind") == "note")]
        after = run[-1]["seq"]
    return page[:limit]


async def _next_run(redis: aioredis.Redis, conversation: str, after: int, upto: int | None,
                    limit: int) -> tuple[list[Frame], bool]:
    """The next messages after `after`, none skipped, and whether (after, upto] may hold more past them.

    From the Redis window where it starts at after + 1; what is older comes from the store first. A
    store page that stops short of the window ends the run there (the next run goes on from it), and
    a hole inside the window ends the run before it (the next run asks the store for the missing seqs).
    """
    high: str | int = "+inf" if upto is None else upto
    raw = await redis.zrangebyscore(history_key(conversation), f"({after}", high, start=0, num=limit)
    recent: list[Frame] = [orjson.loads(r) for r in raw]  # type: ignore[arg-type]
    more = len(recent) == limit
    first = recent[0]["seq"] if recent else None
    older: list[Frame] = []
    if first is None or first > after + 1:
        older_upto = (first - 1) if first is not None else upto
        if older_upto is None or older_upto > after:
            older = await _from_store(conversation, after, older_upto, limit)
        if len(older) == limit and (older_upto is None or older[-1]["seq"] < older_upto):
            return older, True  # the store may have more before the window: never jump over it
    for i in range(1, len(recent)):
        if recent[i]["seq"] != recent[i - 1]["seq"] + 1:
            return older + recent[:i], True
    return older + recent, more


async def _from_store(conversation: str, after: int, upto: int | None, limit: int) -> list[Frame]:
    from switchboard.store import archive

    rows = await asyncio.to_thread(archive.messages_between, conversation, after, upto, limit)
    frames, prev = [], after
    for row in rows:
        frames.append(message_frame(conversation, row["seq"], prev, row["sender_role"], row["sender_id"],
                                    row.get("sender_name") or row["sender_id"], row["kind"], row["text"],
                                    row.get("client_id"), row["at"], row.get("extra")))
        if row["kind"] != "note":
            prev = row["seq"]
    return frames
