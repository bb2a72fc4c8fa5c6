"""Serving the chunk index from Milvus: sync the live version folder into a collection, then switch an alias.

The local version folder stays the source of truth (texts, offsets, sentences, manifest). Its chunk rows are
copied to the collection ``<alias>_<version folder>`` (vectors, doc ids, offsets, BM25 weights keyed by the
folder's own bm25s term ids); only once every row is in and flushed does the alias move to it, and older
collections are dropped. A sync that dies half-way leaves the alias on the previous collection; the next
open (``assistant index``) drops the half-built collection and syncs again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.config import StoreConfig
from assistant.errors import IndexStoreError
from assistant.index.layout import lock_for
from assistant.index.store import IndexData
from assistant.index.vectors.faiss import FLAT_LIMIT
from assistant.index.vectors.milvus import MilvusStore, connect

ALIAS = "assistant_chunks"  # the live collection's alias; collections are named <alias>_<version folder>
BATCH = 2000  # rows per upsert
on_batch: Callable[[int], None] | None = None  # test hook: called with the rows written so far


def collection_name(folder_name: str, alias: str = ALIAS) -> str:
    """Milvus names allow letters, digits and underscores: ``v-2026...-abcd`` -> ``<alias>_v_2026..._abcd``."""
    return f"{alias}_{re.sub(r'[^0-9A-Za-z_]', '_', folder_name)}"


def attach(data: IndexData, store: StoreConfig, alias: str = ALIAS) -> IndexData:
    """``data`` with its chunk rows served from Milvus (synced first when the alias is not on this version)."""
    if not store.uri:
        return data
    client = connect(store.uri)
    name = collection_name(data.folder.name, alias)
    vocabulary = _vocabulary(data)
    index_type = "FLAT" if len(data.chunks) < FLAT_LIMIT else "HNSW"
    with lock_for(data.folder.parent):
        if live_collection(client, alias) != name or _count(client, name) != len(data.chunks):
            milvus = sync(client, data, name, vocabulary, index_type)
            switch_alias(client, alias, name)
        else:
            milvus = MilvusStore(client, name, int(data.manifest["dim"]), vocabulary, index_type)
    milvus.uri = store.uri
    return dataclasses.replace(data, remote=milvus)


def follow(previous: IndexData, data: IndexData) -> IndexData:
    """After a re-index, serve ``data`` from the same Milvus as ``previous`` was (no-op for the local store)."""
    remote = previous.remote
    if remote is None or remote.uri is None:
        return data
    return attach(data, StoreConfig(uri=remote.uri), remote.collection.rsplit("_v_", 1)[0])


def live_collection(client: Any, alias: str = ALIAS) -> str | None:
    """The collection the alias points at, or None when there is no alias yet."""
    try:
        if alias not in client.list_aliases().get("aliases", []):
            return None
        return str(client.describe_alias(alias)["collection_name"])
    except Exception as exc:
        raise IndexStoreError(f"cannot read the Milvus alias {alias!r}: {exc}") from exc


def sync(client: Any, data: IndexData, name: str, vocabulary: dict[str, int], index_type: str) -> MilvusStore:
    """Write every chunk row of ``data`` into a fresh collection ``name`` and flush it."""
    dim = int(data.manifest["dim"])
    vectors = data.chunk_index.vectors(0, len(data.chunks))
    if vectors is None:
        raise IndexStoreError("the local FAISS index cannot give its vectors back; rebuild it with `assistant index`")
    weights = _bm25_rows(data)
    milvus = MilvusStore.create(client, name, dim, index_type)
    milvus.vocabulary = vocabulary
    spans = data.chunks[:, 1:3]
    doc_ids = [data.doc_ids[int(d)] for d in data.chunks[:, 0]]
    for start in range(0, len(data.chunks), BATCH):
        stop = min(start + BATCH, len(data.chunks))
        sparse = [_row(weights, r) for r in range(start, stop)]
        milvus.add(
            vectors[start:stop],
            np.arange(start, stop),
            doc_ids=doc_ids[start:stop],
            spans=spans[start:stop],
            sparse=sparse,
        )
        if on_batch is not None:
            on_batch(stop)
    milvus.flush()
    if milvus.count() != len(data.chunks):
        raise IndexStoreError(
            f"Milvus holds {milvus.count()} rows of {name}, expected {len(data.chunks)}; run `assistant index` again"
        )
    return milvus


def switch_alias(client: Any, alias: str, name: str) -> None:
    """Point ``alias`` at ``name``, then drop the other collections of this alias (old or half-built)."""
    try:
        if live_collection(client, alias) is None:
            client.create_alias(name, alias)
        else:
            client.alter_alias(name, alias)
        for other in client.list_collections():
            if other != name and other.startswith(f"{alias}_v_"):
                client.drop_collection(other)
    except IndexStoreError:
        raise
    except Exception as exc:
        raise IndexStoreError(f"cannot switch the Milvus alias {alias!r} to {name}: {exc}") from exc


def _count(client: Any, name: str) -> int:
    if not client.has_collection(name):
        return -1
    client.load_collection(name)  # a reopened collection starts released
    rows = client.query(name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"])


def _bm25(data: IndexData) -> Any:
    return getattr(data.lexical, "_bm25")  # noqa: B009  # bm25s's model: its vocabulary and score matrix


def _vocabulary(data: IndexData) -> dict[str, int]:
    """The version folder's bm25s term ids (persisted in ``lexical/vocab.index.json``): the sparse dimensions."""
    return {str(t): int(i) for t, i in _bm25(data).vocab_dict.items()}


def _bm25_rows(data: IndexData) -> Any:
    """bm25s's per-(term, chunk) score matrix, turned chunk-major (one sparse row per chunk)."""
    from scipy.sparse import csc_matrix

    scores = _bm25(data).scores
    indptr = np.asarray(scores["indptr"])
    matrix = csc_matrix(
        (np.asarray(scores["data"]), np.asarray(scores["indices"]), indptr),
        shape=(int(scores["num_docs"]), len(indptr) - 1),
    )
    return matrix.tocsr()


def _row(matrix: Any, row: int) -> dict[int, float]:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return dict(zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist(), strict=True))
