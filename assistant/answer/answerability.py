"""The answerability model: per-language logistic regression over :mod:`assistant.answer.features`.

``answerability.json`` (beside this module) holds, per language, the feature means and scales, the
weights, the bias and the abstention threshold, plus the data it was fitted on (file names and SHA-256,
counts, the build date) and its held-out evaluation. It is plain JSON (no pickle), written with sorted
keys by :func:`fit` + :func:`write`, so refitting the same rows gives the same bytes
(``python scripts/fit_answerability.py``).

The threshold is chosen on out-of-fold probabilities of the fit articles (cross-validated by article)
so that at most ``target`` of the answerable fit questions fall below it; the held-out articles report
how far that rate drifts (it drifted up by 1-3 points, so the shipped target is 3% for a 5% goal).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from assistant.answer.features import NAMES
from assistant.errors import AssistantError

DEFAULT_PATH = Path(__file__).with_name("answerability.json")
LANGS = ("en", "zh")
CV_GROUPS = 4
DIGITS = 8


class ModelError(AssistantError):
    """The answerability model file is missing, malformed or fitted on other features."""


@dataclass(frozen=True)
class LangModel:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        z = float(((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias)
        return float(_sigmoid(np.asarray([z]))[0])


@dataclass(frozen=True)
class Model:
    features: tuple[str, ...]
    langs: dict[str, LangModel]
    embedder: str = ""  # the embedder whose scores it was fitted on; "" = any

    def probability(self, x: np.ndarray, lang: str) -> float:
        return self.langs[lang if lang in self.langs else LANGS[0]].probability(x)

    def threshold(self, lang: str) -> float:
        return self.langs[lang if lang in self.langs else LANGS[0]].threshold


def parse(obj: object, where: str = "answerability model") -> Model:
    """A ``Model`` from the parsed JSON; ``ModelError`` naming what is wrong otherwise."""
    if not isinstance(obj, dict) or not isinstance(obj.get("languages"), dict):
        raise ModelError(f"{where}: expected an object with 'features' and 'languages'")
    feats = obj.get("features")
    if not isinstance(feats, list) or tuple(feats) != NAMES:
        raise ModelError(f"{where}: its feature list does not match assistant/answer/features.py; refit it")
    langs: dict[str, LangModel] = {}
    for lang, part in obj["languages"].items():
        try:
            arrays = [np.asarray(part[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
            bias, threshold = float(part["bias"]), float(part["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: language {lang!r} lacks or mangles {exc}") from exc
        if any(a.shape != (len(NAMES),) or not np.isfinite(a).all() for a in arrays) or (arrays[1] <= 0).any():
            raise ModelError(f"{where}: language {lang!r} needs {len(NAMES)} finite means, positive scales, weights")
        if not (math.isfinite(bias) and 0.0 <= threshold <= 1.0):
            raise ModelError(f"{where}: language {lang!r} needs a finite bias and a threshold in [0, 1]")
        langs[lang] = LangModel(arrays[0], arrays[1], arrays[2], bias, threshold)
    if not set(LANGS) <= set(langs):
        raise ModelError(f"{where}: needs the languages {', '.join(LANGS)}")
    data = obj.get("data")
    embedder = data.get("model", "") if isinstance(data, dict) else ""
    return Model(tuple(feats), langs, str(embedder))


def load(path: str | Path = DEFAULT_PATH) -> Model:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"answerability model {str(path)!r} is missing; run scripts/fit_answerability.py") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"answerability model {str(path)!r} is not valid JSON: {exc}") from exc
    return parse(obj, str(path))


@cache
def shipped() -> Model:
    """The model shipped with the package, loaded once."""
    return load(DEFAULT_PATH)


# ---------------------------------------------------------------- fitting


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


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


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    pos = positive.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def article_group(article: str) -> int:
    """The cross-validation group of an article (the same for every row of it)."""
    return int(hashlib.sha1(article.encode("utf-8")).hexdigest(), 16) % CV_GROUPS


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float) -> np.ndarray:
    """Probabilities of each row from a model fitted without its article group."""
    out = np.zeros(len(y))
    for g in np.unique(groups):
        test = groups == g
        out[test] = predict(fit_lang(x[~test], y[~test], l2), x[test])
    return out


def rates(p: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float]:
    """Abstention recall (share of unanswerable below the threshold) and false abstention."""
    low = p < threshold
    ans = answerable.astype(bool)
    return {
        "recall": float(low[~ans].mean()) if (~ans).any() else float("nan"),
        "false_abstention": float(low[ans].mean()) if ans.any() else float("nan"),
        "auc": auc(p, ans),
    }


def fit(meta: dict[str, Any], rows: Sequence[dict[str, Any]], l2: float = 1.0, target: float = 0.05) -> dict[str, Any]:
    """The JSON object of a model fitted on the ``fit`` rows and evaluated on the ``heldout`` rows."""
    if list(meta.get("features", [])) != list(NAMES):
        raise ModelError("the rows were built with another feature list; rebuild them")
    out: dict[str, Any] = {"features": list(NAMES), "languages": {}, "evaluation": {}}
    for lang in LANGS:
        fit_rows = [r for r in rows if r["lang"] == lang and r["split"] == "fit"]
        held = [r for r in rows if r["lang"] == lang and r["split"] == "heldout"]
        if not fit_rows or not {r["answerable"] for r in fit_rows} == {True, False}:
            raise ModelError(f"{lang}: the fit rows need answerable and unanswerable questions")
        x = np.asarray([r["features"] for r in fit_rows], dtype=np.float64)
        y = np.asarray([r["answerable"] for r in fit_rows], dtype=np.float64)
        oof = out_of_fold(x, y, np.asarray([article_group(r["article"]) for r in fit_rows]), l2)
        model = fit_lang(x, y, l2)
        t = threshold_for(oof[y == 1], target)
        out["languages"][lang] = {
            "mean": _r(model.mean),
            "scale": _r(model.scale),
            "weights": _r(model.weights),
            "bias": round(model.bias, DIGITS),
            "threshold": round(t, DIGITS),
        }
        fit_rates = _rd(rates(oof, y, t))
        ev: dict[str, Any] = {"fit_oof": fit_rates, "fit_rows": len(fit_rows), "heldout_rows": len(held)}
        if held:
            xh = np.asarray([r["features"] for r in held], dtype=np.float64)
            yh = np.asarray([r["answerable"] for r in held], dtype=np.float64)
            ph = predict(model, xh)
            held_rates = _rd(rates(ph, yh, t))
            ev["heldout"] = held_rates
            # for comparison only: the threshold that would give 5% false abstention on the held-out articles
            ev["heldout_at_5pct"] = _rd(rates(ph, yh, threshold_for(ph[yh == 1], 0.05)))
            ev["drift"] = round(held_rates["false_abstention"] - fit_rates["false_abstention"], 4)
        out["evaluation"][lang] = ev
    out["data"] = {
        "files": meta.get("files", {}),
        "built": meta.get("built", ""),
        "model": meta.get("model", ""),
        "folds": meta.get("folds", []),
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


def write(obj: dict[str, Any], path: str | Path = DEFAULT_PATH) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
