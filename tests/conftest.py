"""Shared fixtures: a temporary corpus with the real article, a fake embedder, the real model."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.embed import HashingEmbedder
from tests.support.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "qingdao_ai_plus.txt"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return folder


@pytest.fixture
def fake() -> HashingEmbedder:
    return HashingEmbedder(64)


@pytest.fixture
def fake_bot(corpus_dir: Path, tmp_path: Path, fake: HashingEmbedder) -> Assistant:
    return Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    """The scripted OpenAI-compatible server on 127.0.0.1, one per test module."""
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The shipped set-up: bundled model over the article, index built once per session."""
    base = tmp_path_factory.mktemp("real")
    folder = base / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return Assistant.open(folder, base / "index", progress=False)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus server for the session (the `milvus` package's standalone 2.3.5, started on first use in a
    temporary folder, stopped by its own stop call and PID), or the one named by $ASSISTANT_TEST_MILVUS_URI."""
    given = os.environ.get("ASSISTANT_TEST_MILVUS_URI", "").strip()
    if given:
        yield given
        return
    from tests.support.milvus_server import MilvusServer

    folder = tmp_path_factory.mktemp("milvus-server")
    server = MilvusServer(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


TIERS = {"unit": "unit", "model": "model", "e2e": "e2e"}  # folder -> marker: `pytest -m unit` runs the first tier


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = TIERS.get(item.path.parent.name)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
