"""What every integration returns: passages with the cited sentence spans that fall inside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.api import Assistant
from assistant.types import Citation, Passage


@dataclass(frozen=True)
class CitedPassage:
    """A retrieved passage and the answer's citations that lie wholly inside it."""

    passage: Passage
    citations: tuple[Citation, ...]

    def metadata(self) -> dict[str, Any]:
        """Flat, JSON-friendly metadata: the passage span, its score and the cited spans."""
        p = self.passage
        return {
            "doc_id": p.doc_id,
            "start": p.start,
            "end": p.end,
            "score": float(p.score),
            "chunk_id": p.chunk_id,
            "citations": [span_dict(c) for c in self.citations],
        }


def span_dict(citation: Citation) -> dict[str, Any]:
    return {"doc_id": citation.doc_id, "start": citation.start, "end": citation.end, "text": citation.text}


def inside(citation: Citation, passage: Passage) -> bool:
    return citation.doc_id == passage.doc_id and passage.start <= citation.start and citation.end <= passage.end


def cited_passages(
    bot: Assistant, question: str, k: int = 5, doc_ids: Sequence[str] | None = None, cite: bool = True
) -> list[CitedPassage]:
    """The ``k`` best passages; with ``cite`` each carries the answer's citations that fall inside it."""
    if not cite:
        return [CitedPassage(p, ()) for p in bot.retrieve(question, k=k, doc_ids=doc_ids)]
    answer = bot.ask(question, k=k, doc_ids=doc_ids)
    return [CitedPassage(p, tuple(c for c in answer.citations if inside(c, p))) for p in answer.passages]
