"""Reading the report shards fast: each process keeps the shards it decoded, and fetches only those that changed.

A report over a month reads about 31 shards a part (decision 024). nx-27017 charges for every byte it returns
and scans a collection for any query but one by ``_id``, and a past day's shards seldom change. So each writer
keeps a :class:`ReportWriter` document with its stamps (when it last wrote each of its shards); a reader reads
those few documents and fetches, by ``_id``, only the shards it has not decoded at that time. A decoded shard is kept as arrays (:class:`Dense`: dimensions x
counters x hours, summed by numpy) or, for visitors, as the visitors present each hour (:class:`Present`).
The cache is bounded (:data:`CACHE_SHARDS`, least recently used first) and shared by the threads of a process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from dataclasses import dataclass

import numpy as np
import orjson

from switchboard.store.documents import ReportShard, ReportWriter
from switchboard.store.report_counts import DAY, HOUR, AgentState, Shard, day_of, day_start, hour_of

__all__ = ["CACHE_SHARDS", "Dense", "Present", "read_dense", "read_present", "read_agent_totals", "read_agents_now",
           "read_term_days", "merge_clocks", "hour_columns", "clear_cache"]

CACHE_SHARDS = 600


_HOURS = {f"{h:02d}": h for h in range(24)}
_DAILY = {"": 0}


@dataclass(frozen=True, slots=True)
class Dense:
    """A shard as ``values[dimension, counter, hour]`` (one hour column for a day total)."""

    dims: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray

    @classmethod
    def of(cls, shard: Mapping[str, Any]) -> Dense:
        """From a stored shard: packed (:func:`~switchboard.store.report_counts.pack`) or nested."""
        if "cells" in shard:
            dims, names, width = tuple(shard["dims"]), tuple(shard["names"]), int(shard["width"])
            flat = np.zeros(len(dims) * len(names) * width)
            flat[np.asarray(shard["cells"], dtype=np.int64)] = np.asarray(shard["values"], dtype=np.float64)
            return cls(dims, names, flat.reshape(len(dims), len(names), width))
        dims = tuple(sorted(shard))
        names = tuple(sorted({n for counters in shard.values() for n in counters}))
        column = {n: i for i, n in enumerate(names)}
        daily = all(hh == "" for counters in shard.values() for hours in counters.values() for hh in hours)
        width, hour = (1, _DAILY) if daily else (24, _HOURS)
        where = [(d * len(names) + column[name]) * width + hour[hh]
                 for d, dim in enumerate(dims) for name, hours in shard[dim].items() for hh in hours]
        amounts = [amount for dim in dims for hours in shard[dim].values() for amount in hours.values()]
        values = np.zeros(len(dims) * len(names) * width)
        np.add.at(values, where, amounts)
        return cls(dims, names, values.reshape(len(dims), len(names), width))


@dataclass(frozen=True, slots=True)
class Present:
    """A visitors shard as stored (``{dimension: {visitor: {"HH": conversations opened}}}``) and, per dimension
    and hour, the set of visitors above zero."""

    shard: Shard
    present: dict[str, list[frozenset[str]]]

    @classmethod
    def of(cls, shard: Shard) -> Present:
        present: dict[str, list[frozenset[str]]] = {}
        for dim, visitors in shard.items():
            hours: list[list[str]] = [[] for _ in range(24)]
            for visitor, by_hour in visitors.items():
                for hh, n in by_hour.items():
                    if n > 0.5:
                        hours[_HOURS[hh]].append(visitor)
            present[dim] = [frozenset(h) for h in hours]
        return cls(shard, present)

    @staticmethod
    def merged(parts: list[Present]) -> Present:
        """Several writers' shards of one day as one (a visitor counts where their sum is above zero)."""
        if len(parts) == 1:
            return parts[0]
        summed: Shard = {}
        for p in parts:
            for dim, visitors in p.shard.items():
                into = summed.setdefault(dim, {})
                for visitor, by_hour in visitors.items():
                    hours = into.setdefault(visitor, {})
                    for hh, n in by_hour.items():
                        hours[hh] = hours.get(hh, 0) + n
        return Present.of(summed)


