"""Users (admins, supervisors, agents): every read and write of the ``users`` collection outside recovery.

Plain and synchronous (mongoengine blocks: async callers run these in a thread). Emails are stored
trimmed and lower-cased, and a lookup by email normalises the same way. Ids are drawn here, by the first
role a user is created with, in the order agent, admin, supervisor (``a-<8 hex>`` for anyone who takes
chats, the form docs/protocol.md promises; ``adm-<8 hex>``, ``s-<8 hex>``); a role added later does not
change the id, so any user id (:data:`USER_ID`) may name an agent. A refusal is a
:mod:`~switchboard.store.errors` fact, never an answer in the caller's terms. Only mongoengine queries that
MongoDB and nx-27017 both run are used (nx-27017 matches ``roles="agent"`` and ``$in`` on a list as MongoDB
does, but not ``$ne`` on one, and not at all once the list field has an index: never negate a list field
here, and never index one).
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
from switchboard.store.updates import set_fields

__all__ = ["Role", "AgentSummary", "ID_PREFIXES", "AGENT_ID", "get_user", "get_user_by_email", "get_agent", "list_agents",
           "agent_summaries", "insert_user", "change_password", "replace_password_hash", "update_agent",
           "agent_name", "agent_names", "USER_ID", "roles_of", "migrate_roles", "admin_exists", "active_admins",
           "DEFAULT_AGENT_NAME", "list_users", "update_user", "set_active", "delete_user", "set_email",
           "set_avatar_url", "user_status", "deleted_email"]

Role = Literal["admin", "supervisor", "agent"]
ID_PREFIXES: dict[Role, str] = {"agent": "a-", "admin": "adm-", "supervisor": "s-"}  # by precedence
USER_ID = re.compile(r"^(a|adm|s)-[0-9a-f]{8}$")  # the ids insert_user draws
AGENT_ID = USER_ID  # an agent is any user holding the agent role (an admin who takes chats keeps adm-)
_ID_TRIES = 5
DEFAULT_AGENT_NAME = "Agent"  # what others see of an agent who chose no nickname
_USER_FIELDS = ("nickname", "phone", "saturation", "roles", "supervises", "groups")


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


def roles_of(user: User) -> tuple[Role, ...]:
    """The user's roles (a store written before roles were a list: its one ``role``)."""
    roles = tuple(user.roles or ([user.role] if user.role else []))
    return roles  # the document's choices keep them Role values


def get_agent(agent_id: str) -> User | None:
    """The user `agent_id` if it holds the agent role and is not deleted."""
    user: User | None = User.objects(id=agent_id, roles="agent", deleted_at=None).first()
    return user


def list_agents() -> list[User]:
    """Every user holding the agent role (deleted ones left out), by email."""
    return sorted((u for u in User.objects(roles="agent") if u.deleted_at is None), key=lambda user: str(user.email))


def agent_summaries() -> list[AgentSummary]:
    """Every agent's id, nickname and groups (nothing else is read), by nickname (the id where it has none)."""
    rows = [AgentSummary(str(u.id), u.nickname or "", tuple(u.groups))
            for u in User.objects(roles="agent").only("id", "nickname", "groups", "deleted_at")
            if u.deleted_at is None]
    return sorted(rows, key=lambda a: ((a.nickname or a.id).lower(), a.id))


def insert_user(roles: Role | Iterable[Role], email: str, password_hash: str, *, nickname: str = "",
                saturation: int, groups: Iterable[str] = (), supervises: Iterable[str] = (),
                must_change_password: bool = False) -> User:
    """Store a new user under a fresh id for its first role (drawn again should the id be taken).
    `password_hash` may be "" (invited: the password is set through the emailed link).

    Raises:
        Duplicate: a user with this email exists.
    """
    email = email.strip().lower()
    held: list[Role] = [roles] if isinstance(roles, str) else list(dict.fromkeys(roles))
    if not held:
        raise ValueError("a user needs at least one role")
    prefix = next(ID_PREFIXES[r] for r in ID_PREFIXES if r in held)
    for _ in range(_ID_TRIES):
        user = User(id=f"{prefix}{secrets.token_hex(4)}", roles=held, email=email, nickname=nickname,
                    password_hash=password_hash, saturation=saturation, groups=list(groups),
                    supervises=list(supervises), must_change_password=must_change_password,
                    created_at=datetime.now(timezone.utc))
        try:
            user.save(force_insert=True)
            return user
        except NotUniqueError:  # the email, or (rarely) the id drawn: only the email is the caller's fault
            if get_user_by_email(email) is not None:
                raise Duplicate(f"a user with email {email} exists") from None
    raise RuntimeError(f"could not draw a free {held[0]} id in {_ID_TRIES} tries")  # pragma: no cover


def change_password(user_id: str, token_version: int, password_hash: str) -> bool:
    """Set a new hash and bump the token version (ending every session), only if the version is still
    `token_version`: of two racing changes one wins, the other gets False. A password chosen by its owner
    (here) is no longer one to change (``must_change_password`` is cleared)."""
    done: int = User.objects(id=user_id, token_version=token_version, deleted_at=None).update_one(
        set__password_hash=password_hash, set__must_change_password=False, inc__token_version=1)
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
    User.objects(id=agent_id, roles="agent").update_one(**{f"set__{k}": v for k, v in changes.items()})
    after = get_agent(agent_id)
    if after is None:  # removed meanwhile
        raise NotFound(f"no agent {agent_id}")
    return after, int(before.saturation)


