"""The live view: who is online with what load, who waits in which queue; pushed when it changes.

Two halves (docs/live.md):

- **What to show** (pure): :func:`live_frame` cuts one :class:`World` (every agent and queue the engine has,
  read once) to a steerer's :class:`~switchboard.edges.scope.Scope`, bounded to ``MAX_AGENTS`` agents and
  ``MAX_WAITING`` waiting visitors per queue with their totals; :func:`queue_rows` is the same waiting list
  the agent's queue panel shows; :func:`concerns` says whether a change can touch a supervisor's view at all.
- **When to push** (:class:`LiveEdge`, one per edge process): the relay publishes every conversation state's
  group and agents on ``LIVE_CHANNEL`` (in the hub's flush that writes the state, so the views are in
  Redis first); an agent socket that sets its presence publishes the agent. Each edge that holds a watcher
  (a steerer subscribed with ``{"type": "live", "on": true}``, or an agent socket showing queues) listens,
  gathers the changes for ``DEBOUNCE_S`` and then reads the world once, builds one frame per scope (not per
  socket), and sends it only to the scopes whose view really changed; the agents' queue panels get a
  ``queues`` frame when one of their groups changed. Nothing is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import orjson
import redis.asyncio as aioredis

from switchboard.actors.address import Address
from switchboard.actors.engine import Engine
from switchboard.edges.delivery.fanout import Hub, listen
from switchboard.edges.delivery.sockets import Connection
from switchboard.edges.keys import LIVE_CHANNEL, ConvView, conv_key
from switchboard.edges.protocol import Frame, frame
from switchboard.edges.scope import Scope
from switchboard.store.groups import list_groups
from switchboard.store.users import agent_summaries

__all__ = ["DEBOUNCE_S", "MAX_AGENTS", "MAX_WAITING", "AgentRow", "World", "Change",
           "live_frame", "signature", "queue_rows", "concerns", "parse_change", "LiveEdge", "Watch", "live_edge"]

log = logging.getLogger("switchboard.live")

DEBOUNCE_S = 0.25
MAX_AGENTS = 500
MAX_WAITING = 200
_PRESENCE_ORDER = {"online": 0, "away": 1, "offline": 2}

# --- what to show -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    groups: tuple[str, ...]
    presence: str  # online | away | offline
    load: int
    saturation: int
    conversations: tuple[Frame, ...]  # {"id", "visitor", "group", "since"}


@dataclass(frozen=True, slots=True)
class World:
    """Every agent and queue as the engine has them now; `waiting` entries are the queue snapshot's."""

    agents: tuple[AgentRow, ...]
    groups: dict[str, str]  # id -> name
    waiting: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Change:
    groups: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()

    def __or__(self, other: Change) -> Change:
        return Change(self.groups | other.groups, self.agents | other.agents)

    def __bool__(self) -> bool:
        return bool(self.groups or self.agents)


def parse_change(raw: bytes | str) -> Change:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Change()
    if not isinstance(data, dict):
        return Change()
    return Change(frozenset(g for g in data.get("g") or () if isinstance(g, str)),
                  frozenset(a for a in data.get("a") or () if isinstance(a, str)))


def queue_rows(waiting: list[dict[str, Any]], now: float, limit: int | None = None) -> list[Frame]:
    """The waiting visitors of one queue as clients see them, in queue order."""
    shown = waiting if limit is None else waiting[:limit]
    return [{"conversation": w["conversation"], "visitor": w["visitor"], "position": i + 1,
             "priority": w["priority"], "waited_s": round(max(0.0, now - w["queued_at"]), 1)}
            for i, w in enumerate(shown)]


def _groups_of(scope: Scope, world: World) -> list[str]:
    return sorted(g for g in world.groups if scope.manages(g))


def live_frame(world: World, scope: Scope, now: float, max_agents: int = MAX_AGENTS,
               max_waiting: int = MAX_WAITING) -> Frame:
    """The ``live`` frame `scope` may see: its agents (online first, then by name) and its queues."""
    agents = [a for a in world.agents if scope.manages_any(a.groups)]
    agents.sort(key=lambda a: (_PRESENCE_ORDER.get(a.presence, 3), a.name.lower(), a.id))
    queues = []
    for group in _groups_of(scope, world):
        waiting = world.waiting.get(group, [])
        queues.append({"group": group, "name": world.groups[group] or group,
                       "waiting": queue_rows(waiting, now, max_waiting), "waiting_total": len(waiting)})
    return frame("live", at=round(now, 3), agents=[_agent(a) for a in agents[:max_agents]],
                 agents_total=len(agents), queues=queues)


