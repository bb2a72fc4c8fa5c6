"""The FAISS vector store (the default backend): add, delete, search, vector, count, save, load.

The index type follows the corpus size (``choose_factory``); a user can force one with
``StoreConfig.faiss_factory`` (any FAISS factory string, e.g. ``Flat``, ``HNSW32``, ``HNSW32,SQ8``,
``IVF1024,SQ8``; the command line takes ``$ASSISTANT_FAISS_FACTORY`` as its default); the next open
notices the change and rebuilds.
Each type gets a default search effort measured by ``python -m assistant bench`` to keep
recall@10 >= 0.95 against exact search; it is applied on build and again on load.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.errors import IndexStoreError
from assistant.index.vectors.base import VectorStore

FLAT_LIMIT = 50_000  # exact search below this many vectors; approximate above
HNSW_EF_SEARCH = 192  # HNSW efSearch: 1M synthetic needs 128 for recall@10 0.95, 192 gives 0.97 (FAISS uses max(ef, k))
IVF_NPROBE = 48  # inverted lists visited per query for IVF indexes (recall@10 >= 0.95 at 10k-1M synthetic)
PARALLEL_FROM = 16  # search batches smaller than this run on one thread


def choose_factory(count: int, override: str | None = None) -> str:
    """The FAISS factory for ``count`` vectors: ``override`` when given and not blank, else by size.

    Exact inner product below ``FLAT_LIMIT`` vectors; beyond, an HNSW graph over 8-bit
    scalar-quantised vectors (about 1/4 of the float32 memory, sub-millisecond search).
    """
    chosen = (override or "").strip()
    if chosen:
        return chosen
    return "Flat" if count < FLAT_LIMIT else "HNSW32,SQ8"


def ivf_lists(count: int) -> int:
    """IVF lists for ``count`` vectors: about 2 * sqrt(count) rounded down to a power of two, >= 40 points each."""
    target = min(2 * np.sqrt(max(count, 1)), max(count, 1) / 40)
    return 1 << max(4, int(np.floor(np.log2(max(target, 1)))))


def supported_factories(count: int) -> list[str]:
    """The index types the assistant builds and the benchmark measures (all pass the contract test)."""
    return ["Flat", "HNSW32", "HNSW32,SQ8", f"IVF{ivf_lists(count)},SQ8"]


def default_effort(factory: str) -> int | None:
    """The search effort the assistant uses for an index type; None for exact indexes."""
    if re.search(r"(^|,)HNSW", factory):
        return HNSW_EF_SEARCH
    if re.search(r"(^|,)IVF", factory):
        return IVF_NPROBE
    return None


class FaissStore(VectorStore):
    """Inner-product search over L2-normalised vectors (cosine similarity)."""

    def __init__(self, dim: int, factory: str = "Flat") -> None:
        import faiss

        self.dim = dim
        self.factory = factory
        try:
            self._index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexStoreError(f"FAISS cannot make index type {factory!r}: {exc}") from exc
        self._apply_defaults()

    def add(self, vectors: np.ndarray, ids: Sequence[int] | np.ndarray | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ids is not None and not np.array_equal(np.asarray(ids), np.arange(self.count(), self.count() + len(vectors))):
            raise IndexStoreError("this FAISS store numbers rows itself: ids must continue from count()")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexStoreError(f"vectors must have shape (n, {self.dim}), got {vectors.shape}")
        if not self._index.is_trained:
            try:
                self._index.train(vectors)
            except RuntimeError as exc:
                raise IndexStoreError(f"FAISS cannot train {self.factory!r} on {len(vectors)} vectors: {exc}") from exc
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors for each query row; id -1 marks no result."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count()))
        if len(queries) >= PARALLEL_FROM:
            return self._index.search(queries, k)
        # One thread for a few queries: OpenMP's thread hand-off costs more than it saves, and on a
        # busy machine it can cost 10x (measured by the benchmark). Only this thread's setting changes.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def set_search_effort(self, effort: int) -> None:
        """HNSW efSearch / IVF nprobe; ignored by exact indexes."""
        import faiss

        params = faiss.ParameterSpace()
        for name in ("efSearch", "nprobe"):
            try:
                params.set_index_parameter(self._index, name, effort)
            except RuntimeError:
                continue

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove rows (exact and IVF indexes; later rows are renumbered). HNSW graphs cannot delete."""
        try:
            return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))  # type: ignore[arg-type]  # FAISS's SWIG wrapper takes an id array too
        except RuntimeError as exc:
            raise IndexStoreError(f"FAISS index type {self.factory!r} cannot delete rows; rebuild instead") from exc

    def vector(self, row: int) -> np.ndarray | None:
        try:
            return np.asarray(self._index.reconstruct(int(row)), dtype=np.float32)
        except RuntimeError:  # approximate indexes may not reconstruct
            return None

    def vectors(self, start: int, count: int) -> np.ndarray | None:
        """Rows ``start .. start+count-1`` as stored (exact for Flat and HNSW32; approximate when quantised)."""
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            return np.asarray(self._index.reconstruct_n(int(start), int(count)), dtype=np.float32)
        except RuntimeError:
            return None

    def count(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, factory: str) -> FaissStore:
        import faiss

        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexStoreError(f"{path.name} is not a readable FAISS index ({exc})") from exc
        if raw.d != dim:
            raise IndexStoreError(f"{path.name} has dimension {raw.d}, the manifest says {dim}")
        obj = cls.__new__(cls)
        obj.dim, obj.factory, obj._index = dim, factory, raw
        obj._apply_defaults()
        return obj

    def _apply_defaults(self) -> None:
        """Default search effort, and a direct map for IVF so that ``reconstruct`` (used by fusion) works."""
        import faiss

        effort = default_effort(self.factory)
        if effort is not None:
            self.set_search_effort(effort)
        try:
            ivf = faiss.extract_index_ivf(self._index)
        except RuntimeError:
            return
        ivf.cp.niter = 10  # k-means for the coarse lists: 10 rounds over <= 64 points a list is plenty
        ivf.cp.max_points_per_centroid = 64
        if ivf.direct_map.type == faiss.DirectMap.NoMap:  # type: ignore[attr-defined]  # missing from FAISS's stubs
            ivf.make_direct_map()
