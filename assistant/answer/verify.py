"""Verification of a generated answer against the numbered sources it was given.

What it guarantees: every ``[n]`` left in the text refers to a source that was given, and its citation is
that exact ``(doc_id, start, end)`` span of stored text; markers that refer to nothing are removed and the
rest renumbered 1, 2, … in order of use; sentences carrying no valid marker are listed as unsupported.
What it does not: it cannot tell whether a cited sentence entails the claim (see docs/generation.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from assistant.answer.prompts import DECLINE, Source
from assistant.text.lang import is_chinese
from assistant.types import Citation

# [1], [1, 2], [1，2], 【1】 (models writing Chinese often use full-width brackets)
_ANY_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*\]|【\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*】")
_MARKER = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+")
# a sentence ends at 。！？ or at .!? followed by a space, a marker or the end (not inside 3.9)
_SENTENCE = re.compile(r".*?(?:[。！？!?]+|\.(?=\s|\[|$)|$)(?:\s*\[\d+\])*", re.DOTALL)
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?。，；：！？])")
_DECLINE_PATTERNS = re.compile(
    r"(sources?|article|documents?|context|provided)\b.{0,40}\b(not|no|never)\b"
    r"|\b(not|no|never)\b.{0,40}\b(sources?|article|documents?|context|information)\b"
    r"|cannot answer|can't answer|unable to answer"
    r"|没有(回答|提到|提及|相关|答案|涉及|说明)|未(提到|提及|说明|涉及)|无法(回答|确定|得知)|不包含",
    re.IGNORECASE | re.DOTALL,
)


class Verified(NamedTuple):
    text: str  # the answer with valid markers renumbered and invalid ones removed
    citations: list[Citation]  # label i = the i-th distinct source cited
    flags: tuple[str, ...]
    unsupported: tuple[str, ...]  # sentences with no valid marker
    declined: bool  # the model said the sources do not answer (and cited nothing)


def verify(raw: str, sources: Sequence[Source]) -> Verified:
    """Check and rewrite the markers of ``raw`` against ``sources`` (numbered as given to the model)."""
    by_number = {s.number: s for s in sources}
    flags: list[str] = []
    labels: dict[int, int] = {}  # source number -> new label

    def rewrite(m: re.Match[str]) -> str:
        out = []
        for token in _NUMBER.findall(m.group(1) or m.group(2)):
            number = int(token)
            if number not in by_number:
                flags.append(f"invalid_marker:{number}")
                continue
            label = labels.setdefault(number, len(labels) + 1)
            if f"[{label}]" not in out:
                out.append(f"[{label}]")
        return "".join(out)

    text = _ANY_MARKER.sub(rewrite, raw.strip())
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = re.sub(r"(\[\d+\])(?:\1)+", r"\1", text).strip()  # [1][1] -> [1]
    if any(number != label for number, label in labels.items()):
        flags.append("renumbered")
    citations = []
    for number, label in sorted(labels.items(), key=lambda item: item[1]):
        s = by_number[number]
        citations.append(Citation(s.span.doc_id, s.span.start, s.span.end, label, s.text, round(s.score, 6)))
    declined = not citations and declines(text)
    unsupported = tuple(
        sentence.strip()
        for sentence in _SENTENCE.findall(text)
        if any(ch.isalnum() for ch in sentence) and not _MARKER.search(sentence) and not declined
    )
    if unsupported:
        flags.append(f"unsupported_sentences:{len(unsupported)}")
    if declined:
        flags.append("model_declined")
    elif not citations:
        flags.append("no_valid_citation")
    return Verified(text, citations, tuple(flags), unsupported, declined)


def declines(text: str) -> bool:
    """True when ``text`` says the sources do not contain the answer."""
    plain = strip_markers(text)
    return any(d.rstrip("。.") in plain for d in DECLINE.values()) or bool(_DECLINE_PATTERNS.search(plain))


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def language_ok(text: str, lang: str) -> bool:
    """True when ``text`` (markers aside) is in ``lang`` ("zh" or "en"), judged by ``is_chinese``."""
    plain = strip_markers(text)
    if not any(ch.isalnum() for ch in plain):
        return False
    return is_chinese(plain) == (lang == "zh")
