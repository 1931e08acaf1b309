"""Answer quality on the labelled Pedalwise set (tests/data/bot): the issue's targets, checked every run.

The same figures as ``load/eval_bot.py``. Both embedders must meet every target: top-1
>= 0.85 (semantic) and >= 0.70 (hashing), decline precision and recall >= 0.8 (see docs/bot.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from switchboard.llm.evaluation import evaluate, load_set
from switchboard.store import kb as kb_store


DATA = Path(__file__).resolve().parents[1] / "data" / "bot"


def test_the_semantic_embedder_meets_the_quality_targets(store: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("the semantic extra is not installed (pip install -e '.[semantic]')")
    r = evaluate("semantic", load_set(DATA), tmp_path)
    assert r["top1"] >= 0.85 and r["suggest_hit"] >= 0.9
    assert r["decline_precision"] >= 0.8 and r["decline_recall"] >= 0.8
    assert r["answer_precision"] >= 0.9  # what it answers outright is right


def test_the_hashing_embedder_meets_the_quality_targets(store: str, tmp_path: Path) -> None:
    r = evaluate("hashing", load_set(DATA), tmp_path)
    assert r["top1"] >= 0.78 and r["suggest_hit"] >= 0.9  # 0.798 and 0.910 with the static part (0.753, 0.897 without)
    # 0.917 and 0.828 with the off-topic examples (0.924 and 0.785 without; 0.758 and 0.806 without static vectors)
    assert r["decline_precision"] >= 0.8 and r["decline_recall"] >= 0.8
    assert r["p99_ms"] < 50


def test_the_hashing_embedder_finds_chinese_paraphrases_far_better_than_word_overlap(store: str, tmp_path: Path) -> None:
    # tests/data/bot_zh: paraphrases that share at most one two-character word with their entry. Word overlap
    # finds 0.033 of them; hashing found 0.078 before Chinese was split into characters, 0.411 after (top-1;
    # the right entry among the three suggestions 0.189 -> 0.756). Below the 0.70 English target: the gap is
    # stated in docs/bot.md, and this guards the level reached.
    r = evaluate("hashing", load_set(DATA.parent / "bot_zh"), tmp_path)
    assert r["top1"] >= 0.38 and r["suggest_hit"] >= 0.7  # deterministic: no timing asserted here


@pytest.fixture(autouse=True)
def _empty_base(store: str) -> None:
    kb_store.forget_all()
