"""The engine's documented error codes (docs/dispatch.md lists them for users).

A refused command changes nothing and comes back to its sender as a
:class:`~switchboard.actors.events.Refused` event carrying one of these codes.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CODES", "Problem"]


class Problem(NamedTuple):
    """What is wrong with a message: the documented code and a sentence for people."""

    code: str
    detail: str


UNKNOWN_AGENT = "unknown_agent"
UNKNOWN_GROUP = "unknown_group"
UNKNOWN_CONVERSATION = "unknown_conversation"
UNKNOWN_MESSAGE = "unknown_message"
ALREADY_EXISTS = "already_exists"
INVALID_SATURATION = "invalid_saturation"
INVALID_PRESENCE = "invalid_presence"
INVALID_ARGUMENT = "invalid_argument"
NOT_IN_GROUP = "agent_not_in_group"
NOT_QUEUED = "not_queued"
NOT_ASSIGNED = "not_assigned"
NOT_YOUR_CONVERSATION = "not_your_conversation"
CONVERSATION_ENDED = "conversation_ended"
ALREADY_REQUESTED = "already_requested"
QUEUE_FULL = "queue_full"
AGENT_OFFLINE = "agent_offline"
TRANSFER_PENDING = "transfer_pending"
NO_TRANSFER_PENDING = "no_transfer_pending"
SAME_AGENT = "same_agent"
SAME_GROUP = "same_group"
GROUP_NOT_EMPTY = "group_not_empty"
GROUP_RETIRED = "group_retired"
ILLEGAL_IN_STATE = "illegal_in_state"
ENTITY_ERROR = "entity_error"
INVALID_SCHEDULE = "invalid_schedule"
OUTSIDE_HOURS = "outside_hours"

CODES: dict[str, str] = {
    UNKNOWN_AGENT: "no agent with that id",
    UNKNOWN_GROUP: "no skill group with that id",
    UNKNOWN_CONVERSATION: "no conversation with that id",
    UNKNOWN_MESSAGE: "the entity does not understand that message",
    ALREADY_EXISTS: "an entity with that id already exists",
    INVALID_SATURATION: "saturation must be a positive integer",
    INVALID_PRESENCE: "presence must be online, away or offline",
    INVALID_ARGUMENT: "a field has a value of the wrong type or range",
    NOT_IN_GROUP: "the agent is not a member of the visitor's skill group",
    NOT_QUEUED: "the visitor is not waiting in a queue",
    NOT_ASSIGNED: "the conversation is not assigned to an agent",
    NOT_YOUR_CONVERSATION: "the agent is not the one serving this conversation",
    CONVERSATION_ENDED: "the conversation is closed or abandoned",
    ALREADY_REQUESTED: "the visitor already asked for a person in this conversation",
    QUEUE_FULL: "the skill group's queue is at its maximum length",
    AGENT_OFFLINE: "the agent is offline",
    TRANSFER_PENDING: "a transfer of this conversation is already waiting for an answer",
    NO_TRANSFER_PENDING: "there is no transfer waiting for this agent's answer",
    SAME_AGENT: "the conversation is already with that agent",
    SAME_GROUP: "the conversation is already in that skill group",
    GROUP_NOT_EMPTY: "visitors still wait in the skill group's queue",
    GROUP_RETIRED: "the skill group has been deleted",
    ILLEGAL_IN_STATE: "that message is not allowed in the entity's current state",
    ENTITY_ERROR: "the entity hit an internal error and refuses further messages",
    INVALID_SCHEDULE: "a service-hours schedule that cannot be (docs/hours.md): the detail names the field",
    OUTSIDE_HOURS: "the skill group is closed now (outside its service hours)",
}
