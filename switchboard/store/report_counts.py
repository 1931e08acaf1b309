"""What each stored record adds to the report counters, and the in-memory day shards that hold them (pure).

Every figure is defined once in docs/reports.md. A counter is keyed ``(part, hour, dimension, name)``: the part
(``conv`` by ``group|channel``, ``agent`` by agent, ``bot`` by ``channel|source``, ``visitors`` by
``group|channel`` with one counter per visitor id), the start of its UTC hour (epoch seconds), and its name.

- A conversation's counters are a function of its stored state (:func:`conversation_counts`); a new state adds
  ``counts(new) - counts(previous)``, so a replayed state adds nothing and a phase that goes back takes its
  counters back. Visitors are counted the same way (a visitor id's counter is its number of conversations
  opened in that hour), so a distinct count is the number of ids above zero.
- A rating adds :func:`rating_counts` at its own time; a message :func:`message_counts` at its time.
- Presence and busy seconds come from :class:`AgentClock`, a state machine per agent fed presence changes and
  hold starts and ends (:func:`hold_events`) in time order: the seconds between two events go to the state the
  agent was in, split at UTC hours. The live path and the rebuild feed it the same events.

:class:`Rollup` keeps counters as ``(part, UTC day) -> dimension -> name -> "HH" -> amount`` (what a shard
document holds, decision 024). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from switchboard.store.documents import to_epoch

__all__ = ["HOUR", "DAY", "PARTS", "DECISIONS", "PRESENCE", "Key", "Counts", "epoch_of", "hour_of", "day_of",
           "day_start",
           "dimension", "add", "merge", "difference", "holds", "conversation_counts", "rating_counts",
           "message_counts", "HoldEvent", "hold_events", "AgentState", "AgentClock", "Rollup", "Shard", "day_totals",
           "hours_of", "pack", "unpack"]

HOUR = 3600.0
DAY = 86_400.0
PARTS = ("conv", "agent", "bot", "visitors")
DECISIONS = ("answer", "suggest", "decline", "handoff", "error")
PRESENCE = ("online", "away", "offline")
_SEP = "|"

Key = tuple[str, float, str, str]  # (part, UTC hour start, dimension, name)
Counts = dict[Key, float]
Shard = dict[str, dict[str, dict[str, float]]]  # dimension -> name -> "HH" -> amount


def hour_of(t: float) -> float:
    return t - t % HOUR


_DAYS: dict[int, str] = {}


def day_of(t: float) -> str:
    """The UTC day holding epoch `t`, ``YYYYMMDD`` (sorts as it counts)."""
    n = int(t // DAY)
    day = _DAYS.get(n)
    if day is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        day = _DAYS[n] = datetime.fromtimestamp(n * DAY, tz=timezone.utc).strftime("%Y%m%d")
    return day


def day_start(day: str) -> float:
    return datetime.strptime(day, "%Y%m%d").replace(tzinfo=timezone.utc).timestamp()


def dimension(*values: str | None) -> str:
    return _SEP.join(v or "" for v in values)


def add(counts: Counts, part: str, t: float, dim: str, name: str, amount: float = 1) -> None:
    key = (part, hour_of(t), dim, name)
    counts[key] = counts.get(key, 0) + amount


def merge(into: Counts, counts: Mapping[Key, float]) -> Counts:
    for key, amount in counts.items():
        into[key] = into.get(key, 0) + amount
    return into


def difference(new: Counts, old: Counts) -> Counts:
    """``new - old``, without the keys that cancel."""
    out: Counts = {}
    for key in new.keys() | old.keys():
        diff = new.get(key, 0) - old.get(key, 0)
        if diff:
            out[key] = diff
    return out


# --- conversations, ratings, messages -------------------------------------------------------------------------


def epoch_of(value: Any) -> float | None:
    """A stored time (a datetime) or an epoch number as epoch seconds; None for anything else."""
    if isinstance(value, datetime):
        return to_epoch(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _t(doc: Mapping[str, Any], name: str) -> float | None:
    return epoch_of(doc.get(name))


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


def conversation_counts(conv: Mapping[str, Any]) -> Counts:
    """What one conversation (its stored state) adds: conv counters by group and channel, its visitor, and
    each hold's conversations and chat duration for the agent who held it."""
    counts: Counts = {}
    dim = dimension(conv.get("group"), conv.get("channel"))
    phase = conv.get("phase")
    created, queued = _t(conv, "created_at"), _t(conv, "queued_at")
    assigned, replied, closed = _t(conv, "assigned_at"), _t(conv, "first_agent_reply_at"), _t(conv, "closed_at")

    def conv_add(t: float, name: str, amount: float = 1) -> None:
        add(counts, "conv", t, dim, name, amount)

    if created is not None:
        conv_add(created, "opened")
        if conv.get("visitor"):
            add(counts, "visitors", created, dim, str(conv["visitor"]))
    if queued is not None:
        conv_add(queued, "handed_off")
    if assigned is not None:
        conv_add(assigned, "assigned")
        if queued is not None and assigned >= queued:
            conv_add(assigned, "wait_n")
            conv_add(assigned, "wait_s", assigned - queued)
    if replied is not None:
        start = queued if queued is not None and queued <= replied else assigned
        if start is not None and start <= replied:
            conv_add(replied, "first_response_n")
            conv_add(replied, "first_response_s", replied - start)
    if closed is not None and phase == "abandoned":
        conv_add(closed, "abandoned")
    if closed is not None and phase == "closed":
        conv_add(closed, "closed")
        bot_only = queued is None and assigned is None
        if bot_only:
            conv_add(closed, "bot_only")
        if assigned is not None:
            conv_add(closed, "handled")
            conv_add(closed, "handling_s", closed - assigned)
            if replied is None:
                conv_add(closed, "missed")
        if bot_only or replied is not None:
            conv_add(closed, "resolved")
    for agent, start, end in holds(conv):
        add(counts, "agent", start, agent, "conversations")
        if end is not None:
            add(counts, "agent", end, agent, "chat_n")
            add(counts, "agent", end, agent, "chat_s", end - start)
    return counts


