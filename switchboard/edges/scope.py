"""Who may do what: a user's roles and the skill groups a supervisor is scoped to, asked the same way by
REST (:mod:`switchboard.edges.rest.toolkit`) and the agent socket (:mod:`switchboard.edges.ws.agent`).

Three roles, and a user may hold several (docs/accounts.md, "Roles"):

- **admin**: everything, every group;
- **supervisor**: the agents, queues and conversations of the groups in ``supervises`` only: may see them,
  transfer and close their conversations, and invite agents into those groups; nothing of other groups and
  no installation settings;
- **agent**: takes chats; acts on the conversations it serves and the queues of its own groups.

The rule is in one place so a route cannot forget half of it: a handler asks :meth:`Scope.manages` for a
group, :meth:`Scope.manages_any` for an agent's groups, and :meth:`Scope.visible_groups` for what to list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from switchboard.store.documents import User
from switchboard.store.users import Role, get_user, roles_of

__all__ = ["Scope", "scope_now"]


@dataclass(frozen=True, slots=True)
class Scope:
    user_id: str
    roles: frozenset[Role]
    supervises: frozenset[str]

    @classmethod
    def of(cls, user: User) -> Scope:
        return cls(str(user.id), frozenset(roles_of(user)), frozenset(user.supervises or ()))

    @classmethod
    def none(cls, user_id: str) -> Scope:
        """No role at all: what an unknown, deleted or deactivated user may do."""
        return cls(user_id, frozenset(), frozenset())

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_supervisor(self) -> bool:
        return "supervisor" in self.roles

    @property
    def is_agent(self) -> bool:
        return "agent" in self.roles

    @property
    def steers(self) -> bool:
        """An admin, or a supervisor of at least one group: may see and steer others' work somewhere."""
        return self.is_admin or (self.is_supervisor and bool(self.supervises))

    def manages(self, group: str | None) -> bool:
        """May see and steer `group` (its queue, its conversations, its agents): an admin, or its supervisor."""
        if self.is_admin:
            return True
        return self.is_supervisor and group is not None and group in self.supervises

    def manages_any(self, groups: Iterable[str]) -> bool:
        """May see an agent in `groups` (an admin sees every agent, also one in no group)."""
        return self.is_admin or any(self.manages(g) for g in groups)

    def manages_all(self, groups: Iterable[str]) -> bool:
        """May put someone in every one of `groups` (an admin: any; a supervisor: only its own)."""
        return self.is_admin or all(self.manages(g) for g in groups)

    def visible_groups(self, every: Iterable[str]) -> list[str]:
        """Which of `every` group this user sees as a steerer (admin: all; supervisor: its own)."""
        return [g for g in every if self.manages(g)]


def scope_now(user_id: str) -> Scope:
    """The user's scope as the store has it now (blocking: call it in a thread); an unknown, deleted or
    deactivated user's is :meth:`Scope.none`."""
    user = get_user(user_id)
    if user is None or not user.active or user.deleted_at is not None:
        return Scope.none(user_id)
    return Scope.of(user)
