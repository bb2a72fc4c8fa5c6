"""Calibrated confidence for an answer, and abstention below a threshold (learned abstention).

``judge`` puts the answerability model's probability (:mod:`assistant.answer.answerability`) on the
answer as ``Answer.confidence``. An extractive answer below ``AbstentionConfig.hedge_below`` is worded as
what it is, the closest the documents come ("The closest the documents come is …"), with its citations.
With a threshold — the caller's ``min_confidence``, else the model's per-language threshold when
``AbstentionConfig.learned`` is on — an answer below it is turned into an abstention that still shows what
the documents come closest to ("The documents may not answer this. The closest they come is …"), with its
citations, so that a reader can judge it.
"""

from __future__ import annotations

import math
from dataclasses import replace

from assistant.answer.answerability import Model, ModelError, shipped
from assistant.answer.base import Evidence
from assistant.answer.features import features
from assistant.config import AbstentionConfig, AnswerConfig
from assistant.errors import InputError
from assistant.retrieve.retriever import Retriever
from assistant.text import messages
from assistant.text.lang import language
from assistant.types import Answer


def check_min_confidence(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"min_confidence must be a number from 0 to 1 or None, not {value!r}.")
    if not 0.0 <= float(value) <= 1.0:
        raise InputError(f"min_confidence must be from 0 to 1; got {value}.")
    return float(value)


def usable(retriever: Retriever) -> Model:
    """The shipped model, if it was fitted on this retriever's embedder; ``ModelError`` otherwise."""
    model = shipped()
    if model.embedder and model.embedder != retriever.embedder.name:
        raise ModelError(
            f"the answerability model was fitted on {model.embedder!r} scores, not {retriever.embedder.name!r}; "
            "refit it: python -m assistant --embedder ... train answerability --rebuild"
        )
    return model


def confidence(
    retriever: Retriever,
    evidence: Evidence,
    cfg: AnswerConfig = AnswerConfig(),
    abst: AbstentionConfig = AbstentionConfig(),
) -> float | None:
    """The model's probability that the documents answer the question; None without a usable model."""
    try:
        model = usable(retriever)
    except ModelError:
        return None
    lang = language(evidence.query.text)
    return model.probability(features(retriever, evidence, cfg, abst), lang)


def judge(
    retriever: Retriever,
    evidence: Evidence,
    answer: Answer,
    cfg: AnswerConfig = AnswerConfig(),
    abst: AbstentionConfig = AbstentionConfig(),
    min_confidence: float | None = None,
) -> Answer:
    """``answer`` with its confidence; an abstention when that is below the threshold in force."""
    lang = language(evidence.query.text)
    if min_confidence is None and abst.learned:
        min_confidence = usable(retriever).threshold(lang)  # learned on: no usable model is an error
    p = confidence(retriever, evidence, cfg, abst)
    if p is None:
        if min_confidence is not None:
            usable(retriever)  # raises ModelError with the reason
        return answer
    answer = replace(answer, confidence=round(p, 4))
    quote = " ".join(f"{c.text}[{c.label}]" for c in answer.citations)
    if min_confidence is None or answer.abstained or p >= min_confidence:
        if answer.abstained or p >= abst.hedge_below or not quote or answer.answerer != "extractive":
            return answer
        text = messages.with_truncation_note(messages.hedged(lang, quote), answer.truncated, lang)
        return replace(answer, text=text, flags=(*answer.flags, "low_confidence"))
    text = messages.closest(lang, quote) if quote else messages.abstain(lang)
    return replace(
        answer,
        text=messages.with_truncation_note(text, answer.truncated, lang),
        abstained=True,
        flags=(*answer.flags, "low_confidence"),
    )
