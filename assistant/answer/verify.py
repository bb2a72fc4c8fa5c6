"""Verification of a generated answer against the numbered sources it was given.

What it guarantees: every ``[n]`` left in the text refers to a source that was given, and its citation is
that exact ``(doc_id, start, end)`` span of stored text; markers that refer to nothing are removed and the
rest renumbered 1, 2, … in order of use; sentences carrying no valid marker are listed as unsupported; with a
:class:`~assistant.answer.claims.ClaimChecker`, a sentence whose numbers or names its cited sentences do not
contain is listed too (``failed``). What it does not: it cannot tell whether a cited sentence entails the
claim (see docs/generation.md).

Replies of small models come in many shapes; :func:`normalise` rewrites the ones that can be read without
guessing (marker spellings, list layout, "According to the sources," preambles, a Chinese name repeated in
brackets after its English one) and leaves the rest to be rejected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from assistant.answer.claims import ClaimChecker
from assistant.answer.prompts import DECLINE, Source
from assistant.text.lang import CJK
from assistant.types import Citation

_LABEL = r"(?:(?:source|sources|ref|refs|reference|references|来源|资料|出处)\s*)?"
_LIST = r"\d+(?:\s*(?:[,，、;；]|and|和|与|-|–|~|至)\s*\d+)*"
# [1], [1, 2], [1-3], [source 1], 【1】, 【资料1】 (models writing Chinese often use full-width brackets)
_ANY_MARKER = re.compile(rf"\[\s*{_LABEL}({_LIST})\s*\]|【\s*{_LABEL}({_LIST})\s*】", re.IGNORECASE)
# (1), （1）, (source 2): a marker only when every number is a given source (a line's leading (1) is a list item)
_PAREN_MARKER = re.compile(rf"\s*[(（]\s*{_LABEL}({_LIST})\s*[)）]", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+)\s*[-–~至]\s*(\d+)")
# a sentence ends at 。！？ or at .!? followed by a space, a marker or the end (not inside 3.9)
_SENTENCE = re.compile(r".*?(?:[。！？!?…]+|\.(?=\s|\[|$)|$)(?:\s*\[\d+\])*", re.DOTALL)
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?。，；：！？])")
_DECLINE_PATTERNS = re.compile(
    r"(sources?|article|documents?|context|provided)\b.{0,40}\b(not|no|never)\b"
    r"|\b(not|no|never)\b.{0,40}\b(sources?|article|documents?|context|information)\b"
    r"|cannot answer|can't answer|unable to answer"
    r"|没有(回答|提到|提及|相关|答案|涉及|说明|给出|明确)|未(提到|提及|说明|涉及|给出)|无法(回答|确定|得知)|不包含",
    re.IGNORECASE | re.DOTALL,
)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}(?:[.)．]\s+|、)|[(（]\d{1,2}[)）]\s*|[-*•·]\s+)")
_LABEL_LINE = re.compile(r"^\s*(?:answer|a|回答|答案|答)\s*[:：]\s*", re.IGNORECASE)
_PREAMBLE = {
    "en": re.compile(
        r"^(?:according to|based on|as (?:stated|mentioned|described|shown) in|from|per)\s+(?:the\s+)?"
        r"(?:provided\s+|given\s+|above\s+|numbered\s+)?(?:<\s*sources\s*>|sources?|source sentences?|information|"
        r"article|context|documents?|text|passages?)(?:\s+(?:provided|given|above))?(?P<m>(?:\s*\[\d+\])*)\s*[,:]\s*",
        re.IGNORECASE,
    ),
    "zh": re.compile(
        r"^(?:根据|依据|按照|基于|从)(?:上述|以上|所给|所提供的|提供的|给定的|给出的)?\s*(?:<\s*sources\s*>|资料|来源|信息|"
        r"材料|文章|新闻|内容|文本|句子)(?:中的|里的|中|里)?(?:信息|内容|资料|描述|记载)?(?P<m>(?:\s*\[\d+\])*)"
        r"\s*(?:可知|来看|显示|所示)?\s*[，,：:]\s*"
    ),
}
_TAG = re.compile(r"</?\s*sources\s*>", re.IGNORECASE)
_MARKDOWN = re.compile(r"\*\*|__|`|^#+\s*", re.MULTILINE)
_CJK_IN_BRACKETS = re.compile(r"(?<=[A-Za-z0-9\s])\s*[(（][\u3400-\u9fff·\s]+[)）]")
_FULL_WIDTH = {"，": ", ", "。": ". ", "：": ": ", "；": "; ", "！": "! ", "？": "? ", "（": " (", "）": ") "}
_END = ".!?。！？…:：;；"


class Verified(NamedTuple):
    text: str  # the answer with valid markers renumbered and invalid ones removed
    citations: list[Citation]  # label i = the i-th distinct source cited
    flags: tuple[str, ...]
    unsupported: tuple[str, ...]  # sentences with no valid marker, or with a claim their sources lack
    declined: bool  # the model said the sources do not answer (and cited nothing)
    language_ok: bool = True  # written in the question's language (see :func:`language_ok`)
    failed: tuple[str, ...] = ()  # numbers and names no cited sentence contains


def normalise(raw: str, lang: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The reply rewritten where that changes no claim, and what was rewritten (as flags).

    One line per sentence with list bullets or numbers dropped; bold, code and heading marks dropped; an
    opening "According to the sources," / "根据资料，" dropped (its markers kept); in an English answer a
    Chinese name in brackets right after its English one dropped, and full-width punctuation made ASCII.
    """
    flags: list[str] = []
    text = _MARKDOWN.sub("", raw.strip())
    lines: list[str] = []
    for line in text.splitlines():
        item = _LIST_ITEM.sub("", line)
        if item != line:
            flags.append("normalised:list")
        item = _LABEL_LINE.sub("", item).strip()
        if not item:
            continue
        if item[-1] in ":：" and not _MARKER.search(item) and len(item) <= 40 and lines == []:
            flags.append("normalised:heading")  # "Here is the answer:" before the answer
            continue
        lines.append(item)
    parts = []
    for item in lines:
        bare = _MARKER.sub("", _ANY_MARKER.sub("", item)).rstrip()
        if len(lines) > 1 and bare and bare[-1] not in _END:
            item += "。" if CJK.search(bare) else "."
        parts.append(item)
    text = ""
    for part in parts:
        text += part if not text or text[-1] in "。！？" else " " + part
    for key in (lang,) if lang in _PREAMBLE else tuple(_PREAMBLE):
        m = _PREAMBLE[key].match(text)
        if m:
            flags.append("normalised:preamble")
            text = _move_markers(m.group("m") or "", text[m.end() :])
            if key == "en":
                text = text[:1].upper() + text[1:]
    if lang == "en" and CJK.search(text):
        cut = _CJK_IN_BRACKETS.sub("", text)
        if cut != text:
            flags.append("normalised:chinese_in_brackets")
            text = cut
    if lang == "en" and any(ch in text for ch in _FULL_WIDTH) and not CJK.search(text):
        for wide, ascii_ in _FULL_WIDTH.items():
            text = text.replace(wide, ascii_)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        flags.append("normalised:punctuation")
    return _TAG.sub("", text).strip(), tuple(dict.fromkeys(flags))


