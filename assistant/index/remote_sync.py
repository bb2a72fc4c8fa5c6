"""Writing a version's chunk rows to Milvus: whole (a new collection, then the alias moves) or by difference.

Rows are keyed by stable chunk ids. A collection carries one *head* row (id ``HEAD_ID``; its ``doc_id`` holds
JSON): the version folder whose rows it serves, a sync counter, a random id of the collection, whether its BM25
weights were written whole for that version, and how many rows it holds. The writer keeps beside the index
folder (``milvus-state/<collection id>-<counter>.npz``) the chunk ids of that version and the *spare* ids: rows
that may exist beyond them (the previous version's, kept one sync for readers that opened it, or rows a killed
sync may have written). An incremental sync

1. records the rows it is about to write as spare (so that a sync killed at any point leaves nothing untracked),
2. deletes the spare rows the new version does not need, upserts the rows it lacks, and checks the row count,
3. records the new version's state, then replaces the head row: readers that open the new version from then
   on see all of it; readers of the previous one still find every row they know.

Without the state file (another machine synced last), a head that does not match, or more than half the rows
to write, the version is written whole into a fresh collection and the alias switched, as before.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexStoreError
from assistant.index.layout import fsync_file
from assistant.index.store import IndexData
from assistant.index.vectors.milvus import MilvusStore

log = logging.getLogger(__name__)
HEAD_ID = -(2**63) + 1  # chunk ids are 64-bit hashes: a clash is a 2^-64 chance per chunk
BATCH = 2000  # rows per upsert
on_batch: Callable[[int], None] | None = None  # test hook: called with the rows written so far
STATE_DIR = "milvus-state"


@dataclass(frozen=True)
class Head:
    """What a collection serves (stored as JSON in the head row)."""

    version: str  # the version folder's name
    seq: int  # syncs into this collection so far
    uid: str  # random, per collection: names the writer's state file
    full: bool  # the BM25 weights of every row were written for this version
    rows: int  # rows in the collection, head included
    dim: int
    index: str  # the vector index type (FLAT, HNSW)

    @classmethod
    def read(cls, store: MilvusStore) -> Head | None:
        rows = store.get([HEAD_ID], ["doc_id"], strong=True)  # the switch point: never an old snapshot
        try:
            return cls(**json.loads(rows[0]["doc_id"])) if rows else None
        except (TypeError, ValueError):
            return None

    def write(self, store: MilvusStore) -> None:
        text = json.dumps(asdict(self))
        store.add(np.zeros((1, self.dim), dtype=np.float32), [HEAD_ID], doc_ids=[text], spans=np.full((1, 2), -1))


def collection_name(folder_name: str, alias: str) -> str:
    """Milvus names allow letters, digits and underscores: ``v-2026...-abcd`` -> ``<alias>_v_2026..._abcd``."""
    return f"{alias}_{re.sub(r'[^0-9A-Za-z_]', '_', folder_name)}"


def stable_ids(data: IndexData) -> np.ndarray:
    ids = np.asarray(data.chunk_ids if data.chunk_ids is not None else np.arange(len(data.chunks)), dtype=np.int64)
    ordered = np.sort(ids)
    if (ordered[1:] == ordered[:-1]).any() or (ids == HEAD_ID).any():
        raise IndexStoreError("the version's chunk ids are not unique; rebuild it with `assistant index --rebuild`")
    return ids


def _minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted ``a`` without ``b`` (both without repeats; sorting, not NumPy's hashing unique: 40x faster here)."""
    return np.sort(a[~np.isin(a, b, assume_unique=True)])


def _plus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sort(np.concatenate([a, _minus(b, a)]))


def write_whole(client: Any, data: IndexData, name: str, index_type: str, vocabulary: dict[str, int]) -> MilvusStore:
    """Every chunk row of ``data`` and a head row into a fresh collection ``name``, flushed and counted."""
    store = MilvusStore.create(client, name, int(data.manifest["dim"]), index_type)
    store.vocabulary = vocabulary if store.sparse else {}
    ids = stable_ids(data)
    _upsert(store, data, np.arange(len(ids)), ids)
    Head(data.folder.name, 1, uuid.uuid4().hex[:16], store.sparse, len(ids) + 1, store.dim, index_type).write(store)
    store.flush()
    if store.count() != len(ids) + 1:
        raise IndexStoreError(
            f"Milvus holds {store.count()} rows of {name}, expected {len(ids) + 1}; run `assistant index` again"
        )
    _save_state(data.folder.parent, Head.read(store), ids, np.zeros(0, dtype=np.int64))
    return store


