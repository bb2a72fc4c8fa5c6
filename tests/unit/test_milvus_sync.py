"""Keeping Milvus in step with the version folder: sync by difference (upserts and deletes by stable chunk id),
one version at a time for readers, and a sync killed half-way repaired by the next `assistant index` — on Milvus
Lite and on the real server (the session's ``milvus_server``)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant
from assistant.cli import main
from assistant.config import StoreConfig
from assistant.index import remote_sync
from assistant.index.remote import live_collection, open_view
from assistant.index.remote_sync import STATE_DIR, Head
from assistant.index.remote_view import RemoteChunks
from assistant.index.store import IndexData
from assistant.index.vectors.milvus import MilvusStore, close_lite, connect
from tests.unit.test_vector_stores import MILVUS_KINDS, QUESTIONS, ROOT, _cli

PORT_TEXT = "青岛港口的自动化码头今年吞吐量增长了百分之十二,集装箱航线新增了十八条。" * 8
QUESTION = "青岛港口吞吐量增长了多少?"


def _remote(bot: Assistant) -> RemoteChunks:
    assert bot.index.remote is not None
    return bot.index.remote


def _head(remote: RemoteChunks) -> Head:
    head = Head.read(remote.store)
    assert head is not None
    return head


def _same_as_local(bot: Assistant, questions: list[str]) -> None:
    local = Assistant.open(bot.corpus.folder, bot.index.folder.parent, bot.embedder, progress=False)
    assert local.index.folder == bot.index.folder and local.index.remote is None
    for question in questions:
        assert [p.chunk_id for p in bot.retrieve(question)] == [p.chunk_id for p in local.retrieve(question)]


def _sees_exactly(view: RemoteChunks, data: IndexData, probes: np.ndarray) -> None:
    """A reader of ``data``'s version gets the same top 5 as exact search over that version's vectors."""
    vectors = data.chunk_index.vectors(0, len(data.chunks))
    assert vectors is not None
    for probe in probes:
        _, rows = view.search(probe[None, :], 5)
        want = np.argsort(-(vectors @ probe), kind="stable")[:5]
        assert rows[0].tolist() == want.tolist()


@pytest.mark.parametrize("milvus_uri", MILVUS_KINDS, indirect=True)
def test_add_and_remove_sync_by_difference(
    corpus_dir: Path, tmp_path: Path, fake, milvus_uri: str, monkeypatch, caplog
) -> None:
    bot = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False, store=StoreConfig(uri=milvus_uri))
    first, old = _remote(bot), bot.index
    head = _head(first)
    assert (head.seq, head.full, head.rows) == (1, first.store.sparse, len(old.chunks) + 1)  # BM25 rows: written whole
    written: list[int] = []
    monkeypatch.setattr(remote_sync, "on_batch", written.append)

    extra = tmp_path / "extra.txt"
    extra.write_text(PORT_TEXT, encoding="utf-8")
    with caplog.at_level("INFO", logger="assistant.index.remote"):
        assert bot.add([extra]) == ["extra.txt"]
    added = len(bot.index.chunks) - len(old.chunks)
    assert added > 0 and written == [added]  # only the new article's rows went over
    now = _remote(bot)
    assert now.collection == first.collection  # the same collection, not a copy
    head = _head(now)
    assert (head.version, head.seq, head.full) == (bot.index.folder.name, 2, False)
    assert head.rows == now.store.count() == len(bot.index.chunks) + 1
    assert not now.serves_lexical  # BM25 weights of the other rows are the old version's: scored locally
    assert "synced by difference" in caplog.text or "no sparse vectors" in caplog.text
    _same_as_local(bot, [QUESTION, *QUESTIONS[:5]])

    # a reader that opened the previous version still sees exactly it, new rows skipped even when they are nearest
    new_rows = np.flatnonzero(bot.index.chunks[:, 0] == bot.documents().index("extra.txt"))
    new_vectors = bot.index.chunk_index.vectors(int(new_rows[0]), len(new_rows))
    assert new_vectors is not None
    _sees_exactly(first, old, new_vectors[:3])
    _sees_exactly(now, bot.index, new_vectors[:3])

    written.clear()
    bot.remove(["extra.txt"])
    assert written == []  # nothing to write: the rows are deleted at the next sync, after readers moved on
    after = _remote(bot)
    head = _head(after)
    assert (head.seq, len(bot.index.chunks)) == (3, len(old.chunks))
    assert after.store.count() == head.rows == len(old.chunks) + added + 1
    _same_as_local(bot, [QUESTION, *QUESTIONS[:5]])

    second = tmp_path / "second.txt"
    second.write_text(PORT_TEXT[: len(PORT_TEXT) // 2], encoding="utf-8")
    bot.add([second])
    head = _head(_remote(bot))
    assert head.seq == 4 and _remote(bot).store.count() == head.rows == len(bot.index.chunks) + 1  # spare rows gone
    _same_as_local(bot, [QUESTION, *QUESTIONS[:3]])
    state = sorted(p.name for p in (tmp_path / "index" / STATE_DIR).iterdir())
    assert state == [f"{head.uid}-4.npz"]


CHILD = r"""
import sys, time
from assistant.index import remote_sync
def pause(rows):
    print("SYNCING", rows, flush=True)
    time.sleep(60)
