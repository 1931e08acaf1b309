#!/usr/bin/env python
"""Dispatch benchmark: assignments per second, enqueue-to-assigned latency and memory, per runtime.

    .venv/bin/python load/bench_dispatch.py --quick                 # < 2 minutes, every runtime
    .venv/bin/python load/bench_dispatch.py                         # the full run
    .venv/bin/python load/bench_dispatch.py --runtimes inline,local --sizes 100,1000

The world: ``--groups`` skill groups (balanced policy, default settings), N agents
(saturation 10, all online, agent j in group j mod G) and 10 x N visitors, visitor i
asking for the group of agent i mod N, so every group's visitors fill exactly its
agents' capacity. A fixed handful of large groups is deliberate: the per-decision cost
must not grow with the group (no scans over all agents), which is what
``cost_ratio_10k_vs_100`` checks.

Per runtime and size, on a fresh world each time (``engine.reset`` and rebuild):

* throughput: OpenConversation + RequestHuman for every visitor, in chunks of
  ``--chunk`` with at most two chunks unassigned; the wall time from the first send to
  the last ``Assigned`` delivery. Best of a few repetitions on small sizes (the machine
  is shared and noisy); the count is in the table.
* bursts: the flood's shape changes with size (one burst at 100 agents, a long pipeline
  with 10,000 visitors in flight at 10,000), so ``cost_ratio_10k_vs_100`` compares the
  same thing at both sizes: CPU per assignment for bursts of 1,000 new visitors into
  the world the flood filled (each rep first closes 1,000 of its conversations), best
  of 5. The floods' own ratio is kept as ``cost_ratio_flood_10k_vs_100``.
* latency: open loop at ``--rate`` requests/s (paced by the wall clock, never waiting for
  answers); each sample is the time from handing RequestHuman to the engine to its
  ``Assigned`` delivery in ``on_delivery``. Once half the capacity is in use, the oldest
  assigned conversation is closed by its visitor for each new arrival, so the world is in
  a steady state (arrivals = departures, each departure a Release and a Pull round) and an
  engine that keeps up never makes a visitor wait for a free agent. The full run also
  measures p99 at lighter loads (``--extra-rates``, default 100 and 300 requests/s):
  a support centre's real arrival rate is far below the stress rate, and a runtime that
  batches must not make a quiet engine slow.

The baseline is the same workload through the bare entity classes in one loop on the
caller's thread (the ``inline`` runtime: one HostCore, no hosts), measured in the same
run. Memory is measured in a fresh subprocess (earlier worlds do not pollute it): 1,000
agents and 10,000 open, assigned conversations on the local runtime, psutil RSS.

Output: a table, then (last line) one JSON object with the headline figures. Headline
figures per runtime are the worst over the sizes measured (lowest assignments/s, highest
p99); ``results`` has every row. Exit status: 0 when the run completed (targets met or
not, see ``targets_met``), 1 when assignments never completed or a command was refused.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from switchboard.actors.address import Address  # noqa: E402
from switchboard.actors.start import start_engine  # noqa: E402
from switchboard.actors.events import Assigned, Refused  # noqa: E402
from switchboard.actors.output import Delivery  # noqa: E402
from switchboard.actors.messages import (  # noqa: E402
    Close, CreateAgent, CreateGroup, OpenConversation, RequestHuman, SetPresence,
)
from switchboard.settings import DispatchSettings  # noqa: E402

try:
    import psutil as _psutil
except ImportError:  # a dev dependency; without it CPU time is this process's only
    _psutil = None

SATURATION = 10
VISITORS_PER_AGENT = 10
BURST = 1_000  # the 100-agent world's whole flood, so its bursts and its flood are the same shape
BURST_REPS = 5
MEMORY_AGENTS = 1_000
MEMORY_CONVERSATIONS = 10_000

TARGETS = {
    "local_assign_per_s": 10_000,
    "local_p99_ms": 5.0,
    "local_vs_baseline_x": 3.0,
    "ray_assign_per_s": 2_000,
    "ray_p99_ms": 50.0,
    "cost_ratio_10k_vs_100": 1.5,
    "rss_mb_10k_conversations": 300.0,
}


class BenchError(RuntimeError):
    """The engine did not do what the workload needs (a timeout, a refusal)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- deliveries ------------------------------------------------------------------------------


