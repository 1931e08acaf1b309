"""Conversation history read back: a filtered list newest first, a transcript, a visitor's conversations.

Plain and synchronous (run it in a thread from async code); it only reads, the writer alone writes.

The list pages by keyset on ``(created_at, id)``, newest first, never with skip or count. Store-side
filters (date range, visitor, group, channel, phase, the caller's scope) go into one conversations find,
sorted and limited by the server: on MongoDB an index on ``created_at`` answers it, on nx-27017 it is one
scan of the conversations (never of the messages). Two filters cannot be store-side without a search
document the writer does not maintain (decision 022): the text ``q`` and the ``rating``. They are checked
here on the candidates, newest first, reading each candidate's messages with the indexed find on
``conversation``, and a page stops after :data:`SCAN_BUDGET` candidates: it may then hold fewer than
``limit`` items (even none) with a ``next`` cursor to go on from. Each request is so bounded whatever the
size of the history.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from switchboard.store.documents import Conversation, Message, Rating, TermShard, User, Visitor, to_epoch
from switchboard.store.report_reads import read_term_days
from switchboard.store.search_terms import bucket_of, field_term, participant_term, rating_term, terms_of

__all__ = [
    "HistoryFilter", "HistoryScope", "Page", "SCAN_BUDGET", "FIRST_WINDOW_S", "MAX_LIMIT", "MAX_TRANSCRIPT",
    "search_conversations", "iter_conversations", "transcript", "visitor_history",
]

SCAN_BUDGET = 60  # candidates a text or rating filter checks per page (text: one indexed find of messages each)
FIRST_WINDOW_S = 86400.0  # how far back a first page looks before it drops the window
_MIN_WINDOW_S = 3600.0  # the least a page after a cursor looks back before it drops the window
_CHUNK = 30  # candidates taken at a time (a rating filter reads their ratings in one find)
MAX_LIMIT = 100
MAX_TRANSCRIPT = 5000  # messages of one transcript
_SNIPPET = 140
_SNIPPET_SEQS = 6  # the snippet of a page without ``q``: the first visitor text among the first few messages


@dataclass(frozen=True, slots=True)
class HistoryScope:
    """Who asks: an admin sees everything; otherwise the union of the supervised groups' conversations
    and (for an agent) the conversations the user took part in."""

    user_id: str
    is_admin: bool = False
    groups: frozenset[str] = frozenset()
    is_agent: bool = False


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    visitor: str | None = None
    email: str | None = None
    agent: str | None = None  # a participant: anyone who served the conversation
    group: str | None = None
    channel: str | None = None
    phase: str | None = None
    rating: int | None = None
    q: str | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until


@dataclass(slots=True)
class Page:
    items: list[dict[str, Any]] = field(default_factory=list)
    next: tuple[datetime, str] | None = None  # the (created_at, id) to continue after
    span: float | None = None  # seconds between the page's first and last candidate: the next page's window hint


def _ms(d: datetime) -> datetime:
    """`d` in UTC at the store's precision (milliseconds), so a cursor compares equal to what is stored."""
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    d = d.astimezone(timezone.utc)
    return d.replace(microsecond=d.microsecond // 1000 * 1000)


def _scope_query(scope: HistoryScope) -> dict[str, Any] | None:
    """The scope as a query; None when the caller can see nothing."""
    if scope.is_admin:
        return {}
    clauses: list[dict[str, Any]] = []
    if scope.groups:  # an equality when it can be: nx-27017 evaluates an $in beside a date range in Python
        groups = sorted(scope.groups)
        clauses.append({"group": groups[0] if len(groups) == 1 else {"$in": groups}})
    if scope.is_agent:
        clauses.append({"participants": scope.user_id})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _visible(doc: dict[str, Any], scope: HistoryScope) -> bool:
    if scope.is_admin:
        return True
    return (doc.get("group") in scope.groups) or (scope.is_agent and scope.user_id in (doc.get("participants") or ()))


def _store_query(f: HistoryFilter, scope: HistoryScope) -> dict[str, Any] | None:
    """The store-side part of `f` within `scope`; None when nothing can match."""
    scoped = _scope_query(scope)
    if scoped is None:
        return None
    query: dict[str, Any] = dict(scoped)

    def put(name: str, value: Any) -> None:  # a second condition on a field goes into $and
        if name in query:
            query.setdefault("$and", []).append({name: value})
        else:
            query[name] = value

    if f.visitor:
        put("visitor", f.visitor)
    if f.email:
        ids = sorted(str(d["_id"]) for d in Visitor._get_collection().find({"email": f.email.strip().lower()}, {"_id": 1}))
        if not ids:
            return None
        put("visitor", ids[0] if len(ids) == 1 else {"$in": ids})
    if f.agent:
        put("participants", f.agent)
    for name in ("group", "channel", "phase"):
        value = getattr(f, name)
        if value:
            put(name, value)
    span: dict[str, Any] = {}
    if f.since is not None:
        span["$gte"] = _ms(f.since)
    if f.until is not None:
        span["$lt"] = _ms(f.until)
    if span:
        query["created_at"] = span
    return query


# --- the word index (switchboard/store/search_terms.py) -------------------------------------------------------


def _postings(words: list[str], first: str, last: str) -> dict[str, set[str]]:
    """Per UTC day of creation (``YYYYMMDD``, first..last), the conversations whose messages hold every one of
    `words`, from every writer's word index shards (one indexed query per bucket of words)."""
    per_word: dict[str, dict[str, set[str]]] = {w: defaultdict(set) for w in words}
    by_bucket: dict[int, list[str]] = defaultdict(list)
    for w in words:
        by_bucket[bucket_of(w)].append(w)
    days = [(w, d) for w, ds in read_term_days().items() for d in ds if first <= d <= last]
    for bucket, bucket_words in by_bucket.items():
        ids = [f"{bucket}|{day}|{writer}" for writer, day in days]  # by _id: nx-27017 scans for anything else
        for doc in TermShard._get_collection().find({"_id": {"$in": ids}}, {"day": 1, "data": 1}) if ids else ():
            postings = orjson.loads(doc["data"])
            for w in bucket_words:
                if w in postings:
                    per_word[w][doc["day"]].update(postings[w])
    common = set.intersection(*(set(d) for d in per_word.values())) if words else set()
    found = {day: set.intersection(*(per_word[w][day] for w in words)) for day in common}
    return {day: ids for day, ids in found.items() if ids}


def _index_entries(f: HistoryFilter, scope: HistoryScope) -> list[str]:
    """What the word index can narrow `f` within `scope` to: the words of `q`, the rating, the agent, group,
    channel and phase filters, an agent's own scope, a one-group supervisor's (empty: the index does not help)."""
    entries = terms_of(f.q) if f.q else []
    if f.rating is not None:
        entries.append(rating_term(f.rating))
    if f.agent:
        entries.append(participant_term(f.agent))
    entries += [field_term(name, getattr(f, name)) for name in ("group", "channel", "phase") if getattr(f, name)]
    if not scope.is_admin and not scope.groups and scope.is_agent:
        entries.append(participant_term(scope.user_id))
    if not scope.is_admin and len(scope.groups) == 1 and not scope.is_agent:
        entries.append(field_term("group", next(iter(scope.groups))))
    return list(dict.fromkeys(entries))


def _day(d: datetime) -> str:
    return d.astimezone(timezone.utc).strftime("%Y%m%d")


_INDEXED = ("phase", "visitor", "agent")  # Conversation's indexes


def _passes(doc: dict[str, Any], checks: dict[str, Any]) -> bool:
    """Whether `doc` meets equality or ``$in`` conditions on its own fields (what _store_query puts there)."""
    for name, want in checks.items():
        value = doc.get(name)
        if isinstance(want, dict):
            if value not in want.get("$in", ()):
                return False
        elif value != want:
            return False
    return True


def _indexed_candidates(query: dict[str, Any], words: list[str], after: tuple[datetime, str] | None,
                        now: datetime | None) -> Iterator[dict[str, Any]]:
    """Conversations matching `query` whose messages hold every one of `words`, newest first by (created_at, id),
    strictly after the cursor: the word index gives each day's ids, one ``_id $in`` find per day fetches them."""
    span = query.get("created_at") or {}
    top = after[0] if after is not None else span.get("$lt") or now or datetime.now(timezone.utc)
    low = span.get("$gte")
    postings = _postings(words, _day(low) if low is not None else "00000000", _day(top))
    # the indexed fields are checked here: beside one of their indexes nx-27017 would scan it, not take the ids
    rest = {k: v for k, v in query.items() if k != "created_at" and k not in _INDEXED}
    checks = {k: v for k, v in query.items() if k in _INDEXED}
    collection = Conversation._get_collection()
    for day in sorted(postings, reverse=True):
        ids = sorted(postings[day])
        rows: list[dict[str, Any]] = []
        for i in range(0, len(ids), 500):
            rows += [r for r in collection.find({**rest, "_id": {"$in": ids[i:i + 500]}}) if _passes(r, checks)]
        keyed = sorted(((_key(r), r) for r in rows), key=lambda kr: kr[0], reverse=True)
        for key, row in keyed:
            if after is not None and key >= (_ms(after[0]), after[1]):
                continue
            if ("$gte" in span and key[0] < span["$gte"]) or ("$lt" in span and key[0] >= span["$lt"]):
                continue
            yield row


def _candidates(query: dict[str, Any], after: tuple[datetime, str] | None, batch: int,
                span: float | None = None, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Conversations matching `query`, newest first by (created_at, id), strictly after the cursor `after`.

    Each find is sorted and limited by the server. nx-27017 sorts a find with a date range in Python over
    every document in the range, so a find first looks only `span` seconds back from the cursor (else from
    the range's end, else from `now`) and goes without that lower bound only once the window runs dry.
    Rows created in the cursor's own millisecond with an id not below the cursor's are dropped here (an ``$or`` would cost nx-27017 a scan in Python), so a find asks for a few more than it needs and
    repeats, larger, in the rare case they were all such rows.
    """
    collection = Conversation._get_collection()
    cursor, window = after, span
    while True:
        q = dict(query)
        windowed = False
        bound = dict(q.get("created_at", {}))
        if cursor is not None:
            bound["$lte"] = _ms(cursor[0])
        top = cursor[0] if cursor is not None else bound.get("$lt", now)
        if window is not None and top is not None:
            low = _ms(top) - timedelta(seconds=window)
            if "$gte" not in bound or bound["$gte"] < low:
                bound["$gte"], windowed = low, True
        if bound:
            q["created_at"] = bound
        want = batch + 8
        rows = list(collection.find(q).sort([("created_at", -1), ("_id", -1)]).limit(want))
        fresh = [r for r in rows if cursor is None or _key(r) < (_ms(cursor[0]), cursor[1])]
        yield from fresh
        if fresh:
            cursor = _key(fresh[-1])
        if len(rows) < want:
            if not windowed:
                return
            window = None  # the window is exhausted: the rest, without it
        elif not fresh:  # a whole find within the cursor's millisecond: widen it
            batch *= 4


def _windowable(query: dict[str, Any]) -> bool:
    """Whether a date window makes `query` cheaper on nx-27017: not beside an indexed visitor equality (the index
    is cheaper alone), an ``$or`` or an ``$in`` (a date range beside them is evaluated in Python)."""
    def has_in(value: Any) -> bool:
        if isinstance(value, dict):
            return "$in" in value or any(has_in(v) for v in value.values())
        return isinstance(value, list) and any(has_in(v) for v in value)
    return "visitor" not in query and "$or" not in query and not has_in(query)


def _key(doc: dict[str, Any]) -> tuple[datetime, str]:
    created = doc.get("created_at") or datetime(1970, 1, 1, tzinfo=timezone.utc)
    return _ms(created), str(doc["_id"])


def search_conversations(f: HistoryFilter, scope: HistoryScope, *, limit: int = 25,
                         after: tuple[datetime, str] | None = None, span: float | None = None,
                         now: datetime | None = None, budget: int = SCAN_BUDGET) -> Page:
    """One page of conversations matching `f` within `scope`, newest first, after the cursor `after`.

    `span` (the previous page's, from its cursor) and `now` only make the store's work smaller: the first
    find looks twice `span` back (a first page: :data:`FIRST_WINDOW_S` back from `f.until` or `now`), and
    all before that only if the window does not fill the page. They never change the answer.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    query = _store_query(f, scope)
    if query is None:
        return Page()
    post = bool(f.q) or f.rating is not None
    page = Page()
    picked: list[tuple[dict[str, Any], str | None]] = []
    scanned = 0
    last: tuple[datetime, str] | None = None
    more = False
    window = 2 * span + _MIN_WINDOW_S if span is not None else FIRST_WINDOW_S if after is None else None
    if not _windowable(query):
        window = None
    words = _index_entries(f, scope)
    if words and any(read_term_days().values()):  # a store with no index at all (no writer stored one yet): scan
        candidates = _indexed_candidates(query, words, after, now)
    else:
        candidates = _candidates(query, after, limit + 1 if not post else budget + 1, window, now)
    first: tuple[datetime, str] | None = None
    while not more:
        chunk = list(islice(candidates, _CHUNK))
        if not chunk:
            break
        scores = _ratings([str(d["_id"]) for d in chunk]) if f.rating is not None else {}  # one $in per chunk
        for doc in chunk:
            if len(picked) == limit or (post and scanned == budget):
                more = True
                break
            scanned += 1
            last = _key(doc)
            first = first or last
            if f.rating is not None and (scores.get(str(doc["_id"])) or {}).get("score") != f.rating:
                continue
            matched, snippet = _matches(doc, f.q)
            if matched:
                picked.append((doc, snippet))
    ratings = _ratings([str(d["_id"]) for d, _ in picked])
    names = _names({a for d, _ in picked for a in [d.get("agent")] if a})
    visitors = _visitors({str(d["visitor"]) for d, _ in picked})
    snippets = {str(d["_id"]): s for d, s in picked if s is not None}
    snippets.update(_first_visitor_texts([str(d["_id"]) for d, s in picked if s is None]))
    page.items = [_item(d, ratings, names, visitors, snippets) for d, _ in picked]
    if more and last is not None and first is not None:
        page.next, page.span = last, (first[0] - last[0]).total_seconds()
    return page


def iter_conversations(f: HistoryFilter, scope: HistoryScope, *, max_rows: int,
                       now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every item `search_conversations` would list, page after page, at most `max_rows` (for exports)."""
    after: tuple[datetime, str] | None = None
    span: float | None = None
    sent = 0
    while sent < max_rows:
        page = search_conversations(f, scope, limit=min(MAX_LIMIT, max_rows - sent), after=after, span=span,
                                    now=now)
        for item in page.items:
            yield item
        sent += len(page.items)
        if page.next is None:
            return
        after, span = page.next, page.span


def _matches(doc: dict[str, Any], q: str | None) -> tuple[bool, str | None]:
    """Whether a message of `doc` holds `q` (case-insensitive), with its excerpt (None: no text filter)."""
    if not q:
        return True, None
    needle = q.strip().lower()
    for m in Message._get_collection().find({"conversation": doc["_id"]}, {"text": 1}):
        text = str(m.get("text") or "")
        at = text.lower().find(needle)
        if at >= 0:
            start = max(0, at - _SNIPPET // 3)
            return True, ("…" if start else "") + text[start:start + _SNIPPET]
    return False, None


def _first_visitor_texts(ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    collection = Message._get_collection()
    for cid in ids:
        rows = collection.find({"conversation": cid, "seq": {"$lte": _SNIPPET_SEQS}},
                               {"seq": 1, "sender_role": 1, "kind": 1, "text": 1})
        texts = sorted((int(m["seq"]), str(m.get("text") or "")) for m in rows
                       if m.get("sender_role") == "visitor" and m.get("kind", "text") == "text")
        found[cid] = texts[0][1][:_SNIPPET] if texts else ""
    return found


def _ratings(ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = Rating._get_collection().find({"_id": {"$in": ids}}, {"score": 1, "comment": 1, "at": 1})
    return {str(r["_id"]): {"score": int(r["score"]), "comment": str(r.get("comment") or ""),
                            "at": to_epoch(r.get("at"))} for r in rows}


def _names(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = User._get_collection().find({"_id": {"$in": sorted(ids)}}, {"nickname": 1})
    return {str(r["_id"]): str(r.get("nickname") or "") for r in rows}


def _visitors(ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = Visitor._get_collection().find({"_id": {"$in": sorted(ids)}})
    return {str(r["_id"]): r for r in rows}


def _item(doc: dict[str, Any], ratings: dict[str, dict[str, Any]], names: dict[str, str],
          visitors: dict[str, dict[str, Any]], snippets: dict[str, str]) -> dict[str, Any]:
    cid, visitor = str(doc["_id"]), visitors.get(str(doc["visitor"]), {})
    agent = doc.get("agent")
    rating = ratings.get(cid)
    return {
        "id": cid, "visitor": str(doc["visitor"]), "visitor_email": str(visitor.get("email") or ""),
        "visitor_name": str(visitor.get("name") or ""), "channel": str(doc.get("channel") or "widget"),
        "group": doc.get("group"), "agent": agent, "agent_name": names.get(agent, "") if agent else "",
        "phase": str(doc["phase"]), "created_at": to_epoch(doc.get("created_at")),
        "closed_at": to_epoch(doc.get("closed_at")), "rating": rating["score"] if rating else None,
        "messages": int(doc.get("last_seq") or 0), "snippet": snippets.get(cid, ""),
    }


def _visible_conversation(conversation_id: str, scope: HistoryScope) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = Conversation._get_collection().find_one({"_id": conversation_id})
    return doc if doc is not None and _visible(doc, scope) else None


def transcript(conversation_id: str, scope: HistoryScope) -> dict[str, Any] | None:
    """The conversation with every message in seq order, its transfers and rating; None if unknown or out of
    `scope` (the caller answers both the same way, so ids cannot be probed)."""
    doc = _visible_conversation(conversation_id, scope)
    if doc is None:
        return None
    rows = sorted(Message._get_collection().find({"conversation": conversation_id}), key=lambda m: int(m["seq"]))
    rows = rows[:MAX_TRANSCRIPT]
    ratings = _ratings([conversation_id])
    people = {str(m.get("sender_id")) for m in rows if m.get("sender_role") == "agent" and m.get("sender_id")}
    people |= {a for a in [doc.get("agent"), *(doc.get("participants") or [])] if a}
    for t in doc.get("transfers") or []:
        people |= {a for a in (t.get("from_agent"), t.get("to_agent")) if a}
    names = _names(people)
    item = _item(doc, ratings, names, _visitors({str(doc["visitor"])}), {})
    item.pop("snippet")
    item.update({
        "queued_at": to_epoch(doc.get("queued_at")), "assigned_at": to_epoch(doc.get("assigned_at")),
        "first_agent_reply_at": to_epoch(doc.get("first_agent_reply_at")),
        "close_reason": doc.get("close_reason"),
        "participants": [{"id": p, "name": names.get(p, "")} for p in doc.get("participants") or []],
    })
    return {
        "conversation": item,
        "messages": [_message(m, names) for m in rows],
        "transfers": [{"at": _epoch_of(t.get("at")), "from_agent": t.get("from_agent"), "to_agent": t.get("to_agent"),
                       "to_group": t.get("to_group"),
                       "from_name": names.get(str(t.get("from_agent")), ""), "to_name": names.get(str(t.get("to_agent")), "")}
                      for t in doc.get("transfers") or []],
        "rating": ratings.get(conversation_id),
    }


def _epoch_of(value: Any) -> float | None:
    if isinstance(value, datetime):
        return to_epoch(value)
    return float(value) if isinstance(value, (int, float)) else None


def _message(m: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    sender = str(m.get("sender_id") or "")
    out: dict[str, Any] = {
        "seq": int(m["seq"]), "at": to_epoch(m.get("at")), "sender_role": str(m["sender_role"]),
        "sender_id": sender, "sender_name": names.get(sender, "") if m["sender_role"] == "agent" else "",
        "kind": str(m.get("kind") or "text"), "text": str(m.get("text") or ""),
    }
    extra = m.get("extra")
    if extra:
        out["extra"] = dict(extra)
    return out


def visitor_history(visitor_id: str, scope: HistoryScope, *, limit: int = MAX_LIMIT) -> dict[str, Any] | None:
    """The visitor and their conversations the caller may see (newest first, at most `limit`); None when the
    visitor is unknown or the caller sees none of their conversations (and is not an admin)."""
    rows = [d for d in Conversation._get_collection().find({"visitor": visitor_id}) if _visible(d, scope)]
    stored: dict[str, Any] | None = Visitor._get_collection().find_one({"_id": visitor_id})
    if (stored is None and not rows) or (not scope.is_admin and not rows):
        return None
    rows.sort(key=_key, reverse=True)
    rows = rows[:limit]
    ids = [str(d["_id"]) for d in rows]
    ratings = _ratings(ids)
    names = _names({str(d["agent"]) for d in rows if d.get("agent")})
    visitors = {visitor_id: stored or {}}
    snippets = _first_visitor_texts(ids)
    stored = stored or {}
    times = [t for t in (to_epoch(d.get("created_at")) for d in rows) if t is not None]
    first = to_epoch(stored.get("created_at")) or (min(times) if times else None)
    last = to_epoch(stored.get("seen_at")) or (max(times) if times else None)
    return {
        "visitor": {"id": visitor_id, "email": str(stored.get("email") or ""), "name": str(stored.get("name") or ""),
                    "channel": str(stored.get("channel") or "widget"), "first_seen": first, "last_seen": last},
        "conversations": [_item(d, ratings, names, visitors, snippets) for d in rows],
    }
