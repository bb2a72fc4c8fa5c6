"""The Qingdao evaluation gate with the chunk index served by a real Milvus server (the session's
``milvus_server``: the `milvus` package's standalone 2.3.5), and the same answers as the local index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from assistant import Assistant
from assistant.config import StoreConfig
from tests.support.milvus_server import empty

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "eval" / "reports" / "artifacts" / "milvus-server"  # git-ignored


def test_qingdao_gate_passes_against_the_milvus_server(milvus_server: str, real_bot: Assistant, tmp_path: Path) -> None:
    empty(milvus_server)
    index = tmp_path / "index"
    shutil.copytree(real_bot.index.folder.parent, index)  # the bundled model's index of the article, built once
    command = [sys.executable, "-m", "assistant", "-q", "--corpus", str(real_bot.corpus.folder), "--index", str(index)]
    command += ["--store", milvus_server, "eval", "--no-baselines", "--out", str(OUT)]  # the gate reads the pipeline
    command += ["--check", str(ROOT / "eval" / "thresholds.json")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    served = Assistant.open(real_bot.corpus.folder, index, progress=False, store=StoreConfig(uri=milvus_server))
    remote = served.index.remote
    assert remote is not None and remote.collection.startswith("assistant_chunks_")
    version = str(remote.store.client.get_server_version())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "server.json").write_text(
        json.dumps({"server_version": version, "exit": done.returncode, "gate": done.stdout.strip().splitlines()[-1:]}),
        encoding="utf-8",
    )
    assert version.startswith("v2.3.")  # the real server, not Lite
    assert remote.store.count() == len(served.index.chunks) + 1  # every chunk row and the head row

    local = Assistant.open(real_bot.corpus.folder, index, progress=False)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()]
    for question in questions[:40]:
        got, want = served.retrieve(question, k=5), local.retrieve(question, k=5)
        assert [p.chunk_id for p in got] == [p.chunk_id for p in want], question
        assert [round(p.score, 5) for p in got] == [round(p.score, 5) for p in want], question
    for question in questions[:10]:
        assert served.ask(question).text == local.ask(question).text
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "evaluation gate passed" in done.stdout + done.stderr
