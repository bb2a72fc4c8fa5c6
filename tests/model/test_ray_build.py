"""Index builds on a local 2-worker Ray cluster give the local build's index, byte for byte."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import ray  # the 'ray' extra: installed by the test command; a missing extra fails, never skips

from assistant import Assistant
from assistant.cli import main
from assistant.index.ray_build import RayRunner
from tests.conftest import ARTICLE

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local cluster with 2 CPUs for this module; afterwards every process it started must be gone."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    node = ray._private.worker._global_node  # noqa: SLF001 - the processes this test started
    started = [info.process.pid for infos in node.all_processes.values() for info in infos]
    try:
        yield
    finally:
        children = []
        for pid in started:
            try:
                children += psutil.Process(pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        ray.shutdown()
        procs = [p for p in children if p.is_running()]
        for pid in started:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=20)
        for proc in alive:  # never a broad kill: only what this cluster started, by PID
            proc.kill()
        assert not alive, f"Ray processes left after ray.shutdown(): {[p.pid for p in alive]}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The article cut into four documents (by paragraph), so that the workers share four shards."""
    folder = tmp_path_factory.mktemp("ray") / "corpus"
    folder.mkdir()
    paragraphs = [p for p in ARTICLE.read_text(encoding="utf-8").split("\n") if p.strip()]
    quarter = -(-len(paragraphs) // 4)
    for i in range(4):
        part = paragraphs[i * quarter : (i + 1) * quarter]
        (folder / f"part_{i}.txt").write_text("\n".join(part), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return Assistant.open(corpus, tmp_path_factory.mktemp("local") / "index", rebuild=True, progress=False)


def same_files(a: Assistant, b: Assistant) -> None:
    """Every file of the two version folders (vectors, FAISS, offsets, tokens, BM25, dictionary) is identical."""
    fa, fb = a.index.manifest["files"], b.index.manifest["files"]
    assert len(fa) >= 12 and fa == fb, sorted(k for k in fa if fa.get(k) != fb.get(k))
    for key in ("counts", "embedded", "embedder", "chunking", "corpus_fingerprint", "faiss_factory"):
        assert a.index.manifest[key] == b.index.manifest[key], key


def test_ray_build_is_the_local_build(cluster: None, corpus: Path, local: Assistant, tmp_path: Path) -> None:
    runner = RayRunner(workers=2)
    try:
        ray_bot = Assistant.open(corpus, tmp_path / "index", runner=runner, progress=False)
        assert ray_bot.rebuilt and ray_bot.index.manifest["runner"] == "ray"
        assert len({pid for _, pid in runner.hosts}) == 2 and os.getpid() not in {p for _, p in runner.hosts}
    finally:
        runner.close()
    assert ray.is_initialized()  # a connection the runner did not make is left open
    assert local.index.manifest["runner"] == "local" and local.index.manifest["counts"]["chunks"] > 20
    same_files(local, ray_bot)
    question = "卡奥斯的D3OS是什么？"
    assert [p.to_dict() for p in ray_bot.retrieve(question)] == [p.to_dict() for p in local.retrieve(question)]


def test_cli_index_on_ray(cluster: None, corpus: Path, local: Assistant, tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert main(["--corpus", str(corpus), "--index", str(index), "-q", "index", "--ray", "--workers", "2"]) == 0
    on_ray = Assistant.open(corpus, index, progress=False)
    assert not on_ray.rebuilt and on_ray.index.manifest["runner"] == "ray"
    same_files(local, on_ray)
    # an index that is up to date is not built again, and needs no worker
    assert main(["--corpus", str(corpus), "--index", str(index), "-q", "index", "--ray"]) == 0
    assert json.loads((on_ray.index.folder / "manifest.json").read_text(encoding="utf-8"))["runner"] == "ray"
    assert Assistant.open(corpus, index, progress=False).index.folder == on_ray.index.folder
