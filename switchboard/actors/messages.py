"""Messages: the facts entities receive, grouped by who receives them.

Public commands (sent by edges, the scenario runner or tests through the
engine) come first; the messages entities send one another follow. All are
frozen ``msgspec.Struct``s, so they pickle for Ray and compare in tests, and
are cheap to create (hosts create several per message; decision 002).

Fields are *not* validated on construction: a value from the wire that is
wrong (a saturation of ``"5"`` or ``0``) reaches the entity. Each command
with rules on its fields says what is wrong with it in its ``problem()``,
and :func:`problem` is the one place entities ask: after their table has
accepted the message and before its handler runs, so handlers trust their
fields and a wrong value is refused with a documented code, changing nothing.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Callable, Union

import msgspec

from switchboard.actors import errors
from switchboard.actors.address import Address
from switchboard.actors.errors import Problem
from switchboard.actors.schedule import Schedule, ScheduleError, parse_schedule

__all__ = [
    # commands to an agent
    "CreateAgent", "SetPresence", "SetSaturation", "JoinGroup", "LeaveGroup", "AnswerTransfer", "SignOut",
    # commands to a skill-group queue
    "CreateGroup", "ConfigureGroup", "RetireGroup", "Sweep",
    # commands to a conversation
    "OpenConversation", "RequestHuman", "LeaveQueue", "KeepWaiting", "VisitorGone", "VisitorBack", "Invite",
    "TransferToAgent", "TransferToGroup", "MoveToGroup", "AgentWrote", "VisitorWrote", "Close", "Post",
    "RestoreConversation",
    # between entities
    "AgentStatus", "Candidate", "Pull", "Candidates", "PullResult", "Enqueue", "Enqueued",
    "EnqueueRefused", "HoursClosed", "Dequeue", "InviteTake", "InviteGranted", "MemberLeft", "Assign",
    "Release", "Requeue", "TransferOffer", "TransferAccepted", "TransferRefused", "OfferWithdrawn",
    "TimerFired", "Undeliverable",
    # all of them, and what is wrong with one
    "Command", "Message", "problem", "is_blank", "group_schedule", "PRESENCES", "POLICIES", "AT_CLOSING", "CLOSERS",
    "POST_KINDS", "MAX_TEXT", "MAX_CLIENT_ID",
]

PRESENCES = ("online", "away", "offline")
POLICIES = ("balanced", "last_agent_first", "designated", "familiar")
AT_CLOSING = ("serve", "offer_message")  # what a group's closing time does to visitors still waiting
CLOSERS = ("agent", "visitor", "system")
POST_KINDS: dict[str, tuple[str, ...]] = {"visitor": ("text",), "agent": ("text", "note"), "bot": ("text",),
                                          "system": ("system",)}  # role -> the kinds it may post
MAX_TEXT = 8000  # characters of one chat message
MAX_CLIENT_ID = 64
_RESTORABLE = ("bot", "queued", "assigned")  # the phases a conversation can be restored in


# Characters that show nothing: controls (NUL...), formats (zero-width space and joiners, marks, the BOM),
# separators of every width; and the letters and symbols fonts draw as nothing (Hangul fillers, Braille blank).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """True when `text` would show nothing: only whitespace, control, format or separator characters (and the
    few letters drawn as nothing). A chat message or a name made of them is empty to whoever reads it."""
    return all(c.isspace() or c in _INVISIBLE or unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in text)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_empty(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _saturation_problem(saturation: object) -> Problem | None:
    if _positive_int(saturation):
        return None
    return Problem(errors.INVALID_SATURATION, f"saturation must be a positive integer, got {saturation!r}")


def group_schedule(data: dict[str, Any] | None) -> Schedule | None:
    """A group's schedule from its JSON form (``Schedule.to_dict()``); None (always open) for None.

    Raises :class:`~switchboard.actors.schedule.ScheduleError` for one that cannot be.
    """
    return None if data is None else parse_schedule(data)


def _group_problem(policy: object, max_queue: object, last_agent_wait_s: object, schedule: object = None,
                   at_closing: object = "serve") -> Problem | None:
    """What is wrong with a group's configuration (``CreateGroup`` and ``ConfigureGroup`` alike)."""
    if not isinstance(policy, str) or policy not in POLICIES:
        return Problem(errors.INVALID_ARGUMENT, f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if max_queue is not None and not _positive_int(max_queue):
        return Problem(errors.INVALID_ARGUMENT, f"max_queue must be a positive integer, got {max_queue!r}")
    wait = last_agent_wait_s
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait <= 0):
        return Problem(errors.INVALID_ARGUMENT, f"last_agent_wait_s must be a positive number, got {wait!r}")
    if not isinstance(at_closing, str) or at_closing not in AT_CLOSING:
        return Problem(errors.INVALID_ARGUMENT,
                       f"at_closing must be one of {', '.join(AT_CLOSING)}, got {at_closing!r}")
    if schedule is not None:
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            return exc.problem
    return None


