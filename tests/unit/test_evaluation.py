"""The evaluation runner: set loading and validation, metric definitions, reports and the CI gate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import AssistantError
from assistant.evaluation.report import check_thresholds, load_thresholds, parse_thresholds, summarise
from assistant.evaluation.runner import qrels_for, ranking_scores
from assistant.gold.questions import load_set
from assistant.gold.relevance import covers, relevant
from assistant.retrieve.retriever import Retriever
from assistant.types import Document, Span

ROOT = Path(__file__).resolve().parents[2]
DOCS = (Document("a.txt", "Alpha beta gamma. Delta epsilon. Alpha beta again."), Document("b.txt", "Zeta eta theta."))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def q(qid: str = "en-1", evidence: list[str] | None = None, **extra: object) -> dict:
    row = {"id": qid, "lang": "en", "question": "What?", "answerable": True, "doc_id": "a.txt", "split": "dev"}
    return row | {"evidence": ["Delta epsilon"] if evidence is None else evidence} | extra


# ---------------------------------------------------------------- loading


def test_gold_spans_are_located_exactly(tmp_path: Path) -> None:
    rows = [q(), q("zh-1", ["theta"], lang="zh", doc_id="b.txt", split="test"), q("en-2", [], answerable=False)]
    conv = {"id": "c1", "lang": "en", "split": "test", "turns": [{"question": "Q1?", "evidence": ["Zeta"]}]}
    data = load_set(write_jsonl(tmp_path / "set.jsonl", [*rows, conv]), DOCS)
    assert data.questions[0].gold == (Span("a.txt", 18, 31),)
    assert DOCS[0].text[18:31] == "Delta epsilon"
    assert data.questions[1].gold == (Span("b.txt", 9, 14),)
    assert data.questions[2].gold == () and not data.questions[2].answerable
    assert data.conversations[0].turns[0].gold == (Span("b.txt", 0, 4),)  # no doc_id: searched in the corpus
    assert [x.qid for x in load_set(tmp_path / "set.jsonl", DOCS, "test").questions] == ["zh-1"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (q("en-404", ["Delta  epsilon"]), "en-404: evidence 'Delta  epsilon' is not found in a.txt"),
        (q("en-dup", ["Alpha beta"]), "en-dup: evidence 'Alpha beta' occurs 2 times in a.txt"),
        (q("en-doc", doc_id="c.txt"), "en-doc: doc_id 'c.txt' is not in the corpus"),
        (q("en-empty", []), "en-empty: an answerable question needs at least one evidence string"),
        (q("en-un", answerable=False), "en-un: an unanswerable question must have evidence []"),
        (q("en-split", split="train"), "en-split: 'split' must be 'dev' or 'test'"),
    ],
)
def test_invalid_gold_names_the_question(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(AssistantError) as err:
        load_set(write_jsonl(tmp_path / "bad.jsonl", [q("ok-1"), row]), DOCS)
    assert message in str(err.value)


def test_duplicate_ids_and_broken_lines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AssistantError, match="en-1: duplicate id"):
        load_set(write_jsonl(tmp_path / "dup.jsonl", [q(), q()]), DOCS)
    (tmp_path / "broken.jsonl").write_text(json.dumps(q()) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(AssistantError, match=r"broken.jsonl:2: not valid JSON"):
        load_set(tmp_path / "broken.jsonl", DOCS)
    conv = {"id": "c9", "lang": "en", "split": "dev", "turns": [{"question": "Q?", "evidence": ["Alpha beta"]}]}
    with pytest.raises(AssistantError, match=r"c9#1: evidence 'Alpha beta' occurs 2 times in the corpus"):
        load_set(write_jsonl(tmp_path / "conv.jsonl", [conv]), DOCS)
    with pytest.raises(AssistantError, match="does not exist"):
        load_set(tmp_path / "missing", DOCS)


def test_shipped_set_is_valid_against_the_corpus() -> None:
    doc = Document("qingdao_ai_plus.txt", (ROOT / "corpus" / "qingdao_ai_plus.txt").read_text(encoding="utf-8"))
    data = load_set(ROOT / "eval", [doc])
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").split("\n")
    assert len(data.questions) == sum(1 for line in lines if line.strip())
    for item in (*data.questions, *(t for c in data.conversations for t in c.turns)):
        assert all(doc.text.count(doc.text[g.start : g.end]) == 1 for g in item.gold)


# ---------------------------------------------------------------- metrics


def test_relevance_needs_half_of_a_gold_span() -> None:
    gold = Span("a.txt", 100, 110)  # 10 characters
    assert covers("a.txt", 105, 200, gold) and covers("a.txt", 0, 105, gold)  # exactly 5 of 10
    assert not covers("a.txt", 106, 200, gold) and not covers("a.txt", 0, 104, gold)  # 4 of 10
    assert not covers("b.txt", 0, 200, gold)
    odd = Span("a.txt", 0, 11)  # 11 characters: 5 is under half, 6 is over
    assert not covers("a.txt", 6, 50, odd) and covers("a.txt", 5, 50, odd)
    assert relevant("a.txt", 0, 6, [gold, odd]) and not relevant("a.txt", 0, 5, [gold, odd])


def test_ranking_metrics_on_a_hand_made_case() -> None:
    chunks = [Span("a.txt", 0, 50), Span("a.txt", 40, 120), Span("a.txt", 120, 200)]
    qrels = {"q1": qrels_for([Span("a.txt", 100, 110)], chunks), "q2": qrels_for([Span("a.txt", 45, 55)], chunks)}
    assert qrels["q1"] == {"a.txt:40:120": 1}
    assert qrels["q2"] == {"a.txt:0:50": 1, "a.txt:40:120": 1}  # both cover 5 of the 10 gold characters
    qrels["q3"] = {}  # no chunk covers the gold: all metrics are zero, not missing
    runs = {"q1": ["a.txt:0:50", "a.txt:120:200", "a.txt:40:120"], "q2": ["a.txt:0:50"], "q3": ["a.txt:0:50"]}
    scores = ranking_scores(qrels, runs)
    assert [scores["q1"][f"recall@{k}"] for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert scores["q1"]["mrr@10"] == pytest.approx(1 / 3)
    assert scores["q1"]["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert scores["q2"]["recall@1"] == 1.0 and scores["q2"]["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert set(scores["q3"].values()) == {0.0}


def record(answerable: bool, abstained: bool, ok: bool | None = None, **extra: object) -> dict:
    base = {"answerable": answerable, "abstained": abstained, "first_citation_ok": ok, "citation_chars": []}
    base |= {"retrieve_ms": 1.0, "ask_ms": 2.0, "split": "test", "lang": "en"}
    base |= {f"recall@{k}": 1.0 for k in (1, 3, 5)} | {"mrr@10": 1.0, "ndcg@10": 1.0}
    return base | extra


def test_abstention_and_conversation_metrics() -> None:
    questions = [
        record(True, False, True, citation_chars=[10, 20]),
        record(True, True, False),  # false abstention
        record(True, False, False, citation_chars=[30]),
        record(False, True),  # correct abstention
        record(False, False, citation_chars=[60]),  # answered an unanswerable question
    ]
    turns = [record(True, False, True, turn=1), record(True, False, False, turn=2), record(True, False, True, turn=3)]
    m = summarise(questions, turns)
    assert m["first_citation_accuracy"] == pytest.approx(1 / 3)
    assert m["false_abstention_rate"] == pytest.approx(1 / 3)
    assert m["abstention_precision"] == 0.5 and m["abstention_recall"] == 0.5
    assert m["mean_citation_chars"] == 30.0
    assert m["conversation_accuracy"] == 0.5 and m["conversation_first_turn_accuracy"] == 1.0
    assert summarise(questions[:3], [])["abstention_recall"] is None


# ---------------------------------------------------------------- the gate


def test_gate_reports_each_missed_bound() -> None:
    report = {"results": {"pipeline": {"test": {"en": {"recall@5": 0.8, "false_abstention_rate": 0.2}}}}}
    ok = parse_thresholds({"min": {"test.en.recall@5": 0.8}, "max": {"test.en.false_abstention_rate": 0.2}})
    assert check_thresholds(report, ok) == []
    strict = parse_thresholds(
        {"min": {"test.en.recall@5": 0.81, "test.zh.recall@5": 0.1}, "max": {"test.en.false_abstention_rate": 0.1}}
    )
    failures = check_thresholds(report, strict)
    assert failures == [
        "test.en.recall@5 = 0.800 is below the minimum 0.810",
        "test.zh.recall@5: not measured in this run (no such split, language or questions)",
        "test.en.false_abstention_rate = 0.200 is above the maximum 0.100",
    ]
    with pytest.raises(AssistantError, match="recall@50"):
        parse_thresholds({"min": {"test.en.recall@50": 0.5}})


def test_shipped_thresholds_file_is_valid() -> None:
    th = load_thresholds(ROOT / "eval" / "thresholds.json")
    assert th.system == "pipeline" and th.count >= 10
    assert {k.split(".")[0] for k in th.minimum} == {"test", "all"}


# ---------------------------------------------------------------- end to end with the fake embedder


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    """Two answerable and one unanswerable question per language and split, and two conversations."""
    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    picked: list[dict] = []
    for row in rows:
        same = [
            r
            for r in picked
            if (r["lang"], r["split"], r["answerable"]) == (row["lang"], row["split"], row["answerable"])
        ]
        if len(same) < (2 if row["answerable"] else 1):
            picked.append(row)
    convs = [
        json.loads(line) for line in (ROOT / "eval" / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    folder = tmp_path / "set"
    folder.mkdir()
    write_jsonl(folder / "questions.jsonl", picked)
    write_jsonl(folder / "conversations.jsonl", [c for c in convs if c["split"] == "test"][:2])
    return folder


def run_eval(corpus_dir: Path, tmp_path: Path, small_set: Path, *extra: str) -> int:
    base = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--embedder", "hashing-64", "-q"]
    return main([*base, "eval", "--set", str(small_set), "--out", str(tmp_path / "out"), *extra])


def test_end_to_end_reports_and_gate(
    corpus_dir: Path, tmp_path: Path, small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_eval(corpus_dir, tmp_path, small_set) == 0
    out = tmp_path / "out"
    report = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert report["systems"] == ["pipeline", "lexical", "dense"]
    assert report["set"] == {"files": report["set"]["files"], "questions": 12, "conversations": 2, "turns": 5}
    test_en = report["results"]["pipeline"]["test"]["en"]
    assert (test_en["answerable"], test_en["unanswerable"]) == (2, 1)
    assert report["results"]["lexical"]["all"]["all"]["questions"] == 12
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the answerability model was fitted on the bundled model's scores: no confidence with this embedder
    assert report["abstention"] is None and not (out / "latest_risk_coverage.png").exists()
    assert all(r["confidence"] is None for r in report["questions"]["pipeline"])
    table = (out / "latest.md").read_text(encoding="utf-8")
    assert table in capsys.readouterr().out and "| zh | dense |" in table

    # Reachable thresholds (the measured values) pass; impossible ones fail with exit code 3.
    measured = report["results"]["pipeline"]["all"]["all"]
    reachable = {"min": {"all.all.recall@5": measured["recall@5"]}, "max": {"all.all.ask_p95_ms": 1e9}}
    (tmp_path / "ok.json").write_text(json.dumps(reachable), encoding="utf-8")
    assert run_eval(corpus_dir, tmp_path, small_set, "--check", str(tmp_path / "ok.json")) == 0
    impossible = {"min": {"all.all.recall@5": 1.01, "test.zh.mrr@10": 1.01}}
    (tmp_path / "high.json").write_text(json.dumps(impossible), encoding="utf-8")
    capsys.readouterr()
    assert run_eval(corpus_dir, tmp_path, small_set, "--no-baselines", "--check", str(tmp_path / "high.json")) == 3
    err = capsys.readouterr().err
    assert "evaluation gate FAILED (2 of 2)" in err
    assert "all.all.recall@5 = " in err and "test.zh.mrr@10 = " in err and "below the minimum 1.010" in err


def test_gate_catches_a_broken_retriever(
    corpus_dir: Path, tmp_path: Path, small_set: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thresholds set at a healthy run's values fail once the ranking is sabotaged (worst chunks first)."""
    assert run_eval(corpus_dir, tmp_path, small_set, "--no-baselines") == 0
    healthy = json.loads((tmp_path / "out" / "latest.json").read_text(encoding="utf-8"))["results"]["pipeline"]
    assert healthy["all"]["all"]["recall@1"] > 0
    bounds = {"min": {"all.all.recall@1": healthy["all"]["all"]["recall@1"], "all.all.mrr@10": 0.0}}
    (tmp_path / "gate.json").write_text(json.dumps(bounds), encoding="utf-8")
    original = Retriever.score
    monkeypatch.setattr(Retriever, "score", lambda self, query: original(self, query)[::-1])
    assert run_eval(corpus_dir, tmp_path, small_set, "--no-baselines", "--check", str(tmp_path / "gate.json")) == 3
    broken = json.loads((tmp_path / "out" / "latest.json").read_text(encoding="utf-8"))["results"]["pipeline"]
    assert broken["all"]["all"]["recall@1"] < healthy["all"]["all"]["recall@1"]
