"""Evaluation reports: aggregate per split and language, write JSON/Markdown/PNG, check CI thresholds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from assistant.errors import AssistantError
from assistant.evaluation import abstention, faithfulness

Record = dict[str, Any]
RANKING = ("recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10")
METRICS = (
    *RANKING,
    "first_citation_accuracy",
    "mean_citation_chars",
    "abstention_precision",
    "abstention_recall",
    "false_abstention_rate",
    "conversation_accuracy",
    "conversation_first_turn_accuracy",
    "retrieve_p50_ms",
    "retrieve_p95_ms",
    "ask_p50_ms",
    "ask_p95_ms",
)
DEFINITIONS = {
    "relevant": "a passage or citation is a hit when it overlaps at least half of one gold evidence span",
    "recall@k": "share of answerable questions with a relevant passage in the top k of retrieve(k=10); "
    "trec_eval/pytrec_eval measure success.k (qrels: every indexed chunk covering half a gold span)",
    "mrr@10": "pytrec_eval recip_rank over the top 10 passages",
    "ndcg@10": "pytrec_eval ndcg_cut.10, binary relevance",
    "first_citation_accuracy": "share of answerable questions whose answer's first citation is relevant; "
    "an abstention counts as wrong",
    "mean_citation_chars": "mean length of all citations given, in characters",
    "abstention_precision": "abstentions on unanswerable questions / all abstentions",
    "abstention_recall": "abstentions on unanswerable questions / unanswerable questions",
    "false_abstention_rate": "abstentions on answerable questions / answerable questions",
    "conversation_accuracy": "first-citation accuracy on conversation turns after the first, "
    "asked with the earlier (question, answer text) pairs as history",
    "conversation_first_turn_accuracy": "first-citation accuracy on the first turn of each conversation",
    "latency": "pipeline only: wall-clock ms per call on the single questions (after one warm-up call), "
    "p50 and p95; baselines reuse cached query vectors and are not timed",
}


def _mean(values: Sequence[float | bool]) -> float | None:
    return float(np.mean([float(v) for v in values])) if values else None


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def summarise(questions: Sequence[Record], turns: Sequence[Record]) -> dict[str, Any]:
    """All metrics for one group of per-question and per-turn records (None when undefined)."""
    answerable = [r for r in questions if r["answerable"]]
    unanswerable = [r for r in questions if not r["answerable"]]
    abstained = [r for r in questions if r["abstained"]]
    hits = sum(not r["answerable"] for r in abstained)
    later = [t for t in turns if t["turn"] > 1 and t["answerable"]]
    first = [t for t in turns if t["turn"] == 1 and t["answerable"]]
    out: dict[str, Any] = {
        "questions": len(questions),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "conversation_turns": len(turns),
    }
    out |= {name: _mean([r[name] for r in answerable]) for name in RANKING}
    out["first_citation_accuracy"] = _mean([r["first_citation_ok"] for r in answerable])
    out["mean_citation_chars"] = _mean([n for r in questions for n in r["citation_chars"]])
    out["abstention_precision"] = hits / len(abstained) if abstained else None
    out["abstention_recall"] = hits / len(unanswerable) if unanswerable else None
    out["false_abstention_rate"] = _mean([r["abstained"] for r in answerable])
    out["conversation_accuracy"] = _mean([t["first_citation_ok"] for t in later])
    out["conversation_first_turn_accuracy"] = _mean([t["first_citation_ok"] for t in first])
    for call in ("retrieve", "ask"):
        times = [r[f"{call}_ms"] for r in questions if f"{call}_ms" in r]
        out[f"{call}_p50_ms"], out[f"{call}_p95_ms"] = _pct(times, 50), _pct(times, 95)
    return out


def group(records: Sequence[Record], split: str, lang: str) -> list[Record]:
    return [r for r in records if split in ("all", r["split"]) and lang in ("all", r["lang"])]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)


def git_state() -> dict[str, Any] | None:
    """The checked-out commit and whether tracked files differ from it; None outside a git checkout."""
    try:
        head, status = _git("rev-parse", "HEAD"), _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def build_report(bot: Any, data: Any, raw: dict[str, tuple[list[Record], list[Record]]], elapsed: float) -> Record:
    everything = [r for qs, ts in raw.values() for r in (*qs, *ts)]
    splits = [s for s in ("dev", "test") if any(r["split"] == s for r in everything)] + ["all"]
    langs = sorted({r["lang"] for r in everything}) + ["all"]
    results = {
        name: {s: {lang: summarise(group(qs, s, lang), group(ts, s, lang)) for lang in langs} for s in splits}
        for name, (qs, ts) in raw.items()
    }
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "model": bot.embedder.name,
        "config": {
            "corpus": str(bot.corpus.folder),
            "documents": len(bot.corpus.documents),
            "index": str(bot.index.folder),
            "chunks": int(len(bot.index.chunks)),
            "chunking": bot.index.manifest.get("chunking"),
            "retrieval": bot.retriever.config._asdict(),
            "answer": bot.answer_config._asdict(),
            "retrieve_k": 10,
            "ask_k": 5,
        },
        "set": {
            "files": list(data.files),
            "questions": len(data.questions),
            "conversations": len(data.conversations),
            "turns": sum(len(c.turns) for c in data.conversations),
        },
        "headline_split": "test" if "test" in splits else "all",
        "definitions": DEFINITIONS,
        "systems": list(raw),
        "splits": splits,
        "languages": langs,
        "elapsed_s": round(elapsed, 1),
        "results": results,
        "faithfulness": faithfulness.summarise(raw["pipeline"][0]) if "pipeline" in raw else None,
        "abstention": abstention.from_records(raw["pipeline"][0]) if "pipeline" in raw else None,
        "generator_model": getattr(getattr(bot, "generator", None), "model", None),
        "questions": {name: qs for name, (qs, _) in raw.items()},
        "turns": {name: ts for name, (_, ts) in raw.items()},
    }


# ---------------------------------------------------------------- Markdown, chart, files

COLUMNS = (
    ("R@1", "recall@1"),
    ("R@3", "recall@3"),
    ("R@5", "recall@5"),
    ("MRR@10", "mrr@10"),
    ("nDCG@10", "ndcg@10"),
    ("cite@1", "first_citation_accuracy"),
    ("abst P", "abstention_precision"),
    ("abst R", "abstention_recall"),
    ("false abst", "false_abstention_rate"),
    ("conv", "conversation_accuracy"),
    ("conv t1", "conversation_first_turn_accuracy"),
    ("cite chars", "mean_citation_chars"),
)


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: Record) -> str:
    git = report.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    s = report["set"]
    lines = [
        "# Evaluation report",
        "",
        f"Model `{report['model']}`, commit `{commit}`, {report['created']}; {s['questions']} questions and "
        f"{s['conversations']} conversations ({s['turns']} turns); {report['elapsed_s']} s. "
        f"Headline: the `{report['headline_split']}` split. n = answerable + unanswerable / conversation turns.",
    ]
    ordered = [report["headline_split"]] + [sp for sp in report["splits"] if sp != report["headline_split"]]
    for split in ordered:
        lines += ["", f"## Split: {split}" + (" (held out)" if split == "test" else ""), ""]
        lines.append("| lang | system | n | " + " | ".join(h for h, _ in COLUMNS) + " |")
        lines.append("|---|---|---|" + "---:|" * len(COLUMNS))
        for lang in report["languages"]:
            for name in report["systems"]:
                m = report["results"][name][split][lang]
                n = f"{m['answerable']}+{m['unanswerable']}/{m['conversation_turns']}"
                cells = [_fmt(m[k], 1 if k == "mean_citation_chars" else 3) for _, k in COLUMNS]
                lines.append(f"| {lang} | {name} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "## Pipeline latency (ms, single questions, one call at a time)", ""]
    lines += ["| lang | retrieve p50 | retrieve p95 | ask p50 | ask p95 |", "|---|---:|---:|---:|---:|"]
    keys = ("retrieve_p50_ms", "retrieve_p95_ms", "ask_p50_ms", "ask_p95_ms")
    for lang in report["languages"]:
        m = report["results"]["pipeline"]["all"][lang]
        lines.append(f"| {lang} | " + " | ".join(_fmt(m[k], 1) for k in keys) + " |")
    lines += faithfulness.markdown_lines(report)
    lines += abstention.markdown_lines(report)
    return "\n".join(lines) + "\n"


def plot(report: Record, path: Path) -> None:
    """Per-language Recall@1/3/5 and first-citation accuracy on the headline split, one bar per system."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split = report["headline_split"]
    langs = [lang for lang in report["languages"] if lang != "all"] or ["all"]
    keys = (("R@1", "recall@1"), ("R@3", "recall@3"), ("R@5", "recall@5"), ("cite@1", "first_citation_accuracy"))
    fig, axes = plt.subplots(1, len(langs), figsize=(5.5 * len(langs), 4), squeeze=False, sharey=True)
    width = 0.8 / max(len(report["systems"]), 1)
    for ax, lang in zip(axes[0], langs, strict=True):
        for i, name in enumerate(report["systems"]):
            m = report["results"][name][split][lang]
            values = [m[k] or 0.0 for _, k in keys]
            ax.bar(np.arange(len(keys)) + (i - (len(report["systems"]) - 1) / 2) * width, values, width, label=name)
        ax.set_xticks(np.arange(len(keys)), [label for label, _ in keys])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{lang}, {split} split (n={report['results']['pipeline'][split][lang]['answerable']})")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("share of answerable questions")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(report: Record, out: Path) -> list[Path]:
    """``latest.json``, ``latest.md``, ``latest.png`` and (answers with a confidence) ``latest_risk_coverage.png``
    in ``out`` (created if needed)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssistantError(f"Cannot create the report folder {str(out)!r}: {exc.strerror}") from exc
    paths = [out / "latest.json", out / "latest.md", out / "latest.png"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    plot(report, paths[2])
    chart = abstention.plot_records(report["questions"].get("pipeline", []), out / "latest_risk_coverage.png")
    return paths + ([chart] if chart else [])


# ---------------------------------------------------------------- CI thresholds


class Thresholds(NamedTuple):
    """Bounds keyed ``"<split>.<lang>.<metric>"``, checked on one system's results."""

    system: str
    minimum: dict[str, float]
    maximum: dict[str, float]

    @property
    def count(self) -> int:  # type: ignore[override]  # a NamedTuple field-like property, not tuple.count
        return len(self.minimum) + len(self.maximum)


