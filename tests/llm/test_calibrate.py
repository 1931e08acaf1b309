"""Calibration against the embedded store and real Faiss: thresholds, and the off-topic examples kept with them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from switchboard.llm import calibrate as calibrate_module
from switchboard.llm.calibrate import calibrate
from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.kb import OFF_TOPIC_WEIGHT, KnowledgeBase, Thresholds, off_topic_penalty
from switchboard.llm.policy import decide

FAQ = """
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?"]
  answer: Within 30 days of delivery.
- id: opening-hours
  question: When is the shop open?
  alternatives: ["opening hours", "What time do you open on Saturday?"]
  answer: Monday to Saturday, 9:00 to 18:00.
- id: repair-price
  question: How much does a bike service cost?
  alternatives: ["price of a repair", "What do you charge to fix brakes?"]
  answer: A standard service costs 79 euros.
"""
GOOD = [("can I give back a bike I bought last week?", "return-window"), ("are you open on saturdays?", "opening-hours"),
        ("what does fixing my brakes cost?", "repair-price"), ("how many days do I get to send it back", "return-window")]
BAD = ["what's the weather in paris tomorrow", "who painted the mona lisa", "recommend a good film for saturday night",
       "how do I bake sourdough bread"]


@pytest.fixture
def kb(store: str, tmp_path: Path) -> Iterator[KnowledgeBase]:
    (tmp_path / "faq.yaml").write_text(FAQ)
    base = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    base.ingest([tmp_path / "faq.yaml"])
    yield base


def test_a_question_like_an_off_topic_example_loses_topic_score_and_an_in_scope_one_barely_does(kb: KnowledgeBase) -> None:
    result = calibrate(kb, GOOD, BAD)
    kb.set_thresholds(result.thresholds, result.off_topic)
    like_bad = "could you recommend a good film for a saturday night?"
    penalised, plain = kb.search(like_bad)[0], kb.search_many([like_bad], off_topic=False)[0][0]
    assert plain.topic_score - penalised.topic_score > 0.5 * OFF_TOPIC_WEIGHT
    assert decide(like_bad, kb.search(like_bad), kb.thresholds).kind == "decline"
    in_scope = kb.search("what time does the shop open on saturday?")[0]
    assert in_scope.entry.id == "faq.yaml#opening-hours" and in_scope.penalty < in_scope.topic_score / 4


def test_calibration_keeps_each_bad_question_once_as_an_example_and_the_base_remembers_them(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    result = calibrate(kb, GOOD, BAD + ["WHO painted  the Mona Lisa?", "ｗｈｏ painted the mona lisa!"])
    assert result.off_topic == tuple(BAD) and result.bad == len(BAD) + 2
    kb.set_thresholds(result.thresholds, result.off_topic)
    again = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    assert again.off_topic_examples == BAD
    assert again.search(BAD[0])[0].penalty == pytest.approx(OFF_TOPIC_WEIGHT, abs=1e-3)


def test_a_server_s_open_base_sees_the_examples_a_calibration_elsewhere_stored(kb: KnowledgeBase, tmp_path: Path) -> None:
    server = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    assert server.search(BAD[1])[0].penalty == 0.0
    result = calibrate(kb, GOOD, BAD)
    kb.set_thresholds(result.thresholds, result.off_topic)
    assert server.refresh(every_s=0.0) and server.thresholds == result.thresholds
    assert server.search(BAD[1])[0].penalty == pytest.approx(OFF_TOPIC_WEIGHT, abs=1e-3)


def test_thresholds_set_without_examples_and_a_rebuild_forget_the_examples(kb: KnowledgeBase) -> None:
    result = calibrate(kb, GOOD, BAD)
    kb.set_thresholds(result.thresholds, result.off_topic)
    kb.rebuild()
    assert kb.off_topic_examples == [] and not kb.thresholds.calibrated and kb.search(BAD[0])[0].penalty == 0.0
    kb.set_thresholds(result.thresholds, result.off_topic)
    kb.set_thresholds(Thresholds(0.6, 0.4, calibrated=True))
    assert kb.off_topic_examples == [] and kb.search(BAD[0])[0].penalty == 0.0


def test_a_bad_question_is_not_its_own_example_while_calibrating(kb: KnowledgeBase) -> None:
    """Otherwise every BAD question would look certain to be declined, and the cut and its figures would flatter."""
    examples = calibrate_module._distinct(BAD)
    scored = calibrate_module._score(kb, GOOD, BAD, examples, {e.split("#", 1)[-1] for e in kb.entries})
    bad_rows = np.arange(len(GOOD), len(GOOD) + len(BAD))
    bad_penalty = scored.topic[bad_rows] - calibrate_module._penalised(scored, bad_rows, np.ones(len(BAD), dtype=bool))
    assert all(p < 0.9 * OFF_TOPIC_WEIGHT for p in bad_penalty)
    vectors = kb.embedder.embed(BAD)
    expected = [max(float(vectors[i] @ vectors[j]) for j in range(len(BAD)) if j != i) for i in range(len(BAD))]
    assert bad_penalty.tolist() == pytest.approx([OFF_TOPIC_WEIGHT * max(e, 0.0) for e in expected], abs=1e-6)


def test_a_large_good_set_does_not_outvote_a_small_bad_one_into_declining_nothing(kb: KnowledgeBase) -> None:
    """3,000 GOOD and 100 BAD: counted by heads, declining nothing would score precision 0.97 and recall 1."""
    good = [(float(s), True) for s in np.linspace(0.40, 0.90, 3000)]
    bad = [float(s) for s in np.linspace(0.10, 0.45, 100)]
    cut = calibrate_module._best_cut([s for s, _ in good], bad)
    assert sum(b < cut for b in bad) >= 95 and sum(g >= cut for g, _ in good) >= 2600  # between the classes


def test_calibration_reports_held_out_figures_and_the_ids_that_match_no_entry(kb: KnowledgeBase) -> None:
    good = GOOD + [("when do you open on sunday", "opening-hours"), ("how much to fix gears", "repair-prise")]
    result = calibrate(kb, good, BAD + ["who won the world cup", "tell me a joke"])
    assert result.unknown_ids == ("repair-prise",)
    assert result.held_out is not None and result.folds >= 2
    assert 0.0 <= result.held_out.decline_recall <= 1.0 and result.fitted.decline_recall >= result.held_out.decline_recall - 1


def test_the_penalty_is_the_weighted_best_likeness_and_never_a_bonus() -> None:
    sims = np.array([[0.2, 0.9, -0.3], [-0.5, -0.1, -0.2]])
    assert off_topic_penalty(sims).tolist() == pytest.approx([OFF_TOPIC_WEIGHT * 0.9, 0.0])
    assert off_topic_penalty(np.zeros((2, 0))).tolist() == [0.0, 0.0]
