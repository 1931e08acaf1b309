"""Reconnects, re-sends and lost publishes: every client sees each message once, in order, whatever happened."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from switchboard.store.documents import Message
from tests.server.conftest import Chat, Server, agent_socket, chat, visitor


def on_server(server: Server, coro: Any) -> Any:
    """Run `coro` on the server's event loop (conftest's Server.call asks the wrong thread for its loop)."""
    loop = server.services.hub._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(10)


def messages(frames: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(f["seq"], f["text"]) for f in frames if f["type"] == "message"]


def agent_says(c: Chat, client_id: str, text: str) -> int:
    c.agent.send("message", conversation=c.conv, client_id=client_id, text=text)
    seq: int = c.agent.wait("ack", client_id=client_id)["seq"]
    return seq


def visitor_says(c: Chat, client_id: str, text: str) -> int:
    c.guest.send("message", client_id=client_id, text=text)
    seq: int = c.guest.wait("ack", client_id=client_id)["seq"]
    return seq


def test_a_visitor_who_reconnects_gets_exactly_the_messages_it_missed_in_order(server: Server) -> None:
    c = chat(server)
    first = agent_says(c, "a1", "hello")
    assert messages([c.guest.wait("message")]) == [(first, "hello")]
    c.guest.close()

    missed = [(agent_says(c, f"a{i}", f"while you were away {i}"), f"while you were away {i}") for i in range(2, 5)]
    guest, _ = visitor(server, token=c.guest_token, last_seq={c.conv: first})
    c.agent.send("message", conversation=c.conv, client_id="a5", text="welcome back")

    assert messages(guest.drain()) == missed + [(missed[-1][0] + 1, "welcome back")]


def test_an_agent_who_reconnects_gets_exactly_the_messages_it_missed_in_order(server: Server) -> None:
    c = chat(server)
    first = visitor_says(c, "v1", "hi")
    assert messages([c.agent.wait("message")]) == [(first, "hi")]
    c.agent.close()

    missed = [(visitor_says(c, f"v{i}", f"anyone there? {i}"), f"anyone there? {i}") for i in range(2, 5)]
    agent, welcome = agent_socket(server, c.agent_token, last_seq={c.conv: first})
    c.guest.send("message", client_id="v5", text="oh, hello")

    assert c.conv in [conv["id"] for conv in welcome["conversations"]]
    assert messages(agent.drain()) == missed + [(missed[-1][0] + 1, "oh, hello")]


def test_an_agent_resumes_a_conversation_the_engine_says_is_theirs_even_when_redis_lost_its_assignment(
        server: Server) -> None:
    c = chat(server)
    first = visitor_says(c, "v1", "hi")
    c.agent.close()
    missed = visitor_says(c, "v2", "still there?")
    on_server(server, server.services.redis.hdel(f"sb:conv:{c.conv}", "agent", "participants"))

    agent, welcome = agent_socket(server, c.agent_token, last_seq={c.conv: first})

    assert [conv["id"] for conv in welcome["conversations"]] == [c.conv]
    assert messages(agent.drain()) == [(missed, "still there?")]


def test_re_sending_a_message_with_the_same_client_id_does_not_post_it_twice(server: Server) -> None:
    c = chat(server)
    c.guest.send("message", client_id="same", text="is it in stock?")
    first = c.guest.wait("ack", client_id="same")
    c.guest.send("message", client_id="same", text="is it in stock?")
    again = c.guest.wait("ack", client_id="same")
    c.agent.send("message", conversation=c.conv, client_id="same", text="yes")
    mine = c.agent.wait("ack", client_id="same")
    c.agent.send("message", conversation=c.conv, client_id="same", text="yes")
    mine_again = c.agent.wait("ack", client_id="same")

    assert first["seq"] == again["seq"] and mine["seq"] == mine_again["seq"] == first["seq"] + 1
    c.agent.drain(), c.guest.drain()
    assert messages(c.agent.seen) == [(first["seq"], "is it in stock?")]
    assert messages(c.guest.seen) == [(mine["seq"], "yes")]
    assert sorted((m.seq, m.text) for m in Message.objects(conversation=c.conv)) == [
        (first["seq"], "is it in stock?"), (mine["seq"], "yes")]


def test_a_message_re_sent_after_its_conversation_closed_is_acked_as_stored_and_opens_nothing(
        server: Server) -> None:
    """The ack was lost with the socket, the agent closed meanwhile, and the widget re-sends on reconnecting."""
    c = chat(server)
    stored = visitor_says(c, "late-ack", "one more thing")
    c.agent.send("close", conversation=c.conv)
    c.guest.wait("closed")
    c.guest.close()

    guest, welcome = visitor(server, token=c.guest_token)
    assert welcome["conversation"] is None
    guest.send("message", client_id="late-ack", text="one more thing")
    again = guest.wait("ack", client_id="late-ack")
    guest.send("message", client_id="new-one", text="a new question")
    new = guest.wait("ack", client_id="new-one")

    assert (again["conversation"], again["seq"]) == (c.conv, stored)
    assert new["conversation"] != c.conv and new["seq"] == 1  # the re-send opened no conversation of its own
    assert [m.text for m in Message.objects(conversation=c.conv)].count("one more thing") == 1


def test_a_lost_publish_is_healed_from_history_and_the_visitor_sees_both_messages_in_order(server: Server) -> None:
    c = chat(server)
    c.guest.drain(0.2)
    c.agent.drain(0.2)

    async def drop_one() -> None:
        server.services.hub.drop_next_publish = 1

    on_server(server, drop_one())
    c.agent.send("message", conversation=c.conv, client_id="A", text="message A")
    assert messages(c.guest.drain(0.5)) == []  # A's publish was the one lost
    b = agent_says(c, "B", "message B")

    assert messages(c.guest.drain()) == [(b - 1, "message A"), (b, "message B")]
    assert server.services.hub.drop_next_publish == 0


def test_a_visitor_reloading_the_page_gets_the_whole_transcript(server: Server) -> None:
    c = chat(server)
    transcript = [(visitor_says(c, "v1", "my order is late"), "my order is late"),
                  (agent_says(c, "a1", "let me check"), "let me check"),
                  (visitor_says(c, "v2", "thanks"), "thanks")]
    c.agent.send("note", conversation=c.conv, client_id="n1", text="courier issue")
    c.agent.wait("ack", client_id="n1")
    c.guest.close()

    guest, welcome = visitor(server, token=c.guest_token, last_seq={c.conv: 0})

    assert welcome["conversation"]["id"] == c.conv
    assert messages(guest.drain()) == transcript


def test_sync_returns_the_messages_after_the_given_seq(server: Server) -> None:
    c = chat(server)
    said = [(visitor_says(c, f"v{i}", f"line {i}"), f"line {i}") for i in range(1, 5)]
    c.guest.drain(0.2)

    c.guest.send("sync", conversation=c.conv, after=said[1][0])
    assert messages(c.guest.drain()) == said[2:]
    c.agent.drain(0.2)
    c.agent.send("sync", conversation=c.conv, after=0)
    assert messages(c.agent.drain()) == said


def test_sync_falls_back_to_the_store_when_redis_has_lost_the_history(server: Server) -> None:
    c = chat(server)
    said = [(visitor_says(c, f"v{i}", f"line {i}"), f"line {i}") for i in range(1, 4)]
    said.append((agent_says(c, "a1", "answer"), "answer"))
    c.guest.drain(0.2)
    assert on_server(server, server.services.redis.delete(f"sb:hist:{c.conv}")) == 1

    c.guest.send("sync", conversation=c.conv, after=1)
    healed = [f for f in c.guest.drain() if f["type"] == "message"]

    assert messages(healed) == said[1:]
    assert [f["sender"]["role"] for f in healed] == ["visitor", "visitor", "agent"]


def test_a_visitor_reconnecting_while_the_agent_is_typing_fast_still_sees_each_message_once_in_order(
        server: Server) -> None:
    c = chat(server)
    first = agent_says(c, "a0", "start")
    c.guest.close()

    def type_fast() -> None:
        for i in range(1, 61):
            c.agent.send("message", conversation=c.conv, client_id=f"a{i}", text=f"burst {i}")
            time.sleep(0.005)

    redis = server.services.redis
    plain_hget = redis.hget

    async def slow_hget(*args: Any) -> Any:  # widen the window between joining and resuming
        await asyncio.sleep(0.02)
        return await plain_hget(*args)

    typist = threading.Thread(target=type_fast)
    typist.start()
    time.sleep(0.1)
    redis.hget = slow_hget
    try:
        guest, _ = visitor(server, token=c.guest_token, last_seq={c.conv: first})
    finally:
        del redis.hget
    typist.join()
    c.agent.wait("ack", client_id="a60", timeout=10)

    guest.drain(0.5)
    assert guest.seen[0]["type"] == "welcome"
    assert [seq for seq, _ in messages(guest.seen)] == list(range(first + 1, first + 61))


def test_an_agent_reconnecting_while_the_visitor_types_fast_still_sees_each_message_once_in_order(
        server: Server) -> None:
    c = chat(server)
    first = visitor_says(c, "v0", "start")
    c.agent.close()

    def type_fast() -> None:
        for i in range(1, 41):
            c.guest.send("message", client_id=f"v{i}", text=f"burst {i}")
            time.sleep(0.005)

    redis = server.services.redis
    plain_hmget = redis.hmget

    async def slow_hmget(*args: Any) -> Any:  # widen the window between joining and resuming
        await asyncio.sleep(0.05)
        return await plain_hmget(*args)

    typist = threading.Thread(target=type_fast)
    typist.start()
    time.sleep(0.05)
    redis.hmget = slow_hmget
    try:
        agent, _ = agent_socket(server, c.agent_token, last_seq={c.conv: first})
    finally:
        del redis.hmget
    typist.join()
    c.guest.wait("ack", client_id="v40", timeout=10)

    agent.drain(0.5)
    assert agent.seen[0]["type"] == "welcome"
    assert [seq for seq, _ in messages(agent.seen)] == list(range(first + 1, first + 41))
