"""Tuning: the knowledge base's head (:mod:`.head`) trained as a background job, with progress, out of
answering's way.

Every change of the base makes its head out of date (:attr:`~.kb.KnowledgeBase.fingerprint`); until a new one
is trained the bot ranks by cosine, as a base without a head does, so answering never waits for tuning. The
:class:`Tuner` thread of the process that runs the bot notices a stale head (its own changes and those made
elsewhere, checked every :data:`CHECK_S`), reads the phrasings' vectors from the index (nothing is embedded
again), fits the head on one BLAS thread (so questions keep the other core) and stores it with the
fingerprint it was trained on; a head finished after yet another change is thrown away and training starts
again. Other processes with the base (the REST edge) load the stored head by themselves.

Progress goes to ``tuning.json`` beside the index (:func:`read_status`): the admin pages and ``kb list`` show it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

import orjson

from switchboard.llm.head import Head, train_head
from switchboard.llm.kb import KnowledgeBase

__all__ = ["Tuner", "TuningStatus", "read_status", "tune", "CHECK_S", "STATUS_FILE"]

log = logging.getLogger("switchboard.tuning")

CHECK_S = 1.0  # how often the tuner looks for a stale head
STATUS_FILE = "tuning.json"


class TuningStatus(TypedDict, total=False):
    state: str  # idle (nothing to tune: fewer than two entries, or too many) | running | done | failed
    stage: str  # reading | fitting | storing
    done: int  # of `total` steps (reading the phrasings' vectors, then fitting, then storing)
    total: int
    entries: int
    phrasings: int
    fingerprint: str  # the index the head was (being) trained on
    started_at: str  # ISO 8601
    finished_at: str
    seconds: float
    error: str


def read_status(directory: Path) -> TuningStatus:
    """The last tuning job's status in the base at `directory` (``{"state": "idle"}`` before any)."""
    try:
        raw = orjson.loads((directory / STATUS_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {"state": "idle"}
    if not isinstance(raw, dict):
        return {"state": "idle"}
    status: TuningStatus = raw  # type: ignore[assignment]  # written by _write_status only
    return status


def _write_status(directory: Path, status: TuningStatus) -> None:
    tmp = directory / (STATUS_FILE + ".tmp")
    tmp.write_bytes(orjson.dumps(status))
    os.replace(tmp, directory / STATUS_FILE)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def tune(kb: KnowledgeBase, progress: Callable[[int, int, str], None] | None = None) -> Head | None:
    """Train and store the head of `kb` as it is now, reporting progress; None when it has no head to train (too
    few or too many entries) or changed while training (the next run trains again)."""
    training = kb.head_training_set()
    if training is None:
        _write_status(kb.dir, {"state": "idle", "entries": len(kb), "finished_at": _now()})
        return None
    features, labels, fingerprint = training
    started, started_at = time.perf_counter(), _now()
    status: TuningStatus = {"state": "running", "stage": "fitting", "done": 1, "total": 3, "entries": len(set(labels)),
                            "phrasings": len(labels), "fingerprint": fingerprint, "started_at": started_at}

    def step(done: int, stage: str) -> None:
        status["done"], status["stage"] = done, stage
        _write_status(kb.dir, status)
        if progress is not None:
            progress(done, 3, stage)

    step(1, "fitting")
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # questions keep the other core
            head = train_head(features, labels, fingerprint)
        step(2, "storing")
        stored = kb.use_head(head)
    except Exception as exc:  # a failed fit leaves the bot ranking by cosine, as before; the admin sees why
        log.exception("tuning the knowledge base's head failed")
        _write_status(kb.dir, {**status, "state": "failed", "error": f"{type(exc).__name__}: {exc}",
                               "finished_at": _now(), "seconds": round(time.perf_counter() - started, 2)})
        raise
    if not stored:
        log.info("the knowledge base changed while its head was trained: training again")
        return None
    _write_status(kb.dir, {**status, "state": "done", "stage": "done", "done": 3, "finished_at": _now(),
                           "seconds": round(time.perf_counter() - started, 2)})
    if progress is not None:
        progress(3, 3, "done")
    log.info("tuned the knowledge base's head: %d entries, %d phrasings in %.1f s", status["entries"],
             status["phrasings"], head.seconds)
    return head


class Tuner:
    """A daemon thread keeping one base's head up to date; :meth:`stop` ends it."""

    def __init__(self, kb: KnowledgeBase, check_s: float = CHECK_S) -> None:
        self.kb, self.check_s = kb, check_s
        self._stop = threading.Event()
        self._settled: str | None = None  # a fingerprint with nothing to train, or whose training failed: left
        # alone until the base changes
        self._thread = threading.Thread(target=self._run, name="kb-tuner", daemon=True)

    def start(self) -> Tuner:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.kb.refresh(self.check_s)
                fingerprint = self.kb.fingerprint
                if not self.kb.head_current and self._settled != fingerprint:
                    try:
                        if tune(self.kb) is None and read_status(self.kb.dir).get("state") == "idle":
                            self._settled = fingerprint
                    except Exception:
                        self._settled = fingerprint
            except Exception:  # the store or the disk failed for a moment: look again later
                log.exception("the tuner could not check the knowledge base")
            self._stop.wait(self.check_s)
