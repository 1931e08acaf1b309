"""Calibration: thresholds from labelled questions, as HuixiangDou picks its rejection threshold.

``suggest`` (the line between "decline" and "engage") is the topic score
(:attr:`~.kb.Match.topic_score`, the best among a question's :data:`TOP_K`
matches, as :func:`~.policy.on_topic` reads it) that maximises precision + recall
of "this question should be engaged with" over the GOOD questions (positives)
and the BAD ones (negatives). ``answer`` (the line between a direct answer and
"did you mean") needs to know which entry is right: when GOOD lines name their
entry (``{"q": ..., "id": ...}``), it is the lowest first-match score at which,
among the questions engaged with, the first match is the right one at least
:data:`ANSWER_PRECISION` of the time; without ids it sits :data:`DEFAULT_GAP`
above ``suggest``.

The BAD questions are also kept with the thresholds as off-topic examples: a
question resembling one of them has its topic score lowered
(:func:`~.kb.off_topic_penalty`), and ``suggest`` is chosen on the scores so
lowered. A BAD question is never compared with itself while calibrating (leave
one out), or every one of them would look certain to be declined.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

import numpy as np

from switchboard.llm.kb import KnowledgeBase, Match, Thresholds, off_topic_penalty

__all__ = ["Calibration", "calibrate", "read_questions", "ANSWER_PRECISION", "DEFAULT_GAP", "TOP_K"]

ANSWER_PRECISION = 0.9
DEFAULT_GAP = 0.15
TOP_K = 5  # matches per question, as the bot asks for by default (`bot.top_k`)


@dataclass(frozen=True, slots=True)
class Calibration:
    thresholds: Thresholds
    decline_precision: float  # of the questions it would decline, the share that are BAD
    decline_recall: float  # of the BAD questions, the share it would decline
    engage_precision: float
    engage_recall: float
    answer_precision: float | None  # of the GOOD questions it would answer directly, the share answered right
    good: int
    bad: int
    off_topic: tuple[str, ...] = ()  # the distinct BAD questions, stored with the thresholds as examples


def read_questions(path: Path) -> list[tuple[str, str | None]]:
    """One question per line, or JSON lines ``{"q": ..., "id": ...}``; blank lines and ``#`` comments skipped."""
    out: list[tuple[str, str | None]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from None
            q = item.get("q") or item.get("question")
            if not isinstance(q, str) or not q.strip():
                raise ValueError(f"{path}:{n}: a JSON line needs a non-empty \"q\"")
            out.append((q.strip(), str(item["id"]) if item.get("id") is not None else None))
        else:
            out.append((line, None))
    return out


def calibrate(kb: KnowledgeBase, good: Sequence[tuple[str, str | None]], bad: Sequence[str]) -> Calibration:
    """Measure both sets' scores and choose thresholds; does not store them."""
    if not good or not bad:
        raise ValueError("calibration needs at least one GOOD and one BAD question")
    examples = _distinct(bad)
    good_hits = kb.search_many([q for q, _ in good], TOP_K, off_topic=False)
    bad_hits = kb.search_many(bad, TOP_K, off_topic=False)
    good_penalty, bad_penalty = _penalties(kb, [q for q, _ in good], bad, examples)
    good_scores = [_topic(hits) - p for hits, p in zip(good_hits, good_penalty, strict=True)]
    bad_scores = [_topic(hits) - p for hits, p in zip(bad_hits, bad_penalty, strict=True)]
    suggest = _best_cut(good_scores, bad_scores)
    # Among the questions engaged with, how the first match's plain score tells a right answer from a wrong one.
    labelled = [(hits[0].score, hits[0].entry.id.split("#", 1)[-1] == want or hits[0].entry.id == want)
                for (_, want), hits, topic in zip(good, good_hits, good_scores, strict=True)
                if want is not None and hits and topic >= suggest]
    wrong = [hits[0].score for hits, topic in zip(bad_hits, bad_scores, strict=True) if hits and topic >= suggest]
    answer, answer_precision = _answer_cut(labelled, wrong, suggest)
    engaged_good = sum(s >= suggest for s in good_scores)
    engaged_bad = sum(s >= suggest for s in bad_scores)
    declined_bad, declined_good = len(bad_scores) - engaged_bad, len(good_scores) - engaged_good
    return Calibration(
        thresholds=Thresholds(round(answer, 4), round(suggest, 4), calibrated=True),
        decline_precision=_ratio(declined_bad, declined_bad + declined_good),
        decline_recall=_ratio(declined_bad, len(bad_scores)),
        engage_precision=_ratio(engaged_good, engaged_good + engaged_bad),
        engage_recall=_ratio(engaged_good, len(good_scores)),
        answer_precision=answer_precision, good=len(good), bad=len(bad), off_topic=tuple(examples))


def _distinct(questions: Sequence[str]) -> list[str]:
    """Each question once (its words decide; case, width and punctuation aside), in order: a question written
    twice would be its own neighbour when the other copy is left out."""
    seen: dict[str, str] = {}
    for q in questions:
        seen.setdefault(_key(q), q)
    return list(seen.values())


def _key(question: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", question).casefold()))


def _penalties(kb: KnowledgeBase, good: list[str], bad: Sequence[str], examples: list[str]
               ) -> tuple[list[float], list[float]]:
    """Each question's off-topic penalty against `examples`, a BAD question's without its own example.

    A BAD question is measured as its example (the examples are the BAD questions, each once)."""
    vectors = kb.embedder.embed(good + examples)
    kept = vectors[len(good):]
    index = {_key(q): i for i, q in enumerate(examples)}
    own = [index[_key(q)] for q in bad]
    similarities = np.vstack([vectors[:len(good)], kept[own]]) @ kept.T
    for row, example in enumerate(own, start=len(good)):
        similarities[row, example] = -np.inf  # leave one out
    penalty = [float(p) for p in off_topic_penalty(similarities)]
    return penalty[:len(good)], penalty[len(good):]


def _best_cut(positives: list[float], negatives: list[float]) -> float:
    """The threshold maximising precision + recall of "score >= t means positive"."""
    candidates = sorted(set(positives) | set(negatives))
    best_t, best_value = candidates[0], -1.0
    for lower, upper in zip([candidates[0] - 1e-6] + candidates, candidates, strict=False):  # neighbours
        t = (lower + upper) / 2 if lower != upper else upper  # midway between neighbouring scores
        tp = sum(s >= t for s in positives)
        fp = sum(s >= t for s in negatives)
        value = _ratio(tp, tp + fp) + _ratio(tp, len(positives))
        if value > best_value:
            best_t, best_value = t, value
    return best_t


def _topic(hits: list[Match]) -> float:
    return max((m.topic_score for m in hits), default=0.0)


def _answer_cut(labelled: list[tuple[float, bool]], bad_scores: list[float], suggest: float) -> tuple[float, float | None]:
    """The lowest first-match score above which answers are right :data:`ANSWER_PRECISION` of the time.

    `labelled` and `bad_scores` are the first-match scores of the questions engaged with; bad questions
    scoring above a cut would be answered, wrongly, so they count against it.
    """
    if not labelled:
        return suggest + DEFAULT_GAP, None
    outcomes = sorted(labelled + [(s, False) for s in bad_scores])
    for i, (score, _) in enumerate(outcomes):
        above = outcomes[i:]
        precision = sum(ok for _, ok in above) / len(above)
        if precision >= ANSWER_PRECISION:
            return score, precision
    return max(s for s, _ in outcomes) + 1e-6, None


def _ratio(a: float, b: float) -> float:
    return a / b if b else 1.0
