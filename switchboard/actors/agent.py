"""The Agent entity: one human agent's presence, saturation and active conversations.

Theory of operation
-------------------
States are the agent's presence: ONLINE gets assignments, AWAY keeps its
conversations and gets none, OFFLINE keeps them for ``offline_grace_s`` and
then sends each one back to the front of its queue (``Requeue``). ``SignOut``
(an admin ends the agent's work) goes offline and does what the end of the
grace period does at once.

The agent is the authority on its own load; each skill-group queue only keeps
a *view* of it, refreshed by ``AgentStatus`` (or the status riding on ``Pull``
and ``PullResult``). Work reaches an agent in two ways, and the agent always
has the last word:

* queue-driven: a visitor is enqueued, the queue picks the member with the
  lowest load ratio in its view and sends an unsolicited ``Candidates``;
* agent-driven: a slot frees (close, transfer away), the agent comes online,
  its saturation rises or it joins a group. The agent starts a *round*: it
  sends ``Pull(free)`` to every group it belongs to, each queue reserves up to
  ``free`` of its best visitors for it and answers ``Candidates``; when every
  group has answered, the agent takes the best ``free`` of all candidates in
  serving order (front-of-queue first, then priority, then request time) and
  gives the rest back in ``PullResult``. That is how an agent in several
  groups serves the longest waiter across them without a global lock: the
  reservations are the only coordination, and a queue never reserves one
  visitor twice.

Unsolicited candidates that arrive during a round join the round's pool. A
conversation that is no longer waiting when ``Assign`` reaches it (the visitor
left, another agent invited it) answers ``Release``, which frees the slot.
Invites and accepted transfers may go beyond saturation; nothing else does.

A transfer offer that would take the agent beyond saturation waits in
``pending_transfers`` for their answer, and the agent owns how long: going
offline refuses every pending offer (``offline``), and each offer has a timer
(``transfer_offer:<conversation>``, ``transfer_offer_timeout_s``) that refuses
it (``timeout``) if it is still unanswered. Either way the conversation is free
to offer itself elsewhere at once. A conversation that moves on while its offer
waits (closed, requeued, moved to a group) withdraws it (``OfferWithdrawn``).
Every way an offer ends unanswered tells the agent (``TransferWithdrawn``), so
their workspace stops showing it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.effects import CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import PresenceChanged, TransferRequested, TransferWithdrawn
from switchboard.actors.messages import (
    AgentStatus, AnswerTransfer, Assign, Candidate, Candidates, CreateAgent, InviteGranted,
    JoinGroup, LeaveGroup, MemberLeft, Message, OfferWithdrawn, Pull, PullResult, Release, Requeue, SetPresence,
    SetSaturation, SignOut, TimerFired, TransferAccepted, TransferOffer, TransferRefused, Undeliverable, problem,
)
from switchboard.settings import DispatchSettings

__all__ = ["Presence", "Agent", "HANDLERS"]

GRACE_TIMER = "offline_grace"
OFFER_TIMER = "transfer_offer:"  # + conversation id


class Presence(enum.Enum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


Handler = Callable[["Agent", Any, float], list[Effect]]  # each takes the message type of its key


def _handlers() -> dict[type, Handler]:
    """Message type -> handler, whatever the presence; any other message is refused (``unknown_message``).

    A function only so that the table can stand here, above the handlers it points at;
    ``HANDLERS`` is built from it once, at the end of the module.
    """
    a = Agent
    return {
        CreateAgent: a._on_create, SetPresence: a._on_presence, SetSaturation: a._on_saturation,
        JoinGroup: a._on_join, LeaveGroup: a._on_leave, AnswerTransfer: a._on_answer_transfer, SignOut: a._on_sign_out,
        Candidates: a._on_candidates, InviteGranted: a._on_invite_granted, Release: a._on_release,
        TransferOffer: a._on_transfer_offer, OfferWithdrawn: a._on_offer_withdrawn, TimerFired: a._on_timer,
        Undeliverable: a._on_undeliverable,
    }


@dataclass(slots=True)
class _Round:
    awaiting: set[str]
    pool: list[Candidate] = field(default_factory=list)
    rerun: bool = False


@dataclass(slots=True)
class _PendingTransfer:
    visitor: str
    group: str | None
    from_agent: str
    due: float  # refused as unanswered from then on


class Agent:
    """One agent; ``handle(message, now)`` returns the effects to carry out."""

    def __init__(self, agent_id: str, msg: CreateAgent, now: float, settings: DispatchSettings) -> None:
        self.id = agent_id
        self.name = msg.name or agent_id
        self.saturation = msg.saturation
        self.groups: list[str] = list(dict.fromkeys(msg.groups))
        self.presence = Presence.OFFLINE
        self.active: dict[str, str | None] = dict(msg.active)  # conversation -> group
        self.last_assigned_at: float | None = None
        self.first_online_at: float | None = None
        self.online_since: float | None = None
        self.online_before_s = 0.0
        self.pending_transfers: dict[str, _PendingTransfer] = {}
        self._again: dict[str, int] = {}  # held again before the release of the earlier hold arrived
        self._round: _Round | None = None
        self._settings = settings

    @staticmethod
    def validate_creation(msg: CreateAgent) -> Rejected | None:
        """The refusal of a creation message whose fields are wrong (its own ``problem()``), or None."""
        wrong = msg.problem()
        return None if wrong is None else Rejected(*wrong)

    def created(self, now: float) -> list[Effect]:
        """Effects of creation: tell each group about the new member.

        A restored agent (``active`` after a restart) is offline like any other, so
        its conversations wait the offline grace period for it to reconnect.
        """
        grace: list[Effect] = [SetTimer(GRACE_TIMER, now + self._settings.offline_grace_s)] if self.active else []
        return grace + self._broadcast()

    # --- the message table ----------------------------------------------------------

    def handle(self, msg: Message, now: float) -> list[Effect]:
        handler = HANDLERS.get(type(msg))
        if handler is None:
            return [Rejected(errors.UNKNOWN_MESSAGE, f"agent cannot handle {type(msg).__name__}")]
        if (wrong := problem(msg)) is not None:
            return [Rejected(*wrong)]
        return handler(self, msg, now)

    # --- derived values --------------------------------------------------------------

    @property
    def load(self) -> int:
        return len(self.active)

    @property
    def free(self) -> int:
        if self.presence is not Presence.ONLINE:
            return 0
        return max(0, self.saturation - self.load)

    def online_time(self, now: float) -> float:
        running = now - self.online_since if self.online_since is not None else 0.0
        return self.online_before_s + running

    def status(self) -> AgentStatus:
        idle = self.last_assigned_at if self.last_assigned_at is not None else self.first_online_at
        return AgentStatus(self.id, self.presence.value, self.load, self.saturation, idle)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "presence": self.presence.value, "saturation": self.saturation,
            "groups": list(self.groups), "active": list(self.active), "load": self.load,
            "last_assigned_at": self.last_assigned_at,
            "online_time_s": self.online_time(now) if now is not None else self.online_before_s,
            "pending_transfers": list(self.pending_transfers),
            "transfer_offers": [{"conversation": c, "from_agent": p.from_agent, "visitor": p.visitor, "group": p.group,
                                 "due": p.due} for c, p in self.pending_transfers.items()],
        }

    # --- commands ----------------------------------------------------------------------

    def _on_create(self, msg: CreateAgent, now: float) -> list[Effect]:
        return [Rejected(errors.ALREADY_EXISTS, f"agent {self.id} already exists")]

    def _on_presence(self, msg: SetPresence, now: float) -> list[Effect]:
        return self._become(Presence(msg.presence), now)

    def _on_sign_out(self, msg: SignOut, now: float) -> list[Effect]:
        """Offline with no grace period: going offline, then at once what the end of the grace period does."""
        effects = self._become(Presence.OFFLINE, now, grace=False)
        if self.active:  # already offline, a grace timer may run
            effects += [CancelTimer(GRACE_TIMER), *self._requeue_all()]
        return effects

    def _become(self, new: Presence, now: float, grace: bool = True) -> list[Effect]:
        old = self.presence
        self.presence = new
        if old is new:
            return []
        effects: list[Effect] = [Record(PresenceChanged(self.id, old.value, new.value, now))]
        if new is Presence.ONLINE:
            self.online_since = now
            if self.first_online_at is None:
                self.first_online_at = now
        elif old is Presence.ONLINE and self.online_since is not None:
            self.online_before_s += now - self.online_since
            self.online_since = None
        if new is Presence.OFFLINE:
            if self.active and grace:
                effects.append(SetTimer(GRACE_TIMER, now + self._settings.offline_grace_s))
            effects += self._refuse_pending_transfers("offline")
        elif old is Presence.OFFLINE:
            effects.append(CancelTimer(GRACE_TIMER))
        return effects + self._broadcast() + self._start_round()

    def _on_saturation(self, msg: SetSaturation, now: float) -> list[Effect]:
        raised = msg.saturation > self.saturation
        self.saturation = msg.saturation
        return self._broadcast() + (self._start_round() if raised else [])

    def _on_join(self, msg: JoinGroup, now: float) -> list[Effect]:
        if msg.group in self.groups:
            return []
        self.groups.append(msg.group)
        return [SendTo(Address.queue(msg.group), self.status())] + self._start_round()

    def _on_leave(self, msg: LeaveGroup, now: float) -> list[Effect]:
        if msg.group not in self.groups:
            return [Rejected(errors.NOT_IN_GROUP, f"agent {self.id} is not in group {msg.group!r}")]
        self.groups.remove(msg.group)
        if self._round is not None:
            self._round.awaiting.discard(msg.group)
        return [SendTo(Address.queue(msg.group), MemberLeft(self.id))] + self._finish_round_if_done(now)

    def _on_answer_transfer(self, msg: AnswerTransfer, now: float) -> list[Effect]:
        pending = self.pending_transfers.pop(msg.conversation, None)
        if pending is None:
            return [Rejected(errors.NO_TRANSFER_PENDING, f"no transfer of {msg.conversation!r} waits for {self.id}")]
        if not msg.accept:
            return [SendTo(Address.conversation(msg.conversation), TransferRefused(self.id, "declined"))]
        return self._take_transfer(msg.conversation, pending.group, now)

    # --- dispatch protocol ------------------------------------------------------------------

    def _on_candidates(self, msg: Candidates, now: float) -> list[Effect]:
        rnd = self._round
        if rnd is None:
            return self._settle(list(msg.candidates), {msg.group}, now)
        rnd.pool.extend(msg.candidates)
        if msg.solicited:
            rnd.awaiting.discard(msg.group)
        return self._finish_round_if_done(now)

    def _on_invite_granted(self, msg: InviteGranted, now: float) -> list[Effect]:
        self._hold(msg.conversation, msg.group)
        self.last_assigned_at = now
        return [SendTo(Address.conversation(msg.conversation), Assign(self.id, "invite", msg.group))] + self._broadcast()

    def _on_release(self, msg: Release, now: float) -> list[Effect]:
        again = self._again.pop(msg.conversation, 0)
        if again:  # releases the earlier of two holds (e.g. transferred to a group and offered back to us)
            if again > 1:
                self._again[msg.conversation] = again - 1
            return []
        if self.active.pop(msg.conversation, _MISSING) is _MISSING:
            return []
        effects: list[Effect] = []
        if not self.active:
            effects.append(CancelTimer(GRACE_TIMER))
        return effects + self._broadcast() + self._start_round()

    def _on_transfer_offer(self, msg: TransferOffer, now: float) -> list[Effect]:
        conv = Address.conversation(msg.conversation)
        if self.presence is Presence.OFFLINE:
            return [SendTo(conv, TransferRefused(self.id, errors.AGENT_OFFLINE))]
        if self.free > 0:
            return self._take_transfer(msg.conversation, msg.group, now)
        due = now + self._settings.transfer_offer_timeout_s
        self.pending_transfers[msg.conversation] = _PendingTransfer(msg.visitor, msg.group, msg.from_agent, due)
        return [Deliver(UserRef.agent(self.id), TransferRequested(msg.conversation, msg.from_agent)),
                SetTimer(OFFER_TIMER + msg.conversation, due)]

    def _refuse_pending_transfers(self, code: str) -> list[Effect]:
        """Refuse every offer still waiting for this agent's answer (nobody is there to give it)."""
        effects: list[Effect] = []
        for conversation in self.pending_transfers:
            effects += [CancelTimer(OFFER_TIMER + conversation),
                        SendTo(Address.conversation(conversation), TransferRefused(self.id, code)),
                        Deliver(UserRef.agent(self.id), TransferWithdrawn(conversation, code))]
        self.pending_transfers.clear()
        return effects

    def _on_offer_withdrawn(self, msg: OfferWithdrawn, now: float) -> list[Effect]:
        if self.pending_transfers.pop(msg.conversation, None) is None:
            return []  # answered already (an accept crossing the withdrawal is given back)
        return [CancelTimer(OFFER_TIMER + msg.conversation),
                Deliver(UserRef.agent(self.id), TransferWithdrawn(msg.conversation, msg.reason))]

    def _on_timer(self, msg: TimerFired, now: float) -> list[Effect]:
        if msg.key.startswith(OFFER_TIMER):
            return self._offer_timed_out(msg.key[len(OFFER_TIMER):], now)
        if msg.key != GRACE_TIMER or self.presence is not Presence.OFFLINE:
            return []
        return self._requeue_all()

    def _requeue_all(self) -> list[Effect]:
        """Send every conversation back to the front of its queue (the grace ran out, or the agent signed out)."""
        effects: list[Effect] = [SendTo(Address.conversation(c), Requeue(self.id)) for c in self.active]
        self.active.clear()
        self._again.clear()
        return effects + self._broadcast()

    def _offer_timed_out(self, conversation: str, now: float) -> list[Effect]:
        # An answered offer leaves its timer running: it finds no offer (or a later one, not yet due) here.
        pending = self.pending_transfers.get(conversation)
        if pending is None or now < pending.due:
            return []
        del self.pending_transfers[conversation]
        return [SendTo(Address.conversation(conversation), TransferRefused(self.id, "timeout")),
                Deliver(UserRef.agent(self.id), TransferWithdrawn(conversation, "timeout"))]

    def _on_undeliverable(self, msg: Undeliverable, now: float) -> list[Effect]:
        group = msg.to.id
        if group not in self.groups:
            return []
        self.groups.remove(group)
        effects: list[Effect] = [Rejected(errors.UNKNOWN_GROUP, f"no skill group {group!r}; agent {self.id} is not in it")]
        if self._round is not None:
            self._round.awaiting.discard(group)
        return effects + self._finish_round_if_done(now)

    # --- rounds -----------------------------------------------------------------------------

    def _start_round(self) -> list[Effect]:
        if self.free <= 0 or not self.groups:
            return []
        if self._round is not None:
            self._round.rerun = True
            return []
        self._round = _Round(awaiting=set(self.groups))
        pull = Pull(self.status(), self.free)
        return [SendTo(Address.queue(g), pull) for g in self.groups]

    def _finish_round_if_done(self, now: float) -> list[Effect]:
        rnd = self._round
        if rnd is None or rnd.awaiting:
            return []
        self._round = None
        effects = self._settle(rnd.pool, set(self.groups) | {c.group for c in rnd.pool}, now)
        if rnd.rerun:
            effects += self._start_round()
        return effects

    def _settle(self, pool: list[Candidate], answer: set[str], now: float) -> list[Effect]:
        """Take the best of `pool` that fits; answer every group in `answer`, tell the others our new load."""
        taken, returned = _merge_by_wait(pool, self.free)
        effects: list[Effect] = []
        for cand in taken:
            self._hold(cand.conversation, cand.group)
            self.last_assigned_at = now
            effects.append(SendTo(Address.conversation(cand.conversation), Assign(self.id, "auto", cand.group)))
        status = self.status()
        for group in sorted(answer):
            result = PullResult(
                status,
                tuple(c.conversation for c in taken if c.group == group),
                tuple(c.conversation for c in returned if c.group == group),
            )
            effects.append(SendTo(Address.queue(group), result))
        if taken:
            effects += [SendTo(Address.queue(g), status) for g in self.groups if g not in answer]
        return effects

    def _hold(self, conversation: str, group: str | None) -> None:
        """Count a conversation; every hold is released exactly once (by Release)."""
        if conversation in self.active:
            self._again[conversation] = self._again.get(conversation, 0) + 1
        self.active[conversation] = group

    def _take_transfer(self, conversation: str, group: str | None, now: float) -> list[Effect]:
        self._hold(conversation, group)
        self.last_assigned_at = now
        return [SendTo(Address.conversation(conversation), TransferAccepted(self.id))] + self._broadcast()

    def _broadcast(self) -> list[Effect]:
        status = self.status()
        return [SendTo(Address.queue(g), status) for g in self.groups]


def _merge_by_wait(pool: list[Candidate], n: int) -> tuple[list[Candidate], list[Candidate]]:
    """Take `n` candidates: each group's in its own serving order, across groups the longest wait first."""
    lanes: dict[str, list[Candidate]] = {}
    for cand in sorted(pool, key=Candidate.serving_key, reverse=True):
        lanes.setdefault(cand.group, []).append(cand)  # reversed, so each lane pops its best from the end
    taken: list[Candidate] = []
    while len(taken) < n and lanes:
        group = min(lanes, key=lambda g: lanes[g][-1].waiting_key())
        taken.append(lanes[group].pop())
        if not lanes[group]:
            del lanes[group]
    returned = [c for lane in lanes.values() for c in lane]
    return taken, returned


_MISSING = object()

HANDLERS: dict[type, Handler] = _handlers()
