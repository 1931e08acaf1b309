#!/usr/bin/env python
"""Abuse run: each attack of issue 17 against a served instance on loopback, bounded in count and time.

    .venv/bin/python load/abuse.py --quick                 # every attack, < 3 minutes
    .venv/bin/python load/abuse.py                         # larger counts, longer holds
    .venv/bin/python load/abuse.py --quick --only slowloris,fd_flood

It starts ``switchboard serve`` as a subprocess as ``bench_edge.py`` does (``admin create``, then serve on a
temporary data dir, a free port on 127.0.0.1, the embedded Redis and store; the bot off), with the file
descriptor limit of serve pinned (``--serve-nofile``) so a flood can reach it in a bounded count. Every
attacker connects from an address of its own in 127.0.0.0/8 (Linux routes the whole block to loopback),
so the per-address limits see one attacker, and the probes that stand for real users come from
127.0.0.1. Each attack is a function with small explicit parameters; it prints one line (held or
FAILED, then its figures) and the last line of output is one JSON object with every figure.

The attacks (issue 17's findings, in order of the run; the Redis kill comes last because it may leave
the server without a working Redis):

  oversized_text   6,000 Chinese characters: the server answers frame_too_large and closes 1009; in
                   Chromium (when /usr/bin/chromium is there) the widget must refuse it and not reconnect
  small_checks     a zero-width-only message refused; rate_limited names the frame; /workspace has a CSP
                   with frame-ancestors
  state_ttl        anonymous widget hellos: each visitor's Redis hash must have a TTL
  queue_spam       anonymous sockets from one address ask for a person; a real customer's position after,
                   and what is left in the queue once the spammers have been gone for the grace period
  sync_amp         one visitor's sockets ask sync from 0 of a long conversation; other visitors' ack p99
  login_flood      concurrent logins with unknown emails: serve's RSS and an agent's /api/me p99; then
                   wrong passwords for one account, then the right one
  socket_flood     visitor sockets from one address: how many are welcomed
  slowloris        half-sent websocket handshakes, a header line a second: how long until closed
  fd_flood         idle TCP connections beyond serve's fd limit from many addresses; /healthz and a
                   real visitor from 127.0.0.1 meanwhile, and how many log lines the flood wrote
  redis_kill       kill -9 of the embedded redis-server while one visitor's sockets keep sending; then
                   every unacked message re-sent with its client id; acked-but-lost and duplicates
                   counted in the store

Targets (issue 17, "Done when"): 0 lost and 0 duplicated, /healthz answering within 1 s during the
flood, half-open handshakes closed within 10 s, RSS under 600 MB and /api/me p99 under 100 ms during
the login flood, a real visitor's position no worse than the per-address queue limit (+1: theirs),
ack p99 under 50 ms during the sync attack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_edge import (  # noqa: E402
    ADMIN_EMAIL, ADMIN_PASSWORD, CLI, PY, ROOT, Serve, free_port, log, pct, raise_nofile, wait_port,
)

GROUP = "abuse"
AGENT_PASSWORD = "abuse-agent-pass"
CHINESE = "你" * 6000  # under the 8,000-character limit, 18,000 bytes: over the 16 KiB frame limit
CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
REAL = "127.0.0.1"  # the address of real users and probes; every attack has one of its own


@dataclass
class Outcome:
    """What one attack did to the server: held (or not), and its figures."""

    name: str
    held: bool | None  # None: could not be judged (a step failed before the measure)
    figures: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def line(self) -> str:
        verdict = "held" if self.held else ("FAILED" if self.held is False else "unknown")
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in self.figures.items())
        return f"{self.name:<15} {verdict:<7} {shown}" + (f"  ({self.note})" if self.note else "")


def _fmt(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)


# --- the server and its users --------------------------------------------------------------------------


@dataclass
class World:
    """The served instance and what the attacks share: its port, tokens, the agent accounts."""

    serve: Serve
    grace_s: float
    admin: str = ""
    prober: tuple[str, str] = ("", "")  # an agent's (email, token) for /api/me
    victim: str = ""  # the email of the account the brute force aims at
    redis_url: str = ""
    mongodb_uri: str = ""

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.serve.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.serve.port}"

    def pid(self) -> int:
        assert self.serve.proc is not None
        return self.serve.proc.pid


def settings_file(serve: Serve, grace_s: float) -> None:
    """serve's settings: defaults but the group, the bot off, and a short visitor grace (when it exists)."""
    from switchboard.settings import DispatchSettings

    dispatch = f"dispatch:\n  visitor_gone_grace_s: {grace_s}\n" \
        if "visitor_gone_grace_s" in DispatchSettings.__dataclass_fields__ else ""
    serve.settings.write_text(
        "server:\n"
        f"  host: 127.0.0.1\n  port: {serve.port}\n  data_dir: {serve.data_dir / 'var'}\n"
        f"  default_group: {GROUP}\n" + dispatch + "bot:\n  enabled: false\n")


