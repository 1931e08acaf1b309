"""Report aggregates: kept off the acknowledgement path by each writer, in day shards, read by the reports.

Every figure is defined once in docs/reports.md; what each record adds is :mod:`switchboard.store.report_counts`.
The rule: a writer acknowledges a batch as soon as its records are stored; the aggregates follow in a
:class:`ReportKeeper` thread that owns its own shards (:class:`ReportShard`, one per writer, UTC day and part),
adds to them in memory and replaces each changed shard whole every two seconds (the word index's every
five). No two processes write one
shard, so there is no read-modify-write race, and a report reads a month as a few dozen documents whatever
the traffic (nx-27017 pays per field and per byte, decision 024).

What the writer's thread does on the way (:meth:`ReportKeeper.prepare`): before a batch overwrites a
conversation the keeper has not seen in this process, it reads the stored state, so the new state adds only
its difference; and it reads the ratings a batch replaces. Presence intervals stay on the writer's path
(:func:`store_presence`): the timeline reads them.

A crash loses at most the last seconds of aggregates (never a record): :func:`rebuild` recomputes everything from
the raw records with the same functions, so the live and the rebuilt shards agree (tests/store/test_reports.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pymongo import UpdateOne
from pymongo.client_session import ClientSession

from switchboard.store.documents import (AgentPresence, Conversation, Message, Rating, ReportShard, ReportWriter,
                                         TermShard,
                                         to_datetime, to_epoch)
from switchboard.store.report_counts import (DAY, AgentClock, epoch_of, pack, unpack, AgentState, Counts, HoldEvent, Rollup, Shard, day_of,
                                             day_start, day_totals, difference, hold_events, hours_of, merge,
                                             conversation_counts, message_counts, rating_counts)
from switchboard.store.report_reads import hour_columns, merge_clocks, read_dense
from switchboard.store.search_terms import (TermRollup, bucket_of, field_term, participant_term, rating_term,
                                            terms_of)
from switchboard.store.updates import set_fields

__all__ = ["ReportKeeper", "Prepared", "store_presence", "ensure_report_indexes", "rebuild", "read_hours",
           "read_presence", "shard_id", "term_shard_id", "REBUILD_WRITER"]

log = logging.getLogger(__name__)

REBUILD_WRITER = "rebuild"
_STATE_FIELDS = ("visitor", "channel", "phase", "group", "agent", "participants", "transfers", "created_at",
                 "queued_at", "assigned_at", "first_agent_reply_at", "closed_at")


def shard_id(day: str, part: str, writer: str) -> str:
    return f"{day}|{part}|{writer}"


def term_shard_id(bucket: int, day: str, writer: str) -> str:
    return f"{bucket}|{day}|{writer}"


def _state_entries(state: Mapping[str, Any]) -> list[str]:
    """The word index entries of a conversation's state: its participants, group, channel and phase."""
    entries = [participant_term(a) for a in state.get("participants") or ()]
    entries += [field_term(name, state[name]) for name in ("group", "channel", "phase") if state.get(name)]
    return entries


def _buckets(words: Iterable[str]) -> set[int]:
    return {bucket_of(w) for w in words}


def ensure_report_indexes() -> None:
    """Create the indexes of the report documents (idempotent, blocking)."""
    for document in (AgentPresence, ReportShard, TermShard):
        document.ensure_indexes()


# --- presence intervals (on the writer's path) -------------------------------------------------------------


def store_presence(records: Iterable[Mapping[str, Any]], session: ClientSession | None = None) -> list[int]:
    """Store presence records (``agent``, ``old``, ``new``, ``at`` epoch) as intervals, in order: each closes
    the agent's open interval(s) begun before it and opens one of ``new``. A replayed record closes nothing
    (the open interval began later) and opens nothing (its id exists). Returns the indexes of the records that
    opened an interval: the others are replays, which the agents' clock must not see."""
    collection = AgentPresence._get_collection()
    opened = []
    for i, r in enumerate(records):
        agent, at = str(r["agent"]), float(r["at"])
        for open_ in list(collection.find({"agent": agent, "end": None}, session=session)):
            start = to_epoch(open_["start"])
            if start is not None and start < at:
                collection.update_one({"_id": open_["_id"], "end": None}, set_fields({"end": to_datetime(at)}),
                                      session=session)
        done = collection.update_one({"_id": f"{agent}|{at!r}"},
                                     {"$setOnInsert": {"agent": agent, "state": r["new"], "start": to_datetime(at),
                                                       "end": None}}, upsert=True, session=session)
        if done.upserted_id is not None:
            opened.append(i)
    return opened


