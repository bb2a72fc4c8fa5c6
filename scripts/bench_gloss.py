"""What glossed citations and "why this sentence" cost: ``ask`` before and after, in one run, and the glosses.

    .venv/bin/python scripts/bench_gloss.py [--rounds 3] [--limit N] [--out eval/reports/artifacts/gloss_latency.json]

"before" is ``Assistant.ask`` without the matches step (evidence, answerer, confidence: the previous body of
``ask``), "after" is ``Assistant.ask`` as shipped; both are timed per question, interleaved and in alternating
order, over the evaluation questions on the built index (``python -m assistant index``). Glosses are on
demand: timed per cited sentence cold (first time) and cached, and the dictionary's first load in a fresh
process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.answer.confidence import check_min_confidence, judge  # noqa: E402
from assistant.text import gloss  # noqa: E402
from assistant.types import Answer  # noqa: E402


def ask_before(bot: Assistant, question: str) -> Answer:
    evidence = bot.evidence(question)
    answer = bot.answerer.answer(evidence)
    return judge(bot.retriever, evidence, answer, bot.answer_config, bot.abstention_config, check_min_confidence(None))


def ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="an evenly spaced sample of N questions (0: all)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--index", default=str(ROOT / "index"))
    parser.add_argument("--questions", default=str(ROOT / "eval" / "questions.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "eval" / "reports" / "artifacts" / "gloss_latency.json"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line]
    questions = [str(r["question"]) for r in rows]
    if args.limit:  # an evenly spaced sample: both languages, every topic
        questions = questions[:: max(1, len(questions) // args.limit)][: args.limit]
    bot = Assistant.open(args.corpus, args.index, progress=False)
    for q in questions:  # warm-up: every code path and cache touched once
        bot.ask(q)
    before: list[float] = []
    after: list[float] = []
    explain: list[float] = []
    paired: list[float] = []  # after - before, the same question in the same round
    cpu_before: list[float] = []
    cpu_after: list[float] = []
    for r in range(args.rounds):
        for i, q in enumerate(questions):
            runs: list[tuple[list[float], Callable[[], Answer]]] = [
                (before, lambda q=q: ask_before(bot, q)),  # type: ignore[misc]
                (after, lambda q=q: bot.ask(q)),  # type: ignore[misc]
            ]
            for times, fn in runs if (r + i) % 2 == 0 else runs[::-1]:
                t, c = time.perf_counter(), time.process_time()
                answer = fn()
                times.append(time.perf_counter() - t)
                (cpu_before if times is before else cpu_after).append(time.process_time() - c)
            paired.append(after[-1] - before[-1])
            t = time.perf_counter()
            bot.explain(answer)
            explain.append(time.perf_counter() - t)
    cited = {c.text: c for q in questions for c in bot.ask(q).citations}
    cold: list[float] = []
    warm: list[float] = []
    for c in cited.values():
        gloss._relative.cache_clear()
        t = time.perf_counter()
        bot.gloss(c)
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        bot.gloss(c)
        warm.append(time.perf_counter() - t)
    code = "import time; from assistant.text.gloss import gloss_table as g; t = time.perf_counter(); g(); "
    code += "print(time.perf_counter() - t)"
    run = [sys.executable, "-c", code]
    first_load = [float(subprocess.run(run, capture_output=True, text=True, check=True).stdout) for _ in range(3)]
    report = {
        "questions": len(questions),
        "rounds": args.rounds,
        "ask_before_p50_ms": ms(before),
        "ask_after_p50_ms": ms(after),
        "ask_p50_growth_ms": round(ms(after) - ms(before), 3),
        "ask_paired_difference_p50_ms": ms(paired),
        "ask_before_cpu_p50_ms": ms(cpu_before),
        "ask_after_cpu_p50_ms": ms(cpu_after),
        "explain_p50_ms": ms(explain),
        "cited_sentences": len(cited),
        "gloss_cold_p50_ms": ms(cold),
        "gloss_cached_p50_ms": ms(warm),
        "gloss_table_first_load_p50_ms": ms(first_load),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
