"""Second tier: real questions end to end with the bundled model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("question", "evidence"),
    [
        ("What is Kaos's D3OS?", "D3OS排产引擎"),
        ("卡奥斯的D3OS是什么？", "D3OS排产引擎"),
        ("How much revenue did the Qingdao AI industry park make in 2023?", "实现营收170亿元"),
        ("青岛人工智能产业园2023年营收多少？", "实现营收170亿元"),
        ("How much energy does Hisense's laser TV save?", "节能50%以上"),
    ],
)
def test_answers_cite_the_evidence(real_bot: Assistant, question: str, evidence: str) -> None:
    ans = real_bot.ask(question)
    assert not ans.abstained
    assert evidence in ans.citations[0].text
    assert f"[{ans.citations[0].label}]" in ans.text
    hits = real_bot.retrieve(question, k=5)
    assert any(evidence in h.text for h in hits)


@pytest.mark.parametrize("question", ["What is the capital of France?", "明天巴黎会下雨吗？"])
def test_off_topic_questions_abstain(real_bot: Assistant, question: str) -> None:
    ans = real_bot.ask(question)
    assert ans.abstained and ans.citations == []


def test_cli_json_matches_api(real_bot: Assistant) -> None:
    corpus = real_bot.corpus.folder
    index = real_bot.index.folder.parent
    cmd = [sys.executable, "-m", "assistant", "--corpus", str(corpus), "--index", str(index), "-q"]
    out = subprocess.run([*cmd, "ask", "What is Kaos's D3OS?", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    api = real_bot.ask("What is Kaos's D3OS?")
    assert data["text"] == api.text
    cited = data["citations"][0]
    glosses = cited.pop("gloss")  # the CLI adds each citation's words with pinyin and English
    assert cited == api.citations[0].to_dict()
    text = real_bot.document(cited["doc_id"]).text
    assert glosses and all(text[g["start"] : g["end"]] == g["text"] for g in glosses)
    assert {"D3OS"} <= {m["text"] for m in cited["matches"]}  # why this sentence: the question's words in it
    assert all(text[m["start"] : m["end"]] == m["text"] for m in cited["matches"])
    assert ("数据", "shùjù", "data") in {(g["text"], g["pinyin"], g["english"]) for g in glosses}
    bad = subprocess.run([*cmd, "retrieve", "   "], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("question", "evidence"),
    [
        ("Who is Xu Ximing?", "首席产品官徐锡明"),  # a pinyin name and a "who is" question
        ("What is Zhao Haozhi's role in Qingdao's AI industry?", "赵豪志出任人工智能产业链链长"),
    ],
)
def test_pinyin_names_reach_the_chinese_text(real_bot: Assistant, question: str, evidence: str) -> None:
    ans = real_bot.ask(question)
    assert not ans.abstained and evidence in ans.citations[0].text


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("How many hospitals are there in the Qingdao AI industry park?", "hospitals"),
        ("产业园有多少个停车位？", "停车位"),
    ],
)
def test_questions_about_what_the_article_never_mentions_abstain(
    real_bot: Assistant, question: str, missing: str
) -> None:
    ans = real_bot.ask(question)
    assert ans.abstained and ans.citations == [] and missing in ans.text
