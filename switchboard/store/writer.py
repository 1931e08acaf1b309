"""Group commit: every chat message is in MongoDB before its sender is acked, and load makes batches, not queues.

Callers ``await`` one of the ``add_*``/``save_*`` coroutines; each queues an item with a future. One
background task takes everything queued (up to ``max_batch`` items), writes it from a worker thread and
resolves that batch's futures; whatever arrived meanwhile is the next batch. An idle server makes one small
write per message, a busy one as many items per write as arrive during the previous write: no timer.

A batch is written in a fixed order, each step one bulk call:

1. conversations: the state upserts (last state per conversation wins), then a ``$max`` of ``last_seq``
   per conversation that gets messages; states never ``$set`` ``last_seq``, so it never goes down;
2. messages: ``insert_many(ordered=False)``; a duplicate key (code 11000) is a replay of a message already
   stored, so it counts as written;
3. visitors and ratings: upserts by id;
4. presence records, as intervals.

The report aggregates are not on this path: before a batch's first attempt its :class:`ReportKeeper` reads
the states and ratings it overwrites and has not seen (none, for conversations it saw from the start); once
the batch is stored and its futures resolved, the keeper counts it in its own thread
(:mod:`switchboard.store.reports`), or with ``keeper="process"`` (what ``serve`` runs) in a child process
(:mod:`switchboard.store.report_process`). ``reports=False`` keeps no aggregates (presence intervals are still
kept).

``last_seq`` goes first so that, without a transaction, a crash between the steps leaves it ahead of the
stored messages (a gap nobody was acked for), never behind: a restarted server numbers new messages from
``last_seq``, and a stored message above it would take the new one's seq and, as a "replay", its ack.

A message whose author and client id the conversation already has under another seq is refused by a unique
index (:data:`DEDUPE_INDEX`, made by :meth:`StoreWriter.start`): a re-send that came after the engine's
dedupe window forgot its first send (an outage, a client with hundreds of unacked messages). Its future
resolves to that earlier seq, and the relay acks it as that message; the new seq stays unused, a gap the
sockets heal over (docs/decisions/014-parts-that-fail.md).

Every step is idempotent, so a failed batch is written again (with backoff); after ``retries`` every future
of the batch fails and the callers must not ack. Items are checked (and BSON-encoded once) when submitted,
so a malformed item raises in its caller instead of failing a batch. ``journal=True`` (the default) asks
for ``j: true`` (an fsync per bulk call on nx-27017: a message survives a power cut), ``journal=False`` for
``w: 1`` (it survives a crash of either process, not of the machine).

A batch is one transaction where the deployment has them (``transactions="auto"`` tries one on the first
batch and keeps to plain bulk calls if the server refuses; with ``journal=True`` only on a replica set or a
mongos, as nx-27017 ignores a commit's write concern). On a store that is no replica set only a sole
writer uses them (``sole_writer``): nx-27017 nests overlapping transactions of its clients into one, so
there a transaction that fails for any other reason than a duplicate key turns them off for the run, and a
replay counts as written inside the transaction instead of aborting it. Why, and the figures: decision 004
("Forwarding cost") and decision 008.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import bson
from pymongo import UpdateOne
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, ConfigurationError, OperationFailure
from pymongo.write_concern import WriteConcern

from switchboard.settings import STORE_TRANSACTIONS, ReportKeeperKind, StoreTransactions
from switchboard.store import reports
from switchboard.store.report_process import ReportProcess
from switchboard.store.reports import ReportKeeper
from switchboard.store.documents import Conversation, Message, Rating, Visitor, to_datetime
from switchboard.store.updates import set_fields

__all__ = ["StoreWriter", "WriterStats", "ensure_dedupe_index", "DEDUPE_INDEX"]

log = logging.getLogger(__name__)

Target = Literal["message", "conversation", "visitor", "rating", "presence"]
Transactions = StoreTransactions

DUPLICATE_KEY = 11000
# One message per (conversation, author, client id): a re-send is stored once however long ago its first send
# was (the engine's dedupe remembers the last 256 client ids of a conversation). Messages without a client id
# (the bot's, the system's) are not in it.
DEDUPE_INDEX = "conversation_author_client_id"
_DEDUPE_KEYS = [("conversation", 1), ("sender_role", 1), ("sender_id", 1), ("client_id", 1)]
_MESSAGE_KEYS = ("conversation", "seq", "sender_role", "sender_id", "kind", "text", "client_id", "at")
_SENDER_ROLES = ("visitor", "agent", "bot", "system")
_KINDS = ("text", "system", "note")
_STATE_TIMES = ("created_at", "queued_at", "assigned_at", "first_agent_reply_at", "closed_at")
_STATE_KEYS = ("visitor", "channel", "phase", "group", "priority", "tier", "agent", "participants", "transfers",
               *_STATE_TIMES, "close_reason")
_VISITOR_TIMES = ("created_at", "seen_at")


@dataclass(frozen=True, slots=True)
class WriterStats:
    batches: int = 0  # successful writes
    items: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class _Item:
    target: Target
    key: str  # the document id; the conversation for a message
    doc: dict[str, Any]  # a message document, or the $set of an upsert
    future: asyncio.Future[int | None]  # a message's: the seq of an earlier copy of it, if one was stored


@dataclass(slots=True)
class _Plan:
    """One batch as the bulk calls that write it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[UpdateOne] = field(default_factory=list)
    visitors: list[UpdateOne] = field(default_factory=list)
    ratings: list[UpdateOne] = field(default_factory=list)
    presence: list[dict[str, Any]] = field(default_factory=list)  # presence records, in the engine's order
    prepared: reports.Prepared | None = None  # what the batch overwrites, read once before its first attempt
    presence_opened: set[int] = field(default_factory=set)  # presence records that opened an interval
    replayed: list[dict[str, Any]] = field(default_factory=list)  # messages refused as duplicates
    earlier: dict[tuple[str, int], int] = field(default_factory=dict)  # (conversation, seq) -> the stored copy's seq
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # the batch's last state per conversation
    rated: dict[str, dict[str, Any]] = field(default_factory=dict)  # the batch's ratings, by conversation