def pinned_nofile(limit: int) -> Callable[[], None]:
    def pin() -> None:  # soft and hard: serve cannot raise it past what the flood can reach
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return pin


def start_world(args: argparse.Namespace, data_dir: Path) -> World:
    import httpx
    import psutil

    serve = Serve(data_dir, free_port())
    settings_file(serve, args.grace)
    serve.create_admin()
    logf = open(serve.log_path, "w")
    serve.proc = subprocess.Popen([PY, "-c", CLI, "serve", "--settings", str(serve.settings), "--log-level", "warning"],
                                  cwd=ROOT, env=serve.env, stdout=logf, stderr=subprocess.STDOUT,
                                  preexec_fn=pinned_nofile(args.serve_nofile))
    wait_port(serve.port, serve.proc)
    serve.children = psutil.Process(serve.proc.pid).children(recursive=True)
    world = World(serve, args.grace)
    text = serve.log_path.read_text(errors="replace")
    found = re.search(r"embedded Redis\s+(\S+)", text)
    world.redis_url = found.group(1) if found else ""
    found = re.search(r"embedded MongoDB-wire\s+(\S+)", text)
    world.mongodb_uri = found.group(1) if found else ""
    with httpx.Client(base_url=world.http, timeout=30) as c:
        world.admin = c.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
        admin = {"Authorization": f"Bearer {world.admin}"}
        c.post("/api/groups", json={"id": GROUP, "name": "Abuse"}, headers=admin)
        emails = []
        for nickname in ("Prober", "Victim"):
            email = f"{nickname.lower()}-{uuid.uuid4().hex[:6]}@example.com"
            made = c.post("/api/agents", headers=admin, json={"email": email, "password": AGENT_PASSWORD,
                                                               "nickname": nickname, "saturation": 5, "groups": [GROUP]})
            assert made.status_code == 201, made.text
            emails.append(email)
        token = c.post("/api/auth/login", json={"email": emails[0], "password": AGENT_PASSWORD}).json()["token"]
        world.prober, world.victim = (emails[0], token), emails[1]
    return world


async def ws_open(base: str, path: str, source: str, timeout: float = 10) -> Any:
    from websockets.asyncio.client import connect

    return await connect(base + path, open_timeout=timeout, ping_interval=None, close_timeout=1,
                         compression=None, max_size=None, max_queue=None, local_addr=(source, 0))


async def next_frame(ws: Any, kind: str | Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any] | None:
    """The next frame of type `kind` (or matching it); None on timeout or close."""
    match = (lambda f: f.get("type") == kind) if isinstance(kind, str) else kind
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), left))
        except Exception:
            return None
        if match(frame):
            return frame
    return None


async def visitor(base: str, source: str, token: str | None = None, **hello: Any) -> tuple[Any, dict[str, Any] | None]:
    """A visitor socket to the server at `base` (ws://host:port) from `source`, and its welcome (None: refused)."""
    ws = await ws_open(base, "/ws/visitor", source)
    await ws.send(json.dumps({"type": "hello", "token": token, "channel": "widget", **hello}))
    return ws, await next_frame(ws, "welcome")


async def close_all(sockets: list[Any]) -> None:
    async def one(ws: Any) -> None:
        try:
            await asyncio.wait_for(ws.close(), 2)
        except Exception:
            pass
    await asyncio.gather(*(one(ws) for ws in sockets))


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss / 2**20)


def log_lines(world: World) -> int:
    return len(world.serve.log_path.read_text(errors="replace").splitlines())


# --- 3. the widget and oversized text ------------------------------------------------------------------


async def _oversized_on_the_wire(world: World) -> tuple[str | None, int | None]:
    ws, _ = await visitor(world.ws, "127.0.0.11")
    await ws.send(json.dumps({"type": "message", "client_id": "big-1", "text": CHINESE}))
    error = await next_frame(ws, "error", timeout=5)
    try:
        await asyncio.wait_for(ws.wait_closed(), 5)
    except asyncio.TimeoutError:
        pass
    code = ws.close_code
    await close_all([ws])
    return (error or {}).get("code"), code