def parse_thresholds(obj: object, where: str = "thresholds") -> Thresholds:
    if not isinstance(obj, dict):
        raise AssistantError(f"{where}: expected a JSON object with 'min' and/or 'max'")
    bounds: list[dict[str, float]] = []
    for part in ("min", "max"):
        table = obj.get(part, {})
        if not isinstance(table, dict):
            raise AssistantError(f"{where}: '{part}' must be an object of \"split.lang.metric\": number")
        for key, value in table.items():
            pieces = key.split(".", 2)
            if len(pieces) != 3 or pieces[2] not in METRICS:
                raise AssistantError(f"{where}: {key!r} is not '<split>.<lang>.<metric>' with a metric among {METRICS}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AssistantError(f"{where}: the bound for {key!r} must be a number")
        bounds.append({k: float(v) for k, v in table.items()})
    system = obj.get("system", "pipeline")
    if not isinstance(system, str):
        raise AssistantError(f"{where}: 'system' must be a system name such as 'pipeline'")
    return Thresholds(system, bounds[0], bounds[1])


def load_thresholds(path: str | Path) -> Thresholds:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AssistantError(f"Cannot read the thresholds file {str(path)!r}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise AssistantError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    return parse_thresholds(obj, str(path))


def check_thresholds(report: Record, thresholds: Thresholds) -> list[str]:
    """One line per bound that is missed or could not be measured; empty when the gate passes."""
    results = report["results"].get(thresholds.system)
    if results is None:
        return [f"system {thresholds.system!r} was not evaluated"]
    failures = []
    for bounds, is_min in ((thresholds.minimum, True), (thresholds.maximum, False)):
        for key, bound in bounds.items():
            split, lang, metric = key.split(".", 2)
            value = results.get(split, {}).get(lang, {}).get(metric)
            if value is None:
                failures.append(f"{key}: not measured in this run (no such split, language or questions)")
            elif (value < bound) if is_min else (value > bound):
                word = "below the minimum" if is_min else "above the maximum"
                failures.append(f"{key} = {value:.3f} is {word} {bound:.3f}")
    return failures


def print_gate(failures: Sequence[str], failed: str, passed: str) -> int:
    """On stderr: ``passed`` (exit code 0), or ``failed`` and every bound missed (exit code 3)."""
    if failures:
        print(failed, file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 3
    print(passed, file=sys.stderr)
    return 0
