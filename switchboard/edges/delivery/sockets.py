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

Delivery never waits for a socket: :meth:`Sockets.receive` runs in the hub's
shared tasks, so a frame is written at once only when the transport can take
it without waiting, and is otherwise queued for that socket's own writer (see
:class:`Connection`). A socket that falls too far behind is closed with 1013
(CLOSE_TOO_SLOW); its client reconnects and resumes from its last seq.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from starlette.websockets import WebSocket, WebSocketState

from switchboard.actors.address import UserRef
from switchboard.edges import codes
from switchboard.edges.delivery import history
from switchboard.edges.delivery.fanout import Batch
from switchboard.edges.keys import user_key
from switchboard.edges.protocol import Frame, encode

__all__ = ["Connection", "Sockets", "TokenBucket", "SyncBuckets", "CLOSE_TOO_SLOW", "SEND_TIMEOUT_S", "MAX_QUEUED_FRAMES",
           "MAX_QUEUED_BYTES", "CLOSE_GRACE_S"]

log = logging.getLogger("switchboard.sockets")

CLOSE_TOO_SLOW = 1013  # "try again later": the socket did not take its frames; reconnect and resume
SEND_TIMEOUT_S = 10.0  # a frame waiting this long for room in its socket ends the socket
MAX_QUEUED_FRAMES = 1000  # frames queued for one socket beyond what its transport holds ...
MAX_QUEUED_BYTES = 1 << 20  # ... or bytes: past either, the socket ends
CLOSE_GRACE_S = 10.0  # after the close frame, how long a peer that reads nothing keeps its connection


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


class SyncBuckets:
    """One ``sync`` bucket per client address on this edge, the least recently used forgotten past `kept`."""

    def __init__(self, kept: int = 100_000) -> None:
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._kept = kept

    def of(self, address: str, rate: float, burst: float) -> TokenBucket:
        bucket = self._buckets.pop(address, None) or TokenBucket(rate, burst)
        self._buckets[address] = bucket
        while len(self._buckets) > self._kept:
            self._buckets.popitem(last=False)
        return bucket


_ENDS_CONVERSATION = frozenset({"closed", "abandoned", "error"})
_ENDED_CODES = frozenset({codes.CONVERSATION_ENDED, codes.UNKNOWN_CONVERSATION})


class Connection:
    """One websocket: who it is, what it has been sent, and the frames on their way to it.

    Everything for the socket (deliveries, acks, errors, the close) takes one ordered path,
    :meth:`send` and :meth:`close`, and none of it waits for the peer unless the caller is the
    socket's own task: a frame is written at once while the transport has room and nothing is
    queued (no task, no switch); otherwise it is queued and a writer task, started then and ended
    when the queue is empty, writes it. A queue past MAX_QUEUED_FRAMES or MAX_QUEUED_BYTES, or a
    frame that waits SEND_TIMEOUT_S for room, ends the socket with CLOSE_TOO_SLOW. The socket's own
    task (its receive loop) waits for room past half those limits instead, so a long resume is
    paced, not cut.
    """

    __slots__ = ("ws", "user", "conn_id", "sid", "last", "bucket", "closed", "refs", "held", "current",
                 "owner", "transport", "low_water", "out", "out_bytes", "writer", "ending", "cut", "room")

    def __init__(self, ws: WebSocket, user: UserRef, conn_id: str, bucket: TokenBucket, sid: str | None = None) -> None:
        self.ws, self.user, self.conn_id, self.sid, self.bucket = ws, user, conn_id, sid, bucket
        self.last: dict[str, int] = {}
        self.closed = False  # nothing more is accepted for the socket (what is queued is still written)
        self.current: str | None = None  # a visitor's open conversation, cached; forgotten when it ends
        self.refs = 0
        self.held: list[Frame] | None = []  # frames waiting for the welcome; None once released
        try:
            self.owner: asyncio.Task[Any] | None = asyncio.current_task()  # the socket's own (receive) task
        except RuntimeError:
            self.owner = None
        self.transport, self.low_water = _transport_of(ws)
        self.out: deque[tuple[str | None, int]] | None = None  # queued text frames; None: the close
        self.out_bytes = 0
        self.writer: asyncio.Task[None] | None = None  # running exactly while `out` is not empty
        self.ending: tuple[int, str] = (1000, "")  # the queued close's code and reason
        self.cut = False  # ended as too slow: the queue is dropped
        self.room: asyncio.Future[None] | None = None  # the owner waiting for the queue to shrink

    @property
    def is_visitor(self) -> bool:
        return self.user.role == "visitor"

    def _writable(self) -> bool:
        """True when a write cannot wait: the transport is below its low-water mark, so not paused."""
        transport = self.transport
        return transport is not None and transport.get_write_buffer_size() <= self.low_water

    async def send(self, frame: Frame) -> None:
        if self.closed or self.ws.application_state is not WebSocketState.CONNECTED:
            return
        data = encode(frame)
        transport = self.transport
        if self.writer is None and transport is not None and transport.get_write_buffer_size() <= self.low_water:
            try:  # does not suspend: the transport takes it (text frames: what browsers' JSON.parse reads)
                await self.ws.send_text(data.decode())
            except Exception:  # the peer went away mid-send; its receive loop cleans up
                self.closed = True
            return
        self._queue(data.decode(), len(data))
        if self.writer is not None and not self.cut and self._crowded(2) and asyncio.current_task() is self.owner:
            await self._wait_for_room()

    async def close(self, code: int, reason: str = "") -> None:
        """Close after whatever is queued; waits for nothing."""
        if self.closed:
            return
        self.closed = True
        if self.writer is None and self._writable():
            try:
                await self.ws.close(code, reason)
            except Exception:
                pass
            return
        self.ending = (code, reason)
        self._queue(None, 0)

    def _queue(self, text: str | None, size: int) -> None:
        if self.out is None:
            self.out = deque()
        self.out.append((text, size))
        self.out_bytes += size
        if self._crowded(1):
            self._abandon(f"{len(self.out)} frames, {self.out_bytes} bytes queued")
        elif self.writer is None:
            self.writer = asyncio.create_task(self._write(), name=f"socket-writer-{self.conn_id}")

    def _crowded(self, share: int) -> bool:
        return self.out is not None and (len(self.out) > MAX_QUEUED_FRAMES // share
                                         or self.out_bytes > MAX_QUEUED_BYTES // share)

    async def _wait_for_room(self) -> None:
        if self.room is None:
            self.room = asyncio.get_running_loop().create_future()
        await self.room

    def _wake_owner(self) -> None:
        if self.room is not None and not self._crowded(2):
            if not self.room.done():
                self.room.set_result(None)
            self.room = None

    async def _write(self) -> None:
        """Write the queue in order, each frame within SEND_TIMEOUT_S; end when it is empty."""
        out = self.out
        assert out is not None
        try:
            while out and not self.cut:
                text, size = out[0]
                try:
                    if self._writable():  # room: the write cannot wait, so no timer
                        await (self.ws.close(*self.ending) if text is None else self.ws.send_text(text))
                    else:
                        async with asyncio.timeout(SEND_TIMEOUT_S):
                            await (self.ws.close(*self.ending) if text is None else self.ws.send_text(text))
                except TimeoutError:
                    self._abandon(f"a frame waited {SEND_TIMEOUT_S:g} s for room")
                    return
                except Exception:  # the peer went away; its receive loop cleans up
                    self.closed = True
                    out.clear()
                    self.out_bytes = 0
                    return
                out.popleft()
                self.out_bytes -= size
                self._wake_owner()
        finally:
            self.writer = None
            self.out, self.out_bytes = None, 0
            if self.room is not None and not self.room.done():
                self.room.set_result(None)
            self.room = None

    def _abandon(self, why: str) -> None:
        """Too slow: drop the queue and end the socket with CLOSE_TOO_SLOW, without waiting for it."""
        log.info("closing %s socket %s (%s): too slow to take its frames (%s)", self.user.role, self.conn_id,
                 self.user.id, why)
        self.closed = self.cut = True
        if self.out is not None:
            self.out.clear()
        self.out_bytes = 0
        writer = self.writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()  # it waits for room, so it has written nothing of its frame
        if self.room is not None and not self.room.done():
            self.room.set_result(None)
        transport = self.transport
        if transport is not None:
            # The close frame goes after what the transport holds; a peer that reads again gets it in
            # order. One that does not is cut off once CLOSE_GRACE_S has passed.
            if not transport.is_closing():
                transport.write(_close_frame(CLOSE_TOO_SLOW, "too slow"))
                transport.close()
                asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)
        else:
            task = asyncio.create_task(self._close_anyway(), name=f"socket-close-{self.conn_id}")
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

    async def _close_anyway(self) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.ws.close(CLOSE_TOO_SLOW, "too slow")
        except BaseException:
            pass


