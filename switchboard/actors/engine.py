"""The engine's public API: send it messages, receive its deliveries, own its time.

    engine = start_engine("local", on_delivery=print)   # switchboard.actors.start
    engine.send(Address.queue("sales"), CreateGroup())
    engine.send(Address.agent("ann"), CreateAgent(saturation=5, groups=("sales",)))
    engine.send(Address.agent("ann"), SetPresence("online"), ref="req-1")
    ...
    engine.stop()

`send` never blocks: it hands the message to the owning host and returns.
Whatever the engine has to say comes back as :class:`Delivery` values through
`on_delivery`, called from the runtime's threads (use :class:`AsyncDeliveries`
to consume them in an asyncio loop). A refused command comes back as a
delivery whose event is :class:`~switchboard.actors.events.Refused` with the
`ref` it was sent with.

Time: with the default :class:`WallClock` the engine stamps messages with the
wall time and fires timers on its own. With a :class:`ManualClock` the caller
owns time: messages carry the clock's reading and timers fire only inside
`advance_to`, one at a time in their order (:class:`~switchboard.actors.hostcore.Due`),
each on a quiet engine; that is what the scenario runner and the tests use, on
every runtime. docs/dispatch.md ("Timers due at the same instant") has the rule.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Protocol

from switchboard.actors.address import Address
from switchboard.actors.hostcore import Due
from switchboard.actors.messages import Message
from switchboard.actors.output import EngineOutput, EngineOutputCallback
from switchboard.settings import DispatchSettings

__all__ = ["Engine", "Clock", "WallClock", "ManualClock", "AsyncDeliveries", "on_loop", "EngineOutputCallback",
           "tune_garbage_collector", "advance_hosts"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    manual: bool

    def now(self) -> float: ...


class WallClock:
    manual = False

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told; the engine's timers follow it in `advance_to`."""

    manual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def reset(self, t: float = 0.0) -> None:
        with self._lock:
            self._now = t

    def set(self, t: float) -> None:
        with self._lock:
            if t < self._now:
                raise ValueError(f"the clock never goes back: {t} < {self._now}")
            self._now = t


class Engine(Protocol):
    """What every runtime offers."""

    clock: Clock
    runtime: str
    hosts: int
    failure: str | None  # why the engine cannot go on (a Ray host died); None while it is whole

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None:
        """Hand `message` to the entity at `to`; never blocks."""

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        """Block until no message is in flight; False if `timeout` passed first. Not for the event loop."""

    def advance_to(self, t: float) -> None:
        """Manual clock only: fire every timer due up to `t`, one at a time in their order, each on a quiet engine."""

    def inspect(self, to: Address) -> dict[str, Any] | None:
        """A snapshot of one entity's state (blocking; use asyncio.to_thread from a loop)."""

    def reset(self, settings: DispatchSettings) -> None:
        """Forget every entity and timer, take new settings, and (manual clock) go back to 0: a fresh world."""

    def stop(self) -> None:
        """Stop the hosts; messages still in flight are dropped."""


def on_loop(loop: asyncio.AbstractEventLoop, handle: EngineOutputCallback) -> EngineOutputCallback:
    """An ``on_delivery`` for the engine's threads that calls `handle` on `loop`, in order.

    A burst of deliveries wakes the loop once: ``call_soon_threadsafe`` writes to the loop's
    self-pipe each time, which a busy edge felt (decision 011 has the figure).
    """
    pending: deque[EngineOutput] = deque()
    lock = threading.Lock()
    scheduled = False

    def drain() -> None:
        nonlocal scheduled
        with lock:
            batch = list(pending)
            pending.clear()
            scheduled = False
        for delivery in batch:
            try:
                handle(delivery)
            except Exception:  # one bad delivery must not lose the rest of the burst
                log.exception("handling a delivery failed")

    def push(delivery: EngineOutput) -> None:
        nonlocal scheduled
        with lock:
            pending.append(delivery)
            wake, scheduled = not scheduled, True
        if wake:
            loop.call_soon_threadsafe(drain)

    return push


class AsyncDeliveries:
    """Deliveries as an async iterator: pass `push` as the engine's `on_delivery`.

    The engine calls `push` from its own threads; it only schedules a put on the
    loop, so the loop is never blocked by the engine and vice versa.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[EngineOutput] = asyncio.Queue()
        self.push = on_loop(self._loop, self._queue.put_nowait)

    async def get(self) -> EngineOutput:
        return await self._queue.get()

    def __aiter__(self) -> AsyncDeliveries:
        return self

    async def __anext__(self) -> EngineOutput:
        return await self._queue.get()


def advance_hosts(engine: Engine, t: float, next_due: Callable[[], list[Due | None]],
                  fire_next: Callable[[int, float], None]) -> None:
    """`advance_to` for every runtime: fire the timers due up to `t` one at a time, each on a quiet engine.

    `next_due` reads every host's first live timer (one entry per host, in host order); `fire_next(host, at)`
    makes that host fire its first timer, due at `at`. The first of all hosts' timers goes next, so timers
    due at the same instant fire in their order (:class:`~switchboard.actors.hostcore.Due`) and everything
    one causes, on any host, is over before the next fires: the same order on any runtime and any number
    of hosts.
    """
    clock = engine.clock
    if not isinstance(clock, ManualClock):
        raise RuntimeError("advance_to needs a ManualClock")
    while True:
        engine.wait_quiet()
        due = min(((d, host) for host, d in enumerate(next_due()) if d is not None), default=None)
        if due is None or due[0].at > t:
            break
        clock.set(max(due[0].at, clock.now()))
        fire_next(due[1], due[0].at)
    engine.wait_quiet()
    clock.set(max(t, clock.now()))


GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> bool:
    """Collect the young generation every 50,000 allocations instead of CPython's 700.

    An engine holds tens of thousands of small, long-lived entities and allocates
    a few short-lived messages per assignment; with the default thresholds the
    collector's passes grow with the heap, and so does the cost of an assignment
    with the number of conversations (decision 002 has the figures). Applied only
    while the thresholds are still CPython's defaults, so an application's own
    choice wins. Returns whether it applied.
    """
    if gc.get_threshold() != (700, 10, 10):
        return False
    gc.set_threshold(*GC_THRESHOLDS)
    return True
