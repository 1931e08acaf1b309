"""Messages: the facts entities receive, grouped by who receives them.

Public commands (sent by edges, the scenario runner or tests through the
engine) come first; the messages entities send one another follow. All are
frozen ``msgspec.Struct``s, so they pickle for Ray and compare in tests (and are
created several times faster than frozen dataclasses, which set each field
through ``object.__setattr__``: hosts create several per message).
Fields are *not* validated on construction: a value from the wire that is
wrong (a saturation of ``"5"`` or ``0``) reaches the entity, which refuses it
with a documented error code and changes nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from switchboard.actors.address import Address

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
    "Release", "Requeue", "TransferOffer", "TransferAccepted", "TransferRefused", "OfferWithdrawn",
    "TimerFired", "Undeliverable", "CREATION",
]

# --- commands to an agent -------------------------------------------------------------


class CreateAgent(msgspec.Struct, frozen=True):
    """Create an agent, offline. `active` restores conversations after a restart (id, group):

    the agent keeps them for the offline grace period, then they go back to their queues.
    """

    saturation: int
    groups: tuple[str, ...] = ()
    name: str = ""
    active: tuple[tuple[str, str | None], ...] = ()


class SetPresence(msgspec.Struct, frozen=True):
    presence: str  # "online" | "away" | "offline"


class SetSaturation(msgspec.Struct, frozen=True):
    saturation: int


class JoinGroup(msgspec.Struct, frozen=True):
    group: str


class LeaveGroup(msgspec.Struct, frozen=True):
    group: str


class AnswerTransfer(msgspec.Struct, frozen=True):
    """The target agent's answer to a transfer that would take them beyond saturation."""

    conversation: str
    accept: bool


# --- commands to a queue --------------------------------------------------------------


class CreateGroup(msgspec.Struct, frozen=True):
    policy: str = "balanced"  # balanced | last_agent_first | designated
    max_queue: int | None = None
    last_agent_wait_s: float | None = None  # None: the settings' default


class Sweep(msgspec.Struct, frozen=True):
    """Safety net: try to place every waiting visitor (assignment is normally event-driven)."""


# --- commands to a conversation --------------------------------------------------------


class OpenConversation(msgspec.Struct, frozen=True):
    visitor: str
    channel: str = "widget"


class RequestHuman(msgspec.Struct, frozen=True):
    """The visitor asks for a person.

    `agent` names a designated agent (honoured by groups with the designated policy);
    `last_agent` is who served this visitor last (the edge knows it from the store),
    honoured by groups with the last_agent_first policy.
    """

    group: str
    priority: int = 0
    agent: str | None = None
    last_agent: str | None = None


class LeaveQueue(msgspec.Struct, frozen=True):
    pass


class KeepWaiting(msgspec.Struct, frozen=True):
    pass


class Invite(msgspec.Struct, frozen=True):
    """An agent takes this queued visitor, even beyond their saturation."""

    agent: str


class TransferToAgent(msgspec.Struct, frozen=True):
    to_agent: str


class TransferToGroup(msgspec.Struct, frozen=True):
    group: str


class AgentWrote(msgspec.Struct, frozen=True):
    agent: str | None = None  # None: the assigned agent


class VisitorWrote(msgspec.Struct, frozen=True):
    pass


class Close(msgspec.Struct, frozen=True):
    by: str  # "agent" | "visitor" | "system"
    agent: str | None = None  # when by == "agent": who closes (None: the assigned agent)


class Post(msgspec.Struct, frozen=True):
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


class RestoreConversation(msgspec.Struct, frozen=True):
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
    last_public_seq: int | None = None  # the last seq a visitor can see (None: last_seq); notes come after it


# --- between entities ------------------------------------------------------------------


class AgentStatus(msgspec.Struct, frozen=True):
    """An agent's state as its queues see it; sent whenever it changes."""

    agent: str
    presence: str
    active: int
    saturation: int
    idle_since: float | None  # last assignment, else first time online


class Candidate(msgspec.Struct, frozen=True):
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


class Pull(msgspec.Struct, frozen=True):
    """Agent -> queue: I have `free` slots; reserve your best visitors for me."""

    status: AgentStatus
    free: int


class Candidates(msgspec.Struct, frozen=True):
    """Queue -> agent: visitors reserved for you (answer to a Pull, or an unsolicited offer)."""

    group: str
    candidates: tuple[Candidate, ...]
    solicited: bool


class PullResult(msgspec.Struct, frozen=True):
    """Agent -> queue: which reserved visitors I took and which I give back."""

    status: AgentStatus
    taken: tuple[str, ...]
    returned: tuple[str, ...]


class Enqueue(msgspec.Struct, frozen=True):
    conversation: str
    visitor: str
    priority: int
    queued_at: float
    front: bool = False
    designated: str | None = None
    last_agent: str | None = None
    avoid: str | None = None
    confirm: bool = False


class Enqueued(msgspec.Struct, frozen=True):
    group: str


class EnqueueRefused(msgspec.Struct, frozen=True):
    group: str
    code: str
    detail: str


class Dequeue(msgspec.Struct, frozen=True):
    conversation: str


class InviteTake(msgspec.Struct, frozen=True):
    conversation: str
    agent: str


class InviteGranted(msgspec.Struct, frozen=True):
    conversation: str
    visitor: str
    group: str


class MemberLeft(msgspec.Struct, frozen=True):
    agent: str


class Assign(msgspec.Struct, frozen=True):
    """Agent -> conversation: I took you. A conversation that is no longer waiting answers Release."""

    agent: str
    via: str  # auto | invite


class Release(msgspec.Struct, frozen=True):
    """Conversation -> agent: stop counting me (closed, transferred away, requeued, or a void assignment)."""

    conversation: str
    reason: str


class Requeue(msgspec.Struct, frozen=True):
    """Agent -> conversation: my offline grace ran out; go back to the front of your queue."""

    agent: str


class TransferOffer(msgspec.Struct, frozen=True):
    conversation: str
    visitor: str
    group: str | None
    from_agent: str


class TransferAccepted(msgspec.Struct, frozen=True):
    agent: str


class TransferRefused(msgspec.Struct, frozen=True):
    agent: str
    code: str  # agent_offline | declined | offline | timeout (an offer refused by going offline, or unanswered)


class OfferWithdrawn(msgspec.Struct, frozen=True):
    """Conversation -> the agent it offered itself to: the offer is over before their answer (the
    conversation closed, went back to its queue, or moved to a group), so they stop seeing it."""
    conversation: str
    reason: str  # closed | requeued | transferred


class TimerFired(msgspec.Struct, frozen=True):
    key: str


class Undeliverable(msgspec.Struct, frozen=True):
    """Host -> sender: `message` could not reach `to`, because no such entity exists."""

    to: Address
    message: Any


# Which messages create a missing entity of each kind.
CREATION: dict[str, tuple[type, ...]] = {
    "agent": (CreateAgent,),
    "queue": (CreateGroup,),
    "conversation": (OpenConversation, RestoreConversation),
}