def _move_markers(markers: str, rest: str) -> str:
    """``rest`` with the markers of a dropped preamble put at the end of its first sentence."""
    if not markers.strip():
        return rest
    first = _SENTENCE.match(rest)
    end = first.end() if first else len(rest)
    head = rest[:end].rstrip()
    stop = len(head)
    while stop and head[stop - 1] in _END:
        stop -= 1
    gap = " " if head[:stop][-1:].isascii() and head[:stop][-1:].isalnum() else ""
    return head[:stop] + gap + markers.strip() + head[stop:] + rest[end:]


def verify(
    raw: str,
    sources: Sequence[Source],
    lang: str | None = None,
    checker: ClaimChecker | None = None,
    question: str = "",
) -> Verified:
    """Check and rewrite the markers of ``raw`` against ``sources`` (numbered as given to the model).

    With a ``checker``, a sentence without a marker whose numbers and names are all in one source gets that
    source's marker (``inferred_marker:n``): for an English sentence at least two such claims and the only
    source holding them all; for a Chinese one at least one, in the source sharing most of its wording (half
    of its character pairs or more). The claim check then holds for it as for any cited sentence.
    """
    by_number = {s.number: s for s in sources}
    text, norm_flags = normalise(raw, lang)
    flags: list[str] = list(norm_flags)
    labels: dict[int, int] = {}  # source number -> new label

    def numbers_of(listed: str) -> list[int]:
        out: list[int] = []
        for part in re.split(r"\s*(?:[,，、;；]|and|和|与)\s*", listed):
            r = _RANGE.fullmatch(part.strip())
            if r and 0 < int(r.group(2)) - int(r.group(1)) <= 5:
                out.extend(range(int(r.group(1)), int(r.group(2)) + 1))
            else:
                out.extend(int(t) for t in _NUMBER.findall(part))
        return out

    def rewrite(m: re.Match[str]) -> str:
        out = []
        for number in numbers_of(m.group(1) or m.group(2)):
            if number not in by_number:
                flags.append(f"invalid_marker:{number}")
                continue
            label = labels.setdefault(number, len(labels) + 1)
            if f"[{label}]" not in out:
                out.append(f"[{label}]")
        return "".join(out)

    def paren(m: re.Match[str]) -> str:
        listed = numbers_of(m.group(1))
        if listed and all(n in by_number for n in listed):
            flags.append("normalised:parenthesised_marker")
            return "[" + ",".join(map(str, listed)) + "]"
        return m.group(0)

    text = _PAREN_MARKER.sub(paren, text)
    if checker is not None:
        text = _infer_markers(text, sources, checker, flags)
    text = _ANY_MARKER.sub(rewrite, text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = re.sub(r"(\[\d+\])(?:\1)+", r"\1", text).strip()  # [1][1] -> [1]
    if lang == "en":
        text = re.sub(r"(?<=[A-Za-z0-9%])(?=\[\d+\])", " ", text)  # "in 2023[1]" -> "in 2023 [1]"
    if any(number != label for number, label in labels.items()):
        flags.append("renumbered")
    citations = []
    for number, label in sorted(labels.items(), key=lambda item: item[1]):
        s = by_number[number]
        citations.append(Citation(s.span.doc_id, s.span.start, s.span.end, label, s.text, round(s.score, 6)))
    text = "".join(_marker_last(piece) for piece in _SENTENCE.findall(text))
    declined = not citations and declines(text)
    by_label = {c.label: c.text for c in citations}
    unsupported: list[str] = []
    failed: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.findall(text)):
        if declined or not any(ch.isalnum() for ch in sentence):
            continue
        cited = [by_label[int(n)] for n in _MARKER.findall(sentence)]
        missing = checker.check(sentence, cited, question) if checker is not None else []
        failed.extend(u.claim for u in missing if u.claim not in failed)
        if not cited or missing:
            unsupported.append(sentence)
    if unsupported:
        flags.append(f"unsupported_sentences:{len(unsupported)}")
    flags.extend(f"unsupported_claim:{claim}" for claim in failed)
    if declined:
        flags.append("model_declined")
    elif not citations:
        flags.append("no_valid_citation")
    ok = lang is None or language_ok(text, lang)
    if not ok:
        flags.append("wrong_language")
    return Verified(text, citations, tuple(flags), tuple(unsupported), declined, ok, tuple(failed))


