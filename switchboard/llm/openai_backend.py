"""``llm_backend: openai``: any OpenAI-compatible chat-completions server (trtllm-serve, vLLM, OpenAI).

One answer is one ``POST {llm_url}/chat/completions`` with ``stream: true``. The
reply is server-sent events: one ``data: {chunk}`` line per chunk, then
``data: [DONE]``. A chunk's ``choices[0].delta.content`` is the next piece of text;
a ``tool_calls`` entry arrives in fragments (the name first, then the ``arguments``
JSON a few characters at a time), which are put together and turned into one
:class:`HandoffCall` when the choice finishes. These servers put each event on one
``data:`` line, so every such line is handled as it arrives.

Retries (``llm_retries``, back-off ``llm_backoff_s`` doubled each time) are only for
failures before anything reached the caller: a connection error, a stall before
the first piece, HTTP 429 or 5xx, a stream cut short. Once a delta was yielded a
retry would repeat text the visitor already read, so any failure is final. Other
4xx statuses are our mistake (a bad model name, too long a prompt): final at once,
with the server's own message. Everything happens within ``llm_timeout_s``,
back-off included (:class:`~switchboard.llm.generation.Deadlines`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from switchboard.settings import BotSettings
from switchboard.llm.generation import HANDOFF_TOOL, Deadlines, Delta, GenerationFailed, HandoffCall, Stalled

__all__ = ["OpenAIBackend"]

log = logging.getLogger("switchboard.llm.openai")


class _Transient(GenerationFailed):
    """A failure worth another attempt, if the caller has seen nothing yet."""


@dataclass(slots=True)
class _ToolCall:
    name: str = ""
    arguments: str = ""


class OpenAIBackend:
    """Streams answers from ``settings.llm_url``; one instance per event loop (it owns an httpx pool)."""

    name = "openai"
    supports_tools = True  # the handoff tool, when the server parses tool calls (docs/llm.md)

    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self.url = settings.llm_url.rstrip("/")
        self.root = server_root(self.url)
        headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
        # Deadlines bound every await; httpx's own timeout is only a backstop.
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(settings.llm_timeout_s))

    async def stream(self, messages: list[dict[str, str]], *, allow_handoff: bool = True
                     ) -> AsyncIterator[Delta | HandoffCall]:
        """Delta pieces as they arrive, then a HandoffCall if the model called ``handoff``.

        Raises:
            GenerationFailed: see the module docstring; the message says what and how often.
        """
        settings = self.settings
        body = self._body(messages, allow_handoff)
        deadlines = Deadlines(settings.llm_timeout_s, settings.llm_first_token_s)
        delay = settings.llm_backoff_s
        attempts = settings.llm_retries + 1
        for attempt in range(1, attempts + 1):
            yielded = False
            try:
                async with aclosing(self._attempt(body, deadlines)) as pieces:
                    async for piece in pieces:
                        yielded = True
                        yield piece
                return
            except (_Transient, Stalled) as exc:
                if yielded:
                    raise GenerationFailed(f"{exc} (after part of the answer was streamed)") from exc
                if attempt == attempts:
                    raise GenerationFailed(f"{exc} (gave up after {attempts} attempts)") from exc
                if deadlines.remaining() <= delay:
                    raise GenerationFailed(f"{exc} (no time left in llm_timeout_s for a retry)") from exc
                log.info("LLM attempt %d of %d failed, retrying in %.2f s: %s", attempt, attempts, delay, exc)
                await asyncio.sleep(delay)
                delay *= 2
            except GenerationFailed:
                raise
            except Exception as exc:  # the caller is promised GenerationFailed and nothing else
                raise GenerationFailed(f"the LLM request failed: {exc!r}") from exc

    def _body(self, messages: list[dict[str, str]], allow_handoff: bool) -> dict[str, object]:
        body: dict[str, object] = {"model": self.settings.llm_model, "messages": messages, "stream": True,
                                   "max_tokens": self.settings.llm_max_tokens,
                                   "temperature": self.settings.llm_temperature}
        if allow_handoff:
            body["tools"] = [HANDOFF_TOOL]
        return body

    async def _attempt(self, body: dict[str, object], deadlines: Deadlines) -> AsyncGenerator[Delta | HandoffCall, None]:
        deadlines.restart()
        request = self._client.build_request("POST", f"{self.url}/chat/completions", content=orjson.dumps(body),
                                             headers={"Content-Type": "application/json",
                                                      "Accept": "text/event-stream"})
        try:
            response = await deadlines.within(self._client.send(request, stream=True))
        except httpx.RequestError as exc:
            raise _Transient(f"cannot reach the LLM server at {self.url}: {exc!r}") from exc
        try:
            if response.status_code != 200:
                raise await self._status_error(response, deadlines)
            calls: dict[int, _ToolCall] = {}
            finished = False
            lines = response.aiter_lines()
            while True:
                try:
                    line = await deadlines.within(anext(lines))
                except StopAsyncIteration:
                    break
                except httpx.RequestError as exc:
                    raise _Transient(f"the LLM stream broke: {exc!r}") from exc
                data = _data(line)
                if data is None:
                    continue
                if data == "[DONE]":
                    finished = True
                    break
                progressed, finish_reason = _apply(_json(data), calls)
                for piece in progressed:
                    if isinstance(piece, Delta):
                        yield piece
                if progressed:
                    deadlines.restart()
                if finish_reason is not None:  # one choice (n=1): the answer is complete, [DONE] adds nothing
                    finished = True
                    break
            if not finished:
                raise _Transient("the LLM stream ended before the answer was complete")
            handoff = _handoff(calls)
            if handoff is not None:
                yield handoff
        finally:
            await response.aclose()

    async def _status_error(self, response: httpx.Response, deadlines: Deadlines) -> GenerationFailed:
        try:
            raw = await deadlines.within(response.aread())
        except (GenerationFailed, httpx.RequestError):
            raw = b""
        message = f"the LLM server answered HTTP {response.status_code}: {_error_message(raw)}"
        if response.status_code == 429 or response.status_code >= 500:
            return _Transient(message)
        return GenerationFailed(message)

    async def health(self) -> bool:
        """True when ``{root}/health`` answers 200 (trtllm-serve's health check sits at the root, not under /v1)."""
        try:
            response = await self._client.get(f"{self.root}/health", timeout=self.settings.llm_first_token_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def metrics(self) -> str | None:
        """The text of ``{root}/metrics`` (trtllm-serve: runtime iteration statistics), or None; for operators."""
        try:
            response = await self._client.get(f"{self.root}/metrics", timeout=self.settings.llm_first_token_s)
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    async def close(self) -> None:
        await self._client.aclose()


def server_root(url: str) -> str:
    """``http://host:8001/v1`` -> ``http://host:8001``: where trtllm-serve (and vLLM) serve /health and /metrics."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _data(line: str) -> str | None:
    """The payload of an SSE ``data:`` line; None for blank lines, comments and other fields."""
    if not line.startswith("data:"):
        return None
    data = line[len("data:"):]
    return (data[1:] if data.startswith(" ") else data).strip()


def _json(data: str) -> dict[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GenerationFailed(f"the LLM server sent a chunk that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise GenerationFailed(f"the LLM server sent a chunk that is not an object: {data[:200]!r}")
    return chunk


def _apply(chunk: dict[str, Any], calls: dict[int, _ToolCall]) -> tuple[list[Delta | _ToolCall], str | None]:
    """Fold one chunk into `calls`; return what progressed (text deltas, tool-call fragments) and the finish reason."""
    if "error" in chunk:  # vLLM and others report a failure mid-stream as an error chunk
        raise _Transient(f"the LLM server failed mid-stream: {_error_text(chunk)}")
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return [], None  # e.g. a usage-only chunk
    choice = choices[0]
    delta = choice.get("delta") or {}
    progressed: list[Delta | _ToolCall] = []
    content = delta.get("content") if isinstance(delta, dict) else None
    if isinstance(content, str) and content:
        progressed.append(Delta(content))
    for fragment in (delta.get("tool_calls") or []) if isinstance(delta, dict) else []:
        if not isinstance(fragment, dict):
            continue
        index = fragment.get("index")
        call = calls.setdefault(index if isinstance(index, int) else 0, _ToolCall())
        function = fragment.get("function") or {}
        if isinstance(function.get("name"), str) and function["name"] and not call.name:
            call.name = function["name"]
        if isinstance(function.get("arguments"), str):
            call.arguments += function["arguments"]
        progressed.append(call)
    finish_reason = choice.get("finish_reason")
    return progressed, finish_reason if isinstance(finish_reason, str) else None


def _handoff(calls: dict[int, _ToolCall]) -> HandoffCall | None:
    """The first ``handoff`` call, if any. Arguments that are not valid JSON still hand off, with no reason:
    the model's intent is clear even when its JSON is not."""
    for _, call in sorted(calls.items()):
        if call.name == "handoff":
            try:
                arguments = orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            reason = arguments.get("reason") if isinstance(arguments, dict) else None
            return HandoffCall(reason if isinstance(reason, str) else "")
    return None


def _error_message(raw: bytes) -> str:
    """The server's own words: OpenAI's ``{"error": {"message"}}``, trtllm-serve's and vLLM's ``{"message"}``."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip()[:500] or "(empty body)"
    return _error_text(body) if isinstance(body, dict) else str(body)[:500]


def _error_text(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    for key in ("message", "detail"):
        if body.get(key):
            return str(body[key])[:500]
    return str(error or body)[:500]