class StoreWriter:
    """Batches writes from one event loop; see the module docstring."""

    def __init__(self, max_batch: int = 1000, retries: int = 4, backoff_s: float = 0.1, journal: bool = True,
                 transactions: Transactions = "auto", sole_writer: bool = True, reports: bool = True,
                 keeper: ReportKeeperKind = "thread") -> None:
        if transactions not in STORE_TRANSACTIONS:
            raise ValueError(f"transactions is auto, on or off, got {transactions!r}")
        self.max_batch = max_batch
        self.reports = reports  # maintain the report aggregates (docs/reports.md)
        self.keeper: ReportKeeper | ReportProcess | None = None
        if reports:
            self.keeper = ReportProcess() if keeper == "process" else ReportKeeper()
        self.write_concern = WriteConcern(w=1, j=True) if journal else WriteConcern(w=1)
        self.transactions: Transactions = transactions  # "auto" becomes "on" or "off" at the first batch
        self.sole_writer = sole_writer  # no other process writes transactions to this store (see above)
        self._replica: bool | None = None  # a replica set or a mongos: asked once, when it matters
        self.retries = retries
        self.backoff_s = backoff_s
        self.stats = WriterStats()
        self._pending: list[_Item] = []
        self._unresolved: set[asyncio.Future[int | None]] = set()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # --- the API --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background task in the running loop (otherwise the first write does), and make sure the
        store has the index that refuses a message stored twice under one client id (:func:`ensure_dedupe_index`)
        and the report documents' indexes."""
        self._ensure_running()
        await asyncio.to_thread(ensure_dedupe_index)
        await asyncio.to_thread(reports.ensure_report_indexes)

    async def add_message(self, msg: dict[str, Any]) -> int | None:
        """Return once `msg` (keys as :data:`_MESSAGE_KEYS`) is stored; raise if it could not be.

        Returns None, or the seq of an earlier copy when the store already had this author's message of
        this client id in the conversation under another seq (a re-send the engine's window had forgotten):
        then `msg` was not stored again, and it is that message."""
        return await self.submit_message(msg)

    def submit_message(self, msg: dict[str, Any]) -> asyncio.Future[int | None]:
        """:meth:`add_message` as a future (no task per message on a busy relay); a bad `msg` raises here."""
        return self._submit("message", msg["conversation"], _message_doc(msg))

    async def save_conversation(self, state: dict[str, Any]) -> None:
        """Upsert a conversation's state (keys: ``conversation`` plus :data:`_STATE_KEYS`); ``last_seq`` is kept."""
        await self.submit_conversation(state)

    def submit_conversation(self, state: dict[str, Any]) -> asyncio.Future[int | None]:
        return self._submit("conversation", state["conversation"], _state_doc(state))

    def submit_presence(self, agent: str, old: str, new: str, at: float) -> asyncio.Future[int | None]:
        """Store an agent's presence change (closes their open interval, opens one of `new`)."""
        if not isinstance(at, (int, float)) or new not in ("online", "away", "offline"):
            raise ValueError(f"bad presence record {new!r} at {at!r}")
        return self._submit("presence", agent, {"agent": agent, "old": old, "new": new, "at": float(at)})

    async def save_visitor(self, visitor_id: str, **fields: Any) -> None:
        """Upsert a visitor's `fields` (names of :class:`Visitor`; times as epoch floats or datetimes)."""
        await self._submit("visitor", visitor_id, _visitor_doc(fields))

    async def save_rating(self, conversation: str, visitor: str, agent: str | None, score: int, comment: str,
                          at: float) -> None:
        """Upsert the rating of `conversation` (one per conversation)."""
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError(f"a rating's score is 1 to 5, got {score!r}")
        doc = {"visitor": visitor, "agent": agent, "score": score, "comment": comment, "at": to_datetime(at)}
        await self._submit("rating", conversation, doc)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (or has failed)."""
        if self._unresolved:
            await asyncio.wait(list(self._unresolved))

    async def flush_reports(self) -> None:
        """Wait until everything written so far is counted in the report aggregates and they are stored."""
        await self.flush()
        if self.keeper is not None:
            await asyncio.to_thread(self.keeper.flush)

    async def close(self) -> None:
        """Refuse new items, write the pending ones, stop the task and store the report aggregates. Idempotent."""
        self._closed = True
        if self._task is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._task
        if self.keeper is not None:
            keeper, self.keeper = self.keeper, None
            await asyncio.to_thread(keeper.close)

    # --- the loop ---------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._closed:
            raise RuntimeError("the StoreWriter is closed")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._loop, self._wakeup = loop, asyncio.Event()
            self._task = loop.create_task(self._run(), name="store-writer")
            if self.keeper is not None:
                self.keeper.start()
        elif loop is not self._loop:
            raise RuntimeError("a StoreWriter serves the event loop it started in")

    def _submit(self, target: Target, key: str, doc: dict[str, Any]) -> asyncio.Future[int | None]:
        bson.encode(doc)  # raises InvalidDocument here rather than failing a whole batch later
        self._ensure_running()
        assert self._loop is not None and self._wakeup is not None
        future: asyncio.Future[int | None] = self._loop.create_future()
        self._pending.append(_Item(target, key, doc, future))
        self._unresolved.add(future)
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._pending:
                if self._closed:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        try:
            plan = _plan(batch)
            await self._write_with_retries(plan)
        except Exception as exc:
            log.error("store write of %d items failed: %r", len(batch), exc)
            self._settle(batch, exc)
            return
        s = self.stats
        self.stats = WriterStats(s.batches + 1, s.items + len(batch), max(s.largest_batch, len(batch)))
        self._settle(batch, None, plan.earlier)
        if self.keeper is not None and plan.prepared is not None:
            replayed = {id(doc) for doc in plan.replayed or ()}
            self.keeper.submit(plan.states, plan.rated, [d for d in plan.messages if id(d) not in replayed],
                               [r for i, r in enumerate(plan.presence) if i in plan.presence_opened], plan.prepared)

    async def _write_with_retries(self, plan: _Plan) -> None:
        for attempt in range(self.retries + 1):
            try:
                await asyncio.to_thread(self._write, plan)
                return
            except Exception as exc:
                if attempt == self.retries:
                    raise
                log.warning("store write failed (attempt %d), retrying: %r", attempt + 1, exc)
                await asyncio.sleep(self.backoff_s * 2 ** attempt)

    def _write(self, plan: _Plan) -> None:
        """One batch (in a transaction where possible, else or after a failed one as plain bulk calls), then
        which of its messages the store had under another seq already. Before the first attempt, the report
        keeper reads what the batch overwrites."""
        if self.keeper is not None and plan.prepared is None:
            plan.prepared = self.keeper.prepare(plan.states, plan.rated)
        self._write_batch(plan)
        plan.earlier = _earlier_copies(plan.replayed) if plan.replayed else {}

    def _write_batch(self, plan: _Plan) -> None:
        if self.transactions == "auto" and not self.is_replica():
            if self.write_concern.document.get("j"):
                self.transactions = "off"
                log.info("journaled writes: batches as plain bulk calls (this store is no replica set, "
                         "its commits may ignore j)")
            elif not self.sole_writer:
                self.transactions = "off"
                log.info("batches as plain bulk calls (this store is no replica set, and another process "
                         "writes to it in transactions)")
        if self.transactions != "off":
            try:
                _write_in_transaction(plan, self.write_concern, keep_on_duplicates=not self.is_replica())
                self.transactions = "on"
                return
            except (ConfigurationError, OperationFailure) as exc:
                if self.transactions == "auto" and _refuses_transactions(exc):
                    log.info("the store has no transactions (%s); writing batches as plain bulk calls", exc)
                    self.transactions = "off"
                elif isinstance(exc, BulkWriteError) or _not_in_transaction(exc):
                    pass
                elif not self.is_replica():
                    log.warning("a transaction failed on this store, which is no replica set (%r); writing "
                                "batches as plain bulk calls from now on", exc)
                    self.transactions = "off"
                else:
                    raise
                # a duplicate key aborted the transaction (the plain write below counts it as written), or the
                # batch did what a transaction may not (create a collection on MongoDB < 4.4): write it plainly
        _write_plain(plan, self.write_concern, None)

    def is_replica(self) -> bool:
        """Whether the store is a replica set or a mongos (asked once, from the writer's thread)."""
        if self._replica is None:
            self._replica = _replica_set_or_mongos()
        return self._replica

    def _settle(self, batch: list[_Item], error: Exception | None,
                earlier: dict[tuple[str, int], int] | None = None) -> None:
        for item in batch:
            self._unresolved.discard(item.future)
            if item.future.done():  # the caller was cancelled; the item was written anyway
                continue
            if error is None:
                seq = item.doc.get("seq") if item.target == "message" else None
                item.future.set_result((earlier or {}).get((item.key, seq)) if isinstance(seq, int) else None)
            else:
                item.future.set_exception(error)


# --- items and plans (pure) -----------------------------------------------------------------------


def _message_doc(msg: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in _MESSAGE_KEYS if k not in msg]
    if missing:
        raise ValueError(f"message lacks {', '.join(missing)}")
    if msg["sender_role"] not in _SENDER_ROLES or msg["kind"] not in _KINDS:
        raise ValueError(f"bad sender_role {msg['sender_role']!r} or kind {msg['kind']!r}")
    if not isinstance(msg["seq"], int) or isinstance(msg["seq"], bool):
        raise ValueError(f"seq must be an int, got {msg['seq']!r}")
    doc = {k: msg[k] for k in _MESSAGE_KEYS}
    doc["at"] = to_datetime(msg["at"])
    if msg.get("extra"):
        doc["extra"] = msg["extra"]  # a bot message's decision, suggestions and sources
    return doc


def _state_doc(state: dict[str, Any]) -> dict[str, Any]:
    doc = {k: state[k] for k in _STATE_KEYS if k in state}
    if "queued_at" in doc:
        doc["queued_at_s"] = doc["queued_at"]  # the queue's order, exact (see Conversation.queued_at_s)
    for k in _STATE_TIMES:
        if k in doc:
            doc[k] = to_datetime(doc[k])
    return doc


def _visitor_doc(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - (set(Visitor._fields) - {"id"})
    if unknown:
        raise TypeError(f"not visitor fields: {', '.join(sorted(unknown))}")
    return {k: to_datetime(v) if k in _VISITOR_TIMES and isinstance(v, (int, float)) else v
            for k, v in fields.items()}


def _plan(batch: list[_Item]) -> _Plan:
    plan = _Plan()
    states: dict[str, dict[str, Any]] = {}
    visitors: dict[str, dict[str, Any]] = {}
    ratings: dict[str, dict[str, Any]] = {}
    last_seq: dict[str, int] = {}
    for item in batch:
        if item.target == "message":
            plan.messages.append(dict(item.doc))  # insert_many adds an _id to the dicts it is given
            last_seq[item.key] = max(last_seq.get(item.key, 0), item.doc["seq"])
        elif item.target == "conversation":
            states[item.key] = item.doc  # the last state wins
        elif item.target == "visitor":
            visitors[item.key] = {**visitors.get(item.key, {}), **item.doc}
        elif item.target == "presence":
            plan.presence.append(item.doc)
        else:
            ratings[item.key] = item.doc
    plan.conversations = [_set(cid, doc) for cid, doc in states.items()]
    plan.conversations += [_upsert(cid, {"$max": {"last_seq": seq}}) for cid, seq in last_seq.items()]
    plan.visitors = [_set(vid, doc) for vid, doc in visitors.items()]
    plan.ratings = [_set(rid, doc) for rid, doc in ratings.items()]
    plan.states, plan.rated = states, ratings
    return plan


def ensure_dedupe_index() -> None:
    """Create :data:`DEDUPE_INDEX` if the store lacks it (idempotent, blocking). A store that already holds a
    message twice under one client id cannot have it: that is logged, and re-sends are deduplicated only by
    the engine's window until the copies are removed."""
    collection = Message._get_collection()
    try:
        collection.create_index(_DEDUPE_KEYS, name=DEDUPE_INDEX, unique=True,
                                partialFilterExpression={"client_id": {"$type": "string"}})
    except OperationFailure as exc:
        log.warning("the messages have no unique index on (conversation, author, client id): %s; a re-send "
                    "past the engine's last 256 client ids may be stored twice", exc)


def _earlier_copies(replayed: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Of the messages a batch found stored already, those stored under another seq: (conversation, seq) ->
    the stored seq. A replay of the same (conversation, seq), the usual duplicate, is not among them."""
    collection = Message._get_collection()
    earlier: dict[tuple[str, int], int] = {}
    for doc in replayed:
        if not isinstance(doc.get("client_id"), str):
            continue
        same = collection.find_one({"conversation": doc["conversation"], "seq": doc["seq"]}, {"client_id": 1})
        if same is not None and same.get("client_id") == doc["client_id"]:
            continue
        first = collection.find_one({"conversation": doc["conversation"], "sender_role": doc["sender_role"],
                                     "sender_id": doc["sender_id"], "client_id": doc["client_id"]},
                                    {"seq": 1}, sort=[("seq", 1)])
        if first is not None and first["seq"] != doc["seq"]:
            earlier[(doc["conversation"], doc["seq"])] = int(first["seq"])
    return earlier


def _set(doc_id: str, fields: dict[str, Any]) -> UpdateOne:
    return _upsert(doc_id, set_fields(fields))  # datetimes stay datetimes on nx-27017 (store/updates.py)


def _upsert(doc_id: str, update: dict[str, Any]) -> UpdateOne:
    return UpdateOne({"_id": doc_id}, update, upsert=True)


# --- the write (in a worker thread) -----------------------------------------------------------------


def _refuses_transactions(exc: Exception) -> bool:
    """A standalone server's answer to a transaction (IllegalOperation), or pymongo's own refusal."""
    return isinstance(exc, ConfigurationError) or (isinstance(exc, OperationFailure) and exc.code == 20)


def _not_in_transaction(exc: Exception) -> bool:
    """OperationNotSupportedInTransaction: this batch cannot be a transaction, later ones may be."""
    return isinstance(exc, OperationFailure) and exc.code == 263


def _replica_set_or_mongos() -> bool:
    """A replica set or a mongos: its transactions keep a commit's ``j: true`` and run side by side with
    other clients'. nx-27017 does neither: it takes a write concern only from the write commands
    themselves, never from ``commitTransaction``, and it nests concurrent transactions (module docstring)."""
    hello = Message._get_collection().database.client.admin.command("hello")
    return "setName" in hello or hello.get("msg") == "isdbgrid"


def _write_in_transaction(plan: _Plan, write_concern: WriteConcern, keep_on_duplicates: bool) -> None:
    """`keep_on_duplicates` (nx-27017): a replayed message does not abort the transaction, which commits the
    rest. There an abort rolls back the shared SQLite transaction, with every plain write other clients made
    meanwhile (acknowledged to them: a rating, a new agent). A replica set aborts a transaction on any write
    error, so there the replay aborts it and the batch is written again plainly."""
    client = Message._get_collection().database.client
    with client.start_session() as session:
        with session.start_transaction(write_concern=write_concern):
            _write_plain(plan, None, session, duplicates_abort=not keep_on_duplicates)


def _write_plain(plan: _Plan, write_concern: WriteConcern | None, session: ClientSession | None,
                 duplicates_abort: bool = True) -> None:
    """The batch's bulk calls; inside a transaction (`session`) the write concern is the transaction's."""
    plan.replayed = []
    if plan.conversations:
        _collection(Conversation, write_concern).bulk_write(plan.conversations, ordered=True, session=session)
    if plan.messages:
        plan.replayed = _insert_messages(plan.messages, write_concern, session,
                                         duplicates_abort and session is not None)
    for document, ops in ((Visitor, plan.visitors), (Rating, plan.ratings)):
        if ops:
            _collection(document, write_concern).bulk_write(ops, ordered=True, session=session)
    if plan.presence:
        plan.presence_opened.update(reports.store_presence(plan.presence, session))


def _collection(document: Any, write_concern: WriteConcern | None) -> Any:
    collection = document._get_collection()
    return collection if write_concern is None else collection.with_options(write_concern=write_concern)


def _insert_messages(docs: list[dict[str, Any]], write_concern: WriteConcern | None,
                     session: ClientSession | None, duplicates_abort: bool) -> list[dict[str, Any]]:
    """Duplicates (replays) count as written, unless they abort the transaction they are in; returns them."""
    collection = _collection(Message, write_concern)
    try:
        collection.insert_many(docs, ordered=False, session=session)
    except BulkWriteError as exc:
        if duplicates_abort:
            raise  # the transaction is aborted; the caller writes the batch again without one
        details = exc.details
        if details.get("writeConcernErrors") or any(
                e.get("code") != DUPLICATE_KEY for e in details.get("writeErrors", [])):
            raise
        return [docs[e["index"]] for e in details.get("writeErrors", [])]
    return []
