"""The Redis and the store a server runs on: the URLs it was given, or embedded servers it starts.

With no ``REDIS_URL`` an embedded Redis, with no ``MONGODB_URI`` an embedded MongoDB-wire store, both
under the data directory and held for the life of the caller's :class:`~contextlib.ExitStack`, which
stops them last (after the app has drained and flushed). The data directory's lock comes first, so a
second server on the same directory fails at once instead of replacing this one's servers. A watchdog
(:mod:`switchboard.store.watchdog`) restarts an embedded server that dies, at the same address; it is
entered last, so it stops first and never restarts a server that is being stopped.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from switchboard.settings import ServerSettings

if TYPE_CHECKING:
    from switchboard.store.watchdog import Watchdog

__all__ = ["Backends"]


class Backends:
    """The embedded servers this process started (and must stop), or the URLs it was given.

    Raises:
        EmbeddedServerError: an embedded server did not start; DataDirInUse, another process holds the data dir.
    """

    def __init__(self, settings: ServerSettings, stack: ExitStack) -> None:
        self.redis_url, self.mongodb_uri = settings.redis_url, settings.mongodb_uri
        self.watchdog: Watchdog | None = None  # restarts the embedded servers that die
        if not self.redis_url or not self.mongodb_uri:
            from switchboard.store.embedded import DataDirLock, EmbeddedMongo, EmbeddedRedis

            # Before anything else, and for this process's life: a second serve on this data dir fails
            # here (DataDirInUse) instead of replacing this one's servers as if left by a crash.
            stack.enter_context(DataDirLock(settings.data_dir))
            redis_server: EmbeddedRedis | None = None
            store_server: EmbeddedMongo | None = None
            if not self.redis_url:
                redis_server = stack.enter_context(EmbeddedRedis(settings.data_dir))
                self.redis_url = redis_server.start()
                print(f"  embedded Redis        {self.redis_url}", flush=True)
            if not self.mongodb_uri:
                store_server = stack.enter_context(EmbeddedMongo(settings.data_dir))
                self.mongodb_uri = store_server.start()
                print(f"  embedded MongoDB-wire {self.mongodb_uri}  (nx-27017, data in {settings.data_dir})", flush=True)
            from switchboard.store.watchdog import Watchdog, Watched

            watched: dict[str, Watched] = {}
            for name, server in (("Redis", redis_server), ("store", store_server)):
                if server is not None:
                    watched[name] = server
            self.watchdog = stack.enter_context(Watchdog(watched, delay_s=settings.part_restart_delay_s,
                                                         max_delay_s=settings.part_restart_max_delay_s))
