"""What both websockets share: the origin check, the hello, the receive loop and its limits, commands to
the engine, and a conversation as a client sees it.

The origin check reads the allowed sites at run time (:func:`refused_origin` with
``await services.site.origins()``: the settings file's and the admin page's, cached for 2 s), so a site
added on the admin page is let in without a restart.

Every frame passes the same gate in the same order: rate, then size and shape (parse). A bad
frame gets an ``error`` frame and the connection goes on, except where the
protocol says it must end (a frame over the size limit: 1009; no valid hello,
a refused origin: 1008; a bad token: 4001). One connection's trouble never
reaches another: each socket has its own loop, and every handler error is
caught here, logged, and answered with ``internal_error``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Mapping, Protocol, TypeVar

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from switchboard.actors.address import Address
from switchboard.actors.messages import Command
from switchboard.edges import codes
from switchboard.edges.delivery import history
from switchboard.edges.delivery.sockets import Connection, TokenBucket
from switchboard.edges.keys import ConvView, as_str, conv_key
from switchboard.edges.protocol import (CLOSE_POLICY, CLOSE_TOO_BIG, VERSION, AgentHello, Frame, ProtocolError,
                                        VisitorHello, encode, frame, frame_type, make_ref)
from switchboard.edges.services import Services
from switchboard.settings import ServerSettings

__all__ = ["origin_allowed", "refused_origin", "OriginWarnings", "read_hello", "hold", "serve_frames", "send_error", "command", "conversation_info",
           "last_seq_of", "Session", "SyncGate"]

log = logging.getLogger("switchboard.ws")

MAX_STRIKES = 50  # rate-limited frames in a row before the connection is closed

HelloT = TypeVar("HelloT", VisitorHello, AgentHello)
FrameT = TypeVar("FrameT")  # a role's frames: VisitorFrame or AgentFrame
_HelloIn = TypeVar("_HelloIn", contravariant=True)
_FrameIn = TypeVar("_FrameIn", contravariant=True)
Parser = Callable[[str | bytes, int], FrameT]  # protocol.parse_visitor or parse_agent


class Session(Protocol[_HelloIn, _FrameIn]):
    """One socket's handlers for one role (:class:`~.visitor.VisitorSession`, :class:`~.agent.AgentSession`)."""

    async def welcome(self, hello: _HelloIn) -> None: ...

    async def handle(self, frame: _FrameIn) -> None: ...


def refused_origin(ws: WebSocket, allowed: tuple[str, ...]) -> str | None:
    """The page's origin if it may not open this socket, else None: a socket with no Origin (not a browser),
    from the server's own origin, or from one of `allowed` (exact, as ``services.site.origins()`` gives
    them) is let in."""
    origin = ws.headers.get("origin")
    if origin is None:
        return None
    origin = origin.rstrip("/")
    host = ws.headers.get("host", "")
    if origin in (f"http://{host}", f"https://{host}") or origin in allowed:
        return None
    return origin


def origin_allowed(ws: WebSocket, allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser), the page's own origin, or one of `allowed` exactly."""
    return refused_origin(ws, allowed) is None


class OriginWarnings:
    """Which refused origins were logged already: one warning per origin per process, and at most `limit`
    remembered (past that, new origins are not logged: a flood of made-up origins cannot fill the log
    or the memory)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def first(self, origin: str) -> bool:
        """True the first time `origin` is seen (while there is room to remember it)."""
        if origin in self._seen or len(self._seen) >= self.limit:
            return False
        self._seen.add(origin)
        return True


async def send_error(ws: WebSocket, code: str, message: str, **extra: object) -> None:
    try:
        await ws.send_text(encode(frame("error", code=code, message=message, **extra)).decode())
    except Exception:
        pass


async def read_hello(ws: WebSocket, parse: Parser[object], hello_type: type[HelloT], max_frame_bytes: int,
                     timeout_s: float) -> HelloT | None:
    """The first frame must be a valid `hello_type`, within `timeout_s` (the setting ``hello_timeout_s``); else
    an error, a close (1008, or 1009 for a frame over `max_frame_bytes`) and None."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout_s)
    except asyncio.TimeoutError:
        await send_error(ws, codes.HELLO_TIMEOUT, f"say hello within {timeout_s:g} s")
        await ws.close(CLOSE_POLICY)
        return None
    raw = _payload(message)
    if raw is None:
        return None
    try:
        hello = parse(raw, max_frame_bytes)
    except ProtocolError as exc:
        await send_error(ws, exc.code, exc.message)
        await ws.close(CLOSE_TOO_BIG if exc.code == codes.FRAME_TOO_LARGE else CLOSE_POLICY)
        return None
    if not isinstance(hello, hello_type):
        await send_error(ws, codes.HELLO_REQUIRED, "the first frame must be a hello")
        await ws.close(CLOSE_POLICY)
        return None
    if hello.v != VERSION:
        await send_error(ws, codes.UNSUPPORTED_VERSION, f"this server speaks protocol version {VERSION}", v=VERSION)
        await ws.close(CLOSE_POLICY)
        return None
    return hello


