"""Fit the sentence-choice model and report first-citation accuracy: hand weights, features, features + reader.

    .venv/bin/python scripts/fit_choice.py                # writes assistant/answer/choice.json
    .venv/bin/python scripts/fit_choice.py --report eval/reports   # also choice.{md,json} there

Needs ``index/choice/rows.jsonl`` and ``index/choice/reader_oof.json`` (both written by
``scripts/train_reader.py``). The model is fitted per question language on ``dev`` rows only, with the
reader's out-of-fold scores (from readers that never saw those questions). The report scores every
``test`` row with the shipped reader (``assistant/answer/reader.npz``, onnxruntime): held-out articles of
XQuAD and CMRC, held-out Qingdao questions. The output is the same for the same inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer.choice import CHOICE_FILE, COLUMNS, LinearChoice, fit_listwise, reader_columns  # noqa: E402
from assistant.answer.reader import READER_FILE, Reader  # noqa: E402
from assistant.answer.training import sha256  # noqa: E402
from assistant.retrieve.choice_data import READ  # noqa: E402

ROWS = REPO / "index" / "choice" / "rows.jsonl"
OOF = REPO / "index" / "choice" / "reader_oof.json"
L2 = 0.01
SYSTEMS = ("hand", "features", "features+reader")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="folder for choice.md / choice.json")
    parser.add_argument("--out", type=Path, default=CHOICE_FILE, help="model file (default: the package's)")
    args = parser.parse_args(argv)
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    oof = json.loads(OOF.read_text(encoding="utf-8"))
    for r in rows:
        r["X"] = np.asarray(r["x"], dtype=np.float64)[:READ]
        r["y"] = np.asarray(r["labels"][:READ], dtype=np.float64)
        r["key"] = f"{r['set']}|{r['qid']}"
    dev = [r for r in rows if r["split"] == "dev" and r["key"] in oof]
    models: dict[str, LinearChoice] = {}
    plain: dict[str, LinearChoice] = {}
    for lang in sorted({r["lang"] for r in dev}):
        mine = [r for r in dev if r["lang"] == lang]
        models[lang] = fit_listwise([(_with_reader(r["X"], oof[r["key"]]), r["y"]) for r in mine], L2)
        plain[lang] = fit_listwise([(r["X"], r["y"]) for r in mine], L2)
    model = {
        "columns": list(COLUMNS),
        "read": READ,
        "l2": L2,
        "languages": {lang: m.to_json() for lang, m in models.items()},
        "fitted_on": {
            "rows": sha256(ROWS),
            "reader_oof": sha256(OOF),
            "reader": sha256(READER_FILE),
            "questions": {lang: sum(r["lang"] == lang for r in dev) for lang in models},
            "sets": sorted({r["set"] for r in dev}),
        },
    }
    args.out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.report:
        report = _report(rows, oof, models, plain)
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "choice.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        (args.report / "choice.md").write_text(_markdown(report), encoding="utf-8")
        print(_markdown(report))
    return 0


def _with_reader(x: np.ndarray, scores: list[float]) -> np.ndarray:
    return np.concatenate([x, reader_columns(np.asarray(scores[: len(x)], dtype=np.float64))], axis=1)


def _report(
    rows: list[dict[str, Any]],
    oof: dict[str, list[float]],
    models: dict[str, LinearChoice],
    plain: dict[str, LinearChoice],
) -> dict[str, Any]:
    reader = Reader()
    hits: dict[str, dict[str, list[int]]] = {}
    for r in rows:
        if r["lang"] not in models:
            continue
        if r["split"] == "dev":
            if r["key"] not in oof:
                continue
            scores = oof[r["key"]]  # dev: out-of-fold reader scores (in-sample for the linear model)
        else:
            scores = list(reader.scores(r["question"], r["texts"]))
        picks = {
            "hand": 0,
            "features": int(np.argmax(plain[r["lang"]].scores(r["X"]))),
            "features+reader": int(np.argmax(models[r["lang"]].scores(_with_reader(r["X"], scores)))),
        }
        key = f"{r['set']}.{r['lang']}.{r['split']}"
        for name, i in picks.items():
            hits.setdefault(key, {}).setdefault(name, []).append(int(r["y"][i]) if i < len(r["y"]) else 0)
    table = {
        key: {"questions": len(by["hand"]), **{s: round(float(np.mean(by[s])), 3) for s in SYSTEMS}}
        for key, by in sorted(hits.items())
    }
    return {
        "definition": "share of answerable questions whose first cited sentence contains the gold answer "
        "(at least half of its span), choosing among the pool's first candidates; dev rows are fitted on",
        "read": READ,
        "reader": reader.info,
        "table": table,
    }


def _markdown(report: dict[str, Any]) -> str:
    out = [
        "# Sentence choice: first citation contains the answer",
        "",
        report["definition"] + ".",
        "",
        "| set.language.split | questions | " + " | ".join(SYSTEMS) + " |",
        "|---|---|" + "---|" * len(SYSTEMS),
    ]
    for key, row in report["table"].items():
        out.append(f"| {key} | {row['questions']} | " + " | ".join(f"{row[s]:.3f}" for s in SYSTEMS) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
