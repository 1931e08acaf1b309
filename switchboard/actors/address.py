"""Who a message is for: entities inside the engine, users outside it.

An entity address is a (kind, id) pair; its kind picks the entity class and
its string form is what hosts hash to find the owning partition. A user
address names the person a delivery is for (a visitor or an agent), so an
edge can route it to that person's sockets. Both are frozen ``msgspec.Struct``s
(hashable, comparable, picklable), like the messages that carry them.
"""

from __future__ import annotations

import zlib
from enum import Enum

import msgspec

__all__ = ["Kind", "Address", "UserRef", "host_for"]


class Kind(str, Enum):
    AGENT = "agent"
    QUEUE = "queue"
    CONVERSATION = "conversation"


class Address(msgspec.Struct, frozen=True):
    kind: Kind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def agent(cls, agent_id: str) -> Address:
        return cls(Kind.AGENT, agent_id)

    @classmethod
    def queue(cls, group_id: str) -> Address:
        return cls(Kind.QUEUE, group_id)

    @classmethod
    def conversation(cls, conversation_id: str) -> Address:
        return cls(Kind.CONVERSATION, conversation_id)


class UserRef(msgspec.Struct, frozen=True):
    """A person outside the engine: role is "visitor" or "agent"."""

    role: str
    id: str

    @classmethod
    def visitor(cls, visitor_id: str) -> UserRef:
        return cls("visitor", visitor_id)

    @classmethod
    def agent(cls, agent_id: str) -> UserRef:
        return cls("agent", agent_id)


def host_for(address: Address, hosts: int) -> int:
    """Stable partition of an entity over `hosts` hosts (same answer in every process)."""
    return zlib.crc32(str(address).encode()) % hosts
