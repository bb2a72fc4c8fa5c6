"""Abstention report: today's rules, the answerability model, and both, side by side (docs/abstention.md).

For each set, language and system: abstention precision and recall, false abstention, first-citation rate
(answerable questions whose first citation holds the answer, abstentions counting as wrong), the model's AUC
and its calibration (ECE of the confidence against "the documents answer it"); plus a risk-coverage curve
(risk = share of answered questions that are unanswerable or wrongly cited). ``python -m assistant eval``
reports it for its own questions (``from_records``); ``python -m assistant.learn.report`` adds the
held-out leave-out rows of the training sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.answerability import Model
from assistant.gold.metrics import auc, ece

Row = dict[str, Any]
SYSTEMS = ("rules", "model", "rules+model")


def qingdao_rows(corpus: str, index: str, eval_set: str, embedder: Any = None) -> list[Row]:
    """One row per Qingdao question and conversation turn: features, what the rules did, the citation."""
    from assistant.answer.features import features
    from assistant.api import Assistant
    from assistant.gold.questions import load_set
    from assistant.gold.relevance import relevant

    bot = Assistant.open(corpus, index, embedder, progress=False)
    data = load_set(eval_set, bot.corpus.documents, "all")
    rows: list[Row] = []

    def row(q: Any, history: list[tuple[str, str]], kind: str) -> str:
        ev = bot.evidence(q.question, history)
        ans = bot.answerer.answer(ev)
        first = ans.citations[0] if ans.citations else None
        hit = bool(first and q.answerable and relevant(first.doc_id, first.start, first.end, q.gold))
        vec = features(bot.retriever, ev, bot.answer_config, bot.abstention_config)
        rows.append(
            {
                "qid": q.qid,
                "lang": q.lang,
                "split": q.split,
                "kind": kind,
                "answerable": q.answerable,
                "rule_abstained": ans.abstained,
                "first_correct": hit,
                "features": [float(x) for x in vec],
            }
        )
        return ans.text

    for q in data.questions:
        row(q, [], "question")
    for conv in data.conversations:
        history: list[tuple[str, str]] = []
        for turn in conv.turns:
            history.append((turn.question, row(turn, list(history), "turn")))
    return rows


def decisions(rows: Sequence[Row], model: Model) -> dict[str, np.ndarray]:
    """The model's probability of each row (the ``confidence`` its answer recorded, else from its features)
    and the three systems' abstentions."""
    p = np.asarray(
        [
            r["confidence"]
            if r.get("confidence") is not None
            else model.probability(np.asarray(r["features"]), r["lang"])
            for r in rows
        ]
    )
    t = np.asarray([model.threshold(r["lang"]) for r in rows])
    rule = np.asarray([bool(r["rule_abstained"]) for r in rows])
    low = p < t
    return {"p": p, "rules": rule, "model": low, "rules+model": rule | low}