def _infer_markers(text: str, sources: Sequence[Source], checker: ClaimChecker, flags: list[str]) -> str:
    """``text`` with the marker of the one source holding all the claims of a sentence that has none."""
    numbers_given = {s.number for s in sources}
    out = []
    for piece in _SENTENCE.findall(text):
        marked = any(int(n) in numbers_given for m in _ANY_MARKER.finditer(piece) for n in _NUMBER.findall(m.group(0)))
        if marked or not any(ch.isalnum() for ch in piece) or declines(piece):
            out.append(piece)
            continue
        chinese = bool(CJK.search(piece))
        if len(checker.claims(piece)) < (1 if chinese else 2):
            out.append(piece)  # too little to tell its source by (a lone year fits unrelated sentences)
            continue
        fits = [s for s in sources if not checker.check(piece, [s.text])]  # every claim, the question's too
        best = None
        if chinese and fits:
            scored = sorted(fits, key=lambda s: (_bigram_share(piece, s.text), s.score), reverse=True)
            if _bigram_share(piece, scored[0].text) >= 0.5:
                best = scored[0]
        elif len(fits) == 1:
            best = fits[0]
        if best is None:
            out.append(piece)
            continue
        flags.append(f"inferred_marker:{best.number}")
        lead = piece[: len(piece) - len(piece.lstrip())]
        out.append(lead + _move_markers(f"[{best.number}]", piece.lstrip()))
    return "".join(out)


def _bigram_share(sentence: str, source: str) -> float:
    """Share of the sentence's Chinese character pairs that the source contains."""
    chars = "".join(CJK.findall(sentence))
    pairs = {chars[i : i + 2] for i in range(len(chars) - 1)}
    return sum(p in source for p in pairs) / len(pairs) if pairs else 0.0


_LEADING = re.compile(r"^(\s*)((?:\[\d+\]\s*)+)")


def _marker_last(sentence: str) -> str:
    """A sentence that opens with its markers ("[2] 2023年上线。") with them moved before its end mark."""
    m = _LEADING.match(sentence)
    if not m or not sentence[m.end() :].strip():
        return sentence
    return m.group(1) + _move_markers(m.group(2), sentence[m.end() :])


def declines(text: str) -> bool:
    """True when ``text`` says the sources do not contain the answer."""
    plain = strip_markers(text)
    return any(d.rstrip("。.") in plain for d in DECLINE.values()) or bool(_DECLINE_PATTERNS.search(plain))


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def language_ok(text: str, lang: str) -> bool:
    """True when ``text`` (markers aside) is written in ``lang``.

    English: letters or digits and no Chinese character. Chinese: at least two Chinese characters per Latin
    word, digits not counted ("2024年" and "卡奥斯的D3OS平台" are Chinese; "It is 卡奥斯" is not).
    """
    plain = strip_markers(text)
    if not any(ch.isalnum() for ch in plain):
        return False
    cjk = len(CJK.findall(plain))
    if lang == "zh":
        return cjk > 0 and cjk >= 2 * len(_LATIN_WORD.findall(plain))
    return cjk == 0
