"""Fast tier: the whole pipeline with the deterministic fake embedder in temporary folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import Assistant, AssistantError, CorpusError, InputError
from assistant.config import StoreConfig
from assistant.embed import HashingEmbedder
from assistant.index.layout import current_folder
from assistant.text.tokenize import tokenize


def test_offset_invariant_for_passages_and_citations(fake_bot: Assistant) -> None:
    for q in ("D3OS是什么", "激光电视节能多少", "What is COSMO-GPT used for?"):
        for p in fake_bot.retrieve(q, k=10):
            assert fake_bot.document(p.doc_id).text[p.start : p.end] == p.text
        ans = fake_bot.ask(q)
        for c in ans.citations:
            assert fake_bot.document(c.doc_id).text[c.start : c.end] == c.text
            assert len(c.text) <= 120


def test_retrieve_is_ranked_and_k_limited(fake_bot: Assistant) -> None:
    hits = fake_bot.retrieve("卡奥斯 D3OS 排产引擎", k=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "D3OS" in hits[0].text


def test_latin_tokens_stay_whole() -> None:
    toks = tokenize("卡奥斯的D3OS和COSMO-GPT,首期建设100P算力")
    assert "d3os" in toks and "cosmo-gpt" in toks and "100p" in toks
    assert "卡奥斯" in toks


@pytest.mark.parametrize("question", ["", "   \n\t", "？？！！", "\x00\x01"])
def test_bad_questions_raise(fake_bot: Assistant, question: str) -> None:
    with pytest.raises(AssistantError, match="question"):
        fake_bot.ask(question)
    with pytest.raises(InputError):
        fake_bot.retrieve(question)


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", True, 10_000])
def test_bad_k_raises(fake_bot: Assistant, k: object) -> None:
    with pytest.raises(InputError, match="k must"):
        fake_bot.retrieve("D3OS", k=k)  # type: ignore[arg-type]


@pytest.mark.parametrize("doc_id", ["nope.txt", "../../etc/passwd", "", "a/b.txt"])
def test_unknown_document_raises(fake_bot: Assistant, doc_id: str) -> None:
    with pytest.raises(InputError):
        fake_bot.document(doc_id)


def test_missing_and_empty_corpus(tmp_path: Path, fake: HashingEmbedder) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        Assistant.open(tmp_path / "missing", tmp_path / "index", fake)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no usable documents"):
        Assistant.open(empty, tmp_path / "index", fake)


def test_unreadable_file_is_skipped_and_named(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> None:
    (corpus_dir / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    (corpus_dir / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    bot = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False)
    assert bot.documents() == ["qingdao_ai_plus.txt"]
    reasons = {s.name: s.reason for s in bot.skipped}
    assert "binary" in reasons["broken.txt"] and "UTF-8" in reasons["latin1.md"]


def test_only_unreadable_files_raise(tmp_path: Path, fake: HashingEmbedder) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "x.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(CorpusError, match="x.txt"):
        Assistant.open(folder, tmp_path / "index", fake)


def test_rebuild_on_corpus_change(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> None:
    index = tmp_path / "index"
    first = Assistant.open(corpus_dir, index, fake, progress=False)
    assert first.rebuilt
    again = Assistant.open(corpus_dir, index, fake, progress=False)
    assert not again.rebuilt and again.index.folder == first.index.folder
    (corpus_dir / "extra.md").write_text("海信激光电视的新品。Hisense laser TV news.", encoding="utf-8")
    changed = Assistant.open(corpus_dir, index, fake, progress=False)
    assert changed.rebuilt and "extra.md" in changed.documents()
    assert not first.index.folder.exists()  # the old version is cleaned up after the switch


def test_rebuild_on_model_change(corpus_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    Assistant.open(corpus_dir, index, HashingEmbedder(64), progress=False)
    other = Assistant.open(corpus_dir, index, HashingEmbedder(32), progress=False)
    assert other.rebuilt and other.index.manifest["dim"] == 32


def test_manifest_records_setup(fake_bot: Assistant) -> None:
    manifest = json.loads((fake_bot.index.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"] == "hashing-64" and manifest["dim"] == 64
    assert manifest["chunking"]["chunk_size"] > 0
    assert len(manifest["corpus_fingerprint"]) == 64
    assert "faiss-cpu" in manifest["versions"]
    assert all(not name.endswith((".pkl", ".pickle")) for name in manifest["files"])


def test_corrupted_index_is_rebuilt(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> None:
    index = tmp_path / "index"
    bot = Assistant.open(corpus_dir, index, fake, progress=False)
    faiss_file = bot.index.folder / "chunks.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    again = Assistant.open(corpus_dir, index, fake, progress=False)
    assert again.rebuilt
    assert again.retrieve("D3OS", k=1)[0].doc_id == "qingdao_ai_plus.txt"


def test_crash_before_switch_keeps_old_index(
    corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.index import store

    index = tmp_path / "index"
    bot = Assistant.open(corpus_dir, index, fake, progress=False)
    live = current_folder(index)
    (corpus_dir / "new.txt").write_text("新的文档内容。", encoding="utf-8")

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(store.LexicalIndex, "save", boom)
    with pytest.raises(RuntimeError):
        Assistant.open(corpus_dir, index, fake, progress=False)
    assert current_folder(index) == live and live is not None and live.exists()
    (corpus_dir / "new.txt").unlink()
    monkeypatch.undo()
    reopened = Assistant.open(corpus_dir, index, fake, progress=False)
    assert not reopened.rebuilt and reopened.index.folder == bot.index.folder


def test_history_validation(fake_bot: Assistant) -> None:
    with pytest.raises(InputError, match="history"):
        fake_bot.ask("D3OS?", history="not a list")  # type: ignore[arg-type]
    ans = fake_bot.ask("它的算力是多少？", history=[("青岛人工智能计算中心投资多少？", "3.9亿元")])
    assert isinstance(ans.text, str)


def test_long_question_is_cut_and_flagged(fake_bot: Assistant) -> None:
    ans = fake_bot.ask("D3OS " * 5000)
    assert ans.truncated and "too long" in ans.text


def test_index_type_override_rebuilds(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> None:
    index = tmp_path / "index"
    first = Assistant.open(corpus_dir, index, fake, progress=False)
    assert first.index.manifest["faiss_factory"] == "Flat" and first.index.manifest["faiss_override"] is None
    hnsw = Assistant.open(corpus_dir, index, fake, progress=False, store=StoreConfig(faiss_factory="HNSW32"))
    assert hnsw.rebuilt and hnsw.index.manifest["faiss_factory"] == "HNSW32"
    assert hnsw.retrieve("D3OS", k=1)[0].doc_id == "qingdao_ai_plus.txt"
    assert Assistant.open(corpus_dir, index, fake, progress=False).rebuilt
