"""The knowledge base: sources in the store, their vectors in a Faiss index on disk.

Layout of ``kb_dir``: ``index.faiss`` (the vectors, Faiss's own format),
``idmap.json`` (vector id -> entry id), ``meta.json`` (the embedder's signature,
the index kind, the next vector id, the calibrated thresholds and the off-topic
examples they were chosen with, a version that every change bumps) and ``.lock``. Entries themselves (chunks and FAQ
entries) live in the store (:mod:`switchboard.store.kb` holds their queries) and are held in memory for answering, so a
question never reads the store.

Changes are per document: ingesting a file adds its entries' vectors, and
re-ingesting or deleting it removes exactly its own vector ids first; the index
is never rebuilt from scratch for that. Writers take an exclusive ``flock`` on
``.lock`` (the CLI and an admin upload may run beside a live server); a reader
notices a newer ``meta.json`` version and reloads (:meth:`KnowledgeBase.refresh`).

Store writes come first, then the index and mapping files (each replaced
atomically), then ``meta.json``: after a crash in between, :meth:`load` re-adds
entries the index lacks and forgets vectors whose entries are gone.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt
import orjson

from switchboard.store import kb as store
from switchboard.llm.embedders import Embedder
from switchboard.llm.head import MAX_ENTRIES, Head, load_head, save_head
from switchboard.llm.index import VectorIndex
from switchboard.llm.sources import Source, faq_phrasings, read_source

__all__ = ["KnowledgeBase", "KbError", "Match", "Thresholds", "HEAD_SHARE", "DEFAULT_CONFIDENT", "IngestReport", "Progress", "OFF_TOPIC_WEIGHT",
           "off_topic_penalty", "DocumentInfo", "ThresholdsJson", "stored_embedder", "stored_meta"]

log = logging.getLogger("switchboard.kb")

Progress = Callable[[int, int, str], None]  # (done, total, what): ingestion reports as it goes
_EMBED_BATCH = 256
_DEPTH = 64  # phrasings retrieved per query at least, before they are grouped by entry
# How far a question's likeness to a calibration's off-topic example lowers its topic score. Chosen on the
# calibration split of tests/data/bot (decision 006): cross-validated decline recall 0.81 -> 0.84 (hashing) and
# 0.79 -> 0.83 (semantic) at no loss of precision; anywhere in 0.1-0.3 did as well for hashing.
OFF_TOPIC_WEIGHT = 0.25


class KbError(Exception):
    """The knowledge base cannot do what was asked; the message is meant for an operator."""


class ThresholdsJson(TypedDict, total=False):
    answer: float
    suggest: float
    calibrated: bool
    confident: float


class DocumentInfo(TypedDict):
    """A document as ``kb list`` and the REST listing show it."""

    name: str
    kind: str
    entries: int
    size: int
    sha256: str
    added_at: str | None  # ISO 8601
    group: str  # the skill group the bot hands off to after matching it ("": the default group)
    demo: bool  # shipped demo content (config/kb), not the admin's own


DEFAULT_CONFIDENT = 0.65  # Match.rank for a direct answer, uncalibrated (calibrated: BANKING77 0.69, own set 0.58)
HEAD_SHARE = 0.35  # of Match.rank, from the head's probability; the rest is the cosine score (decision 029)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """At or above `suggest` (a topic score) the bot engages rather than declines; it then answers outright when
    the first match's :attr:`Match.rank` is at least `confident` (with a head) or its score at least `answer`
    (without one); otherwise it offers "did you mean"."""

    answer: float
    suggest: float
    calibrated: bool = False  # False: defaults for the embedder, not measured on this base
    confident: float = DEFAULT_CONFIDENT

    def as_dict(self) -> ThresholdsJson:
        return {"answer": self.answer, "suggest": self.suggest, "calibrated": self.calibrated,
                "confident": self.confident}


# Uncalibrated defaults per embedder, measured on tests/data/bot (see docs/bot.md); calibrate your own base.
DEFAULT_THRESHOLDS = {"hashing": Thresholds(0.64, 0.38), "semantic": Thresholds(0.65, 0.45)}


@dataclass(frozen=True, slots=True)
class KnownEntry:
    id: str
    document: str
    kind: str
    title: str
    text: str
    alternatives: tuple[str, ...] = ()
    demo: bool = False  # from a demo document: never beats the admin's own (see policy.decide)


@dataclass(frozen=True, slots=True)
class Match:
    """An entry found for a question. `score` ranks the entries; `topic` (the same comparison with the
    question's rare words counting more, see :meth:`Embedder.embed_topical`) decides whether the bot engages,
    less `penalty` when the question resembles an off-topic example the base was calibrated with."""

    entry: KnownEntry
    score: float
    topic: float | None = None  # None: the embedder has no topical vectors, and `score` stands in
    penalty: float = 0.0  # see off_topic_penalty; the same for every match of one question
    confidence: float | None = None  # the head's probability that this entry is meant (None: no head yet)

    @property
    def rank(self) -> float:
        """What orders the matches and, with a head, decides a direct answer: :data:`HEAD_SHARE` x the head's
        probability + the rest x the cosine score; the cosine score alone without a head. The blend beat either
        signal alone on both BANKING77's and the own set's calibration questions (decision 029): the head tells
        entries apart, the cosine keeps an off-topic question the head is wrongly sure of from being answered."""
        return self.score if self.confidence is None else HEAD_SHARE * self.confidence + (1 - HEAD_SHARE) * self.score

    @property
    def topic_score(self) -> float:
        return (self.score if self.topic is None else self.topic) - self.penalty


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    entries: int = 0


@dataclass
class _Meta:
    signature: str
    dim: int
    trained_at: int = 0
    next_vid: int = 1
    version: int = 0
    thresholds: ThresholdsJson | None = None
    off_topic: list[str] = field(default_factory=list)  # the calibration's BAD questions, kept with its thresholds
    demo: str = "auto"  # on | off (the admin's choice) | auto (on until the admin's first own document)
    learned: list[list[str]] = field(default_factory=list)  # the calibration's GOOD [question, entry id]: head rows


class KnowledgeBase:
    """Search and change one knowledge base; blocking (store and Faiss), so async callers use a thread."""

    def __init__(self, directory: str | Path, embedder: Embedder, base: str = store.DEFAULT_BASE) -> None:
        self.dir = Path(directory)
        self.embedder = embedder
        self.base = base  # which of the store's bases holds this one's entries (see switchboard.store.kb)
        self.meta = _Meta(embedder.signature, embedder.dim)
        self.index = VectorIndex(embedder.dim)
        self.idmap: dict[int, str] = {}
        self.entries: dict[str, KnownEntry] = {}
        self._off_topic = np.zeros((0, embedder.dim), dtype=np.float32)  # meta.off_topic, embedded
        self._off_topic_key: tuple[str, tuple[str, ...]] = (embedder.signature, ())
        self._meta_mtime = 0.0
        self._head_mtime = 0.0
        self.head: Head | None = None  # used only while its fingerprint is the index's (see fingerprint)
        self._checked_at = 0.0
        self._mutex = threading.RLock()  # searches (the bot's thread) against changes (an upload's thread)

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | Path, embedder: Embedder, base: str = store.DEFAULT_BASE) -> KnowledgeBase:
        """Load the base in `directory` (an empty one if there is none yet) and its entries from the store."""
        kb = cls(directory, embedder, base)
        kb.dir.mkdir(parents=True, exist_ok=True)
        with kb._locked():
            if kb._load() == "outdated":
                log.warning("the knowledge base in %s was built by an older version of the %s embedder: re-embedding "
                            "its %d entries; calibrate it again afterwards", kb.dir, embedder.name, len(kb.entries))
                kb._reindex(None)
        return kb

    def _load(self) -> str:
        """Load meta, index and entries; "outdated" when an older version of this embedder built the index."""
        meta_path = self.dir / "meta.json"
        if meta_path.exists():
            raw = orjson.loads(meta_path.read_bytes())
            meta = _Meta(**{k: raw[k] for k in _Meta.__dataclass_fields__ if k in raw})
            if meta.signature != self.embedder.signature and _family(meta.signature) == _family(self.embedder.signature):
                if _version(meta.signature) > _version(self.embedder.signature):
                    raise KbError(f"the knowledge base in {self.dir} was built by a newer version of this embedder "
                                  f"({meta.signature}; this process has {self.embedder.signature}): upgrade switchboard "
                                  f"here, or run `switchboard kb rebuild` to re-embed every entry with this version")
                self.meta = meta
                self.entries = _stored_entries(self.base)
                return "outdated"  # the same embedder, improved: re-embedding from the store loses nothing
            if meta.signature != self.embedder.signature:
                raise KbError(f"the knowledge base in {self.dir} was built with the {meta.signature} embedder, not "
                              f"{self.embedder.signature}: set the bot's embedder back, or run `switchboard kb "
                              f"rebuild` to re-embed every entry with the new one")
            self.meta = meta
            self._meta_mtime = meta_path.stat().st_mtime
            index_path = self.dir / "index.faiss"
            self.index = (VectorIndex.load(index_path, meta.dim, meta.trained_at) if index_path.exists()
                          else VectorIndex(meta.dim))
            idmap_raw = orjson.loads((self.dir / "idmap.json").read_bytes()) if (self.dir / "idmap.json").exists() else {}
            self.idmap = {int(k): v for k, v in idmap_raw.items()}
            self._use_examples(meta.off_topic)
        self.entries = _stored_entries(self.base)
        self._repair()
        self._load_head()
        return "loaded"

    def _load_head(self) -> None:
        path = self.dir / "head.npz"
        try:
            self._head_mtime = path.stat().st_mtime
        except FileNotFoundError:
            self.head, self._head_mtime = None, 0.0
            return
        head = load_head(path)
        self.head = head if head is not None and head.fingerprint == self.fingerprint else None

    def _repair(self) -> None:
        """Make the index agree with the store after an interrupted change."""
        stale = [vid for vid, entry in self.idmap.items() if entry not in self.entries]
        indexed = set(self.idmap.values())
        missing = [e for e in self.entries.values() if e.id not in indexed]
        if not stale and not missing:
            return
        self.index.remove(np.array(stale, dtype=np.int64))
        for vid in stale:
            del self.idmap[vid]
        if missing:
            self._index_entries(missing, None)
        self._save()

    def refresh(self, every_s: float = 1.0) -> bool:
        """Reload if another process changed the base (checked at most every `every_s`); True if it did."""
        now = time.monotonic()
        if now - self._checked_at < every_s:
            return False
        self._checked_at = now
        try:
            mtime = (self.dir / "meta.json").stat().st_mtime
        except FileNotFoundError:
            return False
        if mtime == self._meta_mtime:
            head = self.dir / "head.npz"
            if head.exists() and head.stat().st_mtime != self._head_mtime:  # a tuning job elsewhere finished
                with self._mutex:
                    self._load_head()
                return True
            return False
        with self._locked(shared=True):
            outdated = self._load() == "outdated"
        if outdated:  # an older process wrote the base after us: re-embed it, as open() would
            with self._locked():
                self._load_if_changed(force=True)
        return True

    # --- reading -------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> list[Match]:
        """The `k` best entries for `query`, best first; an entry scores its best phrasing."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 5, *, off_topic: bool = True,
                    head: Head | None = None) -> list[list[Match]]:
        """The `k` best entries per query, ranked by :attr:`Match.rank`, each with its topical score when the
        embedder has topical vectors (both searched in one call to the index) and, unless `off_topic` is False (as
        calibration asks), the query's penalty for resembling a stored off-topic example. `head` replaces the
        base's own (calibration scores each GOOD question with a head that did not learn it)."""
        vectors = self.embedder.embed(list(queries))
        topical = self.embedder.embed_topical(list(queries))
        n = len(vectors)
        with self._mutex:
            penalties = (off_topic_penalty(vectors @ self._off_topic.T) if off_topic and len(self._off_topic)
                         else np.zeros(n))
            depth = max(min(len(self.index), max(k * 8, _DEPTH)), 1)  # an FAQ's phrasings crowd the top: look deeper
            both = vectors if topical is None else np.vstack([vectors, topical])
            scores, vids = self.index.search(both, depth)
            plain = [self._entry_scores(s, v) for s, v in zip(scores[:n], vids[:n], strict=True)]
            weighted = ([self._entry_scores(s, v) for s, v in zip(scores[n:], vids[n:], strict=True)]
                        if topical is not None else [None] * n)
            if head is None and self.head_current:
                head = self.head
            if head is None:
                return [[Match(self.entries[e], s, None if w is None else w[0].get(e, w[1]), float(penalty))
                         for e, s in _best(found, k)]
                        for (found, _), w, penalty in zip(plain, weighted, penalties, strict=True)]
            probabilities = head.probabilities(self.embedder.head_features(vectors))
            out: list[list[Match]] = []
            for row, (found, floor), w, penalty in zip(probabilities, plain, weighted, penalties, strict=True):
                matches = [Match(self.entries[e], found.get(e, floor), None if w is None else w[0].get(e, w[1]),
                                 float(penalty), float(p)) for e, p in zip(head.entries, row.tolist(), strict=True)
                           if e in self.entries]
                out.append(sorted(matches, key=lambda m: -m.rank)[:k])
            return out

    def _entry_scores(self, row_scores: npt.NDArray[np.float32], row_vids: npt.NDArray[np.int64]
                      ) -> tuple[dict[str, float], float]:
        """Entry scores from one query's phrasing scores: 0.7 × the best phrasing + 0.3 × the second best.

        An entry matched by two of its phrasings is a safer answer than one matched
        by a single lucky phrasing; measured on tests/data/bot this lifts the semantic
        embedder's top-1 accuracy from 0.88 to 0.91 and separates off-topic questions
        better. A chunk has one phrasing, which counts as both. A second phrasing not
        among the retrieved counts as the lowest retrieved score (an upper bound),
        which is also returned as the score of every entry not retrieved at all.
        """
        found: dict[str, list[float]] = {}
        floor = float(row_scores[-1]) if len(row_scores) else 0.0
        for score, vid in zip(row_scores, row_vids, strict=True):
            entry = self.idmap.get(int(vid))
            if entry is not None and entry in self.entries:
                found.setdefault(entry, []).append(float(score))
        return {e: _combine(s, floor, self.entries[e].kind) for e, s in found.items()}, floor

    @property
    def fingerprint(self) -> str:
        """Changes with every change of what a head learns from (an add raises next_vid, a removal shrinks the id
        map, a calibration changes the learned questions): a head trained on another fingerprint is out of date."""
        learned = zlib.crc32(orjson.dumps(self.meta.learned)) if self.meta.learned else 0
        return f"{self.meta.signature}:{self.meta.next_vid}:{len(self.idmap)}:{learned:08x}"

    @property
    def can_have_head(self) -> bool:
        return 2 <= len(self.entries) <= MAX_ENTRIES

    def head_training_set(self, *, learned: bool = True) -> tuple[npt.NDArray[np.float32], list[str], str] | None:
        """The head's features of every phrasing in the index and, if `learned`, of the calibration's GOOD
        questions (:attr:`learned_questions`), with their entries' ids and the fingerprint they were read at; None
        when the base is too small or too large for a head. The phrasings come from the index, not embedded again."""
        with self._mutex:
            if not self.can_have_head:
                return None
            vids = [vid for vid, entry in self.idmap.items() if entry in self.entries]
            vectors = self.index.reconstruct(np.array(vids, dtype=np.int64))
            labels = [self.idmap[v] for v in vids]
            fingerprint = self.fingerprint
            extra = [(q, e) for q, e in self.learned_questions if e in self.entries] if learned else []
        if extra:
            vectors = np.vstack([vectors, self.embedder.embed([q for q, _ in extra])])
            labels += [e for _, e in extra]
        return self.embedder.head_features(vectors), labels, fingerprint

    @property
    def learned_questions(self) -> list[tuple[str, str]]:
        """The last calibration's GOOD questions that named an entry, as (question, entry id): the head learns
        from them as from the entries' own phrasings (BANKING77, decision 029: semantic top-1 0.835 -> 0.900)."""
        return [(q, e) for q, e in self.meta.learned]

    def use_head(self, head: Head) -> bool:
        """Store and use `head` if it was trained on the index as it is now; False if the base changed since."""
        with self._locked():
            self._load_if_changed()
            if head.fingerprint != self.fingerprint:
                return False
            save_head(head, self.dir / "head.npz")
            self.head, self._head_mtime = head, (self.dir / "head.npz").stat().st_mtime
        return True

    @property
    def head_current(self) -> bool:
        return self.head is not None and self.head.fingerprint == self.fingerprint

    @property
    def off_topic_examples(self) -> list[str]:
        """The off-topic questions stored by the last calibration (see :func:`off_topic_penalty`)."""
        return list(self.meta.off_topic)

    @property
    def thresholds(self) -> Thresholds:
        if self.meta.thresholds:
            return Thresholds(**self.meta.thresholds)
        return DEFAULT_THRESHOLDS.get(self.embedder.name, DEFAULT_THRESHOLDS["hashing"])

    def documents(self) -> list[DocumentInfo]:
        return [{"name": d.name, "kind": d.kind, "entries": d.entries, "size": d.size, "sha256": d.sha256,
                 "added_at": d.added_at.isoformat() if d.added_at else None, "group": d.group, "demo": d.demo}
                for d in store.documents(self.base)]

    @property
    def demo(self) -> str:
        """The demo content's switch: ``on``, ``off``, or ``auto`` (on until the admin's first own document)."""
        return self.meta.demo

    def __len__(self) -> int:
        return len(self.entries)

    # --- changing ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path], progress: Progress | None = None) -> IngestReport:
        """Add or replace each file (unchanged ones are skipped); raises SourceError before changing anything."""
        sources = [read_source(p) for p in paths]
        return self.ingest_sources(sources, progress)

    def ingest_sources(self, sources: Sequence[Source], progress: Progress | None = None, *,
                       demo: bool = False) -> IngestReport:
        """Add or replace `sources` (marked as demo content if `demo`). The admin's first own document switches
        the demo off (its documents removed) unless the admin chose otherwise (:meth:`set_demo`)."""
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise KbError(f"two files share a name: {sorted(n for n in names if names.count(n) > 1)}")
        report = IngestReport()
        with self._locked():
            self._load_if_changed()
            todo: list[Source] = []
            groups: dict[str, str] = {}  # a replaced document keeps its hand-off group
            for source in sources:
                old = store.document(source.name, self.base)
                groups[source.name] = old.group if old is not None else ""
                if old is not None and old.sha256 == source.sha256:
                    report.unchanged.append(source.name)
                    continue
                (report.replaced if old is not None else report.added).append(source.name)
                todo.append(source)
            if not todo:
                return report
            if not demo and self.meta.demo == "auto":
                self._drop_demo()
                self.meta.demo = "off"
            new_entries: list[KnownEntry] = []
            phrasings: dict[str, tuple[str, ...]] = {}
            for source in todo:
                self._drop_document(source.name)
                for e in source.entries:
                    known = KnownEntry(f"{source.name}#{e.key}", source.name, e.kind, e.title, e.text, e.alternatives,
                                       demo)
                    new_entries.append(known)
                    phrasings[known.id] = e.phrasings
                store.save_document(store.StoredDocument(source.name, source.kind, source.sha256, source.size,
                                                         len(source.entries), datetime.now(timezone.utc),
                                                         groups.get(source.name, ""), demo), self.base)
            self._index_entries(new_entries, progress, phrasings)
            self._save()
            report.entries = len(new_entries)
        return report

    def remove(self, name: str) -> bool:
        """Delete one document and its entries' vectors; False if there is no such document."""
        with self._locked():
            self._load_if_changed()
            if store.document(name, self.base) is None:
                return False
            self._drop_document(name)
            store.delete_document(name, self.base)
            self._save()
        return True

    def set_demo(self, on: bool, sources: Sequence[Source] = (), progress: Progress | None = None) -> int:
        """Switch the demo content on (ingesting `sources` as demo documents) or off (removing every demo
        document); the choice is kept, so neither a restart nor an upload reverses it. Returns the demo entries."""
        if on:
            with self._locked():
                self._load_if_changed()
                self.meta.demo = "on"
                self._save()
                own = {d.name for d in store.documents(self.base) if not d.demo}
            kept = [s for s in sources if s.name not in own]  # a demo file never replaces the admin's namesake
            for s in sources:
                if s.name in own:
                    log.info("the demo document %s is left out: the admin has a document of that name", s.name)
            self.ingest_sources(kept, progress, demo=True)
        else:
            with self._locked():
                self._load_if_changed()
                self._drop_demo()
                self.meta.demo = "off"
                self._save()
        return sum(e.demo for e in self.entries.values())

    def _drop_demo(self) -> None:
        for doc in store.documents(self.base):
            if doc.demo:
                self._drop_document(doc.name)
                store.delete_document(doc.name, self.base)
                log.info("removed the demo document %s from the knowledge base", doc.name)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Re-embed every entry with this base's embedder (after changing embedders); returns the entries."""
        with self._locked():
            self.entries = _stored_entries(self.base)
            self._reindex(progress)
        return len(self.entries)

    def _reindex(self, progress: Progress | None) -> None:
        """A new index of every known entry, thresholds forgotten (they were calibrated on the old vectors)."""
        self.index, self.idmap = VectorIndex(self.embedder.dim), {}
        self.meta = replace(self.meta, signature=self.embedder.signature, dim=self.embedder.dim, trained_at=0,
                            thresholds=None, off_topic=[], learned=[])
        self._use_examples(())
        self._index_entries(list(self.entries.values()), progress)
        self._save()

    def set_thresholds(self, thresholds: Thresholds, off_topic: Sequence[str] = (),
                       learned: Sequence[tuple[str, str]] = ()) -> None:
        """Store a calibration: its thresholds, the off-topic examples they were chosen with (none: no
        penalty, for thresholds measured without one) and the GOOD questions the head is to learn from (their
        change makes the head stale: the tuner trains it again)."""
        with self._locked():
            self._load_if_changed()
            self.meta.thresholds = thresholds.as_dict()
            self.meta.off_topic = list(off_topic)
            self.meta.learned = [[q, e] for q, e in learned]
            self._use_examples(self.meta.off_topic)
            self._save()

    def _use_examples(self, texts: Sequence[str]) -> None:
        """Embed the calibration's off-topic examples unless these are already embedded: a reload after an upload
        keeps them, and re-embedding hundreds with the semantic model would hold searches up for seconds."""
        key = (self.embedder.signature, tuple(texts))
        if key != self._off_topic_key:
            self._off_topic = self.embedder.embed(list(texts))
            self._off_topic_key = key

    def _drop_document(self, name: str) -> None:
        gone = {e_id for e_id, e in self.entries.items() if e.document == name}
        vids = [vid for vid, e_id in self.idmap.items() if e_id in gone]
        self.index.remove(np.array(vids, dtype=np.int64))
        for vid in vids:
            del self.idmap[vid]
        for e_id in gone:
            del self.entries[e_id]
        store.delete_entries(name, self.base)

    def _index_entries(self, entries: list[KnownEntry], progress: Progress | None,
                       phrasings: dict[str, tuple[str, ...]] | None = None) -> None:
        """Store `entries`, embed their phrasings in batches and add them to the index, reporting progress."""
        texts: list[tuple[str, str]] = []  # (entry id, text)
        for e in entries:
            for text in (phrasings or {}).get(e.id) or _phrasings_of(e):
                texts.append((e.id, text))
        vids_of: dict[str, list[int]] = {e.id: [] for e in entries}
        total = len(texts)
        for start in range(0, total, _EMBED_BATCH):
            batch = texts[start:start + _EMBED_BATCH]
            vectors = self.embedder.embed([t for _, t in batch])
            vids = np.arange(self.meta.next_vid, self.meta.next_vid + len(batch), dtype=np.int64)
            self.meta.next_vid += len(batch)
            self.index.add(vids, vectors)
            for vid, (entry_id, _) in zip(vids.tolist(), batch, strict=True):
                self.idmap[vid] = entry_id
                vids_of[entry_id].append(vid)
            if progress:
                progress(min(start + len(batch), total), total, "phrasings embedded")
        store.put_entries([store.StoredEntry(e.id, e.document, e.kind, e.title, e.text, e.alternatives,
                                             tuple(vids_of[e.id])) for e in entries], self.base)
        for e in entries:
            self.entries[e.id] = e
        self.meta.trained_at = self.index.trained_at

    def _save(self) -> None:
        self.index.save(self.dir / "index.faiss")
        _write_atomic(self.dir / "idmap.json", orjson.dumps({str(k): v for k, v in self.idmap.items()}))
        self.meta.version += 1
        self.meta.trained_at = self.index.trained_at
        _write_atomic(self.dir / "meta.json", orjson.dumps(self.meta.__dict__, option=orjson.OPT_INDENT_2))
        self._meta_mtime = (self.dir / "meta.json").stat().st_mtime

    def _load_if_changed(self, force: bool = False) -> None:
        """Under the exclusive lock: reload what another process changed, re-embedding an older version's base."""
        meta_path = self.dir / "meta.json"
        if meta_path.exists() and (force or meta_path.stat().st_mtime != self._meta_mtime):
            if self._load() == "outdated":
                self._reindex(None)

    @contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._mutex, open(self.dir / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _stored_entries(base: str) -> dict[str, KnownEntry]:
    demo = {d.name for d in store.documents(base) if d.demo}
    return {e.id: KnownEntry(e.id, e.document, e.kind, e.title, e.text, e.alternatives, e.document in demo)
            for e in store.entries(base)}


def stored_embedder(directory: str | Path) -> str | None:
    """The embedder (``hashing`` or ``semantic``) the base in `directory` was built with; None for a new base.

    Read from ``meta.json`` alone, without loading any model: a base remembers its embedder, so commands that
    open it need not be told again (and ``kb list`` need not load one at all)."""
    family = str(stored_meta(directory).get("signature", "")).split("-", 1)[0]
    return family if family in ("hashing", "semantic") else None


def stored_meta(directory: str | Path) -> dict[str, object]:
    """The base's ``meta.json`` as stored ({} for a new base): what ``kb list`` shows without an embedder."""
    try:
        raw = orjson.loads((Path(directory) / "meta.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


_VERSION = re.compile(r"-v(\d+)(?=-|$)")  # the version part of an embedder's signature


def _family(signature: str) -> str:
    """An embedder's signature without its version ("hashing-v4-d1024-w0.5" -> "hashing-d1024-w0.5")."""
    return _VERSION.sub("", signature, count=1)


def _version(signature: str) -> int:
    """The version in an embedder's signature ("hashing-v5-d1024-w0.5" -> 5; none -> 0)."""
    found = _VERSION.search(signature)
    return int(found.group(1)) if found else 0


def off_topic_penalty(similarities: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Per row of (questions x off-topic examples) cosines: :data:`OFF_TOPIC_WEIGHT` x the best one, or 0.

    Calibration's BAD questions say what the operator wants declined. A question much
    like one of them leans towards declining even when it shares words with the base
    ("can you recommend a good film?" beside an entry on recommendations): a nearest-
    example vote on top of the topic score, which the thresholds are then calibrated with.
    """
    if similarities.shape[1] == 0:
        return np.zeros(similarities.shape[0])
    penalty: npt.NDArray[np.floating] = OFF_TOPIC_WEIGHT * np.maximum(similarities.max(axis=1), 0.0)
    return penalty


def _best(scores: dict[str, float], k: int) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: -item[1])[:k]


def _combine(scores: list[float], floor: float, kind: str) -> float:
    best = scores[0]  # Faiss returns scores best first
    second = best if kind == "chunk" else (scores[1] if len(scores) > 1 else floor)
    return 0.7 * best + 0.3 * second


def _phrasings_of(e: KnownEntry) -> tuple[str, ...]:
    if e.kind == "faq":
        return faq_phrasings(e.title, e.alternatives, e.text)
    return (f"{e.title}\n{e.text}" if e.title else e.text,)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
