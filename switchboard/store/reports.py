"""Report aggregates: hourly counters kept as records are stored, summed by the report queries.

Every figure is defined once in docs/reports.md. The counters live in :class:`ReportBucket` documents, one per
UTC hour, kind (``conv``, ``agent``, ``bot``) and dimensions, raised by ``$inc`` upserts. Three sources feed them,
each from :class:`~switchboard.store.writer.StoreWriter`'s batch:

- a conversation (its stored state and rating) adds :func:`conversation_counts`; its
  :class:`ConversationFacts` keeps what it added, so a new state adds only the difference and a replayed one
  adds nothing (the counts are a function of the stored documents, not of the sequence of records);
- a newly inserted message adds :func:`message_counts` (a replay is refused by the store, so it adds nothing);
- a closed presence interval adds its seconds, split by hour (:func:`presence_counts`).

:func:`rebuild` recomputes all of it from the raw records with the same functions, so the live and the rebuilt
buckets agree by construction (tests/store/test_reports.py checks it). Queries read buckets by ``(kind, hour)``
range and sum them in Python: no sort, no count, no message scanned; occupancy and distinct visitors, which
hourly sums cannot give, read the ConversationFacts of the range (one indexed range query).

The ``apply_*`` functions write what they keep (facts, presence intervals) and return the counts to add;
the writer adds a batch's counts in one call (:func:`write_counts`). Why, and the cost: decision 021.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pymongo import UpdateOne
from pymongo.client_session import ClientSession

from switchboard.store.updates import set_fields
from switchboard.store.documents import (AgentPresence, Conversation, ConversationFacts, Message, Rating,
                                         ReportBucket, to_datetime, to_epoch)

__all__ = ["HOUR", "Counts", "bucket_id", "conversation_counts", "message_counts", "presence_counts", "holds",
           "apply_conversations", "apply_messages", "apply_presence", "rebuild", "Buckets", "read_buckets",
           "read_facts", "read_presence", "counters", "ensure_report_indexes", "write_counts", "DECISIONS"]

log = logging.getLogger(__name__)

HOUR = 3600
DECISIONS = ("answer", "suggest", "decline", "handoff", "error")
Counts = dict[tuple[str, str], float]  # (bucket id, counter) -> amount
_SEP = "|"
_COUNTER = "n_"  # a bucket's counter fields: n_<name>


def _hour(t: float) -> float:
    return t - t % HOUR


def bucket_id(t: float, kind: str, group: str = "", channel: str = "", agent: str = "", source: str = "") -> str:
    """``<UTC hour>|<kind>|<group>|<channel>|<agent>|<source>`` of the hour holding epoch `t`; the hour is ISO 8601's
    basic format (``20260310T09``): nx-27017 0.8 mistakes an upsert's ``_id`` in the extended format for a date."""
    hour = datetime.fromtimestamp(_hour(t), tz=timezone.utc).strftime("%Y%m%dT%H")
    return _SEP.join((hour, kind, group, channel, agent, source))


def _dims(bucket: str) -> dict[str, Any]:
    hour, kind, group, channel, agent, source = bucket.split(_SEP, 5)
    return {"hour": datetime.strptime(hour, "%Y%m%dT%H").replace(tzinfo=timezone.utc), "kind": kind,
            "group": group, "channel": channel, "agent": agent, "source": source}


def _add(counts: Counts, bucket: str, name: str, amount: float = 1) -> None:
    counts[(bucket, name)] = counts.get((bucket, name), 0) + amount


# --- what each record adds (pure) ----------------------------------------------------------------------


def _t(doc: Mapping[str, Any], name: str) -> float | None:
    value = doc.get(name)
    return to_epoch(value) if isinstance(value, datetime) else None


