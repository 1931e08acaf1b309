"""The prompt builder: what the model is told, in which order, and what gives way to the token budget."""

from __future__ import annotations

from switchboard.llm.prompt import (
    MESSAGE_OVERHEAD,
    SYSTEM_PROMPT,
    SYSTEM_PROMPT_NO_TOOL,
    build_messages,
    estimate_tokens,
    truncate_to_tokens,
)

CHUNKS = [("Refunds", "Refunds take 5 working days."), ("Shipping", "We ship worldwide."),
          ("Opening hours", "We answer chats from 9 to 18.")]
ROOMY = 10_000


def total(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)


def test_english_costs_one_token_per_four_characters_rounded_up() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_each_cjk_character_costs_one_token() -> None:
    assert estimate_tokens("退款多久到账") == 6
    assert estimate_tokens("退款 refund") == 2 + 2  # two characters, then " refund" (7 characters)
    assert estimate_tokens("カタカナ한국어") == 7


def test_the_system_message_asks_for_cited_answers_from_the_sources_only() -> None:
    system = build_messages("How long do refunds take?", [], CHUNKS, ROOMY, 6)[0]
    assert system["role"] == "system"
    assert system["content"].startswith(SYSTEM_PROMPT)
    for words in ("only", "[1], [2]", "do not know", "handoff tool"):
        assert words in system["content"]


def test_the_sources_are_numbered_in_rank_order_with_their_titles() -> None:
    system = build_messages("q", [], CHUNKS, ROOMY, 6)[0]["content"]
    assert "[1] Refunds\nRefunds take 5 working days." in system
    assert system.index("[1] Refunds") < system.index("[2] Shipping") < system.index("[3] Opening hours")


def test_without_the_handoff_tool_the_instructions_do_not_mention_it() -> None:
    system = build_messages("q", [], CHUNKS, ROOMY, 6, handoff_tool=False)[0]["content"]
    assert system.startswith(SYSTEM_PROMPT_NO_TOOL)
    assert "handoff" not in system


def test_turns_follow_the_system_message_as_user_and_assistant_and_the_question_comes_last() -> None:
    turns = [("visitor", "hi"), ("bot", "Hello! How can I help?"), ("visitor", "refunds?"), ("bot", "5 days.")]
    messages = build_messages("and shipping?", turns, CHUNKS, ROOMY, 6)
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "hi"), ("assistant", "Hello! How can I help?"), ("user", "refunds?"), ("assistant", "5 days."),
        ("user", "and shipping?")]


def test_only_the_last_max_turns_turns_are_carried() -> None:
    turns = [("visitor", f"v{i}") if i % 2 == 0 else ("bot", f"b{i}") for i in range(10)]
    messages = build_messages("q", turns, CHUNKS, ROOMY, 4)
    assert [m["content"] for m in messages[1:]] == ["v6", "b7", "v8", "b9", "q"]


def test_no_turns_are_carried_when_max_turns_is_zero() -> None:
    messages = build_messages("q", [("visitor", "earlier")], CHUNKS, ROOMY, 0)
    assert [m["content"] for m in messages[1:]] == ["q"]


def test_consecutive_turns_of_one_role_merge_and_a_leading_bot_turn_is_dropped() -> None:
    turns = [("bot", "Welcome!"), ("visitor", "hello"), ("visitor", "anyone?"), ("system", "queued")]
    messages = build_messages("refunds?", turns, CHUNKS, ROOMY, 6)
    assert [(m["role"], m["content"]) for m in messages[1:]] == [("user", "hello\n\nanyone?\n\nrefunds?")]


def test_the_oldest_turns_give_way_first_when_over_budget() -> None:
    turns = [("visitor", "old " * 40), ("bot", "older answer " * 10), ("visitor", "recent"), ("bot", "recent answer")]
    everything = build_messages("q", turns, CHUNKS, ROOMY, 6)
    budget = total(everything) - 1
    messages = build_messages("q", turns, CHUNKS, budget, 6)
    assert [m["content"] for m in messages[1:]] == ["recent", "recent answer", "q"]
    assert messages[0] == everything[0]  # every chunk still there
    assert total(messages) <= budget


def test_the_lowest_ranked_chunks_give_way_once_no_turns_are_left() -> None:
    turns = [("visitor", "hello"), ("bot", "hi")]
    no_turns = build_messages("q", [], CHUNKS, ROOMY, 6)
    messages = build_messages("q", turns, CHUNKS, total(no_turns) - 1, 6)
    system = messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == ["q"]
    assert "[1] Refunds" in system and "[2] Shipping" in system and "\n[3] " not in system


def test_the_last_remaining_chunk_is_cut_short_to_fit() -> None:
    long_chunk = [("Refunds", "Refunds take 5 working days. " * 50)]
    only_title = build_messages("q", [], [("Refunds", "")], ROOMY, 6)
    budget = total(only_title) + 20
    messages = build_messages("q", [("visitor", "hi")], long_chunk + CHUNKS[1:], budget, 6)
    system = messages[0]["content"]
    assert "[1] Refunds\nRefunds take 5 working days." in system and system.endswith(" …")
    assert "\n[2] " not in system
    assert budget - 2 <= total(messages) <= budget


def test_the_question_and_instructions_stay_even_over_budget() -> None:
    question = "Why " * 100
    messages = build_messages(question, [("visitor", "hi")], CHUNKS, 10, 6)
    assert messages[0]["content"].startswith(SYSTEM_PROMPT)
    assert "\n[1] " not in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": question}
    assert len(messages) == 2


def test_a_chinese_chunk_is_cut_by_characters() -> None:
    chunk = [("退款", "退款将在五个工作日内原路退回。" * 40)]
    only_title = build_messages("退款多久？", [], [("退款", "")], ROOMY, 6)
    messages = build_messages("退款多久？", [], chunk, total(only_title) + 30, 6)
    system = messages[0]["content"]
    kept = system.split("[1] 退款\n", 1)[1]
    assert kept.startswith("退款将在五个工作日内") and kept.endswith(" …")
    assert 25 <= estimate_tokens(kept) <= 30


def test_truncating_keeps_short_text_whole_and_cuts_long_text_with_a_mark() -> None:
    assert truncate_to_tokens("short", 10) == "short"
    cut = truncate_to_tokens("word " * 100, 10)
    assert cut.endswith(" …") and estimate_tokens(cut) <= 10
    assert truncate_to_tokens("word " * 100, 0) == ""
