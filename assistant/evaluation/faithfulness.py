"""Faithfulness of generated answers (``eval --answerer llm``), reported beside the retrieval metrics.

Per question: who wrote the answer, its valid citations, whether one covers the gold evidence, the
invalid markers removed, unsupported sentences, declines, the answer's language and the fallback reason.
Records of the extractive answerer get none of these fields, so the default report is unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.answer.verify import language_ok

Record = dict[str, Any]

DEFINITIONS = {
    "generated": "questions whose shown answer was written by the model (not a fallback, not an abstention)",
    "with_valid_citation": "share of questions whose generated answer has at least one valid citation",
    "gold_citation_rate": "answerable questions with a generated answer: share where some citation covers "
    "half of a gold evidence span",
    "invalid_markers": "markers that referred to no given source, removed by verification (total)",
    "unsupported_sentences": "generated sentences that carry no valid marker (total)",
    "abstentions": "abstentions (the model declined, or the calibrated check found no evidence)",
    "model_declined": "the model said the sources do not answer",
    "language_match": "share of generated answers written in the question's language (is_chinese)",
    "fallbacks": "questions answered by the extractive fallback, by reason",
    "latency": "wall-clock ms per ask() including the model call, p50 and p95",
}


def fields(answer: Any, lang: str, answerable: bool, covers_gold: Any) -> Record:
    """Per-question fields; empty unless a language model was configured (``answer.model`` set).

    ``covers_gold(doc_id, start, end) -> bool`` tells whether a span is a hit for this question.
    """
    if getattr(answer, "model", None) is None:
        return {}
    generated = answer.answerer == "llm" and not answer.abstained
    gold = any(covers_gold(c.doc_id, c.start, c.end) for c in answer.citations) if generated else False
    return {
        "answerer": answer.answerer,
        "fallback": answer.fallback,
        "generated": generated,
        "valid_citations": len(answer.citations) if generated else 0,
        "gold_cited": gold if answerable and generated else None,
        "invalid_markers": sum(f.startswith("invalid_marker:") for f in answer.flags),
        "unsupported_sentences": len(answer.unsupported),
        "model_declined": "model_declined" in answer.flags,
        "language_match": language_ok(answer.text, lang) if generated and lang in ("en", "zh") else None,
    }


def _share(values: Sequence[bool]) -> float | None:
    return float(np.mean([float(v) for v in values])) if values else None


def summarise(records: Sequence[Record]) -> Record | None:
    """The faithfulness metrics over the pipeline's question records; None when no model was configured."""
    rows = [r for r in records if "answerer" in r]
    if not rows:
        return None
    generated = [r for r in rows if r["generated"]]
    times = [r["ask_ms"] for r in rows if "ask_ms" in r]
    return {
        "questions": len(rows),
        "generated": len(generated),
        "with_valid_citation": _share([r["valid_citations"] > 0 for r in rows]),
        "gold_citation_rate": _share([r["gold_cited"] for r in rows if r["gold_cited"] is not None]),
        "invalid_markers": sum(r["invalid_markers"] for r in rows),
        "unsupported_sentences": sum(r["unsupported_sentences"] for r in rows),
        "abstentions": sum(bool(r["abstained"]) for r in rows),
        "model_declined": sum(r["model_declined"] for r in rows),
        "language_match": _share([r["language_match"] for r in rows if r["language_match"] is not None]),
        "fallbacks": dict(Counter(r["fallback"] for r in rows if r["fallback"])),
        "ask_p50_ms": round(float(np.percentile(times, 50)), 3) if times else None,
        "ask_p95_ms": round(float(np.percentile(times, 95)), 3) if times else None,
    }


def markdown_lines(report: Record) -> list[str]:
    """The report's faithfulness section, or nothing for an extractive run."""
    f = report.get("faithfulness")
    if not f:
        return []

    def fmt(value: Any) -> str:
        return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(f["fallbacks"].items())) or "none"
    lines = ["", f"## Generated answers (model `{report.get('generator_model')}`, pipeline, all questions)", ""]
    lines += ["| metric | value |", "|---|---:|"]
    for key in ("questions", "generated", "with_valid_citation", "gold_citation_rate", "invalid_markers"):
        lines.append(f"| {key} | {fmt(f[key])} |")
    for key in ("unsupported_sentences", "abstentions", "model_declined", "language_match", "ask_p50_ms"):
        lines.append(f"| {key} | {fmt(f[key])} |")
    lines += [f"| ask_p95_ms | {fmt(f['ask_p95_ms'])} |", "", f"Fallbacks: {fallbacks}."]
    return lines
