"""Variants measured, not shipped (docs/abstention.md): ``python -m assistant.learn.experiment``.

Answerability on the leave-out rows (``<index>/learn/answerability/rows.jsonl``): per language and variant,
fitted on the ``fit`` rows with the threshold chosen out of fold (3% of answerable), reported on each set's
``heldout`` rows: recall, false abstention, AUC, ECE, and the recall at 5% false abstention with a threshold
chosen on the held-out rows themselves (an oracle, for comparison only). Variants: the L2 penalty; fitting on
the XQuAD rows alone (without CMRC); a gradient-boosted model (scikit-learn, if installed) instead of the
logistic regression. Prints Markdown; writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.answerability import LANGS
from assistant.learn.choice_rows import read_rows
from assistant.learn.fit_answerability import article_group, fit_lang, predict, rates, threshold_for

Row = dict[str, Any]
Fitter = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]
TARGET = 0.03


def logistic(l2: float) -> Fitter:
    def fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        model = fit_lang(x, y, l2)
        return lambda z: predict(model, z)

    return fit


def boosted(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

    model = HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=200, random_state=0)
    model.fit(x, y)
    return lambda z: np.asarray(model.predict_proba(z)[:, 1])


def evaluate(fit_rows: Sequence[Row], held: dict[str, list[Row]], fitter: Fitter) -> dict[str, dict[str, float]]:
    x = np.asarray([r["features"] for r in fit_rows], dtype=np.float64)
    y = np.asarray([r["answerable"] for r in fit_rows], dtype=np.float64)
    groups = np.asarray([article_group(r["article"]) for r in fit_rows])
    oof = np.zeros(len(y))
    for g in np.unique(groups):
        test = groups == g
        oof[test] = fitter(x[~test], y[~test])(x[test])
    t = threshold_for(oof[y == 1], TARGET)
    model = fitter(x, y)
    out = {}
    for name, rows in held.items():
        xh = np.asarray([r["features"] for r in rows], dtype=np.float64)
        yh = np.asarray([r["answerable"] for r in rows], dtype=np.float64)
        p = model(xh)
        out[name] = rates(p, yh, t) | {"oracle5": rates(p, yh, threshold_for(p[yh == 1], 0.05))["recall"]}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=str(Path("index") / "learn" / "answerability" / "rows.jsonl"))
    parser.add_argument("--boosted", action="store_true", help="also a gradient-boosted model (slow)")
    args = parser.parse_args(argv)
    _, rows = read_rows(Path(args.rows))
    variants: dict[str, tuple[Callable[[Row], bool], Fitter]] = {
        "logistic l2=1 (shipped)": (lambda r: True, logistic(1.0)),
        "logistic l2=0.3": (lambda r: True, logistic(0.3)),
        "logistic l2=10": (lambda r: True, logistic(10.0)),
        "logistic, XQuAD rows only": (lambda r: r["set"] == "xquad-dev", logistic(1.0)),
        "logistic, without CMRC training passages": (lambda r: r["set"] != "cmrc-train", logistic(1.0)),
        "logistic, without Qingdao dev": (lambda r: r["set"] != "qingdao", logistic(1.0)),
    }
    if args.boosted:
        variants["gradient boosting"] = (lambda r: True, boosted)
    print("| lang | variant | held-out set | recall | false abst. | AUC | ECE | recall at 5% (oracle) |")
    print("|---|---|---|---|---|---|---|---|")
    for lang in LANGS:
        held: dict[str, list[Row]] = {}
        for r in rows:
            if r["lang"] == lang and r["split"] == "heldout":
                held.setdefault(r["set"], []).append(r)
        for name, (keep, fitter) in variants.items():
            fit_rows = [r for r in rows if r["lang"] == lang and r["split"] == "fit" and keep(r)]
            for held_name, m in evaluate(fit_rows, held, fitter).items():
                print(
                    f"| {lang} | {name} | {held_name} | {m['recall']:.3f} | {m['false_abstention']:.3f} | "
                    f"{m['auc']:.3f} | {m['ece']:.3f} | {m['oracle5']:.3f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
