"""The relevance test: a span holds a gold answer when it overlaps at least half of one gold span."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.types import Span


def covers(doc_id: str, start: int, end: int, gold: Span) -> bool:
    """True when [start, end) of ``doc_id`` overlaps at least half of the gold span."""
    overlap = min(end, gold.end) - max(start, gold.start)
    return doc_id == gold.doc_id and overlap > 0 and 2 * overlap >= gold.end - gold.start


def relevant(doc_id: str, start: int, end: int, gold: Sequence[Span]) -> bool:
    """True when the span holds (half of) any of the gold spans."""
    return any(covers(doc_id, start, end, g) for g in gold)
