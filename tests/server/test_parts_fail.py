"""Parts that fail: the embedded Redis or store killed under a running server (issue 17, finding 1).

The server runs on its own embedded servers, started by serve's own :class:`Backends` (with the
watchdog), because these tests kill them with SIGKILL. Each test kills one part and checks what a
client sees while it is down and after it is back.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed

from switchboard.edges import codes
from switchboard.edges.protocol import CLOSE_UNAVAILABLE
from switchboard.processes.backends import Backends as ServeBackends
from switchboard.settings import ServerSettings
from switchboard.store.documents import Message
from tests.server.conftest import Backends, Client, Server, admin_token, agent_socket, api, ensure_admin, free_port, \
    chat, make_config, visitor

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    data = tmp_path_factory.mktemp("parts")
    # Restarted after 3 s: an outage the monitor sees (a store back within a ping's second goes unnoticed).
    settings = ServerSettings.from_mapping({"data_dir": str(data), "part_restart_delay_s": 3.0})
    with ExitStack() as stack:
        backends = ServeBackends(settings, stack)  # serve's: the embedded servers and their watchdog
        config = make_config(Backends(data, backends.redis_url, backends.mongodb_uri), part_probe_interval_s=0.2)
        server = Server(config, free_port()).start()
        ensure_admin()
        yield server, data
        server.stop()


def kill(pid_file: Path) -> None:
    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


def kill_redis(data: Path) -> None:
    kill(data / "redis" / "redis.pid")


def kill_store(data: Path) -> None:
    kill(data / "mongo.pid")


def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def ready(server: Server) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200


def closed_with(client: Client, timeout: float = 10.0) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes the socket: the close code and the frames before it."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            frames.append(client.next(deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd is not None else None), frames
    raise AssertionError(f"the socket stayed open for {timeout} s; saw {frames[-5:]}")


def test_a_killed_redis_is_reported_refused_politely_and_restarted(parts: tuple[Server, Path]) -> None:
    server, data = parts
    eventually(lambda: ready(server), what="ready before the kill")
    token = admin_token(server)
    guest, _ = visitor(server)

    kill_redis(data)

    code, frames = closed_with(guest)
    assert code == CLOSE_UNAVAILABLE
    assert [f["code"] for f in frames if f["type"] == "error"] == [codes.UNAVAILABLE]
    readyz = httpx.get(f"{server.url}/readyz", timeout=5)
    assert readyz.status_code == 503 and readyz.json()["down"] == ["redis"]
    health = httpx.get(f"{server.url}/healthz", timeout=5).json()
    assert health["ok"] is False and health["parts"]["redis"]["state"] == "down"
    assert health["parts"]["store"]["state"] == "up"
    me = api(server, token).get("/api/me")
    assert me.status_code == 503 and me.json()["error"]["code"] == codes.UNAVAILABLE
    assert me.headers["retry-after"]
    late = Client(server.ws("/ws/visitor"))  # told at once, before its hello
    code, frames = closed_with(late)
    assert code == CLOSE_UNAVAILABLE and frames[0]["code"] == codes.UNAVAILABLE

    eventually(lambda: ready(server), what="Redis restarted and the edge ready again")
    newcomer, welcome = visitor(server)
    assert welcome["visitor"]
    newcomer.send("message", client_id="hello-again", text="anyone there?")
    assert newcomer.wait("ack", client_id="hello-again")["seq"] >= 1
    assert api(server, token).get("/api/me").status_code == 200


def test_messages_re_sent_after_a_redis_outage_are_stored_once(parts: tuple[Server, Path]) -> None:
    server, data = parts
    eventually(lambda: ready(server), what="ready before the kill")
    guest, welcome = visitor(server)
    guest.send("message", client_id="first", text="before the outage")
    conversation = guest.wait("ack", client_id="first")["conversation"]
    ids = [f"during-{i}" for i in range(300)]

    kill_redis(data)
    with pytest.raises(ConnectionClosed):  # the visitor keeps sending until its socket is closed
        for client_id in ids:
            guest.send("message", client_id=client_id, text=f"sent while Redis is dying: {client_id}")
            time.sleep(0.002)
        closed_with(guest)

    eventually(lambda: ready(server), what="Redis restarted and the edge ready again")
    again, _ = visitor(server, token=welcome["token"])
    for client_id in ids:  # the widget re-sends everything that was not acked, with the same client ids
        again.send("message", client_id=client_id, text=f"sent while Redis is dying: {client_id}")
    acked = {again.wait("ack", timeout=20)["client_id"] for _ in ids}
    assert acked == set(ids)
    stored = [m.client_id for m in Message.objects(conversation=conversation, client_id__in=ids)]
    assert sorted(stored) == sorted(ids), "each re-sent message is stored exactly once"


def test_a_killed_store_is_reported_refused_politely_and_restarted(parts: tuple[Server, Path]) -> None:
    server, data = parts
    eventually(lambda: ready(server), what="ready before the kill")
    token = admin_token(server)
    guest, welcome = visitor(server)

    kill_store(data)

    code, _ = closed_with(guest)
    assert code == CLOSE_UNAVAILABLE
    readyz = httpx.get(f"{server.url}/readyz", timeout=5)
    assert readyz.status_code == 503 and readyz.json()["down"] == ["store"]
    assert httpx.get(f"{server.url}/healthz", timeout=5).json()["parts"]["store"]["state"] == "down"
    me = api(server, token).get("/api/me")
    assert me.status_code == 503 and me.json()["error"]["code"] == codes.UNAVAILABLE

    eventually(lambda: ready(server), what="the store restarted and the edge ready again")
    back, _ = visitor(server, token=welcome["token"])
    client_id = uuid.uuid4().hex
    back.send("message", client_id=client_id, text="after the store came back")
    assert back.wait("ack", client_id=client_id, timeout=15)["seq"] >= 1
    assert Message.objects(client_id=client_id).count() == 1


def test_a_message_re_sent_after_256_newer_ones_is_acked_as_the_stored_one_not_stored_again(
        parts: tuple[Server, Path]) -> None:
    server, _ = parts
    eventually(lambda: ready(server), what="ready")
    guest, _ = visitor(server)
    ids = [f"m{i}" for i in range(300)]  # more than the engine's window of 256 client ids
    for client_id in ids:
        guest.send("message", client_id=client_id, text=f"message {client_id}")
    acks: dict[str, dict[str, Any]] = {}
    while len(acks) < len(ids):
        ack = guest.wait("ack", timeout=20)
        acks[ack["client_id"]] = ack
    conversation = acks["m0"]["conversation"]

    guest.send("message", client_id="m0", text="message m0")  # its ack was lost, say: sent again

    again = guest.wait("ack", client_id="m0", timeout=10)
    assert again["seq"] == acks["m0"]["seq"]
    assert Message.objects(conversation=conversation, client_id="m0").count() == 1
    guest.send("message", client_id="after", text="and a new one")
    assert guest.wait("ack", client_id="after")["seq"] > acks["m299"]["seq"]


async def _pause_monitor(server: Server) -> None:
    await server.app.state.health.stop()


async def _resume_monitor(server: Server) -> None:
    server.app.state.health.start()


def test_rest_answers_503_json_not_a_plain_500_before_the_monitor_has_noticed(parts: tuple[Server, Path]) -> None:
    server, data = parts
    eventually(lambda: ready(server), what="ready")
    token = admin_token(server)
    server.call(_pause_monitor(server))  # as if Redis died a moment ago: the gate does not know yet
    try:
        kill_redis(data)
        time.sleep(0.3)
        me = api(server, token).get("/api/me")
        login = api(server).post("/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
    finally:
        server.call(_resume_monitor(server))
    assert me.status_code == 503 and me.json()["error"]["code"] == codes.UNAVAILABLE
    assert login.status_code in (401, 503) and login.headers["content-type"].startswith("application/json")
    eventually(lambda: redis_answers(server), what="Redis restarted")
    eventually(lambda: ready(server), what="the edge ready again")


def redis_answers(server: Server) -> bool:
    client = redis.Redis.from_url(server.config.redis_url, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_a_conversation_goes_on_after_a_redis_outage_once_both_sides_reconnect(parts: tuple[Server, Path]) -> None:
    server, data = parts
    eventually(lambda: ready(server), what="ready")
    c = chat(server)
    agent, guest, token, conversation = c.agent, c.guest, c.agent_token, c.conv

    kill_redis(data)

    assert closed_with(agent)[0] == CLOSE_UNAVAILABLE and closed_with(guest)[0] == CLOSE_UNAVAILABLE
    eventually(lambda: ready(server), what="Redis restarted and the edge ready again")
    agent, welcome = agent_socket(server, token)
    assert [c["id"] for c in welcome["conversations"]] == [conversation]
    agent.send("presence", presence="online")
    guest, back = visitor(server, token=c.guest_token)
    assert back["conversation"]["id"] == conversation
    guest.send("message", client_id="after-outage", text="still there?")
    assert agent.wait("message", client_id="after-outage")["conversation"] == conversation
