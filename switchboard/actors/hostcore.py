"""The part of a host that both runtimes share: entities, the effect runner and timers.

A host owns the entities whose addresses hash to its partition. `HostCore`
takes envelopes, calls each entity's ``handle(message, now)`` and carries out
the effects: messages for entities of this partition are handled at once, in
order, from a local run queue; the rest come back as *outbound* envelopes for
the runtime to carry (a Pykka tell, a batched Ray call); deliveries come back
for the runtime to hand to whoever listens. There is no clock here: time
arrives with each envelope, and timers fire when the runtime says how late it
is, each with its own due time as ``now``.

Timers fire in one order, the same on every host: by due time, then by the
time they were set, then by the entity's address and the timer's key
(:class:`Due`). A host fires its own in that order; with a manual clock the
engine fires them one at a time across all hosts, each on a quiet engine
(:func:`switchboard.actors.engine.advance_hosts`), so simultaneous timers
fire in the same order on every runtime and any number of hosts.

Nothing escapes: an exception inside an entity is a broken invariant, logged
with the entity's address, and that entity is replaced by a tombstone that
refuses every later message with ``entity_error``; the mailbox keeps running.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import msgspec

from switchboard.actors import errors
from switchboard.actors.address import Address, Kind, host_for
from switchboard.actors.agent import Agent
from switchboard.actors.conversation import Conversation
from switchboard.actors.effects import AskBot, CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import Refused
from switchboard.actors.output import BotQuestion, Delivery, EngineOutput, Recorded, Refusal
from switchboard.actors.messages import (
    CreateAgent, CreateGroup, Message, OpenConversation, RestoreConversation, TimerFired, Undeliverable,
)
from switchboard.actors.queue import SkillQueue
from switchboard.settings import DispatchSettings

__all__ = ["Envelope", "Fire", "Due", "HostCore", "Entity", "Output"]

log = logging.getLogger("switchboard.host")


class Envelope(msgspec.Struct, frozen=True):
    """A message on its way to an entity.

    `ref` is the correlation id of the command that started the chain (kept by
    every message the chain causes, so a refusal anywhere reaches the sender);
    `sender` is the entity that sent it, told if the target does not exist.
    """

    to: Address
    message: Message
    now: float
    ref: str | None = None
    sender: Address | None = None


@dataclass(frozen=True, slots=True)
class Fire:
    """A mailbox item: fire the timers due at or before `upto`, in their order; only the first if `single`.

    The runtimes' wall-clock ticks fire everything due; ``advance_to`` fires one timer at a time.
    """

    upto: float
    single: bool = False


class Due(NamedTuple):
    """A live timer, in the order timers fire: due time, set time, the entity's address, the key."""

    at: float
    set_at: float
    kind: str
    entity: str
    key: str


class Entity(Protocol):
    def handle(self, msg: Message, now: float) -> list[Effect]: ...
    def snapshot(self, now: float | None = None) -> dict[str, Any]: ...


_UNKNOWN: dict[Kind, str] = {Kind.AGENT: errors.UNKNOWN_AGENT, Kind.QUEUE: errors.UNKNOWN_GROUP,
                             Kind.CONVERSATION: errors.UNKNOWN_CONVERSATION}

# A heap entry: the timer's order (Due's fields), then a token unique in this host (so the address after
# it is never compared) and the address it fires at. It is live while _live[(address, key)] is its token.
_Timer = tuple[float, float, str, str, str, int, Address]


class _Tombstone:
    """What is left of an entity that raised: it refuses everything."""

    def __init__(self, address: Address) -> None:
        self.address = address

    def handle(self, msg: Message, now: float) -> list[Effect]:
        return [Rejected(errors.ENTITY_ERROR, f"{self.address} failed earlier and refuses messages")]

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        return {"id": self.address.id, "error": True}


@dataclass(slots=True)
class Output:
    """What one call into the core produced for the runtime to carry out."""

    outbound: list[Envelope] = field(default_factory=list)
    deliveries: list[EngineOutput] = field(default_factory=list)
    handled: int = 0


