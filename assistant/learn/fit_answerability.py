"""Fitting the answerability model (``assistant/answer/answerability.json``) on the leave-out rows.

Per language, a logistic regression (L-BFGS, NumPy/SciPy, deterministic) over the standardised features of the
``fit`` rows (:mod:`assistant.learn.rows`). The threshold is chosen on out-of-fold probabilities (cross-
validated by article or passage group, ``CV_GROUPS``) so that at most ``target`` of the answerable fit
questions of *each* set (XQuAD, CMRC trial, CMRC training passages, Qingdao) fall below it; the ``heldout``
rows (test articles of XQuAD and of the CMRC trial set) report, per set, how far that rate drifts, the recall,
the AUC and the calibration (ECE). Written with sorted keys and rounded numbers: the same rows give the same
bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from assistant.answer.answerability import LANGS, LangModel, ModelError, _sigmoid
from assistant.answer.features import NAMES
from assistant.gold.metrics import auc, ece

CV_GROUPS = 4
DIGITS = 8
MIN_SET_ROWS = 100  # a set sets a threshold of its own from this many answerable fit rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights and bias minimising the mean log loss + ``l2``/n·|w|²/2 (L-BFGS, deterministic)."""
    n, d = x.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = _sigmoid(z)
        value = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 / n * (w @ w))
        g = p - y
        grad = np.concatenate([x.T @ g / n + l2 / n * w, [g.mean()]])
        return value, grad

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
    return res.x[:d], float(res.x[d])


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def fit_lang(x: np.ndarray, y: np.ndarray, l2: float) -> LangModel:
    mean, scale = _standardise(x)
    w, b = fit_logistic((x - mean) / scale, y, l2)
    return LangModel(mean, scale, w, b, 0.5)


def predict(m: LangModel, x: np.ndarray) -> np.ndarray:
    return _sigmoid(((x - m.mean) / m.scale) @ m.weights + m.bias)


def threshold_for(p_answerable: np.ndarray, target: float) -> float:
    """The largest threshold below which at most ``target`` of these (answerable) questions fall."""
    ordered = np.sort(p_answerable)
    k = int(math.floor(target * len(ordered)))
    return float(ordered[k]) if k < len(ordered) else 1.0


def article_group(article: str) -> int:
    """The cross-validation group of an article or passage (the same for every row of it)."""
    return int(hashlib.sha1(article.encode("utf-8")).hexdigest(), 16) % CV_GROUPS


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float) -> np.ndarray:
    """Probabilities of each row from a model fitted without its article group."""
    out = np.zeros(len(y))
    for g in np.unique(groups):
        test = groups == g
        out[test] = predict(fit_lang(x[~test], y[~test], l2), x[test])
    return out


def rates(p: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float]:
    """Abstention recall (share of unanswerable below the threshold), false abstention, AUC and ECE."""
    low = p < threshold
    ans = answerable.astype(bool)
    return {
        "recall": float(low[~ans].mean()) if (~ans).any() else float("nan"),
        "false_abstention": float(low[ans].mean()) if ans.any() else float("nan"),
        "auc": auc(p, ans),
        "ece": ece(p, ans),
    }


def _xy(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray([r["features"] for r in rows], dtype=np.float64).reshape(len(rows), len(NAMES))
    return x, np.asarray([r["answerable"] for r in rows], dtype=np.float64)


def fit(meta: dict[str, Any], rows: Sequence[dict[str, Any]], l2: float = 1.0, target: float = 0.03) -> dict[str, Any]:
    """The JSON object of a model fitted on the ``fit`` rows and evaluated on the ``heldout`` rows, per set."""
    if list(meta.get("features", [])) != list(NAMES):
        raise ModelError("the rows were built with another feature list; rebuild them")
    out: dict[str, Any] = {"features": list(NAMES), "languages": {}, "evaluation": {}}
    for lang in LANGS:
        fit_rows = [r for r in rows if r["lang"] == lang and r["split"] == "fit"]
        if not fit_rows or not {r["answerable"] for r in fit_rows} == {True, False}:
            raise ModelError(f"{lang}: the fit rows need answerable and unanswerable questions")
        x, y = _xy(fit_rows)
        oof = out_of_fold(x, y, np.asarray([article_group(r["article"]) for r in fit_rows]), l2)
        model = fit_lang(x, y, l2)
        # the threshold must hold on every kind of text it was fitted on: the lowest of the per-set thresholds
        # (one threshold over the union let the easy leave-passage-out CMRC rows set it, and XQuAD's false
        # abstention drifted to ~10%)
        sets = np.asarray([r.get("set", "") for r in fit_rows])
        per_set = {
            str(name): threshold_for(oof[(y == 1) & (sets == name)], target)
            for name in sorted(set(sets))
            if ((y == 1) & (sets == name)).sum() >= MIN_SET_ROWS
        }
        t = min(per_set.values()) if per_set else threshold_for(oof[y == 1], target)
        out["languages"][lang] = {
            "mean": _r(model.mean),
            "scale": _r(model.scale),
            "weights": _r(model.weights),
            "bias": round(model.bias, DIGITS),
            "threshold": round(t, DIGITS),
        }
        fit_rates = _rd(rates(oof, y, t))
        ev: dict[str, Any] = {
            "fit_oof": fit_rates,
            "fit_rows": len(fit_rows),
            "set_thresholds": {k: round(v, DIGITS) for k, v in per_set.items()},
        }
        for name in sorted({r["set"] for r in rows if r["lang"] == lang and r["split"] == "heldout"}):
            held = [r for r in rows if r["lang"] == lang and r["split"] == "heldout" and r["set"] == name]
            xh, yh = _xy(held)
            ph = predict(model, xh)
            held_rates = _rd(rates(ph, yh, t))
            ev[f"heldout.{name}"] = held_rates | {
                "rows": len(held),
                "drift": round(held_rates["false_abstention"] - fit_rates["false_abstention"], 4),
                # for comparison only: the threshold that would give 5% false abstention on the held-out rows
                "recall_at_5pct": round(rates(ph, yh, threshold_for(ph[yh == 1], 0.05))["recall"], 4),
            }
        out["evaluation"][lang] = ev
    out["data"] = {
        "files": meta.get("files", {}),
        "model": meta.get("model", ""),
        "folds": meta.get("folds", []),
        "sets": meta.get("sets", []),
        "counts": {
            f"{lang}.{split}.{'answerable' if a else 'unanswerable'}": sum(
                1 for r in rows if r["lang"] == lang and r["split"] == split and r["answerable"] == a
            )
            for lang in LANGS
            for split in ("fit", "heldout")
            for a in (True, False)
        },
    }
    out["fit"] = {"l2": l2, "target_false_abstention": target, "label": "answerable", "cv_groups": CV_GROUPS}
    return out


def _r(a: np.ndarray) -> list[float]:
    return [round(float(v), DIGITS) for v in a]


def _rd(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in d.items()}


def write(obj: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
