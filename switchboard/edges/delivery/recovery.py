"""Restart recovery: rebuild the engine and the Redis views from the store.

The store is the durable record; the engine's state is derived from it. On
start-up every group is created again, then (once the queues exist) every
agent (offline, holding its assigned conversations for the offline grace
period), and then every open conversation: a queued one re-enters its queue
with its original request time, so each queue comes back in its order.
Redis' per-conversation views (owner, phase, agent, last seq) are rewritten
from the same records, since an embedded Redis may have lost them.

Redis can also die and come back while the server runs (an embedded one from its append-only file,
which may miss the last second of writes; edges/health.py notices): then :func:`refresh_views` rewrites
only the views, as recovery does, and leaves the engine alone (it never lost anything).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from switchboard.actors import messages as m
from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.store import archive
from switchboard.store.hours import DEFAULT_ID, effective, get_many
from switchboard.edges.delivery.claims import release_stale, stage_claim
from switchboard.edges.keys import ENDED_CONV_TTL_S, conv_hash, conv_key, registry_pattern

__all__ = ["recover", "refresh_views"]

log = logging.getLogger("switchboard.recovery")

_SETTLE_S = 60.0


async def recover(engine: Engine, redis: aioredis.Redis, default_group: str | None = None) -> dict[str, int]:
    """Restore everything open; returns counts for the start-up banner.

    `default_group` (the server's ``default_group``, where a visitor who names no group waits) is created
    first if the store has no such group: on a fresh install every hand-off would otherwise be refused
    with ``unknown_group`` until an admin happened to create a group of exactly that name.

    In three steps, each on a quiet engine: groups, then agents, then conversations. The engine
    orders messages between two entities, not across hosts: a new agent tells each of its
    groups' queues its status at once, and a queue not created yet bounces that (the agent then
    leaves the group for good), so the queues must exist before any agent does; a restored
    conversation messages its queue and its agent, so it comes last.
    """
    created = bool(default_group) and await asyncio.to_thread(archive.ensure_group, str(default_group))
    if created:
        log.info("created the skill group %r: visitors who ask for a person without naming a group wait there",
                 default_group)
    world = await asyncio.to_thread(archive.load_world)
    await _forget_sockets(redis)
    await _rewrite_views(redis, world.conversations)  # first: what the restored entities say next wins
    stale = await release_stale(redis, [(s["visitor"], s["conversation"]) for s in world.conversations])
    if stale:
        await _mark_ended(redis, stale, await asyncio.to_thread(archive.phases, stale))
        log.info("released %d visitors' claims on conversations the store does not have open (a crash "
                 "came between the two): their next message opens a new one", len(stale))
    hours = await asyncio.to_thread(get_many, [DEFAULT_ID, *(str(group.id) for group in world.groups)])
    for group in world.groups:
        schedule, at_closing, _ = effective(hours[str(group.id)], hours[DEFAULT_ID])
        engine.send(Address.queue(group.id), m.CreateGroup(
            group.policy, group.max_queue, group.last_agent_wait_s,
            schedule=schedule.to_dict() if schedule is not None else None, at_closing=at_closing))
    await _settle(engine, "the groups")
    active: dict[str, list[tuple[str, str | None]]] = {}
    for state in world.conversations:
        if state["phase"] == "assigned" and state["agent"]:
            active.setdefault(state["agent"], []).append((state["conversation"], state["group"]))
    for agent in world.agents:
        engine.send(Address.agent(agent.id), m.CreateAgent(agent.saturation, tuple(agent.groups), agent.nickname,
                                                            tuple(active.get(agent.id, ()))))
    await _settle(engine, "the agents")
    for state in world.conversations:
        engine.send(Address.conversation(state["conversation"]), restore_message(state, world.client_ids))
    # Serve only a restored world: a restored conversation re-enters its queue by a message of its own,
    # and an agent connecting the moment the server is up reads the queue from the engine.
    await _settle(engine, "recovery")
    counts = {"groups": len(world.groups), "agents": len(world.agents), "conversations": len(world.conversations),
              "queued": sum(1 for s in world.conversations if s["phase"] == "queued")}
    log.info("recovered %s", counts)
    return counts


async def refresh_views(redis: aioredis.Redis) -> int:
    """After Redis came back with the server running: every open conversation's view rewritten from the
    store, and claims on conversations the store has ended released; returns how many views were written.

    Run it while no socket is served (edges/health.py has closed them all and refuses new ones), so no
    claim is made meanwhile. The store is written before Redis (the relay), so what it says is never older
    than what Redis had."""
    world = await asyncio.to_thread(archive.load_world)
    await _rewrite_views(redis, world.conversations)
    stale = await release_stale(redis, [(s["visitor"], s["conversation"]) for s in world.conversations])
    if stale:
        await _mark_ended(redis, stale, await asyncio.to_thread(archive.phases, stale))
    log.info("Redis is back: rewrote %d conversation views from the store, released %d stale claims",
             len(world.conversations), len(stale))
    return len(world.conversations)


async def _forget_sockets(redis: aioredis.Redis) -> None:
    """The registry of connected users (``sb:reg:*``, user -> edge -> sockets) counted the sockets of edges
    that are gone: every edge starts with the server, under a new id. A server killed with -9 never told
    Redis (which keeps it on disk), and its counts would keep an agent "connected" after their last real
    socket closed: never set offline, still assigned visitors."""
    keys = [key async for key in redis.scan_iter(match=registry_pattern(), count=1000)]
    for start in range(0, len(keys), 1000):
        await redis.delete(*keys[start:start + 1000])
    if keys:
        log.info("forgot the connections of %d users counted before the restart", len(keys))


async def _settle(engine: Engine, what: str) -> None:
    if not await asyncio.to_thread(engine.wait_quiet, _SETTLE_S):
        log.warning("the engine had not settled %.0f s after %s; going on anyway", _SETTLE_S, what)


def restore_message(state: dict[str, Any], client_ids: dict[str, dict[str, int]]) -> m.RestoreConversation:
    return m.RestoreConversation(
        visitor=state["visitor"], channel=state.get("channel") or "widget", phase=state["phase"],
        group=state["group"], priority=state.get("priority") or 0, front=state.get("tier") == 0,
        agent=state["agent"], participants=tuple(state.get("participants") or ()),
        created_at=state["created_at"] or 0.0, queued_at=state["queued_at"], assigned_at=state["assigned_at"],
        first_agent_reply_at=state["first_agent_reply_at"], last_seq=state.get("last_seq") or 0,
        client_ids=tuple(client_ids.get(state["conversation"], {}).items()),
        last_public_seq=state.get("last_public_seq"))


async def _mark_ended(redis: aioredis.Redis, conversations: list[str], stored: dict[str, str]) -> None:
    """Their views say what the store says (closed or abandoned); one the store never had was never open."""
    async with redis.pipeline(transaction=False) as pipe:
        for conv in conversations:
            pipe.hset(conv_key(conv), "phase", stored.get(conv, "abandoned"))
            pipe.expire(conv_key(conv), ENDED_CONV_TTL_S)
        await pipe.execute()


async def _rewrite_views(redis: aioredis.Redis, conversations: list[dict[str, Any]]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for s in conversations:
            view = conv_hash(s["visitor"], s["phase"], s["group"], s["agent"], s.get("participants") or [],
                             s.get("channel") or "widget")
            pipe.hset(conv_key(s["conversation"]), mapping={**view, "last_seq": s.get("last_seq") or 0})
            stage_claim(pipe, s["visitor"], s["conversation"])
        await pipe.execute()
