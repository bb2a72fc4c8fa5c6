"""Evaluation: load a gold question set, run the pipeline and two baselines on it, score, report, gate.

``python -m assistant eval`` answers every question of ``eval/`` with the shipped pipeline and with
lexical-only and dense-only retrieval over the same index, then writes ``eval/reports/latest.*``.
Report formatting, the chart and the threshold check live in :mod:`assistant.evalreport`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from assistant.answer.options import add_llm_arguments, generator_config
from assistant.embed import Embedder
from assistant.errors import AssistantError
from assistant.evaluation import faithfulness
from assistant.types import Document, Span

SPLITS = ("dev", "test")
RETRIEVE_K = 10  # passages scored for Recall@1/3/5, MRR@10 and nDCG@10
Record = dict[str, Any]


class EvalQuestion(NamedTuple):
    qid: str
    lang: str
    question: str
    answerable: bool
    split: str
    topic: str
    gold: tuple[Span, ...]


class EvalConversation(NamedTuple):
    cid: str
    lang: str
    split: str
    turns: tuple[EvalQuestion, ...]


class EvalSet(NamedTuple):
    questions: tuple[EvalQuestion, ...]
    conversations: tuple[EvalConversation, ...]
    files: tuple[str, ...]


# ---------------------------------------------------------------- loading and validation


def locate(evidence: str, doc_id: str | None, texts: dict[str, str], qid: str) -> Span:
    """The one place where ``evidence`` occurs; raise AssistantError naming ``qid`` otherwise."""
    if not isinstance(evidence, str) or not evidence.strip():
        raise AssistantError(f"{qid}: every evidence item must be a non-empty string, not {evidence!r}")
    if doc_id is not None and doc_id not in texts:
        raise AssistantError(f"{qid}: doc_id {doc_id!r} is not in the corpus (known: {', '.join(sorted(texts))})")
    places = [(d, i) for d in ([doc_id] if doc_id else sorted(texts)) for i in _find_all(texts[d], evidence)]
    where = doc_id or "the corpus"
    if not places:
        raise AssistantError(f"{qid}: evidence {evidence!r} is not found in {where}; copy it exactly from the text")
    if len(places) > 1:
        raise AssistantError(
            f"{qid}: evidence {evidence!r} occurs {len(places)} times in {where}, not exactly once; "
            "extend it with neighbouring text until it is unique"
        )
    doc, start = places[0]
    return Span(doc, start, start + len(evidence))


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def _question(obj: dict[str, Any], qid: str, lang: str, split: str, texts: dict[str, str]) -> EvalQuestion:
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise AssistantError(f"{qid}: 'question' must be non-empty text")
    evidence = obj.get("evidence", [])
    if not isinstance(evidence, list):
        raise AssistantError(f"{qid}: 'evidence' must be a list of strings")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise AssistantError(f"{qid}: 'answerable' must be true or false")
    if answerable and not evidence:
        raise AssistantError(f"{qid}: an answerable question needs at least one evidence string")
    if not answerable and evidence:
        raise AssistantError(f"{qid}: an unanswerable question must have evidence []")
    doc_id = obj.get("doc_id")
    gold = tuple(locate(e, doc_id if answerable else None, texts, qid) for e in evidence)
    return EvalQuestion(qid, lang, question, answerable, split, str(obj.get("topic", "")), gold)


def _common(obj: object, where: str, seen: set[str]) -> tuple[dict[str, Any], str, str, str]:
    if not isinstance(obj, dict):
        raise AssistantError(f"{where}: each line must be a JSON object")
    qid = obj.get("id")
    if not isinstance(qid, str) or not qid:
        raise AssistantError(f"{where}: missing string 'id'")
    if qid in seen:
        raise AssistantError(f"{qid}: duplicate id ({where}); ids must be unique across the set")
    seen.add(qid)
    lang, split = obj.get("lang"), obj.get("split")
    if not isinstance(lang, str) or not lang:
        raise AssistantError(f"{qid}: missing 'lang' (for example 'en' or 'zh')")
    if split not in SPLITS:
        raise AssistantError(f"{qid}: 'split' must be 'dev' or 'test', not {split!r}")
    return obj, qid, lang, split


def set_files(path: str | Path) -> list[Path]:
    root = Path(path)
    if root.is_dir():
        files = [root / n for n in ("questions.jsonl", "conversations.jsonl") if (root / n).is_file()]
        if not files:
            raise AssistantError(f"{str(root)!r} has neither questions.jsonl nor conversations.jsonl")
        return files
    if not root.is_file():
        raise AssistantError(f"Evaluation set {str(root)!r} does not exist; give a folder or a .jsonl file")
    return [root]


def load_set(path: str | Path, documents: Sequence[Document], split: str = "all") -> EvalSet:
    """Read and check a set (a folder with questions/conversations.jsonl, or one .jsonl file)."""
    texts = {d.doc_id: d.text for d in documents}
    questions: list[EvalQuestion] = []
    conversations: list[EvalConversation] = []
    seen: set[str] = set()
    files = set_files(path)
    for file in files:
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{file}:{lineno}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssistantError(f"{where}: not valid JSON ({exc.msg})") from exc
            obj, qid, lang, sp = _common(raw, where, seen)
            if "turns" not in obj:
                questions.append(_question(obj, qid, lang, sp, texts))
                continue
            turns = obj["turns"]
            if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
                raise AssistantError(f"{qid}: 'turns' must be a non-empty list of objects")
            conv_turns = tuple(
                _question({"doc_id": obj.get("doc_id"), **t}, f"{qid}#{n}", lang, sp, texts)
                for n, t in enumerate(turns, start=1)
            )
            conversations.append(EvalConversation(qid, lang, sp, conv_turns))
    if split != "all":
        questions = [q for q in questions if q.split == split]
        conversations = [c for c in conversations if c.split == split]
    if not questions and not conversations:
        raise AssistantError(f"The evaluation set {str(path)!r} has no questions for split {split!r}")
    return EvalSet(tuple(questions), tuple(conversations), tuple(str(f) for f in files))


# ---------------------------------------------------------------- relevance and metrics


def covers(doc_id: str, start: int, end: int, gold: Span) -> bool:
    """True when [start, end) of ``doc_id`` overlaps at least half of the gold span."""
    overlap = min(end, gold.end) - max(start, gold.start)
    return doc_id == gold.doc_id and overlap > 0 and 2 * overlap >= gold.end - gold.start


def relevant(doc_id: str, start: int, end: int, gold: Sequence[Span]) -> bool:
    return any(covers(doc_id, start, end, g) for g in gold)


def passage_key(doc_id: str, start: int, end: int) -> str:
    return f"{doc_id}:{start}:{end}"


def qrels_for(gold: Sequence[Span], chunks: Sequence[Span]) -> dict[str, int]:
    """Binary judgements: every indexed chunk that covers half of some gold span is relevant."""
    return {passage_key(c.doc_id, c.start, c.end): 1 for c in chunks if relevant(c.doc_id, c.start, c.end, gold)}


def ranking_scores(qrels: dict[str, dict[str, int]], runs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per question: recall@k = trec_eval ``success.k`` (a relevant passage in the top k), MRR@10, nDCG@10."""
    try:
        import pytrec_eval
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AssistantError("The evaluation needs pytrec_eval: pip install 'assistant[eval]'") from exc
    names = {"success_1": "recall@1", "success_3": "recall@3", "success_5": "recall@5"}
    names |= {"recip_rank": "mrr@10", "ndcg_cut_10": "ndcg@10"}
    judged = {q: r for q, r in qrels.items() if r}
    run = {q: {key: float(len(keys) - i) for i, key in enumerate(keys[:RETRIEVE_K])} for q, keys in runs.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(judged, {"success.1,3,5", "recip_rank", "ndcg_cut.10"})
    scored = evaluator.evaluate({q: r for q, r in run.items() if q in judged and r})
    zero = dict.fromkeys(names.values(), 0.0)  # no relevant chunk in the index, or nothing retrieved
    return {q: {names[m]: float(v) for m, v in scored[q].items() if m in names} if q in scored else zero for q in runs}


# ---------------------------------------------------------------- running


class MemoEmbedder(Embedder):
    """Reuses query vectors across the baselines (same model, same texts): halves their cost, not timed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.inner.embed_batch(texts, kind)

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self.cache:
            self.cache[text] = self.inner.embed_query(text)
        return self.cache[text].copy()


def systems(bot: Any, baselines: bool) -> dict[str, Any]:
    """The shipped pipeline, plus lexical-only and dense-only retrieval over the same loaded index."""
    out = {"pipeline": bot}
    if baselines:
        memo = MemoEmbedder(bot.embedder)
        for mode in ("lexical", "dense"):
            cfg = bot.retriever.config._replace(mode=mode)
            answer = bot.answer_config._replace(w_evidence=0.0)  # the channel's own order
            out[mode] = bot.variant(embedder=memo, retrieval=cfg, answer=answer)
    return out


def _answer_fields(ans: Any, q: EvalQuestion) -> Record:
    first = ans.citations[0] if ans.citations else None
    ok = bool(q.answerable and not ans.abstained and first and relevant(first.doc_id, first.start, first.end, q.gold))
    return {
        "abstained": bool(ans.abstained),
        "first_citation_ok": ok if q.answerable else None,
        "citation_chars": [c.end - c.start for c in ans.citations],
    } | faithfulness.fields(ans, q.lang, q.answerable, lambda d, s, e: relevant(d, s, e, q.gold))


def run_system(bot: Any, data: EvalSet, chunks: Sequence[Span], timed: bool) -> tuple[list[Record], list[Record]]:
    """Per-question and per-turn records for one system; latency only when ``timed``."""
    bot.ask(data.questions[0].question if data.questions else data.conversations[0].turns[0].question)  # warm up
    records, runs, qrels = [], {}, {}
    for q in data.questions:
        t0 = time.perf_counter()
        hits = bot.retrieve(q.question, k=RETRIEVE_K)
        t1 = time.perf_counter()
        ans = bot.ask(q.question)
        t2 = time.perf_counter()
        rec = {"id": q.qid, "lang": q.lang, "split": q.split, "answerable": q.answerable}
        rec |= _answer_fields(ans, q)
        if timed:
            rec |= {"retrieve_ms": round((t1 - t0) * 1000, 3), "ask_ms": round((t2 - t1) * 1000, 3)}
        records.append(rec)
        if q.answerable:
            runs[q.qid] = [passage_key(h.doc_id, h.start, h.end) for h in hits]
            qrels[q.qid] = qrels_for(q.gold, chunks)
            rec["first_relevant_rank"] = next((i for i, k in enumerate(runs[q.qid], 1) if k in qrels[q.qid]), None)
    scores = ranking_scores(qrels, runs)
    for rec in records:
        rec.update(scores.get(str(rec["id"]), {}))
    turns = []
    for conv in data.conversations:
        history: list[tuple[str, str]] = []
        for n, turn in enumerate(conv.turns, start=1):
            ans = bot.ask(turn.question, history=list(history))
            rec = {"id": turn.qid, "conversation": conv.cid, "turn": n, "lang": conv.lang, "split": conv.split}
            turns.append(rec | {"answerable": turn.answerable} | _answer_fields(ans, turn))
            history.append((turn.question, ans.text))
    return records, turns


def evaluate(bot: Any, data: EvalSet, baselines: bool = True, progress: bool = False) -> dict[str, Any]:
    """Run every system on ``data``; return the full report (see :func:`assistant.evalreport.summarise`)."""
    from assistant.evaluation.report import build_report

    chunks = bot.chunk_spans()
    raw: dict[str, tuple[list[Record], list[Record]]] = {}
    started = time.perf_counter()
    for name, system in systems(bot, baselines).items():
        t0 = time.perf_counter()
        raw[name] = run_system(system, data, chunks, timed=name == "pipeline")
        if progress:
            n = len(data.questions) + sum(len(c.turns) for c in data.conversations)
            print(f"eval: {name}: {n} questions and turns in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return build_report(bot, data, raw, time.perf_counter() - started)


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="eval_set", default="eval", help="folder or .jsonl file (default: eval)")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all", help="questions to run")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument(
        "--baselines", action=argparse.BooleanOptionalAction, default=True, help="also run lexical/dense baselines"
    )
    parser.add_argument("--out", default="eval/reports", help="report folder (default: eval/reports)")
    parser.add_argument("--check", metavar="THRESHOLDS", help="exit 3 if a metric misses its threshold in this file")
    parser.add_argument("--answerer", choices=("extractive", "llm"), default="extractive", help="llm needs --llm")
    add_llm_arguments(parser)
    parser.add_argument("--limit", type=int, help="external sets: only N questions, chosen deterministically")
    parser.add_argument("--articles", type=int, help="external sets: only N articles (a smaller corpus, for CI)")
    parser.add_argument("--data-dir", help="external sets: data folder (default: $ASSISTANT_DATA_DIR, ../shared/data)")


def _generator(args: argparse.Namespace) -> Any:
    """The language model for ``--answerer llm`` (docs/generation.md); None for the extractive default."""
    if args.answerer != "llm":
        return None
    config = generator_config(args)
    if config is None:
        raise AssistantError("--answerer llm needs --llm URL and --model NAME")
    return config


def run(args: argparse.Namespace) -> int:
    from assistant.evaluation.external import SETS

    if args.eval_set in SETS:  # xquad-dev, cmrc-trial: see assistant.evaluation.external
        from assistant.evaluation.external_run import run as run_external

        return run_external(args)
    from assistant.api import Assistant
    from assistant.config import StoreConfig
    from assistant.evaluation.report import check_thresholds, load_thresholds, markdown, write_reports

    thresholds = load_thresholds(args.check) if args.check else None
    bot = Assistant.open(
        args.corpus,
        args.index,
        args.embedder,
        progress=not args.quiet,
        reranker=args.reranker,
        store=StoreConfig.from_env()._replace(uri=getattr(args, "store", None) or StoreConfig.from_env().uri),
        generator=_generator(args),
    )
    data = load_set(args.eval_set, bot.corpus.documents, args.split)
    report = evaluate(bot, data, args.baselines, progress=not args.quiet)
    written = write_reports(report, Path(args.out))
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else markdown(report))
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    if thresholds is None:
        return 0
    failures = check_thresholds(report, thresholds)
    if failures:
        print(f"evaluation gate FAILED ({len(failures)} of {thresholds.count}):", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 3
    print(f"evaluation gate passed: {thresholds.count} thresholds met ({args.check})", file=sys.stderr)
    return 0
