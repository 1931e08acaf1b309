"""The engine API from an asyncio loop: sends never block it, deliveries arrive as an async iterator.

This is the only test here that runs on the wall clock and sleeps: a ticker
task measures how late the loop wakes it while the engine assigns 2,000
conversations. The bounds are generous; the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import time

from switchboard.actors.address import Address
from switchboard.actors.engine import AsyncDeliveries, start_engine
from switchboard.actors.events import Assigned, Refused
from switchboard.actors.messages import CreateAgent, CreateGroup, OpenConversation, RequestHuman, SetPresence

VISITORS = 2_000
AGENTS = 10
TICK_S = 0.005
MAX_GAP_S = 0.25
MIN_TICKS = 5  # the run takes well under a second on a quiet machine; the gap bound is the real check


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(TICK_S)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


async def _assign_many() -> tuple[set[str], list[float], list[Refused]]:
    deliveries = AsyncDeliveries()
    engine = await asyncio.to_thread(start_engine, "local", on_delivery=deliveries.push)
    gaps: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(gaps, stop))
    assigned: set[str] = set()
    refused: list[Refused] = []
    try:
        engine.send(Address.queue("sales"), CreateGroup(), ref="group")
        for i in range(AGENTS):
            engine.send(Address.agent(f"a{i}"), CreateAgent(VISITORS // AGENTS + 10, ("sales",)), ref=f"agent-{i}")
            engine.send(Address.agent(f"a{i}"), SetPresence("online"), ref=f"online-{i}")
        for i in range(VISITORS):
            conversation = Address.conversation(f"c{i}")
            engine.send(conversation, OpenConversation(f"v{i}"), ref=f"open-{i}")
            engine.send(conversation, RequestHuman("sales"), ref=f"ask-{i}")
            if i % 50 == 49:
                await asyncio.sleep(0)  # as an edge would, between frames

        async def consume() -> None:
            async for delivery in deliveries:
                if isinstance(delivery.event, Assigned):
                    assigned.add(delivery.event.conversation)
                elif isinstance(delivery.event, Refused):
                    refused.append(delivery.event)
                if len(assigned) == VISITORS:
                    return

        await asyncio.wait_for(consume(), timeout=120)
    finally:
        stop.set()
        await ticker
        await asyncio.to_thread(engine.stop)
    return assigned, gaps, refused


def test_the_engine_assigns_two_thousand_visitors_without_blocking_the_event_loop() -> None:
    assigned, gaps, refused = asyncio.run(_assign_many())

    assert refused == []
    assert assigned == {f"c{i}" for i in range(VISITORS)}
    assert len(gaps) >= MIN_TICKS, f"the loop ticked only {len(gaps)} times"
    assert max(gaps) < MAX_GAP_S, f"the loop stalled for {max(gaps) * 1000:.0f} ms"
