"""A re-send the store already had under an earlier seq (decision 014) is carried as a duplicate of that one.

The writer here answers every message as the store's unique index does for a re-send the engine's window
forgot: "already stored as seq 1". The hub is the real one, on the embedded Redis.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from switchboard.actors.address import UserRef
from switchboard.actors.effects import AskBot
from switchboard.actors.events import Posted
from switchboard.actors.output import BotQuestion, Recorded
from switchboard.edges.delivery.fanout import Batch, Hub
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.relay import Relay
from switchboard.edges.keys import user_key
from switchboard.edges.protocol import Frame

CONV = "c-00000000000000e1"
VISITOR, AGENT = UserRef.visitor("v-00000000000000e1"), UserRef.agent("a-000000e1")


class StoredAsOne:
    """A writer whose store has every message already, under seq 1."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def submit_message(self, msg: dict[str, Any]) -> asyncio.Future[int | None]:
        self.messages.append(msg)
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        done.set_result(1)
        return done

    def submit_conversation(self, state: dict[str, Any]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class Bot:
    def __init__(self) -> None:
        self.asked: list[AskBot] = []

    def ask(self, question: AskBot) -> None:
        self.asked.append(question)


def test_a_re_send_stored_earlier_is_acked_with_the_earlier_seq_shown_to_no_one_and_not_asked_again(
        redis_url: str) -> None:
    async def scenario() -> tuple[list[tuple[str, Frame]], list[AskBot]]:
        redis = aioredis.Redis.from_url(redis_url)
        hub, bot = Hub(redis, "edge-e1"), Bot()
        relay = Relay(hub, StoredAsOne(), Names(), history_cap=200, bot=bot)
        seen: list[tuple[str, Frame]] = []

        async def receive(items: Batch) -> None:
            seen.extend((key, frame) for _, key, frame in items)

        async def control(_: Frame) -> None:
            return None

        hub.start(receive, control)
        await hub.register(VISITOR)
        await hub.register(AGENT)
        relay.start()
        resent = Posted(CONV, 300, "visitor", VISITOR.id, "text", "where is my bike?", "k1", 1_000.0,
                        (VISITOR, AGENT), prev=299)
        relay.push(Recorded(resent, None, 1_000.0))
        relay.push(BotQuestion(AskBot(CONV, VISITOR.id, 300, "where is my bike?"), None, 1_000.0))
        await relay.idle()
        await relay.stop()
        await hub.stop()
        await redis.aclose()
        return seen, bot.asked

    seen, asked = asyncio.run(scenario())

    assert [(key, frame["type"], frame["seq"], frame["client_id"]) for key, frame in seen] == [
        (user_key(VISITOR), "ack", 1, "k1")]
    assert asked == []
