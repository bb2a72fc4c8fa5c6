"""The Milvus vector store: chunk vectors and our own BM25 weights in one collection (see docs/milvus.md).

Rows: ``id`` (int64 primary key: a stable chunk id), ``doc_id``, ``start``, ``end``, ``vector`` (float32, inner
product on L2-normalised vectors) and, where the server has sparse vectors (Milvus 2.4 on, Lite 3.x), ``sparse``
(the chunk's BM25 weights as bm25s computed them, keyed by the version's term ids; an inner product with a 0/1
query gives bm25s's score). Whether the server has them is found out when a collection is created, not assumed.
Reads after this store's own writes (and its first read) ask for strong consistency, so that a server shows what
was just written; the others take the server's default (bounded staleness, ~5 ms a search instead of ~200).
Connections (``milvus://PATH`` Lite, ``http(s)://`` a server) are made by ``milvus_connect``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexStoreError
from assistant.index.vectors.base import VectorStore
from assistant.index.vectors.milvus_connect import EXTRA_HINT, TOKEN_ENV, close_lite, connect, pymilvus

__all__ = ["EXTRA_HINT", "TOKEN_ENV", "MilvusStore", "close_lite", "connect", "doc_filter", "quiet"]

log = logging.getLogger(__name__)
HNSW_EF = 192  # like FAISS's HNSW_EF_SEARCH
EMPTY_TERM = 2**32 - 2  # Milvus refuses an empty sparse row; this dimension is never in a query
NO_SCORE = float(np.finfo(np.float32).min)  # what FAISS puts beside id -1
MAX_LIMIT = 16384  # Milvus's largest top-k and query window


def doc_filter(doc_ids: Sequence[str] | None) -> str:
    """A Milvus boolean expression restricting rows to these documents ('' = no restriction)."""
    return "" if doc_ids is None else f"doc_id in {json.dumps(list(doc_ids), ensure_ascii=False)}"


@contextmanager
def quiet() -> Iterator[None]:
    """Silence pymilvus's own error log around a call whose failure is expected and handled here."""
    logger = logging.getLogger("pymilvus.decorators")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _and(*parts: str) -> str:
    return " and ".join(f"({p})" for p in parts if p)


