from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.config import ChunkingParams
from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.types import Document
from tests.conftest import ARTICLE

TEXT = ARTICLE.read_text(encoding="utf-8")


def test_corpus_copy_is_verbatim() -> None:
    seed = ARTICLE.parent.parent.parent / "shared" / "seeds" / "000_870597db7e969ac7.txt"
    if seed.exists():  # beside a CI checkout; the copy in corpus/ must be byte-identical
        assert seed.read_bytes() == ARTICLE.read_bytes()
    assert "D3OS排产引擎" in TEXT


def test_chunk_offsets_are_exact() -> None:
    doc = Document("a.txt", TEXT)
    chunks = chunk_document(doc)
    assert len(chunks) > 5
    for c in chunks:
        piece = doc.text[c.start : c.end]
        assert piece.strip() == piece and piece
        assert len(piece) <= ChunkingParams().chunk_size
    # chunks cover the whole text apart from white space between them
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(TEXT[i].isspace() for i in range(len(TEXT)) if i not in covered)


def test_sentences_are_sentence_sized_and_exact() -> None:
    doc = Document("a.txt", TEXT)
    sents = split_sentences(doc)
    texts = [TEXT[s.start : s.end] for s in sents]
    assert "2023年2月,这个投资3.9亿元的“发电厂”正式上线,首期建设100P算力。" in texts
    assert max(len(t) for t in texts) <= ChunkingParams().max_sentence
    assert all(t == t.strip() and t for t in texts)
    # ASCII commas inside Chinese sentences do not end a sentence
    assert any(t.startswith("作为上海数据交易所数商之一,卡奥斯将D3OS") for t in texts)


def test_page_break_fragment_is_its_own_span() -> None:
    doc = Document("a.txt", TEXT)
    texts = [TEXT[s.start : s.end] for s in split_sentences(doc)]
    assert "有了AI加持,电视不再只是" in texts
    assert "“看电视”的功能,正在“转型”为家庭助理。" in texts


def test_english_sentences_split_on_periods() -> None:
    doc = Document("e.md", "First point here. Second one follows! And a third?\nLast line")
    texts = [doc.text[s.start : s.end] for s in split_sentences(doc)]
    assert texts == ["First point here.", "Second one follows!", "And a third?", "Last line"]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=600))
def test_offsets_hold_for_any_text(text: str) -> None:
    doc = Document("x.txt", text)
    for c in chunk_document(doc, ChunkingParams(chunk_size=50, chunk_overlap=10, max_sentence=30)):
        assert 0 <= c.start < c.end <= len(text)
    for s in split_sentences(doc, 30):
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start : s.end].strip() == text[s.start : s.end]


def test_long_sentences_are_cut_only_after_clause_marks_or_spaces() -> None:
    text = (
        "The Harbor Lantern robot is a harbour inspection robot, and its test log contains "
        "<script>window.__pwned=1</script> as plain text. " + "word " * 60 + "end."
    )
    doc = Document("e.txt", text)
    sents = split_sentences(doc, 60)
    for s in sents:
        piece = text[s.start : s.end]
        assert s.start == 0 or text[s.start - 1] in " ,"
        assert s.end == len(text) or text[s.end] in " ," or text[s.end - 1] in ",."
        assert len(piece) >= 8
    assert any("<script>window.__pwned=1</script>" in text[s.start : s.end] for s in sents)
