"""English questions over Chinese text: stemming, dictionary, pinyin names, answer types, layout."""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.answer.abstention import asked_for, missing_focus
from assistant.retrieve.evidence import _ANSWER_TYPES, _not_a_statement, rerank_by_evidence
from assistant.text.bilingual import PINYIN, build_dictionary, stem, translations


@pytest.mark.parametrize(
    ("question_word", "gloss_word"),
    [("incubated", "incubate"), ("customized", "customize"), ("chips", "chip"), ("built", "build")],
)
def test_question_words_meet_their_glosses(question_word: str, gloss_word: str) -> None:
    assert stem(question_word) == stem(gloss_word)


def test_dictionary_maps_meanings_and_pinyin_to_corpus_terms_only() -> None:
    vocab = {"孵化", "定制", "笑笑", "星海", "桂志辉", "芯片"}
    d = build_dictionary(vocab)
    assert "孵化" in translations("incubated", d)
    assert "定制" in translations("customised", d) or "定制" in translations("customized", d)
    assert translations("Xiaoxiao", d) == ["笑笑"]
    assert d[PINYIN + "guizhihui"] == ["桂志辉"]
    assert "星海" in d[PINYIN + "xinghai"]
    every_term = {t for terms in d.values() for t in terms}
    assert every_term <= vocab  # nothing outside the corpus vocabulary can be brought in
    assert translations("chip", d) == ["芯片"]  # an English word stays English, not pinyin
    assert translations("chips", d) == ["芯片"]
    assert translations("TVs", build_dictionary({"电视"})) == ["电视"]  # plurals the stemmer keeps


def test_question_terms_join_pinyin_names_and_split_compounds(fake_bot: Assistant) -> None:
    r = fake_bot.retriever
    units = r.terms("Who is Gui Zhihui?").units
    assert ("桂志辉",) in units and not any("智慧" in u for u in units)  # not "zhihui" = 智慧 alone
    assert any("笑笑" in u for u in r.terms("Who is Sun Xiaoxiao?").units)
    assert any("场景" in u for u in r.terms("scenario-based solutions").units)
    assert r.terms("What is COSMO-GPT?").units[0] == ("cosmo-gpt",)  # a corpus token stays whole


def test_heading_caption_and_page_break_lines_are_recognised() -> None:
    text = (
        "新“发电厂”  \n1年多需求增长60倍\n\n正文第一句话说完了。第二句也说完了。\n\n"
        "青岛人工智能计算中心。资料片\n\n电视不再只是\n"
    )
    spans = {s: (text.index(s), text.index(s) + len(s)) for s in ("1年多需求增长60倍", "第二句也说完了。")}
    assert _not_a_statement(text, *spans["1年多需求增长60倍"], 30)
    assert not _not_a_statement(text, *spans["第二句也说完了。"], 30)
    start = text.index("青岛人工智能计算中心。")
    assert _not_a_statement(text, start, start + 11, 30)  # a photo caption
    start = text.index("电视不再只是")
    assert _not_a_statement(text, start, start + 6, 30)  # a stub left by a page break
    asked = "青岛要往这个园区装什么新要素？"
    body = f"这是一个很长的段落，说了很多事情，也说了很多细节。{asked}答案在后面。\n"
    assert _not_a_statement(body, body.index(asked), body.index(asked) + len(asked), 30)  # the text's own question


@pytest.mark.parametrize(
    ("question", "sentence", "kind"),
    [
        ("How many chips has it customised?", "目前已定制了十几款芯片。", 0),
        ("青岛人工智能产业园目前聚集了多少家企业？", "现在这个园区聚集了人工智能企业200余家。", 0),
        ("Who is Song Ningning?", "管理委员会副主任宋宁宁告诉记者。", 1),
        ("徐锡明担任什么职务？", "卡奥斯智慧能源首席产品官徐锡明对记者说。", 1),
    ],
)
def test_answer_types(question: str, sentence: str, kind: int) -> None:
    asks, found = _ANSWER_TYPES[kind]
    assert asks.search(question) and found.search(sentence)
    assert not found.search("国创中心正在发挥关键作用。")
    assert not any(a.search("What does the national innovation center focus on?") for a, _ in _ANSWER_TYPES)


