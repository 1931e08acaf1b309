"""Small holes of issue 17: text that shows nothing is blank, and a rate-limited frame is named in the refusal.
A real server (uvicorn, embedded Redis and store)."""

from __future__ import annotations

import contextlib

import pytest
from websockets.exceptions import ConnectionClosed

from switchboard.actors.messages import Post, is_blank
from switchboard.edges.protocol import frame_type
from switchboard.store.users import agent_name
from tests.server.conftest import Server, admin_token, api, group_name, make_agent, visitor

INVISIBLE = ["\x00", "\x00\x00\x00", "\u200b\u200c\u200d", "\ufeff", "\u2060\u200e", "\u3164", " \u00a0\u3000\t",
             "\x7f\x1b"]


@pytest.mark.parametrize("text", INVISIBLE)
def test_a_message_of_only_nul_or_zero_width_characters_is_refused_as_blank(server: Server, text: str) -> None:
    client, _ = visitor(server)
    client.send("message", client_id="m1", text=text)
    error = client.wait("error")
    assert error["code"] == "invalid_frame" and "blank" in error["message"]
    assert not [f for f in client.drain() if f["type"] in ("ack", "message")]
    client.close()


def test_a_message_with_visible_text_between_invisible_characters_is_taken(server: Server) -> None:
    client, _ = visitor(server)
    client.send("message", client_id="m1", text="\u200bhi\x00")
    assert client.wait("ack")["client_id"] == "m1"
    client.close()


@pytest.mark.parametrize("text", INVISIBLE)
def test_the_engine_refuses_a_post_of_only_invisible_characters_too(text: str) -> None:
    assert is_blank(text)
    assert Post("visitor", "v-1", text).problem() is not None
    assert Post("visitor", "v-1", "a\u200b").problem() is None


def test_a_visitor_name_of_only_zero_width_characters_is_not_kept(server: Server) -> None:
    client, _ = visitor(server)
    client.send("profile", name="\u200b\u200b", email="ann@example.com")
    profile = client.wait("profile")
    assert "name" not in profile and profile["email"] == "ann@example.com"
    client.close()


def test_an_agent_nickname_of_only_nul_or_zero_width_characters_counts_as_no_nickname(server: Server) -> None:
    # A blank nickname is allowed (visitors then see "Agent"); one that only looks filled is blank too, so no
    # visitor ever sees an invisible name.
    agent_id, _ = make_agent(server, group_name())
    admin = api(server, admin_token(server))
    for nickname in ("\x00\x00", "\u200b", "\ufeff\u200d"):
        answer = admin.patch(f"/api/agents/{agent_id}", json={"nickname": nickname})
        assert answer.status_code == 200, answer.text
        assert answer.json()["nickname"] == ""
    assert agent_name(agent_id) == "Agent"


def test_a_rate_limited_error_names_the_frame_it_dropped(server: Server) -> None:
    client, _ = visitor(server)
    for _ in range(1000):  # well past the test server's burst of 400
        client.send("typing", typing=True)
    with contextlib.suppress(ConnectionClosed):  # 50 dropped in a row end the socket (1008)
        client.drain(1.0)
    dropped = [f for f in client.seen if f["type"] == "error" and f["code"] == "rate_limited"]
    assert dropped and {f["in_reply_to"] for f in dropped} == {"typing"}


@pytest.mark.parametrize(("raw", "named"), [('{"type": "sync", "conversation": 5}', "sync"), ("not json", None),
                                            ('["type"]', None), ('{"type": 7}', None), ("{}", None),
                                            ('{"text": "x", "type": "message"}', "message")])
def test_the_frame_a_refusal_names_is_read_from_the_type_alone(raw: str, named: str | None) -> None:
    assert frame_type(raw, 16384) == named
    assert frame_type(raw.encode(), 16384) == named
