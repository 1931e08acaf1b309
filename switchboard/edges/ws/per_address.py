"""How many conversations the anonymous visitors of one client address hold open, and how many of them wait
in a queue for a person: bounded, so one host cannot fill the queues (issue 17: 300 sockets from one address
queued in 3.7 s and a real customer got position 301).

Visitors are anonymous, so the client address (:func:`~switchboard.edges.limits.client_address`, through
trusted proxies) is what ties a spammer's sockets together. Two Redis keys per address
(:func:`~switchboard.edges.keys.address_key`): ``open``, the conversations its visitors opened, and
``queued``, those that asked for a person, each a sorted set by when its place was taken. A place is taken
before it is counted, so a burst of requests cannot all pass a count made before any of them was added. Nothing removes a member when its
conversation moves on: a count only at the limit looks closer, asks each member's phase in the
conversation's view (``sb:conv:{id}``), drops those that no longer count and counts again. So the common
case costs one read, and the keys heal themselves whatever the engine did meanwhile. A place whose
conversation is not yet shown (no view, or a request for a person still in the ``bot`` phase) counts for
``_SETTLE_S``: the engine and the relay take a moment to show it.
"""

from __future__ import annotations

import time
from typing import Callable, cast

import redis.asyncio as aioredis

from switchboard.edges.keys import address_key, as_str, conv_key

__all__ = ["AddressLimits"]

_TTL_S = 86400  # an address's keys outlive its last conversation by a day at most
_SETTLE_S = 30.0  # a request for a person not yet shown queued counts this long
_ENDED = ("closed", "abandoned")


class AddressLimits:
    """The open and queued conversations of one client address's visitors."""

    def __init__(self, redis: aioredis.Redis, address: str, max_open: int, max_queued: int) -> None:
        self.redis, self.address = redis, address
        self.max_open, self.max_queued = max_open, max_queued

    async def reserve_open(self, conversation: str, now: float | None = None) -> bool:
        """Take a place for a conversation about to be opened; False (and no place) past `max_open`."""
        return await self._reserve("open", conversation, self.max_open, _open_counts, now)

    async def reserve_queue(self, conversation: str, now: float | None = None) -> bool:
        """Take a place for `conversation`'s request for a person; False (and no place) past `max_queued`."""
        return await self._reserve("queued", conversation, self.max_queued, _queued_counts, now)

    async def release_open(self, conversation: str) -> None:
        """Give back a place taken for a conversation that was not opened after all."""
        await self.redis.zrem(address_key("open", self.address), conversation)

    async def _reserve(self, kind: str, conversation: str, limit: int, counts: Counts, now: float | None) -> bool:
        """Take a place first, then look: places rank by when they were taken, so of a burst of requests made
        at once exactly the first `limit` find themselves inside (a count before the add let a burst of 50
        through a limit of 5). One that finds `limit` places ahead of it asks their conversations' phases,
        drops the places that no longer count and, still outside, gives its own place back."""
        moment = time.time() if now is None else now
        key = address_key(kind, self.address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {conversation: moment}, nx=True)  # a repeated request keeps its first place
            pipe.expire(key, _TTL_S)
            pipe.zrange(key, 0, -1, withscores=True)
            *_, raw = await pipe.execute()
        entries = [(as_str(member), float(score)) for member, score in cast(list[tuple[bytes, float]], raw)]
        ahead = entries[: [c for c, _ in entries].index(conversation)]
        if len(ahead) < limit:
            return True
        phases = await self._phases([c for c, _ in ahead])
        gone = [c for (c, at), phase in zip(ahead, phases) if not counts(phase, at, moment)]
        if gone:
            await self.redis.zrem(key, *gone)
        if len(ahead) - len(gone) < limit:
            return True
        await self.redis.zrem(key, conversation)
        return False

    async def _phases(self, conversations: list[str]) -> list[str | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation in conversations:
                pipe.hget(conv_key(conversation), "phase")
            return [as_str(p) for p in await pipe.execute()]


Counts = Callable[[str | None, float, float], bool]  # (phase, when the place was taken, now): does it count?


def _open_counts(phase: str | None, at: float, now: float) -> bool:
    """An open conversation counts; one not yet shown anywhere counts while it settles."""
    if phase is None:
        return at >= now - _SETTLE_S
    return phase not in _ENDED


def _queued_counts(phase: str | None, at: float, now: float) -> bool:
    """A conversation waiting for a person counts; one still in the bot phase (not yet shown queued) while
    it settles; an assigned or ended one no longer does."""
    if phase is None or phase == "bot":
        return at >= now - _SETTLE_S
    return phase not in _ENDED and phase != "assigned"
