"""A deterministic, model-free embedder for tests and benchmarks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from assistant.embed.base import Embedder


class HashingEmbedder(Embedder):
    """Deterministic, model-free embedder over character n-grams, for tests and benchmarks."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            low = text.lower()
            grams = [low[i : i + 2] for i in range(max(len(low) - 1, 1))]
            for gram in grams:
                h = int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return out
