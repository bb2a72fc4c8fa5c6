"""Fused ranking: dense chunk scores, dense scores of the sentences inside each chunk, and BM25.

Stage 1 picks candidate chunks from FAISS and from BM25; stage 2 scores each candidate by its own
vector, by its best sentence (sentence vectors are stored beside the index) and by BM25 weighted
by how much of the question the corpus vocabulary covers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from assistant.config import RetrievalConfig
from assistant.embed import Embedder
from assistant.index.store import IndexData
from assistant.text.bilingual import PINYIN, translate
from assistant.text.tokenize import STOP_EN
from assistant.types import Document, Passage, Span

FILTER_EXACT_UP_TO = 50_000  # with a document filter, search every chunk up to this many, else 20x wider
_MARKER = re.compile(r"\[\d+\]")
_JOINERS = re.compile(r"[.\-+/]")


class Terms(NamedTuple):
    """Lexical terms of a text: corpus tokens plus Chinese expansions of English words.

    ``units`` holds one tuple of interchangeable corpus terms per word of the text (one term for a
    Chinese word, its dictionary translations for an English one) and ``weights`` their IDF.
    """

    tokens: list[str]
    coverage: float  # share of the text's words that the corpus vocabulary can match
    units: list[tuple[str, ...]] = []
    weights: list[float] = []

    def overlap(self, sentence_tokens: set[str]) -> float:
        """IDF-weighted share of the text's words that a sentence contains."""
        total = sum(self.weights)
        if total <= 0:
            return 0.0
        hit = sum(w for unit, w in zip(self.units, self.weights, strict=True) if sentence_tokens.intersection(unit))
        return hit / total

    def missing(self, tokens: set[str]) -> float:
        """The largest IDF of a word whose terms are all absent from ``tokens``, over the text's largest IDF."""
        top = max(self.weights, default=0.0)
        if top <= 0:
            return 0.0
        gone = [w for unit, w in zip(self.units, self.weights, strict=True) if not tokens.intersection(unit)]
        return max(gone, default=0.0) / top


class Query(NamedTuple):
    """A question prepared once for both channels."""

    text: str
    vector: np.ndarray  # the question, pulled towards the previous one in a conversation
    terms: Terms
    context: Terms
    own_vector: np.ndarray  # the question alone
    chunk_mask: np.ndarray | None = None  # chunks of the documents a caller restricted the search to


class Scored(NamedTuple):
    """A candidate chunk and its scores; sentence rows index ``IndexData.sentences``."""

    chunk: int
    score: float
    dense: float
    sentence: float
    lexical: float
    sentence_rows: np.ndarray
    sentence_scores: np.ndarray