# --- the keeper -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """What a batch overwrites, read before it is written: states of conversations the keeper has not seen,
    and the ratings it replaces."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratings: dict[str, dict[str, Any]] = field(default_factory=dict)
    generation: int = 0  # of the keeper process it was read for (switchboard/store/report_process.py)


@dataclass(slots=True)
class Batch:
    """A stored batch as the keeper counts it."""

    states: Mapping[str, Mapping[str, Any]]
    ratings: Mapping[str, Mapping[str, Any]]
    messages: list[Mapping[str, Any]]
    presence: list[Mapping[str, Any]]
    prepared: Prepared


class Seen:
    """The conversations a keeper has seen since it started (the last `cap` of them), kept where batches are
    prepared. A conversation not seen may have a stored state the keeper must subtract, unless it was created
    after the keeper started and after every conversation forgotten: all its states then passed through."""

    def __init__(self, started_at: float, cap: int) -> None:
        self.started_at = started_at
        self.cap = cap
        self._created: OrderedDict[str, float | None] = OrderedDict()
        self._evicted_upto = float("-inf")  # the newest created_at among conversations forgotten

    def misses(self, states: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """The conversations of `states` whose stored state must be read before the batch is written."""
        return [cid for cid, state in states.items() if cid not in self._created and not self._new(state)]

    def _new(self, state: Mapping[str, Any]) -> bool:
        created = epoch_of(state.get("created_at"))
        return created is not None and created >= self.started_at and created > self._evicted_upto

    def add(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        """The states of a stored batch, in order (the keeper remembers them in this order, with this cap)."""
        for cid, state in states.items():
            if cid not in self._created:
                self._created[cid] = epoch_of(state.get("created_at"))
            self._created.move_to_end(cid)
            while len(self._created) > self.cap:
                _, created = self._created.popitem(last=False)
                self._evicted_upto = max(self._evicted_upto, created if created is not None else float("inf"))


def read_prepared(misses: list[str], ratings: Mapping[str, Any], session: ClientSession | None = None) -> Prepared:
    """Read the stored states of `misses` and the stored ratings `ratings` replace (blocking)."""
    prepared = Prepared()
    if misses:
        prepared.states = {d.pop("_id"): d for d in Conversation._get_collection().find(
            {"_id": {"$in": misses}}, list(_STATE_FIELDS), session=session)}
    if ratings:
        prepared.ratings = {d.pop("_id"): d for d in Rating._get_collection().find(
            {"_id": {"$in": list(ratings)}}, ["score", "agent", "at"], session=session)}
    return prepared


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class ReportKeeper:
    """One writer's aggregates: :meth:`prepare` (writer's thread, before a batch), :meth:`submit` (after it is
    stored), :meth:`flush` and :meth:`close`. Its thread does the counting and writes the shards every
    `flush_s`; an error there is logged and the shards are written again at the next flush."""

    def __init__(self, flush_s: float = 2.0, terms_flush_s: float = 5.0, known_cap: int = 20_000,
                 writer_id: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.writer_id = writer_id or uuid.uuid4().hex[:12]
        self.flush_s = flush_s
        self.terms_flush_s = terms_flush_s
        self._terms_due = 0.0
        self.known_cap = known_cap
        self._clock_fn = clock
        self.seen = Seen(clock(), known_cap)  # read by prepare and submit (the writer's threads)
        self._rollup = Rollup()
        self._stored: set[tuple[str, str]] = set()
        self._stamps: dict[str, float] = {}  # "<part>|<day>" -> when this writer last wrote that shard
        self._terms = TermRollup()  # the history's word index (switchboard/store/search_terms.py)
        self._terms_stored: set[tuple[int, str]] = set()
        self._pending_terms: dict[str, tuple[str, set[str]]] = {}  # conversation -> (day, words) to index
        self._known: OrderedDict[str, dict[str, Any]] = OrderedDict()  # last state per conversation
        self._counted: dict[str, Counts] = {}  # what that state counts (conversation_counts), kept with it
        self._agents: AgentClock | None = None  # hydrated from the stored clocks at first use
        self._agents_dirty = False
        self._old_clocks: list[str] = []  # writers whose clocks this one took over
        self._term_days: set[str] = set()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.errors = 0

    # -- the writer's side

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"report-keeper-{self.writer_id}", daemon=True)
            self._thread.start()

    def prepare(self, states: Mapping[str, Mapping[str, Any]], ratings: Mapping[str, Any],
                session: ClientSession | None = None) -> Prepared:
        """Read what the batch will overwrite and the keeper cannot know (blocking; the writer's thread)."""
        return read_prepared(self.seen.misses(states), ratings, session)

    def submit(self, states: Mapping[str, Mapping[str, Any]], ratings: Mapping[str, Mapping[str, Any]],
               messages: list[Mapping[str, Any]], presence: list[Mapping[str, Any]], prepared: Prepared) -> None:
        """A stored batch: its states and ratings, its newly inserted messages and presence changes."""
        self.seen.add(states)
        self.enqueue(Batch(states, ratings, messages, presence, prepared))

    def enqueue(self, batch: Batch) -> None:
        """Count a stored batch (its conversations passed :attr:`seen` already)."""
        if batch.states or batch.ratings or batch.messages or batch.presence:
            self._queue.put(batch)

    def flush(self) -> None:
        """Count everything submitted so far and write the changed shards (blocking)."""
        if self._thread is None or not self._thread.is_alive():
            self._drain()
            self._write()
            return
        marker = _Flush()
        self._queue.put(marker)
        marker.done.wait()

    def close(self) -> None:
        """Flush, then stop the thread (blocking)."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        else:
            self.flush()

    # -- the keeper's thread

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
            except queue.Empty:
                item = None
            if isinstance(item, Batch):
                self._count_safely(item)
            forced = item is _STOP or isinstance(item, _Flush)
            if forced or item is None or time.monotonic() >= next_flush:
                self._write_safely(terms=forced or time.monotonic() >= self._terms_due)
                next_flush = time.monotonic() + self.flush_s
            if isinstance(item, _Flush):
                item.done.set()
            if item is _STOP:
                self._drain()
                self._write_safely()
                return

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Batch):
                self._count_safely(item)
            elif isinstance(item, _Flush):
                item.done.set()

    def _write_safely(self, terms: bool = True) -> None:
        try:
            self._write(terms)
        except Exception:
            self.errors += 1
            log.exception("storing the report shards failed; trying again at the next flush")

    def _count_safely(self, batch: Batch) -> None:
        try:
            self._count(batch)
        except Exception:
            self.errors += 1
            log.exception("report aggregates of a stored batch failed (the records are stored; "
                          "`switchboard reports rebuild` restores the figures)")

    def _count(self, batch: Batch) -> None:
        counts: Counts = {}
        events: list[tuple[float, int, HoldEvent | tuple[str, str]]] = []
        for cid, state in batch.states.items():
            old = self._known.get(cid)
            before = self._counted.get(cid) if old is not None else None
            if old is None:
                old = batch.prepared.states.get(cid)
            new = {**(old or {}), **{k: state[k] for k in _STATE_FIELDS if k in state}}
            after = conversation_counts(new)
            if before is None:
                before = conversation_counts(old) if old else {}
            merge(counts, difference(after, before))
            self._counted[cid] = after
            events += [(e.at, 0 if not e.start else 2, e) for e in hold_events(cid, old, new)]
            self._remember(cid, new)
            self._file(cid, new, _state_entries(new))
        for r in batch.presence:
            events.append((float(r["at"]), 1, (str(r["agent"]), str(r["new"]))))
        if events:
            agents = self._clock()
            _tick(agents, events, counts)
            self._agents_dirty = True
        convs = self._conversations({m["conversation"] for m in batch.messages} | set(batch.ratings))
        for m in batch.messages:
            conv = convs.get(m["conversation"]) or {}
            merge(counts, message_counts(m, str(conv.get("channel") or "")))
            self._file(str(m["conversation"]), conv, terms_of(str(m.get("text") or "")))
        for cid, rating in batch.ratings.items():
            if isinstance(rating.get("score"), int):
                self._file(cid, convs.get(cid) or {}, [rating_term(rating["score"])])
            replaced = batch.prepared.ratings.get(cid)
            merge(counts, difference(rating_counts(rating, convs.get(cid)),
                                     rating_counts(replaced, convs.get(cid)) if replaced else {}))
        self._add(counts)

    def _file(self, conversation: str, conv: Mapping[str, Any], words: list[str]) -> None:
        """File `words` (a message's, or the entries of its participants or rating) for the word index under the
        conversation's day of creation: gathered per conversation until the index is next written (a
        conversation repeats its words), then :meth:`_index_pending`."""
        pending = self._pending_terms.get(conversation)
        if pending is not None:
            pending[1].update(words)
            return
        created = epoch_of(conv.get("created_at"))
        if created is not None and words:
            self._pending_terms[conversation] = (day_of(created), set(words))

    def _index_pending(self) -> None:
        """Move the gathered words into the index's shards, first reading back a shard this writer stored and
        then forgot."""
        pending, self._pending_terms = self._pending_terms, {}
        for conversation, (day, words) in pending.items():
            for bucket in _buckets(words) if day in self._terms.evicted_days else ():
                if (bucket, day) in self._terms.shards or (bucket, day) not in self._terms_stored:
                    continue
                doc = TermShard._get_collection().find_one({"_id": term_shard_id(bucket, day, self.writer_id)})
                self._terms.load(bucket, day, orjson.loads(doc["data"]) if doc else {})
            self._terms.add(day, conversation, words)

    def _remember(self, cid: str, state: dict[str, Any]) -> None:
        """Keep the last state of `cid` (the last `known_cap` conversations, as :attr:`seen` does)."""
        self._known[cid] = state
        self._known.move_to_end(cid)
        while len(self._known) > self.known_cap:
            cid_gone, _ = self._known.popitem(last=False)
            self._counted.pop(cid_gone, None)

    def _conversations(self, ids: set[str]) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {cid: self._known[cid] for cid in ids if cid in self._known}
        missing = sorted(ids - set(found))
        if missing:
            found.update((d.pop("_id"), d) for d in Conversation._get_collection().find(
                {"_id": {"$in": missing}}, ["channel", "group", "agent", "created_at"]))
        return found

    def _clock(self) -> AgentClock:
        """The agents' clock, taken over from the clocks earlier writers stored (the newest entry per agent)."""
        if self._agents is None:
            stored = [d for d in ReportWriter._get_collection().find({}, {"clock": 1}) if d.get("clock")]
            self._old_clocks = [d["_id"] for d in stored if d["_id"] != self.writer_id]
            self._agents = AgentClock(merge_clocks(stored))
        return self._agents

    def _add(self, counts: Counts) -> None:
        """Add to the shards, first reading back a shard this writer stored and then forgot."""
        keys = {(part, day_of(hour)) for part, hour, _, _ in counts}
        for part, day in keys:
            if (part, day) not in self._rollup.shards and (part, day) in self._stored:
                doc = ReportShard._get_collection().find_one({"_id": shard_id(day, part, self.writer_id)})
                self._rollup.load(part, day, unpack(orjson.loads(doc["data"])) if doc else {})
        self._rollup.add(counts)

    def _write(self, terms: bool = True) -> int:
        """Store the changed report shards, and the word index's if `terms`; returns how many shards were
        written."""
        if not terms:
            return self._write_reports()
        self._terms_due = time.monotonic() + self.terms_flush_s
        return self._write_reports() + self._write_terms()

    def _write_terms(self) -> int:
        self._index_pending()
        dirty = self._terms.take_dirty()
        if not dirty:
            return 0
        ops = [UpdateOne({"_id": term_shard_id(bucket, day, self.writer_id)}, {"$set": {
            "bucket": bucket, "day": day, "writer": self.writer_id,
            "data": orjson.dumps(self._terms.document(bucket, day)).decode()}}, upsert=True) for bucket, day in dirty]
        days = self._term_days | {day for _, day in dirty}
        try:
            TermShard._get_collection().bulk_write(ops, ordered=False)
            if days != self._term_days:
                ReportWriter._get_collection().update_one({"_id": self.writer_id}, {"$set": {
                    "term_days": orjson.dumps(sorted(days)).decode(), "at": self._clock_fn()}}, upsert=True)
                self._term_days = days
        except Exception:
            self.errors += 1
            self._terms.dirty.update(dirty)
            log.exception("writing %d word index shards failed; trying again at the next flush", len(ops))
            return 0
        self._terms_stored.update(dirty)
        newest = max((day for _, day in self._terms.shards), default="")
        if newest:
            self._terms.evict_before(day_of(day_start(newest) - 2 * DAY))
        return len(ops)

    def _write_reports(self) -> int:
        dirty = self._rollup.take_dirty()
        if not dirty and not self._agents_dirty:
            return 0
        now = self._clock_fn()
        ops = []
        for part, day in dirty:
            shard = self._rollup.shards[(part, day)]
            ops.append(self._shard_op(day, part, shard, now))
            self._stamps[f"{part}|{day}"] = now
            if part == "agent":
                ops.append(self._shard_op(day, "agentday", {a: {n: {"": v} for n, v in c.items()}
                                                            for a, c in day_totals(shard).items()}, now))
                self._stamps[f"agentday|{day}"] = now
        mine: dict[str, Any] = {"at": now}
        if dirty:
            mine["stamps"] = orjson.dumps(self._stamps).decode()
        if self._agents_dirty and self._agents is not None:
            mine["clock"] = orjson.dumps(self._agents.snapshot()).decode()
        try:
            if ops:
                ReportShard._get_collection().bulk_write(ops, ordered=False)
            writers = ReportWriter._get_collection()
            writers.update_one({"_id": self.writer_id}, {"$set": mine}, upsert=True)  # after the shards it names
            if "clock" in mine and self._old_clocks:
                writers.update_many({"_id": {"$in": self._old_clocks}}, {"$set": {"clock": ""}})
                self._old_clocks = []
        except Exception:
            self.errors += 1
            self._rollup.dirty.update(dirty)
            log.exception("writing %d report shards failed; trying again at the next flush", len(ops))
            return 0
        self._agents_dirty = False
        self._stored.update(dirty)
        newest = max((day for _, day in self._rollup.shards), default="")
        if newest:
            self._rollup.evict_before(day_of(day_start(newest) - 2 * DAY))
        return len(ops)

    def _shard_op(self, day: str, part: str, shard: Shard, now: float) -> UpdateOne:
        stored = shard if part == "visitors" else pack(shard)  # counters as arrays; visitors as sets
        return UpdateOne({"_id": shard_id(day, part, self.writer_id)}, {"$set": {
            "part": part, "day": day, "writer": self.writer_id, "data": orjson.dumps(stored).decode(), "at": now}},
            upsert=True)


def _tick(agents: AgentClock, events: list[tuple[float, int, HoldEvent | tuple[str, str]]], counts: Counts) -> None:
    """Feed the clock events in time order; at one instant hold ends, then presence changes, then hold starts."""
    for at, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(event, HoldEvent):
            agents.hold(event, counts)
        else:
            agents.presence(event[0], event[1], at, counts)


# --- rebuild ------------------------------------------------------------------------------------------------


def rebuild(progress: Callable[[str, int, int], None] | None = None, chunk: int = 1000) -> int:
    """Recompute every shard from the raw conversations, ratings, messages and presence intervals, with the
    functions the keepers use; returns the number of shard documents. `progress(stage, done, total)` is called
    as it goes. Run it with the relay stopped (a running writer keeps its own shards, counted twice after)."""
    say = progress or (lambda stage, done, total: None)
    ensure_report_indexes()
    for document in (ReportShard, TermShard, ReportWriter):
        document._get_collection().delete_many({})
    keeper = ReportKeeper(writer_id=REBUILD_WRITER)
    keeper._agents = AgentClock()
    conversations = Conversation._get_collection()
    ids = [d["_id"] for d in conversations.find({}, {"_id": 1})]
    dims: dict[str, dict[str, Any]] = {}
    events: list[tuple[float, int, HoldEvent | tuple[str, str]]] = []
    for i in range(0, len(ids), chunk):
        counts: Counts = {}
        for doc in conversations.find({"_id": {"$in": ids[i:i + chunk]}}, list(_STATE_FIELDS)):
            cid = doc.pop("_id")
            merge(counts, conversation_counts(doc))
            events += [(e.at, 0 if not e.start else 2, e) for e in hold_events(cid, None, doc)]
            dims[cid] = {"channel": doc.get("channel"), "group": doc.get("group"), "agent": doc.get("agent"),
                         "created_at": doc.get("created_at")}
            keeper._file(cid, doc, _state_entries(doc))
        keeper._rollup.add(counts)
        say("conversations", min(i + chunk, len(ids)), len(ids))
    counts = {}
    for rating in Rating._get_collection().find({}, ["score", "agent", "at"]):
        merge(counts, rating_counts(rating, dims.get(rating["_id"])))
        if isinstance(rating.get("score"), int):
            keeper._file(rating["_id"], dims.get(rating["_id"]) or {}, [rating_term(rating["score"])])
    keeper._rollup.add(counts)
    messages = Message._get_collection()
    total, done, counts = messages.estimated_document_count(), 0, {}
    for doc in messages.find({}, ["conversation", "sender_role", "sender_id", "kind", "text", "at", "extra"]):
        conv = dims.get(doc["conversation"]) or {}
        merge(counts, message_counts(doc, str(conv.get("channel") or "")))
        keeper._file(doc["conversation"], conv, terms_of(str(doc.get("text") or "")))
        done += 1
        if done % (chunk * 10) == 0:
            keeper._index_pending()
            keeper._rollup.add(counts)
            counts = {}
            say("messages", done, total)
    keeper._rollup.add(counts)
    say("messages", done, done)
    for doc in AgentPresence._get_collection().find({}, ["agent", "state", "start"]):
        start = to_epoch(doc["start"])
        if start is not None:
            events.append((start, 1, (str(doc["agent"]), str(doc["state"]))))
    counts = {}
    _tick(keeper._agents, events, counts)
    keeper._rollup.add(counts)
    keeper._agents_dirty = True
    shards = keeper._write()
    say("shards", shards, shards)
    return shards


# --- reading ------------------------------------------------------------------------------------------------


def read_hours(part: str, start: float, end: float) -> list[tuple[float, str, str, float]]:
    """``(hour, dimension, name, amount)`` of `part` for the hours starting in [start, end), from every writer's
    shards (unsorted, not summed: the same key may come from several writers)."""
    if end <= start:
        return []
    out: list[tuple[float, str, str, float]] = []
    for day, d in read_dense(part, day_of(start), day_of(end - 1e-3)):
        hours, starts = hour_columns(day, start, end)
        for i, dim in enumerate(d.dims):
            for j, name in enumerate(d.names):
                out += [(t, dim, name, float(d.values[i, j, h])) for h, t in zip(hours, starts) if d.values[i, j, h]]
    return out


def read_presence(agents: Iterable[str] | None, start: float, end: float) -> list[tuple[str, str, float, float | None]]:
    """Presence intervals ``(agent, state, start, end)`` overlapping [start, end), of `agents` (None: all)."""
    wanted = None if agents is None else set(agents)
    one = {"agent": next(iter(wanted))} if wanted is not None and len(wanted) == 1 else {}
    collection = AgentPresence._get_collection()
    closed = collection.find({**one, "end": {"$gt": to_datetime(start)}, "start": {"$lt": to_datetime(end)}})
    running = collection.find({**one, "end": None, "start": {"$lt": to_datetime(end)}})
    out = []
    for d in [*closed, *running]:
        s, e = to_epoch(d["start"]), to_epoch(d.get("end"))
        if s is None or (e is not None and e <= start) or (wanted is not None and d["agent"] not in wanted):
            continue
        out.append((str(d["agent"]), str(d["state"]), s, e))
    return out

