"""The answerability model: features, a reproducible fit, per-language thresholds, confidence, min_confidence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant import Assistant
from assistant.answer import answerability
from assistant.answer.answerability import ModelError, load, parse
from assistant.answer.features import NAMES, features
from assistant.config import AbstentionConfig
from assistant.errors import InputError
from assistant.learn.fit_answerability import fit, threshold_for, write


def synthetic_rows(seed: int = 0, n: int = 240) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Rows whose first feature separates answerable from unanswerable, English more weakly than Chinese."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lang = ("en", "zh")[i % 2]
        answerable = bool(i % 5)
        x = rng.normal(size=len(NAMES))
        x[0] += (1.0 if lang == "en" else 2.5) * (1 if answerable else -1)
        rows.append(
            {
                "lang": lang,
                "answerable": answerable,
                "article": f"a{i % 12}",
                "set": "synthetic",
                "split": "fit" if i % 12 < 8 else "heldout",
                "features": [round(float(v), 6) for v in x],
            }
        )
    meta = {"features": list(NAMES), "files": {"x.json": "0" * 64}, "built": "2026-01-01", "folds": [0]}
    return meta, rows


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A synthetic model installed as the shipped one for the test."""
    path = write(fit(*synthetic_rows()), tmp_path / "model.json")
    monkeypatch.setattr(answerability, "DEFAULT_PATH", path)
    answerability.shipped.cache_clear()
    yield path
    answerability.shipped.cache_clear()


def test_feature_vector_is_fixed_and_finite(fake_bot: Assistant) -> None:
    for q in (
        "How much was invested in the Qingdao AI computing center?",
        "青岛人工智能计算中心是什么时候上线的？",
        "x",
    ):
        ev = fake_bot.evidence(q)
        vec = features(fake_bot.retriever, ev, fake_bot.answer_config, fake_bot.abstention_config)
        assert vec.shape == (len(NAMES),) and vec.dtype == np.float64 and np.isfinite(vec).all()


def test_fit_is_reproducible(tmp_path: Path) -> None:
    a = write(fit(*synthetic_rows()), tmp_path / "a.json").read_bytes()
    b = write(fit(*synthetic_rows()), tmp_path / "b.json").read_bytes()
    assert a == b
    obj = json.loads(a)
    assert list(obj) == sorted(obj) and obj["features"] == list(NAMES)
    assert obj["data"]["files"] == {"x.json": "0" * 64} and obj["data"]["counts"]["zh.fit.unanswerable"] > 0


def test_thresholds_are_per_language(model_file: Path) -> None:
    obj = json.loads(model_file.read_text(encoding="utf-8"))
    model = load(model_file)
    assert model.threshold("en") != model.threshold("zh")
    for lang in ("en", "zh"):
        ev = obj["evaluation"][lang]
        assert ev["fit_oof"]["false_abstention"] <= 0.05 + 1e-9
        held = ev["heldout.synthetic"]
        assert held["auc"] > 0.7 and "drift" in held and 0.0 <= held["ece"] <= 1.0
    zh, en = (obj["evaluation"][lang]["heldout.synthetic"]["auc"] for lang in ("zh", "en"))
    assert zh > en


def test_threshold_for_bounds_false_abstention() -> None:
    p = np.linspace(0.01, 0.99, 100)
    t = threshold_for(p, 0.05)
    assert (p < t).mean() <= 0.05 and (p <= t).mean() > 0.05


def test_confidence_in_unit_interval_and_min_confidence_abstains(fake_bot: Assistant, model_file: Path) -> None:
    q = "How much was invested in the Qingdao AI computing center?"
    ans = fake_bot.ask(q)
    assert ans.confidence is not None and 0.0 <= ans.confidence <= 1.0
    assert ans.to_dict()["confidence"] == ans.confidence
    strict = fake_bot.ask(q, min_confidence=1.0)
    assert strict.abstained and strict.confidence == ans.confidence
    if not ans.abstained:
        assert "low_confidence" in strict.flags and strict.citations
        assert strict.text.startswith("The documents may not answer this. The closest they come is:")
    assert fake_bot.ask(q, min_confidence=0.0).abstained == ans.abstained
    with pytest.raises(InputError):
        fake_bot.ask(q, min_confidence=1.5)


