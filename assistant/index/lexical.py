"""The lexical channel: BM25 (bm25s) over the tokens of ``assistant.text.tokenize``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.text.lang import CJK
from assistant.text.tokenize import WORDS_FILE, Segmenter, full_segmenter, tokenize


class LexicalIndex:
    """BM25 over tokenised texts; scores for every unit at once."""

    def __init__(self, bm25: object, size: int, segmenter: Segmenter | None = None) -> None:
        self._bm25 = bm25
        self.size = size
        self.segmenter = segmenter

    def tokenize(self, text: str) -> list[str]:
        """Tokenise a question or sentence with this index's own vocabulary."""
        return tokenize(text, self.segmenter)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        return cls.from_tokens([tokenize(t) for t in texts])

    @classmethod
    def from_tokens(cls, token_lists: Sequence[Sequence[str]]) -> LexicalIndex:
        """BM25 over already tokenised texts (an incremental build reuses unchanged chunks' tokens)."""
        import bm25s

        corpus_tokens = [list(tokens) or ["\u2205"] for tokens in token_lists]
        # term ids in sorted order (bm25s would number them in set order, which changes with each process's
        # string hash seed): the same tokens give the same files in any process, a local build's or a Ray driver's
        vocab = {term: i for i, term in enumerate(sorted({t for tokens in corpus_tokens for t in tokens}))}
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index(([[vocab[t] for t in tokens] for tokens in corpus_tokens], vocab), show_progress=False)
        return cls(model, len(corpus_tokens))

    def vocabulary(self) -> set[str]:
        return set(self._bm25.vocab_dict)  # type: ignore[attr-defined]

    def idf(self) -> dict[str, float]:
        """Inverse document frequency of every vocabulary term (from the BM25 matrix's column sizes)."""
        indptr = np.asarray(self._bm25.scores["indptr"])  # type: ignore[attr-defined]
        df = np.diff(indptr).astype(np.float64)
        n = float(self._bm25.scores["num_docs"])  # type: ignore[attr-defined]
        weights = np.log1p((n - df + 0.5) / (df + 0.5))
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        return {term: float(weights[i]) for term, i in vocab.items() if i < len(weights)}

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self._bm25.vocab_dict]  # type: ignore[attr-defined]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder))  # type: ignore[attr-defined]  # JSON + .npy, no pickle
        full = full_segmenter()
        lines = []
        for word in sorted(self.vocabulary()):
            if CJK.search(word) and " " not in word:
                lines.append(f"{word} {max(full.frequency(word), 10)}\n")
        (folder / WORDS_FILE).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25.load(str(folder), load_corpus=False, mmap=False)
        return cls(model, size, Segmenter.from_words(folder / WORDS_FILE))
