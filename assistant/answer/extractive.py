"""The extractive answerer: the best supporting sentences of the top passages, each with a citation."""

from __future__ import annotations

from assistant.answer.abstention import missing_focus, off_topic
from assistant.answer.base import Answerer, Evidence
from assistant.config import AbstentionConfig, AnswerConfig
from assistant.retrieve.evidence import candidates
from assistant.retrieve.retriever import Retriever
from assistant.text import messages
from assistant.text.lang import language
from assistant.types import Answer, Citation


class ExtractiveAnswerer(Answerer):
    """Quotes the one or two best sentences of the evidence pool, or abstains; no model, no network."""

    name = "extractive"

    def __init__(
        self,
        retriever: Retriever,
        config: AnswerConfig = AnswerConfig(),
        abstention: AbstentionConfig = AbstentionConfig(),
    ) -> None:
        self.retriever = retriever
        self.config = config
        self.abstention = abstention

    def answer(self, evidence: Evidence) -> Answer:
        return compose(self.retriever, evidence, self.config, self.abstention)


def compose(
    retriever: Retriever,
    evidence: Evidence,
    cfg: AnswerConfig = AnswerConfig(),
    abstention: AbstentionConfig = AbstentionConfig(),
) -> Answer:
    query, passages, truncated = evidence.query, list(evidence.passages), evidence.truncated
    lang = language(query.text)
    pool = evidence.pool if evidence.pool is not None else candidates(retriever, query, evidence.ranked, cfg)
    missing = missing_focus(retriever, query.text)
    if not pool or missing or off_topic(retriever, query, pool, abstention.margin, abstention.own_margin):
        text = messages.abstain(lang, missing)
        return Answer(query.text, messages.with_truncation_note(text, truncated, lang), True, [], passages, truncated)
    chosen = [pool[0]]
    for cand in pool[1:]:
        if len(chosen) >= cfg.max_citations or cand.score < pool[0].score - cfg.second_margin:
            break
        chosen.append(cand)
    citations = []
    parts = []
    for label, cand in enumerate(chosen, start=1):
        span = retriever.sentence_span(cand.row)
        sentence = retriever.document_text(span.doc_id)[span.start : span.end]
        citations.append(Citation(span.doc_id, span.start, span.end, label, sentence, round(cand.score, 6)))
        parts.append(f"{sentence}[{label}]")
    body = messages.QUOTE_PREFIX[lang] + " ".join(parts)
    return Answer(
        query.text, messages.with_truncation_note(body, truncated, lang), False, citations, passages, truncated
    )
