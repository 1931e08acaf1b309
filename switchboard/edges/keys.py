"""Every Redis key and channel the edges use, the one way to read a reply as text, and the conversation view.

Redis holds no record: the store does. It holds the edges' shared views, derived from the engine's output
and rebuilt from the store on every start (:mod:`.delivery.recovery`), and the fan-out's registry and
channels. A key is built here and nowhere else, so finding who reads or writes one is finding the callers
of its builder. Lua scripts take their keys as ``KEYS[n]``, passed in from these builders.

=============================  ====================================================================
``sb:conv:{conversation}``     hash, the conversation's view (:class:`ConvView`), by the relay
``sb:visitor:{visitor}``       hash: ``conv`` (the open conversation, :mod:`.delivery.claims`),
                               ``last_conv``, ``last_agent``, and channel, page, email, name
``sb:hist:{conversation}``     sorted set of message frames by seq (:mod:`.delivery.history`)
``sb:reg:{role}:{id}``         hash, edge id -> sockets of that person there (:mod:`.delivery.fanout`)
``sb:edge:{edge}``             channel: batches of frames for one edge process
``sb:control``                 channel: broadcasts to every edge (sessions ended)
``sb:live``                    channel: the groups and agents whose live view changed (:mod:`.live`)
``sb:watch``                   channel: the conversations with new messages or a new state (:mod:`.watch`)
``sb:sessions:{user}``         set of a user's live login sessions (:mod:`.auth`)
``sb:login:{kind}:{who}``      hash, failed logins of an account or an address (:mod:`.auth`)
``sb:addr:{kind}:{address}``   anonymous conversations from one client address (:mod:`.ws.visitor`)
``sb:visitors:claimed``        set of visitors holding a claim; ``...:adopted`` marks older claims added
``sb:setup``                   the first-run setup code's SHA-256 while no admin exists (:mod:`.setup`)
=============================  ====================================================================

Clients are made without ``decode_responses``, so replies are bytes; a test's client may decode. Either
way :func:`as_str` reads one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import overload

import orjson
from redis.typing import EncodableT, FieldT

from switchboard.actors.address import UserRef

__all__ = ["conv_key", "visitor_key", "history_key", "registry_key", "registry_pattern", "registered_user",
           "user_key", "edge_channel", "sessions_key", "login_key", "address_key", "visitor_of_key", "as_str", "text_hash", "conv_hash",
           "ConvView", "HashFields", "CONTROL_CHANNEL", "LIVE_CHANNEL", "live_change",
           "WATCH_CHANNEL", "watch_change", "CLAIMED_VISITORS", "CLAIMS_ADOPTED", "VISITOR_PATTERN", "ENDED_CONV_TTL_S",
           "SETUP_KEY"]

CONTROL_CHANNEL = "sb:control"
LIVE_CHANNEL = "sb:live"  # what changed for the live view (edges/live.py): live_change(groups, agents)
WATCH_CHANNEL = "sb:watch"  # watched conversations (edges/watch.py): watch_change(messages, states)
CLAIMED_VISITORS = "sb:visitors:claimed"
CLAIMS_ADOPTED = "sb:visitors:claimed:adopted"
SETUP_KEY = "sb:setup"  # no TTL: the code lives until it is spent or serve starts again
ENDED_CONV_TTL_S = 30 * 86400  # how long an ended conversation's view is kept (for rating and resume)

HashFields = dict[FieldT, EncodableT]  # what HSET's mapping takes

_CONV, _VISITOR, _HISTORY, _REGISTRY = "sb:conv:", "sb:visitor:", "sb:hist:", "sb:reg:"
VISITOR_PATTERN = _VISITOR + "*"


def conv_key(conversation: str) -> str:
    return _CONV + conversation


def visitor_key(visitor: str) -> str:
    return _VISITOR + visitor


def visitor_of_key(key: bytes | str) -> str:
    """The visitor id in a :func:`visitor_key` (from a scan)."""
    return as_str(key)[len(_VISITOR):]


def history_key(conversation: str) -> str:
    return _HISTORY + conversation


def user_key(user: UserRef) -> str:
    """A person as the fan-out names them, in the registry and in a batch: ``role:id``."""
    return f"{user.role}:{user.id}"


def registry_key(user: str) -> str:
    """The registry entry of `user` (a :func:`user_key`): which edges hold their sockets."""
    return _REGISTRY + user


def registry_pattern(role: str | None = None) -> str:
    """A scan pattern for every registry entry, or every one of `role`."""
    return f"{_REGISTRY}{role}:*" if role else _REGISTRY + "*"


def registered_user(key: bytes | str) -> UserRef:
    """The person a :func:`registry_key` names (from a scan)."""
    role, _, user_id = as_str(key)[len(_REGISTRY):].partition(":")
    return UserRef(role, user_id)


def edge_channel(edge_id: str) -> str:
    return f"sb:edge:{edge_id}"


def sessions_key(user_id: str) -> str:
    return f"sb:sessions:{user_id}"


def login_key(kind: str, who: str) -> str:
    """Failed logins of an ``account`` (an email) or an ``address`` (a client address): hash, :mod:`.auth`."""
    return f"sb:login:{kind}:{who}"


def address_key(kind: str, address: str) -> str:
    """Anonymous visitors' conversations from one client address: ``open`` and ``queued``, each a sorted set
    by when the place was taken (:mod:`.ws.per_address`)."""
    return f"sb:addr:{kind}:{address}"


@overload
def as_str(raw: bytes | str) -> str: ...


@overload
def as_str(raw: bytes | str | None) -> str | None: ...


def as_str(raw: bytes | str | None) -> str | None:
    """A Redis reply as text: bytes decoded as UTF-8, a string or None as it is."""
    return raw.decode() if isinstance(raw, bytes) else raw


def text_hash(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """An HGETALL reply with names and values as text."""
    return {as_str(k): as_str(v) for k, v in raw.items()}


def conv_hash(visitor: str, phase: str, group: str | None, agent: str | None, participants: list[str] | tuple[str, ...],
              channel: str) -> HashFields:
    """The fields of a conversation's view that its state sets (``last_seq`` is raised by its messages)."""
    return {"visitor": visitor, "phase": phase, "group": group or "", "agent": agent or "",
            "participants": orjson.dumps(participants), "channel": channel}


