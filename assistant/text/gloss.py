"""Glossed sentences: every word of a Chinese sentence with its pinyin and a short English gloss (CC-CEDICT).

The reading aid of a pop-up dictionary, offline: numbers, dates and percentages and Latin-script names pass
through as they are, Chinese runs are cut by jieba and looked up; a word the dictionary lacks is split into
dictionary words when it is made of them, else it keeps only its pinyin. Every word is an exact sub-span of
the sentence, so its offsets index the stored document text.
"""

from __future__ import annotations

import gzip
import os
import re
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from assistant.text.bilingual import dictionary_path
from assistant.text.cedict_store import dictionary_cache
from assistant.text.tokenize import Segmenter, full_segmenter

# a date, a number (with 万/亿 and a percent sign), a Latin-script word, a run of Chinese characters
PIECE = re.compile(
    r"(?P<date>\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?|\d{1,2}月(?:\d{1,2}日)?)(?![0-9])"
    r"|(?P<number>\d+(?:[.,]\d+)*(?:万亿|亿|万)?(?:%|％)?)(?![A-Za-z0-9])"
    r"|(?P<latin>[A-Za-z0-9]+(?:[.\-+/&'][A-Za-z0-9]+)*)"
    r"|(?P<cjk>[\u3400-\u9fff\uf900-\ufaff]+)"
)
MAX_ENGLISH = 40  # characters of English per word: a gloss, not an entry
_LOADING = threading.Lock()
_MONTHS = "January February March April May June July August September October November December".split()
_SCALE = {"万": 10**4, "亿": 10**8, "万亿": 10**12}
_NOISE = ("variant of", "cl:", "surname ", "see ", "pr. [", "used in ", "abbr. for", "also written", "taiwan pr")
_REFERENCE = re.compile(r"\S*\[[^\]]*\]")  # "滬|沪[Hu4]": a cross-reference, unreadable to the asker
_PAREN = re.compile(r"\s*\([^)]*\)\s*")
# the everyday reading of common characters whose other readings more dictionary words use (将军, 还款, 着落)
_EVERYDAY = {"将": "jiang1", "还": "hai2", "着": "zhe5", "得": "de5", "都": "dou1", "和": "he2", "要": "yao4"}
_EVERYDAY.update({"没": "mei2", "为": "wei4", "了": "le5", "的": "de5", "地": "di4", "大": "da4", "重": "zhong4"})
_TONES = {"a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò", "u": "ūúǔù", "ü": "ǖǘǚǜ"}


@dataclass(frozen=True)
class Gloss:
    """One word of a cited sentence, ``[start, end)`` of document ``doc_id``, with pinyin and a short English gloss.

    ``kind``: "word" (in CC-CEDICT), "unknown" (not in it: pinyin only), "number" (digits, dates and
    percentages, shown as they are; ``english`` reads 万/亿 and dates: "170亿" -> "17 billion") or "latin"
    (Latin-script names such as D3OS, shown as they are).
    """

    doc_id: str
    start: int
    end: int
    text: str
    pinyin: str = ""
    english: str = ""
    kind: str = "word"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Entry(NamedTuple):
    pinyin: str  # tone-marked, syllables of a word joined ("shùjù", "Shànghǎi")
    english: str  # "" when the entry has no usable definition


def gloss_words(doc_id: str, start: int, text: str, segmenter: Segmenter | None = None) -> list[Gloss]:
    """The words of ``text`` (which starts at ``start`` of document ``doc_id``), punctuation and spaces left out."""
    return [Gloss(doc_id, start + a, start + b, text[a:b], p, e, k) for a, b, p, e, k in _relative(text, segmenter)]


@lru_cache(maxsize=4096)
def _relative(text: str, segmenter: Segmenter | None) -> tuple[tuple[int, int, str, str, str], ...]:
    out: list[tuple[int, int, str, str, str]] = []
    for m in PIECE.finditer(text):
        kind = m.lastgroup or ""
        if kind == "cjk":
            at = m.start()
            for word in (segmenter or full_segmenter()).words(m.group()):
                for a, b, entry in _lookup(word):
                    out.append((at + a, at + b, entry.pinyin, entry.english, "word" if entry.english else "unknown"))
                at += len(word)
        elif kind == "latin" and not m.group().isdigit():
            out.append((m.start(), m.end(), "", "", "latin"))
        else:
            out.append((m.start(), m.end(), "", read_number(m.group()), "number"))
    return tuple(out)


def _lookup(word: str) -> list[tuple[int, int, Entry]]:
    """A word's entry; a word the dictionary lacks: its dictionary parts of 2+ characters, else pinyin only."""
    table = gloss_table()
    found = entry(table, word)
    if found is not None:
        return [(0, len(word), found)]
    parts = _longest_matches(word, table)
    if len(parts) > 1 and all(b - a > 1 for a, b in parts):
        return [(a, b, entry(table, word[a:b]) or Entry("", "")) for a, b in parts]
    readings = [(entry(table, ch) or Entry("", "")).pinyin for ch in word]
    return [(0, len(word), Entry(_join(readings), ""))]


def _longest_matches(word: str, table: dict[str, str]) -> list[tuple[int, int]]:
    out, i = [], 0
    while i < len(word):
        j = next((j for j in range(min(len(word), i + 8), i, -1) if word[i:j] in table), i + 1)
        out.append((i, j))
        i = j
    return out


