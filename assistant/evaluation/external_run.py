"""Run an external set (:mod:`assistant.gold.squad`) through the pipeline, the lexical-only and
dense-only baselines and a LangChain-style peer; score answer-in-top-1/top-5, first citation, abstention
and latency per split and language; write ``external-<set>.{json,md}``; check the CI gate."""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import AnswerConfig
from assistant.embed import Embedder
from assistant.errors import AssistantError
from assistant.evaluation.report import print_gate
from assistant.evaluation.systems import systems
from assistant.gold.relevance import relevant
from assistant.gold.squad import (
    ExternalSet,
    ExtQuestion,
    limit_articles,
    limit_questions,
    load_external,
    write_corpus,
)
from assistant.types import Span

Record = dict[str, Any]
TOP_K = 5
DEFINITIONS = {
    "contains": "a passage or citation contains the answer when it overlaps at least half of a gold answer span "
    "(gold.relevance.relevant; answers are short, so in practice it covers the span)",
    "top1/top5": "share of questions with an answer-containing passage first / among retrieve(k=5) "
    "(peer: its top 5 by cosine)",
    "first_citation": "share of questions whose answer's first citation contains the answer; an abstention "
    "counts as wrong; the peer's citation is its top chunk",
    "abstention": "share of these (all answerable) questions on which the system abstained",
    "p50_ms/p95_ms": "wall-clock ms of ask() (peer: search()), after one warm-up call; pipeline and peer "
    "embed every question; the baselines reuse cached question vectors",
    "cite_chars": "mean length of the first citation, in characters",
}


class StoredPassages(Embedder):
    """Delegates to ``inner`` but keeps passage vectors on disk, keyed by the texts and the model."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner, self.name, self.dim, self.folder = inner, inner.name, inner.dim, folder

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.inner.embed_batch(texts, kind)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        key = hashlib.sha256("\0".join([self.name, *texts]).encode("utf-8")).hexdigest()[:20]
        path = self.folder / f"peer-{key}.npy"
        if path.is_file():
            return np.load(path)
        vecs = self.inner.embed_passages(texts, progress)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, vecs)
        tmp.replace(path)
        return vecs


class PeerSystem:
    """bench's ``LangChainPeer`` (RecursiveCharacterTextSplitter, the same model, IndexFlatIP) with the
    document span of every chunk, so that its passages are scored like the pipeline's."""

    def __init__(self, documents: Sequence[Any], embedder: Embedder) -> None:
        from assistant.bench.run import LangChainPeer

        self.peer = LangChainPeer([d.text for d in documents], embedder)
        self.spans: list[Span] = []
        d, cursor = 0, 0
        for chunk in self.peer.chunks:  # in document order; each is an exact substring of its document
            at = documents[d].text.find(chunk, cursor)
            while at < 0 and d + 1 < len(documents):
                d, cursor = d + 1, 0
                at = documents[d].text.find(chunk)
            if at < 0:
                raise AssistantError(f"peer chunk {chunk[:40]!r} is not found in the documents")
            self.spans.append(Span(documents[d].doc_id, at, at + len(chunk)))
            cursor = at + 1

    def search(self, question: str, k: int = TOP_K) -> list[Span]:
        vector = self.peer.embedder.embed_query(question)
        _, ids = self.peer.index.search(vector[None, :], k)
        return [self.spans[i] for i in ids[0] if i >= 0]


def _record(q: ExtQuestion, passages: Sequence[Span], first: Span | None, abstained: bool, ms: float) -> Record:
    hits = [relevant(p.doc_id, p.start, p.end, q.gold) for p in passages[:TOP_K]]
    cite = bool(first is not None and not abstained and relevant(first.doc_id, first.start, first.end, q.gold))
    return {
        "id": q.qid,
        "lang": q.lang,
        "split": q.split,
        "top1": bool(hits[:1] and hits[0]),
        "top5": any(hits),
        "first_citation": cite,
        "abstention": bool(abstained),
        "ms": round(ms, 3),
        "cite_chars": None if first is None or abstained else first.end - first.start,
    }


