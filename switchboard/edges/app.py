"""The Starlette app of one edge process: websockets, REST, and the start-up and shutdown around them.

Start-up connects the store and Redis, starts the engine (local runtime by
default; or attaches to a shared Ray engine) and, in the process that owns
the engine, the relay and restart recovery; then the monitor of the parts
(:mod:`.health`: /healthz, /readyz, and the gate that refuses sockets and REST
while Redis or the store is down). Shutdown runs in the reverse
order and loses nothing acknowledged: sockets are told the server is going
away (1001), the engine settles, the relay drains into the store writer, the
writer flushes, then the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from switchboard.actors.address import UserRef
from switchboard.actors.engine import Engine, on_loop
from switchboard.actors.output import EngineOutput, EngineOutputCallback
from switchboard.actors.start import start_engine
from switchboard.mail.sender import MailSender
from switchboard.mail.transport import make_transport
from switchboard.settings import BotSettings, DispatchSettings, MailSettings, ServerSettings
from switchboard.store import connection
from switchboard.store.writer import StoreWriter
from switchboard.edges import codes
from switchboard.edges.auth import Passwords, load_or_create_secret
from switchboard.edges.botworker.worker import start_bot_worker, stop_bot_worker
from switchboard.edges.delivery.fanout import Hub
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.recovery import recover
from switchboard.edges.delivery.relay import Relay
from switchboard.edges.delivery.sockets import Sockets
from switchboard.edges.health import RETRY_AFTER_S, Health, ReadinessGate
from switchboard.edges.keys import user_key
from switchboard.edges.limits import SocketLimits
from switchboard.edges.pages import page_routes
from switchboard.edges.protocol import CLOSE_AUTH, Frame
from switchboard.edges.rest.api import api_routes
from switchboard.edges.rest.toolkit import NOT_FOUND
from switchboard.edges.services import Services
from switchboard.edges.setup import prepare_setup, setup_line
from switchboard.edges.site import SiteCache
from switchboard.edges.ws.agent import agent_endpoint
from switchboard.edges.ws.visitor import visitor_endpoint

__all__ = ["AppConfig", "create_app"]

log = logging.getLogger("switchboard.app")


@dataclass
class AppConfig:
    """How to build one edge: where Redis and the store are, and which engine to use."""

    settings: ServerSettings
    dispatch: DispatchSettings
    redis_url: str
    mongodb_uri: str
    runtime: str = "local"
    hosts: int | None = None
    ray_address: str | None = None
    attach: bool = False  # another process owns the engine (and the relay); this edge only sends
    recover: bool = True
    engine_factory: Callable[[EngineOutputCallback], Engine] | None = None
    bot: BotSettings = field(default_factory=BotSettings)
    mail: MailSettings = field(default_factory=MailSettings)


def create_app(config: AppConfig) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await _start(config)
        app.state.services = services
        health = app.state.health = Health(services, config.redis_url, config.mongodb_uri,
                                           interval_s=config.settings.part_probe_interval_s,
                                           timeout_s=config.settings.part_probe_timeout_s)
        health.start()
        try:
            yield
        finally:
            await health.stop()
            await _stop(services)

    routes = [WebSocketRoute("/ws/visitor", visitor_endpoint), WebSocketRoute("/ws/agent", agent_endpoint),
              Route("/healthz", _health), Route("/readyz", _ready), *api_routes(), *page_routes()]
    # Outermost first: the connection limits (edges/limits.py), then, while Redis or the store is down, the
    # gate that answers for the app (edges/health.py).
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error},
                     middleware=[Middleware(SocketLimits, settings=config.settings), Middleware(ReadinessGate)])


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no such route, a method the route has not) in the documented JSON shape
    under /api/, so a REST client reads every error one way; elsewhere its plain text."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = {404: NOT_FOUND, 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = f"no route {request.url.path}" if exc.status_code == 404 else \
        f"{request.method} is not allowed on {request.url.path}" if exc.status_code == 405 else str(exc.detail)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                        headers=exc.headers)


async def _health(request: Request) -> JSONResponse:
    """Liveness (always 200 while the process serves HTTP): each part's state, and `ok` as /readyz says."""
    services: Services = request.app.state.services
    health: Health = request.app.state.health
    return JSONResponse({**health.report(), "edge": services.edge_id, "sockets": len(services.sockets)})


async def _ready(request: Request) -> JSONResponse:
    """Readiness, for load balancers: 200 while this edge can take messages, 503 while Redis or the store is
    down (and while it catches up after one is back)."""
    health: Health = request.app.state.health
    report = health.report()
    return JSONResponse({"ready": health.ready, "down": health.down(), "parts": report["parts"]},
                        status_code=200 if health.ready else 503,
                        headers=None if health.ready else {"Retry-After": str(RETRY_AFTER_S)})


