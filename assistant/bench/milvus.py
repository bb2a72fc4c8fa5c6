"""FAISS against Milvus (embedded Lite) in one run: the article through the whole assistant, and N synthetic
chunks through the retriever's fused scoring. Each row runs in a fresh process, so that its memory is its own.

Columns: build (FAISS add, or the Milvus sync: create, upsert of vectors and BM25 weights, flush), latency
p50/p95 of one dense search of 40 candidates and of one fused ``Retriever.score`` (dense + BM25 + fusion),
recall@10 of the dense search against exact search, top-5 agreement of the fused ranking with the local
store, and the process's resident memory. ``python -m assistant bench --milvus`` adds these rows.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.bench import scale as benchscale
from assistant.bench.serve import CANDIDATES, pctl

QUERIES = 100
CHILD = "import sys; from assistant.bench.milvus import child; child(*sys.argv[1:])"
ROWS = (("faiss", "Flat"), ("faiss", "HNSW32,SQ8"), ("milvus", "FLAT"), ("milvus", "HNSW"))


def bench_milvus(
    cache: Path, corpus: str, embedder: str | None, scales: list[int], questions: list[str]
) -> list[dict[str, Any]]:
    """Rows for the article and each synthetic scale, FAISS and Milvus side by side."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=cache, prefix="milvus-") as work:
        qfile = Path(work) / "questions.json"
        qfile.write_text(json.dumps(questions[:QUERIES], ensure_ascii=False), encoding="utf-8")
        for kind in ("faiss", "milvus"):
            rows.append(_run("article", kind, "Flat" if kind == "faiss" else "FLAT", corpus, embedder or "", work))
        for n in scales:
            for kind, index_type in ROWS:
                rows.append(_run(str(n), kind, index_type, str(cache), "", work))
    return agreement(rows)


