"""Measure incremental indexing: add one article to an indexed library of N synthetic articles.

    .venv/bin/python scripts/bench_library.py --articles 1000 --embedder hashing-64

Prints JSON: the full build, adding one article, embedding that article alone, re-opening an unchanged
library, removing the article, and the same `assistant index` run on the unchanged corpus from the CLI.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.config import ChunkingParams  # noqa: E402
from assistant.embed import resolve_embedder  # noqa: E402
from assistant.ingest.chunking import chunk_document, split_sentences  # noqa: E402
from assistant.types import Document  # noqa: E402

PARAGRAPHS = [p for p in (ROOT / "corpus" / "qingdao_ai_plus.txt").read_text(encoding="utf-8").split("\n") if p.strip()]


def article(seed: int) -> str:
    """About 2,000 characters (a news article): a unique headline and 30 of the sample article's paragraphs."""
    rng = random.Random(seed)
    picked = rng.sample(PARAGRAPHS, k=min(30, len(PARAGRAPHS)))
    return f"第{seed}号快讯：青岛企业{seed % 97}发布新产品。\n" + "\n".join(picked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--embedder", default="hashing-64")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    corpus, index = work / "corpus", work / "index"
    corpus.mkdir()
    for i in range(args.articles):
        (corpus / f"a{i:05d}.txt").write_text(article(i), encoding="utf-8")
    extra = work / "new_article.txt"
    extra.write_text(article(10**6), encoding="utf-8")
    model = resolve_embedder(args.embedder)
    out: dict[str, object] = {"articles": args.articles, "embedder": model.name}

    t = time.perf_counter()
    bot = Assistant.open(corpus, index, model, progress=False)
    out["full_build_s"] = round(time.perf_counter() - t, 3)
    out["chunks"] = len(bot.index.chunks)

    t = time.perf_counter()
    bot.add([extra])
    out["add_one_s"] = round(time.perf_counter() - t, 3)
    out["add_one_embedded"] = bot.index.manifest["embedded"]

    doc = Document("x", extra.read_text(encoding="utf-8"))
    texts = [doc.text[s.start : s.end] for s in chunk_document(doc, ChunkingParams())]
    texts += [doc.text[s.start : s.end] for s in split_sentences(doc)]
    t = time.perf_counter()
    model.embed_passages(texts)
    out["embed_that_article_alone_s"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    again = Assistant.open(corpus, index, model, progress=False)
    out["reopen_unchanged_s"] = round(time.perf_counter() - t, 3)
    assert not again.rebuilt

    cli = [sys.executable, "-m", "assistant", "--corpus", str(corpus), "--index", str(index), "-q"]
    cli += ["--embedder", args.embedder, "index"]
    t = time.perf_counter()
    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, check=True)
    out["cli_index_unchanged_s"] = round(time.perf_counter() - t, 3)
    out["cli_index_output"] = done.stdout.strip().split(" -> ")[0]

    t = time.perf_counter()
    bot.remove([extra.name])
    out["remove_one_s"] = round(time.perf_counter() - t, 3)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