@pytest.mark.parametrize(
    ("question", "head"),
    [
        ("计算中心每年的电费是多少？", "电费"),
        ("企业入驻产业园能享受多少租金补贴？", "租金补贴"),
        ("海尔集团的创始人是谁？", "创始人"),
        ("产业园有多少个停车位？", "停车位"),
        ("一汽解放的研发基地投资了多少钱？", None),  # one character is too generic to judge
        ("大会有多少人参加？", None),
        ("国创中心的定位是什么？", None),
        ("How many employees work in the park?", "employees"),
        ("What was Hisense's net profit in 2023?", "net profit"),
        ("Who is the CEO of Haier?", "ceo"),
        ("How much was invested in the computing center?", None),
        ("How much faster did Kaos's model training become?", None),  # a degree, not a noun
        ("How many more projects came?", None),
        ("What does the innovation center focus on?", None),
    ],
)
def test_what_a_chinese_question_asks_for(question: str, head: str | None) -> None:
    assert asked_for(question) == head


def test_abstains_when_the_asked_for_noun_is_not_in_the_corpus(fake_bot: Assistant) -> None:
    ans = fake_bot.ask("青岛人工智能产业园有多少个停车位？")
    assert ans.abstained and ans.citations == [] and "停车位" in ans.text
    assert missing_focus(fake_bot.retriever, "青岛人工智能产业园聚集了多少家人工智能企业？") is None
    assert missing_focus(fake_bot.retriever, "宋宁宁是谁？") is None  # a name split by the segmenter
    assert missing_focus(fake_bot.retriever, "激光电视部件原材料的可回收率是多少？") is None
    assert missing_focus(fake_bot.retriever, "How many hospitals does the park have?") == "hospitals"
    assert missing_focus(fake_bot.retriever, "How many customized chips has it made?") is None  # via 定制
    assert missing_focus(fake_bot.retriever, "How many scenario-based solutions?") is None  # via 场景
    assert missing_focus(fake_bot.retriever, "How much COSMO-GPT revenue?") is None  # a corpus token, kept whole
    ans = fake_bot.ask("What was Hisense's net profit in 2023?")
    assert ans.abstained and "net profit" in ans.text


def test_evidence_reranking_reorders_only_the_head_and_keeps_scores_ordered(fake_bot: Assistant) -> None:
    r = fake_bot.retriever
    query = r.prepare("How many customized chips has the national innovation center made?")
    fused = r.score(query)
    cfg = fake_bot.answer_config
    ranked, pool = rerank_by_evidence(r, query, fused, cfg)
    n = cfg.passages
    assert pool and {s.chunk for s in ranked[:n]} == {s.chunk for s in fused[:n]}
    assert [s.chunk for s in ranked[n:]] == [s.chunk for s in fused[n:]]
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)
    off, _ = rerank_by_evidence(r, query, fused, cfg._replace(w_evidence=0.0))
    assert [s.chunk for s in off] == [s.chunk for s in fused]


def test_dictionary_is_the_same_in_every_process() -> None:
    """Ties between translations were once broken by set order, so two builds could differ."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import json, sys; from assistant.text.bilingual import build_dictionary;"
        "from assistant.text.tokenize import tokenize;"
        "text = open(sys.argv[1], encoding='utf-8').read();"
        "print(json.dumps(build_dictionary(tokenize(text)), ensure_ascii=False, sort_keys=True))"
    )
    article = Path(__file__).resolve().parents[2] / "corpus" / "qingdao_ai_plus.txt"
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code, str(article)], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-500:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10_000
    d = build_dictionary({"芯片", "晶片", "集成电路"})
    assert translations("chip", d) == ["晶片", "芯片"]  # glossed "chip" before "computer chip"


def test_a_position_before_the_asked_name_counts_most(fake_bot: Assistant) -> None:
    from assistant.retrieve.evidence import _POSITION, _answer_type_score

    query = fake_bot.retriever.prepare("刘显荣是什么职务？")
    named = "青岛海信激光显示股份有限公司总经理刘显荣说,当液晶电视做到100吋。"
    other = "海信视像科技研发中心副总经理朱春波说。"
    assert _answer_type_score(_POSITION, named, query) > _answer_type_score(_POSITION, other, query) > 0
    assert _answer_type_score(_POSITION, "刘显荣说,海信视像已经实现激光电视核心部件光学引擎自主研发。", query) == 0
    english = fake_bot.retriever.prepare("Who is Xu Ximing?")  # the pinyin name brings in 徐锡明
    assert _answer_type_score(_POSITION, "卡奥斯智慧能源首席产品官徐锡明对记者说。", english) == 3
