"""The Milvus vector store: chunk vectors and our own BM25 weights in one collection (see docs/milvus.md).

Rows: ``id`` (int64 primary key: the chunk row of the version folder), ``doc_id``, ``start``, ``end``,
``vector`` (float32, inner product on L2-normalised vectors) and ``sparse`` (the chunk's BM25 weights as
bm25s computed them, keyed by the version's term ids; an inner product with a 0/1 query gives bm25s's score).
URIs: ``milvus://PATH`` opens an embedded Milvus Lite folder at PATH (one process at a time);
``http(s)://HOST:PORT`` a server, with the token from ``$ASSISTANT_MILVUS_TOKEN`` (never stored).
pymilvus is imported on first use, so the default (FAISS) path never loads it.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexStoreError
from assistant.index.vectors.base import VectorStore

TOKEN_ENV = "ASSISTANT_MILVUS_TOKEN"
EXTRA_HINT = "install it with: pip install 'assistant[milvus]'"
HNSW_EF = 192  # like FAISS's HNSW_EF_SEARCH
EMPTY_TERM = 2**32 - 2  # Milvus refuses an empty sparse row; this dimension is never in a query
NO_SCORE = float(np.finfo(np.float32).min)  # what FAISS puts beside id -1
_LITE: dict[str, tuple[Any, Any, int]] = {}  # absolute Lite folder -> (gRPC server, database, port)
_LITE_GUARD = threading.Lock()


def _pymilvus() -> Any:
    try:
        import pymilvus  # type: ignore[import-untyped]
    except ImportError as exc:
        raise IndexStoreError(f"the Milvus store needs pymilvus and milvus-lite; {EXTRA_HINT}") from exc
    return pymilvus


def connect(uri: str) -> Any:
    """A ``MilvusClient`` for ``milvus://PATH`` (embedded Lite, started once per process) or ``http(s)://``."""
    pymilvus = _pymilvus()
    if uri.startswith(("http://", "https://")):
        token = os.environ.get(TOKEN_ENV, "")
        try:
            return pymilvus.MilvusClient(uri=uri, token=token, timeout=30)
        except Exception as exc:
            raise IndexStoreError(f"cannot reach the Milvus server at {uri}: {exc}") from exc
    if not uri.startswith("milvus://") or not uri[len("milvus://") :].strip():
        raise IndexStoreError(f"store URI {uri!r} is not milvus://PATH (Milvus Lite) or http(s)://HOST:PORT")
    return pymilvus.MilvusClient(uri=f"http://127.0.0.1:{_lite_port(Path(uri[len('milvus://') :]))}")


def _lite_port(path: Path) -> int:
    try:
        from milvus_lite.adapter.grpc.server import start_server_in_thread  # type: ignore[import-untyped]
        from milvus_lite.exceptions import DataDirLockedError  # type: ignore[import-untyped]
    except ImportError as exc:
        raise IndexStoreError(f"milvus:// needs milvus-lite; {EXTRA_HINT}") from exc
    key = str(path.resolve())
    with _LITE_GUARD:
        if key not in _LITE:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _LITE[key] = start_server_in_thread(data_dir=key, host="127.0.0.1", port=0)
            except DataDirLockedError as exc:
                raise IndexStoreError(
                    f"another process has the Milvus Lite database {path} open (Lite allows one process per "
                    "folder): stop it, or serve the folder with `milvus-lite server --data-dir PATH --host "
                    "127.0.0.1` and use --store http://127.0.0.1:19530"
                ) from exc
        return int(_LITE[key][2])


def close_lite(path: Path | None = None) -> None:
    """Stop the embedded Lite server(s) of this process and release their folder locks."""
    with _LITE_GUARD:
        keys = [str(path.resolve())] if path is not None else list(_LITE)
        entries = [_LITE.pop(k) for k in keys if k in _LITE]
    for server, db, _ in entries:
        server.stop(grace=1)
        db.close()


atexit.register(close_lite)


