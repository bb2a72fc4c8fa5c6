"""Sentence features: what is known about each candidate sentence of the pool, as one row of numbers.

``pool_features(retriever, query, ranked, pool)`` returns a matrix with one row per candidate (in
pool order) and one column per name in ``NAMES``. The learned sentence choice
(:mod:`assistant.answer.choice`) weighs these columns; its JSON names them in this order, so the list is
append-only (a refit is needed after any change). Everything here is read off the ranking and the
stored sentence tokens: no model call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from assistant.retrieve.evidence import PARTS, Candidate
from assistant.retrieve.retriever import Query, Retriever, Scored
from assistant.text.lang import CJK

FEATURES: dict[str, str] = {
    "hand": "the hand-weighted sentence score (AnswerConfig weights)",
    "hand_gap": "hand - best hand score in the pool",
    "heading": "1 for a heading, caption, stub or a question the text asks",
    "sim_z": "sentence cosine, standardised within the pool",
    "sim_gap": "sentence cosine - best cosine in the pool",
    "overlap": "question words in the sentence (IDF share; its antecedent counts half)",
    "overlap_own": "question words in the sentence alone",
    "overlap_ctx": "question words in the sentence and its neighbours",
    "history": "previous question's words in the sentence",
    "novelty": "share of the sentence (IDF) that is not the question's words",
    "answer_type": "the sentence has what the question type asks for (quantity, position)",
    "passage_rank": "1 / (1 + rank of the best passage holding the sentence)",
    "passage_gap": "that passage's ranking score - the first passage's",
    "best_in_passage": "1 if the sentence has the best hand score of its passage",
    "chars": "log(1 + sentence length)",
    "digit": "the sentence has a digit",
    "date": "the question asks when / which year and the sentence states a year or date",
    "bigrams": "share of the Chinese question's character bigrams in the sentence",
    "missing": "largest IDF of a question word missing from the sentence / largest question IDF",
    "sim_rank": "1 / (1 + rank by cosine in the pool)",
    "overlap_rank": "1 / (1 + rank by question words in the pool)",
}
NAMES: tuple[str, ...] = tuple(FEATURES)

_ASKS_DATE = re.compile(
    r"\bwhen\b|\bwhat (?:year|date|century|decade)\b|\bwhich year\b|哪一?年|何时|什么时候|哪个世纪|何年", re.I
)
_DATE = re.compile(r"\d{3,4}\s*年|\b1\d{3}\b|\b20\d{2}\b|世纪|年代|\d+\s*月|\d+\s*日")


def pool_features(
    retriever: Retriever, query: Query, ranked: Sequence[Scored], pool: Sequence[Candidate]
) -> np.ndarray:
    """The feature matrix of ``pool`` (candidates as ``evidence.candidates`` made them from ``ranked``)."""
    n = len(pool)
    out = np.zeros((n, len(NAMES)), dtype=np.float64)
    if n == 0:
        return out
    col = {name: i for i, name in enumerate(NAMES)}
    hand = np.asarray([c.score for c in pool])
    sims = np.asarray([c.similarity for c in pool])
    out[:, col["hand"]] = hand
    out[:, col["hand_gap"]] = hand - hand.max()
    parts = np.asarray([c.parts for c in pool], dtype=np.float64).reshape(n, len(PARTS))
    for j, name in enumerate(PARTS):
        out[:, col[name]] = parts[:, j]
    out[:, col["sim_gap"]] = sims - sims.max()
    passage_of: dict[int, tuple[int, float]] = {}
    top = ranked[0].score if ranked else 0.0
    for rank, scored in enumerate(ranked[:16]):
        for r in scored.sentence_rows:
            passage_of.setdefault(int(r), (rank, scored.score - top))
    best_rows: dict[int, int] = {}
    for i, c in enumerate(pool):  # pool is sorted by hand score: the first seen of a passage is its best
        rank = passage_of.get(c.row, (16, 0.0))[0]
        best_rows.setdefault(rank, i)
    terms, q_bigrams = query.terms, _bigrams(query.text)
    asks_date = bool(_ASKS_DATE.search(query.text))
    overlaps = np.zeros(n)
    for i, c in enumerate(pool):
        text = retriever.sentence_text(c.row)
        tokens = retriever.sentence_tokens(c.row)
        rank, gap = passage_of.get(c.row, (16, -1.0))
        own = terms.overlap(tokens)
        overlaps[i] = own
        out[i, col["overlap_own"]] = own
        out[i, col["overlap_ctx"]] = terms.overlap(retriever.tokens_around(c.row))
        out[i, col["passage_rank"]] = 1.0 / (1.0 + rank)
        out[i, col["passage_gap"]] = gap
        out[i, col["best_in_passage"]] = float(best_rows.get(rank) == i)
        out[i, col["chars"]] = float(np.log1p(len(text)))
        out[i, col["digit"]] = float(any(ch.isdigit() for ch in text))
        out[i, col["date"]] = float(asks_date and bool(_DATE.search(text)))
        if q_bigrams:
            out[i, col["bigrams"]] = len(q_bigrams & _bigrams(text)) / len(q_bigrams)
        out[i, col["missing"]] = terms.missing(tokens)
    out[:, col["sim_rank"]] = 1.0 / (1.0 + _ranks(sims))
    out[:, col["overlap_rank"]] = 1.0 / (1.0 + _ranks(overlaps))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _bigrams(text: str) -> set[str]:
    """Adjacent pairs of Chinese characters (a Chinese question's phrases, without segmentation)."""
    chars = [ch if CJK.match(ch) else " " for ch in text]
    return {a + b for a, b in zip(chars, chars[1:], strict=False) if a != " " and b != " "}


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the largest value, 1 for the next (ties share the better rank)."""
    order = -np.sort(-values)
    return np.searchsorted(-order, -values, side="left").astype(np.float64)