def metrics(rows: Sequence[Row], abstained: np.ndarray, p: np.ndarray) -> dict[str, float | int | None]:
    ans = np.asarray([bool(r["answerable"]) for r in rows])
    ok = np.asarray([bool(r["first_correct"]) for r in rows])
    un = ~ans

    def share(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    return {
        "n": len(rows),
        "unanswerable": int(un.sum()),
        "abstention_precision": share(int((abstained & un).sum()), int(abstained.sum())),
        "abstention_recall": share(int((abstained & un).sum()), int(un.sum())),
        "false_abstention": share(int((abstained & ans).sum()), int(ans.sum())),
        # the rows hold the rule-based answer's citation: with "model" alone, a lower bound
        "first_citation": share(int((ok & ans & ~abstained).sum()), int(ans.sum())),
        "auc": round(auc(p, ans), 4) if ans.any() and un.any() else None,
        "ece": round(ece(p, ans), 4) if len(rows) else None,
    }


def risk_coverage(rows: Sequence[Row], p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (share answered) and risk (share of answered that are wrong), answering the most confident first."""
    good = np.asarray([bool(r["answerable"]) and bool(r["first_correct"]) for r in rows])[np.argsort(-p, kind="stable")]
    n = np.arange(1, len(good) + 1)
    return n / len(good), 1.0 - np.cumsum(good) / n


def report(sets: dict[str, Sequence[Row]], model: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows in sets.items():
        for lang in ("all", "en", "zh"):
            part = [r for r in rows if lang == "all" or r["lang"] == lang]
            if not part:
                continue
            d = decisions(part, model)
            out[f"{name}.{lang}"] = {s: metrics(part, d[s], d["p"]) for s in SYSTEMS}
    return out


def _answered(records: Sequence[Row]) -> list[Row]:
    """Evaluation records with a confidence, as rows of this module (what the rules did, the citation)."""
    return [
        {**r, "rule_abstained": r["abstained"], "first_correct": bool(r["first_citation_ok"])}
        for r in records
        if r.get("confidence") is not None
    ]


def from_records(records: Sequence[Row]) -> dict[str, Any] | None:
    """The evaluation report's abstention section: per split and language, today's rules, the answerability
    model at its per-language threshold, and both, over the pipeline's question records (their
    ``confidence``); None when the answers carry no confidence (no usable model for this embedder)."""
    from assistant.answer.answerability import shipped

    rows = _answered(records)
    splits = {split: [r for r in rows if split in ("all", r["split"])] for split in ("test", "dev", "all")}
    return report({k: v for k, v in splits.items() if v}, shipped()) if rows else None


def markdown_lines(report: dict[str, Any]) -> list[str]:
    """The evaluation report's abstention section (``from_records``), or nothing."""
    tables = report.get("abstention")
    if not tables:
        return []
    return [
        "",
        "## Abstention: today's rules, the answerability model (learned, at its threshold), both",
        "",
        "Pipeline, questions only. `model` and `rules+model` are what `AbstentionConfig(learned=True)` would do "
        "(the default is `rules`); first citation counts an abstention as wrong. Details: docs/abstention.md.",
        "",
        markdown(tables).rstrip("\n"),
    ]


def plot_records(records: Sequence[Row], path: Path) -> Path | None:
    """The risk-coverage chart (``plot``) of the pipeline's answers, all splits; None without confidences."""
    from assistant.answer.answerability import shipped

    rows = _answered(records)
    return plot({"evaluation set, all splits": rows}, shipped(), path) if rows else None


def plot(sets: dict[str, Sequence[Row]], model: Model, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    for ax, (name, rows) in zip(axes[0], sets.items(), strict=True):
        for lang in ("en", "zh"):
            part = [r for r in rows if r["lang"] == lang]
            if not part:
                continue
            d = decisions(part, model)
            cov, risk = risk_coverage(part, d["p"])
            ax.plot(cov, risk, label=f"{lang}: model confidence")
            for system, marker in (("rules", "o"), ("rules+model", "s")):
                m = metrics(part, d[system], d["p"])
                answered = ~d[system]
                good = np.asarray([bool(r["answerable"]) and bool(r["first_correct"]) for r in part])
                r_ = 1.0 - good[answered].mean() if answered.any() else 0.0
                ax.plot([answered.mean()], [r_], marker, label=f"{lang}: {system} (FA {m['false_abstention']})")
        ax.set(title=name, xlabel="coverage (share answered)", ylabel="risk (share of answers wrong)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(tables: dict[str, Any]) -> str:
    cols = ("abstention_precision", "abstention_recall", "false_abstention", "first_citation", "auc", "ece", "n")
    lines = ["| set.lang | system | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for key, systems in tables.items():
        for system, m in systems.items():
            cells = ["–" if m[c] is None else f"{m[c]:.3f}" if isinstance(m[c], float) else str(m[c]) for c in cols]
            lines.append(f"| {key} | {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
