"""Calibration: thresholds from labelled questions, as HuixiangDou picks its rejection threshold.

``suggest`` (the line between "decline" and "engage") is the topic score
(:attr:`~.kb.Match.topic_score`, the best among a question's :data:`TOP_K`
matches, as :func:`~.policy.on_topic` reads it) that maximises precision + recall
of "this question should be engaged with" over the GOOD questions (positives)
and the BAD ones (negatives), each class weighing the same however many questions
it has: with 3,000 GOOD and 100 BAD, plain counts would favour a line that declines
nothing (precision 0.97 and recall 1 for engaging). The line where the direct
answer starts needs to know which entry is right: when GOOD lines name their entry
(``{"q": ..., "id": ...}``), it is the lowest value of the answer signal at which,
among the questions engaged with, the first match is the right one at least
:data:`ANSWER_PRECISION` of the time. The signal is the head's confidence when the
base has a head (the first match's :attr:`~.kb.Match.rank`, ``confident``), else its score (``answer``); without
ids ``answer`` sits :data:`DEFAULT_GAP` above ``suggest`` and ``confident`` keeps
its default. Ids that name no entry are reported (a typo would silently count as
a wrong answer).

The BAD questions are also kept with the thresholds as off-topic examples: a
question resembling one of them has its topic score lowered
(:func:`~.kb.off_topic_penalty`), and ``suggest`` is chosen on the scores so
lowered. A BAD question is never compared with itself while calibrating (leave
one out), or every one of them would look certain to be declined.

Figures on the lines the thresholds were fitted on flatter them; the figures
reported (:attr:`Calibration.held_out`) are cross-validated: stratified folds,
thresholds and examples chosen on the others, each line measured once, held out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

import numpy as np
import numpy.typing as npt

from switchboard.llm.head import Head, train_head
from switchboard.llm.kb import KnowledgeBase, Match, Thresholds, off_topic_penalty

__all__ = ["Calibration", "Figures", "calibrate", "read_questions", "ANSWER_PRECISION", "DEFAULT_GAP", "TOP_K", "FOLDS"]

ANSWER_PRECISION = 0.9
DEFAULT_GAP = 0.15
TOP_K = 5  # matches per question, as the bot asks for by default (`bot.top_k`)
FOLDS = 5  # cross-validation folds, fewer when a class has fewer lines


@dataclass(frozen=True, slots=True)
class Figures:
    """What the bot would do with a set of labelled questions under some thresholds."""

    decline_precision: float  # of the questions it would decline, the share that are BAD
    decline_recall: float  # of the BAD questions, the share it would decline
    engage_precision: float
    engage_recall: float  # of the GOOD questions, the share it would engage with
    answer_precision: float | None  # of the GOOD questions it would answer directly, the share answered right
    answered: float | None  # of the GOOD questions with ids, the share answered directly


@dataclass(frozen=True, slots=True)
class Calibration:
    thresholds: Thresholds
    fitted: Figures  # on the very lines the thresholds were chosen on (optimistic)
    held_out: Figures | None  # cross-validated: what to expect of new questions (None: too few lines to fold)
    good: int
    bad: int
    off_topic: tuple[str, ...] = ()  # the distinct BAD questions, stored with the thresholds as examples
    unknown_ids: tuple[str, ...] = ()  # GOOD lines' ids that name no entry of the base
    folds: int = 0
    learned: tuple[tuple[str, str], ...] = ()  # GOOD (question, entry id) pairs: stored, the head learns them


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


@dataclass(frozen=True)
class _Scored:
    """Every calibration line searched once, ready for any choice of thresholds and examples."""

    topic: npt.NDArray[np.float64]  # best topic score without penalty, GOOD lines then BAD lines
    signal: npt.NDArray[np.float64]  # the answer signal: the first match's rank (its score when there is no head)
    right: npt.NDArray[np.bool_]  # the first match is the line's entry (GOOD lines with ids)
    labelled: npt.NDArray[np.bool_]  # GOOD lines with an id naming an entry
    good: npt.NDArray[np.bool_]
    near: npt.NDArray[np.bool_]  # NEAR lines: never to be answered directly, but not to be declined either
    likeness: npt.NDArray[np.float64]  # (lines, examples) cosines, a BAD line's own example at -inf
    owner: npt.NDArray[np.int64]  # a BAD line's example index, -1 for GOOD lines
    head: bool


def calibrate(kb: KnowledgeBase, good: Sequence[tuple[str, str | None]], bad: Sequence[str],
              folds: int = FOLDS, near: Sequence[str] = (), decline_share: float | None = None) -> Calibration:
    """Measure the sets' scores, choose thresholds on all of them and estimate held-out figures; stores nothing.

    `near` (optional) are questions on the base's subject that it cannot answer ("can I open a joint account?"
    for a bank whose FAQ does not say): a direct answer to one is wrong, so they weigh against the answer line,
    but a "did you mean" is fair, so they do not move the decline line, and they are not off-topic examples.
    `decline_share` (0 to 1) puts the decline line as low as declines that share of the BAD questions, engaging
    with as many GOOD ones as it can, instead of weighing precision and recall."""
    if not good or not bad:
        raise ValueError("calibration needs at least one GOOD and one BAD question")
    examples = _distinct(bad)
    known = {e.split("#", 1)[-1] for e in kb.entries} | set(kb.entries)
    unknown = tuple(dict.fromkeys(want for _, want in good if want is not None and want not in known))
    learned = _learned(kb, good)
    scored = _score(kb, good, bad, examples, known, near, learned)
    everything = np.arange(len(good) + len(bad) + len(near))
    all_examples = np.ones(len(examples), dtype=bool)
    thresholds = _choose(scored, everything, all_examples, kb.thresholds, decline_share)
    fitted = _measure(scored, everything, all_examples, thresholds)
    held_out, n_folds = _cross_validate(scored, len(examples), kb.thresholds, folds, decline_share)
    return Calibration(thresholds=thresholds, fitted=fitted, held_out=held_out, good=len(good), bad=len(bad),
                       off_topic=tuple(examples), unknown_ids=unknown, folds=n_folds,
                       learned=tuple((q, e) for _, q, e in learned))


def _learned(kb: KnowledgeBase, good: Sequence[tuple[str, str | None]]) -> list[tuple[int, str, str]]:
    """(line, question, entry id) of each GOOD line whose id names an entry (its key or its whole id)."""
    by_key: dict[str, str] = {}
    for entry in sorted(kb.entries):
        by_key.setdefault(entry.split("#", 1)[-1], entry)
    found: list[tuple[int, str, str]] = []
    for line, (question, want) in enumerate(good):
        resolved = want if want is not None and want in kb.entries else by_key.get(want or "")
        if resolved is not None:
            found.append((line, question, resolved))
    return found


def _search(kb: KnowledgeBase, questions: list[str], learned: list[tuple[int, str, str]]) -> list[list[Match]]:
    """Every line's matches, each GOOD line that the head learns ranked by a head trained without it.

    With a head, the stored GOOD questions become training rows (:attr:`~.kb.KnowledgeBase.learned_questions`),
    and a line's own head would be sure of it: its confidence would flatter the answer line. So the lines are
    cross-fitted: :data:`FOLDS` heads, each trained on the entries' phrasings and the other folds' lines, score
    their fold; the other lines (BAD, NEAR, GOOD without an entry) a head trained on all of them."""
    base = kb.head_training_set(learned=False)
    if base is None:
        return kb.search_many(questions, TOP_K, off_topic=False)
    features, labels, _ = base
    own = kb.embedder.head_features(kb.embedder.embed([q for _, q, _ in learned])) if learned else features[:0]
    rows = np.array([line for line, _, _ in learned], dtype=np.int64)
    order = np.random.default_rng(0).permutation(len(learned))
    folds = [order[f::FOLDS] for f in range(FOLDS)] if len(learned) >= FOLDS else []

    def head_without(skip: npt.NDArray[np.int64]) -> Head:
        keep = np.setdiff1d(np.arange(len(learned)), skip)
        return train_head(np.vstack([features, own[keep]]), labels + [learned[i][2] for i in keep], "calibration")

    hits = kb.search_many(questions, TOP_K, off_topic=False, head=head_without(np.zeros(0, dtype=np.int64)))
    for fold in folds:
        lines = rows[fold]
        for line, found in zip(lines.tolist(), kb.search_many([questions[i] for i in lines], TOP_K, off_topic=False,
                                                              head=head_without(fold)), strict=True):
            hits[line] = found
    return hits


def _score(kb: KnowledgeBase, good: Sequence[tuple[str, str | None]], bad: Sequence[str], examples: list[str],
           known: set[str], near: Sequence[str] = (), learned: list[tuple[int, str, str]] | None = None) -> _Scored:
    questions = [q for q, _ in good] + list(bad) + list(near)
    hits = _search(kb, questions, learned or [])
    head = any(m.confidence is not None for h in hits for m in h)
    topic = np.array([_topic(h) for h in hits])
    signal = np.array([h[0].rank if h else 0.0 for h in hits])
    wants = [want for _, want in good] + [None] * (len(bad) + len(near))
    labelled = np.array([w is not None and w in known for w in wants])
    right = np.array([bool(h) and w is not None and (h[0].entry.id.split("#", 1)[-1] == w or h[0].entry.id == w)
                      for h, w in zip(hits, wants, strict=True)])
    vectors = kb.embedder.embed(questions + examples)
    likeness = (vectors[:len(questions)] @ vectors[len(questions):].T).astype(np.float64)
    index = {_key(q): i for i, q in enumerate(examples)}
    owner = np.array([-1] * len(good) + [index[_key(q)] for q in bad] + [-1] * len(near), dtype=np.int64)
    for row in np.flatnonzero(owner >= 0):
        likeness[row, owner[row]] = -np.inf  # leave one out
    good_rows = np.array([True] * len(good) + [False] * (len(bad) + len(near)))
    near_rows = np.array([False] * (len(good) + len(bad)) + [True] * len(near))
    return _Scored(topic, signal, right, labelled, good_rows, near_rows, likeness, owner, head)


def _penalised(s: _Scored, rows: npt.NDArray[np.int64], examples: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """The rows' topic scores less their penalties against the chosen examples."""
    if not examples.any():
        return s.topic[rows]
    return s.topic[rows] - off_topic_penalty(s.likeness[np.ix_(rows, np.flatnonzero(examples))])


