"""The vector index: Faiss, exact for small bases and IVF above :data:`APPROX_ABOVE` vectors.

Why these two: an exact inner-product index (``IndexFlatIP`` under an ``IndexIDMap2``)
is the right answer while a brute-force scan is cheap (about a millisecond per
10,000 vectors of 1,024 dimensions on this project's machine). Past
:data:`APPROX_ABOVE` the index becomes an ``IndexIVFFlat`` (inner product), trained
on the vectors it already holds with about 2·√n lists (Faiss wants 39 training points per list) and searched with
:data:`NPROBE` of them. IVF rather than HNSW because IVF removes vectors by id
(a hash-table direct map), so documents come and go without a rebuild; HNSW in
Faiss cannot remove. It is retrained from its own vectors when it has grown four
times past the size it was trained at.

Vector ids are int64s handed out by the caller; what they mean (which knowledge
entry) is the caller's mapping, saved beside the index.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from switchboard.llm.embedders import Vectors

__all__ = ["VectorIndex", "APPROX_ABOVE", "NPROBE"]

APPROX_ABOVE = 20_000  # vectors; below, exact search
NPROBE = 24  # IVF lists searched per query
Ids = npt.NDArray[np.int64]


class VectorIndex:
    """Add, remove and search unit vectors by inner product; save and load with Faiss's own format."""

    def __init__(self, dim: int, index: Any = None, trained_at: int = 0) -> None:
        self.dim = dim
        # Any: Faiss's partial stubs do not know the SWIG subclasses' members used below.
        self.index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.trained_at = trained_at  # vectors the IVF was trained on (0: exact index)

    @property
    def kind(self) -> str:
        return "ivf" if self.trained_at else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        if len(ids) == 0:
            return
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of {self.dim} dimensions, got {vectors.shape}")
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        self._maybe_retrain()

    def remove(self, ids: Ids) -> int:
        if len(ids) == 0:
            return 0
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """Scores and ids of the `k` nearest per query row; id -1 where fewer exist."""
        if len(self) == 0:
            return (np.full((len(queries), k), -1.0, dtype=np.float32), np.full((len(queries), k), -1, dtype=np.int64))
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def reconstruct(self, ids: Ids) -> Vectors:
        """The stored vectors of `ids` (exact and IVF indexes both keep them whole)."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for row, vid in enumerate(ids.tolist()):
            out[row] = self.index.reconstruct(int(vid))
        return out

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self.index, str(tmp))
        tmp.replace(path)  # a crash mid-write leaves the previous index whole

    @classmethod
    def load(cls, path: Path, dim: int, trained_at: int) -> VectorIndex:
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise ValueError(f"index {path} has {index.d} dimensions, the embedder {dim}")
        if trained_at:
            faiss.extract_index_ivf(index).nprobe = NPROBE
        return cls(dim, index, trained_at)

    # --- exact -> approximate ------------------------------------------------------------------

    def _maybe_retrain(self) -> None:
        n = len(self)
        if (not self.trained_at and n > APPROX_ABOVE) or (self.trained_at and n > 4 * self.trained_at):
            self._rebuild_ivf()

    def _all(self) -> tuple[Ids, Vectors]:
        if not self.trained_at:
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            flat: Any = faiss.downcast_index(self.index.index)
            vectors = faiss.rev_swig_ptr(flat.get_xb(), len(ids) * self.dim).reshape(len(ids), self.dim).copy()
            return ids, vectors
        ivf: Any = faiss.extract_index_ivf(self.index)
        invlists: Any = ivf.invlists
        ids_parts, vec_parts = [], []
        for lst in range(ivf.nlist):
            size = invlists.list_size(lst)
            if size == 0:
                continue
            ids_parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
            codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * ivf.code_size).copy()
            vec_parts.append(codes.view(np.float32).reshape(size, self.dim))
        return np.concatenate(ids_parts).astype(np.int64), np.concatenate(vec_parts)

    def _rebuild_ivf(self) -> None:
        ids, vectors = self._all()
        nlist = max(16, int(2 * math.sqrt(len(ids))))
        quantizer: Any = faiss.IndexFlatIP(self.dim)
        ivf: Any = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.own_fields = True
        quantizer.this.disown()
        ivf.train(vectors)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]  # remove_ids by arbitrary id
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = NPROBE
        self.index, self.trained_at = ivf, len(ids)
