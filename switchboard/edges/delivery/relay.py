"""The relay: what the engine produces, made durable and carried to people.

The engine hands out deliveries (events for a person, refusals for whoever
sent a command) and records (a numbered chat message, a conversation's new
state). The relay takes them in the engine's order and keeps that order on
the way out: each one waits in one FIFO behind the store write it depends on,
so a message is in MongoDB before its author is acked and before anyone sees
it, and a ``closed`` never overtakes the last message before it. Store writes
are group-committed by :class:`~switchboard.store.writer.StoreWriter`, so the
FIFO rarely waits for more than one batch.

Exactly one relay runs per engine (in the single server process, or in the
engine process when several edges share a Ray engine); it reaches sockets on
any edge through :class:`~.fanout.Hub`. It knows the writer and the bot only as
:class:`ArchiveWriter` and :class:`BotAsker`; tests/edges/test_relay.py holds a
store write back and checks the promise above.

A message the store already had under an earlier seq (the same author and client id: a re-send that
came after the engine's dedupe window forgot the first, as after an outage) is carried as the engine
carries its own duplicates: the author is acked with the earlier seq, no one else is told, and the bot
is not asked again (decision 014).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import OrderedDict, deque
from typing import Any, Awaitable, Protocol

import orjson
from redis.asyncio.client import Pipeline

from switchboard.actors.address import UserRef
from switchboard.actors.effects import AskBot
from switchboard.actors.events import (ArchiveRecord, Assigned, ConversationAssigned, ConversationState, PersonEvent, Posted,
                                       PresenceChanged, Refused)
from switchboard.actors.output import BotQuestion, EngineOutput, Recorded, Refusal
from switchboard.edges import codes
from switchboard.edges.delivery.claims import stage_claim, stage_release
from switchboard.edges.delivery.fanout import Hub
from switchboard.edges.delivery.history import message_frame, stage_append
from switchboard.edges.delivery.names import Names
from switchboard.edges.keys import ENDED_CONV_TTL_S, LIVE_CHANNEL, WATCH_CHANNEL, conv_hash, conv_key, history_key, \
    live_change, visitor_key, watch_change
from switchboard.edges.protocol import VISITOR_REF, Frame, frame, parse_ref

__all__ = ["Relay", "ArchiveWriter", "BotAsker"]

_TURNS_KEPT = 5000  # conversations whose last turns the relay keeps in memory (about 3 KB each)
_UNCARRIED_KEPT = 10_000  # messages whose store write failed, kept until re-sent (the engine keeps their client ids)
# Raise the conversation view's last_seq to ARGV[1], never lower it (a message carried late, older than the newest).
_RAISE_LAST_SEQ = ("local c = tonumber(redis.call('HGET', KEYS[1], 'last_seq') or '0') "
                   "if tonumber(ARGV[1]) > c then redis.call('HSET', KEYS[1], 'last_seq', ARGV[1]) end return 0")

log = logging.getLogger("switchboard.relay")


class ArchiveWriter(Protocol):
    """Where records become durable: :class:`~switchboard.store.writer.StoreWriter` (or a test's stand-in).

    Each call queues one record and returns what resolves once it is stored, or raises (then, or when
    awaited) if it could not be. A message's resolves to None, or to the seq under which the store already
    had it (the same author and client id: a re-send the engine had forgotten), and then it was not stored.
    """

    def submit_message(self, msg: dict[str, Any]) -> Awaitable[int | None]: ...

    def submit_conversation(self, state: dict[str, Any]) -> Awaitable[object]: ...


class PresenceWriter(Protocol):
    """A writer that also keeps agents' presence intervals (StoreWriter does; a test's stand-in may not)."""

    def submit_presence(self, agent: str, old: str, new: str, at: float) -> Awaitable[object]: ...


class BotAsker(Protocol):
    """Who answers the visitors' questions: :class:`~switchboard.edges.botworker.worker.BotWorker`."""

    def ask(self, question: AskBot) -> None: ...


