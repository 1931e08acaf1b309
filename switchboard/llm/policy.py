"""The answer policy: from a question and its best matches to what the bot does.

Pure functions, no I/O: the scores come from :mod:`.kb`, the thresholds from
calibration (:mod:`.calibrate`). Four decisions:

* ``handoff``: the visitor asked for a person ("human", "talk to a real person", "转人工", ...;
  :mod:`.intents`), or this is the N-th low-confidence question in a row (``low_streak_handoff``). A question
  about the bot ("are you a real person?", "你是机器人吗") is answered with :data:`ABOUT_BOT_TEXT` instead.
* ``decline``: no match is on topic (its topic score, :attr:`Match.topic_score`,
  is below ``thresholds.suggest``): off-topic chatter or a question the base
  does not cover. The bot says it does not know and offers a person, rather than
  guess (HuixiangDou's rejection idea: a wrong answer costs more than no answer).
* ``answer``: otherwise, if the first match ranks at least ``thresholds.confident`` (its
  :attr:`~.kb.Match.rank`, which blends the knowledge base's head (:mod:`.head`) with the cosine score) or,
  while the base has no head, scores at least ``thresholds.answer``.
* ``suggest``: otherwise: "did you mean" with up to three entries the visitor can pick, in rank order: those
  ranking at least half the first (with a head), or on topic (without one).

The topic score is the match's plain score for the semantic embedder; the
hashing embedder weighs the question's rare words more in it (see
:meth:`~.embedders.HashingEmbedder.embed_topical`): ranking wants every word,
"how long" and "how much" included, while whether a question is about the
business at all is told by its rarer words. Both embedders' topic scores are
lowered for a question much like one of the off-topic examples the base was
calibrated with (:func:`~.kb.off_topic_penalty`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypedDict

from switchboard.llm.intents import asks_about_bot, wants_person
from switchboard.llm.kb import Match, Thresholds

__all__ = ["Decision", "DecisionJson", "decide", "on_topic", "own_first", "MAX_SUGGESTIONS", "DECLINE_TEXT", "HANDOFF_TEXT",
           "ABOUT_BOT_TEXT",
           "STREAK_HANDOFF_TEXT"]

MAX_SUGGESTIONS = 3
DECLINE_TEXT = ("Sorry, I don't know the answer to that. I can only help with questions about this service. "
                "You can rephrase your question, or ask to talk to a person.")
HANDOFF_TEXT = "Of course: I'm connecting you to a person. Please stay on this page."
STREAK_HANDOFF_TEXT = ("I couldn't find answers to your last few questions, so I'm connecting you to a person. "
                       "Please stay on this page.")
SUGGEST_TEXT = "I'm not sure I understood. Did you mean one of these?"
ABOUT_BOT_TEXT = ("I'm the automated assistant: I answer from this service's help pages. A person can take over any "
                  "time: just ask to talk to a person.")

class MatchJson(TypedDict):
    id: str
    document: str
    title: str
    score: float  # the cosine score; without a head it ranks and is compared with the answer threshold
    topic: float  # decides whether the bot engages; compared with the suggest threshold
    confidence: float | None  # the head's probability (None: no head)
    rank: float  # orders the matches; with a head, compared with `confident`
    demo: bool


class DecisionJson(TypedDict):
    """A decision as ``kb ask`` and the REST ``kb/ask`` show it: what, from which matches, and why."""

    decision: str
    why: str
    thresholds: dict[str, float]  # {"answer", "suggest"}
    matches: list[MatchJson]
    suggestions: list[dict[str, str]]
    sources: list[dict[str, str]]
    answer: str


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # answer | suggest | decline | handoff
    text: str  # what the bot says (the retrieval answer; an LLM may replace it for `answer`)
    matches: list[Match] = field(default_factory=list)
    suggestions: list[dict[str, str]] = field(default_factory=list)  # [{"id", "question"}]
    sources: list[dict[str, str]] = field(default_factory=list)  # [{"id", "title"}]
    low: bool = False  # a low-confidence question: counts towards the streak
    document: str | None = None  # the best on-topic match's document: a hand-off goes to its group
    why: str = ""  # the rule that decided, with the scores and thresholds it compared (the "test the bot" box)
    thresholds: Thresholds | None = None

    def as_json(self) -> DecisionJson:
        t = self.thresholds
        return {"decision": self.kind, "why": self.why,
                "thresholds": {"answer": round(t.answer, 4), "suggest": round(t.suggest, 4),
                               "confident": round(t.confident, 4)} if t else {},
                "matches": [{"id": m.entry.id, "document": m.entry.document, "title": m.entry.title or m.entry.document,
                             "score": round(m.score, 4), "topic": round(m.topic_score, 4),
                             "confidence": None if m.confidence is None else round(m.confidence, 4),
                             "rank": round(m.rank, 4),
                             "demo": m.entry.demo}
                            for m in self.matches],
                "suggestions": self.suggestions, "sources": self.sources, "answer": self.text}


def decide(question: str, matches: list[Match], thresholds: Thresholds, *, low_streak: int = 0,
           streak_limit: int = 0) -> Decision:
    """What to do with `question`; `low_streak` counts the low-confidence questions just before it. The
    decision names the document of the best on-topic match (a hand-off goes to that document's group)."""
    matches = own_first(matches, thresholds)
    decision = replace(_decide(question, matches, thresholds, low_streak, streak_limit), thresholds=thresholds)
    if on_topic(matches, thresholds):
        best = max((m for m in matches if m.topic_score >= thresholds.suggest),
                   key=lambda m: m.rank)
        return replace(decision, document=best.entry.document)
    return decision


def own_first(matches: list[Match], thresholds: Thresholds) -> list[Match]:
    """The matches without the demo's when one of the admin's own entries is on topic: the demo content
    (switched on beside the admin's documents) never beats them."""
    if any(m.entry.demo for m in matches) and any(not m.entry.demo and m.topic_score >= thresholds.suggest
                                                  for m in matches):
        return [m for m in matches if not m.entry.demo]
    return matches


def _decide(question: str, matches: list[Match], thresholds: Thresholds, low_streak: int,
            streak_limit: int) -> Decision:
    if wants_person(question):
        return Decision("handoff", HANDOFF_TEXT, matches, why="the visitor asked for a person")
    if asks_about_bot(question):  # "are you a real person?" is a question, not a request for one
        return Decision("answer", ABOUT_BOT_TEXT, matches, why="the visitor asked about the bot itself")
    topic = max((m.topic_score for m in matches), default=0.0)
    if on_topic(matches, thresholds):
        engaged = f"on topic (best topic score {topic:.3f} >= suggest {thresholds.suggest:.3f})"
        first = matches[0]
        if first.confidence is not None:
            sure, signal = first.rank >= thresholds.confident, (
                f"the first match ranks {first.rank:.3f} (head {first.confidence:.3f}, score {first.score:.3f})",
                "confident", thresholds.confident)
        else:
            sure, signal = first.score >= thresholds.answer, (
                f"the first match scores {first.score:.3f}", "answer", thresholds.answer)
        compared = f"{signal[0]} {'>=' if sure else '<'} {signal[1]} {signal[2]:.3f}"
        if sure:
            top = first.entry
            text = top.text if top.kind == "faq" else f"{top.text}\n\n(from: {top.title or top.document})"
            return Decision("answer", text, matches, sources=[{"id": top.id, "title": top.title or top.document}],
                            why=f"{engaged}, and {compared}: answered from {top.id}")
        picks = _suggestions(matches, thresholds.suggest)
        return Decision("suggest", SUGGEST_TEXT, matches, suggestions=picks,
                        why=f"{engaged}, but {compared}: suggested {len(picks)} "
                            f"{'entry' if len(picks) == 1 else 'entries'}")
    declined = (f"no match is on topic (best topic score {topic:.3f} < suggest {thresholds.suggest:.3f})"
                if matches else "the knowledge base has no entries")
    if streak_limit and low_streak + 1 >= streak_limit:
        return Decision("handoff", STREAK_HANDOFF_TEXT, matches, low=True,
                        why=f"{declined}, the {low_streak + 1}th such question in a row: handed to a person")
    return Decision("decline", DECLINE_TEXT, matches, low=True, why=declined)


def on_topic(matches: list[Match], thresholds: Thresholds) -> bool:
    """True when one of the matches is on topic: the bot engages rather than declines."""
    return any(m.topic_score >= thresholds.suggest for m in matches)


SUGGEST_RANK_SHARE = 0.5  # with a head, a suggestion ranks at least this share of the first match's rank


def _suggestions(matches: list[Match], floor: float) -> list[dict[str, str]]:
    """Up to :data:`MAX_SUGGESTIONS` distinct entries, in order: without a head those whose topic score reaches
    `floor`; with one, those ranking at least :data:`SUGGEST_RANK_SHARE` of the first.

    With a head the topic filter hid the right entry too often (BANKING77's tuning halves: the right entry shown
    0.853-0.857 with it, 0.887-0.890 with no filter), but no filter at all offers a small FAQ's plainly unrelated
    entries ("shipping" -> "When are your stores open?"); half the first's rank kept 0.882-0.890 of it."""
    picks: list[dict[str, str]] = []
    seen: set[str] = set()
    first = matches[0].rank if matches else 0.0
    for m in matches:
        question = m.entry.title if m.entry.kind == "faq" else (m.entry.title or m.entry.text[:80])
        relevant = m.topic_score >= floor if m.confidence is None else m.rank >= SUGGEST_RANK_SHARE * first
        if not relevant or question in seen:
            continue
        seen.add(question)
        picks.append({"id": m.entry.id, "question": question})
        if len(picks) == MAX_SUGGESTIONS:
            break
    return picks
