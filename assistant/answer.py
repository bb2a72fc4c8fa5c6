"""Extractive answers: the best supporting sentences of the top passages, each with a citation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from .lexical import tokenize
from .records import Answer, Citation, Passage
from .retrieval import Query, Retriever, Scored

CJK = re.compile(r"[\u3400-\u9fff]")


class AnswerConfig(NamedTuple):
    passages: int = 3  # sentences are drawn from this many top passages
    max_citations: int = 2
    second_margin: float = 0.015  # a second sentence must score within this of the first
    w_overlap: float = 0.04  # bonus per share of the question's corpus terms found in the sentence
    min_chars: int = 6
    abstain_below: float = 0.80  # best sentence cosine under this: the article does not answer


def is_chinese(text: str) -> bool:
    cjk = len(CJK.findall(text))
    return cjk > 0 and cjk >= 0.3 * sum(ch.isalnum() for ch in text)


class Candidate(NamedTuple):
    row: int
    score: float
    similarity: float


def candidates(retriever: Retriever, query: Query, ranked: Sequence[Scored], cfg: AnswerConfig) -> list[Candidate]:
    """Sentences of the top passages, scored by similarity plus the question terms they contain."""
    terms = {t for t in query.tokens if t in retriever.vocab}
    seen: dict[int, Candidate] = {}
    for scored in ranked[: cfg.passages]:
        for row, sim in zip(scored.sentence_rows, scored.sentence_scores, strict=True):
            row = int(row)
            if row in seen:
                continue
            doc, start, end = (int(x) for x in retriever.data.sentences[row])
            text = retriever.texts[retriever.data.doc_ids[doc]][start:end]
            if len(text) < cfg.min_chars:
                continue
            overlap = len(terms & set(tokenize(text))) / len(terms) if terms else 0.0
            seen[row] = Candidate(row, float(sim) + cfg.w_overlap * overlap, float(sim))
    return sorted(seen.values(), key=lambda c: -c.score)


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
    if not pool or pool[0].similarity < cfg.abstain_below:
        text = "文中没有回答这个问题。" if chinese else "The article does not answer this question."
        return Answer(query.text, _with_note(text, truncated, chinese), True, [], passages, truncated)
    chosen = [pool[0]]
    for cand in pool[1:]:
        if len(chosen) >= cfg.max_citations or cand.score < pool[0].score - cfg.second_margin:
            break
        chosen.append(cand)
    chosen.sort(key=lambda c: tuple(retriever.data.sentences[c.row][:2]))  # reading order
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


def _with_note(text: str, truncated: bool, chinese: bool) -> str:
    if not truncated:
        return text
    note = "（问题过长，只使用了开头部分。）" if chinese else " (The question was too long; only its start was used.)"
    return text + note
