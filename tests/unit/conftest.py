"""Fixtures of the first tier that several files use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.index.vectors.milvus import close_lite
from tests.support.milvus_server import empty


@pytest.fixture
def milvus_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``milvus://`` a Lite folder, or the session's server emptied first; parametrized by kind."""
    if request.param == "milvus-server":
        uri = str(request.getfixturevalue("milvus_server"))
        empty(uri)
        yield uri
        return
    yield f"milvus://{tmp_path / 'milvus.db'}"
    close_lite(tmp_path / "milvus.db")
