"""`switchboard serve --edges 2` as users meet it: settings on every edge, renames, and an edge that dies.

One real server for the module (a local Ray cluster takes several seconds to start); the test that kills
an edge runs last. The settings file turns on ``require_email`` and turns the bot off.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import Client
from tests.server.test_processes import ADMIN, Serve, create_admin, hello, setup_agent

pytestmark = pytest.mark.ray

SETTINGS = "server:\n  require_email: 1\nbot:\n  enabled: false\n"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data_dir = tmp_path_factory.mktemp("multiedge")
    create_admin(data_dir)
    (data_dir / "settings.yaml").write_text(SETTINGS)
    server = Serve(data_dir, "--edges", "2", "--settings", str(data_dir / "settings.yaml"))
    try:
        server.wait_ready(edges=2)
        yield server
    finally:
        assert server.stop() == 0


def visitor_on_another_edge(serve: Serve, edge: str, **fields: Any) -> tuple[Client, dict[str, Any]]:
    """The kernel spreads connections over the edges: connect until one lands on an edge other than `edge`."""
    for _ in range(40):
        client, welcome = hello(serve, "/ws/visitor", **fields)
        if welcome["edge"] != edge:
            return client, welcome
        client.close()
    raise AssertionError(f"every visitor landed on edge {edge}")


def edges_answering(serve: Serve, tries: int = 30) -> set[str]:
    seen = set()
    for _ in range(tries):
        seen.add(httpx.get(f"{serve.url}/healthz", timeout=5).json()["edge"])
    return seen


def edge_pid_serving(serve: Serve, client: Client) -> int:
    """The edge process holding `client`'s socket (from /proc: the socket's inode, then whose fd it is)."""
    port = client.conn.socket.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            if local == serve.port and remote == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"switchboard.processes.edge_worker" not in (proc / "cmdline").read_bytes():
                continue
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no edge process holds the socket from port {port}")


def closed(client: Client, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.next(timeout=deadline - time.monotonic())
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False
    return False


def test_require_email_in_the_settings_holds_on_every_edge(serve: Serve) -> None:
    asked: dict[str, bool] = {}
    for _ in range(40):
        client, welcome = hello(serve, "/ws/visitor")
        asked[welcome["edge"]] = welcome["require_email"]
        client.send("request_human")
        error = client.wait("error", timeout=10)
        client.close()
        assert error["code"] == "email_required", error
        if len(asked) == 2:
            break
    assert asked == dict.fromkeys(asked, True) and len(asked) == 2


def chat_across_edges(serve: Serve, group: str, saturation: int, email: str) -> tuple[Any, ...]:
    """An online agent of `group` on one edge serving a new visitor on the other: (agent id, agent token, agent
    socket, its welcome, visitor socket, its welcome, the conversation, the visitor's `assigned` frame)."""
    agent_id, token = setup_agent(serve.url, group, saturation=saturation)
    agent, agent_hello = hello(serve, "/ws/agent", token=token)
    agent.send("presence", presence="online")
    guest, guest_hello = visitor_on_another_edge(serve, agent_hello["edge"], email=email)
    guest.send("request_human", group=group)
    assigned = guest.wait("assigned", timeout=10)
    conv = agent.wait("conversation_assigned", timeout=10)["conversation"]
    return agent_id, token, agent, agent_hello, guest, guest_hello, conv, assigned


def test_a_renamed_agent_shows_the_new_name_to_visitors_within_a_second_or_so(serve: Serve) -> None:
    group = f"rename{uuid.uuid4().hex[:6]}"
    agent_id, token, agent, agent_hello, guest, _, conv, assigned = chat_across_edges(serve, group, 3, "first@example.com")
    assert assigned["agent"]["name"] == "Ann"

    api = httpx.Client(base_url=serve.url, timeout=10)
    admin = api.post("/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).json()["token"]
    renamed = api.patch(f"/api/agents/{agent_id}", json={"nickname": "Annie"},
                        headers={"Authorization": f"Bearer {admin}"})
    assert renamed.status_code == 200, renamed.text
    started, names = time.monotonic(), []
    for i in range(12):  # a message every 0.25 s: the name changes within about a second
        agent.send("message", conversation=conv, client_id=f"r{i}", text=f"reply {i}")
        names.append(guest.wait("message", timeout=10, text=f"reply {i}")["sender"]["name"])
        if names[-1] == "Annie":
            break
        time.sleep(0.25)
    assert names[-1] == "Annie" and time.monotonic() - started < 3, names

    second, _ = visitor_on_another_edge(serve, agent_hello["edge"], email="second@example.com")
    second.send("request_human", group=group)
    assert second.wait("assigned", timeout=10)["agent"]["name"] == "Annie"
    for client in (agent, guest, second):
        client.close()


@contextlib.contextmanager
def log_on_failure(serve: Serve) -> Iterator[None]:
    """A failure here depends on timing across processes: say what the server logged."""
    try:
        yield
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc!r}; the server's log ends:\n{Path(serve.log.name).read_text()[-6000:]}") from exc


def test_when_an_edge_dies_the_other_serves_on_and_its_clients_come_back_where_they_were(serve: Serve) -> None:
    with log_on_failure(serve):
        an_edge_dies_and_its_clients_come_back(serve)


def an_edge_dies_and_its_clients_come_back(serve: Serve) -> None:
    group = f"kill{uuid.uuid4().hex[:6]}"
    _, token, agent, agent_hello, guest, guest_hello, conv, _ = chat_across_edges(serve, group, 2, "guest@example.com")
    guest.send("message", client_id="v1", text="my order is late")
    assert agent.wait("message", timeout=10, text="my order is late")["seq"] == 1

    os.kill(edge_pid_serving(serve, agent), signal.SIGKILL)  # the agent's edge, not the visitor's
    assert closed(agent)
    guest.send("message", client_id="v2", text="hello? are you still there?")  # while the agent is away
    assert guest.wait("ack", timeout=10, client_id="v2")["seq"] == 2

    deadline = time.monotonic() + 60  # the dead edge is started again, under a new id
    while not edges_answering(serve) - {agent_hello["edge"], guest_hello["edge"]}:
        assert time.monotonic() < deadline, "the dead edge was not started again"
        time.sleep(0.5)
    guest.send("ping")  # the visitor's socket stayed open all along
    guest.wait("pong", timeout=5)

    back, welcome = hello(serve, "/ws/agent", token=token, last_seq={conv: 1})
    assert welcome["presence"] == "offline"  # as after any disconnect; the grace keeps the conversation
    assert [c["id"] for c in welcome["conversations"]] == [conv]
    assert back.wait("message", timeout=10, conversation=conv)["text"] == "hello? are you still there?"
    back.send("presence", presence="online")
    back.send("message", conversation=conv, client_id="a1", text="sorry, here now")
    assert guest.wait("message", timeout=10, client_id="a1")["text"] == "sorry, here now"

    log = Path(serve.log.name).read_text()
    assert "exited unexpectedly" in log and "started again" in log
    for client in (back, guest):
        client.close()