class Collector:
    """The engine's `on_delivery`: records when each conversation's Assigned arrives.

    Called from the runtime's threads; a dict store is atomic under the GIL, so no lock
    is needed on the hot path.
    """

    def __init__(self) -> None:
        self.assigned: dict[str, float] = {}
        self.duplicates = 0
        self.refused: list[Refused] = []
        self.target = 0
        self.done = threading.Event()

    def arm(self, target: int) -> None:
        self.assigned = {}
        self.duplicates = 0
        self.refused = []
        self.target = target
        self.done.clear()
        if target == 0:
            self.done.set()

    def __call__(self, delivery: Delivery) -> None:
        event = delivery.event
        kind = type(event)
        if kind is Assigned:
            at = time.perf_counter()
            assigned = self.assigned
            if event.conversation in assigned:
                self.duplicates += 1
                return
            assigned[event.conversation] = at
            if len(assigned) >= self.target:
                self.done.set()
        elif kind is Refused:
            self.refused.append(event)


# --- the world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    agents: int
    groups: int

    @property
    def visitors(self) -> int:
        return self.agents * VISITORS_PER_AGENT

    @property
    def capacity(self) -> int:
        return self.agents * SATURATION

    def group_of_agent(self, j: int) -> str:
        return f"g{j % self.groups}"

    def group_of_visitor(self, i: int) -> str:
        return self.group_of_agent(i % self.agents)