def _payload(message: Mapping[str, object]) -> str | bytes | None:
    if message["type"] == "websocket.disconnect":
        return None
    text, data = message.get("text"), message.get("bytes")
    if isinstance(text, str):
        return text
    return data if isinstance(data, bytes) and data else b""


async def hold(services: Services, conn: Connection, session: Session[HelloT, FrameT], hello: HelloT,
               parse: Parser[FrameT], on_last_gone: Callable[[], Awaitable[None]] | None = None) -> None:
    """A socket's life after its hello: registered, welcomed, served, forgotten.

    Frames for the socket are held until its welcome is sent (see :meth:`Sockets.release`).
    `on_last_gone` runs when this was the user's last socket on any edge.
    """
    services.sockets.add(conn)
    try:
        await services.hub.register(conn.user)
        await session.welcome(hello)
        await services.sockets.release(conn)
        await serve_frames(conn, services, parse, session.handle)
    finally:
        services.sockets.remove(conn)
        try:
            left = await services.hub.unregister(conn.user)
        except RedisError:  # Redis is down: edges/health.py forgets this edge's counts and sets agents offline
            left = -1
        if left == 0 and on_last_gone is not None:
            await on_last_gone()


async def serve_frames(conn: Connection, services: Services, parse: Parser[FrameT],
                       handle: Callable[[FrameT], Awaitable[None]]) -> None:
    """The receive loop: size, rate, parse, handle; until the peer goes or the protocol ends it."""
    ws, strikes = conn.ws, 0
    while not conn.closed:
        try:
            message = await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        raw = _payload(message)
        if raw is None:
            return
        if not conn.bucket.take():
            strikes += 1
            await conn.send(frame("error", code=codes.RATE_LIMITED, message="too many frames; slow down",
                                  in_reply_to=frame_type(raw, services.settings.max_frame_bytes)))
            if strikes >= MAX_STRIKES:
                await conn.close(CLOSE_POLICY, "rate limit")
            continue
        strikes = 0
        try:
            await handle(parse(raw, services.settings.max_frame_bytes))
        except ProtocolError as exc:
            await conn.send(frame("error", code=exc.code, message=exc.message))
            if exc.code == codes.FRAME_TOO_LARGE:
                await conn.close(CLOSE_TOO_BIG, "frame too large")
        except Exception:
            log.exception("handling a %s frame failed", conn.user.role)
            await conn.send(frame("error", code=codes.INTERNAL_ERROR, message="the server could not handle that frame"))


def command(services: Services, conn: Connection, to: Address, message: Command, frame_type: str,
            client_id: str | None = None) -> None:
    """Send `message` to the engine with a ref that routes its refusal back to this socket."""
    conn.refs += 1
    services.engine.send(to, message, ref=make_ref(services.edge_id, conn.conn_id, frame_type, client_id))


class SyncGate:
    """``sync`` on one socket: a rate of its own and one bounded page per frame.

    A sync is the costliest frame a client can send (a page of history: Redis, and the store for what is
    older than Redis keeps), so the frame rate that suits chat is far too generous for it (issue 17: ten
    sockets syncing from 0 slowed everyone's acks a hundredfold). It gets its own token bucket
    (``sync_rate_per_s``, ``sync_burst``; a sync over it is refused ``rate_limited`` with ``in_reply_to``
    ``sync``), and each answers one page of at most ``sync_page`` messages: a full page means "sync again
    after its last seq". Agents are logged in, and their workspace syncs every conversation it shows from 0
    at once: an agent's socket (no `bucket`) has the frame rate only and history's own page.

    A visitor's bucket is shared by every visitor socket from the same client address on this edge
    (:class:`~switchboard.edges.delivery.sockets.SyncBuckets`): ten sockets of one attacker get one budget, not ten.
    """

    def __init__(self, settings: ServerSettings, bucket: TokenBucket | None = None) -> None:
        self.bucket = bucket
        self.page = settings.sync_page if bucket is not None else history.PAGE

    async def admits(self, conn: Connection) -> bool:
        if self.bucket is None or self.bucket.take():
            return True
        await conn.send(frame("error", code=codes.RATE_LIMITED, in_reply_to="sync",
                              message="too many sync frames; wait, then ask again"))
        return False

    async def serve(self, services: Services, conn: Connection, conversation: str, after: int) -> None:
        """One page of the messages after `after` (the client may read `conversation`: checked before)."""
        conn.last[conversation] = min(after, conn.last.get(conversation, after))
        await services.sockets.heal(conn, conversation, after, None, page=self.page)


# --- a conversation as a client sees it -------------------------------------------------------------


async def last_seq_of(services: Services, conv: str) -> int:
    """The conversation's last message seq as Redis has it (0 for none)."""
    return int(as_str(await services.redis.hget(conv_key(conv), "last_seq")) or 0)


async def conversation_info(services: Services, conv: str) -> Frame | None:
    """What a client needs to show a conversation: phase, group, agent, last seq (from Redis)."""
    view = ConvView.from_hash(conv, await services.redis.hgetall(conv_key(conv)))
    if view is None:
        return None
    agent = view.agent
    return {"id": conv, "phase": view.phase, "group": view.group,
            "agent": {"id": agent, "name": await services.names.display("agent", agent)} if agent else None,
            "visitor": view.visitor, "last_seq": view.last_seq}