def test_learned_flag_uses_the_language_threshold(
    fake_bot: Assistant, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = fake_bot
    monkeypatch.setattr(bot, "abstention_config", bot.abstention_config._replace(learned=True))
    q = "青岛人工智能计算中心投资了多少？"
    ans = bot.ask(q)
    assert ans.confidence is not None
    assert ans.abstained or ans.confidence >= load(model_file).threshold("zh")


def test_json_loads_without_pickle_and_refuses_malformed(tmp_path: Path, model_file: Path) -> None:
    obj = json.loads(model_file.read_text(encoding="utf-8"))
    assert parse(obj).features == NAMES
    bad = tmp_path / "bad.json"
    for broken in ("{not json", json.dumps({"features": ["x"], "languages": {}})):
        bad.write_text(broken, encoding="utf-8")
        with pytest.raises(ModelError, match="bad.json"):
            load(bad)
    obj["languages"]["zh"]["weights"] = obj["languages"]["zh"]["weights"][:-1]
    with pytest.raises(ModelError, match="zh"):
        parse(obj)
    obj["languages"]["zh"] = {"threshold": 2}
    with pytest.raises(ModelError):
        parse(obj)
    with pytest.raises(ModelError, match="missing"):
        load(tmp_path / "none.json")


def test_model_fitted_on_another_embedder_is_not_used(
    fake_bot: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta, rows = synthetic_rows()
    path = write(fit({**meta, "model": "another-model"}, rows), tmp_path / "other.json")
    monkeypatch.setattr(answerability, "DEFAULT_PATH", path)
    answerability.shipped.cache_clear()
    try:
        q = "How much was invested in the Qingdao AI computing center?"
        assert fake_bot.ask(q).confidence is None
        with pytest.raises(ModelError, match="another-model"):
            fake_bot.ask(q, min_confidence=0.5)
    finally:
        answerability.shipped.cache_clear()


def test_evaluation_report_sets_rules_model_and_both_side_by_side(tmp_path: Path) -> None:
    from assistant.evaluation import abstention

    threshold = answerability.shipped().threshold("en")
    low, high = threshold / 2, min(1.0, threshold + 0.5)

    def rec(answerable: bool, conf: float, rules: bool, ok: bool) -> dict[str, Any]:
        return {"lang": "en", "split": "test", "answerable": answerable, "confidence": conf, "abstained": rules,
                "first_citation_ok": ok if answerable else None}  # fmt: skip

    records = [rec(True, high, False, True), rec(True, low, False, True), rec(False, low, False, False)]
    records += [rec(False, high, True, False)]
    tables = abstention.from_records(records)
    assert tables is not None and set(tables) == {"test.all", "test.en", "all.all", "all.en"}
    got = tables["test.en"]
    assert (got["rules"]["abstention_recall"], got["rules"]["false_abstention"]) == (0.5, 0.0)
    assert (got["model"]["abstention_recall"], got["model"]["false_abstention"]) == (0.5, 0.5)
    assert (got["rules+model"]["abstention_recall"], got["rules+model"]["false_abstention"]) == (1.0, 0.5)
    assert got["rules"]["first_citation"] == 1.0 and got["model"]["first_citation"] == 0.5
    lines = "\n".join(abstention.markdown_lines({"abstention": tables}))
    assert "| test.en | rules+model | 0.667 | 1.000 | 0.500 | 0.500 |" in lines
    chart = abstention.plot_records(records, tmp_path / "risk.png")
    assert chart is not None and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # answers without a confidence (no model for this embedder): no section, no chart
    bare = [{**r, "confidence": None} for r in records]
    assert abstention.from_records(bare) is None and abstention.markdown_lines({"abstention": None}) == []
    assert abstention.plot_records(bare, tmp_path / "none.png") is None


def test_low_confidence_answers_are_worded_as_the_closest_the_documents_come(
    fake_bot: Assistant, model_file: Path
) -> None:
    """The chat shows the library's text verbatim: an unsure answer must say so in both languages."""

    def bot(hedge_below: float) -> Assistant:  # the off-topic rule off: the fake embedder's cosines are noise
        rules = AbstentionConfig(margin=-9.0, own_margin=-9.0, hedge_below=hedge_below)
        return Assistant(fake_bot.corpus, fake_bot.index, fake_bot.embedder, abstention=rules)

    for question, prefix in (
        ("How much revenue did the Qingdao AI industrial park make in 2023?", "The closest the documents come is: "),
        ("青岛人工智能计算中心是什么时候上线的？", "文档中最接近的内容是："),
    ):
        unsure, plain = bot(1.0).ask(question), bot(0.0).ask(question)
        assert not plain.abstained and plain.citations and "low_confidence" not in plain.flags
        assert not unsure.abstained and unsure.citations == plain.citations and "low_confidence" in unsure.flags
        assert unsure.text.startswith(prefix) and not plain.text.startswith(prefix)
        assert all(f"{c.text}[{c.label}]" in unsure.text for c in unsure.citations)
