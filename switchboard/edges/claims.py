"""Which conversation a visitor has open, in Redis: claimed, released, and mended after a crash.

``sb:visitor:{id}`` field ``conv`` names the visitor's open conversation; every socket of the visitor, on
any edge, reads it. It is written ahead of the store twice: a socket claims a new conversation before the
engine or the store has it, and a conversation's end reaches Redis one hub flush after the store. A
``kill -9`` in either gap left a claim no restart removed (recovery rewrote only conversations the store
has open), and that visitor's every frame was refused with ``unknown_conversation`` for good.

So every visitor with a claim is also in the set ``sb:visitors:claimed``, added in the same transaction as
the claim, and recovery checks exactly those: a claim on a conversation the store does not have open is
released. A claim is released only by its own conversation (compare and delete), so the end of an old
conversation cannot release a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

__all__ = ["CLAIMED", "claim", "stage_claim", "stage_release", "release_stale"]

CLAIMED = "sb:visitors:claimed"

# KEYS[1] the visitor's hash, KEYS[2] CLAIMED; ARGV[1] the ended conversation, ARGV[2] the visitor
_RELEASE = ("if redis.call('HGET', KEYS[1], 'conv') == ARGV[1] then redis.call('HDEL', KEYS[1], 'conv') "
            "redis.call('SREM', KEYS[2], ARGV[2]) end return 0")


def _key(visitor: str) -> str:
    return f"sb:visitor:{visitor}"


async def claim(redis: aioredis.Redis, visitor: str, conversation: str) -> bool:
    """Make `conversation` the visitor's open one unless they have one; True if this call did."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(CLAIMED, visitor)  # first: a claim is never outside the set, even for a moment
        pipe.hsetnx(_key(visitor), "conv", conversation)
        _, won = await pipe.execute()
    return bool(won)


def stage_claim(pipe: Any, visitor: str, conversation: str) -> None:
    """The engine says `conversation` is open: the visitor's claim (in a pipeline of the caller's)."""
    pipe.sadd(CLAIMED, visitor)
    pipe.hset(_key(visitor), "conv", conversation)


def stage_release(pipe: Any, visitor: str, conversation: str) -> None:
    """`conversation` ended: release the visitor's claim if it is still this conversation's."""
    pipe.eval(_RELEASE, 2, _key(visitor), CLAIMED, conversation, visitor)


async def release_stale(redis: aioredis.Redis, open_conversations: Iterable[tuple[str, str]]) -> list[str]:
    """At start-up, with no socket connected: release every claim on a conversation not in
    `open_conversations` ((visitor, conversation) pairs the store has open); returns those conversations."""
    keep = dict(open_conversations)
    visitors = [v.decode() if isinstance(v, bytes) else v async for v in redis.sscan_iter(CLAIMED, count=1000)]
    stale: list[str] = []
    for start in range(0, len(visitors), 1000):
        chunk = visitors[start:start + 1000]
        async with redis.pipeline(transaction=False) as pipe:
            for visitor in chunk:
                pipe.hget(_key(visitor), "conv")
            claims = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for visitor, raw in zip(chunk, claims, strict=True):
                conv = raw.decode() if isinstance(raw, bytes) else raw
                if conv is not None and keep.get(visitor) == conv:
                    continue
                if conv is not None:
                    stale.append(conv)
                    stage_release(pipe, visitor, conv)
                    pipe.hset(f"sb:conv:{conv}", "phase", "closed")  # not open: its views say so too
                    pipe.expire(f"sb:conv:{conv}", 30 * 86400)
                else:
                    pipe.srem(CLAIMED, visitor)
            if len(pipe):
                await pipe.execute()
    return stale
