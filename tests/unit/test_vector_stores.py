"""One contract for every vector store (FAISS, Milvus Lite, and a real Milvus server: the `milvus` package's
standalone 2.3.5, started once per session by the ``milvus_server`` fixture), and the same answers through Milvus
as through the local index."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pymilvus  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import pytest

from assistant import Assistant
from assistant.config import StoreConfig
from assistant.errors import IndexStoreError
from assistant.index.vectors.base import VectorStore
from assistant.index.vectors.faiss import FaissStore
from assistant.index.vectors.milvus import MilvusStore, close_lite, connect  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MILVUS_KINDS = ["milvus-lite", "milvus-server"]
KINDS = ["faiss", *MILVUS_KINDS]
DIM = 8
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()][:20]


def server_has_sparse(client: object) -> bool:
    """Sparse vectors came with Milvus 2.4; Lite 3.x has them (what the store must find out by itself)."""
    version = str(client.get_server_version())  # type: ignore[attr-defined]
    found = re.search(r"(\d+)\.(\d+)", version)  # "v2.3.5-lite" (the server), "milvus_lite-3.2.2" (Lite 3.x)
    assert found, version
    return (int(found[1]), int(found[2])) >= (2, 4)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def make_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    made: list[tuple[str, MilvusStore]] = []

    def make(kind: str) -> VectorStore:
        if kind == "faiss":
            return FaissStore(DIM, "Flat")
        uri = str(request.getfixturevalue("milvus_server")) if kind == "milvus-server" else ""
        client = connect(uri or f"milvus://{tmp_path / 'lite.db'}")
        store = MilvusStore.create(client, f"test_{uuid.uuid4().hex[:12]}", DIM)
        made.append((kind, store))
        return store

    yield make
    for kind, store in made:
        if kind == "milvus-server":
            store.client.drop_collection(store.collection)
    close_lite(tmp_path / "lite.db")


def _exact(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-(vectors @ query), kind="stable")[:k]]


@pytest.mark.parametrize("kind", KINDS)
def test_add_search_count_vector_round_trip(make_store, kind: str) -> None:
    store = make_store(kind)
    vectors = _vectors(60)
    store.add(vectors[:30])
    store.add(vectors[30:], np.arange(30, 60))
    assert store.count() == 60
    scores, ids = store.search(vectors[:4], 10)
    assert ids.shape == scores.shape == (4, 10)
    for row in range(4):
        assert ids[row].tolist() == _exact(vectors, vectors[row], 10)
        assert scores[row, 0] == pytest.approx(1.0, abs=1e-5)
        assert (np.diff(scores[row]) <= 1e-6).all()  # best first
    assert np.allclose(store.vector(7), vectors[7], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_delete_removes_rows(make_store, kind: str) -> None:
    store = make_store(kind)
    vectors = _vectors(20, seed=1)
    store.add(vectors)
    assert store.delete([19]) == 1
    assert store.count() == 19
    assert 19 not in store.search(vectors[19], 5)[1][0].tolist()
    assert store.delete([19]) == 0


@pytest.mark.parametrize("kind", MILVUS_KINDS)
def test_filters_by_document_inside_milvus(make_store, kind: str) -> None:
    store = make_store(kind)
    vectors = _vectors(40, seed=2)
    docs = ["a.txt" if i % 3 else 'b "quoted".txt' for i in range(40)]
    spans = np.column_stack([np.arange(40), np.arange(40) + 5])
    store.add(vectors, np.arange(40), doc_ids=docs, spans=spans)
    in_b = np.asarray([d != "a.txt" for d in docs])
    _, ids = store.search(vectors[1], 5, doc_ids=['b "quoted".txt'])
    expected = [int(i) for i in np.flatnonzero(in_b)[np.argsort(-(vectors[in_b] @ vectors[1]), kind="stable")[:5]]]
    assert ids[0].tolist() == expected
    _, ids = store.search(vectors[1], 3, ids=[5, 6, 7])
    assert sorted(ids[0].tolist()) == [5, 6, 7]
    assert store.delete_documents(["a.txt"]) == int((~in_b).sum())
    assert store.count() == int(in_b.sum())


@pytest.mark.parametrize("kind", MILVUS_KINDS)
def test_upsert_is_idempotent(make_store, kind: str) -> None:
    store = make_store(kind)
    vectors = _vectors(10, seed=3)
    store.add(vectors, np.arange(100, 110), doc_ids=["d"] * 10)
    store.add(vectors, np.arange(100, 110), doc_ids=["d"] * 10)
    assert store.count() == 10
    store.add(vectors[:1] * -1, [100], doc_ids=["d"])
    assert store.count() == 10
    assert np.allclose(store.vector(100), -vectors[0], atol=1e-6)


@pytest.mark.parametrize("kind", MILVUS_KINDS)
def test_sparse_search_reproduces_bm25s_where_the_server_has_sparse_vectors(make_store, kind: str) -> None:
    from assistant.index.lexical import LexicalIndex
    from assistant.index.remote_sync import sparse_row

    tokens = [["青岛", "人工智能"], ["人工智能", "产业", "产业"], ["青岛", "港口"], ["模型"]]
    lexical = LexicalIndex.from_tokens(tokens)
    bm25 = getattr(lexical, "_bm25")  # noqa: B009
    from scipy.sparse import csc_matrix

    s = bm25.scores
    matrix = csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], len(s["indptr"]) - 1)).tocsr()
    store = make_store(kind)
    assert store.sparse == server_has_sparse(store.client)  # found out by creating the collection
    assert MilvusStore.open(store.client, store.collection).sparse == store.sparse
    store.add(_vectors(4), np.arange(4), sparse=[sparse_row(matrix, r) for r in range(4)])
    store.flush()
    assert store.count() == 4  # rows without the field are accepted all the same
    store.vocabulary = {str(t): int(i) for t, i in bm25.vocab_dict.items()}
    query = ["人工智能", "青岛", "未知"]
    if not store.sparse:
        with pytest.raises(IndexStoreError, match="no sparse BM25 field"):
            store.search_sparse([store.term_query(query)], 4)
        return
    scores, ids = store.search_sparse([store.term_query(query)], 4)
    local = lexical.scores(query)
    got = {int(i): float(v) for v, i in zip(scores[0], ids[0], strict=True) if i >= 0}
    assert got == pytest.approx({i: float(v) for i, v in enumerate(local) if v > 0}, rel=1e-6)


# the same answers through Milvus as through the local index


@pytest.fixture
def stores(corpus_dir: Path, tmp_path: Path, fake, milvus_uri: str) -> Iterator[tuple[Assistant, Assistant]]:
    local = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False)
    milvus = Assistant.open(corpus_dir, tmp_path / "index", fake, progress=False, store=StoreConfig(uri=milvus_uri))
    yield local, milvus


@pytest.mark.parametrize("milvus_uri", MILVUS_KINDS, indirect=True)
def test_same_top5_passages_as_the_local_index(stores: tuple[Assistant, Assistant], caplog) -> None:
    local, milvus = stores
    remote = milvus.index.remote
    assert remote is not None and local.index.remote is None
    # BM25 from Milvus where the server has sparse vectors (Lite), else from the local files, said in a log line
    assert remote.serves_lexical == remote.store.sparse == server_has_sparse(remote.store.client)
    if not remote.store.sparse:
        with caplog.at_level("INFO", logger="assistant.index.remote"):
            reopened = Assistant.open(
                local.corpus.folder, milvus.index.folder.parent, local.embedder, progress=False,
                store=StoreConfig(uri=remote.uri),
            )
        assert reopened.index.remote is not None and not reopened.index.remote.serves_lexical
        assert "has no sparse vectors: BM25 is scored from the local index" in caplog.text
    doc = local.documents()[0]
    for question in QUESTIONS:
        want = local.retrieve(question, k=5)
        got = milvus.retrieve(question, k=5)
        assert [p.chunk_id for p in got] == [p.chunk_id for p in want], question
        assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-5)
        filtered = milvus.retrieve(question, k=5, doc_ids=[doc])
        assert [p.chunk_id for p in filtered] == [p.chunk_id for p in local.retrieve(question, k=5, doc_ids=[doc])]
    for question in QUESTIONS[:5]:
        assert milvus.ask(question).text == local.ask(question).text


def test_default_store_never_imports_pymilvus_milvus_or_ray(corpus_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from assistant import Assistant; "
        f"Assistant.open({str(corpus_dir)!r}, {str(tmp_path / 'index')!r}, 'hashing-64', progress=False)"
        ".retrieve('青岛'); print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pymilvus', 'milvus', 'milvus_lite', 'ray', 'grpc'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_pymilvus_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(IndexStoreError, match="milvus://PATH"):
        connect("bolt://x")
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(IndexStoreError, match=r"pip install 'assistant\[milvus\]'"):
        connect("milvus:///nowhere/x.db")


def _cli(corpus: Path, index: Path, uri: str, *command: str) -> list[str]:
    base = ["--corpus", str(corpus), "--index", str(index), "--embedder", "hashing-64", "-q"]
    return [*base, "--store", uri, *command]


def test_second_process_on_the_same_lite_folder_gets_a_clear_error(fake_bot: Assistant, tmp_path: Path) -> None:
    path = tmp_path / "milvus.db"
    connect(f"milvus://{path}")  # this process holds the Lite folder
    try:
        args = _cli(fake_bot.corpus.folder, tmp_path / "index", f"milvus://{path}", "retrieve", "青岛")
        out = subprocess.run(
            [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
    finally:
        close_lite(path)
    assert out.returncode == 2
    assert "another process has the Milvus Lite database" in out.stderr
    assert "milvus-lite server" in out.stderr
    assert "Traceback" not in out.stderr


def test_store_option_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.cli import build_parser

    monkeypatch.setenv("ASSISTANT_STORE", "milvus://x.db")
    assert StoreConfig.from_env().uri == "milvus://x.db"
    assert build_parser().parse_args(["index"]).store == "milvus://x.db"
    assert build_parser().parse_args(["--store", "http://127.0.0.1:19530", "index"]).store.startswith("http://")
    monkeypatch.delenv("ASSISTANT_STORE")
    assert build_parser().parse_args(["index"]).store is None
