"""Scores of a confidence against gold labels: ranking quality (AUC) and calibration (ECE)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

ECE_BINS = 10


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` rows (ties share ranks); NaN for one class."""
    pos = np.asarray(positive).astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: over ``bins`` equal-width confidence bins, the row-weighted mean of
    |mean confidence - share correct|; NaN without rows."""
    p = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(correct, dtype=np.float64)
    if not len(p):
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(float(p[sel].mean()) - float(y[sel].mean()))
    return total / len(p)
