"""Resume and sync pages on a long conversation with notes: a reader who follows the pages misses nothing.

The documented rule (docs/protocol.md, resume): a page has at most 500 messages; a reader who got 500
asks again after the last seq it got, one who got fewer has everything. The tests below read history
exactly like that, as a reconnecting visitor or agent does, on a conversation longer than both a page
and the Redis window, with internal notes a visitor never sees.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import orjson
import redis.asyncio as aioredis
from starlette.websockets import WebSocketState

from switchboard.edges.delivery import history
from switchboard.edges.keys import user_key
from switchboard.actors.address import UserRef
from switchboard.edges.delivery.sockets import Connection, Sockets, TokenBucket
from switchboard.edges.delivery.history import message_frame, stage_append
from switchboard.edges.protocol import Frame
from switchboard.store.writer import StoreWriter

CONV = "c-0123456789abcdef"
PAGE = 500
WINDOW = 200  # the Redis history keeps the last 200 messages (history_cap's default)


def conversation(length: int, is_note: Callable[[int], bool]) -> list[Frame]:
    """`length` message frames, seq 1..length; `is_note(seq)` says which ones are internal notes."""
    frames, prev = [], 0
    for seq in range(1, length + 1):
        note = is_note(seq)
        role, author = ("agent", "a-00000001") if note or seq % 2 == 0 else ("visitor", "v-0123456789abcdef")
        frames.append(message_frame(CONV, seq, prev, role, author, author, "note" if note else "text",
                                    f"line {seq}", f"k{seq}", 1_700_000_000.0 + seq))
        if not note:
            prev = seq
    return frames


async def kept(redis: aioredis.Redis, frames: list[Frame], window: int) -> None:
    """Every frame stored, as the relay stores them; the last `window` also in the Redis history."""
    writer = StoreWriter()
    await asyncio.gather(*(writer.add_message({
        "conversation": f["conversation"], "seq": f["seq"], "sender_role": f["sender"]["role"],
        "sender_id": f["sender"]["id"], "kind": f["kind"], "text": f["text"], "client_id": f["client_id"],
        "at": f["time"]}) for f in frames))
    await writer.close()
    if window:
        async with redis.pipeline(transaction=False) as pipe:
            stage_append(pipe, CONV, frames[-window:], window)
            await pipe.execute()


async def follow_pages(redis: aioredis.Redis, after: int, for_visitor: bool) -> tuple[list[int], int]:
    """Read as a client does: ask after `after`; while a page is full, ask again after its last seq."""
    seqs: list[int] = []
    asks = 0
    while True:
        page = await history.fetch(redis, CONV, after, None, for_visitor)
        asks += 1
        seqs += [m["seq"] for m in page]
        if len(page) < PAGE or asks > 20:
            return seqs, asks
        after = page[-1]["seq"]


def read_back(redis_url: str, frames: list[Frame], window: int, after: int,
              for_visitor: bool) -> tuple[list[int], int]:
    async def scenario() -> tuple[list[int], int]:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await kept(redis, frames, window)
            return await follow_pages(redis, after, for_visitor)
        finally:
            await redis.aclose()

    return asyncio.run(scenario())


def seqs_seen(frames: list[Frame], after: int, for_visitor: bool) -> list[int]:
    return [f["seq"] for f in frames if f["seq"] > after and not (for_visitor and f["kind"] == "note")]


def test_a_visitor_resuming_a_long_conversation_with_notes_gets_every_message_it_missed_by_following_the_pages(
        store: str, redis_url: str) -> None:
    # the reviewer's conversation: 901 messages, 100 notes early on, the Redis window holding 702..901
    frames = conversation(901, lambda seq: 2 <= seq <= 400 and seq % 4 == 2)

    got, asks = read_back(redis_url, frames, WINDOW, after=1, for_visitor=True)

    assert got == seqs_seen(frames, 1, for_visitor=True)  # 801 - 100 notes = 700 messages, none skipped
    assert asks == 2


def test_notes_hidden_from_a_visitor_never_make_a_page_look_like_the_last_one(store: str, redis_url: str) -> None:
    # Redis has lost this conversation's history: every page comes from the store, the first rows all notes
    frames = conversation(700, lambda seq: 2 <= seq <= 201)

    got, _ = read_back(redis_url, frames, 0, after=1, for_visitor=True)

    assert got == seqs_seen(frames, 1, for_visitor=True)


def test_an_agent_resuming_a_long_conversation_gets_every_message_and_note_in_order(store: str,
                                                                                   redis_url: str) -> None:
    frames = conversation(1_234, lambda seq: seq % 7 == 3)

    got, asks = read_back(redis_url, frames, WINDOW, after=0, for_visitor=False)

    assert got == seqs_seen(frames, 0, for_visitor=False)
    assert asks == 3


def test_a_message_missing_from_the_redis_window_is_read_from_the_store_not_skipped(store: str,
                                                                                  redis_url: str) -> None:
    frames = conversation(30, lambda seq: seq == 20)

    async def scenario() -> list[int]:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await kept(redis, frames, WINDOW)
            await redis.zremrangebyscore(f"sb:hist:{CONV}", 12, 12)  # stored, but never written to Redis
            return [m["seq"] for m in await history.fetch(redis, CONV, 5, None, for_visitor=False)]
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) == seqs_seen(frames, 5, for_visitor=False)


class Collecting:
    """A websocket that takes every frame at once and keeps the seqs of the messages."""

    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.seqs: list[int] = []

    async def send_text(self, text: str) -> None:
        self.seqs.append(orjson.loads(text)["seq"])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.application_state = WebSocketState.DISCONNECTED


def test_a_socket_that_missed_more_than_a_page_through_a_lost_publish_gets_all_of_it_in_order(
        store: str, redis_url: str) -> None:
    frames = conversation(1_300, lambda seq: False)

    async def scenario() -> list[int]:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            await kept(redis, frames[:-1], WINDOW)
            edge, ws = Sockets(redis), Collecting()
            conn = Connection(ws, UserRef.agent("a-00000001"), "c1", TokenBucket(20, 40))  # type: ignore[arg-type]
            conn.last[CONV] = 10  # it saw up to seq 10; the publishes of 11..1299 were lost
            edge.add(conn)
            await edge.release(conn)
            await edge.receive([["u", user_key(conn.user), frames[-1]]])
            for _ in range(100):  # the socket's writer drains what the heal queued
                if ws.seqs and ws.seqs[-1] == 1_300:
                    break
                await asyncio.sleep(0.02)
            return ws.seqs
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) == list(range(11, 1_301))
