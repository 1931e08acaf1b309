"""The local runtime: hosts are Pykka actors inside this process.

Each host is a Pykka ``ThreadingActor`` wrapping a :class:`HostCore`. Senders
append to the host's inbox and wake it with one ``tell`` per burst, so a busy
host drains everything waiting in one go and sends one list per destination
host (the same adaptive batching as the Ray hosts). Senders only ever ``tell``
(Pykka futures would block an asyncio loop); queries for the scenario runner
and tests use ``ask`` from ordinary threads. An in-flight
counter, raised before every tell and lowered after the host has handled the
message and passed on everything it caused, tells when the engine is quiet.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import pykka

from switchboard.actors.address import Address, host_for
from switchboard.actors.engine import Clock, EngineOutputCallback, ManualClock, advance_hosts
from switchboard.actors.hostcore import Due, Envelope, Fire, HostCore, Output
from switchboard.actors.messages import Message
from switchboard.settings import DispatchSettings

__all__ = ["LocalEngine"]

log = logging.getLogger("switchboard.local")


@dataclass(frozen=True, slots=True)
class _Ask:
    """A query answered by the host's core: ``getattr(core, what)(*args)``."""

    what: str
    args: tuple[object, ...] = ()


class _InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    def add(self, n: int = 1) -> None:
        with self._cond:
            self._count += n

    def done(self, n: int = 1) -> None:
        with self._cond:
            self._count -= n
            if self._count == 0:
                self._cond.notify_all()

    def wait_zero(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


_WAKE = object()


class _Box:
    """A host's inbox beside Pykka's: senders append, and only the first of a burst tells the actor to wake."""

    def __init__(self) -> None:
        self.inbox: deque[Envelope | Fire] = deque()
        self.lock = threading.Lock()
        self.scheduled = False


class _Host(pykka.ThreadingActor):
    def __init__(self, engine: LocalEngine, core: HostCore, box: _Box) -> None:
        super().__init__()
        self._engine = engine
        self.core = core
        self.box = box

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Ask):
            return getattr(self.core, message.what)(*message.args)
        box = self.box
        with box.lock:
            items = list(box.inbox)
            box.inbox.clear()
            box.scheduled = False
        if not items:
            return None
        try:
            out = self.core.run_mailbox(items)
            self._engine._carry(out)
        except Exception:  # a bug outside any entity: log it, keep the mailbox running
            log.exception("host %d failed on a batch", self.core.index)
        finally:
            self._engine._inflight.done(len(items))
        return None


class LocalEngine:
    """Pykka hosts in one process; see :mod:`switchboard.actors.engine` for the API."""

    runtime = "local"
    failure: str | None = None  # hosts in this process cannot die alone

    def __init__(self, hosts: int, settings: DispatchSettings, clock: Clock, sink: EngineOutputCallback) -> None:
        if hosts < 1:
            raise ValueError("hosts must be at least 1")
        self.hosts, self.clock, self.settings = hosts, clock, settings
        self._sink = sink
        self._inflight = _InFlight()
        self._boxes = [_Box() for _ in range(hosts)]
        self._refs = [_Host.start(self, HostCore(i, hosts, settings), self._boxes[i]) for i in range(hosts)]
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if not clock.manual:
            self._ticker = threading.Thread(target=self._tick, name="switchboard-timers", daemon=True)
            self._ticker.start()

    # --- the API --------------------------------------------------------------------------

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None:
        self._tell(host_for(to, self.hosts), Envelope(to, message, self.clock.now(), ref))

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        return self._inflight.wait_zero(timeout)

    def advance_to(self, t: float) -> None:
        advance_hosts(self, t, self._next_due, lambda host, at: self._tell(host, Fire(at, single=True)))

    def _next_due(self) -> list[Due | None]:
        return [cast("Due | None", ref.ask(_Ask("next_due"))) for ref in self._refs]

    def inspect(self, to: Address) -> dict[str, Any] | None:
        ref = self._refs[host_for(to, self.hosts)]
        result = ref.ask(_Ask("inspect", (to, self.clock.now())))
        return cast("dict[str, Any] | None", result)

    def reset(self, settings: DispatchSettings) -> None:
        self.wait_quiet()
        self.settings = settings
        for ref in self._refs:
            ref.ask(_Ask("reset", (settings,)))
        if isinstance(self.clock, ManualClock):
            self.clock.reset(0.0)

    def stop(self) -> None:
        self._stop.set()
        for ref in self._refs:
            ref.stop()

    # --- plumbing --------------------------------------------------------------------------

    def _tell(self, host: int, message: Envelope | Fire | list[Envelope]) -> None:
        items: list[Envelope] | list[Envelope | Fire] = message if isinstance(message, list) else [message]
        box = self._boxes[host]
        self._inflight.add(len(items))
        with box.lock:
            box.inbox.extend(items)
            wake = not box.scheduled
            box.scheduled = True
        if wake:
            try:
                self._refs[host].tell(_WAKE)
            except pykka.ActorDeadError:
                self._inflight.done(len(items))

    def _carry(self, out: Output) -> None:
        if out.outbound:
            batches: dict[int, list[Envelope]] = {}
            for env in out.outbound:
                batches.setdefault(host_for(env.to, self.hosts), []).append(env)
            for host, batch in batches.items():
                self._tell(host, batch)
        for delivery in out.deliveries:
            try:
                self._sink(delivery)
            except Exception:
                log.exception("delivery callback failed")

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            now = self.clock.now()
            for i in range(self.hosts):
                self._tell(i, Fire(now))
