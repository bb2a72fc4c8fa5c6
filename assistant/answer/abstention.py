"""When not to answer: the question is off-topic, or the thing it asks for is not in the corpus.

Two checks, both cheap. The first compares the best candidate sentence with off-topic background
sentences (a cosine margin). The second reads what a question asks for — the noun of "多少X",
"X是多少", "X是谁", "how many X", "what is the X of", "what was Y's X" — and abstains when no word
of it occurs in the corpus, directly or through the bilingual dictionary: the article cannot state
the electricity bill ("电费") of a computing centre, or a company's net profit, if it never
mentions one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from assistant.retrieve.retriever import Query, Retriever
from assistant.text.tokenize import STOP_EN

# noun after 多少 (+ measure word), or the head noun before 是多少 / 有多少 / 是谁
_AFTER_HOW_MANY = re.compile(r"多少[个台家款项亩名位次届种条座]?([\u4e00-\u9fff]{2,6})")
_GENERIC = tuple("人年天钱元倍")  # 多少人参加, 多少年: counts of people, years, money are not nouns to look up
_BEFORE_WHAT_VALUE = re.compile(r"([\u4e00-\u9fff]{2,8})(?:是多少|有多少|是谁)")
_PARTICLES = re.compile(r"[的在是了有和与及]")
_COMPARATIVE = re.compile(r"more|less|fewer|[a-z]+er")  # also "power", "water": only fewer abstentions
_NOUN = r"((?:[a-z][\w-]* )?[a-z][\w-]*)"  # one or two words
_ENGLISH = (
    re.compile(r"\bhow (?:many|much) ([a-z][\w-]*)", re.I),  # only its first word: "how many employees"
    re.compile(r"\b(?:who|what) (?:is|was|are|were) the " + _NOUN + r" (?:of|in|for)\b", re.I),
    re.compile(r"\b(?:who|what) (?:is|was|are|were) [\w-]+'s " + _NOUN + r"(?= in\b| of\b|\s*\?|$)", re.I),
)


class Scores(Protocol):
    @property
    def row(self) -> int: ...

    @property
    def similarity(self) -> float: ...


def asked_for(question: str) -> str | None:
    """The noun a quantity or identity question asks for, if it can be read off."""
    for n, pattern in enumerate(_ENGLISH):
        m = pattern.search(question)
        if m:
            words = [w for w in m.group(1).lower().split() if w not in STOP_EN]
            if n == 0 and words and _COMPARATIVE.fullmatch(words[0]):
                return None  # "how much faster / more / longer": a degree, not a thing to look up
            return " ".join(words) or None
    m = _AFTER_HOW_MANY.search(question)
    if m:
        if m.group(1).startswith(_GENERIC):
            return None
        head = _PARTICLES.split(m.group(1))[0]
    else:
        m = _BEFORE_WHAT_VALUE.search(question)
        if not m:
            return None
        head = _PARTICLES.split(m.group(1))[-1]
    return head if len(head) >= 2 else None  # one character (钱, 人, 年) is too generic to judge


def missing_focus(retriever: Retriever, question: str) -> str | None:
    """The asked-for noun when none of its words is in the corpus (Chinese: two characters or more).

    "In the corpus" is what the lexical channel can match: a corpus token, or an English word with a
    dictionary translation or pinyin spelling among them (``Retriever.terms``).
    """
    head = asked_for(question)
    if head is None:
        return None
    units = retriever.terms(head).units
    found = any(head.isascii() or len(term) >= 2 for unit in units for term in unit)
    return None if found else head


def off_topic(retriever: Retriever, query: Query, pool: Sequence[Scores], margin: float, own_margin: float) -> bool:
    """True when the corpus matches the question no better than the background sentences do.

    In a conversation the question is also judged alone, with ``own_margin``: a follow-up such as
    "And how much did it cost?" is vague alone, but an off-topic question stays off-topic.
    """
    best = max(c.similarity for c in pool)
    if best - retriever.background_similarity(query.vector) < margin:
        return True
    if query.own_vector is query.vector:
        return False
    own_best = float(retriever.sentence_similarities([c.row for c in pool], query.own_vector).max())
    return own_best - retriever.background_similarity(query.own_vector) < own_margin
