"""The Ray runtime: hosts are a handful of Ray actors, each owning a partition of entities.

Never one Ray actor per entity (each actor is a process, slow to start and
heavy to keep: decision 011); a few hosts carry every agent, queue and
conversation.

Transport. Ray places, names, starts and stops the hosts and answers the
control calls (inspect, timers, counts, reset); envelopes travel on the
hosts' own TCP streams (:mod:`switchboard.actors.wire`), one per (sender,
receiver) pair, opened when the engine starts. A Ray call costs far more CPU
than a frame on an open socket, and an assignment crosses hosts four times:
with calls a trickle had to wait in windows to share them, with streams
nothing waits (decision 002 has the figures).

Batching. A host is an asyncio actor: a reader task per stream files what
arrives; a pump drains everything filed, handles it through
:class:`HostCore`, and writes what it produced as one frame per destination.
While the pump works, frames pile up and are drained together next time: the
busier the system, the bigger the batches. The driver's sends gather in a
per-host outbox that a flusher thread writes as soon as it can.

Order. A stream keeps its order, so messages between two entities arrive in
the order they were sent, and the driver's deliveries in each host's order.

Quiet. Each host counts the items it filed (per sender, as named by the
stream's hello), handled, sent to peers and delivered; the driver counts what
it sent and received. The engine is quiet when two consecutive polls of every
host see the same counts, every host handled all it filed, all that the hosts
and this driver sent was filed, and every delivery reached the driver.

Timers. The wall-clock ticker fires what is due on this host alone, in the
core's order; with a manual clock the driver fires one timer at a time across
all hosts (:func:`~switchboard.actors.engine.advance_hosts`).

Deliveries go back on the owning driver's stream to each host (its hello says
``sink``); an engine attached by an edge process only sends and inspects. While
no driver listens (before it connects, or after its stream broke) a host keeps
its deliveries for it, up to :data:`BACKLOG_LIMIT`; past that the oldest go,
counted and logged, so a driver that never comes back costs bounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import secrets
import selectors
import socket
import threading
import time
import uuid
from collections import deque
from typing import Any, Coroutine, Generic, TypeVar

import ray

from switchboard.actors.address import Address, host_for
from switchboard.actors.engine import (
    Clock, EngineOutputCallback, ManualClock, WallClock, advance_hosts, tune_garbage_collector,
)
from switchboard.actors.hostcore import Due, Envelope, Fire, HostCore
from switchboard.actors.messages import Message
from switchboard.actors.output import EngineOutput
from switchboard.actors.wire import MAX_HELLO, FrameReader, frame, hello, hello_ok, read_frame
from switchboard.settings import DispatchSettings

__all__ = ["RayEngine", "RayHost", "Backlog", "attach_ray_engine", "init_ray", "NAMESPACE", "host_name",
           "BACKLOG_LIMIT"]

NAMESPACE = "switchboard"
BACKLOG_LIMIT = 200_000  # deliveries a host keeps for an absent driver (a few hundred bytes each)


def init_ray(address: str | None = None, **options: Any) -> None:
    """Join the cluster at `address`, or start a local one whose workers run at normal priority.

    Ray starts its workers at nice 15 (its ``worker_niceness``), behind every other process on the
    machine; our workers are the dispatch engine's hosts, not background work (decision 002 has the
    figures). A cluster joined by address keeps its own setting; ``RAY_worker_niceness`` set by the
    operator wins.
    """
    defaults: dict[str, Any] = {"namespace": NAMESPACE, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **{**defaults, **options})
        return
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(**{"num_cpus": 2, "include_dashboard": False, **defaults, **options})


def host_name(index: int) -> str:
    """Named hosts let other processes (edges) attach to the same engine: see attach_ray_engine."""
    return f"switchboard-host-{index}"

log = logging.getLogger("switchboard.ray")

T = TypeVar("T")


class Backlog(Generic[T]):
    """Deliveries made while no driver listens, oldest first; past `limit` the oldest are dropped and counted.

    The driver heals what it lost the way a lost publish is healed (sequence gaps are fetched again),
    so keeping the newest is right; keeping everything would let a driver that never returns grow a
    host without end.
    """

    def __init__(self, limit: int = BACKLOG_LIMIT) -> None:
        self._items: deque[T] = deque(maxlen=limit)
        self.dropped = 0  # since the last take

    def __len__(self) -> int:
        return len(self._items)

    def add(self, deliveries: list[T]) -> int:
        """Keep `deliveries`; returns how many old ones this dropped."""
        assert self._items.maxlen is not None
        over = max(0, len(self._items) + len(deliveries) - self._items.maxlen)
        self._items.extend(deliveries)
        self.dropped += over
        return over

    def take(self) -> tuple[list[T], int]:
        """Everything kept, and how many were dropped before it; empties the backlog."""
        items, dropped = list(self._items), self.dropped
        self._items.clear()
        self.dropped = 0
        return items, dropped

_HELLO_TIMEOUT_S = 10.0
_SEND_TIMEOUT_S = 30.0  # a host that takes nothing for this long is treated as gone


@ray.remote(num_cpus=0, max_restarts=0)
class RayHost:
    """One partition of the entities, behind its own streams and a batching pump."""

    def __init__(self, index: int, hosts: int, settings: DispatchSettings, wall_clock: bool) -> None:
        logging.basicConfig(level=logging.INFO)
        tune_garbage_collector()  # a host holds the entities: the same heap the local runtime tunes for
        self.core = HostCore(index, hosts, settings)
        self.index, self.hosts = index, hosts
        self._secret = ""
        self._endpoint: tuple[str, int] | None = None
        self._peers: list[asyncio.StreamWriter | None] = []
        self._sink: asyncio.StreamWriter | None = None
        self._inbox: deque[Envelope | Fire] = deque()
        self._undelivered: Backlog[EngineOutput] = Backlog()  # made while no driver listened
        self._sent = 0  # items written to peers
        self._filed: dict[str, int] = {}  # items filed, by the sender named in its stream's hello ("tick": our own)
        self._handled = 0
        self._delivered = 0
        self._wall_clock = wall_clock
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def listen(self, secret: str) -> tuple[str, int]:
        """Open this host's stream server on the node's address; returns where peers connect."""
        self._secret = secret
        self._wake = asyncio.Event()
        ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        self._server = server = await asyncio.start_server(self._serve, host=ip, port=0)
        port = server.sockets[0].getsockname()[1]
        self._endpoint = (ip, port)
        return self._endpoint

    async def start(self, endpoints: list[tuple[str, int]]) -> bool:
        """Connect to every other host, then start the pump (and the wall-clock ticker)."""
        self._peers = [None] * self.hosts
        for i, (ip, port) in enumerate(endpoints):
            if i != self.index:
                _, writer = await asyncio.open_connection(ip, port)
                writer.write(hello(self._secret, f"host-{self.index}", False))
                self._peers[i] = writer
        self._spawn(self._pump())
        if self._wall_clock:
            self._spawn(self._ticker())
        return True

    async def endpoint(self) -> tuple[str, int, str]:
        """Where an attached engine connects, with the secret it must present (Ray calls are trusted)."""
        assert self._endpoint is not None
        return (*self._endpoint, self._secret)

    async def poll(self) -> tuple[int, dict[str, int], int, int]:
        """This host's counts for wait_quiet: (sent to peers, filed by sender, handled, delivered)."""
        return self._sent, dict(self._filed), self._handled, self._delivered

    async def ask(self, what: str, *args: Any) -> Any:
        """A control call answered by the core: ``getattr(core, what)(*args)`` (inspect, next_due, reset)."""
        return getattr(self.core, what)(*args)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One sender's stream: a JSON hello with the secret, then batches, filed in arrival order."""
        try:
            try:
                raw = await asyncio.wait_for(read_frame(reader, MAX_HELLO), _HELLO_TIMEOUT_S)
            except asyncio.TimeoutError:
                raw = None
            greeting = hello_ok(raw, self._secret) if raw is not None else None
            if greeting is None:
                log.warning("ray host %d: refused a stream without the engine's secret", self.index)
                return
            await self._file_from(reader, writer, str(greeting.get("sender")), bool(greeting.get("sink")))
        finally:
            if self._sink is writer:
                self._sink = None
            writer.close()

    async def _file_from(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: str,
                         sink: bool) -> None:
        if sink:
            self._sink = writer
            if self._undelivered:
                self._deliver([])
        assert self._wake is not None
        while (raw := await read_frame(reader)) is not None:
            try:
                items = pickle.loads(raw)
            except Exception:  # a frame this host cannot read (a class it lacks): lose it, keep the stream
                log.exception("ray host %d: dropped a frame from %s that could not be unpickled", self.index, sender)
                continue
            self._inbox.extend(items)
            self._filed[sender] = self._filed.get(sender, 0) + len(items)
            self._wake.set()

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._inbox:
                items = list(self._inbox)
                self._inbox.clear()
                try:
                    self._run(items)
                except Exception:  # a bug outside any entity: log it, keep the mailbox running
                    log.exception("ray host %d failed on a batch", self.index)
                self._handled += len(items)
                await self._drain()  # backpressure, and a turn for the readers: the next drain is bigger

    def _run(self, items: list[Envelope | Fire]) -> None:
        out = self.core.run_mailbox(items)
        if out.deliveries:
            self._deliver(out.deliveries)
        batches: dict[int, list[Envelope]] = {}
        for env in out.outbound:
            batches.setdefault(host_for(env.to, self.hosts), []).append(env)
        for dest, batch in batches.items():
            writer = self._peers[dest]
            if writer is None or writer.is_closing():
                log.error("ray host %d: the stream to host %d is closed; %d messages lost", self.index, dest, len(batch))
                continue
            self._sent += len(batch)
            writer.write(frame(batch))

    def _deliver(self, deliveries: list[EngineOutput]) -> None:
        if self._sink is None or self._sink.is_closing():
            over = self._undelivered.add(deliveries)
            if over and self._undelivered.dropped == over:  # the first drop since a driver last listened
                log.warning("ray host %d: no driver has listened for %d deliveries; dropping the oldest",
                            self.index, len(self._undelivered) + over)
            return
        batch = deliveries
        if self._undelivered:
            kept, dropped = self._undelivered.take()
            batch = kept + deliveries
            if dropped:
                log.warning("ray host %d: a driver listens again; %d deliveries made while none did were dropped",
                            self.index, dropped)
        self._delivered += len(batch)
        self._sink.write(frame(batch))

    async def _drain(self) -> None:
        for writer in (*self._peers, self._sink):
            if writer is not None and not writer.is_closing():
                try:
                    await writer.drain()
                except ConnectionError:
                    log.warning("ray host %d: a stream closed", self.index)
        await asyncio.sleep(0)

    async def _ticker(self) -> None:
        assert self._wake is not None
        while True:
            await asyncio.sleep(0.05)
            due = self.core.next_due()
            if due is not None and due.at <= time.time():
                self._inbox.append(Fire(time.time()))
                self._filed["tick"] = self._filed.get("tick", 0) + 1
                self._wake.set()


