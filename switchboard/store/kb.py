"""The knowledge base's records: its documents and their entries, read and written as typed values.

The bot's knowledge base (:mod:`switchboard.llm.kb`) keeps its vectors in Faiss files and its
entries here, in ``kb_documents`` and ``kb_entries``; the entries are the record, the index is
derived from them. This module is the only one that queries those two collections: it takes and
returns plain frozen values, so no mongoengine document leaves the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from switchboard.store.documents import KbDocument, KbEntry, SkillGroup

__all__ = ["StoredDocument", "StoredEntry", "delete_document", "delete_entries", "document", "documents",
           "entries", "forget_all", "put_entries", "save_document", "document_group", "set_document_group"]

_BATCH = 1000  # entries per insert


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One knowledge source (a markdown or FAQ file); its name is its id, so saving it again replaces it."""

    name: str
    kind: str  # markdown | faq
    sha256: str
    size: int
    entries: int
    added_at: datetime | None
    group: str = ""  # the skill group the bot hands off to after matching it ("": the default group)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One searchable unit of a document (a chunk or an FAQ entry), with its phrasings' vector ids."""

    id: str  # <document>#<key>
    document: str
    kind: str  # chunk | faq
    title: str
    text: str
    alternatives: tuple[str, ...] = ()
    vids: tuple[int, ...] = ()


def documents() -> list[StoredDocument]:
    """Every document, by name."""
    return [_document(d) for d in KbDocument.objects.order_by("id")]


def document(name: str) -> StoredDocument | None:
    found = KbDocument.objects(id=name).first()
    return None if found is None else _document(found)


def save_document(doc: StoredDocument) -> None:
    """Store `doc`, replacing a document of the same name."""
    KbDocument(id=doc.name, kind=doc.kind, sha256=doc.sha256, size=doc.size, entries=doc.entries,
               added_at=doc.added_at, group=doc.group).save()


def set_document_group(name: str, group: str) -> bool:
    """Set the hand-off group of document `name` ("" for the default); False if there is no such document."""
    return bool(KbDocument.objects(id=name).update_one(set__group=group))


def document_group(name: str) -> str | None:
    """The hand-off group of document `name` if it has one and that group still exists, else None."""
    found = KbDocument.objects(id=name).only("group").first()
    group = str(found.group or "") if found is not None else ""
    if not group or SkillGroup.objects(id=group).only("id").first() is None:
        return None
    return group


def delete_document(name: str) -> None:
    """Delete the document record (its entries go with :func:`delete_entries`); no such document is no error."""
    KbDocument.objects(id=name).delete()


def entries() -> Iterator[StoredEntry]:
    """Every entry, streamed (not cached by mongoengine: a base holds tens of thousands)."""
    return (_entry(e) for e in KbEntry.objects.no_cache())


def put_entries(new: Sequence[StoredEntry]) -> None:
    """Store `new`, in batches. A batch any of whose entries the store holds already (a repair re-indexing
    them) is saved entry by entry, replacing them; the others are inserted in one call."""
    for start in range(0, len(new), _BATCH):
        part = [KbEntry(id=e.id, document=e.document, kind=e.kind, title=e.title, text=e.text,
                        alternatives=list(e.alternatives), vids=list(e.vids)) for e in new[start:start + _BATCH]]
        if KbEntry.objects(id__in=[d.id for d in part]).only("id").first() is not None:
            for doc in part:
                doc.save()
        else:
            KbEntry.objects.insert(part, load_bulk=False)


def delete_entries(document: str) -> None:
    """Delete every entry of `document`."""
    KbEntry.objects(document=document).delete()


def forget_all() -> None:
    """Delete every document and entry (a fresh base: evaluations and tests)."""
    KbDocument.objects.delete()
    KbEntry.objects.delete()


def _document(d: KbDocument) -> StoredDocument:
    return StoredDocument(str(d.id), str(d.kind), str(d.sha256), int(d.size or 0), int(d.entries or 0), d.added_at,
                          str(d.group or ""))


def _entry(e: KbEntry) -> StoredEntry:
    return StoredEntry(str(e.id), str(e.document), str(e.kind), e.title or "", e.text or "",
                       tuple(e.alternatives or ()), tuple(int(v) for v in e.vids or ()))
