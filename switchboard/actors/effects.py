"""Effects: the orders an entity gives its host after handling one message.

An entity never does I/O; it returns a list of these and the host's shared
effect runner (:mod:`switchboard.actors.hostcore`) carries them out in order.
They are frozen ``msgspec.Struct``s rather than frozen dataclasses: the same
immutability, cheaper to create, and a host creates several per message
(decision 002 has the figures). :class:`AskBot` stays a dataclass: it leaves
the engine for the bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import msgspec

from switchboard.actors.address import Address, UserRef
from switchboard.actors.events import ArchiveRecord, PersonEvent
from switchboard.actors.messages import Message

__all__ = ["SendTo", "Deliver", "Record", "AskBot", "SetTimer", "CancelTimer", "Rejected", "Effect"]


class SendTo(msgspec.Struct, frozen=True):
    """Send `message` to another entity (or to itself) through the hosts."""

    to: Address
    message: Message


class Deliver(msgspec.Struct, frozen=True):
    """Hand `event` to a person's sockets, outside the engine."""

    to: UserRef
    event: PersonEvent


class Record(msgspec.Struct, frozen=True):
    """Hand `record` to the archive (the store), outside the engine.

    Records are what must outlive the process: a chat message with its sequence
    number (persisted before anyone is told of it) and a conversation's state at
    each change (what restart recovery rebuilds the engine from).
    """

    record: ArchiveRecord


@dataclass(frozen=True, slots=True)
class AskBot:
    """Ask the bot about the visitor's message `seq`; it answers later by posting to the conversation.

    The bot runs outside the engine (retrieval and generation take milliseconds to
    seconds, far too long for a host's message loop), so the host hands this out
    like a delivery, after the record of the message itself.
    """

    conversation: str
    visitor: str
    seq: int
    text: str


class SetTimer(msgspec.Struct, frozen=True):
    """Fire ``TimerFired(key)`` at this entity at simulated or wall time `at`; replaces a timer of the same key."""

    key: str
    at: float


class CancelTimer(msgspec.Struct, frozen=True):
    key: str


class Rejected(msgspec.Struct, frozen=True):
    """The message was refused and nothing changed; the host reports it to whoever caused it.

    `code` is one of the documented error codes in :mod:`switchboard.actors.errors`.
    """

    code: str
    detail: str


Effect = Union[SendTo, Deliver, Record, AskBot, SetTimer, CancelTimer, Rejected]
