"""Display names for message frames: agents by nickname, everyone else by role.

Agents' nicknames change rarely and are read on every message, so they are
cached in memory; a miss asks the store once, in a thread. A rename (REST
PATCH) is made on whichever edge took the request, but the relay that names
messages and ``assigned`` frames may run in another process (``serve --edges
N``), and every edge names agents in its welcome snapshots. So no cached name
is older than ``ttl_s`` (1 s): the names shown since the last read are read
again in one query when the next one is asked for after that, and the others
are dropped (a later use reads that one). An expiry reaches every process
with nothing to lose on the way (pub/sub is at most once) and no Redis handle
to share; it costs one store read per process per second while agents are
shown. The process that made the rename updates its own cache at once
(:meth:`Names.set_agent`).
"""

from __future__ import annotations

import asyncio
import logging
import time

__all__ = ["Names", "TTL_S"]

log = logging.getLogger("switchboard.names")

_ROLE_NAMES = {"visitor": "Visitor", "bot": "Bot", "system": "System"}
TTL_S = 1.0


class Names:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._agents: dict[str, str] = {}
        self._used: set[str] = set()  # shown since the last read
        self._read_at = time.monotonic()

    def set_agent(self, agent_id: str, nickname: str) -> None:
        self._agents[agent_id] = nickname or agent_id
        self._used.add(agent_id)

    async def display(self, role: str, author: str) -> str:
        if role != "agent":
            return _ROLE_NAMES.get(role, role)
        if time.monotonic() - self._read_at >= self.ttl_s:
            await self._read_again()
        name = self._agents.get(author)
        if name is None:
            name = self._agents[author] = await asyncio.to_thread(_lookup, author)
        self._used.add(author)
        return name

    async def _read_again(self) -> None:
        self._read_at = time.monotonic()  # first: a concurrent caller meanwhile uses the names as they are
        used, self._used = self._used, set()
        for agent_id in [a for a in self._agents if a not in used]:
            del self._agents[agent_id]
        ids = [a for a in used if a in self._agents]
        if not ids:
            return
        try:
            fresh = await asyncio.to_thread(_lookup_many, ids)
        except Exception:  # the store is unreachable: the names known stay, read again next time
            log.warning("could not read agents' names again; showing the ones known", exc_info=True)
            self._used |= set(ids)
            return
        self._agents.update(fresh)


def _lookup(agent_id: str) -> str:
    from switchboard.store.users import agent_name

    return agent_name(agent_id)


def _lookup_many(agent_ids: list[str]) -> dict[str, str]:
    from switchboard.store.users import agent_names

    return agent_names(agent_ids)
