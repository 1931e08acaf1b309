"""The uvicorn server every serving process runs, and its configuration: graceful stop and connection limits.

:class:`GracefulServer`'s ``run`` returns after the graceful shutdown, so its caller can stop what it
started: uvicorn re-raises SIGINT or SIGTERM once its shutdown is done, which would end the process
before ``switchboard serve`` stops the embedded servers it started; this server forgets the signal.

:func:`server_config` is the one place serve and each edge process configure uvicorn, so both guard
their connections the same way (the rules: :mod:`switchboard.edges.limits`):

- the soft RLIMIT_NOFILE is raised to the hard limit, and ``max_connections`` is kept below it with a
  reserve for Redis, the store, the bot worker and files, so accept() never fails for want of one;
- each TCP connection is counted when it is made (:class:`GuardedH11`); one past a limit is answered
  503 and closed before its request is read;
- a request head, so a websocket handshake, must be whole within ``request_head_timeout_s``:
  uvicorn's h11 protocol has no such timeout, and half-sent heads (slowloris) stayed open forever;
- every websocket is pinged every ``ws_ping_interval_s`` and closed when no pong came within
  ``ws_ping_timeout_s`` (:class:`GuardedWebSocket`), so a dead network is noticed in seconds.

Imported only when a server is about to run (``serve``, each edge process), so the command line does
not pay for uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from starlette.types import ASGIApp

from switchboard.edges import codes
from switchboard.edges.limits import UNKNOWN_ADDRESS, Ledger, Tally
from switchboard.settings import ServerSettings

__all__ = ["GracefulServer", "GuardedConfig", "Guard", "GuardedH11", "GuardedWebSocket", "server_config",
           "fd_budget", "FD_RESERVE", "ACCEPT_BACKLOG"]

log = logging.getLogger("switchboard.limits")

FD_RESERVE = 256  # descriptors kept for everything but client connections: Redis, the store, files, the bot worker
# asyncio accepts up to `backlog` connections in one go before any of them reaches a protocol that could refuse
# it, and keeps going after a failed accept, logging each failure with a traceback (thousands a second in
# issue 17). So the listen backlog is small and the budget leaves room for a few such bursts in flight.
ACCEPT_BACKLOG = 256
_BURSTS_IN_FLIGHT = 3
_ABORT_AFTER_S = 2.0  # a closed socket whose peer takes no close frame is cut off after this

_REFUSED_BODY = (b'{"error":{"code":"%s","message":"too many connections; retry later"}}'
                 % codes.UNAVAILABLE.encode())
_UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY))
_HEAD_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if isinstance(self.config, GuardedConfig):
            _tally_accept_failures(asyncio.get_running_loop(), self.config.guard.tally)
        await super().startup(sockets)


def _tally_accept_failures(loop: asyncio.AbstractEventLoop, tally: Tally) -> None:
    """Failed accepts (no descriptor left) go to the once-per-interval line instead of a traceback each."""
    default = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            tally.count("accepts failed: out of file descriptors")
        elif default is not None:
            default(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def fd_budget() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the descriptors client connections may use."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:  # a container may forbid it: the soft limit then bounds us
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, want, exc)
    return int(soft - max(FD_RESERVE + _BURSTS_IN_FLIGHT * ACCEPT_BACKLOG, soft // 10))


class Guard:
    """What the protocols of one server share: the connection ledger, the head timeout, the log tally."""

    def __init__(self, settings: ServerSettings, total: int) -> None:
        self.ledger = Ledger(total, settings.max_connections_per_address, exempt=settings.trusted_proxies)
        self.head_timeout = settings.request_head_timeout_s
        self.tally = Tally(settings.limits_log_interval_s, "connections refused or cut")


class GuardedConfig(uvicorn.Config):
    """uvicorn's configuration with the :class:`Guard` its protocols read."""

    def __init__(self, app: ASGIApp, guard: Guard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.guard = guard


def _guard_of(config: uvicorn.Config) -> Guard:
    assert isinstance(config, GuardedConfig), "the guarded protocols need a GuardedConfig (server_config)"
    return config.guard


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, counting its connection and bounding the time a request head may take."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = _guard_of(config)
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else UNKNOWN_ADDRESS
        refusal = self.guard.ledger.refusal(address)
        if refusal is not None:
            self.guard.tally.count(f"{refusal}, from {address}")
            transport.write(_UNAVAILABLE)
            transport.close()
            return
        self.guard.ledger.add(transport, address)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        self.guard.ledger.remove(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE or self.transport.get_protocol() is not self:
            self._head_done()  # the head is in (or the websocket protocol took the transport over)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this keep-alive connection: its head is bounded too

    def _await_head(self) -> None:
        self._head_done()
        self.head_timer = self.loop.call_later(self.guard.head_timeout, self._head_late)

    def _head_done(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_late(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.guard.tally.count(f"request heads not whole within {self.guard.head_timeout:g} s")
        self.transport.write(_HEAD_TIMEOUT)
        self.transport.abort()


class GuardedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, keeping its connection counted and cutting off a peer that stopped
    answering pings even when the close frame cannot leave."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = _guard_of(config)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.guard.ledger.add(transport, self.client[0] if self.client else UNKNOWN_ADDRESS)  # once, with its h11

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.ledger.remove(self.transport)
        super().connection_lost(exc)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.guard.tally.count("websockets silent past the ping timeout")
        self.loop.call_later(_ABORT_AFTER_S, self.transport.abort)


def server_config(app: ASGIApp, settings: ServerSettings, log_level: str, host: str = "127.0.0.1",
                  port: int = 8000) -> GuardedConfig:
    """uvicorn's configuration for serve and the edge processes (the rules: the module's header)."""
    budget = fd_budget()
    total = min(settings.max_connections, budget)
    if total < settings.max_connections:
        log.warning("max_connections %d is over what the open-file limit allows; at most %d", settings.max_connections,
                    total)
    return GuardedConfig(app, Guard(settings, total), host=host, port=port, log_level=log_level,
                         http=GuardedH11, ws=GuardedWebSocket, ws_per_message_deflate=False,
                         ws_max_size=settings.max_frame_bytes * 4,
                         ws_ping_interval=settings.ws_ping_interval_s, ws_ping_timeout=settings.ws_ping_timeout_s,
                         timeout_keep_alive=settings.keep_alive_timeout_s, proxy_headers=False,
                         backlog=ACCEPT_BACKLOG, timeout_graceful_shutdown=10, lifespan="on")
