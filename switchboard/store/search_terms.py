"""The history's word index: which conversations' messages hold a word, by the day each conversation began (pure).

A history text search must not read every message (nx-27017 matches a regex over a million messages in seconds,
decision 022), nor scan conversations for a word list (an unindexed ``$all`` that few documents match reads them
all). So each writer's keeper (:mod:`switchboard.store.reports`) keeps postings: for each word of each stored
text message, the conversation's id, filed under the UTC day the conversation was created and one of
:data:`BUCKETS` buckets by a stable hash of the word. A shard (:class:`~switchboard.store.documents.TermShard`)
is one writer's ``(bucket, day)``: ``{word: [conversation ids]}``; its writer replaces it whole. A search reads
the shards of its words' buckets (a few hundred kilobytes for 90 days) and takes the conversations day by day,
newest first. Words are :func:`terms_of`: case-folded runs of 2 to 40 letters or digits. Two kinds of entries
that are no words serve the filters nx-27017 cannot answer fast (it scans a collection for any query but one on
``_id`` or an indexed equality alone): the agents who took part (:func:`participant_term`; ``participants`` is a
list, decision 020), the rating's score (:func:`rating_term`), the group, channel and phase (:func:`field_term`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

__all__ = ["BUCKETS", "MAX_TERMS", "terms_of", "field_term", "participant_term", "rating_term", "bucket_of",
           "TermRollup"]

BUCKETS = 64
MAX_TERMS = 64  # words a message adds at most
_WORD = re.compile(r"[^\W_]{2,40}")


def terms_of(text: str) -> list[str]:
    """The words of `text`: lower-cased (case-folded), accents kept, 2 to 40 letters or digits, distinct, in
    order, at most :data:`MAX_TERMS`."""
    return list(dict.fromkeys(_WORD.findall(text.casefold())))[:MAX_TERMS]


def field_term(name: str, value: object) -> str:
    """The index entry of a conversation's field (no word has a ``:``): ``group``, ``channel`` and ``phase`` as
    they were at any state (a search checks the present value), ``participant``, ``rating``."""
    return f"{name}:{value}"


def participant_term(agent: str) -> str:
    """The index entry of an agent who took part in a conversation."""
    return field_term("participant", agent)


def rating_term(score: int) -> str:
    """The index entry of a rating's score (a changed rating leaves its old entry: a search checks the score)."""
    return field_term("rating", score)


_BUCKET_OF: dict[str, int] = {}


def bucket_of(word: str) -> int:
    """The bucket of `word` (CRC-32: the same in every process and release), remembered for the words seen
    (a desk's vocabulary is small; the memo is dropped when it passes 200,000 words)."""
    bucket = _BUCKET_OF.get(word)
    if bucket is None:
        if len(_BUCKET_OF) > 200_000:
            _BUCKET_OF.clear()
        bucket = _BUCKET_OF[word] = zlib.crc32(word.encode()) % BUCKETS
    return bucket


class TermRollup:
    """Postings in memory: ``(bucket, day)`` -> word -> conversation ids; the shards changed since
    :meth:`take_dirty`."""

    def __init__(self) -> None:
        self.shards: dict[tuple[int, str], dict[str, set[str]]] = {}
        self.dirty: set[tuple[int, str]] = set()
        self.evicted_days: set[str] = set()  # days some shard of which was forgotten (it may need reading back)

    def add(self, day: str, conversation: str, words: Iterable[str]) -> None:
        shards, dirty = self.shards, self.dirty
        for word in words:
            key = (bucket_of(word), day)
            postings = shards.get(key)
            if postings is None:
                postings = shards[key] = {}
            ids = postings.get(word)
            if ids is None:
                postings[word] = {conversation}
                dirty.add(key)
            elif conversation not in ids:
                ids.add(conversation)
                dirty.add(key)

    def load(self, bucket: int, day: str, postings: dict[str, list[str]]) -> None:
        """Take a shard as stored (this writer's, forgotten earlier) back before adding to it."""
        self.shards[(bucket, day)] = {word: set(ids) for word, ids in postings.items()}

    def document(self, bucket: int, day: str) -> dict[str, list[str]]:
        return {word: list(ids) for word, ids in self.shards[(bucket, day)].items()}

    def take_dirty(self) -> list[tuple[int, str]]:
        dirty, self.dirty = sorted(self.dirty), set()
        return dirty

    def evict_before(self, day: str) -> None:
        """Forget the (clean) shards of days before `day`."""
        for key in [k for k in self.shards if k[1] < day and k not in self.dirty]:
            del self.shards[key]
            self.evicted_days.add(key[1])
