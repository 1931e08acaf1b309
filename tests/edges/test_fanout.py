"""The hub on a real embedded Redis: what this edge's own sockets get, and what a slow socket may not hold up."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from switchboard.actors.address import UserRef
from switchboard.edges.delivery.fanout import Batch, Hub, Receiver
from switchboard.edges.protocol import Frame

VISITOR = UserRef.visitor("v1")


async def _hub(redis_url: str, receive: Receiver) -> tuple[Hub, aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    hub = Hub(client, "edge-a")

    async def control(_: Frame) -> None:
        return None

    hub.start(receive, control)
    await hub.register(VISITOR)
    return hub, client


def test_frames_for_this_edges_own_sockets_arrive_in_order_without_a_publish(redis_url: str) -> None:
    async def scenario() -> tuple[Batch, int]:
        got: Batch = []

        async def receive(items: Batch) -> None:
            got.extend(items)

        hub, client = await _hub(redis_url, receive)
        for n in range(5):
            hub.to_user(VISITOR, {"n": n})
            await asyncio.sleep(0)
        await hub.flushed()
        await hub.stop()
        await client.aclose()
        return got, hub.published

    got, published = asyncio.run(scenario())
    assert [frame["n"] for _, _, frame in got] == [0, 1, 2, 3, 4]
    assert published == 0


def test_a_socket_slow_to_take_its_frames_holds_up_neither_history_writes_nor_later_flushes(redis_url: str) -> None:
    async def scenario() -> tuple[bytes | str | None, int]:
        stuck = asyncio.Event()
        batches = 0

        async def receive(items: Batch) -> None:  # the first batch never finishes sending
            nonlocal batches
            batches += 1
            await stuck.wait()

        hub, client = await _hub(redis_url, receive)
        hub.to_user(VISITOR, {"n": 0})
        await asyncio.sleep(0.2)
        hub.write(lambda pipe: pipe.set("sb:test:later", "written"))
        hub.to_user(VISITOR, {"n": 1})
        await asyncio.wait_for(hub._idle.wait(), 5)  # the flusher is free: it is not waiting on the socket
        written = await client.get("sb:test:later")
        stuck.set()
        await hub.flushed()
        await hub.stop()
        await client.aclose()
        return written, batches

    written, batches = asyncio.run(scenario())
    assert written == b"written"
    assert batches == 2  # the second batch was delivered once the socket took the first
