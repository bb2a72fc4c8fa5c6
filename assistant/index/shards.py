"""The per-document part of an index build: chunk, split into sentences, tokenise, embed.

It needs nothing but the documents, the chunking settings and a passage embedder, so it runs the same way
in this process (``LocalRunner``) or on the workers of a Ray cluster (``assistant.index.ray_build``);
the driver then does the global part (BM25, the bilingual dictionary, FAISS, the version folder). The
vectors of a text do not depend on which other texts share its call or batch (checked byte for byte by
``tests/model/test_ray_build.py``), so shards may be cut anywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from assistant.config import ChunkingParams
from assistant.embed import Embedder
from assistant.index.reuse import DocRows
from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.text.tokenize import tokenize
from assistant.types import Document

Progress = Callable[[int], None]


class Runner(ABC):
    """Where the per-document work of a build runs. One method: the rows of these documents, in order."""

    name = "runner"

    @abstractmethod
    def rows(
        self, documents: Sequence[Document], embedder: Embedder, params: ChunkingParams, progress: Progress
    ) -> list[DocRows]:
        """Spans, vectors and BM25 tokens of every document (``indexed`` left empty)."""

    def embed_passages(self, embedder: Embedder, texts: Sequence[str], progress: Progress) -> np.ndarray:
        """Vectors of other passages (the background sentences); by default in this process."""
        return embedder.embed_passages(list(texts), progress=progress)

    def close(self) -> None:  # noqa: B027 - an optional hook: a local runner holds nothing
        """Release what the runner holds (workers, a cluster connection)."""


class LocalRunner(Runner):
    """This process: the embedder's own threads embed while this thread tokenises."""

    name = "local"

    def rows(
        self, documents: Sequence[Document], embedder: Embedder, params: ChunkingParams, progress: Progress
    ) -> list[DocRows]:
        return document_rows(documents, embedder, params, progress)


def document_rows(
    documents: Sequence[Document], embedder: Embedder, params: ChunkingParams, progress: Progress | None = None
) -> list[DocRows]:
    """Chunk, split, embed and tokenise ``documents``; one ``DocRows`` per document, in order.

    Every distinct text is embedded and tokenised once (a short paragraph is often both a chunk and a
    sentence), all in one call so that the embedder sorts the whole set by length. Embedding runs in a
    second thread (onnxruntime releases the GIL) while this one tokenises for BM25.
    """
    spans = [(chunk_document(d, params), split_sentences(d, params.max_sentence)) for d in documents]
    slot: dict[str, int] = {}
    for doc, (chunks, sentences) in zip(documents, spans, strict=True):
        for s in (*chunks, *sentences):
            slot.setdefault(doc.text[s.start : s.end], len(slot))
    texts = list(slot)
    with ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:
        pending = pool.submit(_embed, embedder, texts, progress)
        terms = [tokenize(t) for t in texts]
        vectors = pending.result()
    out = []
    for doc, (chunks, sentences) in zip(documents, spans, strict=True):
        c_rows = [slot[doc.text[c.start : c.end]] for c in chunks]
        s_rows = [slot[doc.text[s.start : s.end]] for s in sentences]
        out.append(
            DocRows(
                chunks=np.asarray([(c.start, c.end) for c in chunks], dtype=np.int64).reshape(-1, 2),
                chunk_vectors=vectors[c_rows].astype(np.float32).reshape(-1, embedder.dim),
                chunk_terms=[list(terms[r]) for r in c_rows],
                sentences=np.asarray([(s.start, s.end) for s in sentences], dtype=np.int64).reshape(-1, 2),
                sentence_vectors=vectors[s_rows].astype(np.float16).reshape(-1, embedder.dim),
                sentence_terms=[" ".join(terms[r]) for r in s_rows],
                indexed="",
            )
        )
    return out


def _embed(embedder: Embedder, texts: list[str], progress: Progress | None) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return embedder.embed_passages(texts, progress=progress)


def plan_shards(documents: Sequence[Document], shards: int) -> list[list[int]]:
    """Document indices cut into at most ``shards`` runs of about equal text (characters), in order."""
    if not documents:
        return []
    sizes = np.cumsum([max(len(d.text), 1) for d in documents])
    total = int(sizes[-1])
    count = max(1, min(shards, len(documents)))
    cuts = np.searchsorted(sizes, [total * k / count for k in range(1, count)], side="left")
    out: list[list[int]] = []
    start = 0
    for cut in [*(int(c) + 1 for c in cuts), len(documents)]:
        if cut > start:
            out.append(list(range(start, cut)))
            start = cut
    return out
