"""The public entry point: open the corpus and index, retrieve passages, answer with citations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from assistant.answer.base import Answerer, Evidence
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.config import AbstentionConfig, AnswerConfig, ChunkingParams, RetrievalConfig, StoreConfig
from assistant.embed import Embedder, resolve_embedder
from assistant.errors import AssistantError, InputError
from assistant.index.builder import open_or_build
from assistant.index.store import IndexData
from assistant.ingest.corpus import Corpus, Skipped, check_doc_id, load_corpus
from assistant.retrieve.evidence import Candidate, rerank_by_evidence
from assistant.retrieve.rerank import Reranker, resolve_reranker
from assistant.retrieve.retriever import Query, Retriever, Scored
from assistant.text.lang import clean_text
from assistant.types import Answer, Document, Passage, Span

MAX_QUESTION_CHARS = 1000  # the model reads ~512 tokens; longer questions are cut and flagged
MAX_K = 100


class Assistant:
    """Question answering over a folder of documents, with sentence-level citations."""

    def __init__(
        self,
        corpus: Corpus,
        data: IndexData,
        embedder: Embedder,
        *,
        retrieval: RetrievalConfig = RetrievalConfig(),
        answer: AnswerConfig = AnswerConfig(),
        abstention: AbstentionConfig = AbstentionConfig(),
        rebuilt: bool = False,
        reranker: Reranker | None = None,
    ) -> None:
        self.corpus = corpus
        self.index = data
        self.embedder = embedder
        self.answer_config = answer
        self.abstention_config = abstention
        self.rebuilt = rebuilt
        self.retriever = Retriever(data, corpus.documents, embedder, retrieval)
        self.reranker = reranker
        self.answerer: Answerer = ExtractiveAnswerer(self.retriever, answer, abstention)

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
        abstention: AbstentionConfig = AbstentionConfig(),
        store: StoreConfig = StoreConfig(),
        progress: bool = True,
        reranker: Reranker | str | None = None,
    ) -> Assistant:
        """Load the corpus, then open the index, building it when missing or out of date."""
        corpus = load_corpus(corpus_dir)
        model = resolve_embedder(embedder)
        data, rebuilt = open_or_build(corpus, model, chunking, Path(index_dir), rebuild, progress, store)
        return cls(
            corpus,
            data,
            model,
            retrieval=retrieval,
            answer=answer,
            abstention=abstention,
            rebuilt=rebuilt,
            reranker=resolve_reranker(reranker),
        )

    def variant(
        self,
        *,
        embedder: Embedder | None = None,
        retrieval: RetrievalConfig | None = None,
        answer: AnswerConfig | None = None,
    ) -> Assistant:
        """The same loaded corpus and index with other settings (baselines, ablations); nothing is rebuilt."""
        return type(self)(
            self.corpus,
            self.index,
            embedder or self.embedder,
            retrieval=retrieval or self.retriever.config,
            answer=answer or self.answer_config,
            abstention=self.abstention_config,
            reranker=self.reranker,
        )

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """Corpus files that were not indexed, each with the reason."""
        return self.corpus.skipped

    def documents(self) -> list[str]:
        return [d.doc_id for d in self.corpus.documents]

    def document(self, doc_id: str) -> Document:
        return self.corpus.get(check_doc_id(doc_id))

    def chunk_spans(self) -> list[Span]:
        """Every indexed chunk as a span, in index order (the evaluation's relevance judgements use them)."""
        return self.retriever.chunk_spans()

    def retrieve(self, question: str, k: int = 5, doc_ids: Sequence[str] | None = None) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first; ``doc_ids`` limits the search to those documents."""
        text, _ = check_question(question)
        k = check_k(k)
        query = self.retriever.prepare(text, doc_ids=self._check_doc_ids(doc_ids))
        ranked, _ = self._ranked(query)
        return [self.retriever.passage(s) for s in ranked[:k]]

    def ask(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
    ) -> Answer:
        """A short answer built from cited sentences, or an abstention when nothing supports one."""
        return self.answerer.answer(self.evidence(question, history, k, doc_ids))

    def evidence(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
    ) -> Evidence:
        """The checked question, its ranking and the candidate sentences that an answerer works from."""
        text, truncated = check_question(question)
        k = check_k(k)
        turns = _check_history(history)
        query = self.retriever.prepare(text, turns, self._check_doc_ids(doc_ids))
        ranked, pool = self._ranked(query)
        passages = [self.retriever.passage(s) for s in ranked[:k]]
        return Evidence(query=query, ranked=ranked, passages=passages, pool=pool, truncated=truncated, history=turns)

    def _check_doc_ids(self, doc_ids: object) -> list[str] | None:
        """None, or a non-empty list of known document ids (each checked like ``document``)."""
        if doc_ids is None:
            return None
        if isinstance(doc_ids, str) or not isinstance(doc_ids, (list, tuple, set, frozenset)) or not doc_ids:
            raise InputError(
                "doc_ids must be None or a non-empty list of document ids, such as ['qingdao_ai_plus.txt']."
            )
        return [self.document(d).doc_id for d in doc_ids]

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
