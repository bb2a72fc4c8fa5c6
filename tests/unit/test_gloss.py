"""Glossed citations and "why this sentence": exact sub-spans, dictionary readings, question words, markup."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.answer.matches import explain, find_matches
from assistant.text.gloss import Gloss, gloss_words, pinyin_syllable, read_number
from assistant.text.tokenize import Segmenter
from assistant.types import Answer, Citation
from assistant.ui.glossed import cited_html, gloss_line
from tests.support.reliability import ARTICLE, ROOT

SENTENCE = "作为上海数据交易所数商之一,卡奥斯将D3OS排产引擎、D3OS供应链数擎等数据产品挂牌交易,迈出了数据“资产”变为“资本”的一步。"  # noqa: E501
QUESTION = "卡奥斯 D3OS 排产引擎 数据产品"
TIP = re.compile(r'<span class="gloss-tip"[^>]*>.*?</span></span>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Segmenter:
    """A small jieba dictionary (like the one saved with an index): fast, and enough to cut the test texts."""
    words = tmp_path_factory.mktemp("words") / "words.txt"
    vocabulary = (
        "作为 上海 数据 交易所 之一 卡奥斯 排产 引擎 供应链 产品 挂牌 交易 迈出 资产 变为 资本 一步 青岛 增长 工程师"
    )
    words.write_text("".join(f"{w} 1000\n" for w in vocabulary.split()), encoding="utf-8")
    return Segmenter.from_words(words)


def shown(markup: str) -> str:
    """The text a reader sees before hovering: tooltips (hidden until hover) and tags dropped, entities decoded."""
    return html.unescape(TAG.sub("", TIP.sub("", markup)))


def test_words_have_pinyin_and_english_and_pass_numbers_and_names_through(segmenter: Segmenter) -> None:
    text = SENTENCE + "2024年3月,投资170亿元,增长35.5%,5万人。"
    words = {g.text: g for g in gloss_words("doc", 100, text, segmenter)}
    assert (words["数据"].pinyin, words["数据"].english, words["数据"].kind) == ("shùjù", "data", "word")
    assert words["上海"].pinyin == "Shànghǎi" and "Shanghai" in words["上海"].english
    assert words["供应链"].english == "supply chain"
    assert (words["卡奥斯"].kind, words["卡奥斯"].english, words["卡奥斯"].pinyin) == ("unknown", "", "kǎ'àosī")
    assert (words["D3OS"].kind, words["D3OS"].pinyin, words["D3OS"].english) == ("latin", "", "")
    assert (words["2024年3月"].kind, words["2024年3月"].english) == ("number", "March 2024")
    assert (words["170亿"].kind, words["170亿"].english) == ("number", "17 billion")
    assert (words["35.5%"].kind, words["35.5%"].english) == ("number", "")
    assert words["5万"].english == "50,000"
    assert "," not in words and "。" not in words  # punctuation is not a word


@pytest.mark.parametrize(
    ("cedict", "marked"),
    [
        ("Shang4", "Shàng"),
        ("lu:4", "lǜ"),
        ("gou3", "gǒu"),
        ("xiu1", "xiū"),
        ("gui4", "guì"),
        ("de5", "de"),
        ("r5", "r"),
    ],
)
def test_pinyin_tone_marks(cedict: str, marked: str) -> None:
    assert pinyin_syllable(cedict) == marked


def test_number_readings() -> None:
    assert read_number("3.2万亿") == "3.2 trillion" and read_number("1.5万") == "15,000"
    assert read_number("12月1日") == "1 December" and read_number("60") == ""


PIECES = st.sampled_from(
    [
        "数据",
        "交易所",
        "卡奥斯",
        "的",
        "青岛",
        "龘",
        "D3OS",
        "COSMO-GPT",
        "2024年",
        "3月",
        "170亿",
        "35.5%",
        "60",
        "。",
        ",",
        " ",
        "\n",
        "“",
        "<b>",
        "&amp;",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES, max_size=25), st.integers(0, 5000))
def test_gloss_offsets_index_the_text_exactly(segmenter: Segmenter, pieces: list[str], base: int) -> None:
    text = "".join(pieces)
    document = "x" * base + text + "tail"
    words = Citation("doc", base, base + len(text), 1, text).gloss(segmenter)
    at = base
    for g in words:
        assert document[g.start : g.end] == g.text and g.text.strip()
        assert at <= g.start < g.end <= base + len(text)  # in order, never overlapping, inside the sentence
        at = g.end
    covered = {i for g in words for i in range(g.start - base, g.end - base)}
    assert all(i in covered for i, ch in enumerate(text) if ch.isalnum())  # no letter, digit or hanzi is left out
    markup = cited_html(text, base, words)
    assert shown(markup) == text  # the sentence reads exactly as stored; tips appear only on hover
    assert "<b>" not in markup  # document text is escaped


def test_assistant_glosses_and_matches_are_exact_spans(fake_bot: Assistant) -> None:
    doc = fake_bot.document("qingdao_ai_plus.txt").text
    answer = fake_bot.ask(QUESTION)  # the fake embedder needs the sentence's own words
    assert answer.citations
    for c in answer.citations:
        assert doc[c.start : c.end] == c.text
        words = fake_bot.gloss(c)
        assert words and all(doc[g.start : g.end] == g.text for g in words)
        alone = c.gloss()  # without the index: jieba's full dictionary cuts the words
        assert alone and all(doc[g.start : g.end] == g.text for g in alone)
        assert all(doc[m.start : m.end] == m.text for m in c.matches)
    found = {(m.text, m.term, m.via) for c in answer.citations for m in c.matches}
    assert {("D3OS", "D3OS", "same"), ("卡奥斯", "卡奥斯", "same")} <= found


def cite(bot: Assistant, sentence: str, question: str) -> Citation:
    doc = bot.document("qingdao_ai_plus.txt").text
    start = doc.index(sentence)
    (c,) = explain(
        bot.retriever, Answer(question, "", False, [Citation(ARTICLE.name, start, start + len(sentence), 1, sentence)])
    ).citations
    for m in c.matches:
        assert doc[m.start : m.end] == m.text
    return c


def test_question_words_reach_the_sentence_by_dictionary_pinyin_and_same_characters(fake_bot: Assistant) -> None:
    report = "2024年,“人工智能+”写进青岛市政府工作报告。"
    c = cite(fake_bot, report, "When was AI+ written into the government work report?")
    found = {(m.text, m.term, m.via) for m in c.matches}
    assert ("报告", "report", "dictionary") in found and ("工作", "work", "dictionary") in found
    assert ("2024年", "when", "number") in found  # the date answers "when"
    c = cite(fake_bot, report, "What did Qingdao write into its report?")
    assert not [m for m in c.matches if m.via == "number"]  # not a when / how-many question: no number marked
    c = cite(fake_bot, report, "人工智能写进了什么报告？")
    assert {("人工智能", "same"), ("报告", "same")} <= {(m.text, m.via) for m in c.matches}
    doc = fake_bot.document(ARTICLE.name).text
    sentence = next(s for s in re.split(r"(?<=[。”])", doc) if "孙笑笑" in s).strip()
    c = cite(fake_bot, sentence, "What did Sun Xiaoxiao say?")
    assert ("笑笑", "Xiaoxiao", "pinyin") in {(m.text, m.term, m.via) for m in c.matches}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(PIECES, max_size=25),
    st.lists(PIECES, max_size=4),
    st.sampled_from(["", "when", "how many"]),
    st.integers(0, 500),
)
def test_matches_are_exact_and_disjoint(pieces: list[str], terms: list[str], asks: str, base: int) -> None:
    text = "".join(pieces)
    document = "x" * base + text
    words = [(t.upper(), (t.lower(),), "same") for t in terms]
    found = find_matches(Citation("doc", base, base + len(text), 1, text), words, asks)
    at = base
    for m in found:
        assert document[m.start : m.end] == m.text and at <= m.start < m.end <= base + len(text)
        at = m.end
        assert m.via == "number" or m.text.lower() in {t.lower() for t in terms}


def test_how_many_marks_quantities_not_years(fake_bot: Assistant) -> None:
    sentence = next(s for s in re.split(r"(?<=[。])", fake_bot.document(ARTICLE.name).text) if "10倍" in s).strip()
    c = cite(fake_bot, sentence, "How many times larger did the algorithm team grow?")
    numbers = [m.text for m in c.matches if m.via == "number"]
    assert (
        "10" in numbers
        and "2024年" not in numbers
        and all(m.term == "how many" for m in c.matches if m.via == "number")
    )


def test_markup_marks_matches_inside_glossed_words_and_escapes() -> None:
    text = "卡奥斯<script>x</script>数据"
    words = [
        Gloss("d", 10, 13, "卡奥斯", "kǎ'àosī", "", "unknown"),
        Gloss("d", 31, 33, "数据", "shùjù", "data & <info>"),
    ]
    from assistant.types import Match

    matches = [Match("d", 11, 13, "奥斯", "Aosi", "pinyin"), Match("d", 31, 33, "数据", "data", "dictionary")]
    markup = cited_html(text, 10, words, matches)
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "data &amp; &lt;info&gt;" in markup
    assert shown(markup) == text
    assert markup.count('class="match') == 2 and 'title="Aosi (pinyin)"' in markup
    line = gloss_line(words)
    assert line.startswith("<details") and "kǎ&#x27;àosī" in line and "data &amp; &lt;info&gt;" in line


def test_library_path_with_glosses_imports_no_extra(tmp_path: Path) -> None:
    code = (
        "import sys, shutil, pathlib\n"
        "from assistant import Assistant\n"
        f"c = pathlib.Path({str(tmp_path)!r}) / 'c'; c.mkdir()\n"
        f"shutil.copy({str(ARTICLE)!r}, c)\n"
        f"b = Assistant.open(c, pathlib.Path({str(tmp_path)!r}) / 'i', 'hashing-64', progress=False)\n"
        f"a = b.ask({QUESTION!r})\n"
        "assert a.citations and b.gloss(a.citations[0]) and a.citations[0].matches\n"
        "extras = ('torch', 'gradio', 'openai', 'pymilvus', 'milvus', 'ray', 'langchain', 'llama_index', 'mcp')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in extras))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
