"""``assistant ask --llm`` as a subprocess, and ``eval --answerer llm`` on a tiny set, against the scripted server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.cli import main
from tests.support.fake_llm import FakeLLM, Reply

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "corpus" / "qingdao_ai_plus.txt"
ZH_Q = "卡奥斯的D3OS是什么？"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A corpus and its index, built once with the fast fake embedder the subprocesses also use."""
    base = tmp_path_factory.mktemp("llm_cli")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    Assistant.open(corpus, base / "index", "hashing-64", progress=False)
    return corpus, base / "index"


def cli(folders: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    corpus, index = folders
    cmd = [sys.executable, "-m", "assistant", "--corpus", str(corpus), "--index", str(index)]
    cmd += ["--embedder", "hashing-64", "-q", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAKE_KEY": "sk-test"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_ask_llm_json_shows_answerer_model_and_exact_citations(folders: tuple[Path, Path], llm: FakeLLM) -> None:
    out = cli(folders, "ask", ZH_Q, "--llm", llm.url, "--model", "fake-model", "--api-key-env", "FAKE_KEY", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["answerer"], data["model"], data["fallback"], data["abstained"]) == ("llm", "fake-model", None, False)
    assert data["text"].endswith("[1]。") and len(data["citations"]) == 1
    text = (folders[0] / ARTICLE.name).read_text(encoding="utf-8")
    c = data["citations"][0]
    assert text[c["start"] : c["end"]] == c["text"]


def test_ask_llm_unreachable_keeps_the_extractive_answer(folders: tuple[Path, Path]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = cli(folders, "ask", ZH_Q, "--llm", f"http://127.0.0.1:{port}/v1", "--model", "m", "--llm-timeout", "2")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "(connection)" in out.stderr and "[1]" in out.stdout


def test_ask_llm_needs_a_model_and_a_set_key(folders: tuple[Path, Path], llm: FakeLLM) -> None:
    out = cli(folders, "ask", ZH_Q, "--llm", llm.url)
    assert out.returncode == 2 and "--model" in out.stderr and "Traceback" not in out.stderr
    out = cli(folders, "ask", ZH_Q, "--llm", llm.url, "--model", "m", "--api-key-env", "NO_SUCH_KEY_VAR")
    assert out.returncode == 2 and "$NO_SUCH_KEY_VAR is not set" in out.stderr


def test_eval_answerer_llm_reports_faithfulness(folders: tuple[Path, Path], llm: FakeLLM, tmp_path: Path) -> None:
    rows = [
        {"id": "zh-1", "lang": "zh", "question": ZH_Q, "answerable": True, "doc_id": ARTICLE.name,
         "evidence": ["卡奥斯将D3OS排产引擎"], "split": "test"},
        {"id": "zh-2", "lang": "zh", "question": "海信激光电视比传统电视节能多少？", "answerable": True,
         "doc_id": ARTICLE.name, "evidence": ["海信激光电视成功进入3000美金至5000美金高端市场"], "split": "test"},
        {"id": "zh-3", "lang": "zh", "question": "卡奥斯的首席执行官是谁？", "answerable": False, "split": "test"},
    ]  # fmt: skip
    questions = tmp_path / "tiny.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    llm.script(Reply("它是一个数据产品[1]。"))  # the runner's warm-up call
    llm.script(Reply("它是一个数据产品[1][99]。"))  # used: a name- and number-free sentence citing [1]
    llm.script(Reply("It is about TVs [1]."), Reply("资料中没有回答这个问题。"))  # wrong language; a decline
    corpus, index = folders
    argv = ["--corpus", str(corpus), "--index", str(index), "--embedder", "hashing-64", "-q", "eval"]
    argv += ["--set", str(questions), "--no-baselines", "--out", str(tmp_path / "reports"), "--json"]
    argv += ["--answerer", "llm", "--llm", llm.url, "--model", "fake-model"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "reports" / "latest.json").read_text(encoding="utf-8"))
    f = report["faithfulness"]
    assert report["generator_model"] == "fake-model" and f["questions"] == 3
    assert set(f) >= {"with_valid_citation", "gold_citation_rate", "invalid_markers", "language_match", "ask_p50_ms"}
    # measured over the three replies before fallback: the English reply to a Chinese question counts against
    # language_match though its quote is shown; the decline has no citation to count
    assert (f["generated"], f["replies"], f["with_valid_citation"], f["language_match"]) == (1, 3, 1.0, 2 / 3)
    assert (f["invalid_markers"], f["model_declined"], f["number_errors"]) == (1, 1, 0)
    declined_shown = f["fallbacks"].pop("model_declined", 0)  # quote shown when its confidence is high enough
    assert f["fallbacks"] == {"wrong_language": 1} and f["abstentions"] == 1 - declined_shown
    assert f["gold_citation_rate"] in (0.0, 1.0) and f["ask_p50_ms"] > 0
    records = {r["id"]: r for r in report["questions"]["pipeline"]}
    assert all("answerer" in r and "language_match" in r for r in records.values())
    assert "## Generated answers" in (tmp_path / "reports" / "latest.md").read_text(encoding="utf-8")


def test_eval_extractive_report_has_no_faithfulness_fields(tmp_path: Path) -> None:
    from assistant.evaluation.faithfulness import fields, summarise
    from assistant.types import Answer

    assert fields(Answer("q", "a", False), "en", True, lambda *a: True) == {}
    assert summarise([{"id": "x", "abstained": False}]) is None