def oversized_text(world: World, seconds: float = 8.0) -> Outcome:
    """The server refuses an oversized frame as documented; the widget refuses it first and never loops."""
    code, close = asyncio.run(_oversized_on_the_wire(world))
    figures: dict[str, Any] = {"server_error": code, "server_close": close}
    held = code == "frame_too_large" and close == 1009
    if not Path(CHROMIUM).exists():
        return Outcome("oversized_text", held, figures, f"no Chromium at {CHROMIUM}: the widget not tried")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            opened: list[Any] = []
            page.on("websocket", lambda ws: opened.append(ws))
            page.goto(f"{world.http}/widget")
            page.get_by_test_id("sb-bubble").click()
            page.get_by_test_id("sb-input").fill(CHINESE)
            page.get_by_test_id("sb-send").click()
            page.wait_for_timeout(500)
            refused = "too long to send" in (page.get_by_test_id("sb-error").text_content() or "")  # shown for 8 s
            page.wait_for_timeout(seconds * 1000)  # room for a reconnect loop to show
            page.get_by_test_id("sb-input").fill("a short one after it")
            page.get_by_test_id("sb-send").click()
            page.wait_for_timeout(2000)
            later = page.locator("[data-testid=sb-message][data-pending=true]").count() == 0
        finally:
            browser.close()
    figures.update(widget_sockets=len(opened), widget_refused=refused, widget_later_sent=later)
    return Outcome("oversized_text", held and refused and len(opened) <= 1 and later, figures)


# --- 8. blank text, rate_limited naming its frame, the CSP ----------------------------------------------


async def _small_checks(world: World) -> dict[str, Any]:
    import httpx

    ws, _ = await visitor(world.ws, "127.0.0.13")
    await ws.send(json.dumps({"type": "message", "client_id": "zw-1", "text": "\u200b\u2060\u0000\u200b"}))
    answer = await next_frame(ws, lambda f: f.get("type") in ("error", "ack"), timeout=5)
    blank_refused = bool(answer and answer["type"] == "error")
    for _ in range(80):  # over the burst: the rest are refused
        await ws.send(json.dumps({"type": "ping"}))
    limited = await next_frame(ws, lambda f: f.get("code") == "rate_limited", timeout=5)
    await close_all([ws])
    async with httpx.AsyncClient(base_url=world.http, timeout=5) as c:
        csp = (await c.get("/workspace")).headers.get("content-security-policy", "")
    return {"blank_refused": blank_refused, "rate_limited_names": (limited or {}).get("in_reply_to"),
            "workspace_frame_ancestors": "frame-ancestors" in csp}


def small_checks(world: World) -> Outcome:
    figures = asyncio.run(_small_checks(world))
    held = figures["blank_refused"] and figures["rate_limited_names"] == "ping" and figures["workspace_frame_ancestors"]
    return Outcome("small_checks", bool(held), figures)


# --- 7. anonymous state without a TTL -------------------------------------------------------------------


