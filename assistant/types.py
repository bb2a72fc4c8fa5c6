"""Small frozen records passed between the pipeline stages; every span is ``(doc_id, start, end)``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A document exactly as loaded; every offset in the system refers to ``text``."""

    doc_id: str
    text: str


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
class Citation(Span):
    """A sentence-sized span that supports part of an answer; ``label`` is its marker number."""

    label: int
    text: str
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """A short answer with ``[n]`` markers that refer to ``citations`` by label."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "truncated": self.truncated,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }
