"""The public entry point: open the corpus and index, retrieve passages, answer with citations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from assistant.answer.base import Answerer, Evidence
from assistant.answer.choice import SentenceChoice
from assistant.answer.confidence import check_min_confidence, judge
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.matches import explain
from assistant.config import (
    AbstentionConfig,
    AnswerConfig,
    ChunkingParams,
    GeneratorConfig,
    RetrievalConfig,
    StoreConfig,
)
from assistant.embed import Embedder, resolve_embedder
from assistant.errors import AssistantError, InputError
from assistant.index.builder import open_or_build
from assistant.index.remote import attach as attach_remote
from assistant.index.remote import follow as follow_remote
from assistant.index.shards import Runner
from assistant.index.store import IndexData
from assistant.ingest.corpus import Corpus, Skipped, check_doc_id, load_corpus
from assistant.library import DocumentInfo, check_writable, copy_in, delete, describe, file_of
from assistant.retrieve.evidence import Candidate, rerank_by_evidence
from assistant.retrieve.rerank import Reranker, resolve_reranker
from assistant.retrieve.retriever import Query, Retriever, Scored
from assistant.text.gloss import Gloss
from assistant.text.lang import clean_text
from assistant.types import Answer, Citation, Document, Passage, Span

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
        generator: GeneratorConfig | None = None,
    ) -> None:
        self.corpus = corpus
        self.index = data
        self.embedder = embedder
        self.answer_config = answer
        self.abstention_config = abstention
        self.rebuilt = rebuilt
        # citations are served from the texts stored with the index, which every offset refers to
        self._stored = {d.doc_id: d for d in data.documents} or {d.doc_id: d for d in corpus.documents}
        self.retriever = Retriever(data, list(self._stored.values()), embedder, retrieval)
        self.reranker = reranker
        self.choice: SentenceChoice | None = None
        if answer.reader:  # the trained reader, loaded by the first question that reads (onnxruntime)
            from assistant.answer.reader import LazyReader

            choice = SentenceChoice.load(LazyReader())
            # fitted on the bundled model's scores: with another embedder the hand-weighted order stays
            self.choice = choice if choice.fits(embedder.name) else None
        extractive = ExtractiveAnswerer(self.retriever, answer, abstention)
        self.answerer: Answerer = extractive
        self.generator = generator
        if generator is not None:  # optional LLM (docs/generation.md); openai is imported on its first call
            from assistant.answer.llm import LLMAnswerer

            self.answerer = LLMAnswerer(self.retriever, generator, extractive)

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
        generator: GeneratorConfig | None = None,
        runner: Runner | None = None,
    ) -> Assistant:
        """Load the corpus, then open the index, building it when missing or out of date (the per-document
        work of a build on ``runner``: this process by default, or ``index.ray_build.RayRunner``)."""
        corpus = load_corpus(corpus_dir)
        model = resolve_embedder(embedder)
        data, rebuilt = open_or_build(corpus, model, chunking, Path(index_dir), rebuild, progress, store, runner)
        data = attach_remote(data, store)  # store.uri: chunk rows served from Milvus, synced first (docs/milvus.md)
        return cls(
            corpus,
            data,
            model,
            retrieval=retrieval,
            answer=answer,
            abstention=abstention,
            rebuilt=rebuilt,
            reranker=resolve_reranker(reranker),
            generator=generator,
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
        """The document as indexed: its stored text (all offsets refer to it) and metadata (title, url, date, pages)."""
        doc = self._stored.get(check_doc_id(doc_id))
        return doc if doc is not None else self.corpus.get(doc_id)  # unknown: the corpus's error lists known ids

    def list_documents(self) -> list[DocumentInfo]:
        """Every indexed document: id, characters, chunks, when it was indexed, title."""
        return describe(self.index)

    def add(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        """Copy files into the corpus folder and index them (only they are embedded); returns their doc ids.

        Unsupported, oversized or unreadable files and name clashes are refused before anything is copied.
        """
        check_writable()
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        names = set(copy_in(self.corpus.folder, paths))
        self._reindex()
        return [d for d in self.documents() if file_of(d) in names]

    def remove(self, doc_ids: Sequence[str]) -> list[str]:
        """Delete these documents' files from the corpus folder and re-index (nothing is embedded)."""
        check_writable()
        if isinstance(doc_ids, str):
            doc_ids = [doc_ids]
        removed = delete(self.corpus.folder, doc_ids, self.documents())
        self._reindex()
        return removed

    def _reindex(self) -> None:
        """Reload the corpus folder and bring the index up to date with the settings it was built with."""
        manifest = self.index.manifest
        chunking = ChunkingParams(**manifest["chunking"])
        store = StoreConfig(faiss_factory=manifest.get("faiss_override"))
        corpus = load_corpus(self.corpus.folder)
        data, rebuilt = open_or_build(corpus, self.embedder, chunking, self.index.folder.parent, False, False, store)
        data = follow_remote(self.index, data)
        extra = {"generator": self.generator} if getattr(self, "generator", None) is not None else {}
        fresh = type(self)(
            corpus,
            data,
            self.embedder,
            retrieval=self.retriever.config,
            answer=self.answer_config,
            abstention=self.abstention_config,
            rebuilt=rebuilt,
            reranker=self.reranker,
            **extra,
        )
        self.__dict__.update(fresh.__dict__)

    def chunk_spans(self) -> list[Span]:
        """Every indexed chunk as a span, in index order (the evaluation's relevance judgements use them)."""
        return self.retriever.chunk_spans()

    def retrieve(self, question: str, k: int = 5, doc_ids: Sequence[str] | None = None) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first; ``doc_ids`` limits the search to those documents."""
        return list(self._evidence(question, None, k, doc_ids, read=False).passages)

    def ask(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
        min_confidence: float | None = None,
    ) -> Answer:
        """A short answer built from cited sentences, or an abstention when nothing supports one.

        ``Answer.confidence`` is the answerability model's probability that the documents answer it;
        below ``min_confidence`` (default: none, or the model's threshold with ``AbstentionConfig.learned``)
        the answer abstains, showing the closest sentences (docs/abstention.md).
        """
        threshold = check_min_confidence(min_confidence)
        evidence = self.evidence(question, history, k, doc_ids)
        answer = self.answerer.answer(evidence)
        answer = judge(self.retriever, evidence, answer, self.answer_config, self.abstention_config, threshold)
        return self.explain(answer)

    def explain(self, answer: Answer) -> Answer:
        """The answer with each citation's ``matches``: the question's words found in it (same characters,
        dictionary or pinyin) and, for a how-many/how-much/when question, its numbers or dates. ``ask`` does it."""
        return explain(self.retriever, answer)

    def gloss(self, citation: Citation) -> list[Gloss]:
        """The cited sentence's words with pinyin and English (``Citation.gloss`` cut with this index's dictionary)."""
        return citation.gloss(self.index.lexical.segmenter)

    def evidence(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
    ) -> Evidence:
        """The checked question, its ranking and the candidate sentences that an answerer works from."""
        return self._evidence(question, history, k, doc_ids, read=True)

    def _evidence(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None,
        k: int,
        doc_ids: Sequence[str] | None,
        read: bool,
    ) -> Evidence:
        text, truncated = check_question(question)
        k = check_k(k)
        turns = _check_history(history)
        query = self.retriever.prepare(text, turns, self._check_doc_ids(doc_ids))
        # the reader orders the sentences to cite: not needed for passages alone, and trained on questions
        # asked on their own (a follow-up's missing words are in the history, which it does not read)
        ranked, pool = self._ranked(query, read=read and not turns)
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

    def _ranked(self, query: Query, read: bool = False) -> tuple[list[Scored], list[Candidate] | None]:
        """Fused ranking, its head re-ordered by answer evidence; the pool re-ordered by the reader when on;
        then the optional cross-encoder."""
        fused = self.retriever.score(query)
        ranked, pool = rerank_by_evidence(self.retriever, query, fused, self.answer_config)
        if read and self.choice is not None and pool:
            pool = self.choice.reorder(self.retriever, query, fused, pool)
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
