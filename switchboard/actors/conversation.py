"""The Conversation entity: one visitor's conversation from the bot phase to its end.

Theory of operation
-------------------
Phases: BOT -> QUEUED -> ASSIGNED -> CLOSED, with ABANDONED for a visitor who
leaves the queue. The conversation is the authority on its own phase; the
queue is the authority on order, the agent on its load.

* ``RequestHuman`` sends ``Enqueue`` to the group's queue and moves to QUEUED
  at once. The queue may answer ``EnqueueRefused`` (full: the visitor is told
  ``queue_full`` and stays with the bot; another reason: the request is
  refused) or the host may answer ``Undeliverable`` (no such group): either
  way the phase goes back to BOT. A group outside its service hours refuses
  with ``outside_hours``: the visitor is told ``outside_hours`` (with the next
  opening) and stays with the bot, as for a full queue. A group whose closing
  time turns waiting visitors away sends ``HoursClosed``: the same, with the
  reason ``closing``. Enqueues of a visitor the group already had (a requeue,
  a restore, a move undone) say ``returning``: a group that serves those
  waiting at closing time admits them after hours too.
* ``Assign`` from an agent moves QUEUED to ASSIGNED. If it arrives when the
  conversation no longer waits (the visitor left, a colleague invited it
  first), the conversation answers ``Release`` so the agent frees the slot.
  That single rule resolves every race between offers, invites and leaving.
* Timers: ``wait`` (a queued visitor is asked to keep waiting or leave, again
  every ``wait_timeout_s``), ``idle`` (after the agent's last message with no
  visitor reply, close), ``no_reply`` (an assigned conversation whose agent has
  not written goes back to the front of the queue, avoiding that agent), ``gone`` (a queued visitor
  with no socket anywhere leaves the queue after ``visitor_gone_grace_s``).
* The edges tell a conversation when its visitor's last socket closes (``VisitorGone``) and when a
  socket of theirs says hello again (``VisitorBack``): a queue must not hold places for visitors who
  went away (issue 17: 300 spam sockets stayed queued after they closed), yet a reload or a dropped
  network must not cost the place. So the conversation keeps the fact, and while it is queued with its
  visitor away the ``gone`` timer runs; back in time, the timer is cancelled and the place kept. A
  conversation restored after a restart starts away (every socket closed with the old process).
* ``Post`` numbers a chat message (``seq``, one counter per conversation) and
  hands it to the archive as a ``Posted`` record; the edges store it before
  anyone is told. Only the visitor, the assigned agent (notes too), the bot and
  the system may post; a client message id seen before is acked again, not
  posted twice.
* Every change of phase, agent, group or a timestamp also emits a
  ``ConversationState`` record, which is what restart recovery rebuilds from
  (``RestoreConversation``).
* A transfer to an agent waits for the target's ``TransferAccepted`` before it
  changes anything. The target ends an offer it cannot take with
  ``TransferRefused``: ``agent_offline`` at once refuses the command; a pending
  offer that the target declines, or that ends because the target went offline
  or did not answer in time, is reported to the transferring agent
  (``TransferDeclined`` with the reason), who may transfer again at once. A
  transfer to a group moves to QUEUED at once but keeps the
  old agent counted until the queue confirms (``Enqueued``), so an unknown
  group puts everything back as it was.
* ``MoveToGroup`` (an admin's) changes only the group of a conversation with
  the bot or an agent. A queued one leaves its queue (``Dequeue``) and asks the
  new one to confirm (``Enqueue`` with its priority, request time and tier);
  if the new queue refuses, it goes back to the old one, and if that refuses
  too, it ends like any refused request. An ``Assign`` names the queue it
  came from, so a visitor taken from the old queue as it left is released.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable

from switchboard.actors import errors
from switchboard.actors.address import Address, UserRef
from switchboard.actors.effects import AskBot, CancelTimer, Deliver, Effect, Record, Rejected, SendTo, SetTimer
from switchboard.actors.events import (
    Abandoned, Assigned, Closed, ConversationAssigned, ConversationRemoved, ConversationState, OutsideHours, Posted,
    QueueFull, Reassigned, Requeued, TransferDeclined, WaitTimeout,
)
from switchboard.actors.messages import (
    AgentWrote, Assign, Close, Dequeue, Enqueue, Enqueued, EnqueueRefused, HoursClosed, Invite, InviteTake,
    KeepWaiting, LeaveQueue, Message, MoveToGroup, OfferWithdrawn, OpenConversation, Post, Release, RequestHuman, Requeue,
    RestoreConversation, TimerFired, TransferAccepted, TransferOffer, TransferRefused,
    TransferToAgent, TransferToGroup, Undeliverable, VisitorBack, VisitorGone, VisitorWrote, problem,
)
from switchboard.settings import DispatchSettings

__all__ = ["Phase", "Conversation", "TRANSITIONS"]


class Phase(enum.Enum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"
    ABANDONED = "abandoned"


B, Q, A, C, X = Phase.BOT, Phase.QUEUED, Phase.ASSIGNED, Phase.CLOSED, Phase.ABANDONED

Handler = Callable[["Conversation", Any, float], list[Effect]]  # each takes the message type of its key


def _transitions() -> dict[tuple[Phase, type], Handler]:
    """(phase, message type) -> handler. Anything missing is refused and changes nothing.

    A function only so that the table can stand here, above the handlers it points at;
    ``TRANSITIONS`` is built from it once, at the end of the module.
    """
    c = Conversation
    return {
        (B, RequestHuman): c._request, (B, VisitorWrote): c._ignore, (B, Close): c._close,
        (B, EnqueueRefused): c._ignore, (B, Undeliverable): c._undeliverable, (B, Assign): c._void,
        (Q, Assign): c._assign, (Q, LeaveQueue): c._leave, (Q, KeepWaiting): c._keep_waiting,
        (Q, Invite): c._invite, (Q, Close): c._close, (Q, VisitorWrote): c._ignore,
        (Q, EnqueueRefused): c._enqueue_refused, (Q, Enqueued): c._enqueued, (Q, HoursClosed): c._hours_closed,
        **{(phase, HoursClosed): c._ignore for phase in (B, A, C, X)},
        (Q, Undeliverable): c._undeliverable, (Q, TimerFired): c._timer, (Q, TransferRefused): c._transfer_refused,
        (A, AgentWrote): c._agent_wrote, (A, VisitorWrote): c._visitor_wrote, (A, Close): c._close,
        (A, TransferToAgent): c._transfer_to_agent, (A, TransferToGroup): c._transfer_to_group,
        (A, TransferAccepted): c._transfer_accepted, (A, TransferRefused): c._transfer_refused,
        (A, Requeue): c._requeue, (A, Assign): c._void, (A, TimerFired): c._timer,
        (A, Undeliverable): c._undeliverable, (A, Enqueued): c._ignore,
        (C, Assign): c._void, (X, Assign): c._void, (C, TimerFired): c._ignore, (X, TimerFired): c._ignore,
        (C, TransferAccepted): c._give_back, (X, TransferAccepted): c._give_back,
        (Q, TransferAccepted): c._give_back, (B, TransferAccepted): c._give_back,
        (B, Post): c._post, (Q, Post): c._post, (A, Post): c._post,
        (B, TimerFired): c._ignore,
        (B, MoveToGroup): c._regroup, (Q, MoveToGroup): c._move, (A, MoveToGroup): c._regroup,
        **{(phase, VisitorGone): c._gone for phase in (B, Q, A)},
        **{(phase, VisitorBack): c._back for phase in (B, Q, A)},
        **{(phase, kind): c._ignore for phase in (C, X) for kind in (VisitorGone, VisitorBack)},
    }


# TransferRefused codes that end a pending offer (told to the transferring agent); others refuse the command.
_OFFER_ENDED = ("declined", "offline", "timeout")

_CLIENT_IDS_KEPT = 256  # recent client message ids remembered per conversation (dedupe)

# What a refusal says when a message is not legal in the current phase.
_REFUSAL: dict[type, str] = {Invite: errors.NOT_QUEUED, LeaveQueue: errors.NOT_QUEUED, KeepWaiting: errors.NOT_QUEUED,
                              RequestHuman: errors.ALREADY_REQUESTED, TransferToAgent: errors.NOT_ASSIGNED,
                              TransferToGroup: errors.NOT_ASSIGNED, AgentWrote: errors.NOT_ASSIGNED}


@dataclass(slots=True)
class Transfer:
    at: float
    from_agent: str | None
    to_agent: str | None
    to_group: str | None


class Conversation:
    """One conversation; ``handle(message, now)`` returns the effects to carry out."""

    def __init__(self, conversation_id: str, msg: OpenConversation | RestoreConversation, now: float,
                 settings: DispatchSettings) -> None:
        self.id = conversation_id
        self.visitor = msg.visitor
        self.channel = msg.channel
        self.phase = Phase.BOT
        self.group: str | None = None
        self.priority = 0
        self.agent: str | None = None
        self.participants: list[str] = []
        self.transfers: list[Transfer] = []
        self.created_at = now
        self.queued_at: float | None = None
        self.assigned_at: float | None = None
        self.first_agent_reply_at: float | None = None
        self.closed_at: float | None = None
        self.close_reason: str | None = None
        self.agent_wrote_since_assign = False
        self._pending_transfer: str | None = None
        self._previous: tuple[Phase, str | None, str | None] | None = None  # before a group transfer
        self._moving_from: str | None = None  # the queue a move left, until the new one confirms
        self._before_request: tuple[float | None, int] = (None, 0)  # restored if the queue refuses
        self._returning = False  # the last Enqueue was of a visitor the group already had (not a request)
        self._idle_due: float | None = None  # when the running idle timer fires
        self._settings = settings
        self.front = False  # queued at the front (requeued, transferred): kept across a restart
        self.last_seq = 0
        self.last_public_seq = 0  # the last seq a visitor can see (notes are not)
        self._client_ids: dict[tuple[str, str], int] = {}
        self.visitor_away = isinstance(msg, RestoreConversation)  # no socket of the visitor's anywhere
        if isinstance(msg, RestoreConversation):
            self._restore(msg)

    def _restore(self, msg: RestoreConversation) -> None:
        self.phase = Phase(msg.phase)
        self.group, self.priority, self.front, self.agent = msg.group, msg.priority, msg.front, msg.agent
        self.participants = list(msg.participants)
        self.created_at, self.queued_at, self.assigned_at = msg.created_at, msg.queued_at, msg.assigned_at
        self.first_agent_reply_at, self.last_seq = msg.first_agent_reply_at, msg.last_seq
        # `prev` of the next visible message: a note at the very end must not look like a gap to the visitor
        self.last_public_seq = msg.last_seq if msg.last_public_seq is None else min(msg.last_public_seq, msg.last_seq)
        newest = sorted(msg.client_ids, key=lambda item: item[1])[-_CLIENT_IDS_KEPT:]  # as before the restart
        self._client_ids = {_split_client_key(k): seq for k, seq in newest}

    @staticmethod
    def validate_creation(msg: OpenConversation | RestoreConversation) -> Rejected | None:
        """The refusal of a creation message whose fields are wrong (its own ``problem()``), or None."""
        wrong = msg.problem()
        return None if wrong is None else Rejected(*wrong)

    def created(self, now: float) -> list[Effect]:
        """A new conversation is recorded; a restored queued one re-enters its queue in its old place."""
        if self.phase is Q:
            assert self.group is not None and self.queued_at is not None
            self._returning = True
            enqueue = Enqueue(self.id, self.visitor, self.priority, self.queued_at, front=self.front, returning=True)
            return [SendTo(Address.queue(self.group), enqueue), self._wait_timer(now), *self._gone_timer(now)]
        if self.phase is A and self._settings.no_reply_reassign_s and self.first_agent_reply_at is None:
            return [SetTimer("no_reply", now + self._settings.no_reply_reassign_s)]
        return [] if self.last_seq or self.phase is not B else [Record(ConversationState(self.state()))]

    def handle(self, msg: Message, now: float) -> list[Effect]:
        handler = TRANSITIONS.get((self.phase, type(msg)))
        if handler is None:
            return [self._refusal(msg)]
        if (wrong := problem(msg)) is not None:
            return [Rejected(*wrong)]
        before = self._state_key()
        effects = handler(self, msg, now)
        if self._state_key() != before:  # first: the store and Redis know the state before anyone is told
            effects.insert(0, Record(ConversationState(self.state())))
        return effects

    def _state_key(self) -> tuple[Phase, str | None, str | None, bool, int, float | None]:
        return (self.phase, self.agent, self.group, self.front, len(self.transfers), self.first_agent_reply_at)

    def state(self) -> dict[str, Any]:
        """The record the store keeps (the keys of :class:`switchboard.store.writer.StoreWriter`)."""
        return {
            "conversation": self.id, "visitor": self.visitor, "channel": self.channel, "phase": self.phase.value,
            "group": self.group, "priority": self.priority, "tier": 0 if self.front else 1, "agent": self.agent,
            "participants": list(self.participants),
            "transfers": [{"at": t.at, "from_agent": t.from_agent, "to_agent": t.to_agent, "to_group": t.to_group}
                          for t in self.transfers],
            "created_at": self.created_at, "queued_at": self.queued_at, "assigned_at": self.assigned_at,
            "first_agent_reply_at": self.first_agent_reply_at, "closed_at": self.closed_at,
            "close_reason": self.close_reason,
        }

    def _refusal(self, msg: Message) -> Rejected:
        if isinstance(msg, (OpenConversation, RestoreConversation)):
            return Rejected(errors.ALREADY_EXISTS, f"conversation {self.id} already exists")
        if self.phase in (C, X):
            return Rejected(errors.CONVERSATION_ENDED, f"conversation {self.id} is {self.phase.value}")
        code = _REFUSAL.get(type(msg), errors.ILLEGAL_IN_STATE)
        return Rejected(code, f"{type(msg).__name__} is not allowed while conversation {self.id} is {self.phase.value}")

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "visitor": self.visitor, "phase": self.phase.value, "group": self.group,
            "agent": self.agent, "participants": list(self.participants), "priority": self.priority,
            "transfers": [(t.at, t.from_agent, t.to_agent, t.to_group) for t in self.transfers],
            "created_at": self.created_at, "queued_at": self.queued_at, "assigned_at": self.assigned_at,
            "first_agent_reply_at": self.first_agent_reply_at, "closed_at": self.closed_at,
            "close_reason": self.close_reason, "last_seq": self.last_seq, "visitor_away": self.visitor_away,
        }

    @property
    def _me(self) -> UserRef:
        return UserRef.visitor(self.visitor)

    # --- bot and queue ---------------------------------------------------------------------

    def _ignore(self, msg: Message, now: float) -> list[Effect]:
        return []

    def _request(self, msg: RequestHuman, now: float) -> list[Effect]:
        self._before_request = (self.queued_at, self.priority)
        self.phase, self.group, self.priority, self.front = Q, msg.group, msg.priority, False
        self.queued_at, self._returning = now, False
        enqueue = Enqueue(self.id, self.visitor, msg.priority, now, designated=msg.agent, last_agent=msg.last_agent,
                          familiar=msg.familiar_agent)
        return [SendTo(Address.queue(msg.group), enqueue), self._wait_timer(now), *self._gone_timer(now)]

    def _enqueue_refused(self, msg: EnqueueRefused, now: float) -> list[Effect]:
        if self._moving_from is not None and msg.group == self.group:
            return self._move_refused(msg.code, msg.detail)
        if self._previous is not None:  # a group transfer the new queue refused
            return self._restore_after_group_transfer(msg.code, msg.detail)
        self._back_to_bot()
        effects: list[Effect] = [CancelTimer("wait")]
        if msg.code == errors.QUEUE_FULL:
            return effects + [Deliver(self._me, QueueFull(self.id, msg.group))]
        if msg.code == errors.OUTSIDE_HOURS:
            reason = "closing" if self._returning else "request"
            return effects + [Deliver(self._me, OutsideHours(self.id, msg.group, msg.next_opening, reason))]
        return effects + [Rejected(msg.code, msg.detail)]

    def _hours_closed(self, msg: HoursClosed, now: float) -> list[Effect]:
        """The group closed while the visitor waited in it and turned them away: back to the bot, told when
        it opens again. From a queue the conversation is leaving (a move), it is only late news."""
        if msg.group != self.group or self._moving_from is not None or self._previous is not None:
            return []
        self._back_to_bot()
        return [CancelTimer("wait"), Deliver(self._me, OutsideHours(self.id, msg.group, msg.next_opening, "closing"))]

    def _back_to_bot(self) -> None:
        self.phase, self.group = B, None
        self.queued_at, self.priority = self._before_request

    def _enqueued(self, msg: Enqueued, now: float) -> list[Effect]:
        if msg.group == self.group:
            self._moving_from = None
        return self._finish_group_transfer()

    def _undeliverable(self, msg: Undeliverable, now: float) -> list[Effect]:
        if isinstance(msg.message, Enqueue):
            detail = f"no skill group {msg.to.id!r}"
            if self._moving_from is not None and msg.to.id == self.group:
                return self._move_refused(errors.UNKNOWN_GROUP, detail)
            if self._previous is not None:
                return self._restore_after_group_transfer(errors.UNKNOWN_GROUP, detail)
            if self.phase is Q:
                self._back_to_bot()
                return [CancelTimer("wait"), Rejected(errors.UNKNOWN_GROUP, detail)]
        if isinstance(msg.message, TransferOffer) and self._pending_transfer == msg.to.id:
            self._pending_transfer = None
            return [Rejected(errors.UNKNOWN_AGENT, f"no agent {msg.to.id!r}")]
        return []

    def _leave(self, msg: LeaveQueue, now: float) -> list[Effect]:
        return self._abandon(now)

    def _abandon(self, now: float, reason: str = "left_queue") -> list[Effect]:
        self.phase, self.closed_at, self.close_reason = X, now, reason
        self._moving_from = None
        effects: list[Effect] = [CancelTimer("wait"), Deliver(self._me, Abandoned(self.id))]
        if self.group is not None:
            effects.insert(0, SendTo(Address.queue(self.group), Dequeue(self.id)))
        if self._previous is not None:  # left during a group transfer: the old agent stops counting it
            effects += self._withdraw_offer("closed") + self._finish_group_transfer()
        return effects

    def _gone(self, msg: VisitorGone, now: float) -> list[Effect]:
        self.visitor_away = True
        return self._gone_timer(now)

    def _back(self, msg: VisitorBack, now: float) -> list[Effect]:
        was_away, self.visitor_away = self.visitor_away, False
        return [CancelTimer("gone")] if was_away else []

    def _gone_timer(self, now: float) -> list[Effect]:
        """The ``gone`` timer, when the visitor is away and the conversation waits in a queue."""
        if self.visitor_away and self.phase is Q:
            return [SetTimer("gone", now + self._settings.visitor_gone_grace_s)]
        return []

    def _keep_waiting(self, msg: KeepWaiting, now: float) -> list[Effect]:
        return [self._wait_timer(now)]

    def _invite(self, msg: Invite, now: float) -> list[Effect]:
        assert self.group is not None
        return [SendTo(Address.queue(self.group), InviteTake(self.id, msg.agent))]

    def _assign(self, msg: Assign, now: float) -> list[Effect]:
        if msg.group is not None and msg.group != self.group:  # taken from the queue it was moving out of
            return self._void(msg, now)
        self._moving_from = None
        previous = self._previous
        self.phase, self.agent = A, msg.agent
        if self.assigned_at is None:
            self.assigned_at = now
        if msg.agent not in self.participants:
            self.participants.append(msg.agent)
        self.agent_wrote_since_assign = False
        effects: list[Effect] = [CancelTimer("wait")]
        if previous is not None:  # assigned from the new group before its queue confirmed
            effects += self._finish_group_transfer(previous)
        effects += [
            Deliver(self._me, Assigned(self.id, msg.agent)),
            Deliver(UserRef.agent(msg.agent), ConversationAssigned(self.id, self.visitor, self.group, msg.via)),
        ]
        if self._settings.no_reply_reassign_s:
            effects.append(SetTimer("no_reply", now + self._settings.no_reply_reassign_s))
        return effects

    def _void(self, msg: Assign, now: float) -> list[Effect]:
        # Answered even to our own agent: every hold an agent takes is released exactly once.
        return [SendTo(Address.agent(msg.agent), Release(self.id, "void"))]

    def _give_back(self, msg: TransferAccepted, now: float) -> list[Effect]:
        if msg.agent == self._pending_transfer:  # their answer ends the offer (it crossed a group transfer)
            self._pending_transfer = None
        return [SendTo(Address.agent(msg.agent), Release(self.id, "void"))]

    # --- assigned ---------------------------------------------------------------------------

    def _agent_wrote(self, msg: AgentWrote, now: float) -> list[Effect]:
        if msg.agent is not None and msg.agent != self.agent:
            return [Rejected(errors.NOT_YOUR_CONVERSATION, f"conversation {self.id} is served by another agent")]
        if self.first_agent_reply_at is None:
            self.first_agent_reply_at = now
        self.agent_wrote_since_assign = True
        self._idle_due = now + self._settings.session_idle_timeout_s
        return [CancelTimer("no_reply"), SetTimer("idle", self._idle_due)]

    def _visitor_wrote(self, msg: VisitorWrote, now: float) -> list[Effect]:
        return [self._cancel_idle()]

    def _cancel_idle(self) -> CancelTimer:
        self._idle_due = None
        return CancelTimer("idle")

    def _close(self, msg: Close, now: float) -> list[Effect]:
        if msg.by == "agent":
            if self.phase is not A:
                return [Rejected(errors.NOT_ASSIGNED, f"conversation {self.id} has no agent to close it")]
            if msg.agent is not None and msg.agent != self.agent:
                return [Rejected(errors.NOT_YOUR_CONVERSATION, f"conversation {self.id} is served by another agent")]
        if self.phase is Q:
            return self._abandon(now)
        return self._end(now, msg.by)

    def _end(self, now: float, reason: str) -> list[Effect]:
        agent = self.agent
        self.phase, self.closed_at, self.close_reason = C, now, reason
        effects: list[Effect] = [self._cancel_idle(), CancelTimer("no_reply"), Deliver(self._me, Closed(self.id, reason)),
                                 *self._withdraw_offer("closed")]
        if agent is not None:
            effects += [SendTo(Address.agent(agent), Release(self.id, "closed")),
                        Deliver(UserRef.agent(agent), Closed(self.id, reason))]
        return effects

    def _transfer_to_agent(self, msg: TransferToAgent, now: float) -> list[Effect]:
        if msg.to_agent == self.agent:
            return [Rejected(errors.SAME_AGENT, f"conversation {self.id} is already with {msg.to_agent}")]
        if self._pending_transfer is not None:
            return [Rejected(errors.TRANSFER_PENDING, f"a transfer to {self._pending_transfer} awaits an answer")]
        self._pending_transfer = msg.to_agent
        assert self.agent is not None
        return [SendTo(Address.agent(msg.to_agent), TransferOffer(self.id, self.visitor, self.group, self.agent))]

    def _transfer_accepted(self, msg: TransferAccepted, now: float) -> list[Effect]:
        if msg.agent != self._pending_transfer:
            return self._give_back(msg, now)
        old, self.agent, self._pending_transfer = self.agent, msg.agent, None
        self.transfers.append(Transfer(now, old, msg.agent, None))
        if msg.agent not in self.participants:
            self.participants.append(msg.agent)
        self.agent_wrote_since_assign = False
        effects: list[Effect] = []
        if old is not None:
            effects += [SendTo(Address.agent(old), Release(self.id, "transferred")),
                        Deliver(UserRef.agent(old), ConversationRemoved(self.id, "transferred"))]
        effects += [Deliver(self._me, Assigned(self.id, msg.agent)),
                    Deliver(UserRef.agent(msg.agent), ConversationAssigned(self.id, self.visitor, self.group, "transfer"))]
        if self._settings.no_reply_reassign_s:
            effects.append(SetTimer("no_reply", now + self._settings.no_reply_reassign_s))
        return effects

    def _withdraw_offer(self, reason: str) -> list[Effect]:
        """End a transfer offer still waiting for its target's answer, and tell the target, whose
        workspace would otherwise show it until it timed out (an accept meanwhile is given back)."""
        target, self._pending_transfer = self._pending_transfer, None
        return [] if target is None else [SendTo(Address.agent(target), OfferWithdrawn(self.id, reason))]

    def _transfer_refused(self, msg: TransferRefused, now: float) -> list[Effect]:
        if msg.agent != self._pending_transfer:
            return []
        self._pending_transfer = None
        offering = self.agent if self._previous is None else self._previous[1]  # during a group transfer: the old one
        if msg.code in _OFFER_ENDED and offering is not None:
            return [Deliver(UserRef.agent(offering), TransferDeclined(self.id, msg.agent, msg.code))]
        return [Rejected(msg.code, f"agent {msg.agent} cannot take the transfer ({msg.code})")]

    def _transfer_to_group(self, msg: TransferToGroup, now: float) -> list[Effect]:
        self._previous = (self.phase, self.agent, self.group)
        self.transfers.append(Transfer(now, self.agent, None, msg.group))
        self.phase, self.group, self.agent, self.front = Q, msg.group, None, True
        enqueue = Enqueue(self.id, self.visitor, self.priority, self.queued_at if self.queued_at is not None else now, front=True, confirm=True)
        return [SendTo(Address.queue(msg.group), enqueue)]  # timers stay until the queue confirms

    def _finish_group_transfer(self, previous: tuple[Phase, str | None, str | None] | None = None) -> list[Effect]:
        previous = previous or self._previous
        self._previous = None
        if previous is None or previous[1] is None:
            return []
        old = previous[1]
        effects: list[Effect] = [self._cancel_idle(), CancelTimer("no_reply"),
                                 SendTo(Address.agent(old), Release(self.id, "transferred")),
                                 Deliver(UserRef.agent(old), ConversationRemoved(self.id, "transferred")),
                                 *self._withdraw_offer("transferred")]  # an offer by the old agent dies with their hold
        if self.phase is Q:
            effects += [self._wait_timer(self.transfers[-1].at), *self._gone_timer(self.transfers[-1].at)]
        return effects

    def _restore_after_group_transfer(self, code: str, detail: str) -> list[Effect]:
        assert self._previous is not None
        self.phase, self.agent, self.group = self._previous
        self._previous = None
        self.transfers.pop()
        effects: list[Effect] = [Rejected(code, detail)]
        if self._idle_due is not None:  # it may have fired, ignored, while the transfer waited; overdue fires at once
            effects.append(SetTimer("idle", self._idle_due))
        return effects

    def _regroup(self, msg: MoveToGroup, now: float) -> list[Effect]:
        """With the bot or an agent: only the group changes (a later requeue goes there)."""
        if msg.group == self.group:
            return [Rejected(errors.SAME_GROUP, f"conversation {self.id} is already in group {msg.group}")]
        self.group = msg.group
        return []

    def _move(self, msg: MoveToGroup, now: float) -> list[Effect]:
        """Queued: leave this queue and wait in the new one, keeping priority, request time and tier."""
        if msg.group == self.group:
            return [Rejected(errors.SAME_GROUP, f"conversation {self.id} already waits in group {msg.group}")]
        if self._previous is not None or self._moving_from is not None:
            return [Rejected(errors.TRANSFER_PENDING, f"conversation {self.id} waits for group {self.group} to confirm")]
        old, self.group, self._moving_from = self.group, msg.group, self.group
        assert old is not None
        if self.queued_at is None:
            self.queued_at = now
        enqueue = Enqueue(self.id, self.visitor, self.priority, self.queued_at, front=self.front, confirm=True)
        return [SendTo(Address.queue(old), Dequeue(self.id)), SendTo(Address.queue(msg.group), enqueue)]

    def _move_refused(self, code: str, detail: str) -> list[Effect]:
        """The new queue refused a move: back to the old one, at the place it had (if that refuses too, the
        conversation ends like any refused request)."""
        old, self._moving_from = self._moving_from, None
        assert old is not None and self.queued_at is not None
        self.group, self._returning = old, True
        enqueue = Enqueue(self.id, self.visitor, self.priority, self.queued_at, front=self.front, returning=True)
        return [SendTo(Address.queue(old), enqueue), Rejected(code, detail)]

    def _requeue(self, msg: Requeue, now: float) -> list[Effect]:
        if msg.agent != self.agent or self.group is None:
            return []
        return self._back_to_front(now, Requeued(self.id, self.group), avoid=None, reason="requeued")

    def _back_to_front(self, now: float, notice: Requeued | Reassigned, avoid: str | None, reason: str) -> list[Effect]:
        agent, group = self.agent, self.group
        assert group is not None
        withdrawn = self._withdraw_offer("requeued")
        self.phase, self.agent, self.front, self._returning = Q, None, True, True
        enqueue = Enqueue(self.id, self.visitor, self.priority, self.queued_at if self.queued_at is not None else now,
                          front=True, avoid=avoid, returning=True)
        effects: list[Effect] = [self._cancel_idle(), CancelTimer("no_reply"), SendTo(Address.queue(group), enqueue),
                                 Deliver(self._me, notice), self._wait_timer(now), *self._gone_timer(now), *withdrawn]
        if agent is not None:
            effects.append(Deliver(UserRef.agent(agent), ConversationRemoved(self.id, reason)))
        return effects

    # --- chat messages ------------------------------------------------------------------------

    def _post(self, msg: Post, now: float) -> list[Effect]:
        refusal = self._post_refusal(msg)
        if refusal is not None:
            return [refusal]
        key = (f"{msg.role}:{msg.author}", msg.client_id) if msg.client_id else None
        if key is not None and key in self._client_ids:
            return [Record(self._posted(msg, self._client_ids[key], now, duplicate=True))]
        self.last_seq += 1
        prev = self.last_public_seq
        if msg.kind != "note":
            self.last_public_seq = self.last_seq
        if key is not None:
            self._client_ids[key] = self.last_seq
            if len(self._client_ids) > _CLIENT_IDS_KEPT:
                del self._client_ids[next(iter(self._client_ids))]
        effects: list[Effect] = [Record(self._posted(msg, self.last_seq, now, prev=prev))]
        if self.phase is B and msg.role == "visitor":
            effects.append(AskBot(self.id, self.visitor, self.last_seq, msg.text))
        if self.phase is A and msg.role == "agent" and msg.kind == "text":
            effects += self._agent_wrote(AgentWrote(msg.author), now)
        elif self.phase is A and msg.role == "visitor":
            effects += self._visitor_wrote(VisitorWrote(), now)
        return effects

    def _post_refusal(self, msg: Post) -> Rejected | None:
        """Who may post in this phase (the message's own fields were checked before: ``Post.problem``)."""
        if msg.role == "visitor" and msg.author != self.visitor:
            return Rejected(errors.NOT_YOUR_CONVERSATION, f"conversation {self.id} belongs to another visitor")
        if msg.role == "agent" and self.phase is not A:
            return Rejected(errors.NOT_ASSIGNED, f"conversation {self.id} has no agent yet")
        if msg.role == "agent" and msg.author != self.agent:
            return Rejected(errors.NOT_YOUR_CONVERSATION, f"conversation {self.id} is served by another agent")
        return None

    def _posted(self, msg: Post, seq: int, now: float, duplicate: bool = False, prev: int = 0) -> Posted:
        to: tuple[UserRef, ...] = () if msg.kind == "note" else (self._me,)
        if self.agent is not None:
            to += (UserRef.agent(self.agent),)
        extra = msg.extra if isinstance(msg.extra, dict) and msg.role == "bot" else None
        return Posted(self.id, seq, msg.role, msg.author, msg.kind, msg.text, msg.client_id, now, to, duplicate, prev,
                      extra)

    # --- timers ---------------------------------------------------------------------------------

    def _wait_timer(self, now: float) -> SetTimer:
        return SetTimer("wait", now + self._settings.wait_timeout_s)

    def _timer(self, msg: TimerFired, now: float) -> list[Effect]:
        if msg.key == "wait" and self.phase is Q:
            waited = now - (self.queued_at if self.queued_at is not None else now)
            return [Deliver(self._me, WaitTimeout(self.id, waited)), self._wait_timer(now)]
        if msg.key == "gone" and self.phase is Q and self.visitor_away:
            return self._abandon(now, "visitor_gone")
        if msg.key == "idle" and self.phase is A:
            return self._end(now, "idle_timeout")
        if msg.key == "no_reply" and self.phase is A and not self.agent_wrote_since_assign and self.group is not None:
            agent = self.agent
            effects = self._back_to_front(now, Reassigned(self.id, self.group), avoid=agent, reason="no_reply")
            assert agent is not None
            return [SendTo(Address.agent(agent), Release(self.id, "no_reply"))] + effects
        return []


def _split_client_key(key: str) -> tuple[str, str]:
    """Restore's flat ``"role:author|client_id"`` back into the dedupe key."""
    author, _, client_id = key.rpartition("|")
    return author, client_id


TRANSITIONS: dict[tuple[Phase, type], Handler] = _transitions()
