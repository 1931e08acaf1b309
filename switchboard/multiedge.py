"""``switchboard serve --edges N``: one engine on Ray, N edge processes in front of it.

This process owns the engine: it starts (or joins) a Ray cluster, creates the
named Ray hosts, and runs the one relay (deliveries -> store -> Redis) and
restart recovery. Each edge is a separate process (:mod:`switchboard.edges.worker`)
serving the websockets and REST on the same port (SO_REUSEPORT: the kernel
spreads connections over them); it attaches to the named hosts to send
commands and reaches its sockets through its own Redis channel. A visitor on
one edge and their agent on another talk through Redis, never through each
other.
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
from typing import Any

import orjson

from .settings import BotSettings, DispatchSettings, ServerSettings

__all__ = ["run_multi_edge"]

log = logging.getLogger("switchboard.multiedge")


def run_multi_edge(settings: ServerSettings, dispatch: DispatchSettings, bot_settings: BotSettings, backends: Any,
                   args: argparse.Namespace) -> int:
    return asyncio.run(_main(settings, dispatch, bot_settings, backends, args))


async def _main(settings: ServerSettings, dispatch: DispatchSettings, bot_settings: BotSettings, backends: Any,
                args: argparse.Namespace) -> int:
    import ray

    from .actors.engine import on_loop, start_engine
    from .actors.ray_runtime import init_ray
    from .edges.fanout import Hub
    from .edges.names import Names
    from .edges.recovery import recover
    from .edges.bot import start_bot_worker, stop_bot_worker
    from .edges.relay import Relay
    from .serve import print_urls
    from .store import connection
    from .store.writer import StoreWriter

    init_ray(args.ray_address)
    gcs = ray.get_runtime_context().gcs_address
    await asyncio.to_thread(connection.connect, backends.mongodb_uri)
    await asyncio.to_thread(connection.ensure_indexes)
    from .edges.app import redis_client

    redis = redis_client(backends.redis_url)
    writer = StoreWriter(journal=bool(settings.store_journal), transactions=settings.store_transactions)
    await writer.start()
    hub = Hub(redis, "engine")
    relay = Relay(hub, writer, Names(), settings.history_cap)
    loop = asyncio.get_running_loop()
    hosts = args.hosts or 4
    on_delivery = on_loop(loop, relay.push)

    engine = start_engine("ray", hosts=hosts, settings=dispatch, ray_address=gcs, named=True, on_delivery=on_delivery)

    async def ignore(_: Any) -> None:
        return None

    hub.start(ignore, ignore)
    relay.bot = await start_bot_worker(settings, bot_settings, engine, hub, redis, backends.mongodb_uri)
    relay.handoff_turns = bot_settings.handoff_turns
    relay.start()
    counts = await recover(engine, redis)
    print(f"  engine on Ray ({hosts} hosts, cluster {gcs}); recovered {counts}", flush=True)
    edges = [_spawn_edge(i, settings, bot_settings, backends, gcs, hosts, args) for i in range(args.edges)]
    print_urls(settings)
    print(f"  {args.edges} edge processes share the port (pids {', '.join(str(e.pid) for e in edges)})", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set() and all(e.poll() is None for e in edges):
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    code = 0 if stop.is_set() else 1
    for edge in edges:
        if edge.poll() is None:
            edge.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
    for edge in edges:
        await asyncio.to_thread(_wait, edge)
    await stop_bot_worker(relay.bot)
    await asyncio.to_thread(engine.wait_quiet, 5.0)
    await relay.stop()
    await writer.close()
    await hub.stop()
    engine.stop()
    await redis.aclose()
    ray.shutdown()
    print("Switchboard stopped; flushing and stopping the embedded servers.", flush=True)
    return code


def _spawn_edge(index: int, settings: ServerSettings, bot: BotSettings, backends: Any, gcs: str, hosts: int,
                args: argparse.Namespace) -> subprocess.Popen[bytes]:
    config = {"settings": {"host": settings.host, "port": settings.port, "data_dir": settings.data_dir,
                           "secret": settings.secret, "allowed_origins": list(settings.allowed_origins),
                           "max_frame_bytes": settings.max_frame_bytes, "rate_limit_per_s": settings.rate_limit_per_s,
                           "rate_limit_burst": settings.rate_limit_burst, "token_ttl_s": settings.token_ttl_s,
                           "visitor_token_ttl_s": settings.visitor_token_ttl_s, "history_cap": settings.history_cap,
                           "default_group": settings.default_group, "store_journal": settings.store_journal,
                           "store_transactions": settings.store_transactions},
              "redis_url": backends.redis_url, "mongodb_uri": backends.mongodb_uri, "ray_address": gcs,
              "hosts": hosts, "log_level": args.log_level, "index": index, "bot": dataclasses.asdict(bot)}
    env = {**os.environ, "SWITCHBOARD_EDGE_CONFIG": orjson.dumps(config).decode()}
    return subprocess.Popen([sys.executable, "-m", "switchboard.edges.worker"], env=env)


def _wait(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
