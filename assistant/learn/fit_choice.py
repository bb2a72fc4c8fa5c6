"""Fitting the sentence choice (``assistant/answer/choice.json``) and reporting first-citation accuracy.

Per question language, a linear model over the sentence features and the reader's three columns, fitted
listwise (softmax over a question's first ``READ`` candidates) on the ``dev`` rows with the reader's
**out-of-fold** scores (readers that never saw those questions). The report scores every ``test`` row with the
shipped reader (onnxruntime): held-out articles of XQuAD and CMRC, held-out Qingdao questions; hand weights,
features alone, features + reader. The same inputs give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.choice import COLUMNS, LinearChoice, reader_columns
from assistant.errors import AssistantError
from assistant.learn.cache import sha256
from assistant.learn.choice_rows import READ, read_rows

L2 = 0.01
SYSTEMS = ("hand", "features", "features+reader")


def fit_listwise(groups: Sequence[tuple[np.ndarray, np.ndarray]], l2: float = L2) -> LinearChoice:
    """Weights that maximise the softmax probability of the candidates labelled 1 (questions without one
    are skipped); L2 on the standardised weights. Deterministic: the same groups give the same weights."""
    from scipy.optimize import minimize

    groups = [(x, y / y.sum()) for x, y in groups if y.sum() > 0]
    if not groups:
        raise AssistantError("no question with a labelled candidate to fit on")
    allx = np.concatenate([x for x, _ in groups])
    mean, scale = allx.mean(axis=0), allx.std(axis=0)
    scale[scale == 0] = 1.0
    xs = [((x - mean) / scale, y) for x, y in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in xs:
            s = x @ w
            top = s.max()
            e = np.exp(s - top)
            p = e / e.sum()
            total -= float((y * (s - top - np.log(e.sum()))).sum())
            grad -= x.T @ (y - p)
        n = len(xs)
        return total / n + l2 * float(w @ w) / 2, grad / n + l2 * w

    res = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B")
    return LinearChoice(mean, scale, np.asarray(res.x, dtype=np.float64))


def with_reader(x: np.ndarray, scores: Sequence[float]) -> np.ndarray:
    return np.concatenate([x, reader_columns(np.asarray(scores[: len(x)], dtype=np.float64))], axis=1)


def _prepared(rows_path: Path) -> list[dict[str, Any]]:
    _, rows = read_rows(rows_path)
    for r in rows:
        r["X"] = np.asarray(r["x"], dtype=np.float64)[:READ]
        r["y"] = np.asarray(r["labels"][:READ], dtype=np.float64)
        r["key"] = f"{r['set']}|{r['qid']}"
    return rows


def fit_choice(rows_path: Path, oof_path: Path, reader_path: Path, out: Path) -> dict[str, Any]:
    """Fit and write ``out``; returns the model object (also what was fitted on)."""
    meta, _ = read_rows(rows_path)
    rows = _prepared(rows_path)
    oof = json.loads(oof_path.read_text(encoding="utf-8"))
    dev = [r for r in rows if r["split"] == "dev" and r["key"] in oof]
    models: dict[str, LinearChoice] = {}
    for lang in sorted({r["lang"] for r in dev}):
        mine = [r for r in dev if r["lang"] == lang]
        models[lang] = fit_listwise([(with_reader(r["X"], oof[r["key"]]), r["y"]) for r in mine])
    model = {
        "columns": list(COLUMNS),
        "read": READ,
        "l2": L2,
        "languages": {lang: m.to_json() for lang, m in models.items()},
        "fitted_on": {
            "rows": sha256(rows_path),
            "reader_oof": sha256(oof_path),
            "reader": sha256(reader_path),
            "questions": {lang: sum(r["lang"] == lang for r in dev) for lang in models},
            "sets": sorted({r["set"] for r in dev}),
            "model": meta.get("model", ""),
            "data_files": meta.get("files", {}),
        },
    }
    out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return model


def report(rows_path: Path, oof_path: Path, choice_path: Path, reader_path: Path) -> dict[str, Any]:
    """First citation per set, language and split: hand order, features alone (fitted here), features +
    reader (the shipped choice; dev rows with out-of-fold reader scores, test rows with the shipped reader)."""
    from assistant.answer.choice import SentenceChoice
    from assistant.answer.reader import Reader

    rows = _prepared(rows_path)
    oof = json.loads(oof_path.read_text(encoding="utf-8"))
    shipped = SentenceChoice.load(None, choice_path).models
    dev = [r for r in rows if r["split"] == "dev"]
    plain = {lang: fit_listwise([(r["X"], r["y"]) for r in dev if r["lang"] == lang]) for lang in sorted(shipped)}
    reader = Reader(reader_path)
    hits: dict[str, dict[str, list[int]]] = {}
    for r in rows:
        if r["lang"] not in shipped or (r["split"] == "dev" and r["key"] not in oof):
            continue
        scores = oof[r["key"]] if r["split"] == "dev" else list(reader.scores(r["question"], r["texts"][:READ]))
        picks = {
            "hand": 0,
            "features": int(np.argmax(plain[r["lang"]].scores(r["X"]))),
            "features+reader": int(np.argmax(shipped[r["lang"]].scores(with_reader(r["X"], scores)))),
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


def markdown(rep: dict[str, Any]) -> str:
    out = [
        "# Sentence choice: first citation contains the answer",
        "",
        rep["definition"] + ".",
        "",
        "| set.language.split | questions | " + " | ".join(SYSTEMS) + " |",
        "|---|---|" + "---|" * len(SYSTEMS),
    ]
    for key, row in rep["table"].items():
        out.append(f"| {key} | {row['questions']} | " + " | ".join(f"{row[s]:.3f}" for s in SYSTEMS) + " |")
    return "\n".join(out) + "\n"
