"""store.kb: the knowledge base's documents and entries, written and read back as typed values."""

from __future__ import annotations

from datetime import datetime, timezone

from switchboard.store import kb
from switchboard.store.kb import StoredDocument, StoredEntry

ADDED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def faq_entry(key: str, document: str = "faq.yaml", text: str = "9 to 5", vids: tuple[int, ...] = (1, 2)) -> StoredEntry:
    return StoredEntry(f"{document}#{key}", document, "faq", "Opening hours?", text, ("When are you open?",), vids)


def test_saving_a_document_again_replaces_it_and_documents_are_listed_by_name(store: str) -> None:
    kb.save_document(StoredDocument("repairs.md", "markdown", "aa", 10, 2, ADDED))
    kb.save_document(StoredDocument("faq.yaml", "faq", "bb", 20, 3, ADDED))
    kb.save_document(StoredDocument("repairs.md", "markdown", "cc", 11, 4, ADDED))
    assert [(d.name, d.sha256, d.entries) for d in kb.documents()] == [("faq.yaml", "bb", 3), ("repairs.md", "cc", 4)]
    found = kb.document("faq.yaml")
    assert found is not None and (found.kind, found.size, found.added_at is not None) == ("faq", 20, True)


def test_a_deleted_or_unknown_document_is_none(store: str) -> None:
    kb.save_document(StoredDocument("faq.yaml", "faq", "bb", 20, 3, ADDED))
    kb.delete_document("faq.yaml")
    kb.delete_document("never-stored.md")  # no error
    assert kb.document("faq.yaml") is None and kb.documents() == []


def test_entries_come_back_as_they_were_put(store: str) -> None:
    entry = faq_entry("hours")
    kb.put_entries([entry])
    assert list(kb.entries()) == [entry]


def test_putting_entries_the_store_holds_already_replaces_them(store: str) -> None:
    kb.put_entries([faq_entry("hours")])
    kb.put_entries([faq_entry("hours", text="10 to 6", vids=(7,)), faq_entry("returns")])  # a repair re-indexing
    assert sorted((e.id, e.text, e.vids) for e in kb.entries()) == [
        ("faq.yaml#hours", "10 to 6", (7,)), ("faq.yaml#returns", "9 to 5", (1, 2))]


def test_deleting_a_documents_entries_leaves_the_others(store: str) -> None:
    kb.put_entries([faq_entry("hours"), faq_entry("intro", document="about.md")])
    kb.delete_entries("faq.yaml")
    assert [e.id for e in kb.entries()] == ["about.md#intro"]


def test_forgetting_all_empties_both_collections(store: str) -> None:
    kb.save_document(StoredDocument("faq.yaml", "faq", "bb", 20, 1, ADDED))
    kb.put_entries([faq_entry("hours")])
    kb.forget_all()
    assert kb.documents() == [] and list(kb.entries()) == []