def _choose(s: _Scored, rows: npt.NDArray[np.int64], examples: npt.NDArray[np.bool_], defaults: Thresholds,
            decline_share: float | None = None) -> Thresholds:
    topic = _penalised(s, rows, examples)
    good, bad = s.good[rows], ~s.good[rows] & ~s.near[rows]
    suggest = (_best_cut(list(topic[good]), list(topic[bad])) if decline_share is None
               else _share_cut(topic[bad], decline_share))
    engaged = topic >= suggest
    labelled = s.labelled[rows] & engaged
    outcomes = [(float(v), bool(r)) for v, r in zip(s.signal[rows][labelled], s.right[rows][labelled], strict=True)]
    wrong = [float(v) for v in s.signal[rows][~good & engaged]]
    cut, _ = _answer_cut(outcomes, wrong, suggest)
    if s.head:
        confident = cut if outcomes else defaults.confident
        return Thresholds(round(float(defaults.answer if defaults.calibrated else suggest + DEFAULT_GAP), 4),
                          round(float(suggest), 4), calibrated=True, confident=round(float(confident), 4))
    return Thresholds(round(float(cut), 4), round(float(suggest), 4), calibrated=True, confident=defaults.confident)


def _counts(s: _Scored, rows: npt.NDArray[np.int64], examples: npt.NDArray[np.bool_], t: Thresholds
            ) -> npt.NDArray[np.int64]:
    """What `t` does with `rows`: BAD declined, GOOD declined, GOOD engaged, BAD engaged, BAD, GOOD, GOOD answered
    right, GOOD answered (the sums :func:`_figures` rates; folds add up)."""
    topic = _penalised(s, rows, examples)
    good, bad, engaged = s.good[rows], ~s.good[rows] & ~s.near[rows], topic >= t.suggest
    answered = engaged & s.labelled[rows] & (s.signal[rows] >= (t.confident if s.head else t.answer))
    return np.array([(bad & ~engaged).sum(), (good & ~engaged).sum(), (good & engaged).sum(), (bad & engaged).sum(),
                     bad.sum(), good.sum(), (answered & s.right[rows]).sum(), answered.sum()], dtype=np.int64)