class RayEngine:
    """Ray actor hosts; see :mod:`switchboard.actors.engine` for the API."""

    runtime = "ray"
    failure: str | None = None

    def __init__(self, hosts: int, settings: DispatchSettings, clock: Clock, sink: EngineOutputCallback,
                 address: str | None = None, *, named: bool = False, attach: bool = False) -> None:
        """`named`: register the hosts under host_name(i) so edges can attach; `attach`: use such hosts,
        started by another process, only to send and inspect (that process receives the deliveries)."""
        if hosts < 1:
            raise ValueError("hosts must be at least 1")
        if not ray.is_initialized():
            init_ray(address)
        self.hosts, self.clock, self.settings = hosts, clock, settings
        self._sink = sink
        self._id = f"driver-{uuid.uuid4().hex[:8]}"
        self._actors: list[Any]
        if attach:
            self._actors = [ray.get_actor(host_name(i), namespace=NAMESPACE) for i in range(hosts)]
            found = ray.get([a.endpoint.remote() for a in self._actors])
            endpoints, secret = [(ip, port) for ip, port, _ in found], found[0][2]
        else:
            secret = secrets.token_urlsafe(32)
            options = [{"name": host_name(i), "namespace": NAMESPACE} if named else {} for i in range(hosts)]
            self._actors = [RayHost.options(**options[i]).remote(i, hosts, settings, not clock.manual)  # type: ignore[attr-defined]
                            for i in range(hosts)]
            endpoints = ray.get([a.listen.remote(secret) for a in self._actors])
            ray.get([a.start.remote(endpoints) for a in self._actors])
        self._attached = attach
        self._socks = [self._connect(ip, port, secret, sink=not attach) for ip, port in endpoints]
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._outbox: dict[int, list[Envelope | Fire]] = {}
        self._sent = 0
        self._received = [0] * hosts
        self._stop = threading.Event()
        self._wake_flusher = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="switchboard-ray-flush", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, args=(list(self._socks),),
                                          name="switchboard-ray-receive", daemon=True)
        self._flusher.start()
        self._receiver.start()

    def _connect(self, ip: str, port: int, secret: str, sink: bool) -> socket.socket:
        sock = socket.create_connection((ip, port), timeout=_SEND_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A host on a node that vanishes without a FIN (power, network) is noticed within about a minute:
        # the kernel's probes fail, the stream ends, and `failure` is set (a restart recovers).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, option):  # Linux names; elsewhere the system's defaults apply
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        sock.sendall(hello(secret, self._id, sink))
        return sock

    # --- the API ----------------------------------------------------------------------------

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None:
        self._put(host_for(to, self.hosts), Envelope(to, message, self.clock.now(), ref))

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        """Quiet: twice the same counts, every host has handled all it filed, everything this driver
        and the hosts sent has been filed, and (for the owner) every delivery has arrived here.
        Items still on their way from another process's attached engine are not seen."""
        deadline = time.monotonic() + timeout
        self._flush()
        previous: list[tuple[int, dict[str, int], int, int]] | None = None
        while time.monotonic() < deadline:
            counts: list[tuple[int, dict[str, int], int, int]] = ray.get([a.poll.remote() for a in self._actors])
            filed = [c[1] for c in counts]
            settled = all(sum(f.values()) == c[2] for f, c in zip(filed, counts))
            peers_filed = sum(n for f in filed for who, n in f.items() if who.startswith("host-"))
            carried = sum(c[0] for c in counts) == peers_filed and sum(f.get(self._id, 0) for f in filed) == self._sent
            delivered = self._attached or all(c[3] == got for c, got in zip(counts, self._received))
            if counts == previous and settled and carried and delivered:
                return True
            previous = counts
            time.sleep(0.001)
        return False

    def advance_to(self, t: float) -> None:
        advance_hosts(self, t, self._next_due, lambda host, at: self._put(host, Fire(at, single=True)))

    def _next_due(self) -> list[Due | None]:
        dues: list[Due | None] = ray.get([a.ask.remote("next_due") for a in self._actors])
        return dues

    def inspect(self, to: Address) -> dict[str, Any] | None:
        actor = self._actors[host_for(to, self.hosts)]
        result: dict[str, Any] | None = ray.get(actor.ask.remote("inspect", to, self.clock.now()))
        return result

    def reset(self, settings: DispatchSettings) -> None:
        self.wait_quiet()
        self.settings = settings
        ray.get([a.ask.remote("reset", settings) for a in self._actors])
        if isinstance(self.clock, ManualClock):
            self.clock.reset(0.0)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._flush()
        self._stop.set()
        self._wake_flusher.set()
        self._flusher.join(timeout=1)
        for sock in self._socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._receiver.join(timeout=1)
        if not self._attached:
            for actor in self._actors:
                ray.kill(actor)

    # --- plumbing ------------------------------------------------------------------------------

    def _put(self, host: int, item: Envelope | Fire) -> None:
        """File for the flusher thread: sending never waits on a socket (a burst becomes one frame)."""
        with self._lock:
            self._outbox.setdefault(host, []).append(item)
        self._wake_flusher.set()

    def _flush(self) -> None:
        """Write every waiting batch to its host's stream (one writer at a time keeps each stream's order).

        A host that cannot be written to (gone, or taking nothing for _SEND_TIMEOUT_S) loses its batch,
        loudly; the other hosts still get theirs, and only what was written counts as sent."""
        with self._send_lock:
            with self._lock:
                boxes, self._outbox = self._outbox, {}
            for host, items in boxes.items():
                try:
                    self._socks[host].sendall(frame(items))
                except OSError as exc:
                    log.error("ray host %d is unreachable (%s): %d messages lost", host, exc, len(items))
                    if not self._stop.is_set():  # gone without closing its stream, or taking nothing for long
                        self.failure = f"ray host {host} is unreachable ({exc})"
                    continue
                self._sent += len(items)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake_flusher.wait()
            self._wake_flusher.clear()
            self._flush()

    def _receive_loop(self, socks: list[socket.socket]) -> None:
        """Hand each host's deliveries to the sink in the order the host wrote them, reading the streams
        opened at start (given, not read from ``_socks``, which the thread may otherwise see half-replaced)."""
        selector = selectors.DefaultSelector()
        for host, sock in enumerate(socks):
            selector.register(sock, selectors.EVENT_READ, (host, FrameReader(sock)))
        open_streams = len(socks)
        while open_streams and not self._stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                host, reader = key.data
                batches = reader.feed()
                if batches is None:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    if not self._stop.is_set():
                        # Its entities and whatever it held are gone: the owner must stop (a restart recovers).
                        self.failure = f"ray host {host} closed its stream (its process ended)"
                        log.error("ray host %d closed its stream", host)
                    continue
                for batch in batches:
                    for delivery in batch:
                        try:
                            self._sink(delivery)
                        except Exception:
                            log.exception("delivery callback failed")
                    self._received[host] += len(batch)
        selector.close()


def attach_ray_engine(hosts: int, address: str | None) -> RayEngine:
    """An engine handle for an edge process: sends to (and inspects) the named hosts another process runs."""
    return RayEngine(hosts, DispatchSettings(), WallClock(), lambda d: None, address, attach=True)
