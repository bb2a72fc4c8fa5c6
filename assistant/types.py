"""Small frozen records passed between the pipeline stages; every span is ``(doc_id, start, end)``."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.text.gloss import Gloss
    from assistant.text.tokenize import Segmenter


@dataclass(frozen=True)
class Document:
    """A document exactly as loaded; every offset in the system refers to ``text``.

    ``title``, ``url`` and ``date`` are what the file said about itself (HTML metadata, a news dump's
    fields), "" when unknown; ``pages`` holds the start offset of each page (PDF), empty otherwise.
    """

    doc_id: str
    text: str
    title: str = ""
    url: str = ""
    date: str = ""
    pages: tuple[int, ...] = ()

    def page_of(self, offset: int) -> int | None:
        """The 1-based page that the character at ``offset`` is on, or None for a document without pages."""
        if not self.pages:
            return None
        return max(bisect_right(self.pages, offset), 1)


@dataclass(frozen=True)
class Span:
    """A character range ``[start, end)`` of one document."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Passage(Span):
    """A retrieved chunk: its span of the document, its text and its fused score."""

    text: str
    score: float
    chunk_id: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Match(Span):
    """Why a sentence was cited: a span of it that a word of the question reached.

    ``term`` is the question's word (or "how many"/"when" for an emphasised number or date) and ``via`` how
    it got there: "same" (the same characters or Latin word), "dictionary" (CC-CEDICT), "pinyin" (a name
    spelled in pinyin) or "number" (a number or date that answers a how-many/how-much/when question).
    """

    text: str
    term: str
    via: str


@dataclass(frozen=True)
class Citation(Span):
    """A sentence-sized span that supports part of an answer; ``label`` is its marker number.

    ``matches``: the question's words found in it (``Assistant.ask`` fills them); ``gloss()``: its words with
    pinyin and English.
    """

    label: int
    text: str
    score: float = 0.0
    matches: tuple[Match, ...] = ()

    def gloss(self, segmenter: Segmenter | None = None) -> list[Gloss]:
        """The sentence's words as exact sub-spans of the document, with pinyin and English (CC-CEDICT).

        Words are cut by jieba: with ``segmenter`` (``Assistant.gloss`` passes the index's corpus dictionary),
        else with jieba's full dictionary (loaded once, about a second). Cached per sentence text.
        """
        from assistant.text.gloss import gloss_words

        return gloss_words(self.doc_id, self.start, self.text, segmenter)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["matches"] = list(out["matches"])  # as JSON reads it back
        return out


@dataclass(frozen=True)
class Answer:
    """A short answer with ``[n]`` markers that refer to ``citations`` by label."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    truncated: bool = False
    answerer: str = "extractive"  # who wrote ``text``: "extractive" or "llm"
    model: str | None = None  # the language model asked, when one is configured (also when it failed)
    fallback: str | None = None  # why the language model's answer was not used (e.g. "timeout"), else None
    flags: tuple[str, ...] = ()  # verification notes, e.g. "invalid_marker:7", "renumbered", "model_declined"
    unsupported: tuple[str, ...] = ()  # generated sentences that carry no valid citation marker
    confidence: float | None = None  # answerability model: probability that the documents answer it (0..1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "truncated": self.truncated,
            "answerer": self.answerer,
            "model": self.model,
            "fallback": self.fallback,
            "flags": list(self.flags),
            "unsupported": list(self.unsupported),
            "confidence": self.confidence,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }
