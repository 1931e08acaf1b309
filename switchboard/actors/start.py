"""Starting an engine: the one place that chooses between the runtimes.

    engine = start_engine("local", on_delivery=print)

The factory stands one floor above what it chooses between: it imports the
runtimes, and they import only the interface (:mod:`switchboard.actors.engine`)
and the shared core, so no runtime module imports another or this one.
"""

from __future__ import annotations

from switchboard.actors.engine import Clock, Engine, EngineOutputCallback, WallClock, tune_garbage_collector
from switchboard.actors.inline import InlineEngine
from switchboard.actors.local_runtime import LocalEngine
from switchboard.settings import DispatchSettings

__all__ = ["start_engine"]


def start_engine(
    runtime: str = "local",
    *,
    hosts: int | None = None,
    settings: DispatchSettings | None = None,
    clock: Clock | None = None,
    on_delivery: EngineOutputCallback | None = None,
    ray_address: str | None = None,
    named: bool = False,
    tune_gc: bool = True,
) -> Engine:
    """Start an engine on `runtime`.

    "local" (the default): Pykka hosts in this process; "ray": Ray actor hosts in a Ray
    cluster (`ray_address`, or a local one); "inline": no hosts, every send handled to the
    end on the caller's thread (tests and the benchmark baseline).
    `tune_gc` applies :func:`~switchboard.actors.engine.tune_garbage_collector` (see there).
    """
    if tune_gc:
        tune_garbage_collector()
    settings = settings or DispatchSettings()
    clock = clock or WallClock()
    sink = on_delivery or (lambda delivery: None)
    if runtime == "local":
        return LocalEngine(hosts or 2, settings, clock, sink)
    if runtime == "inline":
        return InlineEngine(settings, clock, sink)
    if runtime == "ray":
        from switchboard.actors.ray_runtime import RayEngine  # Ray is an optional extra, slow to import

        return RayEngine(hosts or 4, settings, clock, sink, address=ray_address, named=named)
    raise ValueError(f"unknown runtime {runtime!r}: choose local or ray")
