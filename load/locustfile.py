"""Locust load test: visitors ask for a person and chat with agents, over the real websockets.

    switchboard serve &                                   # or any deployment
    LOAD_ADMIN_EMAIL=a@b.cc LOAD_ADMIN_PASSWORD=adminpass1 \
      locust -f load/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000 --csv var/locust

Users (gevent, websocket-client's blocking client, which locust's monkey-patching makes cooperative):

- ``AgentUser`` (exactly LOAD_AGENTS of them, ``fixed_count``): logs in over REST with an account made at
  test start, goes online, replies to every visitor message, closes a conversation after LOAD_EXCHANGES
  visitor messages.
- ``VisitorUser`` (all other users): hello, ``request_human`` to LOAD_GROUP, waits for ``assigned``,
  sends LOAD_EXCHANGES messages (each waits for its ack and for the agent's reply), waits for ``closed``,
  rates 5, disconnects, pauses, starts again as a new visitor.

Timings are reported as Locust requests of type ``WS`` (so they are in the stats, p50/p95/p99, and the CSV):

- ``enqueue->assigned``          request_human sent to ``assigned`` received (visitor)
- ``visitor->agent delivery``    the visitor's send time is in the text; measured when the agent reads it
- ``visitor message ack``        message sent to its ``ack`` (stored in the store, then acked)
- ``agent reply round trip``     visitor message sent to the agent's reply received (visitor)
- ``visitor welcome`` / ``agent welcome``   connect + hello to welcome
- ``close->closed``, ``rate->rated``
Errors (timeouts, ``error`` frames, lost sockets) are reported as failures of the step they broke.

Environment: LOAD_ADMIN_EMAIL / LOAD_ADMIN_PASSWORD (an admin, see ``switchboard admin create``; without them
the agents must exist already as LOAD_AGENT_EMAIL_PATTERN with LOAD_AGENT_PASSWORD, in LOAD_GROUP),
LOAD_GROUP (default "load"), LOAD_AGENTS (5), LOAD_SATURATION (5), LOAD_EXCHANGES (3),
LOAD_AGENT_PASSWORD ("load-agent-pass"), LOAD_AGENT_EMAIL_PATTERN ("load-agent-{i}@example.com"),
LOAD_THINK_S (visitor pause between messages, 0.5), LOAD_TIMEOUT_S (frame wait limit, 30).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
import websocket  # websocket-client
from locust import HttpUser, User, between, events, task
from locust.exception import StopUser

GROUP = os.environ.get("LOAD_GROUP", "load")
AGENTS = int(os.environ.get("LOAD_AGENTS", "5"))
SATURATION = int(os.environ.get("LOAD_SATURATION", "5"))
EXCHANGES = int(os.environ.get("LOAD_EXCHANGES", "3"))
AGENT_PASSWORD = os.environ.get("LOAD_AGENT_PASSWORD", "load-agent-pass")
AGENT_EMAIL = os.environ.get("LOAD_AGENT_EMAIL_PATTERN", "load-agent-{i}@example.com")
THINK_S = float(os.environ.get("LOAD_THINK_S", "0.5"))
TIMEOUT_S = float(os.environ.get("LOAD_TIMEOUT_S", "30"))

_agent_index = itertools.count()


def fire(name: str, ms: float, exc: BaseException | None = None) -> None:
    events.request.fire(request_type="WS", name=name, response_time=ms, response_length=0, exception=exc,
                        context={})


class FrameError(Exception):
    """An error frame, a timeout or a lost socket where the protocol promised a frame."""


# --- accounts ----------------------------------------------------------------------------------------


@events.test_start.add_listener
def make_accounts(environment: Any, **_: Any) -> None:
    """With an admin in the environment: the group and LOAD_AGENTS agents (existing ones are kept)."""
    email, password = os.environ.get("LOAD_ADMIN_EMAIL"), os.environ.get("LOAD_ADMIN_PASSWORD")
    if not email or not password:
        print(f"locustfile: no LOAD_ADMIN_EMAIL; expecting {AGENTS} agents {AGENT_EMAIL} in group {GROUP!r}")
        return
    host = (environment.host or "http://127.0.0.1:8000").rstrip("/")
    r = requests.post(f"{host}/api/auth/login", json={"email": email, "password": password}, timeout=10)
    r.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    r = s.post(f"{host}/api/groups", json={"id": GROUP}, timeout=10)
    if r.status_code not in (201, 409):
        raise RuntimeError(f"POST /api/groups: {r.status_code} {r.text}")
    made = 0
    for i in range(AGENTS):
        r = s.post(f"{host}/api/agents", json={"email": AGENT_EMAIL.format(i=i), "password": AGENT_PASSWORD,
                                               "nickname": f"Agent {i}", "saturation": SATURATION,
                                               "groups": [GROUP]}, timeout=10)
        if r.status_code == 201:
            made += 1
        elif r.status_code != 409:
            raise RuntimeError(f"POST /api/agents: {r.status_code} {r.text}")
    print(f"locustfile: group {GROUP!r}, {AGENTS} agents ({made} new), saturation {SATURATION}")


# --- a socket with frame helpers ----------------------------------------------------------------


class Socket:
    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=TIMEOUT_S, enable_multithread=False)

    def send(self, type_: str, **fields: Any) -> None:
        self.ws.send(json.dumps({"type": type_, **fields}))

    def next(self, timeout: float) -> dict[str, Any] | None:
        self.ws.settimeout(max(timeout, 0.001))
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            raise FrameError(f"socket lost: {exc}") from None
        if not raw:
            raise FrameError("socket closed by the server")
        frame: dict[str, Any] = json.loads(raw)
        return frame

    def wait(self, type_: str, timeout: float = TIMEOUT_S, on_other: Callable[[dict[str, Any]], None] | None = None,
             **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FrameError(f"no {type_} frame within {timeout:.0f} s")
            frame = self.next(left)
            if frame is None:
                continue
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                return frame
            if frame["type"] == "error":
                raise FrameError(f"error frame {frame.get('code')}: {frame.get('message')}")
            if on_other is not None:
                on_other(frame)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def ws_url(host: str, path: str) -> str:
    return host.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + path


class Step:
    """Times one protocol step and reports it (failures included) as a WS request."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        ms = (time.perf_counter() - self.t0) * 1000
        if exc is None:
            fire(self.name, ms)
        elif isinstance(exc, (FrameError, OSError, websocket.WebSocketException)):
            fire(self.name, ms, exc)
        return False


