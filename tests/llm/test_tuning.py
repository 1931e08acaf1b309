"""The knowledge base's head: trained from the base's own phrasings in the background, used only while it
matches the index, never in answering's way (issue 21)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from switchboard.llm import tuning
from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.head import load_head, train_head
from switchboard.llm.kb import KnowledgeBase
from switchboard.llm.tuning import Tuner, read_status, tune

FAQ = """
- id: card-arrival
  question: When will my new card arrive?
  alternatives: ["I am still waiting for my card", "my card has not come in the post", "how long does card delivery take"]
  answer: Cards arrive within 5 working days.
- id: card-pin
  question: Where do I find my PIN?
  alternatives: ["I forgot my card PIN", "how can I see the PIN of my card", "PIN reminder"]
  answer: Your PIN is in the app, under Card, Show PIN.
- id: top-up-failed
  question: Why did my top-up fail?
  alternatives: ["top up declined", "I could not add money to my account", "adding funds did not work"]
  answer: Top-ups fail when your card issuer declines them; try another card.
"""
MORE = """
- id: exchange-rate
  question: What exchange rate do you use?
  alternatives: ["how are currencies converted", "the rate for euros to pounds"]
  answer: We use the interbank rate at the time of payment.
"""


@pytest.fixture
def kb(store: str, tmp_path: Path) -> KnowledgeBase:
    (tmp_path / "faq.yaml").write_text(FAQ)
    base = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    base.ingest([tmp_path / "faq.yaml"])
    return base


def test_a_tuned_head_ranks_every_entry_and_is_stored_with_the_index_it_was_trained_on(kb: KnowledgeBase) -> None:
    assert not kb.head_current and kb.search("PIN reminder")[0].confidence is None  # cosine until tuned
    progress: list[tuple[int, int, str]] = []
    head = tune(kb, lambda done, total, stage: progress.append((done, total, stage)))
    assert head is not None and kb.head_current and set(head.entries) == set(kb.entries)
    assert progress[-1] == (3, 3, "done") and read_status(kb.dir)["state"] == "done"
    matches = kb.search("the PIN of my card, where is it?")
    assert matches[0].entry.id == "faq.yaml#card-pin" and matches[0].confidence is not None
    assert sum(m.confidence or 0.0 for m in kb.search("anything", 3)) <= 1.0 + 1e-6
    stored = load_head(kb.dir / "head.npz")
    assert stored is not None and stored.fingerprint == kb.fingerprint


def test_a_change_makes_the_head_stale_and_the_bot_falls_back_to_cosine_until_it_is_trained_again(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    tune(kb)
    (tmp_path / "more.yaml").write_text(MORE)
    kb.ingest([tmp_path / "more.yaml"])
    assert not kb.head_current and kb.search("euro to pound rate")[0].confidence is None
    reopened = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    assert reopened.head is None  # the stored head belongs to the old index
    tune(kb)
    assert kb.head_current and "more.yaml#exchange-rate" in kb.head.entries


def test_a_head_trained_while_the_base_changed_is_thrown_away(kb: KnowledgeBase, tmp_path: Path) -> None:
    training = kb.head_training_set()
    assert training is not None
    features, labels, fingerprint = training
    (tmp_path / "more.yaml").write_text(MORE)
    kb.ingest([tmp_path / "more.yaml"])
    assert not kb.use_head(train_head(features, labels, fingerprint)) and not kb.head_current


def test_the_tuner_trains_in_the_background_while_questions_are_answered_and_another_process_picks_it_up(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    other = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())  # the REST edge's copy of the base
    answered: list[float] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            kb.search("my card has not arrived")
            answered.append(time.perf_counter() - started)

    asking = threading.Thread(target=ask)
    asking.start()
    tuner = Tuner(kb, check_s=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while not kb.head_current and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tuner.stop()
        stop.set()
        asking.join()
    assert kb.head_current and len(answered) > 10
    assert other.refresh(every_s=0.0) and other.head_current  # it loaded the stored head by itself


def test_a_failed_fit_is_reported_and_the_bot_keeps_answering_by_cosine(kb: KnowledgeBase,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(features: np.ndarray, labels: list[str], fingerprint: str) -> None:
        raise MemoryError("no room for the head")

    monkeypatch.setattr(tuning, "train_head", broken)
    with pytest.raises(MemoryError):
        tune(kb)
    status = read_status(kb.dir)
    assert status["state"] == "failed" and "no room for the head" in status["error"]
    assert kb.search("PIN reminder")[0].entry.id == "faq.yaml#card-pin" and not kb.head_current


def test_a_base_of_one_entry_has_nothing_to_tune(store: str, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("- question: When will my card arrive?\n  answer: Within 5 days.\n")
    kb = KnowledgeBase.open(tmp_path / "kb1", HashingEmbedder())
    kb.ingest([tmp_path / "one.yaml"])
    assert tune(kb) is None and read_status(kb.dir)["state"] == "idle"
