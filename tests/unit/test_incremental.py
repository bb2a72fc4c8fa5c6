"""The library grows and shrinks: add, remove and change documents, embedding only what changed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant
from assistant.answer.background import BACKGROUND
from assistant.config import ChunkingParams
from assistant.embed import HashingEmbedder
from assistant.errors import CorpusError, IndexStoreError, InputError
from assistant.index.layout import current_folder
from assistant.index.store import expected_manifest, load
from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.ingest.corpus import MAX_BYTES, Corpus, load_corpus
from assistant.types import Document
from tests.support.reliability import ARTICLE, FAKE, PYTHON, ROOT, make_corpus, run_cli

QUESTIONS = ("卡奥斯 D3OS 排产引擎", "What is COSMO-GPT used for?", "青岛 人工智能 新增 企业")


class CountingEmbedder(HashingEmbedder):
    """The fake embedder, counting every text it embeds."""

    def __init__(self) -> None:
        super().__init__(64)
        self.texts = 0

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        self.texts += len(texts)
        return super().embed_batch(texts, kind)


def new_article(folder: Path, name: str, seed: int) -> Path:
    """A distinct article: the sample's paragraphs in another order, with its own first line."""
    paragraphs = ARTICLE.read_text(encoding="utf-8").split("\n")
    random.Random(seed).shuffle(paragraphs)
    path = folder / name
    path.write_text(f"新文章 {seed}：海尔卡奥斯发布新平台。\n" + "\n".join(paragraphs), encoding="utf-8")
    return path


def units(*paths: Path) -> int:
    """How many texts documents cost to embed: their distinct chunk and sentence texts (each embedded once)."""
    texts = set()
    for path in paths:
        doc = Document(path.name, path.read_text(encoding="utf-8"))
        spans = chunk_document(doc, ChunkingParams()) + split_sentences(doc, ChunkingParams().max_sentence)
        texts |= {doc.text[s.start : s.end] for s in spans}
    return len(texts)


def assert_same_as_full_rebuild(bot: Assistant, tmp_path: Path) -> None:
    full = Assistant.open(bot.corpus.folder, tmp_path / "full-index", HashingEmbedder(64), progress=False)
    assert full.rebuilt
    for name in ("chunks", "sentences", "chunk_ids", "background"):
        assert np.array_equal(getattr(bot.index, name), getattr(full.index, name)), name
    assert np.array_equal(np.asarray(bot.index.sentence_vectors), np.asarray(full.index.sentence_vectors))
    assert bot.index.sentence_terms == full.index.sentence_terms and bot.index.bilingual == full.index.bilingual
    for q in QUESTIONS:
        assert bot.retrieve(q, k=10) == full.retrieve(q, k=10), q
        assert bot.ask(q) == full.ask(q), q


@pytest.fixture
def library(tmp_path: Path) -> tuple[Assistant, CountingEmbedder]:
    corpus = make_corpus(tmp_path / "corpus", copies=3)
    model = CountingEmbedder()
    bot = Assistant.open(corpus, tmp_path / "index", model, progress=False)
    model.texts = 0
    return bot, model


def test_adding_embeds_only_the_new_document(library: tuple[Assistant, CountingEmbedder], tmp_path: Path) -> None:
    bot, model = library
    old_version = bot.index.folder
    source = new_article(tmp_path, "new.txt", 1)
    assert bot.add([source]) == ["new.txt"]
    assert model.texts == units(source), "only the new document's chunks and sentences are embedded"
    assert bot.index.folder != old_version and not old_version.exists(), "a new version replaced the old one"
    assert (bot.corpus.folder / "new.txt").read_bytes() == source.read_bytes()
    assert "new.txt" in bot.documents() and bot.index.manifest["embedded"]["documents"] == 1
    hits = bot.retrieve("新文章 1 海尔卡奥斯发布新平台", k=3)
    assert hits[0].doc_id == "new.txt"
    assert_same_as_full_rebuild(bot, tmp_path)


def test_removing_embeds_nothing(library: tuple[Assistant, CountingEmbedder], tmp_path: Path) -> None:
    bot, model = library
    assert bot.remove(["copy_01.txt"]) == ["copy_01.txt"]
    assert model.texts == 0
    assert "copy_01.txt" not in bot.documents() and not (bot.corpus.folder / "copy_01.txt").exists()
    assert_same_as_full_rebuild(bot, tmp_path)


