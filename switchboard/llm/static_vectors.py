"""Static token vectors: a text's meaning as the mean of its tokens' rows in a table, no model at run time.

The table (``data/minilm_static_d128.npy``, built by :mod:`.static_table` from
all-MiniLM-L6-v2, Apache-2.0) and the model's WordPiece tokenizer (``data/
minilm_tokenizer.json``, run by the ``tokenizers`` library) ship with the package, so
the default embedder needs no download and no torch. What it adds to feature hashing
is that tokens with related meanings have nearby rows: "postage" and "shipping",
"quid" and "pounds" meet where their letters never would.

MiniLM's vocabulary has only a few hundred Chinese characters (about 82% of the
characters in tests/data/bot_zh are unknown to it), so a text with any Chinese in it
gets no static vector, and neither does one with no known token: the embedder then
scores it by hashing alone.
"""

from __future__ import annotations

import re
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["StaticVectors"]

DATA = Path(__file__).resolve().parent / "data"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class StaticVectors:
    """Unit-length mean token vectors, or all-zero rows for texts the table cannot speak for."""

    def __init__(self, table: Path = DATA / "minilm_static_d128.npy",
                 tokenizer: Path = DATA / "minilm_tokenizer.json") -> None:
        self._table_path, self._tokenizer_path = table, tokenizer
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self._table.shape[1])

    @cached_property
    def _table(self) -> npt.NDArray[np.float16]:
        table: npt.NDArray[np.float16] = np.load(self._table_path, mmap_mode="r")  # 7.8 MB, paged in as used
        return table

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self._tokenizer_path))
        tok.no_padding()
        tok.no_truncation()
        return tok

    @cached_property
    def _unknown(self) -> int:
        return int(self._tokenizer.token_to_id("[UNK]"))

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if not _CJK.search(t)]
        if not todo:
            return out
        with self._lock:  # the Rust tokenizer is not documented as safe to share between threads
            encodings = self._tokenizer.encode_batch([texts[i] for i in todo], add_special_tokens=False)
        unknown, table = self._unknown, self._table
        for row, enc in zip(todo, encodings):
            ids = [i for i in enc.ids if i != unknown]
            if ids:
                mean = table[ids].astype(np.float32).mean(axis=0)
                norm = float(np.linalg.norm(mean))
                if norm > 0:
                    out[row] = mean / norm
        return out
