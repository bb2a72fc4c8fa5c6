"""A narrow ANN interface over FAISS: index, search, save, load, count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .records import IndexStoreError

FLAT_LIMIT = 50_000  # exact search below this many vectors; approximate above


def choose_factory(count: int) -> str:
    """Exact inner product for small corpora; HNSW over 8-bit scalar-quantised vectors beyond."""
    return "Flat" if count < FLAT_LIMIT else "HNSW32,SQ8"


class VectorIndex:
    """Inner-product search over L2-normalised vectors (cosine similarity)."""

    def __init__(self, dim: int, factory: str = "Flat") -> None:
        import faiss

        self.dim = dim
        self.factory = factory
        try:
            self._index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexStoreError(f"FAISS cannot make index type {factory!r}: {exc}") from exc

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexStoreError(f"vectors must have shape (n, {self.dim}), got {vectors.shape}")
        if not self._index.is_trained:
            self._index.train(vectors)
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors for each query row; id -1 marks no result."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count()))
        return self._index.search(queries, k)

    def set_search_effort(self, effort: int) -> None:
        """HNSW efSearch / IVF nprobe; ignored by exact indexes."""
        import faiss

        params = faiss.ParameterSpace()
        for name in ("efSearch", "nprobe"):
            try:
                params.set_index_parameter(self._index, name, effort)
            except RuntimeError:
                continue

    def count(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, factory: str) -> VectorIndex:
        import faiss

        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexStoreError(f"{path.name} is not a readable FAISS index ({exc})") from exc
        if raw.d != dim:
            raise IndexStoreError(f"{path.name} has dimension {raw.d}, the manifest says {dim}")
        obj = cls.__new__(cls)
        obj.dim, obj.factory, obj._index = dim, factory, raw
        return obj