def read_number(text: str) -> str:
    """An English reading of a number or date when it has Chinese in it ("170亿" -> "17 billion"), else ""."""
    m = re.fullmatch(r"(?:(\d{4})年)?(?:(\d{1,2})月)?(?:(\d{1,2})日)?", text)
    if m and any(m.groups()):
        year, month, day = m.groups()
        name = _MONTHS[int(month) - 1] if month and 1 <= int(month) <= 12 else (f"month {month}" if month else "")
        return " ".join(x for x in (day or "", name, year or "") if x)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(万亿|亿|万)(%|％)?", text.replace(",", ""))
    if not m:
        return ""
    value = float(m.group(1)) * _SCALE[m.group(2)]
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million")):
        if value >= size:
            return f"{value / size:,.2f}".rstrip("0").rstrip(".") + f" {word}"
    return f"{value:,.0f}"


def gloss_table() -> dict[str, str]:
    """term (simplified and traditional) -> "pinyin<TAB>english" (read with ``entry``); {} without the dictionary."""
    path = dictionary_path()
    if path is None:
        return {}
    with _LOADING:  # threads asking at once (the chat warms it up) read or parse it once
        return _table(path)


def entry(table: dict[str, str], term: str) -> Entry | None:
    value = table.get(term)
    if value is None:
        return None
    pinyin, _, english = value.partition("\t")
    return Entry(pinyin, english)


@lru_cache(maxsize=2)
def _table(path: Path) -> dict[str, str]:
    """The table, from a tab-separated cache keyed by the dictionary's SHA-256 (read in ~0.2 s; parsing: seconds)."""
    cache = dictionary_cache(path, "cedict-gloss-{digest}-v2.tsv")
    try:
        return dict(line.split("\t", 1) for line in cache.read_text(encoding="utf-8").split("\n") if line)
    except (OSError, ValueError):
        pass  # no cache yet, or an unreadable one
    table = _parse(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("".join(f"{t}\t{v}\n" for t, v in sorted(table.items())), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass
    return table


def _parse(path: Path) -> dict[str, str]:
    rows: list[tuple[list[str], list[str], list[str], int]] = []
    used: dict[tuple[str, str], int] = {}  # (character, syllable) -> words of 2+ characters that read it so
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for order, line in enumerate(fh):
            if line.startswith("#") or "[" not in line:
                continue
            head, _, rest = line.partition("/")
            terms, _, bracket = head.partition("[")
            syllables = bracket.partition("]")[0].split()
            if not syllables:
                continue
            definitions = [d for d in (_definition(raw) for raw in rest.rstrip().rstrip("/").split("/")) if d]
            names = list(dict.fromkeys(terms.split()))
            rows.append((names, syllables, definitions, order))
            for term in names:
                if len(term) > 1 and len(term) == len(syllables):
                    for ch, syl in zip(term, syllables, strict=True):
                        used[(ch, syl.lower())] = used.get((ch, syl.lower()), 0) + 1
    best: dict[str, tuple[tuple[bool, bool, int, int], str]] = {}
    for names, syllables, definitions, order in rows:
        value = _join([pinyin_syllable(s) for s in syllables]) + "\t" + _short(definitions)
        for term in names:
            # an entry with definitions before a bare variant, a common reading before a name's; then for one
            # character the reading most words use (卡 kǎ, not qiǎ), for a word the longest entry; then file order
            common = used.get((term, syllables[0].lower()), 0) if len(term) == 1 else len(definitions)
            if _EVERYDAY.get(term) == syllables[0]:
                common = 1 << 30
            rank = (not definitions, syllables[0][:1].isupper(), -common, order)
            if term not in best or rank < best[term][0]:
                best[term] = (rank, value)
    return {t: v for t, (_, v) in best.items()}


def _definition(raw: str) -> str:
    text = raw.strip()
    if not text or any(n in text.lower() for n in _NOISE):
        return ""
    text = _REFERENCE.sub("", text)
    plain = _PAREN.sub(" ", text).strip(" ,;")
    return " ".join((plain or text.strip("() ")).split())


def _short(definitions: list[str]) -> str:
    out = ""
    for d in definitions[:2]:
        joined = f"{out}; {d}" if out else d
        if out and len(joined) > MAX_ENGLISH:
            break
        out = joined
    return out if len(out) <= MAX_ENGLISH else out[: MAX_ENGLISH - 1].rsplit(" ", 1)[0] + "…"


def pinyin_syllable(syllable: str) -> str:
    """A CC-CEDICT syllable with its tone as a mark: "Shang4" -> "Shàng", "lu:4" -> "lǜ", "de5" -> "de"."""
    m = re.fullmatch(r"([A-Za-z:]+)([1-5])", syllable)
    if not m:
        return syllable.replace("u:", "ü")
    base, tone = m.group(1).replace("u:", "ü").replace("U:", "Ü"), int(m.group(2))
    low = base.lower()
    if tone == 5 or not any(v in low for v in _TONES):
        return base
    at = low.find("a") if "a" in low else low.find("e") if "e" in low else low.find("o") if "ou" in low else -1
    if at < 0:
        at = max(low.rfind(v) for v in _TONES)
    mark = _TONES[low[at]][tone - 1]
    return base[:at] + (mark.upper() if base[at].isupper() else mark) + base[at + 1 :]


def _join(syllables: list[str]) -> str:
    """Syllables of one word joined, with an apostrophe before a vowel-initial one ("Xī'ān")."""
    out = ""
    for s in syllables:
        if out and s[:1].lower() in "aeoāáǎàēéěèōóǒò":
            out += "'"
        out += s
    return out
