"""The Ray runtime: hosts are a handful of Ray actors, each owning a partition of entities.

Never one Ray actor per entity (each actor is a process: 20 of them took 8 s
and 2.6 GB here); a few hosts carry every agent, queue and conversation.

Batching. A remote call costs far more than handling a message (about 1,100
calls/s one message each, against 80,000 messages/s in lists of 100), so
nothing crosses a process boundary alone. A host is an asyncio actor whose
``push`` only files the incoming batch; a pump task drains everything that
has arrived, handles it through :class:`HostCore`, and sends what it produced
as one list per destination host. While the pump works, new batches pile up
and are drained together next time: the busier the system, the bigger the
batches. The driver batches too (flushed every 10 ms or at 256 messages), and a host
waits 10 ms after waking before it drains, so a trickle still travels in
batches: fewer remote calls beat a shorter hop on 2 cores (measured with
load/bench_dispatch.py: p99 at 1,000 requests/s fell from 1.25 s to 0.1 s).

Order. Async actors do not promise to run calls in submission order, so every
batch carries a per-(sender, receiver) sequence number and the receiver holds
early batches back until the gap fills: messages between two entities arrive
in the order they were sent.

Quiet. Each host counts the items it sent and the items it handled; the
driver counts what it sent. The engine is quiet when two consecutive polls of
every host see the same counts and everything sent has been handled.

Deliveries wait in each host until the driver collects them: it keeps one
long poll outstanding per host (answered as soon as deliveries wait, or after
50 ms), and hands them to ``on_delivery`` in each host's drain order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections import deque
from typing import Any

import ray

from .address import Address, host_for
from .engine import Clock, DeliveryCallback, ManualClock, advance_hosts
from .hostcore import Delivery, Envelope, Fire, HostCore
from ..settings import DispatchSettings

__all__ = ["RayEngine", "RayHost", "attach_ray_engine", "init_ray", "NAMESPACE", "host_name"]

NAMESPACE = "switchboard"


def init_ray(address: str | None = None, **options: Any) -> None:
    """Join the cluster at `address`, or start a local one whose workers run at normal priority.

    Ray starts its workers at nice 15 (its ``worker_niceness``), behind every other process on the
    machine; our workers are the dispatch engine's hosts, not background work. Measured with
    ``load/bench_dispatch.py --quick --runtimes ray --ray-sizes 1000`` in three alternating pairs on
    2 cores: p99 at 1,000 requests/s 0.31-0.67 s at nice 0 against 1.05-1.61 s at nice 15. A cluster
    joined by address keeps its own setting; ``RAY_worker_niceness`` set by the operator wins.
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

_FLUSH_S = 0.01
_FLUSH_SIZE = 256
_COALESCE_S = 0.01


@ray.remote(num_cpus=0, max_restarts=0)
class RayHost:
    """One partition of the entities, behind a batching, reordering mailbox."""

    def __init__(self, index: int, hosts: int, settings: DispatchSettings, wall_clock: bool) -> None:
        logging.basicConfig(level=logging.INFO)
        self.core = HostCore(index, hosts, settings)
        self.index, self.hosts = index, hosts
        self.peers: list[Any] = []
        self._inbox: deque[Any] = deque()
        self._expected: dict[Any, int] = {}
        self._early: dict[Any, dict[int, list[Any]]] = {}
        self._out_seq: dict[int, int] = {}
        self._deliveries: list[Delivery] = []
        self._sent = 0
        self._handled = 0
        self._wall_clock = wall_clock
        self._wake: asyncio.Event | None = None
        self._news: asyncio.Event | None = None  # set when deliveries wait, for a long poll
        self._drains = 0

    async def start(self, peers: list[Any]) -> bool:
        self.peers = peers
        self._wake = asyncio.Event()
        self._news = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.create_task(self._pump())
        if self._wall_clock:
            loop.create_task(self._ticker())
        return True

    async def push(self, sender: Any, seq: int, items: list[Any]) -> None:
        """File a numbered batch from `sender`; hold it back if an earlier one has not arrived yet."""
        expected = self._expected.get(sender, 0)
        if seq != expected:
            self._early.setdefault(sender, {})[seq] = items
            return
        self._inbox.extend(items)
        expected += 1
        early = self._early.get(sender)
        while early and expected in early:
            self._inbox.extend(early.pop(expected))
            expected += 1
        self._expected[sender] = expected
        assert self._wake is not None
        self._wake.set()

    async def poll(self, wait_s: float = 0.0) -> tuple[int, list[Delivery], int, int]:
        """Hand over waiting deliveries, numbered, with this host's (sent, handled) counts.

        With `wait_s`, wait up to that long for deliveries first (a long poll: the
        driver keeps one outstanding per host instead of asking every few ms).
        """
        if wait_s and not self._deliveries and self._news is not None:
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        deliveries, self._deliveries = self._deliveries, []
        self._drains += 1
        return self._drains, deliveries, self._sent, self._handled

    async def ask(self, what: str, *args: Any) -> Any:
        return getattr(self.core, what)(*args)

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            await asyncio.sleep(_COALESCE_S)  # let a trickle gather into one batch per destination
            self._wake.clear()
            while self._inbox:
                items = list(self._inbox)
                self._inbox.clear()
                try:
                    self._run(items)
                except Exception:  # a bug outside any entity: log it, keep the mailbox running
                    log.exception("ray host %d failed on a batch", self.index)
                self._handled += len(items)
                await asyncio.sleep(0)  # let more batches arrive, so the next drain is bigger

    def _run(self, items: list[Any]) -> None:
        out = self.core.run_mailbox(items)
        if out.deliveries:
            self._deliveries.extend(out.deliveries)
            assert self._news is not None
            self._news.set()
        batches: dict[int, list[Envelope]] = {}
        for env in out.outbound:
            batches.setdefault(host_for(env.to, self.hosts), []).append(env)
        for dest, batch in batches.items():
            seq = self._out_seq.get(dest, 0)
            self._out_seq[dest] = seq + 1
            self._sent += len(batch)
            self.peers[dest].push.remote(self.index, seq, batch)

    async def _ticker(self) -> None:
        assert self._wake is not None
        while True:
            await asyncio.sleep(0.05)
            due = self.core.next_timer()
            if due is not None and due <= time.time():
                self._inbox.append(Fire(time.time()))
                self._sent += 1  # the host sends itself the tick, so the counts still balance
                self._wake.set()


