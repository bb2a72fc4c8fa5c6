"""Why a sentence was cited: the question's words found in it, and the numbers that answer a number question.

A word of the question reaches a Chinese sentence through the same characters or Latin word, through
CC-CEDICT ("engine" -> 引擎) or through its pinyin spelling ("Laoshan" -> 崂山): ``Retriever.word_terms`` says
which corpus terms each word reached and how. For a how-many / how-much / when question the sentence's
numbers (or its dates) are marked too. Every match is an exact sub-span of the citation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from assistant.retrieve.retriever import Retriever
from assistant.text.bilingual import PINYIN
from assistant.text.gloss import PIECE
from assistant.text.lang import CJK
from assistant.types import Answer, Citation, Match

WHEN = re.compile(
    r"\bwhen\b|\bwhat (?:year|date|month|day|time)\b|\bwhich (?:year|month)\b|\bsince when\b"
    r"|何时|什么时候|哪一?年|哪一?天|几月|几号|几时|什么时间|何年",
    re.IGNORECASE,
)
QUANTITY = re.compile(
    r"\bhow (?:many|much|large|big|long|fast|high|far|often)\b|\bwhat (?:percentage|share|proportion|amount|number)\b"
    r"|多少|几(?!乎)|多大|多长|多久|多高|多快|比例|百分之",
    re.IGNORECASE,
)


def explain(retriever: Retriever, answer: Answer) -> Answer:
    """The answer with each citation's ``matches`` filled in (an abstention without citations is returned as is)."""
    if not answer.citations:
        return answer
    words = _question_words(retriever, answer.question)
    asks = _asks_for(answer.question)
    cited = [dataclasses.replace(c, matches=tuple(find_matches(c, words, asks))) for c in answer.citations]
    return dataclasses.replace(answer, citations=cited)


def find_matches(citation: Citation, words: Sequence[tuple[str, tuple[str, ...], str]], asks: str) -> list[Match]:
    """Non-overlapping matches inside ``citation``, in text order: the longest match wins where two overlap."""
    text = citation.text
    found: list[tuple[int, int, str, str]] = []
    for term, alternatives, via in words:
        for alternative in alternatives:
            found.extend((start, end, term, via) for start, end in _occurrences(text, alternative))
    if asks:
        for piece in PIECE.finditer(text):
            if _answers(asks, piece.lastgroup or "", piece.group()):
                found.append((piece.start(), piece.end(), asks, "number"))
    kept: list[tuple[int, int, str, str]] = []
    for start, end, term, via in sorted(found, key=lambda f: (-(f[1] - f[0]), f[0])):
        if all(end <= s or start >= e for s, e, _, _ in kept):
            kept.append((start, end, term, via))
    base = citation.start
    return [Match(citation.doc_id, base + s, base + e, text[s:e], term, via) for s, e, term, via in sorted(kept)]


def _occurrences(text: str, term: str) -> list[tuple[int, int]]:
    if not term:
        return []
    if CJK.search(term):
        return [(m.start(), m.end()) for m in re.finditer(re.escape(term), text)]
    # a Latin token is a whole word, in any case: "d3os" finds "D3OS", not the "os" inside it
    pattern = rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]


def _answers(asks: str, kind: str, text: str) -> bool:
    """A date (or a plain year such as 2024) answers "when"; any other number answers "how many"."""
    year = kind == "number" and len(text) == 4 and text.isdigit() and text[:2] in ("19", "20")
    if asks == "when":
        return kind == "date" or year
    return kind == "number" and not year


def _asks_for(question: str) -> str:
    """ "when" for a question about a date, "how many" for one about a quantity, else ""."""
    if WHEN.search(question):
        return "when"
    return "how many" if QUANTITY.search(question) else ""


def _question_words(retriever: Retriever, question: str) -> list[tuple[str, tuple[str, ...], str]]:
    """The question's words as the question spells them, with the corpus terms they reach and how."""
    out = []
    for word, alternatives, via in retriever.word_terms(question):
        if alternatives:
            out.append((_as_written(question, word), alternatives, via))
    return out


def _as_written(question: str, word: str) -> str:
    """The question's own spelling of a lower-cased word or pinyin key ("=guizhihui" -> "Gui Zhihui")."""
    letters = word[len(PINYIN) :] if word.startswith(PINYIN) else word
    pattern = r"[\s\-]*".join(re.escape(ch) for ch in letters)
    m = re.search(pattern, question, re.IGNORECASE) if letters else None
    return m.group() if m else letters