def rating_counts(rating: Mapping[str, Any], conv: Mapping[str, Any] | None) -> Counts:
    """What one rating adds at its own time: to its conversation's group and channel, and to its agent (the
    rating's, else the conversation's)."""
    counts: Counts = {}
    score, at = rating.get("score"), _t(rating, "at")
    if not isinstance(score, int) or isinstance(score, bool) or at is None:
        return counts
    conv = conv or {}
    dim = dimension(conv.get("group"), conv.get("channel"))
    add(counts, "conv", at, dim, "rated")
    add(counts, "conv", at, dim, "score_sum", score)
    add(counts, "conv", at, dim, f"score_{score}")
    agent = str(rating.get("agent") or conv.get("agent") or "")
    if agent:
        add(counts, "agent", at, agent, "rated")
        add(counts, "agent", at, agent, "score_sum", score)
    return counts


def message_counts(msg: Mapping[str, Any], channel: str) -> Counts:
    """What one stored message adds: an agent's text to their messages and words; a bot's to its decisions,
    in all and per knowledge document it cites."""
    counts: Counts = {}
    at = _t(msg, "at")
    if at is None or msg.get("kind") != "text":
        return counts
    if msg.get("sender_role") == "agent":
        agent = str(msg.get("sender_id") or "")
        add(counts, "agent", at, agent, "messages")
        add(counts, "agent", at, agent, "words", len(str(msg.get("text") or "").split()))
    elif msg.get("sender_role") == "bot":
        extra = msg.get("extra") or {}
        decision = extra.get("decision") if isinstance(extra, Mapping) else None
        if decision not in DECISIONS:
            return counts
        add(counts, "bot", at, dimension(channel, ""), str(decision))
        sources = extra.get("sources") or []
        documents = {str(s.get("id") or "").split("#", 1)[0] for s in sources if isinstance(s, Mapping)}
        for document in sorted(documents - {""}):
            add(counts, "bot", at, dimension(channel, document), str(decision))
    return counts


# --- the agents' clock -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldEvent:
    """An agent starts (``start``) or stops holding a conversation at `at`."""

    at: float
    agent: str
    conversation: str
    start: bool