# --- commands to an agent -------------------------------------------------------------


class CreateAgent(msgspec.Struct, frozen=True):
    """Create an agent, offline. `active` restores conversations after a restart (id, group):

    the agent keeps them for the offline grace period, then they go back to their queues.
    """

    saturation: int
    groups: tuple[str, ...] = ()
    name: str = ""
    active: tuple[tuple[str, str | None], ...] = ()

    def problem(self) -> Problem | None:
        if (wrong := _saturation_problem(self.saturation)) is not None:
            return wrong
        if not isinstance(self.groups, (tuple, list)) or not all(isinstance(g, str) for g in self.groups):
            return Problem(errors.INVALID_ARGUMENT, "groups must be a list of group ids")
        if not all(isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str) for a in self.active):
            return Problem(errors.INVALID_ARGUMENT, "active must be (conversation, group) pairs")
        return None


class SetPresence(msgspec.Struct, frozen=True):
    presence: str  # one of PRESENCES

    def problem(self) -> Problem | None:
        if self.presence in PRESENCES:
            return None
        return Problem(errors.INVALID_PRESENCE, f"presence must be online, away or offline, got {self.presence!r}")


class SetSaturation(msgspec.Struct, frozen=True):
    saturation: int

    def problem(self) -> Problem | None:
        return _saturation_problem(self.saturation)


class JoinGroup(msgspec.Struct, frozen=True):
    group: str

    def problem(self) -> Problem | None:
        return None if isinstance(self.group, str) else Problem(errors.INVALID_ARGUMENT, "group must be a string")


class LeaveGroup(msgspec.Struct, frozen=True):
    group: str

    def problem(self) -> Problem | None:
        return None if isinstance(self.group, str) else Problem(errors.INVALID_ARGUMENT, "group must be a string")


class AnswerTransfer(msgspec.Struct, frozen=True):
    """The target agent's answer to a transfer that would take them beyond saturation."""

    conversation: str
    accept: bool

    def problem(self) -> Problem | None:
        if isinstance(self.conversation, str) and isinstance(self.accept, bool):
            return None
        return Problem(errors.INVALID_ARGUMENT, "conversation must be an id and accept true or false")


class SignOut(msgspec.Struct, frozen=True):
    """The agent's work ends now (an admin deactivated or deleted them): offline with no grace period.

    Their conversations go back to their queues at once, as when the grace runs out, and offers waiting
    for their answer are refused as when they go offline. They stay offline until ``SetPresence("online")``.
    """


# --- commands to a queue --------------------------------------------------------------


class CreateGroup(msgspec.Struct, frozen=True):
    """Create a skill group's queue.

    `schedule` is its service hours in the JSON form of docs/hours.md (``Schedule.to_dict()``); None: always
    open. Outside the hours a request is not queued (``outside_hours``). `at_closing` says what the closing
    time does to visitors still waiting: ``serve`` (they stay and are served) or ``offer_message`` (they leave
    the queue and are told, with the next opening, so that they can leave a message).
    """

    policy: str = "balanced"  # one of POLICIES
    max_queue: int | None = None
    last_agent_wait_s: float | None = None  # None: the settings' default
    schedule: dict[str, Any] | None = None  # None: always open
    at_closing: str = "serve"  # one of AT_CLOSING

    def problem(self) -> Problem | None:
        return _group_problem(self.policy, self.max_queue, self.last_agent_wait_s, self.schedule, self.at_closing)


class ConfigureGroup(msgspec.Struct, frozen=True):
    """Give a live group this configuration (every field, checked as for ``CreateGroup``).

    Waiting visitors keep their places; a shorter ``max_queue`` only refuses new requests. A policy
    change drops every hold the old policy made, then the queue offers its open visitors again.
    The whole configuration is replaced: a ``schedule`` left out (None) means always open from now on.
    """

    policy: str  # one of POLICIES
    max_queue: int | None
    last_agent_wait_s: float | None  # None: the settings' default
    schedule: dict[str, Any] | None = None  # None: always open
    at_closing: str = "serve"  # one of AT_CLOSING

    def problem(self) -> Problem | None:
        return _group_problem(self.policy, self.max_queue, self.last_agent_wait_s, self.schedule, self.at_closing)