class MilvusStore(VectorStore):
    """One Milvus collection of chunk rows: dense search, sparse (BM25) search, filters, upsert, delete."""

    def __init__(
        self,
        client: Any,
        collection: str,
        dim: int,
        vocabulary: Mapping[str, int] | None = None,
        index_type: str = "FLAT",
        sparse: bool = True,
    ) -> None:
        self.client = client
        self.collection = collection
        self.dim = dim
        self.vocabulary = dict(vocabulary or {})  # term -> sparse dimension (the version folder's bm25s ids)
        self.index_type = index_type
        self.sparse = sparse  # the collection has the sparse BM25 field
        self.uri: str | None = None  # where it was opened from (set by assistant.index.remote; no token)
        self._strong = True  # the next read must see every write made so far

    @classmethod
    def create(
        cls, client: Any, collection: str, dim: int, index_type: str = "FLAT", sparse: bool | None = None
    ) -> MilvusStore:
        """A new empty collection (an old one of that name is dropped); ``index_type`` FLAT, HNSW or IVF_FLAT.

        ``sparse``: None tries with the BM25 field and, if the server refuses it (Milvus before 2.4), creates the
        collection without; True insists; False leaves it out.
        """
        attempts = [True, False] if sparse is None else [sparse]
        for with_sparse in attempts:
            try:
                with quiet():
                    cls._create(client, collection, dim, index_type, with_sparse)
            except Exception as exc:
                if client.has_collection(collection):  # the server may keep a collection whose index it refused
                    client.drop_collection(collection)
                if with_sparse and len(attempts) > 1:
                    log.info("Milvus refused a sparse vector field (%s); %s has no BM25 field", exc, collection)
                    continue
                raise IndexStoreError(f"cannot create the Milvus collection {collection}: {exc}") from exc
            return cls(client, collection, dim, index_type=index_type, sparse=with_sparse)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _create(client: Any, collection: str, dim: int, index_type: str, with_sparse: bool) -> None:
        DataType = pymilvus().DataType
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        if with_sparse:
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        params = client.prepare_index_params()
        extra = {"M": 32, "efConstruction": 200} if index_type == "HNSW" else {}
        if index_type == "IVF_FLAT":
            extra = {"nlist": 1024}
        params.add_index("vector", index_type=index_type, metric_type="IP", params=extra)
        if with_sparse:
            params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        client.create_collection(collection, schema=schema, index_params=params)

    @classmethod
    def open(cls, client: Any, collection: str, index_type: str | None = None) -> MilvusStore:
        """An existing collection, with its dimension and BM25 field (and index type, unless given) from the server."""
        try:
            fields = {f["name"]: f for f in client.describe_collection(collection)["fields"]}
            if index_type is None:
                index_type = str((client.describe_index(collection, "vector") or {}).get("index_type", "FLAT"))
            client.load_collection(collection)  # a reopened collection starts released
        except Exception as exc:
            raise IndexStoreError(f"cannot open the Milvus collection {collection}: {exc}") from exc
        dim = int(fields["vector"]["params"]["dim"])
        return cls(client, collection, dim, index_type=index_type, sparse="sparse" in fields)

    # writes

    def add(
        self,
        vectors: np.ndarray,
        ids: Sequence[int] | np.ndarray | None = None,
        *,
        doc_ids: Sequence[str] | None = None,
        spans: np.ndarray | None = None,
        sparse: Sequence[Mapping[int, float]] | None = None,
    ) -> None:
        """Upsert rows (the same id twice replaces the row); ids default to ``count()`` onwards."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexStoreError(f"vectors must have shape (n, {self.dim}), got {vectors.shape}")
        n = len(vectors)
        first = self.count() if ids is None else 0
        row_ids = np.arange(first, first + n) if ids is None else np.asarray(ids, dtype=np.int64)
        sizes = {len(row_ids), n, n if doc_ids is None else len(doc_ids), n if sparse is None else len(sparse)}
        if len(sizes) != 1:
            raise IndexStoreError("ids, doc_ids and sparse weights must have one entry per vector")
        bounds = np.zeros((n, 2), dtype=np.int64) if spans is None else np.asarray(spans, dtype=np.int64)
        rows = []
        for i in range(n):
            row = {
                "id": int(row_ids[i]),
                "doc_id": "" if doc_ids is None else str(doc_ids[i]),
                "start": int(bounds[i, 0]),
                "end": int(bounds[i, 1]),
                "vector": vectors[i].tolist(),
            }
            if self.sparse:
                weights = sparse[i] if sparse is not None else {}
                row["sparse"] = {int(t): float(w) for t, w in weights.items() if w} or {EMPTY_TERM: 1.0}
            rows.append(row)
        if rows:
            self._write("upsert", self.collection, rows)

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        wanted = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        if not wanted:
            return 0
        present = self._read("query", self.collection, filter=f"id in {wanted}", output_fields=["id"])
        self._write("delete", self.collection, ids=wanted)
        return len(present)

    def discard(self, ids: Sequence[int] | np.ndarray) -> None:
        """Remove the rows with these ids, without counting them first (one round trip)."""
        wanted = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        if wanted:
            self._write("delete", self.collection, ids=wanted)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        """Remove every row of these documents; return how many were removed."""
        expr = doc_filter(doc_ids)
        present = self._read("query", self.collection, filter=expr, output_fields=["id"])
        self._write("delete", self.collection, filter=expr)
        return len(present)

    def flush(self) -> None:
        self._write("flush", self.collection)

    # reads

    def count(self) -> int:
        rows = self._read("query", self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def vector(self, row: int) -> np.ndarray | None:
        rows = self._read("get", self.collection, ids=[int(row)], output_fields=["vector"])
        return np.asarray(rows[0]["vector"], dtype=np.float32) if rows else None

    def get(self, ids: Sequence[int], fields: Sequence[str], strong: bool = False) -> list[dict[str, Any]]:
        """The rows with these ids (those that exist), with these fields; ``strong``: all writes so far seen."""
        self._strong = self._strong or strong
        return list(self._read("get", self.collection, ids=[int(i) for i in ids], output_fields=list(fields)))

    def search(
        self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None, ids: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense search; ``doc_ids`` / ``ids`` restrict it inside Milvus. Rows are padded with id -1."""
        data = np.atleast_2d(np.asarray(queries, dtype=np.float32)).tolist()
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(HNSW_EF, k)}
        return self._search(data, "vector", k, doc_ids, ids, params)

    def search_sparse(
        self,
        weighted_terms: Sequence[Mapping[int, float]],
        k: int,
        doc_ids: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inner product of weighted term ids with the stored BM25 weights: bm25s's score for 0/1 weights."""
        if not self.sparse:
            raise IndexStoreError(f"the Milvus collection {self.collection} has no sparse BM25 field")
        data = [{int(t): float(w) for t, w in q.items() if w} for q in weighted_terms]
        return self._search(data, "sparse", k, doc_ids, ids, {"metric_type": "IP"})

    def term_query(self, tokens: Sequence[str], weight: float = 1.0) -> dict[int, float]:
        """Term ids of the known tokens, each with ``weight``."""
        return {self.vocabulary[t]: weight for t in tokens if t in self.vocabulary}

    def save(self, path: Path) -> None:
        """Milvus keeps the rows itself: flush them, and write where they are (never the token) to ``path``."""
        self.flush()
        path.write_text(json.dumps({"collection": self.collection, "dim": self.dim}), encoding="utf-8")

    def _search(
        self,
        data: list[Any],
        field: str,
        k: int,
        doc_ids: Sequence[str] | None,
        ids: Sequence[int] | None,
        params: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(max(1, int(k)), MAX_LIMIT)
        expr = _and(doc_filter(doc_ids), "" if ids is None else f"id in {[int(i) for i in ids]}")
        hits = self._read(
            "search", self.collection, data=data, anns_field=field, limit=k, filter=expr, search_params=params
        )
        scores = np.full((len(data), k), NO_SCORE, dtype=np.float32)
        found = np.full((len(data), k), -1, dtype=np.int64)
        for row, row_hits in enumerate(hits):
            for col, hit in enumerate(list(row_hits)[:k]):
                scores[row, col], found[row, col] = float(hit["distance"]), int(hit["id"])
        return scores, found

    def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._strong = True
        return self._call(method, *args, **kwargs)

    def _read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._strong:  # a server answers from a snapshot up to ~5 s old unless asked for strong consistency
            out = self._call(method, *args, consistency_level="Strong", **kwargs)
            self._strong = False
            return out
        return self._call(method, *args, **kwargs)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except IndexStoreError:
            raise
        except Exception as exc:  # pymilvus raises MilvusException and gRPC errors
            raise IndexStoreError(f"Milvus {method} on {self.collection!r} failed: {exc}") from exc