def test_unchanged_corpus_embeds_nothing(library: tuple[Assistant, CountingEmbedder]) -> None:
    bot, model = library
    again = Assistant.open(bot.corpus.folder, bot.index.folder.parent, model, progress=False)
    assert not again.rebuilt and model.texts == 0 and again.index.folder == bot.index.folder


def test_changed_document_is_the_only_one_embedded(library: tuple[Assistant, CountingEmbedder], tmp_path: Path) -> None:
    bot, model = library
    before = {d.doc_id: d for d in bot.list_documents()}
    time.sleep(1.1)  # "indexed" has one-second resolution
    changed = new_article(bot.corpus.folder, "copy_02.txt", 7)
    again = Assistant.open(bot.corpus.folder, bot.index.folder.parent, model, progress=False)
    assert again.rebuilt and model.texts == units(changed)
    after = {d.doc_id: d for d in again.list_documents()}
    assert after["copy_01.txt"] == before["copy_01.txt"], "an unchanged document keeps its entry and time"
    assert after["copy_02.txt"].indexed != before["copy_02.txt"].indexed
    assert after["copy_02.txt"].chunks == again.index.manifest["embedded"]["chunks"]
    assert_same_as_full_rebuild(again, tmp_path)


def test_rebuild_and_another_model_embed_everything(library: tuple[Assistant, CountingEmbedder]) -> None:
    bot, model = library
    Assistant.open(bot.corpus.folder, bot.index.folder.parent, model, rebuild=True, progress=False)
    everything = model.texts
    # every distinct chunk and sentence text of the three documents, and the background sentences
    assert everything == units(*sorted(bot.corpus.folder.glob("*.txt"))) + len(BACKGROUND) > units(ARTICLE)
    other = Assistant.open(bot.corpus.folder, bot.index.folder.parent, HashingEmbedder(32), progress=False)
    assert other.rebuilt and other.index.manifest["embedded"]["documents"] == 3


def test_list_documents(library: tuple[Assistant, CountingEmbedder]) -> None:
    bot, _ = library
    docs = bot.list_documents()
    assert [d.doc_id for d in docs] == bot.documents()
    for d in docs:
        assert d.chars == len(bot.document(d.doc_id).text) and d.chunks > 0 and d.indexed[:2] == "20"
    assert sum(d.chunks for d in docs) == len(bot.index.chunks)


def test_adding_a_news_dump_returns_its_articles(library: tuple[Assistant, CountingEmbedder], tmp_path: Path) -> None:
    bot, _ = library
    dump = tmp_path / "dump.jsonl"
    rows = [{"title": f"标题{i}", "text": f"第{i}篇：卡奥斯平台服务了{i}万家企业。"} for i in range(3)]
    dump.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert bot.add([dump]) == ["dump.jsonl#1", "dump.jsonl#2", "dump.jsonl#3"]
    assert bot.document("dump.jsonl#2").text == "标题1\n\n第1篇：卡奥斯平台服务了1万家企业。"
    with pytest.raises(InputError, match="remove the whole file"):
        bot.remove(["dump.jsonl#2"])
    assert bot.remove(["dump.jsonl"]) == ["dump.jsonl"] and "dump.jsonl#1" not in bot.documents()


def test_bad_additions_and_removals_are_refused(
    library: tuple[Assistant, CountingEmbedder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, model = library
    version = bot.index.folder
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="only those are indexed"):
        bot.add([tmp_path / "photo.png"])
    clash = tmp_path / "copy_01.txt"
    clash.write_text("另一篇文章。", encoding="utf-8")
    with pytest.raises(CorpusError, match="already in"):
        bot.add([clash])
    with (tmp_path / "huge.txt").open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(InputError, match="limit"):
        bot.add([tmp_path / "huge.txt"])
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="white space"):
        bot.add([tmp_path / "blank.txt"])
    with pytest.raises(InputError, match="not a file"):
        bot.add([tmp_path / "missing.txt"])
    with pytest.raises(InputError, match="unknown document"):
        bot.remove(["nope.txt"])
    with pytest.raises(InputError, match="plain file name"):
        bot.remove(["../corpus/copy_01.txt"])
    with pytest.raises(CorpusError, match="every document"):
        bot.remove(bot.documents())
    monkeypatch.setenv("ASSISTANT_READONLY", "1")
    with pytest.raises(CorpusError, match="read-only.*ASSISTANT_READONLY"):
        bot.add([new_article(tmp_path, "fine.txt", 3)])
    with pytest.raises(CorpusError, match="read-only"):
        bot.remove(["copy_01.txt"])
    assert model.texts == 0 and bot.index.folder == version and len(bot.documents()) == 3
    assert sorted(p.name for p in bot.corpus.folder.iterdir()) == ["copy_01.txt", "copy_02.txt", ARTICLE.name]


