"""The relay's promise: a message is in the store before its author is acked and before anyone else sees it.

And one the store could not take is never acked: its author is told ``store_unavailable`` instead
(docs/protocol.md, "Ordering and delivery guarantees"). The parts are the real ones, on the embedded
servers: the inline engine, the relay, the hub on Redis and the StoreWriter on the store. The store
write is held at a gate in the writer's own thread (the batch waits there, unwritten), so the test, not
the timing, decides when the store has the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import redis.asyncio as aioredis
from pymongo.errors import AutoReconnect

from switchboard.actors.address import Address, UserRef
from switchboard.actors.engine import Engine, ManualClock
from switchboard.actors.messages import Close, CreateAgent, CreateGroup, OpenConversation, Post, RequestHuman, SetPresence
from switchboard.actors.start import start_engine
from switchboard.edges.delivery.fanout import Batch, Hub
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.relay import Relay
from switchboard.edges.keys import user_key
from switchboard.edges.protocol import Frame
from switchboard.store.archive import messages_between
from switchboard.store.writer import StoreWriter, _Plan

CONV, GROUP = "c-00000000000000r1", "support"
VISITOR, AGENT = UserRef.visitor("v-00000000000000r1"), UserRef.agent("a-000000r1")
WHO = {user_key(VISITOR): "visitor", user_key(AGENT): "agent"}
NOW = 100.0

MESSAGE: Frame = {"type": "message", "conversation": CONV, "seq": 1, "prev": 0,
                  "sender": {"role": "visitor", "id": VISITOR.id, "name": "Visitor"}, "kind": "text",
                  "text": "where is my bike?", "client_id": "v1", "time": NOW}
ACK: Frame = {**MESSAGE, "type": "ack"}


class GatedStore(StoreWriter):
    """The real writer, whose batches wait at `gate` before they are written, and fail while `down`
    (as against a store that cannot be reached)."""

    def __init__(self) -> None:
        super().__init__(retries=0)
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()  # a batch is waiting at the closed gate
        self.down = False

    def _write(self, plan: _Plan) -> None:
        if not self.gate.is_set():
            self.held.set()
            if not self.gate.wait(timeout=30):
                raise TimeoutError("the test never opened the gate")
        if self.down:
            raise AutoReconnect("connection refused: the store is down")
        super()._write(plan)


@dataclass
class Served:
    """A conversation the agent serves, and every frame sent to the visitor or the agent since."""

    engine: Engine
    relay: Relay
    hub: Hub
    writer: GatedStore
    frames: list[tuple[str, Frame]] = field(default_factory=list)
    stored_on_arrival: list[bool] = field(default_factory=list)  # per message or ack: was it in the store then

    def visitor_says(self, text: str, client_id: str) -> None:
        self.engine.send(Address.conversation(CONV), Post("visitor", VISITOR.id, text, client_id=client_id))

    def agent_closes(self) -> None:
        self.engine.send(Address.conversation(CONV), Close("agent", agent=AGENT.id))

    async def with_the_store_held(self, act: Callable[[], None]) -> dict[str, object]:
        """Do `act` while store writes wait at the gate; returns the frames people got and the messages the
        store had meanwhile. Then opens the gate and waits until the relay has carried everything."""
        self.writer.gate.clear()
        act()
        assert await asyncio.to_thread(self.writer.held.wait, 10)
        await asyncio.sleep(0.1)  # a relay that did not wait for the write would have staged its frames by now
        await self.hub.flushed()
        meanwhile: dict[str, object] = {"frames": list(self.frames), "stored": await stored()}
        self.writer.gate.set()
        await self.relay.idle()
        return meanwhile


async def stored() -> list[tuple[int, str]]:
    return [(m["seq"], m["text"]) for m in await asyncio.to_thread(messages_between, CONV, 0)]


@contextlib.asynccontextmanager
async def served_conversation(redis_url: str) -> AsyncIterator[Served]:
    redis = aioredis.Redis.from_url(redis_url)
    hub = Hub(redis, "edge-r1")
    writer = GatedStore()
    relay = Relay(hub, writer, Names(), history_cap=200)
    engine = start_engine("inline", clock=ManualClock(NOW), on_delivery=relay.push, tune_gc=False)
    served = Served(engine, relay, hub, writer)
    starting = True

    async def receive(items: Batch) -> None:
        for _, key, frame in items:
            if starting:
                continue
            served.frames.append((WHO[key], frame))
            if frame["type"] in ("message", "ack"):
                served.stored_on_arrival.append((frame["seq"], frame["text"]) in await stored())

    async def control(_: Frame) -> None:
        return None

    hub.start(receive, control)
    await hub.register(VISITOR)
    await hub.register(AGENT)
    relay.names.set_agent(AGENT.id, "Sam")
    relay.start()
    try:
        engine.send(Address.queue(GROUP), CreateGroup())
        engine.send(Address.agent(AGENT.id), CreateAgent(3, (GROUP,)))
        engine.send(Address.agent(AGENT.id), SetPresence("online"))
        engine.send(Address.conversation(CONV), OpenConversation(VISITOR.id))
        engine.send(Address.conversation(CONV), RequestHuman(GROUP))
        await relay.idle()
        starting = False
        yield served
    finally:
        writer.gate.set()
        engine.stop()
        await relay.stop()
        await hub.stop()
        await writer.close()
        await redis.aclose()


def test_a_message_reaches_no_one_until_the_store_has_it_then_the_agent_gets_it_and_its_author_the_ack(
        store: str, redis_url: str) -> None:
    async def scenario() -> dict[str, object]:
        async with served_conversation(redis_url) as chat:
            while_held = await chat.with_the_store_held(lambda: chat.visitor_says("where is my bike?", "v1"))
            return {"while held": while_held, "frames": chat.frames, "stored": await stored(),
                    "stored on arrival": chat.stored_on_arrival}

    seen = asyncio.run(scenario())

    assert seen["while held"] == {"frames": [], "stored": []}
    assert seen["frames"] == [("agent", MESSAGE), ("visitor", ACK)]
    assert seen["stored"] == [(1, "where is my bike?")]
    assert seen["stored on arrival"] == [True, True]


def test_a_close_right_behind_a_message_the_store_holds_waits_for_it_and_never_overtakes_it(
        store: str, redis_url: str) -> None:
    async def scenario() -> dict[str, object]:
        async with served_conversation(redis_url) as chat:
            def message_then_close() -> None:
                chat.visitor_says("where is my bike?", "v1")
                chat.agent_closes()
            while_held = await chat.with_the_store_held(message_then_close)
            return {"while held": while_held, "frames": chat.frames}

    seen = asyncio.run(scenario())

    closed = {"type": "closed", "conversation": CONV, "reason": "agent"}
    assert seen["while held"] == {"frames": [], "stored": []}
    assert seen["frames"] == [("agent", MESSAGE), ("visitor", ACK), ("visitor", closed), ("agent", closed)]


def test_a_message_the_store_could_not_write_is_never_acked_and_its_author_is_told_store_unavailable(
        store: str, redis_url: str) -> None:
    async def scenario() -> dict[str, object]:
        async with served_conversation(redis_url) as chat:
            chat.writer.down = True
            chat.visitor_says("where is my bike?", "v1")
            await chat.relay.idle()
            return {"frames": chat.frames, "stored": await stored(), "failed writes": chat.relay.failed_writes}

    seen = asyncio.run(scenario())

    assert seen["frames"] == [("visitor", {"type": "error", "code": "store_unavailable",
                                           "message": "the message was not saved; send it again",
                                           "client_id": "v1", "conversation": CONV})]
    assert seen["stored"] == []
    assert seen["failed writes"] == 1
