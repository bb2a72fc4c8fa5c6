"""Embedders: one small interface, the bundled multilingual model by default.

Subclasses implement ``embed_batch``; the base class does batching, progress and checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from assistant.errors import AssistantError
from assistant.text.lang import clean_text


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str = "embedder"
    dim: int = 0
    batch_size: int = 32
    max_chars: int = 2000  # longer inputs are cut; the model reads fewer tokens than this anyway

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Embed one batch; ``kind`` is "query" or "passage". Returns (len(texts), dim)."""

    def embed(
        self,
        texts: Sequence[str],
        kind: str,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        check_kind(kind)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            batch = self.model_inputs(texts[lo : lo + self.batch_size])
            vecs = np.asarray(self.embed_batch(batch, kind), dtype=np.float32)
            if vecs.shape != (len(batch), self.dim):
                raise AssistantError(f"{self.name} returned shape {vecs.shape}, expected {(len(batch), self.dim)}")
            out[lo : lo + len(batch)] = vecs
            if progress is not None:
                progress(len(batch))
        return normalise(out)

    def model_inputs(self, texts: Sequence[str]) -> list[str]:
        """What the model reads: no control characters, at most ``max_chars`` characters."""
        return [clean_text(t)[: self.max_chars] for t in texts]

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text], "query")[0]

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self.embed(texts, "passage", progress)


def check_kind(kind: str) -> None:
    if kind not in ("query", "passage"):
        raise AssistantError(f"kind must be 'query' or 'passage', not {kind!r}")


def normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vecs / norms).astype(np.float32)
