"""Watched conversations: a conversation opened from the Live tab goes on in front of the steerer, pushed.

A socket sends ``{"type": "watch", "conversation": C, "on": true}``; the socket's handler (:mod:`.ws.agent`)
checks that its user may read C (an admin, the supervisor of C's group, or C's own agent) and hands it to
:meth:`WatchEdge.watch`. From then on, until ``on: false``, the socket's end, or C leaving the user's scope,
the socket gets C's new messages (the usual ``message`` frames, notes too, each once and in order) and a
``watch`` frame with C's state whenever what it shows changes (phase, group, agent). docs/live.md,
"Watching a conversation", has the frames.

How it is pushed, never polled: the relay publishes on ``WATCH_CHANNEL`` which conversations got new messages
(once per hub flush, after the history they name, in the same pipeline) and which got a new state (after
their view). Each edge listens while it holds a watcher. A notification for a watched conversation reads its
view once and the messages its watchers lack once (from the lowest seq any of them holds), and hands each
message to :meth:`Sockets.deliver` (the socket's own seq check: nothing twice, gaps healed from the history).
A new state also reads each watcher's roles from the store again: a conversation moved to a group they do not
steer, or roles taken away, ends the watch with an ``error`` ``not_your_conversation``. Notifications for one
conversation that come while it is being pushed make one more push. A lost notification (pub/sub is at most
once) is healed by the next one, or by the client's ``sync``.

Bounded: a socket watches at most ``MAX_WATCHED`` conversations (one more is refused ``too_many_watched``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from switchboard.edges import codes
from switchboard.edges.delivery import history
from switchboard.edges.delivery.fanout import Hub, listen
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.sockets import Connection, Sockets
from switchboard.edges.keys import WATCH_CHANNEL, ConvView, conv_key
from switchboard.edges.protocol import Frame, frame
from switchboard.edges.scope import Scope, scope_now

__all__ = ["MAX_WATCHED", "WatchEdge", "Watcher", "Noted", "parse_noted", "may_watch", "watch_frame", "watch_edge"]

log = logging.getLogger("switchboard.watch")

MAX_WATCHED = 5  # conversations one socket watches at once


@dataclass(frozen=True, slots=True)
class Noted:
    """A :data:`WATCH_CHANNEL` message: conversations with new messages, and with a new state."""

    messages: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()


def parse_noted(raw: bytes | str) -> Noted:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Noted()
    if not isinstance(data, dict):
        return Noted()
    return Noted(frozenset(c for c in data.get("m") or () if isinstance(c, str)),
                 frozenset(c for c in data.get("s") or () if isinstance(c, str)))


def may_watch(scope: Scope, view: ConvView) -> bool:
    """An admin, the supervisor of the conversation's group, or its agent or a participant."""
    return scope.manages(view.group) or view.agent == scope.user_id or scope.user_id in view.participants


async def watch_frame(view: ConvView, names: Names) -> Frame:
    """The ``watch`` frame: the conversation's state as a watcher sees it (its conversation info)."""
    agent = {"id": view.agent, "name": await names.display("agent", view.agent)} if view.agent else None
    return frame("watch", conversation=view.conversation, phase=view.phase, group=view.group, agent=agent,
                 visitor=view.visitor, last_seq=view.last_seq)


def _shows(view: ConvView) -> tuple[str, str | None, str | None]:
    return view.phase, view.group, view.agent


@dataclass(eq=False, slots=True)
class Watcher:
    """One socket watching one conversation: as whom, and the state it was last sent."""

    scope: Scope
    shown: tuple[str, str | None, str | None] | None = None


