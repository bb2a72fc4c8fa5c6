"""One version's chunk rows inside a Milvus collection that may also hold rows of other versions.

Milvus rows are keyed by stable chunk ids (a hash of document id, text hash and span), so that an incremental
sync upserts and deletes only what changed. A collection therefore holds the rows of the live version, the
rows the previous version still needs (kept until the next sync, for processes that opened it), and one head row.
A reader sees exactly its own version: ids are mapped back to its chunk rows, and rows it does not know are
skipped; searches ask for ``k`` plus the number of such foreign rows, and widen if they still come back short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from assistant.index.vectors.milvus import MAX_LIMIT, NO_SCORE, MilvusStore

Search = Callable[[int], tuple[np.ndarray, np.ndarray]]  # limit -> (scores, Milvus ids) per query


class RemoteChunks:
    """What the retriever uses of Milvus: dense search, and BM25 when the collection's weights fit this version."""

    def __init__(self, store: MilvusStore, chunk_ids: np.ndarray, alias: str, rows: int, lexical: bool) -> None:
        self.store = store
        self.alias = alias
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        order = np.argsort(self.chunk_ids, kind="stable")
        self._sorted, self._order = self.chunk_ids[order], order
        self.foreign = max(0, rows - len(self.chunk_ids))  # rows of other versions (and the head) when opened
        self.serves_lexical = lexical  # the sparse BM25 weights are exact for this version
        self.uri: str | None = None  # where it was opened from (no token)

    @property
    def collection(self) -> str:
        return self.store.collection

    def count(self) -> int:
        """How many chunk rows this version has (the collection may hold more)."""
        return len(self.chunk_ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Chunk rows of these Milvus ids; -1 for ids of other versions and the head row (Milvus ids are hashes,
        negative as often as not: padding is told by its score, ``NO_SCORE``)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self._sorted):
            return np.full(ids.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return np.where(self._sorted[at] == ids, self._order[at], -1)

    def ids(self, rows: Sequence[int]) -> list[int]:
        return [int(i) for i in self.chunk_ids[np.asarray(rows, dtype=np.int64)]]

    def search(
        self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None, ids: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense search over this version's rows; ``ids`` are chunk rows; results are chunk rows, -1 padded."""
        if ids is not None:
            scores, found = self.store.search(queries, max(1, len(ids)), doc_ids, self.ids(ids))
            return scores, self.rows(found)
        return self._own(lambda limit: self.store.search(queries, limit, doc_ids), k)

    def lexical(
        self,
        parts: Sequence[tuple[Sequence[str], float]],
        size: int,
        k: int,
        doc_ids: Sequence[str] | None = None,
        include: Sequence[int] = (),
    ) -> np.ndarray:
        """The retriever's lexical array over ``size`` chunks: sum of factor × BM25 / best BM25 per part.

        Like the local index, each part is normalised by its best chunk over the whole version; the array holds
        the ``k``-best chunks (within ``doc_ids``) and the chunks in ``include``; the rest stay 0.
        """
        out = np.zeros(size, dtype=np.float32)
        queries = [(self.store.term_query(tokens), factor) for tokens, factor in parts if factor > 0]
        queries = [(q, f) for q, f in queries if q]
        if not queries:
            return out
        terms = [q for q, _ in queries]
        tops, _ = self._own(lambda limit: self.store.search_sparse(terms, limit), 1)
        combined: dict[int, float] = {}
        for (query, factor), top in zip(queries, tops[:, 0].tolist(), strict=True):
            if top <= 0:
                continue
            for term, weight in query.items():
                combined[term] = combined.get(term, 0.0) + weight * factor / top
        if not combined:
            return out
        if k:
            scores, rows = self._own(lambda limit: self.store.search_sparse([combined], limit, doc_ids), k)
            keep = rows[0] >= 0
            out[rows[0][keep]] = scores[0][keep]
        if include:
            scores, found = self.store.search_sparse([combined], len(include), doc_ids, self.ids(include))
            rows = self.rows(found)
            keep = rows[0] >= 0
            out[rows[0][keep]] = scores[0][keep]
        return out

    def _own(self, search: Search, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows of this version: ask for ``k`` + foreign rows, widen while a full page falls short."""
        limit = min(MAX_LIMIT, k + self.foreign)
        while True:
            scores, found = search(limit)
            rows = self.rows(found)
            out_scores = np.full((len(rows), k), NO_SCORE, dtype=np.float32)
            out_rows = np.full((len(rows), k), -1, dtype=np.int64)
            short = False
            for q in range(len(rows)):
                keep = np.flatnonzero(rows[q] >= 0)[:k]
                out_scores[q, : len(keep)], out_rows[q, : len(keep)] = scores[q, keep], rows[q, keep]
                short = short or (len(keep) < k and scores[q, -1] != NO_SCORE)  # a full page: more may follow
            if not short or limit >= MAX_LIMIT:
                return out_scores, out_rows
            limit = min(MAX_LIMIT, limit * 4)
