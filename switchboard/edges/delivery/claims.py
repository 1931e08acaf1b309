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

import logging
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from switchboard.edges.keys import CLAIMED_VISITORS, CLAIMS_ADOPTED, VISITOR_PATTERN, as_str, visitor_key, visitor_of_key

__all__ = ["claim", "claimed", "stage_claim", "stage_release", "release_stale"]

log = logging.getLogger("switchboard.claims")

# KEYS[1] the visitor's hash, KEYS[2] CLAIMED_VISITORS; ARGV[1] the ended conversation, ARGV[2] the visitor
_RELEASE = ("if redis.call('HGET', KEYS[1], 'conv') == ARGV[1] then redis.call('HDEL', KEYS[1], 'conv') "
            "redis.call('SREM', KEYS[2], ARGV[2]) end return 0")


async def claim(redis: aioredis.Redis, visitor: str, conversation: str) -> bool:
    """Make `conversation` the visitor's open one unless they have one; True if this call did."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(CLAIMED_VISITORS, visitor)  # first: a claim is never outside the set, even for a moment
        pipe.hsetnx(visitor_key(visitor), "conv", conversation)
        _, won = await pipe.execute()
    return bool(won)


async def claimed(redis: aioredis.Redis, visitor: str) -> str | None:
    """The visitor's open conversation now, whichever socket (of any edge) opened it; None if none."""
    return as_str(await redis.hget(visitor_key(visitor), "conv"))


def stage_claim(pipe: Pipeline, visitor: str, conversation: str) -> None:
    """The engine says `conversation` is open: the visitor's claim (in a pipeline of the caller's)."""
    pipe.sadd(CLAIMED_VISITORS, visitor)
    pipe.hset(visitor_key(visitor), "conv", conversation)


def stage_release(pipe: Pipeline, visitor: str, conversation: str) -> None:
    """`conversation` ended: release the visitor's claim if it is still this conversation's, and make it their
    ``last_conv``, where a message of it re-sent later is found (``VisitorSession._stored_before``)."""
    pipe.eval(_RELEASE, 2, visitor_key(visitor), CLAIMED_VISITORS, conversation, visitor)
    pipe.hset(visitor_key(visitor), "last_conv", conversation)


async def release_stale(redis: aioredis.Redis, open_conversations: Iterable[tuple[str, str]]) -> list[str]:
    """At start-up, with no socket connected: release every claim on a conversation not in
    `open_conversations` ((visitor, conversation) pairs the store has open); returns those conversations.

    A released conversation becomes the visitor's ``last_conv``, as a close does (:func:`stage_release`).
    The caller sets its phase in ``sb:conv``."""
    await _adopt_older_claims(redis)
    keep = dict(open_conversations)
    visitors = [as_str(v) async for v in redis.sscan_iter(CLAIMED_VISITORS, count=1000)]
    stale: list[str] = []
    for start in range(0, len(visitors), 1000):
        chunk = visitors[start:start + 1000]
        async with redis.pipeline(transaction=False) as pipe:
            for visitor in chunk:
                pipe.hget(visitor_key(visitor), "conv")
            claims = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for visitor, raw in zip(chunk, claims, strict=True):
                conv = as_str(raw)
                if conv is not None and keep.get(visitor) == conv:
                    continue
                if conv is not None:
                    stale.append(conv)
                    stage_release(pipe, visitor, conv)
                else:
                    pipe.srem(CLAIMED_VISITORS, visitor)
            if len(pipe):
                await pipe.execute()
    return stale


async def _adopt_older_claims(redis: aioredis.Redis) -> None:
    """Once per Redis: put the claims made before this set existed into it, so they are checked too (a
    visitor stuck on a conversation lost by an older version's crash is released by the first start)."""
    if not await redis.set(CLAIMS_ADOPTED, "1", nx=True):  # set once the claims older than CLAIMED_VISITORS are in it
        return
    adopted = 0
    batch: list[str] = []
    async for raw in redis.scan_iter(match=VISITOR_PATTERN, count=1000):
        batch.append(as_str(raw))
        if len(batch) == 1000:
            adopted += await _adopt(redis, batch)
            batch = []
    adopted += await _adopt(redis, batch)
    if adopted:
        log.info("found %d visitors' open-conversation claims made before %s existed", adopted, CLAIMED_VISITORS)


async def _adopt(redis: aioredis.Redis, keys: list[str]) -> int:
    if not keys:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hexists(key, "conv")
        claimed = [visitor_of_key(key) for key, has in zip(keys, await pipe.execute(), strict=True) if has]
    if claimed:
        await redis.sadd(CLAIMED_VISITORS, *claimed)
    return len(claimed)
