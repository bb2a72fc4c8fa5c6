"""The answerer interface: turn the evidence for a question into an ``Answer`` with verified citations.

``Evidence`` is what retrieval hands over: the prepared query, the fused and re-ordered ranking, the
passages shown to the user and the pool of candidate sentences. The extractive answerer quotes from the
pool; a generating answerer (an LLM behind an OpenAI-compatible endpoint) writes from it, and its
citations must still be exact spans of the pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.retrieve.evidence import Candidate
from assistant.retrieve.retriever import Query, Scored
from assistant.types import Answer, Passage


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Everything an answerer may use for one question."""

    query: Query
    ranked: Sequence[Scored]
    passages: Sequence[Passage]
    pool: Sequence[Candidate] | None  # candidate sentences, best first; None: not computed yet
    truncated: bool = False
    history: Sequence[tuple[str, str]] = ()


class Answerer(ABC):
    """Makes an answer from evidence. Subclasses implement ``answer``."""

    name: str = "answerer"

    @abstractmethod
    def answer(self, evidence: Evidence) -> Answer:
        """The answer for ``evidence.query``; abstain (``Answer.abstained``) when the evidence does not support one."""
