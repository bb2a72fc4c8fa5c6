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
from assistant.index.reuse import DocRows, Previous
from assistant.index.store import IndexData, document_line, expected_manifest, load
from assistant.index.vectors.faiss import FaissStore, choose_factory
from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.ingest.corpus import Corpus
from assistant.text.bilingual import build_dictionary
from assistant.text.tokenize import tokenize
from assistant.types import Span


def build(
    corpus: Corpus,
    embedder: Embedder,
    params: ChunkingParams,
    index_dir: Path,
    progress: bool = True,
    store: StoreConfig = StoreConfig(),
    previous: Previous | None = None,
) -> Path:
    """Embed and write a new version folder, then point CURRENT at it; the old one stays until then.

    With ``previous`` (the live version, built with the same settings), documents whose text it already
    indexed are copied from it and only the others are chunked, tokenised and embedded.
    """
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    parts: list[DocRows | None] = []
    fresh: list[tuple[list[Span], list[Span]]] = []
    for doc in corpus.documents:
        rows = previous.rows(_sha(doc.text), doc.doc_id) if previous is not None else None
        parts.append(rows)
        if rows is None:
            fresh.append((chunk_document(doc, params), split_sentences(doc, params.max_sentence)))
    texts = {d.doc_id: d.text for d in corpus.documents}
    new_chunks = [texts[c.doc_id][c.start : c.end] for spans, _ in fresh for c in spans]
    new_sents = [texts[s.doc_id][s.start : s.end] for _, spans in fresh for s in spans]
    background = previous.background(BACKGROUND_SHA) if previous is not None else None

    total = len(new_chunks) + len(new_sents) + (len(BACKGROUND) if background is None else 0)
    bar = _progress_bar(total, progress)
    chunk_vecs = embedder.embed_passages(new_chunks, progress=bar.update) if new_chunks else None
    sent_vecs = embedder.embed_passages(new_sents, progress=bar.update) if new_sents else None
    if background is None:
        background = embedder.embed_passages(list(BACKGROUND), progress=bar.update)
    bar.close()

    # assemble in document order: copied rows and fresh rows side by side
    chunk_rows, sent_rows, chunk_vec_parts, sent_vec_parts = [], [], [], []
    chunk_terms: list[list[str]] = []
    sent_terms: list[str] = []
    entries = []
    fresh_iter = iter(fresh)
    ci = si = 0
    for i, (doc, rows) in enumerate(zip(corpus.documents, parts, strict=True)):
        if rows is None:
            c_spans, s_spans = next(fresh_iter)
            rows = DocRows(
                chunks=np.asarray([(c.start, c.end) for c in c_spans], dtype=np.int64).reshape(-1, 2),
                chunk_vectors=_rows(chunk_vecs, ci, len(c_spans), embedder.dim, np.float32),
                chunk_terms=[tokenize(doc.text[c.start : c.end]) for c in c_spans],
                sentences=np.asarray([(s.start, s.end) for s in s_spans], dtype=np.int64).reshape(-1, 2),
                sentence_vectors=_rows(sent_vecs, si, len(s_spans), embedder.dim, np.float16),
                sentence_terms=[" ".join(tokenize(doc.text[s.start : s.end])) for s in s_spans],
                indexed=now,
            )
            ci, si = ci + len(c_spans), si + len(s_spans)
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
    lexical = LexicalIndex.from_tokens(chunk_terms)
    lexical.save(tmp / "lexical")
    vocabulary = lexical.vocabulary()
    if previous is not None and previous.data.lexical.vocabulary() == vocabulary:
        bilingual = previous.data.bilingual  # it depends on the vocabulary only
    else:
        bilingual = build_dictionary(vocabulary)
    (tmp / "bilingual.json").write_text(json.dumps(bilingual, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    manifest = expected_manifest(corpus, embedder, params, store)
    manifest.update(
        {
            "documents": entries,
            "counts": {"chunks": len(chunks), "sentences": len(sentences)},
            "embedded": {"chunks": len(new_chunks), "sentences": len(new_sents), "documents": len(fresh)},
            "background_sha256": BACKGROUND_SHA,
            "faiss_factory": factory,
            "created": now,
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


def _rows(vectors: np.ndarray | None, start: int, count: int, dim: int, dtype: type) -> np.ndarray:
    if vectors is None or count == 0:
        return np.zeros((0, dim), dtype=dtype)
    return vectors[start : start + count].astype(dtype)


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
) -> tuple[IndexData, bool]:
    """Load the live index if it matches, else build it; serialised across processes by a file lock."""
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
            folder = build(corpus, embedder, params, index_dir, progress, store, previous)
            return load(folder, expected), True
    except Timeout as exc:
        raise IndexStoreError(
            f"another process has held the lock on {index_dir} for {LOCK_TIMEOUT:.0f}s; "
            "wait for it to finish or remove a stale .lock file"
        ) from exc
    except OSError as exc:  # permissions, a file where a folder should be, a full disk
        raise IndexStoreError(f"cannot use the index folder {index_dir}: {exc}") from exc


class _NoBar:
    def update(self, n: int) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        pass


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="Embedding", unit="text")
