"""Tokenising for the lexical channel: jieba words for Chinese runs, whole case-folded Latin tokens."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from assistant.text.lang import CJK

# Latin words, numbers and product names stay whole: D3OS, COSMO-GPT, 100P, 3.9, 5-9.
LATIN = re.compile(r"[A-Za-z0-9]+(?:[.\-+/][A-Za-z0-9]+)*")
STOP_ZH = set(
    (
        "的 了 是 在 和 与 及 也 都 就 而 这 那 个 一 有 为 把 被 让 对 从 到 "
        "将 等 中 上 下 其 之 或 还 又 着 过 吗 呢 什么 多少 哪些 如何 怎么"
    ).split()
)
STOP_EN = set(
    """a an the of to in on for and or is are was were be been being do does did what which who whom
    whose when where why how much many that this these those it its by with as at from about into
    than then there their they them he she his her you your we our i me my can could would should
    will shall may might has have had not no yes if so such any some all each per did does tell
    please say said according article""".split()
)

WORDS_FILE = "words.txt"  # the corpus vocabulary as a jieba dictionary, saved beside the BM25 arrays


class Segmenter:
    """Cuts Chinese runs into words with jieba.

    ``full()`` loads jieba's whole dictionary (for indexing). ``from_words()`` builds a small one
    from the corpus vocabulary saved with the index, so that a fresh process can tokenise questions
    in milliseconds instead of loading jieba's 350,000 words: only corpus words can score anyway.
    """

    def __init__(self, tokenizer: object) -> None:
        self._tk = tokenizer

    @classmethod
    def full(cls) -> Segmenter:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return cls(jieba.dt)

    @classmethod
    def from_words(cls, path: Path) -> Segmenter:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tk = jieba.Tokenizer(dictionary=None)
        with path.open("rb") as fh:
            tk.FREQ, tk.total = tk.gen_pfdict(fh)
        tk.total = max(tk.total, 1)
        tk.initialized = True
        return cls(tk)

    def cut(self, segment: str) -> list[str]:
        return self._tk.lcut_for_search(segment)  # type: ignore[attr-defined]

    def words(self, segment: str) -> list[str]:
        """The words of ``segment`` without overlaps (jieba's precise mode): they concatenate back to it."""
        return self._tk.lcut(segment)  # type: ignore[attr-defined]

    def frequency(self, word: str) -> int:
        return int(self._tk.FREQ.get(word) or 0)  # type: ignore[attr-defined]


_full: Segmenter | None = None


def full_segmenter() -> Segmenter:
    global _full
    if _full is None:
        _full = Segmenter.full()
    return _full


def tokenize(text: str, segmenter: Segmenter | None = None) -> list[str]:
    """Tokens for BM25: Latin runs whole and lower-cased, Chinese runs cut by jieba (search mode)."""
    tokens: list[str] = []
    pos = 0
    for match in LATIN.finditer(text):
        tokens.extend(_chinese_tokens(text[pos : match.start()], segmenter))
        word = match.group().lower()
        if word not in STOP_EN:
            tokens.append(word)
        pos = match.end()
    tokens.extend(_chinese_tokens(text[pos:], segmenter))
    return tokens


def _chinese_tokens(segment: str, segmenter: Segmenter | None) -> list[str]:
    if not CJK.search(segment):
        return []
    out = []
    for tok in (segmenter or full_segmenter()).cut(segment):
        tok = tok.strip()
        if tok and CJK.search(tok) and tok not in STOP_ZH:
            out.append(tok)
    return out
