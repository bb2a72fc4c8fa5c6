"""Adding one article to a Milvus collection of N chunks: the sync by difference against copying the version whole.

``python -m assistant.bench.milvus_sync [--chunks 100000] [--repeats 5] [--lite] [--server] [--out DIR]``

The base version is N synthetic chunks (``bench/scale.py``'s clustered 384-d vectors, documents of 24 chunks,
BM25 over tokens drawn with the article's frequencies); it is synced whole once (the "whole" column: what every
add cost before). Then a copy of the Qingdao article (a new document each time) is added and removed
``--repeats`` times, each a new version (its chunks embedded once with the bundled model: the "embedding" column,
chunks and sentences), and each is synced by difference, timed through ``assistant.index.remote.attach`` (the step
after every build: open the collection, read the head, take the index lock, delete the rows of the copy removed
the time before, upsert the new rows, count them, write the head, make the reader's view).
After every add a reader of the new version must find each article chunk first.
``--server`` starts the `milvus` package's standalone server in a temporary folder (test extra) and stops it.
Writes ``milvus_sync.json`` and ``milvus_sync.md`` to ``--out`` (default ``eval/reports/artifacts``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.bench import scale as benchscale
from assistant.bench.serve import CHUNKS_PER_DOC, synthetic_data
from assistant.index.store import IndexData

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "corpus" / "qingdao_ai_plus.txt"


def article_rows(embedder_name: str | None) -> dict[str, Any]:
    """The article's chunks (spans, tokens, vectors) and the time to embed its chunks and sentences."""
    from assistant.config import ChunkingParams
    from assistant.embed import resolve_embedder
    from assistant.ingest.chunking import chunk_document, split_sentences
    from assistant.text.tokenize import tokenize
    from assistant.types import Document

    text = ARTICLE.read_text(encoding="utf-8")
    doc = Document(doc_id=ARTICLE.name, text=text)
    params = ChunkingParams()
    chunks = chunk_document(doc, params)
    sentences = split_sentences(doc, params.max_sentence)
    embedder = resolve_embedder(embedder_name)
    embedder.embed_passages(["warm-up"])
    start = time.perf_counter()
    vectors = embedder.embed_passages([text[c.start : c.end] for c in chunks])
    embedder.embed_passages([text[s.start : s.end] for s in sentences])
    return {
        "spans": np.asarray([(c.start, c.end) for c in chunks], dtype=np.int64),
        "tokens": [tokenize(text[c.start : c.end]) for c in chunks],
        "vectors": np.asarray(vectors, dtype=np.float32),
        "sentences": len(sentences),
        "embed_s": time.perf_counter() - start,
    }


