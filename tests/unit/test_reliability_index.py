"""Damaged, foreign and stale index folders: detected on open and rebuilt, or refused with a clear message."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, IndexStoreError
from assistant.embed import HashingEmbedder
from assistant.index.layout import current_folder
from assistant.types import Answer
from tests.support.reliability import ROOT, edit_manifest, make_corpus, rehash

QUESTIONS = ("卡奥斯 D3OS 排产引擎", "What is COSMO-GPT used for?", "激光电视节能")


def answers(bot: Assistant) -> list[Answer]:
    return [bot.ask(q) for q in QUESTIONS]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Answer]]:
    """The corpus and the answers of a freshly built index: what every repaired index must give."""
    base = tmp_path_factory.mktemp("reference")
    corpus = make_corpus(base / "corpus", copies=2)
    bot = Assistant.open(corpus, base / "index", HashingEmbedder(64), progress=False)
    return corpus, answers(bot)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, reference: tuple[Path, list[Answer]]) -> Path:
    index = tmp_path_factory.mktemp("pristine") / "index"
    Assistant.open(reference[0], index, HashingEmbedder(64), progress=False)
    return index


def built(tmp_path: Path, pristine: Path) -> tuple[Path, Path]:
    """A private copy of a freshly built index folder, and its live version folder."""
    index = tmp_path / "index"
    shutil.copytree(pristine, index)
    folder = current_folder(index)
    assert folder is not None
    return index, folder


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip(path: Path, count: int = 8, seed: int = 0) -> None:
    rng = random.Random(seed)
    data = bytearray(path.read_bytes())
    for _ in range(count):
        data[rng.randrange(len(data))] ^= 1 + rng.randrange(255)
    path.write_bytes(bytes(data))


def pickled_array(path: Path) -> None:
    """An object array: loadable only with allow_pickle=True (a code-execution vector)."""
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    path.write_bytes(buf.getvalue())


def swap_documents(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    docs = manifest["documents"]
    docs[0]["doc_id"], docs[1]["doc_id"] = docs[1]["doc_id"], docs[0]["doc_id"]
    edit_manifest(folder, documents=docs)


def rename_document(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["documents"][0]["doc_id"] = "../../etc/passwd"
    edit_manifest(folder, documents=manifest["documents"])


def rows_out_of_range(folder: Path) -> None:
    rows = np.load(folder / "chunks.npy")
    rows[0] = (7, 0, 10**9)
    np.save(folder / "chunks.npy", rows)
    rehash(folder)


def unsorted_sentences(folder: Path) -> None:
    rows = np.load(folder / "sentences.npy")
    np.save(folder / "sentences.npy", rows[::-1].copy())
    rehash(folder)


def wrong_background(folder: Path) -> None:
    np.save(folder / "background.npy", np.ones((3, 5), dtype=np.float32))
    rehash(folder)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "faiss_truncated": lambda f: truncate(f / "chunks.faiss", 0.5),
    "faiss_empty": lambda f: truncate(f / "chunks.faiss", 0.0),
    "faiss_flipped": lambda f: flip(f / "chunks.faiss"),
    "faiss_truncated_rehashed": lambda f: (truncate(f / "chunks.faiss", 0.7), rehash(f)),
    "faiss_garbage_rehashed": lambda f: ((f / "chunks.faiss").write_bytes(b"IxF2" + b"\xff" * 64), rehash(f)),
    "faiss_missing": lambda f: (f / "chunks.faiss").unlink(),
    "npy_flipped": lambda f: flip(f / "sentence_vectors.npy"),
    "npy_pickle_rehashed": lambda f: (pickled_array(f / "sentence_vectors.npy"), rehash(f)),
    "chunks_short_rehashed": lambda f: (np.save(f / "chunks.npy", np.load(f / "chunks.npy")[:-1]), rehash(f)),
    "rows_out_of_range_rehashed": rows_out_of_range,
    "sentences_unsorted_rehashed": unsorted_sentences,
    "background_wrong_dim_rehashed": wrong_background,
    "sentence_terms_not_list_rehashed": lambda f: ((f / "sentence_terms.json").write_text("{}"), rehash(f)),
    "lexical_file_flipped": lambda f: flip(sorted(p for p in (f / "lexical").iterdir() if p.is_file())[0]),
    "lexical_missing_rehashed": lambda f: (
        [p.unlink() for p in (f / "lexical").iterdir() if p.suffix == ".json"],
        edit_manifest(
            f,
            files={
                k: v
                for k, v in json.loads((f / "manifest.json").read_text())["files"].items()
                if not (k.startswith("lexical") and k.endswith(".json"))
            },
        ),
    ),
    "manifest_missing": lambda f: (f / "manifest.json").unlink(),
    "manifest_empty": lambda f: (f / "manifest.json").write_bytes(b""),
    "manifest_garbage": lambda f: (f / "manifest.json").write_bytes(b"\x00\xff{not json"),
    "manifest_list": lambda f: (f / "manifest.json").write_text("[1, 2]"),
    "manifest_truncated": lambda f: truncate(f / "manifest.json", 0.5),
    "manifest_counts": lambda f: edit_manifest(f, counts={"chunks": 1, "sentences": 1}),
    "manifest_counts_not_dict": lambda f: edit_manifest(f, counts=[1, 2]),
    "manifest_no_files": lambda f: edit_manifest(f, files={}),
    "manifest_files_escape": lambda f: edit_manifest(f, files={"../../../etc/hostname": "0" * 64}),
    "manifest_documents_swapped": swap_documents,
    "manifest_document_renamed": rename_document,
    "manifest_documents_not_list": lambda f: edit_manifest(f, documents="x"),
    "manifest_dim": lambda f: edit_manifest(f, dim=32),
    "other_model": lambda f: edit_manifest(f, embedder="sentence-transformers/other-model"),
    "other_format_version": lambda f: edit_manifest(
        f, versions={**json.loads((f / "manifest.json").read_text())["versions"], "format": "0"}
    ),
    "other_faiss_version": lambda f: edit_manifest(
        f, versions={**json.loads((f / "manifest.json").read_text())["versions"], "faiss-cpu": "0.0.1"}
    ),
    "other_chunking": lambda f: edit_manifest(f, chunking={"size": 1}),
    "other_corpus": lambda f: edit_manifest(f, corpus_fingerprint="0" * 64),
    "version_folder_gone": lambda f: [p.unlink() for p in f.iterdir() if p.is_file()],
}


def rebuilt_alike(corpus: Path, index: Path, expected: list[Answer], name: str) -> Assistant:
    """Open a damaged index: it must be rebuilt, and answer exactly as the pristine one did."""
    bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    assert bot.rebuilt, f"{name}: a damaged index was used as it was"
    assert answers(bot) == expected, f"{name}: the rebuilt index answers differently"
    return bot


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_damaged_index_is_rebuilt_and_answers_right(
    name: str, tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, expected = reference
    index, folder = built(tmp_path, pristine)
    DAMAGE[name](folder)
    bot = rebuilt_alike(corpus, index, expected, name)
    assert bot.index.folder != folder
    again = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    assert not again.rebuilt and again.index.folder == bot.index.folder


def test_factory_label_does_not_change_answers(
    tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    """The factory name in the manifest only tunes search effort; the FAISS file itself says what it is."""
    corpus, expected = reference
    index, folder = built(tmp_path, pristine)
    edit_manifest(folder, faiss_factory="IVF9999,PQ3")
    bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    assert answers(bot) == expected


POINTERS: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "garbage": b"\xff\xfe\x00\x01garbage",
    "nowhere": b"v-does-not-exist",
    "parent": b"../../etc",
    "absolute": b"/etc",
    "dot_dot_name": b"v-..",
    "not_a_version": b"lexical",
    "newline_tricks": b"v-x\nv-y",
}


@pytest.mark.parametrize("name", sorted(POINTERS))
def test_bad_current_pointer_is_rebuilt(
    name: str, tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, expected = reference
    index, _ = built(tmp_path, pristine)
    pointer = index / "CURRENT"
    content = POINTERS[name]
    if content is None:
        pointer.unlink()
    else:
        pointer.write_bytes(content)
    bot = rebuilt_alike(corpus, index, expected, name)
    assert (index / "CURRENT").read_text(encoding="utf-8") == bot.index.folder.name


def test_current_is_a_folder_is_a_clear_error(
    tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, _ = reference
    index, _ = built(tmp_path, pristine)
    (index / "CURRENT").unlink()
    (index / "CURRENT").mkdir()
    with pytest.raises(IndexStoreError, match="index folder"):
        Assistant.open(corpus, index, HashingEmbedder(64), progress=False)


def test_index_path_is_a_file_is_a_clear_error(
    tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, _ = reference
    (tmp_path / "index").write_text("not a folder")
    with pytest.raises(IndexStoreError, match="index folder"):
        Assistant.open(corpus, tmp_path / "index", HashingEmbedder(64), progress=False)


class Impostor(HashingEmbedder):
    """Claims the name of the model that built the index, with another dimension."""

    def __init__(self) -> None:
        super().__init__(32)
        self.name = "hashing-64"


@pytest.mark.parametrize(
    "model", [HashingEmbedder(32), HashingEmbedder(128), Impostor()], ids=["32", "128", "same-name"]
)
def test_index_from_another_model_is_rebuilt(
    model: HashingEmbedder, tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, _ = reference
    index, folder = built(tmp_path, pristine)
    bot = Assistant.open(corpus, index, model, progress=False)
    assert bot.rebuilt and bot.index.folder != folder
    assert bot.index.manifest["dim"] == model.dim == bot.index.chunk_index.dim
    for p in bot.retrieve(QUESTIONS[0]):
        assert bot.document(p.doc_id).text[p.start : p.end] == p.text


def test_stray_temporary_folders_are_ignored_then_cleaned(
    tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path
) -> None:
    corpus, expected = reference
    index, folder = built(tmp_path, pristine)
    (index / ".tmp-v-half-written").mkdir()
    (index / ".tmp-v-half-written" / "chunks.faiss").write_bytes(b"partial")
    (index / ".CURRENT-deadbeef").write_text("v-half-written")
    bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    assert not bot.rebuilt and bot.index.folder == folder and answers(bot) == expected
    rebuilt = Assistant.open(corpus, index, HashingEmbedder(64), rebuild=True, progress=False)
    assert rebuilt.rebuilt
    assert sorted(p.name for p in index.iterdir()) == sorted([".lock", "CURRENT", rebuilt.index.folder.name])


FUZZ_CHILD = r"""
import json, random, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.support.reliability import rehash
from assistant import Assistant
from assistant.embed import HashingEmbedder
from assistant.index.layout import current_folder
corpus, index, trials = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
rng = random.Random(int(sys.argv[5]))
names = ["chunks.faiss", "chunks.npy", "sentences.npy", "sentence_vectors.npy", "background.npy"]
results = []
for trial in range(trials):
    folder = current_folder(index)
    target = folder / rng.choice(names)
    data = bytearray(target.read_bytes())
    if rng.random() < 0.4:
        data = data[: rng.randrange(len(data))]
    else:
        span = min(len(data), 160) if rng.random() < 0.6 else len(data)  # headers first
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(span)] = rng.randrange(256)
    target.write_bytes(bytes(data))
    lied = rng.random() < 0.5
    if lied:
        rehash(folder)  # the manifest lies: only the format checks stand between the bytes and FAISS/NumPy
    bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    results.append([lied, bot.rebuilt])
    for q in ("卡奥斯 D3OS", "COSMO-GPT"):
        for p in bot.retrieve(q, k=5):
            assert bot.document(p.doc_id).text[p.start : p.end] == p.text
        bot.ask(q)
print(json.dumps(results), flush=True)
"""


FUZZ_TRIALS = 30


def test_random_byte_damage_never_crashes(tmp_path: Path, reference: tuple[Path, list[Answer]], pristine: Path) -> None:
    """Random truncations and byte changes (half with a rewritten manifest), in a child so that a crash shows."""
    corpus, _ = reference
    index, _ = built(tmp_path, pristine)
    done = subprocess.run(
        [sys.executable, "-c", FUZZ_CHILD, str(ROOT), str(corpus), str(index), str(FUZZ_TRIALS), "7"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    results = json.loads(done.stdout)
    assert len(results) == FUZZ_TRIALS
    assert all(rebuilt for lied, rebuilt in results if not lied), "the checksums must catch every unannounced change"
