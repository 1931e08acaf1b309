"""Answer quality on a labelled set: the figures load/eval_bot.py prints and tests/llm/test_quality.py checks.

Retrieval and the answer policy only, exactly as the server decides (no LLM). See
load/eval_bot.py for what each figure means.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TypedDict

import numpy as np

from switchboard.llm.calibrate import calibrate, read_questions
from switchboard.llm.embedders import make_embedder
from switchboard.llm.kb import KnowledgeBase, Match
from switchboard.llm.policy import MAX_SUGGESTIONS, Decision, decide
from switchboard.llm.tuning import tune

__all__ = ["LabelledSet", "load_set", "evaluate", "VisitorFigures", "visitor_figures"]


class LabelledSet(TypedDict):
    faq: Path
    good_eval: list[tuple[str, str | None]]  # (question, the right entry's id)
    good_cal: list[tuple[str, str | None]]
    bad_eval: list[str]  # off-topic questions
    bad_cal: list[str]


def load_set(data: Path) -> LabelledSet:
    """A labelled set: faq.yaml, in-scope and off-topic questions, each split into evaluation and calibration."""
    return {"faq": data / "faq.yaml",
            "good_eval": read_questions(data / "in_scope_eval.jsonl"),
            "good_cal": read_questions(data / "in_scope_calibrate.jsonl"),
            "bad_eval": [q for q, _ in read_questions(data / "off_topic_eval.txt")],
            "bad_cal": [q for q, _ in read_questions(data / "off_topic_calibrate.txt")]}


def evaluate(embedder_name: str, s: LabelledSet, work: Path) -> dict[str, float]:
    """Build a base from the set's FAQ under `work` (the store must be connected), calibrate, ask, measure."""
    started = time.perf_counter()
    kb = KnowledgeBase.open(work / f"kb-{embedder_name}", make_embedder(embedder_name))
    kb.ingest([s["faq"]])
    tune(kb)  # the head, as the server's tuner trains it after an upload
    cal = calibrate(kb, s["good_cal"], s["bad_cal"])
    kb.set_thresholds(cal.thresholds, cal.off_topic, cal.learned)
    tune(kb)
    build_s = time.perf_counter() - started
    kb.search_many(["warm up", "预热"], 1)  # first-use costs (model graphs, word lists) are paid at start-up

    latencies: list[float] = []
    top1 = hit = top1_engaged = hit_engaged = answered = answered_right = 0
    declined_good = declined_bad = 0
    for question, want in s["good_eval"]:
        t0 = time.perf_counter()
        d = decide(question, kb.search(question, 5), kb.thresholds)
        latencies.append((time.perf_counter() - t0) * 1000)
        ids = [m.entry.id.split("#", 1)[1] for m in d.matches]
        top1 += bool(ids) and ids[0] == want
        hit += want in ids[:MAX_SUGGESTIONS]
        if d.kind in ("decline", "handoff"):
            declined_good += 1
            continue
        top1_engaged += bool(ids) and ids[0] == want
        hit_engaged += want in ids[:MAX_SUGGESTIONS]
        if d.kind == "answer":
            answered += 1
            answered_right += ids[0] == want
    for question in s["bad_eval"]:
        t0 = time.perf_counter()
        d = decide(question, kb.search(question, 5), kb.thresholds)
        latencies.append((time.perf_counter() - t0) * 1000)
        declined_bad += d.kind in ("decline", "handoff")
    n_good, n_bad = len(s["good_eval"]), len(s["bad_eval"])
    declined = declined_good + declined_bad
    return {
        "top1": top1 / n_good, "suggest_hit": hit / n_good, "top1_engaged": top1_engaged / n_good,
        "suggest_hit_engaged": hit_engaged / n_good,
        "decline_precision": declined_bad / declined if declined else 1.0, "decline_recall": declined_bad / n_bad,
        "answer_precision": answered_right / answered if answered else 1.0, "answered": answered / n_good,
        "p50_ms": statistics.median(latencies), "p99_ms": float(np.percentile(latencies, 99)),
        "threshold_answer": cal.thresholds.answer, "threshold_suggest": cal.thresholds.suggest,
        "build_s": build_s, "entries": len(kb), "vectors": len(kb.index),
    }


class VisitorFigures(TypedDict):
    """Shares of each kind of question by what the visitor saw (load/eval_bot.py's BANKING77 figures)."""

    top1: float  # in scope: the ranking's first entry is the right one
    in_correct: float  # in scope: answered with the right entry
    in_shown: float  # in scope: answered right, or the right entry among the suggestions
    in_wrong: float  # in scope: answered with a wrong entry
    in_declined: float
    near_wrong: float  # near-domain (questions the base cannot answer): answered (with some entry)
    near_suggested: float
    near_declined: float
    off_declined: float  # off-domain
    off_answered: float
    off_suggested: float
    p50_ms: float
    p99_ms: float


def visitor_figures(kb: KnowledgeBase, in_scope: list[tuple[str, str]], near: list[str], off: list[str]
                    ) -> VisitorFigures:
    """Ask every question one at a time as the server does (retrieval and the policy, no LLM) and count what the
    visitor would have seen; `in_scope` pairs a question with its entry's key (the id after ``#``)."""
    latencies: list[float] = []

    def ask(question: str) -> tuple[list[Match], Decision]:
        t0 = time.perf_counter()
        matches = kb.search(question, 5)
        decision = decide(question, matches, kb.thresholds)
        latencies.append((time.perf_counter() - t0) * 1000)
        return matches, decision

    counts = dict.fromkeys(("top1", "in_correct", "in_shown", "in_wrong", "in_declined", "near_wrong",
                            "near_suggested", "near_declined", "off_declined", "off_answered", "off_suggested"), 0)
    for question, want in in_scope:
        matches, d = ask(question)
        first = matches[0].entry.id.split("#", 1)[1] if matches else None
        counts["top1"] += first == want
        if d.kind == "answer":
            counts["in_correct" if first == want else "in_wrong"] += 1
            counts["in_shown"] += first == want
        elif d.kind == "suggest":
            counts["in_shown"] += want in [s["id"].split("#", 1)[1] for s in d.suggestions]
        else:
            counts["in_declined"] += 1
    for kind, questions in (("near", near), ("off", off)):
        for question in questions:
            _, d = ask(question)
            counts[{"answer": f"{kind}_{'wrong' if kind == 'near' else 'answered'}", "suggest": f"{kind}_suggested"}
                   .get(d.kind, f"{kind}_declined")] += 1
    sizes = {"top1": len(in_scope), "in": len(in_scope), "near": len(near), "off": len(off)}
    shares = {k: v / max(sizes["top1" if k == "top1" else k.split("_", 1)[0]], 1) for k, v in counts.items()}
    figures: VisitorFigures = {**shares, "p50_ms": statistics.median(latencies),  # type: ignore[typeddict-item]
                               "p99_ms": float(np.percentile(latencies, 99))}
    return figures
