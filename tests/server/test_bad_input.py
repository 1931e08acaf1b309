"""Bad, hostile or unauthorised input gets a documented error or close, and never troubles anyone else."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from switchboard.edges.auth import issue_token, issue_visitor_token
from switchboard.store.documents import Message
from tests.server.conftest import (
    Backends,
    Client,
    Server,
    agent_socket,
    api,
    free_port,
    group_name,
    make_agent,
    make_config,
    visitor,
)


def closed_with(client: Client, timeout: float = 5.0) -> int:
    """The close code the server ended `client` with (frames before it are kept in `client.seen`)."""
    with pytest.raises(ConnectionClosed) as closed:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client.next(deadline - time.monotonic())
    assert closed.value.rcvd is not None, "the server did not send a close frame"
    return closed.value.rcvd.code


def errors(client: Client) -> list[str]:
    return [f["code"] for f in client.seen if f["type"] == "error"]


def still_served(bystander: Client) -> None:
    """The other connection goes on as if nothing happened."""
    client_id = uuid.uuid4().hex[:8]
    bystander.send("message", client_id=client_id, text="am I still here?")
    bystander.wait("ack", client_id=client_id)


@pytest.fixture
def bystander(server: Server) -> Iterator[Client]:
    guest, _ = visitor(server)
    yield guest
    guest.close()


def assigned_chat(server: Server) -> tuple[Client, Client, str]:
    """(agent, visitor, conversation): a visitor being served by a fresh agent."""
    group = group_name()
    _, token = make_agent(server, group)
    agent, _ = agent_socket(server, token)
    agent.send("presence", presence="online")
    guest, _ = visitor(server)
    guest.send("request_human", group=group)
    conv = agent.wait("conversation_assigned")["conversation"]
    guest.wait("assigned")
    return agent, guest, conv


# --- malformed frames ------------------------------------------------------------------------------


def test_a_frame_that_is_not_json_gets_an_error_and_the_connection_goes_on(server: Server, bystander: Client) -> None:
    guest, _ = visitor(server)
    guest.send_raw("this is not json {")
    assert guest.wait("error")["code"] == "invalid_json"
    guest.send_raw("[1, 2, 3]")
    assert guest.wait("error")["code"] == "invalid_json"
    guest.send("ping")
    guest.wait("pong")
    still_served(bystander)


def test_a_frame_of_an_unknown_type_gets_an_error_and_the_connection_goes_on(server: Server, bystander: Client) -> None:
    guest, _ = visitor(server)
    guest.send("launch_missiles", target="moon")
    assert guest.wait("error")["code"] == "unknown_type"
    guest.send("presence", presence="online")  # an agent's frame, not a visitor's
    assert guest.wait("error")["code"] == "unknown_type"
    guest.send_raw(orjson.dumps({"no_type": 1}))
    assert guest.wait("error")["code"] == "invalid_frame"
    guest.send("ping")
    guest.wait("pong")
    still_served(bystander)


def test_a_frame_over_16_kib_closes_the_connection_with_1009(server: Server, bystander: Client) -> None:
    guest, _ = visitor(server)
    guest.send("message", client_id="big", text="x" * (16 * 1024 + 1))
    assert closed_with(guest) == 1009
    assert errors(guest) == ["frame_too_large"]

    _, token = make_agent(server, group_name())
    agent, _ = agent_socket(server, token)
    agent.send("ping", padding="y" * 17000)
    assert closed_with(agent) == 1009
    still_served(bystander)


def test_an_object_where_a_string_belongs_is_refused_as_an_invalid_frame(server: Server, bystander: Client) -> None:
    guest, _ = visitor(server)
    guest.send("message", client_id="m1", text={"$ne": None})
    assert guest.wait("error")["code"] == "invalid_frame"
    guest.send("sync", conversation={"$ne": None})
    assert guest.wait("error")["code"] == "invalid_frame"
    guest.send("message", client_id={"$gt": ""}, text="hi")
    assert guest.wait("error")["code"] == "invalid_frame"
    assert not [f for f in guest.drain() if f["type"] == "ack"]

    agent = Client(server.ws("/ws/agent"))
    agent.send("hello", token={"$ne": None})
    assert closed_with(agent) == 1008
    assert errors(agent) == ["invalid_frame"]
    still_served(bystander)


# --- tokens ------------------------------------------------------------------------------------------


def test_an_agent_socket_with_a_bad_or_expired_token_is_closed_with_4001(server: Server, bystander: Client) -> None:
    agent_id, token = make_agent(server, group_name())
    secret = server.services.secret
    expired = issue_token(agent_id, ["agent"], 0, "some-sid", 60, secret=secret, now=time.time() - 3600)
    forged = issue_token(agent_id, ["agent"], 0, "some-sid", 3600, secret="not-the-secret")
    visitor_token = issue_visitor_token("v-someone", 3600, secret=secret)

    for bad, code in [("garbage", "token_invalid"), (token[:-6] + "AAAAAA", "token_invalid"),
                      (forged, "token_invalid"), (visitor_token, "token_invalid"), (expired, "token_expired")]:
        agent = Client(server.ws("/ws/agent"))
        agent.send("hello", token=bad)
        assert closed_with(agent) == 4001
        assert errors(agent) == [code], bad
    still_served(bystander)


def test_a_visitor_with_a_tampered_or_expired_token_is_closed_with_4001(server: Server, bystander: Client) -> None:
    _, welcome = visitor(server)
    header, payload, signature = welcome["token"].split(".")
    tampered = ".".join([header, payload, ("B" if signature[0] != "B" else "C") + signature[1:]])
    expired = issue_visitor_token(welcome["visitor"], 60, secret=server.services.secret, now=time.time() - 3600)

    for bad, code in [(tampered, "token_invalid"), (expired, "token_expired")]:
        guest = Client(server.ws("/ws/visitor"))
        guest.send("hello", token=bad)
        assert closed_with(guest) == 4001
        assert errors(guest) == [code]
        assert not [f for f in guest.seen if f["type"] == "welcome"]
    still_served(bystander)


def test_a_visitor_hello_resuming_more_than_32_conversations_is_refused_and_closed_1008(
        server: Server, bystander: Client) -> None:
    guest = Client(server.ws("/ws/visitor"))
    guest.send("hello", last_seq={f"c-{i:016x}": 0 for i in range(33)})  # each would cost Redis reads

    assert closed_with(guest) == 1008
    assert errors(guest) == ["invalid_frame"]
    still_served(bystander)


def test_an_agents_hello_cannot_write_a_line_of_its_own_into_the_servers_log(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    _, token = make_agent(server, group_name())
    forged = "c-x\n2026-11-24 06:00:00,000 switchboard.auth ERROR admin password reset" + "y" * 8000

    with caplog.at_level(logging.INFO, logger="switchboard.agent_ws"):
        agent_socket(server, token, last_seq={forged: 0})
        deadline = time.monotonic() + 5
        while "not resumed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)

    line = next(r.getMessage() for r in caplog.records if "not resumed" in r.getMessage())
    assert "\n" not in line and len(line) < 300


# --- other people's conversations ------------------------------------------------------------------


def test_a_visitor_naming_another_visitors_conversation_is_refused_and_sees_nothing_of_it(
        server: Server, bystander: Client) -> None:
    _, owner, conv = assigned_chat(server)
    owner.send("message", client_id="secret", text="my card number is 4111")
    owner.wait("ack", client_id="secret")

    snoop, _ = visitor(server, last_seq={conv: 0})
    snoop.send("sync", conversation=conv, after=0)
    snoop.send("message", conversation=conv, client_id="s1", text="let me in")
    snoop.send("typing", conversation=conv, typing=True)
    snoop.send("close", conversation=conv)
    snoop.send("rate", conversation=conv, score=1)
    snoop.drain()

    assert errors(snoop) == ["not_your_conversation"] * 6
    assert not [f for f in snoop.seen if f.get("type") in ("message", "ack", "closed")]
    assert "4111" not in orjson.dumps(snoop.seen).decode()
    assert [m.text for m in Message.objects(conversation=conv)] == ["my card number is 4111"]
    owner.send("message", client_id="still-open", text="still here")
    owner.wait("ack", client_id="still-open")
    still_served(bystander)


def test_an_agent_acting_on_a_conversation_that_is_not_theirs_is_refused(server: Server, bystander: Client) -> None:
    _, guest, conv = assigned_chat(server)
    _, intruder_token = make_agent(server, group_name(), nickname="Eve")
    other, _ = make_agent(server, group_name())
    intruder, _ = agent_socket(server, intruder_token)
    intruder.send("presence", presence="online")

    intruder.send("message", conversation=conv, client_id="e1", text="hello from Eve")
    assert intruder.wait("error", client_id="e1")["code"] == "not_your_conversation"
    intruder.send("close", conversation=conv)
    assert intruder.wait("error", in_reply_to="close")["code"] == "not_your_conversation"
    intruder.send("transfer", conversation=conv, to_agent=other)
    assert intruder.wait("error")["code"] == "not_your_conversation"
    intruder.send("typing", conversation=conv, typing=True)
    assert intruder.wait("error")["code"] == "not_your_conversation"
    intruder.send("sync", conversation=conv, after=0)
    assert intruder.wait("error")["code"] == "not_your_conversation"

    assert not [f for f in guest.drain() if f["type"] in ("message", "closed", "typing", "transfer")]
    assert Message.objects(conversation=conv).count() == 0
    guest.send("message", client_id="v1", text="still talking to Ann")
    guest.wait("ack", client_id="v1")
    still_served(bystander)


# --- sessions ----------------------------------------------------------------------------------------


def test_after_logout_the_agents_token_is_refused_with_session_ended(server: Server, bystander: Client) -> None:
    _, token = make_agent(server, group_name())
    client = api(server, token)
    assert client.get("/api/me").status_code == 200

    assert client.post("/api/auth/logout").status_code == 204
    refused = client.get("/api/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_ended"

    agent = Client(server.ws("/ws/agent"))
    agent.send("hello", token=token)
    assert closed_with(agent) == 4001
    assert errors(agent) == ["session_ended"]
    still_served(bystander)


def test_a_password_change_closes_the_agents_live_sockets_and_only_theirs(server: Server, bystander: Client) -> None:
    _, token = make_agent(server, group_name())
    _, colleague_token = make_agent(server, group_name())
    workspace, _ = agent_socket(server, token)
    second_tab, _ = agent_socket(server, token)
    colleague, _ = agent_socket(server, colleague_token)

    changed = api(server, token).post("/api/me/password",
                                      json={"old_password": "agent-password", "new_password": "a-new-password-2"})
    assert changed.status_code == 204

    for tab in (workspace, second_tab):
        assert closed_with(tab) == 4001
        assert errors(tab) == ["session_ended"]
    assert api(server, token).get("/api/me").json()["error"]["code"] == "session_ended"
    colleague.send("ping")
    colleague.wait("pong")
    still_served(bystander)


# --- a stricter server: a low rate limit and a list of allowed origins -------------------------------

SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def strict(backends: Backends, server: Server) -> Iterator[Server]:
    config = make_config(backends, rate_limit_per_s=5, rate_limit_burst=5, allowed_origins=[SHOP])
    config.recover = False  # the module's other server owns the open conversations
    srv = Server(config, free_port()).start()
    yield srv
    srv.stop()


def test_a_burst_over_the_rate_limit_gets_rate_limited_errors_and_nobody_else_does(strict: Server) -> None:
    bystander, _ = visitor(strict)
    guest, _ = visitor(strict)
    for _ in range(30):
        guest.send("ping")
    frames = [guest.next() for _ in range(30)]
    kinds = [f["type"] if f["type"] != "error" else f["code"] for f in frames]

    assert 5 <= kinds.count("pong") < 15
    assert kinds.count("rate_limited") == 30 - kinds.count("pong")
    assert kinds[:5] == ["pong"] * 5
    still_served(bystander)
    time.sleep(0.5)  # the bucket refills
    guest.send("ping")
    guest.wait("pong")


def test_a_visitor_socket_from_an_origin_not_allowed_is_refused(strict: Server) -> None:
    evil = Client(strict.ws("/ws/visitor", origin="https://evil.example"))  # accepted, to be told why
    assert evil.next()["code"] == "origin_not_allowed"
    with pytest.raises(ConnectionClosed) as closed:
        evil.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with pytest.raises(InvalidStatus):
        strict.ws("/ws/agent", origin="https://evil.example")

    shop = Client(strict.ws("/ws/visitor", origin=SHOP))
    shop.send("hello")
    assert shop.wait("welcome")["visitor"].startswith("v-")
    no_origin, _ = visitor(strict)  # not a browser: no Origin header at all
    still_served(no_origin)


def test_an_unknown_rest_path_or_method_gets_the_json_error_every_other_rest_error_has(server: Server) -> None:
    client = api(server)
    missing = client.get("/api/no-such-thing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = client.delete("/api/agents")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    page = client.get("/no-such-page")
    assert (page.status_code, page.text) == (404, "Not Found")  # pages keep Starlette's plain answer
