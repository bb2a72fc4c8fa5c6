"""Answerability features: a fixed list of numbers the pipeline already has for a question.

``features(retriever, evidence, cfg)`` reads them off the ``Evidence`` of one question (the fused ranking
after evidence re-ranking, the candidate sentence pool) and cheap retriever reads (sentence tokens, stored
vectors, the background sentences): no model call beyond the one embedding ``ask`` already made. The
answerability model (:mod:`assistant.answer.answerability`) weighs them; its JSON names them in this order,
so the list below is append-only (a refit is needed after any change).

Scores are the pipeline's own: ``fused`` = the ranking score (after re-ranking for ``top*``, recomputed from
its parts for ``raw*``), ``dense`` = the chunk cosine, ``sent`` = its best sentence's cosine, ``bm25`` = the
normalised BM25 times vocabulary coverage. Overlaps are IDF-weighted shares of the question's words
(``Terms.overlap``; English words count through the bilingual dictionary).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from assistant.answer.abstention import missing_focus, off_topic
from assistant.answer.base import Evidence
from assistant.config import AbstentionConfig, AnswerConfig
from assistant.retrieve.evidence import Candidate, candidates
from assistant.retrieve.retriever import Retriever, Scored

_ASKS_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|large|big|fast|far|high|old)\b|\bwhat (?:percentage|share|proportion|year)\b"
    r"|\bwhen\b|多少|几|多大|多长|多久|多重|多高|比例|哪一年|何时|什么时候",
    re.IGNORECASE,
)
_QUANTITY = re.compile(r"\d|[一二三四五六七八九十两百千万亿]")

# name -> what it measures; the order is the order of the vector
FEATURES: dict[str, str] = {
    "top1": "ranking score of the first passage (after evidence re-ranking)",
    "top1_dense": "chunk cosine of the first passage",
    "top1_sent": "best sentence cosine of the first passage",
    "top1_bm25": "weighted BM25 of the first passage",
    "margin12": "top1 - top2 ranking score",
    "margin15": "top1 - mean of ranks 2..5",
    "raw_top1": "fused score before evidence re-ranking (best)",
    "raw_margin12": "top1 - top2 of the fused score before re-ranking",
    "raw_margin15": "top1 - mean of ranks 2..5 before re-ranking",
    "dense_margin": "best - second best chunk cosine among the candidates",
    "sent_max": "best sentence cosine among the candidates",
    "sent_margin": "best - second best sentence cosine in the pool",
    "sent_z": "best pool sentence cosine, standardised within the pool",
    "bm25_max": "best weighted BM25 among the candidates",
    "background_margin": "best pool cosine - best background-sentence cosine (today's off-topic check)",
    "pool1": "score of the best candidate sentence (the first citation)",
    "pool_lead": "pool1 - score of the second candidate sentence",
    "pool1_sim": "cosine of the first citation",
    "pool1_is_top_sim": "1 if the first citation is also the most similar sentence in the pool",
    "overlap1": "question words in the first citation (IDF share)",
    "overlap_ctx1": "question words in the first citation and its neighbours",
    "overlap_max": "best question-word share over the pool",
    "overlap_passage": "question words in the first passage",
    "missing_idf": "largest IDF of a question word absent from the first passage, / largest IDF of the question",
    "missing_idf_ctx": "the same, absent from the first citation and its neighbours",
    "coverage": "share of the question's words the corpus vocabulary can match",
    "idf_mass": "log(1 + summed IDF of the question's words)",
    "units": "log(1 + number of question words the corpus can match)",
    "question_chars": "log(1 + question length in characters)",
    "asks_quantity": "1 if the question asks for a number, amount or date",
    "quantity1": "asks_quantity and the first citation states a number",
    "missing_focus": "1 if the asked-for noun is nowhere in the corpus (today's rule)",
    "off_topic": "1 if today's background-margin rule fires",
    "pool_size": "log(1 + candidate sentences)",
}
NAMES: tuple[str, ...] = tuple(FEATURES)


def features(
    retriever: Retriever,
    evidence: Evidence,
    cfg: AnswerConfig = AnswerConfig(),
    abstention: AbstentionConfig = AbstentionConfig(),
) -> np.ndarray:
    """The feature vector (float64, ``len(NAMES)``, always finite) of one question's evidence."""
    query, ranked = evidence.query, list(evidence.ranked)
    pool: Sequence[Candidate] = (
        evidence.pool if evidence.pool is not None else candidates(retriever, query, ranked, cfg)
    )
    # in the hand-weighted order the model was fitted on: the reader (AnswerConfig.reader) may have
    # re-ordered the pool's head, and the answerability of a question does not depend on which it cites
    pool = sorted(pool, key=lambda c: -c.score)
    f = dict.fromkeys(NAMES, 0.0)
    terms = query.terms
    f["coverage"] = terms.coverage
    f["idf_mass"] = float(np.log1p(sum(terms.weights)))
    f["units"] = float(np.log1p(len(terms.units)))
    f["question_chars"] = float(np.log1p(len(query.text)))
    asks_quantity = bool(_ASKS_QUANTITY.search(query.text))
    f["asks_quantity"] = float(asks_quantity)
    f["missing_focus"] = float(missing_focus(retriever, query.text) is not None)
    f["pool_size"] = float(np.log1p(len(pool)))
    if ranked:
        _ranking(f, ranked, retriever)
        passage_tokens: set[str] = set()
        for row in ranked[0].sentence_rows:
            passage_tokens |= retriever.sentence_tokens(int(row))
        f["overlap_passage"] = terms.overlap(passage_tokens)
        f["missing_idf"] = terms.missing(passage_tokens)
    if pool:
        _pool(f, pool, retriever, evidence, asks_quantity)
        f["off_topic"] = float(off_topic(retriever, query, pool, abstention.margin, abstention.own_margin))
    out = np.asarray([f[n] for n in NAMES], dtype=np.float64)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _ranking(f: dict[str, float], ranked: Sequence[Scored], retriever: Retriever) -> None:
    scores = np.asarray([s.score for s in ranked])
    f["top1"], f["top1_dense"] = float(scores[0]), ranked[0].dense
    f["top1_sent"], f["top1_bm25"] = ranked[0].sentence, ranked[0].lexical
    f["margin12"], f["margin15"] = _margins(scores)
    c = retriever.config
    raw = np.sort([c.w_chunk * s.dense + c.w_sentence * s.sentence + c.w_lexical * s.lexical for s in ranked])[::-1]
    f["raw_top1"] = float(raw[0])
    f["raw_margin12"], f["raw_margin15"] = _margins(raw)
    dense = np.sort([s.dense for s in ranked])[::-1]
    f["dense_margin"] = float(dense[0] - dense[1]) if len(dense) > 1 else 0.0
    f["bm25_max"] = max(s.lexical for s in ranked)


