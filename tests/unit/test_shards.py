"""The per-document part of a build (index/shards.py), the CC-CEDICT cache, and the Ray runner's errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.cli import main
from assistant.config import ChunkingParams
from assistant.embed import HashingEmbedder
from assistant.errors import IndexStoreError
from assistant.index.shards import document_rows, plan_shards
from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.text import cedict_store
from assistant.text.tokenize import tokenize
from assistant.types import Document
from tests.conftest import ARTICLE, ROOT


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.seen: list[str] = []

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        self.seen += list(texts)
        return super().embed_batch(texts, kind)


def documents() -> list[Document]:
    text = ARTICLE.read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n") if p.strip()]
    # the third document repeats the first's paragraphs: its texts are embedded once
    return [
        Document("a.txt", "\n".join(paragraphs[:10])),
        Document("b.txt", "\n".join(paragraphs[10:])),
        Document("c.txt", "短段落。\n" + "\n".join(paragraphs[:10])),
    ]


def test_plan_shards_covers_every_document_in_order() -> None:
    docs = [Document(f"{i}.txt", "字" * (10 + 37 * (i % 5))) for i in range(23)]
    for n in (1, 2, 3, 8, 23, 50):
        shards = plan_shards(docs, n)
        assert [i for shard in shards for i in shard] == list(range(len(docs)))
        assert 1 <= len(shards) <= min(n, len(docs)) and all(shards)
    sizes = [sum(len(docs[i].text) for i in shard) for shard in plan_shards(docs, 4)]
    assert max(sizes) < 2 * sum(sizes) / len(sizes)  # about equal text each
    assert plan_shards([], 4) == []


def test_document_rows_are_what_the_builder_stores() -> None:
    docs, params = documents(), ChunkingParams()
    model = CountingEmbedder()
    rows = document_rows(docs, model, params)
    assert len(rows) == len(docs)
    reference = HashingEmbedder(64)
    for doc, r in zip(docs, rows, strict=True):
        chunks, sentences = chunk_document(doc, params), split_sentences(doc, params.max_sentence)
        assert r.chunks.tolist() == [[c.start, c.end] for c in chunks]
        assert r.sentences.tolist() == [[s.start, s.end] for s in sentences]
        c_texts = [doc.text[c.start : c.end] for c in chunks]
        s_texts = [doc.text[s.start : s.end] for s in sentences]
        assert r.chunk_terms == [tokenize(t) for t in c_texts]
        assert r.sentence_terms == [" ".join(tokenize(t)) for t in s_texts]
        assert r.chunk_vectors.dtype == np.float32 and r.sentence_vectors.dtype == np.float16
        assert np.array_equal(r.chunk_vectors, reference.embed_passages(c_texts))
        assert np.array_equal(r.sentence_vectors, reference.embed_passages(s_texts).astype(np.float16))
    # every distinct text once: the repeated paragraphs and chunks that are whole sentences are not embedded twice
    assert len(model.seen) == len(set(model.seen))
    everything = {d.text[s.start : s.end] for d in docs for s in chunk_document(d) + split_sentences(d)}
    assert set(model.seen) == everything


def test_cedict_store_gives_the_entries_of_the_whole_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "cedict.txt.gz"
    source.write_bytes(b"any bytes: the cache is keyed by their hash")
    table = (
        {"芯片": [["chip", 1]], "青岛": [["qingdao", 1]], "海": [["sea", 1]]},
        {"芯": ["xin"], "片": ["pian"], "青": ["qing"], "岛": ["dao"]},
        {"芯片": ["xinpian"], "青岛": ["qingdao"]},
    )
    calls: list[Path] = []

    def load(path: Path) -> cedict_store.Entries:
        calls.append(path)
        return table

    want = ({"芯片": [["chip", 1]]}, {"芯": ["xin"], "片": ["pian"]}, {"芯片": ["xinpian"]})
    assert cedict_store.vocabulary_entries(source, {"芯片", "没有"}, load) == want
    dbs = list((tmp_path / "cache" / "assistant").glob("cedict-*.sqlite"))
    assert len(dbs) == 1 and calls == [source]
    assert cedict_store.vocabulary_entries(source, ["芯片", "没有"], load) == want
    assert calls == [source]  # read from the SQLite file, not loaded again
    dbs[0].write_bytes(b"not a database")
    assert cedict_store.vocabulary_entries(source, ["芯片"], load) == want  # damaged: loaded and written again
    assert len(calls) == 2 and cedict_store.vocabulary_entries(source, ["芯片"], load) == want and len(calls) == 2
    assert list(dbs[0].parent.glob(".*.tmp")) == []


def test_ray_needs_its_extra(monkeypatch: pytest.MonkeyPatch, corpus_dir: Path, tmp_path: Path) -> None:
    from assistant.index.ray_build import RayRunner

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    with pytest.raises(IndexStoreError, match=r"pip install 'assistant\[ray\]'"):
        RayRunner()
    argv = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--embedder", "hashing-64", "-q"]
    assert main([*argv, "index", "--ray"]) == 2
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_default_path_imports_no_cluster_extra(corpus_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from assistant.cli import main; from assistant import Assistant; "
        f"main(['--corpus', {str(corpus_dir)!r}, '--index', {str(tmp_path / 'index')!r}, '--embedder', "
        "'hashing-64', '-q', 'index']); "
        f"Assistant.open({str(corpus_dir)!r}, {str(tmp_path / 'index')!r}, 'hashing-64', progress=False)"
        ".retrieve('青岛'); print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'pymilvus', 'milvus'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
