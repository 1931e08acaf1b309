"""The OpenAI-compatible backend, against a scripted OpenAI-compatible server; and the backend factory.

:class:`ScriptedServer` is a TEST DOUBLE standing in for trtllm-serve (or vLLM, or
OpenAI): the real servers need a GPU and model weights, which this machine does not
have. It speaks their wire format: ``POST /v1/chat/completions`` with ``stream: true``
answers server-sent events, ``data: {chunk}`` lines whose ``choices[0].delta`` carries
text or tool-call fragments, a last chunk with ``finish_reason``, then ``data: [DONE]``;
errors are statuses with a JSON error body; ``GET /health`` and ``GET /metrics`` sit at
the server root, as trtllm-serve has them. Each test scripts the replies to its
requests and reads back what the backend sent. Timeouts are a few tenths of a second.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from switchboard.llm.factory import make_generator
from switchboard.llm.generation import HANDOFF_TOOL, Delta, GenerationFailed, HandoffCall
from switchboard.llm.openai_backend import OpenAIBackend
from switchboard.settings import BotSettings
from tests.llm.scripted_llm import METRICS, Pause, Piece, Raw, ScriptedServer, Status, Stream, ToolFragment

MESSAGES = [{"role": "system", "content": "Answer from the sources."}, {"role": "user", "content": "Refunds?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


# --- helpers ----------------------------------------------------------------------------------------


def settings_for(server: ScriptedServer, **changes: Any) -> BotSettings:
    base = BotSettings(llm_backend="openai", llm_url=f"{server.url}/v1", llm_model="tiny-chat", llm_timeout_s=3.0,
                       llm_first_token_s=0.3, llm_retries=2, llm_backoff_s=0.01, llm_max_tokens=64,
                       llm_temperature=0.2)
    return replace(base, **changes)


@dataclass
class Outcome:
    pieces: list[Delta | HandoffCall]
    error: GenerationFailed | None
    seconds: float

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces if isinstance(p, Delta))


def ask(settings: BotSettings, allow_handoff: bool = True) -> Outcome:
    async def run() -> Outcome:
        backend = OpenAIBackend(settings)
        pieces: list[Delta | HandoffCall] = []
        error: GenerationFailed | None = None
        started = time.monotonic()
        try:
            async for piece in backend.stream(MESSAGES, allow_handoff=allow_handoff):
                pieces.append(piece)
        except GenerationFailed as exc:
            error = exc
        finally:
            await backend.close()
        return Outcome(pieces, error, time.monotonic() - started)

    return asyncio.run(run())


def answer(*pieces: Piece) -> Stream:
    return Stream(list(pieces))


# --- streaming ------------------------------------------------------------------------------------


def test_a_streamed_answer_arrives_as_deltas_in_order_that_join_into_the_text(server: ScriptedServer) -> None:
    server.script(answer("Refunds ", "take 5 ", "working days [1]."))
    outcome = ask(settings_for(server))
    assert outcome.error is None
    assert outcome.pieces == [Delta("Refunds "), Delta("take 5 "), Delta("working days [1].")]
    assert outcome.text == "Refunds take 5 working days [1]."


def test_sse_comments_and_keep_alives_are_ignored(server: ScriptedServer) -> None:
    server.script(answer(Raw(": keep-alive\n\n"), "Hello", Raw("event: ping\n\n"), " there"))
    outcome = ask(settings_for(server))
    assert outcome.error is None and outcome.text == "Hello there"


def test_a_chunk_that_is_not_json_fails_the_answer_without_a_retry(server: ScriptedServer) -> None:
    server.script(answer("Hello", Raw("data: {not json\n\n"), " there"))
    outcome = ask(settings_for(server))
    assert outcome.pieces == [Delta("Hello")]
    assert outcome.error is not None and "not JSON" in str(outcome.error)
    assert len(server.requests) == 1


def test_an_error_event_before_any_text_is_retried(server: ScriptedServer) -> None:
    error = Raw('data: {"error": {"message": "worker died", "code": 500}}\n\n')
    server.script(Stream([error], finish_reason=None, done=False), answer("ok"))
    outcome = ask(settings_for(server))
    assert outcome.text == "ok" and len(server.requests) == 2


def test_the_request_carries_messages_model_sampling_and_the_handoff_tool(server: ScriptedServer) -> None:
    server.script(answer("ok"))
    ask(settings_for(server))
    [request] = server.requests
    assert request.body == {"model": "tiny-chat", "messages": MESSAGES, "stream": True, "max_tokens": 64,
                            "temperature": 0.2, "tools": [HANDOFF_TOOL]}
    assert request.headers["content-type"] == "application/json"


def test_no_tools_are_sent_when_handoff_is_not_allowed(server: ScriptedServer) -> None:
    server.script(answer("ok"))
    ask(settings_for(server), allow_handoff=False)
    assert "tools" not in server.requests[0].body


def test_the_handoff_tool_is_a_function_with_a_required_reason() -> None:
    function = HANDOFF_TOOL["function"]
    assert HANDOFF_TOOL["type"] == "function" and function["name"] == "handoff"
    assert function["parameters"]["properties"]["reason"]["type"] == "string"
    assert function["parameters"]["required"] == ["reason"]


def test_a_handoff_call_streamed_over_several_chunks_becomes_one_handoff(server: ScriptedServer) -> None:
    server.script(Stream([ToolFragment("", name="handoff"), ToolFragment('{"rea'), ToolFragment('son": "wants a '),
                          ToolFragment('person"}')], finish_reason="tool_calls"))
    outcome = ask(settings_for(server))
    assert outcome.error is None
    assert outcome.pieces == [HandoffCall("wants a person")]


def test_text_before_a_handoff_call_streams_first(server: ScriptedServer) -> None:
    server.script(Stream(["Let me get someone. ", ToolFragment('{"reason": "refund"}', name="handoff")],
                         finish_reason="tool_calls"))
    assert ask(settings_for(server)).pieces == [Delta("Let me get someone. "), HandoffCall("refund")]


def test_a_handoff_call_with_broken_arguments_still_hands_off(server: ScriptedServer) -> None:
    server.script(Stream([ToolFragment('{"reason": "cut sh', name="handoff")], finish_reason="tool_calls"))
    assert ask(settings_for(server)).pieces == [HandoffCall("")]


# --- retries and errors -----------------------------------------------------------------------------


def test_an_error_500_is_retried_and_the_answer_arrives(server: ScriptedServer) -> None:
    server.script(Status(500, {"object": "error", "message": "engine busy", "code": 500}), answer("Hello"))
    outcome = ask(settings_for(server))
    assert outcome.error is None and outcome.text == "Hello"
    assert len(server.requests) == 2


def test_a_429_is_retried_too(server: ScriptedServer) -> None:
    server.script(Status(429, {"error": {"message": "Rate limit reached", "type": "requests"}}), answer("Hi"))
    outcome = ask(settings_for(server))
    assert outcome.text == "Hi" and len(server.requests) == 2


def test_a_500_forever_fails_after_llm_retries_plus_one_attempts_backing_off_doubly(server: ScriptedServer) -> None:
    server.script(Status(500, {"object": "error", "message": "CUDA out of memory", "code": 500}))
    outcome = ask(settings_for(server, llm_retries=3, llm_backoff_s=0.05))
    assert outcome.error is not None and outcome.pieces == []
    assert len(server.requests) == 4
    assert "HTTP 500" in str(outcome.error) and "CUDA out of memory" in str(outcome.error)
    assert "4 attempts" in str(outcome.error)
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2


def test_a_400_fails_at_once_with_the_servers_message_and_no_retry(server: ScriptedServer) -> None:
    server.script(Status(400, {"object": "error", "message": "The model `tiny-chat` does not exist.",
                               "type": "NotFoundError", "param": None, "code": 400}), answer("never"))
    outcome = ask(settings_for(server))
    assert outcome.error is not None
    assert "HTTP 400" in str(outcome.error) and "The model `tiny-chat` does not exist." in str(outcome.error)
    assert len(server.requests) == 1


def test_retries_never_outlast_llm_timeout_s(server: ScriptedServer) -> None:
    server.script(Status(503, {"message": "loading"}))
    outcome = ask(settings_for(server, llm_timeout_s=0.5, llm_backoff_s=1.0))
    assert outcome.error is not None and "no time left" in str(outcome.error)
    assert outcome.seconds < 0.5 and len(server.requests) == 1


def test_a_stream_cut_short_before_any_text_is_retried(server: ScriptedServer) -> None:
    server.script(Stream([], finish_reason=None, done=False), answer("whole"))
    outcome = ask(settings_for(server))
    assert outcome.text == "whole" and len(server.requests) == 2


def test_a_stream_cut_short_after_some_text_fails_without_a_retry(server: ScriptedServer) -> None:
    server.script(Stream(["half an "], finish_reason=None, done=False), answer("whole"))
    outcome = ask(settings_for(server))
    assert outcome.pieces == [Delta("half an ")]
    assert outcome.error is not None and "streamed" in str(outcome.error)
    assert len(server.requests) == 1


def test_an_unreachable_server_fails_after_the_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    settings = BotSettings(llm_backend="openai", llm_url=f"http://127.0.0.1:{port}/v1", llm_retries=1,
                           llm_backoff_s=0.01, llm_timeout_s=2.0, llm_first_token_s=0.5)
    outcome = ask(settings)
    assert outcome.error is not None and "cannot reach" in str(outcome.error) and "2 attempts" in str(outcome.error)


# --- timeouts --------------------------------------------------------------------------------------


def test_a_stall_before_the_first_token_fails_within_the_timeout(server: ScriptedServer) -> None:
    stall_s = 3.0
    server.script(answer(Pause(stall_s), "too late"))
    outcome = ask(settings_for(server, llm_first_token_s=0.3, llm_retries=0))
    assert outcome.error is not None and "llm_first_token_s=0.3" in str(outcome.error)
    assert outcome.pieces == []
    assert 0.3 <= outcome.seconds < 1.0  # well under the stall


def test_a_stall_before_the_first_token_is_retried(server: ScriptedServer) -> None:
    server.script(answer(Pause(3.0), "too late"), answer("on time"))
    outcome = ask(settings_for(server, llm_first_token_s=0.3))
    assert outcome.text == "on time" and len(server.requests) == 2
    assert outcome.seconds < 1.0


def test_a_stall_after_some_tokens_fails_after_the_deltas_already_yielded(server: ScriptedServer) -> None:
    server.script(answer("Refunds ", "take ", Pause(3.0), "5 days"))
    outcome = ask(settings_for(server, llm_first_token_s=0.3))
    assert outcome.pieces == [Delta("Refunds "), Delta("take ")]
    assert outcome.error is not None and "streamed" in str(outcome.error)
    assert len(server.requests) == 1  # no retry once text was shown
    assert outcome.seconds < 1.0


def test_an_answer_slower_than_llm_timeout_s_fails_at_the_whole_answer_timeout(server: ScriptedServer) -> None:
    trickle: list[Piece] = []
    for _ in range(30):
        trickle += ["word ", Pause(0.1)]  # never stalls, never finishes in time
    server.script(Stream(trickle))
    outcome = ask(settings_for(server, llm_timeout_s=0.6, llm_first_token_s=0.3))
    assert outcome.error is not None and "llm_timeout_s=0.6" in str(outcome.error)
    assert len(outcome.pieces) >= 3
    assert 0.6 <= outcome.seconds < 1.2


# --- auth, health, metrics, factory ------------------------------------------------------------------


def test_the_api_key_is_sent_as_a_bearer_header(server: ScriptedServer) -> None:
    server.script(answer("ok"))
    ask(settings_for(server, llm_api_key="sk-test-123"))
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-123"


def test_no_authorization_header_is_sent_without_a_key(server: ScriptedServer) -> None:
    server.script(answer("ok"))
    ask(settings_for(server))
    assert "authorization" not in server.requests[0].headers


def test_health_asks_the_server_root_not_v1(server: ScriptedServer) -> None:
    async def check(url: str) -> tuple[bool, bool]:
        backend = OpenAIBackend(replace(settings_for(server), llm_url=url))
        try:
            healthy = await backend.health()
            server.healthy = False
            unhealthy = await backend.health()
        finally:
            server.healthy = True
            await backend.close()
        return healthy, unhealthy

    assert asyncio.run(check(f"{server.url}/v1/")) == (True, False)


def test_health_is_false_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def check() -> bool:
        backend = OpenAIBackend(BotSettings(llm_backend="openai", llm_url=f"http://127.0.0.1:{port}/v1"))
        try:
            return await backend.health()
        finally:
            await backend.close()

    assert asyncio.run(check()) is False


def test_metrics_returns_the_text_of_the_servers_metrics_endpoint(server: ScriptedServer) -> None:
    async def fetch() -> str | None:
        backend = OpenAIBackend(settings_for(server))
        try:
            return await backend.metrics()
        finally:
            await backend.close()

    assert asyncio.run(fetch()) == METRICS


def test_the_factory_makes_no_generator_for_none_and_the_openai_backend_for_openai(server: ScriptedServer) -> None:
    assert make_generator(BotSettings(llm_backend="none")) is None
    generator = make_generator(settings_for(server))
    assert isinstance(generator, OpenAIBackend) and generator.name == "openai"
    asyncio.run(generator.close())
