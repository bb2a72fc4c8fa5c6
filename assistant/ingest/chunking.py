"""Chunks (retrieval units) and sentences (citation units), each with exact character offsets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant.config import ChunkingParams
from assistant.types import Document, Span

if TYPE_CHECKING:  # imported lazily: only index builds need the splitter (it costs ~0.8 s to import)
    from langchain_text_splitters import RecursiveCharacterTextSplitter

# Paragraphs first, then sentence ends (Chinese and Latin), then clause marks, then anything.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "!", "?", "；", ";", "，", ",", "、", " ", ""]
SENTENCE_END = re.compile(r"[。！？；;]+[”’」』）)]*|\n+|[.!?]+[”’\"')]*(?=\s|$)")
CLAUSE_END = re.compile(r"[，,、：:]")
SPACE = re.compile(r"\s+")


def _splitter(params: ChunkingParams) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",
        chunk_size=params.chunk_size,
        chunk_overlap=params.chunk_overlap,
        strip_whitespace=True,
        add_start_index=False,
    )


def chunk_document(doc: Document, params: ChunkingParams = ChunkingParams()) -> list[Span]:
    """Split with langchain-text-splitters, then locate every piece in the original text.

    Pieces come back in order, so each is searched for from just after the previous start;
    the invariant ``doc.text[c.start:c.end] == piece`` holds by construction.
    """
    chunks: list[Span] = []
    cursor = 0
    for piece in _splitter(params).split_text(doc.text):
        if not piece.strip():
            continue
        start = doc.text.find(piece, cursor)
        if start < 0:  # the splitter rewrote the text; never expected, but never trust it
            start = doc.text.find(piece)
            if start < 0:
                raise ValueError(f"chunk not found in {doc.doc_id}: {piece[:40]!r}")
        chunks.append(Span(doc.doc_id, start, start + len(piece)))
        cursor = start + 1
    return chunks


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` at clause marks (or, lacking those, at spaces).

    Pieces stay whole words: a cut only ever falls right after a clause mark or a space.
    """
    if end - start <= limit:
        return [(start, end)]
    cuts = [m.end() for m in CLAUSE_END.finditer(text, start, end)]
    if not cuts:
        cuts = [m.end() for m in SPACE.finditer(text, start, end)]
    pieces: list[tuple[int, int]] = []
    piece_start = start
    last_ok: int | None = None
    for cut in [*cuts, end]:
        if cut - piece_start > limit and last_ok is not None and last_ok > piece_start:
            pieces.append((piece_start, last_ok))
            piece_start = last_ok
        last_ok = cut
    if pieces and end - piece_start < limit // 8:  # no tiny tail: "... must not" + "run."
        piece_start = pieces.pop()[0]
    pieces.append((piece_start, end))
    return [p for p in pieces if p[1] > p[0]]


def split_sentences(doc: Document, max_len: int = ChunkingParams().max_sentence) -> list[Span]:
    """Sentence-sized spans of the whole document, trimmed of surrounding white space."""
    text = doc.text
    spans: list[Span] = []
    start = 0
    bounds = [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]
    for bound in bounds:
        s, e = _trimmed(text, start, bound)
        start = bound
        if e <= s or not any(ch.isalnum() for ch in text[s:e]):
            continue
        for ps, pe in _split_long(text, s, e, max_len):
            ps, pe = _trimmed(text, ps, pe)
            if pe > ps:
                spans.append(Span(doc.doc_id, ps, pe))
    return spans