class Retriever:
    def __init__(
        self,
        data: IndexData,
        documents: Sequence[Document],
        embedder: Embedder,
        config: RetrievalConfig = RetrievalConfig(),
    ) -> None:
        self.data = data
        self.texts = {d.doc_id: d.text for d in documents}
        self.embedder = embedder
        self.config = config
        self.vocab = data.lexical.vocabulary()
        self.idf = data.lexical.idf()
        sent = data.sentences
        self._sent_key = sent[:, 0] * (1 << 40) + sent[:, 1]  # sorted: doc index, then start

    def prepare(
        self, question: str, history: Sequence[tuple[str, str]] = (), doc_ids: Sequence[str] | None = None
    ) -> Query:
        vector = own = self.embedder.embed_query(question)
        if history:
            previous = history[-1][0]
            said = _MARKER.sub("", history[-1][1] or "")[: self.config.history_answer_chars]
            ctx = self.embedder.embed_query(" ".join((previous, said, question)))
            vector = vector + self.config.history_weight * ctx
            vector = (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)
            context = self.terms(previous)
        else:
            context = Terms([], 0.0, [], [])
        # without history ``vector is own``: the answer composer relies on that to skip a second check
        return Query(question, vector, self.terms(question), context, own, self._chunk_mask(doc_ids))

    def _chunk_mask(self, doc_ids: Sequence[str] | None) -> np.ndarray | None:
        if doc_ids is None:
            return None
        wanted = set(doc_ids)
        docs = np.asarray([i for i, d in enumerate(self.data.doc_ids) if d in wanted], dtype=np.int64)
        return np.isin(self.data.chunks[:, 0], docs)

    def terms(self, text: str) -> Terms:
        """Tokens the corpus has, with English words replaced by their Chinese corpus terms."""
        found: list[str] = []
        units: list[tuple[str, ...]] = []
        parts = self.word_terms(text)
        words = len(parts)
        for _, alternatives, _ in parts:
            if alternatives and alternatives not in units:
                units.append(alternatives)
                found.extend(t for t in alternatives if t not in found)
        weights = [max(self.idf.get(t, 0.0) for t in unit) for unit in units]
        return Terms(found, len(units) / words if words else 0.0, units, weights)

    def word_terms(self, text: str) -> list[tuple[str, tuple[str, ...], str]]:
        """Each word of ``text`` (lower-cased; a pinyin name starts with ``PINYIN``), the corpus terms it reaches
        and how: "same" (a corpus token itself), "dictionary" (CC-CEDICT), "pinyin"; () and "" for none."""
        out: list[tuple[str, tuple[str, ...], str]] = []
        for part in self._words(text):
            if part in self.vocab:
                out.append((part, (part,), "same"))
            elif part.startswith(PINYIN):
                out.append((part, tuple(self.data.bilingual[part]), "pinyin"))
            elif part.isalpha() and part.isascii() and part not in STOP_EN:
                found, via = translate(part, self.data.bilingual)
                out.append((part, tuple(found), via))
            else:
                out.append((part, (), ""))
        return out

    def _words(self, text: str) -> list[str]:
        """Question tokens; joined words split ("scenario-based"), split names joined ("Gui Zhihui")."""
        parts: list[str] = []
        for tok in self.data.lexical.tokenize(text):
            # "scenario-based" or "100-inch" is not a corpus token; its parts may be
            parts.extend([tok] if tok in self.vocab else [p for p in _JOINERS.split(tok) if p] or [tok])
        out: list[str] = []
        i = 0
        while i < len(parts):
            for n in (3, 2):  # a pinyin name of several words: "gui zhihui" -> 桂志辉
                key = PINYIN + "".join(parts[i : i + n])
                if i + n <= len(parts) and key in self.data.bilingual and all(p.isalpha() for p in parts[i : i + n]):
                    out.append(key)
                    i += n
                    break
            else:
                out.append(parts[i])
                i += 1
        return out

    def _lexical(self, query: Query, include: Sequence[int] = ()) -> np.ndarray:
        if self.data.remote is not None and self.data.remote.serves_lexical:  # Milvus's sparse BM25 field: same sums
            parts = [(query.terms.tokens, query.terms.coverage), (query.context.tokens, 0.5 * query.context.coverage)]
            size, k = len(self.data.chunks), 2 * self.config.candidates  # 2x: ties at the cut-off stay in
            return self.data.remote.lexical(parts, size, k, self._filter_docs(query), include)
        lex = self._weighted_bm25(query.terms)
        if query.context.tokens:
            lex = lex + 0.5 * self._weighted_bm25(query.context)
        return lex if query.chunk_mask is None else lex * query.chunk_mask

    def _weighted_bm25(self, terms: Terms) -> np.ndarray:
        scores = self.data.lexical.scores(terms.tokens)
        top = float(scores.max()) if len(scores) else 0.0
        if top <= 0:
            return np.zeros_like(scores)
        return scores / top * terms.coverage

    def sentences_of(self, chunk: int) -> np.ndarray:
        doc, start, end = (int(x) for x in self.data.chunks[chunk])
        first = np.searchsorted(self._sent_key, doc * (1 << 40), side="left")
        # the sentence that holds the chunk's start begins at or before it
        lo = max(int(np.searchsorted(self._sent_key, doc * (1 << 40) + start, side="right")) - 1, int(first))
        hi = np.searchsorted(self._sent_key, doc * (1 << 40) + end, side="left")
        rows = np.arange(lo, hi)
        sent = self.data.sentences[rows]
        inside = (sent[:, 2] > start) & (sent[:, 1] < end)
        return rows[inside]

    def score(self, query: Query) -> list[Scored]:
        cfg = self.config
        if cfg.mode == "lexical":
            return self._lexical_only(query, self._lexical(query))
        dense_scores, dense_ids = self._dense(query)
        if cfg.mode == "dense":
            lexical = np.zeros(self.data.lexical.size, dtype=np.float32)
        else:
            lexical = self._lexical(query, [int(i) for i in dense_ids[0] if i >= 0])
        candidates = {int(i) for i in dense_ids[0] if i >= 0}
        if lexical.any():
            candidates.update(int(i) for i in _top(lexical, cfg.candidates))
        dense_map = {int(i): float(s) for s, i in zip(dense_scores[0], dense_ids[0], strict=True) if i >= 0}
        missing = sorted(candidates - dense_map.keys())
        if self.data.remote is not None and missing:  # Milvus: one round trip, not one per chunk
            scores, ids = self.data.remote.search(query.vector, len(missing), ids=missing)
            dense_map.update({int(i): float(v) for v, i in zip(scores[0], ids[0], strict=True) if i >= 0})
        out: list[Scored] = []
        for chunk in candidates:
            rows, sims = self._sentence_sims(chunk, query.vector)
            dense = dense_map.get(chunk)
            if dense is None:
                dense = float(self._chunk_vector_score(chunk, query.vector))
            best = float(sims.max()) if len(sims) else dense
            total = cfg.w_chunk * dense + cfg.w_sentence * best + cfg.w_lexical * float(lexical[chunk])
            out.append(Scored(chunk, total, dense, best, float(lexical[chunk]), rows, sims))
        out.sort(key=lambda s: -s.score)
        return out

    def _dense(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        """FAISS candidates; with a document filter, searched wider and filtered (ids outside become -1)."""
        k = self.config.candidates
        if self.data.remote is not None:  # Milvus filters by document itself
            return self.data.remote.search(query.vector, k, self._filter_docs(query))
        if query.chunk_mask is None:
            return self.data.chunk_index.search(query.vector, k)
        wide = self.data.chunk_index.count() if len(query.chunk_mask) <= FILTER_EXACT_UP_TO else 20 * k
        scores, ids = self.data.chunk_index.search(query.vector, wide)
        keep = (ids[0] >= 0) & query.chunk_mask[np.maximum(ids[0], 0)]
        return scores[:, keep][:, :k], ids[:, keep][:, :k]

    def _filter_docs(self, query: Query) -> list[str] | None:
        """The document ids that ``query.chunk_mask`` allows (None: no filter)."""
        if query.chunk_mask is None:
            return None
        return [self.data.doc_ids[int(d)] for d in np.unique(self.data.chunks[query.chunk_mask, 0])]

    def _lexical_only(self, query: Query, lexical: np.ndarray) -> list[Scored]:
        """Baseline: BM25 order alone; sentences are still scored so that answers can be composed."""
        out = []
        for chunk in (int(i) for i in _top(lexical, self.config.candidates)):
            rows, sims = self._sentence_sims(chunk, query.vector)
            best = float(sims.max()) if len(sims) else 0.0
            out.append(Scored(chunk, float(lexical[chunk]), 0.0, best, float(lexical[chunk]), rows, sims))
        return out

    def _sentence_sims(self, chunk: int, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's sentence rows and their cosine similarity to ``vector``."""
        rows = self.sentences_of(chunk)
        if not len(rows):
            return rows, np.zeros(0, dtype=np.float32)
        return rows, self.sentence_similarities(rows, vector)

    def _chunk_vector_score(self, chunk: int, vector: np.ndarray) -> float:
        stored = self.data.chunk_index.vector(chunk)
        return 0.0 if stored is None else float(stored @ vector)  # None: an index that cannot give it back

    def chunk_spans(self) -> list[Span]:
        ids = self.data.doc_ids
        return [Span(ids[int(d)], int(s), int(e)) for d, s, e in self.data.chunks]

    # Sentence-level reads for the answer stage: offsets, text, tokens and vectors by sentence row.

    def sentence_span(self, row: int) -> Span:
        doc, start, end = (int(x) for x in self.data.sentences[row])
        return Span(self.data.doc_ids[doc], start, end)

    def document_text(self, doc_id: str) -> str:
        return self.texts[doc_id]

    def sentence_text(self, row: int) -> str:
        """The sentence's text, exactly as its span cuts it from its document."""
        span = self.sentence_span(row)
        return self.texts[span.doc_id][span.start : span.end]

    def sentence_tokens(self, row: int) -> set[str]:
        """The sentence's BM25 tokens (cut with jieba's full dictionary when the index was built)."""
        return set(self.data.sentence_terms[row].split())

    def tokens_around(self, row: int) -> set[str]:
        """The tokens of a sentence and of its neighbours in the same document."""
        out = self.sentence_tokens(row)
        for near in (row - 1, row + 1):
            if near < len(self.data.sentences) and self.same_document(near, row):
                out |= self.sentence_tokens(near)
        return out

    def same_document(self, row: int, other: int) -> bool:
        return 0 <= min(row, other) and int(self.data.sentences[row][0]) == int(self.data.sentences[other][0])

    def sentence_similarities(self, rows: Sequence[int] | np.ndarray, vector: np.ndarray) -> np.ndarray:
        return self.data.sentence_vectors[np.asarray(rows, dtype=np.int64)].astype(np.float32) @ vector

    def background_similarity(self, vector: np.ndarray) -> float:
        """The best cosine of ``vector`` with the off-topic background sentences stored with the index."""
        return float((self.data.background @ vector).max())

    def passage(self, scored: Scored) -> Passage:
        doc, start, end = (int(x) for x in self.data.chunks[scored.chunk])
        doc_id = self.data.doc_ids[doc]
        ids = self.data.chunk_ids
        chunk_id = int(ids[scored.chunk]) if ids is not None and len(ids) == len(self.data.chunks) else scored.chunk
        return Passage(doc_id, start, end, self.texts[doc_id][start:end], round(scored.score, 6), chunk_id)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best positive scores, best first, without sorting the whole array."""
    nonzero = np.flatnonzero(scores > 0)
    if len(nonzero) > k:
        nonzero = nonzero[np.argpartition(-scores[nonzero], k - 1)[:k]]
    return nonzero[np.argsort(-scores[nonzero], kind="stable")]
