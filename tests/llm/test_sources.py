"""FAQ files an admin uploads are parsed with bounded work: what a hostile or careless file gets."""

from __future__ import annotations

import pytest

from switchboard.llm import sources
from switchboard.llm.sources import SourceError, parse_faq


def test_an_faq_entry_with_more_than_100_alternatives_is_refused_with_its_number() -> None:
    many = ", ".join(f'"way {i}"' for i in range(101))
    with pytest.raises(SourceError, match="entry 1 has 101 alternatives; at most 100"):
        parse_faq(f"- question: Q\n  answer: A\n  alternatives: [{many}]\n", ".yaml", "faq.yaml")


def test_yaml_aliases_cannot_multiply_one_list_into_a_hundred_thousand_phrasings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_PHRASINGS", 1000)  # the default is 100,000: the same rule, smaller
    alternatives = "alts: &a [" + ", ".join(f'"q{i}"' for i in range(50)) + "]\nfaq:\n"
    entries = "".join(f"- {{id: e{i}, question: Q{i}, answer: A, alternatives: *a}}\n" for i in range(100))

    with pytest.raises(SourceError, match="more than 1,000 questions and alternatives in one file"):
        parse_faq(alternatives + entries, ".yaml", "aliases.yaml")


@pytest.mark.parametrize(("text", "suffix"), [("[" * 600 + "]" * 600, ".yaml"), ("[" * 5000 + "]" * 5000, ".json")])
def test_deeply_nested_data_is_a_clear_error_not_a_crash(text: str, suffix: str) -> None:
    with pytest.raises(SourceError):
        parse_faq(text, suffix, f"deep{suffix}")
