"""Broken and changing corpus files: the good documents stay answerable and every skipped file is named."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assistant import Assistant, CorpusError
from assistant.embed import HashingEmbedder
from assistant.ingest import corpus as corpus_module
from tests.support.reliability import ARTICLE, FAKE, make_corpus, run_cli

GOOD = ARTICLE.name
QUESTION = "卡奥斯 D3OS 排产引擎"


def writable(path: Path) -> Path:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return path


def broken_files(folder: Path, outside: Path) -> dict[str, str]:
    """Write every kind of bad file into ``folder``; return name -> a word its skip reason must contain."""
    outside.write_text("secret text outside the corpus", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Qingdao caf\xe9 na\xefve".encode("latin-1"))
    (folder / "utf16.txt").write_bytes("青岛".encode("utf-16"))
    (folder / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(256))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text(" \n\t\u3000\n", encoding="utf-8")
    with (folder / "huge.txt").open("wb") as fh:  # sparse: no disk or time spent
        fh.truncate(corpus_module.MAX_BYTES + 1)
    (folder / "escape.txt").symlink_to(outside)
    (folder / "dangling.txt").symlink_to(folder / "gone.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "folder.txt").mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / os.fsdecode(b"bad\xffname.txt")).write_text("valid text, invalid file name", encoding="utf-8")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not indexed")
    return {
        "latin1.txt": "UTF-8",
        "utf16.txt": "UTF-8",
        "image.md": "binary",
        "empty.txt": "empty",
        "blank.md": "white space",
        "huge.txt": "limit",
        "escape.txt": "outside",
        "dangling.txt": "resolved",
        "loop.txt": "resolved",
        "folder.txt": "regular file",
        "pipe.txt": "regular file",
        "bad\ufffdname.txt": "UTF-8",
        "report.pdf": ".txt",
    }


@pytest.fixture
def messy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = make_corpus(tmp_path / "corpus", copies=2)
    return folder, broken_files(folder, tmp_path / "outside.txt")


def test_bad_files_are_skipped_by_name_and_good_ones_answer(messy: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, expected = messy
    bot = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    assert bot.documents() == ["copy_01.txt", GOOD]
    reasons = {s.name: s.reason for s in bot.skipped}
    assert set(reasons) == set(expected), "every file that was not indexed is reported, by name"
    for name, word in expected.items():
        assert word in reasons[name], (name, reasons[name])
    assert "secret" not in " ".join(reasons.values())
    answer = bot.ask(QUESTION)
    assert answer.citations and {c.doc_id for c in answer.citations} <= {"copy_01.txt", GOOD}
    for c in answer.citations:
        assert bot.document(c.doc_id).text[c.start : c.end] == c.text


def test_cli_prints_every_skipped_file(messy: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, expected = messy
    done = run_cli(["--corpus", str(folder), "--index", str(tmp_path / "index"), "--embedder", FAKE, "-q", "index"])
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    for name in expected:
        assert any(line.startswith(f"skipped {name}: ") for line in lines), (name, lines)
        assert not any(line.startswith(f"skipped {name}: {name}") for line in lines), "the name is said once"
    assert b"2 documents" in done.stdout


def test_size_limit_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_corpus(tmp_path / "corpus")
    monkeypatch.setattr(corpus_module, "MAX_BYTES", 1000)
    (folder / "at_limit.txt").write_bytes(b"a" * 1000)
    (folder / "over_limit.txt").write_bytes(b"a" * 1001)
    corpus = corpus_module.load_corpus(folder)
    assert [d.doc_id for d in corpus.documents] == ["at_limit.txt"]
    assert {s.name for s in corpus.skipped} == {GOOD, "over_limit.txt"}


def test_only_bad_files_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    broken_files(folder, tmp_path / "outside.txt")
    with pytest.raises(CorpusError, match="no usable documents") as info:
        Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    assert "empty.txt: the file is empty" in str(info.value) and "escape.txt: " in str(info.value)


def test_deleted_file_after_indexing(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus", copies=2)
    bot = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    before = bot.ask(QUESTION)
    (folder / GOOD).unlink()
    (folder / "copy_01.txt").unlink()
    after = bot.ask(QUESTION)  # the open assistant answers from its consistent in-memory state
    assert after.citations == before.citations and after.citations
    for c in after.citations:
        assert bot.document(c.doc_id).text[c.start : c.end] == c.text
    with pytest.raises(CorpusError, match="no usable documents"):
        Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)


def test_one_of_two_files_deleted_then_reopen_rebuilds(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus", copies=2)
    Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    (folder / "copy_01.txt").unlink()
    bot = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    assert bot.rebuilt and bot.documents() == [GOOD]
    assert all(p.doc_id == GOOD for p in bot.retrieve(QUESTION, k=20))


def test_changed_file_after_indexing(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus")
    bot = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    old_text = bot.document(GOOD).text
    before = bot.ask(QUESTION)
    shifted = "新增的第一段，改变了所有偏移。\n" * 7 + old_text
    writable(folder / GOOD).write_text(shifted, encoding="utf-8")
    after = bot.ask(QUESTION)  # still the text that was indexed: offsets agree with it, not with the new file
    assert after.citations == before.citations
    for c in after.citations:
        assert old_text[c.start : c.end] == c.text
    reopened = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    assert reopened.rebuilt and reopened.document(GOOD).text == shifted
    fresh = reopened.ask(QUESTION)
    assert fresh.citations
    for c in fresh.citations:
        assert shifted[c.start : c.end] == c.text
        assert c.start >= len(shifted) - len(old_text) or c.text in shifted[: len(shifted) - len(old_text)]


def test_symlink_inside_corpus_is_read_as_its_target(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus")
    (folder / "alias.txt").symlink_to(folder / GOOD)
    bot = Assistant.open(folder, tmp_path / "index", HashingEmbedder(64), progress=False)
    assert bot.documents() == ["alias.txt", GOOD]
    assert bot.document("alias.txt").text == bot.document(GOOD).text