def doc_filter(doc_ids: Sequence[str] | None) -> str:
    """A Milvus boolean expression restricting rows to these documents ('' = no restriction)."""
    return "" if doc_ids is None else f"doc_id in {json.dumps(list(doc_ids), ensure_ascii=False)}"


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
    ) -> None:
        self.client = client
        self.collection = collection
        self.dim = dim
        self.vocabulary = dict(vocabulary or {})  # term -> sparse dimension (the version folder's bm25s ids)
        self.index_type = index_type
        self.uri: str | None = None  # where it was opened from (set by assistant.index.remote; no token)

    @classmethod
    def create(cls, client: Any, collection: str, dim: int, index_type: str = "FLAT") -> MilvusStore:
        """A new empty collection (an old one of that name is dropped); ``index_type`` FLAT, HNSW or IVF_FLAT."""
        DataType = _pymilvus().DataType
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        params = client.prepare_index_params()
        extra = {"M": 32, "efConstruction": 200} if index_type == "HNSW" else {}
        if index_type == "IVF_FLAT":
            extra = {"nlist": 1024}
        params.add_index("vector", index_type=index_type, metric_type="IP", params=extra)
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        client.create_collection(collection, schema=schema, index_params=params)
        return cls(client, collection, dim, index_type=index_type)

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
        rows = [
            {
                "id": int(row_ids[i]),
                "doc_id": "" if doc_ids is None else str(doc_ids[i]),
                "start": int(bounds[i, 0]),
                "end": int(bounds[i, 1]),
                "vector": vectors[i].tolist(),
                "sparse": {int(t): float(w) for t, w in (sparse[i] if sparse is not None else {}).items() if w}
                or {EMPTY_TERM: 1.0},
            }
            for i in range(n)
        ]
        if rows:
            self._call("upsert", self.collection, rows)

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        wanted = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        if not wanted:
            return 0
        present = self._call("query", self.collection, filter=f"id in {wanted}", output_fields=["id"])
        self._call("delete", self.collection, ids=wanted)
        return len(present)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        """Remove every row of these documents; return how many were removed."""
        expr = doc_filter(doc_ids)
        present = self._call("query", self.collection, filter=expr, output_fields=["id"])
        self._call("delete", self.collection, filter=expr)
        return len(present)

    def flush(self) -> None:
        self._call("flush", self.collection)

    # reads

    def count(self) -> int:
        rows = self._call("query", self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def vector(self, row: int) -> np.ndarray | None:
        rows = self._call("get", self.collection, ids=[int(row)], output_fields=["vector"])
        return np.asarray(rows[0]["vector"], dtype=np.float32) if rows else None

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
        data = [{int(t): float(w) for t, w in q.items() if w} for q in weighted_terms]
        return self._search(data, "sparse", k, doc_ids, ids, {"metric_type": "IP"})

    def term_query(self, tokens: Sequence[str], weight: float = 1.0) -> dict[int, float]:
        """Term ids of the known tokens, each with ``weight``."""
        return {self.vocabulary[t]: weight for t in tokens if t in self.vocabulary}

    def lexical(
        self,
        parts: Sequence[tuple[Sequence[str], float]],
        size: int,
        k: int,
        doc_ids: Sequence[str] | None = None,
        include: Sequence[int] = (),
    ) -> np.ndarray:
        """The retriever's lexical array over ``size`` chunks: sum of factor × BM25 / best BM25 per part.

        Like the local index, each part is normalised by its best chunk over the whole collection; the array
        holds the ``k``-best chunks (within ``doc_ids``) and the chunks in ``include``; the rest stay 0.
        """
        out = np.zeros(size, dtype=np.float32)
        queries = [(self.term_query(tokens), factor) for tokens, factor in parts if factor > 0]
        queries = [(q, f) for q, f in queries if q]
        if not queries:
            return out
        tops, _ = self.search_sparse([q for q, _ in queries], 1)
        combined: dict[int, float] = {}
        for (query, factor), top in zip(queries, tops[:, 0].tolist(), strict=True):
            if top <= 0:
                continue
            for term, weight in query.items():
                combined[term] = combined.get(term, 0.0) + weight * factor / top
        if not combined:
            return out
        for limit, only in ((k, None), (len(include), list(include))):
            if limit:
                scores, ids = self.search_sparse([combined], limit, doc_ids, only)
                keep = ids[0] >= 0
                out[ids[0][keep]] = scores[0][keep]
        return out

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
        k = max(1, int(k))
        expr = _and(doc_filter(doc_ids), "" if ids is None else f"id in {[int(i) for i in ids]}")
        hits = self._call(
            "search", self.collection, data=data, anns_field=field, limit=k, filter=expr, search_params=params
        )
        scores = np.full((len(data), k), NO_SCORE, dtype=np.float32)
        found = np.full((len(data), k), -1, dtype=np.int64)
        for row, row_hits in enumerate(hits):
            for col, hit in enumerate(list(row_hits)[:k]):
                scores[row, col], found[row, col] = float(hit["distance"]), int(hit["id"])
        return scores, found

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except IndexStoreError:
            raise
        except Exception as exc:  # pymilvus raises MilvusException and gRPC errors
            raise IndexStoreError(f"Milvus {method} on {self.collection!r} failed: {exc}") from exc
