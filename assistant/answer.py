"""Extractive answers: the best supporting sentences of the top passages, each with a citation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .records import Answer, Citation, Passage
from .retrieval import Query, Retriever, Scored

CJK = re.compile(r"[\u3400-\u9fff]")


class AnswerConfig(NamedTuple):
    """Sentence selection; weights chosen on the dev split of eval/questions.jsonl only."""

    passages: int = 8  # sentences are drawn from this many top passages
    max_citations: int = 2
    second_margin: float = 0.02  # a second sentence must score within this of the first
    w_similarity: float = 0.03  # per standard deviation of cosine similarity within the pool
    w_overlap: float = 0.2  # IDF-weighted share of the question's words found in the sentence
    w_novelty: float = 0.02  # share of the sentence that is not the question's own words
    min_chars: int = 6
    # Abstain when the best sentence matches the question no better than off-topic background
    # sentences do (cosine margin).
    abstain_margin: float = -0.015
    # In a conversation the question is also judged alone, more leniently: a follow-up such as
    # "And how much did it cost?" is vague alone, but an off-topic question stays off-topic.
    abstain_own_margin: float = -0.045


def is_chinese(text: str) -> bool:
    cjk = len(CJK.findall(text))
    return cjk > 0 and cjk >= 0.3 * sum(ch.isalnum() for ch in text)


class Candidate(NamedTuple):
    row: int
    score: float
    similarity: float


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
    out = []
    for row, sim in pooled.items():
        doc, start, end = (int(x) for x in retriever.data.sentences[row])
        text = retriever.texts[retriever.data.doc_ids[doc]][start:end]
        if len(text) < cfg.min_chars:
            continue
        tokens = set(retriever.data.sentence_terms[row].split())
        score = (
            cfg.w_similarity * (sim - float(sim_arr.mean())) / spread
            + cfg.w_overlap * query.terms.overlap(tokens)
            + cfg.w_novelty * _novelty(tokens, question_terms, retriever.idf)
        )
        out.append(Candidate(row, score, sim))
    return sorted(out, key=lambda c: -c.score)


def _novelty(tokens: set[str], question_terms: set[str], idf: dict[str, float]) -> float:
    total = sum(idf.get(t, 0.0) for t in tokens)
    if total <= 0:
        return 0.0
    return sum(idf.get(t, 0.0) for t in tokens if t not in question_terms) / total


def compose(
    retriever: Retriever,
    query: Query,
    ranked: Sequence[Scored],
    passages: list[Passage],
    cfg: AnswerConfig = AnswerConfig(),
    truncated: bool = False,
) -> Answer:
    chinese = is_chinese(query.text)
    pool = candidates(retriever, query, ranked, cfg)
    if not pool or _off_topic(retriever, query, pool, cfg):
        text = "文中没有回答这个问题。" if chinese else "The article does not answer this question."
        return Answer(query.text, _with_note(text, truncated, chinese), True, [], passages, truncated)
    chosen = [pool[0]]
    for cand in pool[1:]:
        if len(chosen) >= cfg.max_citations or cand.score < pool[0].score - cfg.second_margin:
            break
        chosen.append(cand)
    citations = []
    parts = []
    for label, cand in enumerate(chosen, start=1):
        doc, start, end = (int(x) for x in retriever.data.sentences[cand.row])
        doc_id = retriever.data.doc_ids[doc]
        sentence = retriever.texts[doc_id][start:end]
        citations.append(Citation(label, doc_id, start, end, sentence, round(cand.score, 6)))
        parts.append(f"{sentence}[{label}]")
    body = ("" if chinese else "From the article: ") + " ".join(parts)
    return Answer(query.text, _with_note(body, truncated, chinese), False, citations, passages, truncated)


def _off_topic(retriever: Retriever, query: Query, pool: list[Candidate], cfg: AnswerConfig) -> bool:
    """True when the corpus matches the question no better than the background sentences do."""
    best = max(c.similarity for c in pool)
    if best - float((retriever.data.background @ query.vector).max()) < cfg.abstain_margin:
        return True
    if query.own_vector is query.vector:
        return False
    rows = np.asarray([c.row for c in pool])
    own_best = float((retriever.data.sentence_vectors[rows].astype(np.float32) @ query.own_vector).max())
    return own_best - float((retriever.data.background @ query.own_vector).max()) < cfg.abstain_own_margin


def _with_note(text: str, truncated: bool, chinese: bool) -> str:
    if not truncated:
        return text
    note = "（问题过长，只使用了开头部分。）" if chinese else " (The question was too long; only its start was used.)"
    return text + note