def version(base: dict[str, Any], article: dict[str, Any] | None, work: Path, name: str, copy: int = 0) -> IndexData:
    """An IndexData of the base chunks (and copy ``copy`` of the article as one more document) in ``work/name``."""
    from assistant.index.lexical import LexicalIndex
    from assistant.index.vectors.faiss import FaissStore

    vectors, tokens, n = base["vectors"], base["tokens"], len(base["vectors"])
    docs = [f"doc-{d}" for d in range((n + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC)]
    data = synthetic_data(work, n, FaissStore(vectors.shape[1], "Flat"), None, np.zeros((1, vectors.shape[1])))
    chunks, ids = data.chunks, np.arange(n, dtype=np.int64) + 1
    if article is not None:
        m = len(article["spans"])
        vectors = np.concatenate([vectors, article["vectors"]])
        tokens = tokens + article["tokens"]
        extra = np.column_stack([np.full(m, len(docs), dtype=np.int64), article["spans"]])
        chunks = np.concatenate([chunks, extra])
        ids = np.concatenate([ids, -(np.arange(m, dtype=np.int64) + 1 + 1000 * copy)])  # the copy's stable ids
        docs = [*docs, f"{ARTICLE.stem}-{copy}.txt"]
    index = FaissStore(vectors.shape[1], "Flat")
    index.add(vectors)
    (work / name).mkdir(exist_ok=True)
    return dataclasses.replace(
        data,
        chunk_index=index,
        chunks=chunks,
        chunk_ids=ids,
        doc_ids=docs,
        lexical=LexicalIndex.from_tokens(tokens),
        folder=work / name,
    )


def measure(uri: str, base: dict[str, Any], article: dict[str, Any], work: Path, repeats: int) -> dict[str, Any]:
    """Seconds of ``attach`` (what ``Assistant.open``, ``add`` and ``remove`` run after the version folder is built:
    open the collection, read its head, sync) for the whole base version, then for each add and remove."""
    from assistant.config import StoreConfig
    from assistant.index.remote import ALIAS, attach
    from assistant.index.remote_sync import Head
    from assistant.index.remote_view import RemoteChunks

    config = StoreConfig(uri=uri)

    def timed(data: IndexData) -> tuple[float, RemoteChunks]:
        start = time.perf_counter()
        served = attach(data, config, ALIAS)
        took = time.perf_counter() - start
        assert served.remote is not None
        return took, served.remote

    whole_s, view = timed(version(base, None, work, "v-base"))
    adds, removes = [], []
    for i in range(repeats):
        data = version(base, article, work, f"v-add-{i}", copy=i)  # also deletes the copy removed before
        took, view = timed(data)
        adds.append(took)
        head = Head.read(view.store)
        if head is None or head.version != data.folder.name or head.seq != 2 * i + 2:
            raise RuntimeError(f"add {i} was not synced by difference: {head}")
        new = np.arange(len(base["vectors"]), len(data.chunks))
        _, found = view.search(article["vectors"], 1)
        if found[:, 0].tolist() != new.tolist():
            raise RuntimeError(f"after add {i} a reader does not find the article's chunks first")
        took, view = timed(version(base, None, work, f"v-remove-{i}"))
        removes.append(took)
    return {
        "uri": uri.split("://")[0],
        "server_version": str(view.store.client.get_server_version()),
        "sparse": bool(view.store.sparse),
        "whole_s": whole_s,
        "add_s": adds,
        "remove_s": removes,
        "add_median_s": statistics.median(adds),
        "remove_median_s": statistics.median(removes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lite", action="store_true", help="measure Milvus Lite (milvus://, in this process)")
    parser.add_argument("--server", action="store_true", help="measure the `milvus` package's standalone server")
    parser.add_argument("--cache", default="index/bench-cache", help="cache for synthetic vectors")
    parser.add_argument("--out", default="eval/reports/artifacts")
    parser.add_argument("--embedder", default=None)
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    article = article_rows(args.embedder)
    words, probs = benchscale.vocabulary(ARTICLE.read_text(encoding="utf-8"))
    vectors = np.asarray(benchscale.vectors(args.chunks, cache), dtype=np.float32)
    base = {"vectors": vectors, "tokens": [[words[i] for i in ids] for ids in benchscale.token_ids(args.chunks, probs)]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="milvus-sync-") as tmp:
        if args.lite or not args.server:
            rows.append(measure(f"milvus://{Path(tmp) / 'lite.db'}", base, article, _fresh(tmp, "lite"), args.repeats))
        if args.server:
            from assistant.bench.milvus_server import MilvusServer

            server = MilvusServer(Path(tmp) / "server")
            try:
                rows.append(measure(server.start(), base, article, _fresh(tmp, "srv"), args.repeats))
            finally:
                server.stop()
    report = {
        "load_average": os.getloadavg()[0],  # this machine is shared: its load says how noisy the times are
        "chunks": args.chunks,
        "article": {"chunks": len(article["spans"]), "sentences": article["sentences"], "embed_s": article["embed_s"]},
        "stores": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "milvus_sync.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    text = markdown(report)
    (out / "milvus_sync.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def _fresh(tmp: str, name: str) -> Path:
    path = Path(tmp) / name
    path.mkdir()
    return path


def markdown(report: dict[str, Any]) -> str:
    art, repeats = report["article"], len(report["stores"][0]["add_s"])
    lines = [
        f"Adding one article ({art['chunks']} chunks, {art['sentences']} sentences; embedding them "
        f"{art['embed_s']:.2f} s) to {report['chunks']:,} chunks in Milvus, median of {repeats} "
        f"(load average {report['load_average']:.1f} on {os.cpu_count()} cores):",
        "",
        "| store | server | sparse BM25 field | whole version s | add s (median) | remove s (median) | add ≤ 2 s |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in report["stores"]:
        lines.append(
            f"| {'Lite' if r['uri'] == 'milvus' else 'server'} | {r['server_version']} "
            f"| {'yes' if r['sparse'] else 'no'} "
            f"| {r['whole_s']:.1f} | {r['add_median_s']:.2f} | {r['remove_median_s']:.2f} "
            f"| {'pass' if r['add_median_s'] <= 2.0 else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
