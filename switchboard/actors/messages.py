"""Messages: the facts entities receive, grouped by who receives them.

Public commands (sent by edges, the scenario runner or tests through the
engine) come first; the messages entities send one another follow. All are
frozen, slotted dataclasses, so they pickle for Ray and compare in tests.
Fields are *not* validated on construction: a value from the wire that is
wrong (a saturation of ``"5"`` or ``0``) reaches the entity, which refuses it
with a documented error code and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .address import Address

__all__ = [
    # commands to an agent
    "CreateAgent", "SetPresence", "SetSaturation", "JoinGroup", "LeaveGroup", "AnswerTransfer",
    # commands to a skill-group queue
    "CreateGroup", "Sweep",
    # commands to a conversation
    "OpenConversation", "RequestHuman", "LeaveQueue", "KeepWaiting", "Invite",
    "TransferToAgent", "TransferToGroup", "AgentWrote", "VisitorWrote", "Close", "Post",
    "RestoreConversation",
    # between entities
    "AgentStatus", "Candidate", "Pull", "Candidates", "PullResult", "Enqueue", "Enqueued",
    "EnqueueRefused", "Dequeue", "InviteTake", "InviteGranted", "MemberLeft", "Assign",
    "Release", "Requeue", "TransferOffer", "TransferAccepted", "TransferRefused",
    "TimerFired", "Undeliverable", "CREATION",
]

# --- commands to an agent -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateAgent:
    """Create an agent, offline. `active` restores conversations after a restart (id, group):

    the agent keeps them for the offline grace period, then they go back to their queues.
    """

    saturation: int
    groups: tuple[str, ...] = ()
    name: str = ""
    active: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class SetPresence:
    presence: str  # "online" | "away" | "offline"


@dataclass(frozen=True, slots=True)
class SetSaturation:
    saturation: int


@dataclass(frozen=True, slots=True)
class JoinGroup:
    group: str


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    group: str


@dataclass(frozen=True, slots=True)
class AnswerTransfer:
    """The target agent's answer to a transfer that would take them beyond saturation."""

    conversation: str
    accept: bool


# --- commands to a queue --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateGroup:
    policy: str = "balanced"  # balanced | last_agent_first | designated
    max_queue: int | None = None
    last_agent_wait_s: float | None = None  # None: the settings' default


@dataclass(frozen=True, slots=True)
class Sweep:
    """Safety net: try to place every waiting visitor (assignment is normally event-driven)."""


# --- commands to a conversation --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenConversation:
    visitor: str
    channel: str = "widget"


@dataclass(frozen=True, slots=True)
class RequestHuman:
    """The visitor asks for a person.

    `agent` names a designated agent (honoured by groups with the designated policy);
    `last_agent` is who served this visitor last (the edge knows it from the store),
    honoured by groups with the last_agent_first policy.
    """

    group: str
    priority: int = 0
    agent: str | None = None
    last_agent: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    pass


@dataclass(frozen=True, slots=True)
class KeepWaiting:
    pass


@dataclass(frozen=True, slots=True)
class Invite:
    """An agent takes this queued visitor, even beyond their saturation."""

    agent: str


@dataclass(frozen=True, slots=True)
class TransferToAgent:
    to_agent: str


@dataclass(frozen=True, slots=True)
class TransferToGroup:
    group: str


@dataclass(frozen=True, slots=True)
class AgentWrote:
    agent: str | None = None  # None: the assigned agent


@dataclass(frozen=True, slots=True)
class VisitorWrote:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    by: str  # "agent" | "visitor" | "system"
    agent: str | None = None  # when by == "agent": who closes (None: the assigned agent)


@dataclass(frozen=True, slots=True)
class Post:
    """A chat message into the conversation; the conversation numbers it (``Posted`` record).

    `role` is visitor, agent, bot or system; `author` the visitor's or agent's id.
    `kind` is text, or note (agents only: never shown to the visitor), or system.
    A `client_id` seen before is not posted twice: its first seq is acked again.
    """

    role: str
    author: str
    text: str
    kind: str = "text"
    client_id: str | None = None
    extra: dict[str, Any] | None = None  # the bot's decision, suggestions and sources; stored and shown as is