class _Cache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, tuple[float, Dense | Present]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, at: float) -> Dense | Present | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != at:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, at: float, value: Dense | Present) -> None:
        with self.lock:
            self.entries[key] = (at, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


_CACHE = _Cache(CACHE_SHARDS)


def clear_cache() -> None:
    """Forget every decoded shard and parsed stamp (as a process just started)."""
    with _CACHE.lock:
        _CACHE.entries.clear()
    _STAMPS.clear()


_STAMPS: dict[str, tuple[object, dict[str, float]]] = {}  # writer -> (its document's at, its stamps parsed)


def _stamps(writer: str, doc: Mapping[str, Any]) -> dict[str, float]:
    """A writer's stamps, parsed once per version of its document."""
    known = _STAMPS.get(writer)
    if known is not None and known[0] == doc.get("at"):
        return known[1]
    stamps: dict[str, float] = orjson.loads(doc.get("stamps") or "{}")
    _STAMPS[writer] = (doc.get("at"), stamps)
    return stamps


def _read(part: str, first: str, last: str) -> list[tuple[str, Dense | Present]]:
    """``(day, decoded shard)`` of every writer's shards of `part` for the UTC days first..last."""
    wanted: list[tuple[str, str, float]] = []  # (shard id, day, at)
    for doc in ReportWriter._get_collection().find({}, {"stamps": 1, "at": 1}):
        writer = doc["_id"]
        for key, at in _stamps(writer, doc).items():
            shard_part, _, day = key.partition("|")
            if shard_part == part and first <= day <= last:
                wanted.append((f"{day}|{part}|{writer}", day, at))
    found: list[tuple[str, Dense | Present]] = []
    missing: dict[str, str] = {}
    for key, day, at in wanted:
        value = _CACHE.get(key, at)
        if value is None:
            missing[key] = day
        else:
            found.append((day, value))
    if missing:
        for doc in ReportShard._get_collection().find({"_id": {"$in": list(missing)}}, {"data": 1, "at": 1}):
            shard = orjson.loads(doc["data"])
            value = Present.of(shard) if part == "visitors" else Dense.of(shard)
            _CACHE.put(doc["_id"], float(doc.get("at") or 0.0), value)
            found.append((missing[doc["_id"]], value))
    return found


def read_dense(part: str, first: str, last: str) -> list[tuple[str, Dense]]:
    """``(day, Dense)`` of every writer's `part` shards (``conv``, ``agent``, ``agentday``, ``bot``), first..last."""
    return [(day, v) for day, v in _read(part, first, last) if isinstance(v, Dense)]


def read_present(first: str, last: str) -> list[tuple[str, Present]]:
    """``(day, Present)`` per UTC day first..last, the writers' visitors shards of a day merged."""
    by_day: dict[str, list[Present]] = {}
    for day, value in _read("visitors", first, last):
        if isinstance(value, Present):
            by_day.setdefault(day, []).append(value)
    return [(day, Present.merged(parts)) for day, parts in sorted(by_day.items())]



def hour_columns(day: str, start: float, end: float) -> tuple[list[int], list[float]]:
    """The hours of UTC `day` (columns 0-23) whose start is in [hour_of(start), end), and those starts."""
    base, low = day_start(day), hour_of(start)
    hours = [h for h in range(24) if low <= base + h * HOUR < end]
    return hours, [base + h * HOUR for h in hours]


def read_agent_totals(start: float, end: float, agents: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """Per agent, every counter summed over [start, end): whole UTC days from the day totals, the partial days
    at the range's ends hour by hour."""
    if end <= start:
        return {}
    wanted = None if agents is None else set(agents)
    first, last = day_of(start), day_of(end - 1e-3)
    whole = {d for d in (first, last) if day_start(d) >= start and day_start(d) + DAY <= end}
    lo = first if first in whole else day_of(day_start(first) + DAY)
    hi = last if last in whole else day_of(day_start(last) - DAY)
    rows: dict[str, int] = {}
    columns: dict[str, int] = {}
    parts: list[tuple[Dense, list[int]]] = []
    if lo <= hi:
        parts += [(d, [0]) for _, d in read_dense("agentday", lo, hi)]
    for day in sorted({first, last} - whole):
        parts += [(d, hour_columns(day, start, end)[0]) for _, d in read_dense("agent", day, day)]
    for d, _ in parts:
        for a in d.dims:
            if wanted is None or a in wanted:
                rows.setdefault(a, len(rows))
        for n in d.names:
            columns.setdefault(n, len(columns))
    total = np.zeros((len(rows), len(columns)))
    for d, hours in parts:
        keep = [i for i, a in enumerate(d.dims) if a in rows]
        if not keep or not hours:
            continue
        summed = d.values[np.ix_(keep, range(len(d.names)), hours)].sum(axis=2)
        total[np.ix_([rows[d.dims[i]] for i in keep], [columns[n] for n in d.names])] += summed
    names = list(columns)
    return {a: {n: float(v) for n, v in zip(names, total[r]) if v} for a, r in rows.items()}


def merge_clocks(docs: Iterable[Mapping[str, Any]]) -> dict[str, AgentState]:
    """Per agent, the entry that counted furthest among writers' stored clocks (``clock``: JSON)."""
    agents: dict[str, AgentState] = {}
    for doc in docs:
        for agent, (state, since, held) in orjson.loads(doc.get("clock") or "{}").items():
            if agent not in agents or since > agents[agent].since:
                agents[agent] = AgentState(state, float(since), set(held))
    return agents


def read_agents_now() -> dict[str, AgentState]:
    """Each agent's clock as last stored: its presence since when, and the conversations it holds."""
    return merge_clocks(ReportWriter._get_collection().find({}, {"clock": 1}))


def read_term_days() -> dict[str, list[str]]:
    """Per writer, the days it has word index shards for (switchboard/store/search_terms.py)."""
    return {d["_id"]: orjson.loads(d.get("term_days") or "[]")
            for d in ReportWriter._get_collection().find({}, {"term_days": 1})}