async def _state_ttl(world: World, count: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from switchboard.edges.keys import visitor_key

    visitors = []
    for _ in range(count):  # one after another: the per-address socket limit is not what is measured here
        ws, welcome = await visitor(world.ws, "127.0.0.8")
        if welcome:
            visitors.append(welcome["visitor"])
        await close_all([ws])
    await asyncio.sleep(1.0)  # the visitor documents are written after the welcome
    r = aioredis.from_url(world.redis_url)
    try:
        ttls = [await r.ttl(visitor_key(v)) for v in visitors]
    finally:
        await r.aclose()
    store_docs = None
    if world.mongodb_uri:
        from switchboard.store.connection import connect
        from switchboard.store.visitors import get_visitor

        connect(world.mongodb_uri)
        store_docs = sum(1 for v in visitors if get_visitor(v) is not None)
    return {"hellos": len(visitors), "redis_without_ttl": sum(1 for t in ttls if t == -1),
            "redis_kept": sum(1 for t in ttls if t != -2), "store_docs": store_docs}


def state_ttl(world: World, count: int = 200) -> Outcome:
    figures = asyncio.run(_state_ttl(world, count))
    return Outcome("state_ttl", figures["hellos"] > 0 and figures["redis_without_ttl"] == 0, figures)


# --- 5. queue spam ---------------------------------------------------------------------------------------


async def _queue_spam(world: World, count: int, concurrency: int) -> dict[str, Any]:
    spam: list[Any] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            try:
                ws, welcome = await visitor(world.ws, "127.0.0.7")
            except Exception:
                return
            spam.append(ws)
            if welcome is not None:
                await ws.send(json.dumps({"type": "request_human"}))
                await next_frame(ws, lambda f: f.get("type") in ("queue_position", "error"), timeout=5)

    await asyncio.gather(*(one() for _ in range(count)))
    customer, _ = await visitor(world.ws, REAL)
    await customer.send(json.dumps({"type": "request_human"}))
    position = await next_frame(customer, "queue_position", timeout=10)
    agent_before = await _queue_length(world)
    queued = agent_before - 1 if agent_before else 0
    await close_all(spam)
    await asyncio.sleep(world.grace_s + 5.0)  # the grace, and a sweep
    left = await _queue_length(world)
    await customer.send(json.dumps({"type": "leave_queue"}))
    await asyncio.sleep(0.3)
    await close_all([customer])
    return {"spam_sockets": len(spam), "spam_queued": queued, "queue_spam_position": (position or {}).get("position"),
            "left_after_grace": left - 1 if left else left}


async def _queue_length(world: World) -> int:
    """The group's queue as an agent's welcome lists it (the agent stays offline)."""
    ws = await ws_open(world.ws, "/ws/agent", REAL)
    await ws.send(json.dumps({"type": "hello", "token": world.prober[1]}))
    welcome = await next_frame(ws, "welcome")
    await close_all([ws])
    return len(((welcome or {}).get("queues") or {}).get(GROUP, []))


def queue_spam(world: World, count: int = 300, concurrency: int = 50) -> Outcome:
    from switchboard.settings import ServerSettings

    figures = asyncio.run(_queue_spam(world, count, concurrency))
    limit = getattr(ServerSettings(), "visitor_queued_per_address", None)
    figures["per_address_limit"] = limit
    position = figures["queue_spam_position"]
    held = position is not None and limit is not None and position <= limit + 1 and figures["left_after_grace"] == 0
    return Outcome("queue_spam", held, figures)


# --- probes: a process of their own, so the attack's client work does not delay what they time ------------


async def probe(world: World, kind: str, seconds: float, count: int = 5) -> list[float]:
    """Run `--probe kind` in a child process for `seconds` (`count` visitors for acks): its latencies (ms)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--probe", kind, "--probe-port", str(world.serve.port), "--probe-token",
        world.prober[1], "--probe-seconds", str(seconds), "--probe-count", str(count), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return [float(x) for x in json.loads(out.decode().strip().splitlines()[-1])]


async def _probe_me(port: int, token: str, seconds: float) -> list[float]:
    import httpx

    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                await c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                latencies.append((time.perf_counter() - t0) * 1000)
            except httpx.HTTPError:
                latencies.append(10_000.0)
            await asyncio.sleep(0.05)
    return latencies


async def _probe_acks(port: int, seconds: float, victims: int) -> list[float]:
    real = [((await visitor(f"ws://127.0.0.1:{port}", REAL))[0], f"v{i}-{uuid.uuid4().hex[:4]}") for i in range(victims)]
    try:
        return await _acks(real, seconds, 0.1)
    finally:
        await close_all([ws for ws, _ in real])


def run_probe(args: argparse.Namespace) -> int:
    if args.probe == "me":
        latencies = asyncio.run(_probe_me(args.probe_port, args.probe_token, args.probe_seconds))
    else:
        latencies = asyncio.run(_probe_acks(args.probe_port, args.probe_seconds, args.probe_count))
    print(json.dumps([round(x, 3) for x in latencies]))
    return 0


# --- 6. sync amplification -------------------------------------------------------------------------------


async def _acks(victims: list[tuple[Any, str]], seconds: float, every: float) -> list[float]:
    """Each victim sends a message every `every` s for `seconds`: the ack latencies, in ms."""
    latencies: list[float] = []

    async def one(ws: Any, name: str) -> None:
        end, n = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            n += 1
            cid = f"{name}-{n}-{uuid.uuid4().hex[:4]}"
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "client_id": cid, "text": f"victim {n}"}))
            if await next_frame(ws, lambda f: f.get("type") == "ack" and f.get("client_id") == cid, timeout=5):
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                latencies.append(5000.0)
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - t0)))

    await asyncio.gather(*(one(ws, name) for ws, name in victims))
    return latencies


async def _sync_amp(world: World, messages: int, sockets: int, seconds: float, victims: int, rate: float) -> dict[str, Any]:
    first, welcome = await visitor(world.ws, "127.0.0.9")
    assert welcome is not None, "the attacker was not welcomed"
    token = welcome["token"]
    await first.send(json.dumps({"type": "message", "client_id": "a-0", "text": "hello"}))
    ack = await next_frame(first, "ack")
    assert ack is not None, "no ack for the attacker's first message"
    conv = ack["conversation"]
    attackers = [first] + [(await visitor(world.ws, "127.0.0.9", token=token))[0] for _ in range(sockets - 1)]

    async def fill(ws: Any, i: int) -> None:  # paced under the frame rate limit
        share = messages // sockets
        for n in range(share):
            await ws.send(json.dumps({"type": "message", "client_id": f"a-{i}-{n}", "text": f"filler {i} {n}"}))
            await asyncio.sleep(1 / rate)
        await next_frame(ws, lambda f: f.get("client_id") == f"a-{i}-{share - 1}" and f.get("type") == "ack", timeout=20)

    t0 = time.monotonic()
    await asyncio.gather(*(fill(ws, i) for i, ws in enumerate(attackers)))
    fill_s = time.monotonic() - t0
    baseline = await probe(world, "acks", 3.0, victims)
    served = Counter[str]()
    stop = asyncio.Event()

    async def attack(ws: Any) -> None:
        async def read() -> None:
            while not stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                except Exception:
                    return
                served[frame.get("type", "?") if frame.get("type") != "error" else frame.get("code", "error")] += 1
        reader = asyncio.create_task(read())
        while not stop.is_set():
            try:
                await ws.send(json.dumps({"type": "sync", "conversation": conv, "after": 0}))
            except Exception:
                break
            await asyncio.sleep(1 / rate)
        await reader

    attacking = [asyncio.create_task(attack(ws)) for ws in attackers]
    await asyncio.sleep(0.5)  # the attack is on
    during = await probe(world, "acks", seconds, victims)
    stop.set()
    await asyncio.gather(*attacking)
    await close_all(attackers)
    return {"conversation_messages": messages, "fill_s": round(fill_s, 1), "baseline_ack_p99_ms": pct(baseline, 99),
            "sync_amp_ack_p99_ms": pct(during, 99), "sync_frames_answered": dict(served)}


def sync_amp(world: World, messages: int = 2000, sockets: int = 10, seconds: float = 8.0, victims: int = 5,
             rate: float = 18.0) -> Outcome:
    figures = asyncio.run(_sync_amp(world, messages, sockets, seconds, victims, rate))
    return Outcome("sync_amp", figures["sync_amp_ack_p99_ms"] < 50, figures)


# --- 4. login flood and brute force ----------------------------------------------------------------------


async def _login_flood(world: World, concurrency: int, seconds: float, wrong: int) -> dict[str, Any]:
    import httpx

    stop = asyncio.Event()
    statuses = Counter[int]()
    baseline = await probe(world, "me", 2.0)  # the same probe with no flood: what this machine gives
    rss: list[float] = [rss_mb(world.pid())]
    rss_before = rss[0]

    async def flood(c: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                r = await c.post("/api/auth/login", json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com",
                                                          "password": "wrong-password"})
                statuses[r.status_code] += 1
                if r.status_code == 429:  # a client told to wait that does not is an attacker anyway: go on
                    await asyncio.sleep(0.05)
            except httpx.HTTPError:
                statuses[0] += 1

    async def sample() -> None:
        while not stop.is_set():
            rss.append(rss_mb(world.pid()))
            await asyncio.sleep(0.2)

    attacker = httpx.AsyncClient(base_url=world.http, timeout=30, transport=httpx.AsyncHTTPTransport(
        local_address="127.0.0.5"), limits=httpx.Limits(max_connections=concurrency))
    async with attacker:
        tasks = [asyncio.create_task(flood(attacker)) for _ in range(concurrency)] + [asyncio.create_task(sample())]
        await asyncio.sleep(1.0)  # the flood is on
        me_ms = await probe(world, "me", seconds - 1.0)
        stop.set()
        await asyncio.gather(*tasks)
    brute = Counter[int]()
    async with httpx.AsyncClient(base_url=world.http, timeout=10, transport=httpx.AsyncHTTPTransport(
            local_address="127.0.0.6")) as c:
        deadline = time.monotonic() + 20
        for _ in range(wrong):
            if time.monotonic() > deadline:
                break
            brute[(await c.post("/api/auth/login", json={"email": world.victim, "password": "not-it"})).status_code] += 1
        right = (await c.post("/api/auth/login", json={"email": world.victim, "password": AGENT_PASSWORD})).status_code
    return {"login_flood_rss_mb": max(rss), "rss_before_mb": rss_before, "me_baseline_p99_ms": pct(baseline, 99),
            "login_flood_me_p99_ms": pct(me_ms, 99),
            "attempts": dict(statuses), "brute_force": dict(brute), "right_password_after": right}


def login_flood(world: World, concurrency: int = 64, seconds: float = 10.0, wrong: int = 40) -> Outcome:
    figures = asyncio.run(_login_flood(world, concurrency, seconds, wrong))
    held = figures["login_flood_rss_mb"] < 600 and figures["login_flood_me_p99_ms"] < 100 \
        and figures["brute_force"].get(429, 0) > 0
    return Outcome("login_flood", held, figures)


# --- 2. connection floods --------------------------------------------------------------------------------


async def _socket_flood(world: World, count: int, concurrency: int) -> dict[str, Any]:
    opened: list[Any] = []
    closes = Counter[str]()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            try:
                ws, welcome = await visitor(world.ws, "127.0.0.4")
            except Exception as exc:
                closes[type(exc).__name__] += 1
                return
            opened.append(ws)
            closes["welcomed" if welcome else f"closed {ws.close_code}"] += 1

    await asyncio.gather(*(one() for _ in range(count)))
    await close_all(opened)
    return {"sockets": count, "welcomed": closes.pop("welcomed", 0), "refused": dict(closes)}


def socket_flood(world: World, count: int = 1000, concurrency: int = 50) -> Outcome:
    from switchboard.settings import ServerSettings

    figures = asyncio.run(_socket_flood(world, count, concurrency))
    limit = getattr(ServerSettings(), "max_sockets_per_address", None)
    return Outcome("socket_flood", limit is not None and figures["welcomed"] <= limit, figures)


async def _slowloris(world: World, count: int, seconds: float) -> dict[str, Any]:
    closed_at: dict[int, float] = {}
    t0 = time.monotonic()

    async def one(i: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", world.serve.port, local_addr=("127.0.0.3", 0))
        except OSError:
            closed_at[i] = 0.0
            return
        writer.write(b"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        n = 0
        while time.monotonic() - t0 < seconds:
            try:
                if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                    break
                break  # an answer (408, 400): the server is done with it
            except asyncio.TimeoutError:
                n += 1
                try:
                    writer.write(f"X-Slow-{n}: {n}\r\n".encode())  # a header line a second, never the end
                    await writer.drain()
                except OSError:
                    break
            except OSError:
                break
        else:
            writer.close()
            return
        closed_at[i] = time.monotonic() - t0
        writer.close()

    await asyncio.gather(*(one(i) for i in range(count)))
    still_open = count - len(closed_at)
    return {"connections": count, "still_open": still_open,
            "slowloris_closed_s": max(closed_at.values()) if closed_at and not still_open else None}


def slowloris(world: World, count: int = 200, seconds: float = 20.0) -> Outcome:
    figures = asyncio.run(_slowloris(world, count, seconds))
    closed = figures["slowloris_closed_s"]
    return Outcome("slowloris", closed is not None and closed <= 10, figures)


async def _fd_flood(world: World, count: int, per_address: int, hold_s: float) -> dict[str, Any]:
    import httpx

    lines0 = log_lines(world)
    flood: list[socket.socket] = []
    failed = 0
    loop = asyncio.get_running_loop()

    def open_some(n: int, first: int) -> tuple[list[socket.socket], int]:
        made, bad = [], 0
        for i in range(first, first + n):
            s = socket.socket()
            s.setblocking(True)
            s.settimeout(2)
            try:
                s.bind((f"127.0.1.{1 + i // per_address}", 0))
                s.connect(("127.0.0.1", world.serve.port))
                made.append(s)
            except OSError:
                bad += 1
                s.close()
        return made, bad

    probes: list[float] = []
    statuses = Counter[str]()
    stop = asyncio.Event()

    async def healthz() -> None:  # a new connection each time, as a load balancer's check: accept must work
        async with httpx.AsyncClient(base_url=world.http, timeout=1.0,
                                     limits=httpx.Limits(max_keepalive_connections=0)) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    statuses[str((await c.get("/healthz")).status_code)] += 1
                    probes.append((time.perf_counter() - t0) * 1000)
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    probes.append(float("inf"))
                await asyncio.sleep(0.2)

    prober = asyncio.create_task(healthz())
    for first in range(0, count, 500):
        made, bad = await loop.run_in_executor(None, open_some, min(500, count - first), first)
        flood += made
        failed += bad
    await asyncio.sleep(1.0)
    welcomed = False
    try:
        ws, welcome = await visitor(world.ws, REAL)
        welcomed = welcome is not None
        await close_all([ws])
    except Exception:
        pass
    await asyncio.sleep(hold_s)
    stop.set()
    await prober
    alive = 0
    for s in flood:  # still held open by the server (not answered and closed)?
        s.setblocking(False)
        try:
            s.recv(1)  # b"": closed by the server; bytes: answered (503)
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    answered = [p for p in probes if p != float("inf")]
    return {"connections": count, "connect_failed": failed, "held_open_by_server": alive,
            "fd_flood_healthz_ok": bool(probes) and len(answered) == len(probes) and max(answered) < 1000,
            "healthz_max_ms": max(answered) if answered else None, "healthz": dict(statuses),
            "real_visitor_welcomed": welcomed, "log_lines": log_lines(world) - lines0}


def fd_flood(world: World, count: int = 3000, per_address: int = 250, hold_s: float = 5.0) -> Outcome:
    figures = asyncio.run(_fd_flood(world, count, per_address, hold_s))
    held = figures["fd_flood_healthz_ok"] and figures["log_lines"] < 50  # a refused real visitor: the total limit
    return Outcome("fd_flood", held, figures)


# --- 1. Redis dies --------------------------------------------------------------------------------------


async def _redis_kill(world: World, sockets: int, rate: float, outage_s: float, settle_s: float) -> dict[str, Any]:
    import httpx
    import psutil

    first, welcome = await visitor(world.ws, "127.0.0.12")
    assert welcome is not None, "the sender was not welcomed"
    token = welcome["token"]
    await first.send(json.dumps({"type": "message", "client_id": "k-open", "text": "opening"}))
    ack = await next_frame(first, "ack")
    assert ack is not None
    conv = ack["conversation"]
    await close_all([first])
    texts: dict[str, str] = {}
    acked: set[str] = set()
    producing = asyncio.Event()
    producing.set()
    deadline = time.monotonic() + 2.0 + outage_s + settle_s
    closes = Counter[str]()

    async def lane(i: int) -> None:
        mine: list[str] = []
        n = 0
        while time.monotonic() < deadline and (producing.is_set() or any(c not in acked for c in mine)):
            try:
                ws, hello = await visitor(world.ws, "127.0.0.12", token=token)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            if hello is None:
                closes[f"no welcome {ws.close_code}"] += 1
                await close_all([ws])
                await asyncio.sleep(0.5)
                continue
            todo = [c for c in mine if c not in acked]  # re-sent with the same client id, as a client does

            async def read() -> None:
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "ack" and frame.get("client_id"):
                        acked.add(frame["client_id"])

            reader = asyncio.create_task(read())
            last_pass = time.monotonic()
            try:
                while time.monotonic() < deadline and not reader.done():
                    if todo:
                        cid = todo.pop(0)
                    elif producing.is_set():
                        n += 1
                        cid = f"k{i}-{n}"
                        texts[cid] = f"lane {i} message {n}"
                        mine.append(cid)
                    elif all(c in acked for c in mine):
                        break
                    else:
                        cid = ""
                        if time.monotonic() - last_pass > 3:  # unacked for a while: again
                            todo, last_pass = [c for c in mine if c not in acked], time.monotonic()
                    if cid:
                        await ws.send(json.dumps({"type": "message", "client_id": cid, "text": texts[cid]}))
                    await asyncio.sleep(1 / rate)
            except Exception:
                pass
            if ws.close_code:
                closes[str(ws.close_code)] += 1
            await close_all([ws])
            reader.cancel()

    async def kill_and_watch() -> dict[str, Any]:
        await asyncio.sleep(2.0)
        victims = [c for c in psutil.Process(world.pid()).children(recursive=True) if "redis" in c.name()]
        for c in victims:
            c.kill()
        dead = {c.pid for c in victims}
        killed_at = time.monotonic()
        seen = Counter[str]()
        back = None
        async with httpx.AsyncClient(base_url=world.http, timeout=1.0) as c:
            while time.monotonic() - killed_at < outage_s or (back is None and time.monotonic() < deadline):
                try:
                    seen[f"readyz {(await c.get('/readyz')).status_code}"] += 1
                except httpx.HTTPError:
                    seen["readyz no answer"] += 1
                if back is None and any("redis" in k.name() and k.pid not in dead
                                        for k in psutil.Process(world.pid()).children(recursive=True)):
                    back = time.monotonic() - killed_at
                if time.monotonic() - killed_at >= outage_s:
                    producing.clear()
                await asyncio.sleep(0.25)
        producing.clear()
        return {"killed": len(victims), "redis_back_s": back, "readyz": dict(seen)}

    watch = asyncio.create_task(kill_and_watch())
    await asyncio.gather(*(lane(i) for i in range(sockets)))
    watched = await watch
    await asyncio.sleep(1.0)
    from switchboard.store.archive import messages_between
    from switchboard.store.connection import connect

    connect(world.mongodb_uri)
    stored = Counter(m.get("client_id") for m in messages_between(conv, 0, None, limit=10 ** 6))
    return {"sent": len(texts), "acked": len(acked), "unacked_at_end": len(set(texts) - acked),
            "redis_kill_acked_lost": len([c for c in acked if c in texts and stored[c] == 0]),
            "redis_kill_duplicates": sum(n - 1 for c, n in stored.items() if c and n > 1),
            **watched, "socket_closes": dict(closes)}


def redis_kill(world: World, sockets: int = 10, rate: float = 15.0, outage_s: float = 5.0, settle_s: float = 25.0) -> Outcome:
    figures = asyncio.run(_redis_kill(world, sockets, rate, outage_s, settle_s))
    held = figures["redis_kill_acked_lost"] == 0 and figures["redis_kill_duplicates"] == 0 \
        and figures["unacked_at_end"] == 0
    return Outcome("redis_kill", held, figures)


# --- the run ---------------------------------------------------------------------------------------------


def attacks(args: argparse.Namespace) -> dict[str, Callable[[World], Outcome]]:
    q = args.quick
    return {
        "oversized_text": lambda w: oversized_text(w, seconds=5.0 if q else 10.0),
        "small_checks": small_checks,
        "state_ttl": lambda w: state_ttl(w, count=60 if q else 2000),
        "queue_spam": lambda w: queue_spam(w, count=100 if q else 300),
        "sync_amp": lambda w: sync_amp(w, messages=1000 if q else 2000, seconds=6.0 if q else 15.0),
        "login_flood": lambda w: login_flood(w, seconds=8.0 if q else 20.0, wrong=40),
        "socket_flood": lambda w: socket_flood(w, count=300 if q else 1000),
        "slowloris": lambda w: slowloris(w, count=100 if q else 200, seconds=15.0 if q else 30.0),
        "fd_flood": lambda w: fd_flood(w, count=args.serve_nofile + 500, hold_s=3.0 if q else 10.0),
        "redis_kill": lambda w: redis_kill(w, outage_s=4.0 if q else 8.0, settle_s=20.0 if q else 40.0),
    }


KEYS = ("redis_kill_acked_lost", "redis_kill_duplicates", "fd_flood_healthz_ok", "slowloris_closed_s",
        "login_flood_rss_mb", "login_flood_me_p99_ms", "queue_spam_position", "sync_amp_ack_p99_ms")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="smaller counts and shorter holds: every attack in < 3 minutes")
    p.add_argument("--only", default="", help="comma-separated attack names (default: all, in order)")
    p.add_argument("--serve-nofile", type=int, default=2048, help="serve's file descriptor limit (soft and hard)")
    p.add_argument("--grace", type=float, default=5.0, help="serve's visitor_gone_grace_s for the queue spam")
    p.add_argument("--probe", choices=("me", "acks"), help=argparse.SUPPRESS)  # the child process of `probe`
    p.add_argument("--probe-port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--probe-token", default="", help=argparse.SUPPRESS)
    p.add_argument("--probe-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--probe-count", type=int, default=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.probe:
        return run_probe(args)
    raise_nofile()
    chosen = attacks(args)
    names = [n for n in args.only.split(",") if n] or list(chosen)
    unknown = set(names) - set(chosen)
    if unknown:
        print(f"unknown attacks {sorted(unknown)}; known: {', '.join(chosen)}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="sb-abuse-"))
    out: dict[str, Any] = {"quick": args.quick}
    outcomes: list[Outcome] = []
    world: World | None = None
    try:
        log(f"switchboard admin create + serve (data dir {tmp}, fd limit {args.serve_nofile})")
        world = start_world(args, tmp)
        for name in names:
            log(f"attack: {name}")
            started = time.monotonic()
            try:
                outcome = chosen[name](world)
            except Exception as exc:
                outcome = Outcome(name, None, note=f"{type(exc).__name__}: {exc}"[:200])
            outcome.figures["s"] = round(time.monotonic() - started, 1)
            outcomes.append(outcome)
            print(outcome.line(), flush=True)
            out.update({k: v for k, v in outcome.figures.items() if k in KEYS})
            out[f"{name}_held"] = outcome.held
    finally:
        if world is not None:
            out["server_problems"] = world.serve.problems()[:10]
            out["server_stop"] = world.serve.stop()
    for key in KEYS:
        out.setdefault(key, None)
    out["held"] = sum(1 for o in outcomes if o.held)
    out["failed"] = [o.name for o in outcomes if not o.held]
    out["total_s"] = round(time.monotonic() - t0, 1)
    if not out["server_problems"]:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        out["server_log"] = str(world.serve.log_path) if world else None
    print(json.dumps(out, default=str))
    return 0 if not out["failed"] else 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