def groups_for(agents: int, spec: str) -> int:
    if spec == "sqrt":
        return max(1, round(math.sqrt(agents)))
    if spec.startswith("per:"):  # per:100 -> one group per 100 agents
        return max(1, agents // int(spec[4:]))
    return max(1, min(agents, int(spec)))


def build_world(engine: Any, coll: Collector, world: World, timeout: float) -> float:
    """Create the groups and the online agents; return the seconds it took."""
    t0 = time.perf_counter()
    coll.arm(0)
    for g in range(world.groups):
        engine.send(Address.queue(f"g{g}"), CreateGroup())
    # the groups exist before any agent tells them about itself (no cross-host race)
    if not engine.wait_quiet(timeout):
        raise BenchError(f"creating {world.groups} groups did not finish within {timeout:.0f} s")
    for j in range(world.agents):
        engine.send(Address.agent(f"a{j}"), CreateAgent(saturation=SATURATION, groups=(world.group_of_agent(j),)))
    online = SetPresence("online")
    for j in range(world.agents):
        engine.send(Address.agent(f"a{j}"), online)
    if not engine.wait_quiet(timeout):
        raise BenchError(f"creating {world.agents} agents did not finish within {timeout:.0f} s")
    check_refusals(coll, "building the world")
    return time.perf_counter() - t0


def check_refusals(coll: Collector, what: str) -> None:
    if coll.refused:
        sample = "; ".join(f"{r.entity}: {r.code} ({r.detail})" for r in coll.refused[:5])
        raise BenchError(f"{len(coll.refused)} command(s) refused while {what}: {sample}")


def requests_for(world: World, visitors: range) -> list[RequestHuman]:
    """Each visitor's RequestHuman for its group, one shared message per group (made once, not per send)."""
    by_group: dict[str, RequestHuman] = {}
    return [by_group.setdefault(g, RequestHuman(g)) for g in (world.group_of_visitor(i) for i in visitors)]


def workload(world: World, tag: str) -> tuple[list[Address], list[OpenConversation], list[RequestHuman]]:
    """Precomputed addresses and messages, so the timed loops measure the engine, not this script."""
    addrs = [Address.conversation(f"{tag}{i}") for i in range(world.visitors)]
    opens = [OpenConversation(f"v{i}") for i in range(world.visitors)]
    reqs = requests_for(world, range(world.visitors))
    return addrs, opens, reqs


def report_missing(engine: Any, coll: Collector, addrs: list[Address], what: str) -> str:
    """Which conversations never got Assigned, and what their queue and its agents say."""
    missing = [a for a in addrs if a.id not in coll.assigned]
    lines = [f"{what}: {len(missing)} of {len(addrs)} conversations never got an Assigned delivery"]
    group = None
    try:
        engine.wait_quiet(5)
        for addr in missing[:3]:
            snap = engine.inspect(addr) or {}
            group = group or snap.get("group")
            lines.append(f"  {addr}: phase {snap.get('phase')!r}, group {snap.get('group')!r}, agent {snap.get('agent')!r}")
        if group is not None:
            queue = engine.inspect(Address.queue(group)) or {}
            waiting = queue.get("waiting", [])
            members = queue.get("members", {})
            reserved = sum(1 for w in waiting if w.get("reserved_by"))
            seen_free = sum(max(0, m["saturation"] - m["active"] - m["reserved"]) for m in members.values()
                            if m["presence"] == "online")
            actual_free = 0
            for agent in members:
                snap = engine.inspect(Address.agent(agent)) or {}
                if snap.get("presence") == "online":
                    actual_free += max(0, snap.get("saturation", 0) - snap.get("load", 0))
            lines.append(f"  queue {group}: {len(waiting)} waiting ({reserved} reserved), {len(members)} members; "
                         f"free slots as the queue sees them {seen_free}, as the agents say {actual_free}")
    except Exception as exc:  # diagnostics only
        lines.append(f"  (inspecting failed: {exc!r})")
    if coll.refused:
        lines.append(f"  refusals: {[(r.entity, r.code) for r in coll.refused[:5]]}")
    return "\n".join(lines)


# --- the two measurements ----------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its children (Ray's workers, raylet, GCS)."""
    total = time.process_time()  # fine-grained; children are only counted with psutil (tick-grained)
    if _psutil is None:
        return total
    for child in _psutil.Process().children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except _psutil.Error:
            pass
    return total


def measure_throughput(engine: Any, coll: Collector, world: World, tag: str, chunk: int,
                       timeout: float) -> tuple[float, float]:
    """(assignments per second, CPU microseconds per assignment) for every visitor of `world` (already built)."""
    addrs, opens, reqs = workload(world, tag)
    n = world.visitors
    coll.arm(n)
    send = engine.send
    window = 2 * chunk
    deadline = time.monotonic() + timeout
    gc.collect()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    sent = 0
    while sent < n:
        while sent - len(coll.assigned) > window - chunk:
            if time.monotonic() > deadline:
                raise BenchError(report_missing(engine, coll, addrs[:sent], f"throughput, {world.agents} agents"))
            time.sleep(0.0005)
        end = min(n, sent + chunk)
        for i in range(sent, end):
            addr = addrs[i]
            send(addr, opens[i])
            send(addr, reqs[i])
        sent = end
    if not coll.done.wait(max(0.0, deadline - time.monotonic())):
        raise BenchError(report_missing(engine, coll, addrs, f"throughput, {world.agents} agents"))
    t1 = max(coll.assigned.values())
    cpu = cpu_seconds() - cpu0
    check_refusals(coll, "assigning")
    if coll.duplicates:
        raise BenchError(f"{coll.duplicates} conversations were told Assigned twice")
    return n / (t1 - t0), cpu / n * 1e6


def measure_burst_cost(engine: Any, coll: Collector, world: World, full_tag: str, timeout: float) -> float:
    """CPU microseconds per assignment for bursts of BURST new visitors into a full world; best of BURST_REPS.

    The flood measures throughput, but its shape changes with size: at 100 agents it is
    one burst of 1,000 visitors, at 10,000 a pipeline of 100,000 with 10,000 in flight,
    whose working set no longer fits the CPU's caches (measured: a 100-agent world fed in
    chunks of 500 costs as much per assignment as the 10,000-agent flood). Here every
    size gets the same burst, so the ratio between sizes is what a decision costs among
    more agents and conversations: the world the flood (`full_tag`) filled stays in
    place, each rep closes BURST of its conversations (untimed, then quiet) and times
    BURST new visitors asking for the same groups until each is Assigned.
    """
    n = min(BURST, world.visitors)
    first = world.visitors - n
    close = Close(by="visitor")
    reqs = requests_for(world, range(first, world.visitors))
    opens = [OpenConversation(f"v{i}") for i in range(first, world.visitors)]
    previous = [Address.conversation(f"{full_tag}{i}") for i in range(first, world.visitors)]
    best = math.inf
    for rep in range(BURST_REPS):
        for addr in previous:
            engine.send(addr, close)
        if not engine.wait_quiet(timeout):
            raise BenchError(f"closing {n} conversations did not finish within {timeout:.0f} s")
        addrs = [Address.conversation(f"b{rep}-{i}") for i in range(first, world.visitors)]
        coll.arm(n)
        gc.collect()
        cpu0 = cpu_seconds()
        for addr, open_, req in zip(addrs, opens, reqs):
            engine.send(addr, open_)
            engine.send(addr, req)
        if not coll.done.wait(timeout):
            raise BenchError(report_missing(engine, coll, addrs, f"bursts, {world.agents} agents"))
        best = min(best, (cpu_seconds() - cpu0) / n * 1e6)
        check_refusals(coll, "the bursts")
        if not engine.wait_quiet(timeout):
            raise BenchError(f"a burst of {n} did not settle within {timeout:.0f} s")
        previous = addrs
    return best


def measure_latency(engine: Any, coll: Collector, world: World, tag: str, samples: int, rate: float,
                    timeout: float) -> tuple[float, float, float, float]:
    """Open-loop paced requests on a built world; returns (p50 ms, p99 ms, max ms, achieved rate)."""
    in_use = max(1, world.capacity // 2)  # close the oldest conversation beyond this many
    n = samples
    addrs = [Address.conversation(f"{tag}{i}") for i in range(n)]
    opens = [OpenConversation(f"v{i}") for i in range(n)]
    reqs = requests_for(world, range(n))
    close = Close(by="visitor")
    coll.arm(n)
    send = engine.send
    sent_at = [0.0] * n
    to_close: deque[int] = deque()
    interval = 1.0 / rate
    gc.collect()
    perf = time.perf_counter
    start = perf() + 0.005
    for i in range(n):
        due = start + i * interval
        wait = due - perf()
        if wait > 0:
            time.sleep(wait)
        addr = addrs[i]
        send(addr, opens[i])
        t = perf()
        send(addr, reqs[i])
        sent_at[i] = t
        if i >= in_use:
            to_close.append(i - in_use)
            while to_close and addrs[to_close[0]].id in coll.assigned:
                send(addrs[to_close.popleft()], close)
    elapsed = perf() - start
    deadline = time.monotonic() + timeout
    while not coll.done.wait(0.001):  # keep closing, or late answers would find every agent full
        while to_close and addrs[to_close[0]].id in coll.assigned:
            send(addrs[to_close.popleft()], close)
        if time.monotonic() > deadline:
            raise BenchError(report_missing(engine, coll, addrs, f"latency, {world.agents} agents"))
    check_refusals(coll, "the latency phase")
    lat = sorted((coll.assigned[addrs[i].id] - sent_at[i]) * 1e3 for i in range(n))
    return quantile(lat, 0.50), quantile(lat, 0.99), lat[-1], n / elapsed


def quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


# --- one runtime -----------------------------------------------------------------------------------------


@dataclass
class Row:
    runtime: str
    agents: int
    visitors: int
    groups: int
    assign_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    us_per_assign: float
    cpu_us_per_assign: float
    reps: int
    latency_samples: int
    latency_rate: float
    build_s: float
    vs_baseline_x: float | None = None
    burst_cpu_us_per_assign: float | None = None  # best of BURST_REPS bursts of BURST visitors into a full world
    p99_ms_by_rate: dict[str, float] = field(default_factory=dict)  # --extra-rates: p99 at lighter loads


@dataclass
class Plan:
    groups: str
    chunk: int
    samples: int
    rate: float
    extra_rates: list[float]
    min_time: float
    max_reps: int
    timeout: float


def run_runtime(runtime: str, make_engine: Callable[[Collector], Any], plan: Plan, sizes: list[int],
                rows: list[Row], on_row: Callable[[], None] | None = None) -> None:
    """Measure `runtime` at every size, appending to `rows` as it goes (kept if a later size fails)."""
    coll = Collector()
    t0 = time.perf_counter()
    engine = make_engine(coll)
    log(f"{runtime}: engine up in {time.perf_counter() - t0:.1f} s ({getattr(engine, 'hosts', '?')} host(s))")
    settings = DispatchSettings()
    try:
        for agents in sizes:
            world = World(agents, groups_for(agents, plan.groups))
            timeout = max(plan.timeout, world.visitors / 500)
            best, cpu_best, reps, spent, build_s = 0.0, math.inf, 0, 0.0, 0.0
            while reps < plan.max_reps and (reps == 0 or spent < plan.min_time):
                engine.reset(settings)
                build_s = build_world(engine, coll, world, timeout)
                t = time.perf_counter()
                rate, cpu_us = measure_throughput(engine, coll, world, f"t{reps}-", plan.chunk, timeout)
                spent += time.perf_counter() - t
                best, cpu_best = max(best, rate), min(cpu_best, cpu_us)
                reps += 1
            burst_cpu = measure_burst_cost(engine, coll, world, f"t{reps - 1}-", timeout)
            engine.reset(settings)
            build_world(engine, coll, world, timeout)
            p50, p99, worst, achieved = measure_latency(engine, coll, world, "l-", plan.samples, plan.rate, timeout)
            by_rate = latency_at_rates(engine, coll, world, plan, timeout)
            rows.append(Row(runtime, agents, world.visitors, world.groups, best, p50, p99, worst, 1e6 / best,
                            cpu_best, reps, plan.samples, achieved, build_s, p99_ms_by_rate=by_rate,
                            burst_cpu_us_per_assign=burst_cpu))
            lighter = "".join(f"; p99 {v:.2f} ms at {r}/s" for r, v in by_rate.items())
            log(f"{runtime:>6} {agents:>6} agents: {best:>9,.0f} assign/s (best of {reps}; {cpu_best:.0f} CPU us each), "
                f"bursts of {min(BURST, world.visitors):,} {burst_cpu:.0f} CPU us each; p50 {p50:.2f} ms, p99 {p99:.2f} ms at {achieved:,.0f}/s{lighter}; world built in {build_s:.1f} s")
            if on_row is not None:
                on_row()
            engine.reset(settings)
            gc.collect()
    finally:
        engine.stop()


def latency_at_rates(engine: Any, coll: Collector, world: World, plan: Plan, timeout: float) -> dict[str, float]:
    """p99 at each of the lighter --extra-rates, on a fresh world each (5 s of requests, at least 200)."""
    out: dict[str, float] = {}
    settings = DispatchSettings()
    for rate in plan.extra_rates:
        engine.reset(settings)
        build_world(engine, coll, world, timeout)
        samples = max(200, min(plan.samples, int(rate * 5)))
        _, p99, _, _ = measure_latency(engine, coll, world, f"r{rate:g}-", samples, rate, timeout)
        out[f"{rate:g}"] = round(p99, 3)
    return out


# --- Ray (a child process) ---------------------------------------------------------------------------------
#
# Ray runs in a child process of its own: ray.init must run on a main thread (Ray's
# processes die with the thread that started them), it cannot be interrupted cleanly,
# and a Ray cluster that dies takes its driver down with it. The parent time-boxes the
# child, kills it on timeout, and reports whatever it measured.


def ray_child(args: argparse.Namespace, plan: Plan, sizes: list[int]) -> dict[str, Any]:
    import signal

    out: dict[str, Any] = {"rows": [], "error": None, "init_s": None}
    rows: list[Row] = []

    def too_slow(signum: int, frame: Any) -> None:
        raise TimeoutError(f"ray.init did not finish within {args.ray_init_timeout:.0f} s")

    try:
        import ray

        t0 = time.perf_counter()
        signal.signal(signal.SIGALRM, too_slow)
        signal.alarm(max(1, int(args.ray_init_timeout)))
        try:
            if not ray.is_initialized():
                from switchboard.actors.ray_runtime import init_ray

                init_ray(num_cpus=os.cpu_count() or 2, log_to_driver=False)
        finally:
            signal.alarm(0)
        out["init_s"] = round(time.perf_counter() - t0, 2)
        log(f"ray: local cluster up in {out['init_s']:.1f} s")

        def progress() -> None:  # rows so far, in case Ray takes this process down later
            print(json.dumps({"rows": [asdict(r) for r in rows], "error": None, "init_s": out["init_s"]}), flush=True)

        run_runtime("ray", lambda coll: start_engine("ray", hosts=args.ray_hosts, on_delivery=coll), plan, sizes,
                    rows, progress)
    except BenchError as exc:
        out["error"] = str(exc)
    except Exception as exc:
        out["error"] = f"{exc.__class__.__name__}: {exc}"
    finally:
        out["rows"] = [asdict(r) for r in rows]
        out["final"] = True
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except Exception:
            pass
    return out


def measure_ray(argv: list[str], sizes: list[int], timeout: float) -> tuple[list[Row], str | None, float | None]:
    """Run the Ray measurements in a child process; (rows, error or None, ray.init seconds)."""
    import importlib.util
    import signal

    if importlib.util.find_spec("ray") is None:
        return [], "skipped: ray is not installed (pip install -e '.[ray]')", None
    if importlib.util.find_spec("switchboard.actors.ray_runtime") is None:
        return [], "skipped: switchboard/actors/ray_runtime.py does not exist yet", None
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--ray-child", "--ray-sizes",
           ",".join(map(str, sizes))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and the Ray processes it started
        except ProcessLookupError:
            pass
        stdout, _ = proc.communicate()
        stdout += "\n"
        error: str | None = f"the Ray run did not finish within {timeout:.0f} s (killed)"
    else:
        error = None
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return [], error or f"the Ray run failed (exit {proc.returncode}) before reporting; see the log above", None
    result = json.loads(lines[-1])
    rows = [Row(**r) for r in result["rows"]]
    if error is None and not result.get("final"):
        error = f"the Ray run died (exit {proc.returncode}) after {len(rows)} size(s); see the log above"
    return rows, error or result.get("error"), result.get("init_s")


# --- memory (a fresh process) ------------------------------------------------------------------------------


def rss_mb() -> float:
    if _psutil is not None:
        return float(_psutil.Process().memory_info().rss) / 2**20
    with open("/proc/self/statm") as f:  # Linux without psutil
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(groups_spec: str) -> dict[str, Any]:
    gc.collect()
    rss_start = rss_mb()
    coll = Collector()
    engine = start_engine("local", on_delivery=coll)
    try:
        world = World(MEMORY_AGENTS, groups_for(MEMORY_AGENTS, groups_spec))
        build_world(engine, coll, world, 120)
        gc.collect()
        rss_agents = rss_mb()
        n = MEMORY_CONVERSATIONS
        coll.arm(n)
        for i in range(n):
            addr = Address.conversation(f"m{i}")
            engine.send(addr, OpenConversation(f"v{i}"))
            engine.send(addr, RequestHuman(world.group_of_visitor(i)))
        if not coll.done.wait(120):
            raise BenchError(f"memory: only {len(coll.assigned)} of {n} conversations were assigned")
        engine.wait_quiet(60)
        check_refusals(coll, "the memory run")
        coll.assigned.clear()
        gc.collect()
        rss_end = rss_mb()
        return {"rss_mb_start": round(rss_start, 1), "rss_mb_agents": round(rss_agents, 1),
                "rss_mb_10k_conversations": round(rss_end, 1),
                "kb_per_conversation": round((rss_end - rss_agents) * 1024 / n, 2),
                "agents": MEMORY_AGENTS, "conversations": n, "groups": world.groups}
    finally:
        engine.stop()


def measure_memory(groups_spec: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", "--groups", groups_spec]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the memory subprocess did not finish within {timeout:.0f} s") from None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"the memory subprocess failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- output --------------------------------------------------------------------------------------------------


def print_table(rows: list[Row], rate: float) -> None:
    base = {r.agents: r for r in rows if r.runtime == "inline"}
    for r in rows:
        b = base.get(r.agents)
        r.vs_baseline_x = round(b.assign_per_s / r.assign_per_s, 2) if b and r.runtime != "inline" else None
    head = (f"{'runtime':<8} {'agents':>7} {'visitors':>9} {'groups':>6} {'assign/s':>10} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'us/assign':>10} {'cpu us':>8} {'burst us':>8} {'x base':>7} {'reps':>4}")
    print(head)
    print("-" * len(head))
    order = {"inline": 0, "local": 1, "ray": 2}
    for r in sorted(rows, key=lambda r: (order.get(r.runtime, 9), r.agents)):
        xb = f"{r.vs_baseline_x:.2f}" if r.vs_baseline_x is not None else "-"
        name = "baseline" if r.runtime == "inline" else r.runtime
        burst = f"{r.burst_cpu_us_per_assign:.1f}" if r.burst_cpu_us_per_assign is not None else "-"
        print(f"{name:<8} {r.agents:>7,} {r.visitors:>9,} {r.groups:>6} {r.assign_per_s:>10,.0f} {r.p50_ms:>8.3f} "
              f"{r.p99_ms:>8.3f} {r.max_ms:>8.2f} {r.us_per_assign:>10.1f} {r.cpu_us_per_assign:>8.1f} {burst:>8} {xb:>7} {r.reps:>4}")
    print(f"baseline = the bare entity classes called in one loop (inline runtime, no hosts). assign/s: best of "
          f"'reps' bursts; us/assign = 1e6 / assign/s (wall); cpu us = CPU per assignment, all threads and child "
          f"processes (Ray: driver + cluster); burst us = CPU per assignment, best of {BURST_REPS} bursts of "
          f"{BURST:,} new visitors into the full world (the cost ratio's figure); x base = baseline assign/s / this runtime's; latency: open loop at "
          f"{rate:,.0f} requests/s, RequestHuman handed to the engine -> Assigned delivered.")
    for r in sorted(rows, key=lambda r: (order.get(r.runtime, 9), r.agents)):
        if r.p99_ms_by_rate:
            lighter = ", ".join(f"{v:.2f} ms at {rate_}/s" for rate_, v in r.p99_ms_by_rate.items())
            print(f"p99 at lighter loads, {r.runtime} {r.agents:,} agents: {lighter}")


def summary(rows: list[Row], memory: dict[str, Any] | None, notes: dict[str, str], quick: bool,
            error: str | None, wall_s: float, load: tuple[float, float]) -> dict[str, Any]:
    def of(runtime: str) -> list[Row]:
        return [r for r in rows if r.runtime == runtime]

    out: dict[str, Any] = {}
    for runtime, key in (("local", "local"), ("ray", "ray"), ("inline", "baseline")):
        rs = of(runtime)
        out[f"{key}_assign_per_s"] = round(min(r.assign_per_s for r in rs)) if rs else None
        out[f"{key}_p99_ms"] = round(max(r.p99_ms for r in rs), 3) if rs else None
        by_rate: dict[str, float] = {}
        for r in rs:
            for rate, p99 in r.p99_ms_by_rate.items():
                by_rate[rate] = max(by_rate.get(rate, 0.0), p99)
        if by_rate:
            out[f"{key}_p99_ms_by_rate"] = by_rate
    local = {r.agents: r for r in of("local")}
    base = {r.agents: r for r in of("inline")}
    ratios = [base[a].assign_per_s / local[a].assign_per_s for a in local if a in base]
    out["local_vs_baseline_x"] = round(max(ratios), 2) if ratios else None

    def cost_ratio(table: dict[int, Row], attr: str) -> float | None:
        small, large = table.get(100), table.get(10_000)
        if not small or not large or getattr(small, attr) is None or getattr(large, attr) is None:
            return None
        return round(getattr(large, attr) / getattr(small, attr), 2)

    # cost = CPU per assignment: the local runtime is one process bound to one core by the GIL, so CPU
    # tracks wall time on a quiet machine and stays put on a busy one. The target's ratio compares the
    # same bursts at both sizes (measure_burst_cost); the floods' ratios are kept beside it, since their
    # shape differs with size (one burst of 1,000 against a 100,000-visitor pipeline)
    out["cost_ratio_10k_vs_100"] = cost_ratio(local, "burst_cpu_us_per_assign")
    out["cost_ratio_flood_10k_vs_100"] = cost_ratio(local, "cpu_us_per_assign")
    out["cost_ratio_flood_wall_10k_vs_100"] = cost_ratio(local, "us_per_assign")
    out["baseline_cost_ratio_10k_vs_100"] = cost_ratio(base, "burst_cpu_us_per_assign")
    out["baseline_cost_ratio_flood_10k_vs_100"] = cost_ratio(base, "cpu_us_per_assign")
    out["rss_mb_10k_conversations"] = memory.get("rss_mb_10k_conversations") if memory else None
    if memory:
        out["memory"] = memory
    met: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = out.get(key)
        if value is None:
            met[key] = None
        elif key.endswith("assign_per_s"):
            met[key] = value >= target
        elif key.endswith("_x") or key.startswith("cost"):
            met[key] = value <= target
        else:
            met[key] = value < target
    out["targets"] = TARGETS
    out["targets_met"] = met
    out["all_targets_met"] = all(v is True for v in met.values())
    out["headline"] = "per runtime: the worst over the sizes measured (lowest assign/s, highest p99)"
    out["quick"] = quick
    out["notes"] = notes
    out["error"] = error
    out["wall_s"] = round(wall_s, 1)
    out["cpus"] = os.cpu_count()
    out["loadavg_1m_start_end"] = [round(load[0], 2), round(load[1], 2)]
    out["results"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(r).items()} for r in rows]
    return out


# --- main ------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="finish in under 2 minutes: fewer samples and repetitions, Ray up to 1,000 agents")
    p.add_argument("--runtimes", default="inline,local,ray", help="comma list of inline, local, ray (default: all)")
    p.add_argument("--sizes", default="100,1000,10000", help="agent counts, visitors are 10x (default 100,1000,10000)")
    p.add_argument("--ray-sizes", default=None,
                   help="agent counts for Ray (default: --sizes; with --quick, those up to 1,000)")
    p.add_argument("--groups", default="10",
                   help="skill groups: a number (default 10, whatever the size), 'sqrt' or 'per:K' (one per K agents)")
    p.add_argument("--chunk", type=int, default=5000,
                   help="visitors sent per burst in the throughput phase; at most two bursts unassigned (default 5000)")
    p.add_argument("--samples", type=int, default=None, help="latency samples per size (default 5000, quick 1500)")
    p.add_argument("--rate", type=float, default=1000.0, help="request rate of the latency phase, per second (default 1000)")
    p.add_argument("--extra-rates", default=None,
                   help="lighter request rates whose p99 is measured too, comma list (default 100,300; quick: none)")
    p.add_argument("--local-hosts", type=int, default=None, help="Pykka hosts of the local runtime (default: the engine's, 2)")
    p.add_argument("--ray-hosts", type=int, default=4, help="Ray hosts (default 4)")
    p.add_argument("--ray-init-timeout", type=float, default=60.0, help="seconds allowed for ray.init (default 60)")
    p.add_argument("--ray-timeout", type=float, default=None,
                   help="seconds allowed for the whole Ray run, start-up included (default: quick 75, else 100 + 12 per 1,000 agents)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds allowed for one phase to complete (default 60; big worlds get 1 s per 500 visitors)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ray-child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def extra_rates_of(args: argparse.Namespace) -> list[str]:
    text = args.extra_rates if args.extra_rates is not None else ("" if args.quick else "100,300")
    return [r.strip() for r in text.split(",") if r.strip()]


def sizes_of(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    plan = Plan(groups=args.groups, chunk=args.chunk, samples=args.samples or (1500 if args.quick else 5000),
                rate=args.rate, extra_rates=[float(r) for r in extra_rates_of(args)], min_time=0.5 if args.quick else 2.0, max_reps=5 if args.quick else 7,
                timeout=args.timeout)
    sizes = sizes_of(args.sizes)
    if args.ray_sizes:
        ray_sizes = sizes_of(args.ray_sizes)
    else:
        ray_sizes = [s for s in sizes if s <= 1000] if args.quick else list(sizes)
    if args.memory_child:
        print(json.dumps(memory_child(args.groups)), flush=True)
        return 0
    if args.ray_child:
        print(json.dumps(ray_child(args, plan, ray_sizes)), flush=True)
        return 0

    wall0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    unknown = set(runtimes) - {"inline", "local", "ray"}
    if unknown:
        print(f"unknown runtime(s): {', '.join(sorted(unknown))}; choose from inline, local, ray", file=sys.stderr)
        return 2
    rows: list[Row] = []
    notes: dict[str, str] = {}
    memory: dict[str, Any] | None = None
    errors: list[str] = []
    try:
        if "inline" in runtimes:
            run_runtime("inline", lambda c: start_engine("inline", on_delivery=c), plan, sizes, rows)
        if "local" in runtimes:
            run_runtime("local", lambda c: start_engine("local", hosts=args.local_hosts, on_delivery=c),
                        plan, sizes, rows)
        if not args.no_memory:
            memory = measure_memory(args.groups, 300)
            log(f"memory: {memory}")
    except BenchError as exc:
        errors.append(str(exc))
        print(f"\nFAILED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        errors.append("interrupted")
    if "ray" in runtimes and not errors:
        if args.quick and ray_sizes != sizes:
            notes["ray"] = f"quick mode: Ray measured at {', '.join(map(str, ray_sizes))} agents only"
        timeout = args.ray_timeout or (75.0 if args.quick else 100.0 + 12.0 * sum(s // 1000 for s in ray_sizes))
        ray_rows, ray_error, init_s = measure_ray(_without(argv, "--ray-sizes"), ray_sizes, timeout)
        rows += ray_rows
        if init_s is not None:
            notes["ray_init_s"] = f"{init_s:.1f}"
        if ray_error and ray_error.startswith("skipped: "):
            notes["ray"] = ray_error[len("skipped: "):]
            log(f"ray {ray_error}")
        elif ray_error:
            errors.append(f"ray: {ray_error}")
            print(f"\nFAILED (ray): {ray_error}", file=sys.stderr)
    error = "; ".join(errors) or None
    print()
    if rows:
        print_table(rows, plan.rate)
    if memory:
        print(f"memory (fresh process, local runtime, {memory['agents']:,} agents + {memory['conversations']:,} open "
              f"assigned conversations): {memory['rss_mb_10k_conversations']:.1f} MB RSS (at start "
              f"{memory['rss_mb_start']:.1f} MB, with the agents {memory['rss_mb_agents']:.1f} MB; "
              f"{memory['kb_per_conversation']:.2f} KB per conversation)")
    for what, why in notes.items():
        print(f"note ({what}): {why}")
    load1 = os.getloadavg()[0]
    if max(load0, load1) > (os.cpu_count() or 1):
        print(f"note: load average {max(load0, load1):.1f} on {os.cpu_count()} CPUs: other processes competed, "
              f"the wall-clock figures are pessimistic (the cpu us column is less sensitive)")
    if error:
        print(f"FAILED: {error}")
    out = summary(rows, memory, notes, args.quick, error, time.perf_counter() - wall0, (load0, load1))
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 1 if error else 0


def _without(argv: list[str], option: str) -> list[str]:
    """`argv` without `option` and its value (either `--opt value` or `--opt=value`)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == option:
            skip = True
        elif not a.startswith(option + "="):
            out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
