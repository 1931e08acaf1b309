"""Connection limits: who is calling, how many connections each caller holds, and one log line per interval.

The rule: a caller is refused before the process runs short, never after. The file descriptors of one
process are finite (RLIMIT_NOFILE): an unauthenticated client that opened connections until none were
left made every later accept fail, /healthz time out and the log fill with tracebacks (issue 17). So
every TCP connection is counted when it is made (:class:`Ledger`, fed by the server's protocols in
:mod:`switchboard.processes.graceful`): past ``max_connections`` in all, or ``max_connections_per_address``
from one peer, it is answered 503 and closed at once. Websockets are counted again per *client*
address (:class:`SocketLimits`, ASGI middleware): past ``max_sockets_per_address`` the socket is
accepted, told ``too_many_sockets`` and closed with :data:`CLOSE_TOO_MANY`, which a browser can read
(a refused handshake reaches page scripts only as 1006).

The client address is the TCP peer, or, when the peer is one of ``trusted_proxies``, the address
the proxy names in ``X-Forwarded-For`` (uvicorn's ProxyHeadersMiddleware reads it: the right-most
untrusted entry, so a client cannot forge its way past the proxy). :func:`client_address` reads it
back from a scope or a connection for any per-address limit.

Refusals are summed and logged once per ``limits_log_interval_s`` (:class:`Tally`): a flood must not
turn into a flood of log lines.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from typing import Hashable, cast

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from switchboard.edges import codes
from switchboard.settings import ServerSettings

__all__ = ["CLOSE_TOO_MANY", "client_address", "Ledger", "SocketLimits", "Tally", "UNKNOWN_ADDRESS"]

log = logging.getLogger("switchboard.limits")

CLOSE_TOO_MANY = 4029  # too many websockets from one client address (as HTTP's 429): retry later, with back-off
UNKNOWN_ADDRESS = "unknown"  # a scope without a client (a unix socket, a test transport)


def client_address(conn: Scope | HTTPConnection) -> str:
    """The caller's address: the TCP peer, or what a trusted proxy says it forwards (see the module header)."""
    scope = conn.scope if isinstance(conn, HTTPConnection) else conn
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN_ADDRESS


class Tally:
    """Events counted by kind and logged as one summed line per `interval` seconds, the first one at once."""

    def __init__(self, interval: float, what: str) -> None:
        self.interval, self.what = interval, what
        self.counts: Counter[str] = Counter()
        self.last = -interval
        self.pending = False

    def count(self, kind: str) -> None:
        self.counts[kind] += 1
        if self.pending:
            return
        wait = self.last + self.interval - time.monotonic()
        self.pending = True
        if wait <= 0:
            self.flush()
        else:
            asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self.pending = False
        if not self.counts:
            return
        self.last = time.monotonic()
        top = self.counts.most_common(5)
        parts = ", ".join(f"{n} {kind}" for kind, n in top)
        if len(self.counts) > len(top):
            parts += f" and {sum(self.counts.values()) - sum(n for _, n in top)} more"
        self.counts.clear()
        log.warning("%s in the last %.0f s: %s", self.what, self.interval, parts)


class Ledger:
    """Open TCP connections of one process: how many in all and from each peer address.

    Keyed by the transport, so the HTTP protocol and the websocket protocol that takes over its
    transport count one connection once; :meth:`add` and :meth:`remove` may be called twice.
    """

    def __init__(self, total: int, per_address: int, exempt: tuple[str, ...] = ()) -> None:
        self.total, self.per_address = total, per_address
        self.exempt = tuple(ipaddress.ip_network(network, strict=False) for network in exempt)  # trusted proxies
        self.peers: dict[Hashable, str] = {}
        self.by_address: Counter[str] = Counter()

    def refusal(self, address: str) -> str | None:
        """Why one more connection from `address` is refused now, or None to admit it."""
        if len(self.peers) >= self.total:
            return f"at the total limit ({self.total})"
        if self.by_address[address] >= self.per_address and not self._exempt(address):
            return f"over the per-address limit ({self.per_address})"
        return None

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.exempt)

    def add(self, key: Hashable, address: str) -> None:
        if key not in self.peers:
            self.peers[key] = address
            self.by_address[address] += 1

    def remove(self, key: Hashable) -> None:
        address = self.peers.pop(key, None)
        if address is not None:
            self.by_address[address] -= 1
            if self.by_address[address] <= 0:
                del self.by_address[address]


class SocketLimits:
    """ASGI middleware: the client address from trusted proxies, then at most ``max_sockets_per_address``
    websockets per client address (more are closed with :data:`CLOSE_TOO_MANY`)."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.inner, self.limit = app, settings.max_sockets_per_address
        self.open: Counter[str] = Counter()
        self.tally = Tally(settings.limits_log_interval_s, "websockets refused")
        self.app: ASGIApp = self._limited
        if settings.trusted_proxies:
            proxied = ProxyHeadersMiddleware(self._limited, list(settings.trusted_proxies))  # type: ignore[arg-type]
            self.app = cast(ASGIApp, proxied)  # uvicorn's ASGI types are narrower than Starlette's, the same calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        address = client_address(scope)
        if self.open[address] >= self.limit:
            self.tally.count(f"over {self.limit} from {address}")
            await _refuse(receive, send)
            return
        self.open[address] += 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


async def _refuse(receive: Receive, send: Send) -> None:
    message: Message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    error = b'{"type":"error","code":"%s","message":"too many connections from your address; retry later"}'
    await send({"type": "websocket.send", "text": (error % codes.TOO_MANY_SOCKETS.encode()).decode()})
    await send({"type": "websocket.close", "code": CLOSE_TOO_MANY, "reason": "too many connections"})
