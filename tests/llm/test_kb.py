"""The knowledge base against the embedded store and real Faiss: ingest, search, replace, remove, persist."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import orjson
import pytest

from switchboard.llm import index as index_module
from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.kb import KbError, KnowledgeBase, Thresholds
from switchboard.llm.sources import SourceError
from switchboard.store.documents import KbDocument, KbEntry


FAQ = """
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?"]
  answer: Within 30 days of delivery.
- id: opening-hours
  question: When is the shop open?
  alternatives: ["opening hours", "营业时间是什么时候？"]
  answer: Monday to Saturday, 9:00 to 18:00.
"""
GUIDE = """# Repairs

## Booking a repair
Book a repair slot online; the workshop needs the bike for two working days.

## Repair prices
A standard service costs 79 euros and includes brake and gear adjustment.
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "faq.yaml").write_text(FAQ)
    (tmp_path / "repairs.md").write_text(GUIDE)
    return tmp_path


@pytest.fixture
def kb(store: str, tmp_path: Path) -> Iterator[KnowledgeBase]:
    yield KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())


def test_an_faq_question_in_other_words_finds_its_entry(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml", files / "repairs.md"])
    assert kb.search("can I return the bike I bought?")[0].entry.id == "faq.yaml#return-window"
    assert kb.search("营业时间")[0].entry.id == "faq.yaml#opening-hours"


def test_matches_are_ranked_by_plain_score_and_carry_a_topic_score(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml", files / "repairs.md"])
    matches = kb.search("how long do I have to return my new bike?")
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert all(m.topic is not None and -1.0 <= m.topic_score <= 1.0 for m in matches)
    assert matches[0].entry.id == "faq.yaml#return-window" and matches[0].topic_score > 0.3


def test_chatter_made_of_common_words_scores_lower_on_topic_than_plainly(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    chatter = kb.search("how long do I have to live")[0]
    assert chatter.entry.id == "faq.yaml#return-window" and chatter.topic_score < chatter.score


def test_markdown_chunks_keep_their_header_path(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "repairs.md"])
    best = kb.search("how much does a service cost?")[0].entry
    assert best.title == "Repairs > Repair prices" and "79 euros" in best.text


def test_ingestion_reports_progress_until_every_phrasing_is_embedded(kb: KnowledgeBase, files: Path) -> None:
    seen: list[tuple[int, int]] = []
    kb.ingest([files / "faq.yaml"], lambda done, total, _: seen.append((done, total)))
    assert seen[-1] == (8, 8)  # two questions, four alternatives, each question with its answer


def test_reingesting_an_unchanged_file_does_nothing_and_a_changed_one_replaces_only_its_own_entries(
        kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml", files / "repairs.md"])
    vectors = len(kb.index)
    assert kb.ingest([files / "faq.yaml"]).unchanged == ["faq.yaml"]
    (files / "repairs.md").write_text(GUIDE + "\n## Pick-up\nCollect your bike at the counter.\n")
    report = kb.ingest([files / "repairs.md"])
    assert report.replaced == ["repairs.md"] and len(kb.index) == vectors + 1
    assert KbEntry.objects(document="faq.yaml").count() == 2


def test_removing_a_document_removes_its_vectors_and_entries(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml", files / "repairs.md"])
    assert kb.remove("repairs.md") and not kb.remove("repairs.md")
    assert len(kb.index) == 8 and KbDocument.objects(id="repairs.md").first() is None
    assert all(m.entry.document == "faq.yaml" for m in kb.search("repair prices"))


def test_the_base_survives_a_restart_with_its_thresholds(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    kb.set_thresholds(Thresholds(0.6, 0.4, calibrated=True))
    again = KnowledgeBase.open(kb.dir, HashingEmbedder())
    assert len(again) == 2 and len(again.index) == 8
    assert again.thresholds == Thresholds(0.6, 0.4, calibrated=True)
    assert again.search("return policy")[0].entry.id == "faq.yaml#return-window"


class _HashingV4:
    """The previous release's embedder: the hashed features alone, 1,024 dimensions."""

    name = "hashing"
    dim = 1024
    signature = "hashing-v4-d1024-w0.5"

    def __init__(self) -> None:
        self._v5 = HashingEmbedder()

    def embed(self, texts: list[str]) -> np.ndarray:
        return _unit(self._v5.embed(texts)[:, :1024])

    def embed_topical(self, texts: list[str]) -> np.ndarray:
        return _unit(self._v5.embed_topical(texts)[:, :1024])

    def head_features(self, vectors: np.ndarray) -> np.ndarray:
        return vectors


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.ascontiguousarray(m / np.where(norms == 0, 1, norms), dtype=np.float32)


def test_an_index_built_by_an_older_version_of_the_embedder_is_re_embedded_on_open(
        store: str, tmp_path: Path, files: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = KnowledgeBase.open(tmp_path / "kb", _HashingV4())
    old.ingest([files / "faq.yaml"])
    old.set_thresholds(Thresholds(0.6, 0.4, calibrated=True))  # calibrated on vectors without the static part
    assert orjson.loads((old.dir / "meta.json").read_bytes())["dim"] == 1024
    again = KnowledgeBase.open(old.dir, HashingEmbedder())
    assert "re-embedding its 2 entries" in caplog.text
    assert len(again.index) == 8 and again.search("营业时间")[0].entry.id == "faq.yaml#opening-hours"
    assert not again.thresholds.calibrated  # calibrated on the old vectors: calibrate again
    meta = orjson.loads((old.dir / "meta.json").read_bytes())
    assert meta["signature"] == again.embedder.signature and meta["dim"] == 1152
    assert KnowledgeBase.open(old.dir, HashingEmbedder()).search("when do you open?")[0].entry.id == "faq.yaml#opening-hours"


def test_an_index_built_by_a_newer_version_is_refused_rather_than_overwritten(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    with pytest.raises(KbError, match="newer version"):
        KnowledgeBase.open(kb.dir, _HashingV4())  # an old process beside an upgraded one
    assert orjson.loads((kb.dir / "meta.json").read_bytes())["signature"] == kb.embedder.signature


def test_an_index_built_by_another_embedder_is_refused(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    with pytest.raises(KbError, match="rebuild"):
        KnowledgeBase.open(kb.dir, HashingEmbedder(buckets=512))


def test_rebuild_re_embeds_every_entry_with_the_new_embedder(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    other = KnowledgeBase(kb.dir, HashingEmbedder(buckets=512))
    assert other.rebuild() == 2
    assert KnowledgeBase.open(kb.dir, HashingEmbedder(buckets=512)).search("return policy")[0].entry.id.endswith(
        "return-window")


def test_a_server_sees_a_change_made_by_another_process(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    other = KnowledgeBase.open(kb.dir, HashingEmbedder())  # another process: the CLI, an upload elsewhere
    other.ingest([files / "repairs.md"])
    assert kb.refresh(every_s=0) and len(kb) == len(other)


def test_an_interrupted_change_is_repaired_on_open(kb: KnowledgeBase, files: Path) -> None:
    kb.ingest([files / "faq.yaml"])
    KbEntry.objects(id="faq.yaml#opening-hours").delete()  # the store lost an entry the index still holds
    again = KnowledgeBase.open(kb.dir, HashingEmbedder())
    assert len(again.index) == 4 and all(m.entry.id != "faq.yaml#opening-hours" for m in again.search("hours"))


def test_a_bad_file_changes_nothing(kb: KnowledgeBase, files: Path) -> None:
    (files / "bad.yaml").write_text("- question: no answer\n")
    with pytest.raises(SourceError):
        kb.ingest([files / "faq.yaml", files / "bad.yaml"])
    assert len(kb) == 0 and KbDocument.objects.count() == 0


def test_past_the_exact_limit_the_index_turns_approximate_and_still_removes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "APPROX_ABOVE", 2000)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = index_module.VectorIndex(32)
    index.add(np.arange(3000, dtype=np.int64), vectors)
    assert index.kind == "ivf"
    assert index.search(vectors[:20], 1)[1][:, 0].tolist() == list(range(20))
    assert index.remove(np.array([0, 1], dtype=np.int64)) == 2 and len(index) == 2998
    assert 0 not in index.search(vectors[:1], 5)[1][0]
