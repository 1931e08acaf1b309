"""A writer's report keeper in a process of its own, so that counting never holds the writer's interpreter.

The rule: the writer's process only decides what a batch overwrites (:class:`~switchboard.store.reports.Seen`,
:func:`~switchboard.store.reports.read_prepared`) and ships each stored batch down a pipe; a spawned child runs a
:class:`~switchboard.store.reports.ReportKeeper` on what arrives. Why: the keeper's Python (counting states, filing
words) in a thread of the writer's process takes the GIL from the loop that acknowledges messages, and every time
it holds it when a store reply arrives the writer waits (decision 024 has the figures).

A feeder thread does the pickling and the pipe's blocking writes, so :meth:`ReportProcess.submit` costs the
writer's loop one queue put. The child starts with the writer and exits when the writer closes it or its
process goes (the pipe ends). A child that dies loses the aggregates of its last seconds, never a record
(``switchboard reports rebuild`` restores them): the next batch starts a new child under a new writer id with a
fresh :class:`Seen` (it knows no conversation), and batches prepared for the dead one are dropped and logged.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from pymongo.client_session import ClientSession

from switchboard.store import connection
from switchboard.store.reports import Batch, Prepared, ReportKeeper, Seen, read_prepared

__all__ = ["ReportProcess"]

log = logging.getLogger(__name__)

_JOIN_S = 30.0  # how long close waits for the child to store its last shards before it is killed


@dataclass(slots=True)
class _Wait:
    """A flush or stop for the feeder: it answers by setting `done`."""

    kind: Literal["flush", "stop"]
    done: threading.Event


class ReportProcess:
    """:class:`~switchboard.store.reports.ReportKeeper`'s interface (prepare, submit, flush, close) with the
    counting in a child process; see the module docstring."""

    def __init__(self, uri: str | None = None, flush_s: float = 2.0, terms_flush_s: float = 5.0,
                 known_cap: int = 20_000, clock: Callable[[], float] = time.time) -> None:
        self._uri = uri
        self.flush_s = flush_s
        self.terms_flush_s = terms_flush_s
        self.known_cap = known_cap
        self._clock = clock
        self.writer_id = uuid.uuid4().hex[:12]
        self.seen = Seen(clock(), known_cap)
        self.generation = 0  # a new one with each child; batches prepared for an earlier one are dropped
        self.errors = 0  # as the child last reported them, plus batches lost with a child
        self.restarts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None  # our end of the pipe to the child
        self._replies: Connection | None = None  # our end of the pipe from it
        self._died = False  # the current child is gone (found by the feeder)
        self._lock = threading.Lock()  # the child, its pipes and the generation
        self._outbox: queue.SimpleQueue[tuple[int, Batch | _Wait]] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None
        self._token = 0

    # -- the writer's side

    def start(self) -> None:
        """Start the feeder, which starts the child (blocking for neither)."""
        if self._feeder is None:
            self._feeder = threading.Thread(target=self._feed, name=f"report-feeder-{self.writer_id}", daemon=True)
            self._feeder.start()

    def prepare(self, states: Mapping[str, Mapping[str, Any]], ratings: Mapping[str, Any],
                session: ClientSession | None = None) -> Prepared:
        """Read what the batch will overwrite and the child cannot know (blocking; the writer's thread). A dead
        child is replaced here, before anything is read for the batch."""
        if self._gone():
            self._replace()
        prepared = read_prepared(self.seen.misses(states), ratings, session)
        prepared.generation = self.generation
        return prepared

    def submit(self, states: Mapping[str, Mapping[str, Any]], ratings: Mapping[str, Mapping[str, Any]],
               messages: list[Mapping[str, Any]], presence: list[Mapping[str, Any]], prepared: Prepared) -> None:
        if prepared.generation != self.generation:
            self._lost(1)
            return
        self.seen.add(states)
        if states or ratings or messages or presence:
            self._outbox.put((self.generation, Batch(states, ratings, messages, presence, prepared)))

    def flush(self) -> None:
        """Wait until the child counted everything submitted so far and stored its shards (blocking)."""
        self._wait("flush")

    def close(self) -> None:
        """Flush, then stop the child and the feeder (blocking)."""
        if self._feeder is None:
            return
        self._wait("stop")
        self._feeder.join(timeout=_JOIN_S)
        self._feeder = None

    def alive(self) -> bool:
        """Whether the child runs (False before it started, after it died and after close)."""
        return self._child is not None and not self._gone()

    def pid(self) -> int | None:
        """The child's process id (None before the first batch)."""
        child = self._child
        return child.pid if child is not None else None

    # -- the feeder's thread

    def _wait(self, kind: Literal["flush", "stop"]) -> None:
        self.start()
        done = threading.Event()
        self._outbox.put((self.generation, _Wait(kind, done)))
        done.wait()

    def _feed(self) -> None:
        try:
            with self._lock:
                self._spawn()  # at once: its start-up (imports, connecting) is over before the traffic
        except Exception:
            log.exception("starting the report keeper process failed; trying again with the first batch")
        while True:
            generation, item = self._outbox.get()
            if isinstance(item, _Wait):
                self._answer(item)
                if item.kind == "stop":
                    return
                continue
            if generation != self.generation or self._died:
                self._lost(1)
                continue
            try:
                self._send(("batch", item))
            except (OSError, EOFError):
                self._died = True
                self._lost(1)

    def _send(self, message: tuple[str, object]) -> None:
        with self._lock:
            if self._child is None:
                self._spawn()
            assert self._requests is not None
            self._requests.send(message)

    def _answer(self, wait: _Wait) -> None:
        """Pass a flush or stop to the child, if there is one alive, and wait for its answer."""
        try:
            if self._child is not None and not self._died:
                self._token += 1
                self._send((wait.kind, self._token))
                self._receive(self._token)
        except (OSError, EOFError):
            self._died = True
        finally:
            if wait.kind == "stop":
                self._stop_child()
            wait.done.set()

    def _receive(self, token: int) -> None:
        assert self._replies is not None and self._child is not None
        while True:
            if self._replies.poll(0.2):
                answered, errors = self._replies.recv()
                self.errors = max(self.errors, errors)
                if answered == token:
                    return
            elif self._child.poll() is not None:
                raise EOFError("the report keeper process exited")

    # -- the child's life

    def _spawn(self) -> None:
        """Start the child (``python -m switchboard.store.report_process`` with two pipes: a fresh interpreter
        that imports only the store, never the parent's main module) and send it its settings."""
        uri = self._uri or connection.current_uri()
        if uri is None:
            raise RuntimeError("the report keeper process needs the store's URI (connect first)")
        requests_in, requests_out = os.pipe()
        replies_in, replies_out = os.pipe()
        try:
            child = subprocess.Popen([sys.executable, "-m", "switchboard.store.report_process", str(requests_in),
                                      str(replies_out)], pass_fds=(requests_in, replies_out), stdin=subprocess.DEVNULL)
        finally:
            os.close(requests_in)
            os.close(replies_out)
        self._child, self._died = child, False
        self._requests, self._replies = Connection(requests_out, readable=False), Connection(replies_in, writable=False)
        self._requests.send({"uri": uri, "writer_id": self.writer_id, "flush_s": self.flush_s,
                             "terms_flush_s": self.terms_flush_s, "known_cap": self.known_cap})
        log.info("report keeper process %s started (writer %s)", child.pid, self.writer_id)

    def _gone(self) -> bool:
        child = self._child
        return self._died or (child is not None and child.poll() is not None)

    def _replace(self) -> None:
        """A new writer id, generation and :class:`Seen` for the next child (the feeder spawns it)."""
        with self._lock:
            old, code = self.writer_id, self._child.poll() if self._child is not None else None
            self._close_pipes()
            self._child = None
            self.writer_id = uuid.uuid4().hex[:12]
            self.seen = Seen(self._clock(), self.known_cap)
            self.generation += 1
            self.restarts += 1
            self._died = False
        log.error("the report keeper process of writer %s exited (code %s): the aggregates of its last seconds are "
                  "lost (`switchboard reports rebuild` restores them); writer %s takes over", old, code,
                  self.writer_id)

    def _lost(self, batches: int) -> None:
        self.errors += batches
        log.warning("the report aggregates of %d stored batch(es) are lost with their keeper process "
                    "(`switchboard reports rebuild` restores them)", batches)

    def _stop_child(self) -> None:
        with self._lock:
            child = self._child
            self._close_pipes()  # a child still reading sees the pipe's end and stops
            if child is not None:
                try:
                    child.wait(timeout=_JOIN_S)
                except subprocess.TimeoutExpired:
                    log.error("the report keeper process %s did not stop in %.0f s: killed", child.pid, _JOIN_S)
                    child.kill()
                    child.wait()

    def _close_pipes(self) -> None:
        for end in (self._requests, self._replies):
            if end is not None:
                end.close()
        self._requests = self._replies = None


def _child_main(requests: Connection, replies: Connection) -> None:
    """The child: a keeper fed from the pipe until ``stop`` or the pipe's end (the writer's process is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole group: the writer stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = requests.recv()
    except (EOFError, OSError):
        return
    connection.connect(config["uri"], timeout_s=30)
    keeper = ReportKeeper(flush_s=config["flush_s"], terms_flush_s=config["terms_flush_s"],
                          known_cap=config["known_cap"], writer_id=config["writer_id"])
    keeper.start()
    while True:
        try:
            kind, payload = requests.recv()
        except (EOFError, OSError):
            keeper.close()
            return
        if kind == "batch":
            keeper.enqueue(payload)
        elif kind == "flush":
            keeper.flush()
            replies.send((payload, keeper.errors))
        else:
            keeper.close()
            replies.send((payload, keeper.errors))
            return


if __name__ == "__main__":
    _child_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