async def _start(config: AppConfig) -> Services:
    await asyncio.to_thread(connection.connect, config.mongodb_uri)
    await asyncio.to_thread(connection.ensure_indexes)
    redis = redis_client(config.redis_url)
    await redis.ping()
    # An edge of several writes visitors and ratings beside the relay's writer in serve, the sole one that may
    # use transactions on a store that is no replica set (store/writer.py: nx-27017 nests overlapping ones).
    writer = StoreWriter(journal=bool(config.settings.store_journal),
                         transactions=config.settings.store_transactions, sole_writer=not config.attach,
                         keeper=config.settings.report_keeper)
    await writer.start()
    hub = Hub(redis, _edge_id())
    names = Names()
    loop = asyncio.get_running_loop()
    relay = None if config.attach else Relay(hub, writer, names, config.settings.history_cap)
    engine = _engine(config, loop, relay)
    services = Services(settings=config.settings, dispatch=config.dispatch, engine=engine, redis=redis,
                        writer=writer, secret=load_or_create_secret(config.settings), hub=hub,
                        sockets=Sockets(redis), names=names, relay=relay, edge_id=hub.edge_id, bot_settings=config.bot,
                        passwords=Passwords(workers=config.settings.hash_workers, queue=config.settings.hash_queue),
                        mail=MailSender(make_transport(config.mail, config.settings.data_dir), config.mail),
                        mail_settings=config.mail, site=SiteCache(config.settings.allowed_origins))
    hub.start(services.sockets.receive, lambda data: _control(services, data))
    await asyncio.wait_for(hub.subscribed.wait(), timeout=10)
    if relay is not None:
        relay.bot = services.bot = await start_bot_worker(config.settings, config.bot, engine, hub, redis, config.mongodb_uri)
        relay.handoff_turns = config.bot.handoff_turns
        relay.start()
        if config.recover:
            counts = await recover(engine, redis, config.settings.default_group)
            services.recovered = counts
        code = await prepare_setup(redis)  # only while no admin exists (docs/accounts.md, "First run")
        if code is not None:
            print(setup_line(config.settings.base_url, code), flush=True)
    return services


def redis_client(url: str) -> aioredis.Redis:
    """A pool that waits for a free connection under load (redis-py's default pool raises past 100)."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=20)
    return aioredis.Redis(connection_pool=pool)


def _edge_id() -> str:
    import uuid

    return uuid.uuid4().hex[:10]


def _engine(config: AppConfig, loop: asyncio.AbstractEventLoop, relay: Relay | None) -> Engine:
    def ignore(_: EngineOutput) -> None:
        return None

    on_delivery = on_loop(loop, relay.push) if relay is not None else ignore  # called from the engine's threads

    if config.engine_factory is not None:
        return config.engine_factory(on_delivery)
    if config.attach:
        from switchboard.actors.ray_runtime import attach_ray_engine

        return attach_ray_engine(config.hosts or 4, config.ray_address)
    return start_engine(config.runtime, hosts=config.hosts, settings=config.dispatch, on_delivery=on_delivery,
                        ray_address=config.ray_address)


async def _control(services: Services, data: Frame) -> None:
    """Broadcasts to every edge: sessions ended by logout or a password change close their sockets."""
    if data.get("type") in ("sessions_ended", "session_ended"):
        sid = data.get("sid")
        for conn in list(services.sockets.of_key(user_key(UserRef.agent(str(data.get("user")))))):
            if sid is None or conn.sid == sid:
                await conn.send({"type": "error", "code": codes.SESSION_ENDED,
                                 "message": "the session has ended; log in again"})
                await conn.close(CLOSE_AUTH, "session ended")


async def _stop(services: Services) -> None:
    for conn in list(services.sockets.by_id.values()):
        await conn.close(1001, "server shutting down")
    if services.mail is not None:  # a moment for mails on their first try; later retries are given up (logged)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(services.mail.drain(), 5.0)
        await services.mail.close()
    if services.relay is not None:
        if services.bot is not None:
            await stop_bot_worker(services.bot)
        await asyncio.to_thread(services.engine.wait_quiet, 5.0)
        with contextlib.suppress(Exception):
            await services.relay.stop()
    await services.writer.close()
    with contextlib.suppress(Exception):
        await services.hub.stop()
    with contextlib.suppress(Exception):
        await services.hub.forget_edge()
    services.engine.stop()
    await services.redis.aclose()
    await asyncio.to_thread(connection.disconnect)
