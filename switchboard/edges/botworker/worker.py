"""The bot at the edge: questions from the engine in, answers back into the conversation as messages.

A conversation in its bot phase hands each visitor message out as an
:class:`~switchboard.actors.effects.AskBot`; the relay passes it here once the
message itself is stored. The worker answers one question per conversation at
a time, in order; the bot itself (retrieval, the answer policy in
:mod:`switchboard.llm.policy`, generation) runs in a child process
(:mod:`.process`), off the edge's event loop and out of its memory. It streams
generated text to the visitor as ``bot_delta`` frames, and posts the final
answer as a ``Post`` from the bot with its decision, suggestions and sources in
``extra``. A ``handoff`` decision also sends ``RequestHuman``, which puts the
conversation into the dispatch flow like the visitor's own request: to the group of
the document the bot matched (this question's best on-topic match, else the last
one this conversation matched: a document's ``group``, docs/bot.md), else the
default skill group. The conversation's matched group is kept in its Redis hash
(``kb_group``), so the visitor's own ``request_human`` without a group goes there
too. A verified visitor's priority, designated agent and familiar agent (the
``id_*`` fields the visitor socket left in their Redis hash) travel with it.

Per-conversation state here (the low-confidence streak) is small, bounded and
deliberately not durable: after a restart the streak starts again at zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from typing import TypedDict

import redis.asyncio as aioredis

from switchboard.actors.address import Address, UserRef
from switchboard.actors.effects import AskBot
from switchboard.actors.engine import Engine
from switchboard.actors.messages import Post, RequestHuman
from switchboard.llm.bot import Reply, Turn
from switchboard.store.kb import document_group
from switchboard.settings import BotSettings, ServerSettings
from switchboard.edges.botworker.process import BotProcess
from switchboard.edges.delivery import history
from switchboard.edges.delivery.fanout import Hub
from switchboard.edges.keys import as_str, conv_key, visitor_key
from switchboard.edges.protocol import VISITOR_REF, frame, make_ref

__all__ = ["BotWorker", "BotExtra", "BOT_ID", "start_bot_worker", "stop_bot_worker"]

log = logging.getLogger("switchboard.bot")

BOT_ID = "bot"
FAILED_TEXT = "Sorry, I can't answer right now. You can ask to talk to a person."
EMAIL_TEXT = "A person will take over. Please leave your email address first, so they can reach you if we get cut off."
_STREAKS_KEPT = 10_000
_GROUPS_KEPT, _GROUP_TTL_S = 1000, 5.0  # documents' hand-off groups, cached


class BotExtra(TypedDict, total=False):
    """What a bot's message carries in ``extra`` (docs/protocol.md, the bot's messages)."""

    decision: str  # answer | suggest | decline | handoff, or error when the bot failed
    generated: bool  # the text came from the LLM
    suggestions: list[dict[str, str]]  # [{"id", "question"}]
    sources: list[dict[str, str]]  # [{"id", "title"}]
    offer_human: bool  # the widget offers a person beside this answer
    email_required: bool  # a hand-off waits for the visitor's email (the widget asks for it)


class BotWorker:
    def __init__(self, bot: BotProcess | None, engine: Engine, hub: Hub, redis: aioredis.Redis, settings: BotSettings,
                 default_group: str, require_email: bool = False) -> None:
        self.bot, self.engine, self.hub, self.redis = bot, engine, hub, redis
        self.settings, self.default_group, self.require_email = settings, default_group, require_email
        self._tails: dict[str, asyncio.Task[None]] = {}  # per conversation: the last question's task
        self._streaks: OrderedDict[str, int] = OrderedDict()
        self._groups: OrderedDict[str, tuple[str | None, float]] = OrderedDict()  # document: (group, read at)
        self.answered = 0

    def ask(self, question: AskBot) -> None:
        """Queue `question` behind any earlier one of the same conversation (called on the event loop)."""
        if self.bot is None:
            return
        before = self._tails.get(question.conversation)
        task = asyncio.create_task(self._after(before, question), name=f"bot:{question.conversation}")
        self._tails[question.conversation] = task
        task.add_done_callback(functools.partial(self._forget, question.conversation))

    async def idle(self) -> None:
        """Wait until every question asked so far is answered (tests and shutdown)."""
        while self._tails:
            await asyncio.gather(*self._tails.values(), return_exceptions=True)

    def _forget(self, conversation: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(conversation) is task:
            del self._tails[conversation]

    async def _after(self, before: asyncio.Task[None] | None, question: AskBot) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        try:
            await self._answer(question)
        except Exception:
            log.exception("the bot failed on %s seq %s", question.conversation, question.seq)
            self._post(question, FAILED_TEXT, {"decision": "error"})

    async def _answer(self, q: AskBot) -> None:
        if self.bot is None:  # the bot is turned off: messages wait for the visitor's request_human
            return
        turns = await self._turns(q)
        streak = self._streaks.get(q.conversation, 0)
        reply = await self.bot.answer(q.text, turns, streak, on_delta=lambda text: self._delta(q, text))
        self._remember_streak(q.conversation, 0 if reply.decision.kind == "handoff" or not reply.decision.low
                              else streak + 1)
        extra, text = _extra(reply), reply.text
        hand_off = reply.decision.kind == "handoff"
        if hand_off and self.require_email and not await self.redis.hget(visitor_key(q.visitor), "email"):
            # The widget shows an email form and sends request_human itself once it has one.
            hand_off, extra["email_required"] = False, True
            text = EMAIL_TEXT
        group = await self._group_of(reply.decision.document) if reply.decision.document else None
        if group is not None:
            await self.redis.hset(conv_key(q.conversation), "kb_group", group)
        self._post(q, text, extra)
        self.answered += 1
        if hand_off:
            await self._hand_off(q, group)

    async def _delta(self, q: AskBot, text: str) -> None:
        self.hub.to_user(UserRef.visitor(q.visitor), frame("bot_delta", conversation=q.conversation, reply_to=q.seq,
                                                           text=text))

    def _post(self, q: AskBot, text: str, extra: BotExtra) -> None:
        # The client id makes a re-asked question (a relay retry) answer once: the conversation dedupes it.
        post = Post("bot", BOT_ID, text, client_id=f"re:{q.seq}", extra=dict(extra))
        self.engine.send(Address.conversation(q.conversation), post)

    async def _hand_off(self, q: AskBot, group: str | None = None) -> None:
        if group is None:
            group = as_str(await self.redis.hget(conv_key(q.conversation), "kb_group"))
        last_agent, user, priority, agent, familiar = (as_str(v) for v in await self.redis.hmget(
            visitor_key(q.visitor), ["last_agent", "id_user", "id_priority", "id_agent", "id_familiar"]))
        verified = bool(user)
        request = RequestHuman(group or self.default_group, priority=int(priority or 0) if verified else 0,
                               agent=agent if verified else None, last_agent=last_agent,
                               familiar_agent=familiar if verified else None)
        # The ref routes a refusal (no such group, a full queue) to the visitor's sockets.
        ref = make_ref(VISITOR_REF, q.visitor, "request_human", None)
        self.engine.send(Address.conversation(q.conversation), request, ref=ref)

    async def _group_of(self, document: str) -> str | None:
        """The hand-off group of `document` (None: the default), from the store, cached a few seconds."""
        cached = self._groups.get(document)
        if cached is not None and time.monotonic() - cached[1] < _GROUP_TTL_S:
            return cached[0]
        try:
            group = await asyncio.to_thread(document_group, document)
        except Exception as exc:  # the store is down: the default group serves, and the log says so
            log.warning("could not read the hand-off group of %r (%s)", document[:120], type(exc).__name__)
            return cached[0] if cached is not None else None
        self._groups[document] = (group, time.monotonic())
        self._groups.move_to_end(document)
        while len(self._groups) > _GROUPS_KEPT:
            self._groups.popitem(last=False)
        return group

    async def _turns(self, q: AskBot) -> list[Turn]:
        """The bot phase's recent turns before this question, for the prompt."""
        if self.settings.llm_backend == "none":
            return []
        after = max(0, q.seq - 1 - 2 * self.settings.prompt_turns)
        frames = await history.fetch(self.redis, q.conversation, after, q.seq - 1, for_visitor=True)
        return [(m["sender"]["role"], m["text"]) for m in frames if m["sender"]["role"] in ("visitor", "bot")]

    def _remember_streak(self, conversation: str, streak: int) -> None:
        self._streaks[conversation] = streak
        self._streaks.move_to_end(conversation)
        while len(self._streaks) > _STREAKS_KEPT:
            self._streaks.popitem(last=False)


def _extra(reply: Reply) -> BotExtra:
    d = reply.decision
    extra: BotExtra = {"decision": d.kind, "generated": reply.generated}
    if d.suggestions:
        extra["suggestions"] = d.suggestions
    if d.sources:
        extra["sources"] = d.sources
    if d.kind in ("decline", "handoff") or d.low:
        extra["offer_human"] = True
    return extra


# --- building one -----------------------------------------------------------------------------------


async def start_bot_worker(server: ServerSettings, settings: BotSettings, engine: Engine, hub: Hub,
                           redis: aioredis.Redis, mongodb_uri: str) -> BotWorker:
    """The worker, with the bot started in its child process (none when the bot is turned off)."""
    bot = await BotProcess.start(server, settings, mongodb_uri) if settings.enabled else None
    return BotWorker(bot, engine, hub, redis, settings, server.default_group, bool(server.require_email))


async def stop_bot_worker(worker: BotWorker, timeout_s: float = 5.0) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(worker.idle(), timeout_s)
    if worker.bot is not None:
        await worker.bot.close()
