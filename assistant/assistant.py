"""The public entry point: open the corpus and index, retrieve passages, answer with citations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .answer import AnswerConfig, Candidate, compose, rerank_by_evidence
from .chunking import ChunkingParams
from .corpus import Corpus, Skipped, check_doc_id, load_corpus
from .embedding import Embedder, clean_text, resolve_embedder
from .records import Answer, AssistantError, Document, InputError, Passage
from .rerank import Reranker, resolve_reranker
from .retrieval import Query, RetrievalConfig, Retriever, Scored
from .store import IndexData, open_or_build

MAX_QUESTION_CHARS = 1000  # the model reads ~512 tokens; longer questions are cut and flagged
MAX_K = 100


class Assistant:
    """Question answering over a folder of documents, with sentence-level citations."""

    def __init__(
        self,
        corpus: Corpus,
        data: IndexData,
        embedder: Embedder,
        retrieval: RetrievalConfig,
        answer: AnswerConfig,
        rebuilt: bool,
        reranker: Reranker | None = None,
    ) -> None:
        self.corpus = corpus
        self.index = data
        self.embedder = embedder
        self.answer_config = answer
        self.rebuilt = rebuilt
        self.retriever = Retriever(data, corpus.documents, embedder, retrieval)
        self.reranker = reranker

    @classmethod
    def open(
        cls,
        corpus_dir: str | os.PathLike[str] = "corpus",
        index_dir: str | os.PathLike[str] = "index",
        embedder: Embedder | str | None = None,
        *,
        rebuild: bool = False,
        chunking: ChunkingParams = ChunkingParams(),
        retrieval: RetrievalConfig = RetrievalConfig(),
        answer: AnswerConfig = AnswerConfig(),
        progress: bool = True,
        reranker: Reranker | str | None = None,
    ) -> Assistant:
        """Load the corpus, then open the index, building it when missing or out of date."""
        corpus = load_corpus(corpus_dir)
        model = resolve_embedder(embedder)
        data, rebuilt = open_or_build(corpus, model, chunking, Path(index_dir), rebuild, progress)
        return cls(corpus, data, model, retrieval, answer, rebuilt, resolve_reranker(reranker))

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """Corpus files that were not indexed, each with the reason."""
        return self.corpus.skipped

    def documents(self) -> list[str]:
        return [d.doc_id for d in self.corpus.documents]

    def document(self, doc_id: str) -> Document:
        return self.corpus.get(check_doc_id(doc_id))

    def retrieve(self, question: str, k: int = 5) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first."""
        text, _ = check_question(question)
        k = check_k(k)
        query = self.retriever.prepare(text)
        ranked, _ = self._ranked(query)
        return [self.retriever.passage(s) for s in ranked[:k]]

    def ask(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int = 5,
    ) -> Answer:
        """A short answer built from cited sentences, or an abstention when nothing supports one."""
        text, truncated = check_question(question)
        k = check_k(k)
        turns = _check_history(history)
        query = self.retriever.prepare(text, turns)
        ranked, pool = self._ranked(query)
        passages = [self.retriever.passage(s) for s in ranked[:k]]
        return compose(self.retriever, query, ranked, passages, self.answer_config, truncated, pool)

    def _ranked(self, query: Query) -> tuple[list[Scored], list[Candidate] | None]:
        """Fused ranking, its head re-ordered by answer evidence, then the optional cross-encoder."""
        ranked, pool = rerank_by_evidence(self.retriever, query, self.retriever.score(query), self.answer_config)
        if self.reranker is None:
            return ranked, pool
        texts = [self.retriever.passage(s).text for s in ranked[: self.reranker.top_n]]
        return self.reranker.rerank(query.text, ranked, texts), None  # its head differs: pool anew


def check_question(question: object) -> tuple[str, bool]:
    if not isinstance(question, str):
        raise InputError(f"The question must be text, not {type(question).__name__}.")
    text = clean_text(question).strip()
    if not text:
        raise InputError('The question is empty; type a question such as "What is Kaos\'s D3OS?".')
    if not any(ch.isalnum() for ch in text):
        raise InputError("The question has no letters or digits; ask it in words.")
    if len(text) > MAX_QUESTION_CHARS:
        return text[:MAX_QUESTION_CHARS], True
    return text, False


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InputError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}.")
    if k < 1 or k > MAX_K:
        raise InputError(f"k must be from 1 to {MAX_K}; got {k}.")
    return k


def _check_history(history: object) -> list[tuple[str, str]]:
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise InputError("history must be a list of (question, answer) pairs.")
    turns = []
    for item in history:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InputError("each history item must be a (question, answer) pair.")
        q, a = item
        if not isinstance(q, str) or not isinstance(a, (str, type(None))):
            raise InputError("history questions and answers must be text.")
        q = clean_text(q).strip()[:MAX_QUESTION_CHARS]
        if q:
            turns.append((q, a or ""))
    return turns


__all__ = ["Assistant", "AssistantError"]
