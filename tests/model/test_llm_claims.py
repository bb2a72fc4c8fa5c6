"""Generated answers with the bundled model's retrieval and the default decline threshold, against the fake server.

English questions over the Chinese article reach their evidence only with the real (multilingual) model, so
the cross-lingual claim check and the learned "confident quote" threshold are exercised end to end here.
"""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.answer.confidence import confidence, usable
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.llm import LLMAnswerer
from assistant.config import GeneratorConfig
from assistant.types import Answer
from tests.support.fake_llm import FakeLLM, Reply

REVENUE_EN = "How much revenue did the Qingdao AI industry park make in 2023?"
REVENUE_ZH = "2023年青岛人工智能产业园营收多少？"


@pytest.fixture(scope="module")
def writer(real_bot: Assistant, llm: FakeLLM) -> LLMAnswerer:
    quote = ExtractiveAnswerer(real_bot.retriever, real_bot.answer_config, real_bot.abstention_config)
    return LLMAnswerer(real_bot.retriever, GeneratorConfig(llm.url, "fake-model", timeout=5.0), quote)


def ask(bot: Assistant, writer: LLMAnswerer, llm: FakeLLM, question: str, reply: str) -> Answer:
    llm.script(Reply(reply))
    return writer.answer(bot.evidence(question))


def source_number(bot: Assistant, writer: LLMAnswerer, question: str, needle: str) -> int:
    return next(s.number for s in writer.sources(bot.evidence(question)) if needle in s.text)


@pytest.mark.parametrize(("question", "lang"), [(REVENUE_EN, "en"), (REVENUE_ZH, "zh")])
def test_a_decline_of_a_confidently_answered_question_shows_the_quote(
    real_bot: Assistant, writer: LLMAnswerer, llm: FakeLLM, question: str, lang: str
) -> None:
    evidence = real_bot.evidence(question)
    p = confidence(real_bot.retriever, evidence, real_bot.answer_config, real_bot.abstention_config)
    assert p is not None and p >= usable(real_bot.retriever).threshold(lang)  # the learned threshold, by default
    answer = ask(real_bot, writer, llm, question, "The sources do not answer this question.")
    assert (answer.answerer, answer.fallback, answer.abstained) == ("extractive", "model_declined", False)
    assert "170亿元" in answer.citations[0].text


def test_english_numbers_are_checked_against_the_chinese_sentence(
    real_bot: Assistant, writer: LLMAnswerer, llm: FakeLLM
) -> None:
    n = source_number(real_bot, writer, REVENUE_EN, "170亿元")
    wrong = ask(real_bot, writer, llm, REVENUE_EN, f"The Qingdao AI industry park made 170 billion yuan in 2023 [{n}].")
    assert wrong.fallback == "unsupported_claim" and "unsupported_claim:170 billion" in wrong.flags
    right = ask(real_bot, writer, llm, REVENUE_EN, f"The Qingdao AI industry park made 17 billion yuan in 2023 [{n}].")
    assert (right.answerer, right.fallback) == ("llm", None) and "170亿元" in right.citations[0].text
    for c in right.citations:
        assert real_bot.document(c.doc_id).text[c.start : c.end] == c.text
