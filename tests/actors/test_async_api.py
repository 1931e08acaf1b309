"""The engine API from an asyncio loop: sends never block it, deliveries arrive as an async iterator.

This is the only test here that runs on the wall clock and sleeps: a ticker
task measures how late the loop wakes it while the engine assigns 2,000
conversations. The bounds are generous; the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from switchboard.actors.address import Address
from switchboard.actors.engine import AsyncDeliveries
from switchboard.actors.start import start_engine
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


def test_deliveries_pushed_from_threads_reach_the_loop_in_order_and_a_bad_one_loses_nothing() -> None:
    from switchboard.actors.engine import on_loop

    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        wakeups = 0
        real_call = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return real_call(callback, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]

        def handle(n: Any) -> None:
            if n == 500:
                raise ValueError("a bad delivery")
            seen.append(n)

        push = on_loop(loop, handle)
        threads = [threading.Thread(target=lambda k=k: [push(k * 1000 + i) for i in range(1000)]) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            await asyncio.to_thread(t.join)
        while len(seen) < 2999:
            await asyncio.sleep(0.01)
        return seen, wakeups

    seen, wakeups = asyncio.run(scenario())
    assert sorted(seen) == sorted(set(range(3000)) - {500})
    for k in range(3):  # each thread's deliveries keep their order
        mine = [n for n in seen if n // 1000 == k]
        assert mine == sorted(mine)
    assert wakeups < 3000  # bursts share a wake-up (to_thread's own calls are counted too)