def run_bot(bot: Any, questions: Sequence[ExtQuestion]) -> list[Record]:
    bot.ask(questions[0].question)  # warm up
    out = []
    for q in questions:
        hits = bot.retrieve(q.question, k=TOP_K)
        t = time.perf_counter()
        ans = bot.ask(q.question)
        ms = (time.perf_counter() - t) * 1000
        out.append(_record(q, hits, ans.citations[0] if ans.citations else None, ans.abstained, ms))
    return out


def run_peer(peer: PeerSystem, questions: Sequence[ExtQuestion]) -> list[Record]:
    peer.search(questions[0].question)
    out = []
    for q in questions:
        t = time.perf_counter()
        hits = peer.search(q.question)
        ms = (time.perf_counter() - t) * 1000
        out.append(_record(q, hits, hits[0] if hits else None, False, ms))
    return out


def summarise(records: Sequence[Record]) -> Record:
    n = len(records)
    out: Record = {"questions": n}
    for name in ("top1", "top5", "first_citation", "abstention"):
        out[name] = sum(r[name] for r in records) / n if n else None
    ms = [r["ms"] for r in records]
    out["p50_ms"] = round(float(np.percentile(ms, 50)), 3) if ms else None
    out["p95_ms"] = round(float(np.percentile(ms, 95)), 3) if ms else None
    chars = [r["cite_chars"] for r in records if r["cite_chars"] is not None]
    out["cite_chars"] = float(np.mean(chars)) if chars else None
    return out


def results_of(raw: dict[str, list[Record]]) -> dict[str, Any]:
    recs = [r for rs in raw.values() for r in rs]
    splits = [s for s in ("dev", "test") if any(r["split"] == s for r in recs)] + ["all"]
    langs = sorted({r["lang"] for r in recs}) + ["all"]

    def pick(rs: list[Record], s: str, lg: str) -> list[Record]:
        return [r for r in rs if s in ("all", r["split"]) and lg in ("all", r["lang"])]

    return {name: {s: {lg: summarise(pick(rs, s, lg)) for lg in langs} for s in splits} for name, rs in raw.items()}


def evaluate(
    data: ExternalSet, cache: Path, embedder: Any, limit: int | None, progress: bool = False, reader: bool = False
) -> Record:
    from assistant.api import Assistant

    questions = limit_questions(data.questions, limit)
    if not questions:
        raise AssistantError(f"{data.name}: no questions to run")
    corpus = write_corpus(data.documents, cache / "corpus")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    bot = Assistant.open(corpus, cache / "index", embedder, progress=progress, answer=AnswerConfig(reader=reader))
    timings["open_index_s"] = time.perf_counter() - t
    raw: dict[str, list[Record]] = {}
    for name, system in systems(bot, baselines=True).items():
        t = time.perf_counter()
        raw[name] = run_bot(system, questions)
        timings[f"{name}_s"] = time.perf_counter() - t
        if progress:
            print(
                f"eval {data.name}: {name}: {len(questions)} questions in {timings[name + '_s']:.1f} s", file=sys.stderr
            )
    t = time.perf_counter()
    peer = PeerSystem(bot.corpus.documents, StoredPassages(bot.embedder, cache / "peer"))
    timings["peer_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    raw["peer"] = run_peer(peer, questions)
    timings["peer_s"] = time.perf_counter() - t
    return {
        "set": data.name,
        "files": list(data.files),
        "model": bot.embedder.name,
        "reader": reader,
        "index_rebuilt": bot.rebuilt,
        "documents": len(data.documents),
        "chunks": int(len(bot.index.chunks)),
        "peer_chunks": peer.peer.count,
        "chunking": bot.index.manifest.get("chunking"),
        "answer_starts_repaired": data.repaired,
        "questions_dropped": data.dropped,
        "limit": limit,
        "questions": len(questions),
        "source_questions": len({q.base for q in questions}),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "definitions": DEFINITIONS,
        "systems": list(raw),
        "results": results_of(raw),
        "records": raw,
    }


def markdown(report: Record) -> str:
    lines = [f"# External evaluation: {report['set']}", ""]
    lines.append(
        f"Run in {report.get('elapsed_s')} s wall clock, {report.get('cpu_s')} s CPU. "
        f"{report['questions']} questions ({report['source_questions']} source questions, limit "
        f"{report['limit']}), {report['documents']} documents, {report['chunks']} chunks "
        f"(peer {report['peer_chunks']}), model {report['model']}; timings {report['timings_s']}."
    )
    head = "| split | lang | system | n | top-1 | top-5 | first cite | abstain | p50 ms | p95 ms | cite chars |"
    lines += ["", head, "|" + "---|" * 11]
    results = report["results"]
    first = results[report["systems"][0]]
    for split, langs in first.items():
        for lang in langs:
            for name in report["systems"]:
                m = results[name][split][lang]
                cells = [
                    f"{m[k]:.3f}" if m[k] is not None else "–" for k in ("top1", "top5", "first_citation", "abstention")
                ]
                cells += [f"{m[k]:.0f}" if m[k] is not None else "–" for k in ("p50_ms", "p95_ms", "cite_chars")]
                lines.append(f"| {split} | {lang} | {name} | {m['questions']} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- **{k}**: {v}" for k, v in report["definitions"].items()), ""]
    return "\n".join(lines)


