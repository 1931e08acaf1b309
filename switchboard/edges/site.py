"""The site settings as an edge reads them on every socket and page: cached, and fresh within a moment.

The origin check runs on every websocket handshake and the widget page's policy on every load, so neither may
wait on the store each time. :class:`SiteCache` keeps the stored :class:`~switchboard.store.documents.Site`
for at most ``ttl_s`` (another process's change is seen within that), and a write through this process
(:meth:`SiteCache.invalidate`) is seen at once. The allowed origins are the settings file's and the stored
ones together: the file's stay for those who manage them as configuration, the stored ones are the admin
page's, changed without a restart. If the store cannot be read, the last copy stays in use.

The widget's groups (:meth:`SiteCache.widget_groups`, issue 20) are the stored ``widget_groups`` less those
whose group has been deleted since, read with the site in one go; :meth:`SiteCache.reachable` says which
group a visitor may name in ``request_human`` (docs/site.md, "Groups in the widget").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.store.documents import Site
from switchboard.store.groups import missing_groups
from switchboard.store.site import get_site

__all__ = ["SiteCache", "WidgetGroup"]


@dataclass(frozen=True, slots=True)
class WidgetGroup:
    """A group the widget offers (or, `hidden`, only lets a page's ``data-group`` name)."""

    id: str
    label: str
    hidden: bool = False


def _read() -> tuple[Site, tuple[WidgetGroup, ...]]:
    site = get_site()
    listed = [WidgetGroup(str(g.get("id", "")), str(g.get("label", "")), bool(g.get("hidden", False)))
              for g in site.widget_groups or () if isinstance(g, dict)]
    gone = set(missing_groups([g.id for g in listed])) if listed else set()
    return site, tuple(g for g in listed if g.id not in gone)

log = logging.getLogger("switchboard.site")


class SiteCache:
    def __init__(self, file_origins: tuple[str, ...] = (), ttl_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.file_origins = file_origins
        self.ttl_s = ttl_s
        self._clock = clock
        self._site: Site | None = None
        self._groups: tuple[WidgetGroup, ...] = ()
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
                    site, self._groups = await asyncio.to_thread(_read)
                    self._site = site
                    self._read_at = self._clock()
                except Exception as exc:  # the store is down: the last copy (or the defaults) serve meanwhile
                    log.warning("could not read the site settings (%s); using the last ones", type(exc).__name__)
                    if self._site is None:
                        return Site()
        return self._site if self._site is not None else Site()

    async def origins(self) -> tuple[str, ...]:
        """Every origin the widget may run on: the settings file's, then the stored ones."""
        site = await self.site()
        return tuple(dict.fromkeys((*self.file_origins, *(site.allowed_origins or ()))))

    async def widget_groups(self) -> tuple[WidgetGroup, ...]:
        """The groups of the widget, in the admin's order, those deleted since left out (hidden ones too)."""
        await self.site()
        return self._groups

    async def reachable(self, group: str, default_group: str) -> bool:
        """Whether a visitor may ask for `group`: any group while the site lists none, else a listed one
        (shown or hidden) or the default group."""
        groups = await self.widget_groups()
        site = await self.site()
        if not site.widget_groups:
            return True
        return group == default_group or any(g.id == group for g in groups)
