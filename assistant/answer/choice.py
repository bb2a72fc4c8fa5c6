"""Learned sentence choice: which candidate sentence to cite first, from its features and the reader's score.

The pool of candidate sentences comes sorted by the hand-weighted score. With the reader on
(``AnswerConfig.reader``), the best ``read`` candidates are scored by the reader
(:mod:`assistant.answer.reader`) and re-ordered by a per-language linear model over the sentence features
(:mod:`assistant.retrieve.sentences`) and three reader columns; the rest of the pool keeps its order.
The model is fitted listwise (softmax over a question's candidates) by :mod:`assistant.learn.fit_choice`
(``python -m assistant train choice``) and shipped as ``choice.json`` (feature names, standardisation,
weights, what it was fitted on); this module only loads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from assistant.errors import AssistantError
from assistant.retrieve.evidence import Candidate
from assistant.retrieve.retriever import Query, Retriever, Scored
from assistant.retrieve.sentences import NAMES, pool_features
from assistant.text.lang import language

CHOICE_FILE = Path(__file__).with_name("choice.json")
READER_COLUMNS = ("reader", "reader_gap", "reader_z")
COLUMNS = (*NAMES, *READER_COLUMNS)


def reader_columns(scores: np.ndarray) -> np.ndarray:
    """[n, 3]: the reader's logit, its gap to the best, and its standardised value among the n."""
    if len(scores) == 0:
        return np.zeros((0, len(READER_COLUMNS)))
    spread = float(scores.std()) or 1.0
    return np.stack([scores, scores - scores.max(), (scores - scores.mean()) / spread], axis=1)


class LinearChoice(NamedTuple):
    """score = ((x - mean) / scale) @ weights, over ``COLUMNS`` in order."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    def scores(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights

    def to_json(self) -> dict[str, list[float]]:
        return {k: [round(float(v), 6) for v in getattr(self, k)] for k in ("mean", "scale", "weights")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearChoice:
        parts = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        if any(p.shape != (len(COLUMNS),) for p in parts):
            raise AssistantError(
                f"choice model: expected {len(COLUMNS)} numbers per field; refit: python -m assistant train choice"
            )
        return cls(*parts)


class SentenceChoice:
    """Re-orders the head of a candidate pool by the learned model (one per question language)."""

    def __init__(self, models: dict[str, LinearChoice], reader: Any, read: int, model: str = "") -> None:
        self.models, self.reader, self.read = models, reader, read
        self.model = model  # the embedder whose scores it was fitted on; "" = any

    def fits(self, embedder: str) -> bool:
        """Whether the features it weighs are this embedder's (they hold its similarities)."""
        return not self.model or self.model == embedder

    @classmethod
    def load(cls, reader: Any, path: Path = CHOICE_FILE) -> SentenceChoice:
        if not path.is_file():
            raise AssistantError(f"No sentence-choice model at {path}; fit it with: python -m assistant train choice")
        data = json.loads(path.read_text(encoding="utf-8"))
        if list(data.get("columns", [])) != list(COLUMNS):
            raise AssistantError(f"{path} was fitted on other features; refit: python -m assistant train choice")
        models = {lang: LinearChoice.from_json(m) for lang, m in data["languages"].items()}
        return cls(models, reader, int(data["read"]), str(data.get("fitted_on", {}).get("model", "")))

    def columns(
        self, retriever: Retriever, query: Query, ranked: Sequence[Scored], pool: Sequence[Candidate]
    ) -> np.ndarray:
        """The model's input for the first ``read`` candidates: sentence features, then the reader's columns."""
        head = list(pool[: self.read])
        feats = pool_features(retriever, query, ranked, pool)[: len(head)]
        texts = [retriever.sentence_text(c.row) for c in head]
        return np.concatenate([feats, reader_columns(np.asarray(self.reader.scores(query.text, texts)))], axis=1)

    def reorder(
        self, retriever: Retriever, query: Query, ranked: Sequence[Scored], pool: Sequence[Candidate]
    ) -> list[Candidate]:
        """``pool`` with its first ``read`` candidates in the model's order (stable on ties)."""
        model = self.models.get(language(query.text))
        if model is None or len(pool) < 2:
            return list(pool)
        scores = model.scores(self.columns(retriever, query, ranked, pool))
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [pool[i] for i in order] + list(pool[self.read :])
