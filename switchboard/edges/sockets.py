"""The sockets one edge process holds, and in-order, gap-free delivery of frames to them.

Each connection remembers, per conversation, the last message seq it was sent.
A message frame whose ``prev`` (for a visitor: the previous message it may see)
or ``seq - 1`` (for an agent: every message, notes included) is beyond that
has found a gap, left by a lost publish: the missing range is fetched from the
history first. A frame at or below what was sent is a duplicate and dropped.
So whatever Redis loses or repeats, a socket sees each message once, in order.
A socket joins the fan-out before its welcome is sent (so nothing published
meanwhile is lost), but frames for it are held until the welcome and any
resume are done, then released through the same check: the welcome comes
first, and a frame the resume already sent is not sent again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from starlette.websockets import WebSocket, WebSocketState

from ..actors.address import UserRef
from . import history
from .protocol import encode
from .fanout import user_key

__all__ = ["Connection", "Sockets", "TokenBucket"]

log = logging.getLogger("switchboard.sockets")


@dataclass(slots=True)
class TokenBucket:
    """Frames per second per connection: `rate` refilled continuously up to `burst`."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


_ENDS_CONVERSATION = frozenset({"closed", "abandoned", "error"})
_ENDED_CODES = frozenset({"conversation_ended", "unknown_conversation"})


class Connection:
    """One websocket: who it is and what it has been sent."""

    __slots__ = ("ws", "user", "conn_id", "sid", "last", "bucket", "closed", "refs", "held", "current")

    def __init__(self, ws: WebSocket, user: UserRef, conn_id: str, bucket: TokenBucket, sid: str | None = None) -> None:
        self.ws, self.user, self.conn_id, self.sid, self.bucket = ws, user, conn_id, sid, bucket
        self.last: dict[str, int] = {}
        self.closed = False
        self.current: str | None = None  # a visitor's open conversation, cached; forgotten when it ends
        self.refs = 0
        self.held: list[dict[str, Any]] | None = []  # frames waiting for the welcome; None once released

    @property
    def is_visitor(self) -> bool:
        return self.user.role == "visitor"

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed or self.ws.application_state is not WebSocketState.CONNECTED:
            return
        try:
            await self.ws.send_text(encode(frame).decode())  # text frames: what browsers' JSON.parse reads
        except Exception:  # the peer went away mid-send; its receive loop cleans up
            self.closed = True

    async def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            try:
                await self.ws.close(code, reason)
            except Exception:
                pass


class Sockets:
    """This edge's connections by user and by id; applies incoming fan-out batches to them."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.by_user: dict[str, set[Connection]] = {}
        self.by_id: dict[str, Connection] = {}

    def add(self, conn: Connection) -> None:
        self.by_user.setdefault(user_key(conn.user), set()).add(conn)
        self.by_id[conn.conn_id] = conn

    def remove(self, conn: Connection) -> None:
        conns = self.by_user.get(user_key(conn.user))
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.by_user[user_key(conn.user)]
        self.by_id.pop(conn.conn_id, None)

    def of(self, user: UserRef) -> set[Connection]:
        return self.by_user.get(user_key(user), set())

    def of_key(self, key: str) -> set[Connection]:
        return self.by_user.get(key, set())

    def __len__(self) -> int:
        return len(self.by_id)

    async def receive(self, items: list[Any]) -> None:
        """A batch from this edge's channel: ``["u", user_key, frame]`` or ``["c", conn_id, frame]``."""
        for target_kind, target, frame in items:
            if target_kind == "c":
                conn = self.by_id.get(target)
                if conn is not None:
                    await self.deliver(conn, frame)
            else:
                for conn in list(self.by_user.get(target, ())):
                    await self.deliver(conn, frame)

    async def release(self, conn: Connection) -> None:
        """The welcome (and resume) is sent: deliver the frames held meanwhile, in order, then stop holding."""
        while conn.held:
            await self._deliver(conn, conn.held.pop(0))
        conn.held = None

    async def deliver(self, conn: Connection, frame: dict[str, Any]) -> None:
        if conn.held is not None:
            conn.held.append(frame)
            return
        await self._deliver(conn, frame)

    async def _deliver(self, conn: Connection, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in _ENDS_CONVERSATION and (frame.get("code", "") in _ENDED_CODES or frame.get("conversation") == conn.current):
            conn.current = None  # the cached open conversation ended (or a command found it ended)
        if kind not in ("message", "ack"):
            await conn.send(frame)
            return
        conversation, seq = frame["conversation"], frame["seq"]
        last = conn.last.get(conversation)
        if last is None:  # the first this socket hears of the conversation: start here
            conn.last[conversation] = seq
            await conn.send(frame)
            return
        if kind == "message" and seq <= last:
            return  # already sent (a repeat, or healed earlier)
        before = frame.get("prev", seq - 1) if conn.is_visitor else seq - 1
        if before > last:
            await self.heal(conn, conversation, last, before)
        conn.last[conversation] = max(seq, conn.last.get(conversation, seq))
        await conn.send(frame)

    async def heal(self, conn: Connection, conversation: str, after: int, upto: int | None) -> None:
        """Send what `conn` missed in (after, upto], from the history."""
        missed = await history.fetch(self.redis, conversation, after, upto, conn.is_visitor)
        for message in missed:
            if message["seq"] > conn.last.get(conversation, after):
                conn.last[conversation] = message["seq"]
                await conn.send(message)
        if upto is not None:
            conn.last[conversation] = max(conn.last.get(conversation, after), upto)
