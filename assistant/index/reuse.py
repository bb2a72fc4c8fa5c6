"""What an incremental build takes over from the live version: the rows of every unchanged document.

Documents are keyed by the SHA-256 of their text. A document whose text the live version already indexed
(under any id) keeps its chunk and sentence spans, vectors and tokens: they are copied into the new
version folder, and only new or changed documents are chunked, tokenised and embedded. The live version
is only read, never changed, so a build killed at any moment leaves it intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexStoreError
from assistant.index.store import IndexData, load


@dataclass(frozen=True)
class DocRows:
    """One document's rows in a version folder, ready to be copied into the next one."""

    chunks: np.ndarray  # (n, 2) start, end
    chunk_vectors: np.ndarray  # (n, dim) float32
    chunk_terms: list[list[str]]
    sentences: np.ndarray  # (m, 2) start, end
    sentence_vectors: np.ndarray  # (m, dim) float16
    sentence_terms: list[str]
    indexed: str  # when the document was first indexed (ISO time)


class Previous:
    """A live version that may be reused: same model, chunking, library versions and index type."""

    def __init__(self, data: IndexData, chunk_terms: list[list[str]]) -> None:
        self.data = data
        self.chunk_terms = chunk_terms
        docs = data.manifest["documents"]
        self.by_sha: dict[str, int] = {}
        for i, d in enumerate(docs):
            self.by_sha.setdefault(str(d["sha256"]), i)
        self.entries: list[dict[str, Any]] = docs
        n = len(docs)
        self._chunk_bounds = np.searchsorted(data.chunks[:, 0], np.arange(n + 1))
        self._sent_bounds = np.searchsorted(data.sentences[:, 0], np.arange(n + 1))

    @classmethod
    def open(cls, folder: Path, expected: dict[str, Any]) -> Previous | None:
        """The version in ``folder`` if it is intact and built with these settings (any corpus), else None."""
        settings = {k: v for k, v in expected.items() if k != "corpus_fingerprint"}
        try:
            data = load(folder, settings)
            terms = json.loads((folder / "chunk_terms.json").read_text(encoding="utf-8"))
        except (IndexStoreError, OSError, ValueError):
            return None
        if not isinstance(terms, list) or len(terms) != len(data.chunks) or (np.diff(data.chunks[:, 0]) < 0).any():
            return None
        if data.chunk_index.vectors(0, min(1, len(data.chunks))) is None:
            return None  # this index type cannot give its vectors back
        return cls(data, terms)

    def background(self, digest: str) -> np.ndarray | None:
        """The stored background vectors, if they were made from the same background sentences."""
        return self.data.background if self.data.manifest.get("background_sha256") == digest else None

    def rows(self, sha256: str, doc_id: str) -> DocRows | None:
        """The rows of the document with this text, or None when the live version does not have it."""
        old = self.by_sha.get(sha256)
        if old is None:
            return None
        cs, ce = int(self._chunk_bounds[old]), int(self._chunk_bounds[old + 1])
        ss, se = int(self._sent_bounds[old]), int(self._sent_bounds[old + 1])
        vectors = self.data.chunk_index.vectors(cs, ce - cs)
        if vectors is None:
            return None
        entry = self.entries[old]
        same_doc = entry.get("doc_id") == doc_id
        return DocRows(
            chunks=np.asarray(self.data.chunks[cs:ce, 1:], dtype=np.int64),
            chunk_vectors=vectors,
            chunk_terms=self.chunk_terms[cs:ce],
            sentences=np.asarray(self.data.sentences[ss:se, 1:], dtype=np.int64),
            sentence_vectors=np.asarray(self.data.sentence_vectors[ss:se], dtype=np.float16),
            sentence_terms=self.data.sentence_terms[ss:se],
            indexed=str(entry.get("indexed", "")) if same_doc else "",
        )