def test_cli_add_list_remove(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", copies=2)
    base = ["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--embedder", FAKE, "-q"]
    source = new_article(tmp_path, "new.txt", 5)
    added = run_cli([*base, "add", str(source)])
    assert added.returncode == 0, added.stderr
    assert b"added new.txt" in added.stdout
    listed = run_cli([*base, "list", "--json"])
    assert [d["doc_id"] for d in json.loads(listed.stdout)] == ["copy_01.txt", "new.txt", ARTICLE.name]
    removed = run_cli([*base, "remove", "new.txt"])
    assert removed.returncode == 0 and b"removed new.txt" in removed.stdout
    assert b"embedded 0 chunks" in removed.stdout
    env_before = os.environ.get("ASSISTANT_READONLY")
    os.environ["ASSISTANT_READONLY"] = "1"
    try:
        refused = run_cli([*base, "add", str(source)])
    finally:
        if env_before is None:
            del os.environ["ASSISTANT_READONLY"]
        else:
            os.environ["ASSISTANT_READONLY"] = env_before
    assert refused.returncode == 2 and refused.stderr.startswith(b"error: the document library is read-only")


CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from assistant import Assistant
from tests.support.reliability import SlowHashingEmbedder
bot = Assistant.open(sys.argv[2], sys.argv[3], SlowHashingEmbedder(64, delay=0.01), progress=False)
print("start", flush=True)
bot.add([sys.argv[4]])
print("done", bot.index.folder.name, flush=True)
"""


def loads_for(index: Path, corpus_docs: tuple[Document, ...], corpus: Path) -> bool:
    folder = current_folder(index)
    assert folder is not None
    snapshot = Corpus(folder=corpus, documents=corpus_docs)
    try:
        load(folder, expected_manifest(snapshot, HashingEmbedder(64), ChunkingParams()))
    except IndexStoreError:
        return False
    return True


def test_sigkill_during_add_leaves_a_usable_index(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", copies=2)
    index = tmp_path / "index"
    Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    rng = random.Random(20261129)
    outcomes = {"before_switch": 0, "after_switch": 0, "finished": 0}
    window = 0.0
    for run in range(6):
        source = new_article(tmp_path, f"added_{run}.txt", 100 + run)
        before_docs = load_corpus(corpus).documents
        before = (index / "CURRENT").read_text(encoding="utf-8")
        child = subprocess.Popen(
            [PYTHON, "-c", CHILD, str(ROOT), str(corpus), str(index), str(source)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "start"
        began = time.monotonic()
        if run == 0:  # one unkilled add: how long the kill window is
            out, err = child.communicate(timeout=120)
            window = time.monotonic() - began
            assert child.returncode == 0 and out.startswith("done"), err
        else:
            time.sleep(rng.uniform(0.0, window * 1.1))
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=60)
        after = (index / "CURRENT").read_text(encoding="utf-8")
        key = "finished" if child.returncode == 0 else "before_switch" if after == before else "after_switch"
        outcomes[key] += 1
        assert (index / after / "manifest.json").is_file(), f"run {run}: CURRENT names an incomplete version"
        after_docs = load_corpus(corpus).documents
        if after == before:
            assert loads_for(index, before_docs, corpus), f"run {run}: the previous version is damaged"
        else:
            assert loads_for(index, after_docs, corpus), f"run {run}: the new version is damaged"
        model = CountingEmbedder()
        bot = Assistant.open(corpus, index, model, progress=False)
        caught_up = len(after_docs) != len(before_docs) and after == before
        assert model.texts == (units(source) if caught_up else 0), f"run {run}: {outcomes}"
        assert bot.documents() == [d.doc_id for d in after_docs]
        for q in QUESTIONS[:2]:
            for c in bot.ask(q).citations:
                assert bot.document(c.doc_id).text[c.start : c.end] == c.text
    assert outcomes["before_switch"] >= 2, outcomes
    leftovers = sorted(p.name for p in index.iterdir() if p.name not in (".lock", "CURRENT"))
    assert leftovers == [bot.index.folder.name]
