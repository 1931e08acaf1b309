"""The site settings as an edge reads them on every socket and page: cached, and fresh within a moment.

The origin check runs on every websocket handshake and the widget page's policy on every load, so neither may
wait on the store each time. :class:`SiteCache` keeps the stored :class:`~switchboard.store.documents.Site`
for at most ``ttl_s`` (another process's change is seen within that), and a write through this process
(:meth:`SiteCache.invalidate`) is seen at once. The allowed origins are the settings file's and the stored
ones together: the file's stay for those who manage them as configuration, the stored ones are the admin
page's, changed without a restart. If the store cannot be read, the last copy stays in use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from switchboard.store.documents import Site
from switchboard.store.site import get_site

__all__ = ["SiteCache"]

log = logging.getLogger("switchboard.site")


class SiteCache:
    def __init__(self, file_origins: tuple[str, ...] = (), ttl_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.file_origins = file_origins
        self.ttl_s = ttl_s
        self._clock = clock
        self._site: Site | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the copy: the next read goes to the store (after a write through this process)."""
        self._read_at = float("-inf")

    async def site(self) -> Site:
        """The site settings, read from the store when the copy is older than ``ttl_s``."""
        if self._site is not None and self._clock() - self._read_at < self.ttl_s:
            return self._site
        async with self._lock:
            if self._site is None or self._clock() - self._read_at >= self.ttl_s:
                try:
                    self._site = await asyncio.to_thread(get_site)
                    self._read_at = self._clock()
                except Exception as exc:  # the store is down: the last copy (or the defaults) serve meanwhile
                    log.warning("could not read the site settings (%s); using the last ones", type(exc).__name__)
                    if self._site is None:
                        return Site()
        return self._site

    async def origins(self) -> tuple[str, ...]:
        """Every origin the widget may run on: the settings file's, then the stored ones."""
        site = await self.site()
        return tuple(dict.fromkeys((*self.file_origins, *(site.allowed_origins or ()))))