def _margins(desc: np.ndarray) -> tuple[float, float]:
    if len(desc) < 2:
        return 0.0, 0.0
    return float(desc[0] - desc[1]), float(desc[0] - desc[1:5].mean())


def _pool(
    f: dict[str, float], pool: Sequence[Candidate], retriever: Retriever, evidence: Evidence, asks_quantity: bool
) -> None:
    query, first = evidence.query, pool[0]
    sims = np.asarray([c.similarity for c in pool])
    order = np.sort(sims)[::-1]
    f["sent_max"] = float(order[0])
    f["sent_margin"] = float(order[0] - order[1]) if len(order) > 1 else 0.0
    f["sent_z"] = float((order[0] - sims.mean()) / (sims.std() or 1.0))
    f["background_margin"] = float(order[0]) - retriever.background_similarity(query.vector)
    f["pool1"] = first.score
    f["pool_lead"] = first.score - pool[1].score if len(pool) > 1 else 0.0
    f["pool1_sim"] = first.similarity
    f["pool1_is_top_sim"] = float(first.similarity >= order[0])
    tokens = retriever.sentence_tokens(first.row)
    around = retriever.tokens_around(first.row)
    terms = query.terms
    f["overlap1"] = terms.overlap(tokens)
    f["overlap_ctx1"] = terms.overlap(around)
    f["overlap_max"] = max(terms.overlap(retriever.sentence_tokens(c.row)) for c in pool[:20])
    f["missing_idf_ctx"] = terms.missing(around)
    if asks_quantity:
        f["quantity1"] = float(bool(_QUANTITY.search(retriever.sentence_text(first.row))))