class RayEngine:
    """Ray actor hosts; see :mod:`switchboard.actors.engine` for the API."""

    runtime = "ray"

    def __init__(self, hosts: int, settings: DispatchSettings, clock: Clock, sink: DeliveryCallback,
                 address: str | None = None, *, named: bool = False, attach: bool = False) -> None:
        """`named`: register the hosts under host_name(i) so edges can attach; `attach`: use such hosts,
        started by another process, only to send and inspect (that process drains the deliveries)."""
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
        else:
            options = [{"name": host_name(i), "namespace": NAMESPACE} if named else {} for i in range(hosts)]
            self._actors = [RayHost.options(**options[i]).remote(i, hosts, settings, not clock.manual)  # type: ignore[attr-defined]
                            for i in range(hosts)]
            ray.get([a.start.remote(self._actors) for a in self._actors])
        self._attached = attach
        self._lock = threading.Lock()
        self._outbox: dict[int, list[Any]] = {}
        self._out_seq: dict[int, int] = {}
        self._sent = 0
        self._poll_lock = threading.Lock()
        self._next_drain = [1] * hosts  # deliveries are handed on in each host's drain order
        self._early: list[dict[int, list[Delivery]]] = [{} for _ in range(hosts)]
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="switchboard-ray-flush", daemon=True)
        self._poller = threading.Thread(target=self._poll_loop, name="switchboard-ray-poll", daemon=True)
        self._flusher.start()
        if not attach:
            self._poller.start()

    # --- the API ----------------------------------------------------------------------------

    def send(self, to: Address, message: Any, *, ref: str | None = None) -> None:
        self._put(host_for(to, self.hosts), Envelope(to, message, self.clock.now(), ref))

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        self._flush()
        previous: list[tuple[int, int]] | None = None
        while time.monotonic() < deadline:
            counts = self._poll_once()
            sent = self._sent + sum(s for s, _ in counts)
            handled = sum(h for _, h in counts)
            if counts == previous and sent == handled:
                return True
            previous = counts
            time.sleep(0.001)
        return False

    def advance_to(self, t: float) -> None:
        advance_hosts(self, t, lambda: ray.get([a.ask.remote("next_timer") for a in self._actors]), self._fire_all)

    def _fire_all(self, at: float) -> None:
        for i in range(self.hosts):
            self._put(i, Fire(at))

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
        self._stop.set()
        self._flush()
        self._flusher.join(timeout=1)
        if self._attached:
            return
        self._poller.join(timeout=1)
        for actor in self._actors:
            ray.kill(actor)

    # --- plumbing ------------------------------------------------------------------------------

    def _put(self, host: int, item: Any) -> None:
        with self._lock:
            box = self._outbox.setdefault(host, [])
            box.append(item)
            full = len(box) >= _FLUSH_SIZE
        if full:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            for host, items in self._outbox.items():
                if items:
                    seq = self._out_seq.get(host, 0)
                    self._out_seq[host] = seq + 1
                    self._sent += len(items)
                    self._actors[host].push.remote(self._id, seq, items)
            self._outbox = {}

    def _flush_loop(self) -> None:
        while not self._stop.wait(_FLUSH_S):
            self._flush()

    def _poll_once(self) -> list[tuple[int, int]]:
        """Collect deliveries and counts from every host at once (for wait_quiet)."""
        results = ray.get([a.poll.remote() for a in self._actors])
        for host, (drain, deliveries, _, _) in enumerate(results):
            self._hand_on(host, drain, deliveries)
        return [(sent, handled) for _, _, sent, handled in results]

    def _hand_on(self, host: int, drain: int, deliveries: list[Delivery]) -> None:
        """Give deliveries to the sink in the order the host drained them, whichever poll fetched them."""
        with self._poll_lock:
            self._early[host][drain] = deliveries
            while self._next_drain[host] in self._early[host]:
                for delivery in self._early[host].pop(self._next_drain[host]):
                    try:
                        self._sink(delivery)
                    except Exception:
                        log.exception("delivery callback failed")
                self._next_drain[host] += 1

    def _poll_loop(self) -> None:
        """Keep one long poll outstanding per host; hand on what each returns."""
        pending = {a.poll.remote(0.05): i for i, a in enumerate(self._actors)}
        while not self._stop.is_set():
            try:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                for ref in ready:
                    host = pending.pop(ref)
                    drain, deliveries, _, _ = ray.get(ref)
                    self._hand_on(host, drain, deliveries)
                    pending[self._actors[host].poll.remote(0.05)] = host
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("polling the ray hosts failed")
                time.sleep(0.1)


def attach_ray_engine(hosts: int, address: str | None) -> RayEngine:
    """An engine handle for an edge process: sends to (and inspects) the named hosts another process runs."""
    from .engine import WallClock

    return RayEngine(hosts, DispatchSettings(), WallClock(), lambda d: None, address, attach=True)
