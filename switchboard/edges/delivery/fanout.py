"""Redis fan-out: which edge holds whose sockets, and carrying frames to them in batches.

Every edge process subscribes to its own channel ``sb:edge:{edge_id}``; a hash
``sb:reg:{role}:{id}`` maps each connected person to the edges holding their
sockets (edge id -> socket count); :mod:`switchboard.edges.keys` builds both. Whoever has something to tell a person (the
relay, another edge) stages it here; one flusher task sends everything staged
since its last round in two round trips: one pipeline of registry lookups, one
pipeline of staged writes followed by a single PUBLISH per edge carrying the
whole batch. Staged writes run before the publishes in the same pipeline, so
history a receiver may need to heal a gap is already in Redis when the frame
arrives. The batch for this edge's own sockets is not published: once the
pipeline has run, the flusher queues it for a local delivery task that feeds
the same receiver the subscriber feeds (a single-process server never
serialises a frame through Redis). Delivery has its own task, as the
subscriber has, so the history writes and publishes of the next flush never
wait for delivery; and delivery never waits for one slow socket either (its
frames queue for it, see :class:`.sockets.Connection`).

Pub/sub is at most once: a frame can be lost (a slow or reconnecting
subscriber). Message frames carry sequence numbers and :mod:`.sockets` heals
any gap from the history; everything else is state that a reconnect's
snapshot repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any, Awaitable, Callable

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from switchboard.actors.address import UserRef
from switchboard.edges.keys import CONTROL_CHANNEL, as_str, edge_channel, registry_key, registry_pattern, user_key
from switchboard.edges.protocol import Frame

__all__ = ["Hub", "Staged", "Receiver", "Control", "Item", "Batch", "listen"]

log = logging.getLogger("switchboard.fanout")

Staged = Callable[[Pipeline], object]  # adds commands to a pipeline (what it returns is ignored)
# What an edge's channel carries: batches of ["u", user key, frame] (to a person's every socket there) and
# ["c", connection id, frame] (to one socket).
Item = list[Any]
Batch = list[Item]
Receiver = Callable[[Batch], Awaitable[None]]
Control = Callable[[Frame], Awaitable[None]]  # takes a broadcast on CONTROL_CHANNEL


class Hub:
    """One edge process's link to Redis: registry, batched publishing, its channel's subscriber."""

    def __init__(self, redis: aioredis.Redis, edge_id: str) -> None:
        self.redis, self.edge_id = redis, edge_id
        self.channel = edge_channel(edge_id)
        self._to_users: list[tuple[str, Frame]] = []
        self._to_edges: list[tuple[str, Item]] = []
        self._writes: list[Staged] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        self.drop_next_publish = 0  # fault injection for tests: lose the next N publishes (local batches too)
        self.published = 0
        self._local: asyncio.Queue[Batch] = asyncio.Queue()

    # --- staging ------------------------------------------------------------------------------------

    def to_user(self, user: UserRef, frame: Frame) -> None:
        """Send `frame` to every socket of `user`, on whichever edges hold them."""
        self._to_users.append((user_key(user), frame))
        self._kick()

    def to_edge(self, edge_id: str, item: Item) -> None:
        self._to_edges.append((edge_id, item))
        self._kick()

    def write(self, staged: Staged) -> None:
        """Run Redis commands in the next flush, before its publishes."""
        self._writes.append(staged)
        self._kick()

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def flushed(self) -> None:
        """Wait until everything staged so far has been sent (and handed to this edge's own sockets)."""
        await self._idle.wait()
        if self._tasks:
            await self._local.join()

    # --- registry -----------------------------------------------------------------------------------

    async def register(self, user: UserRef) -> None:
        await self.redis.hincrby(registry_key(user_key(user)), self.edge_id, 1)

    async def unregister(self, user: UserRef) -> int:
        """Forget one socket of `user` here; returns how many sockets the user still has anywhere."""
        key = registry_key(user_key(user))
        left = await self.redis.hincrby(key, self.edge_id, -1)
        if left <= 0:
            await self.redis.hdel(key, self.edge_id)
        counts = await self.redis.hvals(key)
        return sum(int(c) for c in counts)

    async def forget_edge(self) -> None:
        """On shutdown: this edge holds no sockets any more (scan only our own registrations)."""
        async for key in self.redis.scan_iter(match=registry_pattern(), count=1000):
            await self.redis.hdel(key, self.edge_id)

    # --- running ------------------------------------------------------------------------------------

    def start(self, receive: Receiver, control: Control) -> None:
        self._tasks = [asyncio.create_task(self._flusher(), name="hub-flusher"),
                       asyncio.create_task(self._local_delivery(receive), name="hub-local"),
                       asyncio.create_task(self._subscriber(receive, control), name="hub-subscriber")]

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.flushed(), timeout=5)
        except asyncio.TimeoutError:  # a socket that takes nothing, or Redis gone: stop anyway
            log.warning("stopping the hub with frames not yet sent or delivered")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _flusher(self) -> None:
        retry = _Retry("publishing to Redis")
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush_once()
            except Exception as exc:  # Redis gone (edges/health.py closes the sockets meanwhile): back off
                await asyncio.sleep(retry.failed(exc))
                self._wake.set()
                continue
            retry.worked()
            if not (self._to_users or self._to_edges or self._writes):
                self._idle.set()

    async def _flush_once(self) -> None:
        to_users, to_edges, writes = self._to_users, self._to_edges, self._writes
        self._to_users, self._to_edges, self._writes = [], [], []
        try:
            local = await self._send(to_users, to_edges, writes)
        except Exception:  # put the round back in front, so the retry loses nothing
            self._to_users[:0], self._to_edges[:0], self._writes[:0] = to_users, to_edges, writes
            raise
        if local:
            self._local.put_nowait(local)

    async def _local_delivery(self, receive: Receiver) -> None:
        while True:
            items = await self._local.get()
            try:
                await receive(items)
            except Exception:  # like a lost publish: the sequence numbers heal it
                log.exception("delivering a batch to this edge's sockets failed")
            finally:
                self._local.task_done()

    async def _send(self, to_users: list[tuple[str, Frame]], to_edges: list[tuple[str, Item]],
                    writes: list[Staged]) -> Batch | None:
        """Write, publish to other edges; returns the batch for this edge's own sockets."""
        batches: dict[str, Batch] = defaultdict(list)
        for edge, item in to_edges:
            batches[edge].append(item)
        if to_users:
            users = list(dict.fromkeys(key for key, _ in to_users))
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in users:
                    pipe.hkeys(registry_key(key))
                edges_of = dict(zip(users, await pipe.execute(), strict=True))
            for key, frame in to_users:
                for edge in edges_of[key]:
                    batches[as_str(edge)].append(["u", key, frame])
        local = batches.pop(self.edge_id, None) if self._tasks else None  # started: a local delivery task runs
        async with self.redis.pipeline(transaction=False) as pipe:
            for staged in writes:
                staged(pipe)
            for edge, items in batches.items():
                if not self._lose_one():
                    pipe.publish(edge_channel(edge), orjson.dumps(items))
                    self.published += 1
            if len(pipe):
                await pipe.execute()
        if local and self._lose_one():
            return None
        return local

    def _lose_one(self) -> bool:
        if self.drop_next_publish > 0:
            self.drop_next_publish -= 1
            return True
        return False

    async def _subscriber(self, receive: Receiver, control: Control) -> None:
        retry = _Retry("the Redis subscription")
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, CONTROL_CHANNEL)
                self.subscribed.set()
                retry.worked()
                async for message in pubsub.listen():
                    data = orjson.loads(message["data"])
                    channel = message["channel"]
                    if as_str(channel) == CONTROL_CHANNEL:
                        await control(data)
                    else:
                        await receive(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(retry.failed(exc))


async def listen(redis: aioredis.Redis, channel: str, on_data: Callable[[bytes], None], listening: asyncio.Event,
                 what: str) -> None:
    """Subscribe to `channel` and hand each message's data to `on_data` until cancelled; `listening` is set
    while subscribed. Redis away: logged at debug (the hub's and health's logs say so), subscribed again 1 s
    later. For the edges' notification channels (the live view's, the watched conversations')."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            listening.set()
            async for message in pubsub.listen():
                on_data(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("%s: %r", what, exc)
            listening.clear()
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


class _Retry:
    """Back-off for a loop that retries while Redis is away, and its log: one line when it starts failing,
    one when it works again (a traceback per retry filled the log five times a second, issue 17)."""

    FIRST_S, MAX_S = 0.1, 1.0  # short: frames queued meanwhile go out soon after Redis is back

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.delay = self.FIRST_S
        self.failures = 0

    def failed(self, exc: Exception) -> float:
        """Note a failure; returns how long to wait before the next try."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s failed (%s: %s); retrying every %.1f s or less until it works", self.what,
                        type(exc).__name__, exc, self.MAX_S)
        delay, self.delay = self.delay, min(self.delay * 2, self.MAX_S)
        return delay

    def worked(self) -> None:
        if self.since is not None:
            log.warning("%s works again after %.1f s (%d failed tries)", self.what, time.monotonic() - self.since,
                        self.failures)
        self.since, self.delay, self.failures = None, self.FIRST_S, 0