_CLOSING: set[asyncio.Task[None]] = set()  # closes of sockets with no transport we know of, until done


class _Transport(Protocol):
    def get_write_buffer_size(self) -> int: ...
    def get_write_buffer_limits(self) -> tuple[int, int]: ...
    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def _transport_of(ws: WebSocket) -> tuple[_Transport | None, int]:
    """The asyncio transport under `ws` and its low-water mark, if the server lets us see it.

    uvicorn passes its protocol's bound ``receive`` as the ASGI receive, and its protocols keep
    their transport as ``.transport``. Elsewhere: (None, 0), and every frame takes the writer.
    """
    server = getattr(getattr(ws, "_receive", None), "__self__", None)
    transport: Any = getattr(server, "transport", None)
    try:
        low, _high = transport.get_write_buffer_limits()
        transport.get_write_buffer_size()
    except Exception:
        return None, 0
    if not all(callable(getattr(transport, name, None)) for name in ("write", "is_closing", "close", "abort")):
        return None, 0
    return cast(_Transport, transport), int(low)


def _close_frame(code: int, reason: str) -> bytes:
    """A server's (unmasked) websocket close frame, RFC 6455 section 5.5.1."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


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

    async def receive(self, items: Batch) -> None:
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

    async def deliver(self, conn: Connection, frame: Frame) -> None:
        if conn.held is not None:
            conn.held.append(frame)
            return
        await self._deliver(conn, frame)

    async def _deliver(self, conn: Connection, frame: Frame) -> None:
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

    async def heal(self, conn: Connection, conversation: str, after: int, upto: int | None,
                   page: int = history.PAGE) -> int:
        """Send what `conn` missed in (after, upto], from the history: page after page up to `upto` (a gap
        a lost publish left); one page of at most `page` messages when `upto` is None (a resume or a sync:
        the client asks for the next). Returns how many messages were sent."""
        sent = 0
        while True:
            missed = await history.fetch(self.redis, conversation, after, upto, conn.is_visitor, page)
            for message in missed:
                if message["seq"] > conn.last.get(conversation, after):
                    conn.last[conversation] = message["seq"]
                    await conn.send(message)
                    sent += 1
            if upto is None or len(missed) < page or missed[-1]["seq"] >= upto:
                break
            after = missed[-1]["seq"]
        if upto is not None:
            conn.last[conversation] = max(conn.last.get(conversation, after), upto)
        return sent