def agreement(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace each row's top-5 lists by the share equal to the local exact store's at the same scale."""
    base: dict[str, list[list[int]]] = {}
    for row in rows:
        top5 = row.pop("top5")
        if row["store"] == "faiss" and row["index"] == "Flat":
            base[row["scale"]] = top5
        ref = base.get(row["scale"], top5)
        row["top5_same"] = float(np.mean([a == b for a, b in zip(top5, ref, strict=True)])) if top5 else None
    return rows


def _run(scale: str, kind: str, index_type: str, source: str, embedder: str, work: str) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CHILD, scale, kind, index_type, source, embedder, work]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln[7:] for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"milvus bench row {scale}/{kind}/{index_type} failed: {done.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def child(scale: str, kind: str, index_type: str, source: str, embedder: str, work: str) -> None:
    """One row, in its own process; prints ``RESULT {json}``."""
    from assistant.bench.serve import memory_mb

    questions = json.loads((Path(work) / "questions.json").read_text(encoding="utf-8"))
    before = memory_mb()["rss_mb"]
    if scale == "article":
        row = _article(kind, source, embedder or None, Path(work), questions)
    else:
        row = _synthetic(int(scale), kind, index_type, Path(source), Path(work), questions)
    mem = memory_mb()
    row.update(scale=scale, store=kind, index=index_type, rss_mb=mem["rss_mb"], rss_added_mb=mem["rss_mb"] - before)
    print("RESULT " + json.dumps(row), flush=True)


def _article(kind: str, corpus: str, embedder: str | None, work: Path, questions: list[str]) -> dict[str, Any]:
    from assistant.api import Assistant
    from assistant.config import StoreConfig

    store = StoreConfig(uri=f"milvus://{work / 'article-milvus.db'}" if kind == "milvus" else None)
    Assistant.open(corpus, work / "article-index", embedder, progress=False)  # the local build is shared
    t = time.perf_counter()
    bot = Assistant.open(corpus, work / "article-index", embedder, progress=False, store=store)
    build_s = time.perf_counter() - t
    queries = np.stack([bot.embedder.embed_query(q) for q in questions])
    search = bot.index.remote.search if bot.index.remote is not None else bot.index.chunk_index.search
    dense, recall = _dense(search, queries, bot.index.chunk_index.vectors(0, len(bot.index.chunks)))
    for q in questions[:3]:
        bot.retrieve(q)
    fused, top5 = [], []
    for q in questions:
        t = time.perf_counter()
        hits = bot.retrieve(q, k=5)
        fused.append((time.perf_counter() - t) * 1000)
        top5.append([h.chunk_id for h in hits])
    return {
        "chunks": len(bot.index.chunks),
        "build_s": build_s,
        **dense,
        "recall_at_10": recall,
        **_ms(fused, "fused"),
        "top5": top5,
    }


def _synthetic(n: int, kind: str, index_type: str, cache: Path, work: Path, questions: list[str]) -> dict[str, Any]:
    from assistant.bench.serve import PresetEmbedder, synthetic_data
    from assistant.index.lexical import LexicalIndex
    from assistant.index.remote import open_view
    from assistant.index.remote_sync import vocabulary, write_whole
    from assistant.index.vectors.faiss import FaissStore
    from assistant.index.vectors.milvus import connect
    from assistant.retrieve.retriever import Retriever

    vecs = np.asarray(benchscale.vectors(n, cache), dtype=np.float32)
    queries = benchscale.queries(vecs, QUERIES)
    words, probs = benchscale.vocabulary(" ".join(questions))
    lexical = LexicalIndex.from_tokens([[words[i] for i in ids] for ids in benchscale.token_ids(n, probs)])
    sent = np.load(benchscale.sentence_vectors(n, cache, vecs), mmap_mode="r", allow_pickle=False)
    t = time.perf_counter()
    index = FaissStore(vecs.shape[1], index_type if kind == "faiss" else "Flat")
    index.add(vecs)
    data = synthetic_data(work, n, index, lexical, sent)
    search = index.search
    if kind == "milvus":
        client = connect(f"milvus://{work / f'synthetic-{n}-{index_type}.db'}")
        t = time.perf_counter()  # the sync alone (FAISS above only hands the vectors over)
        write_whole(client, data, f"bench_{index_type.lower()}", index_type, vocabulary(data))
        client.create_alias(f"bench_{index_type.lower()}", "bench")
        remote = open_view(client, data, "bench")
        assert remote is not None
        data = dataclasses.replace(data, remote=remote)
        search = remote.search
    build_s = time.perf_counter() - t
    dense, recall = _dense(search, queries, vecs)
    embedder = PresetEmbedder(vecs.shape[1])
    retriever = Retriever(data, [], embedder)
    fused, top5 = [], []
    for i, q in enumerate(questions[: len(queries)]):
        embedder.vector = queries[i]
        t = time.perf_counter()
        ranked = retriever.score(retriever.prepare(q))
        fused.append((time.perf_counter() - t) * 1000)
        top5.append([s.chunk for s in ranked[:5]])
    return {"chunks": n, "build_s": build_s, **dense, "recall_at_10": recall, **_ms(fused, "fused"), "top5": top5}


def _dense(search: Any, queries: np.ndarray, vectors: np.ndarray | None) -> tuple[dict[str, float], float | None]:
    """Single-query dense search latency (k = 40 candidates) and recall@10 against exact inner product."""
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = search(q[None, :], CANDIDATES)
        times.append((time.perf_counter() - t) * 1000)
        found.append(ids[0][:10])
    if vectors is None:
        return _ms(times, "dense"), None
    truth = np.argsort(-(queries @ np.asarray(vectors, dtype=np.float32).T), axis=1)[:, :10]
    return _ms(times, "dense"), benchscale.recall_at_10(np.asarray(found), truth)


def _ms(times: list[float], name: str) -> dict[str, float]:
    return {f"{name}_p50_ms": pctl(times, 50), f"{name}_p95_ms": pctl(times, 95)}


def markdown(rows: list[dict[str, Any]]) -> str:
    """The benchmark table (docs/milvus.md)."""
    head = "| scale | store | index | build/sync s | dense p50/p95 ms | fused p50/p95 ms | recall@10 | top-5 same "
    head += "| RSS MB |"
    lines = [head, "|" + " --- |" * 9]
    for r in rows:
        recall = "-" if r["recall_at_10"] is None else f"{r['recall_at_10']:.3f}"
        same = "-" if r["top5_same"] is None else f"{r['top5_same']:.2f}"
        lines.append(
            f"| {r['scale']} ({r['chunks']}) | {r['store']} | {r['index']} | {r['build_s']:.1f} | "
            f"{r['dense_p50_ms']:.1f} / {r['dense_p95_ms']:.1f} | {r['fused_p50_ms']:.1f} / {r['fused_p95_ms']:.1f} | "
            f"{recall} | {same} | {r['rss_mb']:.0f} (+{r['rss_added_mb']:.0f}) |"
        )
    return "\n".join(lines) + "\n"
