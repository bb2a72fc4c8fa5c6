"""The systems an evaluation compares over one loaded index: the shipped pipeline and two baselines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.embed import Embedder


class MemoEmbedder(Embedder):
    """Reuses query vectors across the baselines (same model, same texts): halves their cost, not timed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.inner.embed_batch(texts, kind)

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self.cache:
            self.cache[text] = self.inner.embed_query(text)
        return self.cache[text].copy()


def systems(bot: Any, baselines: bool) -> dict[str, Any]:
    """The shipped pipeline, plus lexical-only and dense-only retrieval over the same loaded index."""
    out = {"pipeline": bot}
    if baselines:
        memo = MemoEmbedder(bot.embedder)
        for mode in ("lexical", "dense"):
            cfg = bot.retriever.config._replace(mode=mode)
            answer = bot.answer_config._replace(w_evidence=0.0, reader=False)  # the channel's own order
            out[mode] = bot.variant(embedder=memo, retrieval=cfg, answer=answer)
    return out