class WatchEdge:
    """One edge's watched conversations and its listener on ``WATCH_CHANNEL`` (running while there is one)."""

    def __init__(self, redis: aioredis.Redis, sockets: Sockets, names: Names, max_watched: int = MAX_WATCHED) -> None:
        self.redis, self.sockets, self.names, self.max_watched = redis, sockets, names, max_watched
        self.by_conv: dict[str, dict[Connection, Watcher]] = {}
        self.by_conn: dict[Connection, set[str]] = {}
        self._dirty: dict[str, bool] = {}  # conversation -> its state changed too
        self._worker: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.pushes = 0  # for tests: conversations pushed

    # --- watchers -------------------------------------------------------------------------------------

    async def watch(self, conn: Connection, view: ConvView, scope: Scope) -> str | None:
        """`conn` (whose user may read `view`'s conversation as `scope`: checked by the caller) watches it: its
        state now, then what changes. Returns None, or the error code that refuses it (too many watched)."""
        conv = view.conversation
        mine = self.by_conn.get(conn, set())
        if conv not in mine and len(mine) >= self.max_watched:
            return codes.TOO_MANY_WATCHED
        self.by_conn[conn] = mine | {conv}
        watcher = Watcher(scope, _shows(view))
        self.by_conv.setdefault(conv, {})[conn] = watcher
        conn.last.setdefault(conv, view.last_seq)  # new messages from here (a sync may start it lower)
        await self._started()
        await conn.send(await watch_frame(view, self.names))
        self.note(Noted(messages=frozenset({conv})))  # what came between the view read and the subscription
        return None

    def unwatch(self, conn: Connection, conv: str) -> None:
        watchers = self.by_conv.get(conv)
        if watchers is not None:
            watchers.pop(conn, None)
            if not watchers:
                del self.by_conv[conv]
        mine = self.by_conn.get(conn)
        if mine is not None:
            mine.discard(conv)
            if not mine:
                del self.by_conn[conn]
        if not self.by_conn:
            self._stop()

    def forget(self, conn: Connection) -> None:
        """The socket is gone: every watch of it ends."""
        for conv in list(self.by_conn.get(conn, ())):
            self.unwatch(conn, conv)

    def watching(self, conn: Connection) -> set[str]:
        return set(self.by_conn.get(conn, ()))

    # --- listening ------------------------------------------------------------------------------------

    async def _started(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="watch-listener")
        with contextlib.suppress(asyncio.TimeoutError):  # Redis away: pushes start once it is back
            await asyncio.wait_for(self._listening.wait(), timeout=2.0)

    def _stop(self) -> None:
        """No watcher left: stop listening (a push under way ends by itself: it finds no one to send to)."""
        if self._listener is not None:
            self._listener.cancel()
        self._listener = None
        self._dirty.clear()

    async def _listen(self) -> None:
        await listen(self.redis, WATCH_CHANNEL, lambda data: self.note(parse_noted(data)), self._listening,
                     "watch listener")

    def note(self, noted: Noted) -> None:
        """Push the watched ones of these conversations (at once; what comes meanwhile makes one more push)."""
        for conv in noted.messages | noted.states:
            if conv in self.by_conv:
                self._dirty[conv] = self._dirty.get(conv, False) or conv in noted.states
        if self._dirty and self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name="watch-push")

    async def _drain(self) -> None:
        while self._dirty:
            conv = next(iter(self._dirty))
            state = self._dirty.pop(conv)
            try:
                await self.push(conv, state)
            except Exception:
                log.exception("pushing watched conversation %s failed", conv)
        self._worker = None

    # --- pushing --------------------------------------------------------------------------------------

    async def push(self, conv: str, state: bool) -> None:
        """Send `conv`'s watchers what they lack: its messages, then its state if what it shows changed. A
        new `state` reads their roles again; a watcher who may no longer read it is told, and stops."""
        watchers = self.by_conv.get(conv)
        if not watchers:
            return
        self.pushes += 1
        view = await self.view(conv)
        if view is None:  # its view expired (30 days after it ended): nothing more will happen to it
            return
        if state:
            scopes = await self.scopes({w.scope.user_id for w in watchers.values()})
            for w in watchers.values():
                w.scope = scopes[w.scope.user_id]
        for conn, w in list(watchers.items()):
            if conn.closed or not may_watch(w.scope, view):
                self.unwatch(conn, conv)
                await conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, in_reply_to="watch",
                                      conversation=conv, message="the conversation left your groups: no longer watched"))
        conns = list(self.by_conv.get(conv, {}))
        if not conns:
            return
        after = min(c.last.get(conv, view.last_seq) for c in conns)
        while True:
            missed = await self.messages(conv, after)
            for message in missed:
                for conn in conns:
                    if conn in self.by_conv.get(conv, {}):  # not one that stopped meanwhile
                        await self.sockets.deliver(conn, message)
            if len(missed) < history.PAGE:
                break
            after = missed[-1]["seq"]
        for conn in conns:
            still = self.by_conv.get(conv, {}).get(conn)
            if still is not None and still.shown != _shows(view):
                still.shown = _shows(view)
                await conn.send(await watch_frame(view, self.names))

    # --- reading (a test's edge reads a table instead) ------------------------------------------------

    async def view(self, conv: str) -> ConvView | None:
        return ConvView.from_hash(conv, await self.redis.hgetall(conv_key(conv)))

    async def messages(self, conv: str, after: int) -> list[Frame]:
        """One page of the messages after `after`, notes too (watchers are agents or steerers)."""
        return await history.fetch(self.redis, conv, after, None, False)

    async def scopes(self, users: set[str]) -> dict[str, Scope]:
        """Each user's scope as the store has it now."""
        return await asyncio.to_thread(lambda: {u: scope_now(u) for u in users})


_EDGES: weakref.WeakKeyDictionary[Hub, WatchEdge] = weakref.WeakKeyDictionary()


def watch_edge(hub: Hub, redis: aioredis.Redis, sockets: Sockets, names: Names) -> WatchEdge:
    """This edge's :class:`WatchEdge` (one per hub, made on first use)."""
    edge = _EDGES.get(hub)
    if edge is None:
        edge = _EDGES[hub] = WatchEdge(redis, sockets, names)
    return edge
