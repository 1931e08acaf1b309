"""The knowledge base's records: its documents and their entries, read and written as typed values.

The bot's knowledge base (:mod:`switchboard.llm.kb`) keeps its vectors in Faiss files and its
entries here, in ``kb_documents`` and ``kb_entries``; the entries are the record, the index is
derived from them. This module is the only one that queries those two collections: it takes and
returns plain frozen values, so no mongoengine document leaves the store.

Several bases may share one store (``switchboard kb --kb-dir``, an evaluation): every function takes the
``base`` it works on, and no base sees another's documents. The default base (:data:`DEFAULT_BASE`) keeps
the unprefixed ids and the absent ``base`` field of documents stored before bases were kept apart; any
other base's ids are prefixed with ``<base>::``, so two bases may each hold a ``README.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from switchboard.store.documents import KbDocument, KbEntry, SkillGroup

__all__ = ["StoredDocument", "StoredEntry", "delete_document", "delete_entries", "document", "documents",
           "entries", "forget_all", "put_entries", "save_document", "document_group", "set_document_group",
           "DEFAULT_BASE"]

DEFAULT_BASE = "default"

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
    demo: bool = False  # shipped demo content, not the admin's own


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


def _id(base: str, name: str) -> str:
    return name if base == DEFAULT_BASE else f"{base}::{name}"


def _name(base: str, stored_id: str) -> str:
    prefix = f"{base}::"
    return stored_id[len(prefix):] if base != DEFAULT_BASE and stored_id.startswith(prefix) else stored_id


def _in(base: str) -> dict[str, str | None]:
    return {"base": None if base == DEFAULT_BASE else base}  # None: the field is absent (or null)


def documents(base: str = DEFAULT_BASE) -> list[StoredDocument]:
    """Every document of `base`, by name."""
    return sorted((_document(base, d) for d in KbDocument.objects(**_in(base))), key=lambda d: d.name)


def document(name: str, base: str = DEFAULT_BASE) -> StoredDocument | None:
    found = KbDocument.objects(id=_id(base, name)).first()
    return None if found is None else _document(base, found)


def save_document(doc: StoredDocument, base: str = DEFAULT_BASE) -> None:
    """Store `doc`, replacing a document of the same name in `base`."""
    KbDocument(id=_id(base, doc.name), name=doc.name, kind=doc.kind, sha256=doc.sha256, size=doc.size,
               entries=doc.entries, added_at=doc.added_at, group=doc.group, demo=doc.demo,
               **_in(base)).save()


def set_document_group(name: str, group: str, base: str = DEFAULT_BASE) -> bool:
    """Set the hand-off group of document `name` ("" for the default); False if there is no such document."""
    return bool(KbDocument.objects(id=_id(base, name)).update_one(set__group=group))


def document_group(name: str, base: str = DEFAULT_BASE) -> str | None:
    """The hand-off group of document `name` if it has one and that group still exists, else None."""
    found = KbDocument.objects(id=_id(base, name)).only("group").first()
    group = str(found.group or "") if found is not None else ""
    if not group or SkillGroup.objects(id=group).only("id").first() is None:
        return None
    return group


def delete_document(name: str, base: str = DEFAULT_BASE) -> None:
    """Delete the document record (its entries go with :func:`delete_entries`); no such document is no error."""
    KbDocument.objects(id=_id(base, name)).delete()


def entries(base: str = DEFAULT_BASE) -> Iterator[StoredEntry]:
    """Every entry of `base`, streamed (not cached by mongoengine: a base holds tens of thousands)."""
    return (_entry(base, e) for e in KbEntry.objects(**_in(base)).no_cache())


def put_entries(new: Sequence[StoredEntry], base: str = DEFAULT_BASE) -> None:
    """Store `new`, in batches. A batch any of whose entries the store holds already (a repair re-indexing
    them) is saved entry by entry, replacing them; the others are inserted in one call."""
    for start in range(0, len(new), _BATCH):
        part = [KbEntry(id=_id(base, e.id), document=_id(base, e.document), kind=e.kind, title=e.title, text=e.text,
                        alternatives=list(e.alternatives), vids=list(e.vids), **_in(base))
                for e in new[start:start + _BATCH]]
        if KbEntry.objects(id__in=[d.id for d in part]).only("id").first() is not None:
            for doc in part:
                doc.save()
        else:
            KbEntry.objects.insert(part, load_bulk=False)


def delete_entries(document: str, base: str = DEFAULT_BASE) -> None:
    """Delete every entry of `document`."""
    KbEntry.objects(document=_id(base, document)).delete()


def forget_all(base: str | None = None) -> None:
    """Delete every document and entry of `base`, or of every base (a fresh store: evaluations and tests)."""
    where = {} if base is None else _in(base)
    KbDocument.objects(**where).delete()
    KbEntry.objects(**where).delete()


def _document(base: str, d: KbDocument) -> StoredDocument:
    return StoredDocument(str(d.name or _name(base, str(d.id))), str(d.kind), str(d.sha256), int(d.size or 0),
                          int(d.entries or 0), d.added_at, str(d.group or ""), bool(d.demo))


def _entry(base: str, e: KbEntry) -> StoredEntry:
    return StoredEntry(_name(base, str(e.id)), _name(base, str(e.document)), str(e.kind), e.title or "", e.text or "",
                       tuple(e.alternatives or ()), tuple(int(v) for v in e.vids or ()))