remote_sync.BATCH, remote_sync.on_batch = 4, pause
from assistant import Assistant
from assistant.config import StoreConfig
Assistant.open(sys.argv[1], sys.argv[2], "hashing-64", progress=False, store=StoreConfig(uri=sys.argv[3]))
"""


@pytest.mark.parametrize(
    ("milvus_uri", "way"), [("milvus-server", "difference"), ("milvus-lite", "difference"), ("milvus-lite", "whole")],
    indirect=["milvus_uri"],
)
def test_sigkill_during_sync_keeps_readers_on_the_previous_version_and_index_repairs(
    corpus_dir: Path, tmp_path: Path, milvus_uri: str, way: str
) -> None:
    index, lite = tmp_path / "index", tmp_path / "milvus.db"
    first = Assistant.open(corpus_dir, index, "hashing-64", progress=False, store=StoreConfig(uri=milvus_uri))
    old, old_name = first.index, _remote(first).collection
    probes = old.chunk_index.vectors(0, 4)
    close_lite(lite)
    text = (corpus_dir / "qingdao_ai_plus.txt").read_text(encoding="utf-8")
    (corpus_dir / "second.txt").write_text(text[: len(text) // 2], encoding="utf-8")
    if way == "whole":
        shutil.rmtree(index / STATE_DIR)  # the writer's state is gone: the version is written whole

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(corpus_dir), str(index), milvus_uri],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("SYNCING"), child.stderr.read() if child.stderr else line
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)

    client = connect(milvus_uri)  # consistent: the head still names the previous version, whose readers see it all
    assert live_collection(client) == old_name
    head = Head.read(MilvusStore.open(client, old_name))
    assert head is not None and head.version == old.folder.name
    view = open_view(client, old)
    assert view is not None
    _sees_exactly(view, old, probes)
    if way == "difference":
        assert view.store.count() > head.rows  # rows of the killed sync are there, and skipped by readers
    close_lite(lite)

    assert main(_cli(corpus_dir, index, milvus_uri, "index")) == 0  # `assistant index` repairs
    repaired = Assistant.open(corpus_dir, index, "hashing-64", progress=False, store=StoreConfig(uri=milvus_uri))
    remote = _remote(repaired)
    head = _head(remote)
    assert head.version == repaired.index.folder.name != old.folder.name
    assert remote.store.count() == head.rows == len(repaired.index.chunks) + 1
    assert (remote.collection == old_name) == (way == "difference")
    client = connect(milvus_uri)
    assert live_collection(client) == remote.collection
    assert [c for c in client.list_collections() if c.startswith("assistant_chunks_")] == [remote.collection]
    _same_as_local(repaired, QUESTIONS[:5])
    close_lite(lite)