class HostCore:
    """Entities of one partition (`index` of `hosts`), their timers and the effect runner."""

    def __init__(self, index: int, hosts: int, settings: DispatchSettings) -> None:
        self.index, self.hosts, self.settings = index, hosts, settings
        self.entities: dict[Address, Entity] = {}
        self._timers: list[_Timer] = []
        self._live: dict[tuple[Address, str], int] = {}
        self._token = 0

    def reset(self, settings: DispatchSettings) -> None:
        """Forget every entity and timer and take new settings (a fresh world for a scenario or test)."""
        self.settings = settings
        self.entities.clear()
        self._timers.clear()
        self._live.clear()

    def owns(self, address: Address) -> bool:
        return self.hosts == 1 or host_for(address, self.hosts) == self.index

    # --- running messages ---------------------------------------------------------------

    def run(self, envelopes: list[Envelope], out: Output | None = None) -> Output:
        """Handle `envelopes` and everything they cause inside this partition."""
        out = out or Output()
        work = deque(envelopes)
        while work:
            env = work.popleft()
            self._handle(env, work, out)
        return out

    def run_mailbox(self, items: list[Envelope | Fire]) -> Output:
        """Handle a drained mailbox: envelopes in order, each Fire at its place among them."""
        out = Output()
        envelopes: list[Envelope] = []
        for item in items:
            if isinstance(item, Fire):
                self.run(envelopes, out)
                envelopes = []
                self.fire_due(item.upto, out, single=item.single)
            else:
                envelopes.append(item)
        self.run(envelopes, out)
        return out

    def fire_due(self, upto: float, out: Output | None = None, *, single: bool = False) -> Output:
        """Fire the timers due at or before `upto` in their order (:class:`Due`), each with all it causes
        here before the next; only the first one if `single`."""
        out = out or Output()
        while self._live_on_top() and self._timers[0][0] <= upto:
            at, _, _, _, key, _, address = heapq.heappop(self._timers)
            del self._live[(address, key)]
            self.run([Envelope(address, TimerFired(key), at)], out)
            if single:
                break
        return out

    def next_due(self) -> Due | None:
        """The first live timer in firing order, or None."""
        return Due(*self._timers[0][:5]) if self._live_on_top() else None

    def _live_on_top(self) -> bool:
        """Drop cancelled and replaced timers from the top of the heap; True if a live one is left."""
        timers = self._timers
        while timers:
            _, _, _, _, key, token, address = timers[0]
            if self._live.get((address, key)) == token:
                return True
            heapq.heappop(timers)
        return False

    def inspect(self, address: Address, now: float | None = None) -> dict[str, Any] | None:
        entity = self.entities.get(address)
        return None if entity is None else entity.snapshot(now)

    # --- one envelope ---------------------------------------------------------------------

    def _handle(self, env: Envelope, work: deque[Envelope], out: Output) -> None:
        out.handled += 1
        entity = self.entities.get(env.to)
        if entity is None:
            effects = self._create_or_bounce(env, work, out)
        else:
            try:
                effects = entity.handle(env.message, env.now)
            except Exception:
                log.exception("entity %s failed on %s; it now refuses messages", env.to, type(env.message).__name__)
                self.entities[env.to] = _Tombstone(env.to)
                effects = [Rejected(errors.ENTITY_ERROR, f"{env.to} failed on {type(env.message).__name__}")]
        if effects:
            self._apply(env, effects, work, out)

    def _create_or_bounce(self, env: Envelope, work: deque[Envelope], out: Output) -> list[Effect]:
        kind = env.to.kind
        created = self._create(env)
        if isinstance(created, Rejected):
            return [created]
        if created is not None:
            self.entities[env.to] = created
            return created.created(env.now)
        if isinstance(env.message, Undeliverable):
            return []
        if env.sender is not None:
            work.append(Envelope(env.sender, Undeliverable(env.to, env.message), env.now, env.ref))
            self._route_last(work, out)
            return []
        return [Rejected(_UNKNOWN[kind], f"no {kind.value} {env.to.id!r}")]

    def _create(self, env: Envelope) -> Agent | SkillQueue | Conversation | Rejected | None:
        """The entity a creation message makes at its address (or why its fields are wrong); None for any
        other message."""
        msg, to = env.message, env.to
        if to.kind is Kind.AGENT and isinstance(msg, CreateAgent):
            return Agent.validate_creation(msg) or Agent(to.id, msg, env.now, self.settings)
        if to.kind is Kind.QUEUE and isinstance(msg, CreateGroup):
            return SkillQueue.validate_creation(msg) or SkillQueue(to.id, msg, env.now, self.settings)
        if to.kind is Kind.CONVERSATION and isinstance(msg, (OpenConversation, RestoreConversation)):
            return Conversation.validate_creation(msg) or Conversation(to.id, msg, env.now, self.settings)
        return None

    def _apply(self, env: Envelope, effects: list[Effect], work: deque[Envelope], out: Output) -> None:
        for effect in effects:
            if isinstance(effect, SendTo):
                work.append(Envelope(effect.to, effect.message, env.now, env.ref, env.to))
                self._route_last(work, out)
            elif isinstance(effect, Deliver):
                out.deliveries.append(Delivery(effect.to, effect.event, env.ref, env.now))
            elif isinstance(effect, Record):
                out.deliveries.append(Recorded(effect.record, env.ref, env.now))
            elif isinstance(effect, AskBot):
                out.deliveries.append(BotQuestion(effect, env.ref, env.now))
            elif isinstance(effect, SetTimer):
                self._token += 1
                self._live[(env.to, effect.key)] = self._token
                heapq.heappush(self._timers, (effect.at, env.now, env.to.kind.value, env.to.id, effect.key,
                                              self._token, env.to))
            elif isinstance(effect, CancelTimer):
                self._live.pop((env.to, effect.key), None)
            elif isinstance(effect, Rejected):
                refused = Refused(env.ref, effect.code, effect.detail, str(env.to))
                out.deliveries.append(Refusal(refused, env.ref, env.now))
                if env.ref is None:
                    log.info("refused without a sender to tell: %s %s (%s)", env.to, effect.code, effect.detail)
            else:  # pragma: no cover - a new effect type without a runner
                raise TypeError(f"unknown effect {effect!r}")

    def _route_last(self, work: deque[Envelope], out: Output) -> None:
        """Keep the envelope just appended if this partition owns its target; else send it out."""
        if not self.owns(work[-1].to):
            out.outbound.append(work.pop())
