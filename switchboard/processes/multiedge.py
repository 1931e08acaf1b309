"""``switchboard serve --edges N``: one engine on Ray, N edge processes in front of it.

This process owns the engine: it starts (or joins) a Ray cluster, creates the
named Ray hosts, and runs the one relay (deliveries -> store -> Redis) and
restart recovery. Each edge is a separate process (:mod:`switchboard.processes.edge_worker`)
serving the websockets and REST on the same port (SO_REUSEPORT: the kernel
spreads connections over them); it attaches to the named hosts to send
commands and reaches its sockets through its own Redis channel. A visitor on
one edge and their agent on another talk through Redis, never through each
other. This process supervises the edges: one that dies is started again
while the others serve on, and its sockets are forgotten (:class:`_Supervisor`);
only SIGINT or SIGTERM of this process ends the server.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson
import redis.asyncio as aioredis

from switchboard.actors.address import Address
from switchboard.actors.messages import Message, SetPresence
from switchboard.processes.backends import Backends
from switchboard.processes.banner import print_urls
from switchboard.settings import BotSettings, DispatchSettings, MailSettings, ServerSettings

__all__ = ["run_multi_edge", "SupervisedEngine"]

log = logging.getLogger("switchboard.processes.multiedge")


def run_multi_edge(settings: ServerSettings, dispatch: DispatchSettings, bot_settings: BotSettings, mail: MailSettings,
                   backends: Backends, args: argparse.Namespace) -> int:
    return asyncio.run(_main(settings, dispatch, bot_settings, mail, backends, args))


async def _main(settings: ServerSettings, dispatch: DispatchSettings, bot_settings: BotSettings, mail: MailSettings,
                backends: Backends,
                args: argparse.Namespace) -> int:
    import ray

    from switchboard.actors.engine import on_loop
    from switchboard.actors.start import start_engine
    from switchboard.actors.ray_runtime import init_ray
    from switchboard.edges.delivery.fanout import Hub
    from switchboard.edges.delivery.names import Names
    from switchboard.edges.delivery.recovery import recover, refresh_views
    from switchboard.edges.botworker.worker import start_bot_worker, stop_bot_worker
    from switchboard.edges.delivery.relay import Relay
    from switchboard.store import connection
    from switchboard.store.writer import StoreWriter

    init_ray(args.ray_address)
    gcs = ray.get_runtime_context().gcs_address
    await asyncio.to_thread(connection.connect, backends.mongodb_uri)
    await asyncio.to_thread(connection.ensure_indexes)
    from switchboard.edges.app import redis_client

    redis = redis_client(backends.redis_url)
    writer = StoreWriter(journal=bool(settings.store_journal), transactions=settings.store_transactions,
                         keeper=settings.report_keeper)
    await writer.start()
    hub = Hub(redis, "engine")
    relay = Relay(hub, writer, Names(), settings.history_cap)
    loop = asyncio.get_running_loop()
    hosts = args.hosts or 4
    on_delivery = on_loop(loop, relay.push)

    engine = start_engine("ray", hosts=hosts, settings=dispatch, ray_address=gcs, named=True, on_delivery=on_delivery)

    async def ignore(_: object) -> None:
        return None

    hub.start(ignore, ignore)
    relay.bot = bot_worker = await start_bot_worker(settings, bot_settings, engine, hub, redis, backends.mongodb_uri)
    relay.handoff_turns = bot_settings.handoff_turns
    relay.start()
    counts = await recover(engine, redis, settings.default_group)
    print(f"  engine on Ray ({hosts} hosts, cluster {gcs}); recovered {counts}", flush=True)
    from switchboard.edges.setup import prepare_setup, setup_line

    setup_code = await prepare_setup(redis)  # only while no admin exists (docs/accounts.md, "First run")
    if setup_code is not None:
        print(setup_line(settings.base_url, setup_code), flush=True)
    views = asyncio.create_task(_views_after_outages(redis, refresh_views, settings.part_probe_interval_s,
                                                     settings.part_probe_timeout_s), name="redis-views")

    def spawn(index: int) -> _Edge:
        return _spawn_edge(index, settings, dispatch, bot_settings, mail, backends, gcs, hosts, args)

    supervisor = _Supervisor(spawn, args.edges, redis, engine)
    print_urls(settings)
    pids = ", ".join(str(e.proc.pid) for e in supervisor.edges if e)
    print(f"  {args.edges} edge processes share the port (pids {pids}); an edge that dies is started again", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = await supervisor.run(stop)
    await supervisor.stop()
    await stop_bot_worker(bot_worker)
    try:
        if engine.failure is None:  # a dead host answers no poll
            await asyncio.to_thread(engine.wait_quiet, 5.0)
    except Exception as exc:  # one died meanwhile: still flush what the relay and the writer hold
        log.error("the engine broke while stopping: %r", exc)
        code = 1
    views.cancel()
    await asyncio.gather(views, return_exceptions=True)
    await relay.stop()
    await writer.close()
    await hub.stop()
    engine.stop()
    await redis.aclose()
    ray.shutdown()
    print("Switchboard stopped; flushing and stopping the embedded servers.", flush=True)
    return code


async def _views_after_outages(redis: aioredis.Redis, refresh: Callable[[aioredis.Redis], Awaitable[int]],
                               interval_s: float, timeout_s: float) -> None:
    """The relay keeps the conversation views in Redis: when Redis comes back from an outage (an embedded one
    from its append-only file, which may miss its last second), rewrite them from the store. The edges
    close their sockets and refuse REST meanwhile (edges/health.py, which does this itself in a single serve)."""
    down = False
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.wait_for(redis.ping(), timeout_s)
            if down:
                await refresh(redis)
                down = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not down:
                log.error("Redis is unreachable from the engine's process (%s: %s); its views are rewritten "
                          "from the store when it is back", type(exc).__name__, exc)
            down = True


RESTART_GAP_S = 3.0  # an edge slot is started at most once per this many seconds
QUICK_DEATH_S = 30.0  # an edge that dies this soon after its start failed again: the next start waits longer
MAX_BACKOFF_S = 60.0
POLL_S = 0.5


@dataclasses.dataclass
class _Edge:
    """One edge process, and the read end of the pipe it writes its edge id into once it serves."""

    index: int
    proc: subprocess.Popen[bytes]
    report: int
    started: float
    edge_id: str | None = None

    def read_id(self) -> str | None:
        if self.edge_id is None and self.report >= 0:
            try:
                data = os.read(self.report, 64)
            except BlockingIOError:  # started, not serving yet
                return None
            self.edge_id = data.decode().strip() or None
            os.close(self.report)
            self.report = -1
        return self.edge_id

    def close(self) -> None:
        if self.report >= 0:
            os.close(self.report)
            self.report = -1


class SupervisedEngine(Protocol):
    """What the supervisor needs of the engine: whether it broke, and a way to set an agent offline."""

    @property
    def failure(self) -> str | None: ...

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None: ...


class _Supervisor:
    """Keeps N edges running: an edge that exits while the server runs is logged, its sockets forgotten
    (its agents go offline as if they had disconnected, unless they have sockets elsewhere) and started
    again, at most once per RESTART_GAP_S, backing off while it keeps dying. The other edges serve on."""

    def __init__(self, spawn: Callable[[int], _Edge], count: int, redis: aioredis.Redis,
                 engine: SupervisedEngine) -> None:
        self._spawn, self._redis, self._engine = spawn, redis, engine
        self.edges: list[_Edge | None] = [spawn(i) for i in range(count)]
        self._next_start = [0.0] * count
        self._failures = [0] * count  # quick deaths in a row, per slot

    async def run(self, stop: asyncio.Event) -> int:
        """Until `stop` (0), or until the engine breaks (1): a dead Ray host took its entities with it, and
        serving on would hang every conversation it held; the exit lets a supervisor above (systemd, a
        container's restart policy) start serve again, and restart recovery brings everything back."""
        while not stop.is_set():
            if self._engine.failure is not None:
                log.error("the engine cannot go on: %s; stopping, so that a restart recovers every open "
                          "conversation and queue from the store", self._engine.failure)
                return 1
            now = time.monotonic()
            for index, edge in enumerate(self.edges):
                if edge is None:
                    if now >= self._next_start[index]:
                        self.edges[index] = started = self._spawn(index)
                        log.warning("edge %d started again (pid %d)", index, started.proc.pid)
                elif edge.proc.poll() is not None:
                    self.edges[index] = None
                    await self._died(edge, now)
                else:
                    edge.read_id()
            try:
                await asyncio.wait_for(stop.wait(), POLL_S)
            except asyncio.TimeoutError:
                pass
        return 0

    async def _died(self, edge: _Edge, now: float) -> None:
        edge_id, code = edge.read_id(), edge.proc.returncode
        edge.close()
        how = f"status {code}" if code >= 0 else f"signal {_signal_name(-code)}"
        quick = now - edge.started < QUICK_DEATH_S
        failures = self._failures[edge.index] = self._failures[edge.index] + 1 if quick else 1
        delay = 0.0 if failures == 1 else min(RESTART_GAP_S * 2 ** (failures - 2), MAX_BACKOFF_S)
        # Never in this round: a Ctrl-C reaches the edges too, and serve's own stop may come a moment later.
        self._next_start[edge.index] = max(now + delay, edge.started + RESTART_GAP_S, now + POLL_S / 2)
        wait = self._next_start[edge.index] - now
        if failures == 1:
            log.warning("edge %d (pid %d, id %s) exited unexpectedly (%s); the other edges serve on; "
                        "starting it again in %.1f s", edge.index, edge.proc.pid, edge_id, how, wait)
        else:
            log.error("edge %d keeps dying: %d times in a row within %.0f s of its start (pid %d, %s); "
                      "next start in %.0f s", edge.index, failures, QUICK_DEATH_S, edge.proc.pid, how, wait)
        if edge_id is not None:
            try:
                await self._forget(edge_id)
            except Exception:
                log.exception("could not forget the sockets of edge %s", edge_id)

    async def _forget(self, edge_id: str) -> None:
        """What a clean stop of that edge does (Hub.forget_edge), and what its sockets' closing would have done:
        an agent whose last socket was there is set offline (the offline grace keeps their conversations)."""
        from switchboard.edges.delivery.fanout import Hub
        from switchboard.edges.keys import registered_user, registry_pattern

        agents = [key async for key in self._redis.scan_iter(match=registry_pattern("agent"), count=1000)
                  if await self._redis.hexists(key, edge_id)]
        await Hub(self._redis, edge_id).forget_edge()
        offline = []
        for key in agents:
            if sum(int(c) for c in await self._redis.hvals(key)) == 0:
                agent_id = registered_user(key).id
                self._engine.send(Address.agent(agent_id), SetPresence("offline"))
                offline.append(agent_id)
        log.info("forgot the sockets of edge %s; agents now offline: %s", edge_id, ", ".join(offline) or "none")

    async def stop(self) -> None:
        edges = [e for e in self.edges if e is not None]
        for edge in edges:
            if edge.proc.poll() is None:
                edge.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        for edge in edges:
            await asyncio.to_thread(_wait, edge.proc)
            edge.close()


def _spawn_edge(index: int, settings: ServerSettings, dispatch: DispatchSettings, bot: BotSettings, mail: MailSettings,
                backends: Backends, gcs: str, hosts: int, args: argparse.Namespace) -> _Edge:
    # Every setting, as the single-process server has them (serve's --host/--port/--data-dir are in `settings`).
    server = {**dataclasses.asdict(settings), "redis_url": backends.redis_url, "mongodb_uri": backends.mongodb_uri}
    read, write = os.pipe()
    os.set_blocking(read, False)
    config = {"settings": server, "dispatch": dataclasses.asdict(dispatch), "bot": dataclasses.asdict(bot),
              "mail": dataclasses.asdict(mail),  # the SMTP password too: in the child's environment, never a log
              "redis_url": backends.redis_url, "mongodb_uri": backends.mongodb_uri, "ray_address": gcs,
              "hosts": hosts, "log_level": args.log_level, "index": index, "report_fd": write,
              "parent": os.getpid()}  # the edge ends when this process does, even by SIGKILL
    env = {**os.environ, "SWITCHBOARD_EDGE_CONFIG": orjson.dumps(config).decode()}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "switchboard.processes.edge_worker"], env=env, pass_fds=(write,))
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return _Edge(index, proc, read, time.monotonic())


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _wait(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
