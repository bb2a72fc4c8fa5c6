"""Shared helpers for the reliability and security tests, and the child processes they start.

Run as a script it is a child process: ``python tests/support/reliability.py build CORPUS INDEX`` builds an
index with the fake embedder and prints markers, so that a test can kill it or race two of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "corpus" / "qingdao_ai_plus.txt"
PYTHON = sys.executable
FAKE = "hashing-64"  # the CLI spelling of HashingEmbedder(64)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.embed import HashingEmbedder  # noqa: E402


def make_corpus(folder: Path, copies: int = 1) -> Path:
    """The article, plus ``copies - 1`` variants of it with a distinct first line (distinct ids and texts)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    text = ARTICLE.read_text(encoding="utf-8")
    for i in range(1, copies):
        (folder / f"copy_{i:02d}.txt").write_text(f"副本 {i}\n{text}", encoding="utf-8")
    return folder


def rehash(version: Path) -> None:
    """Make the manifest agree with whatever is on disk now (simulates a manifest that lies)."""
    path = version / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for rel in manifest["files"]:
        manifest["files"][rel] = hashlib.sha256((version / rel).read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest), encoding="utf-8")


def edit_manifest(version: Path, **changes: object) -> None:
    path = version / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def run_cli(args: Sequence[str | bytes], timeout: float = 120.0) -> subprocess.CompletedProcess[bytes]:
    """``python -m assistant ARGS`` from the repository root; output kept as bytes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [PYTHON, "-m", "assistant", *args], cwd=ROOT, capture_output=True, timeout=timeout, env=env, check=False
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


class SlowHashingEmbedder(HashingEmbedder):
    """The fake embedder, slowed down, logging when each batch runs: shows whether two builds interleave."""

    def __init__(self, dim: int = 64, delay: float = 0.05) -> None:
        super().__init__(dim)
        self.delay = delay
        self.calls: list[tuple[float, float]] = []

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        start = time.time()
        time.sleep(self.delay)
        out = super().embed_batch(texts, kind)
        self.calls.append((start, time.time()))
        return out


# The chat app is started by the UI tests' helper, so that one app (and one index build) serves both.
from tests.support.app import AppServer, shared_app, start_app  # noqa: E402,F401


def call_raw(url: str, api: str, data: list[Any], timeout: float = 120.0) -> tuple[str, Any]:
    """Call a Gradio API endpoint over plain HTTP with ASCII-escaped JSON, so that any string can be sent
    (gradio_client cannot encode lone surrogates). Returns (event, payload): "complete" or "error"."""
    import httpx

    body = json.dumps({"data": data}, ensure_ascii=True).encode("ascii")
    headers = {"content-type": "application/json"}
    started = httpx.post(f"{url}gradio_api/call/{api}", content=body, headers=headers, timeout=timeout)
    started.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/{api}/{started.json()['event_id']}", timeout=timeout)
    event, payload = "", None
    for line in stream.text.splitlines():
        if line.startswith("event: "):
            event = line[len("event: ") :].strip()
        elif line.startswith("data: ") and event in ("complete", "error"):
            payload = json.loads(line[len("data: ") :])
            break
    return event, payload


def child_build(corpus: str, index: str) -> int:
    """Rebuild with the fake embedder, printing 'start' once imports are done (the kill window opens)."""
    import bm25s  # noqa: F401 - imported before 'start' so that the kill window covers the build itself
    import faiss  # noqa: F401
    import jieba

    import assistant.answer.extractive  # noqa: F401
    from assistant import Assistant

    jieba.initialize()
    print("start", flush=True)
    bot = Assistant.open(corpus, index, HashingEmbedder(64), rebuild=True, progress=False)
    print("done", bot.index.folder.name, flush=True)
    return 0


def child_race(corpus: str, index: str, rebuild: str) -> int:
    """Open (or rebuild) with the slow fake embedder; print a JSON line with the embedding interval.

    Prints "ready" once imported and waits for a line on stdin, so that the parent can start both at once."""
    import assistant.answer.extractive  # noqa: F401 - the heavy imports happen before "ready"
    from assistant import Assistant

    model = SlowHashingEmbedder(64)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.time()
    bot = Assistant.open(corpus, index, model, rebuild=rebuild == "1", progress=False)
    t1 = time.time()
    calls = list(model.calls)  # the embedding done while opening, not the query below
    hits = bot.retrieve("卡奥斯 D3OS", k=3)
    doc = bot.document(hits[0].doc_id)
    record = {
        "pid": os.getpid(),
        "opened": [t0, t1],
        "embed": [min(c[0] for c in calls), max(c[1] for c in calls)] if calls else None,
        "batches": len(calls),
        "rebuilt": bot.rebuilt,
        "version": bot.index.folder.name,
        "offsets_ok": all(doc.text[h.start : h.end] == h.text for h in hits if h.doc_id == doc.doc_id),
    }
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    commands = {"build": child_build, "race": child_race}
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]))
