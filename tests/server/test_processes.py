"""`switchboard serve` as users run it: several edge processes, and a kill -9 followed by a restart.

These start the real command in a subprocess (embedded Redis and store under a
temporary data dir) and talk to it over TCP like any client.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.server.conftest import Client, free_port

BIN = Path(sys.executable).parent / "switchboard"
ADMIN = ("root@example.com", "root-password-1")


class Serve:
    def __init__(self, data_dir: Path, *args: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_SETTINGS": "/dev/null",
                    "SWITCHBOARD_REPORT_KEEPER": "process"}  # serve's default (tests/conftest.py sets thread)
        self.log = open(data_dir / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen([str(BIN), "serve", "--port", str(self.port), *args], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, edges: int = 1, timeout: float = 180) -> None:
        deadline, seen = time.monotonic() + timeout, set[str]()
        while len(seen) < edges:
            assert self.proc.poll() is None, f"serve exited: {Path(self.log.name).read_text()[-3000:]}"
            assert time.monotonic() < deadline, "serve did not become ready"
            try:
                seen.add(httpx.get(f"{self.url}/healthz", timeout=2).json()["edge"])
            except (httpx.HTTPError, ValueError):
                time.sleep(0.3)

    def ws(self, path: str) -> Client:
        from websockets.sync.client import connect

        return Client(connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10))

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


def create_admin(data_dir: Path) -> None:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_SETTINGS": "/dev/null"}
    done = subprocess.run([str(BIN), "admin", "create", "--email", ADMIN[0], "--password-stdin"], env=env,
                          input=ADMIN[1].encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def setup_agent(url: str, group: str, saturation: int) -> tuple[str, str]:
    api = httpx.Client(base_url=url, timeout=10)
    admin = api.post("/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).json()["token"]
    headers = {"Authorization": f"Bearer {admin}"}
    api.post("/api/groups", json={"id": group}, headers=headers)
    agent = api.post("/api/agents", headers=headers, json={"email": f"{group}@example.com", "password": "agent-pass-1",
                                                           "nickname": "Ann", "saturation": saturation, "groups": [group]})
    assert agent.status_code == 201, agent.text
    token = api.post("/api/auth/login", json={"email": f"{group}@example.com", "password": "agent-pass-1"}).json()["token"]
    return agent.json()["id"], token


def hello(serve: Serve, path: str, **fields: Any) -> tuple[Client, dict[str, Any]]:
    client = serve.ws(path)
    client.send("hello", **fields)
    return client, client.wait("welcome", timeout=10)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    create_admin(tmp_path)
    yield tmp_path


@pytest.mark.ray
def test_a_visitor_on_one_edge_and_an_agent_on_another_talk_both_ways_in_order(data_dir: Path) -> None:
    serve = Serve(data_dir, "--edges", "2")
    try:
        serve.wait_ready(edges=2)
        _, token = setup_agent(serve.url, "multi", saturation=2)
        agent, agent_hello = hello(serve, "/ws/agent", token=token)
        guest, guest_hello = hello(serve, "/ws/visitor")
        for _ in range(30):  # the kernel spreads connections over the edges; find a visitor on the other one
            if guest_hello["edge"] != agent_hello["edge"]:
                break
            guest.close()
            guest, guest_hello = hello(serve, "/ws/visitor")
        assert guest_hello["edge"] != agent_hello["edge"]

        agent.send("presence", presence="online")
        guest.send("request_human", group="multi")
        conv = agent.wait("conversation_assigned", timeout=10)["conversation"]
        guest.wait("assigned", timeout=10)
        for i in range(5):
            guest.send("message", client_id=f"v{i}", text=f"visitor {i}")
            agent.send("message", conversation=conv, client_id=f"a{i}", text=f"agent {i}")
        to_agent = [agent.wait("message", timeout=10)["text"] for _ in range(5)]
        to_guest = [guest.wait("message", timeout=10)["text"] for _ in range(5)]

        assert to_agent == [f"visitor {i}" for i in range(5)]
        assert to_guest == [f"agent {i}" for i in range(5)]
    finally:
        assert serve.stop() == 0


def test_after_kill_9_open_conversations_transcripts_and_queue_order_come_back(data_dir: Path) -> None:
    serve = Serve(data_dir)
    serve.wait_ready()
    agent_id, token = setup_agent(serve.url, "support", saturation=1)
    agent, _ = hello(serve, "/ws/agent", token=token)
    agent.send("presence", presence="online")
    served, served_hello = hello(serve, "/ws/visitor")
    served.send("request_human", group="support")
    conv = agent.wait("conversation_assigned")["conversation"]
    served.send("message", client_id="m1", text="my parcel is lost")
    served.wait("ack")
    agent.send("message", conversation=conv, client_id="a1", text="I will find it")
    served.wait("message")
    waiting = []
    for i in range(3):
        guest, welcome = hello(serve, "/ws/visitor")
        guest.send("message", client_id="q", text=f"waiting {i}")
        guest.send("request_human", group="support")
        guest.wait("queue_position")
        waiting.append(welcome["token"])

    serve.stop(signal.SIGKILL)
    again = Serve(data_dir)
    try:
        again.wait_ready()
        back, welcome = hello(again, "/ws/visitor", token=served_hello["token"], last_seq={conv: 0})
        transcript = [back.wait("message")["text"], back.wait("message")["text"]]
        agent2, snapshot = hello(again, "/ws/agent", token=token)

        assert welcome["conversation"]["phase"] == "assigned" and welcome["conversation"]["agent"]["id"] == agent_id
        assert transcript == ["my parcel is lost", "I will find it"]
        assert snapshot["presence"] == "offline" and [c["id"] for c in snapshot["conversations"]] == [conv]
        queued_visitors = [w["visitor"] for w in snapshot["queues"]["support"]]
        expected = [hello(again, "/ws/visitor", token=t)[1]["visitor"] for t in waiting]
        assert queued_visitors == expected
    finally:
        assert again.stop() == 0


def _edges_of(pid: int) -> set[int]:
    """The edge processes under `pid`."""
    return {child for child, cmd in _descendants(pid).items() if b"switchboard.processes.edge_worker" in cmd}


@pytest.mark.ray
def test_edges_end_with_serve_even_when_it_is_killed_with_kill_9(data_dir: Path) -> None:
    serve = Serve(data_dir, "--edges", "2")
    serve.wait_ready(edges=2)
    edges = _edges_of(serve.proc.pid)
    assert len(edges) == 2

    serve.stop(signal.SIGKILL)  # no clean stop: the kernel tells the edges
    try:
        deadline = time.monotonic() + 30
        while edges & _running():
            assert time.monotonic() < deadline, f"edges still running 30 s after serve was killed: {edges}"
            time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # nothing is left taking connections on the port
            httpx.get(f"{serve.url}/healthz", timeout=2)
    finally:
        for pid in edges & _running():
            os.kill(pid, signal.SIGKILL)
        again = Serve(data_dir)  # the embedded servers outlive a kill -9; a restart replaces and then stops them
        again.wait_ready()
        assert again.stop() == 0


def _running() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def _descendants(pid: int) -> dict[int, bytes]:
    """Every process under `pid`, with its command line."""
    parents, cmdlines = {}, {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdlines[int(proc.name)] = (proc / "cmdline").read_bytes()
        except OSError:
            continue
    found, frontier = {}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found.update({child: cmdlines[child] for child in frontier})
    return found


@pytest.mark.ray
def test_when_a_ray_host_dies_serve_says_so_and_exits_1_and_a_restart_brings_the_queue_back(data_dir: Path) -> None:
    serve = Serve(data_dir, "--edges", "2")
    serve.wait_ready(edges=2)
    _, token = setup_agent(serve.url, "support", saturation=1)  # offline: the visitor waits in the queue
    guest, welcome = hello(serve, "/ws/visitor")
    guest.send("request_human", group="support")
    guest.wait("queue_position", timeout=10)
    hosts = [pid for pid, cmd in _descendants(serve.proc.pid).items() if cmd.startswith(b"ray::RayHost")]
    assert hosts, "no Ray host process found under serve"

    os.kill(hosts[0], signal.SIGKILL)

    try:
        assert serve.proc.wait(timeout=60) == 1
        assert "the engine cannot go on: ray host" in Path(serve.log.name).read_text()
    finally:
        serve.stop(signal.SIGKILL)  # if it is still running; its edges end with it
        again = Serve(data_dir)  # (and if it is not, this restart also stops what it left)
    try:
        again.wait_ready()
        _, snapshot = hello(again, "/ws/agent", token=token)
        assert [w["visitor"] for w in snapshot["queues"]["support"]] == [welcome["visitor"]]
    finally:
        assert again.stop() == 0