def _figures(counts: npt.NDArray[np.int64], n_labelled: int) -> Figures:
    declined_bad, declined_good, engaged_good, engaged_bad, n_bad, n_good, right, answered = counts.tolist()
    return Figures(decline_precision=_ratio(declined_bad, declined_bad + declined_good),
                   decline_recall=_ratio(declined_bad, n_bad),
                   engage_precision=_ratio(engaged_good, engaged_good + engaged_bad),
                   engage_recall=_ratio(engaged_good, n_good),
                   answer_precision=_ratio(right, answered) if n_labelled else None,
                   answered=answered / n_labelled if n_labelled else None)


def _measure(s: _Scored, rows: npt.NDArray[np.int64], examples: npt.NDArray[np.bool_], t: Thresholds) -> Figures:
    return _figures(_counts(s, rows, examples, t), int(s.labelled[rows].sum()))


def _cross_validate(s: _Scored, n_examples: int, defaults: Thresholds, folds: int,
                    decline_share: float | None = None) -> tuple[Figures | None, int]:
    """Each line measured once under thresholds (and examples) chosen on the other folds; summed, then rated."""
    from sklearn.model_selection import StratifiedKFold

    k = min(folds, int(s.good.sum()), int((~s.good & ~s.near).sum()))
    if k < 2:
        return None, 0
    totals = np.zeros(8, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
    classes = np.where(s.good, 0, np.where(s.near, 2, 1))
    if 0 < int(s.near.sum()) < k:
        classes = np.where(s.near, 1, classes)  # too few NEAR lines to spread over the folds: fold them with BAD
    for train, test in splitter.split(np.zeros(len(s.good)), classes):
        examples = np.zeros(n_examples, dtype=bool)
        examples[s.owner[train][s.owner[train] >= 0]] = True
        totals += _counts(s, test, examples, _choose(s, train, examples, defaults, decline_share))
    return _figures(totals, int(s.labelled.sum())), k


def _distinct(questions: Sequence[str]) -> list[str]:
    """Each question once (its words decide; case, width and punctuation aside), in order: a question written
    twice would be its own neighbour when the other copy is left out."""
    seen: dict[str, str] = {}
    for q in questions:
        seen.setdefault(_key(q), q)
    return list(seen.values())


def _key(question: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", question).casefold()))


def _share_cut(negatives: npt.NDArray[np.float64], share: float) -> float:
    """The lowest line below which at least `share` of `negatives` fall (midway to the next one up)."""
    ordered = np.sort(negatives)
    m = min(max(int(np.ceil(share * len(ordered))), 1), len(ordered))
    return float(ordered[m - 1] + (ordered[m] - ordered[m - 1]) / 2 if m < len(ordered) else ordered[-1] + 1e-6)


def _best_cut(positives: list[float], negatives: list[float]) -> float:
    """The threshold maximising precision + recall of "score >= t means positive", each class weighing the same
    (precision counts a share of each class, not heads: a class ten times larger does not outvote the other)."""
    candidates = sorted(set(positives) | set(negatives))
    pos, neg = np.sort(np.asarray(positives)), np.sort(np.asarray(negatives))
    best_t, best_value = candidates[0], -1.0
    for lower, upper in zip([candidates[0] - 1e-6] + candidates, candidates, strict=False):  # neighbours
        t = (lower + upper) / 2 if lower != upper else upper  # midway between neighbouring scores
        tpr = (len(pos) - np.searchsorted(pos, t, side="left")) / len(pos) if len(pos) else 0.0
        fpr = (len(neg) - np.searchsorted(neg, t, side="left")) / len(neg) if len(neg) else 0.0
        value = _ratio(tpr, tpr + fpr) + tpr
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
