"""Anonymous visitors cannot fill the queues, keep places they left, amplify history reads or leave state that
never expires (issue 17, findings 5-7). A real server (uvicorn, embedded Redis and store); a client address
per test (127.0.0.x are all this machine), so the per-address limits of one test do not reach another."""

from __future__ import annotations

import socket
import time
from typing import Any, Iterator

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from switchboard.actors.address import Address
from switchboard.edges.app import AppConfig
from switchboard.edges.keys import conv_key, visitor_key
from switchboard.settings import DispatchSettings
from switchboard.store.documents import Visitor
from tests.server.conftest import (Backends, Client, Server, admin_token, agent_socket, api, ensure_admin,
                                   free_port, group_name, make_agent, make_config)

GRACE_S = 2.0
HELLO_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(backends: Backends) -> Iterator[Server]:
    settings = make_config(backends, visitor_queued_per_address=3, visitor_open_per_address=6, sync_rate_per_s=0.1,
                           sync_burst=2, sync_page=50, history_cap=20, hello_timeout_s=HELLO_TIMEOUT_S).settings
    config = AppConfig(settings, DispatchSettings(visitor_gone_grace_s=GRACE_S), backends.redis_url,
                       backends.mongodb_uri, bot=make_config(backends).bot)
    srv = Server(config, free_port()).start()
    ensure_admin()
    yield srv
    srv.stop()


def visitor_from(server: Server, address: str, token: str | None = None) -> tuple[Client, dict[str, Any]]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(address, 0))
    client = Client(server.ws("/ws/visitor", sock=sock))
    client.send("hello", token=token, channel="widget", page="https://shop.example/cart")
    return client, client.wait("welcome")


def new_group(server: Server) -> str:
    group = group_name()
    assert api(server, admin_token(server)).post("/api/groups", json={"id": group}).status_code == 201
    return group


def waiting(server: Server, group: str) -> list[str]:
    queue = server.services.engine.inspect(Address.queue(group))
    return [w["conversation"] for w in queue["waiting"]] if queue else []


def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def test_one_address_queues_at_most_its_limit_and_a_customer_elsewhere_waits_behind_those_only(
        server: Server) -> None:
    group = new_group(server)
    answers = []
    for _ in range(6):
        spam, _ = visitor_from(server, "127.0.0.2")
        spam.send("request_human", group=group)
        answers.append(next(f for f in (spam.next() for _ in range(5)) if f["type"] in ("queue_position", "error")))
    assert [a["type"] for a in answers] == ["queue_position"] * 3 + ["error"] * 3
    assert {a["code"] for a in answers[3:]} == {"too_many_waiting"}
    assert answers[3]["in_reply_to"] == "request_human"

    customer, _ = visitor_from(server, "127.0.0.3")
    customer.send("request_human", group=group)
    assert customer.wait("queue_position")["position"] == 4


def test_one_address_opens_at_most_its_limit_of_conversations(server: Server) -> None:
    acked, refused = 0, []
    for i in range(8):
        spam, _ = visitor_from(server, "127.0.0.4")
        spam.send("message", client_id=f"m{i}", text="hello")
        answer = next(f for f in (spam.next() for _ in range(5)) if f["type"] in ("ack", "error"))
        if answer["type"] == "ack":
            acked += 1
        else:
            refused.append(answer["code"])
    assert acked == 6 and refused == ["too_many_conversations"] * 2


def test_a_burst_of_requests_for_a_person_from_one_address_all_at_once_still_queues_only_its_limit(
        server: Server) -> None:
    group = new_group(server)
    spammers = [visitor_from(server, "127.0.0.12")[0] for _ in range(5)]  # the open limit here is 6
    for spam in spammers:  # all sent before any answer is read: the edge handles them side by side
        spam.send("request_human", group=group)
    answers = [next(f for f in (spam.next() for _ in range(5)) if f["type"] in ("queue_position", "error"))
               for spam in spammers]
    assert sorted(a["type"] for a in answers) == ["error"] * 2 + ["queue_position"] * 3
    eventually(lambda: len(waiting(server, group)) == 3)


def test_a_burst_of_first_messages_from_one_address_all_at_once_still_opens_only_its_limit(server: Server) -> None:
    spammers = [visitor_from(server, "127.0.0.13")[0] for _ in range(9)]
    for i, spam in enumerate(spammers):
        spam.send("message", client_id=f"b{i}", text="hello")
    answers = [next(f for f in (spam.next() for _ in range(5)) if f["type"] in ("ack", "error"))
               for spam in spammers]
    assert sorted(a["type"] for a in answers) == ["ack"] * 6 + ["error"] * 3
    assert {a["code"] for a in answers if a["type"] == "error"} == {"too_many_conversations"}


def test_a_queued_visitor_whose_sockets_all_closed_leaves_the_queue_after_the_grace_period(server: Server) -> None:
    group = new_group(server)
    gone, _ = visitor_from(server, "127.0.0.5")
    gone.send("request_human", group=group)
    conversation = gone.wait("queue_position")["conversation"]
    assert waiting(server, group) == [conversation]

    gone.close()
    time.sleep(GRACE_S / 2)
    assert waiting(server, group) == [conversation]  # not yet: it may be a reload
    eventually(lambda: waiting(server, group) == [])

    agent_id, token = make_agent(server, group)
    agent, _ = agent_socket(server, token)
    agent.send("presence", presence="online")
    assert not [f for f in agent.drain(1.0) if f["type"] == "conversation_assigned"]
    phase = redis.Redis.from_url(server.config.redis_url).hget(conv_key(conversation), "phase")
    assert phase == b"abandoned"


