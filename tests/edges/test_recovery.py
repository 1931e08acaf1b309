"""Restart recovery: the server serves a restored world, not one still being rebuilt."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from switchboard.actors.address import Address
from switchboard.actors.start import start_engine
from switchboard.edges.delivery.recovery import recover
from switchboard.store.documents import SkillGroup
from switchboard.store.writer import StoreWriter
from tests.store.test_writer import state

WAITING = 300


@pytest.mark.parametrize("runtime", ["local", "ray"])
def test_every_queued_visitor_is_back_in_order_the_moment_recovery_returns(runtime: str, store: str,
                                                                           redis_url: str) -> None:
    if runtime == "ray":
        pytest.importorskip("ray")
    SkillGroup(id="billing").save()
    states = [state(f"c{i:03}", visitor=f"v{i}", queued_at=1_700_000_010.0 + i) for i in range(WAITING)]

    async def scenario() -> list[str]:
        writer = StoreWriter()
        for item in reversed(states):  # stored out of order: the queue order comes from queued_at
            await writer.save_conversation(item)
        await writer.close()
        engine = start_engine(runtime, tune_gc=False)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await recover(engine, redis)
            queue = engine.inspect(Address.queue("billing"))  # at once, as an agent connecting right away
        finally:
            engine.stop()
            await redis.aclose()
        assert queue is not None
        return [w["conversation"] for w in queue["waiting"]]

    assert asyncio.run(scenario()) == [f"c{i:03}" for i in range(WAITING)]


def test_visitors_queued_within_one_millisecond_come_back_in_their_queue_order_not_their_id_order(
        store: str, redis_url: str) -> None:
    SkillGroup(id="billing").save()
    burst = 1_700_000_010.0005
    # ids run the other way round from the requests: only the exact request times can give the order back
    states = [state(f"c{99 - i:03}", visitor=f"v{i}", queued_at=burst + i * 1e-5) for i in range(30)]

    async def scenario() -> list[str]:
        writer = StoreWriter()
        for item in states:
            await writer.save_conversation(item)
        await writer.close()
        engine = start_engine("inline", tune_gc=False)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await recover(engine, redis)
            queue = engine.inspect(Address.queue("billing"))
        finally:
            engine.stop()
            await redis.aclose()
        assert queue is not None
        return [w["conversation"] for w in queue["waiting"]]

    assert asyncio.run(scenario()) == [s["conversation"] for s in states]


def test_an_agent_counted_as_connected_before_a_kill_9_is_offline_with_their_last_socket_after_the_restart(
        store: str, redis_url: str) -> None:
    """The registry is on Redis' disk: the killed server's counts must not keep the agent online for ever."""
    from switchboard.actors.address import UserRef
    from switchboard.edges.delivery.fanout import Hub

    async def scenario() -> int:
        redis = aioredis.Redis.from_url(redis_url)
        engine = start_engine("inline", tune_gc=False)
        try:
            mia = UserRef.agent("mia")
            await Hub(redis, "edge-before-the-kill").register(mia)  # her socket when the server was killed
            await recover(engine, redis)
            after = Hub(redis, "edge-after-the-restart")
            await after.register(mia)  # she reconnects ...
            return await after.unregister(mia)  # ... and closes her socket: sockets she has left anywhere
        finally:
            engine.stop()
            await redis.aclose()

    assert asyncio.run(scenario()) == 0


def test_the_first_start_creates_the_default_group_so_a_visitor_who_names_none_can_wait_there(
        store: str, redis_url: str) -> None:
    SkillGroup(id="sales", name="Sales", policy="last_agent_first").save()  # an admin's group stays as it is

    async def start(default_group: str) -> dict[str, int]:
        engine = start_engine("inline", tune_gc=False)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            counts = await recover(engine, redis, default_group)
            assert engine.inspect(Address.queue(default_group)) is not None
            return counts
        finally:
            engine.stop()
            await redis.aclose()

    assert asyncio.run(start("help-desk"))["groups"] == 2
    assert asyncio.run(start("help-desk"))["groups"] == 2  # the next start finds it: still one of each
    assert asyncio.run(start("sales"))["groups"] == 2
    groups = {g.id: (g.name, g.policy) for g in SkillGroup.objects()}
    assert groups == {"help-desk": ("Help Desk", "balanced"), "sales": ("Sales", "last_agent_first")}


def test_a_claim_left_by_a_crash_is_released_so_the_visitors_next_message_opens_a_new_conversation(
        store: str, redis_url: str) -> None:
    """kill -9 between the store and Redis: a close stored but not yet in Redis, or a conversation claimed
    in Redis that neither the engine nor the store ever had. Either claim refused every later frame."""
    from switchboard.edges.delivery.claims import claim
    from switchboard.edges.keys import CLAIMED_VISITORS

    open_state = state("c-open", visitor="v-open")
    closed_state = state("c-closed", "closed", visitor="v-closed")

    async def scenario() -> dict[str, Any]:
        writer = StoreWriter()
        for item in (open_state, closed_state):
            await writer.save_conversation(item)
        await writer.close()
        redis = aioredis.Redis.from_url(redis_url)
        engine = start_engine("inline", tune_gc=False)
        try:
            for visitor, conv in (("v-open", "c-open"), ("v-closed", "c-closed"), ("v-new", "c-never-stored")):
                assert await claim(redis, visitor, conv)  # as before the crash
            await redis.hset("sb:visitor:v-older", "conv", "c-lost")  # claimed by a version before the set
            await redis.hset("sb:conv:c-closed", mapping={"visitor": "v-closed", "phase": "assigned"})
            await recover(engine, redis)
            visitors = ("v-open", "v-closed", "v-new", "v-older")
            claims = {v: await redis.hget(f"sb:visitor:{v}", "conv") for v in visitors}
            return {"claims": claims, "claimed": await redis.smembers(CLAIMED_VISITORS),
                    "phases": [await redis.hget(f"sb:conv:{c}", "phase") for c in ("c-closed", "c-never-stored")],
                    "last": await redis.hget("sb:visitor:v-closed", "last_conv"),
                    "again": await claim(redis, "v-closed", "c-next")}
        finally:
            engine.stop()
            await redis.aclose()

    seen = asyncio.run(scenario())
    assert seen["claims"] == {"v-open": b"c-open", "v-closed": None, "v-new": None, "v-older": None}
    assert seen["phases"] == [b"closed", b"abandoned"]  # as stored; never stored: never open
    assert seen["last"] == b"c-closed"  # where a late re-send of its last message is found
    assert seen["again"] is True  # the next message opens a new conversation
    assert b"v-open" in seen["claimed"] and b"v-new" not in seen["claimed"]
