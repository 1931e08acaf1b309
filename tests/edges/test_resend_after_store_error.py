"""A message that met ``store_unavailable`` and was re-sent, as docs/protocol.md says: the agent gets it, once.

A real engine (inline), relay, hub on the embedded Redis and writer on the embedded store; the store
"goes down" by making the writer's batches fail (no retries), as an unreachable store fails them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from pymongo.errors import AutoReconnect

from switchboard.actors.address import Address, UserRef
from switchboard.actors.start import start_engine
from switchboard.actors.messages import CreateAgent, CreateGroup, OpenConversation, Post, RequestHuman, SetPresence
from switchboard.edges.delivery import history
from switchboard.edges.delivery.fanout import Batch, Hub
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.relay import Relay
from switchboard.edges.keys import text_hash, user_key
from switchboard.edges.protocol import Frame
from switchboard.store.archive import messages_between
from switchboard.store.writer import StoreWriter, _Plan

CONV, GROUP = "c-00000000000000e1", "support"
VISITOR, AGENT = UserRef.visitor("v-00000000000000e1"), UserRef.agent("a-000000e1")


class FlakyStore(StoreWriter):
    """A writer whose store can be switched off: every batch fails while it is down."""

    down = False

    def _write(self, plan: _Plan) -> None:
        if self.down:
            raise AutoReconnect("connection refused: the store is down")
        super()._write(plan)


def frames_for(got: Batch, user: UserRef, *types: str) -> list[tuple[str, int | None, str | None]]:
    return [(f["type"], f.get("seq"), f.get("code") or f.get("text")) for _, key, f in got
            if key == user_key(user) and f["type"] in types]


Said = list[tuple[str, str, bool]]  # (client id, text, store down while it is sent)


def chat(redis_url: str, said: Said, down_while_assigned: bool = False) -> dict[str, Any]:
    """A visitor, served by an agent, says each line in turn (the store down for some); what everyone got."""
    async def scenario() -> dict[str, Any]:
        redis = aioredis.Redis.from_url(redis_url)
        hub = Hub(redis, "edge-e1")
        got: Batch = []

        async def receive(items: Batch) -> None:
            got.extend(items)

        async def control(_: Frame) -> None:
            return None

        hub.start(receive, control)
        await hub.register(VISITOR)
        await hub.register(AGENT)
        writer = FlakyStore(retries=0)
        relay = Relay(hub, writer, Names(), history_cap=200)
        relay.names.set_agent(AGENT.id, "Sam")
        relay.start()
        engine = start_engine("inline", on_delivery=relay.push, tune_gc=False)  # the loop's thread: in order
        try:
            engine.send(Address.queue(GROUP), CreateGroup())
            engine.send(Address.agent(AGENT.id), CreateAgent(3, (GROUP,)))
            engine.send(Address.agent(AGENT.id), SetPresence("online"))
            engine.send(Address.conversation(CONV), OpenConversation(VISITOR.id))
            writer.down = down_while_assigned
            engine.send(Address.conversation(CONV), RequestHuman(GROUP))
            await relay.idle()
            await hub.flushed()
            state = text_hash(await redis.hgetall(f"sb:conv:{CONV}"))
            for client_id, text, down in said:
                writer.down = down
                engine.send(Address.conversation(CONV), Post("visitor", VISITOR.id, text, client_id=client_id))
                await relay.idle()
            writer.down = False
            in_history = await history.fetch(redis, CONV, 0, None, for_visitor=False)  # an agent's sync after=0
            last_seq = await redis.hget(f"sb:conv:{CONV}", "last_seq")
        finally:
            engine.stop()
            await relay.stop()
            await hub.stop()
            await writer.close()
            await redis.aclose()
        return {"state": state, "agent": frames_for(got, AGENT, "message"), "visitor": frames_for(got, VISITOR, "ack", "error"),
                "history": [(m["seq"], m["text"]) for m in in_history], "last_seq": int(last_seq or 0),
                "stored": [(m["seq"], m["text"]) for m in messages_between(CONV, 0)]}

    return asyncio.run(scenario())


def test_a_message_re_sent_after_store_unavailable_reaches_the_agent_once_and_stays_in_the_history(
        store: str, redis_url: str) -> None:
    seen = chat(redis_url, [("v1", "hi, where is my bike?", False),
                 ("v2", "order 1234", True),  # store_unavailable: no ack
                 ("v2", "order 1234", False),  # re-sent with the same client id, as the error says
                 ("v2", "order 1234", False)])  # and once more (a retry too many): still one message

    assert seen["visitor"] == [("ack", 1, "hi, where is my bike?"), ("error", None, "store_unavailable"),
                               ("ack", 2, "order 1234"), ("ack", 2, "order 1234")]
    assert seen["agent"] == [("message", 1, "hi, where is my bike?"), ("message", 2, "order 1234")]
    assert seen["history"] == seen["stored"] == [(1, "hi, where is my bike?"), (2, "order 1234")]
    assert seen["last_seq"] == 2


def test_a_message_re_sent_after_a_later_one_fills_its_place_in_the_history_and_last_seq_stays_at_the_newest(
        store: str, redis_url: str) -> None:
    seen = chat(redis_url, [("v1", "hi", False),
                 ("v2", "order 1234", True),  # store_unavailable
                 ("v3", "hello?", False),  # the visitor goes on before re-sending
                 ("v2", "order 1234", False)])

    assert seen["visitor"] == [("ack", 1, "hi"), ("error", None, "store_unavailable"), ("ack", 3, "hello?"),
                               ("ack", 2, "order 1234")]
    assert seen["agent"] == [("message", 1, "hi"), ("message", 3, "hello?"), ("message", 2, "order 1234")]
    assert seen["history"] == seen["stored"] == [(1, "hi"), (2, "order 1234"), (3, "hello?")]
    assert seen["last_seq"] == 3


def test_an_assignment_the_store_could_not_save_still_reaches_the_edges_so_the_agent_may_resume_it(
        store: str, redis_url: str) -> None:
    seen = chat(redis_url, [("v1", "hi", False)], down_while_assigned=True)

    assert (seen["state"]["phase"], seen["state"]["agent"]) == ("assigned", AGENT.id)  # what may_read checks
    assert seen["agent"] == [("message", 1, "hi")]
