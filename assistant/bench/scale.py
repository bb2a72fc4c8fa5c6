"""Scale benchmark: synthetic corpora of N chunks, every FAISS index type, BM25 and the real fusion code.

Vectors are clustered unit vectors of low intrinsic dimension (like sentence embeddings), generated
from a fixed seed in blocks and cached as .npy under ``index/bench-cache/``; chunk texts for BM25 are
token ids drawn with the article's own token frequencies. Queries are perturbed corpus vectors, so
their exact neighbours are meaningful. Latency and memory are measured in a fresh serving process
that loads what was built, the way the assistant would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from assistant.bench.serve import CANDIDATES, DIM, pctl
from assistant.index.vectors.faiss import FaissStore, choose_factory, default_effort, ivf_lists

SEED = 20261128
BLOCK = 100_000
GEN_VERSION = "v1"
QUERIES = 200
EFFORTS = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384)
RECALL_TARGET = 0.95


def _block(index: int, n: int, centers: np.ndarray, mix: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([SEED, index])
    labels = rng.integers(0, len(centers), n)
    latent = centers[labels] + 0.7 * rng.standard_normal((n, centers.shape[1]), dtype=np.float32)
    x = latent @ mix + 0.15 * rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def vectors(n: int, cache: Path) -> np.ndarray:
    """``n`` synthetic unit vectors (memory-mapped from the cache; generated on first use)."""
    path = cache / f"vectors-{GEN_VERSION}-{n}.npy"
    if not path.exists():
        rng = np.random.default_rng([SEED, 0xC0FFEE])
        centers = rng.standard_normal((2000, 48), dtype=np.float32)
        mix = rng.standard_normal((48, DIM), dtype=np.float32) / np.sqrt(48)
        tmp = path.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, DIM))
        for b, lo in enumerate(range(0, n, BLOCK)):
            out[lo : lo + BLOCK] = _block(b, min(BLOCK, n - lo), centers, mix)
        out.flush()
        del out
        tmp.replace(path)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def sentence_vectors(n: int, cache: Path, vecs: np.ndarray) -> Path:
    """One float16 'sentence' per synthetic chunk (its own vector), as the store keeps them."""
    path = cache / f"sentvec-{GEN_VERSION}-{n}.npy"
    if not path.exists():
        tmp = path.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, DIM))
        for lo in range(0, n, BLOCK):
            out[lo : lo + BLOCK] = vecs[lo : lo + BLOCK].astype(np.float16)
        out.flush()
        del out
        tmp.replace(path)
    return path


def vocabulary(article: str) -> tuple[list[str], np.ndarray]:
    """The article's tokens (assistant.text.tokenize.tokenize) and their relative frequencies."""
    from assistant.text.tokenize import tokenize

    counts = Counter(tokenize(article))
    words = sorted(counts)
    freq = np.asarray([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


def token_ids(n: int, probs: np.ndarray) -> list[list[int]]:
    """20-40 token ids per synthetic chunk, drawn with the article's token frequencies."""
    rng = np.random.default_rng([SEED, 7])
    lengths = rng.integers(20, 41, n)
    flat = rng.choice(len(probs), size=int(lengths.sum()), p=probs).astype(np.int64)
    cuts = np.cumsum(lengths)[:-1]
    return [part.tolist() for part in np.split(flat, cuts)]


def queries(vecs: np.ndarray, count: int = QUERIES) -> np.ndarray:
    rng = np.random.default_rng([SEED, 99])
    rows = np.sort(rng.choice(len(vecs), size=min(count, len(vecs)), replace=False))
    q = np.asarray(vecs[rows], dtype=np.float32) + 0.03 * rng.standard_normal((len(rows), DIM), dtype=np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def ground_truth(flat: Any, qs: np.ndarray, path: Path) -> np.ndarray:
    """Exact top-10 ids of the queries (cached: 200 exact searches over 1M vectors take a minute on 2 cores)."""
    if path.exists():
        return np.load(path, allow_pickle=False)
    _, truth = flat.search(qs, 10)
    np.save(path, truth)
    return truth


def factories(n: int) -> list[str]:
    """Approximate types measured at ``n``; HNSW over float32 is left out at 1M (its vectors alone are 1.5 GB)."""
    hnsw = ["HNSW32"] if n < 1_000_000 else []
    return [*hnsw, "HNSW32,SQ8", f"IVF{ivf_lists(n)},SQ8"]


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f[:10].tolist()) & set(t[:10].tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / 10


def single_query_ms(search: Any, qs: np.ndarray, k: int, limit: int = 100) -> list[float]:
    """Milliseconds per single-query search, on one OpenMP thread (as FaissStore searches one query)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    times = []
    try:
        for q in qs[:limit]:
            t = time.perf_counter()
            search(q[None, :], k)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        faiss.omp_set_num_threads(threads)
    return times


def bench_factory(factory: str, vecs: np.ndarray, qs: np.ndarray, truth: np.ndarray, cache: Path) -> dict[str, Any]:
    """Build one index type (or reuse the cached build), sweep its search effort; recall@10 of the top 40."""
    import faiss

    n = len(vecs)
    path = cache / f"index-{GEN_VERSION}-{n}-{factory.replace(',', '_')}-faiss{faiss.__version__}.faiss"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        index = FaissStore.load(path, DIM, factory)
        build_s, cached = float(json.loads(meta.read_text())["build_s"]), True
    else:
        t = time.perf_counter()
        index = FaissStore(DIM, factory)
        index.add(vecs)
        build_s, cached = time.perf_counter() - t, False
        index.save(path)
        meta.write_text(json.dumps({"build_s": build_s}))
    sweep = []
    for effort in EFFORTS:
        index.set_search_effort(effort)
        _, found = index.search(qs, CANDIDATES)
        lat = single_query_ms(index.search, qs, CANDIDATES)
        sweep.append({"effort": effort, "recall_at_10": recall_at_10(found, truth), "p50_ms": pctl(lat, 50)})
    at_default = FaissStore.load(path, DIM, factory)
    _, found = at_default.search(qs, CANDIDATES)
    lat = single_query_ms(at_default.search, qs, CANDIDATES)
    reaching = [s["effort"] for s in sweep if s["recall_at_10"] >= RECALL_TARGET]
    return {
        "factory": factory,
        "build_s": build_s,
        "build_cached": cached,
        "path": str(path),
        "bytes": path.stat().st_size,
        "default_effort": default_effort(factory),
        "recall_at_10": recall_at_10(found, truth),
        "p50_ms": pctl(lat, 50),
        "p95_ms": pctl(lat, 95),
        "min_effort_for_target": min(reaching) if reaching else None,
        "sweep": sweep,
    }


def bench_scale(n: int, cache: Path, article: str, work: Path) -> dict[str, Any]:
    """Everything measured at ``n`` chunks; ``work`` is a scratch folder for the built files."""
    import bm25s
    import faiss

    from assistant.index.lexical import LexicalIndex

    cache.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    vecs = vectors(n, cache)
    sent_path = sentence_vectors(n, cache, vecs)
    data_s = time.perf_counter() - t
    vecs = np.ascontiguousarray(vecs)
    qs = queries(vecs)

    # exact search: ground truth for recall, and the standard peer (flat inner product, top 5)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vecs)
    flat_build = time.perf_counter() - t
    truth = ground_truth(flat, qs, cache / f"truth-{GEN_VERSION}-{n}.npy")
    peer_lat = single_query_ms(flat.search, qs, 5, limit=max(10, min(100, 20_000_000 // n)))
    exact = {"factory": "Flat", "build_s": flat_build, "bytes": n * DIM * 4, "recall_at_10": 1.0}
    exact.update({"p50_ms": pctl(peer_lat, 50), "p95_ms": pctl(peer_lat, 95)})
    del flat

    words, probs = vocabulary(article)
    ids = token_ids(n, probs)
    t = time.perf_counter()
    bm25 = bm25s.BM25(k1=1.2, b=0.75)
    bm25.index((ids, {w: i for i, w in enumerate(words)}), show_progress=False)
    lexical_build = time.perf_counter() - t
    LexicalIndex(bm25, n).save(work / "lexical")
    del bm25, ids

    indexes = [exact] + [bench_factory(f, vecs, qs, truth, cache) for f in factories(n)]
    chosen = choose_factory(n)
    if chosen == "Flat":
        flat_index = FaissStore(DIM, "Flat")
        flat_index.add(vecs)
        flat_index.save(work / "Flat.faiss")
        index_path = work / "Flat.faiss"
    else:
        built = [i for i in indexes if i["factory"] == chosen] or [bench_factory(chosen, vecs, qs, truth, cache)]
        index_path = Path(built[0]["path"])
    del vecs
    np.save(work / "queries.npy", qs)
    spec = {
        "n": n,
        "factory": chosen,
        "index": str(index_path),
        "sentences": str(sent_path),
        "questions": _eval_questions(),
    }
    (work / "spec.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    serving = _serve_subprocess(work)
    return {
        "chunks": n,
        "data_s": data_s,
        "lexical_build_s": lexical_build,
        "chosen_factory": chosen,
        "indexes": indexes,
        "peer": {"name": "flat IndexFlatIP top-5", "p50_ms": exact["p50_ms"], "p95_ms": exact["p95_ms"]},
        "serving": serving,
    }


def _eval_questions() -> list[str]:
    path = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r["question"] for r in rows if r.get("question")] or ["青岛 人工智能 算力"]
    except (OSError, ValueError):
        return ["青岛人工智能计算中心投资多少", "青岛 人工智能 算力"]


def _serve_subprocess(work: Path) -> dict[str, Any]:
    code = "import sys; from assistant.bench.serve import serve; serve(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(work)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"serving process failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