# --- the users ------------------------------------------------------------------------------------


class VisitorUser(User):
    weight = 10
    wait_time = between(0.5, 2.0)

    @task
    def conversation(self) -> None:
        try:
            with Step("visitor welcome"):
                sock = Socket(ws_url(self.host, "/ws/visitor"))
                sock.send("hello", page="https://load.example.com/")
                sock.wait("welcome")
        except Exception:
            return
        try:
            self._talk(sock)
        except (FrameError, OSError, websocket.WebSocketException):
            pass  # reported by the step that failed
        finally:
            sock.close()

    def _talk(self, sock: Socket) -> None:
        with Step("enqueue->assigned"):
            sock.send("request_human", group=GROUP)
            assigned = sock.wait("assigned", timeout=max(TIMEOUT_S, 90))
        del assigned
        conv = None
        replied = time.perf_counter()
        for i in range(EXCHANGES):
            cid = uuid.uuid4().hex[:12]
            t0 = time.perf_counter()
            sock.send("message", client_id=cid, text=f"sent@{time.time():.6f} question {i}")
            with Step("visitor message ack") as step:
                step.t0 = t0
                ack = sock.wait("ack", client_id=cid)
            conv = ack["conversation"]
            with Step("agent reply round trip") as step:
                step.t0 = t0
                sock.wait("message", conversation=conv)
            replied = time.perf_counter()
            if i < EXCHANGES - 1:
                self.wait_think()  # not after the last reply: the agent closes right after it
        with Step("agent close->visitor closed") as step:
            step.t0 = replied  # from the last reply, which the agent follows with its close
            sock.wait("closed", conversation=conv)
        with Step("rate->rated"):
            sock.send("rate", conversation=conv, score=5, comment="load test")
            sock.wait("rated")

    def wait_think(self) -> None:
        if THINK_S > 0:
            time.sleep(THINK_S)


class AgentUser(HttpUser):
    fixed_count = AGENTS
    wait_time = between(0, 0)

    def on_start(self) -> None:
        i = next(_agent_index) % AGENTS
        self.email = AGENT_EMAIL.format(i=i)
        with self.client.post("/api/auth/login", json={"email": self.email, "password": AGENT_PASSWORD},
                              name="/api/auth/login (agent)", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} {r.text[:200]}")
                raise StopUser()
            token = r.json()["token"]
        with Step("agent welcome"):
            self.sock = Socket(ws_url(self.host, "/ws/agent"))
            self.sock.send("hello", token=token)
            self.sock.wait("welcome")
        self.sock.send("presence", presence="online")
        self.counts: dict[str, int] = {}

    def on_stop(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()

    @task
    def work(self) -> None:
        try:
            frame = self.sock.next(1.0)
        except FrameError as exc:
            fire("agent socket", 0, exc)
            raise StopUser() from None
        if frame is None:
            return
        kind = frame["type"]
        if kind == "conversation_assigned":
            self.counts[frame["conversation"]] = 0
        elif kind == "message" and frame.get("sender", {}).get("role") == "visitor":
            self._visitor_message(frame)
        elif kind in ("closed", "conversation_removed", "abandoned"):
            self.counts.pop(frame.get("conversation"), None)
        elif kind == "error" and frame.get("code") != "rate_limited":
            fire(f"agent error frame ({frame.get('in_reply_to') or '-'})", 0,
                 FrameError(f"{frame.get('code')}: {frame.get('message')}"))

    def _visitor_message(self, frame: dict[str, Any]) -> None:
        text, conv = frame.get("text", ""), frame["conversation"]
        if text.startswith("sent@"):
            sent = float(text[5:].split(" ", 1)[0])
            fire("visitor->agent delivery", max(0.0, (time.time() - sent) * 1000))
        n = self.counts.get(conv, 0) + 1
        self.counts[conv] = n
        self.sock.send("message", conversation=conv, client_id=uuid.uuid4().hex[:12], text=f"answer {n}")
        if n >= EXCHANGES:
            self.sock.send("close", conversation=conv)
            self.counts.pop(conv, None)