def _agent(a: AgentRow) -> Frame:
    return {"id": a.id, "name": a.name, "presence": a.presence, "load": a.load, "saturation": a.saturation,
            "groups": list(a.groups), "conversations": list(a.conversations)}


def signature(live: Frame) -> Frame:
    """A live frame without what only time changes (its `at`, the waits): equal signatures show the same."""
    return {"agents": live["agents"], "agents_total": live["agents_total"],
            "queues": [{**q, "waiting": [{k: v for k, v in w.items() if k != "waited_s"} for w in q["waiting"]]}
                       for q in live["queues"]]}


def concerns(scope: Scope, change: Change, members: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether `change` can touch what `scope` sees; `members` is each known agent's groups (an agent not
    in it may be new: it counts)."""
    if scope.is_admin:
        return True
    if any(scope.manages(g) for g in change.groups):
        return True
    return any(a not in members or scope.manages_any(members[a]) for a in change.agents)


# --- when to push -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Watch:
    """What one socket watches: the live view (as `scope`), its queue panel's groups, or both."""

    scope: Scope | None = None  # a live subscriber's
    queue_groups: tuple[str, ...] = ()  # what the socket's queue panel shows
    last: Frame | None = field(default=None)


class LiveEdge:
    """One edge's watchers and its listener on ``LIVE_CHANNEL`` (running while there is a watcher)."""

    def __init__(self, engine: Engine, redis: aioredis.Redis, debounce_s: float = DEBOUNCE_S) -> None:
        self.engine, self.redis, self.debounce_s = engine, redis, debounce_s
        self.watches: dict[Connection, Watch] = {}
        self._pending = Change()
        self._flush_task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._members: dict[str, tuple[str, ...]] = {}
        self._last: dict[object, Frame] = {}  # the signature last sent to each scope
        self._since: dict[str, float | None] = {}  # conversation -> assigned_at (read once)
        self.flushes = 0  # for tests: worlds read

    # --- watchers ---------------------------------------------------------------------------------

    async def subscribe(self, conn: Connection, scope: Scope) -> None:
        """`conn` (a steerer's) gets a live frame now and whenever its view changes."""
        self._watch(conn).scope = scope
        await self._started()
        live = await self.build(scope)
        self._last.setdefault(_scope_key(scope), signature(live))
        await conn.send(live)

    def unsubscribe(self, conn: Connection) -> None:
        watch = self.watches.get(conn)
        if watch is not None:
            watch.scope = None
            self._drop_if_idle(conn, watch)

    async def watch_queues(self, conn: Connection, groups: Iterable[str]) -> None:
        """`conn`'s queue panel shows `groups`: push it a ``queues`` frame when one of them changes."""
        watch = self._watch(conn)
        watch.queue_groups = tuple(groups)
        if not watch.queue_groups:
            self._drop_if_idle(conn, watch)
            return
        await self._started()

    def forget(self, conn: Connection) -> None:
        if self.watches.pop(conn, None) is not None and not self.watches:
            self._stop()

    def _watch(self, conn: Connection) -> Watch:
        return self.watches.setdefault(conn, Watch())

    def _drop_if_idle(self, conn: Connection, watch: Watch) -> None:
        if watch.scope is None and not watch.queue_groups:
            self.forget(conn)

    # --- listening ----------------------------------------------------------------------------------

    async def _started(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="live-listener")
        with contextlib.suppress(asyncio.TimeoutError):  # Redis away: the frames come once it is back
            await asyncio.wait_for(self._listening.wait(), timeout=2.0)

    def _stop(self) -> None:
        for task in (self._listener, self._flush_task):
            if task is not None:
                task.cancel()
        self._listener = self._flush_task = None
        self._last.clear()

    async def _listen(self) -> None:
        await listen(self.redis, LIVE_CHANNEL, lambda data: self.note(parse_change(data)), self._listening,
                     "live listener")

    def note(self, change: Change) -> None:
        """Something changed: push after the debounce, with whatever else changes meanwhile."""
        if not change:
            return
        self._pending = self._pending | change
        if self._flush_task is None:
            self._flush_task = asyncio.create_task(self._flush_later(), name="live-flush")

    async def _flush_later(self) -> None:
        while self._pending:  # what changes while a push runs goes in the next one, a debounce later
            await asyncio.sleep(self.debounce_s)
            change, self._pending = self._pending, Change()
            try:
                await self.push(change)
            except Exception:
                log.exception("pushing the live view failed")
        self._flush_task = None

    # --- pushing ------------------------------------------------------------------------------------

    async def push(self, change: Change) -> None:
        """Send what `change` changed: one live frame per concerned scope, queues to the panels showing it."""
        watches = {c: w for c, w in self.watches.items() if not c.closed}
        by_scope: dict[object, tuple[Scope, list[Connection]]] = {}
        for conn, w in watches.items():
            if w.scope is not None and concerns(w.scope, change, self._members):
                by_scope.setdefault(_scope_key(w.scope), (w.scope, []))[1].append(conn)
        panels = [(c, w.queue_groups) for c, w in watches.items() if change.groups & set(w.queue_groups)]
        if not by_scope and not panels:
            return
        world = await self.world(_need(s for s, _ in by_scope.values()), {g for _, gs in panels for g in gs},
                                 with_agents=bool(by_scope))
        now = time.time()
        for key, (scope, conns) in by_scope.items():
            live = live_frame(world, scope, now)
            sig = signature(live)
            if self._last.get(key) == sig:
                continue
            self._last[key] = sig
            for conn in conns:
                await conn.send(live)
        for conn, groups in panels:
            await conn.send(frame("queues", queues={g: queue_rows(world.waiting.get(g, []), now) for g in groups}))

    async def build(self, scope: Scope) -> Frame:
        return live_frame(await self.world(_need([scope]), set(), with_agents=True), scope, time.time())

    async def world(self, steered: set[str] | None, panel_groups: set[str], with_agents: bool) -> World:
        """Read the engine once: the agents and queues of `steered` groups (None: all) and `panel_groups`."""
        self.flushes += 1
        groups = {g.id: g.name or "" for g in await asyncio.to_thread(list_groups)}
        summaries = await asyncio.to_thread(agent_summaries) if with_agents else []
        if with_agents:
            self._members = {a.id: a.groups for a in summaries}
        shown_groups = [g for g in groups if steered is None or g in steered]
        agents = [a for a in summaries if steered is None or set(a.groups) & steered]
        queue_ids = sorted(set(shown_groups) | panel_groups)
        agent_snaps, queue_snaps = await asyncio.to_thread(self._inspect, [a.id for a in agents], queue_ids)
        active = [c for snap in agent_snaps.values() if snap for c in snap.get("active", [])]
        views = await self._views(active)
        if with_agents:  # the assignment times of the conversations now open, each read once
            await self._read_since([c for c in active if c not in self._since])
            self._since = {c: self._since.get(c) for c in active}
        rows = []
        for a in agents:
            snap = agent_snaps.get(a.id)
            convs = tuple(_conversation(c, views.get(c), self._since.get(c)) for c in (snap or {}).get("active", []))
            rows.append(AgentRow(a.id, a.nickname or a.id, a.groups, snap["presence"] if snap else "offline",
                                 int(snap["load"]) if snap else 0,
                                 int(snap["saturation"]) if snap else 0, convs))
        waiting = {g: (s or {}).get("waiting", []) for g, s in queue_snaps.items()}
        return World(tuple(rows), {g: groups[g] for g in shown_groups}, waiting)

    def _inspect(self, agents: list[str], queues: list[str]) -> tuple[dict[str, dict[str, Any] | None],
                                                                       dict[str, dict[str, Any] | None]]:
        return ({a: self.engine.inspect(Address.agent(a)) for a in agents},
                {g: self.engine.inspect(Address.queue(g)) for g in queues})

    async def _views(self, convs: list[str]) -> dict[str, ConvView | None]:
        if not convs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in convs:
                pipe.hgetall(conv_key(c))
            raw = await pipe.execute()
        return {c: ConvView.from_hash(c, r) for c, r in zip(convs, raw, strict=True)}

    async def _read_since(self, convs: list[str]) -> None:
        if not convs:
            return

        def read() -> dict[str, float | None]:
            found = {}
            for c in convs:
                snap = self.engine.inspect(Address.conversation(c))
                found[c] = snap.get("assigned_at") if snap else None
            return found
        self._since.update(await asyncio.to_thread(read))


def _conversation(conv: str, view: ConvView | None, since: float | None) -> Frame:
    return {"id": conv, "visitor": view.visitor if view else None, "group": view.group if view else None,
            "since": since}


def _scope_key(scope: Scope) -> object:
    return "*" if scope.is_admin else scope.supervises


def _need(scopes: Iterable[Scope]) -> set[str] | None:
    """The groups these scopes steer; None when one is an admin's (every group)."""
    groups: set[str] = set()
    for scope in scopes:
        if scope.is_admin:
            return None
        groups |= scope.supervises
    return groups


_EDGES: weakref.WeakKeyDictionary[Hub, LiveEdge] = weakref.WeakKeyDictionary()


def live_edge(hub: Hub, engine: Engine, redis: aioredis.Redis) -> LiveEdge:
    """This edge's :class:`LiveEdge` (one per hub, made on first use)."""
    edge = _EDGES.get(hub)
    if edge is None:
        edge = _EDGES[hub] = LiveEdge(engine, redis)
    return edge