def check(report: Record, path: str | Path) -> list[str]:
    """Bounds from ``{"<set>": {"limit": N, "min": {"split.lang.metric": x}, "max": {...},
    "peer_behind": ["top1", "top5"]}}`` on the pipeline; the peer must be strictly behind it on the listed
    metrics in every split and language."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8")).get(report["set"])
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise AssistantError(f"Cannot read the thresholds file {str(path)!r}: {exc}") from exc
    if not isinstance(spec, dict):
        raise AssistantError(f"{path}: no thresholds for the set {report['set']!r}")
    for option in ("limit", "articles"):
        if spec.get(option) != report.get(option):
            return [f"the bounds were set with --{option} {spec.get(option)}, this run used {report.get(option)}"]
    if bool(spec.get("reader")) != bool(report.get("reader")):
        return [f"the bounds were set {'with' if spec.get('reader') else 'without'} --reader; this run differs"]
    pipe, failures = report["results"]["pipeline"], []
    for part, is_min in (("min", True), ("max", False)):
        for key, bound in spec.get(part, {}).items():
            split, lang, metric = key.split(".", 2)
            value = pipe.get(split, {}).get(lang, {}).get(metric)
            if value is None:
                failures.append(f"{key}: not measured in this run")
            elif (value < bound) if is_min else (value > bound):
                failures.append(
                    f"{key} = {value:.3f} is {'below the minimum' if is_min else 'above the maximum'} {bound:.3f}"
                )
    for split, langs in report["results"]["peer"].items():
        for lang, m in langs.items():
            for metric in spec.get("peer_behind", []):
                if m[metric] >= pipe[split][lang][metric]:
                    failures.append(
                        f"peer {split}.{lang}.{metric} = {m[metric]:.3f} is not behind the "
                        f"pipeline's {pipe[split][lang][metric]:.3f}"
                    )
    return failures


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    articles = getattr(args, "articles", None)
    data = limit_articles(load_external(args.eval_set, args.data_dir), articles)
    if getattr(args, "split", "all") != "all":
        data = data._replace(questions=tuple(q for q in data.questions if q.split == args.split))
    cache = Path(args.index) / "external" / (args.eval_set + (f"-a{articles}" if articles else ""))
    reader = bool(getattr(args, "reader", AnswerConfig().reader))
    report = evaluate(data, cache, args.embedder, args.limit, progress=not args.quiet, reader=reader)
    report["articles"] = articles
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)  # the machine may be shared: CPU time too
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"external-{args.eval_set}.json", out / f"external-{args.eval_set}.md"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else markdown(report))
    if not args.quiet:
        print(f"wrote {paths[0]}, {paths[1]} in {report['elapsed_s']} s", file=sys.stderr)
    if not args.check:
        return 0
    failures = check(report, args.check)
    return print_gate(
        failures,
        f"external gate FAILED for {args.eval_set} ({len(failures)}):",
        f"external gate passed for {args.eval_set} ({args.check})",
    )
