"""A knowledge base an admin can trust: demo content marked and switched off, bases kept apart, the
embedder remembered, and every decision explained (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.kb import KnowledgeBase, Thresholds, stored_embedder
from switchboard.llm.policy import decide
from switchboard.llm.sources import read_source
from switchboard.store import kb as kb_store

BIKES = """
- id: opening-hours
  question: What are your opening hours?
  alternatives: ["When is the shop open?"]
  answer: The bike shop opens Monday to Saturday, 9:00 to 18:00.
- id: returns
  question: How long do I have to return a bike?
  answer: Within 30 days of delivery.
"""
BAKERY = """
- id: hours
  question: What are your opening hours?
  alternatives: ["When does the bakery open?"]
  answer: The bakery opens every day from 7:00 to 14:00.
- id: gluten
  question: Do you bake gluten-free bread?
  answer: Yes, on Fridays.
"""


def source(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text)
    return read_source(path)


@pytest.fixture
def kb(store: str, tmp_path: Path) -> KnowledgeBase:
    kb_store.forget_all()
    return KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())


def test_demo_documents_are_marked_and_the_admins_first_own_document_switches_them_off(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_sources([source(tmp_path, "bikes.yaml", BIKES)], demo=True)
    assert [(d["name"], d["demo"]) for d in kb.documents()] == [("bikes.yaml", True)] and kb.demo == "auto"
    kb.ingest_sources([source(tmp_path, "bakery.yaml", BAKERY)])
    assert [(d["name"], d["demo"]) for d in kb.documents()] == [("bakery.yaml", False)]
    assert kb.demo == "off" and all(not e.demo for e in kb.entries.values())
    top = kb.search("what are your opening hours?")[0]
    assert top.entry.id == "bakery.yaml#hours"


def test_the_admins_choice_to_keep_the_demo_survives_an_upload(kb: KnowledgeBase, tmp_path: Path) -> None:
    bikes = source(tmp_path, "bikes.yaml", BIKES)
    kb.set_demo(True, [bikes])
    kb.ingest_sources([source(tmp_path, "bakery.yaml", BAKERY)])
    assert {d["name"]: d["demo"] for d in kb.documents()} == {"bikes.yaml": True, "bakery.yaml": False}
    assert kb.set_demo(False) == 0 and [d["name"] for d in kb.documents()] == ["bakery.yaml"]
    reopened = KnowledgeBase.open(kb.dir, HashingEmbedder())
    assert reopened.demo == "off" and len(reopened) == 2


def test_with_the_demo_on_beside_them_the_admins_entries_are_never_beaten_by_the_demos(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.set_demo(True, [source(tmp_path, "bikes.yaml", BIKES)])
    kb.ingest_sources([source(tmp_path, "bakery.yaml", BAKERY)])
    matches = kb.search("When is the shop open?")  # the demo's own alternative, word for word
    assert matches[0].entry.demo  # retrieval alone ranks the demo first ...
    decision = decide("When is the shop open?", matches, Thresholds(0.3, 0.2))
    assert decision.matches and all(not m.entry.demo for m in decision.matches)  # ... the decision does not
    assert decision.kind == "answer" and "bakery" in decision.text


def test_two_bases_in_one_store_share_no_entries_even_of_the_same_name(store: str, tmp_path: Path) -> None:
    kb_store.forget_all()
    first = KnowledgeBase.open(tmp_path / "one", HashingEmbedder())
    second = KnowledgeBase.open(tmp_path / "two", HashingEmbedder(), base=str(tmp_path / "two"))
    first.ingest_sources([source(tmp_path, "faq.yaml", BIKES)])
    second.ingest_sources([source(tmp_path, "faq.yaml", BAKERY)])
    assert KnowledgeBase.open(tmp_path / "one", HashingEmbedder()).search("opening hours")[0].entry.text.startswith("The bike")
    again = KnowledgeBase.open(tmp_path / "two", HashingEmbedder(), base=str(tmp_path / "two"))
    assert sorted(again.entries) == ["faq.yaml#gluten", "faq.yaml#hours"]
    assert second.remove("faq.yaml") and len(KnowledgeBase.open(tmp_path / "one", HashingEmbedder())) == 2


def test_documents_are_named_by_path_so_two_readmes_coexist(kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Shop\n\nWe sell bikes.\n")
    (tmp_path / "docs" / "README.md").write_text("# Docs\n\nHow to write docs.\n")
    one = read_source(tmp_path / "README.md", name="README.md")
    two = read_source(tmp_path / "docs" / "README.md", name="docs/README.md")
    kb.ingest_sources([one, two])
    assert [d["name"] for d in kb.documents()] == ["README.md", "docs/README.md"]


def test_a_base_remembers_its_embedder_without_loading_it(kb: KnowledgeBase, tmp_path: Path) -> None:
    assert stored_embedder(kb.dir) is None or stored_embedder(kb.dir) == "hashing"
    kb.ingest_sources([source(tmp_path, "bakery.yaml", BAKERY)])
    assert stored_embedder(kb.dir) == "hashing" and stored_embedder(tmp_path / "nowhere") is None


def test_every_decision_says_why_with_the_scores_and_thresholds_it_compared(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_sources([source(tmp_path, "bakery.yaml", BAKERY)])
    thresholds = Thresholds(0.6, 0.3)
    answered = decide("When does the bakery open?", kb.search("When does the bakery open?"), thresholds).as_json()
    assert answered["decision"] == "answer" and ">= answer 0.600" in answered["why"]
    assert answered["thresholds"] == {"answer": 0.6, "suggest": 0.3, "confident": 0.65}
    assert answered["matches"][0]["id"] == "bakery.yaml#hours" and answered["matches"][0]["demo"] is False
    declined = decide("who won the 1998 world cup?", kb.search("who won the 1998 world cup?"), thresholds).as_json()
    assert declined["decision"] == "decline" and "< suggest 0.300" in declined["why"]
    person = decide("I want to talk to a person", [], thresholds).as_json()
    assert person["decision"] == "handoff" and person["why"] == "the visitor asked for a person"


def test_switching_the_demo_on_never_replaces_the_admins_document_of_the_same_name(kb: KnowledgeBase,
                                                                                  tmp_path: Path) -> None:
    kb.ingest_sources([source(tmp_path, "faq.yaml", BAKERY)])
    (tmp_path / "demo").mkdir()
    kb.set_demo(True, [source(tmp_path / "demo", "faq.yaml", BIKES), source(tmp_path / "demo", "bikes.yaml", BIKES)])
    assert {d["name"]: d["demo"] for d in kb.documents()} == {"faq.yaml": False, "bikes.yaml": True}
    assert kb.search("do you bake gluten-free bread?")[0].entry.id == "faq.yaml#gluten"
