"""The claim check of a generated sentence: its numbers and names must be found in the sentences it cites.

A marker only says which source the model meant; this checks what the sentence says against that source.
Every number of the sentence, read with its unit (亿 = 10^8, 万 = 10^4, thousand, million, billion, %),
must equal a number of a cited sentence read the same way: "170亿元" is 17 billion, so "170 billion" is
not supported by it, and "5万台" is 50 thousand, not 5 million. Every name (a capitalised or mixed
letter-digit Latin word such as "Qingdao", "COSMOPlat" or "D3OS"; a proper noun of a Chinese answer) must
appear in a cited sentence: as written, through a CC-CEDICT translation, or spelled in pinyin.

It does not prove entailment (a sentence can reuse the right number for a wrong claim), but a number or
name the cited text does not contain is never shown as cited. See docs/generation.md.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from assistant.text.lang import CJK
from assistant.text.tokenize import STOP_EN

# ------------------------------------------------------------------ numbers

_UNIT_ZH = {"十": 10.0, "百": 1e2, "千": 1e3, "万": 1e4, "亿": 1e8}
_UNIT_EN = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_EN_SCALE = r"(?:hundred\s+million|thousand|million|billion|trillion)"
_DIGITS = r"\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?"
# a number not glued to a Latin letter before it (D3OS) or a digit or decimal point
_NUMBER = re.compile(
    rf"(?<![A-Za-z\d.])(?P<n>{_DIGITS})"
    rf"(?:\s*(?P<zh>[十百千万亿]+)|\s+(?P<en>{_EN_SCALE})\b|(?P<k>[kK])\b)?"
    r"(?P<pct>\s*(?:%|％|percent\b|per\s+cent\b))?",
)
_ORDINAL = re.compile(r"^(?:st|nd|rd|th)\b")
_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
MONTHS = "January February March April May June July August September October November December".split()
_MONTH = re.compile(
    r"\b(?:(?P<pre>in|since|from|until|by)\s+)?(?P<m>" + "|".join(MONTHS) + r")\b(?P<post>(?=\s+\d|,\s*\d))?"
)


class Number(NamedTuple):
    text: str  # as written
    value: float
    percent: bool


def numbers(text: str) -> list[Number]:
    """Numbers written with digits (and month names), each with its unit applied: "3.9亿" -> 390000000."""
    out = []
    for m in _NUMBER.finditer(text):
        after = text[m.end() :]
        if not (m.group("zh") or m.group("en") or m.group("pct") or m.group("k")):
            if after[:1].isascii() and after[:1].isalpha() and not _ORDINAL.match(after):
                continue  # glued to a word ("5G", "100P"): a name, checked as one
        value = float(m.group("n").replace(",", ""))
        if m.group("zh"):
            for ch in m.group("zh"):
                value *= _UNIT_ZH[ch]
        elif m.group("en"):
            scale = m.group("en").lower()
            value *= 1e8 if scale.startswith("hundred") else _UNIT_EN[scale]
        elif m.group("k"):
            value *= 1e3
        out.append(Number(m.group(0).strip(), value, bool(m.group("pct"))))
    for m in _MONTH.finditer(text):
        if m.group("pre") is None and m.group("post") is None:
            continue  # "May" alone may be the verb; a month is followed by a day or year, or follows "in"
        name = m.group("m")
        out.append(Number(name, float(MONTHS.index(name) + 1), False))
    return out


def chinese_numeral(text: str) -> float | None:
    """The value of a numeral in Chinese characters ("五", "二十", "三百", "两万"); None if not one."""
    total, section, digit = 0.0, 0.0, None
    for ch in text:
        if ch in _ZH_DIGIT:
            digit = float(_ZH_DIGIT[ch])
        elif ch in ("万", "亿"):
            section = (section + (digit or 0.0)) or 1.0
            total = (total + section) * _UNIT_ZH[ch]
            section, digit = 0.0, None
        elif ch in _UNIT_ZH:
            section += (1.0 if digit is None else digit) * _UNIT_ZH[ch]
            digit = None
        else:
            return None
    return total + section + (digit or 0.0)


def source_numbers(text: str) -> list[Number]:
    """The numbers a cited sentence offers: digits with units (also glued to words: "100P") and Chinese numerals."""
    out = numbers(text)
    for m in re.finditer(rf"(?<![\d.])(?P<n>{_DIGITS})(?=[A-Za-z])", text):
        out.append(Number(m.group(0), float(m.group("n").replace(",", "")), False))
    for m in _ZH_NUMERAL.finditer(text):
        value = chinese_numeral(m.group(0))
        if value is not None and (m.group(0)[0] == "十" or any(ch in _ZH_DIGIT for ch in m.group(0))):
            out.append(Number(m.group(0), value, False))
    return out


def same(a: Number, b: Number) -> bool:
    return a.percent == b.percent and math.isclose(a.value, b.value, rel_tol=1e-9, abs_tol=1e-9)


# ------------------------------------------------------------------ names

# acronyms of industry news and the Chinese terms that stand for them (CC-CEDICT keeps them in brackets only)
ACRONYMS = {
    "ai": ("人工智能", "智能"),
    "vr": ("虚拟现实",),
    "ar": ("增强现实",),
    "iot": ("物联网",),
    "gdp": ("国内生产总值", "生产总值"),
    "ceo": ("首席执行官", "总裁"),
    "r&d": ("研发",),
    "it": ("信息技术",),
    "ev": ("电动汽车", "新能源汽车"),
    "llm": ("大模型", "大语言模型"),
    "gpu": ("图形处理器", "显卡"),
    "pc": ("电脑", "计算机"),
}
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[+&-][A-Za-z0-9]+)*\+?|\d+[A-Za-z][A-Za-z0-9]*")
_POSSESSIVE = re.compile(r"['’]s$")
_NAME_RUN = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")
_STARTERS = {"according", "based", "yes", "no", "however", "also", "both", "there", "here"}
_NAME_TAGS = ("nr", "ns", "nt", "nz")


def latin_names(sentence: str) -> list[str]:
    """Latin words that name something: capitalised (not as the first word), all caps, or letters with digits.

    The first word of a sentence counts only when it cannot be an ordinary word: mixed case or digits
    ("COSMOPlat", "D3OS"), all capitals ("AI"), or a possessive ("Haier's").
    """
    out = []
    words = list(_LATIN.finditer(sentence))
    for i, m in enumerate(words):
        word = m.group(0)
        rest = sentence[m.end() : m.end() + 2]
        possessive = bool(_POSSESSIVE.match(rest))
        lower = word.lower()
        if lower in STOP_EN or lower in _STARTERS or (lower in _MONTH_NAMES):
            continue
        inner = any(ch.isupper() for ch in word[1:]) or any(ch.isdigit() for ch in word)
        if not (word[0].isupper() or inner):
            continue
        first = i == 0 or _starts_sentence(sentence[: m.start()])
        if first and not (inner or possessive):
            continue
        out.append(word)
    return out


_MONTH_NAMES = {m.lower() for m in MONTHS}


def _starts_sentence(before: str) -> bool:
    """True when only punctuation, markers or spaces come since the last sentence end (or the start)."""
    tail = re.sub(r"\[\d+\]", "", before).rstrip()
    return not tail or tail[-1] in '.!?:;。！？：；\n"“'


def chinese_names(sentence: str) -> list[str]:
    """Proper nouns of a Chinese sentence (jieba's part-of-speech tags: person, place, organisation, other)."""
    pairs = _posseg(sentence)
    return [w for w, flag in pairs if flag.startswith(_NAME_TAGS) and len(w) >= 2 and CJK.search(w)]


@lru_cache(maxsize=4096)
def _posseg(sentence: str) -> tuple[tuple[str, str], ...]:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return tuple((p.word, p.flag) for p in jieba.posseg.lcut(sentence))


# ------------------------------------------------------------------ the check


class Unsupported(NamedTuple):
    claim: str  # the number or name as written in the generated sentence
    kind: str  # "number" or "name"


Translate = Callable[[str], Iterable[str]]


class ClaimChecker:
    """Checks one generated sentence against the texts it cites.

    ``translate(word)`` gives Chinese terms for an English word (the retriever's CC-CEDICT dictionary);
    ``readings`` maps a Chinese character to its toneless pinyin syllables (CC-CEDICT).
    """

    def __init__(self, translate: Translate | None = None, readings: dict[str, list[str]] | None = None) -> None:
        self.translate = translate or (lambda word: ())
        self.readings = readings or {}

    def check(self, sentence: str, cited: Sequence[str], asked: str = "") -> list[Unsupported]:
        """The claims of ``sentence`` that no text of ``cited`` supports (empty: all supported).

        A name the question ``asked`` already says restates the question's subject ("Hisense's TVs …" for a
        question about Hisense TVs; the user named it, the model did not make it up): it is not checked.
        Numbers always are.
        """
        plain = re.sub(r"\[\d+\]", " ", sentence)
        offered = [n for text in cited for n in source_numbers(text)]
        missing = [Unsupported(n.text, "number") for n in numbers(plain) if not any(same(n, o) for o in offered)]
        joined = "\n".join(cited)
        spelled = self.spelled_names(plain, joined)
        for name in self.names(plain, asked):
            if name in spelled:
                continue
            found = self.name_found(name, joined) if name.isascii() else name in joined
            if not found:
                missing.append(Unsupported(name, "name"))
        return list(dict.fromkeys(missing))

    def claims(self, sentence: str, asked: str = "") -> list[str]:
        """The numbers and names of ``sentence`` that :meth:`check` checks."""
        plain = re.sub(r"\[\d+\]", " ", sentence)
        return [n.text for n in numbers(plain)] + self.names(plain, asked)

    def names(self, plain: str, asked: str = "") -> list[str]:
        out = [_POSSESSIVE.sub("", name) for name in latin_names(plain)]
        if CJK.search(plain):
            out += chinese_names(plain)
        if asked:
            lower = asked.lower()
            out = [n for n in out if not (re.search(rf"(?<![a-z]){re.escape(n.lower())}(?![a-z])", lower))]
        return list(dict.fromkeys(out))

    def spelled_names(self, plain: str, text: str) -> set[str]:
        """Words of a multi-word pinyin name ("Sun Xiaoxiao") whose joined spelling is in ``text`` (孙笑笑)."""
        out: set[str] = set()
        if not self.readings:
            return out
        for run in _NAME_RUN.finditer(plain):
            words = run.group(0).split()
            for i in range(len(words)):
                for j in range(i + 2, len(words) + 1):
                    if pinyin_in("".join(words[i:j]).lower(), text, self.readings):
                        out.update(words[i:j])
        return out

    def name_found(self, name: str, text: str) -> bool:
        """``name`` in ``text`` as written (any case), through the dictionary, or spelled in pinyin."""
        lower = text.lower()
        if name.lower() in lower or (len(name) > 3 and name.lower().rstrip("s") in lower):
            return True
        if name.endswith("s") and name[:-1].isupper() and name[:-1].lower() in lower:  # "PCs" for "PC"
            return True
        if any(term in text for term in (*self.translate(name.lower()), *ACRONYMS.get(name.lower(), ()))):
            return True
        return bool(self.readings) and pinyin_in(name.lower(), text, self.readings)


@lru_cache(maxsize=1)
def cedict_readings() -> dict[str, list[str]]:
    """Each Chinese character's toneless pinyin syllables from CC-CEDICT (empty without the dictionary)."""
    from assistant.text.bilingual import cedict_table, dictionary_path

    path = dictionary_path()
    return cedict_table(path).readings if path is not None else {}


def pinyin_in(name: str, text: str, readings: dict[str, list[str]]) -> bool:
    """True when ``name`` (letters only) spells two or more consecutive Chinese characters of ``text`` in pinyin."""
    name = re.sub(r"[^a-z]", "", name)
    if len(name) < 2:
        return False
    for start in range(len(text)):
        reach = {0}  # positions of ``name`` reached after characters text[start:...]
        for i, ch in enumerate(text[start:]):
            options = readings.get(ch)
            if not options:
                break
            reach = {p + len(o) for p in reach for o in options if name.startswith(o, p)}
            if not reach:
                break
            if len(name) in reach and i >= 1:
                return True
    return False