@dataclass(frozen=True, slots=True)
class ConvView:
    """A conversation as ``sb:conv:{id}`` shows it: who owns it, its phase, who serves it, its last seq.

    Written by the relay from the engine's records (and once by the visitor's socket that opens it, with
    only ``visitor`` and ``phase``), so it lags the engine by a flush and may lack fields: an empty or
    missing field reads as None (group, agent), ``"bot"`` (phase) or 0 (last_seq).
    """

    conversation: str
    visitor: str | None
    phase: str
    group: str | None
    agent: str | None
    participants: tuple[str, ...]
    channel: str | None
    last_seq: int

    @classmethod
    def from_hash(cls, conversation: str, raw: Mapping[bytes | str, bytes | str]) -> ConvView | None:
        """The view of an HGETALL reply; None when the hash is empty (no such conversation)."""
        if not raw:
            return None
        h = text_hash(raw)
        return cls(conversation, h.get("visitor"), h.get("phase", "bot"), h.get("group") or None,
                   h.get("agent") or None, _participants(h.get("participants")), h.get("channel"),
                   int(h.get("last_seq") or 0))


def _participants(raw: str | None) -> tuple[str, ...]:
    try:
        found = orjson.loads(raw) if raw else []
    except orjson.JSONDecodeError:
        return ()
    return tuple(p for p in found if isinstance(p, str)) if isinstance(found, list) else ()


def live_change(groups: Iterable[str | None] = (), agents: Iterable[str | None] = ()) -> bytes:
    """A :data:`LIVE_CHANNEL` message: the groups and agents whose live view may have changed."""
    return orjson.dumps({"g": [g for g in groups if g], "a": [a for a in agents if a]})


def watch_change(messages: Iterable[str] = (), states: Iterable[str] = ()) -> bytes:
    """A :data:`WATCH_CHANNEL` message: the conversations with new messages (in the Redis history already) and
    those with a new state (in their view already)."""
    return orjson.dumps({"m": list(messages), "s": list(states)})
