"""Answer generation: the interface every LLM backend implements (the factory that picks one is
:func:`switchboard.llm.factory.make_generator`, a floor above the backends).

A backend turns chat messages (see :mod:`switchboard.llm.prompt`) into a stream of
:class:`Delta` pieces, shown to the visitor as they come, and at most one
:class:`HandoffCall` when the model calls the ``handoff`` tool. Every failure is
one exception, :class:`GenerationFailed`; the caller answers from retrieval instead.

The backend, not the caller, enforces both clocks of an answer (:class:`Deadlines`):
the whole answer (``llm_timeout_s``, retries and back-off included) and the stall
clock (``llm_first_token_s``: the first piece, then the gap between pieces). Each
await inside a backend is bounded by the nearer of the two; a timeout is never held
across a ``yield``, where it would fire inside the consumer's code instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["Deadlines", "Delta", "GenerationFailed", "Generator", "HANDOFF_TOOL", "HandoffCall", "Stalled"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the generated answer, to stream to the visitor as it comes."""

    text: str


@dataclass(frozen=True, slots=True)
class HandoffCall:
    """The model called the ``handoff`` tool: the visitor should get a person."""

    reason: str


class GenerationFailed(Exception):
    """No (complete) answer: timeout, stall, an error status after retries, a broken stream.

    The caller falls back to the retrieval answer; if some deltas were already shown,
    it decides how to finish the message (the backend never retries after a delta).
    """


class Stalled(GenerationFailed):
    """Nothing arrived within ``llm_first_token_s`` of the start or of the previous piece."""


class Generator(Protocol):
    """An LLM backend. One instance serves many answers, concurrently, on one event loop."""

    name: str

    def stream(self, messages: list[dict[str, str]], *, allow_handoff: bool = True
               ) -> AsyncIterator[Delta | HandoffCall]: ...

    async def health(self) -> bool: ...

    async def close(self) -> None: ...


HANDOFF_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "handoff",
        "description": ("Hand the conversation to a human agent. Call it when the visitor asks for a person, "
                        "or when the sources cannot answer and the visitor still needs help."),
        "parameters": {
            "type": "object",
            "properties": {
                "reason": {"type": "string",
                           "description": "One short sentence for the agent: why a person is needed."},
            },
            "required": ["reason"],
        },
    },
}


class Deadlines:
    """The two clocks of one answer, in event-loop time (see the module docstring).

    ``restart()`` starts the stall clock again: at the start of each attempt and
    whenever a piece arrives. ``within(aw)`` awaits one step under the nearer deadline.
    """

    def __init__(self, total_s: float, stall_s: float, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or asyncio.get_running_loop().time
        self.total_s, self.stall_s = total_s, stall_s
        self.end = self._clock() + total_s
        self._stall_at = self.end
        self.restart()

    def restart(self) -> None:
        self._stall_at = min(self._clock() + self.stall_s, self.end)

    def remaining(self) -> float:
        return self.end - self._clock()

    async def within(self, aw: Awaitable[T]) -> T:
        """Await `aw`; on the deadline raise GenerationFailed (whole answer) or Stalled."""
        try:
            async with asyncio.timeout_at(self._stall_at):
                return await aw
        except TimeoutError:
            raise self.expired() from None

    def expired(self) -> GenerationFailed:
        if self._clock() >= self.end:
            return GenerationFailed(f"no complete answer within llm_timeout_s={self.total_s:g} s")
        return Stalled(f"nothing streamed for llm_first_token_s={self.stall_s:g} s")

