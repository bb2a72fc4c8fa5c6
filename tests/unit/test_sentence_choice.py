"""Learned sentence choice: sentence features, the listwise fit, the choice file, re-ordering, reader weights."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant
from assistant.answer import choice as choice_module
from assistant.answer.choice import COLUMNS, LinearChoice, SentenceChoice, reader_columns
from assistant.answer.reader import load_weights
from assistant.config import AnswerConfig
from assistant.embed.e5_file import dequantize_q4, quantize_q4
from assistant.errors import AssistantError
from assistant.learn.fit_choice import fit_listwise
from assistant.retrieve.evidence import PARTS, candidates, rank_key
from assistant.retrieve.sentences import NAMES, pool_features

QUESTION = "青岛人工智能产业园有多少家企业？"


def pool_of(bot: Assistant, question: str = QUESTION):  # type: ignore[no-untyped-def]
    query = bot.retriever.prepare(question, [], None)
    ranked = bot.retriever.score(query)
    return query, ranked, candidates(bot.retriever, query, ranked, bot.answer_config)


def test_candidate_parts_reproduce_the_hand_weighted_score(fake_bot: Assistant) -> None:
    cfg = AnswerConfig()
    _, _, pool = pool_of(fake_bot)
    assert len(pool) > 5
    weights = [-cfg.w_heading, cfg.w_similarity, cfg.w_overlap, cfg.w_history, cfg.w_novelty, cfg.w_answer_type]
    for cand in pool:
        assert len(cand.parts) == len(PARTS)
        assert sum(w * p for w, p in zip(weights, cand.parts, strict=True)) == pytest.approx(cand.score, abs=1e-12)
    # ordered by score in bands of score_band (ties broken by the text-only part: test_ties.py), so a candidate
    # is never behind one that outscores it by a band or more; without bands, by the score alone
    assert pool == sorted(pool, key=lambda c: rank_key(c, cfg))
    assert all(later.score < earlier.score + cfg.score_band for earlier, later in zip(pool, pool[1:], strict=False))
    query = fake_bot.retriever.prepare(QUESTION, [], None)
    plain = candidates(fake_bot.retriever, query, fake_bot.retriever.score(query), cfg._replace(score_band=0.0))
    assert [c.score for c in plain] == sorted((c.score for c in plain), reverse=True)
    assert sorted(c.row for c in plain) == sorted(c.row for c in pool)


def test_pool_features_are_finite_and_read_the_pool(fake_bot: Assistant) -> None:
    query, ranked, pool = pool_of(fake_bot)
    x = pool_features(fake_bot.retriever, query, ranked, pool)
    assert x.shape == (len(pool), len(NAMES))
    assert np.isfinite(x).all()
    col = {n: i for i, n in enumerate(NAMES)}
    assert x[:, col["hand"]].tolist() == [c.score for c in pool]
    assert x[0, col["hand_gap"]] == 0.0 and (x[:, col["hand_gap"]] <= 0).all()
    assert x[:, col["heading"]].tolist() == [c.parts[0] for c in pool]
    assert ((x[:, col["passage_rank"]] > 0) & (x[:, col["passage_rank"]] <= 1)).all()
    assert x[:, col["sim_rank"]].max() == 1.0  # the most similar sentence has rank 0
    assert set(np.unique(x[:, col["digit"]])) <= {0.0, 1.0}
    assert x[:, col["bigrams"]].max() > 0  # a Chinese question shares character pairs with its sentences
    assert pool_features(fake_bot.retriever, query, ranked, []).shape == (0, len(NAMES))


def test_reader_columns() -> None:
    cols = reader_columns(np.asarray([1.0, 3.0, 2.0]))
    assert cols[:, 0].tolist() == [1.0, 3.0, 2.0]
    assert cols[:, 1].tolist() == [-2.0, 0.0, -1.0]
    assert cols[:, 2].mean() == pytest.approx(0.0)
    assert reader_columns(np.zeros(0)).shape == (0, 3)


def synthetic_groups(seed: int = 0, n: int = 300) -> list[tuple[np.ndarray, np.ndarray]]:
    """Questions of 6 candidates; the labelled one has the largest column 2 (plus noise elsewhere)."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(n):
        x = rng.normal(size=(6, len(COLUMNS)))
        y = np.zeros(6)
        y[int(np.argmax(x[:, 2]))] = 1
        groups.append((x, y))
    groups.append((rng.normal(size=(3, len(COLUMNS))), np.zeros(3)))  # no labelled candidate: skipped
    return groups


def test_listwise_fit_finds_the_signal_and_is_deterministic() -> None:
    groups = synthetic_groups()
    model = fit_listwise(groups)
    assert int(np.argmax(np.abs(model.weights))) == 2 and model.weights[2] > 0
    again = fit_listwise(synthetic_groups())
    assert model.to_json() == again.to_json()
    held_out = synthetic_groups(seed=1)[:-1]
    hits = [y[int(np.argmax(model.scores(x)))] for x, y in held_out]
    assert np.mean(hits) > 0.9
    with pytest.raises(AssistantError, match="no question"):
        fit_listwise([(np.zeros((2, 3)), np.zeros(2))])


