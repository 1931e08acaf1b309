"""The SkillQueue entity: one skill group's waiting visitors and its view of member agents.

Theory of operation
-------------------
A queue keeps every waiting visitor in serving order: visitors sent to the
front (requeued after an agent's offline grace, transferred to the group)
first, then higher priority, then earlier request. A visitor's position is
1 + the number of visitors ahead of it, including those currently reserved
for an agent; each unreserved visitor is told its position whenever it
changes, with an estimated wait from the group's recent assignment rate.

It also keeps a *view* of each member agent (presence, load, saturation,
idle time), refreshed by the agents themselves. The view is only advisory:
the agent decides. A visitor leaves the open list when it is *reserved* for
one agent (an unsolicited offer on enqueue, or an answer to that agent's
``Pull``); the agent answers with ``PullResult`` saying which it took and
which it gives back. A queue never reserves one visitor for two agents.

Choosing an agent (balanced policy): among members that are online and have
a free slot in the view, the lowest load ratio ``(active + reserved) /
saturation``, ties to the one idle longest, then by id. A lazy heap keeps
that choice O(log n), so no decision scans every agent.

Holds: under ``designated`` a visitor who names a member agent is offered
only to that agent; under ``last_agent_first`` a returning visitor is held
for their last agent for ``last_agent_wait_s`` (if that agent is a member and
not offline), then becomes an ordinary waiter at its original place; under
``familiar`` a verified customer is offered first to the agent who served them
most, only if that agent is eligible in the view right then, and becomes an
ordinary waiter at once when they are not (or give the offer back). Held
visitors never block those behind them. A visitor reassigned for no reply
*avoids* the silent agent for ``no_reply_reassign_s``.

Run-time changes: ``ConfigureGroup`` replaces the policy, ``max_queue`` and
``last_agent_wait_s``. Every hold was made by the current policy (a change
drops them all), so a new policy never inherits holds it would not make.
``RetireGroup`` (a deleted group) is refused while anyone waits; a retired
queue refuses every ``Enqueue`` (``group_retired``), so it stays empty, and
its members' pulls find nothing, until ``CreateGroup`` revives it.

Service hours (docs/hours.md): a group may have a schedule, parsed once when
it is created or configured. While it is closed an ``Enqueue`` is refused
(``outside_hours``, with the next opening), but for a *returning* visitor
(requeued, restored, a move undone) when ``at_closing`` is ``serve``: those
are served, as everyone still waiting at closing time is. With
``offer_message`` the queue sets a ``closing`` timer at the end of the current
(or next) opening; when it fires, every visitor still waiting and not offered
to an agent leaves the queue (``HoursClosed`` to its conversation), and one an
agent gives back after closing leaves too, so nobody waits in a closed group.
:func:`group_status` is the pure "open now?" the edges show in the widget.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from math import isinf
from typing import Any, Callable, Iterator, Literal

from sortedcontainers import SortedList

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Rejected, SendTo, SetTimer
from switchboard.actors.events import QueuePosition
from switchboard.actors.messages import (
    AgentStatus, Candidate, Candidates, ConfigureGroup, CreateGroup, Dequeue, Enqueue, Enqueued, EnqueueRefused,
    HoursClosed, InviteGranted, InviteTake, MemberLeft, Message, Pull, PullResult, RetireGroup, Sweep, TimerFired,
    group_schedule, problem,
)
from switchboard.actors.schedule import Schedule, is_open, next_closing, next_opening
from switchboard.settings import DispatchSettings

__all__ = ["SkillQueue", "HANDLERS", "GroupStatus", "group_status"]

SWEEP_TIMER = "sweep"
CLOSING_TIMER = "closing"

GroupStatus = Literal["open", "open_no_agents", "closed"]


def group_status(schedule: Schedule | None, now: float, agents_online: int) -> GroupStatus:
    """What a widget shows of a group at `now`: ``closed`` outside its hours (None: always open), else
    ``open`` with at least one agent online, ``open_no_agents`` with none (a request would wait)."""
    if schedule is not None and not is_open(schedule, now):
        return "closed"
    return "open" if agents_online > 0 else "open_no_agents"

Handler = Callable[["SkillQueue", Any, float], list[Effect]]  # each takes the message type of its key


def _handlers() -> dict[type, Handler]:
    """Message type -> handler; any other message is refused (``unknown_message``).

    A function only so that the table can stand here, above the handlers it points at;
    ``HANDLERS`` is built from it once, at the end of the module.
    """
    q = SkillQueue
    return {
        CreateGroup: q._on_create, ConfigureGroup: q._on_configure, RetireGroup: q._on_retire,
        AgentStatus: q._on_status, MemberLeft: q._on_member_left,
        Enqueue: q._on_enqueue, Dequeue: q._on_dequeue, InviteTake: q._on_invite, Pull: q._on_pull,
        PullResult: q._on_pull_result, Sweep: q._on_sweep, TimerFired: q._on_timer,
    }


@dataclass(slots=True)
class _Entry:
    conversation: str
    visitor: str
    priority: int
    queued_at: float
    tier: int
    seq: int
    hold: str | None = None  # only this agent may take it while held
    avoid: str | None = None  # this agent may not take it while avoided
    reserved_by: str | None = None
    told: int | None = None  # last position told

    @property
    def key(self) -> tuple[int, int, float, int]:
        return (self.tier, -self.priority, self.queued_at, self.seq)

    def candidate(self, group: str) -> Candidate:
        return Candidate(self.conversation, self.visitor, group, self.priority, self.queued_at, self.tier)

    def open_to(self, agent: str) -> bool:
        return (self.hold is None or self.hold == agent) and self.avoid != agent


@dataclass(slots=True)
class _View:
    presence: str
    active: int
    saturation: int
    idle_since: float | None
    reserved: int = 0
    version: int = 0

    @property
    def eligible(self) -> bool:
        return self.presence == "online" and self.active + self.reserved < self.saturation


class SkillQueue:
    """One skill group's queue; ``handle(message, now)`` returns the effects to carry out."""

    def __init__(self, group_id: str, msg: CreateGroup, now: float, settings: DispatchSettings) -> None:
        self.id = group_id
        self._settings = settings
        self._closing_at: float | None = None  # when the armed closing timer fires
        self._configure(msg)
        self.retired = False
        self._entries: dict[str, _Entry] = {}
        self._order: SortedList = SortedList()  # keys of every waiting visitor (positions)
        self._open: SortedList = SortedList()  # keys of unreserved ones (who to offer next)
        self._by_key: dict[tuple[int, int, float, int], _Entry] = {}
        self._views: dict[str, _View] = {}
        self._heap: list[tuple[float, float, str, int]] = []
        self._recent: deque[float] = deque(maxlen=settings.eta_window)
        self._seq = 0

    @staticmethod
    def validate_creation(msg: CreateGroup) -> Rejected | None:
        """The refusal of a creation message whose fields are wrong (its own ``problem()``), or None."""
        wrong = msg.problem()
        return None if wrong is None else Rejected(*wrong)

    def created(self, now: float) -> list[Effect]:
        return self._arm_sweep(now) + self._arm_closing(now)

    def _configure(self, msg: CreateGroup | ConfigureGroup) -> None:
        self.policy = msg.policy
        self.max_queue = msg.max_queue
        wait = msg.last_agent_wait_s
        self.last_agent_wait_s = self._settings.last_agent_wait_s if wait is None else wait
        self.schedule = group_schedule(msg.schedule)  # checked by the message's problem() before
        self.at_closing = msg.at_closing

    def handle(self, msg: Message, now: float) -> list[Effect]:
        handler = HANDLERS.get(type(msg))
        if handler is None:
            return [Rejected(errors.UNKNOWN_MESSAGE, f"queue cannot handle {type(msg).__name__}")]
        if (wrong := problem(msg)) is not None:
            return [Rejected(*wrong)]
        return handler(self, msg, now)

    # --- inspection --------------------------------------------------------------------

    def waiting(self) -> list[str]:
        """Conversation ids in serving order."""
        return [self._by_key[k].conversation for k in self._order]

    def position(self, conversation: str) -> int | None:
        entry = self._entries.get(conversation)
        return None if entry is None else self._order.index(entry.key) + 1

    def is_open(self, now: float) -> bool:
        """Whether the group is within its service hours at `now` (always, without a schedule)."""
        return self.schedule is None or is_open(self.schedule, now)

    def next_opening(self, now: float) -> float | None:
        """`now` when open, else when it opens next (None: not within a year)."""
        return now if self.schedule is None else next_opening(self.schedule, now)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        online = sum(1 for v in self._views.values() if v.presence == "online")
        return {
            "id": self.id, "policy": self.policy, "max_queue": self.max_queue, "retired": self.retired,
            "schedule": None if self.schedule is None else self.schedule.to_dict(), "at_closing": self.at_closing,
            "open": None if now is None else self.is_open(now),
            "next_opening": None if now is None else self.next_opening(now),
            "status": None if now is None else group_status(self.schedule, now, online),
            "waiting": [
                {"conversation": e.conversation, "visitor": e.visitor, "priority": e.priority,
                 "queued_at": e.queued_at, "front": e.tier == 0, "hold": e.hold, "avoid": e.avoid,
                 "reserved_by": e.reserved_by}
                for e in (self._by_key[k] for k in self._order)
            ],
            "members": {a: {"presence": v.presence, "active": v.active, "saturation": v.saturation,
                            "reserved": v.reserved} for a, v in self._views.items()},
            "eta_rate_per_s": self._rate(),
        }

    # --- commands and protocol -----------------------------------------------------------

    def _on_create(self, msg: CreateGroup, now: float) -> list[Effect]:
        if not self.retired:
            return [Rejected(errors.ALREADY_EXISTS, f"group {self.id} already exists")]
        if (wrong := msg.problem()) is not None:
            return [Rejected(*wrong)]
        self._configure(msg)  # revived: nobody waits, and the members it still has are known again
        self.retired = False
        return self._arm_sweep(now) + self._arm_closing(now)

    def _on_configure(self, msg: ConfigureGroup, now: float) -> list[Effect]:
        if self.retired:
            return [Rejected(errors.GROUP_RETIRED, f"group {self.id} has been deleted")]
        effects: list[Effect] = []
        if msg.policy != self.policy:  # every hold is the old policy's: a new policy would not have made it
            for entry in self._entries.values():
                if entry.hold is not None and self.policy == "last_agent_first":
                    effects.append(CancelTimer(f"hold:{entry.conversation}"))
                entry.hold = None
        self._configure(msg)
        effects += self._arm_closing(now)
        if self._turns_away(now):  # closed now, and nobody waits in a closed group that offers a message
            effects += self._dismiss(list(self._open_entries()), now)
        return effects + self._place(now)

    def _on_retire(self, msg: RetireGroup, now: float) -> list[Effect]:
        if self._entries:
            return [Rejected(errors.GROUP_NOT_EMPTY, f"{len(self._entries)} visitors still wait in group {self.id}")]
        if self.retired:
            return []
        self.retired = True
        effects: list[Effect] = [CancelTimer(SWEEP_TIMER)]
        if self._closing_at is not None:
            self._closing_at = None
            effects.append(CancelTimer(CLOSING_TIMER))
        return effects

    def _on_status(self, msg: AgentStatus, now: float) -> list[Effect]:
        self._update_view(msg)
        return []

    def _on_member_left(self, msg: MemberLeft, now: float) -> list[Effect]:
        self._views.pop(msg.agent, None)
        for entry in self._entries.values():
            if entry.hold == msg.agent:
                entry.hold = None
        return self._place(now)

    def _on_enqueue(self, msg: Enqueue, now: float) -> list[Effect]:
        conv = Address.conversation(msg.conversation)
        if self.retired:
            return [SendTo(conv, EnqueueRefused(self.id, errors.GROUP_RETIRED, f"group {self.id} has been deleted"))]
        if msg.conversation in self._entries:
            return [SendTo(conv, EnqueueRefused(self.id, errors.ALREADY_REQUESTED, "already waiting in this queue"))]
        if not self.is_open(now) and not (msg.returning and self.at_closing == "serve"):
            why = f"group {self.id} is outside its service hours"
            return [SendTo(conv, EnqueueRefused(self.id, errors.OUTSIDE_HOURS, why, self.next_opening(now)))]
        if not msg.front and self.max_queue is not None and len(self._order) >= self.max_queue:
            return [SendTo(conv, EnqueueRefused(self.id, errors.QUEUE_FULL, f"queue {self.id} is full"))]
        if self.policy == "designated" and msg.designated is not None and msg.designated not in self._views:
            why = f"agent {msg.designated!r} is not in group {self.id}"
            return [SendTo(conv, EnqueueRefused(self.id, errors.NOT_IN_GROUP, why))]
        hold, effects = self._hold_for(msg, now)
        self._seq += 1
        entry = _Entry(msg.conversation, msg.visitor, msg.priority, msg.queued_at,
                       0 if msg.front else 1, self._seq, hold=hold)
        if msg.avoid is not None and self._settings.no_reply_reassign_s:
            entry.avoid = msg.avoid
            effects.append(SetTimer(f"avoid:{msg.conversation}", now + self._settings.no_reply_reassign_s))
        if msg.confirm:
            effects.append(SendTo(conv, Enqueued(self.id)))
        self._insert(entry)
        effects += self._place(now)
        return effects + self._tell_from(entry.key, now, inclusive=True)

    def _hold_for(self, msg: Enqueue, now: float) -> tuple[str | None, list[Effect]]:
        """Who alone may take this visitor for now (designated or last agent), and the timer that ends it."""
        if self.policy == "designated" and msg.designated is not None:
            return msg.designated, []
        if self.policy == "familiar" and msg.familiar is not None and not msg.front:
            view = self._views.get(msg.familiar)
            if view is not None and view.eligible:  # a first offer to them now, or none: nobody waits for them
                return msg.familiar, []
        if self.policy == "last_agent_first" and msg.last_agent is not None:
            view = self._views.get(msg.last_agent)
            if view is not None and view.presence != "offline":
                return msg.last_agent, [SetTimer(f"hold:{msg.conversation}", now + self.last_agent_wait_s)]
        return None, []

    def _on_dequeue(self, msg: Dequeue, now: float) -> list[Effect]:
        entry = self._entries.get(msg.conversation)
        if entry is None:
            return []
        return self._remove(entry, now)

    def _on_invite(self, msg: InviteTake, now: float) -> list[Effect]:
        view = self._views.get(msg.agent)
        if view is None:
            return [Rejected(errors.NOT_IN_GROUP, f"agent {msg.agent!r} is not in group {self.id}")]
        if view.presence == "offline":
            return [Rejected(errors.AGENT_OFFLINE, f"agent {msg.agent!r} is offline")]
        entry = self._entries.get(msg.conversation)
        if entry is None:
            return [Rejected(errors.NOT_QUEUED, f"{msg.conversation!r} is not waiting in {self.id}")]
        self._recent.append(now)
        effects: list[Effect] = [SendTo(Address.agent(msg.agent), InviteGranted(entry.conversation, entry.visitor, self.id))]
        return effects + self._remove(entry, now)

    def _on_pull(self, msg: Pull, now: float) -> list[Effect]:
        agent = msg.status.agent
        self._update_view(msg.status)
        chosen: list[_Entry] = []
        if msg.free > 0:
            for key in self._open:
                entry = self._by_key[key]
                if entry.open_to(agent):
                    chosen.append(entry)
                    if len(chosen) == msg.free:
                        break
        picked = [self._reserve(entry, agent).candidate(self.id) for entry in chosen]
        return [SendTo(Address.agent(agent), Candidates(self.id, tuple(picked), solicited=True))]

    def _on_pull_result(self, msg: PullResult, now: float) -> list[Effect]:
        agent = msg.status.agent
        effects: list[Effect] = []
        taken = [e for c in msg.taken if (e := self._entries.get(c)) is not None and e.reserved_by == agent]
        if taken:  # remove them all, then tell those behind their new position once
            first = min(e.key for e in taken)
            for entry in taken:
                self._recent.append(now)
                self._remove(entry, now, tell=False)
            effects += self._tell_from(first, now, inclusive=False)
        returned = [e for c in msg.returned if (e := self._entries.get(c)) is not None and e.reserved_by == agent]
        for entry in returned:
            self._unreserve(entry)
            if self.policy == "familiar" and entry.hold == agent:  # they gave the first offer back: anyone now
                entry.hold = None
        if returned and self._turns_away(now):  # offered before closing, given back after it: they leave too
            effects += self._dismiss(returned, now)
        if agent in self._views:  # a late answer from an agent who has left the group
            self._update_view(msg.status)
        effects += self._place(now)
        for entry in returned:
            if entry.reserved_by is None and entry.conversation in self._entries:
                effects += self._tell(entry, now)
        return effects

    def _on_sweep(self, msg: Sweep, now: float) -> list[Effect]:
        return self._place(now)

    def _on_timer(self, msg: TimerFired, now: float) -> list[Effect]:
        if msg.key == SWEEP_TIMER:
            return [] if self.retired else self._place(now) + self._arm_sweep(now)
        if msg.key == CLOSING_TIMER:
            return self._on_closing(now)
        kind, _, conversation = msg.key.partition(":")
        entry = self._entries.get(conversation)
        if entry is None:
            return []
        if kind == "hold" and self.policy == "last_agent_first":
            entry.hold = None
        elif kind == "avoid":
            entry.avoid = None
        return self._place(now)

    # --- service hours ---------------------------------------------------------------------------

    def _turns_away(self, now: float) -> bool:
        """Whether visitors waiting now must leave: closed, and the closing time offers them a message."""
        return self.at_closing == "offer_message" and not self.is_open(now)

    def _on_closing(self, now: float) -> list[Effect]:
        self._closing_at = None
        if self.retired:
            return []
        effects = self._dismiss(list(self._open_entries()), now) if self._turns_away(now) else []
        return effects + self._arm_closing(now)

    def _dismiss(self, entries: list[_Entry], now: float) -> list[Effect]:
        """These unreserved visitors leave the closed queue; each conversation learns when it opens again.

        Everyone unreserved leaves together, so nobody is left behind them to be told a new position."""
        opening = self.next_opening(now)
        effects: list[Effect] = []
        for entry in entries:
            self._remove(entry, now, tell=False)
            effects.append(SendTo(Address.conversation(entry.conversation), HoursClosed(self.id, opening)))
        return effects

    def _arm_closing(self, now: float) -> list[Effect]:
        """Set (or move, or cancel) the closing timer: only ``offer_message`` acts at closing time."""
        at = self._closing_time(now) if self.at_closing == "offer_message" else None
        if at == self._closing_at:
            return []
        self._closing_at = at
        return [CancelTimer(CLOSING_TIMER)] if at is None else [SetTimer(CLOSING_TIMER, at)]

    def _closing_time(self, now: float) -> float | None:
        """The end of the opening holding `now`, or else of the next one; None if there is none to end."""
        if self.schedule is None:
            return None
        start = now if is_open(self.schedule, now) else next_opening(self.schedule, now)
        end = None if start is None else next_closing(self.schedule, start)
        return None if end is None or isinf(end) else end

    # --- the waiting list ----------------------------------------------------------------------

    def _insert(self, entry: _Entry) -> None:
        self._entries[entry.conversation] = entry
        self._by_key[entry.key] = entry
        self._order.add(entry.key)
        self._open.add(entry.key)

    def _remove(self, entry: _Entry, now: float, tell: bool = True) -> list[Effect]:
        if entry.reserved_by is None:
            self._open.remove(entry.key)
        else:
            self._unreserve(entry, reopen=False)
        self._order.remove(entry.key)
        del self._by_key[entry.key]
        del self._entries[entry.conversation]
        return self._tell_from(entry.key, now, inclusive=False) if tell else []

    def _reserve(self, entry: _Entry, agent: str) -> _Entry:
        self._open.remove(entry.key)
        entry.reserved_by = agent
        view = self._views.get(agent)
        if view is not None:
            view.reserved += 1
            self._push(agent, view)
        return entry

    def _unreserve(self, entry: _Entry, reopen: bool = True) -> None:
        agent, entry.reserved_by = entry.reserved_by, None
        view = self._views.get(agent) if agent is not None else None
        if agent is not None and view is not None and view.reserved > 0:
            view.reserved -= 1
            self._push(agent, view)
        if reopen:
            self._open.add(entry.key)

    def _place(self, now: float) -> list[Effect]:
        """Offer open visitors, in serving order, to the best eligible agents, until none is left."""
        effects: list[Effect] = []
        for entry in self._open_entries():
            if entry.hold is not None and self.policy == "familiar":  # a first offer, never a wait
                view = self._views.get(entry.hold)
                if view is None or not view.eligible:
                    entry.hold = None
            if entry.hold is not None:
                view = self._views.get(entry.hold)
                agent = entry.hold if view is not None and view.eligible else None
            else:
                agent = self._best_agent(avoid=entry.avoid)
                if agent is None and entry.avoid is None:
                    break
            if agent is not None:
                self._reserve(entry, agent)
                effects.append(SendTo(Address.agent(agent), Candidates(self.id, (entry.candidate(self.id),), solicited=False)))
        return effects

    def _open_entries(self) -> Iterator[_Entry]:
        """Open entries in serving order, safe while the caller reserves the one it was given."""
        it = iter(self._open)
        while (key := next(it, None)) is not None:
            yield self._by_key[key]
            it = self._open.irange(minimum=key, inclusive=(False, True))

    # --- positions --------------------------------------------------------------------------------

    def _tell_from(self, key: tuple[int, int, float, int], now: float, inclusive: bool) -> list[Effect]:
        """Tell the open visitors from `key` on their position; reserved ones are never told, so skip them."""
        effects: list[Effect] = []
        for k in self._open.irange(minimum=key, inclusive=(inclusive, True)):
            effects += self._tell(self._by_key[k], now)
        return effects

    def _tell(self, entry: _Entry, now: float) -> list[Effect]:
        if entry.reserved_by is not None:
            return []
        position = self._order.index(entry.key) + 1
        if position == entry.told:
            return []
        entry.told = position
        rate = self._rate()
        eta = round(position / rate, 1) if rate else None
        return [Deliver(UserRef.visitor(entry.visitor), QueuePosition(entry.conversation, self.id, position, eta))]

    def _rate(self) -> float | None:
        if len(self._recent) < 2 or self._recent[-1] <= self._recent[0]:
            return None
        return (len(self._recent) - 1) / (self._recent[-1] - self._recent[0])

    # --- the agent views -----------------------------------------------------------------------------

    def _update_view(self, status: AgentStatus) -> None:
        view = self._views.get(status.agent)
        if view is None:
            view = self._views[status.agent] = _View(status.presence, status.active, status.saturation, status.idle_since)
        else:
            view.presence, view.active = status.presence, status.active
            view.saturation, view.idle_since = status.saturation, status.idle_since
        self._push(status.agent, view)

    def _push(self, agent: str, view: _View) -> None:
        view.version += 1
        if view.eligible:
            heapq.heappush(self._heap, self._heap_item(agent, view))
        if len(self._heap) > 4 * len(self._views) + 64:  # stale entries pile up: keep the heap O(members)
            self._heap = [self._heap_item(a, v) for a, v in self._views.items() if v.eligible]
            heapq.heapify(self._heap)

    @staticmethod
    def _heap_item(agent: str, view: _View) -> tuple[float, float, str, int]:
        ratio = (view.active + view.reserved) / view.saturation
        idle = view.idle_since if view.idle_since is not None else float("inf")
        return (ratio, idle, agent, view.version)

    def _best_agent(self, avoid: str | None) -> str | None:
        skipped = []
        found = None
        while self._heap:
            ratio, idle, agent, version = self._heap[0]
            view = self._views.get(agent)
            if view is None or view.version != version or not view.eligible:
                heapq.heappop(self._heap)
                continue
            if agent == avoid:
                skipped.append(heapq.heappop(self._heap))
                continue
            found = agent
            break
        for item in skipped:
            heapq.heappush(self._heap, item)
        return found

    def _arm_sweep(self, now: float) -> list[Effect]:
        interval = self._settings.sweep_interval_s
        return [SetTimer(SWEEP_TIMER, now + interval)] if interval else []


HANDLERS: dict[type, Handler] = _handlers()
