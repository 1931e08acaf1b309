"""An engine with no threads: every send is handled to the end before it returns.

One :class:`HostCore` owns every entity, so a message and everything it causes
run in one loop on the caller's thread. Tests use it to wire entities together
in memory (as h11's tests pair two connections), and the benchmark uses it as
the baseline: the entity classes with nothing around them. It offers the same
API as the real runtimes, so the same scenarios and tests run on all three.
"""

from __future__ import annotations

from typing import Any

from switchboard.actors.address import Address
from switchboard.actors.engine import Clock, EngineOutputCallback, ManualClock, WallClock, advance_hosts
from switchboard.actors.hostcore import Envelope, HostCore, Output
from switchboard.actors.messages import Message
from switchboard.settings import DispatchSettings

__all__ = ["InlineEngine"]


class InlineEngine:
    runtime = "inline"
    failure: str | None = None  # hosts in this process cannot die alone
    hosts = 1

    def __init__(self, settings: DispatchSettings | None = None, clock: Clock | None = None,
                 on_delivery: EngineOutputCallback | None = None) -> None:
        self.settings = settings or DispatchSettings()
        self.clock = clock or WallClock()
        self._sink = on_delivery or (lambda delivery: None)
        self.core = HostCore(0, 1, self.settings)

    def send(self, to: Address, message: Message, *, ref: str | None = None) -> None:
        self._deliver(self.core.run([Envelope(to, message, self.clock.now(), ref)]))

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        return True

    def advance_to(self, t: float) -> None:
        advance_hosts(self, t, lambda: [self.core.next_due()],
                      lambda host, at: self._deliver(self.core.fire_due(at, single=True)))

    def _deliver(self, out: Output) -> None:
        for delivery in out.deliveries:
            self._sink(delivery)

    def inspect(self, to: Address) -> dict[str, Any] | None:
        return self.core.inspect(to, self.clock.now())

    def reset(self, settings: DispatchSettings) -> None:
        self.settings = settings
        self.core.reset(settings)
        if isinstance(self.clock, ManualClock):
            self.clock.reset(0.0)

    def stop(self) -> None:
        pass
