"""Evaluation: load a gold question set, run the pipeline and two baselines on it, score, report, gate.

``python -m assistant eval`` answers every question of ``eval/`` with the shipped pipeline and with
lexical-only and dense-only retrieval over the same index, then writes ``eval/reports/latest.*``.
Question sets are loaded by :mod:`assistant.gold.questions`; report formatting, the chart and the
threshold check live in :mod:`assistant.evaluation.report`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.answer.options import add_llm_arguments, generator_config
from assistant.errors import AssistantError
from assistant.evaluation import faithfulness
from assistant.evaluation.systems import systems
from assistant.gold.questions import RETRIEVE_K, EvalQuestion, EvalSet, Record, load_set
from assistant.gold.relevance import relevant
from assistant.types import Span

# ---------------------------------------------------------------- relevance and metrics


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


def _answer_fields(ans: Any, q: EvalQuestion) -> Record:
    first = ans.citations[0] if ans.citations else None
    ok = bool(q.answerable and not ans.abstained and first and relevant(first.doc_id, first.start, first.end, q.gold))
    return {
        "abstained": bool(ans.abstained),
        "first_citation_ok": ok if q.answerable else None,
        "citation_chars": [c.end - c.start for c in ans.citations],
        "confidence": ans.confidence,
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
    """Run every system on ``data``; return the full report (see :func:`assistant.evaluation.report.summarise`)."""
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
    from assistant.gold.squad import SETS

    if args.eval_set in SETS:  # xquad-dev, cmrc-trial: see assistant.gold.squad
        from assistant.evaluation.external_run import run as run_external

        return run_external(args)
    from assistant.api import Assistant
    from assistant.config import AnswerConfig, StoreConfig
    from assistant.evaluation.report import check_thresholds, load_thresholds, markdown, print_gate, write_reports

    thresholds = load_thresholds(args.check) if args.check else None
    bot = Assistant.open(
        args.corpus,
        args.index,
        args.embedder,
        progress=not args.quiet,
        reranker=args.reranker,
        answer=AnswerConfig(reader=bool(getattr(args, "reader", AnswerConfig().reader))),
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
    return print_gate(
        failures,
        f"evaluation gate FAILED ({len(failures)} of {thresholds.count}):",
        f"evaluation gate passed: {thresholds.count} thresholds met ({args.check})",
    )