class Relay:
    def __init__(self, hub: Hub, writer: ArchiveWriter, names: Names, history_cap: int, bot: BotAsker | None = None,
                 handoff_turns: int = 10) -> None:
        self.hub, self.writer, self.names, self.cap = hub, writer, names, history_cap
        self.bot, self.handoff_turns = bot, handoff_turns
        # The last turns of recently active conversations, for conversation_assigned.recent: the Redis
        # history may not hold the newest of them yet (it is written in the hub's next flush).
        self._turns: OrderedDict[str, deque[Frame]] = OrderedDict()
        self._fifo: asyncio.Queue[tuple[Awaitable[object] | None, EngineOutput]] = asyncio.Queue()
        self._history: dict[str, list[Frame]] | None = None  # messages for the hub's next flush
        # Messages numbered by the engine but never carried (their store write failed), by (conversation, seq):
        # the engine acks a re-send as a duplicate of the first seq, so the relay carries it then, once.
        self._uncarried: OrderedDict[tuple[str, int], Posted] = OrderedDict()
        # Seqs the engine gave re-sends the store already had under an earlier seq: their questions to the bot
        # were asked with the first send.
        self._stored_earlier: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self.failed_writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="relay")

    def push(self, delivery: EngineOutput) -> None:
        """Take one output of the engine (on the event loop, in the engine's order)."""
        pending: Awaitable[object] | None = None
        try:
            if isinstance(delivery, Recorded):
                pending = self._submit(delivery.event)
        except Exception as exc:  # refused before it was queued (malformed, writer closed): fails like a write
            failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            pending = failed
        self._fifo.put_nowait((pending, delivery))

    def _submit(self, record: ArchiveRecord) -> Awaitable[object]:
        """The store write a record waits behind."""
        if isinstance(record, Posted):  # a re-send of a message never carried stores that message
            return self.writer.submit_message(self._stored(self._uncarried.get(_key(record), record)
                                                           if record.duplicate else record))
        if isinstance(record, PresenceChanged):
            submit = getattr(self.writer, "submit_presence", None)
            if submit is None:  # a writer without presence intervals: nothing to wait for
                done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done
            presence: PresenceWriter = self.writer  # type: ignore[assignment]
            return presence.submit_presence(record.agent, record.old, record.new, record.at)
        return self.writer.submit_conversation(record.state)

    async def idle(self) -> None:
        await self._fifo.join()
        await self.hub.flushed()

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.idle(), timeout=10)
        except asyncio.TimeoutError:
            log.warning("stopping the relay with deliveries not yet carried")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        while True:
            pending, delivery = await self._fifo.get()
            try:
                stored_as = await pending if pending is not None else None
                if isinstance(stored_as, int):
                    delivery = self._as_earlier(delivery, stored_as)
                await self._carry(delivery)
            except Exception as exc:
                self._failed(delivery, exc)
            finally:
                self._fifo.task_done()

    def _failed(self, delivery: EngineOutput, exc: Exception) -> None:
        event = delivery.event
        log.error("could not store %s: %s", type(event).__name__, exc)
        self.failed_writes += 1
        if isinstance(event, Posted) and not event.duplicate:
            self._uncarried[_key(event)] = event
            while len(self._uncarried) > _UNCARRIED_KEPT:
                self._uncarried.popitem(last=False)
        if isinstance(event, ConversationState):
            # The engine has moved on either way: the edges' view of it (who may read, resume, rate) must too.
            # The store catches up with the conversation's next state.
            try:
                self._state(event.state)
            except Exception:  # a state that could not be stored may not be writable here either
                log.exception("could not put conversation state into Redis")
        if isinstance(event, Posted) and event.role in ("visitor", "agent"):
            # No ack: the client keeps the message and re-sends it with the same client id.
            err = frame("error", code=codes.STORE_UNAVAILABLE, message="the message was not saved; send it again",
                        client_id=event.client_id, conversation=event.conversation)
            self.hub.to_user(UserRef(event.role, event.author), err)

    def _as_earlier(self, delivery: EngineOutput, seq: int) -> EngineOutput:
        """A message the store had under `seq` already (same author and client id): a duplicate of that one,
        acked with its seq and carried to no one again (the engine's own duplicates look the same)."""
        if not isinstance(delivery, Recorded) or not isinstance(delivery.event, Posted):
            return delivery
        event = delivery.event
        log.info("a re-send of %s in %s was stored before as seq %d; seq %d stays unused", event.client_id,
                 event.conversation, seq, event.seq)
        self._stored_earlier[_key(event)] = seq
        while len(self._stored_earlier) > _UNCARRIED_KEPT:
            self._stored_earlier.popitem(last=False)
        return Recorded(dataclasses.replace(event, seq=seq, duplicate=True, prev=0), delivery.ref, delivery.at)

    # --- one delivery ---------------------------------------------------------------------------------

    async def _carry(self, d: EngineOutput) -> None:
        if isinstance(d, Recorded):
            if isinstance(d.event, Posted):
                await self._posted(d.event)
            elif isinstance(d.event, ConversationState):
                self._state(d.event.state)
        elif isinstance(d, Refusal):
            self._refused(d.event)
        elif isinstance(d, BotQuestion):
            if self._stored_earlier.pop((d.event.conversation, d.event.seq), None) is not None:
                return  # a re-send of a message the bot was asked about when it was first sent
            if self.bot is not None:  # asked only now: the question is stored and delivered before the answer
                self.bot.ask(d.event)
        else:
            self.hub.to_user(d.to, await self._event_frame(d.event))

    async def _posted(self, p: Posted) -> None:
        # A duplicate is only acked, unless its first send was never carried (store_unavailable): then this
        # re-send carries that message (as first numbered: its text, time and prev), once.
        first = self._uncarried.get(_key(p)) if p.duplicate else None
        m = p if first is None else first
        name = await self.names.display(m.role, m.author)
        message = message_frame(m.conversation, m.seq, m.prev, m.role, m.author, name, m.message_kind, m.text,
                                m.client_id, m.at, m.extra)
        author = UserRef(p.role, p.author) if p.role in ("visitor", "agent") else None
        if first is not None:
            del self._uncarried[_key(p)]
            self._stage_late(message)
        elif not p.duplicate:
            self._stage_history(message)
        if first is not None or not p.duplicate:
            self._remember_turn(p.conversation, message)
            for user in p.recipients:
                if user != author:
                    self.hub.to_user(user, message)
        if author is not None:
            self.hub.to_user(author, {**message, "type": "ack"})

    def _stage_history(self, message: Frame) -> None:
        """Messages wait for the hub's next flush grouped by conversation: a few Redis commands per
        conversation per flush, not per message."""
        batch = self._history
        if batch is None:
            batch = self._history = {}
            self.hub.write(functools.partial(self._write_history, batch))
        batch.setdefault(message["conversation"], []).append(message)

    def _stage_late(self, message: Frame) -> None:
        """A message carried after later ones may have been: into the history, and last_seq only ever raised."""
        conversation = message["conversation"]

        def stage(pipe: Pipeline) -> None:
            stage_append(pipe, conversation, [message], self.cap)
            pipe.eval(_RAISE_LAST_SEQ, 1, conv_key(conversation), message["seq"])
            pipe.publish(WATCH_CHANNEL, watch_change(messages=[conversation]))
        self.hub.write(stage)

    def _write_history(self, batch: dict[str, list[Frame]], pipe: Pipeline) -> None:
        if self._history is batch:  # later messages start the next flush's batch; a retried flush writes this one again
            self._history = None
        for conversation, messages in batch.items():
            stage_append(pipe, conversation, messages, self.cap)
            pipe.hset(conv_key(conversation), "last_seq", max(m["seq"] for m in messages))
        # the steerers watching one of them (edges/watch.py): one publish per flush, after the history it names
        pipe.publish(WATCH_CHANNEL, watch_change(messages=batch))

    def _state(self, state: dict[str, Any]) -> None:
        conv, visitor = state["conversation"], state["visitor"]
        mapping = conv_hash(visitor, state["phase"], state["group"], state["agent"], state["participants"],
                            state["channel"])
        open_ = state["phase"] in ("bot", "queued", "assigned")

        def stage(pipe: Pipeline) -> None:
            pipe.hset(conv_key(conv), mapping=mapping)
            if open_:
                stage_claim(pipe, visitor, conv)
            else:
                pipe.expire(conv_key(conv), ENDED_CONV_TTL_S)
                stage_release(pipe, visitor, conv)  # and it becomes the visitor's last_conv
                if state["agent"]:
                    pipe.hset(visitor_key(visitor), "last_agent", state["agent"])
            # the live view (edges/live.py): tell every edge which group and agents changed
            pipe.publish(LIVE_CHANNEL, live_change([state["group"]], [state["agent"], *state["participants"]]))
            pipe.publish(WATCH_CHANNEL, watch_change(states=[conv]))  # and who watches the conversation
        self.hub.write(stage)

    def _refused(self, event: Refused) -> None:
        route = parse_ref(event.ref)
        if route is None:
            return
        edge, conn, frame_type, client_id = route
        err = frame("error", code=event.code, message=event.detail, in_reply_to=frame_type)
        if client_id:
            err["client_id"] = client_id
        if edge == VISITOR_REF:  # a command made on a visitor's behalf (the bot's hand-off): tell all their sockets
            self.hub.to_user(UserRef.visitor(conn), err)
        else:
            self.hub.to_edge(edge, ["c", conn, err])

    async def _event_frame(self, event: PersonEvent) -> Frame:
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        if isinstance(event, Assigned):
            fields["agent"] = {"id": event.agent, "name": await self.names.display("agent", event.agent)}
        if isinstance(event, ConversationAssigned):
            fields["visitor"] = {"id": event.visitor}
            fields["recent"] = await self._recent(event.conversation)
        return frame(event.kind, **fields)

    def _remember_turn(self, conversation: str, message: Frame) -> None:
        if self.handoff_turns <= 0:
            return
        turns = self._turns.pop(conversation, None) or deque(maxlen=self.handoff_turns)
        turns.append(message)
        self._turns[conversation] = turns  # most recently active last
        while len(self._turns) > _TURNS_KEPT:
            self._turns.popitem(last=False)

    async def _recent(self, conversation: str) -> list[Frame]:
        """The conversation's last turns (the bot phase's, on a first assignment), for the agent taking it.

        From memory when this relay saw them (the newest may not be in Redis yet), else from the Redis
        history (a conversation last active before a restart)."""
        if self.handoff_turns <= 0:
            return []
        if conversation in self._turns:
            return list(self._turns[conversation])
        raw = await self.hub.redis.zrevrangebyscore(history_key(conversation), "+inf", "-inf", start=0,
                                                    num=self.handoff_turns)
        return [orjson.loads(r) for r in reversed(raw)]  # type: ignore[arg-type]

    @staticmethod
    def _stored(p: Posted) -> dict[str, Any]:
        return {"conversation": p.conversation, "seq": p.seq, "sender_role": p.role, "sender_id": p.author,
                "kind": p.message_kind, "text": p.text, "client_id": p.client_id, "at": p.at, "extra": p.extra}


def _key(p: Posted) -> tuple[str, int]:
    return p.conversation, p.seq
