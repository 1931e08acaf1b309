"""Users (admins and agents): every read and write of the ``users`` collection outside recovery.

Plain and synchronous (mongoengine blocks: async callers run these in a thread). Emails are stored
trimmed and lower-cased, and a lookup by email normalises the same way. Ids are drawn here, by role
(``a-<8 hex>`` for agents, the form docs/protocol.md promises; ``adm-<8 hex>`` for admins). A refusal is a
:mod:`~switchboard.store.errors` fact, never an answer in the caller's terms. Only mongoengine queries that
MongoDB and nx-27017 both run are used.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from mongoengine.errors import NotUniqueError

from switchboard.store.documents import User
from switchboard.store.errors import Duplicate, NotFound

__all__ = ["Role", "AgentSummary", "ID_PREFIXES", "AGENT_ID", "get_user", "get_user_by_email", "get_agent", "list_agents",
           "agent_summaries", "insert_user", "change_password", "replace_password_hash", "update_agent",
           "agent_name", "agent_names"]

Role = Literal["admin", "agent"]
ID_PREFIXES: dict[Role, str] = {"agent": "a-", "admin": "adm-"}
AGENT_ID = re.compile(r"^a-[0-9a-f]{8}$")  # the ids insert_user draws for agents
_ID_TRIES = 5


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """What colleagues may see of an agent: no email, no contact details."""

    id: str
    nickname: str
    groups: tuple[str, ...]


def get_user(user_id: str) -> User | None:
    user: User | None = User.objects(id=user_id).first()
    return user


def get_user_by_email(email: str) -> User | None:
    """The user with this email (compared trimmed and lower-cased, as stored)."""
    user: User | None = User.objects(email=email.strip().lower()).first()
    return user


def get_agent(agent_id: str) -> User | None:
    """The user `agent_id` if it is an agent (an admin's id finds nothing)."""
    user: User | None = User.objects(id=agent_id, role="agent").first()
    return user


def list_agents() -> list[User]:
    """Every agent, by email."""
    return sorted(User.objects(role="agent"), key=lambda user: str(user.email))


def agent_summaries() -> list[AgentSummary]:
    """Every agent's id, nickname and groups (nothing else is read), by nickname (the id where it has none)."""
    rows = [AgentSummary(str(u.id), u.nickname or "", tuple(u.groups))
            for u in User.objects(role="agent").only("id", "nickname", "groups")]
    return sorted(rows, key=lambda a: ((a.nickname or a.id).lower(), a.id))


def insert_user(role: Role, email: str, password_hash: str, *, nickname: str = "", saturation: int,
                groups: Iterable[str] = ()) -> User:
    """Store a new user under a fresh id for its role (drawn again should the id be taken).

    Raises:
        Duplicate: a user with this email exists.
    """
    email = email.strip().lower()
    for _ in range(_ID_TRIES):
        user = User(id=f"{ID_PREFIXES[role]}{secrets.token_hex(4)}", role=role, email=email, nickname=nickname,
                    password_hash=password_hash, saturation=saturation, groups=list(groups),
                    created_at=datetime.now(timezone.utc))
        try:
            user.save(force_insert=True)
            return user
        except NotUniqueError:  # the email, or (rarely) the id drawn: only the email is the caller's fault
            if get_user_by_email(email) is not None:
                raise Duplicate(f"a user with email {email} exists") from None
    raise RuntimeError(f"could not draw a free {role} id in {_ID_TRIES} tries")  # pragma: no cover


def change_password(user_id: str, token_version: int, password_hash: str) -> bool:
    """Set a new hash and bump the token version (ending every session), only if the version is still
    `token_version`: of two racing changes one wins, the other gets False."""
    done: int = User.objects(id=user_id, token_version=token_version).update_one(
        set__password_hash=password_hash, inc__token_version=1)
    return done == 1


def replace_password_hash(user_id: str, old_hash: str, new_hash: str) -> None:
    """Swap a hash for a stronger one of the same password, unless it changed meanwhile (sessions go on)."""
    User.objects(id=user_id, password_hash=old_hash).update_one(set__password_hash=new_hash)


def update_agent(agent_id: str, *, nickname: str | None = None, saturation: int | None = None) -> tuple[User, int]:
    """Apply the changes given (None: keep); the agent after the change and its saturation before it.

    Raises:
        NotFound: no agent `agent_id`.
    """
    before = get_agent(agent_id)
    if before is None:
        raise NotFound(f"no agent {agent_id}")
    changes = {name: value for name, value in (("nickname", nickname), ("saturation", saturation))
               if value is not None}
    if not changes:
        return before, int(before.saturation)
    User.objects(id=agent_id, role="agent").update_one(**{f"set__{k}": v for k, v in changes.items()})
    after = get_agent(agent_id)
    if after is None:  # removed meanwhile
        raise NotFound(f"no agent {agent_id}")
    return after, int(before.saturation)


def agent_name(agent_id: str) -> str:
    """The agent's nickname, else its id (also for an id the store does not know)."""
    user = User.objects(id=agent_id).only("nickname").first()
    return (user.nickname if user is not None else "") or agent_id


def agent_names(agent_ids: Iterable[str]) -> dict[str, str]:
    """:func:`agent_name` of each of `agent_ids`, in one query."""
    wanted = list(agent_ids)
    found = {u.id: u.nickname or u.id for u in User.objects(id__in=wanted).only("nickname")}
    return {a: found.get(a, a) for a in wanted}
