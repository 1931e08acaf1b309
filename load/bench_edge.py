#!/usr/bin/env python
"""Edge benchmark: the real ``switchboard serve`` against a bare uvicorn websocket echo server.

    .venv/bin/python load/bench_edge.py --quick        # < 3 minutes
    .venv/bin/python load/bench_edge.py                # the full run

It starts ``switchboard serve`` as a subprocess (own temporary data dir, a free port, the
default embedded Redis and MongoDB-wire store, so persistence is on), after creating an admin
with ``switchboard admin create`` on the same data dir (the command refuses while a server
holds the store). A settings file raises the per-connection frame rate limit (default 20/s),
which would otherwise be what is measured. The group and the agents are made over REST.
Clients are asyncio + ``websockets`` in this process. Then:

a. forwarding throughput: V visitors, each assigned to an agent (A agents, saturation V/A).
   Every visitor sends messages as fast as its acks allow, with ``--window`` in flight; agents
   count the ``message`` frames they get. forward_msgs_per_s = messages delivered to agents / s.
b. delivery latency: messages at ``--rate`` per second, open loop (paced by the clock, never
   waiting for acks), round robin over the visitors; the send time is in the text and the agent
   side takes the delivery time when the frame arrives. p50/p99_delivery_ms.
c. the baseline: a bare Starlette websocket echo app under uvicorn (this file, as a
   subprocess; ws_per_message_deflate off, like serve), driven by the same client code with the
   same V and window. echo_msgs_per_s = round trips / s; ratio = forward / echo.
e. the store alone: the same number of messages in flight (visitors x window) through the server's own
   StoreWriter into a fresh embedded store, no sockets: store_msgs_per_s is a ceiling on forwarding, since
   every message is stored before its ack (store_msgs_per_s / echo_msgs_per_s bounds the ratio).
d. idle sockets: ``--idle`` visitor sockets that each say hello and get their welcome, then the
   RSS of the serve process itself (the edge) with psutil; its children (the embedded servers and the bot process)
   are printed separately.

Targets: ratio >= 0.4, edge_rss_mb < 400 at 10,000 sockets, p99_delivery_ms < 50 at 500 msgs/s.
The client and the server share this machine's CPUs: on a small machine the client is a real
part of the cost (the echo baseline pays it too). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.com", "bench-admin-pass"
AGENT_PASSWORD = "bench-agent-pass"
GROUP = "bench"
CLI = "import sys; from switchboard.cli import main; sys.exit(main())"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_name(child: Any) -> str:
    """What a child process of serve is: the embedded servers and the bot process by name."""
    cmdline = " ".join(child.cmdline())
    if "redis" in child.name():
        return "redis-server"
    if "nx_27017" in cmdline:
        return "nx-27017"
    return "bot process" if "botworker.process" in cmdline else str(child.name())


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# --- the echo baseline (runs as a subprocess: bench_edge.py --echo-server PORT) ---------------------


def echo_server(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            pass

    app = Starlette(routes=[WebSocketRoute("/ws/echo", echo)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False, lifespan="off")


# --- the switchboard server -------------------------------------------------------------------------


class Serve:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.settings = data_dir / "bench.yaml"
        self.settings.write_text(
            "server:\n"
            f"  host: 127.0.0.1\n  port: {port}\n  data_dir: {data_dir / 'var'}\n"
            "  rate_limit_per_s: 1000000\n  rate_limit_burst: 1000000\n"
            # every bench visitor is 127.0.0.1: lift the per-address limits of anonymous visitors (issue 17)
            "  visitor_open_per_address: 1000000\n  visitor_queued_per_address: 1000000\n"
            "  max_sockets_per_address: 1000000\n  max_connections_per_address: 1000000\n"
            f"  default_group: {GROUP}\n")
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[Any] | None = None
        self.children: list[Any] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")
                    and k not in ("REDIS_URL", "MONGODB_URI")}

    def create_admin(self) -> None:
        out = subprocess.run([PY, "-c", CLI, "admin", "create", "--email", ADMIN_EMAIL, "--password",
                              ADMIN_PASSWORD, "--settings", str(self.settings)], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"switchboard admin create failed: {out.stderr.strip() or out.stdout.strip()}")

    def start(self) -> None:
        import psutil

        logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([PY, "-c", CLI, "serve", "--settings", str(self.settings),
                                      "--log-level", "warning"], cwd=ROOT, env=self.env, stdout=logf,
                                     stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
        wait_port(self.port, self.proc)
        self.children = psutil.Process(self.proc.pid).children(recursive=True)

    def rss(self) -> tuple[float, dict[str, float]]:
        import psutil

        assert self.proc is not None
        edge = psutil.Process(self.proc.pid).memory_info().rss / 2**20
        kids = {}
        for c in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                name = _child_name(c)
                kids[f"{name} ({c.pid})"] = c.memory_info().rss / 2**20
            except psutil.Error:
                pass
        return edge, kids

    def cpu_s(self) -> float:
        import psutil

        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def child_cpu_s(self) -> dict[str, float]:
        import psutil

        result = {}
        for c in self.children:
            try:
                name = _child_name(c)
                t = c.cpu_times()
                result[name] = t.user + t.system
            except psutil.Error:
                pass
        return result

    def problems(self) -> list[str]:
        """The server log's errors, grouped: 'count x exception (innermost switchboard frame)'."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        groups: dict[str, int] = {}
        where = ""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith('File "') and "/switchboard/" in stripped:
                where = stripped.split("/switchboard/", 1)[1].replace('", line ', ":").split(",")[0]
            elif line and not line.startswith(" ") and ("Error" in line.split(":")[0] or "Exception" in line.split(":")[0]) \
                    and "Traceback" not in line and " ERROR " not in line and not line.startswith("ERROR"):
                key = f"{line[:120]} (at {where or '?'})"
                groups[key] = groups.get(key, 0) + 1
                where = ""
            elif " CRITICAL " in line:
                groups[line[:160]] = groups.get(line[:160], 0) + 1
        return [f"{n} x {k}" for k, n in sorted(groups.items(), key=lambda kv: -kv[1])]

    def stop(self) -> str:
        import psutil

        if self.proc is None:
            return "not started"
        note = "stopped cleanly"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                note = "did not stop within 60 s of SIGINT; killed"
                self.proc.kill()
                self.proc.wait(10)
        else:
            note = f"had exited already with {self.proc.returncode}"
        if self.proc.returncode not in (0, None) and note == "stopped cleanly":
            note = f"exited with {self.proc.returncode}"
        left = [c for c in self.children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        if left:
            note += f"; {len(left)} embedded server(s) left running, killed: {[c.pid for c in left]}"
            for c in left:
                try:
                    c.kill()
                except psutil.Error:
                    pass
        return note


# --- clients ----------------------------------------------------------------------------------------


async def ws_connect(url: str) -> Any:
    from websockets.asyncio.client import connect

    return await connect(url, open_timeout=120, ping_interval=None, close_timeout=2, compression=None,
                         max_queue=None)


@dataclass
class Stats:
    delivered: int = 0  # forward: message frames at agents; echo: echoes at the sender
    acks: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    record: bool = False

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Sender:
    """One socket that sends numbered text messages with at most `window` unacknowledged."""

    def __init__(self, ws: Any, stats: Stats, window: int, echo: bool, conversation: str | None = None) -> None:
        self.ws, self.stats, self.echo, self.conv = ws, stats, echo, conversation
        self.sem = asyncio.Semaphore(window)
        self.n = 0
        self.reader = asyncio.create_task(self._read())

    def payload(self) -> str:
        import orjson

        self.n += 1
        text = f"t={time.perf_counter():.6f} n={self.n}"  # the same frame to both servers
        return orjson.dumps({"type": "message", "client_id": f"m{self.n}", "text": text}).decode()

    async def flood(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sem.acquire()
            if stop.is_set():
                break
            await self.ws.send(self.payload())

    async def send_one(self) -> None:
        await self.ws.send(self.payload())

    async def _read(self) -> None:
        import orjson

        try:
            async for raw in self.ws:
                if self.echo:
                    self.stats.delivered += 1
                    if self.stats.record:
                        f = orjson.loads(raw)
                        self.stats.latencies.append((time.perf_counter() - float(f["text"][2:].split(" ")[0])) * 1000)
                    self.sem.release()
                    continue
                f = orjson.loads(raw)
                kind = f.get("type")
                if kind == "ack":
                    self.stats.acks += 1
                    self.sem.release()
                elif kind == "error":
                    self.stats.error(f"visitor:{f.get('code')}")
                    if f.get("client_id"):
                        self.sem.release()
        except Exception as exc:  # a lost socket
            self.stats.error(f"visitor socket: {type(exc).__name__}")


class AgentReader:
    def __init__(self, ws: Any, stats: Stats) -> None:
        self.ws, self.stats = ws, stats
        self.assigned: asyncio.Queue[str] = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import orjson

        try:
            async for raw in self.ws:
                f = orjson.loads(raw)
                kind = f.get("type")
                if kind == "message":
                    self.stats.delivered += 1
                    if self.stats.record:
                        text = f.get("text", "")
                        if text.startswith("t="):
                            self.stats.latencies.append((time.perf_counter() - float(text[2:].split(" ")[0])) * 1000)
                elif kind == "conversation_assigned":
                    self.assigned.put_nowait(f["conversation"])
                elif kind == "error":
                    self.stats.error(f"agent:{f.get('code')}")
        except Exception as exc:
            self.stats.error(f"agent socket: {type(exc).__name__}")


async def next_frame(ws: Any, kind: str, timeout: float = 60) -> dict[str, Any]:
    import orjson

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {kind} frame within {timeout:.0f} s")
        f = orjson.loads(await asyncio.wait_for(ws.recv(), left))
        if f.get("type") == kind:
            return f
        if f.get("type") == "error":
            raise RuntimeError(f"error frame while waiting for {kind}: {f}")


async def gather_limited(coros: list[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


# --- the world --------------------------------------------------------------------------------------


async def make_world(port: int, visitors: int, agents: int, stats: Stats, window: int) -> tuple[list[Sender], list[AgentReader], list[Any]]:
    import httpx

    base = f"http://127.0.0.1:{port}"
    saturation = -(-visitors // agents)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        r = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        r.raise_for_status()
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.post("/api/groups", json={"id": GROUP}, headers=h)
        assert r.status_code in (201, 409), r.text

        async def agent(i: int) -> str:
            email = f"bench-agent-{i}@example.com"
            r = await http.post("/api/agents", headers=h, json={"email": email, "password": AGENT_PASSWORD,
                                                                "nickname": f"A{i}", "saturation": saturation,
                                                                "groups": [GROUP]})
            assert r.status_code == 201, r.text
            r = await http.post("/api/auth/login", json={"email": email, "password": AGENT_PASSWORD})
            r.raise_for_status()
            return str(r.json()["token"])

        tokens = await gather_limited([agent(i) for i in range(agents)], 4)
    readers, sockets = [], []
    for token in tokens:
        ws = await ws_connect(f"ws://127.0.0.1:{port}/ws/agent")
        await ws.send(json.dumps({"type": "hello", "token": token}))
        await next_frame(ws, "welcome")
        await ws.send(json.dumps({"type": "presence", "presence": "online"}))
        readers.append(AgentReader(ws, stats))
        sockets.append(ws)

    async def visitor() -> Sender:
        ws = await ws_connect(f"ws://127.0.0.1:{port}/ws/visitor")
        await ws.send(json.dumps({"type": "hello"}))
        await next_frame(ws, "welcome")
        await ws.send(json.dumps({"type": "request_human", "group": GROUP}))
        assigned = await next_frame(ws, "assigned")
        del assigned
        return Sender(ws, stats, window, echo=False)

    senders = await gather_limited([visitor() for _ in range(visitors)], 50)
    sockets.extend(s.ws for s in senders)
    return senders, readers, sockets


async def measure_flood(senders: list[Sender], stats: Stats, warmup: float, duration: float) -> float:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.flood(stop)) for s in senders]
    await asyncio.sleep(warmup)
    n0, t0 = stats.delivered, time.perf_counter()
    await asyncio.sleep(duration)
    n1, t1 = stats.delivered, time.perf_counter()
    stop.set()
    for s in senders:  # unblock senders waiting on their window
        for _ in range(4):
            s.sem.release()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (n1 - n0) / (t1 - t0)


async def drain(stats: Stats, quiet: float = 1.0, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline and stats.delivered != last:
        last = stats.delivered
        await asyncio.sleep(quiet)


async def measure_paced(senders: list[Sender], stats: Stats, rate: float, duration: float) -> dict[str, Any]:
    await drain(stats)
    stats.latencies.clear()
    stats.record = True
    before = stats.delivered
    t0 = time.perf_counter()
    sent, i = 0, 0
    lag_max = 0.0
    while True:
        now = time.perf_counter()
        if now - t0 >= duration:
            break
        due = int((now - t0) * rate)
        if due - sent > 1:
            lag_max = max(lag_max, (due - sent) / rate)
        while sent < due:
            await senders[i % len(senders)].send_one()
            i += 1
            sent += 1
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - t0
    await drain(stats, quiet=0.5, limit=30)
    stats.record = False
    got = stats.delivered - before
    lat = list(stats.latencies)
    return {"sent": sent, "delivered": got, "achieved_rate": sent / elapsed, "p50": pct(lat, 50), "p95": pct(lat, 95),
            "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"), "sender_lag_s": lag_max}


async def close_all(sockets: list[Any]) -> None:
    async def one(ws: Any) -> None:
        try:
            await asyncio.wait_for(ws.close(), 3)
        except Exception:
            pass

    await gather_limited([one(ws) for ws in sockets], 500)


async def bench_server(args: argparse.Namespace, serve: Serve, out: dict[str, Any]) -> None:
    stats = Stats()
    log(f"world: {args.agents} agents, {args.visitors} visitors assigned (window {args.window})")
    t = time.perf_counter()
    senders, readers, sockets = await make_world(serve.port, args.visitors, args.agents, stats, args.window)
    log(f"  ready in {time.perf_counter() - t:.1f} s")
    cpu0, kids0, t0, client0 = serve.cpu_s(), serve.child_cpu_s(), time.perf_counter(), time.process_time()
    log(f"(a) forwarding flood for {args.duration:.0f} s")
    out["forward_msgs_per_s"] = await measure_flood(senders, stats, args.warmup, args.duration)
    wall = time.perf_counter() - t0
    out["forward_edge_cpu_pct"] = 100 * (serve.cpu_s() - cpu0) / wall
    out["forward_client_cpu_pct"] = 100 * (time.process_time() - client0) / wall
    out["forward_embedded_cpu_pct"] = {k: round(100 * (v - kids0.get(k, 0)) / wall) for k, v in serve.child_cpu_s().items()}
    log(f"  {out['forward_msgs_per_s']:,.0f} msgs/s delivered to agents (edge CPU {out['forward_edge_cpu_pct']:.0f}%, "
        f"client CPU {out['forward_client_cpu_pct']:.0f}%)")
    log(f"(b) paced {args.rate:.0f} msgs/s for {args.paced:.0f} s")
    paced = await measure_paced(senders, stats, args.rate, args.paced)
    out["paced"] = paced
    log(f"  p50 {paced['p50']:.1f} ms, p99 {paced['p99']:.1f} ms, {paced['delivered']}/{paced['sent']} delivered")
    out["errors"] = dict(stats.errors)
    await close_all(sockets)
    for s in senders:
        s.reader.cancel()
    for r in readers:
        r.task.cancel()


async def bench_echo(args: argparse.Namespace, port: int, out: dict[str, Any]) -> None:
    stats = Stats()
    socks = await gather_limited([ws_connect(f"ws://127.0.0.1:{port}/ws/echo") for _ in range(args.visitors)], 50)
    senders = [Sender(ws, stats, args.window, echo=True) for ws in socks]
    log(f"(c) echo flood for {args.duration:.0f} s ({args.visitors} sockets, window {args.window})")
    t0, client0 = time.perf_counter(), time.process_time()
    out["echo_msgs_per_s"] = await measure_flood(senders, stats, args.warmup, args.duration)
    out["echo_client_cpu_pct"] = 100 * (time.process_time() - client0) / (time.perf_counter() - t0)
    log(f"  {out['echo_msgs_per_s']:,.0f} round trips/s (client CPU {out['echo_client_cpu_pct']:.0f}%)")
    if args.echo_paced:
        paced = await measure_paced(senders, stats, args.rate, min(args.paced, 5))
        out["echo_paced_p99_ms"] = paced["p99"]
    await close_all(socks)
    for s in senders:
        s.reader.cancel()


async def bench_idle(args: argparse.Namespace, serve: Serve, out: dict[str, Any]) -> None:
    edge0, _ = serve.rss()
    out["edge_rss_before_idle_mb"] = edge0
    log(f"(d) {args.idle:,} idle visitor sockets (edge RSS before: {edge0:.0f} MB)")
    failures: dict[str, int] = {}

    async def one() -> Any:
        try:
            ws = await ws_connect(f"ws://127.0.0.1:{serve.port}/ws/visitor")
            await ws.send('{"type":"hello"}')
            await next_frame(ws, "welcome", timeout=120)
            return ws
        except Exception as exc:
            key = f"{type(exc).__name__}: {str(exc)[:80]}"
            failures[key] = failures.get(key, 0) + 1
            return None

    t = time.perf_counter()
    socks = [ws for ws in await gather_limited([one() for _ in range(args.idle)], args.connect_concurrency) if ws]
    out["idle_open_s"] = time.perf_counter() - t
    out["idle_sockets"] = len(socks)
    out["idle_failures"] = failures
    await asyncio.sleep(2)
    edge, kids = serve.rss()
    out["edge_rss_mb"], out["embedded_rss_mb"] = edge, kids
    out["edge_kb_per_socket"] = (edge - edge0) * 1024 / max(1, len(socks))
    log(f"  {len(socks):,} open in {out['idle_open_s']:.1f} s; edge RSS {edge:.0f} MB "
        f"({out['edge_kb_per_socket']:.1f} KB/socket); failures {failures or 'none'}")
    await close_all(socks)


async def bench_store(args: argparse.Namespace, data_dir: Path, out: dict[str, Any]) -> None:
    from switchboard.store.connection import connect, disconnect, ensure_indexes
    from switchboard.store.embedded import EmbeddedMongo
    from switchboard.store.writer import StoreWriter

    in_flight = args.visitors * args.window
    log(f"(e) the store alone: {in_flight} messages in flight through StoreWriter into nx-27017 "
        f"for {args.duration:.0f} s")
    with EmbeddedMongo(str(data_dir / "store-alone")) as mongo:
        await asyncio.to_thread(connect, mongo.start())
        await asyncio.to_thread(ensure_indexes)
        writer = StoreWriter(journal=False)  # serve's defaults: store_journal 0, store_transactions auto
        done = 0
        seqs = [0] * args.visitors

        async def lane(i: int, stop: asyncio.Event) -> None:
            nonlocal done
            while not stop.is_set():
                seqs[i] += 1
                await writer.add_message({"conversation": f"bench-{i}", "seq": seqs[i], "sender_role": "visitor",
                                          "sender_id": f"v{i}", "kind": "text", "client_id": f"m{seqs[i]}",
                                          "text": f"t={time.perf_counter():.6f} n={seqs[i]}", "at": time.time()})
                done += 1

        stop = asyncio.Event()
        tasks = [asyncio.create_task(lane(i % args.visitors, stop)) for i in range(in_flight)]
        await asyncio.sleep(args.warmup)
        n0, t0 = done, time.perf_counter()
        await asyncio.sleep(args.duration)
        out["store_msgs_per_s"] = (done - n0) / (time.perf_counter() - t0)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await writer.close()
        await asyncio.to_thread(disconnect)
    log(f"  {out['store_msgs_per_s']:,.0f} messages/s stored")


# --- main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short phases (< 3 minutes in all)")
    p.add_argument("--visitors", type=int, default=None, help="assigned visitors for (a)-(c) (quick 50, full 200)")
    p.add_argument("--agents", type=int, default=None, help="agents (quick 5, full 20); saturation = visitors/agents")
    p.add_argument("--window", type=int, default=20, help="messages in flight per visitor in the flood")
    p.add_argument("--duration", type=float, default=None, help="flood seconds (quick 8, full 30)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--rate", type=float, default=500.0, help="paced messages per second for (b)")
    p.add_argument("--paced", type=float, default=None, help="paced seconds (quick 8, full 30)")
    p.add_argument("--idle", type=int, default=10_000, help="idle sockets for (d)")
    p.add_argument("--connect-concurrency", type=int, default=50,
                   help="sockets opening at once in (d); above ~100 the server's Redis pool runs out (see README)")
    p.add_argument("--echo-paced", action="store_true", help="also the paced latency against the echo server")
    p.add_argument("--skip", default="", help="comma list of phases to skip: flood,echo,idle,store")
    p.add_argument("--echo-server", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = args.quick
    args.visitors = args.visitors or (50 if q else 200)
    args.agents = args.agents or (5 if q else 20)
    args.duration = args.duration or (8.0 if q else 30.0)
    args.paced = args.paced or (8.0 if q else 30.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.echo_server is not None:
        echo_server(args.echo_server)
        return 0
    nofile = raise_nofile()
    if nofile < args.idle + 200:
        log(f"the fd limit is {nofile}; idle sockets lowered from {args.idle} to {nofile - 500}")
        args.idle = nofile - 500
    skip = set(filter(None, args.skip.split(",")))
    out: dict[str, Any] = {"quick": args.quick, "visitors": args.visitors, "agents": args.agents, "window": args.window,
                           "rate": args.rate, "cpus": os.cpu_count()}
    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-edge-"))
    serve = Serve(tmp, free_port())
    echo_proc = None
    failed = None
    try:
        if "echo" not in skip:  # first, with no switchboard processes competing for the CPUs
            port = free_port()
            echo_proc = subprocess.Popen([PY, __file__, "--echo-server", str(port)], preexec_fn=raise_nofile)
            wait_port(port, echo_proc)
            asyncio.run(bench_echo(args, port, out))
            echo_proc.send_signal(signal.SIGINT)
            echo_proc.wait(10)
        log(f"switchboard admin create + serve (data dir {tmp}, port {serve.port})")
        serve.create_admin()
        serve.start()
        out["edge_rss_start_mb"] = serve.rss()[0]
        if "flood" not in skip:
            asyncio.run(bench_server(args, serve, out))
        if "idle" not in skip:
            asyncio.run(bench_idle(args, serve, out))
        out["server_stop"] = serve.stop()
        if "store" not in skip:  # last, with the server stopped
            asyncio.run(bench_store(args, tmp, out))
    except Exception as exc:  # report what we have
        failed = f"{type(exc).__name__}: {exc}"
        log(f"FAILED: {failed}")
    finally:
        if echo_proc is not None and echo_proc.poll() is None:
            echo_proc.send_signal(signal.SIGINT)
            try:
                echo_proc.wait(10)
            except subprocess.TimeoutExpired:
                echo_proc.kill()
        out["server_problems"] = serve.problems()[:20]
        if "server_stop" not in out:
            out["server_stop"] = serve.stop()
        out["server_log"] = str(serve.log_path)
    out["failed"] = failed
    out["total_s"] = time.perf_counter() - t_all
    report(out)
    if failed is None and not out["server_problems"]:
        shutil.rmtree(tmp, ignore_errors=True)
        out["server_log"] = None
    print(json.dumps(summary(out), default=str))
    return 1 if failed else 0


def summary(out: dict[str, Any]) -> dict[str, Any]:
    fwd, echo = out.get("forward_msgs_per_s"), out.get("echo_msgs_per_s")
    paced = out.get("paced", {})
    keys = ("quick", "visitors", "agents", "window", "rate", "cpus", "forward_edge_cpu_pct", "forward_client_cpu_pct", "echo_client_cpu_pct",
            "forward_embedded_cpu_pct", "idle_sockets",
            "idle_open_s", "idle_failures", "edge_kb_per_socket", "embedded_rss_mb", "errors", "server_problems",
            "server_stop", "server_log", "failed", "total_s")
    store = out.get("store_msgs_per_s")
    return {"forward_msgs_per_s": fwd, "echo_msgs_per_s": echo,
            "ratio": (fwd / echo) if fwd and echo else None,
            "store_msgs_per_s": store, "store_ratio_ceiling": (store / echo) if store and echo else None,
            "idle_sockets": out.get("idle_sockets"), "edge_rss_mb": out.get("edge_rss_mb"),
            "p99_delivery_ms": paced.get("p99"), "p50_delivery_ms": paced.get("p50"),
            "paced_sent": paced.get("sent"), "paced_delivered": paced.get("delivered"),
            "paced_achieved_rate": paced.get("achieved_rate"),
            **{k: out.get(k) for k in keys if k not in ("idle_sockets",)}}


def report(out: dict[str, Any]) -> None:
    s = summary(out)

    def row(name: str, value: Any, target: str, ok: bool | None) -> None:
        v = "-" if value is None else (f"{value:,.3f}" if isinstance(value, float) and value < 10 else
                                       f"{value:,.1f}" if isinstance(value, float) else str(value))
        mark = "" if ok is None else ("ok" if ok else "MISS")
        print(f"{name:<34} {v:>14}   {target:<22} {mark}")

    print()
    print(f"{'measure':<34} {'value':>14}   {'target':<22}")
    print("-" * 76)
    row("forward msgs/s (to agents)", s["forward_msgs_per_s"], "", None)
    row("echo round trips/s (bare uvicorn)", s["echo_msgs_per_s"], "", None)
    ratio = s["ratio"]
    row("ratio forward / echo", ratio, ">= 0.4", None if ratio is None else ratio >= 0.4)
    row("store alone msgs/s (StoreWriter)", s["store_msgs_per_s"], "a ceiling on forward", None)
    row("  store alone / echo", s["store_ratio_ceiling"], "a ceiling on the ratio", None)
    p99 = s["p99_delivery_ms"]
    row(f"p50 delivery ms at {out['rate']:.0f}/s", s["p50_delivery_ms"], "", None)
    row(f"p99 delivery ms at {out['rate']:.0f}/s", p99, "< 50", None if p99 is None else p99 < 50)
    row("paced delivered / sent", f"{s['paced_delivered']}/{s['paced_sent']}" if s["paced_sent"] else None, "", None)
    row("idle sockets (hello + welcome)", s["idle_sockets"], "", None)
    rss = s["edge_rss_mb"]
    n = s["idle_sockets"] or 0
    row("edge RSS MB with the idle sockets", rss, "< 400 at 10,000", None if rss is None else (rss < 400 and n >= 10_000))
    row("edge KB per idle socket", out.get("edge_kb_per_socket"), "", None)
    for name, mb in (out.get("embedded_rss_mb") or {}).items():
        row(f"  {name} RSS MB", mb, "(not the edge)", None)
    print("-" * 76)
    print(f"visitors {out['visitors']}, agents {out['agents']}, window {out['window']}, cpus {out['cpus']}; "
          f"edge CPU during the flood {out.get('forward_edge_cpu_pct', float('nan')):.0f}% of one core, "
          f"embedded servers {out.get('forward_embedded_cpu_pct')} (%)")
    if out.get("errors"):
        print(f"client-side errors: {out['errors']}")
    if out.get("idle_failures"):
        print(f"idle socket failures: {out['idle_failures']}")
    if out.get("server_problems"):
        print(f"server log problems ({out['server_log']}):")
        for line in out["server_problems"]:
            print(f"  {line[:200]}")
    print(f"server: {out.get('server_stop')}")
    if out.get("failed"):
        print(f"FAILED: {out['failed']}")
    print()


if __name__ == "__main__":
    sys.exit(main())