def holds(conv: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
    """Who held the conversation when: ``(agent, start, end)``, end None while they still hold it.

    The first hold starts at ``assigned_at`` (with the agent the first transfer came from, else the current
    agent); each transfer ends the hold before it and, to an agent, starts one; the last ends at ``closed_at``."""
    assigned, closed = _t(conv, "assigned_at"), _t(conv, "closed_at")
    if assigned is None:
        return []
    transfers = [t for t in conv.get("transfers") or [] if isinstance(t, Mapping)]
    first = (transfers[0].get("from_agent") if transfers else None) or conv.get("agent")
    out: list[tuple[str, float, float | None]] = []
    current: tuple[str, float] | None = (first, assigned) if first else None
    for t in transfers:
        at = float(t.get("at") or assigned)
        if current is not None:
            out.append((current[0], current[1], at))
        to = t.get("to_agent")
        current = (to, at) if to else None
    if current is None and conv.get("agent") and conv.get("phase") in ("assigned", "closed"):
        current = (conv["agent"], float(transfers[-1].get("at") or assigned) if transfers else assigned)
    if current is not None:
        out.append((current[0], current[1], closed))
    return out


def conversation_counts(conv: Mapping[str, Any], rating: Mapping[str, Any] | None) -> Counts:
    """What one conversation (a stored :class:`Conversation` document) and its rating add to the buckets."""
    counts: Counts = {}
    group, channel = conv.get("group") or "", conv.get("channel") or ""
    phase = conv.get("phase")
    created, queued = _t(conv, "created_at"), _t(conv, "queued_at")
    assigned, replied, closed = _t(conv, "assigned_at"), _t(conv, "first_agent_reply_at"), _t(conv, "closed_at")

    def add(t: float, name: str, amount: float = 1) -> None:
        _add(counts, bucket_id(t, "conv", group, channel), name, amount)

    if created is not None:
        add(created, "opened")
    if queued is not None:
        add(queued, "handed_off")
    if assigned is not None:
        add(assigned, "assigned")
        if queued is not None and assigned >= queued:
            add(assigned, "wait_n")
            add(assigned, "wait_s", assigned - queued)
    if replied is not None:
        start = queued if queued is not None and queued <= replied else assigned
        if start is not None and start <= replied:
            add(replied, "first_response_n")
            add(replied, "first_response_s", replied - start)
    if closed is not None and phase == "abandoned":
        add(closed, "abandoned")
    if closed is not None and phase == "closed":
        add(closed, "closed")
        bot_only = queued is None and assigned is None
        if bot_only:
            add(closed, "bot_only")
        if assigned is not None:
            add(closed, "handled")
            add(closed, "handling_s", closed - assigned)
            if replied is None:
                add(closed, "missed")
        if bot_only or replied is not None:
            add(closed, "resolved")
    for agent, start, end in holds(conv):
        add_agent = bucket_id(start, "agent", agent=agent)
        _add(counts, add_agent, "conversations")
        if end is not None:
            _add(counts, bucket_id(end, "agent", agent=agent), "chat_n")
            _add(counts, bucket_id(end, "agent", agent=agent), "chat_s", end - start)
    if rating is not None and isinstance(rating.get("score"), int):
        at = closed if closed is not None else _t(rating, "at")
        if at is not None:
            score = rating["score"]
            add(at, "rated")
            add(at, "score_sum", score)
            add(at, f"score_{score}")
            rated_agent = str(rating.get("agent") or conv.get("agent") or "")
            if rated_agent:
                _add(counts, bucket_id(at, "agent", agent=rated_agent), "rated")
                _add(counts, bucket_id(at, "agent", agent=rated_agent), "score_sum", score)
    return counts


def message_counts(msg: Mapping[str, Any], channel: str) -> Counts:
    """What one stored message adds: an agent's text to their messages and words; a bot's to its decisions."""
    counts: Counts = {}
    at = _t(msg, "at")
    if at is None or msg.get("kind") != "text":
        return counts
    if msg.get("sender_role") == "agent":
        bucket = bucket_id(at, "agent", agent=str(msg.get("sender_id") or ""))
        _add(counts, bucket, "messages")
        _add(counts, bucket, "words", len(str(msg.get("text") or "").split()))
    elif msg.get("sender_role") == "bot":
        extra = msg.get("extra") or {}
        decision = extra.get("decision") if isinstance(extra, Mapping) else None
        if decision not in DECISIONS:
            return counts
        _add(counts, bucket_id(at, "bot", channel=channel), decision)
        sources = extra.get("sources") or []
        documents = {str(s.get("id") or "").split("#", 1)[0] for s in sources if isinstance(s, Mapping)}
        for document in sorted(documents - {""}):
            _add(counts, bucket_id(at, "bot", channel=channel, source=document), decision)
    return counts


def presence_counts(agent: str, state: str, start: float, end: float) -> Counts:
    """The seconds of one closed presence interval, split across the UTC hours it spans."""
    counts: Counts = {}
    t = start
    while t < end:
        upto = min(end, _hour(t) + HOUR)
        _add(counts, bucket_id(t, "agent", agent=agent), f"{state}_s", upto - t)
        t = upto
    return counts


# --- applying them (in the writer's thread, inside its transaction if it has one) ---------------------------


def write_counts(counts: Counts, session: ClientSession | None = None) -> None:
    """Add `counts` to their buckets: one bulk call of ``$inc`` upserts."""
    _inc_buckets(counts, session)


def _merge(into: Counts, counts: Counts) -> Counts:
    for key, amount in counts.items():
        into[key] = into.get(key, 0) + amount
    return into


def _inc_buckets(counts: Counts, session: ClientSession | None) -> None:
    by_bucket: dict[str, dict[str, float]] = defaultdict(dict)
    for (bucket, name), amount in counts.items():
        if amount:
            by_bucket[bucket][_COUNTER + name] = amount
    ops = [UpdateOne({"_id": b}, {"$inc": inc, "$setOnInsert": _dims(b)}, upsert=True)
           for b, inc in by_bucket.items()]
    if ops:
        ReportBucket._get_collection().bulk_write(ops, ordered=False, session=session)


def _facts_fields(conv: Mapping[str, Any], rating: Mapping[str, Any] | None, counts: Counts) -> dict[str, Any]:
    spans = holds(conv)
    kept = None if rating is None else {k: rating.get(k) for k in ("score", "agent", "at")}
    return {"visitor": conv.get("visitor") or "", "channel": conv.get("channel") or "", "group": conv.get("group"),
            "created_at": conv.get("created_at"), "agents": sorted({a for a, _, _ in spans}),
            "intervals": [[a, s, e] for a, s, e in spans], "rating": kept,
            "applied": [[b, n, v] for (b, n), v in sorted(counts.items())]}


def apply_conversations(states: Mapping[str, Mapping[str, Any]], ratings: Mapping[str, Mapping[str, Any]],
                        session: ClientSession | None = None) -> Counts:
    """Bring the buckets up to date with conversations whose state (`states`: the documents just stored, by id)
    or rating (`ratings`, by conversation) a batch stored. A conversation with only a rating is read from the
    store; one with only a state takes its rating from its facts (where an earlier batch kept it). Writes the
    facts and returns what to add to the buckets (:func:`write_counts`)."""
    wanted = sorted(set(states) | set(ratings))
    if not wanted:
        return {}
    convs: dict[str, Mapping[str, Any]] = dict(states)
    only_rated = [cid for cid in wanted if cid not in convs]
    if only_rated:
        convs.update((d["_id"], d) for d in Conversation._get_collection().find({"_id": {"$in": only_rated}},
                                                                                 session=session))
    facts_col = ConversationFacts._get_collection()
    facts = {d["_id"]: d for d in facts_col.find({"_id": {"$in": wanted}}, {"applied": 1, "rev": 1, "rating": 1},
                                                 session=session)}
    delta: Counts = {}
    fact_ops: list[UpdateOne] = []
    for cid in wanted:
        conv = convs.get(cid)
        if conv is None:  # a rating ahead of its conversation: counted with the conversation's first state
            continue
        old_doc = facts.get(cid)
        rating = ratings.get(cid) or (old_doc or {}).get("rating")
        new = conversation_counts(conv, rating)
        old: Counts = {(b, n): v for b, n, v in (old_doc or {}).get("applied", [])}
        if new == old and (rating is None or cid not in ratings):
            continue
        for key in set(new) | set(old):
            diff = new.get(key, 0) - old.get(key, 0)
            if diff:
                delta[key] = delta.get(key, 0) + diff
        rev = (old_doc or {}).get("rev", 0)
        # another writer's update in between: no match (an error below), or a duplicate key (the writer retries)
        fact_ops.append(UpdateOne({"_id": cid, "rev": rev} if old_doc else {"_id": cid, "rev": {"$exists": False}},
                                  set_fields({**_facts_fields(conv, rating, new), "rev": rev + 1}),
                                  upsert=old_doc is None))
    if fact_ops:
        result = facts_col.bulk_write(fact_ops, ordered=True, session=session)
        if result.matched_count + result.upserted_count != len(fact_ops):
            # another writer changed a ConversationFacts since it was read (a rating written by another process
            # while the relay's writer stored a state): raise, so the writer retries the batch, which re-reads
            raise RuntimeError("report facts changed under this batch")
    return delta


def apply_messages(docs: Iterable[Mapping[str, Any]], session: ClientSession | None = None) -> Counts:
    """What newly inserted messages (never replays) add to the buckets; a bot message's channel is its
    conversation's."""
    docs = list(docs)
    bot = sorted({d["conversation"] for d in docs if d.get("sender_role") == "bot"})
    channels = {c["_id"]: c.get("channel") or "" for c in Conversation._get_collection().find(
        {"_id": {"$in": bot}}, {"channel": 1}, session=session)} if bot else {}
    counts: Counts = {}
    for doc in docs:
        _merge(counts, message_counts(doc, channels.get(doc["conversation"], "")))
    return counts


def apply_presence(records: Iterable[Mapping[str, Any]], session: ClientSession | None = None,
                   aggregate: bool = True) -> Counts:
    """Store presence records (``agent``, ``old``, ``new``, ``at`` epoch) as intervals, in order: each closes
    the agent's open interval(s) begun before it and opens one of ``new``; a closed interval adds its seconds.
    A replayed record closes nothing (the open interval began later) and opens nothing (its id exists).
    Returns the closed intervals' seconds, to add to the buckets."""
    collection = AgentPresence._get_collection()
    counts: Counts = {}
    for r in records:
        agent, at = str(r["agent"]), float(r["at"])
        for open_ in list(collection.find({"agent": agent, "end": None}, session=session)):
            start = to_epoch(open_["start"])
            if start is None or start >= at:
                continue
            done = collection.update_one({"_id": open_["_id"], "end": None}, set_fields({"end": to_datetime(at)}),
                                         session=session)
            if done.modified_count and aggregate:
                _merge(counts, presence_counts(agent, open_["state"], start, at))
        collection.update_one({"_id": f"{agent}{_SEP}{at!r}"},
                              {"$setOnInsert": {"agent": agent, "state": r["new"], "start": to_datetime(at),
                                                "end": None}}, upsert=True, session=session)
    return counts


def ensure_report_indexes() -> None:
    """Create the indexes of the report documents (idempotent, blocking)."""
    for document in (AgentPresence, ConversationFacts, ReportBucket):
        document.ensure_indexes()


# --- rebuild ------------------------------------------------------------------------------------------------


def rebuild(progress: Callable[[str, int, int], None] | None = None, chunk: int = 1000) -> int:
    """Recompute every bucket and ConversationFacts from the raw conversations, ratings, messages and presence
    intervals; returns the number of buckets. `progress(stage, done, total)` is called after each chunk.
    Run it with the relay stopped (or accept that records stored meanwhile are counted at the next rebuild)."""
    say = progress or (lambda stage, done, total: None)
    ensure_report_indexes()
    ReportBucket._get_collection().delete_many({})
    ConversationFacts._get_collection().delete_many({})
    conversations = Conversation._get_collection()
    ids = [d["_id"] for d in conversations.find({}, {"_id": 1})]
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        found = {d["_id"]: d for d in conversations.find({"_id": {"$in": part}})}
        rated = {d["_id"]: d for d in Rating._get_collection().find({"_id": {"$in": part}})}
        write_counts(apply_conversations(found, rated))
        say("conversations", min(i + chunk, len(ids)), len(ids))
    channels = {d["_id"]: d.get("channel") or "" for d in conversations.find({}, {"channel": 1})}
    counts: Counts = {}
    messages = Message._get_collection()
    total, done = messages.estimated_document_count(), 0
    for doc in messages.find({"sender_role": {"$in": ["agent", "bot"]}}):
        for key, amount in message_counts(doc, channels.get(doc["conversation"], "")).items():
            counts[key] = counts.get(key, 0) + amount
        done += 1
        if done % (chunk * 10) == 0:
            say("messages", done, total)
    say("messages", done, done)
    for doc in AgentPresence._get_collection().find({"end": {"$ne": None}}):
        start, end = to_epoch(doc["start"]), to_epoch(doc["end"])
        if start is not None and end is not None:
            for key, amount in presence_counts(doc["agent"], doc["state"], start, end).items():
                counts[key] = counts.get(key, 0) + amount
    items = sorted(counts.items())
    for i in range(0, len(items), chunk):
        _inc_buckets(dict(items[i:i + chunk]), None)
    say("buckets", len(items), len(items))
    return int(ReportBucket._get_collection().estimated_document_count())


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buckets:
    """One bucket as read: its hour (epoch), dimensions and counters."""

    hour: float
    group: str
    channel: str
    agent: str
    source: str
    counts: dict[str, float]


def read_buckets(kind: str, start: float, end: float) -> list[Buckets]:
    """The buckets of `kind` whose hour starts in [start, end) (one indexed range query, unsorted)."""
    found = ReportBucket._get_collection().find(
        {"kind": kind, "hour": {"$gte": to_datetime(_hour(start)), "$lt": to_datetime(end)}},
        {"_id": 0, "kind": 0})
    return [Buckets(to_epoch(d["hour"]) or 0.0, d.get("group") or "", d.get("channel") or "", d.get("agent") or "",
                    d.get("source") or "", counters(d)) for d in found]


def counters(doc: Mapping[str, Any]) -> dict[str, float]:
    """A bucket document's counters by name."""
    return {k[len(_COUNTER):]: v for k, v in doc.items() if k.startswith(_COUNTER)}


def read_facts(start: float, end: float, lookback_s: float = 86_400.0) -> list[dict[str, Any]]:
    """ConversationFacts of conversations created in [start - lookback_s, end): for occupancy and visitors."""
    return list(ConversationFacts._get_collection().find(
        {"created_at": {"$gte": to_datetime(start - lookback_s), "$lt": to_datetime(end)}},
        {"visitor": 1, "channel": 1, "group": 1, "created_at": 1, "intervals": 1}))


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
