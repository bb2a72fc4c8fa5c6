"""Faithfulness of generated answers (``eval --answerer llm``), reported beside the retrieval metrics.

Per question: who wrote the answer, its valid citations, whether one covers the gold evidence, the
invalid markers removed, unsupported sentences, declines, the fallback reason, and — for every reply the
model gave, whether it was used or not — its language and whether it cited a given source. The language
and citation shares are measured over the replies, before any fallback: a reply in the wrong language
counts against ``language_match`` even though the user sees the quote instead. ``number_errors`` checks
the shown generated answers again: numbers of the answer that none of its cited sentences contains.
Records of the extractive answerer get none of these fields, so the default report is unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.answer.claims import numbers, same, source_numbers
from assistant.answer.verify import strip_markers

Record = dict[str, Any]

# fallbacks decided on the model's reply (it answered); any other reason means it gave no reply
REPLY_REASONS = ("model_declined", "wrong_language", "no_valid_citation", "unsupported_claim")

DEFINITIONS = {
    "generated": "questions whose shown answer was written by the model (not a fallback, not an abstention)",
    "replies": "questions the model replied to (used or not; no reply: no evidence, timeout, server error)",
    "with_valid_citation": "replies other than declines: share citing at least one given source (before fallback)",
    "unsupported_claims": "replies with a number or name that the sentences it cites do not contain (fallbacks)",
    "number_errors": "numbers of shown generated answers that none of their cited sentences contains (total)",
    "gold_citation_rate": "answerable questions with a generated answer: share where some citation covers "
    "half of a gold evidence span",
    "invalid_markers": "markers that referred to no given source, removed by verification (total)",
    "unsupported_sentences": "generated sentences that carry no valid marker (total)",
    "abstentions": "abstentions (the model declined, or the calibrated check found no evidence)",
    "model_declined": "the model said the sources do not answer",
    "language_match": "share of replies written in the question's language (before fallback)",
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
    declined = "model_declined" in answer.flags
    replied = "no_evidence" not in answer.flags and (answer.fallback is None or answer.fallback in REPLY_REASONS)
    return {
        "answerer": answer.answerer,
        "fallback": answer.fallback,
        "generated": generated,
        "replied": replied,
        "valid_citations": len(answer.citations) if generated else 0,
        "reply_cited": "no_valid_citation" not in answer.flags if replied and not declined else None,
        "gold_cited": gold if answerable and generated else None,
        "invalid_markers": sum(f.startswith("invalid_marker:") for f in answer.flags),
        "unsupported_sentences": len(answer.unsupported),
        "unsupported_claim": any(f.startswith("unsupported_claim:") for f in answer.flags),
        "model_declined": declined,
        "language_match": "wrong_language" not in answer.flags if replied and lang in ("en", "zh") else None,
        "number_errors": number_errors(answer.text, [c.text for c in answer.citations]) if generated else 0,
    }


def number_errors(text: str, cited: Sequence[str]) -> int:
    """Numbers of ``text`` (with their units) that no cited text contains, read the same way."""
    offered = [n for t in cited for n in source_numbers(t)]
    return sum(not any(same(n, o) for o in offered) for n in numbers(strip_markers(text)))


def _share(values: Sequence[bool]) -> float | None:
    return float(np.mean([float(v) for v in values])) if values else None


def summarise(records: Sequence[Record]) -> Record | None:
    """The faithfulness metrics over the pipeline's question records; None when no model was configured."""
    rows = [r for r in records if "answerer" in r]
    if not rows:
        return None
    generated = [r for r in rows if r["generated"]]
    replies = [r for r in rows if r.get("replied")]
    times = [r["ask_ms"] for r in rows if "ask_ms" in r]
    return {
        "questions": len(rows),
        "generated": len(generated),
        "replies": len(replies),
        "with_valid_citation": _share([r["reply_cited"] for r in replies if r.get("reply_cited") is not None]),
        "gold_citation_rate": _share([r["gold_cited"] for r in rows if r["gold_cited"] is not None]),
        "invalid_markers": sum(r["invalid_markers"] for r in rows),
        "unsupported_sentences": sum(r["unsupported_sentences"] for r in rows),
        "unsupported_claims": sum(bool(r.get("unsupported_claim")) for r in rows),
        "number_errors": sum(int(r.get("number_errors") or 0) for r in rows),
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
    keys = ["questions", "generated", "replies", "with_valid_citation", "gold_citation_rate", "invalid_markers"]
    keys += ["unsupported_sentences", "unsupported_claims", "number_errors", "abstentions", "model_declined"]
    for key in (*keys, "language_match", "ask_p50_ms"):
        lines.append(f"| {key} | {fmt(f.get(key))} |")
    lines += [f"| ask_p95_ms | {fmt(f['ask_p95_ms'])} |", "", f"Fallbacks: {fallbacks}."]
    return lines
