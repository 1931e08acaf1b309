"""The answer policy and its calibration: pure functions over scores."""

from __future__ import annotations

import pytest

from switchboard.llm.calibrate import _answer_cut, _best_cut, read_questions
from switchboard.llm.kb import KnownEntry, Match, Thresholds
from switchboard.llm.intents import wants_person
from switchboard.llm.policy import ABOUT_BOT_TEXT, decide
from switchboard.llm.sources import SourceError, parse_faq

T = Thresholds(answer=0.6, suggest=0.4)


def match(key: str, score: float, kind: str = "faq", topic: float | None = None) -> Match:
    return Match(KnownEntry(f"faq.yaml#{key}", "faq.yaml", kind, f"Question {key}?", f"Answer {key}."), score, topic)


@pytest.mark.parametrize("text", ["human", "Agent please", "I want to talk to a real person",
                                  "can you connect me with someone", "speak to a representative", "转人工", "人工",
                                  "我要人工客服"])
def test_asking_for_a_person_in_english_or_chinese_is_recognised(text: str) -> None:
    assert wants_person(text)


@pytest.mark.parametrize("text", ["how are agents assigned to visitors?", "is the human body 60% water",
                                  "what does a person need to rent a bike", "人工智能是什么"])
def test_merely_mentioning_people_is_not_a_request_for_one(text: str) -> None:
    assert not wants_person(text)


def test_a_high_score_answers_with_the_faq_answer_and_names_its_source() -> None:
    d = decide("q", [match("a", 0.8), match("b", 0.5)], T)
    assert (d.kind, d.text, d.sources) == ("answer", "Answer a.", [{"id": "faq.yaml#a", "title": "Question a?"}])


def test_a_medium_score_offers_up_to_three_suggestions_above_the_floor() -> None:
    d = decide("q", [match("a", 0.55), match("b", 0.5), match("c", 0.45), match("d", 0.42), match("e", 0.3)], T)
    assert d.kind == "suggest" and [s["id"] for s in d.suggestions] == ["faq.yaml#a", "faq.yaml#b", "faq.yaml#c"]


def test_a_low_score_is_declined_with_an_offer_of_a_person() -> None:
    d = decide("what's the weather", [match("a", 0.2)], T)
    assert d.kind == "decline" and d.low and "person" in d.text


def test_a_question_off_topic_is_declined_however_well_its_common_words_match() -> None:
    d = decide("how long do I have to live", [match("a", 0.8, topic=0.3), match("b", 0.5, topic=0.2)], T)
    assert d.kind == "decline" and d.low


def test_a_question_on_topic_is_engaged_and_offered_only_the_entries_on_topic() -> None:
    d = decide("q", [match("a", 0.45, topic=0.35), match("b", 0.42, topic=0.5), match("c", 0.41, topic=0.3)], T)
    assert d.kind == "suggest" and [s["id"] for s in d.suggestions] == ["faq.yaml#b"]
    assert decide("q", [match("a", 0.7, topic=0.2), match("b", 0.5, topic=0.45)], T).kind == "answer"


def test_the_third_low_score_in_a_row_hands_off() -> None:
    assert decide("?", [match("a", 0.1)], T, low_streak=1, streak_limit=3).kind == "decline"
    assert decide("?", [match("a", 0.1)], T, low_streak=2, streak_limit=3).kind == "handoff"
    assert decide("?", [match("a", 0.1)], T, low_streak=9, streak_limit=0).kind == "decline"


def test_an_empty_base_declines() -> None:
    assert decide("anything", [], T).kind == "decline"


def test_calibration_picks_the_cut_that_maximises_precision_plus_recall() -> None:
    good, bad = [0.9, 0.8, 0.7, 0.45], [0.5, 0.3, 0.2, 0.1]
    cut = _best_cut(good, bad)
    # Keeping all four good ones and one bad (P=0.8, R=1) beats dropping the 0.45 (P=1, R=0.75).
    assert 0.3 < cut <= 0.45


def test_the_answer_threshold_is_where_first_matches_are_right_nine_times_in_ten() -> None:
    labelled = [(0.9, True), (0.85, True), (0.8, True), (0.75, True), (0.7, True), (0.65, True), (0.62, True),
                (0.6, True), (0.58, True), (0.55, False), (0.5, False), (0.45, True)]
    answer, precision = _answer_cut(labelled, [0.41], 0.4)
    assert answer == 0.55 and precision == pytest.approx(0.9)  # 9 right of the 10 at or above 0.55


def test_faq_files_in_json_and_csv_read_like_yaml_and_ignore_unknown_keys() -> None:
    as_json = parse_faq('[{"id": "a", "question": "Q?", "alternatives": ["Q2"], "answer": "A.", "owner": "x"}]',
                        ".json", "f.json")
    as_csv = parse_faq("id,question,alternatives,answer\na,Q?,Q2,A.\n", ".csv", "f.csv")
    assert as_json == as_csv and as_json[0].phrasings == ("Q?", "Q2", "Q? A.")


def test_a_malformed_faq_names_the_file_and_the_entry() -> None:
    with pytest.raises(SourceError, match=r"f.yaml: entry 2 needs a non-empty question and answer"):
        parse_faq("- question: Q\n  answer: A.\n- question: only a question\n", ".yaml", "f.yaml")
    with pytest.raises(SourceError, match="repeats the id"):
        parse_faq("- {id: a, question: Q, answer: A.}\n- {id: a, question: R, answer: B.}\n", ".yaml", "f.yaml")


def test_calibration_questions_may_be_plain_lines_or_json_lines_with_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "good.txt"
    path.write_text('# a comment\nhow do returns work\n{"q": "is shipping free", "id": "shipping"}\n\n')
    assert read_questions(path) == [("how do returns work", None), ("is shipping free", "shipping")]


@pytest.mark.parametrize("question", ["Are you a real person?", "am I talking to a bot?", "你是真人吗", "你是机器人吗？"])
def test_a_question_about_the_bot_is_answered_not_handed_off(question: str) -> None:
    decision = decide(question, [], Thresholds(0.6, 0.3))
    assert (decision.kind, decision.text, decision.sources) == ("answer", ABOUT_BOT_TEXT, [])
