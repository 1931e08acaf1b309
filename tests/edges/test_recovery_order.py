"""Restart recovery restores groups before the agents in them.

An agent's first status goes to each of its groups' queues; a queue that does
not exist yet bounces it, and the agent then leaves that group for good. On Ray
(groups and agents on different hosts) that happened after a restart: an agent
came back without its groups and never got the conversations waiting there.

The engine orders the messages between two entities, and the driver's messages
to one host, but nothing across hosts: a CreateGroup sent to one host may arrive
after the status of an agent created on another. The driver's own order hides
that on the local runtime and on most Ray runs, so the `late_groups` cases hold
every message the driver sends to a queue back until recovery next waits for a
quiet engine, and delivers them after everything else: one legal delivery
order, made certain.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from switchboard.actors import messages as m
from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.actors.start import start_engine
from switchboard.edges.delivery.recovery import recover
from switchboard.store.documents import SkillGroup, User
from switchboard.store.writer import StoreWriter
from tests.store.test_writer import state

GROUPS = 24
WAITING_PER_GROUP = 2


def _groups_of(i: int) -> list[str]:
    return [f"g{i:02}", f"g{(i + 1) % GROUPS:02}", f"g{(i + 7) % GROUPS:02}"]


class _LateQueues:
    """An engine whose driver messages to queues arrive late: once the rest is quiet, when someone waits."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: list[tuple[Address, Any, str | None]] = []
        self._lock = threading.Lock()

    def send(self, to: Address, message: Any, *, ref: str | None = None) -> None:
        if to.kind.value == "queue":
            with self._lock:
                self._held.append((to, message, ref))
            return
        self._engine.send(to, message, ref=ref)

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        quiet = self._engine.wait_quiet(timeout)  # everything else first
        with self._lock:
            held, self._held = self._held, []
        for to, message, ref in held:
            self._engine.send(to, message, ref=ref)
        return self._engine.wait_quiet(timeout) and quiet

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@pytest.mark.parametrize("late_groups", [False, True], ids=["in_order", "late_groups"])
@pytest.mark.parametrize("runtime", ["local", "ray"])
def test_restored_agents_keep_their_groups_and_get_the_conversations_waiting_there(
        runtime: str, late_groups: bool, store: str, redis_url: str) -> None:
    if runtime == "ray":
        pytest.importorskip("ray")
    for g in range(GROUPS):
        SkillGroup(id=f"g{g:02}").save()
    agents = {f"a-{i:02}": _groups_of(i) for i in range(GROUPS)}  # each group has three agents
    for agent_id, groups in agents.items():
        User(id=agent_id, roles=["agent"], email=f"{agent_id}@example.com", password_hash="x", saturation=5,
             groups=groups).save()
    states = [state(f"c{g:02}-{k}", visitor=f"v{g}-{k}", group=f"g{g:02}", queued_at=1_700_000_010.0 + k)
              for g in range(GROUPS) for k in range(WAITING_PER_GROUP)]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        writer = StoreWriter()
        for item in states:
            await writer.save_conversation(item)
        await writer.close()
        engine = start_engine(runtime, tune_gc=False)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await recover(cast(Engine, _LateQueues(engine)) if late_groups else engine, redis)
            restored = {a: await asyncio.to_thread(engine.inspect, Address.agent(a)) for a in agents}
            for agent_id in agents:
                engine.send(Address.agent(agent_id), m.SetPresence("online"))
            assert await asyncio.to_thread(engine.wait_quiet, 60.0)
            online = {a: await asyncio.to_thread(engine.inspect, Address.agent(a)) for a in agents}
            queues = {f"g{g:02}": await asyncio.to_thread(engine.inspect, Address.queue(f"g{g:02}"))
                      for g in range(GROUPS)}
        finally:
            engine.stop()
            await redis.aclose()
        return restored, online, queues

    restored, online, queues = asyncio.run(scenario())

    assert {a: snap and snap["groups"] for a, snap in restored.items()} == agents
    assert {g: sorted(q["members"]) for g, q in queues.items() if q is not None} == {
        f"g{g:02}": sorted(a for a, groups in agents.items() if f"g{g:02}" in groups) for g in range(GROUPS)}
    assert {g: q["waiting"] for g, q in queues.items() if q is not None} == {f"g{g:02}": [] for g in range(GROUPS)}
    served = {c: a for a, snap in online.items() if snap for c in snap["active"]}
    assert sorted(served) == sorted(s["conversation"] for s in states)
    assert all(s["group"] in agents[served[s["conversation"]]] for s in states)
