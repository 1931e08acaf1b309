"""The Redis and the store a server runs on: the URLs it was given, or embedded servers it starts.

With no ``REDIS_URL`` an embedded Redis, with no ``MONGODB_URI`` an embedded MongoDB-wire store, both
under the data directory and held for the life of the caller's :class:`~contextlib.ExitStack`, which
stops them last (after the app has drained and flushed). The data directory's lock comes first, so a
second server on the same directory fails at once instead of replacing this one's servers.
"""

from __future__ import annotations

from contextlib import ExitStack

from switchboard.settings import ServerSettings

__all__ = ["Backends"]


class Backends:
    """The embedded servers this process started (and must stop), or the URLs it was given.

    Raises:
        EmbeddedServerError: an embedded server did not start; DataDirInUse, another process holds the data dir.
    """

    def __init__(self, settings: ServerSettings, stack: ExitStack) -> None:
        self.redis_url, self.mongodb_uri = settings.redis_url, settings.mongodb_uri
        if not self.redis_url or not self.mongodb_uri:
            from switchboard.store.embedded import DataDirLock, EmbeddedMongo, EmbeddedRedis

            # Before anything else, and for this process's life: a second serve on this data dir fails
            # here (DataDirInUse) instead of replacing this one's servers as if left by a crash.
            stack.enter_context(DataDirLock(settings.data_dir))
            if not self.redis_url:
                server = stack.enter_context(EmbeddedRedis(settings.data_dir))
                self.redis_url = server.start()
                print(f"  embedded Redis        {self.redis_url}", flush=True)
            if not self.mongodb_uri:
                store = stack.enter_context(EmbeddedMongo(settings.data_dir))
                self.mongodb_uri = store.start()
                print(f"  embedded MongoDB-wire {self.mongodb_uri}  (nx-27017, data in {settings.data_dir})", flush=True)
