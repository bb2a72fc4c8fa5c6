"""Builds killed with SIGKILL at random moments, and two processes building the same index folder at once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.config import ChunkingParams
from assistant.embed import HashingEmbedder
from assistant.errors import IndexStoreError
from assistant.index.layout import current_folder
from assistant.index.store import expected_manifest, load
from assistant.ingest.corpus import load_corpus
from assistant.types import Answer
from tests.support.reliability import PYTHON, ROOT, make_corpus

SUPPORT = str(ROOT / "tests" / "support" / "reliability.py")
QUESTIONS = ("卡奥斯 D3OS 排产引擎", "What is COSMO-GPT used for?")
KILLS = 20
KILL_BUDGET = 240.0  # seconds: the loop stops early rather than run over


def answers(bot: Assistant) -> list[Answer]:
    return [bot.ask(q) for q in QUESTIONS]


def why_not_loadable(corpus: Path, index: Path) -> str:
    """The reason the live version would be rebuilt, or "" (for the failure message)."""
    folder = current_folder(index)
    if folder is None:
        return "CURRENT is missing or unreadable"
    expected = expected_manifest(load_corpus(corpus), HashingEmbedder(64), ChunkingParams())
    try:
        load(folder, expected)
    except IndexStoreError as exc:
        return f"{folder.name}: {exc}; folder has {sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []}"
    return ""


def start_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, SUPPORT, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_during_build_leaves_a_usable_index(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", copies=2)
    index = tmp_path / "index"
    first = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    expected = answers(first)
    versions = {first.index.folder.name}

    child = start_child("build", str(corpus), str(index))  # one unkilled build: how long the kill window is
    assert child.stdout is not None and child.stdout.readline().strip() == "start"
    began = time.monotonic()
    out, err = child.communicate(timeout=300)
    window = time.monotonic() - began
    assert child.returncode == 0 and out.startswith("done"), err
    versions.add(out.split()[1])

    rng = random.Random(20261128)  # fixed seed: the same kill moments (relative to the window) on every run
    outcomes = {"killed_before_switch": 0, "killed_after_switch": 0, "finished": 0}
    deadline = time.monotonic() + KILL_BUDGET
    runs = 0
    while runs < KILLS and time.monotonic() < deadline:
        runs += 1
        before = (index / "CURRENT").read_text(encoding="utf-8")
        child = start_child("build", str(corpus), str(index))
        assert child.stdout is not None and child.stdout.readline().strip() == "start"
        time.sleep(rng.uniform(0.0, window * 1.1))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
        after = (index / "CURRENT").read_text(encoding="utf-8")
        if child.returncode == 0:
            outcomes["finished"] += 1
        elif after == before:
            outcomes["killed_before_switch"] += 1
        else:
            outcomes["killed_after_switch"] += 1
        assert (index / after / "manifest.json").is_file(), f"run {runs}: CURRENT names an incomplete version"
        problem = why_not_loadable(corpus, index)
        bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
        assert not bot.rebuilt, f"run {runs}: the index left by a killed build was not usable as it was: {problem}"
        assert answers(bot) == expected, f"run {runs}: answers changed after a killed build"
        versions.add(after)
    assert runs >= 15, f"only {runs} kills fitted in {KILL_BUDGET:.0f}s"
    assert outcomes["killed_before_switch"] >= runs // 3, outcomes  # most kills land mid-build
    print(f"\n{runs} SIGKILLs in a {window:.2f}s build window: {outcomes}; {len(versions)} versions were live")

    rebuilt = Assistant.open(corpus, index, HashingEmbedder(64), rebuild=True, progress=False)
    leftovers = sorted(p.name for p in index.iterdir() if p.name not in (".lock", "CURRENT"))
    assert leftovers == [rebuilt.index.folder.name], "the next build cleans up what killed builds left"


def race(corpus: Path, index: Path, rebuild: bool) -> list[dict]:
    children = [start_child("race", str(corpus), str(index), "1" if rebuild else "0") for _ in range(2)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:  # both are imported and waiting: release them together
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    records = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-2000:]
        records.append(json.loads(out.strip().splitlines()[-1]))
    return sorted(records, key=lambda r: r["opened"][1])


def test_two_concurrent_rebuilds_are_serialised(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", copies=2)
    index = tmp_path / "index"
    first, second = race(corpus, index, rebuild=True)
    assert first["rebuilt"] and second["rebuilt"] and first["batches"] > 5
    assert first["offsets_ok"] and second["offsets_ok"]
    assert first["embed"][1] <= second["embed"][0], f"embedding intervals overlap: {first} {second}"
    assert second["opened"][0] < first["embed"][1], "the second process was waiting while the first built"
    assert current_folder(index) == index / second["version"]
    bot = Assistant.open(corpus, index, HashingEmbedder(64), progress=False)
    assert not bot.rebuilt and bot.index.folder.name == second["version"]
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", second["version"]]


@pytest.mark.parametrize("existing", [False, True], ids=["empty-folder", "stale-index"])
def test_two_concurrent_opens_build_once(tmp_path: Path, existing: bool) -> None:
    corpus = make_corpus(tmp_path / "corpus", copies=2)
    index = tmp_path / "index"
    if existing:
        Assistant.open(corpus, index, HashingEmbedder(32), progress=False)  # another model: stale for both
    first, second = race(corpus, index, rebuild=False)
    assert first["rebuilt"] and not second["rebuilt"] and second["batches"] == 0
    assert first["version"] == second["version"] and current_folder(index) == index / first["version"]
    assert first["offsets_ok"] and second["offsets_ok"]
