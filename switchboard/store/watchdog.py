"""The watchdog of the embedded servers: one that dies is started again, with back-off and one log line.

``switchboard serve`` starts an embedded Redis and store as child processes (:mod:`.embedded`). Nothing
else would notice one of them dying: the app's clients only see their commands fail. The watchdog is a
thread that looks at each child every ``interval_s``; a child that has exited is restarted at the same
address, so every client (redis-py's pool, pymongo's) reconnects by itself. A restart that fails is tried
again after ``delay_s``, doubled each time up to ``max_delay_s``.

The log gets one line when a server dies, one per failed restart (they are spaced by the back-off), and
one when it is back: never a traceback per retry. What the app does meanwhile (refuse, close sockets,
answer 503) is its own business: ``switchboard/edges/health.py`` pings the same servers.

Stop the watchdog before the servers it watches (``serve`` enters it last on its ExitStack), or it would
restart them as they stop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

__all__ = ["Watched", "Watchdog", "Restarts"]

log = logging.getLogger("switchboard.watchdog")


class Watched(Protocol):
    """What the watchdog needs of a server: :class:`~.embedded.EmbeddedRedis`, :class:`~.embedded.EmbeddedMongo`."""

    def exited(self) -> int | None: ...

    def restart(self) -> str: ...


@dataclass(slots=True)
class Restarts:
    """What happened to one server: how often it died and came back."""

    deaths: int = 0
    restarts: int = 0
    failed_restarts: int = 0
    down_since: float | None = None  # monotonic; None while it runs
    next_try: float = 0.0  # monotonic time of the next restart, while it is down
    delay: float = 0.0  # the back-off before that one


class Watchdog:
    """A daemon thread restarting the `servers` (name -> server) that die. A context manager."""

    def __init__(self, servers: dict[str, Watched], *, interval_s: float = 0.2, delay_s: float = 0.5,
                 max_delay_s: float = 30.0) -> None:
        self.servers = servers
        self.interval_s, self.delay_s, self.max_delay_s = interval_s, delay_s, max_delay_s
        self.history = {name: Restarts() for name in servers}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watchdog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="embedded-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for name, server in self.servers.items():
                self._look_after(name, server, self.history[name])

    def _look_after(self, name: str, server: Watched, record: Restarts) -> None:
        """One look at one server: notice a death, or try a restart that is due. Never waits, so a server
        that will not come back does not keep the watchdog from the others."""
        now = time.monotonic()
        if record.down_since is None:
            status = server.exited()
            if status is None:
                return
            record.deaths += 1
            record.down_since, record.delay = now, self.delay_s
            record.next_try = now + self.delay_s
            log.error("the embedded %s exited (status %s); restarting it in %.1f s", name, status, self.delay_s)
            return
        if now < record.next_try:
            return
        try:
            address = server.restart()
        except Exception as exc:  # EmbeddedServerError mostly: its message ends with the server's log
            record.failed_restarts += 1
            record.delay = min(record.delay * 2, self.max_delay_s)
            record.next_try = time.monotonic() + record.delay
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("the embedded %s did not restart (%s); next try in %.1f s", name, first_line, record.delay)
            return
        record.restarts += 1
        log.warning("the embedded %s is back at %s after %.1f s", name, address, time.monotonic() - record.down_since)
        record.down_since = None
