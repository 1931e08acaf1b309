"""Events: what the engine tells people (visitors and agents), outside the engine.

Each is a frozen dataclass with a `kind` class attribute; the scenario format's
`told` expectation and the websocket protocol use that kind string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

from switchboard.actors.address import UserRef

__all__ = [
    "QueuePosition", "Assigned", "WaitTimeout", "QueueFull", "OutsideHours", "Requeued", "Closed",
    "Reassigned", "Abandoned", "ConversationAssigned", "ConversationRemoved",
    "TransferRequested", "TransferWithdrawn", "TransferDeclined", "Refused", "Posted", "ConversationState",
    "PresenceChanged", "PersonEvent", "ArchiveRecord",
]


@dataclass(frozen=True, slots=True)
class QueuePosition:
    kind: ClassVar[str] = "queue_position"
    conversation: str
    group: str
    position: int
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class Assigned:
    """To the visitor: a person now serves this conversation."""

    kind: ClassVar[str] = "assigned"
    conversation: str
    agent: str


@dataclass(frozen=True, slots=True)
class WaitTimeout:
    """To the visitor: you have waited a while; keep waiting or leave?"""

    kind: ClassVar[str] = "wait_timeout"
    conversation: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class QueueFull:
    """To the visitor: the queue is full; you may leave a message."""

    kind: ClassVar[str] = "queue_full"
    conversation: str
    group: str


@dataclass(frozen=True, slots=True)
class OutsideHours:
    """To the visitor: the group is closed (outside its service hours); you are with the bot, and may leave a
    message. `next_opening` is when it opens again (UTC epoch seconds; None: not within a year).

    `reason` is ``request`` (you asked while it was closed) or ``closing`` (it closed while you waited, or
    your agent left after it closed, and its ``at_closing`` is ``offer_message``).
    """

    kind: ClassVar[str] = "outside_hours"
    conversation: str
    group: str
    next_opening: float | None
    reason: str = "request"


@dataclass(frozen=True, slots=True)
class Requeued:
    """To the visitor: your agent went offline; you are back at the front of the queue."""

    kind: ClassVar[str] = "requeued"
    conversation: str
    group: str


@dataclass(frozen=True, slots=True)
class Reassigned:
    """To the visitor: your agent did not answer, another one will."""

    kind: ClassVar[str] = "reassigned"
    conversation: str
    group: str


@dataclass(frozen=True, slots=True)
class Closed:
    """To both sides: the conversation ended; reason is agent, visitor, idle_timeout or system."""

    kind: ClassVar[str] = "closed"
    conversation: str
    reason: str


@dataclass(frozen=True, slots=True)
class Abandoned:
    """To the visitor: you left the queue."""

    kind: ClassVar[str] = "abandoned"
    conversation: str


@dataclass(frozen=True, slots=True)
class ConversationAssigned:
    """To an agent: this conversation is now yours (by auto-assignment, invite or transfer)."""

    kind: ClassVar[str] = "conversation_assigned"
    conversation: str
    visitor: str
    group: str | None
    via: str


@dataclass(frozen=True, slots=True)
class ConversationRemoved:
    """To an agent: this conversation left you (requeued, reassigned, transferred away)."""

    kind: ClassVar[str] = "conversation_removed"
    conversation: str
    reason: str


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """To the target agent: a colleague wants to hand you a conversation beyond your saturation."""

    kind: ClassVar[str] = "transfer_requested"
    conversation: str
    from_agent: str


@dataclass(frozen=True, slots=True)
class TransferWithdrawn:
    """To the target agent: an offer they had not answered is over; `answer_transfer` would find nothing.

    `reason` is ``timeout`` (they did not answer in time), ``offline`` (they went offline), ``closed``
    (the conversation ended), ``requeued`` (it went back to its queue) or ``transferred`` (it was moved
    to a group).
    """

    kind: ClassVar[str] = "transfer_withdrawn"
    conversation: str
    reason: str


@dataclass(frozen=True, slots=True)
class TransferDeclined:
    """To the transferring agent: the offer ended without the target taking it.

    `reason` is ``declined`` (the target said no), ``offline`` (the target went offline
    before answering) or ``timeout`` (no answer in time).
    """

    kind: ClassVar[str] = "transfer_declined"
    conversation: str
    to_agent: str
    reason: str = "declined"


@dataclass(frozen=True, slots=True)
class Refused:
    """To whoever sent a command: it was refused and nothing changed.

    `ref` is the correlation id the command was sent with; `code` is documented in
    :mod:`switchboard.actors.errors`.
    """

    kind: ClassVar[str] = "error"
    ref: str | None
    code: str
    detail: str
    entity: str


# --- records: for the archive (see effects.Record), not for one person ------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    """A chat message took sequence number `seq` in its conversation.

    The archive stores it, then tells `recipients` (and acks `client_id` to the
    author). `duplicate` marks a re-sent client message id: nothing new was
    created, the author is acked again with the first `seq`.
    """

    kind: ClassVar[str] = "message"
    conversation: str
    seq: int
    role: str  # visitor | agent | bot | system
    author: str
    message_kind: str  # text | system | note
    text: str
    client_id: str | None
    at: float
    recipients: tuple[UserRef, ...]
    duplicate: bool = False
    prev: int = 0  # the seq of the message before this one that the visitor can see (notes skipped)
    extra: dict[str, Any] | None = None  # the bot's decision, suggestions and sources


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A conversation's state after a change of phase, agent, group or timestamps (for the store)."""

    kind: ClassVar[str] = "conversation_state"
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """An agent's presence went from `old` to `new` at `at` (for the store's presence intervals and reports)."""

    kind: ClassVar[str] = "presence"
    agent: str
    old: str  # online | away | offline
    new: str
    at: float


PersonEvent = Union[QueuePosition, Assigned, WaitTimeout, QueueFull, OutsideHours, Requeued, Reassigned, Closed,
                    Abandoned, ConversationAssigned, ConversationRemoved, TransferRequested, TransferWithdrawn,
                    TransferDeclined]
"""What :class:`~switchboard.actors.effects.Deliver` hands to one person."""

ArchiveRecord = Union[Posted, ConversationState, PresenceChanged]
"""What :class:`~switchboard.actors.effects.Record` hands to the archive."""
