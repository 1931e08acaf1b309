"""The parts one edge depends on, watched: Redis, the store, the engine, the bot; /healthz, /readyz, the gate.

The rule: while Redis or the store is down, the edge takes nothing it could not carry. A message is acked
only once it is stored (the store) and the ack travels through Redis, so with either gone a message taken
would be stored but never acked, or not stored at all, and the client's re-sends would pile up behind an
outage of any length. So a monitor pings both every ``part_probe_interval_s``; the first failed ping (a
refused connection; a timeout only twice in a row, so a busy moment is no outage) marks the part down, and
then, at once:

- every socket of this edge gets an ``unavailable`` error and is closed with 4503 (:data:`CLOSE_UNAVAILABLE`),
  so its client reconnects later and re-sends what was not acked, with the same client ids;
- :class:`ReadinessGate` accepts a new socket only to close it the same way, answers REST (``/api/``)
  with 503 ``unavailable`` in the JSON error shape, and ``/readyz`` with 503; pages and ``/healthz`` still
  answer, and ``/healthz`` says which part is down since when;
- the log gets one line. Embedded servers are restarted by ``switchboard.store.watchdog`` in serve; Redis
  and a store given by URL are pinged until they answer (redis-py and pymongo reconnect by themselves).

When Redis is back, before the edge is ready again: this edge's socket counts in the registry are dropped
(its sockets were all closed while unregistering could not reach Redis), the agents it closed are set
offline (the offline grace keeps their conversations; a reconnect sets them online), the relay's process
rewrites the conversation views from the store (an embedded Redis restarts from its append-only file,
which may miss its last second), and the subscription is back. The engine and the bot are reported, not
gated on: the bot restarts its own process, and an engine that stops answering is a bug to see in
``/healthz``, not a reason to drop every socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as aioredis
from pymongo.errors import NetworkTimeout
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from switchboard.actors import messages as m
from switchboard.actors.address import Address
from switchboard.store import connection
from switchboard.edges import codes
from switchboard.edges.delivery.recovery import refresh_views
from switchboard.edges.protocol import CLOSE_UNAVAILABLE, Frame, encode, frame
from switchboard.edges.services import Services

__all__ = ["Health", "PartState", "ReadinessGate", "State", "UP", "DOWN", "OFF", "GATED", "RETRY_AFTER_S"]

log = logging.getLogger("switchboard.health")

State = Literal["up", "down", "off"]
UP: State = "up"
DOWN: State = "down"
OFF: State = "off"  # not used by this edge (no bot here)
GATED = ("redis", "store")  # down: nothing is taken (see the header)
RETRY_AFTER_S = 5  # what 503 answers tell a client to wait
_TIMEOUTS_TO_FAIL = 2  # a ping that times out marks its part down only the second time in a row
_SLOW = "no answer"  # how a timed-out ping's detail begins


@dataclass(slots=True)
class PartState:
    state: State = UP
    since: float = field(default_factory=time.time)  # epoch seconds of the last change
    detail: str = ""  # why it is down
    outages: int = 0
    timeouts: int = 0  # in a row

    def as_json(self) -> Frame:
        return {"state": self.state, "since": round(self.since, 3), "detail": self.detail, "outages": self.outages}


class Health:
    """The monitor of one edge's parts (a task on the edge's loop) and what /healthz and /readyz say."""

    def __init__(self, services: Services, redis_url: str, store_uri: str, *, interval_s: float,
                 timeout_s: float) -> None:
        self.services = services
        self.redis_url, self.store_uri = redis_url, store_uri
        # Clients of their own, made by start(): a ping waits for no pooled connection the app holds.
        self._redis: aioredis.Redis | None = None
        self._store: connection.Pinger | None = None
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.parts: dict[str, PartState] = {name: PartState() for name in ("redis", "store", "engine", "bot")}
        self.recovering = False  # a part is back and the edge is catching up: still not ready
        self._task: asyncio.Task[None] | None = None
        self._engine_probe: asyncio.Task[object] | None = None
        self._engine_asked = 0.0  # monotonic time of the probe in flight
        self._closed_agents: set[str] = set()

    @property
    def ready(self) -> bool:
        return not self.recovering and all(self.parts[name].state == UP for name in GATED)

    def down(self) -> list[str]:
        return [name for name in GATED if self.parts[name].state != UP]

    def report(self) -> Frame:
        self.parts["bot"] = self._bot_state(self.parts["bot"])
        return {"ok": self.ready, "parts": {name: part.as_json() for name, part in self.parts.items()}}

    def start(self) -> None:
        self._redis = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=self.timeout_s,
                                              socket_timeout=self.timeout_s)
        self._store = connection.Pinger(self.store_uri, self.timeout_s / 2)  # refused: fails before the wait ends
        self._task = asyncio.create_task(self._run(), name="health")

    async def stop(self) -> None:
        for task in (self._task, self._engine_probe):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- probing --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the monitor
                log.exception("checking the parts failed")

    async def check(self) -> None:
        """One round: ping Redis and the store, look at the engine and the bot; act on every change."""
        redis_error, store_error = await asyncio.gather(self._ping_redis(), self._ping_store())
        for name, error in (("redis", redis_error), ("store", store_error)):
            part = self.parts[name]
            if error is None:
                part.timeouts = 0
                if part.state != UP:
                    await self._came_back(name)
            elif part.state == UP:
                part.timeouts = part.timeouts + 1 if error.startswith(_SLOW) else _TIMEOUTS_TO_FAIL
                if part.timeouts >= _TIMEOUTS_TO_FAIL:
                    await self._went_down(name, error)
        self._probe_engine()

    async def _ping_redis(self) -> str | None:
        if self._redis is None:
            return "not watched"
        try:
            await asyncio.wait_for(self._redis.ping(), 2 * self.timeout_s)
        except (asyncio.TimeoutError, RedisTimeoutError):
            return f"{_SLOW} within {self.timeout_s:g} s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _ping_store(self) -> str | None:
        if self._store is None:
            return "not watched"
        try:
            await asyncio.wait_for(asyncio.to_thread(self._store.ping), 2 * self.timeout_s)
        except (asyncio.TimeoutError, NetworkTimeout):
            return f"{_SLOW} within {self.timeout_s:g} s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _probe_engine(self) -> None:
        """The engine answers an inspection of the default group's queue; one in flight at a time."""
        probe, part = self._engine_probe, self.parts["engine"]
        if probe is not None and not probe.done():
            if part.state == UP and time.monotonic() - self._engine_asked > self.timeout_s:
                self._set(part, DOWN, f"no answer to an inspection within {self.timeout_s:g} s")
            return
        if probe is not None:
            error = "cancelled" if probe.cancelled() else repr(probe.exception()) if probe.exception() else None
            if error is None and part.state != UP:
                self._set(part, UP, "")
            elif error is not None and part.state == UP:
                self._set(part, DOWN, error)
        group = self.services.settings.default_group
        self._engine_asked = time.monotonic()
        self._engine_probe = asyncio.create_task(
            asyncio.to_thread(self.services.engine.inspect, Address.queue(group)), name="health-engine")

    def _bot_state(self, part: PartState) -> PartState:
        worker = self.services.bot
        process = worker.bot if worker is not None else None
        if process is None:
            return part if part.state == OFF else PartState(OFF, detail="no bot in this process")
        running = process.proc.returncode is None
        if running and part.state != UP:
            return PartState(UP, outages=part.outages)
        if not running and part.state == UP:
            return PartState(DOWN, detail=f"exited with status {process.proc.returncode}; restarts with the next "
                                          f"question", outages=part.outages + 1)
        return part

    @staticmethod
    def _set(part: PartState, state: State, detail: str) -> None:
        if state == DOWN:
            part.outages += 1
        part.state, part.detail, part.since = state, detail, time.time()

    # --- acting on a change ---------------------------------------------------------------------------

    async def _went_down(self, name: str, detail: str) -> None:
        self._set(self.parts[name], DOWN, detail)
        closed = await self._close_sockets(name)
        log.error("%s is down (%s): closed %d sockets with %d; REST and /readyz answer 503 until it is back",
                  name, detail, closed, CLOSE_UNAVAILABLE)

    async def _close_sockets(self, name: str) -> int:
        conns = list(self.services.sockets.by_id.values())
        notice = frame("error", code=codes.UNAVAILABLE, message=f"the server cannot reach {name}; reconnect in a "
                                                                 f"few seconds and send again what was not acked")
        for conn in conns:
            if conn.user.role == "agent" and name == "redis":  # its unregister cannot reach Redis: see _catch_up
                self._closed_agents.add(conn.user.id)
            await conn.send(notice)
            await conn.close(CLOSE_UNAVAILABLE, f"{name} unavailable")
        return len(conns)

    async def _came_back(self, name: str) -> None:
        part = self.parts[name]
        down_for = time.time() - part.since
        self.recovering = True
        try:
            if name == "redis":
                await self._catch_up()
        except Exception as exc:  # Redis went again: the next round finds it down or tries again
            log.warning("%s answers again but catching up failed (%s: %s); retrying", name, type(exc).__name__, exc)
            return
        finally:
            self.recovering = False
        self._set(part, UP, "")
        log.warning("%s is back after %.1f s; ready again", name, down_for)

    async def _catch_up(self) -> None:
        services = self.services
        await services.hub.forget_edge()  # every socket here was closed meanwhile, uncounted
        for agent in sorted(self._closed_agents):  # their last socket went with Redis away: offline, with grace
            services.engine.send(Address.agent(agent), m.SetPresence("offline"))
        self._closed_agents.clear()
        if services.relay is not None:
            await refresh_views(services.redis)
        await asyncio.wait_for(services.hub.subscribed.wait(), timeout=max(5.0, self.timeout_s))


def _health_of(scope: Scope) -> Health | None:
    app = scope.get("app")
    if not isinstance(app, Starlette):
        return None
    health = getattr(app.state, "health", None)
    return health if isinstance(health, Health) else None


class ReadinessGate:
    """ASGI middleware: while Redis or the store is down, /api/ answers 503 ``unavailable`` (the JSON error
    shape, with Retry-After) and a websocket is accepted only to be told so and closed with 4503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        health = _health_of(scope)
        if health is None or health.ready or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        what = " and ".join(health.down()) or "a part"
        message = f"the server cannot reach {what} at the moment; try again in a few seconds"
        if scope["type"] == "websocket":
            if (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": encode(frame("error", code=codes.UNAVAILABLE,
                                                                         message=message)).decode()})
            await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE, "reason": f"{what} unavailable"})
            return
        if not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"error": {"code": codes.UNAVAILABLE, "message": message}}, status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        await response(scope, receive, send)
