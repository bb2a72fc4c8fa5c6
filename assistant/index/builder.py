"""Building a version folder: chunk, embed, write the arrays and the manifest, then switch to it.

Nothing is pickled: FAISS's own format, NumPy arrays loaded with ``allow_pickle=False``, JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from filelock import Timeout

from assistant.answer.background import BACKGROUND
from assistant.config import ChunkingParams, StoreConfig
from assistant.embed import Embedder
from assistant.errors import IndexStoreError
from assistant.index.layout import LOCK_TIMEOUT, current_folder, fsync_tree, lock_for, sha256_file, switch_current
from assistant.index.lexical import LexicalIndex
from assistant.index.reuse import Previous
from assistant.index.shards import LocalRunner, Runner
from assistant.index.store import IndexData, document_line, expected_manifest, load
from assistant.index.vectors.faiss import FaissStore, choose_factory
from assistant.ingest.corpus import Corpus
from assistant.text.bilingual import build_dictionary


def build(
    corpus: Corpus,
    embedder: Embedder,
    params: ChunkingParams,
    index_dir: Path,
    progress: bool = True,
    store: StoreConfig = StoreConfig(),
    previous: Previous | None = None,
    runner: Runner | None = None,
) -> Path:
    """Embed and write a new version folder, then point CURRENT at it; the old one stays until then.

    With ``previous`` (the live version, built with the same settings), documents whose text it already
    indexed are copied from it and only the others are chunked, tokenised and embedded. ``runner`` says
    where that per-document work runs (this process by default, or a Ray cluster: ``index/ray_build.py``);
    everything else happens here. Seconds per stage are recorded in the manifest (``build_s``).
    """
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    clock = _Clock()
    parts = [previous.rows(_sha(doc.text), doc.doc_id) if previous is not None else None for doc in corpus.documents]
    fresh_docs = [doc for doc, rows in zip(corpus.documents, parts, strict=True) if rows is None]
    background = previous.background(BACKGROUND_SHA) if previous is not None else None
    bar = _progress_bar(progress)
    runner = runner or LocalRunner()
    fresh = iter(runner.rows(fresh_docs, embedder, params, bar.update) if fresh_docs else [])
    clock.stage("documents")
    if background is None:
        background = runner.embed_passages(embedder, BACKGROUND, bar.update)
        clock.stage("background")
    bar.close()

    # assemble in document order: copied rows and fresh rows side by side
    chunk_rows, sent_rows, chunk_vec_parts, sent_vec_parts = [], [], [], []
    chunk_terms: list[list[str]] = []
    sent_terms: list[str] = []
    entries = []
    embedded = {"chunks": 0, "sentences": 0, "documents": len(fresh_docs)}
    for i, (doc, rows) in enumerate(zip(corpus.documents, parts, strict=True)):
        if rows is None:
            rows = next(fresh)
            embedded["chunks"] += len(rows.chunks)
            embedded["sentences"] += len(rows.sentences)
        chunk_rows.append(np.column_stack([np.full(len(rows.chunks), i, dtype=np.int64), rows.chunks]))
        sent_rows.append(np.column_stack([np.full(len(rows.sentences), i, dtype=np.int64), rows.sentences]))
        chunk_vec_parts.append(rows.chunk_vectors)
        sent_vec_parts.append(rows.sentence_vectors)
        chunk_terms.extend(rows.chunk_terms)
        sent_terms.extend(rows.sentence_terms)
        entries.append(
            {
                "doc_id": doc.doc_id,
                "chars": len(doc.text),
                "sha256": _sha(doc.text),
                "chunks": len(rows.chunks),
                "sentences": len(rows.sentences),
                "indexed": rows.indexed or now,
            }
        )
    chunks = np.concatenate(chunk_rows).reshape(-1, 3) if chunk_rows else np.zeros((0, 3), dtype=np.int64)
    sentences = np.concatenate(sent_rows).reshape(-1, 3) if sent_rows else np.zeros((0, 3), dtype=np.int64)
    all_chunk_vecs = np.concatenate(chunk_vec_parts).astype(np.float32, copy=False)
    all_sent_vecs = np.concatenate(sent_vec_parts).astype(np.float16, copy=False)

    factory = choose_factory(len(chunks), store.faiss_factory)
    vindex = FaissStore(embedder.dim, factory)
    vindex.add(all_chunk_vecs)
    clock.stage("faiss")

    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    vindex.save(tmp / "chunks.faiss")
    np.save(tmp / "chunks.npy", chunks.astype(np.int64))
    np.save(tmp / "chunk_ids.npy", chunk_ids(corpus, chunks))
    np.save(tmp / "sentences.npy", sentences.astype(np.int64))
    np.save(tmp / "sentence_vectors.npy", all_sent_vecs)
    np.save(tmp / "background.npy", background)
    _write_json(tmp / "sentence_terms.json", sent_terms)
    _write_json(tmp / "chunk_terms.json", chunk_terms)
    with (tmp / "documents.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(document_line(d) for d in corpus.documents)
    clock.stage("write")
    lexical = LexicalIndex.from_tokens(chunk_terms)
    lexical.save(tmp / "lexical")
    vocabulary = lexical.vocabulary()
    clock.stage("bm25")
    if previous is not None and previous.data.lexical.vocabulary() == vocabulary:
        bilingual = previous.data.bilingual  # it depends on the vocabulary only
    else:
        bilingual = build_dictionary(vocabulary)
    (tmp / "bilingual.json").write_text(json.dumps(bilingual, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    clock.stage("dictionary")

    manifest = expected_manifest(corpus, embedder, params, store)
    manifest.update(
        {
            "documents": entries,
            "counts": {"chunks": len(chunks), "sentences": len(sentences)},
            "embedded": embedded,
            "background_sha256": BACKGROUND_SHA,
            "faiss_factory": factory,
            "created": now,
            "runner": runner.name,
            "build_s": clock.stages,
            "files": {},
        }
    )
    for path in sorted(tmp.rglob("*")):
        if path.is_file():
            manifest["files"][str(path.relative_to(tmp))] = sha256_file(path)
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    fsync_tree(tmp)
    os.replace(tmp, index_dir / name)

    switch_current(index_dir, name)
    clock.stage("finish")  # file hashes, fsync, the switch (after the manifest: not in it)
    last_build.clear()
    last_build.update(clock.stages)
    return index_dir / name


def chunk_ids(corpus: Corpus, chunks: np.ndarray) -> np.ndarray:
    """Stable int64 ids: a hash of the document id, its text's hash, and the chunk's start and end."""
    shas = [_sha(d.text) for d in corpus.documents]
    out = np.empty(len(chunks), dtype=np.int64)
    for row, (doc, start, end) in enumerate(chunks.tolist()):
        key = f"{corpus.documents[doc].doc_id}\0{shas[doc]}\0{start}\0{end}".encode()
        out[row] = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)
    return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


BACKGROUND_SHA = hashlib.sha256("\n".join(BACKGROUND).encode("utf-8")).hexdigest()


def open_or_build(
    corpus: Corpus,
    embedder: Embedder,
    params: ChunkingParams,
    index_dir: Path,
    rebuild: bool = False,
    progress: bool = True,
    store: StoreConfig = StoreConfig(),
    runner: Runner | None = None,
) -> tuple[IndexData, bool]:
    """Load the live index if it matches, else build it (the per-document work on ``runner``, this process by
    default); serialised across processes by a file lock."""
    expected = expected_manifest(corpus, embedder, params, store)
    try:
        with lock_for(index_dir):
            folder = current_folder(index_dir)
            previous = None
            if folder is not None and not rebuild:
                try:
                    return load(folder, expected), False
                except IndexStoreError:
                    # stale or damaged: build below (reusing what is intact), the old folder stays until the switch
                    previous = Previous.open(folder, expected)
            folder = build(corpus, embedder, params, index_dir, progress, store, previous, runner)
            return load(folder, expected), True
    except Timeout as exc:
        raise IndexStoreError(
            f"another process has held the lock on {index_dir} for {LOCK_TIMEOUT:.0f}s; "
            "wait for it to finish or remove a stale .lock file"
        ) from exc
    except OSError as exc:  # permissions, a file where a folder should be, a full disk
        raise IndexStoreError(f"cannot use the index folder {index_dir}: {exc}") from exc


last_build: dict[str, float] = {}  # seconds per stage of this process's latest build (the benchmark reads it)


class _Clock:
    """Seconds per build stage, in order."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = round(now - self._last, 4)
        self._last = now


class _NoBar:
    def update(self, n: int) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        pass


def _progress_bar(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(desc="Embedding", unit="text")