def test_choice_model_json_round_trip_and_errors(tmp_path: Path) -> None:
    model = fit_listwise(synthetic_groups())
    back = LinearChoice.from_json(json.loads(json.dumps(model.to_json())))
    x = synthetic_groups(seed=2)[0][0]
    assert np.allclose(back.scores(x), model.scores(x), atol=1e-4)
    with pytest.raises(AssistantError, match="train choice"):
        LinearChoice.from_json({"mean": [0.0], "scale": [1.0], "weights": [1.0]})
    with pytest.raises(AssistantError, match="train choice"):
        SentenceChoice.load(reader=None, path=tmp_path / "missing.json")
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"columns": ["x"], "read": 8, "languages": {}}), encoding="utf-8")
    with pytest.raises(AssistantError, match="other features"):
        SentenceChoice.load(reader=None, path=stale)


class LongestFirst:
    """A stand-in reader that prefers long sentences (the real one is in tests/model)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        self.calls.append((question, len(sentences)))
        return np.asarray([float(len(s)) for s in sentences])


def test_reorder_changes_only_the_head_and_keeps_every_candidate(fake_bot: Assistant) -> None:
    query, ranked, pool = pool_of(fake_bot)
    weights = np.zeros(len(COLUMNS))
    weights[COLUMNS.index("reader")] = 1.0
    model = LinearChoice(np.zeros(len(COLUMNS)), np.ones(len(COLUMNS)), weights)
    reader = LongestFirst()
    chooser = SentenceChoice({"zh": model}, reader, read=4)
    out = chooser.reorder(fake_bot.retriever, query, ranked, pool)
    assert reader.calls == [(QUESTION, 4)]
    assert sorted(c.row for c in out) == sorted(c.row for c in pool)
    assert out[4:] == pool[4:]

    def length(c: choice_module.Candidate) -> int:
        span = fake_bot.retriever.sentence_span(c.row)
        return span.end - span.start

    assert [length(c) for c in out[:4]] == sorted((length(c) for c in pool[:4]), reverse=True)
    english = fake_bot.retriever.prepare("How many companies are in the park?", [], None)
    en_pool = candidates(fake_bot.retriever, english, fake_bot.retriever.score(english), fake_bot.answer_config)
    assert chooser.reorder(fake_bot.retriever, english, [], en_pool) == en_pool  # no English model: unchanged


def test_assistant_cites_the_reordered_first_candidate(fake_bot: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fake_bot.ask(QUESTION)
    weights = np.zeros(len(COLUMNS))
    weights[COLUMNS.index("reader")] = -1.0  # shortest first: differs from the hand-weighted choice here
    fake_bot.choice = SentenceChoice(
        {"zh": LinearChoice(np.zeros(len(COLUMNS)), np.ones(len(COLUMNS)), weights)}, LongestFirst(), read=8
    )
    after = fake_bot.ask(QUESTION)
    assert after.citations and before.citations
    first = after.citations[0]
    assert fake_bot.document(first.doc_id).text[first.start : first.end] == first.text
    head = pool_of(fake_bot)[2][:8]
    lengths = {c.row: fake_bot.retriever.sentence_span(c.row) for c in head}
    shortest = min(lengths.values(), key=lambda s: s.end - s.start)
    assert (first.start, first.end) == (shortest.start, shortest.end)


def test_q4_quantisation_round_trip_and_layout() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 64)).astype(np.float32)
    scales, nib = quantize_q4(w)
    assert scales.shape == (3, 2) and nib.shape == (3, 2, 16) and nib.dtype == np.uint8
    back = dequantize_q4(scales, nib)
    assert (np.abs(back - w) <= scales.repeat(32, axis=1) / 2 + 1e-6).all()
    block = np.arange(32, dtype=np.float32)[None, :] - 16  # -16..15: scale 16/7
    _, packed = quantize_q4(block)
    assert packed[0, 0, 0] & 0x0F == 1  # weight 0 (-16 -> -7 + 8) in the low nibble of byte 0
    assert packed[0, 0, 0] >> 4 == 8  # weight 16 (0 -> 8) in its high nibble
    with pytest.raises(AssistantError, match="blocks of 32"):
        quantize_q4(np.zeros((2, 30), dtype=np.float32))


def test_reader_weights_errors_say_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(AssistantError, match="train reader"):
        load_weights(tmp_path / "none.npz")
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, x=np.zeros(3))
    with pytest.raises(AssistantError, match="not a reader weights file"):
        load_weights(bogus)
    shipped = load_weights()
    assert shipped["head.w"].dtype == np.float32 and shipped["l8.q.w"].dtype == np.uint8
