"""Answer quality on the labelled Pedalwise set (tests/data/bot): the issue's targets, checked every run.

The same figures as ``load/eval_bot.py``. The semantic embedder must meet the
targets (top-1 >= 0.85, decline precision and recall >= 0.8). The hashing
embedder meets top-1 and decline precision only approximately on this set (see
docs/bot.md), so its test guards the level it reaches against regressions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from switchboard.llm.evaluation import evaluate, load_set
from switchboard.store.documents import KbDocument, KbEntry


DATA = Path(__file__).resolve().parents[1] / "data" / "bot"


def test_the_semantic_embedder_meets_the_quality_targets(store: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("the semantic extra is not installed (pip install -e '.[semantic]')")
    r = evaluate("semantic", load_set(DATA), tmp_path)
    assert r["top1"] >= 0.85 and r["suggest_hit"] >= 0.9
    assert r["decline_precision"] >= 0.8 and r["decline_recall"] >= 0.8
    assert r["answer_precision"] >= 0.9  # what it answers outright is right


def test_the_hashing_embedder_keeps_its_measured_level(store: str, tmp_path: Path) -> None:
    r = evaluate("hashing", load_set(DATA), tmp_path)
    assert r["top1"] >= 0.66 and r["suggest_hit"] >= 0.84  # 0.695 and 0.874 when this was written
    assert r["decline_precision"] >= 0.8  # 0.869; its recall (0.57) is the known gap
    assert r["p99_ms"] < 50


@pytest.fixture(autouse=True)
def _empty_base(store: str) -> None:
    KbDocument.objects.delete()
    KbEntry.objects.delete()
