"""Display names for message frames: agents by nickname, everyone else by role.

Agents' nicknames change rarely and are read on every message, so they are
cached in memory; a miss asks the store once, in a thread.
"""

from __future__ import annotations

import asyncio

__all__ = ["Names"]

_ROLE_NAMES = {"visitor": "Visitor", "bot": "Bot", "system": "System"}


class Names:
    def __init__(self) -> None:
        self._agents: dict[str, str] = {}

    def set_agent(self, agent_id: str, nickname: str) -> None:
        self._agents[agent_id] = nickname or agent_id

    async def display(self, role: str, author: str) -> str:
        if role != "agent":
            return _ROLE_NAMES.get(role, role)
        name = self._agents.get(author)
        if name is None:
            name = await asyncio.to_thread(_lookup, author)
            self._agents[author] = name
        return name


def _lookup(agent_id: str) -> str:
    from ..store.documents import User

    user = User.objects(id=agent_id).only("nickname").first()
    return (user.nickname if user is not None else "") or agent_id
