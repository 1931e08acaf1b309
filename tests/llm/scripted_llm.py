"""A scripted OpenAI-compatible server: a TEST DOUBLE standing in for trtllm-serve (or vLLM, or OpenAI).

The real servers need a GPU and model weights, which this machine does not have.
This one speaks their wire format: ``POST /v1/chat/completions`` with ``stream: true``
answers server-sent events, ``data: {chunk}`` lines whose ``choices[0].delta`` carries
text or tool-call fragments, a last chunk with ``finish_reason``, then ``data: [DONE]``;
errors are statuses with a JSON error body; ``GET /health`` and ``GET /metrics`` sit at
the server root, as trtllm-serve has them. Each test scripts the replies to its
requests and reads back what the client sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

METRICS = '[{"gpuMemUsage": 1024, "iter": 7, "inflightBatchingStats": {"numScheduledRequests": 1}}]'


# --- the test double -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """The server says nothing for this long (a stalled GPU, a full batch)."""

    seconds: float


@dataclass(frozen=True)
class ToolFragment:
    """One streamed piece of a tool call: the first names the function, later ones carry more arguments."""

    arguments: str
    name: str | None = None


@dataclass(frozen=True)
class Raw:
    """Bytes on the wire as they are: a comment, a broken chunk, an error event."""

    text: str


Piece = str | Pause | ToolFragment | Raw


@dataclass(frozen=True)
class Stream:
    pieces: list[Piece]
    finish_reason: str | None = "stop"  # None: no final chunk
    done: bool = True  # send `data: [DONE]`


@dataclass(frozen=True)
class Status:
    code: int
    body: dict[str, Any]


Reply = Stream | Status


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class ScriptedServer:
    """A test double for trtllm-serve: see the module docstring. Runs uvicorn in a thread."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Recorded] = []
        self.healthy = True
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"]),
                                Route("/health", self._health), Route("/metrics", self._metrics)])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline and self._thread.is_alive(), "the scripted server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with `replies` in turn; the last one answers every request after it."""
        self.replies, self.requests, self.healthy = list(replies), [], True

    async def _chat(self, request: Request) -> Response:
        self.requests.append(Recorded(dict(request.headers), orjson.loads(await request.body())))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Status):
            return JSONResponse(reply.body, status_code=reply.code)
        return StreamingResponse(self._events(reply, self.requests[-1].body["model"]), media_type="text/event-stream")

    async def _events(self, stream: Stream, model: str) -> AsyncIterator[str]:
        yield _event(model, {"role": "assistant", "content": ""})
        for piece in stream.pieces:
            if isinstance(piece, Pause):
                await asyncio.sleep(piece.seconds)
            elif isinstance(piece, Raw):
                yield piece.text
            elif isinstance(piece, ToolFragment):
                function: dict[str, Any] = {"arguments": piece.arguments}
                call: dict[str, Any] = {"index": 0, "function": function}
                if piece.name:
                    call.update(id="call_0", type="function")
                    function["name"] = piece.name
                yield _event(model, {"tool_calls": [call]})
            else:
                yield _event(model, {"content": piece})
        if stream.finish_reason:
            yield _event(model, {}, stream.finish_reason)
        if stream.done:
            yield "data: [DONE]\n\n"

    async def _health(self, request: Request) -> Response:
        return Response(status_code=200 if self.healthy else 503)

    async def _metrics(self, request: Request) -> Response:
        return PlainTextResponse(METRICS)


def _event(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> str:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    return f"data: {orjson.dumps(chunk).decode()}\n\n"
