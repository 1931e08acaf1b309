"""The bot: retrieval, the answer policy and (where configured) generation, for one question at a time.

The rules that choose what to say (answer, suggest, decline, hand off) are in
:mod:`switchboard.llm.policy`; this module runs them. The edge's side, which hands the
engine's questions to the bot and posts its answers into the conversation, is
:mod:`switchboard.edges.botworker.worker`; :func:`switchboard.llm.factory.open_bot`
builds a bot from the settings.

:meth:`Bot.decide` is retrieval plus policy, blocking and fast;
:meth:`Bot.answer` adds generation for ``answer`` decisions when an LLM backend
is configured, streaming the model's text through ``on_delta`` as it comes. Any
failure of the model (timeout, stall, error status, a broken stream) falls back
to the retrieval answer, so the visitor never waits past ``llm_timeout_s``.
The model may also call the ``handoff`` tool, which turns the reply into a
handoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from switchboard.settings import BotSettings
from switchboard.llm.generation import Delta, GenerationFailed, Generator, HandoffCall
from switchboard.llm.kb import KnowledgeBase
from switchboard.llm.policy import HANDOFF_TEXT, Decision, decide
from switchboard.llm.prompt import build_messages

__all__ = ["Bot", "Reply", "Turn"]

log = logging.getLogger("switchboard.bot")

Turn = tuple[str, str]  # (role: visitor | bot, text)
OnDelta = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    decision: Decision
    text: str  # what the visitor finally reads
    generated: bool = False  # the text came from the LLM
    fallback: str | None = None  # why generation was abandoned for the retrieval answer


class Bot:
    def __init__(self, kb: KnowledgeBase, settings: BotSettings, generator: Generator | None = None) -> None:
        self.kb, self.settings, self.generator = kb, settings, generator

    def decide(self, question: str, low_streak: int = 0) -> Decision:
        self.kb.refresh()
        matches = self.kb.search(question, self.settings.top_k)
        return decide(question, matches, self.kb.thresholds, low_streak=low_streak,
                      streak_limit=self.settings.low_streak_handoff)

    async def answer(self, question: str, turns: list[Turn], low_streak: int = 0,
                     on_delta: OnDelta | None = None) -> Reply:
        decision = await asyncio.to_thread(self.decide, question, low_streak)
        if decision.kind != "answer" or not decision.sources or self.generator is None:  # no source: a fixed reply
            return Reply(decision, decision.text)
        return await self._generate(question, turns, decision, on_delta)

    async def _generate(self, question: str, turns: list[Turn], decision: Decision, on_delta: OnDelta | None) -> Reply:
        assert self.generator is not None
        chunks = [(m.entry.title or m.entry.document, m.entry.text) for m in decision.matches
                  if m.topic_score >= self.kb.thresholds.suggest]
        tools = bool(getattr(self.generator, "supports_tools", True))  # the in-process backend has no tool calling
        messages = build_messages(question, turns, chunks, self.settings.prompt_budget_tokens,
                                  self.settings.prompt_turns, handoff_tool=tools)
        parts: list[str] = []
        try:
            async with asyncio.timeout(self.settings.llm_timeout_s + 1.0):  # the backend's own timeout, plus a margin
                async for piece in self.generator.stream(messages, allow_handoff=tools):
                    if isinstance(piece, HandoffCall):
                        handoff = replace(decision, kind="handoff", text=HANDOFF_TEXT)
                        return Reply(handoff, HANDOFF_TEXT, generated=True)
                    if isinstance(piece, Delta) and piece.text:
                        parts.append(piece.text)
                        if on_delta is not None:
                            await on_delta(piece.text)
        except (GenerationFailed, TimeoutError) as exc:
            log.warning("generation failed, answering from retrieval: %s", exc)
            return Reply(decision, decision.text, fallback=str(exc) or type(exc).__name__)
        text = "".join(parts).strip()
        if not text:
            return Reply(decision, decision.text, fallback="the model returned no text")
        return Reply(decision, text, generated=True)