class RetireGroup(msgspec.Struct, frozen=True):
    """The group is being deleted: refused while a visitor waits (``group_not_empty``); then every
    request is refused (``group_retired``) until a ``CreateGroup`` revives the group."""


class Sweep(msgspec.Struct, frozen=True):
    """Safety net: try to place every waiting visitor (assignment is normally event-driven)."""


# --- commands to a conversation --------------------------------------------------------


class OpenConversation(msgspec.Struct, frozen=True):
    visitor: str
    channel: str = "widget"

    def problem(self) -> Problem | None:
        return None if _non_empty(self.visitor) else Problem(errors.INVALID_ARGUMENT, "visitor must be a non-empty string")


class RequestHuman(msgspec.Struct, frozen=True):
    """The visitor asks for a person.

    `agent` names a designated agent (honoured by groups with the designated policy);
    `last_agent` is who served this visitor last (the edge knows it from the store),
    honoured by groups with the last_agent_first policy; `familiar_agent` is who served this (verified)
    customer most, honoured by groups with the familiar policy.
    """

    group: str
    priority: int = 0
    agent: str | None = None
    last_agent: str | None = None
    familiar_agent: str | None = None

    def problem(self) -> Problem | None:
        if not _non_empty(self.group):
            return Problem(errors.INVALID_ARGUMENT, "group must be a non-empty string")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            return Problem(errors.INVALID_ARGUMENT, f"priority must be an integer, got {self.priority!r}")
        for name, value in (("agent", self.agent), ("last_agent", self.last_agent),
                            ("familiar_agent", self.familiar_agent)):
            if value is not None and not isinstance(value, str):
                return Problem(errors.INVALID_ARGUMENT, f"{name} must be an agent id")
        return None


class LeaveQueue(msgspec.Struct, frozen=True):
    pass


class KeepWaiting(msgspec.Struct, frozen=True):
    pass


class VisitorGone(msgspec.Struct, frozen=True):
    """The edges: the visitor's last socket anywhere has closed. Queued, they leave after a grace period."""


class VisitorBack(msgspec.Struct, frozen=True):
    """The edges: the visitor has a socket again (a hello). Within the grace period they keep their place."""


class Invite(msgspec.Struct, frozen=True):
    """An agent takes this queued visitor, even beyond their saturation."""

    agent: str

    def problem(self) -> Problem | None:
        return None if isinstance(self.agent, str) else Problem(errors.INVALID_ARGUMENT, "agent must be an agent id")


class TransferToAgent(msgspec.Struct, frozen=True):
    to_agent: str

    def problem(self) -> Problem | None:
        return None if _non_empty(self.to_agent) else Problem(errors.INVALID_ARGUMENT, "to_agent must be an agent id")


class TransferToGroup(msgspec.Struct, frozen=True):
    group: str

    def problem(self) -> Problem | None:
        return None if _non_empty(self.group) else Problem(errors.INVALID_ARGUMENT, "group must be a non-empty string")


class MoveToGroup(msgspec.Struct, frozen=True):
    """An admin moves the conversation to another skill group (the edge checks who may).

    Queued: it leaves its queue and waits in `group` with its priority, request time and tier.
    With the bot or an agent: only the group changes, so a later requeue goes there.
    """

    group: str

    def problem(self) -> Problem | None:
        return None if _non_empty(self.group) else Problem(errors.INVALID_ARGUMENT, "group must be a non-empty string")


class AgentWrote(msgspec.Struct, frozen=True):
    agent: str | None = None  # None: the assigned agent


class VisitorWrote(msgspec.Struct, frozen=True):
    pass