def agent_name(agent_id: str) -> str:
    """The agent's nickname (kept after a deletion, so history still names them), :data:`DEFAULT_AGENT_NAME`
    when they chose none, their id when the store does not know them."""
    user = User.objects(id=agent_id).only("nickname").first()
    return agent_id if user is None else user.nickname or DEFAULT_AGENT_NAME


def agent_names(agent_ids: Iterable[str]) -> dict[str, str]:
    """:func:`agent_name` of each of `agent_ids`, in one query."""
    wanted = list(agent_ids)
    found = {u.id: u.nickname or DEFAULT_AGENT_NAME for u in User.objects(id__in=wanted).only("nickname")}
    return {a: found.get(a, a) for a in wanted}


def migrate_roles() -> int:
    """Give every user stored with one ``role`` (before roles were a list) that role as its ``roles``; how many."""
    users = User._get_collection()
    moved = 0
    for doc in list(users.find({"roles": {"$exists": False}}, {"role": 1})):
        if doc.get("role"):
            moved += users.update_one({"_id": doc["_id"]}, {"$set": {"roles": [doc["role"]]}}).modified_count
    return moved


def active_admins() -> list[str]:
    """The ids of every admin who may log in (active, not deleted)."""
    return [str(u.id) for u in User.objects(roles="admin").only("id", "active", "deleted_at")
            if u.active and u.deleted_at is None]


def admin_exists() -> bool:
    """Whether first-run setup is over: some admin is stored (deactivated or not, but not deleted)."""
    return any(u.deleted_at is None for u in User.objects(roles="admin").only("id", "deleted_at"))


# --- accounts (issue 18: docs/accounts.md) ------------------------------------------------------------


def user_status(user: User) -> str:
    """``deleted``, ``deactivated``, ``invited`` (no password yet) or ``active``."""
    if user.deleted_at is not None:
        return "deleted"
    if not user.active:
        return "deactivated"
    return "invited" if not user.password_hash else "active"


def list_users() -> list[User]:
    """Every user not deleted, by email."""
    return sorted((u for u in User.objects() if u.deleted_at is None), key=lambda user: str(user.email))


def _live(user_id: str) -> User:
    user: User | None = User.objects(id=user_id, deleted_at=None).first()
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def update_user(user_id: str, **changes: object) -> tuple[User, User]:
    """Set the fields given (nickname, phone, saturation, roles, supervises, groups); the user before and after.

    Raises:
        NotFound: no user `user_id` (or a deleted one).
    """
    unknown = sorted(set(changes) - set(_USER_FIELDS))
    if unknown:
        raise ValueError(f"not user fields: {', '.join(unknown)}")
    before = _live(user_id)
    if changes:
        values = {name: list(v) if isinstance(v, (list, tuple)) else v for name, v in changes.items()}
        User.objects(id=user_id, deleted_at=None).update_one(**{f"set__{k}": v for k, v in values.items()})
    return before, _live(user_id)


def set_active(user_id: str, active: bool) -> User:
    """Deactivate (the token version is bumped: every session ends) or reactivate; the user after.

    Raises:
        NotFound: no user `user_id` (or a deleted one).
    """
    _live(user_id)
    if active:
        User.objects(id=user_id, deleted_at=None).update_one(set__active=True)
    else:
        User.objects(id=user_id, deleted_at=None).update_one(set__active=False, inc__token_version=1)
    return _live(user_id)


def deleted_email(user_id: str) -> str:
    """What a deleted user's email becomes: the address is free again, and no mail can reach it."""
    return f"deleted-{user_id}@invalid"


def delete_user(user_id: str) -> User:
    """Delete a user but keep the document, so history still shows their nickname: ``deleted_at`` set, the email
    freed (:func:`deleted_email`), no password, no groups or supervision, no avatar, inactive, sessions ended
    (token version bumped). The user as it was before.

    Raises:
        NotFound: no user `user_id` (or a deleted one).
    """
    before = _live(user_id)
    User._get_collection().update_one(  # set_fields: the date stays a date on nx-27017
        {"_id": user_id, "deleted_at": None},
        set_fields({"deleted_at": datetime.now(timezone.utc), "email": deleted_email(user_id), "password_hash": "",
                    "groups": [], "supervises": [], "active": False, "avatar_url": "", "phone": "",
                    "must_change_password": False}, inc={"token_version": 1}))
    return before


def set_email(user_id: str, email: str) -> User:
    """Move the user to `email` (trimmed, lower-cased); the user after.

    Raises:
        Duplicate: another user has this email.
        NotFound: no user `user_id` (or a deleted one).
    """
    email = email.strip().lower()
    _live(user_id)
    try:
        User.objects(id=user_id, deleted_at=None).update_one(set__email=email)
    except NotUniqueError:
        raise Duplicate(f"a user with email {email} exists") from None
    after = _live(user_id)
    if after.email != email:  # a store that does not enforce the unique index by exception
        raise Duplicate(f"a user with email {email} exists")
    return after


def set_avatar_url(user_id: str, url: str) -> User:
    """Point the user's avatar at `url` ("" for none); the user after."""
    _live(user_id)
    User.objects(id=user_id, deleted_at=None).update_one(set__avatar_url=url)
    return _live(user_id)