def hold_events(conversation: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[HoldEvent]:
    """The hold starts and ends a new state of `conversation` adds to its `old` one (None: none stored).

    A hold of the old state missing from the new one (a requeue) ends when the clock next moves (at = -inf)."""
    before = {(a, s): e for a, s, e in holds(old)} if old is not None else {}
    after = {(a, s): e for a, s, e in holds(new)}
    events: list[HoldEvent] = []
    for (agent, start), end in after.items():
        if (agent, start) not in before:
            events.append(HoldEvent(start, agent, conversation, True))
        if end is not None and before.get((agent, start)) is None:
            events.append(HoldEvent(end, agent, conversation, False))
    for (agent, start), end in before.items():
        if (agent, start) not in after and end is None:
            events.append(HoldEvent(float("-inf"), agent, conversation, False))
    return events


@dataclass(slots=True)
class AgentState:
    state: str | None  # online | away | offline; None before the first presence change seen
    since: float  # the clock has counted this agent's seconds up to here
    held: set[str] = field(default_factory=set)

    def snapshot(self) -> list[Any]:
        return [self.state, self.since, sorted(self.held)]


class AgentClock:
    """Presence and busy seconds per agent, from events in time order (an event earlier than the agent's last
    one counts as happening then: no seconds go backwards). ``busy_s`` is online time with a conversation held."""

    def __init__(self, agents: Mapping[str, AgentState] | None = None) -> None:
        self.agents: dict[str, AgentState] = dict(agents or {})

    def presence(self, agent: str, state: str, at: float, counts: Counts) -> None:
        a = self._advance(agent, at, counts)
        a.state = state

    def hold(self, event: HoldEvent, counts: Counts) -> None:
        a = self._advance(event.agent, event.at, counts)
        if event.start:
            a.held.add(event.conversation)
        else:
            a.held.discard(event.conversation)

    def _advance(self, agent: str, at: float, counts: Counts) -> AgentState:
        a = self.agents.get(agent)
        if a is None:
            a = self.agents[agent] = AgentState(None, at if at != float("-inf") else 0.0)
            return a
        if at > a.since:
            if a.state is not None:
                _seconds(counts, agent, f"{a.state}_s", a.since, at)
                if a.state == "online" and a.held:
                    _seconds(counts, agent, "busy_s", a.since, at)
            a.since = at
        return a

    def snapshot(self) -> dict[str, list[Any]]:
        return {agent: a.snapshot() for agent, a in sorted(self.agents.items())}


def _seconds(counts: Counts, agent: str, name: str, start: float, end: float) -> None:
    t = start
    while t < end:
        upto = min(end, hour_of(t) + HOUR)
        add(counts, "agent", t, agent, name, upto - t)
        t = upto


# --- the shards in memory --------------------------------------------------------------------------------------


class Rollup:
    """Counters as shards: ``(part, day)`` -> :data:`Shard`; the shards changed since :meth:`take_dirty`."""

    def __init__(self) -> None:
        self.shards: dict[tuple[str, str], Shard] = {}
        self.dirty: set[tuple[str, str]] = set()

    def add(self, counts: Mapping[Key, float]) -> None:
        for (part, hour, dim, name), amount in counts.items():
            if not amount:
                continue
            key = (part, day_of(hour))
            names = self.shards.setdefault(key, {}).setdefault(dim, {})
            hours = names.setdefault(name, {})
            hh = f"{int(hour % DAY // HOUR):02d}"
            value = hours.get(hh, 0) + amount
            if abs(value) < 1e-9:
                hours.pop(hh, None)
                if not hours:
                    del names[name]
            else:
                hours[hh] = value
            self.dirty.add(key)

    def load(self, part: str, day: str, shard: Shard) -> None:
        """Take a shard as stored (this writer's, evicted from memory earlier) back before adding to it."""
        self.shards[(part, day)] = shard

    def take_dirty(self) -> list[tuple[str, str]]:
        dirty, self.dirty = sorted(self.dirty), set()
        return dirty

    def evict_before(self, day: str) -> list[tuple[str, str]]:
        """Forget the (clean) shards of days before `day`; returns them."""
        gone = [k for k in self.shards if k[1] < day and k not in self.dirty]
        for k in gone:
            del self.shards[k]
        return gone


def day_totals(shard: Shard) -> dict[str, dict[str, float]]:
    """A shard's counters summed over its hours: dimension -> name -> amount."""
    return {dim: {name: sum(hours.values()) for name, hours in names.items()} for dim, names in shard.items()}


def hours_of(shard: Shard, day: str, start: float, end: float,
             dims: Iterable[str] | None = None) -> Iterable[tuple[float, str, str, float]]:
    """``(hour, dimension, name, amount)`` of a stored shard whose hour starts in [hour_of(start), end)."""
    base, low = day_start(day), hour_of(start)
    items = shard.items() if dims is None else ((d, shard[d]) for d in dims if d in shard)
    for dim, names in items:
        for name, hours in names.items():
            for hh, amount in hours.items():
                t = base + int(hh) * HOUR
                if low <= t < end:
                    yield t, dim, name, amount


def pack(shard: Shard) -> dict[str, Any]:
    """A counters shard in the form it is stored in: its dimensions, counter names, width (24 hours, or 1 for a
    day total) and the flat positions and amounts of its cells (``(dim * names + name) * width + hour``), which a
    reader turns into an array without a loop in Python (decision 024)."""
    dims = sorted(shard)
    names = sorted({n for counters in shard.values() for n in counters})
    daily = all(hh == "" for counters in shard.values() for hours in counters.values() for hh in hours)
    width = 1 if daily else 24
    column = {n: i for i, n in enumerate(names)}
    cells: list[int] = []
    values: list[float] = []
    for d, dim in enumerate(dims):
        for name, hours in shard[dim].items():
            base = (d * len(names) + column[name]) * width
            for hh, amount in hours.items():
                cells.append(base + (0 if daily else int(hh)))
                values.append(amount)
    return {"dims": dims, "names": names, "width": width, "cells": cells, "values": values}


def unpack(stored: dict[str, Any]) -> Shard:
    """A stored shard back in the nested form (a shard that is not :func:`pack`'s is returned as it is)."""
    if "cells" not in stored:
        return stored
    dims, names, width = stored["dims"], stored["names"], stored["width"]
    shard: Shard = {}
    for cell, amount in zip(stored["cells"], stored["values"]):
        d, rest = divmod(cell, len(names) * width)
        n, h = divmod(rest, width)
        shard.setdefault(dims[d], {}).setdefault(names[n], {})["" if width == 1 else f"{h:02d}"] = amount
    return shard