class Close(msgspec.Struct, frozen=True):
    by: str  # one of CLOSERS
    agent: str | None = None  # when by == "agent": who closes (None: the assigned agent)

    def problem(self) -> Problem | None:
        if self.by in CLOSERS:
            return None
        return Problem(errors.INVALID_ARGUMENT, f"by must be agent, visitor or system, got {self.by!r}")


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

    def problem(self) -> Problem | None:
        """What the message alone gets wrong; who may post in which phase is the conversation's to say."""
        kinds = POST_KINDS.get(self.role) if isinstance(self.role, str) else None
        if kinds is None or not isinstance(self.kind, str) or self.kind not in kinds:
            return Problem(errors.INVALID_ARGUMENT, f"a {self.role!r} cannot post a {self.kind!r} message")
        if not isinstance(self.text, str) or is_blank(self.text) or len(self.text) > MAX_TEXT:
            return Problem(errors.INVALID_ARGUMENT, f"text must be a non-empty string of at most {MAX_TEXT} characters")
        client_id = self.client_id
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID):
            return Problem(errors.INVALID_ARGUMENT, f"client_id must be a string of 1 to {MAX_CLIENT_ID} characters")
        return None


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

    def problem(self) -> Problem | None:
        if not _non_empty(self.visitor):
            return Problem(errors.INVALID_ARGUMENT, "visitor must be a non-empty string")
        if (self.phase not in _RESTORABLE or (self.phase == "queued" and not self.group)
                or (self.phase == "assigned" and not self.agent)):
            return Problem(errors.INVALID_ARGUMENT, f"cannot restore a {self.phase} conversation like this")
        return None


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
    """Conversation -> queue: let me wait here.

    `returning`: the visitor was already in this group's hands (requeued after an agent's grace, sign-out
    or silence; restored after a restart; a move to another group undone). Outside the hours such a
    visitor is admitted when the group's ``at_closing`` is ``serve``, as those waiting at closing time are.
    """

    conversation: str
    visitor: str
    priority: int
    queued_at: float
    front: bool = False
    designated: str | None = None
    last_agent: str | None = None
    avoid: str | None = None
    familiar: str | None = None
    confirm: bool = False
    returning: bool = False


class Enqueued(msgspec.Struct, frozen=True):
    group: str


class EnqueueRefused(msgspec.Struct, frozen=True):
    """Queue -> conversation: not admitted. `next_opening` (UTC epoch seconds, or None if the group does
    not open within a year) comes with the code ``outside_hours``."""

    group: str
    code: str
    detail: str
    next_opening: float | None = None


class HoursClosed(msgspec.Struct, frozen=True):
    """Queue -> conversation: the group closed (its ``at_closing`` is ``offer_message``) while you waited,
    so you are out of its queue; it opens again at `next_opening` (None: not within a year)."""

    group: str
    next_opening: float | None


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
    """Agent -> conversation: I took you. A conversation that is no longer waiting answers Release
    (as does one that now waits in another group than the one it was taken from)."""

    agent: str
    via: str  # auto | invite
    group: str | None = None  # the queue the agent took it from


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
    message: Message


Command = Union[
    CreateAgent, SetPresence, SetSaturation, JoinGroup, LeaveGroup, AnswerTransfer, SignOut, CreateGroup,
    ConfigureGroup, RetireGroup, Sweep, OpenConversation, RequestHuman, LeaveQueue, KeepWaiting, Invite,
    TransferToAgent, TransferToGroup, MoveToGroup, AgentWrote, VisitorWrote, Close, Post, RestoreConversation,
    VisitorGone, VisitorBack,
]
"""What edges, the scenario runner and tests send through the engine."""

Message = Union[
    Command, AgentStatus, Pull, Candidates, PullResult, Enqueue, Enqueued, EnqueueRefused, HoursClosed, Dequeue,
    InviteTake, InviteGranted, MemberLeft, Assign, Release, Requeue, TransferOffer, TransferAccepted, TransferRefused,
    OfferWithdrawn, TimerFired, Undeliverable,
]
"""Everything an entity receives."""


def problem(message: Message) -> Problem | None:
    """What is wrong with the fields of `message` for an entity that exists, or None if nothing is.

    Creation messages are not checked here: the host checks them when they create an entity
    (``validate_creation``), and one sent to an entity that exists is refused as ``already_exists``
    whatever its fields.
    """
    check = _CHECKS.get(type(message))
    return None if check is None else check(message)


_CHECKS: dict[type, Callable[[Any], Problem | None]] = {  # each takes its own message type
    SetPresence: SetPresence.problem, SetSaturation: SetSaturation.problem, JoinGroup: JoinGroup.problem,
    LeaveGroup: LeaveGroup.problem, AnswerTransfer: AnswerTransfer.problem, RequestHuman: RequestHuman.problem,
    Invite: Invite.problem, TransferToAgent: TransferToAgent.problem, TransferToGroup: TransferToGroup.problem,
    Close: Close.problem, Post: Post.problem, ConfigureGroup: ConfigureGroup.problem, MoveToGroup: MoveToGroup.problem,
}
