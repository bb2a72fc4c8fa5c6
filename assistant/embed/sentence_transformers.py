"""Any sentence-transformers model by name or local path (the ``st`` extra; torch is imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.embed.base import Embedder
from assistant.errors import AssistantError


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by name or local path; torch is imported only here."""

    def __init__(
        self,
        model: str,
        query_prefix: str = "",
        passage_prefix: str = "",
        device: str = "cpu",
    ) -> None:
        self._model = load_sentence_transformers("SentenceTransformer", model, device, "sentence-transformers model")
        self.name = f"sentence-transformers/{model}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        prefix = self.prefixes[kind]
        return self._model.encode([prefix + t for t in texts], batch_size=len(texts), convert_to_numpy=True)


def load_sentence_transformers(kind: str, model: str, device: str, what: str) -> Any:
    """A sentence-transformers ``SentenceTransformer`` or ``CrossEncoder``; torch is imported only here."""
    try:
        import sentence_transformers
    except ImportError as exc:
        raise AssistantError(
            f"A {what} needs sentence-transformers: pip install 'assistant[st]' (with torch==2.13.0 for a CPU build)"
        ) from exc
    try:
        return getattr(sentence_transformers, kind)(model, device=device)
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes one clear error
        raise AssistantError(
            f"Could not load {what} {model!r} ({exc}); give a local path or a model name that is already downloaded."
        ) from exc
