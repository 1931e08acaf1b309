"""A small test harness around any engine: a manual clock and a record of every delivery."""

from __future__ import annotations

import threading
from typing import Any, Callable

from switchboard.actors.address import Address, UserRef
from switchboard.actors.engine import Engine, ManualClock
from switchboard.actors.events import Refused
from switchboard.actors.output import EngineOutput
from switchboard.settings import DispatchSettings


class Recorder:
    """Thread-safe list of deliveries; the engine calls it from its own threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deliveries: list[EngineOutput] = []
        self.listener: Callable[[EngineOutput], None] | None = None  # e.g. a scenario Observer

    def __call__(self, delivery: EngineOutput) -> None:
        with self._lock:
            self.deliveries.append(delivery)
        if self.listener is not None:
            self.listener(delivery)

    def clear(self) -> None:
        with self._lock:
            self.deliveries.clear()


class Harness:
    """Drive an engine like the scenario runner does: send, settle, advance the clock, look."""

    def __init__(self, engine: Engine, recorder: Recorder) -> None:
        self.engine, self.recorder = engine, recorder
        self._refs = 0

    @property
    def now(self) -> float:
        return self.engine.clock.now()

    def fresh(self, settings: DispatchSettings | None = None) -> Harness:
        self.engine.reset(settings or DispatchSettings())
        self.recorder.clear()
        return self

    def send(self, to: Address, message: Any, ref: str | None = None) -> str:
        """Send and wait until the engine is quiet; returns the ref used."""
        self._refs += 1
        ref = ref or f"r{self._refs}"
        self.engine.send(to, message, ref=ref)
        assert self.engine.wait_quiet(30), "the engine did not become quiet"
        return ref

    def at(self, t: float) -> Harness:
        self.engine.advance_to(t)
        return self

    def inspect(self, to: Address) -> dict[str, Any] | None:
        return self.engine.inspect(to)

    def events_for(self, user: UserRef) -> list[Any]:
        return [d.event for d in list(self.recorder.deliveries) if d.to == user]

    def kinds_for(self, user: UserRef) -> list[str]:
        return [e.kind for e in self.events_for(user)]

    def refusals(self, ref: str | None = None) -> list[Refused]:
        return [d.event for d in list(self.recorder.deliveries)
                if isinstance(d.event, Refused) and (ref is None or d.event.ref == ref)]


def manual_clock() -> ManualClock:
    return ManualClock(0.0)