def write_changes(store: MilvusStore, head: Head, data: IndexData) -> Head | None:
    """Bring the collection from ``head``'s version to ``data``'s by difference; None when it should be whole."""
    state = _load_state(data.folder.parent, head)
    if state is None or head.dim != int(data.manifest["dim"]):
        return None
    live, spare = state
    rows = stable_ids(data)
    ids = np.sort(rows)
    add = _minus(ids, live)  # includes spare rows the version needs again: upserts are idempotent
    if len(add) > len(ids) // 2:
        return None
    drop = _minus(spare, ids)
    _save_state(data.folder.parent, head, live, _plus(spare, add))  # before any write: all stays tracked
    store.discard(drop)
    where = np.flatnonzero(np.isin(rows, add, assume_unique=True))
    _upsert(store, data, where, rows[where])
    expected = len(live) + len(add) + 1
    if store.count() != expected:
        log.info("Milvus holds other rows in %s than expected: writing the version whole", store.collection)
        return None
    new = Head(data.folder.name, head.seq + 1, head.uid, False, expected, head.dim, head.index)
    _save_state(data.folder.parent, new, ids, _minus(live, ids))
    new.write(store)
    _state_path(data.folder.parent, head).unlink(missing_ok=True)
    return new


def bm25_rows(data: IndexData) -> Any:
    """bm25s's per-(term, chunk) score matrix, turned chunk-major (one sparse row per chunk)."""
    from scipy.sparse import csc_matrix

    scores = _bm25(data).scores
    indptr = np.asarray(scores["indptr"])
    matrix = csc_matrix(
        (np.asarray(scores["data"]), np.asarray(scores["indices"]), indptr),
        shape=(int(scores["num_docs"]), len(indptr) - 1),
    )
    return matrix.tocsr()


def sparse_row(matrix: Any, row: int) -> dict[int, float]:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return dict(zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist(), strict=True))


def vocabulary(data: IndexData) -> dict[str, int]:
    """The version folder's bm25s term ids (persisted in ``lexical/vocab.index.json``): the sparse dimensions."""
    return {str(t): int(i) for t, i in _bm25(data).vocab_dict.items()}


def _bm25(data: IndexData) -> Any:
    return getattr(data.lexical, "_bm25")  # noqa: B009  # bm25s's model: its vocabulary and score matrix


def _upsert(store: MilvusStore, data: IndexData, rows: np.ndarray, ids: np.ndarray) -> None:
    """Upsert these chunk rows of ``data`` under these ids, in batches (contiguous runs read from FAISS)."""
    weights = bm25_rows(data) if store.sparse and len(rows) else None
    for first in range(0, len(rows), BATCH):
        part = rows[first : first + BATCH]
        vectors = _vectors(data, part)
        store.add(
            vectors,
            ids[first : first + BATCH],
            doc_ids=[data.doc_ids[int(d)] for d in data.chunks[part, 0]],
            spans=data.chunks[part, 1:3],
            sparse=None if weights is None else [sparse_row(weights, int(r)) for r in part],
        )
        if on_batch is not None:
            on_batch(first + len(part))


def _vectors(data: IndexData, rows: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), int(data.manifest["dim"])), dtype=np.float32)
    if not len(rows):
        return out
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    at = 0
    for run in np.split(rows, breaks):
        got = data.chunk_index.vectors(int(run[0]), len(run))
        if got is None:
            raise IndexStoreError("the local FAISS index cannot give its vectors back; rebuild it with `assistant index`")
        out[at : at + len(run)] = got
        at += len(run)
    return out


def _state_path(index_dir: Path, head: Head) -> Path:
    return index_dir / STATE_DIR / f"{head.uid}-{head.seq}.npz"


def _save_state(index_dir: Path, head: Head | None, live: np.ndarray, spare: np.ndarray) -> None:
    if head is None:
        raise IndexStoreError("the Milvus head row cannot be read back; run `assistant index` again")
    path = _state_path(index_dir, head)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex[:8]}.npz")
    np.savez(tmp, live=np.asarray(live, dtype=np.int64), spare=np.asarray(spare, dtype=np.int64))
    fsync_file(tmp)
    os.replace(tmp, path)
    for other in path.parent.glob(f"{head.uid}-*.npz"):
        if other.name != path.name and other.name != f"{head.uid}-{head.seq - 1}.npz":
            other.unlink(missing_ok=True)


def _load_state(index_dir: Path, head: Head) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(_state_path(index_dir, head), allow_pickle=False) as saved:
            return np.asarray(saved["live"], dtype=np.int64), np.asarray(saved["spare"], dtype=np.int64)
    except (OSError, KeyError, ValueError):
        return None
