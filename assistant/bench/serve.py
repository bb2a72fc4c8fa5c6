"""The serving side of the scale benchmark: a fresh process opens the built files like the store does
and times the real ``Retriever`` (dense channel, BM25, fusion) with preset question vectors."""

from __future__ import annotations

import dataclasses
import json
import mmap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed import Embedder
from assistant.index.vectors.faiss import FaissStore

DIM = 384
CANDIDATES = 40  # what RetrievalConfig.candidates asks FAISS for
CHUNKS_PER_DOC = 24  # the article has 24 chunks


def pctl(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def memory_mb() -> dict[str, float]:
    """Current and peak resident memory of this process, in MiB (Linux /proc, else ru_maxrss)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            names = {"VmRSS": "rss_mb", "VmHWM": "peak_rss_mb", "RssAnon": "anon_rss_mb", "RssFile": "file_rss_mb"}
            if key in names:
                out[names[key]] = int(rest.split()[0]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out = {"rss_mb": peak, "peak_rss_mb": peak}
    return out


class PresetEmbedder(Embedder):
    """Returns a preset vector as the question's embedding, so that timing excludes the model."""

    def __init__(self, dim: int) -> None:
        self.dim, self.name = dim, "preset"
        self.vector = np.zeros(dim, dtype=np.float32)

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))

    def embed_query(self, text: str) -> np.ndarray:
        return self.vector


def synthetic_data(work: Path, n: int, index: FaissStore, lexical: Any, sent_vecs: np.ndarray) -> Any:
    """An IndexData over the synthetic chunks: documents of 24 chunks (like the article), one 'sentence' each."""
    from assistant.index.store import IndexData

    ids = np.arange(n, dtype=np.int64)
    starts = (ids % CHUNKS_PER_DOC) * 10
    rows = np.stack([ids // CHUNKS_PER_DOC, starts, starts + 10], axis=1)
    values = {
        "manifest": {"dim": DIM, "counts": {"chunks": n, "sentences": n}},
        "doc_ids": [f"doc-{d}" for d in range(int(rows[-1, 0]) + 1)],
        "chunks": rows,
        "sentences": rows.copy(),
        "chunk_index": index,
        "sentence_vectors": sent_vecs,
        "lexical": lexical,
        "folder": work,
        "bilingual": {},
        "background": np.zeros((1, DIM), dtype=np.float32),
        "sentence_terms": [""] * n,  # used by answer composition only, not by Retriever.score
    }
    return IndexData(**{f.name: values[f.name] for f in dataclasses.fields(IndexData) if f.name in values})


def serve(folder: str) -> None:
    """Child process: open the built files like the store does, run the real Retriever, print JSON."""
    from assistant.index.lexical import LexicalIndex
    from assistant.retrieve.retriever import Retriever
    from assistant.text.tokenize import tokenize

    work = Path(folder)
    spec = json.loads((work / "spec.json").read_text(encoding="utf-8"))
    n, factory = int(spec["n"]), str(spec["factory"])
    base = memory_mb()["rss_mb"]
    t = time.perf_counter()
    index = FaissStore.load(Path(spec["index"]), DIM, factory)
    lexical = LexicalIndex.load(work / "lexical", n)
    sent_vecs = np.load(spec["sentences"], mmap_mode="r", allow_pickle=False)
    raw_map = getattr(sent_vecs, "_mmap", None)
    if raw_map is not None and hasattr(mmap, "MADV_RANDOM"):  # rows are read a few at a time: no read-ahead
        raw_map.madvise(mmap.MADV_RANDOM)
    embedder = PresetEmbedder(DIM)
    retriever = Retriever(synthetic_data(work, n, index, lexical, sent_vecs), [], embedder)
    load_s = time.perf_counter() - t
    qs = np.load(work / "queries.npy", allow_pickle=False)
    texts = spec["questions"]
    pairs = [(texts[i % len(texts)], qs[i]) for i in range(len(qs))]
    for text, vector in pairs[:5]:  # warm-up (jieba's dictionary, caches)
        embedder.vector = vector
        retriever.score(retriever.prepare(text))
    timings: dict[str, list[float]] = {k: [] for k in ("dense", "lexical", "top_sort", "top_partition", "fusion")}
    for text, vector in pairs:
        embedder.vector = vector
        t0 = time.perf_counter()
        index.search(vector, CANDIDATES)
        t1 = time.perf_counter()
        bm25 = lexical.scores(tokenize(text))
        t2 = time.perf_counter()
        hit = bm25.any()  # Retriever.score sorts only when some chunk matches
        hit and np.argsort(-bm25)[:CANDIDATES]  # what Retriever.score does to pick BM25 candidates
        t3 = time.perf_counter()
        hit and np.argpartition(-bm25, min(CANDIDATES, n - 1))[:CANDIDATES]  # the O(n) alternative
        t4 = time.perf_counter()
        retriever.score(retriever.prepare(text))
        t5 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            timings[key].append(dt * 1000)
    out: dict[str, Any] = {"factory": factory, "load_s": load_s, "baseline_rss_mb": base, **memory_mb()}
    out["sentence_vectors_mb"] = sent_vecs.nbytes / 2**20  # memory-mapped here; store.py loads them whole
    out["rss_if_loaded_mb"] = out["rss_mb"] + out["sentence_vectors_mb"]
    for key, values in timings.items():
        out[key] = {"p50_ms": pctl(values, 50), "p95_ms": pctl(values, 95)}
    print(json.dumps(out))
