"""The hello gate both websockets share (ws/session.py): the first frame is a hello of the socket's role, of
this protocol version, in time; anything else gets its documented error and close, and no session starts.

Driven in-process through Starlette's TestClient: a one-route app whose socket reads a visitor's hello and,
if it gets one, answers with what it read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from switchboard.edges.protocol import VisitorHello, parse_visitor
from switchboard.edges.ws import session

MAX_FRAME_BYTES = 1000
HELLO_TIMEOUT_S = 1.0  # the setting hello_timeout_s (10 s by default), short here


async def visitor_hello_only(ws: WebSocket) -> None:
    await ws.accept()
    hello = await session.read_hello(ws, parse_visitor, VisitorHello, MAX_FRAME_BYTES, HELLO_TIMEOUT_S)
    if hello is not None:
        await ws.send_json({"read": type(hello).__name__, "channel": hello.channel})
        await ws.close()


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=[WebSocketRoute("/ws", visitor_hello_only)])) as test_client:
        yield test_client


def first_frame_then_close(client: TestClient, frame: str) -> tuple[object, int | None]:
    """What the server answers to `frame` sent first, and the code it closes with."""
    with client.websocket_connect("/ws") as ws:
        ws.send_text(frame)
        answer = ws.receive_json()
        closing = ws.receive()
    return answer, closing.get("code")


def test_a_visitors_hello_is_read_as_one(client: TestClient) -> None:
    assert first_frame_then_close(client, '{"type": "hello", "channel": "widget"}') == (
        {"read": "VisitorHello", "channel": "widget"}, 1000)


def test_a_first_frame_that_is_not_a_hello_gets_hello_required_and_the_socket_closes_1008(client: TestClient) -> None:
    assert first_frame_then_close(client, '{"type": "ping"}') == (
        {"type": "error", "code": "hello_required", "message": "the first frame must be a hello"}, 1008)


def test_a_hello_of_another_protocol_version_gets_unsupported_version_and_the_socket_closes_1008(
        client: TestClient) -> None:
    assert first_frame_then_close(client, '{"type": "hello", "v": 2}') == (
        {"type": "error", "code": "unsupported_version", "message": "this server speaks protocol version 1", "v": 1},
        1008)


def test_a_hello_over_the_size_limit_gets_frame_too_large_and_the_socket_closes_1009(client: TestClient) -> None:
    hello = '{"type": "hello", "page": "' + "p" * MAX_FRAME_BYTES + '"}'
    assert first_frame_then_close(client, hello) == (
        {"type": "error", "code": "frame_too_large",
         "message": f"frames are limited to {MAX_FRAME_BYTES} bytes, got {len(hello)}"}, 1009)


def test_a_socket_that_says_nothing_gets_hello_timeout_and_is_closed_1008(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        answer = ws.receive_json()
        closing = ws.receive()
    assert (answer, closing.get("code")) == (
        {"type": "error", "code": "hello_timeout", "message": "say hello within 1 s"}, 1008)