@dataclass(frozen=True, slots=True)
class RestoreConversation:
    """Recreate a conversation from the store after a restart (phase bot, queued or assigned).

    A queued one re-enters its queue with its original request time (and at the
    front if it was there), so every queue comes back in its order.
    """

    visitor: str
    channel: str
    phase: str
    group: str | None
    priority: int
    front: bool
    agent: str | None
    participants: tuple[str, ...]
    created_at: float
    queued_at: float | None
    assigned_at: float | None
    first_agent_reply_at: float | None
    last_seq: int
    client_ids: tuple[tuple[str, int], ...] = ()


# --- between entities ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent's state as its queues see it; sent whenever it changes."""

    agent: str
    presence: str
    active: int
    saturation: int
    idle_since: float | None  # last assignment, else first time online


@dataclass(frozen=True, slots=True)
class Candidate:
    """A queued visitor reserved for one agent while the agent decides."""

    conversation: str
    visitor: str
    group: str
    priority: int
    queued_at: float
    tier: int  # 0: sent to the front (requeue, transfer), 1: ordinary

    def serving_key(self) -> tuple[int, int, float, str]:
        """Order within one group: front tier, then higher priority, then earlier request."""
        return (self.tier, -self.priority, self.queued_at, self.conversation)

    def waiting_key(self) -> tuple[int, float, str]:
        """Order across groups (rule 4): front tier, then the longest wait."""
        return (self.tier, self.queued_at, self.conversation)


@dataclass(frozen=True, slots=True)
class Pull:
    """Agent -> queue: I have `free` slots; reserve your best visitors for me."""

    status: AgentStatus
    free: int


@dataclass(frozen=True, slots=True)
class Candidates:
    """Queue -> agent: visitors reserved for you (answer to a Pull, or an unsolicited offer)."""

    group: str
    candidates: tuple[Candidate, ...]
    solicited: bool


@dataclass(frozen=True, slots=True)
class PullResult:
    """Agent -> queue: which reserved visitors I took and which I give back."""

    status: AgentStatus
    taken: tuple[str, ...]
    returned: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Enqueue:
    conversation: str
    visitor: str
    priority: int
    queued_at: float
    front: bool = False
    designated: str | None = None
    last_agent: str | None = None
    avoid: str | None = None
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class Enqueued:
    group: str


@dataclass(frozen=True, slots=True)
class EnqueueRefused:
    group: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Dequeue:
    conversation: str


@dataclass(frozen=True, slots=True)
class InviteTake:
    conversation: str
    agent: str


@dataclass(frozen=True, slots=True)
class InviteGranted:
    conversation: str
    visitor: str
    group: str


@dataclass(frozen=True, slots=True)
class MemberLeft:
    agent: str


@dataclass(frozen=True, slots=True)
class Assign:
    """Agent -> conversation: I took you. A conversation that is no longer waiting answers Release."""

    agent: str
    via: str  # auto | invite


@dataclass(frozen=True, slots=True)
class Release:
    """Conversation -> agent: stop counting me (closed, transferred away, requeued, or a void assignment)."""

    conversation: str
    reason: str


@dataclass(frozen=True, slots=True)
class Requeue:
    """Agent -> conversation: my offline grace ran out; go back to the front of your queue."""

    agent: str


@dataclass(frozen=True, slots=True)
class TransferOffer:
    conversation: str
    visitor: str
    group: str | None
    from_agent: str


@dataclass(frozen=True, slots=True)
class TransferAccepted:
    agent: str


@dataclass(frozen=True, slots=True)
class TransferRefused:
    agent: str
    code: str  # agent_offline | declined


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: str


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """Host -> sender: `message` could not reach `to`, because no such entity exists."""

    to: Address
    message: Any


# Which messages create a missing entity of each kind.
CREATION: dict[str, tuple[type, ...]] = {
    "agent": (CreateAgent,),
    "queue": (CreateGroup,),
    "conversation": (OpenConversation, RestoreConversation),
}
