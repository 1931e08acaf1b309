"""What the engine hands out: four kinds of output, each with its own consumer.

The hosts turn an entity's outward effects into these values and the runtime passes them,
in the engine's order, to the one ``on_delivery`` callback:

- :class:`Delivery`: an event for one person's sockets (from :class:`~switchboard.actors.effects.Deliver`);
- :class:`Recorded`: a record for the archive, stored before anyone is told of it
  (from :class:`~switchboard.actors.effects.Record`);
- :class:`Refusal`: a refused command, for whoever sent its ``ref``
  (from :class:`~switchboard.actors.effects.Rejected`);
- :class:`BotQuestion`: a visitor's message for the bot (from :class:`~switchboard.actors.effects.AskBot`).

Each carries the ``ref`` of the command whose chain produced it and the engine time ``at``.
All four name their payload ``event`` and answer ``to`` (None but for a :class:`Delivery`), so a
consumer that only looks can treat them alike; one that acts matches on the type.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Union

import msgspec

from switchboard.actors.address import UserRef
from switchboard.actors.effects import AskBot
from switchboard.actors.events import ArchiveRecord, PersonEvent, Refused

__all__ = ["Delivery", "Recorded", "Refusal", "BotQuestion", "EngineOutput", "EngineOutputCallback"]


class Delivery(msgspec.Struct, frozen=True):
    """An event for the person `to`."""

    to: UserRef
    event: PersonEvent
    ref: str | None
    at: float


class Recorded(msgspec.Struct, frozen=True):
    """A record for the archive: a numbered chat message or a conversation's new state."""

    to: ClassVar[None] = None
    event: ArchiveRecord
    ref: str | None
    at: float


class Refusal(msgspec.Struct, frozen=True):
    """A command was refused; `event.ref` names who sent it."""

    to: ClassVar[None] = None
    event: Refused
    ref: str | None
    at: float


class BotQuestion(msgspec.Struct, frozen=True):
    """A visitor's message for the bot, handed out after its record."""

    to: ClassVar[None] = None
    event: AskBot
    ref: str | None
    at: float


EngineOutput = Union[Delivery, Recorded, Refusal, BotQuestion]
EngineOutputCallback = Callable[[EngineOutput], None]
