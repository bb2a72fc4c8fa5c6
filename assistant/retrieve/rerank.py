"""Optional second-stage reranking with a cross-encoder (sentence-transformers ``CrossEncoder``).

Off by default: no multilingual cross-encoder can be bundled here. A user who has one (a model name
already in the local cache, or a folder) passes ``Assistant.open(reranker="...")`` or ``--reranker``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from assistant.embed import load_sentence_transformers
from assistant.errors import AssistantError
from assistant.retrieve.retriever import Scored


class Reranker(ABC):
    """Scores (question, passage text) pairs; higher is more relevant."""

    name: str = "reranker"
    top_n: int = 20  # only this many best fused candidates are rescored

    @abstractmethod
    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One relevance score per text."""

    def rerank(self, question: str, ranked: list[Scored], texts: Sequence[str]) -> list[Scored]:
        """Reorder the first ``top_n`` candidates by this model's scores; the rest keep their order."""
        head = ranked[: self.top_n]
        if len(head) < 2:
            return ranked
        scores = np.asarray(self.score(question, texts[: len(head)]), dtype=np.float64).reshape(-1)
        if scores.shape != (len(head),):
            raise AssistantError(f"{self.name} returned {scores.shape[0]} scores for {len(head)} passages")
        order = np.argsort(-scores, kind="stable")
        return [head[i]._replace(score=float(scores[i])) for i in order] + ranked[self.top_n :]


class CrossEncoderReranker(Reranker):
    """Any sentence-transformers cross-encoder by name or path; torch is imported only here."""

    def __init__(self, model: str, top_n: int = 20, device: str = "cpu") -> None:
        self._model = load_sentence_transformers("CrossEncoder", model, device, "cross-encoder")
        self.name = f"cross-encoder/{model}"
        self.top_n = top_n

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.predict([(question, t) for t in texts], show_progress_bar=False))


def resolve_reranker(spec: Reranker | str | None) -> Reranker | None:
    if spec is None or isinstance(spec, Reranker):
        return spec
    if isinstance(spec, str) and spec.strip():
        return CrossEncoderReranker(spec.strip())
    raise AssistantError(f"reranker must be None, a cross-encoder name or path, or a Reranker, not {spec!r}")