def test_a_queued_visitor_whose_last_tab_opened_before_the_conversation_still_leaves_the_queue(
        server: Server) -> None:
    group = new_group(server)
    first, welcome = visitor_from(server, "127.0.0.10")
    second, _ = visitor_from(server, "127.0.0.10", token=welcome["token"])  # a second tab, before any conversation
    first.send("request_human", group=group)
    conversation = first.wait("queue_position")["conversation"]
    assert second.wait("queue_position")["conversation"] == conversation  # the same visitor: both tabs see it

    first.close()
    time.sleep(0.5)  # the first tab is gone; the second, which never named the conversation, is the last
    second.close()
    eventually(lambda: waiting(server, group) == [], timeout=GRACE_S + 5)
    views = redis.Redis.from_url(server.config.redis_url)
    eventually(lambda: views.hget(conv_key(conversation), "phase") == b"abandoned")


def test_a_socket_of_either_kind_without_a_hello_in_time_is_closed_1008(server: Server) -> None:
    for path in ("/ws/visitor", "/ws/agent"):
        silent = Client(server.ws(path))
        began = time.monotonic()
        assert silent.next() == {"type": "error", "code": "hello_timeout",
                                 "message": f"say hello within {HELLO_TIMEOUT_S:g} s"}, path
        with pytest.raises(ConnectionClosed):
            silent.next()
        assert silent.conn.close_code == 1008, path
        assert time.monotonic() - began < HELLO_TIMEOUT_S + 2, path  # the setting, not the default 10 s


def test_a_visitor_back_within_the_grace_period_keeps_the_place(server: Server) -> None:
    group = new_group(server)
    first, welcome = visitor_from(server, "127.0.0.6")
    first.send("request_human", group=group)
    conversation = first.wait("queue_position")["conversation"]
    first.close()
    time.sleep(GRACE_S / 3)

    again, _ = visitor_from(server, "127.0.0.6", token=welcome["token"])
    time.sleep(GRACE_S * 2)

    assert waiting(server, group) == [conversation]
    again.close()


def test_sync_answers_a_bounded_page_at_a_rate_of_its_own(server: Server) -> None:
    client, _ = visitor_from(server, "127.0.0.7")
    for i in range(120):
        client.send("message", client_id=f"m{i}", text=f"message {i}")
    eventually(lambda: sum(f["type"] == "ack" for f in client.seen + client.drain(0.05)) >= 120, timeout=20)
    conversation = next(f["conversation"] for f in client.seen if f["type"] == "ack")

    client.send("sync", conversation=conversation, after=0)
    page = [f for f in client.drain(0.5) if f["type"] == "message"]
    assert [f["seq"] for f in page] == list(range(1, 51))  # from the store (Redis keeps the last 20)

    client.send("sync", conversation=conversation, after=50)
    client.send("sync", conversation=conversation, after=100)
    frames = client.drain(0.5)
    assert [f["seq"] for f in frames if f["type"] == "message"] == list(range(51, 101))
    refused = [f for f in frames if f["type"] == "error"]
    assert [(f["code"], f["in_reply_to"]) for f in refused] == [("rate_limited", "sync")]


def test_the_visitor_sockets_of_one_address_share_one_sync_budget(server: Server) -> None:
    first, _ = visitor_from(server, "127.0.0.14")
    first.send("message", client_id="m1", text="hello")
    conversation = first.wait("ack")["conversation"]
    first.send("sync", conversation=conversation, after=0)
    first.send("sync", conversation=conversation, after=0)  # the burst of 2 is spent
    assert [f["type"] for f in first.drain(0.5) if f["type"] in ("message", "error")] == ["message", "message"]

    second, _ = visitor_from(server, "127.0.0.14")  # another visitor, the same address
    second.send("message", client_id="m1", text="hello")
    own = second.wait("ack")["conversation"]
    second.send("sync", conversation=own, after=0)
    refused = [f for f in second.drain(0.5) if f["type"] == "error"]
    assert [(f["code"], f["in_reply_to"]) for f in refused] == [("rate_limited", "sync")]


def test_an_anonymous_hello_leaves_no_store_document_and_a_redis_hash_that_expires(server: Server) -> None:
    client, welcome = visitor_from(server, "127.0.0.8")
    visitor = welcome["visitor"]
    time.sleep(0.5)  # the store writer's batches are a few milliseconds apart
    assert Visitor.objects(id=visitor).first() is None
    ttl = redis.Redis.from_url(server.config.redis_url).ttl(visitor_key(visitor))
    assert 0 < ttl <= server.config.settings.visitor_state_ttl_s

    client.send("message", client_id="m1", text="hello")
    client.wait("ack")
    eventually(lambda: Visitor.objects(id=visitor).first() is not None)
    assert Visitor.objects(id=visitor).first().page == "https://shop.example/cart"


def test_places_an_address_held_free_up_once_its_visitors_are_gone(server: Server) -> None:
    group = new_group(server)
    spam, places = [], []
    for _ in range(3):
        client, _ = visitor_from(server, "127.0.0.9")
        client.send("request_human", group=group)
        places.append(client.wait("queue_position")["conversation"])
        spam.append(client)
    late, _ = visitor_from(server, "127.0.0.9")
    late.send("request_human", group=group)
    assert late.wait("error")["code"] == "too_many_waiting"

    for client in spam:
        client.close()
    eventually(lambda: waiting(server, group) == [], timeout=GRACE_S + 5)
    views = redis.Redis.from_url(server.config.redis_url)  # the edge counts places by the views the relay writes
    eventually(lambda: all(views.hget(conv_key(c), "phase") == b"abandoned" for c in places))
    late.send("request_human", group=group)
    assert late.wait("queue_position")["position"] == 1
