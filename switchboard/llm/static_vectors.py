"""Static token vectors: a text's meaning as the mean of its tokens' rows in a table, no model at run time.

The table (``data/minilm_static_d128.npy``, built by :mod:`.static_table` from
all-MiniLM-L6-v2, Apache-2.0) and the model's WordPiece tokenizer (``data/
minilm_tokenizer.json``, run by the ``tokenizers`` library) ship with the package, so
the default embedder needs no download and no torch. What it adds to feature hashing
is that tokens with related meanings have nearby rows: "postage" and "shipping",
"quid" and "pounds" meet where their letters never would.

MiniLM's vocabulary has only a few hundred Chinese characters (about 82% of the
characters in tests/data/bot_zh are unknown to it, and the known ones sit among odd
neighbours), so Chinese characters never count: a text that is mostly Chinese gets no
static vector, and a mostly English one with a Chinese word in it is averaged over its
other tokens. A text with no known word (only punctuation, or only unknown tokens)
gets none either; the embedder then scores it by hashing alone. Text is NFKC-normalised
first, as the hashing side does, so full-width Latin reads as Latin.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["StaticVectors"]

DATA = Path(__file__).resolve().parent / "data"
TABLE = "minilm_static_d128.npy"  # written by .static_table
TOKENIZER = "minilm_tokenizer.json"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # Chinese characters (the hashing side splits on them too)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_ASCII_WORD = re.compile(r"[a-z0-9]")


class StaticVectors:
    """Unit-length mean token vectors, or all-zero rows for texts the table cannot speak for."""

    def __init__(self, table: Path = DATA / TABLE, tokenizer: Path = DATA / TOKENIZER) -> None:
        self._table_path, self._tokenizer_path = table, tokenizer
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read the table and the tokenizer now, so that a missing file or library fails at start-up."""
        with self._lock:
            self._kinds

    @property
    def dim(self) -> int:
        return int(self._table.shape[1])

    @cached_property
    def _table(self) -> npt.NDArray[np.float16]:
        table: npt.NDArray[np.float16] = np.load(self._table_path, mmap_mode="r")  # 7.8 MB, paged in as used
        return table

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self._tokenizer_path))
        tok.no_padding()
        tok.no_truncation()
        return tok

    @cached_property
    def _kinds(self) -> tuple[list[bool], list[bool]]:
        """Per vocabulary id: (counts at all: not [UNK], not a Chinese character; is a word: has a letter or digit)."""
        vocab = self._tokenizer.get_vocab()
        tokens = [""] * len(vocab)
        for token, i in vocab.items():
            tokens[i] = token
        counts = [t != "[UNK]" and not CJK.search(t) for t in tokens]
        return counts, [c and bool(_ASCII_WORD.search(t)) for c, t in zip(counts, tokens)]

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        normalised = [unicodedata.normalize("NFKC", t) for t in texts]
        todo = [i for i, t in enumerate(normalised) if not _mostly_chinese(t)]
        if not todo:
            return out
        with self._lock:  # the Rust tokenizer is not documented as safe to share between threads
            encodings = self._tokenizer.encode_batch([normalised[i] for i in todo], add_special_tokens=False)
            counts, words = self._kinds
        table = self._table
        for row, enc in zip(todo, encodings):
            if not any(words[i] for i in enc.ids):
                continue
            ids = [i for i in enc.ids if counts[i]]
            if ids:
                mean = table[ids].astype(np.float32).mean(axis=0)
                norm = float(np.linalg.norm(mean))
                if norm > 0:
                    out[row] = mean / norm
        return out


def _mostly_chinese(text: str) -> bool:
    """More Chinese characters than other letters and digits."""
    chinese = len(CJK.findall(text))
    return chinese > 0 and chinese >= len(_LETTER_OR_DIGIT.findall(text)) - chinese
